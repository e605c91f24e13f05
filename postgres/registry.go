package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.RegistryStore = (*DB)(nil)

// Every change to a model's versions or aliases locks the model's row
// first, FOR NO KEY UPDATE: changes to one model take turns, so checks and
// writes see the same state, while inserts that merely refer to the model
// (which take KEY SHARE locks) go on unhindered.

// querier is what a pool and a transaction have in common.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults
}

// inTx runs fn in a transaction and commits it if fn succeeds. fn's error
// is returned as it is.
func (db *DB) inTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.Begin(ctx)
	if err != nil {
		return errorf(err, "%s: begin", what)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx) // A no-op after Commit.
	}()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return errorf(err, "%s: commit", what)
	}
	return nil
}

// lockModel locks a model's row and returns its internal id and the
// highest version number it has registered.
func lockModel(ctx context.Context, tx pgx.Tx, model string) (id, latest int64, err error) {
	err = tx.QueryRow(ctx, `SELECT id, latest_version FROM models WHERE name = $1 FOR NO KEY UPDATE`, model).Scan(&id, &latest)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, 0, storeutil.ModelNotFound(model)
	}
	if err != nil {
		return 0, 0, errorf(err, "lock %s", leadscore.ModelName(model))
	}
	return id, latest, nil
}

// modelID returns a model's internal id.
func modelID(ctx context.Context, q querier, model string) (int64, error) {
	var id int64
	err := q.QueryRow(ctx, `SELECT id FROM models WHERE name = $1`, model).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, storeutil.ModelNotFound(model)
	}
	if err != nil {
		return 0, errorf(err, "look up %s", leadscore.ModelName(model))
	}
	return id, nil
}

// limitArg is a listing limit as a LIMIT parameter: NULL for none.
func limitArg(limit int) any {
	if limit == 0 {
		return nil
	}
	return limit
}

// optionalText is a string as a nullable column value.
func optionalText(s string) pgtype.Text { return pgtype.Text{String: s, Valid: s != ""} }

// optionalTime is a time as a nullable column value.
func optionalTime(t time.Time) pgtype.Timestamptz {
	return pgtype.Timestamptz{Time: t, Valid: !t.IsZero()}
}

func timeOf(t pgtype.Timestamptz) time.Time {
	if !t.Valid {
		return time.Time{}
	}
	return t.Time.UTC()
}

const modelColumns = `name, description, latest_version, revision, created_at, updated_at`

func scanModel(row pgx.Row) (leadscore.Model, error) {
	var m leadscore.Model
	err := row.Scan(&m.ID, &m.Description, &m.LatestVersion, &m.Revision, &m.CreatedAt, &m.UpdatedAt)
	m.CreatedAt, m.UpdatedAt = m.CreatedAt.UTC(), m.UpdatedAt.UTC()
	return m, err
}

// CreateModel implements leadscore.RegistryStore.
func (db *DB) CreateModel(ctx context.Context, m leadscore.Model) (leadscore.Model, error) {
	m, err := storeutil.NewModel(m)
	if err != nil {
		return leadscore.Model{}, err
	}
	_, err = db.pool.Exec(ctx,
		`INSERT INTO models (name, description, revision, created_at, updated_at) VALUES ($1, $2, 1, $3, $4)`,
		m.ID, m.Description, m.CreatedAt, m.UpdatedAt)
	if err != nil {
		return leadscore.Model{}, errorf(err, "create %s", leadscore.ModelName(m.ID))
	}
	return m, nil
}

