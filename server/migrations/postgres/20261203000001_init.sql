-- Naano schema, PostgreSQL flavour: the same tables, columns and constraints as
-- migrations/sqlite/ (kept in step, one file for one file), so one set of SQL serves both.
-- Ids are UUIDv7 strings (time-ordered: `ORDER BY id` is creation order and the
-- pagination cursor). Times are Unix milliseconds (BIGINT). Integers are BIGINT
-- everywhere, as SQLite's INTEGER reads back.

CREATE TABLE creators (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    linkedin_url TEXT,
    created_at   BIGINT NOT NULL
);

CREATE TABLE links (
    id              TEXT PRIMARY KEY,
    slug            TEXT NOT NULL CONSTRAINT links_slug_key UNIQUE,
    creator_id      TEXT NOT NULL REFERENCES creators (id),
    destination_url TEXT NOT NULL,
    campaign        TEXT,
    created_at      BIGINT NOT NULL
);
CREATE INDEX links_creator_idx ON links (creator_id);

CREATE TABLE leads (
    id           TEXT PRIMARY KEY,
    email        TEXT NOT NULL,
    email_key    TEXT NOT NULL CONSTRAINT leads_email_key UNIQUE,
    company      TEXT NOT NULL,
    name         TEXT,
    job_title    TEXT,
    linkedin_url TEXT,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);

CREATE TABLE signup_events (
    id              TEXT PRIMARY KEY,
    received_at     BIGINT NOT NULL,
    session_id      TEXT NOT NULL,
    lead_id         TEXT REFERENCES leads (id),
    idempotency_key TEXT,
    payload         TEXT NOT NULL,
    outcome         TEXT NOT NULL CHECK (outcome IN
        ('upgraded', 'mismatch_handled', 'inference_pending', 'session_not_found', 'replayed'))
);
CREATE INDEX signup_events_session_idx ON signup_events (session_id);

CREATE FUNCTION signup_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'signup_events is append-only';
END $$;
CREATE TRIGGER signup_events_no_update BEFORE UPDATE ON signup_events
    FOR EACH ROW EXECUTE FUNCTION signup_events_append_only();
CREATE TRIGGER signup_events_no_delete BEFORE DELETE ON signup_events
    FOR EACH ROW EXECUTE FUNCTION signup_events_append_only();

CREATE TABLE clicks (
    id                      TEXT PRIMARY KEY,
    session_id              TEXT NOT NULL CONSTRAINT clicks_session_key UNIQUE,
    link_id                 TEXT NOT NULL REFERENCES links (id),
    creator_id              TEXT NOT NULL REFERENCES creators (id),
    clicked_at              BIGINT NOT NULL,
    client_ip               TEXT,
    user_agent              TEXT,
    referrer                TEXT,
    inference_id            TEXT NOT NULL,
    status                  TEXT NOT NULL CHECK (status IN ('pending', 'inferred', 'no_company', 'confirmed')),
    inferred_company        TEXT,
    inferred_company_key    TEXT,
    inferred_domain         TEXT,
    confidence              DOUBLE PRECISION,
    source                  TEXT,
    inferred_at             BIGINT,
    confirmed_company       TEXT,
    confirmed_company_key   TEXT,
    confirmed_at            BIGINT,
    mismatch                BIGINT NOT NULL DEFAULT 0,
    lead_id                 TEXT REFERENCES leads (id),
    pending_signup_id       TEXT REFERENCES signup_events (id),
    corroborated_by_lead_id TEXT REFERENCES leads (id),
    corroborated_at         BIGINT,
    updated_at              BIGINT NOT NULL
);
CREATE INDEX clicks_creator_idx ON clicks (creator_id);
CREATE INDEX clicks_link_idx ON clicks (link_id);
CREATE INDEX clicks_pending_idx ON clicks (id) WHERE status = 'pending';
CREATE INDEX clicks_lead_idx ON clicks (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX clicks_inferred_key_idx ON clicks (inferred_company_key) WHERE status = 'inferred';
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain) WHERE status = 'inferred';

CREATE TABLE idempotency_keys (
    key          TEXT PRIMARY KEY,
    request_hash TEXT NOT NULL,
    response     TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
