package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.RegistryStore = (*DB)(nil)

// Every change runs in a transaction that begins IMMEDIATE, taking the
// database's one write lock before it reads: changes take turns (waiting
// up to the busy timeout), so checks and writes see the same state, as the
// PostgreSQL backend's row locks make them. JSON documents are passed as
// strings, because the driver would store a []byte as a BLOB, which the
// STRICT TEXT columns refuse.

// querier is what a connection pool and a transaction have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// inTx runs fn in a write transaction and commits it if fn succeeds. fn's
// error is returned as it is.
func (db *DB) inTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	return db.inTxCommit(ctx, what, fn, func(tx *sql.Tx) error { return tx.Commit() })
}

// inTxCommit is inTx with a commit function of the caller's.
func (db *DB) inTxCommit(ctx context.Context, what string, fn func(tx *sql.Tx) error, commit func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE: the DSN sets _txlock=immediate.
	if err != nil {
		return errorf(err, "%s: begin", what)
	}
	defer func() { _ = tx.Rollback() }() // A no-op after Commit.
	if err := fn(tx); err != nil {
		return err
	}
	if err := commit(tx); err != nil {
		return errorf(err, "%s: commit", what)
	}
	return nil
}

// collect reads every row of a query with scan.
func collect[T any](rows *sql.Rows, err error, scan func(*sql.Rows) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanner is a row of either kind.
type scanner interface{ Scan(dest ...any) error }

// optionalMicros is a time as a nullable column value.
func optionalMicros(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func timeOf(us int64) time.Time { return time.UnixMicro(us).UTC() }

func optionalTimeOf(us sql.NullInt64) time.Time {
	if !us.Valid {
		return time.Time{}
	}
	return timeOf(us.Int64)
}

// optionalJSON is a JSON document as a nullable TEXT value.
func optionalJSON(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return string(b)
}

// limitArg is a listing limit as a LIMIT parameter: -1 for none.
func limitArg(limit int) int {
	if limit == 0 {
		return -1
	}
	return limit
}

// modelID returns a model's internal id and the highest version number it
// has registered. In a write transaction, which holds the database's write
// lock, it stands for PostgreSQL's lock of the model's row.
func modelID(ctx context.Context, q querier, model string) (id, latest int64, err error) {
	err = q.QueryRowContext(ctx, `SELECT id, latest_version FROM models WHERE name = ?`, model).Scan(&id, &latest)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, storeutil.ModelNotFound(model)
	}
	if err != nil {
		return 0, 0, errorf(err, "look up %s", leadscore.ModelName(model))
	}
	return id, latest, nil
}

const modelColumns = `name, description, latest_version, revision, created_at, updated_at`

func scanModel(row scanner) (leadscore.Model, error) {
	var m leadscore.Model
	var created, updated int64
	err := row.Scan(&m.ID, &m.Description, &m.LatestVersion, &m.Revision, &created, &updated)
	m.CreatedAt, m.UpdatedAt = timeOf(created), timeOf(updated)
	return m, err
}

// CreateModel implements leadscore.RegistryStore.
func (db *DB) CreateModel(ctx context.Context, m leadscore.Model) (leadscore.Model, error) {
	m, err := storeutil.NewModel(m)
	if err != nil {
		return leadscore.Model{}, err
	}
	_, err = db.db.ExecContext(ctx,
		`INSERT INTO models (name, description, revision, created_at, updated_at) VALUES (?, ?, 1, ?, ?)`,
		m.ID, m.Description, micros(m.CreatedAt), micros(m.UpdatedAt))
	if err != nil {
		return leadscore.Model{}, errorf(err, "create %s", leadscore.ModelName(m.ID))
	}
	return m, nil
}

// GetModel implements leadscore.RegistryStore.
func (db *DB) GetModel(ctx context.Context, id string) (leadscore.Model, error) {
	m, err := scanModel(db.db.QueryRowContext(ctx, `SELECT `+modelColumns+` FROM models WHERE name = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.Model{}, storeutil.ModelNotFound(id)
	}
	if err != nil {
		return leadscore.Model{}, errorf(err, "get %s", leadscore.ModelName(id))
	}
	return m, nil
}

// ListModels implements leadscore.RegistryStore.
func (db *DB) ListModels(ctx context.Context, after string, limit int) ([]leadscore.Model, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+modelColumns+` FROM models WHERE name > ? ORDER BY name LIMIT ?`, after, limitArg(limit))
	models, err := collect(rows, err, func(r *sql.Rows) (leadscore.Model, error) { return scanModel(r) })
	if err != nil {
		return nil, errorf(err, "list models")
	}
	return models, nil
}

// UpdateModelDescription implements leadscore.RegistryStore.
func (db *DB) UpdateModelDescription(ctx context.Context, id string, expectRevision int64, description string, at time.Time) (leadscore.Model, error) {
	var m leadscore.Model
	err := db.inTx(ctx, "update "+leadscore.ModelName(id), func(tx *sql.Tx) error {
		var revision int64
		err := tx.QueryRowContext(ctx, `SELECT revision FROM models WHERE name = ?`, id).Scan(&revision)
		if errors.Is(err, sql.ErrNoRows) {
			return storeutil.ModelNotFound(id)
		}
		if err != nil {
			return errorf(err, "update %s", leadscore.ModelName(id))
		}
		if expectRevision != 0 && expectRevision != revision {
			return storeutil.StaleModel(id, expectRevision, revision)
		}
		m, err = scanModel(tx.QueryRowContext(ctx,
			`UPDATE models SET description = ?2, revision = revision + 1, updated_at = ?3 WHERE name = ?1 RETURNING `+modelColumns,
			id, description, micros(storeutil.StoredTime(at))))
		if err != nil {
			return errorf(err, "update %s", leadscore.ModelName(id))
		}
		return nil
	})
	return m, err
}

// versionColumns reads a version without its artifact, from model_versions
// v joined with models m.
const versionColumns = `m.name, v.version, v.family, v.artifact_sha256, length(v.artifact),
    v.feature_spec, v.lineage, v.description, v.tags, v.state, v.created_by, v.created_at`

func scanVersion(row scanner) (leadscore.ModelVersion, error) {
	var v leadscore.ModelVersion
	var features, lineage, tags []byte
	var created int64
	err := row.Scan(&v.Model, &v.Version, &v.Family, &v.ArtifactSHA256, &v.ArtifactSize,
		&features, &lineage, &v.Description, &tags, &v.State, &v.CreatedBy, &created)
	if err != nil {
		return v, err
	}
	v.CreatedAt = timeOf(created)
	return v, storeutil.DecodeVersionColumns(&v, features, lineage, tags)
}

func getVersion(ctx context.Context, q querier, ref leadscore.VersionRef) (leadscore.ModelVersion, error) {
	v, err := scanVersion(q.QueryRowContext(ctx,
		`SELECT `+versionColumns+` FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.version = ?`,
		ref.Model, ref.Version))
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.ModelVersion{}, storeutil.VersionNotFound(ref)
	}
	if err != nil {
		return leadscore.ModelVersion{}, errorf(err, "get %s", ref.Name())
	}
	return v, nil
}

// versionID returns the internal id of one of a model's versions.
func versionID(ctx context.Context, q querier, modelID int64, ref leadscore.VersionRef) (int64, error) {
	var id int64
	err := q.QueryRowContext(ctx, `SELECT id FROM model_versions WHERE model_id = ? AND version = ?`, modelID, ref.Version).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, storeutil.VersionNotFound(ref)
	}
	if err != nil {
		return 0, errorf(err, "look up %s", ref.Name())
	}
	return id, nil
}

// CreateModelVersion implements leadscore.RegistryStore.
func (db *DB) CreateModelVersion(ctx context.Context, nv leadscore.NewModelVersion) (leadscore.ModelVersion, error) {
	nv, cols, err := storeutil.NewVersion(nv)
	if err != nil {
		return leadscore.ModelVersion{}, err
	}
	var v leadscore.ModelVersion
	err = db.inTx(ctx, "register a version of "+leadscore.ModelName(nv.Model), func(tx *sql.Tx) error {
		id, latest, err := modelID(ctx, tx, nv.Model)
		if err != nil {
			return err
		}
		if nv.RequestID != "" {
			method, response, ok, err := requestRecord(ctx, tx, nv.RequestID)
			if err != nil {
				return err
			}
			if ok {
				ref, err := storeutil.DecodeVersionRecord(nv.RequestID, method, response, nv.Model)
				if err != nil {
					return err
				}
				v, err = getVersion(ctx, tx, ref)
				if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
					return leadscore.Errorf(leadscore.ENOTFOUND, "request id %q registered %s, which has since been deleted", nv.RequestID, ref.Name())
				}
				return err
			}
		}
		ref := leadscore.VersionRef{Model: nv.Model, Version: latest + 1}
		_, err = tx.ExecContext(ctx, `
INSERT INTO model_versions (model_id, version, family, artifact, artifact_sha256, feature_spec, lineage,
                            description, tags, state, created_by, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'active', ?, ?)`,
			id, ref.Version, nv.Family, nv.Artifact, nv.ArtifactSHA256, string(cols.Features), string(cols.Lineage),
			nv.Description, string(cols.Tags), nv.CreatedBy, micros(nv.CreatedAt))
		if err != nil {
			return errorf(err, "register %s", ref.Name())
		}
		if _, err := tx.ExecContext(ctx, `UPDATE models SET latest_version = ? WHERE id = ?`, ref.Version, id); err != nil {
			return errorf(err, "register %s", ref.Name())
		}
		if nv.RequestID != "" {
			err := recordRequest(ctx, tx, nv.RequestID, storeutil.MethodCreateModelVersion, storeutil.EncodeVersionRecord(ref), nv.CreatedAt)
			if err != nil {
				return err
			}
		}
		v, err = getVersion(ctx, tx, ref)
		return err
	})
	if err != nil {
		return leadscore.ModelVersion{}, err
	}
	return v, nil
}

// requestRecord returns what was recorded for a request id.
func requestRecord(ctx context.Context, q querier, requestID string) (method string, response []byte, ok bool, err error) {
	err = q.QueryRowContext(ctx, `SELECT method, response FROM request_ids WHERE request_id = ?`, requestID).Scan(&method, &response)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, errorf(err, "look up request id %q", requestID)
	}
	return method, response, true, nil
}

// recordRequest remembers the response to a request id.
func recordRequest(ctx context.Context, q querier, requestID, method string, response []byte, at time.Time) error {
	_, err := q.ExecContext(ctx, `INSERT INTO request_ids (request_id, method, response, created_at) VALUES (?, ?, ?, ?)`,
		requestID, method, response, micros(at))
	if err != nil {
		return errorf(err, "record request id %q", requestID)
	}
	return nil
}

// GetModelVersion implements leadscore.RegistryStore.
func (db *DB) GetModelVersion(ctx context.Context, ref leadscore.VersionRef) (leadscore.ModelVersion, error) {
	return getVersion(ctx, db.db, ref)
}

// ModelVersionArtifact implements leadscore.RegistryStore.
func (db *DB) ModelVersionArtifact(ctx context.Context, ref leadscore.VersionRef) ([]byte, string, error) {
	var artifact []byte
	var sum string
	err := db.db.QueryRowContext(ctx,
		`SELECT v.artifact, v.artifact_sha256 FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.version = ?`,
		ref.Model, ref.Version).Scan(&artifact, &sum)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", storeutil.VersionNotFound(ref)
	}
	if err != nil {
		return nil, "", errorf(err, "read the artifact of %s", ref.Name())
	}
	return artifact, sum, nil
}

// ListModelVersions implements leadscore.RegistryStore.
func (db *DB) ListModelVersions(ctx context.Context, model string, before int64, limit int, archived bool) ([]leadscore.ModelVersion, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	id, _, err := modelID(ctx, db.db, model)
	if err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+versionColumns+`
FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE v.model_id = ?1 AND (?2 = 0 OR v.version < ?2) AND (?3 OR v.state = 'active')
ORDER BY v.version DESC LIMIT ?4`, id, before, archived, limitArg(limit))
	versions, err := collect(rows, err, func(r *sql.Rows) (leadscore.ModelVersion, error) { return scanVersion(r) })
	if err != nil {
		return nil, errorf(err, "list the versions of %s", leadscore.ModelName(model))
	}
	return versions, nil
}

// UpdateModelVersion implements leadscore.RegistryStore.
func (db *DB) UpdateModelVersion(ctx context.Context, ref leadscore.VersionRef, u leadscore.VersionUpdate) (leadscore.ModelVersion, error) {
	var v leadscore.ModelVersion
	err := db.inTx(ctx, "update "+ref.Name(), func(tx *sql.Tx) error {
		mid, _, err := modelID(ctx, tx, ref.Model)
		if err != nil {
			return err
		}
		vid, err := versionID(ctx, tx, mid, ref)
		if err != nil {
			return err
		}
		before, err := getVersion(ctx, tx, ref)
		if err != nil {
			return err
		}
		after, err := storeutil.ApplyVersionUpdate(before, u)
		if err != nil {
			return err
		}
		if after.State == leadscore.VersionArchived && before.State != leadscore.VersionArchived {
			var alias string
			err := tx.QueryRowContext(ctx, `SELECT name FROM aliases WHERE model_id = ? AND model_version_id = ? ORDER BY name LIMIT 1`, mid, vid).Scan(&alias)
			if err == nil {
				return storeutil.ArchiveServing(ref, alias)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return errorf(err, "archive %s", ref.Name())
			}
		}
		tags, err := storeutil.EncodeTags(after.Tags)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE model_versions SET description = ?, tags = ?, state = ? WHERE id = ?`,
			after.Description, string(tags), after.State, vid); err != nil {
			return errorf(err, "update %s", ref.Name())
		}
		v, err = getVersion(ctx, tx, ref)
		return err
	})
	return v, err
}

