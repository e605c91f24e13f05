-- The change log's pruning watermark. The SQLite twin
-- (sqlite/migrations/0007_change_prunes.sql) makes the same change;
-- storetest/testdata/schema.golden keeps the two in step.

-- pruned_through is the highest seq PruneScoreChanges has deleted: a
-- watcher whose cursor is below it may have missed a pruned change and must
-- resync, and one at or above it has missed none, even where seqs are
-- missing (a transaction that rolled back used them, or an erasure removed
-- its lead's entries). One row. Logs pruned before this table existed are
-- given the old rule's answer: everything below the oldest retained entry
-- (or below the highest seq ever assigned, when none is retained) counts as
-- pruned.
CREATE TABLE score_change_prunes (
    one            BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    pruned_through BIGINT NOT NULL CHECK (pruned_through >= 0)
);
INSERT INTO score_change_prunes (pruned_through)
SELECT COALESCE((SELECT min(seq) - 1 FROM score_changes),
                pg_sequence_last_value(pg_get_serial_sequence('score_changes', 'seq')::regclass), 0);
