-- lead_scores_score_idx (0001_init) was meant for work lists reading the
-- best leads first; ListLeads reads lead_scores_probability_lead_id_idx
-- (0006_lead_lists) for that, and no query reads the score column through
-- an index. Every rescoring of a lead rewrote an entry of it, so it only
-- cost writes. The SQLite twin (sqlite/migrations/0008_drop_score_index.sql)
-- makes the same change.
DROP INDEX lead_scores_score_idx;
