package server

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

func float(v float64) *float64 { return &v }

func TestGatePolicies(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		conn := start(t, newServer(t, st))
		client := leadscorev1.NewEvaluationServiceClient(conn)
		ctx := asActor(testContext(t), "carol")

		policy := &leadscorev1.GatePolicy{
			Description: "strict",
			Rules: []*leadscorev1.GateRule{
				{Metric: "roc_auc", MinValue: float(0.6), MaxRegression: float(0.01)},
				{Metric: "log_loss", MaxRelativeRegression: float(0.05), Severity: leadscorev1.GateSeverity_GATE_SEVERITY_WARN},
			},
		}
		r1, err := client.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: "strict", GatePolicy: policy})
		if err != nil {
			t.Fatalf("create policy: %v", err)
		}
		got := r1.GetGatePolicy()
		if got.GetName() != "gatePolicies/strict/revisions/1" || got.GetRevision() != 1 || got.GetCreator() != "carol" || len(got.GetRules()) != 2 {
			t.Fatalf("created policy: got %v", got)
		}
		// The direction comes from the metric when the request leaves it
		// false, as proto3 cannot tell unset from false.
		if !got.GetRules()[0].GetHigherIsBetter() || got.GetRules()[1].GetHigherIsBetter() {
			t.Errorf("rule directions: got roc_auc %v, log_loss %v; want true, false", got.GetRules()[0].GetHigherIsBetter(), got.GetRules()[1].GetHigherIsBetter())
		}
		if got.GetRules()[1].GetSeverity() != leadscorev1.GateSeverity_GATE_SEVERITY_WARN || got.GetRules()[0].GetSeverity() != leadscorev1.GateSeverity_GATE_SEVERITY_FAIL {
			t.Errorf("rule severities: got %v, %v", got.GetRules()[0].GetSeverity(), got.GetRules()[1].GetSeverity())
		}
		policy.Rules[0].MinValue = float(0.65)
		r2, err := client.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: "strict", GatePolicy: policy})
		if err != nil || r2.GetGatePolicy().GetRevision() != 2 {
			t.Fatalf("second revision: got %v, %v", r2.GetGatePolicy(), err)
		}
		if _, err := client.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: "lenient", GatePolicy: &leadscorev1.GatePolicy{
			Rules: []*leadscorev1.GateRule{{Metric: "roc_auc", MinValue: float(0.5)}},
		}}); err != nil {
			t.Fatalf("create second policy: %v", err)
		}

		newest, err := client.GetGatePolicy(ctx, &leadscorev1.GetGatePolicyRequest{Name: "gatePolicies/strict"})
		if err != nil || newest.GetGatePolicy().GetRevision() != 2 || newest.GetGatePolicy().GetRules()[0].GetMinValue() != 0.65 {
			t.Errorf("newest revision: got %v, %v", newest.GetGatePolicy(), err)
		}
		first, err := client.GetGatePolicy(ctx, &leadscorev1.GetGatePolicyRequest{Name: "gatePolicies/strict/revisions/1"})
		if err != nil || first.GetGatePolicy().GetRevision() != 1 || first.GetGatePolicy().GetRules()[0].GetMinValue() != 0.6 {
			t.Errorf("revision 1: got %v, %v", first.GetGatePolicy(), err)
		}
		_, err = client.GetGatePolicy(ctx, &leadscorev1.GetGatePolicyRequest{Name: "gatePolicies/strict/revisions/9"})
		wantStatus(t, "get a revision that does not exist", err, codes.NotFound)
		_, err = client.GetGatePolicy(ctx, &leadscorev1.GetGatePolicyRequest{Name: "policies/strict"})
		wantBadField(t, "get a policy by a bad name", err, "name")
		builtin, err := client.GetGatePolicy(ctx, &leadscorev1.GetGatePolicyRequest{Name: "gatePolicies/default"})
		if err != nil || len(builtin.GetGatePolicy().GetRules()) == 0 {
			t.Errorf("the built-in default policy: got %v, %v", builtin.GetGatePolicy(), err)
		}

		var names []string
		token := ""
		for {
			page, err := client.ListGatePolicies(ctx, &leadscorev1.ListGatePoliciesRequest{PageSize: 1, PageToken: token})
			if err != nil {
				t.Fatalf("list policies: %v", err)
			}
			for _, p := range page.GetGatePolicies() {
				names = append(names, p.GetName())
			}
			if token = page.GetNextPageToken(); token == "" {
				break
			}
		}
		if want := []string{"gatePolicies/lenient/revisions/1", "gatePolicies/strict/revisions/2"}; !slices.Equal(names, want) {
			t.Errorf("listed policies: got %v, want %v", names, want)
		}

		// Invalid policies are refused naming the rule and field.
		for _, tt := range []struct {
			name   string
			id     string
			policy *leadscorev1.GatePolicy
			field  string
		}{
			{"unknown metric", "p", &leadscorev1.GatePolicy{Rules: []*leadscorev1.GateRule{{Metric: "roc_auc", MinValue: float(0.5)}, {Metric: "accuracy", MinValue: float(0.5)}}}, "gate_policy.rules[1].metric"},
			{"negative bound", "p", &leadscorev1.GatePolicy{Rules: []*leadscorev1.GateRule{{Metric: "roc_auc", MaxRegression: float(-0.1)}}}, "gate_policy.rules[0].max_regression"},
			{"contradicting direction", "p", &leadscorev1.GatePolicy{Rules: []*leadscorev1.GateRule{{Metric: "brier", HigherIsBetter: true, MinValue: float(0.1)}}}, "gate_policy.rules[0].higher_is_better"},
			{"rule without a bound", "p", &leadscorev1.GatePolicy{Rules: []*leadscorev1.GateRule{{Metric: "roc_auc"}}}, "gate_policy.rules[0]"},
			{"no rules", "p", &leadscorev1.GatePolicy{}, "gate_policy.rules"},
			{"bad policy id", "Strict Policy", policy, "policy_id"},
			{"no policy", "p", nil, "gate_policy"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				_, err := client.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: tt.id, GatePolicy: tt.policy})
				wantBadField(t, "create "+tt.name, err, tt.field)
			})
		}
	})
}

