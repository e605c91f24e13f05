package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/server"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// quickstartModel is the model the quickstart builds and serves.
const quickstartModel = "default"

// runQuickstart is the README's first command: on a fresh store it
// generates a synthetic history, imports it, trains a points, a logistic
// and a GBDT version, backtests each and promotes the best through the
// gate; then it serves, prints how to call the server, and scores a few
// example leads. A second run finds the champion and goes straight to
// serving.
func runQuickstart(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int {
	fs := newFlagSet("quickstart", "quickstart [flags]", stderr)
	dir := fs.String("dir", "leadscore-data", "the directory holding the store, the generated history and the trained artifacts")
	grpcAddr := fs.String("grpc-addr", "localhost:50051", "the address the gRPC server listens on")
	adminAddr := fs.String("admin-addr", "localhost:9090", "the address of the admin HTTP server; empty disables it")
	leads := fs.Int("leads", 8000, "the number of leads of the generated history")
	seed := fs.Uint64("seed", 1, "the seed of the generated history and of training")
	keepServing := fs.Bool("serve", true, "keep serving until interrupted (Ctrl-C) after the examples; false stops after them")
	if err := parseFlags(fs, args, env); err != nil {
		return flagExit(err)
	}
	if *leads < 1000 || *leads > 200000 {
		fmt.Fprintf(stderr, "invalid --leads %d: must be from 1000 to 200000\n", *leads)
		return exitError
	}
	q := &quickstart{dir: *dir, store: filepath.Join(*dir, "leadscore.db"), history: filepath.Join(*dir, "history"),
		leads: *leads, seed: *seed, env: env, out: stdout, errw: stderr, started: time.Now()}
	if err := os.MkdirAll(q.dir, 0o755); err != nil {
		fmt.Fprintf(stderr, "leadscore quickstart: %v\n", err)
		return exitError
	}
	built, err := q.championExists(ctx)
	if err == nil && !built {
		err = q.build(ctx)
	}
	if err == nil {
		err = q.serve(ctx, *grpcAddr, *adminAddr, *keepServing)
	}
	if err != nil {
		if ctx.Err() != nil {
			return exitOK
		}
		fmt.Fprintf(stderr, "leadscore quickstart: %v\n", err)
		return exitError
	}
	return exitOK
}

type quickstart struct {
	dir, store, history string
	leads               int
	seed                uint64
	env                 envFunc
	out, errw           io.Writer
	started             time.Time
}

// step prints one line of progress with the time since the start.
func (q *quickstart) step(format string, args ...any) {
	fmt.Fprintf(q.out, "[%5.1fs] %s\n", time.Since(q.started).Seconds(), fmt.Sprintf(format, args...))
}

// runSubcommand is run, set in init: the command table holds quickstart,
// which runs other commands of the table, and Go refuses that cycle in a
// variable's initialisation.
var runSubcommand func(ctx context.Context, args []string, env envFunc, stdout, stderr io.Writer) int

func init() { runSubcommand = run }

// sub runs a leadscore subcommand in this process, exactly as the command
// line would, and returns its stdout; a failure carries its stderr.
func (q *quickstart) sub(ctx context.Context, args ...string) (string, int, error) {
	var out, errb bytes.Buffer
	code := runSubcommand(ctx, args, q.env, &out, &errb)
	if code == exitError {
		return out.String(), code, fmt.Errorf("leadscore %s: %s", strings.Join(args, " "), strings.TrimSpace(errb.String()))
	}
	return out.String(), code, nil
}

// championExists reports whether an earlier run built the champion.
func (q *quickstart) championExists(ctx context.Context) (bool, error) {
	if _, err := os.Stat(q.store); errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	reg, st, err := openRegistry(ctx, q.store, true, io.Discard)
	if err != nil {
		return false, err
	}
	defer st.Close()
	a, err := reg.Store().GetAlias(ctx, leadscore.AliasRef{Model: quickstartModel, Alias: leadscore.AliasChampion})
	switch {
	case leadscore.ErrorCode(err) == leadscore.ENOTFOUND:
		return false, nil
	case err != nil:
		return false, err
	}
	if _, err := os.Stat(filepath.Join(q.history, "manifest.json")); err != nil {
		return false, fmt.Errorf("%s has a champion but no generated history in %s: remove %s to start over", q.store, q.history, q.dir)
	}
	q.step("found %s serving version %d in %s: reusing what the last run built", quickstartModel+"@champion", a.Version, q.store)
	return true, nil
}

// build makes the champion from nothing.
func (q *quickstart) build(ctx context.Context) error {
	q.step("generating a synthetic history of %d leads into %s", q.leads, q.history)
	if _, _, err := q.sub(ctx, "generate", "--out", q.history, "--leads", strconv.Itoa(q.leads), "--seed", strconv.FormatUint(q.seed, 10), "--force"); err != nil {
		return err
	}
	end := dataset.ObservedUntil(q.history)
	if end.IsZero() {
		return fmt.Errorf("the generated history in %s has no manifest end", q.history)
	}
	// Versions learn from what was known a horizon before the history's
	// end, so the backtest judges them on the last 90 days, which they
	// never saw.
	until := end.Add(-dataset.DefaultHorizon)
	q.step("importing it into the store %s while training on what was known before %s", q.store, until.Format("2006-01-02"))

	// The import and the three trainings read the same files; the import
	// writes the store, the trainings only their artifacts, so they run at
	// once and the versions are registered after the import.
	var wg sync.WaitGroup
	var importErr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		_, _, importErr = q.sub(ctx, "import", "--store", q.store,
			"--leads", filepath.Join(q.history, "leads.csv"),
			"--events", filepath.Join(q.history, "events.csv"),
			"--outcomes", filepath.Join(q.history, "outcomes.csv"))
	}()
	families := []string{"points", "logistic", "gbdt"}
	var trainErr error
	for _, fam := range families {
		t0 := time.Now()
		_, _, err := q.sub(ctx, "train", "--data", q.history, "--until", until.Format(time.RFC3339),
			"--family", fam, "--seed", strconv.FormatUint(q.seed, 10), "--out", filepath.Join(q.dir, fam+".lsm"))
		if err != nil {
			trainErr = err
			break
		}
		q.step("trained %s in %s", fam, time.Since(t0).Round(100*time.Millisecond))
	}
	wg.Wait()
	if err := errors.Join(trainErr, importErr); err != nil {
		return err
	}
	q.step("imported the history")

	type candidate struct {
		version int64
		family  string
		auc     float64
		lift    float64
		passed  bool
	}
	var cands []candidate
	for _, fam := range families {
		out, _, err := q.sub(ctx, "register", "--store", q.store, "--model", quickstartModel, "--json", filepath.Join(q.dir, fam+".lsm"))
		if err != nil {
			return err
		}
		var v struct {
			Version int64 `json:"version"`
		}
		if err := json.Unmarshal([]byte(out), &v); err != nil || v.Version < 1 {
			return fmt.Errorf("read the registered version of %s from %q: %v", fam, out, err)
		}
		cands = append(cands, candidate{version: v.Version, family: fam})
	}
	q.step("registered versions %d to %d of model %s", cands[0].version, cands[len(cands)-1].version, quickstartModel)
	for i := range cands {
		c := &cands[i]
		ref := fmt.Sprintf("%s/versions/%d", quickstartModel, c.version)
		out, code, err := q.sub(ctx, "backtest", "--store", q.store, "--model", ref, "--data", q.history, "--json")
		if err != nil {
			return err
		}
		var rep struct {
			Candidate struct {
				AUC  float64 `json:"roc_auc"`
				Lift float64 `json:"lift_top_decile"`
			} `json:"candidate"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			return fmt.Errorf("read the backtest report of %s: %w", ref, err)
		}
		c.auc, c.lift, c.passed = rep.Candidate.AUC, rep.Candidate.Lift, code == exitOK
		verdict := "passed the gate"
		if !c.passed {
			verdict = "failed the gate"
		}
		q.step("backtested version %d (%s) on the last 90 days: ROC AUC %.3f, top-decile lift %.1f, %s", c.version, c.family, c.auc, c.lift, verdict)
	}
	best := -1
	for i, c := range cands {
		if c.passed && (best < 0 || c.auc > cands[best].auc) {
			best = i
		}
	}
	if best < 0 {
		return errors.New("no version passed the gate; nothing was promoted")
	}
	ref := fmt.Sprintf("%s/versions/%d", quickstartModel, cands[best].version)
	if _, _, err := q.sub(ctx, "promote", "--store", q.store, "--actor", "quickstart", ref); err != nil {
		return err
	}
	q.step("promoted version %d (%s, the best ROC AUC) to %s@champion through the gate", cands[best].version, cands[best].family, quickstartModel)
	return nil
}

// serve runs the server in this process, scores the examples and, when
// asked, serves until ctx ends.
func (q *quickstart) serve(ctx context.Context, grpcAddr, adminAddr string, keepServing bool) error {
	lis, err := net.Listen("tcp", grpcAddr)
	if err != nil {
		return fmt.Errorf("listen for grpc on %s (is another server running? pass --grpc-addr): %w", grpcAddr, err)
	}
	addr := lis.Addr().String()
	lis.Close()
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	logger := slog.New(slog.NewTextHandler(q.errw, &slog.HandlerOptions{Level: slog.LevelWarn}))
	served := make(chan error, 1)
	go func() {
		served <- serve(serveCtx, logger, serveConfig{
			store: q.store, grpcAddr: addr, adminAddr: adminAddr, migrate: true, shutdownTimeout: 5 * time.Second,
			serveModels: []leadscore.AliasRef{{Model: quickstartModel, Alias: leadscore.AliasChampion}},
			dataDir:     q.dir, maxJobs: 1, pinned: server.DefaultPinnedVersions, maxStreams: server.DefaultMaxStreams,
			shadow: server.ShadowOptions{Share: 0.1, Queue: server.DefaultShadowQueue}, slowCall: time.Second,
			// The quickstart is a newcomer's first look on their own
			// machine: no credentials to set up, and it says so.
			security: securityConfig{noAuth: true},
		})
	}()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := waitScoring(ctx, conn, served); err != nil {
		return err
	}
	q.step("serving on %s (embedded store %s; no authentication: this is for local use)", addr, q.store)

	examples, at, err := q.examples(ctx, conn)
	if err != nil {
		return err
	}
	q.printExamples(examples)
	q.printHowToCall(addr, adminAddr, examples[0].lead, at)
	if !keepServing {
		stopServing()
		return <-served
	}
	fmt.Fprintln(q.out, "Serving until Ctrl-C.")
	return <-served
}

// waitScoring waits until the scoring service reports SERVING.
func waitScoring(ctx context.Context, conn *grpc.ClientConn, served <-chan error) error {
	client := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(time.Minute)
	for {
		resp, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: leadscorev1.ScoringService_ServiceDesc.ServiceName})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_SERVING {
			return nil
		}
		select {
		case err := <-served:
			if err == nil {
				err = errors.New("the server stopped")
			}
			return err
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return errors.New("the champion did not load within a minute")
		}
	}
}

type example struct {
	id    string
	lead  *leadscorev1.InlineLead
	score *leadscorev1.LeadScore
}

// examples scores a sample of the history's leads as of the history's end
// and picks a spread of them: the hottest, some in between, the coldest.
func (q *quickstart) examples(ctx context.Context, conn *grpc.ClientConn) ([]example, time.Time, error) {
	at := dataset.ObservedUntil(q.history)
	h, _, err := dataset.LoadHistory(ctx, dataset.HistoryFiles{
		Leads:    filepath.Join(q.history, "leads.csv"),
		Events:   filepath.Join(q.history, "events.csv"),
		Outcomes: filepath.Join(q.history, "outcomes.csv"),
	}, dataset.ReadOptions{})
	if err != nil {
		return nil, at, err
	}
	var pool []example
	for i := 0; i < h.Len() && len(pool) < 300; i += max(1, h.Len()/600) {
		if st, _ := h.Outcome(i); st != leadscore.OutcomeUnknown || !h.Created(i).Before(at) {
			continue // a lead that already ended is not worth scoring
		}
		pool = append(pool, example{id: h.LeadID(i), lead: server.InlineLead(h.Lead(i), h.Events(i), at)})
	}
	if len(pool) < 5 {
		return nil, at, errors.New("the history has too few open leads to show")
	}
	req := &leadscorev1.ScoreBatchRequest{Options: &leadscorev1.ScoreOptions{ScoreTime: timestamppb.New(at), Explain: true, MaxFactors: 2}}
	for _, e := range pool {
		req.Items = append(req.Items, &leadscorev1.ScoreItem{Key: e.id, Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: e.lead}})
	}
	resp, err := leadscorev1.NewScoringServiceClient(conn).ScoreBatch(ctx, req)
	if err != nil {
		return nil, at, fmt.Errorf("score the examples: %w", err)
	}
	for i, r := range resp.GetResults() {
		if r.GetScore() == nil {
			return nil, at, fmt.Errorf("example %s: %s", r.GetKey(), r.GetError().GetMessage())
		}
		pool[i].score = r.GetScore()
	}
	sort.SliceStable(pool, func(a, b int) bool { return pool[a].score.GetProbability() > pool[b].score.GetProbability() })
	n := len(pool)
	pick := []int{0, 1, n / 10, n / 2, n - 1}
	var out []example
	for _, i := range pick {
		if !slices.ContainsFunc(out, func(e example) bool { return e.id == pool[i].id }) {
			out = append(out, pool[i])
		}
	}
	return out, at, nil
}

func (q *quickstart) printExamples(examples []example) {
	fmt.Fprintf(q.out, "\nExample leads, scored as of the history's end by %s:\n", examples[0].score.GetModelVersion())
	for _, e := range examples {
		s := e.score
		fmt.Fprintf(q.out, "  %-12s probability %5.1f%%  cell %s  → %s\n", e.id, 100*s.GetProbability(), s.GetCell(), s.GetNextAction())
		for _, f := range s.GetFactors() {
			fmt.Fprintf(q.out, "      %+.2f  %s\n", f.GetContribution(), f.GetDescription())
		}
	}
}

// printHowToCall prints grpcurl and curl lines that work pasted as they
// are into a POSIX shell.
func (q *quickstart) printHowToCall(addr, adminAddr string, lead *leadscorev1.InlineLead, at time.Time) {
	// Only a few events keep the line readable.
	small := &leadscorev1.InlineLead{Attributes: lead.GetAttributes(), CreateTime: lead.GetCreateTime()}
	if n := len(lead.GetEvents()); n > 3 {
		small.Events = lead.GetEvents()[n-3:]
	} else {
		small.Events = lead.GetEvents()
	}
	body := &leadscorev1.ScoreRequest{
		Item:    &leadscorev1.ScoreItem{Key: "example-1", Subject: &leadscorev1.ScoreItem_InlineLead{InlineLead: small}},
		Options: &leadscorev1.ScoreOptions{ScoreTime: timestamppb.New(at), Explain: true, MaxFactors: 3},
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(body)
	if err != nil {
		js = []byte("{}")
	}
	// protojson's spacing is deliberately unstable; compact it.
	var buf bytes.Buffer
	if json.Compact(&buf, js) == nil {
		js = buf.Bytes()
	}
	quoted := "'" + strings.ReplaceAll(string(js), "'", `'\''`) + "'"
	fmt.Fprintf(q.out, "\nCall it (grpcurl: go install github.com/fullstorydev/grpcurl/cmd/grpcurl@latest):\n\n")
	fmt.Fprintf(q.out, "  grpcurl -plaintext %s grpc.health.v1.Health/Check\n", addr)
	fmt.Fprintf(q.out, "  grpcurl -plaintext -d %s %s leadscore.v1.ScoringService/Score\n", quoted, addr)
	fmt.Fprintf(q.out, "  grpcurl -plaintext -d '{\"name\":\"models/%s/aliases/champion\"}' %s leadscore.v1.ModelRegistryService/GetAlias\n", quickstartModel, addr)
	if adminAddr != "" {
		fmt.Fprintf(q.out, "  curl -s http://%s/v1/serving\n", adminAddr)
	}
	fmt.Fprintln(q.out)
}
