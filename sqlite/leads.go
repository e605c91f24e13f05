package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.LeadStore = (*DB)(nil)

// The LeadStore's writes run in one transaction that begins IMMEDIATE (see
// inTx), so they take turns with every other writer: score_changes.seq
// follows commit order, and what a write reads (stored leads, events,
// scores) cannot change before it writes. A batch is at most
// leadscore.MaxIngestBatch records, so each step is one statement over the
// whole batch: sets of ids travel as one JSON array read with json_each,
// rows as one multi-row VALUES list (at most 22 parameters a row, far
// below SQLite's limit of 32766).

// idSet is the SQL of the ids in a JSON array parameter.
const idSet = `(SELECT value FROM json_each(?))`

// jsonIDs encodes ids as the JSON array idSet reads.
func jsonIDs(ids []string) string {
	b, _ := json.Marshal(ids) // Strings always encode.
	return string(b)
}

// valuesList returns "(?, ?), (?, ?)" for rows rows of cols columns.
func valuesList(rows, cols int) string {
	row := "(" + strings.Repeat("?, ", cols-1) + "?)"
	var b strings.Builder
	for i := range rows {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// queryIDs returns the first column of every row of a query, as a set.
func queryIDs(ctx context.Context, q querier, what, query string, args ...any) (map[string]bool, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, errorf(err, "%s", what)
	}
	defer rows.Close()
	set := make(map[string]bool)
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, errorf(err, "%s", what)
		}
		set[id] = true
	}
	return set, errorf(rows.Err(), "%s", what)
}

// upserted runs upsert, an upsert of the records with ids that returns the
// id of each record it created or changed, after existing (a query of one
// id column, given the ids as JSON) has said which of them were stored:
// the changed ids, sorted, and how many of them it created.
func upserted(ctx context.Context, tx *sql.Tx, what, existing string, ids []string, upsert string, args ...any) ([]string, int, error) {
	stored, err := queryIDs(ctx, tx, "read stored "+what, existing, jsonIDs(ids))
	if err != nil {
		return nil, 0, err
	}
	changed, err := queryIDs(ctx, tx, "upsert "+what, upsert, args...)
	if err != nil {
		return nil, 0, err
	}
	out := make([]string, 0, len(changed))
	created := 0
	for id := range changed {
		out = append(out, id)
		if !stored[id] {
			created++
		}
	}
	slices.Sort(out)
	return out, created, nil
}

// writeScores lets storeutil.RescoreInWrite score and save in tx, each
// step under a savepoint. SQLite takes one writer at a time, so no other
// write changes the leads meanwhile, and the write has made them due
// itself: MarkDue is not needed.
func writeScores(ctx context.Context, tx *sql.Tx) storeutil.WriteScores {
	return storeutil.WriteScores{
		Activity: func(ids []string) (acts []leadscore.LeadActivity, err error) {
			err = underSavepoint(ctx, tx, func() error {
				acts, err = leadActivity(ctx, tx, ids)
				return err
			})
			return acts, err
		},
		Save: func(scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (res leadscore.SaveScoresResult, err error) {
			err = underSavepoint(ctx, tx, func() error {
				res, err = saveScores(ctx, tx, scores, opts)
				return err
			})
			return res, err
		},
	}
}

// underSavepoint runs fn in tx under a savepoint, released when fn
// succeeds and rolled back to when it fails.
func underSavepoint(ctx context.Context, tx *sql.Tx, fn func() error) error {
	if _, err := tx.ExecContext(ctx, `SAVEPOINT rescore`); err != nil {
		return errorf(err, "rescore: savepoint")
	}
	if err := fn(); err != nil {
		for _, undo := range []string{`ROLLBACK TO rescore`, `RELEASE rescore`} {
			if _, rerr := tx.ExecContext(context.WithoutCancel(ctx), undo); rerr != nil {
				return errorf(rerr, "rescore: roll back to the savepoint after %v", err)
			}
		}
		return err
	}
	_, err := tx.ExecContext(ctx, `RELEASE rescore`)
	return errorf(err, "rescore: release the savepoint")
}

// markDue makes leads due for rescoring at, the time of the write that
// changed them (see storeutil.DueAfterScore).
func markDue(ctx context.Context, tx *sql.Tx, leads []string, at time.Time) error {
	if len(leads) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `UPDATE leads SET due_at = ? WHERE id IN `+idSet, micros(at), jsonIDs(leads))
	return errorf(err, "mark leads due")
}

