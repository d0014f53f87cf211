-- Every click paid for an index by creator: one more B-tree insert per click, and one
-- more page written to the WAL per commit, in the writer every redirect waits for (a
-- tenth of the redirect's throughput). The per-creator stats now reach a creator's
-- clicks through their links (links_creator_idx, clicks_link_idx).
DROP INDEX clicks_creator_idx;
