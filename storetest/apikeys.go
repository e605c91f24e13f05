package storetest

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// RunAPIKeys runs the conformance suite of leadscore.APIKeyStore. open must
// return a new, empty, migrated store that shares nothing with any other
// store open returned, and arrange for its cleanup.
func RunAPIKeys(t *testing.T, open func(t *testing.T) leadscore.APIKeyStore) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, s leadscore.APIKeyStore)
	}{
		{"created key reads back by id with its secret's hash", testAPIKeyRoundTrip},
		{"taken id or name is a conflict, revoked names included", testAPIKeyConflict},
		{"malformed keys are refused naming the field", testAPIKeyInvalid},
		{"revoked key records who and when and cannot be revoked again", testAPIKeyRevoke},
		{"keys list by name with revoked ones", testListAPIKeys},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.test(t, open(t))
		})
	}
}

// storedMinute is minute(n) as a store keeps it, to the microsecond.
func storedMinute(n int) time.Time { return minute(n).Truncate(time.Microsecond) }

func apiKey(id, name string, scopes ...leadscore.Scope) leadscore.APIKey {
	return leadscore.APIKey{ID: id, Name: name, Scopes: scopes, CreatedAt: minute(0), CreatedBy: "ops"}
}

func secretHash(s string) []byte {
	h := sha256.Sum256([]byte(s))
	return h[:]
}

func createAPIKey(t *testing.T, s leadscore.APIKeyStore, k leadscore.APIKey, secret string) leadscore.APIKey {
	t.Helper()
	got, err := s.CreateAPIKey(t.Context(), k, secretHash(secret))
	if err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.Name, err)
	}
	return got
}

func testAPIKeyRoundTrip(t *testing.T, s leadscore.APIKeyStore) {
	k := apiKey("0123456789abcdef", "crm", leadscore.ScopeScore, leadscore.ScopeLeadsWrite)
	k.ExpiresAt = minute(60)
	created := createAPIKey(t, s, k, "s3cret")
	got, hash, err := s.APIKey(t.Context(), k.ID)
	if err != nil {
		t.Fatalf("APIKey(): %v", err)
	}
	if !bytes.Equal(hash, secretHash("s3cret")) {
		t.Errorf("APIKey() hash = %x, want the stored one", hash)
	}
	if got.Name != "crm" || leadscore.FormatScopes(got.Scopes) != "score,leads:write" || !got.CreatedAt.Equal(storedMinute(0)) ||
		got.CreatedBy != "ops" || !got.ExpiresAt.Equal(storedMinute(60)) || !got.RevokedAt.IsZero() || got.RevokedBy != "" {
		t.Errorf("APIKey() = %+v, want %+v", got, created)
	}
	if !got.Active(minute(59)) || got.Active(minute(60)) {
		t.Errorf("Active() of a key expiring at minute 60: at 59 %v, at 60 %v; want true, false", got.Active(minute(59)), got.Active(minute(60)))
	}
	_, _, err = s.APIKey(t.Context(), "fedcba9876543210")
	wantCode(t, "APIKey(unknown id)", err, leadscore.ENOTFOUND)
}

func testAPIKeyConflict(t *testing.T, s leadscore.APIKeyStore) {
	createAPIKey(t, s, apiKey("0123456789abcdef", "crm", leadscore.ScopeScore), "a")
	_, err := s.CreateAPIKey(t.Context(), apiKey("0123456789abcdef", "other", leadscore.ScopeScore), secretHash("b"))
	wantCode(t, "CreateAPIKey(taken id)", err, leadscore.ECONFLICT)
	_, err = s.CreateAPIKey(t.Context(), apiKey("1123456789abcdef", "crm", leadscore.ScopeScore), secretHash("b"))
	wantCode(t, "CreateAPIKey(taken name)", err, leadscore.ECONFLICT)
	if _, err := s.RevokeAPIKey(t.Context(), "crm", minute(1), "ops"); err != nil {
		t.Fatalf("RevokeAPIKey(): %v", err)
	}
	_, err = s.CreateAPIKey(t.Context(), apiKey("2123456789abcdef", "crm", leadscore.ScopeScore), secretHash("c"))
	wantCode(t, "CreateAPIKey(name of a revoked key)", err, leadscore.ECONFLICT)
}

