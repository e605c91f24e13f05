package postgres

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.LeadStore = (*DB)(nil)

// The LeadStore's writes run in one transaction each, and each step is one
// statement over the whole batch (at most leadscore.MaxIngestBatch
// records): records travel as parallel arrays that unnest turns into rows,
// ids as one array compared with = ANY. Rows are written in id order, so
// two writes of overlapping leads lock them in the same order and do not
// deadlock. SaveScores locks its leads' rows first (FOR NO KEY UPDATE), so
// two saves of one lead take turns and the stale rule compares against
// the score that is really current.

// queryIDs returns the first column of every row of a query, as a set.
func queryIDs(ctx context.Context, q querier, what, sql string, args ...any) (map[string]bool, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, errorf(err, "%s", what)
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, errorf(err, "%s", what)
	}
	set := make(map[string]bool, len(found))
	for _, id := range found {
		set[id] = true
	}
	return set, nil
}

// upserted reads the RETURNING id, (xmax = 0) rows of an upsert: the ids
// it created or changed, and how many it created.
func upserted(rows pgx.Rows, err error, what string) ([]string, int, error) {
	if err != nil {
		return nil, 0, errorf(err, "%s", what)
	}
	defer rows.Close()
	var ids []string
	created := 0
	for rows.Next() {
		var id string
		var inserted bool
		if err := rows.Scan(&id, &inserted); err != nil {
			return nil, 0, errorf(err, "%s", what)
		}
		ids = append(ids, id)
		if inserted {
			created++
		}
	}
	return ids, created, errorf(rows.Err(), "%s", what)
}

// writeScores lets storeutil.RescoreInWrite score and save in tx, each
// step under a savepoint and in as few round trips as it can: reading the
// activity takes one, marking due one, saving two. With markAt set, its
// MarkDue makes the leads due at markAt (markDue); without, the write has
// locked its leads and made them due itself.
func writeScores(ctx context.Context, tx pgx.Tx, markAt time.Time) storeutil.WriteScores {
	// read holds the version (xmin) of each lead's row as Activity read
	// it: a write that gives a lead events or changes it updates that row
	// (markDue, the upsert), so a row whose version moved by the time
	// MarkDue locks it had its activity changed by a write that committed
	// since.
	read := map[string]uint32{}
	const sp = savepoint("rescore")
	w := storeutil.WriteScores{
		Activity: func(ids []string) ([]leadscore.LeadActivity, error) {
			var out []leadscore.LeadActivity
			b := &pgx.Batch{}
			sp.open(b)
			queueActivity(b, ids, read, &out)
			sp.release(b)
			if err := tx.SendBatch(ctx, b).Close(); err != nil {
				return nil, sp.undo(ctx, tx, errorf(err, "read the activity of leads to rescore"))
			}
			return out, nil
		},
		Save: func(scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error) {
			return saveScores(ctx, tx, scores, opts, sp)
		},
	}
	if !markAt.IsZero() {
		w.MarkDue = func(ids []string) ([]string, error) {
			locked, err := markDue(ctx, tx, ids, markAt)
			if err != nil {
				return nil, err
			}
			var changed []string
			for _, l := range locked {
				if v, ok := read[l.id]; ok && v != l.xmin {
					changed = append(changed, l.id)
				}
			}
			return changed, nil
		}
	}
	return w
}

// lockedLead is a lead's id and the version of its row when markDue
// locked it.
type lockedLead struct {
	id   string
	xmin uint32
}

// markDue makes leads due for rescoring at, the time of the write that
// changed them (see storeutil.DueAfterScore), in one round trip, and
// returns the version each lead's row had when it was locked, before this
// update.
func markDue(ctx context.Context, tx pgx.Tx, leads []string, at time.Time) ([]lockedLead, error) {
	if len(leads) == 0 {
		return nil, nil
	}
	var locked []lockedLead
	b := &pgx.Batch{}
	// The rows are locked in id order first: an UPDATE over = ANY may visit
	// them in the table's order (a bitmap scan), and two writes of
	// overlapping leads then deadlock (seen under 8 concurrent
	// RecordEvents calls in bench/leads).
	b.Queue(`SELECT id, xmin FROM leads WHERE id = ANY($1) ORDER BY id FOR NO KEY UPDATE`, leads).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var l lockedLead
			if err := rows.Scan(&l.id, &l.xmin); err != nil {
				return errorf(err, "lock leads to mark them due")
			}
			locked = append(locked, l)
		}
		return errorf(rows.Err(), "lock leads to mark them due")
	})
	b.Queue(`UPDATE leads SET due_at = $2 WHERE id = ANY($1)`, leads, at)
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return nil, errorf(err, "mark leads due")
	}
	return locked, nil
}

