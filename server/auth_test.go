package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
	"github.com/leadscore/leadscore/auth/authtest"
	"github.com/leadscore/leadscore/postgres/pgtest"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"github.com/leadscore/leadscore/sqlite"
)

// TestEveryRPCHasAScope holds the scope table to the rpcs the server
// registers: each is in it or open, and it names no rpc that is not
// registered.
func TestEveryRPCHasAScope(t *testing.T) {
	t.Parallel()
	s := newServer(t, openStore(t))
	registered := map[string]bool{}
	for service, info := range s.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + service + "/" + m.Name
			registered[full] = true
			_, scoped := rpcScopes[full]
			if scoped == openRPCs[full] {
				t.Errorf("%s: in the scope table %v, open %v; want exactly one", full, scoped, openRPCs[full])
			}
		}
	}
	for full := range rpcScopes {
		if !registered[full] {
			t.Errorf("the scope table names %s, which the server does not register", full)
		}
	}
}

// authFixture is a server with authentication on over a store holding API
// keys, and an identity provider whose JWTs it accepts.
type authFixture struct {
	store leadscore.Store
	conn  *grpc.ClientConn
	idp   *authtest.Issuer
	keys  map[string]string // tokens by key name
}

var authT0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func newAuthFixture(t *testing.T, edit func(*Options)) authFixture {
	t.Helper()
	st := openStore(t)
	keys := st.(leadscore.APIKeyStore)
	now := func() time.Time { return authT0.Add(time.Hour) }
	f := authFixture{store: st, idp: authtest.NewIssuer(t, "k1"), keys: map[string]string{}}
	for _, k := range []struct {
		name   string
		scopes []leadscore.Scope
	}{
		{"scorer", []leadscore.Scope{leadscore.ScopeScore}},
		{"reader", []leadscore.Scope{leadscore.ScopeLeadsRead}},
		{"releaser", []leadscore.Scope{leadscore.ScopePromote}},
		{"evaluator", []leadscore.Scope{leadscore.ScopeEvaluate}},
		{"boss", []leadscore.Scope{leadscore.ScopeAdmin}},
		{"gone", []leadscore.Scope{leadscore.ScopeAdmin}},
	} {
		f.keys[k.name] = authtest.CreateKey(t, keys, k.name, authT0, time.Time{}, k.scopes...)
	}
	f.keys["old"] = authtest.CreateKey(t, keys, "old", authT0, authT0.Add(time.Minute), leadscore.ScopeAdmin)
	if _, err := keys.RevokeAPIKey(t.Context(), "gone", authT0, "ops"); err != nil {
		t.Fatalf("RevokeAPIKey(): %v", err)
	}
	jwt, err := auth.NewJWTVerifier(t.Context(), auth.JWTConfig{JWKS: f.idp.JWKS, Issuer: "https://idp.example", Now: now})
	if err != nil {
		t.Fatalf("NewJWTVerifier(): %v", err)
	}
	a, err := auth.New(auth.Config{Keys: keys, JWT: jwt, Now: now})
	if err != nil {
		t.Fatalf("auth.New(): %v", err)
	}
	s := newServerWith(t, st, func(o *Options) {
		o.Auth, o.Now = a, now
		if edit != nil {
			edit(o)
		}
	})
	f.conn = start(t, s)
	return f
}