func testAPIKeyInvalid(t *testing.T, s leadscore.APIKeyStore) {
	expired := apiKey("0123456789abcdef", "crm", leadscore.ScopeScore)
	expired.ExpiresAt = minute(0)
	noActor := apiKey("0123456789abcdef", "crm", leadscore.ScopeScore)
	noActor.CreatedBy = ""
	tests := []struct {
		name  string
		key   leadscore.APIKey
		hash  []byte
		field string
	}{
		{"id not hex", apiKey("0123456789ABCDEF", "crm", leadscore.ScopeScore), secretHash("a"), "id"},
		{"name not a slug", apiKey("0123456789abcdef", "CRM Service", leadscore.ScopeScore), secretHash("a"), "name"},
		{"no scopes", apiKey("0123456789abcdef", "crm"), secretHash("a"), "scopes"},
		{"unknown scope", apiKey("0123456789abcdef", "crm", "root"), secretHash("a"), "scopes"},
		{"repeated scope", apiKey("0123456789abcdef", "crm", leadscore.ScopeScore, leadscore.ScopeScore), secretHash("a"), "scopes"},
		{"short hash", apiKey("0123456789abcdef", "crm", leadscore.ScopeScore), []byte("short"), "secret_sha256"},
		{"expiry not after creation", expired, secretHash("a"), "expires_at"},
		{"no creator", noActor, secretHash("a"), "created_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.CreateAPIKey(t.Context(), tt.key, tt.hash)
			wantField(t, "CreateAPIKey("+tt.name+")", err, tt.field)
		})
	}
	if keys, err := s.ListAPIKeys(t.Context()); err != nil || len(keys) != 0 {
		t.Errorf("ListAPIKeys() after refused keys = %v, %v; want none", keys, err)
	}
}

func testAPIKeyRevoke(t *testing.T, s leadscore.APIKeyStore) {
	createAPIKey(t, s, apiKey("0123456789abcdef", "crm", leadscore.ScopeScore), "a")
	got, err := s.RevokeAPIKey(t.Context(), "crm", minute(5), "alice")
	if err != nil || !got.RevokedAt.Equal(storedMinute(5)) || got.RevokedBy != "alice" || got.Active(minute(4)) {
		t.Fatalf("RevokeAPIKey() = %+v, %v; want revoked at minute 5 by alice, inactive", got, err)
	}
	read, _, err := s.APIKey(t.Context(), "0123456789abcdef")
	if err != nil || !read.RevokedAt.Equal(storedMinute(5)) || read.RevokedBy != "alice" {
		t.Fatalf("APIKey() after revoking = %+v, %v; want the revocation", read, err)
	}
	_, err = s.RevokeAPIKey(t.Context(), "crm", minute(6), "bob")
	wantCode(t, "RevokeAPIKey(revoked)", err, leadscore.EPRECONDITION)
	_, err = s.RevokeAPIKey(t.Context(), "nobody", minute(6), "bob")
	wantCode(t, "RevokeAPIKey(unknown)", err, leadscore.ENOTFOUND)
	_, err = s.RevokeAPIKey(t.Context(), "crm", minute(6), "")
	wantField(t, "RevokeAPIKey(no actor)", err, "actor")
}

func testListAPIKeys(t *testing.T, s leadscore.APIKeyStore) {
	createAPIKey(t, s, apiKey("0123456789abcdef", "zeta", leadscore.ScopeAdmin), "a")
	createAPIKey(t, s, apiKey("1123456789abcdef", "alpha", leadscore.ScopeScore), "b")
	if _, err := s.RevokeAPIKey(t.Context(), "zeta", minute(1), "ops"); err != nil {
		t.Fatalf("RevokeAPIKey(): %v", err)
	}
	keys, err := s.ListAPIKeys(t.Context())
	if err != nil || len(keys) != 2 || keys[0].Name != "alpha" || keys[1].Name != "zeta" || keys[1].RevokedAt.IsZero() {
		t.Fatalf("ListAPIKeys() = %+v, %v; want alpha, then zeta revoked", keys, err)
	}
}
