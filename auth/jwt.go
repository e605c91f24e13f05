package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/leadscore/leadscore"
)

// JWTConfig configures a JWTVerifier.
type JWTConfig struct {
	// JWKS is where the issuer's public keys are: a JWK Set file, or an
	// https:// (or http:// for a local test issuer) URL serving one. It
	// is read again every KeysRefresh, and when a token names a key id
	// it does not hold (at most every 30 seconds).
	JWKS string
	// Issuer is the required "iss" claim.
	Issuer string
	// Audience, when set, must be among the "aud" claim's values.
	Audience string
	// IdentityClaim names the claim that holds the caller's name (the
	// audit trail's actor). Empty means "sub".
	IdentityClaim string
	// ScopesClaim names the claim that holds the caller's scopes: a
	// space-separated string (OAuth 2.0's "scope") or an array of strings.
	// Scope names leadscore does not know are ignored. Empty means "scope".
	ScopesClaim string
	// KeysRefresh is how often the keys are read again. Zero means five
	// minutes.
	KeysRefresh time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// maxJWKS bounds a JWK Set document.
const maxJWKS = 1 << 20

// keyMissRefresh is how soon after a read a token with an unknown key id
// may make the verifier read the keys again.
const keyMissRefresh = 30 * time.Second

// leeway is the clock skew allowed in a token's times.
const leeway = time.Minute

// algorithms are the signature algorithms accepted: asymmetric ones only,
// so that holding the public keys does not let anyone sign.
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// JWTVerifier verifies JWTs signed by one issuer's keys.
type JWTVerifier struct {
	cfg    JWTConfig
	now    func() time.Time
	client *http.Client

	mu     sync.Mutex
	keys   *jose.JSONWebKeySet
	readAt time.Time
}

// NewJWTVerifier returns a verifier after reading the issuer's keys once,
// so that a wrong JWKS location fails at start, not at the first call.
func NewJWTVerifier(ctx context.Context, cfg JWTConfig) (*JWTVerifier, error) {
	if cfg.JWKS == "" {
		return nil, errors.New("jwt: a JWKS file or URL is required")
	}
	if cfg.Issuer == "" {
		return nil, errors.New("jwt: an issuer is required")
	}
	if cfg.IdentityClaim == "" {
		cfg.IdentityClaim = "sub"
	}
	if cfg.ScopesClaim == "" {
		cfg.ScopesClaim = "scope"
	}
	if cfg.KeysRefresh <= 0 {
		cfg.KeysRefresh = 5 * time.Minute
	}
	v := &JWTVerifier{cfg: cfg, now: cfg.Now, client: &http.Client{Timeout: 10 * time.Second}}
	if v.now == nil {
		v.now = time.Now
	}
	keys, err := v.readKeys(ctx)
	if err != nil {
		return nil, err
	}
	v.keys, v.readAt = keys, v.now()
	return v, nil
}

// readKeys reads the JWK Set.
func (v *JWTVerifier) readKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	var r io.ReadCloser
	if strings.HasPrefix(v.cfg.JWKS, "https://") || strings.HasPrefix(v.cfg.JWKS, "http://") {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.cfg.JWKS, nil)
		if err != nil {
			return nil, fmt.Errorf("jwt: read keys from %s: %w", v.cfg.JWKS, err)
		}
		resp, err := v.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("jwt: read keys from %s: %w", v.cfg.JWKS, err)
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			return nil, fmt.Errorf("jwt: read keys from %s: %s", v.cfg.JWKS, resp.Status)
		}
		r = resp.Body
	} else {
		f, err := os.Open(v.cfg.JWKS)
		if err != nil {
			return nil, fmt.Errorf("jwt: read keys: %w", err)
		}
		r = f
	}
	defer r.Close()
	b, err := io.ReadAll(io.LimitReader(r, maxJWKS+1))
	if err != nil {
		return nil, fmt.Errorf("jwt: read keys from %s: %w", v.cfg.JWKS, err)
	}
	if len(b) > maxJWKS {
		return nil, fmt.Errorf("jwt: the JWK Set at %s is larger than %d bytes", v.cfg.JWKS, maxJWKS)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, fmt.Errorf("jwt: the JWK Set at %s: %w", v.cfg.JWKS, err)
	}
	if len(set.Keys) == 0 {
		return nil, fmt.Errorf("jwt: the JWK Set at %s holds no keys", v.cfg.JWKS)
	}
	for i, k := range set.Keys {
		if !k.Valid() || !k.IsPublic() {
			return nil, fmt.Errorf("jwt: the JWK Set at %s: key %d (kid %q) is not a valid public key", v.cfg.JWKS, i, k.KeyID)
		}
	}
	return &set, nil
}

// keySet returns the keys to verify a token whose header names kid with:
// read again when they are old, or when they lack kid and were not read
// just now. A failed read keeps the keys held.
func (v *JWTVerifier) keySet(ctx context.Context, kid string) *jose.JSONWebKeySet {
	v.mu.Lock()
	defer v.mu.Unlock()
	age := v.now().Sub(v.readAt)
	stale := age >= v.cfg.KeysRefresh || (kid != "" && len(v.keys.Key(kid)) == 0 && age >= keyMissRefresh)
	if stale {
		if keys, err := v.readKeys(ctx); err == nil {
			v.keys = keys
		}
		v.readAt = v.now()
	}
	return v.keys
}

// Verify checks a JWT's signature, issuer, audience and times, and
// returns the identity and scopes its claims name.
func (v *JWTVerifier) Verify(ctx context.Context, raw string) (Identity, error) {
	if len(raw) > maxToken {
		return Identity{}, refuse("the bearer token is longer than %d bytes", maxToken)
	}
	tok, err := jwt.ParseSigned(raw, algorithms)
	if err != nil {
		return Identity{}, refuse("the bearer token is not a JWT signed with an accepted algorithm")
	}
	kid := ""
	if len(tok.Headers) > 0 {
		kid = tok.Headers[0].KeyID
	}
	var std jwt.Claims
	var all map[string]any
	if err := tok.Claims(v.keySet(ctx, kid), &std, &all); err != nil {
		return Identity{}, refuse("the JWT's signature does not verify with the issuer's keys")
	}
	expected := jwt.Expected{Issuer: v.cfg.Issuer, Time: v.now()}
	if v.cfg.Audience != "" {
		expected.AnyAudience = jwt.Audience{v.cfg.Audience}
	}
	if std.Expiry == nil {
		return Identity{}, refuse("the JWT has no expiry (exp)")
	}
	if err := std.ValidateWithLeeway(expected, leeway); err != nil {
		return Identity{}, refuse("the JWT is not valid here: %v", err)
	}
	name, _ := all[v.cfg.IdentityClaim].(string)
	if strings.TrimSpace(name) == "" || len(name) > 256 {
		return Identity{}, refuse("the JWT's %q claim does not name the caller", v.cfg.IdentityClaim)
	}
	return Identity{Name: name, Scopes: claimScopes(all[v.cfg.ScopesClaim]), Method: "jwt"}, nil
}

// claimScopes reads the scopes of a claim: a space-separated string or an
// array of strings; names leadscore does not know are left out.
func claimScopes(c any) []leadscore.Scope {
	var names []string
	switch c := c.(type) {
	case string:
		names = strings.Fields(c)
	case []any:
		for _, n := range c {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	var out []leadscore.Scope
	for _, n := range names {
		for _, s := range leadscore.Scopes {
			if string(s) == n && !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}
