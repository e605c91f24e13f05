package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset/synth"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"github.com/leadscore/leadscore/registry"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// The training tests learn from a history far smaller than the shared
// fixtures', so that a job's real training stays quick under -race.
var (
	trainDirOnce sync.Once
	trainDir     string
	trainDirErr  error
)

// trainingDataDir returns a data directory holding "history/" (leads,
// events, outcomes and the manifest) of 400 generated leads over a year
// from historyStart.
func trainingDataDir(t *testing.T) string {
	t.Helper()
	trainDirOnce.Do(func() {
		trainDir = filepath.Join(fixtureDir, "train")
		_, trainDirErr = synth.Generate(context.Background(), filepath.Join(trainDir, "history"),
			synth.Config{Leads: 400, Seed: 5, Start: historyStart, Months: 12, Workers: 1})
	})
	if trainDirErr != nil {
		t.Fatalf("generate training history: %v", trainDirErr)
	}
	return trainDir
}

// historyTraining is a training job over the training history's files.
func historyTraining(model string) *leadscorev1.TrainingJob {
	return &leadscorev1.TrainingJob{
		Model:  "models/" + model,
		Family: leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC,
		Data: &leadscorev1.DataSource{Source: &leadscorev1.DataSource_HistoryFiles{HistoryFiles: &leadscorev1.HistoryFiles{
			LeadsPath: "history/" + synth.LeadsFile, EventsPath: "history/" + synth.EventsFile, OutcomesPath: "history/" + synth.OutcomesFile,
		}}},
		Parameters: map[string]string{"tune": "false"},
		Seed:       3,
		UntilTime:  timestamppb.New(trainedUntil),
	}
}

// watchTraining watches a training job to its end and returns every
// message sent.
func watchTraining(ctx context.Context, t *testing.T, client leadscorev1.TrainingServiceClient, name string) []*leadscorev1.TrainingJob {
	t.Helper()
	watch, err := client.WatchTrainingJob(ctx, &leadscorev1.WatchTrainingJobRequest{Name: name})
	if err != nil {
		t.Fatalf("watch %s: %v", name, err)
	}
	var seen []*leadscorev1.TrainingJob
	for {
		msg, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			return seen
		}
		if err != nil {
			t.Fatalf("watch %s: %v", name, err)
		}
		seen = append(seen, msg.GetTrainingJob())
	}
}

// trainingServer serves over st with the training history's directory as
// its data directory, and returns a training client acting as "dana".
func trainingServer(t *testing.T, st leadscore.Store) (*grpc.ClientConn, leadscorev1.TrainingServiceClient, context.Context) {
	t.Helper()
	dir := trainingDataDir(t)
	conn := start(t, newServerWith(t, st, func(o *Options) { o.DataDir = dir }))
	return conn, leadscorev1.NewTrainingServiceClient(conn), asActor(testContext(t), "dana")
}