// GetModel implements leadscore.RegistryStore.
func (db *DB) GetModel(ctx context.Context, id string) (leadscore.Model, error) {
	m, err := scanModel(db.pool.QueryRow(ctx, `SELECT `+modelColumns+` FROM models WHERE name = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := db.pool.Query(ctx, `SELECT `+modelColumns+` FROM models WHERE name > $1 ORDER BY name LIMIT $2`, after, limitArg(limit))
	if err != nil {
		return nil, errorf(err, "list models")
	}
	models, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.Model, error) { return scanModel(row) })
	if err != nil {
		return nil, errorf(err, "list models")
	}
	return models, nil
}

// UpdateModelDescription implements leadscore.RegistryStore.
func (db *DB) UpdateModelDescription(ctx context.Context, id string, expectRevision int64, description string, at time.Time) (leadscore.Model, error) {
	var m leadscore.Model
	err := db.inTx(ctx, "update "+leadscore.ModelName(id), func(tx pgx.Tx) error {
		var revision int64
		err := tx.QueryRow(ctx, `SELECT revision FROM models WHERE name = $1 FOR NO KEY UPDATE`, id).Scan(&revision)
		if errors.Is(err, pgx.ErrNoRows) {
			return storeutil.ModelNotFound(id)
		}
		if err != nil {
			return errorf(err, "update %s", leadscore.ModelName(id))
		}
		if expectRevision != 0 && expectRevision != revision {
			return storeutil.StaleModel(id, expectRevision, revision)
		}
		m, err = scanModel(tx.QueryRow(ctx,
			`UPDATE models SET description = $2, revision = revision + 1, updated_at = $3 WHERE name = $1 RETURNING `+modelColumns,
			id, description, storeutil.StoredTime(at)))
		if err != nil {
			return errorf(err, "update %s", leadscore.ModelName(id))
		}
		return nil
	})
	return m, err
}

// versionColumns reads a version without its artifact, from model_versions
// v joined with models m.
const versionColumns = `m.name, v.version, v.family, v.artifact_sha256, octet_length(v.artifact),
    v.feature_spec, v.lineage, v.description, v.tags, v.state, v.created_by, v.created_at`

func scanVersion(row pgx.Row) (leadscore.ModelVersion, error) {
	var v leadscore.ModelVersion
	var features, lineage, tags []byte
	err := row.Scan(&v.Model, &v.Version, &v.Family, &v.ArtifactSHA256, &v.ArtifactSize,
		&features, &lineage, &v.Description, &tags, &v.State, &v.CreatedBy, &v.CreatedAt)
	if err != nil {
		return v, err
	}
	v.CreatedAt = v.CreatedAt.UTC()
	return v, storeutil.DecodeVersionColumns(&v, features, lineage, tags)
}

func getVersion(ctx context.Context, q querier, ref leadscore.VersionRef) (leadscore.ModelVersion, error) {
	v, err := scanVersion(q.QueryRow(ctx,
		`SELECT `+versionColumns+` FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 AND v.version = $2`,
		ref.Model, ref.Version))
	if errors.Is(err, pgx.ErrNoRows) {
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
	err := q.QueryRow(ctx, `SELECT id FROM model_versions WHERE model_id = $1 AND version = $2`, modelID, ref.Version).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
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
	err = db.inTx(ctx, "register a version of "+leadscore.ModelName(nv.Model), func(tx pgx.Tx) error {
		id, latest, err := lockModel(ctx, tx, nv.Model)
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
		_, err = tx.Exec(ctx, `
INSERT INTO model_versions (model_id, version, family, artifact, artifact_sha256, feature_spec, lineage,
                            description, tags, state, created_by, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'active', $10, $11)`,
			id, ref.Version, nv.Family, nv.Artifact, nv.ArtifactSHA256, cols.Features, cols.Lineage,
			nv.Description, cols.Tags, nv.CreatedBy, nv.CreatedAt)
		if err != nil {
			return errorf(err, "register %s", ref.Name())
		}
		if _, err := tx.Exec(ctx, `UPDATE models SET latest_version = $2 WHERE id = $1`, id, ref.Version); err != nil {
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
	err = q.QueryRow(ctx, `SELECT method, response FROM request_ids WHERE request_id = $1`, requestID).Scan(&method, &response)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, errorf(err, "look up request id %q", requestID)
	}
	return method, response, true, nil
}

// recordRequest remembers the response to a request id. A concurrent
// request with the same id that got there first makes it fail with
// ECONFLICT.
func recordRequest(ctx context.Context, q querier, requestID, method string, response []byte, at time.Time) error {
	_, err := q.Exec(ctx, `INSERT INTO request_ids (request_id, method, response, created_at) VALUES ($1, $2, $3, $4)`,
		requestID, method, response, at)
	if err != nil {
		return errorf(err, "record request id %q", requestID)
	}
	return nil
}

// GetModelVersion implements leadscore.RegistryStore.
func (db *DB) GetModelVersion(ctx context.Context, ref leadscore.VersionRef) (leadscore.ModelVersion, error) {
	return getVersion(ctx, db.pool, ref)
}

// ModelVersionArtifact implements leadscore.RegistryStore.
func (db *DB) ModelVersionArtifact(ctx context.Context, ref leadscore.VersionRef) ([]byte, string, error) {
	var artifact []byte
	var sum string
	err := db.pool.QueryRow(ctx,
		`SELECT v.artifact, v.artifact_sha256 FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 AND v.version = $2`,
		ref.Model, ref.Version).Scan(&artifact, &sum)
	if errors.Is(err, pgx.ErrNoRows) {
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
	id, err := modelID(ctx, db.pool, model)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+versionColumns+`
FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE v.model_id = $1 AND ($2::bigint = 0 OR v.version < $2) AND ($3 OR v.state = 'active')
ORDER BY v.version DESC LIMIT $4`, id, before, archived, limitArg(limit))
	if err != nil {
		return nil, errorf(err, "list the versions of %s", leadscore.ModelName(model))
	}
	versions, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.ModelVersion, error) { return scanVersion(row) })
	if err != nil {
		return nil, errorf(err, "list the versions of %s", leadscore.ModelName(model))
	}
	return versions, nil
}

// UpdateModelVersion implements leadscore.RegistryStore.
func (db *DB) UpdateModelVersion(ctx context.Context, ref leadscore.VersionRef, u leadscore.VersionUpdate) (leadscore.ModelVersion, error) {
	var v leadscore.ModelVersion
	err := db.inTx(ctx, "update "+ref.Name(), func(tx pgx.Tx) error {
		mid, _, err := lockModel(ctx, tx, ref.Model)
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
			err := tx.QueryRow(ctx, `SELECT name FROM aliases WHERE model_id = $1 AND model_version_id = $2 ORDER BY name LIMIT 1`, mid, vid).Scan(&alias)
			if err == nil {
				return storeutil.ArchiveServing(ref, alias)
			}
			if !errors.Is(err, pgx.ErrNoRows) {
				return errorf(err, "archive %s", ref.Name())
			}
		}
		tags, err := storeutil.EncodeTags(after.Tags)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE model_versions SET description = $2, tags = $3, state = $4 WHERE id = $1`,
			vid, after.Description, tags, after.State); err != nil {
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
    SELECT 1 AS rank, 'ALIAS' AS kind, a.name AS name, 0 AS seq, 1::bigint AS n
    FROM aliases a WHERE a.model_id = $1 AND a.model_version_id = $2
    UNION ALL (
        SELECT 2, 'ALIAS_HISTORY', h.alias, h.seq, count(*) OVER ()
        FROM alias_history h WHERE h.from_version_id = $2 OR h.to_version_id = $2
        ORDER BY h.alias, h.seq LIMIT 1)
    UNION ALL (
        SELECT 3, 'EVALUATION', e.id, 0, count(*) OVER ()
        FROM evaluations e WHERE e.model_version_id = $2 OR e.champion_version_id = $2
        ORDER BY e.id LIMIT 1)
    UNION ALL
    SELECT 4, 'SCORES', '', 0, n FROM (
        SELECT (SELECT count(*) FROM (SELECT 1 FROM lead_scores WHERE model_version_id = $2 LIMIT 1) s)
             + (SELECT count(*) FROM (SELECT 1 FROM score_history WHERE model_version_id = $2 LIMIT 1) s)
             + (SELECT count(*) FROM (SELECT 1 FROM score_changes WHERE model_version_id = $2 LIMIT 1) s) AS n
    ) scores WHERE n > 0
) holders ORDER BY rank, name`

// DeleteModelVersion implements leadscore.RegistryStore.
func (db *DB) DeleteModelVersion(ctx context.Context, ref leadscore.VersionRef) error {
	return db.inTx(ctx, "delete "+ref.Name(), func(tx pgx.Tx) error {
		mid, _, err := lockModel(ctx, tx, ref.Model)
		if err != nil {
			return err
		}
		vid, err := versionID(ctx, tx, mid, ref)
		if err != nil {
			return err
		}
		rows, err := tx.Query(ctx, holdersQuery, mid, vid)
		if err != nil {
			return errorf(err, "delete %s: find what refers to it", ref.Name())
		}
		held, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.PreconditionViolation, error) {
			var kind, name string
			var seq, count int64
			if err := row.Scan(&kind, &name, &seq, &count); err != nil {
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
		if _, err := tx.Exec(ctx, `DELETE FROM model_versions WHERE id = $1`, vid); err != nil {
			var pgErr *pgconn.PgError
			if errors.As(err, &pgErr) && pgErr.Code == "23503" { // foreign_key_violation
				return storeutil.VersionHeld(ref, []leadscore.PreconditionViolation{{
					Type: "REFERENCE", Subject: ref.Name(), Description: "a record refers to it" + constraint(pgErr),
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

func scanAlias(row pgx.Row, model string) (leadscore.Alias, error) {
	a := leadscore.Alias{Model: model}
	err := row.Scan(&a.Name, &a.Version, &a.Revision, &a.UpdatedAt, &a.Seq)
	a.UpdatedAt = a.UpdatedAt.UTC()
	return a, err
}

// GetAlias implements leadscore.RegistryStore.
func (db *DB) GetAlias(ctx context.Context, ref leadscore.AliasRef) (leadscore.Alias, error) {
	a, err := scanAlias(db.pool.QueryRow(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN models m ON m.id = a.model_id JOIN model_versions v ON v.id = a.model_version_id
WHERE m.name = $1 AND a.name = $2`, ref.Model, ref.Alias), ref.Model)
	if errors.Is(err, pgx.ErrNoRows) {
		return leadscore.Alias{}, storeutil.AliasNotFound(ref)
	}
	if err != nil {
		return leadscore.Alias{}, errorf(err, "get %s", ref.Name())
	}
	return a, nil
}

