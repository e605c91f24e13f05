package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/internal/pgcluster"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/postgres/pgtest"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/server"
	"github.com/leadscore/leadscore/trainer"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The gRPC health service names these tests check.
const (
	scoringHealthName    = "leadscore.v1.ScoringService"
	registryHealthName   = "leadscore.v1.ModelRegistryService"
	evaluationHealthName = "leadscore.v1.EvaluationService"
)

// TestServersSwitchChampionUnderLoad runs two servers on one PostgreSQL
// schema under a steady Score load and promotes a new champion through a
// third process, as a deploy pipeline does: no call fails, every answer
// comes from the old or the new champion, each server switches within
// seconds of the promotion, and once a server has answered with the new
// champion it never answers with the old one again.
func TestServersSwitchChampionUnderLoad(t *testing.T) {
	t.Parallel()
	fx := liveScoringFixture(t)
	store := pgtest.URL(t)
	v1, v2 := registerFixture(t, store, fx)
	runBinary(t, "promote", v1, "--force", "--reason", "first champion of the load test", "--store", store)

	servers := map[string]*grpc.ClientConn{}
	for _, name := range []string{"A", "B"} {
		p := startServe(t, nil, "--store", store, "--admin-addr", "")
		t.Cleanup(func() { checkStillRunning(t, "server "+name, p) })
		servers[name] = p.dial(t)
	}
	for name, conn := range servers {
		waitForHealth(t, name, conn, scoringHealthName, healthpb.HealthCheckResponse_SERVING, time.Minute)
	}

	load := startScoreLoad(t, fx, servers, 4)
	for name := range servers {
		load.waitForAnswers(t, name, v1, time.Time{}, 20, 30*time.Second)
	}
	time.Sleep(2 * time.Second) // the load runs a while before the promotion
	promoting := time.Now()
	runBinary(t, "promote", v2, "--force", "--reason", "test", "--store", store)
	t.Logf("leadscore promote %s took %v", v2, time.Since(promoting).Round(time.Millisecond))
	for name := range servers {
		// Generous: a notice arrives in milliseconds; a missed one would
		// wait for the loader's 30-second resync.
		switched := load.waitForAnswers(t, name, v2, promoting, 1, 10*time.Second)
		t.Logf("server %s first answered with %s %v after the promotion began", name, v2, switched.Sub(promoting).Round(time.Millisecond))
	}
	// Keep the load going a while, so that an answer from the old
	// champion after the switch would be caught.
	time.Sleep(2 * time.Second)
	for name := range servers {
		load.waitForAnswers(t, name, v2, time.Now(), 20, 30*time.Second)
	}
	calls := load.stop()

	checkScoreCalls(t, calls, v1, v2)
	checkNoReturnToOld(t, calls, v1, v2)
}

