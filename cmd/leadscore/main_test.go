package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/otlptest"
	"github.com/leadscore/leadscore/postgres/pgtest"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"
)

// binary is the leadscore binary built once for the tests that run it as a
// separate process, as an operator would.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leadscore-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(2)
	}
	binary = filepath.Join(dir, "leadscore")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build leadscore:", err)
		os.RemoveAll(dir)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if wf.dir != "" {
		os.RemoveAll(wf.dir)
	}
	os.Exit(code)
}

// mapEnv is an envFunc over a map, so tests need not touch the process
// environment and can run in parallel.
func mapEnv(m map[string]string) envFunc {
	return func(key string) (string, bool) {
		v, ok := m[key]
		return v, ok
	}
}

func runCommand(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	// Generous: a tuned training under -race on a loaded 2-core machine
	// takes a minute or more.
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	code = run(ctx, args, mapEnv(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	stores := map[string]func(t *testing.T) string{
		"sqlite":   func(t *testing.T) string { return filepath.Join(t.TempDir(), "nested", "leadscore.db") },
		"postgres": func(t *testing.T) string { return pgtest.URL(t) },
	}
	for backend, newStore := range stores {
		t.Run(backend+" applies every migration once", func(t *testing.T) {
			t.Parallel()
			store := newStore(t)
			code, out, errOut := runCommand(t, nil, "migrate", "--store", store)
			if code != exitOK {
				t.Fatalf("first migrate: exit %d, stderr %s", code, errOut)
			}
			if !strings.Contains(out, "0001_init  applied now") || !strings.Contains(out, "("+backend+")") {
				t.Errorf("first migrate output does not report 0001_init applied now on %s:\n%s", backend, out)
			}
			code, out, errOut = runCommand(t, nil, "migrate", "--store", store, "--json")
			if code != exitOK {
				t.Fatalf("second migrate: exit %d, stderr %s", code, errOut)
			}
			var report struct {
				Backend    string `json:"backend"`
				Migrations []struct {
					Version    int        `json:"version"`
					AppliedAt  *time.Time `json:"applied_at"`
					AppliedNow bool       `json:"applied_now"`
				} `json:"migrations"`
			}
			if err := json.Unmarshal([]byte(out), &report); err != nil {
				t.Fatalf("migrate --json output is not JSON: %v\n%s", err, out)
			}
			if report.Backend != backend || len(report.Migrations) == 0 {
				t.Fatalf("got %+v, want migrations of a %s store", report, backend)
			}
			for _, m := range report.Migrations {
				if m.AppliedAt == nil || m.AppliedNow {
					t.Errorf("second migrate: migration %d has applied_at %v, applied_now %v; want applied before, not now",
						m.Version, m.AppliedAt, m.AppliedNow)
				}
			}
		})
	}
}

func TestMigrateStatusOnAFreshStoreListsPending(t *testing.T) {
	t.Parallel()
	store := filepath.Join(t.TempDir(), "leadscore.db")
	code, out, errOut := runCommand(t, nil, "migrate", "status", "--store", store)
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	if !strings.Contains(out, "0001_init  pending") {
		t.Errorf("status on a fresh store does not list 0001_init as pending:\n%s", out)
	}
}

func TestConfigurationFromEnvironment(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fromEnv := filepath.Join(dir, "env.db")
	fromFlag := filepath.Join(dir, "flag.db")

	t.Run("environment sets an unset flag", func(t *testing.T) {
		code, out, errOut := runCommand(t, map[string]string{"LEADSCORE_STORE": fromEnv}, "migrate")
		if code != exitOK {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if !strings.Contains(out, "store: "+fromEnv) {
			t.Errorf("got output %q, want the store from LEADSCORE_STORE", out)
		}
	})
	t.Run("flag wins over environment", func(t *testing.T) {
		code, out, errOut := runCommand(t, map[string]string{"LEADSCORE_STORE": fromEnv}, "migrate", "--store", fromFlag)
		if code != exitOK {
			t.Fatalf("exit %d, stderr %s", code, errOut)
		}
		if !strings.Contains(out, "store: "+fromFlag) {
			t.Errorf("got output %q, want the store from --store", out)
		}
	})
	t.Run("bad environment value names the variable and value", func(t *testing.T) {
		code, _, errOut := runCommand(t, map[string]string{"LEADSCORE_SHUTDOWN_TIMEOUT": "soon"}, "serve")
		if code != exitError {
			t.Errorf("got exit %d, want %d", code, exitError)
		}
		if !strings.Contains(errOut, "LEADSCORE_SHUTDOWN_TIMEOUT") || !strings.Contains(errOut, `"soon"`) {
			t.Errorf("stderr %q does not name the variable and the value", errOut)
		}
	})
	t.Run("unknown store scheme is refused", func(t *testing.T) {
		code, _, errOut := runCommand(t, nil, "migrate", "--store", "mysql://user:hunter2@db/leads")
		if code != exitError {
			t.Errorf("got exit %d, want %d", code, exitError)
		}
		if !strings.Contains(errOut, "--store") || strings.Contains(errOut, "hunter2") {
			t.Errorf("stderr %q should name --store without the password", errOut)
		}
	})
	t.Run("unknown command", func(t *testing.T) {
		code, _, errOut := runCommand(t, nil, "serv")
		if code != exitError || !strings.Contains(errOut, `unknown command "serv"`) {
			t.Errorf("got exit %d, stderr %q", code, errOut)
		}
	})
}

func TestRedactHidesPasswords(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"postgres://u:secret@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgresql://h/db", "postgresql://h/db"},
		{"leadscore-data/leadscore.db", "leadscore-data/leadscore.db"},
	}
	for _, tt := range tests {
		if got := redact(tt.in); got != tt.want {
			t.Errorf("redact(%q): got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// process is a running `leadscore serve`.
type process struct {
	cmd       *exec.Cmd
	grpcAddr  string
	adminAddr string
	done      chan struct{}
	waitErr   error

	mu   sync.Mutex
	logs []map[string]any
}

// startServe runs `leadscore serve --no-auth` on loopback ports chosen by
// the kernel and waits until it logs that it is serving.
func startServe(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	return startServeWith(t, env, append([]string{"--no-auth"}, args...)...)
}

// startServeWith is startServe with authentication as args set it.
func startServeWith(t *testing.T, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatalf("stderr pipe: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start serve: %v", err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	ready := make(chan struct{})
	go func() {
		scanner := bufio.NewScanner(stderr)
		signalled := false
		for scanner.Scan() {
			var entry map[string]any
			if err := json.Unmarshal(scanner.Bytes(), &entry); err != nil {
				entry = map[string]any{"msg": "not json", "line": scanner.Text()}
			}
			p.mu.Lock()
			p.logs = append(p.logs, entry)
			if addr, ok := entry["admin_addr"].(string); ok {
				p.adminAddr = addr
			}
			if addr, ok := entry["grpc_addr"].(string); ok && entry["msg"] == "serving" && !signalled {
				p.grpcAddr = addr
				signalled = true
				close(ready)
			}
			p.mu.Unlock()
		}
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			for _, l := range p.logLines() {
				t.Logf("serve log: %v", l)
			}
		}
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("serve exited before serving: %v", p.waitErr)
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not report serving within a minute")
	}
	return p
}

func (p *process) logLines() []map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]map[string]any(nil), p.logs...)
}

func (p *process) dial(t *testing.T) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(p.grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatalf("dial %s: %v", p.grpcAddr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// wait waits for the process to exit and returns its exit code.
func (p *process) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("serve did not exit within a minute of SIGTERM")
	}
	var exitErr *exec.ExitError
	if errors.As(p.waitErr, &exitErr) {
		return exitErr.ExitCode()
	}
	if p.waitErr != nil {
		t.Fatalf("wait: %v", p.waitErr)
	}
	return 0
}

func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	return resp.StatusCode, string(body)
}

func TestServeEndToEnd(t *testing.T) {
	t.Parallel()
	receiver := otlptest.Start(t)
	store := filepath.Join(t.TempDir(), "data", "leadscore.db")
	p := startServe(t, []string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=http://" + receiver.Endpoint(),
		"OTEL_EXPORTER_OTLP_INSECURE=true",
		"OTEL_SERVICE_NAME=leadscore-e2e",
	}, "--store", store)
	conn := p.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Health answers SERVING.
	health := healthpb.NewHealthClient(conn)
	resp, err := health.Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Fatalf("health: got %v, want %v", got, want)
	}

	// Reflection lists every leadscore service, as `grpcurl list` shows.
	listed := listServices(ctx, t, conn)
	for _, name := range []string{
		"leadscore.v1.ScoringService", "leadscore.v1.LeadService", "leadscore.v1.ModelRegistryService",
		"leadscore.v1.TrainingService", "leadscore.v1.EvaluationService", "grpc.health.v1.Health",
	} {
		if !listed[name] {
			t.Errorf("reflection does not list %s; got %v", name, listed)
		}
	}

	// An rpc of a later issue answers Unimplemented, naming itself.
	err = conn.Invoke(ctx, "/leadscore.v1.TrainingService/CreateTrainingJob", &healthpb.HealthCheckRequest{}, &healthpb.HealthCheckResponse{})
	if status.Code(err) != codes.Unimplemented || !strings.Contains(err.Error(), "CreateTrainingJob") {
		t.Errorf("CreateTrainingJob: got %v, want Unimplemented naming CreateTrainingJob", err)
	}
	// UpsertLeads is built: an empty request is refused naming the field.
	_, err = leadscorev1.NewLeadServiceClient(conn).UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "leads") {
		t.Errorf("UpsertLeads of nothing: got %v, want InvalidArgument naming leads", err)
	}
	// Score is built: an empty request is refused naming the field.
	_, err = leadscorev1.NewScoringServiceClient(conn).Score(ctx, &leadscorev1.ScoreRequest{})
	if status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "item") {
		t.Errorf("Score of nothing: got %v, want InvalidArgument naming item", err)
	}

	// The admin server answers liveness, readiness and metrics.
	if code, _ := httpGet(t, "http://"+p.adminAddr+"/livez"); code != http.StatusOK {
		t.Errorf("/livez: got %d, want 200", code)
	}
	if code, _ := httpGet(t, "http://"+p.adminAddr+"/readyz"); code != http.StatusOK {
		t.Errorf("/readyz: got %d, want 200", code)
	}
	if code, body := httpGet(t, "http://"+p.adminAddr+"/metrics"); code != http.StatusOK || !strings.Contains(body, "rpc_server_call_duration_seconds") {
		t.Errorf("/metrics: got %d without the rpc duration metric:\n%.2000s", code, body)
	}
	// Runtime profiles are served only with --pprof.
	if code, _ := httpGet(t, "http://"+p.adminAddr+"/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ without --pprof: got %d, want 404", code)
	}

	// A watch stream is open when SIGTERM arrives: it is told NOT_SERVING,
	// then ended with Unavailable, and the process exits 0.
	watch, err := health.Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("watch health: %v", err)
	}
	if first, err := watch.Recv(); err != nil || first.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first watch update: got %v, %v; want SERVING", first.GetStatus(), err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	update, err := watch.Recv()
	if err != nil || update.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("watch update after SIGTERM: got %v, %v; want NOT_SERVING", update.GetStatus(), err)
	}
	_, err = watch.Recv()
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Errorf("watch stream after SIGTERM ended with %v (%v), want %v", got, err, want)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
	for _, l := range p.logLines() {
		if l["msg"] == "graceful shutdown timed out" {
			t.Errorf("shutdown had to force the stop: %v", l)
		}
	}

	// The spans of the calls reached the OTLP receiver, flushed at exit
	// (health checks make none: load balancers call them constantly).
	span := receiver.WaitForSpan(t, "leadscore.v1.ScoringService/Score", 30*time.Second)
	if got, _ := span.ResourceAttribute("service.name"); got != "leadscore-e2e" {
		t.Errorf("span resource service.name: got %q, want leadscore-e2e", got)
	}
	if _, err := os.Stat(store); err != nil {
		t.Errorf("the embedded store was not created at %s: %v", store, err)
	}
}

