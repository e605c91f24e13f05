package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
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
// time in microseconds or nil.
func setDue(ctx context.Context, tx *sql.Tx, args []any) error {
	if len(args) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, `WITH v (id, due) AS (VALUES `+valuesList(len(args)/2, 2)+`)
UPDATE leads SET due_at = (SELECT due FROM v WHERE v.id = leads.id) WHERE id IN (SELECT id FROM v)`, args...)
	return errorf(err, "set due times")
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
		existing, err := queryIDs(ctx, tx, "read stored leads", `SELECT id FROM leads WHERE id IN `+idSet, jsonIDs(ids))
		if err != nil {
			return err
		}
		changed, err := queryIDs(ctx, tx, "upsert leads", `INSERT INTO leads AS l (id, account_id, owner, attributes, created_at, updated_at)
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
		var due []string
		created := 0
		for id := range changed {
			due = append(due, id)
			if !existing[id] {
				created++
			}
		}
		if err := markDue(ctx, tx, due, at); err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(changed)-created, due)
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
		existing, err := queryIDs(ctx, tx, "read stored accounts", `SELECT id FROM accounts WHERE id IN `+idSet, jsonIDs(ids))
		if err != nil {
			return err
		}
		changed, err := queryIDs(ctx, tx, "upsert accounts", `INSERT INTO accounts AS a (id, name, attributes, created_at, updated_at)
VALUES `+valuesList(len(ids), 5)+`
ON CONFLICT (id) DO UPDATE SET name = excluded.name, attributes = excluded.attributes, updated_at = excluded.updated_at
WHERE a.name IS NOT excluded.name OR a.attributes IS NOT excluded.attributes
RETURNING id`, args...)
		if err != nil {
			return err
		}
		created := 0
		for id := range changed {
			if !existing[id] {
				created++
			}
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
		existing, err := queryIDs(ctx, tx, "read stored outcomes", `SELECT lead_id FROM outcomes WHERE lead_id IN `+idSet, jsonIDs(ids))
		if err != nil {
			return err
		}
		changed, err := queryIDs(ctx, tx, "record outcomes", `INSERT INTO outcomes AS o (lead_id, status, occurred_at, amount, currency, recorded_at)
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
		var due []string
		created := 0
		for id := range changed {
			due = append(due, id)
			if !existing[id] {
				created++
			}
		}
		if err := markDue(ctx, tx, due, at); err != nil {
			return err
		}
		res = b.UpsertResult(len(ids), created, len(changed)-created, due)
		return nil
	})
	if err != nil {
		return leadscore.UpsertResult{}, err
	}
	return res, nil
}

// readTx runs fn in a read transaction: one consistent snapshot that does
// not block writers.
func (db *DB) readTx(ctx context.Context, what string, fn func(tx *sql.Tx) error) error {
	tx, err := db.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return errorf(err, "%s: begin", what)
	}
	defer func() { _ = tx.Rollback() }()
	return fn(tx)
}

const leadColumns = `id, account_id, owner, attributes, created_at, updated_at`

func scanLead(row scanner) (leadscore.Lead, time.Time, error) {
	var l leadscore.Lead
	var account, owner sql.NullString
	var attrs []byte
	var createdAt, updatedAt int64
	if err := row.Scan(&l.ID, &account, &owner, &attrs, &createdAt, &updatedAt); err != nil {
		return l, time.Time{}, err
	}
	l.AccountID, l.Owner, l.CreatedAt = account.String, owner.String, timeOf(createdAt)
	var err error
	if l.Attributes, err = leadscore.ParseAttributesJSON(attrs); err != nil {
		return l, time.Time{}, leadscore.Errorf(leadscore.EINTERNAL, "read lead %q: %w", l.ID, err)
	}
	return l, timeOf(updatedAt), nil
}

// scoreColumns are a score's columns in lead_scores or score_history (as
// s), with its version's model name and number.
const scoreColumns = `s.lead_id, m.name, v.version, s.alias, s.probability, s.score, s.percentile, s.tier, s.grade, s.level,
    s.action, s.base_value, s.raw_output, s.horizon_us, s.factors, s.scored_at, s.reason, s.next_due`

