package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/leadscore/leadscore/internal/storeutil"
)

// The change log's retention: pruning old entries, and the bounds a
// watcher's cursor is checked against.

// PruneScoreChanges implements leadscore.LeadStore. It reads the entries
// to delete through the index on changed_at when the schema has one, and
// scans the table otherwise.
func (db *DB) PruneScoreChanges(ctx context.Context, before time.Time) (int64, error) {
	cut, err := storeutil.PruneCutoff(before)
	if err != nil {
		return 0, err
	}
	var n int64
	err = db.inTx(ctx, "prune score changes", func(tx pgx.Tx) error {
		// GREATEST keeps the watermark from going back when prunes
		// overlap.
		err := tx.QueryRow(ctx, `WITH d AS (DELETE FROM score_changes WHERE changed_at < $1 RETURNING seq)
UPDATE score_change_prunes SET pruned_through = GREATEST(pruned_through, (SELECT COALESCE(max(seq), 0) FROM d))
RETURNING (SELECT count(*) FROM d)`, cut).Scan(&n)
		return errorf(err, "prune score changes before %s", cut.Format(time.RFC3339Nano))
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ScoreChangeBounds implements leadscore.LeadStore. newest is the larger
// of the highest retained seq and the last value of seq's identity
// sequence, which pruning leaves alone (a fixture may insert seqs of its
// own, past the sequence). Identity values are handed out at insert, so
// the call first takes the advisory lock SaveScores holds from its insert
// into score_changes to its commit: in-flight inserts end first, and
// newest is never a seq that may still commit after the call. The
// sequence is read by its own oid: the pg_sequences view reads every
// sequence of the database, and fails when another session drops one
// meanwhile.
func (db *DB) ScoreChangeBounds(ctx context.Context) (prunedThrough, newest int64, err error) {
	err = db.inTx(ctx, "read the bounds of score changes", func(tx pgx.Tx) error {
		schema, err := currentSchema(ctx, tx)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, changesLockKey(schema)); err != nil {
			return errorf(err, "wait for writers of score changes")
		}
		// Read committed: this statement's snapshot is taken after the
		// lock was granted, so it sees what the writers committed.
		err = tx.QueryRow(ctx, `SELECT (SELECT pruned_through FROM score_change_prunes),
    GREATEST((SELECT COALESCE(max(seq), 0) FROM score_changes),
             COALESCE(pg_sequence_last_value(pg_get_serial_sequence('score_changes', 'seq')::regclass), 0))`).Scan(&prunedThrough, &newest)
		if err != nil {
			return errorf(err, "read the bounds of score changes")
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return prunedThrough, newest, nil
}

// PruneRequestIDs implements leadscore.RegistryStore, through the index on
// created_at.
func (db *DB) PruneRequestIDs(ctx context.Context, before time.Time) (int64, error) {
	cut, err := storeutil.PruneCutoff(before)
	if err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, `DELETE FROM request_ids WHERE created_at < $1`, cut)
	if err != nil {
		return 0, errorf(err, "prune request ids before %s", cut.Format(time.RFC3339Nano))
	}
	return tag.RowsAffected(), nil
}