// byID returns the indexes of the records b did not reject, in byte order
// of their keys.
func byID(b *storeutil.Batch, keys []string) []int {
	var idx []int
	for i := range keys {
		if b.OK(i) {
			idx = append(idx, i)
		}
	}
	slices.SortFunc(idx, func(x, y int) int { return strings.Compare(keys[x], keys[y]) })
	return idx
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
	keys := make([]string, len(leads))
	for i, l := range leads {
		keys[i] = l.ID
	}
	var (
		ids, attrs      []string
		accounts, owner []pgtype.Text
		createdAt       []time.Time
		accountIDs      []string
	)
	for _, i := range byID(b, keys) {
		l := leads[i]
		a, err := leadscore.AppendAttributesJSON(nil, l.Attributes)
		if err != nil {
			return leadscore.UpsertResult{}, storeutil.BatchRecordError(leadscore.TableLeads, i, err)
		}
		ids, attrs = append(ids, l.ID), append(attrs, string(a))
		accounts, owner = append(accounts, nullable(l.AccountID)), append(owner, nullable(l.Owner))
		createdAt = append(createdAt, storeutil.StoredTime(l.CreatedAt))
		if l.AccountID != "" {
			accountIDs = append(accountIDs, l.AccountID)
		}
	}
	if len(ids) == 0 {
		return b.UpsertResult(0, 0, 0, nil), nil
	}
	var res leadscore.UpsertResult
	err = db.inTx(ctx, "upsert leads", func(tx pgx.Tx) error {
		if accountIDs = storeutil.SortedUnique(accountIDs); len(accountIDs) > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO accounts (id, created_at, updated_at)
SELECT id, $2, $2 FROM unnest($1::text[]) AS u(id) ON CONFLICT (id) DO NOTHING`, accountIDs, at)
			if err != nil {
				return errorf(err, "create accounts of leads")
			}
		}
		rows, err := tx.Query(ctx, `INSERT INTO leads AS l (id, account_id, owner, attributes, created_at, updated_at, due_at)
SELECT u.id, u.account_id, u.owner, u.attributes::jsonb, u.created_at, $6, $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) AS u(id, account_id, owner, attributes, created_at)
ON CONFLICT (id) DO UPDATE SET
    account_id = excluded.account_id, owner = excluded.owner, attributes = excluded.attributes,
    created_at = excluded.created_at, updated_at = excluded.updated_at, due_at = excluded.due_at
WHERE (l.account_id, l.owner, l.attributes, l.created_at)
    IS DISTINCT FROM (excluded.account_id, excluded.owner, excluded.attributes, excluded.created_at)
RETURNING l.id, l.xmax = 0`, ids, accounts, owner, attrs, createdAt, at)
		changed, created, err := upserted(rows, err, "upsert leads")
		if err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(changed)-created, changed)
		res.Rescored, res.RescoreErr, err = storeutil.RescoreInWrite(res.Leads, opts, writeScores(ctx, tx, time.Time{}))
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
	at := storeutil.StoredTime(opts.At)
	keys := make([]string, len(accounts))
	for i, a := range accounts {
		keys[i] = a.ID
	}
	var ids, names, attrs []string
	for _, i := range byID(b, keys) {
		a := accounts[i]
		js, err := leadscore.AppendAttributesJSON(nil, a.Attributes)
		if err != nil {
			return leadscore.UpsertResult{}, storeutil.BatchRecordError(storeutil.TableAccounts, i, err)
		}
		ids, names, attrs = append(ids, a.ID), append(names, a.Name), append(attrs, string(js))
	}
	if len(ids) == 0 {
		return b.UpsertResult(0, 0, 0, nil), nil
	}
	var res leadscore.UpsertResult
	err = db.inTx(ctx, "upsert accounts", func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `INSERT INTO accounts AS a (id, name, attributes, created_at, updated_at)
SELECT u.id, u.name, u.attributes::jsonb, $4, $4
FROM unnest($1::text[], $2::text[], $3::text[]) AS u(id, name, attributes)
ON CONFLICT (id) DO UPDATE SET name = excluded.name, attributes = excluded.attributes, updated_at = excluded.updated_at
WHERE (a.name, a.attributes) IS DISTINCT FROM (excluded.name, excluded.attributes)
RETURNING a.id, a.xmax = 0`, ids, names, attrs, at)
		changed, created, err := upserted(rows, err, "upsert accounts")
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

// rejectUnknownLeads rejects the records of b whose lead the store does
// not hold, locking the leads it finds (FOR KEY SHARE) so they stay until
// the write commits.
func rejectUnknownLeads(ctx context.Context, tx pgx.Tx, b *storeutil.Batch, leadIDs []string, what string) error {
	lookup := b.LeadIDs(leadIDs)
	if len(lookup) == 0 {
		return nil
	}
	known, err := queryIDs(ctx, tx, "look up the leads of "+what,
		`SELECT id FROM leads WHERE id = ANY($1) ORDER BY id FOR KEY SHARE`, lookup)
	if err != nil {
		return err
	}
	b.RejectUnknownLeads(leadIDs, known)
	return nil
}

// RecordEvents implements leadscore.LeadStore. The first event of each id
// is inserted with ON CONFLICT DO NOTHING, which also waits for a
// concurrent write of the same id; the ids it did not insert are stored,
// and those events are read back to compare.
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
	err = db.inTx(ctx, "record events", func(tx pgx.Tx) error {
		if err := rejectUnknownLeads(ctx, tx, b, leadIDs, "events"); err != nil {
			return err
		}
		if err := b.Err(); err != nil {
			return err
		}
		first := storeutil.FirstEvents(b, events)
		slices.SortFunc(first, func(x, y int) int { return strings.Compare(events[x].ID, events[y].ID) })
		var ids, leads, types, props []string
		var occurred []time.Time
		for _, i := range first {
			e := events[i]
			ids, leads, types = append(ids, e.ID), append(leads, e.LeadID), append(types, e.Type)
			occurred = append(occurred, storeutil.StoredTime(e.OccurredAt))
			props = append(props, string(leadscore.AppendPropertiesJSON(nil, e.Properties)))
		}
		inserted := map[string]bool{}
		if len(ids) > 0 {
			var err error
			inserted, err = queryIDs(ctx, tx, "record events", `INSERT INTO events (id, lead_id, type, occurred_at, properties, recorded_at)
SELECT u.id, u.lead_id, u.type, u.occurred_at, u.properties::jsonb, $6
FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[]) AS u(id, lead_id, type, occurred_at, properties)
ON CONFLICT (id) DO NOTHING RETURNING id`, ids, leads, types, occurred, props, at)
			if err != nil {
				return err
			}
		}
		var kept []string
		for _, id := range ids {
			if !inserted[id] {
				kept = append(kept, id)
			}
		}
		stored, err := storedEvents(ctx, tx, kept)
		if err != nil {
			return err
		}
		res = storeutil.EventsResult(b, events, inserted, stored)
		res.Rescored, res.RescoreErr, err = storeutil.RescoreInWrite(res.Leads, opts, writeScores(ctx, tx, at))
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
	rows, err := q.Query(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events WHERE id = ANY($1)`, ids)
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

