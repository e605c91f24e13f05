package sqlite

import (
	"context"
	"database/sql"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

// GetAccount and ListAccounts read accounts, the account of every lead
// and the leads' current scores in one read transaction; the roll-ups are
// computed by storeutil. ListAccounts reads every account and every
// scored lead of one, so its cost is linear in them.

// GetAccount implements leadscore.LeadStore.
func (db *DB) GetAccount(ctx context.Context, id string) (leadscore.StoredAccount, error) {
	if err := leadscore.ValidateID("id", id); err != nil {
		return leadscore.StoredAccount{}, err
	}
	var out []leadscore.StoredAccount
	err := db.readTx(ctx, "get account", func(tx *sql.Tx) error {
		var err error
		out, err = readAccounts(ctx, tx, id)
		return err
	})
	if err != nil {
		return leadscore.StoredAccount{}, err
	}
	if len(out) == 0 {
		return leadscore.StoredAccount{}, storeutil.AccountNotFound(id)
	}
	return out[0], nil
}

// ListAccounts implements leadscore.LeadStore.
func (db *DB) ListAccounts(ctx context.Context, bestGrades []leadscore.Grade, page leadscore.AccountPage, limit int) ([]leadscore.StoredAccount, leadscore.AccountPage, error) {
	if err := storeutil.CheckAccountList(bestGrades, page, limit); err != nil {
		return nil, leadscore.AccountPage{}, err
	}
	var all []leadscore.StoredAccount
	err := db.readTx(ctx, "list accounts", func(tx *sql.Tx) error {
		var err error
		all, err = readAccounts(ctx, tx, "")
		return err
	})
	if err != nil {
		return nil, leadscore.AccountPage{}, err
	}
	list, next := storeutil.AccountsPage(all, bestGrades, page, limit)
	return list, next, nil
}

// readAccounts reads the account id, or every account when id is empty,
// with their roll-ups.
func readAccounts(ctx context.Context, q querier, id string) ([]leadscore.StoredAccount, error) {
	where, args := "", []any{}
	if id != "" {
		where, args = " WHERE id = ?", []any{id}
	}
	rows, err := q.QueryContext(ctx, `SELECT id, name, attributes, updated_at FROM accounts`+where+` ORDER BY id`, args...)
	if err != nil {
		return nil, errorf(err, "read accounts")
	}
	defer rows.Close()
	var accounts []leadscore.Account
	for rows.Next() {
		var a leadscore.Account
		var attrs []byte
		var updatedAt int64
		if err := rows.Scan(&a.ID, &a.Name, &attrs, &updatedAt); err != nil {
			return nil, errorf(err, "read accounts")
		}
		a.UpdatedAt = timeOf(updatedAt)
		if a.Attributes, err = leadscore.ParseAttributesJSON(attrs); err != nil {
			return nil, leadscore.Errorf(leadscore.EINTERNAL, "read account %q: %w", a.ID, err)
		}
		accounts = append(accounts, a)
	}
	if err := rows.Err(); err != nil {
		return nil, errorf(err, "read accounts")
	}
	if len(accounts) == 0 {
		return nil, nil
	}
	leadWhere := " WHERE account_id IS NOT NULL"
	if id != "" {
		leadWhere = " WHERE account_id = ?"
	}
	leadAccount := make(map[string]string)
	lrows, err := q.QueryContext(ctx, `SELECT id, account_id FROM leads`+leadWhere, args...)
	if err != nil {
		return nil, errorf(err, "read leads of accounts")
	}
	defer lrows.Close()
	for lrows.Next() {
		var lead, acc string
		if err := lrows.Scan(&lead, &acc); err != nil {
			return nil, errorf(err, "read leads of accounts")
		}
		leadAccount[lead] = acc
	}
	if err := lrows.Err(); err != nil {
		return nil, errorf(err, "read leads of accounts")
	}
	scoreWhere := " WHERE l.account_id IS NOT NULL"
	if id != "" {
		scoreWhere = " WHERE l.account_id = ?"
	}
	srows, err := q.QueryContext(ctx, `SELECT `+listScoreColumns+` FROM lead_scores`+scoreJoin+` JOIN leads l ON l.id = s.lead_id`+scoreWhere, args...)
	if err != nil {
		return nil, errorf(err, "read scores of accounts")
	}
	defer srows.Close()
	var scores []leadscore.LeadScoreRecord
	for srows.Next() {
		r, err := scanScore(srows)
		if err != nil {
			return nil, errorf(err, "read scores of accounts")
		}
		scores = append(scores, r)
	}
	if err := srows.Err(); err != nil {
		return nil, errorf(err, "read scores of accounts")
	}
	return storeutil.AccountRollups(accounts, leadAccount, scores), nil
}
