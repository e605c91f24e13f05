package postgres

import (
	"context"
	"errors"
	"hash/fnv"
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

// changesLockKey derives the advisory lock that serialises the inserts
// into score_changes of one schema, so seq follows commit order (identity
// values are handed out at insert, not at commit): a watcher that has
// read up to seq n never misses a change numbered below n that commits
// later.
func changesLockKey(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("leadscore/score-changes\x00" + schema))
	return int64(h.Sum64())
}

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

// markDue makes leads due for rescoring at, the time of the write that
// changed them (see storeutil.DueAfterScore).
func markDue(ctx context.Context, tx pgx.Tx, leads []string, at time.Time) error {
	if len(leads) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `UPDATE leads SET due_at = $2 WHERE id = ANY($1)`, leads, at)
	return errorf(err, "mark leads due")
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
		return nil
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
		return markDue(ctx, tx, res.Leads, at)
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
		if err := markDue(ctx, tx, changed, at); err != nil {
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

func scanLead(row pgx.Row) (leadscore.Lead, time.Time, error) {
	var l leadscore.Lead
	var account, owner pgtype.Text
	var attrs []byte
	var updatedAt time.Time
	if err := row.Scan(&l.ID, &account, &owner, &attrs, &l.CreatedAt, &updatedAt); err != nil {
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

// currentScores reads the current scores of leads.
func currentScores(ctx context.Context, q querier, leads []string) (map[string]*leadscore.LeadScoreRecord, error) {
	scores := make(map[string]*leadscore.LeadScoreRecord, len(leads))
	if len(leads) == 0 {
		return scores, nil
	}
	rows, err := q.Query(ctx, `SELECT `+scoreColumns+` FROM lead_scores`+scoreJoin+` WHERE s.lead_id = ANY($1)`, leads)
	if err != nil {
		return nil, errorf(err, "read scores")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanScore(rows)
		if err != nil {
			return nil, errorf(err, "read scores")
		}
		scores[r.LeadID] = &r
	}
	return scores, errorf(rows.Err(), "read scores")
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
		out = out[:0]
		rows, err := tx.Query(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ANY($1) ORDER BY id`, ids)
		if err != nil {
			return errorf(err, "read leads")
		}
		index := make(map[string]int, len(ids))
		for rows.Next() {
			l, _, err := scanLead(rows)
			if err != nil {
				rows.Close()
				return errorf(err, "read leads")
			}
			index[l.ID] = len(out)
			out = append(out, leadscore.LeadActivity{Lead: l})
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return errorf(err, "read leads")
		}
		rows, err = tx.Query(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events
WHERE lead_id = ANY($1) ORDER BY lead_id, occurred_at, id`, ids)
		if err != nil {
			return errorf(err, "read events")
		}
		defer rows.Close()
		for rows.Next() {
			e, err := scanEvent(rows)
			if err != nil {
				return err
			}
			a := &out[index[e.LeadID]]
			a.Events = append(a.Events, e)
		}
		if err := rows.Err(); err != nil {
			return errorf(err, "read events")
		}
		scores, err := currentScores(ctx, tx, ids)
		if err != nil {
			return err
		}
		for i := range out {
			out[i].Score = scores[out[i].Lead.ID]
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
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

// scoreRows are scores as the parallel arrays of a multi-row insert into
// lead_scores or score_history.
type scoreRows struct {
	leadID, alias, tier, grade, action, factors, reason []string
	versionID, level, horizon, score                    []int64
	probability, percentile, baseValue, rawOutput       []float64
	scoredAt                                            []time.Time
	nextDue                                             []pgtype.Timestamptz
}

func (r *scoreRows) add(s leadscore.LeadScoreRecord, c storeutil.ScoreColumns, versionID int64) {
	r.leadID, r.alias, r.tier = append(r.leadID, s.LeadID), append(r.alias, s.Alias), append(r.tier, c.Tier)
	r.grade, r.action, r.factors = append(r.grade, c.Grade), append(r.action, s.Action), append(r.factors, string(c.Factors))
	r.reason, r.versionID, r.level = append(r.reason, s.Reason), append(r.versionID, versionID), append(r.level, c.Level)
	r.horizon, r.score = append(r.horizon, c.HorizonUS), append(r.score, int64(s.Score))
	r.probability, r.percentile = append(r.probability, s.Probability), append(r.percentile, s.Percentile)
	r.baseValue, r.rawOutput = append(r.baseValue, s.BaseValue), append(r.rawOutput, s.RawOutput)
	r.scoredAt, r.nextDue = append(r.scoredAt, s.ScoredAt), append(r.nextDue, optionalTime(s.NextDue))
}

func (r *scoreRows) len() int { return len(r.leadID) }

func (r *scoreRows) args() []any {
	return []any{r.leadID, r.versionID, r.alias, r.probability, r.score, r.percentile, r.tier, r.grade, r.level,
		r.action, r.baseValue, r.rawOutput, r.horizon, r.factors, r.scoredAt, r.reason, r.nextDue}
}

// scoreInsert inserts scoreRows' arrays into a score table.
const scoreInsert = ` (lead_id, model_version_id, alias, probability, score, percentile, tier, grade, level,
    action, base_value, raw_output, horizon_us, factors, scored_at, reason, next_due)
SELECT u.lead_id, u.model_version_id, u.alias, u.probability, u.score, u.percentile, u.tier, u.grade, u.level,
    u.action, u.base_value, u.raw_output, u.horizon_us, u.factors::jsonb, u.scored_at, u.reason, u.next_due
FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[], $5::bigint[], $6::float8[], $7::text[], $8::text[],
    $9::bigint[], $10::text[], $11::float8[], $12::float8[], $13::bigint[], $14::text[], $15::timestamptz[],
    $16::text[], $17::timestamptz[]) WITH ORDINALITY
    AS u(lead_id, model_version_id, alias, probability, score, percentile, tier, grade, level,
         action, base_value, raw_output, horizon_us, factors, scored_at, reason, next_due, ord)
ORDER BY u.ord`

// changeRows are change log entries as the parallel arrays of a
// multi-row insert into score_changes.
type changeRows struct {
	leadID, tier, cell, alias, action, reason     []string
	account, owner, oldTier, oldCell              []pgtype.Text
	versionID, score, horizon                     []int64
	probability, percentile, baseValue, rawOutput []float64
	scoredAt                                      []time.Time
	nextDue                                       []pgtype.Timestamptz
}

func (r *changeRows) add(prev *leadscore.LeadScoreRecord, s leadscore.LeadScoreRecord, c storeutil.ScoreColumns, versionID int64, ch leadscore.ScoreChange) {
	var oldTier, oldCell pgtype.Text
	if prev != nil {
		oldTier = pgtype.Text{String: prev.Tier.String(), Valid: true}
		oldCell = pgtype.Text{String: prev.Cell.String(), Valid: true}
	}
	r.leadID, r.tier, r.cell = append(r.leadID, s.LeadID), append(r.tier, c.Tier), append(r.cell, c.Cell)
	r.alias, r.action, r.reason = append(r.alias, s.Alias), append(r.action, s.Action), append(r.reason, s.Reason)
	r.account, r.owner = append(r.account, nullable(ch.AccountID)), append(r.owner, nullable(ch.Owner))
	r.oldTier, r.oldCell = append(r.oldTier, oldTier), append(r.oldCell, oldCell)
	r.versionID, r.score, r.horizon = append(r.versionID, versionID), append(r.score, int64(s.Score)), append(r.horizon, c.HorizonUS)
	r.probability, r.percentile = append(r.probability, s.Probability), append(r.percentile, s.Percentile)
	r.baseValue, r.rawOutput = append(r.baseValue, s.BaseValue), append(r.rawOutput, s.RawOutput)
	r.scoredAt, r.nextDue = append(r.scoredAt, s.ScoredAt), append(r.nextDue, optionalTime(s.NextDue))
}

func (r *changeRows) args() []any {
	return []any{r.leadID, r.account, r.owner, r.oldTier, r.oldCell, r.tier, r.cell, r.versionID, r.alias,
		r.probability, r.score, r.percentile, r.action, r.baseValue, r.rawOutput, r.horizon, r.reason,
		r.scoredAt, r.nextDue}
}

// changeInsert inserts changeRows' arrays, and the change time as $20,
// into score_changes in the arrays' order, which numbers them in it.
const changeInsert = `INSERT INTO score_changes (lead_id, account_id, owner, old_tier, old_cell,
    new_tier, new_cell, model_version_id, alias, probability, score, percentile, action, base_value, raw_output,
    horizon_us, reason, scored_at, next_due, changed_at)
SELECT u.lead_id, u.account_id, u.owner, u.old_tier, u.old_cell, u.new_tier, u.new_cell, u.model_version_id, u.alias,
    u.probability, u.score, u.percentile, u.action, u.base_value, u.raw_output, u.horizon_us, u.reason, u.scored_at,
    u.next_due, $20
FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::bigint[],
    $9::text[], $10::float8[], $11::bigint[], $12::float8[], $13::text[], $14::float8[], $15::float8[],
    $16::bigint[], $17::text[], $18::timestamptz[], $19::timestamptz[]) WITH ORDINALITY
    AS u(lead_id, account_id, owner, old_tier, old_cell, new_tier, new_cell, model_version_id, alias, probability,
         score, percentile, action, base_value, raw_output, horizon_us, reason, scored_at, next_due, ord)
ORDER BY u.ord`

// SaveScores implements leadscore.LeadStore.
func (db *DB) SaveScores(ctx context.Context, scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error) {
	if err := storeutil.CheckScores(scores, opts); err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	now := storeutil.StoredTime(time.Time{})
	ids := make([]string, len(scores))
	for i, s := range scores {
		ids[i] = s.LeadID
	}
	var res leadscore.SaveScoresResult
	err := db.inTx(ctx, "save scores", func(tx pgx.Tx) error {
		res = leadscore.SaveScoresResult{}
		versions, err := versionIDs(ctx, tx, scores)
		if err != nil {
			return err
		}
		type leadRow struct {
			account, owner string
			due            time.Time
		}
		leads := make(map[string]leadRow, len(ids))
		rows, err := tx.Query(ctx, `SELECT id, account_id, owner, due_at FROM leads WHERE id = ANY($1)
ORDER BY id FOR NO KEY UPDATE`, ids)
		if err != nil {
			return errorf(err, "lock the leads of scores")
		}
		for rows.Next() {
			var id string
			var account, owner pgtype.Text
			var due pgtype.Timestamptz
			if err := rows.Scan(&id, &account, &owner, &due); err != nil {
				rows.Close()
				return errorf(err, "lock the leads of scores")
			}
			leads[id] = leadRow{account.String, owner.String, timeOf(due)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return errorf(err, "lock the leads of scores")
		}
		prev, err := currentScores(ctx, tx, ids)
		if err != nil {
			return err
		}

		var current, history scoreRows
		var changes changeRows
		var dueLeads []string
		var dueAt []pgtype.Timestamptz
		for i, s := range scores {
			lead, ok := leads[s.LeadID]
			if !ok || storeutil.StaleScore(prev[s.LeadID], s) {
				res.Stale++
				continue
			}
			res.Saved++
			s = storeutil.StoredScore(s)
			c := storeutil.EncodeScore(s)
			current.add(s, c, versions[i])
			toHistory, toChanges := storeutil.ScoreTransition(prev[s.LeadID], s, opts.HistoryStep)
			if toHistory {
				res.History++
				history.add(s, c, versions[i])
			}
			if toChanges {
				res.Changes++
				ch := storeutil.ScoreChange(prev[s.LeadID], s, lead.account, lead.owner, now)
				changes.add(prev[s.LeadID], s, c, versions[i], ch)
			}
			dueLeads = append(dueLeads, s.LeadID)
			dueAt = append(dueAt, optionalTime(storeutil.DueAfterScore(lead.due, s.ScoredAt, s.NextDue)))
		}
		if current.len() > 0 {
			_, err := tx.Exec(ctx, `INSERT INTO lead_scores`+scoreInsert+`
ON CONFLICT (lead_id) DO UPDATE SET
    model_version_id = excluded.model_version_id, alias = excluded.alias, probability = excluded.probability,
    score = excluded.score, percentile = excluded.percentile, tier = excluded.tier, grade = excluded.grade,
    level = excluded.level, action = excluded.action, base_value = excluded.base_value,
    raw_output = excluded.raw_output, horizon_us = excluded.horizon_us, factors = excluded.factors,
    scored_at = excluded.scored_at, reason = excluded.reason, next_due = excluded.next_due`, current.args()...)
			if err != nil {
				return errorf(err, "save current scores")
			}
		}
		if history.len() > 0 {
			if _, err := tx.Exec(ctx, `INSERT INTO score_history`+scoreInsert, history.args()...); err != nil {
				return errorf(err, "save score history")
			}
		}
		if len(changes.leadID) > 0 {
			schema, err := currentSchema(ctx, tx)
			if err != nil {
				return err
			}
			// Taken last, just before the insert, so the lock is held only
			// from here to commit.
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, changesLockKey(schema)); err != nil {
				return errorf(err, "wait for other writers of score changes")
			}
			if _, err := tx.Exec(ctx, changeInsert, append(changes.args(), now)...); err != nil {
				return errorf(err, "save score changes")
			}
		}
		if len(dueLeads) > 0 {
			_, err := tx.Exec(ctx, `UPDATE leads AS l SET due_at = u.due
FROM unnest($1::text[], $2::timestamptz[]) AS u(id, due) WHERE l.id = u.id`, dueLeads, dueAt)
			if err != nil {
				return errorf(err, "set due times")
			}
		}
		return nil
	})
	if err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	return res, nil
}

// versionIDs returns the internal id of each score's model version, in
// the scores' order; an unregistered version fails the call. The versions
// are locked (FOR KEY SHARE) so they cannot be deleted before the scores
// that refer to them commit.
func versionIDs(ctx context.Context, tx pgx.Tx, scores []leadscore.LeadScoreRecord) ([]int64, error) {
	refs := make(map[leadscore.VersionRef]int64)
	var models []string
	var numbers []int64
	for _, s := range scores {
		if _, ok := refs[s.Version]; !ok {
			refs[s.Version] = 0
			models, numbers = append(models, s.Version.Model), append(numbers, s.Version.Version)
		}
	}
	rows, err := tx.Query(ctx, `SELECT m.name, v.version, v.id FROM model_versions v JOIN models m ON m.id = v.model_id
JOIN unnest($1::text[], $2::bigint[]) AS r(name, version) ON r.name = m.name AND r.version = v.version
ORDER BY v.id FOR KEY SHARE OF v`, models, numbers)
	if err != nil {
		return nil, errorf(err, "look up the versions of scores")
	}
	defer rows.Close()
	for rows.Next() {
		var ref leadscore.VersionRef
		var number int32
		var id int64
		if err := rows.Scan(&ref.Model, &number, &id); err != nil {
			return nil, errorf(err, "look up the versions of scores")
		}
		ref.Version = int64(number)
		refs[ref] = id
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "look up the versions of scores")
	}
	ids := make([]int64, len(scores))
	for i, s := range scores {
		if ids[i] = refs[s.Version]; ids[i] == 0 {
			return nil, storeutil.UnknownVersion(i, s.Version)
		}
	}
	return ids, nil
}

// ScoreHistory implements leadscore.LeadStore.
func (db *DB) ScoreHistory(ctx context.Context, id string, limit int) ([]leadscore.LeadScoreRecord, error) {
	if err := storeutil.CheckLeadID(id); err != nil {
		return nil, err
	}
	if err := storeutil.CheckPositiveLimit(limit); err != nil {
		return nil, err
	}
	var out []leadscore.LeadScoreRecord
	err := db.readTx(ctx, "read the score history of "+leadscore.LeadName(id), func(tx pgx.Tx) error {
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = $1)`, id).Scan(&exists); err != nil {
			return errorf(err, "look up %s", leadscore.LeadName(id))
		}
		if !exists {
			return storeutil.LeadNotFound(id)
		}
		rows, err := tx.Query(ctx, `SELECT `+scoreColumns+` FROM score_history`+scoreJoin+`
WHERE s.lead_id = $1 ORDER BY s.scored_at DESC, s.id DESC LIMIT $2`, id, limit)
		if err != nil {
			return errorf(err, "read the score history of %s", leadscore.LeadName(id))
		}
		out, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.LeadScoreRecord, error) { return scanScore(row) })
		return errorf(err, "read the score history of %s", leadscore.LeadName(id))
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ScoreChanges implements leadscore.LeadStore.
func (db *DB) ScoreChanges(ctx context.Context, after int64, limit int) ([]leadscore.ScoreChange, error) {
	if err := storeutil.CheckCursor(after); err != nil {
		return nil, err
	}
	if err := storeutil.CheckPositiveLimit(limit); err != nil {
		return nil, err
	}
	rows, err := db.pool.Query(ctx, `SELECT c.seq, c.lead_id, c.account_id, c.owner, c.old_tier, c.old_cell,
    m.name, v.version, c.alias, c.probability, c.score, c.percentile, c.new_tier, c.new_cell, c.action,
    c.base_value, c.raw_output, c.horizon_us, c.reason, c.scored_at, c.next_due, c.changed_at
FROM score_changes c JOIN model_versions v ON v.id = c.model_version_id JOIN models m ON m.id = v.model_id
WHERE c.seq > $1 ORDER BY c.seq LIMIT $2`, after, limit)
	if err != nil {
		return nil, errorf(err, "read score changes")
	}
	out, err := pgx.CollectRows(rows, scanScoreChange)
	if err != nil {
		return nil, errorf(err, "read score changes")
	}
	return out, nil
}

func scanScoreChange(row pgx.CollectableRow) (leadscore.ScoreChange, error) {
	var ch leadscore.ScoreChange
	var account, owner, oldTier, oldCell pgtype.Text
	var c storeutil.ScoreColumns
	var version int32
	var nextDue pgtype.Timestamptz
	r := &ch.Score
	err := row.Scan(&ch.Seq, &ch.LeadID, &account, &owner, &oldTier, &oldCell,
		&r.Version.Model, &version, &r.Alias, &r.Probability, &r.Score, &r.Percentile, &c.Tier, &c.Cell, &r.Action,
		&r.BaseValue, &r.RawOutput, &c.HorizonUS, &r.Reason, &r.ScoredAt, &nextDue, &ch.ChangedAt)
	if err != nil {
		return ch, err
	}
	r.Version.Version = int64(version)
	ch.AccountID, ch.Owner, ch.ChangedAt = account.String, owner.String, ch.ChangedAt.UTC()
	r.LeadID, r.ScoredAt, r.NextDue = ch.LeadID, r.ScoredAt.UTC(), timeOf(nextDue)
	if err := storeutil.DecodeScore(r, c); err != nil {
		return ch, leadscore.Errorf(leadscore.EINTERNAL, "read change %d: %w", ch.Seq, err)
	}
	if oldTier.Valid {
		if ch.PreviousTier, err = storeutil.ParseTier(oldTier.String); err != nil {
			return ch, leadscore.Errorf(leadscore.EINTERNAL, "read change %d: %w", ch.Seq, err)
		}
		if ch.PreviousCell, err = leadscore.ParseCell("old_cell", oldCell.String); err != nil {
			return ch, leadscore.Errorf(leadscore.EINTERNAL, "read change %d: %w", ch.Seq, err)
		}
	}
	return ch, nil
}
