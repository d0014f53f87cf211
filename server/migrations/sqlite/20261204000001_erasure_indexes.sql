-- Erasure (DELETE /api/admin/leads) finds a person's signup events by email or by lead,
-- and the clicks their lead corroborated. Without these indexes each erasure scanned
-- the whole signup log (twice) and every click, on SQLite inside the one writer that
-- every redirect and signup waits for. Partial: only rows that have a lead.
CREATE INDEX signup_events_lead_idx ON signup_events (lead_id) WHERE lead_id IS NOT NULL;
CREATE INDEX clicks_corroborated_idx ON clicks (corroborated_by_lead_id)
    WHERE corroborated_by_lead_id IS NOT NULL;