// holdersQuery finds what refers to a version: every alias that points at
// it, and for each other kind of holder the first one with how many there
// are. Scores are only counted: a lead's scores name the version they were
// computed with, and there may be millions.
const holdersQuery = `
SELECT kind, name, seq, n FROM (
    SELECT 1 AS rank, 'ALIAS' AS kind, a.name AS name, 0 AS seq, 1 AS n
    FROM aliases a WHERE a.model_id = ?1 AND a.model_version_id = ?2
    UNION ALL
    SELECT * FROM (
        SELECT 2, 'ALIAS_HISTORY', h.alias, h.seq, count(*) OVER ()
        FROM alias_history h WHERE h.from_version_id = ?2 OR h.to_version_id = ?2
        ORDER BY h.alias, h.seq LIMIT 1)
    UNION ALL
    SELECT * FROM (
        SELECT 3, 'EVALUATION', e.id, 0, count(*) OVER ()
        FROM evaluations e WHERE e.model_version_id = ?2 OR e.champion_version_id = ?2
        ORDER BY e.id LIMIT 1)
    UNION ALL
    SELECT 4, 'SCORES', '', 0, n FROM (
        SELECT EXISTS (SELECT 1 FROM lead_scores WHERE model_version_id = ?2)
             + EXISTS (SELECT 1 FROM score_history WHERE model_version_id = ?2)
             + EXISTS (SELECT 1 FROM score_changes WHERE model_version_id = ?2) AS n)
    WHERE n > 0
) ORDER BY rank, name`

