package sqlite

import (
	"context"
	"database/sql"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// ListLeads reads its page in one read transaction: the leads in order
// (keyset, through the indexes of migration 0006), then their outcomes
// and scores by id.

// listLeadColumns are leadColumns of the leads table as l.
const listLeadColumns = `l.id, l.account_id, l.owner, l.attributes, l.created_at, l.updated_at`

// listScoreColumns are scoreColumns without the factors, which a listing
// does not return.
var listScoreColumns = strings.Replace(scoreColumns, "s.factors", "NULL", 1)

// leadFilterSQL is f's conditions on leads (l) and their scores (s), each
// starting with " AND ", with their arguments appended to args.
func leadFilterSQL(f leadscore.LeadFilter, args *[]any) string {
	var b strings.Builder
	if len(f.Tiers) > 0 {
		b.WriteString(" AND s.tier IN " + idSet)
		*args = append(*args, jsonIDs(storeutil.TierNames(f)))
	}
	if len(f.Cells) > 0 {
		b.WriteString(" AND (")
		for i, c := range f.Cells {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(s.grade = ? AND s.level = ?)")
			*args = append(*args, c.Grade.String(), int64(c.Level))
		}
		b.WriteString(")")
	}
	if len(f.Actions) > 0 {
		b.WriteString(" AND s.action IN " + idSet)
		*args = append(*args, jsonIDs(f.Actions))
	}
	if f.AccountID != "" {
		b.WriteString(" AND l.account_id = ?")
		*args = append(*args, f.AccountID)
	}
	if f.Owner != "" {
		b.WriteString(" AND l.owner = ?")
		*args = append(*args, f.Owner)
	}
	return b.String()
}

// ListLeads implements leadscore.LeadStore.
func (db *DB) ListLeads(ctx context.Context, f leadscore.LeadFilter, page leadscore.LeadPage, limit int) ([]leadscore.StoredLead, leadscore.LeadPage, error) {
	if err := storeutil.CheckLeadList(f, page, limit); err != nil {
		return nil, leadscore.LeadPage{}, err
	}
	var out []leadscore.StoredLead
	err := db.readTx(ctx, "list leads", func(tx *sql.Tx) error {
		var err error
		out, err = listLeads(ctx, tx, f, page, limit+1)
		if err != nil {
			return err
		}
		return attachListed(ctx, tx, out)
	})
	if err != nil {
		return nil, leadscore.LeadPage{}, err
	}
	list, next := storeutil.ListPage(out, limit)
	return list, next, nil
}

// listLeads reads up to n leads of a listing after page, in its order,
// without their outcomes and scores. Parameters are positional, so each
// statement's arguments are appended in the order its text names them.
func listLeads(ctx context.Context, q querier, f leadscore.LeadFilter, page leadscore.LeadPage, n int) ([]leadscore.StoredLead, error) {
	var args []any
	var query string
	switch f.Order {
	case leadscore.LeadsByUpdate:
		join := " LEFT JOIN"
		if storeutil.ScoreFiltered(f) {
			join = " JOIN"
		}
		query = `SELECT ` + listLeadColumns + ` FROM leads l` + join + ` lead_scores s ON s.lead_id = l.id WHERE true`
		if page.LeadID != "" {
			t := micros(page.UpdatedAt)
			query += ` AND l.updated_at <= ? AND (l.updated_at < ? OR l.id > ?)`
			args = append(args, t, t, page.LeadID)
		}
		query += leadFilterSQL(f, &args) + ` ORDER BY l.updated_at DESC, l.id LIMIT ?`
		return readListed(ctx, q, query, append(args, n))
	default:
		var out []leadscore.StoredLead
		if page.LeadID == "" || page.Scored {
			// The scored leads, by probability: the bound on probability
			// alone is what the index scan starts from.
			query = `SELECT ` + listLeadColumns + ` FROM lead_scores s JOIN leads l ON l.id = s.lead_id WHERE true`
			if page.LeadID != "" {
				query += ` AND s.probability <= ? AND (s.probability < ? OR s.lead_id > ?)`
				args = append(args, page.Probability, page.Probability, page.LeadID)
			}
			query += leadFilterSQL(f, &args) + ` ORDER BY s.probability DESC, s.lead_id LIMIT ?`
			var err error
			if out, err = readListed(ctx, q, query, append(args, n)); err != nil {
				return nil, err
			}
		}
		if len(out) == n || storeutil.ScoreFiltered(f) {
			return out, nil
		}
		// Then the leads without a score, by id.
		args = args[:0]
		query = `SELECT ` + listLeadColumns + ` FROM leads l WHERE NOT EXISTS (SELECT 1 FROM lead_scores s WHERE s.lead_id = l.id)`
		if page.LeadID != "" && !page.Scored {
			query += ` AND l.id > ?`
			args = append(args, page.LeadID)
		}
		query += leadFilterSQL(f, &args) + ` ORDER BY l.id LIMIT ?`
		rest, err := readListed(ctx, q, query, append(args, n-len(out)))
		if err != nil {
			return nil, err
		}
		return append(out, rest...), nil
	}
}

func readListed(ctx context.Context, q querier, query string, args []any) ([]leadscore.StoredLead, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	out, err := collect(rows, err, func(rows *sql.Rows) (leadscore.StoredLead, error) {
		l, updated, err := scanLead(rows)
		return leadscore.StoredLead{Lead: l, UpdatedAt: updated}, err
	})
	if err != nil {
		return nil, errorf(err, "list leads")
	}
	return out, nil
}

// attachListed reads the outcomes and current scores (without factors)
// of listed leads.
func attachListed(ctx context.Context, q querier, leads []leadscore.StoredLead) error {
	if len(leads) == 0 {
		return nil
	}
	ids := make([]string, len(leads))
	index := make(map[string]int, len(leads))
	for i, l := range leads {
		ids[i], index[l.Lead.ID] = l.Lead.ID, i
	}
	rows, err := q.QueryContext(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes WHERE lead_id IN `+idSet, jsonIDs(ids))
	outcomes, err := collect(rows, err, func(rows *sql.Rows) (leadscore.Outcome, error) {
		var o leadscore.Outcome
		var status string
		var occurredAt int64
		var amount sql.NullFloat64
		var currency sql.NullString
		if err := rows.Scan(&o.LeadID, &status, &occurredAt, &amount, &currency); err != nil {
			return o, err
		}
		var err error
		if o.Status, err = leadscore.ParseOutcomeStatus("status", status); err != nil {
			return o, leadscore.Errorf(leadscore.EINTERNAL, "the outcome of %s: %w", leadscore.LeadName(o.LeadID), err)
		}
		o.OccurredAt, o.Amount, o.Currency = timeOf(occurredAt), amount.Float64, currency.String
		return o, nil
	})
	if err != nil {
		return errorf(err, "list leads: read outcomes")
	}
	for i := range outcomes {
		leads[index[outcomes[i].LeadID]].Outcome = &outcomes[i]
	}
	rows, err = q.QueryContext(ctx, `SELECT `+listScoreColumns+` FROM lead_scores`+scoreJoin+` WHERE s.lead_id IN `+idSet, jsonIDs(ids))
	scores, err := collect(rows, err, func(rows *sql.Rows) (leadscore.LeadScoreRecord, error) { return scanScore(rows) })
	if err != nil {
		return errorf(err, "list leads: read scores")
	}
	for i := range scores {
		leads[index[scores[i].LeadID]].Score = &scores[i]
	}
	return nil
}
