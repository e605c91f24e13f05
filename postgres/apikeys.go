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

var _ leadscore.APIKeyStore = (*DB)(nil)

const apiKeyColumns = `id, name, scopes, created_at, created_by, expires_at, revoked_at, revoked_by`

func scanAPIKey(row pgx.Row, extra ...any) (leadscore.APIKey, error) {
	var k leadscore.APIKey
	var scopes string
	var expires, revoked pgtype.Timestamptz
	var revokedBy pgtype.Text
	err := row.Scan(append([]any{&k.ID, &k.Name, &scopes, &k.CreatedAt, &k.CreatedBy, &expires, &revoked, &revokedBy}, extra...)...)
	if err != nil {
		return k, err
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.RevokedBy = k.CreatedAt.UTC(), timeOf(expires), timeOf(revoked), revokedBy.String
	k.Scopes, err = storeutil.ParseStoredScopes(scopes)
	return k, err
}

// CreateAPIKey implements leadscore.APIKeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, key leadscore.APIKey, secretSHA256 []byte) (leadscore.APIKey, error) {
	k, err := storeutil.NewAPIKey(key, secretSHA256)
	if err != nil {
		return leadscore.APIKey{}, err
	}
	_, err = db.pool.Exec(ctx, `INSERT INTO api_keys (id, name, secret_sha256, scopes, created_at, created_by, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)`, k.ID, k.Name, secretSHA256, leadscore.FormatScopes(k.Scopes), k.CreatedAt, k.CreatedBy, optionalTime(k.ExpiresAt))
	if err != nil {
		return leadscore.APIKey{}, errorf(err, "create API key %q", k.Name)
	}
	return k, nil
}

// APIKey implements leadscore.APIKeyStore.
func (db *DB) APIKey(ctx context.Context, id string) (leadscore.APIKey, []byte, error) {
	if err := storeutil.CheckAPIKeyID(id); err != nil {
		return leadscore.APIKey{}, nil, err
	}
	var hash []byte
	k, err := scanAPIKey(db.pool.QueryRow(ctx, `SELECT `+apiKeyColumns+`, secret_sha256 FROM api_keys WHERE id = $1`, id), &hash)
	if errors.Is(err, pgx.ErrNoRows) {
		return leadscore.APIKey{}, nil, storeutil.APIKeyNotFound(id)
	}
	if err != nil {
		return leadscore.APIKey{}, nil, errorf(err, "read API key %s", id)
	}
	return k, hash, nil
}

// ListAPIKeys implements leadscore.APIKeyStore.
func (db *DB) ListAPIKeys(ctx context.Context) ([]leadscore.APIKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name`)
	if err != nil {
		return nil, errorf(err, "list API keys")
	}
	keys, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (leadscore.APIKey, error) { return scanAPIKey(row) })
	if err != nil {
		return nil, errorf(err, "list API keys")
	}
	return keys, nil
}

// RevokeAPIKey implements leadscore.APIKeyStore.
func (db *DB) RevokeAPIKey(ctx context.Context, name string, at time.Time, actor string) (leadscore.APIKey, error) {
	if err := storeutil.CheckRevoke(name, actor); err != nil {
		return leadscore.APIKey{}, err
	}
	var k leadscore.APIKey
	err := db.inTx(ctx, "revoke API key", func(tx pgx.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRow(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE name = $1 FOR UPDATE`, name))
		if errors.Is(err, pgx.ErrNoRows) {
			return storeutil.APIKeyNotFound(`"` + name + `"`)
		}
		if err != nil {
			return errorf(err, "read API key %q", name)
		}
		if err := storeutil.Revoke(&k, at, actor); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE api_keys SET revoked_at = $2, revoked_by = $3 WHERE id = $1`, k.ID, k.RevokedAt, actor)
		return errorf(err, "revoke API key %q", name)
	})
	if err != nil {
		return leadscore.APIKey{}, err
	}
	return k, nil
}