// DeleteModelVersion implements leadscore.RegistryStore.
func (db *DB) DeleteModelVersion(ctx context.Context, ref leadscore.VersionRef) error {
	return db.inTx(ctx, "delete "+ref.Name(), func(tx *sql.Tx) error {
		mid, _, err := modelID(ctx, tx, ref.Model)
		if err != nil {
			return err
		}
		vid, err := versionID(ctx, tx, mid, ref)
		if err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, holdersQuery, mid, vid)
		held, err := collect(rows, err, func(r *sql.Rows) (leadscore.PreconditionViolation, error) {
			var kind, name string
			var seq, count int64
			if err := r.Scan(&kind, &name, &seq, &count); err != nil {
				return leadscore.PreconditionViolation{}, err
			}
			return holder(ref, kind, name, seq, count), nil
		})
		if err != nil {
			return errorf(err, "delete %s: find what refers to it", ref.Name())
		}
		if len(held) > 0 {
			return storeutil.VersionHeld(ref, held)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM model_versions WHERE id = ?`, vid); err != nil {
			var e *sqlite.Error
			if errors.As(err, &e) && e.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY {
				return storeutil.VersionHeld(ref, []leadscore.PreconditionViolation{{
					Type: "REFERENCE", Subject: ref.Name(), Description: "a record refers to it",
				}})
			}
			return errorf(err, "delete %s", ref.Name())
		}
		return nil
	})
}

// holder describes one row of holdersQuery.
func holder(ref leadscore.VersionRef, kind, name string, seq, count int64) leadscore.PreconditionViolation {
	switch kind {
	case "ALIAS":
		return storeutil.HeldBy(kind, leadscore.AliasRef{Model: ref.Model, Alias: name}.Name(), count, "points at it")
	case "ALIAS_HISTORY":
		return storeutil.HeldBy(kind, storeutil.HistoryEntryName(leadscore.AliasRef{Model: ref.Model, Alias: name}, seq), count, "refers to it")
	case "EVALUATION":
		return storeutil.HeldBy(kind, storeutil.EvaluationName(name), count, "refers to it")
	default:
		return leadscore.PreconditionViolation{Type: kind, Subject: ref.Name(), Description: "lead scores were computed with it"}
	}
}

// aliasColumns reads an alias from aliases a joined with its version v;
// its Seq is the newest entry of its history, the one that set it.
const aliasColumns = `a.name, v.version, a.revision, a.updated_at,
    coalesce((SELECT max(h.seq) FROM alias_history h WHERE h.model_id = a.model_id AND h.alias = a.name), 0)`

func scanAlias(row scanner, model string) (leadscore.Alias, error) {
	a := leadscore.Alias{Model: model}
	var updated int64
	err := row.Scan(&a.Name, &a.Version, &a.Revision, &updated, &a.Seq)
	a.UpdatedAt = timeOf(updated)
	return a, err
}

// GetAlias implements leadscore.RegistryStore.
func (db *DB) GetAlias(ctx context.Context, ref leadscore.AliasRef) (leadscore.Alias, error) {
	a, err := scanAlias(db.db.QueryRowContext(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN models m ON m.id = a.model_id JOIN model_versions v ON v.id = a.model_version_id
WHERE m.name = ? AND a.name = ?`, ref.Model, ref.Alias), ref.Model)
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.Alias{}, storeutil.AliasNotFound(ref)
	}
	if err != nil {
		return leadscore.Alias{}, errorf(err, "get %s", ref.Name())
	}
	return a, nil
}

