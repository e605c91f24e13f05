package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
)

// securityConfig is how serve authenticates callers and protects its
// ports: the flags of securityFlags.
type securityConfig struct {
	// noAuth turns authentication off, for local development only.
	noAuth bool
	// tlsCert and tlsKey are the server's certificate and key files (PEM);
	// both or neither.
	tlsCert, tlsKey string
	// clientCA is the CA file (PEM) that client certificates must chain
	// to: mutual TLS. Needs tlsCert.
	clientCA string
	// clientIdentities map client certificate common names to identities.
	clientIdentities map[string]auth.Identity
	// jwt configures JWTs; jwt.JWKS empty turns them off.
	jwt auth.JWTConfig
	// keyCacheTTL is how long a checked API key is trusted.
	keyCacheTTL time.Duration
	// noReflection turns server reflection off.
	noReflection bool
}

// securityFlags declares serve's authentication and TLS flags.
func securityFlags(fs *flag.FlagSet) *securityConfig {
	c := &securityConfig{clientIdentities: map[string]auth.Identity{}}
	fs.BoolVar(&c.noAuth, "no-auth", false,
		"turn authentication off: any caller may make every rpc and name any actor (local development only; the server says so when it starts)")
	fs.StringVar(&c.tlsCert, "tls-cert", "", "the server's TLS certificate (PEM file), for the gRPC and admin ports; with --tls-key")
	fs.StringVar(&c.tlsKey, "tls-key", "", "the private key (PEM file) of --tls-cert")
	fs.StringVar(&c.clientCA, "tls-client-ca", "",
		"a CA certificate (PEM file): clients may present certificates it signed (mutual TLS); those named by --client-identity authenticate as that identity")
	fs.Func("client-identity",
		"map a verified client certificate to an identity: COMMON_NAME=NAME:SCOPE[,SCOPE...], such as crm.internal=crm:score,leads:write; repeat for more",
		func(v string) error { return c.addClientIdentity(v) })
	fs.StringVar(&c.jwt.JWKS, "jwt-jwks", "", "accept JWTs signed by the keys of this JWK Set (a file, or an https:// URL); with --jwt-issuer")
	fs.StringVar(&c.jwt.Issuer, "jwt-issuer", "", "the issuer (iss) JWTs must name")
	fs.StringVar(&c.jwt.Audience, "jwt-audience", "", "an audience (aud) JWTs must name; empty accepts any")
	fs.StringVar(&c.jwt.IdentityClaim, "jwt-identity-claim", "sub", "the JWT claim that names the caller (the audit trail's actor)")
	fs.StringVar(&c.jwt.ScopesClaim, "jwt-scopes-claim", "scope", "the JWT claim that holds the caller's scopes (space-separated, or an array)")
	fs.DurationVar(&c.keyCacheTTL, "key-cache-ttl", auth.DefaultKeyCacheTTL,
		"how long a checked API key is trusted before the store is asked again: a revoked key stops working within it")
	fs.BoolVar(&c.noReflection, "no-reflection", false, "turn gRPC server reflection off (it needs no credentials)")
	return c
}

// addClientIdentity reads one --client-identity.
func (c *securityConfig) addClientIdentity(v string) error {
	cn, rest, ok := strings.Cut(v, "=")
	name, scopes, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || strings.TrimSpace(cn) == "" {
		return fmt.Errorf("%q is not COMMON_NAME=NAME:SCOPE[,SCOPE...]", v)
	}
	if err := leadscore.ValidateSlug("identity", name); err != nil {
		return fmt.Errorf("%q: %w", v, err)
	}
	parsed, err := leadscore.ParseScopes("scopes", scopes)
	if err != nil {
		return fmt.Errorf("%q: %w", v, err)
	}
	if _, dup := c.clientIdentities[cn]; dup {
		return fmt.Errorf("%q: the common name %q is mapped twice", v, cn)
	}
	c.clientIdentities[cn] = auth.Identity{Name: name, Scopes: parsed}
	return nil
}

// check validates the flags together.
func (c *securityConfig) check() error {
	switch {
	case (c.tlsCert == "") != (c.tlsKey == ""):
		return errors.New("--tls-cert and --tls-key go together")
	case c.clientCA != "" && c.tlsCert == "":
		return errors.New("--tls-client-ca needs --tls-cert and --tls-key: client certificates are presented over TLS")
	case len(c.clientIdentities) > 0 && c.clientCA == "":
		return errors.New("--client-identity needs --tls-client-ca to verify the certificates it names")
	case (c.jwt.JWKS == "") != (c.jwt.Issuer == ""):
		return errors.New("--jwt-jwks and --jwt-issuer go together")
	case c.noAuth && (len(c.clientIdentities) > 0 || c.jwt.JWKS != ""):
		return errors.New("--no-auth turns authentication off; it cannot go with --client-identity or --jwt-jwks")
	case c.keyCacheTTL <= 0 || c.keyCacheTTL > time.Hour:
		return fmt.Errorf("invalid --key-cache-ttl %s: must be positive and at most 1h", c.keyCacheTTL)
	}
	return nil
}

// tlsConfig returns the gRPC port's TLS configuration, or nil without
// --tls-cert.
func (c *securityConfig) tlsConfig() (*tls.Config, error) {
	if c.tlsCert == "" {
		return nil, nil
	}
	cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
	if err != nil {
		return nil, fmt.Errorf("load --tls-cert and --tls-key: %w", err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if c.clientCA != "" {
		pem, err := os.ReadFile(c.clientCA)
		if err != nil {
			return nil, fmt.Errorf("read --tls-client-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--tls-client-ca %s holds no PEM certificate", c.clientCA)
		}
		// Clients may authenticate with a bearer token instead, so a
		// certificate is verified when given, not required.
		cfg.ClientCAs, cfg.ClientAuth = pool, tls.VerifyClientCertIfGiven
	}
	return cfg, nil
}

// authenticator returns the server's authenticator, nil with --no-auth,
// and says on the log what callers must present.
func (c *securityConfig) authenticator(ctx context.Context, logger *slog.Logger, st leadscore.Store) (*auth.Authenticator, error) {
	if c.noAuth {
		logger.Warn("authentication is off (--no-auth): any caller may make every rpc and name any actor; for local development only")
		return nil, nil
	}
	keys, ok := st.(leadscore.APIKeyStore)
	if !ok {
		return nil, fmt.Errorf("the %s store keeps no API keys", st.Backend())
	}
	cfg := auth.Config{Keys: keys, KeyCacheTTL: c.keyCacheTTL}
	ways := []string{"API keys"}
	if c.jwt.JWKS != "" {
		v, err := auth.NewJWTVerifier(ctx, c.jwt)
		if err != nil {
			return nil, err
		}
		cfg.JWT = v
		ways = append(ways, "JWTs of "+c.jwt.Issuer)
	}
	if len(c.clientIdentities) > 0 {
		cfg.Certificates = c.clientIdentities
		ways = append(ways, fmt.Sprintf("client certificates (%d mapped)", len(c.clientIdentities)))
	}
	a, err := auth.New(cfg)
	if err != nil {
		return nil, err
	}
	logger.Info("authentication is on", slog.String("accepts", strings.Join(ways, ", ")))
	if c.tlsCert == "" {
		logger.Warn("bearer tokens cross the network in clear text without TLS; use --tls-cert and --tls-key beyond loopback")
	}
	return a, nil
}