// as returns ctx sending token as a bearer token.
func as(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

func (f authFixture) jwt(t *testing.T, signer *authtest.Issuer, sub string, scopes string) string {
	return signer.Sign(t, map[string]any{"iss": "https://idp.example", "sub": sub, "scope": scopes,
		"exp": authT0.Add(2 * time.Hour).Unix()})
}

// storeCounts counts what the calls of the test could have written.
func storeCounts(t *testing.T, st leadscore.Store) map[string]int {
	t.Helper()
	ctx := t.Context()
	rs := st.(leadscore.RegistryStore)
	models, err := rs.ListModels(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	policies, err := rs.ListGatePolicies(ctx, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	leads, _, err := st.(leadscore.LeadStore).ListLeads(ctx, leadscore.LeadFilter{}, leadscore.LeadPage{}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	keys, err := st.(leadscore.APIKeyStore).ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]int{"models": len(models), "policies": len(policies), "leads": len(leads), "keys": len(keys)}
}

// TestEveryRPCRefusesWithoutTheRightCredentials calls every rpc without
// credentials, with a revoked key, an expired key, a JWT signed by another
// key, and with a key of the wrong scope: each gets UNAUTHENTICATED or
// PERMISSION_DENIED naming the scope, and the store is left as it was.
func TestEveryRPCRefusesWithoutTheRightCredentials(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t, nil)
	before := storeCounts(t, f.store)
	ctx := testContext(t)
	forged := f.jwt(t, authtest.NewIssuer(t, "k1"), "mallory", "admin")
	for _, sd := range leadscoreServices() {
		for i := 0; i < sd.Methods().Len(); i++ {
			md := sd.Methods().Get(i)
			full := "/" + string(sd.FullName()) + "/" + string(md.Name())
			for _, c := range []struct {
				name, token, want string
			}{
				{"no credentials", "", "no credentials"},
				{"a revoked key", f.keys["gone"], "revoked"},
				{"an expired key", f.keys["old"], "expired"},
				{"a JWT signed by another key", forged, "does not verify"},
			} {
				callCtx := ctx
				if c.token != "" {
					callCtx = as(ctx, c.token)
				}
				err := call(callCtx, f.conn, full, md)
				if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), c.want) {
					t.Errorf("%s with %s: %v; want UNAUTHENTICATED saying %q", full, c.name, err, c.want)
				}
			}
			need := rpcScopes[full]
			if need == anyScope {
				continue
			}
			wrong := "scorer"
			if need == leadscore.ScopeScore {
				wrong = "reader"
			}
			err := call(as(ctx, f.keys[wrong]), f.conn, full, md)
			if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), `"`+string(need)+`"`) {
				t.Errorf("%s with the %s key: %v; want PERMISSION_DENIED naming %q", full, wrong, err, need)
			}
		}
	}
	if after := storeCounts(t, f.store); !equalCounts(before, after) {
		t.Errorf("the store after refused calls holds %v, want %v as before", after, before)
	}
	// Health stays open.
	resp, err := healthpb.NewHealthClient(f.conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil || resp.GetStatus() == healthpb.HealthCheckResponse_UNKNOWN {
		t.Errorf("health check without credentials = %v, %v; want an answer", resp, err)
	}
}

func equalCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return len(a) == len(b)
}

// TestAuthenticatedActorIsAudited: with authentication on, the audit
// trail's actor is the caller's identity whatever actor header it sends;
// a caller without admin cannot store the default gate policy, and one
// with admin can, named as its creator.
func TestAuthenticatedActorIsAudited(t *testing.T) {
	t.Parallel()
	f := newAuthFixture(t, nil)
	ctx := testContext(t)
	eval := leadscorev1.NewEvaluationServiceClient(f.conn)
	policy := func(id string) *leadscorev1.CreateGatePolicyRequest {
		return &leadscorev1.CreateGatePolicyRequest{PolicyId: id, GatePolicy: &leadscorev1.GatePolicy{Rules: []*leadscorev1.GateRule{{
			Metric: "roc_auc", HigherIsBetter: true, MaxRegression: proto.Float64(0), Severity: leadscorev1.GateSeverity_GATE_SEVERITY_FAIL,
		}}}}
	}
	// An evaluator may store a policy of its own, and is its creator
	// whatever header it sends.
	got, err := eval.CreateGatePolicy(asActor(as(ctx, f.keys["evaluator"]), "mallory"), policy("strict"))
	if err != nil || got.GetGatePolicy().GetCreator() != "evaluator" {
		t.Fatalf("CreateGatePolicy(strict) by the evaluator key, claiming to be mallory = %v, %v; want it created by evaluator", got, err)
	}
	_, err = eval.CreateGatePolicy(as(ctx, f.keys["evaluator"]), policy("default"))
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), `"admin"`) {
		t.Fatalf("CreateGatePolicy(default) by the evaluator key = %v; want PERMISSION_DENIED naming admin", err)
	}
	jwt := f.jwt(t, f.idp, "alice@example.com", "admin openid")
	// Not even an admin may make the default, which judges every champion,
	// too weak to compare a candidate with the champion.
	weak := policy("default")
	weak.GatePolicy.Rules[0].MaxRegression, weak.GatePolicy.Rules[0].MinValue = nil, proto.Float64(0)
	_, err = eval.CreateGatePolicy(as(ctx, jwt), weak)
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(status.Convert(err).Message(), "needs at least one fail rule comparing") {
		t.Fatalf("CreateGatePolicy(a default of min_value 0 only) by an admin = %v; want INVALID_ARGUMENT", err)
	}
	got, err = eval.CreateGatePolicy(as(ctx, jwt), policy("default"))
	if err != nil || got.GetGatePolicy().GetCreator() != "alice@example.com" {
		t.Fatalf("CreateGatePolicy(default) by alice's admin JWT = %v, %v; want it created by alice@example.com", got, err)
	}
}

