package auth_test

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
	"github.com/leadscore/leadscore/auth/authtest"
	"github.com/leadscore/leadscore/sqlite"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// clock is a settable test clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func keyStore(t testing.TB) leadscore.APIKeyStore {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "keys.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	if _, err := db.Migrate(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return db
}

func createKey(t *testing.T, s leadscore.APIKeyStore, name string, expires time.Time, scopes ...leadscore.Scope) string {
	t.Helper()
	return authtest.CreateKey(t, s, name, t0, expires, scopes...)
}

func wantRefused(t *testing.T, what string, err error, reason string) {
	t.Helper()
	if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(auth.Reason(err), reason) {
		t.Errorf("%s: error %v, want a refusal saying %q", what, err, reason)
	}
}

func TestAPIKeys(t *testing.T) {
	t.Parallel()
	s := keyStore(t)
	c := &clock{t0}
	a, err := auth.New(auth.Config{Keys: s, Now: c.now, KeyCacheTTL: time.Minute})
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	crm := createKey(t, s, "crm", time.Time{}, leadscore.ScopeScore, leadscore.ScopeLeadsWrite)
	short := createKey(t, s, "short", t0.Add(90*time.Second), leadscore.ScopeScore)

	id, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: crm})
	if err != nil || id.Name != "crm" || id.Method != "api-key" || !id.Has(leadscore.ScopeLeadsWrite) || id.Has(leadscore.ScopePromote) {
		t.Fatalf("Authenticate(crm's key) = %+v, %v; want crm with score and leads:write only", id, err)
	}

	forged := crm[:len(crm)-4] + "AAAA"
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: forged})
	wantRefused(t, "a key with the wrong secret", err, "not known")
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: "lsk_nothex"})
	wantRefused(t, "a malformed key", err, "malformed")
	_, err = a.Authenticate(t.Context(), auth.Credentials{})
	wantRefused(t, "no credentials", err, "no credentials")
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: "eyJhbGciOi.x.y"})
	wantRefused(t, "a JWT where none are accepted", err, "accepts no JWTs")

	// Revocation takes effect once the cached answer is older than the
	// cache's TTL.
	if _, err := s.RevokeAPIKey(t.Context(), "crm", t0, "ops"); err != nil {
		t.Fatalf("RevokeAPIKey(): %v", err)
	}
	if _, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: crm}); err != nil {
		t.Fatalf("Authenticate(revoked key, within the cache's TTL) = %v, want the cached identity", err)
	}
	c.t = t0.Add(time.Minute)
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: crm})
	wantRefused(t, "a revoked key after the TTL", err, `"crm" was revoked`)

	// An expiring key is trusted no longer than its expiry, whatever the
	// TTL.
	if _, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: short}); err != nil {
		t.Fatalf("Authenticate(short's key before its expiry) = %v", err)
	}
	c.t = t0.Add(90 * time.Second)
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: short})
	wantRefused(t, "an expired key", err, `"short" expired`)
}

func TestNewRefusesNoWayIn(t *testing.T) {
	t.Parallel()
	if _, err := auth.New(auth.Config{}); err == nil {
		t.Fatal("New(no way in) succeeded, want an error")
	}
	_, err := auth.New(auth.Config{Certificates: map[string]auth.Identity{"crm.internal": {Name: "crm"}}})
	if err == nil || !strings.Contains(err.Error(), "no scopes") {
		t.Fatalf("New(a certificate mapped to no scopes) = %v, want an error saying so", err)
	}
}

func TestClientCertificates(t *testing.T) {
	t.Parallel()
	a, err := auth.New(auth.Config{Certificates: map[string]auth.Identity{
		"crm.internal": {Name: "crm", Scopes: []leadscore.Scope{leadscore.ScopeScore}},
	}})
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	cert := func(cn string) *x509.Certificate { return &x509.Certificate{Subject: pkix.Name{CommonName: cn}} }
	id, err := a.Authenticate(t.Context(), auth.Credentials{Certificate: cert("crm.internal")})
	if err != nil || id.Name != "crm" || id.Method != "mtls" || !id.Has(leadscore.ScopeScore) {
		t.Fatalf("Authenticate(crm's certificate) = %+v, %v; want crm over mtls", id, err)
	}
	_, err = a.Authenticate(t.Context(), auth.Credentials{Certificate: cert("stranger")})
	wantRefused(t, "an unmapped certificate", err, `"stranger" is not mapped`)
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: "lsk_0123456789abcdef_x"})
	wantRefused(t, "an API key where none are accepted", err, "API keys are not accepted")
}