func TestServeOnPostgres(t *testing.T) {
	t.Parallel()
	p := startServe(t, nil, "--store", pgtest.URL(t))
	conn := p.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: "leadscore.v1.ModelRegistryService"})
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	if got, want := resp.GetStatus(), healthpb.HealthCheckResponse_SERVING; got != want {
		t.Errorf("health: got %v, want %v", got, want)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("send SIGTERM: %v", err)
	}
	if code := p.wait(t); code != 0 {
		t.Errorf("serve exited %d after SIGTERM, want 0", code)
	}
}

func TestServeRefusesAStoreBehindWithoutMigrate(t *testing.T) {
	t.Parallel()
	store := filepath.Join(t.TempDir(), "leadscore.db")
	code, _, errOut := runCommand(t, nil, "serve", "--store", store, "--migrate=false",
		"--grpc-addr", "127.0.0.1:0", "--admin-addr", "")
	if code != exitError {
		t.Errorf("got exit %d, want %d", code, exitError)
	}
	if !strings.Contains(errOut, "leadscore migrate") {
		t.Errorf("stderr %q does not tell the operator to run leadscore migrate", errOut)
	}
}

// listServices asks server reflection for the services, as `grpcurl list`
// does, and closes the reflection stream.
func listServices(ctx context.Context, t *testing.T, conn *grpc.ClientConn) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatalf("open reflection stream: %v", err)
	}
	if err := stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	}); err != nil {
		t.Fatalf("send list services: %v", err)
	}
	resp, err := stream.Recv()
	if err != nil {
		t.Fatalf("receive list services: %v", err)
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("close reflection stream: %v", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("reflection stream did not end cleanly: %v", err)
	}
	listed := map[string]bool{}
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed[s.GetName()] = true
	}
	return listed
}

