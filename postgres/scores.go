package postgres

import (
	"context"
	"hash/fnv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// The LeadStore's scores: saving current scores with their history and
// change log, and reading those back.

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
	var res leadscore.SaveScoresResult
	err := db.inTx(ctx, "save scores", func(tx pgx.Tx) error {
		var err error
		res, err = saveScores(ctx, tx, scores, opts, "")
		return err
	})
	if err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	return res, nil
}

// saveScores saves checked scores in tx: SaveScores' work, which a write
// with IngestOptions.Rescore also does before it commits, under savepoint
// sp (when it fails, tx is as it was before). It takes two round trips:
// one batch reads what the scores are saved against (their versions,
// their leads, locked, and the leads' current scores), the other writes.
func saveScores(ctx context.Context, tx pgx.Tx, scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions, sp savepoint) (leadscore.SaveScoresResult, error) {
	now := storeutil.StoredTime(time.Time{})
	ids := make([]string, len(scores))
	for i, s := range scores {
		ids[i] = s.LeadID
	}
	var res leadscore.SaveScoresResult
	type leadRow struct {
		account, owner string
		due            time.Time
	}
	var (
		versions map[leadscore.VersionRef]int64
		leads    = make(map[string]leadRow, len(ids))
		prev     = make(map[string]*leadscore.LeadScoreRecord, len(ids))
		schema   pgtype.Text
	)
	b := &pgx.Batch{}
	sp.open(b)
	versions = queueVersionIDs(b, scores)
	b.Queue(`SELECT id, account_id, owner, due_at FROM leads WHERE id = ANY($1)
ORDER BY id FOR NO KEY UPDATE`, ids).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var account, owner pgtype.Text
			var due pgtype.Timestamptz
			if err := rows.Scan(&id, &account, &owner, &due); err != nil {
				return errorf(err, "lock the leads of scores")
			}
			leads[id] = leadRow{account.String, owner.String, timeOf(due)}
		}
		return errorf(rows.Err(), "lock the leads of scores")
	})
	queueCurrentScores(b, ids, func(r *leadscore.LeadScoreRecord) { prev[r.LeadID] = r })
	b.Queue(`SELECT current_schema()`).QueryRow(func(row pgx.Row) error {
		return errorf(row.Scan(&schema), "read current schema")
	})
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return res, sp.undo(ctx, tx, err)
	}
	versionIDs := make([]int64, len(scores))
	for i, s := range scores {
		if versionIDs[i] = versions[s.Version]; versionIDs[i] == 0 {
			return res, sp.undo(ctx, tx, storeutil.UnknownVersion(i, s.Version))
		}
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
		current.add(s, c, versionIDs[i])
		toHistory, toChanges := storeutil.ScoreTransition(prev[s.LeadID], s, opts.HistoryStep)
		if toHistory {
			res.History++
			history.add(s, c, versionIDs[i])
		}
		if toChanges {
			res.Changes++
			ch := storeutil.ScoreChange(prev[s.LeadID], s, lead.account, lead.owner, now)
			changes.add(prev[s.LeadID], s, c, versionIDs[i], ch)
		}
		dueLeads = append(dueLeads, s.LeadID)
		dueAt = append(dueAt, optionalTime(storeutil.DueAfterScore(lead.due, s.ScoredAt, s.NextDue)))
	}
	if len(changes.leadID) > 0 && !schema.Valid {
		return res, sp.undo(ctx, tx, leadscore.Errorf(leadscore.EPRECONDITION, "no schema on the search_path exists; create it or fix search_path in the database URL"))
	}
	b = &pgx.Batch{}
	if current.len() > 0 {
		b.Queue(`INSERT INTO lead_scores`+scoreInsert+`
ON CONFLICT (lead_id) DO UPDATE SET
    model_version_id = excluded.model_version_id, alias = excluded.alias, probability = excluded.probability,
    score = excluded.score, percentile = excluded.percentile, tier = excluded.tier, grade = excluded.grade,
    level = excluded.level, action = excluded.action, base_value = excluded.base_value,
    raw_output = excluded.raw_output, horizon_us = excluded.horizon_us, factors = excluded.factors,
    scored_at = excluded.scored_at, reason = excluded.reason, next_due = excluded.next_due`, current.args()...)
	}
	if history.len() > 0 {
		b.Queue(`INSERT INTO score_history`+scoreInsert, history.args()...)
	}
	if len(dueLeads) > 0 {
		b.Queue(`UPDATE leads AS l SET due_at = u.due, leased_until = NULL
FROM unnest($1::text[], $2::timestamptz[]) AS u(id, due) WHERE l.id = u.id`, dueLeads, dueAt)
	}
	if len(changes.leadID) > 0 {
		// Taken last, just before the insert, so the lock is held only
		// from here to commit (a write that rescores saves its scores
		// last).
		b.Queue(`SELECT pg_advisory_xact_lock($1)`, changesLockKey(schema.String))
		b.Queue(changeInsert, append(changes.args(), now)...)
	}
	sp.release(b)
	if b.Len() == 0 {
		return res, nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return res, sp.undo(ctx, tx, errorf(err, "save scores"))
	}
	return res, nil
}

// queueVersionIDs queues the look-up of the internal id of each score's
// model version, which fills the returned map when the batch runs; a
// version missing from it is not registered. The versions are locked
// (FOR KEY SHARE) so they cannot be deleted before the scores that refer
// to them commit.
func queueVersionIDs(b *pgx.Batch, scores []leadscore.LeadScoreRecord) map[leadscore.VersionRef]int64 {
	refs := make(map[leadscore.VersionRef]int64)
	var models []string
	var numbers []int64
	for _, s := range scores {
		if _, ok := refs[s.Version]; !ok {
			refs[s.Version] = 0
			models, numbers = append(models, s.Version.Model), append(numbers, s.Version.Version)
		}
	}
	b.Queue(`SELECT m.name, v.version, v.id FROM model_versions v JOIN models m ON m.id = v.model_id
JOIN unnest($1::text[], $2::bigint[]) AS r(name, version) ON r.name = m.name AND r.version = v.version
ORDER BY v.id FOR KEY SHARE OF v`, models, numbers).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var ref leadscore.VersionRef
			var number int32
			var id int64
			if err := rows.Scan(&ref.Model, &number, &id); err != nil {
				return errorf(err, "look up the versions of scores")
			}
			ref.Version = int64(number)
			refs[ref] = id
		}
		return errorf(rows.Err(), "look up the versions of scores")
	})
	return refs
}

// savepoint names a savepoint that a step of a write runs under, so that
// when the step fails the write can go on as if it had not run; "" runs
// the step without one.
type savepoint string

// open queues the savepoint's start as the first statement of b.
func (sp savepoint) open(b *pgx.Batch) {
	if sp != "" {
		b.Queue(`SAVEPOINT ` + string(sp))
	}
}

// release queues the savepoint's release as the last statement of b.
func (sp savepoint) release(b *pgx.Batch) {
	if sp != "" {
		b.Queue(`RELEASE SAVEPOINT ` + string(sp))
	}
}

// undo rolls tx back to the savepoint and releases it after a step failed
// with err, and returns err.
func (sp savepoint) undo(ctx context.Context, tx pgx.Tx, err error) error {
	if sp == "" {
		return err
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), rollbackTimeout)
	defer cancel()
	if _, rerr := tx.Exec(rctx, `ROLLBACK TO SAVEPOINT `+string(sp)+`; RELEASE SAVEPOINT `+string(sp), pgx.QueryExecModeSimpleProtocol); rerr != nil {
		return errorf(rerr, "roll back to savepoint %s after %v", sp, err)
	}
	return err
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
