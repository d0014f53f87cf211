-- Naano schema, SQLite flavour.
-- Ids are UUIDv7 strings: time-ordered, so `ORDER BY id` is creation order (and the
-- pagination cursor), and WITHOUT ROWID tables keyed by them append at the end of one
-- B-tree instead of maintaining a rowid table plus a separate key index.
-- Times are Unix milliseconds (INTEGER), portable across backends.

-- People who post tracking links.
CREATE TABLE creators (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    linkedin_url TEXT,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- A tracking link: /c/{slug} redirects to destination_url.
CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL CONSTRAINT links_slug_key UNIQUE,
    creator_id      TEXT NOT NULL REFERENCES creators (id),
    destination_url TEXT NOT NULL,
    campaign        TEXT,
    created_at      INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX links_creator_idx ON links (creator_id);

-- One lead per email (compared case-insensitively through email_key).
CREATE TABLE leads (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    email_key    TEXT NOT NULL CONSTRAINT leads_email_key UNIQUE,
    company      TEXT NOT NULL,
    name         TEXT,
    job_title    TEXT,
    linkedin_url TEXT,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
) WITHOUT ROWID;

-- Every webhook call that passed validation, as received. Append-only (see triggers):
-- the audit trail that explains every change of leads and inferences.
CREATE TABLE signup_events (
    id              TEXT PRIMARY KEY,
    received_at     INTEGER NOT NULL,
    session_id      TEXT NOT NULL,
    lead_id         TEXT REFERENCES leads (id),
    idempotency_key TEXT,
    payload         TEXT NOT NULL, -- the validated signup, JSON
    outcome         TEXT NOT NULL CHECK (outcome IN
        ('upgraded', 'mismatch_handled', 'inference_pending', 'session_not_found', 'replayed'))
) WITHOUT ROWID;
CREATE INDEX signup_events_session_idx ON signup_events (session_id);
CREATE TRIGGER signup_events_no_update BEFORE UPDATE ON signup_events
BEGIN SELECT RAISE(ABORT, 'signup_events is append-only'); END;
CREATE TRIGGER signup_events_no_delete BEFORE DELETE ON signup_events
BEGIN SELECT RAISE(ABORT, 'signup_events is append-only'); END;

-- One row per click. A click issues the session id, and the session's company inference
-- lives on the same row (they are one-to-one): "pending" while enrichment runs, then
-- "inferred" (a company was found) or "no_company", and "confirmed" once a signup names
-- the company. The inferred_* columns are never overwritten by a signup: on a mismatch
-- they are the audit record of what had been inferred.
CREATE TABLE clicks (
    id                      TEXT PRIMARY KEY,
    session_id              TEXT NOT NULL CONSTRAINT clicks_session_key UNIQUE,
    link_id                 TEXT NOT NULL REFERENCES links (id),
    creator_id              TEXT NOT NULL REFERENCES creators (id),
    clicked_at              INTEGER NOT NULL,
    client_ip               TEXT,
    user_agent              TEXT,
    referrer                TEXT,
    -- The company inference of this session (exposed as company_inference_id).
    inference_id            TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'inferred', 'no_company', 'confirmed')),
    inferred_company        TEXT,
    inferred_company_key    TEXT, -- naano_core::normalize_company(inferred_company)
    inferred_domain         TEXT,
    confidence              REAL,
    source                  TEXT,
    inferred_at             INTEGER,
    confirmed_company       TEXT,
    confirmed_company_key   TEXT,
    confirmed_at            INTEGER,
    mismatch                INTEGER NOT NULL DEFAULT 0,
    lead_id                 TEXT REFERENCES leads (id),
    -- A signup that arrived while enrichment was running; applied when it lands.
    pending_signup_id       TEXT REFERENCES signup_events (id),
    -- Set when another session's signup confirmed the company inferred here.
    corroborated_by_lead_id TEXT REFERENCES leads (id),
    corroborated_at         INTEGER,
    updated_at              INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX clicks_creator_idx ON clicks (creator_id);
CREATE INDEX clicks_link_idx ON clicks (link_id);
-- The enrichment rescan reads pending rows only; once settled a row leaves this index.
CREATE INDEX clicks_pending_idx ON clicks (id) WHERE status = 'pending';
CREATE INDEX clicks_lead_idx ON clicks (lead_id) WHERE lead_id IS NOT NULL;
-- Related-inference updates look up inferred (not yet confirmed) rows by company.
CREATE INDEX clicks_inferred_key_idx ON clicks (inferred_company_key) WHERE status = 'inferred';
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain) WHERE status = 'inferred';

-- First 200 answer per Idempotency-Key, replayed to retries of the same event.
CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   INTEGER NOT NULL
) WITHOUT ROWID;
