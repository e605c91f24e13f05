// Package auth authenticates the callers of leadscore's server: API keys
// kept in the store, JWTs from an identity provider, and client
// certificates of mutual TLS. Each gives an Identity: the name the audit
// trail records as the actor, and the scopes that decide which rpcs the
// caller may make (the server's scope table).
//
// The package knows nothing of gRPC: the server hands it the credentials
// of a call and turns its errors into status codes.
package auth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/leadscore/leadscore"
)

// ErrUnauthenticated wraps every refusal of a caller's credentials; its
// message, after the prefix, is safe to show the caller.
var ErrUnauthenticated = errors.New("unauthenticated")

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, fmt.Sprintf(format, args...))
}

// Reason is the caller-safe reason of a refusal.
func Reason(err error) string {
	return strings.TrimPrefix(err.Error(), ErrUnauthenticated.Error()+": ")
}

// Identity is an authenticated caller.
type Identity struct {
	// Name is who the caller is: an API key's name, a JWT's identity
	// claim, a client certificate's mapped name. The audit trail records
	// it as the actor.
	Name string
	// Scopes are what the caller may do.
	Scopes []leadscore.Scope
	// Method is how the caller proved it: "api-key", "jwt" or "mtls".
	Method string
}

// Has reports whether the identity holds scope (or admin).
func (id Identity) Has(scope leadscore.Scope) bool { return leadscore.HasScope(id.Scopes, scope) }

type identityKey struct{}

// WithIdentity returns ctx carrying id.
func WithIdentity(ctx context.Context, id Identity) context.Context {
	return context.WithValue(ctx, identityKey{}, id)
}

// IdentityFrom returns the identity ctx carries, if any.
func IdentityFrom(ctx context.Context) (Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(Identity)
	return id, ok
}

// Credentials are what a call presents.
type Credentials struct {
	// Bearer is the token of an "authorization: Bearer ..." header, or
	// empty.
	Bearer string
	// Certificate is the leaf of the client's certificate chain that the
	// TLS handshake verified against the client CA, or nil.
	Certificate *x509.Certificate
}

// Config configures an Authenticator. At least one way in must be on.
type Config struct {
	// Keys turns API keys on: tokens "lsk_{id}_{secret}" looked up in it.
	Keys leadscore.APIKeyStore
	// KeyCacheTTL is how long a checked API key is trusted before the
	// store is asked again: a revoked key stops working within it. Zero
	// means DefaultKeyCacheTTL.
	KeyCacheTTL time.Duration
	// JWT turns JWTs on; see NewJWTVerifier.
	JWT *JWTVerifier
	// Certificates maps the common name of a verified client certificate
	// to the identity it authenticates as; nil turns mutual TLS identities
	// off.
	Certificates map[string]Identity
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// DefaultKeyCacheTTL is how long a checked API key is trusted unless
// configured otherwise.
const DefaultKeyCacheTTL = 30 * time.Second

// maxKeyCache bounds the checked API keys kept in memory.
const maxKeyCache = 10000

// Authenticator checks the credentials of calls.
type Authenticator struct {
	cfg Config
	now func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]cachedKey // by SHA-256 of the whole token
}

type cachedKey struct {
	id      Identity
	until   time.Time // trusted until the earlier of the TTL and the key's expiry
	refused error     // a refusal, cached as long, so a bad token does not reach the store each call
}