// importVersion registers an artifact of the fixtures under model and
// returns the version's name.
func importVersion(ctx context.Context, t *testing.T, conn grpc.ClientConnInterface, model string, art []byte) string {
	t.Helper()
	client := leadscorev1.NewModelRegistryServiceClient(conn)
	if _, err := client.CreateModel(ctx, &leadscorev1.CreateModelRequest{ModelId: model}); err != nil && status.Code(err) != codes.AlreadyExists {
		t.Fatalf("create model %s: %v", model, err)
	}
	v, err := client.ImportModelVersion(ctx, &leadscorev1.ImportModelVersionRequest{Parent: "models/" + model, Artifact: art})
	if err != nil {
		t.Fatalf("import into %s: %v", model, err)
	}
	return v.GetModelVersion().GetName()
}

// historyJob is an evaluation job of candidate on the fixtures' history,
// cut off where the candidate's training data ends.
func historyJob(candidate string) *leadscorev1.EvaluationJob {
	return &leadscorev1.EvaluationJob{
		Candidate: candidate,
		Data: &leadscorev1.DataSource{Source: &leadscorev1.DataSource_HistoryFiles{HistoryFiles: &leadscorev1.HistoryFiles{
			LeadsPath: "history/leads.csv", EventsPath: "history/events.csv", OutcomesPath: "history/outcomes.csv",
		}}},
		CutoffTime: timestamppb.New(trainedUntil),
		Seed:       7,
	}
}

