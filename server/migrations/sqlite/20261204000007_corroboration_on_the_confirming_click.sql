-- Related inferences move out of the clicks' indexes: the writer keeps the count of
-- each company's uncorroborated sessions in memory (see server/src/store/related.rs),
-- and a signup that corroborated any records it once, here, instead of on every
-- session it corroborated.
--
-- The two indexes a signup searched cost every inferred click two B-tree inserts at
-- random places, a page of its own each in the redirect's commit, and marking the
-- sessions cost a company's first signup one write per session; once most clicks were
-- inferred, both endpoints ran at half their rate.
--
-- `corroborations`: one row per company key ('company:' || key) and per business
-- email domain ('domain:' || domain) that a signup's confirmation, through click
-- `click_id`, corroborated at least one other session of. A session's corroborating
-- lead is read from it (the first row of its company or domain at or after its
-- inference; the lead is the confirming click's, so erasing the lead unlinks it), and
-- the counts are rebuilt from it at start. Existing marks (`corroborated_by_lead_id`)
-- are kept and still read.
CREATE TABLE corroborations (
    match_key       TEXT NOT NULL,
    corroborated_at INTEGER NOT NULL,
    click_id        TEXT NOT NULL REFERENCES clicks (id),
    PRIMARY KEY (match_key, corroborated_at, click_id)
) WITHOUT ROWID;
DROP INDEX clicks_inferred_key_idx;
DROP INDEX clicks_inferred_domain_idx;
