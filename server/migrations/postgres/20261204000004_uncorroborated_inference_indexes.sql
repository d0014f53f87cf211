-- The indexes a signup searches for related inferences hold only the inferred clicks
-- no signup has corroborated yet. They held every inferred click, and the search skips
-- corroborated ones row by row: once networks were learned and most clicks inferred,
-- every signup read every earlier click of its company (the webhook fell to a tenth
-- of its rate as the data grew). Now corroborating a click takes it out of the index,
-- so each inferred click is visited by at most one signup.
DROP INDEX clicks_inferred_key_idx;
CREATE INDEX clicks_inferred_key_idx ON clicks (inferred_company_key)
    WHERE status = 'inferred' AND corroborated_at IS NULL;
DROP INDEX clicks_inferred_domain_idx;
CREATE INDEX clicks_inferred_domain_idx ON clicks (inferred_domain)
    WHERE status = 'inferred' AND corroborated_at IS NULL AND inferred_domain IS NOT NULL;
