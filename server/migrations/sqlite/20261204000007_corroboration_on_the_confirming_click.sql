-- A corroboration is recorded once, on the confirming click, instead of once on every
-- session it corroborates; the writer keeps the related-inference counts in memory
-- (see server/src/store/related.rs).
--
-- The two indexes a signup searched for related inferences cost every inferred click
-- two B-tree inserts at random places, a page of its own each in the redirect's commit,
-- and marking the sessions cost a company's first signup one write per session; once
-- most clicks were inferred, both endpoints ran at half their rate.
--
-- `confirmed_domain` is the business email domain a signup confirmed with (set together
-- with `confirmed_company_key` and `confirmed_at` when the confirmed company changes).
-- The two new indexes let a session's corroborating lead be read (the first
-- confirmation of its company or domain at or after its inference) and the counts be
-- rebuilt at start. Existing marks (`corroborated_by_lead_id`) are kept and still read.
ALTER TABLE clicks ADD COLUMN confirmed_domain TEXT;
DROP INDEX clicks_inferred_key_idx;
DROP INDEX clicks_inferred_domain_idx;
CREATE INDEX clicks_confirmed_key_idx ON clicks (confirmed_company_key, confirmed_at)
    WHERE status = 'confirmed';
CREATE INDEX clicks_confirmed_domain_idx ON clicks (confirmed_domain, confirmed_at)
    WHERE status = 'confirmed' AND confirmed_domain IS NOT NULL;
