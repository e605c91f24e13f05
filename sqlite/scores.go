package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// The LeadStore's scores: saving current scores with their history and
// change log, and reading those back.

// SaveScores implements leadscore.LeadStore.
func (db *DB) SaveScores(ctx context.Context, scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error) {
	if err := storeutil.CheckScores(scores, opts); err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	var res leadscore.SaveScoresResult
	err := db.inTx(ctx, "save scores", func(tx *sql.Tx) error {
		var err error
		res, err = saveScores(ctx, tx, scores, opts)
		return err
	})
	if err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	return res, nil
}

// saveScores saves checked scores in tx: SaveScores' work, which a write
// with IngestOptions.Rescore also does before it commits.
func saveScores(ctx context.Context, tx *sql.Tx, scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error) {
	now := storeutil.StoredTime(time.Time{})
	var res leadscore.SaveScoresResult
	versions, err := versionIDs(ctx, tx, scores)
	if err != nil {
		return res, err
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
		return res, errorf(err, "read the leads of scores")
	}
	for rows.Next() {
		var id string
		var account, owner sql.NullString
		var due sql.NullInt64
		if err := rows.Scan(&id, &account, &owner, &due); err != nil {
			rows.Close()
			return res, errorf(err, "read the leads of scores")
		}
		leads[id] = leadRow{account.String, owner.String, optionalTimeOf(due)}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return res, errorf(err, "read the leads of scores")
	}
	prev, err := currentScores(ctx, tx, ids)
	if err != nil {
		return res, err
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
			return res, errorf(err, "save current scores")
		}
	}
	if len(history) > 0 {
		_, err := tx.ExecContext(ctx, `INSERT INTO score_history (lead_id, model_version_id, alias, probability, score,
    percentile, tier, grade, level, action, base_value, raw_output, horizon_us, factors, scored_at, reason, next_due)
VALUES `+valuesList(len(history)/scoreCols, scoreCols), history...)
		if err != nil {
			return res, errorf(err, "save score history")
		}
	}
	if len(changes) > 0 {
		const changeCols = 20
		_, err := tx.ExecContext(ctx, `INSERT INTO score_changes (lead_id, account_id, owner, old_tier, old_cell,
    new_tier, new_cell, model_version_id, alias, probability, score, percentile, action, base_value, raw_output,
    horizon_us, reason, scored_at, next_due, changed_at)
VALUES `+valuesList(len(changes)/changeCols, changeCols), changes...)
		if err != nil {
			return res, errorf(err, "save score changes")
		}
	}
	return res, setDue(ctx, tx, due)
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