// TestServeRidesOutAPostgresOutage stops the PostgreSQL of a running server
// in the middle of a Score load and starts it again. Scoring inline leads
// needs only the loaded champion, so it goes on, and its health stays
// SERVING; the services that need the store report NOT_SERVING while it is
// away and SERVING again once it is back, without a restart; and the loader
// listens again, so a champion promoted after the outage is picked up.
func TestServeRidesOutAPostgresOutage(t *testing.T) {
	t.Parallel()
	fx := liveScoringFixture(t)
	cluster := pgcluster.New(t)
	store := cluster.CreateDatabase(t, "leadscore")
	v1, v2 := registerFixture(t, store, fx)
	runBinary(t, "promote", v1, "--force", "--reason", "first champion of the outage test", "--store", store)

	p := startServe(t, nil, "--store", store, "--admin-addr", "")
	t.Cleanup(func() { checkStillRunning(t, "the server", p) })
	conn := p.dial(t)
	for _, name := range []string{scoringHealthName, registryHealthName, evaluationHealthName} {
		waitForHealth(t, "the server", conn, name, healthpb.HealthCheckResponse_SERVING, time.Minute)
	}
	scoringHealth := watchHealthChanges(t, conn, scoringHealthName)
	registryClient := leadscorev1.NewModelRegistryServiceClient(conn)

	load := startScoreLoad(t, fx, map[string]*grpc.ClientConn{"server": conn}, 4)
	load.waitForAnswers(t, "server", v1, time.Time{}, 20, 30*time.Second)

	cluster.Stop(t)
	stopped := time.Now()
	// The store is pinged every 5 seconds; allow a few.
	for _, name := range []string{registryHealthName, evaluationHealthName} {
		waitForHealth(t, "the server", conn, name, healthpb.HealthCheckResponse_NOT_SERVING, 30*time.Second)
	}
	t.Logf("the store services reported NOT_SERVING %v after PostgreSQL stopped", time.Since(stopped).Round(time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	_, err := registryClient.ListModels(ctx, &leadscorev1.ListModelsRequest{})
	cancel()
	if got, want := status.Code(err), codes.Unavailable; got != want {
		t.Errorf("ListModels while PostgreSQL is stopped: got %v (%v), want %v", got, err, want)
	}
	// Scoring goes on from the loaded champion while the store is away.
	load.waitForAnswers(t, "server", v1, time.Now(), 50, 30*time.Second)

	cluster.Start(t)
	restarted := time.Now()
	for _, name := range []string{registryHealthName, evaluationHealthName} {
		waitForHealth(t, "the server", conn, name, healthpb.HealthCheckResponse_SERVING, 30*time.Second)
	}
	t.Logf("the store services reported SERVING %v after PostgreSQL started again", time.Since(restarted).Round(time.Millisecond))
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Second)
	list, err := registryClient.ListModels(ctx, &leadscorev1.ListModelsRequest{})
	cancel()
	if err != nil {
		t.Errorf("ListModels after PostgreSQL started again: %v", err)
	} else if n := len(list.GetModels()); n != 1 || list.GetModels()[0].GetName() != "models/default" {
		t.Errorf("ListModels after PostgreSQL started again: got %v, want models/default alone", list.GetModels())
	}

	// Promote only once the loader listens again, so that the pick-up
	// comes from the promotion's notice rather than the reconnection's
	// resync.
	waitForListener(t, store, 60*time.Second)
	t.Logf("the loader listened again %v after PostgreSQL started again", time.Since(restarted).Round(time.Millisecond))
	promoting := time.Now()
	runBinary(t, "promote", v2, "--force", "--reason", "test", "--store", store)
	switched := load.waitForAnswers(t, "server", v2, promoting, 1, 10*time.Second)
	t.Logf("the server first answered with %s %v after the promotion began", v2, switched.Sub(promoting).Round(time.Millisecond))
	load.waitForAnswers(t, "server", v2, time.Now(), 20, 30*time.Second)
	calls := load.stop()

	checkScoreCalls(t, calls, v1, v2)
	checkNoReturnToOld(t, calls, v1, v2)
	if changes := scoringHealth.stop(); len(changes) != 1 || changes[0] != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("%s health over the outage: got %v, want SERVING throughout", scoringHealthName, changes)
	}
}

// liveFixture is what the end-to-end serving tests score with: two
// distinct logistic artifacts trained on a small generated history, and
// leads of that history as a CRM sends them inline.
type liveFixture struct {
	artifacts [2][]byte
	leads     []*leadscorev1.InlineLead
	// scoreAt is the score time of every request: the leads' events
	// before it count.
	scoreAt time.Time
}

var (
	liveOnce sync.Once
	live     liveFixture
	liveErr  error
)

// liveScoringFixture builds the fixture once per test binary; it takes a
// few seconds.
func liveScoringFixture(t *testing.T) liveFixture {
	t.Helper()
	liveOnce.Do(func() { live, liveErr = buildLiveFixture(context.Background()) })
	if liveErr != nil {
		t.Fatalf("build the scoring fixture: %v", liveErr)
	}
	return live
}

