-- The signup log's email index holds only events without a lead (an unknown session, a
-- replayed answer): an erasure finds an email's other events through their lead (every
-- event with a lead carries that lead's email). Every signup inserted its email into
-- this index, at a random place: a page of its own in each commit of the writer all
-- requests wait for.
DROP INDEX signup_events_email_idx;
CREATE INDEX signup_events_email_idx ON signup_events (email_key) WHERE lead_id IS NULL;
