-- The model registry's tables as leadscore.RegistryStore uses them. The
-- PostgreSQL twin (postgres/migrations/0003_registry.sql) makes the same
-- changes; storetest/testdata/schema.golden keeps the two in step. Its
-- byte-order collations need nothing here: SQLite's BINARY collation
-- already compares text byte by byte.
--
-- SQLite cannot change a column's nullability or a CHECK constraint in
-- place, so jobs, evaluations and alias_history are rebuilt: each old table
-- is renamed aside, a new one created under the old name and filled from
-- it, and the old ones dropped. Migrations run in a transaction with
-- foreign keys enforced (PRAGMA foreign_keys cannot change inside one), so
-- the order matters:
--   * Renaming a table rewrites the foreign keys that refer to it, so the
--     three old tables go on referring to each other, and the new tables,
--     created afterwards, refer to the new ones.
--   * New tables are filled parents first (jobs, evaluations,
--     alias_history), so every copied row is checked against its new
--     parent.
--   * Dropping a table deletes its rows first, checking and acting on the
--     foreign keys that refer to it. The old tables are dropped children
--     first, so that when each goes no other table refers to it any more
--     (dropping the old evaluations first would fail on the old
--     alias_history's references). Had the live jobs table been dropped
--     while evaluations referred to it, every evaluations.job_id would
--     have been set to NULL (ON DELETE SET NULL): renaming first avoids
--     that.
--   * Indexes belong to their table, so the old ones go with the old
--     tables and are then created again on the new ones.

-- latest_version is the highest version number a model ever registered.
-- The next version takes the number after it, so the number of a deleted
-- version is never given to another artifact: a number a client once saw
-- keeps meaning the same bytes.
ALTER TABLE models ADD COLUMN latest_version INTEGER NOT NULL DEFAULT 0 CHECK (latest_version >= 0);
UPDATE models
SET latest_version = coalesce((SELECT max(v.version) FROM model_versions AS v WHERE v.model_id = models.id), 0);

ALTER TABLE alias_history RENAME TO alias_history_0002;
ALTER TABLE evaluations RENAME TO evaluations_0002;
ALTER TABLE jobs RENAME TO jobs_0002;

-- jobs: where a job is (stage, message), which model it is about, a
-- machine-readable error code beside the message, and the cancelling state
-- between a cancel request and the job stopping. "error" becomes
-- error_message to say which of the two it is.
CREATE TABLE jobs (
    id            TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
    kind          TEXT NOT NULL CHECK (kind IN ('training', 'evaluation')),
    state         TEXT NOT NULL CHECK (state IN ('queued', 'running', 'cancelling', 'succeeded', 'failed', 'cancelled')),
    model         TEXT NOT NULL DEFAULT '',
    progress      REAL NOT NULL DEFAULT 0 CHECK (progress >= 0 AND progress <= 1),
    stage         TEXT NOT NULL DEFAULT '',
    message       TEXT NOT NULL DEFAULT '',
    request_id    TEXT UNIQUE,
    spec          TEXT NOT NULL CHECK (json_valid(spec)),
    result        TEXT CHECK (result IS NULL OR json_valid(result)),
    error_code    TEXT,
    error_message TEXT,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    started_at    INTEGER,
    finished_at   INTEGER,
    updated_at    INTEGER NOT NULL
) STRICT;
INSERT INTO jobs (id, kind, state, progress, request_id, spec, result, error_message,
                  created_by, created_at, started_at, finished_at, updated_at)
SELECT id, kind, state, progress, request_id, spec, result, error,
       created_by, created_at, started_at, finished_at, updated_at
FROM jobs_0002;

-- evaluations: data without times (a flat table) has no window, so both
-- ends may be NULL, together. A history backtest judges on
-- (cut-off, cut-off + horizon], so its end is after its start; equal ends
-- are allowed for a window of one instant. baseline is the name of the
-- points baseline the candidate was compared with, "" for none (it was a
-- JSON object holding the name).
CREATE TABLE evaluations (
    id                  TEXT NOT NULL PRIMARY KEY CHECK (id <> ''),
    job_id              TEXT REFERENCES jobs (id) ON DELETE SET NULL,
    model_version_id    INTEGER NOT NULL REFERENCES model_versions (id),
    champion_version_id INTEGER REFERENCES model_versions (id),
    baseline            TEXT NOT NULL DEFAULT '',
    gate_policy_id      INTEGER REFERENCES gate_policies (id),
    passed              INTEGER CHECK (passed IN (0, 1)),
    data_window_start   INTEGER,
    data_window_end     INTEGER,
    report              TEXT NOT NULL CHECK (json_valid(report)),
    created_at          INTEGER NOT NULL,
    CHECK ((data_window_start IS NULL AND data_window_end IS NULL)
        OR (data_window_start IS NOT NULL AND data_window_end IS NOT NULL
            AND data_window_end >= data_window_start)),
    CHECK ((gate_policy_id IS NULL) = (passed IS NULL))
) STRICT;
INSERT INTO evaluations (id, job_id, model_version_id, champion_version_id, baseline, gate_policy_id,
                         passed, data_window_start, data_window_end, report, created_at)
SELECT id, job_id, model_version_id, champion_version_id,
       CAST(coalesce(json_extract(baseline, '$.name'), '') AS TEXT), gate_policy_id,
       passed, data_window_start, data_window_end, report, created_at
FROM evaluations_0002;

-- alias_history: kind says what a move was. It replaces the forced flag,
-- which said only whether a move bypassed the gate (kind 'force'): keeping
-- both would let them disagree. A delete has no target, and only a delete.
-- Rows written before this migration were promotions or forced ones.
CREATE TABLE alias_history (
    id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    model_id        INTEGER NOT NULL REFERENCES models (id),
    alias           TEXT NOT NULL CHECK (alias <> ''),
    seq             INTEGER NOT NULL CHECK (seq >= 1),
    kind            TEXT NOT NULL CHECK (kind IN ('promote', 'force', 'rollback', 'delete')),
    from_version_id INTEGER REFERENCES model_versions (id),
    to_version_id   INTEGER REFERENCES model_versions (id),
    actor           TEXT NOT NULL,
    reason          TEXT NOT NULL DEFAULT '',
    evaluation_id   TEXT REFERENCES evaluations (id),
    request_id      TEXT,
    created_at      INTEGER NOT NULL,
    UNIQUE (model_id, alias, seq),
    CHECK ((kind = 'delete') = (to_version_id IS NULL))
) STRICT;
INSERT INTO alias_history (id, model_id, alias, seq, kind, from_version_id, to_version_id,
                           actor, reason, evaluation_id, request_id, created_at)
SELECT id, model_id, alias, seq, CASE WHEN forced = 1 THEN 'force' ELSE 'promote' END,
       from_version_id, to_version_id, actor, reason, evaluation_id, request_id, created_at
FROM alias_history_0002;
-- AUTOINCREMENT numbers go on from where the old table's left off.
DELETE FROM sqlite_sequence WHERE name = 'alias_history';
INSERT INTO sqlite_sequence (name, seq)
SELECT 'alias_history', seq FROM sqlite_sequence WHERE name = 'alias_history_0002';

DROP TABLE alias_history_0002;
DROP TABLE evaluations_0002;
DROP TABLE jobs_0002;

-- Workers pick the oldest queued job.
CREATE INDEX jobs_state_created_at_idx ON jobs (state, created_at);
-- Listings show the newest jobs first and page by (created_at, id).
CREATE INDEX jobs_created_at_id_idx ON jobs (created_at DESC, id DESC);
-- Promotion looks up the latest evaluation of a version.
CREATE INDEX evaluations_model_version_id_created_at_idx ON evaluations (model_version_id, created_at);
CREATE INDEX evaluations_job_id_idx ON evaluations (job_id);
-- Listings of all evaluations show the newest first and page by
-- (created_at, id).
CREATE INDEX evaluations_created_at_id_idx ON evaluations (created_at DESC, id DESC);