func scanEvent(row pgx.Row) (leadscore.Event, error) {
	var e leadscore.Event
	var props []byte
	if err := row.Scan(&e.ID, &e.LeadID, &e.Type, &e.OccurredAt, &props); err != nil {
		return e, errorf(err, "read events")
	}
	e.OccurredAt = e.OccurredAt.UTC()
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
	err = db.inTx(ctx, "record outcomes", func(tx pgx.Tx) error {
		if err := rejectUnknownLeads(ctx, tx, b, leadIDs, "outcomes"); err != nil {
			return err
		}
		if err := b.Err(); err != nil {
			return err
		}
		var ids, statuses []string
		var occurred []time.Time
		var amounts []pgtype.Float8
		var currencies []pgtype.Text
		for _, i := range byID(b, leadIDs) {
			o := outcomes[i]
			a, c, ok := storeutil.OutcomeColumns(o)
			ids, statuses = append(ids, o.LeadID), append(statuses, o.Status.String())
			occurred = append(occurred, storeutil.StoredTime(o.OccurredAt))
			amounts = append(amounts, pgtype.Float8{Float64: a, Valid: ok})
			currencies = append(currencies, pgtype.Text{String: c, Valid: ok})
		}
		if len(ids) == 0 {
			res = b.UpsertResult(0, 0, 0, nil)
			return nil
		}
		rows, err := tx.Query(ctx, `INSERT INTO outcomes AS o (lead_id, status, occurred_at, amount, currency, recorded_at)
SELECT u.lead_id, u.status, u.occurred_at, u.amount, u.currency, $6
FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[]) AS u(lead_id, status, occurred_at, amount, currency)
ON CONFLICT (lead_id) DO UPDATE SET
    status = excluded.status, occurred_at = excluded.occurred_at, amount = excluded.amount,
    currency = excluded.currency, recorded_at = excluded.recorded_at
WHERE (o.status, o.occurred_at, o.amount, o.currency)
    IS DISTINCT FROM (excluded.status, excluded.occurred_at, excluded.amount, excluded.currency)
RETURNING o.lead_id, o.xmax = 0`, ids, statuses, occurred, amounts, currencies, at)
		changed, created, err := upserted(rows, err, "record outcomes")
		if err != nil {
			return err
		}
		if _, err := markDue(ctx, tx, changed, at); err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(changed)-created, changed)
		return nil
	})
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	return res, nil
}
