-- Company inference engine (see the SQLite twin for the reasoning of each change).

ALTER TABLE clicks ADD COLUMN kind TEXT;
ALTER TABLE clicks ADD COLUMN client_network TEXT;
ALTER TABLE clicks ADD COLUMN enrich_due_at BIGINT;
ALTER TABLE clicks ADD COLUMN enrich_lease_until BIGINT;
ALTER TABLE clicks ADD COLUMN enrich_attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE clicks ADD COLUMN enrich_error TEXT;
UPDATE clicks SET enrich_due_at = clicked_at WHERE status = 'pending';
DROP INDEX clicks_pending_idx;
CREATE INDEX clicks_enrich_due_idx ON clicks (enrich_due_at) WHERE enrich_due_at IS NOT NULL;
CREATE INDEX clicks_parked_idx ON clicks (id) WHERE status = 'pending' AND enrich_due_at IS NULL;

CREATE TABLE learned_networks (
    network       TEXT PRIMARY KEY,
    company       TEXT NOT NULL,
    company_key   TEXT NOT NULL,
    domain        TEXT,
    confirmations BIGINT NOT NULL,
    corrections   BIGINT NOT NULL DEFAULT 0,
    updated_at    BIGINT NOT NULL
);
CREATE INDEX learned_networks_updated_idx ON learned_networks (updated_at);

DROP TRIGGER signup_events_no_update ON signup_events;
ALTER TABLE signup_events ADD COLUMN email_key TEXT;
UPDATE signup_events SET email_key = lower(payload::json ->> 'email');
CREATE INDEX signup_events_email_idx ON signup_events (email_key);
-- Append-only, with one exception: erasure (GDPR) replaces the payload with a marker
-- and unlinks the lead, keeping the event's time, session and outcome.
CREATE FUNCTION signup_events_erasure_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload = '{"erased":true}' AND NEW.lead_id IS NULL AND NEW.email_key IS NULL
       AND NEW.idempotency_key IS NULL AND NEW.id = OLD.id
       AND NEW.received_at = OLD.received_at AND NEW.session_id = OLD.session_id
       AND NEW.outcome = OLD.outcome THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'signup_events is append-only (erasure excepted)';
END $$;
CREATE TRIGGER signup_events_no_update BEFORE UPDATE ON signup_events
    FOR EACH ROW EXECUTE FUNCTION signup_events_erasure_only();

DROP INDEX clicks_inferred_domain_idx;
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain)
    WHERE status = 'inferred' AND inferred_domain IS NOT NULL;