// setDue sets leads' due times from args, pairs of a lead id and a due
// time in microseconds or nil, and ends their leases: SaveScores calls it
// for the leads it saved scores of.
func setDue(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `WITH v (id, due) AS (VALUES `+valuesList(len(args)/2, 2)+`)
UPDATE leads SET due_at = (SELECT due FROM v WHERE v.id = leads.id), leased_until = NULL
WHERE id IN (SELECT id FROM v)`, args...)
	return errorf(err, "set due times and end leases")
}

// UpsertLeads implements leadscore.LeadStore.
func (db *DB) UpsertLeads(ctx context.Context, leads []leadscore.Lead, opts leadscore.IngestOptions) (leadscore.UpsertResult, error) {
	b, err := storeutil.CheckLeads(leads, opts)
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	if err := b.Err(); err != nil {
		return leadscore.UpsertResult{}, err
	}
	at := storeutil.StoredTime(opts.At)
	var res leadscore.UpsertResult
	err = db.inTx(ctx, "upsert leads", func(tx *sql.Tx) error {
		var ids, accounts []string
		var args, accountArgs []any
		for i, l := range leads {
			if !b.OK(i) {
				continue
			}
			attrs, err := leadscore.AppendAttributesJSON(nil, l.Attributes)
			if err != nil {
				return storeutil.BatchRecordError(leadscore.TableLeads, i, err)
			}
			ids = append(ids, l.ID)
			args = append(args, l.ID, nullable(l.AccountID), nullable(l.Owner), string(attrs), micros(l.CreatedAt), micros(at))
			if l.AccountID != "" {
				accounts = append(accounts, l.AccountID)
			}
		}
		if len(ids) == 0 {
			res = b.UpsertResult(0, 0, 0, nil)
			return nil
		}
		for _, a := range storeutil.SortedUnique(accounts) {
			accountArgs = append(accountArgs, a, micros(at), micros(at))
		}
		if len(accountArgs) > 0 {
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, created_at, updated_at) VALUES `+
				valuesList(len(accountArgs)/3, 3)+` ON CONFLICT (id) DO NOTHING`, accountArgs...); err != nil {
				return errorf(err, "create accounts of leads")
			}
		}
		due, created, err := upserted(ctx, tx, "leads", `SELECT id FROM leads WHERE id IN `+idSet, ids,
			`INSERT INTO leads AS l (id, account_id, owner, attributes, created_at, updated_at)
VALUES `+valuesList(len(ids), 6)+`
ON CONFLICT (id) DO UPDATE SET
    account_id = excluded.account_id, owner = excluded.owner, attributes = excluded.attributes,
    created_at = excluded.created_at, updated_at = excluded.updated_at
WHERE l.account_id IS NOT excluded.account_id OR l.owner IS NOT excluded.owner
    OR l.attributes IS NOT excluded.attributes OR l.created_at IS NOT excluded.created_at
RETURNING id`, args...)
		if err != nil {
			return err
		}
		if err := markDue(ctx, tx, due, at); err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(due)-created, due)
		res.Rescored, res.RescoreErr, err = storeutil.RescoreInWrite(res.Leads, opts, writeScores(ctx, tx))
		return err
	})
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	return res, nil
}

// UpsertAccounts implements leadscore.LeadStore.
func (db *DB) UpsertAccounts(ctx context.Context, accounts []leadscore.Account, opts leadscore.IngestOptions) (leadscore.UpsertResult, error) {
	b, err := storeutil.CheckAccounts(accounts, opts)
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	if err := b.Err(); err != nil {
		return leadscore.UpsertResult{}, err
	}
	at := micros(storeutil.StoredTime(opts.At))
	var res leadscore.UpsertResult
	err = db.inTx(ctx, "upsert accounts", func(tx *sql.Tx) error {
		var ids []string
		var args []any
		for i, a := range accounts {
			if !b.OK(i) {
				continue
			}
			attrs, err := leadscore.AppendAttributesJSON(nil, a.Attributes)
			if err != nil {
				return storeutil.BatchRecordError(storeutil.TableAccounts, i, err)
			}
			ids = append(ids, a.ID)
			args = append(args, a.ID, a.Name, string(attrs), at, at)
		}
		if len(ids) == 0 {
			res = b.UpsertResult(0, 0, 0, nil)
			return nil
		}
		changed, created, err := upserted(ctx, tx, "accounts", `SELECT id FROM accounts WHERE id IN `+idSet, ids,
			`INSERT INTO accounts AS a (id, name, attributes, created_at, updated_at)
VALUES `+valuesList(len(ids), 5)+`
ON CONFLICT (id) DO UPDATE SET name = excluded.name, attributes = excluded.attributes, updated_at = excluded.updated_at
WHERE a.name IS NOT excluded.name OR a.attributes IS NOT excluded.attributes
RETURNING id`, args...)
		if err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(changed)-created, nil)
		return nil
	})
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	return res, nil
}

// RecordEvents implements leadscore.LeadStore. The first event of each id
// is inserted with ON CONFLICT DO NOTHING; the ids it did not insert were
// stored before, and those events are read back to compare.
func (db *DB) RecordEvents(ctx context.Context, events []leadscore.Event, opts leadscore.IngestOptions) (leadscore.EventsResult, error) {
	b, err := storeutil.CheckEvents(events, opts)
	if err != nil {
		return leadscore.EventsResult{}, err
	}
	at := storeutil.StoredTime(opts.At)
	leadIDs := make([]string, len(events))
	for i, e := range events {
		leadIDs[i] = e.LeadID
	}
	var res leadscore.EventsResult
	err = db.inTx(ctx, "record events", func(tx *sql.Tx) error {
		if lookup := b.LeadIDs(leadIDs); len(lookup) > 0 {
			known, err := queryIDs(ctx, tx, "look up the leads of events", `SELECT id FROM leads WHERE id IN `+idSet, jsonIDs(lookup))
			if err != nil {
				return err
			}
			b.RejectUnknownLeads(leadIDs, known)
		}
		if err := b.Err(); err != nil {
			return err
		}
		first := storeutil.FirstEvents(b, events)
		inserted := map[string]bool{}
		if len(first) > 0 {
			args := make([]any, 0, len(first)*6)
			for _, i := range first {
				e := events[i]
				args = append(args, e.ID, e.LeadID, e.Type, micros(e.OccurredAt),
					string(leadscore.AppendPropertiesJSON(nil, e.Properties)), micros(at))
			}
			inserted, err = queryIDs(ctx, tx, "record events", `INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at)
VALUES `+valuesList(len(first), 6)+` ON CONFLICT (id) DO NOTHING RETURNING id`, args...)
			if err != nil {
				return err
			}
		}
		var kept []string
		for _, i := range first {
			if !inserted[events[i].ID] {
				kept = append(kept, events[i].ID)
			}
		}
		stored, err := storedEvents(ctx, tx, kept)
		if err != nil {
			return err
		}
		res = storeutil.EventsResult(b, events, inserted, stored)
		if err := markDue(ctx, tx, res.Leads, at); err != nil {
			return err
		}
		res.Rescored, res.RescoreErr, err = storeutil.RescoreInWrite(res.Leads, opts, writeScores(ctx, tx))
		return err
	})
	if err != nil {
		return leadscore.EventsResult{}, err
	}
	return res, nil
}

// storedEvents reads the stored events of ids.
func storedEvents(ctx context.Context, q querier, ids []string) (map[string]leadscore.Event, error) {
	stored := make(map[string]leadscore.Event, len(ids))
	if len(ids) == 0 {
		return stored, nil
	}
	rows, err := q.QueryContext(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events WHERE id IN `+idSet, jsonIDs(ids))
	if err != nil {
		return nil, errorf(err, "read stored events")
	}
	defer rows.Close()
	for rows.Next() {
		e, err := scanEvent(rows)
		if err != nil {
			return nil, err
		}
		stored[e.ID] = e
	}
	return stored, errorf(rows.Err(), "read stored events")
}

