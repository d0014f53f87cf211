-- Mirrors sqlite/20261204000007. PostgreSQL keeps marking the related sessions (under
-- row locks, since any replica may confirm the same company at once) and keeps the
-- partial indexes by inferred company and domain; `corroborations` exists for the
-- shared read (which finds the marks first) and stays empty here.
CREATE TABLE corroborations (
    match_key       TEXT NOT NULL,
    corroborated_at BIGINT NOT NULL,
    click_id        TEXT NOT NULL REFERENCES clicks (id),
    PRIMARY KEY (match_key, corroborated_at, click_id)
);