func TestCreateEvaluationJobValidates(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	// A data directory of the test's own, with the fixtures' history in it
	// and a symbolic link that leads outside.
	dir := t.TempDir()
	if err := os.CopyFS(filepath.Join(dir, "history"), os.DirFS(filepath.Join(fx.historyDir, "history"))); err != nil {
		t.Fatal(err)
	}
	outside := filepath.Join(t.TempDir(), "secret.csv")
	if err := os.WriteFile(outside, []byte("id,label\n1,1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(dir, "escape.csv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "subdir"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := newServerWith(t, openStore(t), func(o *Options) { o.DataDir = dir })
	s.jobs.runBacktest = neverBacktest
	conn := start(t, s)
	client := leadscorev1.NewEvaluationServiceClient(conn)
	ctx := testContext(t)
	candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])

	withData := func(src any) *leadscorev1.EvaluationJob {
		j := historyJob(candidate)
		switch src := src.(type) {
		case *leadscorev1.HistoryFiles:
			j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_HistoryFiles{HistoryFiles: src}}
		case *leadscorev1.FlatTable:
			j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_FlatTable{FlatTable: src}}
			j.CutoffTime = nil
		case *leadscorev1.StoreHistory:
			j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_StoreHistory{StoreHistory: src}}
		case nil:
			j.Data = nil
		}
		return j
	}
	edit := func(f func(j *leadscorev1.EvaluationJob)) *leadscorev1.EvaluationJob {
		j := historyJob(candidate)
		f(j)
		return j
	}
	files := func(leads string) *leadscorev1.HistoryFiles {
		return &leadscorev1.HistoryFiles{LeadsPath: leads, OutcomesPath: "history/outcomes.csv"}
	}
	tests := []struct {
		name  string
		job   *leadscorev1.EvaluationJob
		code  codes.Code
		field string
	}{
		{"no data source", withData(nil), codes.InvalidArgument, "evaluation_job.data"},
		{"absolute path", withData(files(filepath.Join(fx.historyDir, "history", "leads.csv"))), codes.InvalidArgument, "evaluation_job.data.history_files.leads_path"},
		{"dot-dot path", withData(files("history/../history/leads.csv")), codes.InvalidArgument, "evaluation_job.data.history_files.leads_path"},
		{"symbolic link out of the data directory", withData(files("escape.csv")), codes.InvalidArgument, "evaluation_job.data.history_files.leads_path"},
		{"missing file", withData(files("history/nope.csv")), codes.InvalidArgument, "evaluation_job.data.history_files.leads_path"},
		{"a directory", withData(files("subdir")), codes.InvalidArgument, "evaluation_job.data.history_files.leads_path"},
		{"no outcomes", withData(&leadscorev1.HistoryFiles{LeadsPath: "history/leads.csv"}), codes.InvalidArgument, "evaluation_job.data.history_files.outcomes_path"},
		{"flat table without a label", withData(&leadscorev1.FlatTable{Path: "history/leads.csv"}), codes.InvalidArgument, "evaluation_job.data.flat_table.label_column"},
		{"flat table with a cut-off", edit(func(j *leadscorev1.EvaluationJob) {
			j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_FlatTable{FlatTable: &leadscorev1.FlatTable{Path: "history/leads.csv", LabelColumn: "won"}}}
		}), codes.InvalidArgument, "evaluation_job.cutoff_time"},
		{"store history with bounds", withData(&leadscorev1.StoreHistory{LeadCreateTimeStart: timestamppb.New(historyStart)}), codes.InvalidArgument, "evaluation_job.data.store_history.lead_create_time_start"},
		{"no cut-off", edit(func(j *leadscorev1.EvaluationJob) { j.CutoffTime = nil }), codes.InvalidArgument, "evaluation_job.cutoff_time"},
		{"cut-off inside the training window", edit(func(j *leadscorev1.EvaluationJob) { j.CutoffTime = timestamppb.New(trainedUntil.AddDate(0, -1, 0)) }), codes.InvalidArgument, "evaluation_job.cutoff_time"},
		{"outcomes not known yet", edit(func(j *leadscorev1.EvaluationJob) { j.CutoffTime = timestamppb.New(time.Now().Add(-24 * time.Hour)) }), codes.InvalidArgument, "evaluation_job.cutoff_time"},
		{"negative horizon", edit(func(j *leadscorev1.EvaluationJob) { j.Horizon = durationpb.New(-time.Hour) }), codes.InvalidArgument, "evaluation_job.horizon"},
		{"bad candidate", edit(func(j *leadscorev1.EvaluationJob) { j.Candidate = "m/versions/1" }), codes.InvalidArgument, "evaluation_job.candidate"},
		{"unknown candidate", edit(func(j *leadscorev1.EvaluationJob) { j.Candidate = "models/m/versions/9" }), codes.NotFound, ""},
		{"bad gate policy name", edit(func(j *leadscorev1.EvaluationJob) { j.GatePolicy = "strict" }), codes.InvalidArgument, "evaluation_job.gate_policy"},
		{"unknown gate policy", edit(func(j *leadscorev1.EvaluationJob) { j.GatePolicy = "gatePolicies/strict" }), codes.NotFound, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: tt.job})
			if tt.field != "" {
				wantBadField(t, tt.name, err, tt.field)
				return
			}
			wantStatus(t, tt.name, err, tt.code)
		})
	}
	_, err := client.GetEvaluationJob(ctx, &leadscorev1.GetEvaluationJobRequest{Name: "evaluationJobs/nope"})
	if st := wantStatus(t, "get an unknown job", err, codes.NotFound); !strings.Contains(st.Message(), "evaluationJobs/nope") {
		t.Errorf("unknown job: message %q does not name evaluationJobs/nope", st.Message())
	}
	_, err = client.CancelEvaluationJob(ctx, &leadscorev1.CancelEvaluationJobRequest{Name: "evaluationJobs/nope"})
	wantStatus(t, "cancel an unknown job", err, codes.NotFound)
	t.Run("a server without a data directory refuses files", func(t *testing.T) {
		s := newServer(t, openStore(t))
		conn := start(t, s)
		candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])
		_, err := leadscorev1.NewEvaluationServiceClient(conn).CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
		wantStatus(t, "create a file job", err, codes.FailedPrecondition)
	})
}

