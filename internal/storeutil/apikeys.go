package storeutil

import (
	"regexp"
	"time"

	"github.com/leadscore/leadscore"
)

// The API key rules both backends follow: what a new key must hold, how
// its scopes are stored, and the errors of a missing or revoked key.

// apiKeyID is the shape of a key's public id: 16 lower-case hex digits.
var apiKeyID = regexp.MustCompile(`^[0-9a-f]{16}$`)

// NewAPIKey checks a key and the SHA-256 of its secret as CreateAPIKey
// stores them, and returns the key with its times as stored and no
// revocation.
func NewAPIKey(k leadscore.APIKey, secretSHA256 []byte) (leadscore.APIKey, error) {
	if !apiKeyID.MatchString(k.ID) {
		return leadscore.APIKey{}, leadscore.InvalidField("id", k.ID, "must be 16 lower-case hex digits")
	}
	if err := CheckAPIKeyName("name", k.Name); err != nil {
		return leadscore.APIKey{}, err
	}
	if len(k.Scopes) == 0 {
		return leadscore.APIKey{}, leadscore.InvalidField("scopes", "", "must name at least one scope")
	}
	if _, err := leadscore.ParseScopes("scopes", leadscore.FormatScopes(k.Scopes)); err != nil {
		return leadscore.APIKey{}, err
	}
	if len(secretSHA256) != 32 {
		return leadscore.APIKey{}, leadscore.InvalidField("secret_sha256", len(secretSHA256), "must be a SHA-256 of 32 bytes")
	}
	if err := CheckActor("created_by", k.CreatedBy); err != nil {
		return leadscore.APIKey{}, err
	}
	k.CreatedAt = StoredTime(k.CreatedAt)
	if !k.ExpiresAt.IsZero() {
		k.ExpiresAt = StoredTime(k.ExpiresAt)
		if !k.ExpiresAt.After(k.CreatedAt) {
			return leadscore.APIKey{}, leadscore.InvalidField("expires_at", k.ExpiresAt.Format(time.RFC3339), "must be after the key's creation")
		}
	}
	k.RevokedAt, k.RevokedBy = time.Time{}, ""
	return k, nil
}

// CheckAPIKeyName checks the name of a key: a slug, as model ids are, so
// it reads plainly as an actor in the audit trail.
func CheckAPIKeyName(field, name string) error {
	return leadscore.ValidateSlug(field, name)
}

// CheckAPIKeyID checks an id a key is looked up by.
func CheckAPIKeyID(id string) error {
	if !apiKeyID.MatchString(id) {
		return leadscore.InvalidField("id", id, "must be 16 lower-case hex digits")
	}
	return nil
}

// CheckActor checks who makes a change: not blank.
func CheckActor(field, actor string) error {
	if actor == "" {
		return leadscore.InvalidField(field, actor, "is required")
	}
	return nil
}

// APIKeyNotFound is the error for a key id or name the store does not hold.
func APIKeyNotFound(what string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "API key %s not found", what)
}

// CheckRevoke checks the arguments of RevokeAPIKey.
func CheckRevoke(name, actor string) error {
	if err := CheckAPIKeyName("name", name); err != nil {
		return err
	}
	return CheckActor("actor", actor)
}

// Revoke revokes the stored key k at a time by an actor, as RevokeAPIKey
// records it; a key revoked already is EPRECONDITION saying when and by
// whom.
func Revoke(k *leadscore.APIKey, at time.Time, actor string) error {
	if !k.RevokedAt.IsZero() {
		return leadscore.Errorf(leadscore.EPRECONDITION, "API key %q was revoked at %s by %s", k.Name, k.RevokedAt.Format(time.RFC3339), k.RevokedBy)
	}
	k.RevokedAt, k.RevokedBy = StoredTime(at), actor
	return nil
}

// ParseStoredScopes reads the scopes column of a stored key.
func ParseStoredScopes(s string) ([]leadscore.Scope, error) {
	scopes, err := leadscore.ParseScopes("scopes", s)
	if err != nil {
		return nil, leadscore.Errorf(leadscore.EINTERNAL, "read API key: %w", err)
	}
	return scopes, nil
}
