package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
)

var _ leadscore.APIKeyStore = (*DB)(nil)

const apiKeyColumns = `id, name, scopes, created_at, created_by, expires_at, revoked_at, revoked_by`

func scanAPIKey(row scanner, extra ...any) (leadscore.APIKey, error) {
	var k leadscore.APIKey
	var scopes string
	var created int64
	var expires, revoked sql.NullInt64
	var revokedBy sql.NullString
	err := row.Scan(append([]any{&k.ID, &k.Name, &scopes, &created, &k.CreatedBy, &expires, &revoked, &revokedBy}, extra...)...)
	if err != nil {
		return k, err
	}
	k.CreatedAt, k.ExpiresAt, k.RevokedAt, k.RevokedBy = timeOf(created), optionalTimeOf(expires), optionalTimeOf(revoked), revokedBy.String
	k.Scopes, err = storeutil.ParseStoredScopes(scopes)
	return k, err
}

// CreateAPIKey implements leadscore.APIKeyStore.
func (db *DB) CreateAPIKey(ctx context.Context, key leadscore.APIKey, secretSHA256 []byte) (leadscore.APIKey, error) {
	k, err := storeutil.NewAPIKey(key, secretSHA256)
	if err != nil {
		return leadscore.APIKey{}, err
	}
	_, err = db.db.ExecContext(ctx, `INSERT INTO api_keys (id, name, secret_sha256, scopes, created_at, created_by, expires_at)
VALUES (?, ?, ?, ?, ?, ?, ?)`, k.ID, k.Name, secretSHA256, leadscore.FormatScopes(k.Scopes), micros(k.CreatedAt), k.CreatedBy, optionalMicros(k.ExpiresAt))
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
	k, err := scanAPIKey(db.db.QueryRowContext(ctx, `SELECT `+apiKeyColumns+`, secret_sha256 FROM api_keys WHERE id = ?`, id), &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return leadscore.APIKey{}, nil, storeutil.APIKeyNotFound(id)
	}
	if err != nil {
		return leadscore.APIKey{}, nil, errorf(err, "read API key %s", id)
	}
	return k, hash, nil
}

// ListAPIKeys implements leadscore.APIKeyStore.
func (db *DB) ListAPIKeys(ctx context.Context) ([]leadscore.APIKey, error) {
	rows, err := db.db.QueryContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY name`)
	keys, err := collect(rows, err, func(r *sql.Rows) (leadscore.APIKey, error) { return scanAPIKey(r) })
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
	err := db.inTx(ctx, "revoke API key", func(tx *sql.Tx) error {
		var err error
		k, err = scanAPIKey(tx.QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE name = ?`, name))
		if errors.Is(err, sql.ErrNoRows) {
			return storeutil.APIKeyNotFound(`"` + name + `"`)
		}
		if err != nil {
			return errorf(err, "read API key %q", name)
		}
		if err := storeutil.Revoke(&k, at, actor); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ?`, micros(k.RevokedAt), actor, k.ID)
		return errorf(err, "revoke API key %q", name)
	})
	if err != nil {
		return leadscore.APIKey{}, err
	}
	return k, nil
}
