package postgres

import (
	"context"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// ListLeads reads its page in one read-only snapshot: the leads in order
// (keyset, through the indexes of migration 0006), then their outcomes
// and scores by id.

// listLeadColumns are leadColumns of the leads table as l.
const listLeadColumns = `l.id, l.account_id, l.owner, l.attributes, l.created_at, l.updated_at`

// listScoreColumns are scoreColumns without the factors, which a listing
// does not return.
var listScoreColumns = strings.Replace(scoreColumns, "s.factors", "NULL::bytea", 1)

// sqlArgs numbers a statement's parameters as they are added.
type sqlArgs []any

func (a *sqlArgs) add(v any) string {
	*a = append(*a, v)
	return "$" + strconv.Itoa(len(*a))
}

// leadFilterSQL is f's conditions on leads (l) and their scores (s), each
// starting with " AND ".
func leadFilterSQL(f leadscore.LeadFilter, a *sqlArgs) string {
	var b strings.Builder
	if len(f.Tiers) > 0 {
		b.WriteString(" AND s.tier = ANY(" + a.add(storeutil.TierNames(f)) + ")")
	}
	if len(f.Cells) > 0 {
		b.WriteString(" AND (")
		for i, c := range f.Cells {
			if i > 0 {
				b.WriteString(" OR ")
			}
			b.WriteString("(s.grade = " + a.add(c.Grade.String()) + " AND s.level = " + a.add(int32(c.Level)) + ")")
		}
		b.WriteString(")")
	}
	if len(f.Actions) > 0 {
		b.WriteString(" AND s.action = ANY(" + a.add(f.Actions) + ")")
	}
	if f.AccountID != "" {
		b.WriteString(" AND l.account_id = " + a.add(f.AccountID))
	}
	if f.Owner != "" {
		b.WriteString(" AND l.owner = " + a.add(f.Owner))
	}
	return b.String()
}

// ListLeads implements leadscore.LeadStore.
func (db *DB) ListLeads(ctx context.Context, f leadscore.LeadFilter, page leadscore.LeadPage, limit int) ([]leadscore.StoredLead, leadscore.LeadPage, error) {
	if err := storeutil.CheckLeadList(f, page, limit); err != nil {
		return nil, leadscore.LeadPage{}, err
	}
	var out []leadscore.StoredLead
	err := db.readTx(ctx, "list leads", func(tx pgx.Tx) error {
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
// without their outcomes and scores.
func listLeads(ctx context.Context, q querier, f leadscore.LeadFilter, page leadscore.LeadPage, n int) ([]leadscore.StoredLead, error) {
	var a sqlArgs
	var query string
	switch f.Order {
	case leadscore.LeadsByUpdate:
		join := " LEFT JOIN"
		if storeutil.ScoreFiltered(f) {
			join = " JOIN"
		}
		query = `SELECT ` + listLeadColumns + ` FROM leads l` + join + ` lead_scores s ON s.lead_id = l.id WHERE true`
		if page.LeadID != "" {
			t, id := a.add(page.UpdatedAt), a.add(page.LeadID)
			query += ` AND l.updated_at <= ` + t + ` AND (l.updated_at < ` + t + ` OR l.id > ` + id + `)`
		}
		query += leadFilterSQL(f, &a) + ` ORDER BY l.updated_at DESC, l.id LIMIT ` + a.add(n)
		return readListed(ctx, q, query, a)
	default:
		var out []leadscore.StoredLead
		if page.LeadID == "" || page.Scored {
			// The scored leads, by probability: the bound on probability
			// alone is what the index scan starts from.
			query = `SELECT ` + listLeadColumns + ` FROM lead_scores s JOIN leads l ON l.id = s.lead_id WHERE true`
			if page.LeadID != "" {
				p, id := a.add(page.Probability), a.add(page.LeadID)
				query += ` AND s.probability <= ` + p + ` AND (s.probability < ` + p + ` OR s.lead_id > ` + id + `)`
			}
			query += leadFilterSQL(f, &a) + ` ORDER BY s.probability DESC, s.lead_id LIMIT ` + a.add(n)
			var err error
			if out, err = readListed(ctx, q, query, a); err != nil {
				return nil, err
			}
		}
		if len(out) == n || storeutil.ScoreFiltered(f) {
			return out, nil
		}
		// Then the leads without a score, by id.
		a = a[:0]
		query = `SELECT ` + listLeadColumns + ` FROM leads l WHERE NOT EXISTS (SELECT 1 FROM lead_scores s WHERE s.lead_id = l.id)`
		if page.LeadID != "" && !page.Scored {
			query += ` AND l.id > ` + a.add(page.LeadID)
		}
		query += leadFilterSQL(f, &a) + ` ORDER BY l.id LIMIT ` + a.add(n-len(out))
		rest, err := readListed(ctx, q, query, a)
		if err != nil {
			return nil, err
		}
		return append(out, rest...), nil
	}
}

func readListed(ctx context.Context, q querier, query string, args []any) ([]leadscore.StoredLead, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, errorf(err, "list leads")
	}
	defer rows.Close()
	var out []leadscore.StoredLead
	for rows.Next() {
		l, updated, err := scanLead(rows)
		if err != nil {
			return nil, errorf(err, "list leads")
		}
		out = append(out, leadscore.StoredLead{Lead: l, UpdatedAt: updated})
	}
	return out, errorf(rows.Err(), "list leads")
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
	rows, err := q.Query(ctx, `SELECT lead_id, status, occurred_at, amount, currency FROM outcomes WHERE lead_id = ANY($1)`, ids)
	if err != nil {
		return errorf(err, "list leads: read outcomes")
	}
	for rows.Next() {
		var o leadscore.Outcome
		var status string
		var amount pgtype.Float8
		var currency pgtype.Text
		if err := rows.Scan(&o.LeadID, &status, &o.OccurredAt, &amount, &currency); err != nil {
			rows.Close()
			return errorf(err, "list leads: read outcomes")
		}
		if o.Status, err = leadscore.ParseOutcomeStatus("status", status); err != nil {
			rows.Close()
			return leadscore.Errorf(leadscore.EINTERNAL, "list leads: the outcome of %s: %w", leadscore.LeadName(o.LeadID), err)
		}
		o.OccurredAt, o.Amount, o.Currency = o.OccurredAt.UTC(), amount.Float64, currency.String
		leads[index[o.LeadID]].Outcome = &o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return errorf(err, "list leads: read outcomes")
	}
	rows, err = q.Query(ctx, `SELECT `+listScoreColumns+` FROM lead_scores`+scoreJoin+` WHERE s.lead_id = ANY($1)`, ids)
	if err != nil {
		return errorf(err, "list leads: read scores")
	}
	defer rows.Close()
	for rows.Next() {
		r, err := scanScore(rows)
		if err != nil {
			return errorf(err, "list leads: read scores")
		}
		leads[index[r.LeadID]].Score = &r
	}
	return errorf(rows.Err(), "list leads: read scores")
}