func buildLiveFixture(ctx context.Context) (liveFixture, error) {
	var fx liveFixture
	dir, err := os.MkdirTemp("", "leadscore-live-")
	if err != nil {
		return fx, err
	}
	defer os.RemoveAll(dir)
	start := time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	if _, err := synth.Generate(ctx, dir, synth.Config{Leads: 2000, Seed: 3, Start: start, Months: 8, Workers: 1}); err != nil {
		return fx, fmt.Errorf("generate history: %w", err)
	}
	h, _, err := dataset.LoadHistory(ctx, dataset.HistoryFiles{
		Leads:    filepath.Join(dir, synth.LeadsFile),
		Events:   filepath.Join(dir, synth.EventsFile),
		Outcomes: filepath.Join(dir, synth.OutcomesFile),
	}, dataset.ReadOptions{})
	if err != nil {
		return fx, fmt.Errorf("load history: %w", err)
	}
	data, err := trainer.FromHistory(ctx, h, trainer.HistoryOptions{})
	if err != nil {
		return fx, fmt.Errorf("prepare training data: %w", err)
	}
	// Different regularisation makes different artifacts, so the two
	// versions are told apart by checksum as well as by number.
	for i, c := range []float64{1, 0.05} {
		m, _, err := trainer.Train(ctx, data, trainer.Config{Family: model.FamilyLogistic, Seed: 1, Logistic: trainer.LogisticOptions{C: c}})
		if err != nil {
			return fx, fmt.Errorf("train version %d: %w", i+1, err)
		}
		if fx.artifacts[i], err = artifact.Marshal(m); err != nil {
			return fx, fmt.Errorf("marshal version %d: %w", i+1, err)
		}
	}
	fx.scoreAt = start.AddDate(0, 7, 0)
	for i := 0; i < h.Len() && len(fx.leads) < 16; i += 7 {
		lead := inlineLeadAt(h, i, fx.scoreAt)
		if h.Created(i).Before(fx.scoreAt) && len(lead.Events) > 0 {
			fx.leads = append(fx.leads, lead)
		}
	}
	if len(fx.leads) == 0 {
		return fx, fmt.Errorf("no lead of the history has events before %s", fx.scoreAt.Format(time.DateOnly))
	}
	return fx, nil
}

// inlineLeadAt converts lead i of a history, with its events before at,
// into an inline lead.
func inlineLeadAt(h *dataset.History, i int, at time.Time) *leadscorev1.InlineLead {
	return server.InlineLead(h.Lead(i), h.Events(i), at)
}

