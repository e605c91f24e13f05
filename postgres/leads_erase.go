package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// DeleteLead implements leadscore.LeadStore. The audit record is written
// first and the lead deleted after it, in one transaction: the schema
// cascades the delete from leads to events, outcomes, lead_scores,
// score_history and score_changes (each indexed by lead_id), and a lead
// that is not there rolls the record back with everything else.
func (db *DB) DeleteLead(ctx context.Context, id string, e leadscore.Erasure) error {
	if err := storeutil.CheckErasure(id, e); err != nil {
		return err
	}
	return db.inTx(ctx, "erase "+leadscore.LeadName(id), func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO lead_erasures (lead_id_sha256, actor, reason, erased_at) VALUES ($1, $2, $3, $4)`,
			storeutil.LeadIDHash(id), e.Actor, e.Reason, storeutil.StoredTime(e.At)); err != nil {
			return errorf(err, "record the erasure of %s", leadscore.LeadName(id))
		}
		tag, err := tx.Exec(ctx, `DELETE FROM leads WHERE id = $1`, id)
		if err != nil {
			return errorf(err, "erase %s", leadscore.LeadName(id))
		}
		if tag.RowsAffected() == 0 {
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
	rows, err := db.pool.Query(ctx, `SELECT seq, lead_id_sha256, actor, reason, erased_at FROM lead_erasures
WHERE lead_id_sha256 = $1 ORDER BY seq`, storeutil.LeadIDHash(id))
	if err != nil {
		return nil, errorf(err, "read erasures")
	}
	out, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.LeadErasure, error) {
		var r leadscore.LeadErasure
		var at time.Time
		err := row.Scan(&r.Seq, &r.LeadIDSHA256, &r.Actor, &r.Reason, &at)
		r.At = at.UTC()
		return r, err
	})
	if err != nil {
		return nil, errorf(err, "read erasures")
	}
	return out, nil
}
