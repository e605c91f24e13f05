package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// The LeadStore's reads: a lead, the activity of leads, due leads. Each
// reads in one read-only REPEATABLE READ transaction where it needs more
// than one statement, so what it returns comes from one snapshot.

// readTx runs fn in a read-only REPEATABLE READ transaction: one snapshot.
func (db *DB) readTx(ctx context.Context, what string, fn func(tx pgx.Tx) error) error {
	tx, err := db.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return errorf(err, "%s: begin", what)
	}
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
		defer cancel()
		_ = tx.Rollback(rctx)
	}()
	return fn(tx)
}

const leadColumns = `id, account_id, owner, attributes, created_at, updated_at`

// scanLead scans leadColumns, and into extra the columns after them.
func scanLead(row pgx.Row, extra ...any) (leadscore.Lead, time.Time, error) {
	var l leadscore.Lead
	var account, owner pgtype.Text
	var attrs []byte
	var updatedAt time.Time
	if err := row.Scan(append([]any{&l.ID, &account, &owner, &attrs, &l.CreatedAt, &updatedAt}, extra...)...); err != nil {
		return l, time.Time{}, err
	}
	l.AccountID, l.Owner, l.CreatedAt = account.String, owner.String, l.CreatedAt.UTC()
	var err error
	if l.Attributes, err = leadscore.ParseAttributesJSON(attrs); err != nil {
		return l, time.Time{}, leadscore.Errorf(leadscore.EINTERNAL, "read lead %q: %w", l.ID, err)
	}
	return l, updatedAt.UTC(), nil
}

// scoreColumns are a score's columns in lead_scores or score_history (as
// s), with its version's model name and number.
const scoreColumns = `s.lead_id, m.name, v.version, s.alias, s.probability, s.score, s.percentile, s.tier, s.grade, s.level,
    s.action, s.base_value, s.raw_output, s.horizon_us, s.factors, s.scored_at, s.reason, s.next_due`

// scoreJoin joins a score table's rows (as s) to their versions.
const scoreJoin = ` s JOIN model_versions v ON v.id = s.model_version_id JOIN models m ON m.id = v.model_id`

func scanScore(row pgx.Row) (leadscore.LeadScoreRecord, error) {
	var r leadscore.LeadScoreRecord
	var c storeutil.ScoreColumns
	var version int32
	var level int32
	var nextDue pgtype.Timestamptz
	err := row.Scan(&r.LeadID, &r.Version.Model, &version, &r.Alias, &r.Probability, &r.Score, &r.Percentile,
		&c.Tier, &c.Grade, &level, &r.Action, &r.BaseValue, &r.RawOutput, &c.HorizonUS, &c.Factors,
		&r.ScoredAt, &r.Reason, &nextDue)
	if err != nil {
		return r, err
	}
	r.Version.Version, c.Level = int64(version), int64(level)
	r.ScoredAt, r.NextDue = r.ScoredAt.UTC(), timeOf(nextDue)
	if err := storeutil.DecodeScore(&r, c); err != nil {
		return r, leadscore.Errorf(leadscore.EINTERNAL, "read %w", err)
	}
	return r, nil
}

// currentScores returns the current scores of leads, by lead id.
func currentScores(ctx context.Context, q querier, leads []string) (map[string]*leadscore.LeadScoreRecord, error) {
	scores := make(map[string]*leadscore.LeadScoreRecord, len(leads))
	if len(leads) == 0 {
		return scores, nil
	}
	b := &pgx.Batch{}
	queueCurrentScores(b, leads, func(r *leadscore.LeadScoreRecord) { scores[r.LeadID] = r })
	return scores, q.SendBatch(ctx, b).Close()
}

// queueCurrentScores queues the read of the current scores of leads, each
// of which is given to put.
func queueCurrentScores(b *pgx.Batch, leads []string, put func(*leadscore.LeadScoreRecord)) {
	b.Queue(`SELECT `+scoreColumns+` FROM lead_scores`+scoreJoin+` WHERE s.lead_id = ANY($1)`, leads).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			r, err := scanScore(rows)
			if err != nil {
				return errorf(err, "read scores")
			}
			put(&r)
		}
		return errorf(rows.Err(), "read scores")
	})
}