// ListAliases implements leadscore.RegistryStore.
func (db *DB) ListAliases(ctx context.Context, model string) ([]leadscore.Alias, error) {
	id, err := modelID(ctx, db.pool, model)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN model_versions v ON v.id = a.model_version_id
WHERE a.model_id = $1 ORDER BY a.name`, id)
	if err != nil {
		return nil, errorf(err, "list the aliases of %s", leadscore.ModelName(model))
	}
	aliases, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.Alias, error) { return scanAlias(row, model) })
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

func scanChange(row pgx.Row, model string) (leadscore.AliasChange, error) {
	c := leadscore.AliasChange{Model: model}
	err := row.Scan(&c.Alias, &c.Seq, &c.Kind, &c.FromVersion, &c.ToVersion, &c.Actor, &c.Reason,
		&c.Evaluation, &c.RequestID, &c.CreatedAt)
	c.CreatedAt = c.CreatedAt.UTC()
	return c, err
}

// ListAliasHistory implements leadscore.RegistryStore.
func (db *DB) ListAliasHistory(ctx context.Context, ref leadscore.AliasRef, before int64, limit int) ([]leadscore.AliasChange, error) {
	if err := storeutil.CheckLimit(limit); err != nil {
		return nil, err
	}
	id, err := modelID(ctx, db.pool, ref.Model)
	if err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT `+historyColumns+` FROM `+historyFrom+`
WHERE h.model_id = $1 AND h.alias = $2 AND ($3::bigint = 0 OR h.seq < $3)
ORDER BY h.seq DESC LIMIT $4`, id, ref.Alias, before, limitArg(limit))
	if err != nil {
		return nil, errorf(err, "list the history of %s", ref.Name())
	}
	changes, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.AliasChange, error) { return scanChange(row, ref.Model) })
	if err != nil {
		return nil, errorf(err, "list the history of %s", ref.Name())
	}
	if len(changes) == 0 {
		var exists bool
		err := db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM alias_history WHERE model_id = $1 AND alias = $2)`, id, ref.Alias).Scan(&exists)
		if err != nil {
			return nil, errorf(err, "list the history of %s", ref.Name())
		}
		if !exists {
			return nil, storeutil.AliasNotFound(ref)
		}
	}
	return changes, nil
}

// MoveAlias implements leadscore.RegistryStore. The notice is sent with
// pg_notify inside the transaction, so PostgreSQL delivers it to every
// listener when, and only if, the transaction commits.
func (db *DB) MoveAlias(ctx context.Context, move leadscore.AliasMove, gate leadscore.AliasGate) (leadscore.Alias, leadscore.AliasChange, error) {
	if err := storeutil.CheckMove(move); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	ref := leadscore.AliasRef{Model: move.Model, Alias: move.Alias}
	var alias leadscore.Alias
	var change leadscore.AliasChange
	err := db.inTx(ctx, "move "+ref.Name(), func(tx pgx.Tx) error {
		id, _, err := lockModel(ctx, tx, move.Model)
		if err != nil {
			return err
		}
		alias, change, _, err = storeutil.MoveAlias(ctx, &aliasTx{tx: tx, modelID: id, model: move.Model}, move, gate)
		return err
	})
	if err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	return alias, change, nil
}

// noticeChannel is the PostgreSQL channel alias moves are notified on. Its
// payload names the schema, since stores in several schemas of one
// database share the channel.
const noticeChannel = "leadscore_alias_moves"

// aliasTx is a MoveAlias transaction with the model's row locked.
type aliasTx struct {
	tx      pgx.Tx
	modelID int64
	model   string
}

func (t *aliasTx) RequestRecord(ctx context.Context, requestID string) (string, []byte, bool, error) {
	return requestRecord(ctx, t.tx, requestID)
}

func (t *aliasTx) Alias(ctx context.Context, name string) (*leadscore.Alias, error) {
	a, err := scanAlias(t.tx.QueryRow(ctx, `SELECT `+aliasColumns+`