// neverBacktest is a backtest that runs until it is cancelled.
func neverBacktest(ctx context.Context, _ registry.BacktestRequest) (*registry.BacktestResult, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// fakeBacktest stands in for the backtest in tests of the job runner's
// lifecycle: it reports progress, tells the test it started, and ends
// when the test says (or when it is cancelled).
type fakeBacktest struct {
	started chan string
	release chan error
}

func newFakeBacktest() *fakeBacktest {
	return &fakeBacktest{started: make(chan string, 16), release: make(chan error, 16)}
}

func (f *fakeBacktest) run(ctx context.Context, req registry.BacktestRequest) (*registry.BacktestResult, error) {
	req.Progress("scoring", 0.5, "halfway")
	f.started <- req.JobID
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case err := <-f.release:
		if err != nil {
			return nil, err
		}
		return &registry.BacktestResult{
			Report:     &evaluator.Report{Verdict: "pass"},
			Evaluation: &leadscore.Evaluation{ID: "ev-fake"},
		}, nil
	}
}

// jobServer serves over st with the fixtures' history as its data
// directory and f as its backtest.
func jobServer(t *testing.T, st leadscore.Store, f *fakeBacktest, edit func(*Options)) *Server {
	t.Helper()
	fx := testFixtures(t)
	s := newServerWith(t, st, func(o *Options) {
		o.DataDir = fx.historyDir
		if edit != nil {
			edit(o)
		}
	})
	s.jobs.runBacktest = f.run
	return s
}

func waitStarted(t *testing.T, f *fakeBacktest) string {
	t.Helper()
	select {
	case id := <-f.started:
		return id
	case <-time.After(20 * time.Second):
		t.Fatal("the job did not start within 20s")
		return ""
	}
}