// TestMutualTLS serves over TLS with client certificates: a client whose
// certificate is mapped to an identity calls with its scopes, one without
// a certificate or bearer token is UNAUTHENTICATED, and one whose
// certificate another CA signed cannot connect at all.
func TestMutualTLS(t *testing.T) {
	t.Parallel()
	ca := authtest.NewCA(t)
	serverCert := ca.Server(t)
	st := openStore(t)
	a, err := auth.New(auth.Config{Keys: st.(leadscore.APIKeyStore), Certificates: map[string]auth.Identity{
		"crm.internal": {Name: "crm", Scopes: []leadscore.Scope{leadscore.ScopeLeadsRead}},
	}})
	if err != nil {
		t.Fatalf("auth.New(): %v", err)
	}
	s := newServerWith(t, st, func(o *Options) {
		o.Auth = a
		o.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert.TLS}, ClientCAs: ca.Pool(),
			ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(lis) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		<-served
	})
	dial := func(certs ...tls.Certificate) *grpc.ClientConn {
		conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			RootCAs: ca.Pool(), Certificates: certs, ServerName: "localhost", MinVersion: tls.VersionTLS12,
		})))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	ctx := testContext(t)
	crm := leadscorev1.NewLeadServiceClient(dial(ca.Client(t, "crm.internal").TLS))
	if _, err := crm.ListLeads(ctx, &leadscorev1.ListLeadsRequest{}); err != nil {
		t.Fatalf("ListLeads() with crm's certificate: %v", err)
	}
	_, err = crm.DeleteLead(ctx, &leadscorev1.DeleteLeadRequest{Name: "leads/a"})
	if status.Code(err) != codes.PermissionDenied || !strings.Contains(status.Convert(err).Message(), "crm does not hold") {
		t.Errorf("DeleteLead() with crm's certificate = %v; want PERMISSION_DENIED for crm", err)
	}
	_, err = leadscorev1.NewLeadServiceClient(dial(ca.Client(t, "stranger").TLS)).ListLeads(ctx, &leadscorev1.ListLeadsRequest{})
	if status.Code(err) != codes.Unauthenticated || !strings.Contains(status.Convert(err).Message(), `"stranger" is not mapped`) {
		t.Errorf("ListLeads() with an unmapped certificate = %v; want UNAUTHENTICATED naming it", err)
	}
	_, err = leadscorev1.NewLeadServiceClient(dial()).ListLeads(ctx, &leadscorev1.ListLeadsRequest{})
	if status.Code(err) != codes.Unauthenticated {
		t.Errorf("ListLeads() over TLS with no certificate or token = %v; want UNAUTHENTICATED", err)
	}
	other := authtest.NewCA(t)
	_, err = leadscorev1.NewLeadServiceClient(dial(other.Client(t, "crm.internal").TLS)).ListLeads(ctx, &leadscorev1.ListLeadsRequest{})
	if status.Code(err) != codes.Unavailable {
		t.Errorf("ListLeads() with a certificate of another CA = %v; want the handshake refused (UNAVAILABLE)", err)
	}
}

