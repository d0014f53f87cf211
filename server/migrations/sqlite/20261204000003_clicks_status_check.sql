-- The CHECK on clicks.status, written as comparisons instead of an `IN (…)` list.
-- SQLite checks `x IN (list)` by building a temporary B-tree of the list each time the
-- constraint is checked: on every click recorded and every inference settled or
-- confirmed, inside the one writer all of them wait for (a tenth of the cost of
-- recording a click). The allowed values are unchanged.
--
-- SQLite cannot alter a CHECK, so the table is rebuilt, in this migration's
-- transaction. Foreign keys stay on: every copied row's references are checked again,
-- and nothing references clicks, so dropping the old table checks nothing else.
-- (signup_events.outcome keeps its list: rebuilding a table that clicks references
-- would, with foreign keys on, scan every click for every event; its CHECK runs once
-- per signup, on insert only.)

CREATE TABLE clicks_new (
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
    status                  TEXT NOT NULL CHECK (status = 'pending' OR status = 'inferred'
        OR status = 'no_company' OR status = 'confirmed'),
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
    updated_at              INTEGER NOT NULL,
    -- See 20261203000002_inference_engine.sql for these.
    kind                    TEXT,
    client_network          TEXT,
    enrich_due_at           INTEGER,
    enrich_lease_until      INTEGER,
    enrich_attempts         INTEGER NOT NULL DEFAULT 0,
    enrich_error            TEXT
) WITHOUT ROWID;
INSERT INTO clicks_new (id, session_id, link_id, creator_id, clicked_at, client_ip, user_agent,
        referrer, inference_id, status, inferred_company, inferred_company_key, inferred_domain,
        confidence, source, inferred_at, confirmed_company, confirmed_company_key, confirmed_at,
        mismatch, lead_id, pending_signup_id, corroborated_by_lead_id, corroborated_at,
        updated_at, kind, client_network, enrich_due_at, enrich_lease_until, enrich_attempts,
        enrich_error)
    SELECT id, session_id, link_id, creator_id, clicked_at, client_ip, user_agent, referrer,
        inference_id, status, inferred_company, inferred_company_key, inferred_domain,
        confidence, source, inferred_at, confirmed_company, confirmed_company_key, confirmed_at,
        mismatch, lead_id, pending_signup_id, corroborated_by_lead_id, corroborated_at,
        updated_at, kind, client_network, enrich_due_at, enrich_lease_until, enrich_attempts,
        enrich_error
    FROM clicks;
DROP TABLE clicks;
ALTER TABLE clicks_new RENAME TO clicks;
CREATE INDEX clicks_creator_idx ON clicks (creator_id);
CREATE INDEX clicks_link_idx ON clicks (link_id);
CREATE INDEX clicks_lead_idx ON clicks (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX clicks_inferred_key_idx ON clicks (inferred_company_key) WHERE status = 'inferred';
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain)
    WHERE status = 'inferred' AND inferred_domain IS NOT NULL;
CREATE INDEX clicks_enrich_due_idx ON clicks (enrich_due_at) WHERE enrich_due_at IS NOT NULL;
CREATE INDEX clicks_parked_idx ON clicks (id) WHERE status = 'pending' AND enrich_due_at IS NULL;
CREATE INDEX clicks_corroborated_idx ON clicks (corroborated_by_lead_id)
    WHERE corroborated_by_lead_id IS NOT NULL;