// waitJob polls a job until done says it is what the test waits for.
func waitJob(ctx context.Context, t *testing.T, client leadscorev1.EvaluationServiceClient, name string, done func(*leadscorev1.EvaluationJob) bool) *leadscorev1.EvaluationJob {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		j, err := client.GetEvaluationJob(ctx, &leadscorev1.GetEvaluationJobRequest{Name: name})
		if err != nil {
			t.Fatalf("get job %s: %v", name, err)
		}
		if done(j.GetEvaluationJob()) {
			return j.GetEvaluationJob()
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: still %v after 20s", name, j.GetEvaluationJob())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestEvaluationJobLifecycle(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		f := newFakeBacktest()
		conn := start(t, jobServer(t, st, f, nil))
		client := leadscorev1.NewEvaluationServiceClient(conn)
		ctx := asActor(testContext(t), "dave")
		candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])

		t.Run("watch streams progress and ends with the final state", func(t *testing.T) {
			created, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate), RequestId: "eval-1"})
			if err != nil {
				t.Fatalf("create job: %v", err)
			}
			job := created.GetEvaluationJob()
			if job.GetState() != leadscorev1.JobState_JOB_STATE_QUEUED && job.GetState() != leadscorev1.JobState_JOB_STATE_RUNNING {
				t.Errorf("created job: state %v, want queued or running", job.GetState())
			}
			if job.GetHorizon().AsDuration() != 90*24*time.Hour || job.GetCreator() != "dave" || !strings.HasPrefix(job.GetName(), "evaluationJobs/") {
				t.Errorf("created job: got %v", job)
			}
			// A retry with the same request id is the same job; another
			// job under that id is refused.
			again, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate), RequestId: "eval-1"})
			if err != nil || again.GetEvaluationJob().GetName() != job.GetName() {
				t.Errorf("retry: got %v, %v; want %s", again.GetEvaluationJob().GetName(), err, job.GetName())
			}
			other := historyJob(candidate)
			other.Seed = 8
			_, err = client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: other, RequestId: "eval-1"})
			wantBadField(t, "reuse a request id for another job", err, "request_id")

			watch, err := client.WatchEvaluationJob(ctx, &leadscorev1.WatchEvaluationJobRequest{Name: job.GetName()})
			if err != nil {
				t.Fatalf("watch: %v", err)
			}
			waitStarted(t, f)
			var states []leadscorev1.JobState
			var sawProgress bool
			var last *leadscorev1.EvaluationJob
			for {
				msg, err := watch.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("watch: %v", err)
				}
				last = msg.GetEvaluationJob()
				if len(states) == 0 || states[len(states)-1] != last.GetState() {
					states = append(states, last.GetState())
				}
				if p := last.GetProgress(); p.GetStage() == "scoring" && p.GetFraction() == 0.5 && p.GetMessage() == "halfway" && !sawProgress {
					sawProgress = true
					f.release <- nil
				}
			}
			if !sawProgress {
				t.Error("the watch never showed the job's progress")
			}
			if states[len(states)-1] != leadscorev1.JobState_JOB_STATE_SUCCEEDED || !slices.Contains(states, leadscorev1.JobState_JOB_STATE_RUNNING) {
				t.Errorf("watched states %v, want running then succeeded", states)
			}
			if last.GetEvaluation() != "evaluations/ev-fake" || last.GetEndTime() == nil || last.GetStartTime() == nil || last.GetProgress().GetFraction() != 1 {
				t.Errorf("final job: got %v", last)
			}
		})

		t.Run("cancelling a running job cancels it", func(t *testing.T) {
			created, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
			if err != nil {
				t.Fatalf("create job: %v", err)
			}
			name := created.GetEvaluationJob().GetName()
			waitStarted(t, f)
			waitJob(ctx, t, client, name, func(j *leadscorev1.EvaluationJob) bool { return j.GetState() == leadscorev1.JobState_JOB_STATE_RUNNING })
			resp, err := client.CancelEvaluationJob(ctx, &leadscorev1.CancelEvaluationJobRequest{Name: name})
			if err != nil {
				t.Fatalf("cancel: %v", err)
			}
			if s := resp.GetEvaluationJob().GetState(); s != leadscorev1.JobState_JOB_STATE_CANCELLING && s != leadscorev1.JobState_JOB_STATE_CANCELLED {
				t.Errorf("cancel response: state %v, want cancelling or cancelled", s)
			}
			final := waitJob(ctx, t, client, name, func(j *leadscorev1.EvaluationJob) bool {
				return j.GetState() == leadscorev1.JobState_JOB_STATE_CANCELLED
			})
			if e := final.GetError(); e.GetCode() != "CANCELLED" || !strings.Contains(e.GetMessage(), "dave") {
				t.Errorf("cancelled job's error: got %v, want CANCELLED naming who cancelled", e)
			}
			_, err = client.CancelEvaluationJob(ctx, &leadscorev1.CancelEvaluationJobRequest{Name: name})
			wantStatus(t, "cancel a finished job", err, codes.FailedPrecondition)
		})

		t.Run("a failing backtest fails the job with its code", func(t *testing.T) {
			created, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
			if err != nil {
				t.Fatalf("create job: %v", err)
			}
			waitStarted(t, f)
			f.release <- leadscore.InvalidField("leads.csv:3:create_time", "yesterday", "is not a time")
			final := waitJob(ctx, t, client, created.GetEvaluationJob().GetName(), func(j *leadscorev1.EvaluationJob) bool {
				return j.GetState() == leadscorev1.JobState_JOB_STATE_FAILED
			})
			if e := final.GetError(); e.GetCode() != "INVALID_ARGUMENT" || !strings.Contains(e.GetMessage(), "leads.csv:3:create_time") {
				t.Errorf("failed job's error: got %v", e)
			}
		})

		t.Run("jobs are listed by model and state, in pages", func(t *testing.T) {
			var names []string
			token := ""
			for {
				page, err := client.ListEvaluationJobs(ctx, &leadscorev1.ListEvaluationJobsRequest{
					Model: "models/m", PageSize: 1, PageToken: token,
					States: []leadscorev1.JobState{leadscorev1.JobState_JOB_STATE_SUCCEEDED, leadscorev1.JobState_JOB_STATE_CANCELLED},
				})
				if err != nil {
					t.Fatalf("list jobs: %v", err)
				}
				for _, j := range page.GetEvaluationJobs() {
					names = append(names, j.GetName())
				}
				if token = page.GetNextPageToken(); token == "" {
					break
				}
			}
			if len(names) != 2 {
				t.Errorf("succeeded and cancelled jobs of models/m: got %v, want 2", names)
			}
			other, err := client.ListEvaluationJobs(ctx, &leadscorev1.ListEvaluationJobsRequest{Model: "models/other"})
			if err != nil || len(other.GetEvaluationJobs()) != 0 {
				t.Errorf("jobs of another model: got %v, %v", other.GetEvaluationJobs(), err)
			}
			page, err := client.ListEvaluationJobs(ctx, &leadscorev1.ListEvaluationJobsRequest{PageSize: 1})
			if err != nil {
				t.Fatalf("list jobs: %v", err)
			}
			_, err = client.ListEvaluationJobs(ctx, &leadscorev1.ListEvaluationJobsRequest{PageSize: 1, PageToken: page.GetNextPageToken(), Model: "models/m"})
			wantBadField(t, "a page token with another filter", err, "page_token")
			_, err = client.ListEvaluationJobs(ctx, &leadscorev1.ListEvaluationJobsRequest{States: []leadscorev1.JobState{leadscorev1.JobState_JOB_STATE_UNSPECIFIED}})
			wantBadField(t, "an unspecified state", err, "states[0]")
		})
	})
}