// servingState is GET /v1/serving.
type servingState struct {
	Aliases []struct {
		Alias  string `json:"alias"`
		Loaded *struct {
			ModelVersion    string    `json:"model_version"`
			HistorySequence int64     `json:"history_sequence"`
			ArtifactSHA256  string    `json:"artifact_sha256"`
			LoadedAt        time.Time `json:"loaded_at"`
		} `json:"loaded"`
	} `json:"aliases"`
}

// servedVersion reads which version a process serves for its one alias,
// "" when none is loaded.
func servedVersion(t *testing.T, p *process) (string, servingState) {
	t.Helper()
	code, body := httpGet(t, "http://"+p.adminAddr+"/v1/serving")
	if code != http.StatusOK {
		t.Fatalf("/v1/serving: got %d: %s", code, body)
	}
	var st servingState
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("/v1/serving is not JSON: %v\n%s", err, body)
	}
	if len(st.Aliases) != 1 || st.Aliases[0].Alias != "models/default/aliases/champion" {
		t.Fatalf("/v1/serving: got %s, want the one served alias default@champion", body)
	}
	if st.Aliases[0].Loaded == nil {
		return "", st
	}
	return st.Aliases[0].Loaded.ModelVersion, st
}

// TestServingFollowsPromotionsAcrossProcesses is the acceptance check of
// hot reload: two servers share one PostgreSQL schema; versions are
// promoted through one, and the other swaps to each new champion within a
// second of the promotion, never showing a half-loaded or empty state in
// between.
func TestServingFollowsPromotionsAcrossProcesses(t *testing.T) {
	t.Parallel()
	store := pgtest.URL(t)
	a := startServe(t, nil, "--store", store, "--serve-model", "default@champion")
	b := startServe(t, nil, "--store", store, "--serve-model", "default@champion", "--pprof")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-leadscore-actor", "two-process-test")
	client := leadscorev1.NewModelRegistryServiceClient(a.dial(t))

	if v, _ := servedVersion(t, b); v != "" {
		t.Fatalf("before any promotion process B serves %q, want nothing", v)
	}
	if _, err := client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: "default"}); err != nil {
		t.Fatalf("create model: %v", err)
	}
	var versions []string
	for _, file := range []string{"tiny_logistic.lsm", "tiny_gbdt.lsm"} {
		art, err := os.ReadFile(filepath.Join("..", "..", "artifact", "testdata", file))
		if err != nil {
			t.Fatal(err)
		}
		v, err := client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/default", Artifact: art})
		if err != nil {
			t.Fatalf("import %s: %v", file, err)
		}
		versions = append(versions, v.GetModelVersion().GetName())
	}
	v1, v2 := versions[0], versions[1]

	// Poll B as fast as it answers, recording what it serves and when.
	type observation struct {
		at      time.Time
		version string
	}
	var (
		mu   sync.Mutex
		seen []observation
	)
	stop := make(chan struct{})
	polled := make(chan struct{})
	go func() {
		defer close(polled)
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := http.Get("http://" + b.adminAddr + "/v1/serving")
			if err != nil {
				continue
			}
			var st servingState
			err = json.NewDecoder(resp.Body).Decode(&st)
			resp.Body.Close()
			at := time.Now()
			if err != nil || len(st.Aliases) != 1 {
				continue
			}
			o := observation{at: at}
			if l := st.Aliases[0].Loaded; l != nil {
				o.version = l.ModelVersion
			}
			mu.Lock()
			seen = append(seen, o)
			mu.Unlock()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	// waitFor returns when B was first seen serving version after since.
	waitFor := func(version string, since time.Time) time.Time {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			mu.Lock()
			for _, o := range seen {
				if o.version == version && !o.at.Before(since) {
					mu.Unlock()
					return o.at
				}
			}
			mu.Unlock()
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("process B did not serve %s within 30s", version)
		return time.Time{}
	}

	promote := func(name, etag string) *leadscorev1.PromoteModelVersionResponse {
		t.Helper()
		resp, err := client.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{
			Name: name, Force: true, Reason: "two-process reload test", Etag: etag,
		})
		if err != nil {
			t.Fatalf("promote %s through process A: %v", name, err)
		}
		return resp
	}
	p1 := promote(v1, "")
	firstV1 := waitFor(v1, time.Time{})
	promote(v2, p1.GetAlias().GetEtag())
	promoted := time.Now()
	servedV2 := waitFor(v2, promoted)
	close(stop)
	<-polled

	if lag := servedV2.Sub(promoted); lag > time.Second {
		t.Errorf("process B served %s %v after the promotion returned, want within 1s", v2, lag)
	} else {
		t.Logf("process B served %s %v after the promotion returned", v2, lag.Round(time.Millisecond))
	}
	mu.Lock()
	for _, o := range seen {
		if o.at.Before(firstV1) {
			continue
		}
		if o.version != v1 && o.version != v2 {
			t.Errorf("after serving %s, process B reported %q at %v; want only %s or %s", v1, o.version, o.at.Format(time.RFC3339Nano), v1, v2)
		}
	}
	mu.Unlock()

	// Process B was started with --pprof: its admin server serves the
	// runtime's profiles.
	if code, body := httpGet(t, "http://"+b.adminAddr+"/debug/pprof/goroutine?debug=1"); code != http.StatusOK || !strings.Contains(body, "goroutine profile") {
		t.Errorf("/debug/pprof/goroutine with --pprof: got %d:\n%.500s", code, body)
	}

	// Both processes report the new champion, in /v1/serving and as a
	// metric.
	for name, p := range map[string]*process{"A": a, "B": b} {
		// Process B was watched switching above; A (which took the rpc)
		// gets a moment too, since it loads the new version on its own.
		got, st := servedVersion(t, p)
		for deadline := time.Now().Add(5 * time.Second); got != v2 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			got, st = servedVersion(t, p)
		}
		if got != v2 || st.Aliases[0].Loaded.HistorySequence != 2 || st.Aliases[0].Loaded.ArtifactSHA256 == "" || st.Aliases[0].Loaded.LoadedAt.IsZero() {
			t.Errorf("process %s serves %+v, want %s from history entry 2", name, st.Aliases[0].Loaded, v2)
		}
		_, metrics := httpGet(t, "http://"+p.adminAddr+"/metrics")
		if !strings.Contains(metrics, `leadscore_serving_model_version{alias="champion",model="default"`) ||
			!regexp.MustCompile(`leadscore_serving_model_version\{alias="champion",model="default"[^}]*\} 2\b`).MatchString(metrics) {
			t.Errorf("process %s's metrics do not report version 2 for default@champion:\n%s", name, grepLines(metrics, "leadscore_serving"))
		}
	}
}

