package leadscore

import (
	"context"
	"slices"
	"strings"
	"time"
)

// Scope is a permission a caller holds: each rpc needs one (see the
// server's scope table).
type Scope string

// The scopes. ScopeAdmin holds every other one.
const (
	// ScopeScore scores leads.
	ScopeScore Scope = "score"
	// ScopeLeadsWrite writes live leads, accounts, events and outcomes,
	// and erases leads.
	ScopeLeadsWrite Scope = "leads:write"
	// ScopeLeadsRead reads live leads, accounts and score changes.
	ScopeLeadsRead Scope = "leads:read"
	// ScopeTrain creates models, registers and imports versions, and runs
	// training jobs.
	ScopeTrain Scope = "train"
	// ScopeEvaluate runs evaluation jobs and stores gate policies.
	ScopeEvaluate Scope = "evaluate"
	// ScopePromote moves aliases: promotion, rollback, deletion.
	ScopePromote Scope = "promote"
	// ScopeAdmin holds every scope, and alone may delete versions, set a
	// model's champion gate and change the default gate policy.
	ScopeAdmin Scope = "admin"
)

// Scopes are every scope, in the order the documentation lists them.
var Scopes = []Scope{ScopeScore, ScopeLeadsWrite, ScopeLeadsRead, ScopeTrain, ScopeEvaluate, ScopePromote, ScopeAdmin}

// ParseScopes parses a comma-separated list of scopes, as the command line
// and the API key records take it: each once, each known. field names the
// list in errors.
func ParseScopes(field, s string) ([]Scope, error) {
	if strings.TrimSpace(s) == "" {
		return nil, InvalidField(field, s, "must name at least one scope, from "+scopeList())
	}
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		if !slices.Contains(Scopes, sc) {
			return nil, InvalidField(field, s, "names the unknown scope "+quote(string(sc))+"; scopes are "+scopeList())
		}
		if slices.Contains(out, sc) {
			return nil, InvalidField(field, s, "names the scope "+quote(string(sc))+" twice")
		}
		out = append(out, sc)
	}
	return out, nil
}

// FormatScopes writes scopes as ParseScopes reads them.
func FormatScopes(scopes []Scope) string {
	parts := make([]string, len(scopes))
	for i, s := range scopes {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

// HasScope reports whether scopes grant want: they hold it, or admin.
func HasScope(scopes []Scope, want Scope) bool {
	return slices.Contains(scopes, want) || slices.Contains(scopes, ScopeAdmin)
}

func scopeList() string { return FormatScopes(Scopes) }

func quote(s string) string { return `"` + s + `"` }

// APIKey is a bearer token's record: who it stands for and what it may do.
// The token's secret is never stored, only its SHA-256.
type APIKey struct {
	// ID is the key's public id, the part of the token before its secret:
	// a key is looked up by it.
	ID string
	// Name is the identity the key authenticates as: the actor of what its
	// callers change. Unique among keys, revoked ones included.
	Name string
	// Scopes are what the key may do.
	Scopes []Scope
	// CreatedAt is when the key was created, and CreatedBy who created it.
	CreatedAt time.Time
	CreatedBy string
	// ExpiresAt is when the key stops working; zero means never.
	ExpiresAt time.Time
	// RevokedAt is when the key was revoked, and RevokedBy who revoked it;
	// zero while it is not.
	RevokedAt time.Time
	RevokedBy string
}

// Active reports whether the key authenticates callers at t: not revoked,
// not expired.
func (k APIKey) Active(t time.Time) bool {
	return k.RevokedAt.IsZero() && (k.ExpiresAt.IsZero() || t.Before(k.ExpiresAt))
}

// MaxAPIKeyName is the longest API key name.
const MaxAPIKeyName = 128

// APIKeyStore keeps API keys.
type APIKeyStore interface {
	// CreateAPIKey stores a key with the SHA-256 of its secret; ECONFLICT
	// when its id or name is taken.
	CreateAPIKey(ctx context.Context, key APIKey, secretSHA256 []byte) (APIKey, error)
	// APIKey returns the key with an id and its secret's SHA-256;
	// ENOTFOUND when there is none.
	APIKey(ctx context.Context, id string) (APIKey, []byte, error)
	// ListAPIKeys lists every key, revoked ones included, by name.
	ListAPIKeys(ctx context.Context) ([]APIKey, error)
	// RevokeAPIKey revokes the key with a name at a time, by an actor;
	// ENOTFOUND when there is none, EPRECONDITION when it is revoked
	// already.
	RevokeAPIKey(ctx context.Context, name string, at time.Time, actor string) (APIKey, error)
}
