-- No statement looks up signup events by session (the deferred upgrade finds its
-- event by id; erasure by email and lead), and every signup paid for this index.
DROP INDEX signup_events_session_idx;