func fileSum(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestTrainingJobEndToEnd trains a version over the real transport,
// watches it through its stages, reads its lineage, and follows the
// chained evaluation it starts.
func TestTrainingJobEndToEnd(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		conn, client, ctx := trainingServer(t, st)

		in := historyTraining("churn")
		in.Description = "monthly retrain"
		in.ExcludeFeatures = []string{"campaign"}
		in.Evaluation = &leadscorev1.ChainedEvaluation{Seed: 9}
		created, err := client.CreateTrainingJob(ctx, &leadscorev1.CreateTrainingJobRequest{TrainingJob: in, RequestId: "train-1"})
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		name := created.GetTrainingJob().GetName()
		seen := watchTraining(ctx, t, client, name)
		job := seen[len(seen)-1]
		if job.GetState() != leadscorev1.JobState_JOB_STATE_SUCCEEDED || job.GetModelVersion() != "models/churn/versions/1" {
			t.Fatalf("job ended %v (%v) with version %q; want succeeded with models/churn/versions/1", job.GetState(), job.GetError(), job.GetModelVersion())
		}
		if job.GetCreator() != "dana" || job.GetValidationMetrics()["roc_auc"] <= 0.5 || job.GetEvaluationJob() == "" ||
			job.GetProgress().GetFraction() != 1 || job.GetEndTime() == nil || job.GetDescription() != "monthly retrain" {
			t.Errorf("finished job: got %v", job)
		}
		var stages []string
		for _, m := range seen {
			if s := m.GetProgress().GetStage(); !slices.Contains(stages, s) {
				stages = append(stages, s)
			}
		}
		t.Logf("stages watched: %v", stages)
		if !slices.Contains(stages, "done") || len(stages) < 2 {
			t.Errorf("watched stages %v, want the job's progress and its end", stages)
		}

		// A retry with the same request id is the same job.
		again, err := client.CreateTrainingJob(ctx, &leadscorev1.CreateTrainingJobRequest{TrainingJob: in, RequestId: "train-1"})
		if err != nil || again.GetTrainingJob().GetName() != name {
			t.Errorf("retry: got %v, %v; want %s", again.GetTrainingJob().GetName(), err, name)
		}
		list, err := client.ListTrainingJobs(ctx, &leadscorev1.ListTrainingJobsRequest{Model: "models/churn"})
		if err != nil || len(list.GetTrainingJobs()) != 1 || list.GetTrainingJobs()[0].GetName() != name {
			t.Errorf("list: got %v, %v; want the one job", list.GetTrainingJobs(), err)
		}

		// The version's lineage says how it was made.
		v, err := leadscorev1.NewModelRegistryServiceClient(conn).GetModelVersion(ctx, &leadscorev1.GetModelVersionRequest{Name: job.GetModelVersion()})
		if err != nil {
			t.Fatalf("get version: %v", err)
		}
		l := v.GetModelVersion().GetLineage()
		hist := filepath.Join(trainingDataDir(t), "history")
		wantFiles := map[string]string{
			"history/" + synth.LeadsFile:    fileSum(t, filepath.Join(hist, synth.LeadsFile)),
			"history/" + synth.EventsFile:   fileSum(t, filepath.Join(hist, synth.EventsFile)),
			"history/" + synth.OutcomesFile: fileSum(t, filepath.Join(hist, synth.OutcomesFile)),
		}
		if l.GetTrainingJob() != name || l.GetDataSource() != "history_files" || l.GetSeed() != 3 ||
			!l.GetDataWindowEnd().AsTime().Equal(trainedUntil) || v.GetModelVersion().GetCreator() != "dana" ||
			v.GetModelVersion().GetDescription() != "monthly retrain" {
			t.Errorf("lineage: got %v (creator %q)", l, v.GetModelVersion().GetCreator())
		}
		for path, sum := range wantFiles {
			if got := l.GetDataFiles()[path]; got != sum {
				t.Errorf("lineage data file %s: got sha256 %q, want %q", path, got, sum)
			}
		}
		for k, want := range map[string]string{"family": "logistic", "seed": "3", "tune": "false", "until_time": "2024-09-01T00:00:00Z", "exclude_features": "campaign"} {
			if got := l.GetOptions()[k]; got != want {
				t.Errorf("lineage option %s: got %q, want %q", k, got, want)
			}
		}

		// The chained evaluation judges the version after its window.
		evClient := leadscorev1.NewEvaluationServiceClient(conn)
		ev := waitJob(ctx, t, evClient, job.GetEvaluationJob(), func(j *leadscorev1.EvaluationJob) bool {
			return j.GetState() == leadscorev1.JobState_JOB_STATE_SUCCEEDED || j.GetEndTime() != nil
		})
		if ev.GetState() != leadscorev1.JobState_JOB_STATE_SUCCEEDED || ev.GetCandidate() != job.GetModelVersion() ||
			!ev.GetCutoffTime().AsTime().Equal(trainedUntil) || ev.GetCreator() != "dana" {
			t.Errorf("chained evaluation: got %v", ev)
		}
	})
}

// TestCancelTrainingJobStopsItsWork cancels a job while it fits far more
// trees than it could finish, through the server running it and through
// another sharing its store: it ends CANCELLED, and no version is
// registered.
func TestCancelTrainingJobStopsItsWork(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		t.Run("through the server running it", func(t *testing.T) {
			conn, client, ctx := trainingServer(t, st)
			cancelRunningJob(ctx, t, conn, client, client, "slow")
		})
		t.Run("through another server sharing the store", func(t *testing.T) {
			conn, client, ctx := trainingServer(t, st)
			_, other, _ := trainingServer(t, st)
			cancelRunningJob(ctx, t, conn, client, other, "slow-elsewhere")
		})
	})
}