// ListAliases implements leadscore.RegistryStore.
func (db *DB) ListAliases(ctx context.Context, model string) ([]leadscore.Alias, error) {
	id, _, err := modelID(ctx, db.db, model)
	if err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN model_versions v ON v.id = a.model_version_id
WHERE a.model_id = ? ORDER BY a.name`, id)
	aliases, err := collect(rows, err, func(r *sql.Rows) (leadscore.Alias, error) { return scanAlias(r, model) })
	if err != nil {
		return nil, errorf(err, "list the aliases of %s", leadscore.ModelName(model))
	}
	return aliases, nil
}

// historyColumns reads an alias history entry h with its versions fv and
// tv.
const historyColumns = `h.alias, h.seq, h.kind, coalesce(fv.version, 0), coalesce(tv.version, 0), h.actor, h.reason,
    coalesce(h.evaluation_id, ''), coalesce(h.request_id, ''), h.created_at`

const historyFrom = `alias_history h
LEFT JOIN model_versions fv ON fv.id = h.from_version_id
LEFT JOIN model_versions tv ON tv.id = h.to_version_id`

func scanChange(row scanner, model string) (leadscore.AliasChange, error) {
	c := leadscore.AliasChange{Model: model}
	var created int64
	err := row.Scan(&c.Alias, &c.Seq, &c.Kind, &c.FromVersion, &c.ToVersion, &c.Actor, &c.Reason,
		&c.Evaluation, &c.RequestID, &created)
	c.CreatedAt = timeOf(created)
	return c, err
}

// ListAliasHistory implements leadscore.RegistryStore.
func (db *DB) ListAliasHistory(ctx context.Context, ref leadscore.AliasRef, before int64, limit int) ([]leadscore.AliasChange, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	id, _, err := modelID(ctx, db.db, ref.Model)
	if err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+historyColumns+` FROM `+historyFrom+`
WHERE h.model_id = ?1 AND h.alias = ?2 AND (?3 = 0 OR h.seq < ?3)
ORDER BY h.seq DESC LIMIT ?4`, id, ref.Alias, before, limitArg(limit))
	changes, err := collect(rows, err, func(r *sql.Rows) (leadscore.AliasChange, error) { return scanChange(r, ref.Model) })
	if err != nil {
		return nil, errorf(err, "list the history of %s", ref.Name())
	}
	if len(changes) == 0 {
		var exists bool
		err := db.db.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM alias_history WHERE model_id = ? AND alias = ?)`, id, ref.Alias).Scan(&exists)
		if err != nil {
			return nil, errorf(err, "list the history of %s", ref.Name())
		}
		if !exists {
			return nil, storeutil.AliasNotFound(ref)
		}
	}
	return changes, nil
}