// grepLines returns the lines of s containing sub.
func grepLines(s, sub string) string {
	var out []string
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, sub) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func TestServeModelFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		want string
		ok   bool
	}{
		{"default serves default@champion", nil, "default@champion", true},
		{"repeated and comma-separated", []string{"a@champion,b@shadow", "c@champion", "a@champion"}, "a@champion,b@shadow,c@champion", true},
		{"empty serves none", []string{""}, "", true},
		{"no alias", []string{"default"}, "", false},
		{"bad model", []string{"Default@champion"}, "", false},
		{"bad alias", []string{"default@"}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &aliasListFlag{refs: []leadscore.AliasRef{{Model: "default", Alias: "champion"}}}
			var err error
			for _, a := range tt.args {
				if err = f.Set(a); err != nil {
					break
				}
			}
			if (err == nil) != tt.ok {
				t.Fatalf("got error %v, want ok %v", err, tt.ok)
			}
			if tt.ok && f.String() != tt.want {
				t.Errorf("got %q, want %q", f.String(), tt.want)
			}
		})
	}
	code, _, errOut := runCommand(t, nil, "serve", "--serve-model", "nope", "--grpc-addr", "127.0.0.1:0", "--admin-addr", "")
	if code != exitError || !strings.Contains(errOut, "MODEL@ALIAS") {
		t.Errorf("serve --serve-model nope: got exit %d, stderr %q; want exit %d naming MODEL@ALIAS", code, errOut, exitError)
	}
}

