-- Indexes that every signup paid for and nothing read. Each one is another B-tree
-- insert inside SQLite's one writer, on the path every signup waits for.

-- No statement looks up signup events by session (the deferred upgrade finds its
-- event by id; erasure by email and lead).
DROP INDEX signup_events_session_idx;

-- One process owns a SQLite file, so it learns every network itself and never
-- re-reads learned networks by time (that refresh is for PostgreSQL's replicas; the
-- one load at start reads the whole table).
DROP INDEX learned_networks_updated_idx;
