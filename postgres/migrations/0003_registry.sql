-- The model registry's tables as leadscore.RegistryStore uses them. The
-- SQLite twin (sqlite/migrations/0003_registry.sql) makes the same changes;
-- storetest/testdata/schema.golden keeps the two in step.

-- Registry names (model ids, alias and policy names) and the caller-visible
-- ids of jobs and evaluations are listed in order and paged by key, so they
-- are compared byte by byte, as SQLite compares them, whatever the
-- database's locale (see 0002_byte_order_ids.sql). A foreign key and the
-- key it refers to change together.
ALTER TABLE models        ALTER COLUMN name          TYPE TEXT COLLATE "C";
ALTER TABLE aliases       ALTER COLUMN name          TYPE TEXT COLLATE "C";
ALTER TABLE alias_history ALTER COLUMN alias         TYPE TEXT COLLATE "C";
ALTER TABLE gate_policies ALTER COLUMN name          TYPE TEXT COLLATE "C";
ALTER TABLE jobs          ALTER COLUMN id            TYPE TEXT COLLATE "C";
ALTER TABLE evaluations   ALTER COLUMN job_id        TYPE TEXT COLLATE "C";
ALTER TABLE evaluations   ALTER COLUMN id            TYPE TEXT COLLATE "C";
ALTER TABLE alias_history ALTER COLUMN evaluation_id TYPE TEXT COLLATE "C";

-- latest_version is the highest version number a model ever registered.
-- The next version takes the number after it, so the number of a deleted
-- version is never given to another artifact: a number a client once saw
-- keeps meaning the same bytes.
ALTER TABLE models ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 0 CHECK (latest_version >= 0);
UPDATE models AS m
SET latest_version = coalesce((SELECT max(v.version) FROM model_versions AS v WHERE v.model_id = m.id), 0);

-- Documents that callers hand over and get back (job specs and results,
-- evaluation reports, gate policies) are stored as json rather than jsonb:
-- json keeps the text exactly as given (key order, spacing, repeated keys)
-- while still refusing malformed JSON, so both backends return the bytes
-- they were given. The store never queries inside these documents.
ALTER TABLE gate_policies ALTER COLUMN document TYPE JSON USING document::json;

-- jobs: where a job is (stage, message), which model it is about, a
-- machine-readable error code beside the message, and the cancelling state
-- between a cancel request and the job stopping. "error" becomes
-- error_message to say which of the two it is.
ALTER TABLE jobs RENAME COLUMN error TO error_message;
ALTER TABLE jobs
    ADD COLUMN model      TEXT NOT NULL DEFAULT '',
    ADD COLUMN stage      TEXT NOT NULL DEFAULT '',
    ADD COLUMN message    TEXT NOT NULL DEFAULT '',
    ADD COLUMN error_code TEXT,
    ALTER COLUMN spec   TYPE JSON USING spec::json,
    ALTER COLUMN result TYPE JSON USING result::json,
    DROP CONSTRAINT jobs_state_check,
    ADD CONSTRAINT jobs_state_check
        CHECK (state IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled'));
-- Listings show the newest jobs first and page by (created_at, id).
CREATE INDEX jobs_created_at_id_idx ON jobs (created_at DESC, id DESC);

-- evaluations: data without times (a flat table) has no window, so both
-- ends may be NULL, together. A history backtest judges on
-- (cut-off, cut-off + horizon], so its end is after its start; equal ends
-- are allowed for a window of one instant. baseline is the name of the
-- points baseline the candidate was compared with, "" for none.
ALTER TABLE evaluations
    ALTER COLUMN data_window_start DROP NOT NULL,
    ALTER COLUMN data_window_end DROP NOT NULL,
    DROP CONSTRAINT evaluations_check,
    ADD CONSTRAINT evaluations_data_window_check CHECK (
        (data_window_start IS NULL AND data_window_end IS NULL)
        OR (data_window_start IS NOT NULL AND data_window_end IS NOT NULL
            AND data_window_end >= data_window_start)),
    ALTER COLUMN report TYPE JSON USING report::json;
ALTER TABLE evaluations RENAME CONSTRAINT evaluations_check1 TO evaluations_passed_check;
ALTER TABLE evaluations ALTER COLUMN baseline DROP DEFAULT;
ALTER TABLE evaluations ALTER COLUMN baseline TYPE TEXT USING coalesce(baseline ->> 'name', '');
ALTER TABLE evaluations ALTER COLUMN baseline SET DEFAULT '';
-- Listings of all evaluations show the newest first and page by
-- (created_at, id).
CREATE INDEX evaluations_created_at_id_idx ON evaluations (created_at DESC, id DESC);

-- alias_history: kind says what a move was. It replaces the forced flag,
-- which said only whether a move bypassed the gate (kind 'force'): keeping
-- both would let them disagree. A delete has no target, and only a delete.
-- Rows written before this migration were promotions or forced ones.
ALTER TABLE alias_history
    ADD COLUMN kind TEXT NOT NULL DEFAULT 'promote'
        CHECK (kind IN ('promote', 'force', 'rollback', 'delete'));
UPDATE alias_history SET kind = 'force' WHERE forced;
ALTER TABLE alias_history
    ALTER COLUMN kind DROP DEFAULT,
    DROP COLUMN forced,
    ALTER COLUMN to_version_id DROP NOT NULL,
    ADD CONSTRAINT alias_history_target_check CHECK ((kind = 'delete') = (to_version_id IS NULL));