// TestServeRefusesOutOfRangeFlags starts serve with each flag just out of
// its range: it exits 2 before opening anything, naming the flag, the
// value and the range.
func TestServeRefusesOutOfRangeFlags(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ flag, value, want string }{
		{"--pinned-versions", "0", "must be from 1 to 1024"},
		{"--max-streams", "100001", "must be from 1 to 100000"},
		{"--shadow-share", "-0.1", "must be from 0 to 1"},
		{"--shadow-queue", "0", "must be from 1 to 1048576"},
		{"--slow-call", "0s", "must be positive"},
		{"--max-call-duration", "0s", "must be positive"},
		{"--rescore-interval", "59s", "must be at least 1m"},
		{"--decay-tick", "500ms", "must be 0 (off) or at least 1s"},
		{"--decay-lease", "999ms", "must be at least 1s"},
		{"--decay-workers", "0", "must be from 1 to 64"},
		{"--decay-workers", "65", "must be from 1 to 64"},
		{"--change-retention", "59m", "must be at least 1h"},
		{"--history-step", "1.01", "must be from 0 to 1"},
		{"--lead-model", "Not A Slug", "must be a model id"},
	} {
		t.Run(tt.flag+"="+tt.value, func(t *testing.T) {
			t.Parallel()
			store := filepath.Join(t.TempDir(), "never-created.db")
			code, _, stderr := runCommand(t, nil, "serve", "--store", store, tt.flag, tt.value)
			if code != exitError || !strings.Contains(stderr, "invalid "+tt.flag+" ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("serve %s %s: exit %d, stderr %q; want 2 naming the flag and %q", tt.flag, tt.value, code, stderr, tt.want)
			}
			if _, err := os.Stat(store); !os.IsNotExist(err) {
				t.Errorf("serve %s %s created the store: %v", tt.flag, tt.value, err)
			}
		})
	}
}
