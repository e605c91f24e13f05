-- See postgres/migrations/0008_drop_score_index.sql: an index no query
-- reads, which every rescoring of a lead had to keep up to date.
DROP INDEX lead_scores_score_idx;