func TestShutdownFailsRunningJobsAndTellsWatchers(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		f := newFakeBacktest()
		s := jobServer(t, st, f, nil)
		conn := start(t, s)
		client := leadscorev1.NewEvaluationServiceClient(conn)
		ctx := testContext(t)
		candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])
		created, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
		if err != nil {
			t.Fatalf("create job: %v", err)
		}
		name := created.GetEvaluationJob().GetName()
		id := waitStarted(t, f)
		watch, err := client.WatchEvaluationJob(ctx, &leadscorev1.WatchEvaluationJobRequest{Name: name})
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		if _, err := watch.Recv(); err != nil {
			t.Fatalf("first watch message: %v", err)
		}
		shutdown := make(chan error, 1)
		go func() {
			stopCtx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			shutdown <- s.Shutdown(stopCtx)
		}()
		var last *leadscorev1.EvaluationJob
		for {
			msg, err := watch.Recv()
			if err != nil {
				if !errors.Is(err, io.EOF) && status.Code(err) != codes.Unavailable {
					t.Errorf("watch ended with %v, want the end of the stream or UNAVAILABLE", err)
				}
				break
			}
			last = msg.GetEvaluationJob()
		}
		if last.GetState() != leadscorev1.JobState_JOB_STATE_FAILED || last.GetError().GetCode() != "ABORTED" || last.GetError().GetMessage() != "server stopped" {
			t.Errorf("the watcher's last word: got %v, want failed with ABORTED server stopped", last)
		}
		if err := <-shutdown; err != nil {
			t.Errorf("shutdown: %v", err)
		}
		j, err := st.(leadscore.RegistryStore).GetJob(ctx, id)
		if err != nil || j.State != leadscore.JobFailed || j.ErrorCode != "ABORTED" || j.ErrorMessage != "server stopped" {
			t.Errorf("stored job after shutdown: got %+v, %v", j, err)
		}
	})
}

func TestOrphanedJobsAreFailedAndQueuedOnesCancellable(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		rs := st.(leadscore.RegistryStore)
		ctx := testContext(t)
		// Jobs a stopped server left behind: one running, one queued, one
		// whose cancellation was asked.
		long := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
		spec := []byte(`{"candidate":"models/m/versions/1"}`)
		var orphans []string
		for _, state := range []leadscore.JobState{leadscore.JobRunning, leadscore.JobQueued, leadscore.JobCancelling} {
			j, _, err := rs.CreateJob(ctx, leadscore.Job{
				ID: registry.NewID("job"), Kind: leadscore.JobEvaluation, State: state, Model: "m", Spec: spec,
				CreatedBy: "x", CreatedAt: long, UpdatedAt: long, StartedAt: long,
			})
			if err != nil {
				t.Fatalf("create job: %v", err)
			}
			orphans = append(orphans, j.ID)
		}
		f := newFakeBacktest()
		conn := start(t, jobServer(t, st, f, func(o *Options) { o.JobHeartbeat = 20 * time.Millisecond }))
		client := leadscorev1.NewEvaluationServiceClient(conn)
		wantEnd := []struct {
			state leadscorev1.JobState
			code  string
		}{
			{leadscorev1.JobState_JOB_STATE_FAILED, "ABORTED"},
			{leadscorev1.JobState_JOB_STATE_FAILED, "ABORTED"},
			{leadscorev1.JobState_JOB_STATE_CANCELLED, "CANCELLED"},
		}
		for i, id := range orphans {
			j := waitJob(ctx, t, client, evaluationJobName(id), func(j *leadscorev1.EvaluationJob) bool { return j.GetEndTime() != nil })
			if j.GetState() != wantEnd[i].state || j.GetError().GetCode() != wantEnd[i].code {
				t.Errorf("orphaned job %d: got %v, %v; want %v with %s", i, j.GetState(), j.GetError(), wantEnd[i].state, wantEnd[i].code)
			}
		}

		// A queued job nobody runs yet is cancelled at once.
		candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])
		first, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
		if err != nil {
			t.Fatalf("create job: %v", err)
		}
		waitStarted(t, f) // the one worker is busy with it
		queued, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: historyJob(candidate)})
		if err != nil {
			t.Fatalf("create second job: %v", err)
		}
		if s := queued.GetEvaluationJob().GetState(); s != leadscorev1.JobState_JOB_STATE_QUEUED {
			t.Errorf("second job: state %v, want queued behind the first", s)
		}
		resp, err := client.CancelEvaluationJob(ctx, &leadscorev1.CancelEvaluationJobRequest{Name: queued.GetEvaluationJob().GetName()})
		if err != nil || resp.GetEvaluationJob().GetState() != leadscorev1.JobState_JOB_STATE_CANCELLED {
			t.Errorf("cancel a queued job: got %v, %v; want cancelled at once", resp.GetEvaluationJob().GetState(), err)
		}
		f.release <- nil
		waitJob(ctx, t, client, first.GetEvaluationJob().GetName(), func(j *leadscorev1.EvaluationJob) bool {
			return j.GetState() == leadscorev1.JobState_JOB_STATE_SUCCEEDED
		})
		select {
		case id := <-f.started:
			t.Errorf("the cancelled job %s ran", id)
		case <-time.After(100 * time.Millisecond):
		}
	})
}