// MoveAlias implements leadscore.RegistryStore. After the commit it wakes
// this DB's AliasNotices subscriptions, which read the move from the
// history (see notices.go).
func (db *DB) MoveAlias(ctx context.Context, move leadscore.AliasMove, gate leadscore.AliasGate) (leadscore.Alias, leadscore.AliasChange, error) {
	if err := storeutil.CheckMove(move); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	ref := leadscore.AliasRef{Model: move.Model, Alias: move.Alias}
	var alias leadscore.Alias
	var change leadscore.AliasChange
	var write storeutil.AliasWrite
	err := db.inTxCommit(ctx, "move "+ref.Name(),
		func(tx *sql.Tx) error {
			id, _, err := modelID(ctx, tx, move.Model)
			if err != nil {
				return err
			}
			alias, change, write, err = storeutil.MoveAlias(ctx, &aliasTx{tx: tx, modelID: id, model: move.Model}, move, gate)
			return err
		},
		func(tx *sql.Tx) error {
			if write.Change.Seq == 0 {
				// A replayed request: nothing was written, nothing moved.
				return tx.Commit()
			}
			return db.notices.Commit(tx.Commit, write.Notice())
		})
	if err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	return alias, change, nil
}

// aliasTx is a MoveAlias transaction, which holds the write lock.
type aliasTx struct {
	tx      *sql.Tx
	modelID int64
	model   string
}

func (t *aliasTx) RequestRecord(ctx context.Context, requestID string) (string, []byte, bool, error) {
	return requestRecord(ctx, t.tx, requestID)
}

