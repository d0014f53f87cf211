-- Company inference engine: organisation kinds, the durable enrichment job, learned
-- networks, and what privacy needs (IP truncation, erasure).

-- What kind of organisation the enrichment found (business, isp, hosting, education,
-- government, unknown); only "business" yields an inferred company.
ALTER TABLE clicks ADD COLUMN kind TEXT;
-- The /24 (IPv4) or /48 (IPv6) of the client: all that is kept of its IP once
-- enrichment has finished (client_ip is then cleared).
ALTER TABLE clicks ADD COLUMN client_network TEXT;

-- The enrichment job lives on the click's row, written in the same statement as the
-- click: no second B-tree on the redirect's path, and a job can never exist without
-- its click or the other way round.
--   enrich_due_at      when the job may run next; NULL: no job (settled, or left
--                      pending for an external pipeline).
--   enrich_lease_until a worker claimed the job until then; an expired lease (crashed
--                      worker) makes the job claimable again.
--   enrich_attempts    provider failures so far (drives the backoff).
--   enrich_error       the last failure, for operators.
ALTER TABLE clicks ADD COLUMN enrich_due_at INTEGER;
ALTER TABLE clicks ADD COLUMN enrich_lease_until INTEGER;
ALTER TABLE clicks ADD COLUMN enrich_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clicks ADD COLUMN enrich_error TEXT;
UPDATE clicks SET enrich_due_at = clicked_at WHERE status = 'pending';
DROP INDEX clicks_pending_idx;
-- Workers claim due jobs from this index; a settled click leaves it.
CREATE INDEX clicks_enrich_due_idx ON clicks (enrich_due_at) WHERE enrich_due_at IS NOT NULL;
-- Pending inferences with no job: parked for an external pipeline (--external-inference).
-- A restart without that flag gives them a job again.
CREATE INDEX clicks_parked_idx ON clicks (id) WHERE status = 'pending' AND enrich_due_at IS NULL;

-- Networks whose company a signup confirmed (or corrected). The last signup wins: a
-- correction replaces the company and restarts the count.
CREATE TABLE learned_networks (
    network       TEXT PRIMARY KEY, -- CIDR: a /24 or a /48
    company       TEXT NOT NULL,
    company_key   TEXT NOT NULL,    -- naano_core::normalize_company(company)
    domain        TEXT,             -- the signup's business email domain, when it had one
    confirmations INTEGER NOT NULL, -- signups in a row that named this company
    corrections   INTEGER NOT NULL DEFAULT 0, -- times a signup named another company
    updated_at    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX learned_networks_updated_idx ON learned_networks (updated_at);

-- Erasure finds every event of an email, including those that never made a lead
-- (session_not_found).
DROP TRIGGER signup_events_no_update;
ALTER TABLE signup_events ADD COLUMN email_key TEXT;
UPDATE signup_events SET email_key = lower(json_extract(payload, '$.email'));
CREATE INDEX signup_events_email_idx ON signup_events (email_key);
-- Append-only, with one exception: erasure (GDPR) replaces the payload with a marker
-- and unlinks the lead, keeping the event's time, session and outcome for the counts.
CREATE TRIGGER signup_events_no_update BEFORE UPDATE ON signup_events
WHEN NOT (
    NEW.payload = '{"erased":true}' AND NEW.lead_id IS NULL AND NEW.email_key IS NULL
    AND NEW.idempotency_key IS NULL AND NEW.id = OLD.id AND NEW.received_at = OLD.received_at
    AND NEW.session_id = OLD.session_id AND NEW.outcome = OLD.outcome
)
BEGIN SELECT RAISE(ABORT, 'signup_events is append-only (erasure excepted)'); END;

-- Public ASN data names companies without a domain: keep those rows out of the domain
-- index (a lookup by `inferred_domain = ?` implies NOT NULL, so SQLite still uses it).
DROP INDEX clicks_inferred_domain_idx;
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain)
    WHERE status = 'inferred' AND inferred_domain IS NOT NULL;
