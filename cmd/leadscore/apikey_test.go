package main

import (
	"context"
	"crypto/tls"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/leadscore/leadscore/auth/authtest"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// TestServeAuthenticates runs `leadscore serve` with authentication on,
// over TLS with client certificates and JWTs, and calls it with an API key
// made by `leadscore apikey create`, a mapped client certificate, a JWT,
// and nothing; then revokes the key with `leadscore apikey revoke`.
func TestServeAuthenticates(t *testing.T) {
	t.Parallel()
	store := filepath.Join(t.TempDir(), "leadscore.db")
	code, token, errOut := runCommand(t, nil, "apikey", "create", "--store", store, "--name", "ci", "--scopes", "train,evaluate", "--actor", "ops")
	token = strings.TrimSpace(token)
	if code != exitOK || !strings.HasPrefix(token, "lsk_") || !strings.Contains(errOut, `created API key "ci" (train,evaluate)`) {
		t.Fatalf("apikey create: exit %d, stdout %q, stderr %s", code, token, errOut)
	}
	ca := authtest.NewCA(t)
	cert := ca.Server(t)
	idp := authtest.NewIssuer(t, "k1")
	p := startServeWith(t, nil, "--store", store, "--key-cache-ttl", "1s",
		"--tls-cert", cert.CertFile, "--tls-key", cert.KeyFile, "--tls-client-ca", ca.File,
		"--client-identity", "crm.internal=crm:leads:read",
		"--jwt-jwks", idp.JWKS, "--jwt-issuer", "https://idp.example")
	dial := func(certs ...tls.Certificate) *grpc.ClientConn {
		conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: ca.Pool(), Certificates: certs, ServerName: "localhost", MinVersion: tls.VersionTLS12})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	bearer := func(tok string) context.Context {
		return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+tok)
	}
	registry := leadscorev1.NewModelRegistryServiceClient(dial())
	if _, err := registry.CreateModel(bearer(token), &leadscorev1.CreateModelRequest{ModelId: "churn"}); err != nil {
		t.Fatalf("CreateModel() with ci's key: %v", err)
	}
	_, err := registry.DeleteModelVersion(bearer(token), &leadscorev1.DeleteModelVersionRequest{Name: "models/churn/versions/1"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), `"admin"`) {
		t.Errorf("DeleteModelVersion() with ci's key = %v; want PERMISSION_DENIED naming admin", err)
	}
	if _, err := registry.ListModels(ctx, &leadscorev1.ListModelsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListModels() without credentials = %v; want UNAUTHENTICATED", err)
	}
	jwt := idp.Sign(t, map[string]any{"iss": "https://idp.example", "sub": "alice", "scope": "leads:read", "exp": time.Now().Add(time.Hour).Unix()})
	if _, err := leadscorev1.NewLeadServiceClient(dial()).ListLeads(bearer(jwt), &leadscorev1.ListLeadsRequest{}); err != nil {
		t.Errorf("ListLeads() with alice's JWT: %v", err)
	}
	crm := leadscorev1.NewLeadServiceClient(dial(ca.Client(t, "crm.internal").TLS))
	if _, err := crm.ListLeads(ctx, &leadscorev1.ListLeadsRequest{}); err != nil {
		t.Errorf("ListLeads() with crm's certificate: %v", err)
	}

	// The admin port serves over TLS with the same certificate.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}}}
	resp, err := client.Get("https://" + p.adminAddr + "/livez")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("GET https://admin/livez = %v, %v; want 200", resp, err)
	} else {
		resp.Body.Close()
	}

	code, out, errOut := runCommand(t, nil, "apikey", "revoke", "ci", "--store", store, "--actor", "ops")
	if code != exitOK || !strings.Contains(out, `revoked API key "ci"`) {
		t.Fatalf("apikey revoke: exit %d, stdout %s, stderr %s", code, out, errOut)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := registry.ListModels(bearer(token), &leadscorev1.ListModelsRequest{})
		if status.Code(err) == codes.Unauthenticated && strings.Contains(status.Convert(err).Message(), "revoked") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("ListModels() with the revoked key = %v; want UNAUTHENTICATED once the 1s cache has passed", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	code, out, _ = runCommand(t, nil, "apikey", "list", "--store", store)
	if code != exitOK || !strings.Contains(out, "revoked") || !strings.Contains(out, "by ops") {
		t.Errorf("apikey list after revoking: exit %d, %s; want ci revoked by ops", code, out)
	}
}

func TestServeRefusesBadSecurityFlags(t *testing.T) {
	t.Parallel()
	store := filepath.Join(t.TempDir(), "leadscore.db")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a certificate without its key", []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"a client CA without TLS", []string{"--tls-client-ca", "ca.pem"}, "needs --tls-cert"},
		{"a client identity without a client CA", []string{"--client-identity", "crm=crm:score"}, "needs --tls-client-ca"},
		{"a malformed client identity", []string{"--client-identity", "crm"}, "COMMON_NAME=NAME:SCOPE"},
		{"a client identity with an unknown scope", []string{"--client-identity", "crm=crm:root"}, `unknown scope "root"`},
		{"a JWKS without an issuer", []string{"--jwt-jwks", "k.json"}, "--jwt-jwks and --jwt-issuer go together"},
		{"no auth with JWTs", []string{"--no-auth", "--jwt-jwks", "k.json", "--jwt-issuer", "x"}, "cannot go with"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := runCommand(t, nil, append([]string{"serve", "--store", store, "--grpc-addr", "127.0.0.1:0", "--admin-addr", ""}, tt.args...)...)
			if code != exitError || !strings.Contains(errOut, tt.want) {
				t.Errorf("serve %v: exit %d, stderr %s; want exit 2 saying %q", tt.args, code, errOut, tt.want)
			}
		})
	}
}

// TestDataDirIsAFolderOfItsOwn: without --data-dir, jobs read files from
// a "data" folder beside the embedded store, created empty, never the
// store's own folder; a PostgreSQL store reads none.
func TestDataDirIsAFolderOfItsOwn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	got, err := dataDirFor(serveConfig{store: filepath.Join(dir, "leadscore.db")})
	if err != nil || got != filepath.Join(dir, "data") {
		t.Fatalf("dataDirFor(embedded store) = %q, %v; want %q", got, err, filepath.Join(dir, "data"))
	}
	if entries, err := os.ReadDir(got); err != nil || len(entries) != 0 {
		t.Errorf("the data directory holds %v, %v; want it created empty", entries, err)
	}
	if got, err := dataDirFor(serveConfig{store: "postgres://localhost/x"}); err != nil || got != "" {
		t.Errorf("dataDirFor(postgres) = %q, %v; want none", got, err)
	}
	if got, err := dataDirFor(serveConfig{store: "x.db", dataDir: "/srv/files"}); err != nil || got != "/srv/files" {
		t.Errorf("dataDirFor(--data-dir /srv/files) = %q, %v; want it as given", got, err)
	}
}
