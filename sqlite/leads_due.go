package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// The LeadStore's claims of due leads, and marking every live lead due.
// Each is one statement in a transaction that begins IMMEDIATE, like every
// write (see inTx): claims take turns with each other and with saves, so
// no two claims can take one lead.

// ClaimDueLeads implements leadscore.LeadStore. The subquery reads due
// leads through the partial index on (due_at, id); the updated rows come
// back in no set order and are sorted by storeutil.DueOrder.
func (db *DB) ClaimDueLeads(ctx context.Context, at time.Time, limit int, lease time.Duration) ([]string, error) {
	if err := storeutil.CheckClaim(at, limit, lease); err != nil {
		return nil, err
	}
	var ids []string
	err := db.inTx(ctx, "claim due leads", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE leads SET leased_until = ?3 WHERE id IN (
    SELECT id FROM leads WHERE due_at IS NOT NULL AND due_at <= ?1 AND (leased_until IS NULL OR leased_until <= ?1)
    ORDER BY due_at, id LIMIT ?2)
RETURNING id, due_at`, micros(storeutil.StoredTime(at)), limit, micros(storeutil.LeaseEnd(at, lease)))
		leads, err := collect(rows, err, func(rows *sql.Rows) (storeutil.DueLead, error) {
			var l storeutil.DueLead
			var due int64
			err := rows.Scan(&l.ID, &due)
			l.Due = timeOf(due)
			return l, err
		})
		if err != nil {
			return errorf(err, "claim due leads")
		}
		ids = storeutil.DueOrder(leads)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return ids, nil
}

// MarkAllDue implements leadscore.LeadStore with one UPDATE of every lead
// without an outcome; other writers wait for it under the busy timeout.
func (db *DB) MarkAllDue(ctx context.Context, at time.Time, except leadscore.VersionRef) (int64, error) {
	if err := storeutil.CheckAt(at); err != nil {
		return 0, err
	}
	var n int64
	err := db.inTx(ctx, "mark every live lead due", func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE leads SET due_at = ?, leased_until = NULL
WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.lead_id = leads.id)
  AND NOT EXISTS (SELECT 1 FROM lead_scores s JOIN model_versions v ON v.id = s.model_version_id
                  JOIN models m ON m.id = v.model_id
                  WHERE s.lead_id = leads.id AND m.name = ? AND v.version = ?)`,
			micros(storeutil.StoredTime(at)), except.Model, except.Version)
		if err != nil {
			return errorf(err, "mark every live lead due")
		}
		n, err = res.RowsAffected()
		return errorf(err, "mark every live lead due")
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// RescoreProgress implements leadscore.LeadStore.
func (db *DB) RescoreProgress(ctx context.Context, version leadscore.VersionRef) (leadscore.RescoreProgress, error) {
	var p leadscore.RescoreProgress
	err := db.db.QueryRowContext(ctx, `SELECT count(*), count(*) FILTER (WHERE s.model_version_id = (
    SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = ? AND v.version = ?))
FROM leads l LEFT JOIN lead_scores s ON s.lead_id = l.id
WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.lead_id = l.id)`, version.Model, version.Version).Scan(&p.Live, &p.Rescored)
	if err != nil {
		return leadscore.RescoreProgress{}, errorf(err, "count the leads rescored by %s", version.Name())
	}
	return p, nil
}