FROM aliases a JOIN model_versions v ON v.id = a.model_version_id
WHERE a.model_id = $1 AND a.name = $2`, t.modelID, name), t.model)
	if errors.Is(err, pgx.ErrNoRows) {
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
	c, err := scanChange(t.tx.QueryRow(ctx, `SELECT `+historyColumns+` FROM `+historyFrom+`
WHERE h.model_id = $1 AND h.alias = $2 AND ($3::bigint = 0 OR h.seq = $3)
ORDER BY h.seq DESC LIMIT 1`, t.modelID, alias, seq), t.model)
	if errors.Is(err, pgx.ErrNoRows) {
		return leadscore.AliasChange{}, false, nil
	}
	if err != nil {
		return leadscore.AliasChange{}, false, errorf(err, "read the history of %s", leadscore.AliasRef{Model: t.model, Alias: alias}.Name())
	}
	return c, true, nil
}

func (t *aliasTx) Evaluations(ctx context.Context, version int64, id string) ([]leadscore.Evaluation, error) {
	rows, err := t.tx.Query(ctx, `SELECT `+evaluationColumns+`, e.report FROM `+evaluationFrom+`
WHERE v.model_id = $1 AND v.version = $2 AND ($3 = '' OR e.id = $3)
ORDER BY e.created_at DESC, e.id DESC`, t.modelID, version, id)
	if err != nil {
		return nil, errorf(err, "list the evaluations of %s", leadscore.VersionRef{Model: t.model, Version: version}.Name())
	}
	evals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.Evaluation, error) { return scanEvaluation(row, true) })
	if err != nil {
		return nil, errorf(err, "list the evaluations of %s", leadscore.VersionRef{Model: t.model, Version: version}.Name())
	}
	return evals, nil
}

func (t *aliasTx) Write(ctx context.Context, w storeutil.AliasWrite) error {
	c := w.Change
	ref := leadscore.AliasRef{Model: c.Model, Alias: c.Alias}
	// A version number 0 (no version) finds no row, so the id is NULL.
	const versionIDOf = `(SELECT id FROM model_versions WHERE model_id = $1 AND version = %s)`
	_, err := t.tx.Exec(ctx, `