// registerFixture registers the fixture's artifacts as two versions of
// model default with `leadscore register`, and returns their names.
func registerFixture(t *testing.T, store string, fx liveFixture) (v1, v2 string) {
	t.Helper()
	dir := t.TempDir()
	var names [2]string
	for i, a := range fx.artifacts {
		file := filepath.Join(dir, fmt.Sprintf("v%d.lsm", i+1))
		if err := os.WriteFile(file, a, 0o644); err != nil {
			t.Fatal(err)
		}
		out := runBinary(t, "register", "--model", "default", file, "--json", "--store", store)
		var v struct {
			Name string `json:"name"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Name == "" {
			t.Fatalf("register --json printed no version name (%v):\n%s", err, out)
		}
		names[i] = v.Name
	}
	return names[0], names[1]
}

// runBinary runs the leadscore binary as a process of its own, as an
// operator or a deploy pipeline would, and returns its standard output. It
// fails the test unless the command exits 0.
func runBinary(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("leadscore %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

// checkStillRunning fails the test if a server process has exited on its
// own before the test's cleanup stops it.
func checkStillRunning(t *testing.T, name string, p *process) {
	t.Helper()
	select {
	case <-p.done:
		t.Errorf("%s exited during the test: %v", name, p.waitErr)
	default:
	}
}

// waitForHealth polls a service's health until it reports want.
func waitForHealth(t *testing.T, server string, conn *grpc.ClientConn, service string, want healthpb.HealthCheckResponse_ServingStatus, within time.Duration) {
	t.Helper()
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(within)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
		cancel()
		if err == nil && resp.GetStatus() == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: health of %s is %v (error %v) after %v, want %v", server, service, resp.GetStatus(), err, within, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// healthChanges records every status a health Watch stream delivers.
type healthChanges struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	changes []healthpb.HealthCheckResponse_ServingStatus
	err     error
}

// watchHealthChanges watches a service's health until stop, recording
// each status the server sends: unlike polling, it misses no blip.
func watchHealthChanges(t *testing.T, conn *grpc.ClientConn, service string) *healthChanges {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		cancel()
		t.Fatalf("watch the health of %s: %v", service, err)
	}
	w := &healthChanges{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(w.done)
		for {
			resp, err := stream.Recv()
			w.mu.Lock()
			if err != nil {
				if ctx.Err() == nil {
					w.err = err
				}
				w.mu.Unlock()
				return
			}
			w.changes = append(w.changes, resp.GetStatus())
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { w.stop() })
	return w
}

// stop ends the watch and returns the statuses it saw; a stream that
// broke before counts as a status the test did not want.
func (w *healthChanges) stop() []healthpb.HealthCheckResponse_ServingStatus {
	w.cancel()
	<-w.done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return append(w.changes, healthpb.HealthCheckResponse_UNKNOWN)
	}
	return w.changes
}

// waitForListener waits until a session of the database runs LISTEN: the
// loader of the server is subscribed to alias notices again.
func waitForListener(t *testing.T, store string, within time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		n, err := countListeners(ctx, store)
		if err == nil && n > 0 {
			return
		}
		if ctx.Err() != nil {
			t.Fatalf("no session of the server's database has run LISTEN within %v (last error: %v): the loader did not subscribe again", within, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func countListeners(ctx context.Context, store string) (int, error) {
	conn, err := pgx.Connect(ctx, store)
	if err != nil {
		return 0, err
	}
	defer conn.Close(ctx)
	var n int
	err = conn.QueryRow(ctx,
		`SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() AND query LIKE 'LISTEN %'`).Scan(&n)
	return n, err
}

// scoreCall is one Score call of a load.
type scoreCall struct {
	server     string
	worker     int
	start, end time.Time
	// version is the model version that answered; "" when the call failed.
	version string
	err     error
}

// scoreLoad calls Score with inline leads from several goroutines per
// server, one call after another in each, until stopped, and records
// every call.
type scoreLoad struct {
	stopOnce sync.Once
	quit     chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	calls []scoreCall
}

// startScoreLoad starts workers goroutines per server. The load stops when
// the test ends if stop was not called before.
func startScoreLoad(t *testing.T, fx liveFixture, servers map[string]*grpc.ClientConn, workers int) *scoreLoad {
	t.Helper()
	l := &scoreLoad{quit: make(chan struct{})}
	opts := &leadscorev1.ScoreOptions{ScoreTime: timestamppb.New(fx.scoreAt)}
	for name, conn := range servers {
		client := leadscorev1.NewScoringServiceClient(conn)
		for w := range workers {
			l.wg.Add(1)
			go func() {
				defer l.wg.Done()
				for i := w; ; i++ {
					select {
					case <-l.quit:
						return
					default:
					}
					lead := fx.leads[i%len(fx.leads)]
					c := scoreCall{server: name, worker: w, start: time.Now()}
					// A call that hangs fails the load instead of the
					// test's deadline.
					ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
					resp, err := client.Score(ctx, &leadscorev1.ScoreRequest{
						Item:    &leadscorev1.ScoreItem{Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: lead}},
						Options: opts,
					})
					cancel()
					c.end, c.err = time.Now(), err
					if err == nil {
						c.version = resp.GetScore().GetModelVersion()
					}
					l.mu.Lock()
					l.calls = append(l.calls, c)
					l.mu.Unlock()
					// A short pause keeps the load from taking every core
					// of a shared machine; a refused call waits longer.
					pause := 2 * time.Millisecond
					if err != nil {
						pause = 10 * time.Millisecond
					}
					time.Sleep(pause)
				}
			}()
		}
	}
	t.Cleanup(func() { l.stop() })
	return l
}

// stop stops the load and returns every call it made.
func (l *scoreLoad) stop() []scoreCall {
	l.stopOnce.Do(func() { close(l.quit) })
	l.wg.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]scoreCall(nil), l.calls...)
}

// waitForAnswers waits until a server has answered n calls started at or
// after since with version, and returns when the first of them ended.
func (l *scoreLoad) waitForAnswers(t *testing.T, server, version string, since time.Time, n int, within time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		l.mu.Lock()
		var first time.Time
		got := 0
		for _, c := range l.calls {
			if c.server == server && c.version == version && !c.start.Before(since) {
				if got == 0 || c.end.Before(first) {
					first = c.end
				}
				got++
			}
		}
		last := scoreCall{}
		for i := len(l.calls) - 1; i >= 0; i-- {
			if l.calls[i].server == server {
				last = l.calls[i]
				break
			}
		}
		l.mu.Unlock()
		if got >= n {
			return first
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s answered %d calls with %s within %v, want %d; its last call answered %q (error %v)",
				server, got, version, within, n, last.version, last.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// checkScoreCalls checks that every call succeeded, with one of versions.
func checkScoreCalls(t *testing.T, calls []scoreCall, versions ...string) {
	t.Helper()
	var failed, strange []string
	perServer := map[string]int{}
	for _, c := range calls {
		perServer[c.server]++
		switch {
		case c.err != nil:
			failed = append(failed, fmt.Sprintf("server %s at %s: %v", c.server, c.start.Format("15:04:05.000"), c.err))
		case !slices.Contains(versions, c.version):
			strange = append(strange, fmt.Sprintf("server %s at %s: %q", c.server, c.start.Format("15:04:05.000"), c.version))
		}
	}
	t.Logf("%d Score calls (per server %v)", len(calls), perServer)
	if len(failed) > 0 {
		t.Errorf("%d of %d Score calls failed, want none; the first:\n%s", len(failed), len(calls), strings.Join(failed[:min(5, len(failed))], "\n"))
	}
	if len(strange) > 0 {
		t.Errorf("%d Score calls were answered by a version other than %v; the first:\n%s", len(strange), versions, strings.Join(strange[:min(5, len(strange))], "\n"))
	}
}

// checkNoReturnToOld checks that no server answers with version from once
// it has answered with version to: in each goroutine the answers run
// from* to*, and no call started after the server's first answer from to
// ended was answered by from. (A call that began before the switch may
// still end after it with from; that is not going back.)
func checkNoReturnToOld(t *testing.T, calls []scoreCall, from, to string) {
	t.Helper()
	calls = slices.Clone(calls)
	sort.SliceStable(calls, func(i, j int) bool { return calls[i].start.Before(calls[j].start) })
	type worker struct {
		server string
		n      int
	}
	firstNew := map[string]time.Time{}
	for _, c := range calls {
		if c.version != to {
			continue
		}
		if f, ok := firstNew[c.server]; !ok || c.end.Before(f) {
			firstNew[c.server] = c.end
		}
	}
	seen := map[worker]bool{}
	for _, c := range calls {
		w := worker{c.server, c.worker}
		switch c.version {
		case to:
			seen[w] = true
		case from:
			if seen[w] {
				t.Errorf("server %s, goroutine %d: answered with %s at %s after answering with %s", c.server, c.worker, from, c.start.Format("15:04:05.000"), to)
			}
			if f, ok := firstNew[c.server]; ok && c.start.After(f) {
				t.Errorf("server %s answered a call started at %s with %s, after it first answered with %s at %s",
					c.server, c.start.Format("15:04:05.000"), from, to, f.Format("15:04:05.000"))
			}
		}
	}
}