// cancelRunningJob creates a long gbdt job through client, cancels it
// through canceller once it fits, and checks it ends cancelled with no
// version of model registered.
func cancelRunningJob(ctx context.Context, t *testing.T, conn *grpc.ClientConn, client, canceller leadscorev1.TrainingServiceClient, model string) {
	t.Helper()
	in := historyTraining(model)
	in.Family = leadscorev1.ModelFamily_MODEL_FAMILY_GBDT
	in.Parameters = map[string]string{"tune": "false", "trees": "100000", "learning_rate": "0.001"}
	created, err := client.CreateTrainingJob(ctx, &leadscorev1.CreateTrainingJobRequest{TrainingJob: in})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	name := created.GetTrainingJob().GetName()
	watch, err := client.WatchTrainingJob(ctx, &leadscorev1.WatchTrainingJobRequest{Name: name})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	var last *leadscorev1.TrainingJob
	for last.GetProgress().GetStage() != "fitting" {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch until fitting: %v (last %v)", err, last)
		}
		last = msg.GetTrainingJob()
	}
	asked := time.Now()
	resp, err := canceller.CancelTrainingJob(ctx, &leadscorev1.CancelTrainingJobRequest{Name: name})
	if err != nil {
		t.Fatalf("cancel: %v", err)
	}
	if s := resp.GetTrainingJob().GetState(); s != leadscorev1.JobState_JOB_STATE_CANCELLING && s != leadscorev1.JobState_JOB_STATE_CANCELLED {
		t.Errorf("cancel answered %v, want CANCELLING or CANCELLED", s)
	}
	for !isFinal(last.GetState()) {
		msg, err := watch.Recv()
		if err != nil {
			t.Fatalf("watch until the end: %v (last %v)", err, last)
		}
		last = msg.GetTrainingJob()
	}
	// Measured for the log only: a unit test asserts no timings.
	t.Logf("cancelled %s after %s", name, time.Since(asked).Round(time.Millisecond))
	if last.GetState() != leadscorev1.JobState_JOB_STATE_CANCELLED || last.GetError().GetCode() != "CANCELLED" ||
		last.GetError().GetMessage() != "cancelled by dana" || last.GetModelVersion() != "" {
		t.Errorf("cancelled job: got %v", last)
	}
	versions, err := leadscorev1.NewModelRegistryServiceClient(conn).ListModelVersions(ctx, &leadscorev1.ListModelVersionsRequest{Parent: "models/" + model})
	if code := status.Code(err); code != codes.NotFound && (err != nil || len(versions.GetModelVersions()) != 0) {
		t.Errorf("versions of the cancelled job's model: got %v, %v; want none", versions.GetModelVersions(), err)
	}
	_, err = client.CancelTrainingJob(ctx, &leadscorev1.CancelTrainingJobRequest{Name: name})
	wantStatus(t, "cancel a cancelled job", err, codes.FailedPrecondition)
}

func isFinal(s leadscorev1.JobState) bool {
	return s == leadscorev1.JobState_JOB_STATE_SUCCEEDED || s == leadscorev1.JobState_JOB_STATE_FAILED || s == leadscorev1.JobState_JOB_STATE_CANCELLED
}

