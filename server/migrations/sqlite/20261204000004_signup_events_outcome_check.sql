-- The CHECK on signup_events.outcome as comparisons instead of an `IN (…)` list, for the
-- reason given in 20261204000003_clicks_status_check.sql: the list cost a temporary
-- B-tree on every signup logged. The allowed values are unchanged.
--
-- clicks.pending_signup_id references this table, and foreign keys are on (sqlx runs
-- each migration in a transaction, where they cannot be turned off). So the few
-- references (signups waiting for their enrichment) are set aside while the table is
-- replaced and then restored, each one checked again; and dropping the old table checks
-- every event it deletes for a click still pointing at it, through an index that
-- exists for this migration only (without it, each check would scan every click).

CREATE TEMP TABLE waiting_signups AS
    SELECT id, pending_signup_id FROM clicks WHERE pending_signup_id IS NOT NULL;
UPDATE clicks SET pending_signup_id = NULL WHERE pending_signup_id IS NOT NULL;
CREATE INDEX clicks_pending_signup_idx ON clicks (pending_signup_id);

CREATE TABLE signup_events_new (
    id              TEXT PRIMARY KEY,
    received_at     INTEGER NOT NULL,
    session_id      TEXT NOT NULL,
    lead_id         TEXT REFERENCES leads (id),
    idempotency_key TEXT,
    payload         TEXT NOT NULL, -- the validated signup, JSON
    outcome         TEXT NOT NULL CHECK (outcome = 'upgraded' OR outcome = 'mismatch_handled'
        OR outcome = 'inference_pending' OR outcome = 'session_not_found'
        OR outcome = 'replayed'),
    email_key       TEXT
) WITHOUT ROWID;
INSERT INTO signup_events_new (id, received_at, session_id, lead_id, idempotency_key, payload,
        outcome, email_key)
    SELECT id, received_at, session_id, lead_id, idempotency_key, payload, outcome, email_key
    FROM signup_events;
DROP TABLE signup_events;
ALTER TABLE signup_events_new RENAME TO signup_events;
CREATE INDEX signup_events_email_idx ON signup_events (email_key);
CREATE INDEX signup_events_lead_idx ON signup_events (lead_id) WHERE lead_id IS NOT NULL;
CREATE TRIGGER signup_events_no_delete BEFORE DELETE ON signup_events
BEGIN SELECT RAISE(ABORT, 'signup_events is append-only'); END;
CREATE TRIGGER signup_events_no_update BEFORE UPDATE ON signup_events
WHEN NOT (
    NEW.payload = '{"erased":true}' AND NEW.lead_id IS NULL AND NEW.email_key IS NULL
    AND NEW.idempotency_key IS NULL AND NEW.id = OLD.id AND NEW.received_at = OLD.received_at
    AND NEW.session_id = OLD.session_id AND NEW.outcome = OLD.outcome
)
BEGIN SELECT RAISE(ABORT, 'signup_events is append-only (erasure excepted)'); END;

DROP INDEX clicks_pending_signup_idx;
UPDATE clicks SET pending_signup_id = (
        SELECT w.pending_signup_id FROM temp.waiting_signups w WHERE w.id = clicks.id)
    WHERE id IN (SELECT id FROM temp.waiting_signups);
DROP TABLE temp.waiting_signups;
