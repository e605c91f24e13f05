package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// The LeadStore's claims of due leads, and marking every live lead due.
// Each is one statement, so one transaction of its own.

// ClaimDueLeads implements leadscore.LeadStore. The subquery reads due
// leads through the partial index on (due_at, id) and locks those it
// picks FOR NO KEY UPDATE SKIP LOCKED: a concurrent claim passes over the
// rows another has locked instead of waiting for them, so claimers never
// queue behind each other, and a lead whose lease is being taken or whose
// score is being saved (SaveScores locks it the same way) is left to the
// next claim. NO KEY UPDATE is the lock the update of leased_until takes
// anyway; unlike FOR UPDATE it does not block writers that only hold a
// lead's key (KEY SHARE: recording its events or outcome).
//
// The picked ids are gathered into an array (= ANY(ARRAY(...))) rather
// than joined (IN (...)): the array is built once, as an InitPlan, and the
// rows are updated through the primary key, whereas for a claim of
// hundreds of leads the planner joins IN's ids back to leads with a hash
// over a scan of the whole table. The updated rows come back in no set
// order and are sorted by storeutil.DueOrder.
func (db *DB) ClaimDueLeads(ctx context.Context, at time.Time, limit int, lease time.Duration) ([]string, error) {
	if err := storeutil.CheckClaim(at, limit, lease); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `UPDATE leads SET leased_until = $3 WHERE id = ANY(ARRAY(
    SELECT id FROM leads WHERE due_at <= $1 AND (leased_until IS NULL OR leased_until <= $1)
    ORDER BY due_at, id LIMIT $2 FOR NO KEY UPDATE SKIP LOCKED))
RETURNING id, due_at`, storeutil.StoredTime(at), limit, storeutil.LeaseEnd(at, lease))
	if err != nil {
		return nil, errorf(err, "claim due leads")
	}
	leads, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (storeutil.DueLead, error) {
		var l storeutil.DueLead
		err := row.Scan(&l.ID, &l.Due)
		return l, err
	})
	if err != nil {
		return nil, errorf(err, "claim due leads")
	}
	return storeutil.DueOrder(leads), nil
}

// MarkAllDue implements leadscore.LeadStore with one UPDATE of every lead
// without an outcome. Each row it changes gets a new version and, since
// due_at is indexed, a new entry in the due index: the statement writes
// about as much as those rows hold (2 s for 200,000 leads on the test
// server), and the old versions wait for vacuum. Claims meanwhile pass
// over the rows it has locked, and SaveScores of those leads waits.
func (db *DB) MarkAllDue(ctx context.Context, at time.Time, except leadscore.VersionRef) (int64, error) {
	if err := storeutil.CheckAt(at); err != nil {
		return 0, err
	}
	tag, err := db.pool.Exec(ctx, `UPDATE leads SET due_at = $1, leased_until = NULL
WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.lead_id = leads.id)
  AND NOT EXISTS (SELECT 1 FROM lead_scores s JOIN model_versions v ON v.id = s.model_version_id
                  JOIN models m ON m.id = v.model_id
                  WHERE s.lead_id = leads.id AND m.name = $2 AND v.version = $3)`,
		storeutil.StoredTime(at), except.Model, except.Version)
	if err != nil {
		return 0, errorf(err, "mark every live lead due")
	}
	return tag.RowsAffected(), nil
}

// RescoreProgress implements leadscore.LeadStore.
func (db *DB) RescoreProgress(ctx context.Context, version leadscore.VersionRef) (leadscore.RescoreProgress, error) {
	var p leadscore.RescoreProgress
	err := db.pool.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE s.model_version_id = (
    SELECT v.id FROM model_versions v JOIN models m ON m.id = v.model_id WHERE m.name = $1 AND v.version = $2))
FROM leads l LEFT JOIN lead_scores s ON s.lead_id = l.id
WHERE NOT EXISTS (SELECT 1 FROM outcomes o WHERE o.lead_id = l.id)`, version.Model, version.Version).Scan(&p.Live, &p.Rescored)
	if err != nil {
		return leadscore.RescoreProgress{}, errorf(err, "count the leads rescored by %s", version.Name())
	}
	return p, nil
}