// New returns an Authenticator.
func New(cfg Config) (*Authenticator, error) {
	if cfg.Keys == nil && cfg.JWT == nil && len(cfg.Certificates) == 0 {
		return nil, errors.New("authentication: no way in is configured (API keys, JWTs or client certificates)")
	}
	for cn, id := range cfg.Certificates {
		if err := leadscore.ValidateSlug("client certificate identity", id.Name); err != nil {
			return nil, fmt.Errorf("authentication: client certificate %q: %w", cn, err)
		}
		if len(id.Scopes) == 0 {
			return nil, fmt.Errorf("authentication: client certificate %q maps to %q with no scopes", cn, id.Name)
		}
	}
	if cfg.KeyCacheTTL <= 0 {
		cfg.KeyCacheTTL = DefaultKeyCacheTTL
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Authenticator{cfg: cfg, now: now, cache: map[[32]byte]cachedKey{}}, nil
}

// Authenticate returns the identity that c proves. A bearer token is
// checked first; without one, a verified client certificate. Refusals
// wrap ErrUnauthenticated; other errors (the store is unreachable) are
// returned as they are.
func (a *Authenticator) Authenticate(ctx context.Context, c Credentials) (Identity, error) {
	switch {
	case c.Bearer != "":
		if strings.HasPrefix(c.Bearer, keyPrefix) {
			if a.cfg.Keys == nil {
				return Identity{}, refuse("API keys are not accepted by this server")
			}
			return a.apiKey(ctx, c.Bearer)
		}
		if a.cfg.JWT == nil {
			return Identity{}, refuse("the bearer token is not an API key (lsk_...) and this server accepts no JWTs")
		}
		return a.cfg.JWT.Verify(ctx, c.Bearer)
	case c.Certificate != nil:
		if a.cfg.Certificates == nil {
			return Identity{}, refuse("client certificates are not accepted as identities by this server; send a bearer token")
		}
		id, ok := a.cfg.Certificates[c.Certificate.Subject.CommonName]
		if !ok {
			return Identity{}, refuse("the client certificate %q is not mapped to an identity", c.Certificate.Subject.CommonName)
		}
		id.Method = "mtls"
		return id, nil
	}
	return Identity{}, refuse(`no credentials: send "authorization: Bearer <API key or JWT>"`)
}

// apiKey checks an API key token, through the cache.
func (a *Authenticator) apiKey(ctx context.Context, token string) (Identity, error) {
	sum := sha256.Sum256([]byte(token))
	now := a.now()
	a.mu.Lock()
	c, ok := a.cache[sum]
	a.mu.Unlock()
	if ok && now.Before(c.until) {
		return c.id, c.refused
	}
	id, until, err := a.lookUpKey(ctx, token, now)
	if err != nil && !errors.Is(err, ErrUnauthenticated) {
		return Identity{}, err
	}
	a.mu.Lock()
	if len(a.cache) >= maxKeyCache {
		for k, v := range a.cache {
			if !now.Before(v.until) || len(a.cache) >= maxKeyCache {
				delete(a.cache, k)
			}
		}
	}
	a.cache[sum] = cachedKey{id: id, until: until, refused: err}
	a.mu.Unlock()
	return id, err
}

// lookUpKey checks token against the store, and returns until when the
// answer holds.
func (a *Authenticator) lookUpKey(ctx context.Context, token string, now time.Time) (Identity, time.Time, error) {
	until := now.Add(a.cfg.KeyCacheTTL)
	id, secret, ok := parseToken(token)
	if !ok {
		return Identity{}, until, refuse("the API key is malformed")
	}
	key, hash, err := a.cfg.Keys.APIKey(ctx, id)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		return Identity{}, until, refuse("the API key is not known")
	}
	if err != nil {
		return Identity{}, time.Time{}, fmt.Errorf("check API key: %w", err)
	}
	got := sha256.Sum256([]byte(secret))
	if subtle.ConstantTimeCompare(got[:], hash) != 1 {
		return Identity{}, until, refuse("the API key is not known")
	}
	if !key.RevokedAt.IsZero() {
		return Identity{}, until, refuse("the API key %q was revoked", key.Name)
	}
	if !key.ExpiresAt.IsZero() {
		if !now.Before(key.ExpiresAt) {
			return Identity{}, until, refuse("the API key %q expired at %s", key.Name, key.ExpiresAt.Format(time.RFC3339))
		}
		if key.ExpiresAt.Before(until) {
			until = key.ExpiresAt
		}
	}
	return Identity{Name: key.Name, Scopes: key.Scopes, Method: "api-key"}, until, nil
}