func (t *aliasTx) Alias(ctx context.Context, name string) (*leadscore.Alias, error) {
	a, err := scanAlias(t.tx.QueryRowContext(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN model_versions v ON v.id = a.model_version_id
WHERE a.model_id = ? AND a.name = ?`, t.modelID, name), t.model)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, errorf(err, "get %s", leadscore.AliasRef{Model: t.model, Alias: name}.Name())
	}
	return &a, nil
}

func (t *aliasTx) Version(ctx context.Context, version int64) (leadscore.ModelVersion, error) {
	return getVersion(ctx, t.tx, leadscore.VersionRef{Model: t.model, Version: version})
}

func (t *aliasTx) HistoryEntry(ctx context.Context, alias string, seq int64) (leadscore.AliasChange, bool, error) {
	c, err := scanChange(t.tx.QueryRowContext(ctx, `SELECT `+historyColumns+` FROM `+historyFrom+`
WHERE h.model_id = ?1 AND h.alias = ?2 AND (?3 = 0 OR h.seq = ?3)
ORDER BY h.seq DESC LIMIT 1`, t.modelID, alias, seq), t.model)
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.AliasChange{}, false, nil
	}
	if err != nil {
		return leadscore.AliasChange{}, false, errorf(err, "read the history of %s", leadscore.AliasRef{Model: t.model, Alias: alias}.Name())
	}
	return c, true, nil
}

func (t *aliasTx) Evaluations(ctx context.Context, version int64, id string) ([]leadscore.Evaluation, error) {
	rows, err := t.tx.QueryContext(ctx, `SELECT `+evaluationColumns+`, e.report FROM `+evaluationFrom+`
WHERE v.model_id = ?1 AND v.version = ?2 AND (?3 = '' OR e.id = ?3)
ORDER BY e.created_at DESC, e.id DESC`, t.modelID, version, id)
	evals, err := collect(rows, err, func(r *sql.Rows) (leadscore.Evaluation, error) { return scanEvaluation(r, true) })
	if err != nil {
		return nil, errorf(err, "list the evaluations of %s", leadscore.VersionRef{Model: t.model, Version: version}.Name())
	}
	return evals, nil
}

func (t *aliasTx) Write(ctx context.Context, w storeutil.AliasWrite) error {
	c := w.Change
	ref := leadscore.AliasRef{Model: c.Model, Alias: c.Alias}
	// A version number 0 (no version) finds no row, so the id is NULL.
	const versionIDOf = `(SELECT id FROM model_versions WHERE model_id = ?1 AND version = %s)`
	_, err := t.tx.ExecContext(ctx, `
INSERT INTO alias_history (model_id, alias, seq, kind, from_version_id, to_version_id, actor, reason,
                           evaluation_id, request_id, created_at)
VALUES (?1, ?2, ?3, ?4, `+fmt.Sprintf(versionIDOf, "?5")+`, `+fmt.Sprintf(versionIDOf, "?6")+`, ?7, ?8, ?9, ?10, ?11)`,
		t.modelID, c.Alias, c.Seq, c.Kind, c.FromVersion, c.ToVersion, c.Actor, c.Reason,
		nullable(c.Evaluation), nullable(c.RequestID), micros(c.CreatedAt))
	if err != nil {
		return errorf(err, "append %s", storeutil.HistoryEntryName(ref, c.Seq))
	}
	if w.Alias == nil {
		_, err = t.tx.ExecContext(ctx, `DELETE FROM aliases WHERE model_id = ? AND name = ?`, t.modelID, c.Alias)
	} else {
		_, err = t.tx.ExecContext(ctx, `
INSERT INTO aliases (model_id, name, model_version_id, revision, updated_at)
VALUES (?1, ?2, `+fmt.Sprintf(versionIDOf, "?3")+`, ?4, ?5)
ON CONFLICT (model_id, name) DO UPDATE SET
    model_version_id = excluded.model_version_id, revision = excluded.revision, updated_at = excluded.updated_at`,
			t.modelID, c.Alias, w.Alias.Version, w.Alias.Revision, micros(w.Alias.UpdatedAt))
	}
	if err != nil {
		return errorf(err, "set %s", ref.Name())
	}
	if _, err := t.tx.ExecContext(ctx, `UPDATE models SET updated_at = ? WHERE id = ?`, micros(c.CreatedAt), t.modelID); err != nil {
		return errorf(err, "set %s", ref.Name())
	}
	if c.RequestID != "" {
		if err := recordRequest(ctx, t.tx, c.RequestID, w.Method, w.Response, c.CreatedAt); err != nil {
			return err
		}
	}
	return nil
}

// CreateGatePolicy implements leadscore.RegistryStore.
func (db *DB) CreateGatePolicy(ctx context.Context, p leadscore.GatePolicyRecord) (leadscore.GatePolicyRecord, error) {
	p, err := storeutil.NewGatePolicy(p)
	if err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	err = db.inTx(ctx, "create gatePolicies/"+p.Name, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `
INSERT INTO gate_policies (name, version, document, created_by, created_at)
SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4 FROM gate_policies WHERE name = ?1
RETURNING version`, p.Name, string(p.Document), p.CreatedBy, micros(p.CreatedAt)).Scan(&p.Revision)
		if err != nil {
			return errorf(err, "create gatePolicies/%s", p.Name)
		}
		return nil
	})
	if err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	return p, nil
}

const policyColumns = `name, version, document, created_by, created_at`

func scanPolicy(row scanner) (leadscore.GatePolicyRecord, error) {
	var p leadscore.GatePolicyRecord
	var created int64
	err := row.Scan(&p.Name, &p.Revision, &p.Document, &p.CreatedBy, &created)
	p.CreatedAt = timeOf(created)
	return p, err
}

// GetGatePolicy implements leadscore.RegistryStore.
func (db *DB) GetGatePolicy(ctx context.Context, name string, revision int64) (leadscore.GatePolicyRecord, error) {
	p, err := scanPolicy(db.db.QueryRowContext(ctx, `SELECT `+policyColumns+` FROM gate_policies
WHERE name = ?1 AND (?2 = 0 OR version = ?2) ORDER BY version DESC LIMIT 1`, name, revision))
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.GatePolicyRecord{}, storeutil.GatePolicyNotFound(name, revision)
	}
	if err != nil {
		return leadscore.GatePolicyRecord{}, errorf(err, "get gatePolicies/%s", name)
	}
	return p, nil
}

// ListGatePolicies implements leadscore.RegistryStore.
func (db *DB) ListGatePolicies(ctx context.Context, after string, limit int) ([]leadscore.GatePolicyRecord, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT `+policyColumns+` FROM gate_policies g
WHERE name > ? AND version = (SELECT max(version) FROM gate_policies WHERE name = g.name)
ORDER BY name LIMIT ?`, after, limitArg(limit))
	policies, err := collect(rows, err, func(r *sql.Rows) (leadscore.GatePolicyRecord, error) { return scanPolicy(r) })
	if err != nil {
		return nil, errorf(err, "list gate policies")
	}
	return policies, nil
}

// evaluationColumns reads an evaluation from evaluationFrom, without its
// report.
const evaluationColumns = `e.id, coalesce(e.job_id, ''), m.name, v.version, coalesce(c.version, 0), e.baseline,
    coalesce(g.name, ''), coalesce(g.version, 0), e.passed, e.data_window_start, e.data_window_end, e.created_at`

const evaluationFrom = `evaluations e
JOIN model_versions v ON v.id = e.model_version_id
JOIN models m ON m.id = v.model_id
LEFT JOIN model_versions c ON c.id = e.champion_version_id
LEFT JOIN gate_policies g ON g.id = e.gate_policy_id`

func scanEvaluation(row scanner, withReport bool) (leadscore.Evaluation, error) {
	var e leadscore.Evaluation
	var passed sql.NullBool
	var start, end sql.NullInt64
	var created int64
	dest := []any{&e.ID, &e.JobID, &e.Model, &e.Version, &e.ChampionVersion, &e.Baseline,
		&e.GatePolicy, &e.GatePolicyRevision, &passed, &start, &end, &created}
	if withReport {
		dest = append(dest, &e.Report)
	}
	if err := row.Scan(dest...); err != nil {
		return e, err
	}
	if passed.Valid {
		e.Passed = &passed.Bool
	}
	e.DataStart, e.DataEnd, e.CreatedAt = optionalTimeOf(start), optionalTimeOf(end), timeOf(created)
	return e, nil
}

// CreateEvaluation implements leadscore.RegistryStore.
func (db *DB) CreateEvaluation(ctx context.Context, e leadscore.Evaluation) error {
	e, err := storeutil.NewEvaluation(e)
	if err != nil {
		return err
	}
	name := storeutil.EvaluationName(e.ID)
	return db.inTx(ctx, "create "+name, func(tx *sql.Tx) error {
		mid, _, err := modelID(ctx, tx, e.Model)
		if err != nil {
			return err
		}
		vid, err := versionID(ctx, tx, mid, e.Ref())
		if err != nil {
			return err
		}
		var championID, policyID any
		if e.ChampionVersion != 0 {
			if championID, err = versionID(ctx, tx, mid, leadscore.VersionRef{Model: e.Model, Version: e.ChampionVersion}); err != nil {
				return err
			}
		}
		if e.GatePolicy != "" {
			var id int64
			err := tx.QueryRowContext(ctx, `SELECT id FROM gate_policies WHERE name = ? AND version = ?`, e.GatePolicy, e.GatePolicyRevision).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return storeutil.GatePolicyNotFound(e.GatePolicy, e.GatePolicyRevision)
			}
			if err != nil {
				return errorf(err, "create %s: look up its gate policy", name)
			}
			policyID = id
		}
		if e.JobID != "" {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE id = ?`, e.JobID).Scan(&one)
			if errors.Is(err, sql.ErrNoRows) {
				return storeutil.JobNotFound(e.JobID)
			}
			if err != nil {
				return errorf(err, "create %s: look up %s", name, storeutil.JobName(e.JobID))
			}
		}
		var passed any
		if e.Passed != nil {
			passed = *e.Passed
		}
		_, err = tx.ExecContext(ctx, `
INSERT INTO evaluations (id, job_id, model_version_id, champion_version_id, baseline, gate_policy_id, passed,
                         data_window_start, data_window_end, report, created_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			e.ID, nullable(e.JobID), vid, championID, e.Baseline, policyID, passed,
			optionalMicros(e.DataStart), optionalMicros(e.DataEnd), string(e.Report), micros(e.CreatedAt))
		if err != nil {
			return errorf(err, "create %s", name)
		}
		return nil
	})
}

// GetEvaluation implements leadscore.RegistryStore.
func (db *DB) GetEvaluation(ctx context.Context, id string) (leadscore.Evaluation, error) {
	e, err := scanEvaluation(db.db.QueryRowContext(ctx, `SELECT `+evaluationColumns+`, e.report FROM `+evaluationFrom+` WHERE e.id = ?`, id), true)
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.Evaluation{}, storeutil.EvaluationNotFound(id)
	}
	if err != nil {
		return leadscore.Evaluation{}, errorf(err, "get %s", storeutil.EvaluationName(id))
	}
	return e, nil
}

