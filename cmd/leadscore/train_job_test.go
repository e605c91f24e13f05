package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// TestTrainingJobMatchesTrainByteForByte trains the same data with the
// same options and seed twice, once with `leadscore train` and once as a
// training job of `leadscore serve` over gRPC: both go through
// registry.Train, so the artifacts are the same bytes. The same server
// runs a --train-schedule, whose first run is a training job too.
func TestTrainingJobMatchesTrainByteForByte(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if code, _, errOut := runCommand(t, nil, "generate", "--out", filepath.Join(data, "history"), "--leads", "400", "--seed", "5"); code != exitOK {
		t.Fatalf("generate: exit %d: %s", code, errOut)
	}
	code, out, errOut := runCommand(t, nil, "train", "--data", filepath.Join(data, "history"), "--family", "logistic", "--tune=false",
		"--c", "0.5", "--seed", "3", "--until", "2025-04-01", "--out", filepath.Join(dir, "cli.lsm"), "--json")
	if code != exitOK {
		t.Fatalf("train: exit %d: %s", code, errOut)
	}
	var summary struct {
		SHA256 string `json:"artifact_sha256"`
	}
	if err := json.Unmarshal([]byte(out), &summary); err != nil || summary.SHA256 == "" {
		t.Fatalf("train --json: %v in %q", err, out)
	}

	schedule := "model=nightly,every=24h,family=points,data=history"
	p := startServe(t, nil, "--store", filepath.Join(dir, "store", "leadscore.db"), "--data-dir", data, "--train-schedule", schedule)
	conn := p.dial(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	client := leadscorev1.NewTrainingServiceClient(conn)
	created, err := client.CreateTrainingJob(ctx, &leadscorev1.CreateTrainingJobRequest{TrainingJob: &leadscorev1.TrainingJob{
		Model:  "models/churn",
		Family: leadscorev1.ModelFamily_MODEL_FAMILY_LOGISTIC,
		Data: &leadscorev1.DataSource{Source: &leadscorev1.DataSource_HistoryFiles{HistoryFiles: &leadscorev1.HistoryFiles{
			LeadsPath: "history/leads.csv", EventsPath: "history/events.csv", OutcomesPath: "history/outcomes.csv",
		}}},
		Parameters: map[string]string{"tune": "false", "c": "0.5"},
		Seed:       3,
		UntilTime:  timestamppb.New(time.Date(2025, time.April, 1, 0, 0, 0, 0, time.UTC)),
	}})
	if err != nil {
		t.Fatalf("create training job: %v", err)
	}
	watch, err := client.WatchTrainingJob(ctx, &leadscorev1.WatchTrainingJobRequest{Name: created.GetTrainingJob().GetName()})
	if err != nil {
		t.Fatalf("watch: %v", err)
	}
	var job *leadscorev1.TrainingJob
	for {
		msg, err := watch.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("watch: %v", err)
		}
		job = msg.GetTrainingJob()
	}
	if job.GetState() != leadscorev1.JobState_JOB_STATE_SUCCEEDED {
		t.Fatalf("training job ended %v: %v", job.GetState(), job.GetError())
	}
	v, err := leadscorev1.NewModelRegistryServiceClient(conn).GetModelVersion(ctx, &leadscorev1.GetModelVersionRequest{Name: job.GetModelVersion()})
	if err != nil {
		t.Fatalf("get version: %v", err)
	}
	if got, want := v.GetModelVersion().GetArtifactSha256(), summary.SHA256; got != want {
		t.Errorf("the training job's artifact: got sha256 %s, want train's %s", got, want)
	}

	// The schedule's first run was created when the server started.
	list, err := client.ListTrainingJobs(ctx, &leadscorev1.ListTrainingJobsRequest{Model: "models/nightly"})
	if err != nil || len(list.GetTrainingJobs()) != 1 || list.GetTrainingJobs()[0].GetSchedule() != schedule {
		t.Errorf("scheduled jobs: got %v, %v; want one of %q", list.GetTrainingJobs(), err, schedule)
	}
}
