-- The change log's pruning watermark. The PostgreSQL twin
-- (postgres/migrations/0007_change_prunes.sql) makes the same change and
-- says why; storetest/testdata/schema.golden keeps the two in step.

CREATE TABLE score_change_prunes (
    one            INTEGER NOT NULL PRIMARY KEY DEFAULT 1 CHECK (one = 1),
    pruned_through INTEGER NOT NULL CHECK (pruned_through >= 0)
) STRICT;
INSERT INTO score_change_prunes (pruned_through)
SELECT COALESCE((SELECT min(seq) - 1 FROM score_changes),
                (SELECT seq FROM sqlite_sequence WHERE name = 'score_changes'), 0);