// GetLead implements leadscore.LeadStore.
func (db *DB) GetLead(ctx context.Context, id string) (leadscore.StoredLead, error) {
	if err := storeutil.CheckLeadID(id); err != nil {
		return leadscore.StoredLead{}, err
	}
	var out leadscore.StoredLead
	err := db.readTx(ctx, "get "+leadscore.LeadName(id), func(tx pgx.Tx) error {
		l, updated, err := scanLead(tx.QueryRow(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = $1`, id))
		if errors.Is(err, pgx.ErrNoRows) {
			return storeutil.LeadNotFound(id)
		}
		if err != nil {
			return errorf(err, "get %s", leadscore.LeadName(id))
		}
		out = leadscore.StoredLead{Lead: l, UpdatedAt: updated}
		var o leadscore.Outcome
		var status string
		var amount pgtype.Float8
		var currency pgtype.Text
		err = tx.QueryRow(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes WHERE lead_id = $1`, id).
			Scan(&o.LeadID, &status, &o.OccurredAt, &amount, &currency)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
		case err != nil:
			return errorf(err, "get the outcome of %s", leadscore.LeadName(id))
		default:
			if o.Status, err = leadscore.ParseOutcomeStatus("status", status); err != nil {
				return leadscore.Errorf(leadscore.EINTERNAL, "get the outcome of %s: %w", leadscore.LeadName(id), err)
			}
			o.OccurredAt, o.Amount, o.Currency = o.OccurredAt.UTC(), amount.Float64, currency.String
			out.Outcome = &o
		}
		scores, err := currentScores(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		out.Score = scores[id]
		return nil
	})
	if err != nil {
		return leadscore.StoredLead{}, err
	}
	return out, nil
}

// LeadActivity implements leadscore.LeadStore, returning leads in byte
// order of id (the id columns' collation is "C").
func (db *DB) LeadActivity(ctx context.Context, ids []string) ([]leadscore.LeadActivity, error) {
	ids, err := storeutil.CheckActivityIDs(ids)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var out []leadscore.LeadActivity
	err = db.readTx(ctx, "read lead activity", func(tx pgx.Tx) error {
		var err error
		out, err = leadActivity(ctx, tx, ids)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// leadActivity reads the activity of the checked, sorted ids in tx, in
// one round trip: LeadActivity's work.
func leadActivity(ctx context.Context, tx pgx.Tx, ids []string) ([]leadscore.LeadActivity, error) {
	var out []leadscore.LeadActivity
	b := &pgx.Batch{}
	queueActivity(b, ids, nil, &out)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, err
	}
	return out, nil
}

// queueActivity queues the reads of the activity of the checked, sorted
// ids, which fill *out in id order when the batch runs: each lead, its
// events in time order and its current score. With versions set, it also
// records there the version (xmin) of each lead's row it read. The reads
// are separate statements, so a lead created between the first and the
// second is left out, and its events with it.
func queueActivity(b *pgx.Batch, ids []string, versions map[string]uint32, out *[]leadscore.LeadActivity) {
	index := make(map[string]int, len(ids))
	b.Queue(`SELECT `+leadColumns+`, xmin FROM leads WHERE id = ANY($1) ORDER BY id`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var version uint32
			l, _, err := scanLead(rows, &version)
			if err != nil {
				return errorf(err, "read leads")
			}
			index[l.ID] = len(*out)
			*out = append(*out, leadscore.LeadActivity{Lead: l})
			if versions != nil {
				versions[l.ID] = version
			}
		}
		return errorf(rows.Err(), "read leads")
	})
	b.Queue(`SELECT id, lead_id, type, occurred_at, properties FROM events
WHERE lead_id = ANY($1) ORDER BY lead_id, occurred_at, id`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			if i, ok := index[e.LeadID]; ok {
				(*out)[i].Events = append((*out)[i].Events, e)
			}
		}
		return errorf(rows.Err(), "read events")
	})
	queueCurrentScores(b, ids, func(r *leadscore.LeadScoreRecord) {
		if i, ok := index[r.LeadID]; ok {
			(*out)[i].Score = r
		}
	})
}

// DueLeads implements leadscore.LeadStore.
func (db *DB) DueLeads(ctx context.Context, at time.Time, limit int) ([]string, error) {
	if err := storeutil.CheckPositiveLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT id FROM leads WHERE due_at <= $1 ORDER BY due_at, id LIMIT $2`,
		storeutil.StoredTime(at), limit)
	if err != nil {
		return nil, errorf(err, "read due leads")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, errorf(err, "read due leads")
	}
	return ids, nil
}