INSERT INTO alias_history (model_id, alias, seq, kind, from_version_id, to_version_id, actor, reason,
                           evaluation_id, request_id, created_at)
VALUES ($1, $2, $3, $4, `+fmt.Sprintf(versionIDOf, "$5")+`, `+fmt.Sprintf(versionIDOf, "$6")+`, $7, $8, $9, $10, $11)`,
		t.modelID, c.Alias, c.Seq, c.Kind, c.FromVersion, c.ToVersion, c.Actor, c.Reason,
		optionalText(c.Evaluation), optionalText(c.RequestID), c.CreatedAt)
	if err != nil {
		return errorf(err, "append %s", storeutil.HistoryEntryName(ref, c.Seq))
	}
	if w.Alias == nil {
		_, err = t.tx.Exec(ctx, `DELETE FROM aliases WHERE model_id = $1 AND name = $2`, t.modelID, c.Alias)
	} else {
		_, err = t.tx.Exec(ctx, `
INSERT INTO aliases (model_id, name, model_version_id, revision, updated_at)
VALUES ($1, $2, `+fmt.Sprintf(versionIDOf, "$3")+`, $4, $5)
ON CONFLICT (model_id, name) DO UPDATE SET
    model_version_id = excluded.model_version_id, revision = excluded.revision, updated_at = excluded.updated_at`,
			t.modelID, c.Alias, w.Alias.Version, w.Alias.Revision, w.Alias.UpdatedAt)
	}
	if err != nil {
		return errorf(err, "set %s", ref.Name())
	}
	if _, err := t.tx.Exec(ctx, `UPDATE models SET updated_at = $2 WHERE id = $1`, t.modelID, c.CreatedAt); err != nil {
		return errorf(err, "set %s", ref.Name())
	}
	if c.RequestID != "" {
		if err := recordRequest(ctx, t.tx, c.RequestID, w.Method, w.Response, c.CreatedAt); err != nil {
			return err
		}
	}
	n := w.Notice()
	_, err = t.tx.Exec(ctx, `SELECT pg_notify($1, json_build_object(
    'schema', current_schema(), 'model', $2::text, 'alias', $3::text, 'seq', $4::bigint, 'version', $5::bigint)::text)`,
		noticeChannel, n.Model, n.Alias, n.Seq, n.Version)
	if err != nil {
		return errorf(err, "notify the move of %s", ref.Name())
	}
	return nil
}

// CreateGatePolicy implements leadscore.RegistryStore. Policy revisions are
// created rarely, so creations simply take turns on a table lock, which
// does not block readers or the evaluations that refer to policies.
func (db *DB) CreateGatePolicy(ctx context.Context, p leadscore.GatePolicyRecord) (leadscore.GatePolicyRecord, error) {
	p, err := storeutil.NewGatePolicy(p)
	if err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	err = db.inTx(ctx, "create gatePolicies/"+p.Name, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `LOCK TABLE gate_policies IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return errorf(err, "create gatePolicies/%s", p.Name)
		}
		err := tx.QueryRow(ctx, `
INSERT INTO gate_policies (name, version, document, created_by, created_at)
SELECT $1, coalesce(max(version), 0) + 1, $2, $3, $4 FROM gate_policies WHERE name = $1
RETURNING version`, p.Name, p.Document, p.CreatedBy, p.CreatedAt).Scan(&p.Revision)
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