func scanEvent(row scanner) (leadscore.Event, error) {
	var e leadscore.Event
	var occurredAt int64
	var props []byte
	if err := row.Scan(&e.ID, &e.LeadID, &e.Type, &occurredAt, &props); err != nil {
		return e, errorf(err, "read events")
	}
	e.OccurredAt = timeOf(occurredAt)
	var err error
	if e.Properties, err = leadscore.ParsePropertiesJSON(props); err != nil {
		return e, leadscore.Errorf(leadscore.EINTERNAL, "read event %q: %w", e.ID, err)
	}
	return e, nil
}

// RecordOutcomes implements leadscore.LeadStore. Leads whose outcome was
// created or changed are due for rescoring.
func (db *DB) RecordOutcomes(ctx context.Context, outcomes []leadscore.Outcome, opts leadscore.IngestOptions) (leadscore.UpsertResult, error) {
	b, err := storeutil.CheckOutcomes(outcomes, opts)
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	at := storeutil.StoredTime(opts.At)
	leadIDs := make([]string, len(outcomes))
	for i, o := range outcomes {
		leadIDs[i] = o.LeadID
	}
	var res leadscore.UpsertResult
	err = db.inTx(ctx, "record outcomes", func(tx *sql.Tx) error {
		if lookup := b.LeadIDs(leadIDs); len(lookup) > 0 {
			known, err := queryIDs(ctx, tx, "look up the leads of outcomes", `SELECT id FROM leads WHERE id IN `+idSet, jsonIDs(lookup))
			if err != nil {
				return err
			}
			b.RejectUnknownLeads(leadIDs, known)
		}
		if err := b.Err(); err != nil {
			return err
		}
		var ids []string
		var args []any
		for i, o := range outcomes {
			if !b.OK(i) {
				continue
			}
			var amount sql.NullFloat64
			var currency sql.NullString
			if a, c, ok := storeutil.OutcomeColumns(o); ok {
				amount = sql.NullFloat64{Float64: a, Valid: true}
				currency = sql.NullString{String: c, Valid: true}
			}
			ids = append(ids, o.LeadID)
			args = append(args, o.LeadID, o.Status.String(), micros(o.OccurredAt), amount, currency, micros(at))
		}
		if len(ids) == 0 {
			res = b.UpsertResult(0, 0, 0, nil)
			return nil
		}
		due, created, err := upserted(ctx, tx, "outcomes", `SELECT lead_id FROM outcomes WHERE lead_id IN `+idSet, ids,
			`INSERT INTO outcomes AS o (lead_id, status, occurred_at, amount, currency, recorded_at)
VALUES `+valuesList(len(ids), 6)+`
ON CONFLICT (lead_id) DO UPDATE SET
    status = excluded.status, occurred_at = excluded.occurred_at, amount = excluded.amount,
    currency = excluded.currency, recorded_at = excluded.recorded_at
WHERE o.status IS NOT excluded.status OR o.occurred_at IS NOT excluded.occurred_at
    OR o.amount IS NOT excluded.amount OR o.currency IS NOT excluded.currency
RETURNING lead_id`, args...)
		if err != nil {
			return err
		}
		if err := markDue(ctx, tx, due, at); err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(due)-created, due)
		return nil
	})
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	return res, nil
}
