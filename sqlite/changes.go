package sqlite

import (
	"context"
	"database/sql"
	"time"

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
	err = db.inTx(ctx, "prune score changes", func(tx *sql.Tx) error {
		var through int64
		err := tx.QueryRowContext(ctx, `SELECT count(*), COALESCE(max(seq), 0) FROM score_changes WHERE changed_at < ?`, micros(cut)).Scan(&n, &through)
		if err != nil {
			return errorf(err, "prune score changes before %s", cut.Format(time.RFC3339Nano))
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM score_changes WHERE changed_at < ?`, micros(cut)); err != nil {
			return errorf(err, "prune score changes before %s", cut.Format(time.RFC3339Nano))
		}
		_, err = tx.ExecContext(ctx, `UPDATE score_change_prunes SET pruned_through = max(pruned_through, ?)`, through)
		return errorf(err, "prune score changes: raise the watermark")
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// ScoreChangeBounds implements leadscore.LeadStore. newest is the larger
// of the highest retained seq and the one sqlite_sequence keeps for the
// table's AUTOINCREMENT key: the highest ever used, which deleting rows
// leaves alone. SQLite has one writer at a time and a transaction's rows
// are seen only once it commits, so no seq below newest is in flight.
func (db *DB) ScoreChangeBounds(ctx context.Context) (prunedThrough, newest int64, err error) {
	err = db.readTx(ctx, "read the bounds of score changes", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT (SELECT pruned_through FROM score_change_prunes),
    max((SELECT COALESCE(max(seq), 0) FROM score_changes),
        COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'score_changes'), 0))`).Scan(&prunedThrough, &newest)
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
	res, err := db.db.ExecContext(ctx, `DELETE FROM request_ids WHERE created_at < ?`, micros(cut))
	if err != nil {
		return 0, errorf(err, "prune request ids before %s", cut.Format(time.RFC3339Nano))
	}
	n, err := res.RowsAffected()
	return n, errorf(err, "prune request ids")
}