// BenchmarkAuthorize measures what authentication adds to a call once its
// API key is cached: reading the header, hashing the token, the cache and
// the scope table.
func BenchmarkAuthorize(b *testing.B) {
	st, err := sqlite.Open(b.Context(), filepath.Join(b.TempDir(), "keys.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Migrate(b.Context()); err != nil {
		b.Fatal(err)
	}
	token := authtest.CreateKey(b, st, "scorer", authT0, time.Time{}, leadscore.ScopeScore)
	a, err := auth.New(auth.Config{Keys: st, KeyCacheTTL: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	s := &Server{auth: a}
	ctx := metadata.NewIncomingContext(b.Context(), metadata.Pairs("authorization", "Bearer "+token))
	for b.Loop() {
		if _, err := s.authorize(ctx, leadscorev1.ScoringService_Score_FullMethodName); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPrunerForgetsOldRequestIDs: the server's pruner forgets the request
// ids recorded before their retention window, so a retry after it is a
// new request, and keeps the later ones.
func TestPrunerForgetsOldRequestIDs(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rs := st.(leadscore.RegistryStore)
	ctx := t.Context()
	if _, err := rs.CreateModel(ctx, leadscore.Model{ID: "m", CreatedAt: authT0}); err != nil {
		t.Fatal(err)
	}
	for i, at := range []time.Time{authT0, authT0.Add(48 * time.Hour)} {
		artifact := []byte(fmt.Sprintf("artifact %d", i))
		nv := leadscore.NewModelVersion{Model: "m", Family: "gbdt", Artifact: artifact, ArtifactSHA256: fmt.Sprintf("%x", sha256.Sum256(artifact)),
			CreatedBy: "ops", CreatedAt: at, RequestID: fmt.Sprintf("req-%d", i)}
		if _, err := rs.CreateModelVersion(ctx, nv); err != nil {
			t.Fatal(err)
		}
	}
	p := &changePruner{store: st.(leadscore.LeadStore), retention: time.Hour, requests: rs, requestRetention: 24 * time.Hour,
		every: time.Hour, now: func() time.Time { return authT0.Add(50 * time.Hour) }, logger: testLogger(t)}
	p.prune(ctx)
	n, err := rs.PruneRequestIDs(ctx, authT0.Add(49*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneRequestIDs() after the pruner = %d, %v; want only the later id left to forget", n, err)
	}
}

// skewedStore is a store whose database clock runs two hours ahead of
// this process's.
type skewedStore struct{ leadscore.RegistryStore }

func (skewedStore) Now(context.Context) (time.Time, error) { return time.Now().Add(2 * time.Hour), nil }

// TestJobTimesFollowTheDatabaseClock: a job runner over a store with a
// clock of its own (PostgreSQL) writes job times on that clock, so
// heartbeats written by servers on different machines compare on one
// clock; and the PostgreSQL store's clock is the database's.
func TestJobTimesFollowTheDatabaseClock(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	r := newJobRunner(skewedStore{st.(leadscore.RegistryStore)}, nil, nil, testLogger(t), 1, time.Second)
	r.ctx = t.Context()
	if got := r.now(); got.Sub(time.Now()).Abs() > time.Minute {
		t.Fatalf("now() before reading the clock = %v, want local time", got)
	}
	r.readClock()
	if ahead := r.now().Sub(time.Now()); ahead < 2*time.Hour-time.Minute || ahead > 2*time.Hour+time.Minute {
		t.Fatalf("now() after reading a clock 2h ahead is %v ahead, want about 2h", ahead)
	}
	db := pgtest.Open(t)
	got, err := db.Now(t.Context())
	if err != nil || got.Sub(time.Now()).Abs() > time.Minute {
		t.Fatalf("postgres Now() = %v, %v; want the database's time, near this machine's", got, err)
	}
}

// TestImportsBeyondTheLimitAreRefused: with every import slot taken, one
// more ImportModelVersion is RESOURCE_EXHAUSTED before it reads its
// artifact; with a slot free, the same call goes through to validation.
func TestImportsBeyondTheLimitAreRefused(t *testing.T) {
	t.Parallel()
	svc := &modelRegistryService{imports: make(chan struct{}, DefaultMaxImports)}
	for range DefaultMaxImports {
		svc.imports <- struct{}{}
	}
	req := &leadscorev1.ImportModelVersionRequest{Parent: "models/m", Artifact: []byte("not an artifact")}
	_, err := svc.ImportModelVersion(t.Context(), req)
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(status.Convert(err).Message(), "2 imports are in progress") {
		t.Fatalf("ImportModelVersion() past the limit = %v; want RESOURCE_EXHAUSTED naming it", err)
	}
	<-svc.imports
	svc.reg = registry.New(openStore(t).(leadscore.RegistryStore))
	_, err = svc.ImportModelVersion(t.Context(), req)
	if code := leadscore.ErrorCode(err); code == "" || status.Code(err) == codes.ResourceExhausted {
		t.Fatalf("ImportModelVersion() with a slot free = %v; want it validated (and the bad artifact refused)", err)
	}
	if len(svc.imports) != DefaultMaxImports-1 {
		t.Errorf("%d slots taken after the call, want its slot given back", len(svc.imports))
	}
}
