package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
)

// runAPIKey creates, lists and revokes the API keys callers of serve
// authenticate with. The store holds only each secret's SHA-256: a token
// is printed once, when its key is created.
func runAPIKey(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	usage := "apikey create --name NAME --scopes SCOPE[,SCOPE...] [--expires DURATION] | apikey list | apikey revoke NAME"
	if len(args) == 0 {
		fmt.Fprintf(stderr, "usage: leadscore %s\nscopes: %s\n", usage, leadscore.FormatScopes(leadscore.Scopes))
		return exitError
	}
	sub, args := args[0], args[1:]
	fs := newFlagSet("apikey "+sub, usage, stderr)
	store := storeFlag(fs)
	actor := actorFlag(fs)
	var (
		name, scopes string
		expires      time.Duration
		jsonOut      *bool
	)
	switch sub {
	case "create":
		fs.StringVar(&name, "name", "", "the key's name: the identity its callers have, recorded as the actor of what they change (a slug)")
		fs.StringVar(&scopes, "scopes", "", "what the key may do, comma-separated: "+leadscore.FormatScopes(leadscore.Scopes))
		fs.DurationVar(&expires, "expires", 0, "how long the key works from now; 0 means until it is revoked")
	case "list":
		jsonOut = fs.Bool("json", false, "print the keys as JSON")
	case "revoke":
	default:
		fmt.Fprintf(stderr, "leadscore apikey: unknown subcommand %q; usage: leadscore %s\n", sub, usage)
		return exitError
	}
	wantArgs := 0
	if sub == "revoke" {
		wantArgs = 1
	}
	pos, err := parseFlagsAndArgs(fs, args, env, wantArgs, wantArgs)
	if err != nil {
		return flagExit(err)
	}
	fail := func(err error) int { return refusalExit(stderr, "apikey "+sub, err) }
	_, st, err := openRegistry(ctx, *store, true, stderr)
	if err != nil {
		return fail(err)
	}
	defer st.Close()
	keys, ok := st.(leadscore.APIKeyStore)
	if !ok {
		return fail(fmt.Errorf("the %s store keeps no API keys", st.Backend()))
	}
	now := time.Now()
	switch sub {
	case "create":
		parsed, err := leadscore.ParseScopes("--scopes", scopes)
		if err != nil {
			return fail(err)
		}
		if expires < 0 {
			return fail(leadscore.InvalidField("--expires", expires.String(), "must not be negative"))
		}
		id, token, hash, err := auth.NewKey()
		if err != nil {
			return fail(err)
		}
		k := leadscore.APIKey{ID: id, Name: name, Scopes: parsed, CreatedAt: now, CreatedBy: *actor}
		if expires > 0 {
			k.ExpiresAt = now.Add(expires)
		}
		if k, err = keys.CreateAPIKey(ctx, k, hash); err != nil {
			return fail(err)
		}
		fmt.Fprintf(stderr, "created API key %q (%s)%s; its token is printed once, on stdout: keep it secret\n",
			k.Name, leadscore.FormatScopes(k.Scopes), expiry(k))
		fmt.Fprintln(stdout, token)
	case "list":
		list, err := keys.ListAPIKeys(ctx)
		if err != nil {
			return fail(err)
		}
		if *jsonOut {
			type row struct {
				Name      string     `json:"name"`
				ID        string     `json:"id"`
				Scopes    []string   `json:"scopes"`
				CreatedAt time.Time  `json:"created_at"`
				CreatedBy string     `json:"created_by"`
				ExpiresAt *time.Time `json:"expires_at,omitempty"`
				RevokedAt *time.Time `json:"revoked_at,omitempty"`
				RevokedBy string     `json:"revoked_by,omitempty"`
				Active    bool       `json:"active"`
			}
			rows := make([]row, 0, len(list))
			for _, k := range list {
				r := row{Name: k.Name, ID: k.ID, CreatedAt: k.CreatedAt, CreatedBy: k.CreatedBy, RevokedBy: k.RevokedBy, Active: k.Active(now)}
				for _, s := range k.Scopes {
					r.Scopes = append(r.Scopes, string(s))
				}
				if !k.ExpiresAt.IsZero() {
					r.ExpiresAt = &k.ExpiresAt
				}
				if !k.RevokedAt.IsZero() {
					r.RevokedAt = &k.RevokedAt
				}
				rows = append(rows, r)
			}
			if err := writeJSON(stdout, rows); err != nil {
				return exitError
			}
			return exitOK
		}
		for _, k := range list {
			state := "active"
			switch {
			case !k.RevokedAt.IsZero():
				state = fmt.Sprintf("revoked %s by %s", k.RevokedAt.Format(time.RFC3339), k.RevokedBy)
			case !k.Active(now):
				state = "expired " + k.ExpiresAt.Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%-24s %-40s created %s by %s%s; %s\n", k.Name, leadscore.FormatScopes(k.Scopes),
				k.CreatedAt.Format(time.RFC3339), k.CreatedBy, expiry(k), state)
		}
	case "revoke":
		k, err := keys.RevokeAPIKey(ctx, pos[0], now, *actor)
		if err != nil {
			return fail(err)
		}
		fmt.Fprintf(stdout, "revoked API key %q; servers refuse it within their --key-cache-ttl (30s by default)\n", k.Name)
	}
	return exitOK
}

// expiry says when a key expires, if it does.
func expiry(k leadscore.APIKey) string {
	if k.ExpiresAt.IsZero() {
		return ""
	}
	return ", expires " + k.ExpiresAt.Format(time.RFC3339)
}