// where builds the conditions of a listing.
type where struct {
	conds []string
	args  []any
}

func (w *where) add(cond string, args ...any) {
	w.conds = append(w.conds, cond)
	w.args = append(w.args, args...)
}

func (w *where) String() string {
	if len(w.conds) == 0 {
		return ""
	}
	return " WHERE " + strings.Join(w.conds, " AND ")
}

// page adds the keyset condition of a newest-first listing by (time, id).
func (w *where) page(timeColumn, idColumn string, p leadscore.Page) {
	if storeutil.PageStarted(p) {
		w.add(fmt.Sprintf("(%s, %s) < (?, ?)", timeColumn, idColumn), micros(storeutil.PageTime(p)), p.ID)
	}
}

// ListEvaluations implements leadscore.RegistryStore.
func (db *DB) ListEvaluations(ctx context.Context, f leadscore.EvaluationFilter, page leadscore.Page, limit int) ([]leadscore.Evaluation, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	if err := storeutil.CheckEvaluationFilter(f); err != nil {
		return nil, err
	}
	var w where
	if f.Model != "" {
		w.add("m.name = ?", f.Model)
	}
	if f.Version != 0 {
		w.add("v.version = ?", f.Version)
	}
	w.page("e.created_at", "e.id", page)
	rows, err := db.db.QueryContext(ctx, `SELECT `+evaluationColumns+` FROM `+evaluationFrom+w.String()+
		` ORDER BY e.created_at DESC, e.id DESC LIMIT ?`, append(w.args, limitArg(limit))...)
	evals, err := collect(rows, err, func(r *sql.Rows) (leadscore.Evaluation, error) { return scanEvaluation(r, false) })
	if err != nil {
		return nil, errorf(err, "list evaluations")
	}
	return evals, nil
}

const jobColumns = `id, kind, state, model, progress, stage, message, coalesce(request_id, ''), spec, result,
    coalesce(error_code, ''), coalesce(error_message, ''), created_by, created_at, started_at, finished_at, updated_at`

