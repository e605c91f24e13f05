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
	res, err := db.db.ExecContext(ctx, `DELETE FROM score_changes WHERE changed_at < ?`, micros(cut))
	if err != nil {
		return 0, errorf(err, "prune score changes before %s", cut.Format(time.RFC3339Nano))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, errorf(err, "prune score changes: count deleted")
	}
	return n, nil
}

// ScoreChangeBounds implements leadscore.LeadStore. newest is the larger
// of the highest retained seq and the one sqlite_sequence keeps for the
// table's AUTOINCREMENT key: the highest ever used, which deleting rows
// leaves alone. SQLite has one writer at a time and a transaction's rows
// are seen only once it commits, so no seq below newest is in flight.
func (db *DB) ScoreChangeBounds(ctx context.Context) (oldest, newest int64, err error) {
	err = db.readTx(ctx, "read the bounds of score changes", func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(min(seq), 0), max(COALESCE(max(seq), 0),
    COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'score_changes'), 0))
FROM score_changes`).Scan(&oldest, &newest)
		if err != nil {
			return errorf(err, "read the bounds of score changes")
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return oldest, newest, nil
}