func scanPolicy(row pgx.Row) (leadscore.GatePolicyRecord, error) {
	var p leadscore.GatePolicyRecord
	err := row.Scan(&p.Name, &p.Revision, &p.Document, &p.CreatedBy, &p.CreatedAt)
	p.CreatedAt = p.CreatedAt.UTC()
	return p, err
}

// GetGatePolicy implements leadscore.RegistryStore.
func (db *DB) GetGatePolicy(ctx context.Context, name string, revision int64) (leadscore.GatePolicyRecord, error) {
	p, err := scanPolicy(db.pool.QueryRow(ctx, `SELECT `+policyColumns+` FROM gate_policies
WHERE name = $1 AND ($2::bigint = 0 OR version = $2) ORDER BY version DESC LIMIT 1`, name, revision))
	if errors.Is(err, pgx.ErrNoRows) {
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
	rows, err := db.pool.Query(ctx, `SELECT DISTINCT ON (name) `+policyColumns+` FROM gate_policies
WHERE name > $1 ORDER BY name, version DESC LIMIT $2`, after, limitArg(limit))
	if err != nil {
		return nil, errorf(err, "list gate policies")
	}
	policies, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.GatePolicyRecord, error) { return scanPolicy(row) })
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

func scanEvaluation(row pgx.Row, withReport bool) (leadscore.Evaluation, error) {
	var e leadscore.Evaluation
	var passed pgtype.Bool
	var start, end pgtype.Timestamptz
	dest := []any{&e.ID, &e.JobID, &e.Model, &e.Version, &e.ChampionVersion, &e.Baseline,
		&e.GatePolicy, &e.GatePolicyRevision, &passed, &start, &end, &e.CreatedAt}
	if withReport {
		dest = append(dest, &e.Report)
	}
	if err := row.Scan(dest...); err != nil {
		return e, err
	}
	if passed.Valid {
		e.Passed = &passed.Bool
	}
	e.DataStart, e.DataEnd, e.CreatedAt = timeOf(start), timeOf(end), e.CreatedAt.UTC()
	return e, nil
}

