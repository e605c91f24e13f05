-- The sales queue (leadscore.LeadStore.ListLeads) and erasure
-- (DeleteLead). The PostgreSQL twin (postgres/migrations/0006_lead_lists.sql)
-- makes the same change; storetest/testdata/schema.golden keeps the two in
-- step.

-- ListLeads pages by key, never by offset: each page starts where the
-- previous one's last key ended and reads the next rows of one of these
-- indexes, so a page costs the same at the millionth lead as at the first.
-- By score: highest probability first, ties by lead id.
CREATE INDEX lead_scores_probability_lead_id_idx ON lead_scores (probability DESC, lead_id);
-- By score within a tier, and within a grid cell.
CREATE INDEX lead_scores_tier_probability_idx ON lead_scores (tier, probability DESC, lead_id);
CREATE INDEX lead_scores_cell_probability_idx ON lead_scores (grade, level, probability DESC, lead_id);
-- By updated time: most recently changed first, ties by lead id.
CREATE INDEX leads_updated_at_id_idx ON leads (updated_at DESC, id);

-- Pruning the change log by age deletes its oldest entries; without this it
-- scans.
CREATE INDEX score_changes_changed_at_idx ON score_changes (changed_at);

-- lead_erasures is the audit log of erased leads, and holds no personal
-- data: not the lead id, only its SHA-256 (lead_id_sha256, lower-case hex
-- of the id's bytes), so that an auditor who holds an id can confirm that
-- it was erased, when, by whom and why, while the table alone names no one.
-- The hash is a pseudonym, not an anonymisation: whoever can guess an id
-- can check it. Append-only, one row per erased lead. erased_at is in
-- microseconds since the epoch like every time here.
CREATE TABLE lead_erasures (
    seq            INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    lead_id_sha256 TEXT NOT NULL CHECK (length(lead_id_sha256) = 64 AND lead_id_sha256 NOT GLOB '*[^0-9a-f]*'),
    actor          TEXT NOT NULL,
    reason         TEXT NOT NULL,
    erased_at      INTEGER NOT NULL
) STRICT;
CREATE INDEX lead_erasures_lead_id_sha256_idx ON lead_erasures (lead_id_sha256);