// scoreJoin joins a score table's rows (as s) to their versions.
const scoreJoin = ` s JOIN model_versions v ON v.id = s.model_version_id JOIN models m ON m.id = v.model_id`

func scanScore(row scanner) (leadscore.LeadScoreRecord, error) {
	var r leadscore.LeadScoreRecord
	var c storeutil.ScoreColumns
	var scoredAt int64
	var nextDue sql.NullInt64
	err := row.Scan(&r.LeadID, &r.Version.Model, &r.Version.Version, &r.Alias, &r.Probability, &r.Score, &r.Percentile,
		&c.Tier, &c.Grade, &c.Level, &r.Action, &r.BaseValue, &r.RawOutput, &c.HorizonUS, &c.Factors,
		&scoredAt, &r.Reason, &nextDue)
	if err != nil {
		return r, err
	}
	r.ScoredAt, r.NextDue = timeOf(scoredAt), optionalTimeOf(nextDue)
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
	rows, err := q.QueryContext(ctx, `SELECT `+scoreColumns+` FROM lead_scores`+scoreJoin+` WHERE s.lead_id IN `+idSet, jsonIDs(leads))
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
	err := db.readTx(ctx, "get "+leadscore.LeadName(id), func(tx *sql.Tx) error {
		l, updated, err := scanLead(tx.QueryRowContext(ctx, `SELECT `+leadColumns+` FROM leads WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return storeutil.LeadNotFound(id)
		}
		if err != nil {
			return errorf(err, "get %s", leadscore.LeadName(id))
		}
		out = leadscore.StoredLead{Lead: l, UpdatedAt: updated}
		var o leadscore.Outcome
		var status string
		var occurredAt int64
		var amount sql.NullFloat64
		var currency sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes WHERE lead_id = ?`, id).
			Scan(&o.LeadID, &status, &occurredAt, &amount, &currency)
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return errorf(err, "get the outcome of %s", leadscore.LeadName(id))
		default:
			if o.Status, err = leadscore.ParseOutcomeStatus("status", status); err != nil {
				return leadscore.Errorf(leadscore.EINTERNAL, "get the outcome of %s: %w", leadscore.LeadName(id), err)
			}
			o.OccurredAt, o.Amount, o.Currency = timeOf(occurredAt), amount.Float64, currency.String
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
// order of id.
func (db *DB) LeadActivity(ctx context.Context, ids []string) ([]leadscore.LeadActivity, error) {
	ids, err := storeutil.CheckActivityIDs(ids)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	var out []leadscore.LeadActivity
	err = db.readTx(ctx, "read lead activity", func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT `+leadColumns+` FROM leads WHERE id IN `+idSet+` ORDER BY id`, jsonIDs(ids))
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
		rows, err = tx.QueryContext(ctx, `SELECT id, lead_id, type, occurred_at, properties FROM events
WHERE lead_id IN `+idSet+` ORDER BY lead_id, occurred_at, id`, jsonIDs(ids))
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
	rows, err := db.db.QueryContext(ctx, `SELECT id FROM leads WHERE due_at IS NOT NULL AND due_at <= ?
ORDER BY due_at, id LIMIT ?`, micros(storeutil.StoredTime(at)), limit)
	ids, err := collect(rows, err,
		func(rows *sql.Rows) (string, error) {
			var id string
			return id, rows.Scan(&id)
		})
	if err != nil {
		return nil, errorf(err, "read due leads")
	}
	return ids, nil
}

// SaveScores implements leadscore.LeadStore.
func (db *DB) SaveScores(ctx context.Context, scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error) {
	if err := storeutil.CheckScores(scores, opts); err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	now := storeutil.StoredTime(time.Time{})
	var res leadscore.SaveScoresResult
	err := db.inTx(ctx, "save scores", func(tx *sql.Tx) error {
		versions, err := versionIDs(ctx, tx, scores)
		if err != nil {
			return err
		}
		ids := make([]string, len(scores))
		for i, s := range scores {
			ids[i] = s.LeadID
		}
		type leadRow struct {
			account, owner string
			due            time.Time
		}
		leads := make(map[string]leadRow, len(ids))
		rows, err := tx.QueryContext(ctx, `SELECT id, account_id, owner, due_at FROM leads WHERE id IN `+idSet, jsonIDs(ids))
		if err != nil {
			return errorf(err, "read the leads of scores")
		}
		for rows.Next() {
			var id string
			var account, owner sql.NullString
			var due sql.NullInt64
			if err := rows.Scan(&id, &account, &owner, &due); err != nil {
				rows.Close()
				return errorf(err, "read the leads of scores")
			}
			leads[id] = leadRow{account.String, owner.String, optionalTimeOf(due)}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return errorf(err, "read the leads of scores")
		}
		prev, err := currentScores(ctx, tx, ids)
		if err != nil {
			return err
		}

		var current, history, changes, due []any
		for i, s := range scores {
			lead, ok := leads[s.LeadID]
			if !ok || storeutil.StaleScore(prev[s.LeadID], s) {
				res.Stale++
				continue
			}
			res.Saved++
			s = storeutil.StoredScore(s)
			c := storeutil.EncodeScore(s)
			vid := versions[i]
			figures := []any{s.LeadID, vid, s.Alias, s.Probability, s.Score, s.Percentile, c.Tier, c.Grade, c.Level,
				s.Action, s.BaseValue, s.RawOutput, c.HorizonUS, string(c.Factors), micros(s.ScoredAt), s.Reason, optionalMicros(s.NextDue)}
			current = append(current, figures...)
			toHistory, toChanges := storeutil.ScoreTransition(prev[s.LeadID], s, opts.HistoryStep)
			if toHistory {
				res.History++
				history = append(history, figures...)
			}
			if toChanges {
				res.Changes++
				ch := storeutil.ScoreChange(prev[s.LeadID], s, lead.account, lead.owner, now)
				var oldTier, oldCell sql.NullString
				if p := prev[s.LeadID]; p != nil {
					oldTier = sql.NullString{String: p.Tier.String(), Valid: true}
					oldCell = sql.NullString{String: p.Cell.String(), Valid: true}
				}
				changes = append(changes, s.LeadID, nullable(ch.AccountID), nullable(ch.Owner), oldTier, oldCell,
					c.Tier, c.Cell, vid, s.Alias, s.Probability, s.Score, s.Percentile, s.Action, s.BaseValue, s.RawOutput,
					c.HorizonUS, s.Reason, micros(s.ScoredAt), optionalMicros(s.NextDue), micros(ch.ChangedAt))
			}
			due = append(due, s.LeadID, optionalMicros(storeutil.DueAfterScore(lead.due, s.ScoredAt, s.NextDue)))
		}
		const scoreCols = 17
		if len(current) > 0 {
			_, err := tx.ExecContext(ctx, `INSERT INTO lead_scores (lead_id, model_version_id, alias, probability, score,
    percentile, tier, grade, level, action, base_value, raw_output, horizon_us, factors, scored_at, reason, next_due)
VALUES `+valuesList(len(current)/scoreCols, scoreCols)+`
ON CONFLICT (lead_id) DO UPDATE SET
    model_version_id = excluded.model_version_id, alias = excluded.alias, probability = excluded.probability,
    score = excluded.score, percentile = excluded.percentile, tier = excluded.tier, grade = excluded.grade,
    level = excluded.level, action = excluded.action, base_value = excluded.base_value,
    raw_output = excluded.raw_output, horizon_us = excluded.horizon_us, factors = excluded.factors,
    scored_at = excluded.scored_at, reason = excluded.reason, next_due = excluded.next_due`, current...)
			if err != nil {
				return errorf(err, "save current scores")
			}
		}
		if len(history) > 0 {
			_, err := tx.ExecContext(ctx, `INSERT INTO score_history (lead_id, model_version_id, alias, probability, score,
    percentile, tier, grade, level, action, base_value, raw_output, horizon_us, factors, scored_at, reason, next_due)
VALUES `+valuesList(len(history)/scoreCols, scoreCols), history...)
			if err != nil {
				return errorf(err, "save score history")
			}
		}
		if len(changes) > 0 {
			const changeCols = 20
			_, err := tx.ExecContext(ctx, `INSERT INTO score_changes (lead_id, account_id, owner, old_tier, old_cell,
    new_tier, new_cell, model_version_id, alias, probability, score, percentile, action, base_value, raw_output,
    horizon_us, reason, scored_at, next_due, changed_at)
VALUES `+valuesList(len(changes)/changeCols, changeCols), changes...)
			if err != nil {
				return errorf(err, "save score changes")
			}
		}
		return setDue(ctx, tx, due)
	})
	if err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	return res, nil
}

// versionIDs returns the internal id of each score's model version, in
// the scores' order; an unregistered version fails the call.
func versionIDs(ctx context.Context, q querier, scores []leadscore.LeadScoreRecord) ([]int64, error) {
	refs := make(map[leadscore.VersionRef]int64)
	var args []any
	for _, s := range scores {
		if _, ok := refs[s.Version]; !ok {
			refs[s.Version] = 0
			args = append(args, s.Version.Model, s.Version.Version)
		}
	}
	rows, err := q.QueryContext(ctx, `SELECT m.name, v.version, v.id FROM model_versions v JOIN models m ON m.id = v.model_id
WHERE (m.name, v.version) IN (VALUES `+valuesList(len(args)/2, 2)+`)`, args...)
	if err != nil {
		return nil, errorf(err, "look up the versions of scores")
	}
	defer rows.Close()
	for rows.Next() {
		var ref leadscore.VersionRef
		var id int64
		if err := rows.Scan(&ref.Model, &ref.Version, &id); err != nil {
			return nil, errorf(err, "look up the versions of scores")
		}
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
	err := db.readTx(ctx, "read the score history of "+leadscore.LeadName(id), func(tx *sql.Tx) error {
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM leads WHERE id = ?)`, id).Scan(&exists); err != nil {
			return errorf(err, "look up %s", leadscore.LeadName(id))
		}
		if !exists {
			return storeutil.LeadNotFound(id)
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+scoreColumns+` FROM score_history`+scoreJoin+`
WHERE s.lead_id = ? ORDER BY s.scored_at DESC, s.id DESC LIMIT ?`, id, limit)
		out, err = collect(rows, err,
			func(rows *sql.Rows) (leadscore.LeadScoreRecord, error) { return scanScore(rows) })
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
	rows, err := db.db.QueryContext(ctx, `SELECT c.seq, c.lead_id, c.account_id, c.owner, c.old_tier, c.old_cell,
    m.name, v.version, c.alias, c.probability, c.score, c.percentile, c.new_tier, c.new_cell, c.action,
    c.base_value, c.raw_output, c.horizon_us, c.reason, c.scored_at, c.next_due, c.changed_at
FROM score_changes c JOIN model_versions v ON v.id = c.model_version_id JOIN models m ON m.id = v.model_id
WHERE c.seq > ? ORDER BY c.seq LIMIT ?`, after, limit)
	out, err := collect(rows, err, scanScoreChange)
	if err != nil {
		return nil, errorf(err, "read score changes")
	}
	return out, nil
}

func scanScoreChange(rows *sql.Rows) (leadscore.ScoreChange, error) {
	var ch leadscore.ScoreChange
	var account, owner, oldTier, oldCell sql.NullString
	var c storeutil.ScoreColumns
	var scoredAt, changedAt int64
	var nextDue sql.NullInt64
	r := &ch.Score
	err := rows.Scan(&ch.Seq, &ch.LeadID, &account, &owner, &oldTier, &oldCell,
		&r.Version.Model, &r.Version.Version, &r.Alias, &r.Probability, &r.Score, &r.Percentile, &c.Tier, &c.Cell, &r.Action,
		&r.BaseValue, &r.RawOutput, &c.HorizonUS, &r.Reason, &scoredAt, &nextDue, &changedAt)
	if err != nil {
		return ch, err
	}
	ch.AccountID, ch.Owner, ch.ChangedAt = account.String, owner.String, timeOf(changedAt)
	r.LeadID, r.ScoredAt, r.NextDue = ch.LeadID, timeOf(scoredAt), optionalTimeOf(nextDue)
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