func TestJWTs(t *testing.T) {
	t.Parallel()
	idp := authtest.NewIssuer(t, "k1")
	c := &clock{t0}
	v, err := auth.NewJWTVerifier(t.Context(), auth.JWTConfig{
		JWKS: idp.JWKS, Issuer: "https://idp.example", Audience: "leadscore", ScopesClaim: "scp", Now: c.now,
	})
	if err != nil {
		t.Fatalf("NewJWTVerifier(): %v", err)
	}
	a, err := auth.New(auth.Config{JWT: v, Now: c.now})
	if err != nil {
		t.Fatalf("New(): %v", err)
	}
	claims := func(edit func(map[string]any)) map[string]any {
		m := map[string]any{"iss": "https://idp.example", "aud": []string{"leadscore"}, "sub": "alice@example.com",
			"exp": t0.Add(time.Hour).Unix(), "iat": t0.Unix(), "scp": "promote evaluate openid"}
		if edit != nil {
			edit(m)
		}
		return m
	}
	id, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: idp.Sign(t, claims(nil))})
	if err != nil || id.Name != "alice@example.com" || id.Method != "jwt" || leadscore.FormatScopes(id.Scopes) != "promote,evaluate" {
		t.Fatalf("Authenticate(a good JWT) = %+v, %v; want alice with promote,evaluate", id, err)
	}
	id, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: idp.Sign(t, claims(func(m map[string]any) { m["scp"] = []string{"admin"} }))})
	if err != nil || !id.Has(leadscore.ScopeTrain) {
		t.Fatalf("Authenticate(a JWT with scopes as an array) = %+v, %v; want admin", id, err)
	}

	other := authtest.NewIssuer(t, "k1")
	tests := []struct {
		name   string
		token  string
		reason string
	}{
		{"signed by another key", other.Sign(t, claims(nil)), "does not verify"},
		{"expired", idp.Sign(t, claims(func(m map[string]any) { m["exp"] = t0.Add(-2 * time.Minute).Unix() })), "not valid here"},
		{"no expiry", idp.Sign(t, claims(func(m map[string]any) { delete(m, "exp") })), "no expiry"},
		{"another issuer", idp.Sign(t, claims(func(m map[string]any) { m["iss"] = "https://evil.example" })), "not valid here"},
		{"another audience", idp.Sign(t, claims(func(m map[string]any) { m["aud"] = "billing" })), "not valid here"},
		{"no subject", idp.Sign(t, claims(func(m map[string]any) { delete(m, "sub") })), `"sub" claim`},
		{"not a JWT", "not.a.jwt", "not a JWT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: tt.token})
			wantRefused(t, tt.name, err, tt.reason)
		})
	}

	// A token naming a key id the verifier lacks makes it read the keys
	// again (rotation), no sooner than 30 seconds after the last read.
	rotated := authtest.NewIssuer(t, "k2")
	idp.Publish(t, idp, rotated)
	_, err = a.Authenticate(t.Context(), auth.Credentials{Bearer: rotated.Sign(t, claims(nil))})
	wantRefused(t, "a rotated key right after a read", err, "does not verify")
	c.t = t0.Add(31 * time.Second)
	if _, err := a.Authenticate(t.Context(), auth.Credentials{Bearer: rotated.Sign(t, claims(nil))}); err != nil {
		t.Fatalf("Authenticate(a token of a rotated key, 31 s later) = %v, want it verified with the keys read again", err)
	}
}

func TestJWTVerifierRefusesBadKeySets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	idp := authtest.NewIssuer(t, "k1")
	private, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: idp.Key, KeyID: "k1"}}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, jwks, want string }{
		{"missing file", filepath.Join(dir, "none.json"), "no such file"},
		{"not JSON", write("bad.json", "{"), "unexpected end"},
		{"no keys", write("empty.json", `{"keys":[]}`), "holds no keys"},
		{"a private key", write("private.json", string(private)), "not a valid public key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := auth.NewJWTVerifier(context.Background(), auth.JWTConfig{JWKS: tt.jwks, Issuer: "x"})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("NewJWTVerifier(%s) = %v, want an error saying %q", tt.name, err, tt.want)
			}
		})
	}
}

// FuzzAuthenticate sends any bearer token: it is refused or authenticated,
// never panics, and only a token the store issued authenticates.
func FuzzAuthenticate(f *testing.F) {
	s := keyStore(f)
	token := authtest.CreateKey(f, s, "crm", t0, time.Time{}, leadscore.ScopeScore)
	idp := authtest.NewIssuer(f, "k1")
	v, err := auth.NewJWTVerifier(f.Context(), auth.JWTConfig{JWKS: idp.JWKS, Issuer: "https://idp.example", Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	a, err := auth.New(auth.Config{Keys: s, JWT: v, Now: func() time.Time { return t0 }})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(token)
	f.Add(token[:len(token)-1] + "x")
	f.Add("lsk_0123456789abcdef_" + strings.Repeat("A", 43))
	f.Add(idp.Sign(f, map[string]any{"iss": "https://idp.example", "sub": "a", "exp": t0.Add(time.Hour).Unix()}))
	f.Add("eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.")
	f.Add("")
	f.Fuzz(func(t *testing.T, bearer string) {
		id, err := a.Authenticate(context.Background(), auth.Credentials{Bearer: bearer})
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) {
				t.Fatalf("Authenticate(%q) = %v, want a refusal", bearer, err)
			}
			return
		}
		if bearer != token && id.Method == "api-key" {
			t.Fatalf("Authenticate(%q) authenticated %+v with a token the store never issued", bearer, id)
		}
	})
}