// TestCreateTrainingJobValidates refuses bad jobs at once, naming the
// field; a refused job stores nothing.
func TestCreateTrainingJobValidates(t *testing.T) {
	t.Parallel()
	dir := trainingDataDir(t)
	conn := start(t, newServerWith(t, openStore(t), func(o *Options) { o.DataDir = dir }))
	client := leadscorev1.NewTrainingServiceClient(conn)
	ctx := asActor(testContext(t), "dana")
	tests := []struct {
		name  string
		edit  func(*leadscorev1.TrainingJob)
		field string
	}{
		{"a model that is not a model name is refused", func(j *leadscorev1.TrainingJob) { j.Model = "churn" }, "training_job.model"},
		{"no data source is refused", func(j *leadscorev1.TrainingJob) { j.Data = nil }, "training_job.data"},
		{"a path outside the data directory is refused", func(j *leadscorev1.TrainingJob) {
			j.GetData().GetHistoryFiles().LeadsPath = "../leads.csv"
		}, "training_job.data.history_files.leads_path"},
		{"an unknown parameter is refused", func(j *leadscorev1.TrainingJob) { j.Parameters["max_leaves"] = "8" }, "training_job.parameters.max_leaves"},
		{"a parameter that is not a number is refused", func(j *leadscorev1.TrainingJob) { j.Parameters["trees"] = "many" }, "training_job.parameters.trees"},
		{"a NaN learning rate is refused", func(j *leadscorev1.TrainingJob) { j.Parameters["learning_rate"] = "NaN" }, "training_job.parameters.learning_rate"},
		{"an unknown family is refused", func(j *leadscorev1.TrainingJob) { j.Family = 42 }, "training_job.family"},
		{"points rules for another family are refused", func(j *leadscorev1.TrainingJob) { j.PointsRules = "rules: []" }, "training_job.points_rules"},
		{"an until time in the future is refused", func(j *leadscorev1.TrainingJob) {
			j.UntilTime = timestamppb.New(time.Now().Add(time.Hour))
		}, "training_job.until_time"},
		{"a missing value with a NUL is refused", func(j *leadscorev1.TrainingJob) { j.MissingValues = []string{"n/a", "x\x00"} }, "training_job.missing_values[1]"},
		{"missing values of the store's history are refused", func(j *leadscorev1.TrainingJob) {
			j.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_StoreHistory{StoreHistory: &leadscorev1.StoreHistory{}}}
			j.MissingValues = []string{"n/a"}
		}, "training_job.missing_values"},
		{"a random split of a history is refused", func(j *leadscorev1.TrainingJob) { j.Parameters["random_split"] = "true" }, "training_job.parameters.random_split"},
		{"snapshots without an interval are refused", func(j *leadscorev1.TrainingJob) {
			j.Snapshots = &leadscorev1.SnapshotSpec{StartTime: timestamppb.New(historyStart), EndTime: timestamppb.New(trainedUntil)}
		}, "training_job.snapshots.interval"},
		{"a chained evaluation before the training window's end is refused", func(j *leadscorev1.TrainingJob) {
			j.Evaluation = &leadscorev1.ChainedEvaluation{CutoffTime: timestamppb.New(historyStart)}
		}, "training_job.evaluation.cutoff_time"},
		{"a chained evaluation with a negative horizon is refused", func(j *leadscorev1.TrainingJob) {
			j.Evaluation = &leadscorev1.ChainedEvaluation{Horizon: durationpb.New(-time.Hour)}
		}, "training_job.evaluation.horizon"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := historyTraining("churn")
			tt.edit(in)
			_, err := client.CreateTrainingJob(ctx, &leadscorev1.CreateTrainingJobRequest{TrainingJob: in})
			wantBadField(t, tt.name, err, tt.field)
		})
	}
	list, err := client.ListTrainingJobs(ctx, &leadscorev1.ListTrainingJobsRequest{})
	if err != nil || len(list.GetTrainingJobs()) != 0 {
		t.Errorf("jobs after refusals: got %v, %v; want none", list.GetTrainingJobs(), err)
	}
	_, err = client.GetTrainingJob(ctx, &leadscorev1.GetTrainingJobRequest{Name: "trainingJobs/job-nothere"})
	wantStatus(t, "get a job that does not exist", err, codes.NotFound)
}

