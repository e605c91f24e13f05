package sqlite

import (
	"context"
	"database/sql"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// DeleteLead implements leadscore.LeadStore. The audit record is written
// first and the lead deleted after it, in one transaction: the schema
// cascades the delete from leads to events, outcomes, lead_scores,
// score_history and score_changes (foreign keys are on for every
// connection; see Open), and a lead that is not there rolls the record
// back with everything else.
func (db *DB) DeleteLead(ctx context.Context, id string, e leadscore.Erasure) error {
	if err := storeutil.CheckErasure(id, e); err != nil {
		return err
	}
	return db.inTx(ctx, "erase "+leadscore.LeadName(id), func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO lead_erasures (lead_id_sha256, actor, reason, erased_at) VALUES (?, ?, ?, ?)`,
			storeutil.LeadIDHash(id), e.Actor, e.Reason, micros(e.At)); err != nil {
			return errorf(err, "record the erasure of %s", leadscore.LeadName(id))
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM leads WHERE id = ?`, id)
		if err != nil {
			return errorf(err, "erase %s", leadscore.LeadName(id))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return errorf(err, "erase %s", leadscore.LeadName(id))
		}
		if n == 0 {
			return storeutil.LeadNotFound(id)
		}
		return nil
	})
}

// LeadErasures implements leadscore.LeadStore.
func (db *DB) LeadErasures(ctx context.Context, id string) ([]leadscore.LeadErasure, error) {
	if err := storeutil.CheckLeadID(id); err != nil {
		return nil, err
	}
	rows, err := db.db.QueryContext(ctx, `SELECT seq, lead_id_sha256, actor, reason, erased_at FROM lead_erasures
WHERE lead_id_sha256 = ? ORDER BY seq`, storeutil.LeadIDHash(id))
	out, err := collect(rows, err, func(rows *sql.Rows) (leadscore.LeadErasure, error) {
		var r leadscore.LeadErasure
		var at int64
		err := rows.Scan(&r.Seq, &r.LeadIDSHA256, &r.Actor, &r.Reason, &at)
		r.At = timeOf(at)
		return r, err
	})
	if err != nil {
		return nil, errorf(err, "read erasures")
	}
	return out, nil
}
