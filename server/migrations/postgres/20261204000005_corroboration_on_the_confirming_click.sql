-- Mirrors sqlite/20261204000007: `confirmed_domain`, and the indexes that let a
-- session's corroborating lead be derived from the confirming click when it was not
-- marked. PostgreSQL keeps marking the related sessions (under row locks, since any
-- replica may confirm the same company at once), so it keeps the partial indexes by
-- inferred company and domain.
ALTER TABLE clicks ADD COLUMN confirmed_domain TEXT;
CREATE INDEX clicks_confirmed_key_idx ON clicks (confirmed_company_key, confirmed_at)
    WHERE status = 'confirmed';
CREATE INDEX clicks_confirmed_domain_idx ON clicks (confirmed_domain, confirmed_at)
    WHERE status = 'confirmed' AND confirmed_domain IS NOT NULL;