// TestOrphanedTrainingJobIsFailed: a training job a stopped process left
// running is failed by another server sharing the store, as evaluation
// jobs are.
func TestOrphanedTrainingJobIsFailed(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		rs := st.(leadscore.RegistryStore)
		ctx := testContext(t)
		long := time.Now().UTC().Add(-time.Hour).Truncate(time.Microsecond)
		j, _, err := rs.CreateJob(ctx, leadscore.Job{
			ID: registry.NewID("job"), Kind: leadscore.JobTraining, State: leadscore.JobRunning, Model: "m",
			Spec: []byte(`{"model":"models/m"}`), CreatedBy: "x", CreatedAt: long, UpdatedAt: long, StartedAt: long,
		})
		if err != nil {
			t.Fatalf("create job: %v", err)
		}
		conn := start(t, newServerWith(t, st, func(o *Options) { o.JobHeartbeat = 20 * time.Millisecond }))
		client := leadscorev1.NewTrainingServiceClient(conn)
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := client.GetTrainingJob(ctx, &leadscorev1.GetTrainingJobRequest{Name: trainingJobName(j.ID)})
			if err != nil {
				t.Fatalf("get: %v", err)
			}
			if isFinal(got.GetTrainingJob().GetState()) {
				if g := got.GetTrainingJob(); g.GetState() != leadscorev1.JobState_JOB_STATE_FAILED || g.GetError().GetCode() != "ABORTED" {
					t.Errorf("orphaned training job: got %v, %v; want FAILED with ABORTED", g.GetState(), g.GetError())
				}
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("orphaned training job still %v after 20s", got.GetTrainingJob().GetState())
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}

// TestTrainScheduleCreatesEachRunOnce serves one schedule from two
// replicas sharing a store: each period gets one training job, whichever
// replica creates it, and each run trains and registers a version.
func TestTrainScheduleCreatesEachRunOnce(t *testing.T) {
	t.Parallel()
	dir := trainingDataDir(t)
	forEachBackend(t, func(t *testing.T, st leadscore.Store) {
		sched, err := ParseTrainSchedule("model=weekly,every=168h,family=logistic,data=history,tune=false")
		if err != nil {
			t.Fatalf("parse schedule: %v", err)
		}
		// The replicas' clock moves a week when the test says.
		var clock atomic.Int64
		clock.Store(time.Now().UnixNano())
		now := func() time.Time { return time.Unix(0, clock.Load()) }
		var conns []leadscorev1.TrainingServiceClient
		for range 2 {
			s := newServerWith(t, st, func(o *Options) {
				o.DataDir = dir
				o.TrainSchedules = []TrainSchedule{sched}
				o.Now = now
			})
			s.trainSchedule.tick = 20 * time.Millisecond
			conns = append(conns, leadscorev1.NewTrainingServiceClient(start(t, s)))
		}
		ctx := testContext(t)
		// waitRuns waits for n scheduled jobs, all finished, and returns
		// them newest first.
		waitRuns := func(n int) []*leadscorev1.TrainingJob {
			t.Helper()
			deadline := time.Now().Add(2 * time.Minute)
			for {
				list, err := conns[0].ListTrainingJobs(ctx, &leadscorev1.ListTrainingJobsRequest{Model: "models/weekly"})
				if err != nil {
					t.Fatalf("list: %v", err)
				}
				jobs := list.GetTrainingJobs()
				finished := 0
				for _, j := range jobs {
					if isFinal(j.GetState()) {
						finished++
					}
				}
				if len(jobs) > n {
					t.Fatalf("got %d scheduled jobs, want %d: %v", len(jobs), n, jobs)
				}
				if len(jobs) == n && finished == n {
					return jobs
				}
				if time.Now().After(deadline) {
					t.Fatalf("still %d jobs (%d finished) after 2m, want %d", len(jobs), finished, n)
				}
				time.Sleep(50 * time.Millisecond)
			}
		}
		first := waitRuns(1)
		clock.Add(int64(7 * 24 * time.Hour))
		runs := waitRuns(2)
		// Both replicas have checked the new period many times by now.
		time.Sleep(200 * time.Millisecond)
		runs = waitRuns(2)
		if runs[1].GetName() != first[0].GetName() {
			t.Errorf("the first run changed: got %s, want %s", runs[1].GetName(), first[0].GetName())
		}
		for i, j := range runs {
			if j.GetState() != leadscorev1.JobState_JOB_STATE_SUCCEEDED || j.GetSchedule() != sched.Text || j.GetCreator() != scheduleActor || j.GetModelVersion() == "" {
				t.Errorf("run %d: got %v", i, j)
			}
		}
		if runs[0].GetModelVersion() == runs[1].GetModelVersion() {
			t.Errorf("both runs registered %s, want a version each", runs[0].GetModelVersion())
		}
	})
}

func TestParseTrainSchedule(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, text string
		ok         bool
	}{
		{"a weekly auto schedule reads", "model=churn,every=168h,family=auto", true},
		{"training parameters are taken", "model=churn,every=24h,tune=false,c=0.5", true},
		{"a missing model is refused", "every=24h", false},
		{"a missing interval is refused", "model=churn", false},
		{"an interval under a second is refused", "model=churn,every=10ms", false},
		{"an unknown family is refused", "model=churn,every=24h,family=forest", false},
		{"an unknown key is refused", "model=churn,every=24h,colour=blue", false},
		{"a pair without = is refused", "model=churn,every=24h,weekly", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseTrainSchedule(tt.text)
			if got := err == nil; got != tt.ok {
				t.Errorf("ParseTrainSchedule(%q): got error %v, want ok=%v", tt.text, err, tt.ok)
			}
			if err != nil && leadscore.ErrorCode(err) != leadscore.EINVALID {
				t.Errorf("ParseTrainSchedule(%q): got %v, want an invalid-argument error", tt.text, err)
			}
		})
	}
}