// TestEvaluationJobEndToEnd runs a real backtest as a job, reads the
// evaluation and its reports back, and promotes with it.
func TestEvaluationJobEndToEnd(t *testing.T) {
	t.Parallel()
	fx := testFixtures(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		conn := start(t, newServerWith(t, st, func(o *Options) { o.DataDir = fx.historyDir }))
		client := leadscorev1.NewEvaluationServiceClient(conn)
		registryClient := leadscorev1.NewModelRegistryServiceClient(conn)
		ctx := asActor(testContext(t), "erin")
		candidate := importVersion(ctx, t, conn, "m", fx.artifacts[0])

		job := runJob(ctx, t, client, historyJob(candidate))
		got, err := client.GetEvaluation(ctx, &leadscorev1.GetEvaluationRequest{Name: job.GetEvaluation()})
		if err != nil {
			t.Fatalf("get evaluation: %v", err)
		}
		e := got.GetEvaluation()
		t.Logf("%s: verdict %v, candidate ROC AUC %.3f on %d leads", e.GetName(), e.GetGate().GetVerdict(), e.GetCandidateMetrics().GetRocAuc(), e.GetCandidateMetrics().GetLeadCount())
		if e.GetCandidate() != candidate || e.GetEvaluationJob() != job.GetName() || e.GetCandidateMetrics().GetLeadCount() == 0 ||
			e.GetCandidateMetrics().GetRocAuc() <= 0.5 || len(e.GetCandidateMetrics().GetDeciles()) != 10 || e.GetGate() == nil ||
			e.GetData().GetHistoryFiles().GetLeadsPath() != "history/leads.csv" || !e.GetCutoffTime().AsTime().Equal(trainedUntil) || e.GetSeed() != 7 {
			t.Errorf("evaluation: got %v", e)
		}
		list, err := client.ListEvaluations(ctx, &leadscorev1.ListEvaluationsRequest{Candidate: candidate})
		if err != nil || len(list.GetEvaluations()) != 1 || list.GetEvaluations()[0].GetName() != e.GetName() || list.GetEvaluations()[0].GetGate().GetVerdict() != e.GetGate().GetVerdict() {
			t.Errorf("list evaluations of the candidate: got %v, %v", list.GetEvaluations(), err)
		}
		none, err := client.ListEvaluations(ctx, &leadscorev1.ListEvaluationsRequest{Candidate: "models/other"})
		if err != nil || len(none.GetEvaluations()) != 0 {
			t.Errorf("list evaluations of another model: got %v, %v", none.GetEvaluations(), err)
		}
		for format, want := range map[leadscorev1.ReportFormat]string{
			leadscorev1.ReportFormat_REPORT_FORMAT_UNSPECIFIED: "application/json",
			leadscorev1.ReportFormat_REPORT_FORMAT_JSON:        "application/json",
			leadscorev1.ReportFormat_REPORT_FORMAT_MARKDOWN:    "text/markdown; charset=utf-8",
			leadscorev1.ReportFormat_REPORT_FORMAT_HTML:        "text/html; charset=utf-8",
		} {
			r, err := client.GetEvaluationReport(ctx, &leadscorev1.GetEvaluationReportRequest{Name: e.GetName(), Format: format})
			if err != nil || r.GetContentType() != want || len(r.GetContent()) == 0 {
				t.Errorf("report as %v: got %q, %d bytes, %v; want %s", format, r.GetContentType(), len(r.GetContent()), err, want)
			}
		}
		if r, err := client.GetEvaluationReport(ctx, &leadscorev1.GetEvaluationReportRequest{Name: e.GetName()}); err == nil {
			if _, err := evaluator.ReadReport(r.GetContent()); err != nil {
				t.Errorf("the JSON report does not read back: %v", err)
			}
		}

		// Promotion reads the stored evaluation: it counts if it passed.
		promoted, err := registryClient.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: candidate})
		if e.GetGate().GetVerdict() == leadscorev1.GateVerdict_GATE_VERDICT_PASS {
			if err != nil || promoted.GetHistoryEntry().GetEvaluation() != e.GetName() {
				t.Errorf("promote with a passing evaluation: got %v, %v", promoted.GetHistoryEntry(), err)
			}
			return
		}
		refused := wantStatus(t, "promote with a failing evaluation", err, codes.FailedPrecondition)
		if vs := preconditions(refused); len(vs) == 0 || vs[0].GetSubject() != e.GetName() {
			t.Errorf("refusal: got violations %v, want one naming %s", vs, e.GetName())
		}

		// Judged by a lenient policy of its own, the candidate passes that
		// policy, but its figures still fail the champion gate (the default
		// policy), which judges every champion move: it is not promoted.
		if _, err := client.CreateGatePolicy(ctx, &leadscorev1.CreateGatePolicyRequest{PolicyId: "lenient", GatePolicy: &leadscorev1.GatePolicy{
			Rules: []*leadscorev1.GateRule{{Metric: "roc_auc", MinValue: float(0.55)}},
		}}); err != nil {
			t.Fatalf("create policy: %v", err)
		}
		lenient := historyJob(candidate)
		lenient.GatePolicy = "gatePolicies/lenient"
		job = runJob(ctx, t, client, lenient)
		got, err = client.GetEvaluation(ctx, &leadscorev1.GetEvaluationRequest{Name: job.GetEvaluation()})
		if err != nil {
			t.Fatalf("get evaluation: %v", err)
		}
		if g := got.GetEvaluation().GetGate(); g.GetVerdict() != leadscorev1.GateVerdict_GATE_VERDICT_PASS || g.GetGatePolicy() != "gatePolicies/lenient/revisions/1" || len(g.GetChecks()) != 1 {
			t.Fatalf("evaluation by the lenient policy: got gate %v", g)
		}
		_, err = registryClient.PromoteModelVersion(ctx, &leadscorev1.PromoteModelVersionRequest{Name: candidate})
		refused = wantStatus(t, "promote with an evaluation that passed a lenient policy only", err, codes.FailedPrecondition)
		if vs := preconditions(refused); len(vs) == 0 || vs[0].GetSubject() != job.GetEvaluation() ||
			!strings.Contains(vs[0].GetDescription(), "fail the champion gate gatePolicies/default") {
			t.Errorf("refusal: got violations %v, want %s refused by the champion gate", vs, job.GetEvaluation())
		}
	})
}

// runJob creates an evaluation job and watches it to its end.
func runJob(ctx context.Context, t *testing.T, client leadscorev1.EvaluationServiceClient, in *leadscorev1.EvaluationJob) *leadscorev1.EvaluationJob {
	t.Helper()
	created, err := client.CreateEvaluationJob(ctx, &leadscorev1.CreateEvaluationJobRequest{EvaluationJob: in})
	if err != nil {
		t.Fatalf("create job: %v", err)
	}
	watch, err := client.WatchEvaluationJob(ctx, &leadscorev1.WatchEvaluationJobRequest{Name: created.GetEvaluationJob().GetName()})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	var job *leadscorev1.EvaluationJob
	for {
		msg, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		job = msg.GetEvaluationJob()
	}
	if job.GetState() != leadscorev1.JobState_JOB_STATE_SUCCEEDED || job.GetEvaluation() == "" {
		t.Fatalf("job ended %v with error %v, want succeeded with an evaluation", job.GetState(), job.GetError())
	}
	return job
}