func scanJob(row scanner) (leadscore.Job, error) {
	var j leadscore.Job
	var created, updated int64
	var started, finished sql.NullInt64
	err := row.Scan(&j.ID, &j.Kind, &j.State, &j.Model, &j.Progress, &j.Stage, &j.Message, &j.RequestID,
		&j.Spec, &j.Result, &j.ErrorCode, &j.ErrorMessage, &j.CreatedBy, &created, &started, &finished, &updated)
	j.CreatedAt, j.UpdatedAt = timeOf(created), timeOf(updated)
	j.StartedAt, j.FinishedAt = optionalTimeOf(started), optionalTimeOf(finished)
	return j, err
}

// CreateJob implements leadscore.RegistryStore.
func (db *DB) CreateJob(ctx context.Context, j leadscore.Job) (leadscore.Job, bool, error) {
	j, err := storeutil.NewJob(j)
	if err != nil {
		return leadscore.Job{}, false, err
	}
	name := storeutil.JobName(j.ID)
	var job leadscore.Job
	var created bool
	err = db.inTx(ctx, "create "+name, func(tx *sql.Tx) error {
		if j.RequestID != "" {
			existing, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE request_id = ?`, j.RequestID))
			if err == nil {
				job = existing
				return storeutil.SameJobRequest(existing, j)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return errorf(err, "create %s: look up request id %q", name, j.RequestID)
			}
		}
		_, err := tx.ExecContext(ctx, `
INSERT INTO jobs (id, kind, state, model, progress, stage, message, request_id, spec, result,
                  error_code, error_message, created_by, created_at, started_at, finished_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			j.ID, j.Kind, j.State, j.Model, j.Progress, j.Stage, j.Message, nullable(j.RequestID), string(j.Spec), optionalJSON(j.Result),
			nullable(j.ErrorCode), nullable(j.ErrorMessage), j.CreatedBy, micros(j.CreatedAt),
			optionalMicros(j.StartedAt), optionalMicros(j.FinishedAt), micros(j.UpdatedAt))
		if err != nil {
			return errorf(err, "create %s", name)
		}
		job, created = j, true
		return nil
	})
	if err != nil {
		return leadscore.Job{}, false, err
	}
	return job, created, nil
}

// GetJob implements leadscore.RegistryStore.
func (db *DB) GetJob(ctx context.Context, id string) (leadscore.Job, error) {
	j, err := scanJob(db.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.Job{}, storeutil.JobNotFound(id)
	}
	if err != nil {
		return leadscore.Job{}, errorf(err, "get %s", storeutil.JobName(id))
	}
	return j, nil
}

// ListJobs implements leadscore.RegistryStore.
func (db *DB) ListJobs(ctx context.Context, f leadscore.JobFilter, page leadscore.Page, limit int) ([]leadscore.Job, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	var w where
	if f.Kind != "" {
		w.add("kind = ?", f.Kind)
	}
	if f.Model != "" {
		w.add("model = ?", f.Model)
	}
	if len(f.States) > 0 {
		args := make([]any, len(f.States))
		for i, s := range f.States {
			args[i] = string(s)
		}
		w.add("state IN ("+strings.TrimSuffix(strings.Repeat("?, ", len(args)), ", ")+")", args...)
	}
	w.page("created_at", "id", page)
	rows, err := db.db.QueryContext(ctx, `SELECT `+jobColumns+` FROM jobs`+w.String()+
		` ORDER BY created_at DESC, id DESC LIMIT ?`, append(w.args, limitArg(limit))...)
	jobs, err := collect(rows, err, func(r *sql.Rows) (leadscore.Job, error) { return scanJob(r) })
	if err != nil {
		return nil, errorf(err, "list jobs")
	}
	return jobs, nil
}

// UpdateJob implements leadscore.RegistryStore. fn runs inside the write
// transaction, so it should be quick.
func (db *DB) UpdateJob(ctx context.Context, id string, fn func(*leadscore.Job) error) (leadscore.Job, error) {
	name := storeutil.JobName(id)
	var updated leadscore.Job
	err := db.inTx(ctx, "update "+name, func(tx *sql.Tx) error {
		before, err := scanJob(tx.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return storeutil.JobNotFound(id)
		}
		if err != nil {
			return errorf(err, "update %s", name)
		}
		after := before
		after.Spec = append([]byte(nil), before.Spec...)
		after.Result = append([]byte(nil), before.Result...)
		if err := fn(&after); err != nil {
			return err
		}
		if updated, err = storeutil.UpdatedJob(before, after); err != nil {
			return err
		}
		j := updated
		_, err = tx.ExecContext(ctx, `
UPDATE jobs SET state = ?, model = ?, progress = ?, stage = ?, message = ?, spec = ?, result = ?,
    error_code = ?, error_message = ?, started_at = ?, finished_at = ?, updated_at = ?
WHERE id = ?`,
			j.State, j.Model, j.Progress, j.Stage, j.Message, string(j.Spec), optionalJSON(j.Result),
			nullable(j.ErrorCode), nullable(j.ErrorMessage), optionalMicros(j.StartedAt), optionalMicros(j.FinishedAt),
			micros(j.UpdatedAt), j.ID)
		if err != nil {
			return errorf(err, "update %s", name)
		}
		return nil
	})
	if err != nil {
		return leadscore.Job{}, err
	}
	return updated, nil
}
