-- Live leads as leadscore.LeadStore keeps them: when each lead is due for
-- rescoring, and every figure of a score in the current score, its history
-- and the change log. The PostgreSQL twin
-- (postgres/migrations/0004_live_leads.sql) makes the same changes;
-- storetest/testdata/schema.golden keeps the two in step. Its byte-order
-- collations need nothing here: SQLite's BINARY collation already compares
-- text byte by byte.
--
-- A score's cell stays in grade and level (score_changes keeps it as text,
-- as before), its tier as Tier's name. horizon_us is the model's conversion
-- horizon in whole microseconds.

-- due_at is when a lead should be rescored: set by a write that changed
-- it, by a new event or outcome, and by a saved score's next due time;
-- NULL when nothing is owed. Due leads are read earliest first.
ALTER TABLE leads ADD COLUMN due_at INTEGER;
CREATE INDEX leads_due_at_id_idx ON leads (due_at, id) WHERE due_at IS NOT NULL;

-- lead_scores: every figure of the current score, why it was made and when
-- the lead is due again because the score decays.
ALTER TABLE lead_scores ADD COLUMN alias TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_scores ADD COLUMN percentile REAL NOT NULL DEFAULT 0;
ALTER TABLE lead_scores ADD COLUMN action TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_scores ADD COLUMN base_value REAL NOT NULL DEFAULT 0;
ALTER TABLE lead_scores ADD COLUMN raw_output REAL NOT NULL DEFAULT 0;
ALTER TABLE lead_scores ADD COLUMN horizon_us INTEGER NOT NULL DEFAULT 0 CHECK (horizon_us >= 0);
ALTER TABLE lead_scores ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE lead_scores ADD COLUMN next_due INTEGER;
-- Deleting a model version checks that no score refers to it; without an
-- index each check scans.
CREATE INDEX lead_scores_model_version_id_idx ON lead_scores (model_version_id);

-- score_history: the same figures as the current score, so a past score
-- reads back whole.
ALTER TABLE score_history ADD COLUMN alias TEXT NOT NULL DEFAULT '';
ALTER TABLE score_history ADD COLUMN percentile REAL NOT NULL DEFAULT 0;
ALTER TABLE score_history ADD COLUMN action TEXT NOT NULL DEFAULT '';
ALTER TABLE score_history ADD COLUMN base_value REAL NOT NULL DEFAULT 0;
ALTER TABLE score_history ADD COLUMN raw_output REAL NOT NULL DEFAULT 0;
ALTER TABLE score_history ADD COLUMN horizon_us INTEGER NOT NULL DEFAULT 0 CHECK (horizon_us >= 0);
ALTER TABLE score_history ADD COLUMN factors TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(factors));
ALTER TABLE score_history ADD COLUMN next_due INTEGER;
CREATE INDEX score_history_model_version_id_idx ON score_history (model_version_id);

-- score_changes: the new score without its factors, why it was made, and
-- the lead's account and owner when it changed, so a watcher can route the
-- change without reading the lead. Rows written before this migration
-- carry no figures; they read as scored when they changed. SQLite adds a
-- NOT NULL column only with a default, so scored_at defaults to 0 and is
-- then set.
ALTER TABLE score_changes ADD COLUMN account_id TEXT;
ALTER TABLE score_changes ADD COLUMN owner TEXT;
ALTER TABLE score_changes ADD COLUMN alias TEXT NOT NULL DEFAULT '';
ALTER TABLE score_changes ADD COLUMN probability REAL NOT NULL DEFAULT 0 CHECK (probability >= 0 AND probability <= 1);
ALTER TABLE score_changes ADD COLUMN score INTEGER NOT NULL DEFAULT 1 CHECK (score BETWEEN 1 AND 99);
ALTER TABLE score_changes ADD COLUMN percentile REAL NOT NULL DEFAULT 0;
ALTER TABLE score_changes ADD COLUMN action TEXT NOT NULL DEFAULT '';
ALTER TABLE score_changes ADD COLUMN base_value REAL NOT NULL DEFAULT 0;
ALTER TABLE score_changes ADD COLUMN raw_output REAL NOT NULL DEFAULT 0;
ALTER TABLE score_changes ADD COLUMN horizon_us INTEGER NOT NULL DEFAULT 0 CHECK (horizon_us >= 0);
ALTER TABLE score_changes ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE score_changes ADD COLUMN scored_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE score_changes ADD COLUMN next_due INTEGER;
UPDATE score_changes SET scored_at = changed_at;
CREATE INDEX score_changes_model_version_id_idx ON score_changes (model_version_id);