// CreateEvaluation implements leadscore.RegistryStore. The rows it refers
// to are locked FOR KEY SHARE as they are looked up, so none of them can
// be deleted before the evaluation is stored.
func (db *DB) CreateEvaluation(ctx context.Context, e leadscore.Evaluation) error {
	e, err := storeutil.NewEvaluation(e)
	if err != nil {
		return err
	}
	name := storeutil.EvaluationName(e.ID)
	return db.inTx(ctx, "create "+name, func(tx pgx.Tx) error {
		versionID := func(version int64) (int64, error) {
			ref := leadscore.VersionRef{Model: e.Model, Version: version}
			var id int64
			err := tx.QueryRow(ctx, `SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE m.name = $1 AND v.version = $2 FOR KEY SHARE OF v`, ref.Model, ref.Version).Scan(&id)
			if errors.Is(err, pgx.ErrNoRows) {
				return 0, storeutil.VersionNotFound(ref)
			}
			if err != nil {
				return 0, errorf(err, "create %s: look up %s", name, ref.Name())
			}
			return id, nil
		}
		vid, err := versionID(e.Version)
		if err != nil {
			return err
		}
		var championID, policyID pgtype.Int8
		if e.ChampionVersion != 0 {
			if championID.Int64, err = versionID(e.ChampionVersion); err != nil {
				return err
			}
			championID.Valid = true
		}
		if e.GatePolicy != "" {
			err := tx.QueryRow(ctx, `SELECT id FROM gate_policies WHERE name = $1 AND version = $2 FOR KEY SHARE`,
				e.GatePolicy, e.GatePolicyRevision).Scan(&policyID)
			if errors.Is(err, pgx.ErrNoRows) {
				return storeutil.GatePolicyNotFound(e.GatePolicy, e.GatePolicyRevision)
			}
			if err != nil {
				return errorf(err, "create %s: look up its gate policy", name)
			}
		}
		if e.JobID != "" {
			var one int
			err := tx.QueryRow(ctx, `SELECT 1 FROM jobs WHERE id = $1 FOR KEY SHARE`, e.JobID).Scan(&one)
			if errors.Is(err, pgx.ErrNoRows) {
				return storeutil.JobNotFound(e.JobID)
			}
			if err != nil {
				return errorf(err, "create %s: look up %s", name, storeutil.JobName(e.JobID))
			}
		}
		var passed pgtype.Bool
		if e.Passed != nil {
			passed = pgtype.Bool{Bool: *e.Passed, Valid: true}
		}
		_, err = tx.Exec(ctx, `
INSERT INTO evaluations (id, job_id, model_version_id, champion_version_id, baseline, gate_policy_id, passed,
                         data_window_start, data_window_end, report, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			e.ID, optionalText(e.JobID), vid, championID, e.Baseline, policyID, passed,
			optionalTime(e.DataStart), optionalTime(e.DataEnd), e.Report, e.CreatedAt)
		if err != nil {
			return errorf(err, "create %s", name)
		}
		return nil
	})
}

// GetEvaluation implements leadscore.RegistryStore.
func (db *DB) GetEvaluation(ctx context.Context, id string) (leadscore.Evaluation, error) {
	e, err := scanEvaluation(db.pool.QueryRow(ctx, `SELECT `+evaluationColumns+`, e.report FROM `+evaluationFrom+` WHERE e.id = $1`, id), true)
	if errors.Is(err, pgx.ErrNoRows) {
		return leadscore.Evaluation{}, storeutil.EvaluationNotFound(id)
	}
	if err != nil {
		return leadscore.Evaluation{}, errorf(err, "get %s", storeutil.EvaluationName(id))
	}
	return e, nil
}

// where builds the conditions of a listing, numbering its parameters.
type where struct {
	conds []string
	args  []any
}

// add adds a condition in which each "?" is the next parameter.
func (w *where) add(cond string, args ...any) {
	for _, a := range args {
		w.args = append(w.args, a)
		cond = strings.Replace(cond, "?", fmt.Sprintf("$%d", len(w.args)), 1)
	}
	w.conds = append(w.conds, cond)
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
		w.add(fmt.Sprintf("(%s, %s) < (?, ?)", timeColumn, idColumn), storeutil.PageTime(p), p.ID)
	}
}

// limit returns the LIMIT clause, with its parameter.
func (w *where) limit(limit int) string {
	if limit == 0 {
		return ""
	}
	w.args = append(w.args, limit)
	return fmt.Sprintf(" LIMIT $%d", len(w.args))
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
	q := `SELECT ` + evaluationColumns + ` FROM ` + evaluationFrom + w.String() + ` ORDER BY e.created_at DESC, e.id DESC`
	q += w.limit(limit)
	rows, err := db.pool.Query(ctx, q, w.args...)
	if err != nil {
		return nil, errorf(err, "list evaluations")
	}
	evals, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.Evaluation, error) { return scanEvaluation(row, false) })
	if err != nil {
		return nil, errorf(err, "list evaluations")
	}
	return evals, nil
}

const jobColumns = `id, kind, state, model, progress, stage, message, coalesce(request_id, ''), spec, result,
    coalesce(error_code, ''), coalesce(error_message, ''), created_by, created_at, started_at, finished_at, updated_at`

func scanJob(row pgx.Row) (leadscore.Job, error) {
	var j leadscore.Job
	var started, finished pgtype.Timestamptz
	err := row.Scan(&j.ID, &j.Kind, &j.State, &j.Model, &j.Progress, &j.Stage, &j.Message, &j.RequestID,
		&j.Spec, &j.Result, &j.ErrorCode, &j.ErrorMessage, &j.CreatedBy, &j.CreatedAt, &started, &finished, &j.UpdatedAt)
	j.CreatedAt, j.UpdatedAt = j.CreatedAt.UTC(), j.UpdatedAt.UTC()
	j.StartedAt, j.FinishedAt = timeOf(started), timeOf(finished)
	return j, err
}

// CreateJob implements leadscore.RegistryStore. Of two concurrent
// submissions with one request id, the second waits for the first to
// commit and then returns its job.
func (db *DB) CreateJob(ctx context.Context, j leadscore.Job) (leadscore.Job, bool, error) {
	j, err := storeutil.NewJob(j)
	if err != nil {
		return leadscore.Job{}, false, err
	}
	name := storeutil.JobName(j.ID)
	tag, err := db.pool.Exec(ctx, `
INSERT INTO jobs (id, kind, state, model, progress, stage, message, request_id, spec, result,
                  error_code, error_message, created_by, created_at, started_at, finished_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)
ON CONFLICT (request_id) DO NOTHING`,
		j.ID, j.Kind, j.State, j.Model, j.Progress, j.Stage, j.Message, optionalText(j.RequestID), j.Spec, j.Result,
		optionalText(j.ErrorCode), optionalText(j.ErrorMessage), j.CreatedBy, j.CreatedAt,
		optionalTime(j.StartedAt), optionalTime(j.FinishedAt), j.UpdatedAt)
	if err != nil {
		return leadscore.Job{}, false, errorf(err, "create %s", name)
	}
	if tag.RowsAffected() == 1 {
		return j, true, nil
	}
	existing, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE request_id = $1`, j.RequestID))
	if err != nil {
		return leadscore.Job{}, false, errorf(err, "create %s: read the job of request id %q", name, j.RequestID)
	}
	if err := storeutil.SameJobRequest(existing, j); err != nil {
		return leadscore.Job{}, false, err
	}
	return existing, false, nil
}

// GetJob implements leadscore.RegistryStore.
func (db *DB) GetJob(ctx context.Context, id string) (leadscore.Job, error) {
	j, err := scanJob(db.pool.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
		states := make([]string, len(f.States))
		for i, s := range f.States {
			states[i] = string(s)
		}
		w.add("state = ANY (?)", states)
	}
	w.page("created_at", "id", page)
	q := `SELECT ` + jobColumns + ` FROM jobs` + w.String() + ` ORDER BY created_at DESC, id DESC`
	q += w.limit(limit)
	rows, err := db.pool.Query(ctx, q, w.args...)
	if err != nil {
		return nil, errorf(err, "list jobs")
	}
	jobs, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.Job, error) { return scanJob(row) })
	if err != nil {
		return nil, errorf(err, "list jobs")
	}
	return jobs, nil
}

// UpdateJob implements leadscore.RegistryStore. The job's row is locked
// while fn runs, so concurrent updates of one job take turns. The lock is
// FOR NO KEY UPDATE, which lets evaluations referring to the job be stored
// meanwhile.
func (db *DB) UpdateJob(ctx context.Context, id string, fn func(*leadscore.Job) error) (leadscore.Job, error) {
	name := storeutil.JobName(id)
	var updated leadscore.Job
	err := db.inTx(ctx, "update "+name, func(tx pgx.Tx) error {
		before, err := scanJob(tx.QueryRow(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = $1 FOR NO KEY UPDATE`, id))
		if errors.Is(err, pgx.ErrNoRows) {
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
		_, err = tx.Exec(ctx, `
UPDATE jobs SET state = $2, model = $3, progress = $4, stage = $5, message = $6, spec = $7, result = $8,
    error_code = $9, error_message = $10, started_at = $11, finished_at = $12, updated_at = $13
WHERE id = $1`,
			j.ID, j.State, j.Model, j.Progress, j.Stage, j.Message, j.Spec, j.Result,
			optionalText(j.ErrorCode), optionalText(j.ErrorMessage), optionalTime(j.StartedAt), optionalTime(j.FinishedAt), j.UpdatedAt)
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
