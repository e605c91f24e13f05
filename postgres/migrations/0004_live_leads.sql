-- Live leads as leadscore.LeadStore keeps them: when each lead is due for
-- rescoring, and every figure of a score in the current score, its history
-- and the change log. The SQLite twin (sqlite/migrations/0004_live_leads.sql)
-- makes the same changes; storetest/testdata/schema.golden keeps the two in
-- step.
--
-- A score's cell stays in grade and level (score_changes keeps it as text,
-- as before), its tier as Tier's name. horizon_us is the model's conversion
-- horizon in whole microseconds, a plain number on both backends.

-- due_at is when a lead should be rescored: set by a write that changed
-- it, by a new event or outcome, and by a saved score's next due time;
-- NULL when nothing is owed. Due leads are read earliest first.
ALTER TABLE leads ADD COLUMN due_at TIMESTAMPTZ;
CREATE INDEX leads_due_at_id_idx ON leads (due_at, id) WHERE due_at IS NOT NULL;

-- lead_scores: every figure of the current score, why it was made and when
-- the lead is due again because the score decays.
ALTER TABLE lead_scores
    ADD COLUMN alias       TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN percentile  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN action      TEXT NOT NULL DEFAULT '',
    ADD COLUMN base_value  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN raw_output  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN horizon_us  BIGINT NOT NULL DEFAULT 0 CHECK (horizon_us >= 0),
    ADD COLUMN reason      TEXT NOT NULL DEFAULT '',
    ADD COLUMN next_due    TIMESTAMPTZ;
-- Deleting a model version checks that no score refers to it; without an
-- index each check scans.
CREATE INDEX lead_scores_model_version_id_idx ON lead_scores (model_version_id);

-- score_history: the same figures as the current score, so a past score
-- reads back whole.
ALTER TABLE score_history
    ADD COLUMN alias       TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN percentile  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN action      TEXT NOT NULL DEFAULT '',
    ADD COLUMN base_value  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN raw_output  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN horizon_us  BIGINT NOT NULL DEFAULT 0 CHECK (horizon_us >= 0),
    ADD COLUMN factors     JSONB NOT NULL DEFAULT '[]',
    ADD COLUMN next_due    TIMESTAMPTZ;
CREATE INDEX score_history_model_version_id_idx ON score_history (model_version_id);

-- score_changes: the new score without its factors, why it was made, and
-- the lead's account and owner when it changed, so a watcher can route the
-- change without reading the lead. Rows written before this migration
-- carry no figures; they read as scored when they changed. scored_at
-- defaults to the epoch, as the SQLite twin's must (SQLite adds a NOT NULL
-- column only with a default), so both accept the same inserts.
ALTER TABLE score_changes
    ADD COLUMN account_id  TEXT COLLATE "C",
    ADD COLUMN owner       TEXT,
    ADD COLUMN alias       TEXT COLLATE "C" NOT NULL DEFAULT '',
    ADD COLUMN probability DOUBLE PRECISION NOT NULL DEFAULT 0 CHECK (probability >= 0 AND probability <= 1),
    ADD COLUMN score       INTEGER NOT NULL DEFAULT 1 CHECK (score BETWEEN 1 AND 99),
    ADD COLUMN percentile  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN action      TEXT NOT NULL DEFAULT '',
    ADD COLUMN base_value  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN raw_output  DOUBLE PRECISION NOT NULL DEFAULT 0,
    ADD COLUMN horizon_us  BIGINT NOT NULL DEFAULT 0 CHECK (horizon_us >= 0),
    ADD COLUMN reason      TEXT NOT NULL DEFAULT '',
    ADD COLUMN scored_at   TIMESTAMPTZ NOT NULL DEFAULT 'epoch',
    ADD COLUMN next_due    TIMESTAMPTZ;
UPDATE score_changes SET scored_at = changed_at;
CREATE INDEX score_changes_model_version_id_idx ON score_changes (model_version_id);
