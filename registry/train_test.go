package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/model"
)

// TestTrainReportsProgressAndTheFilesItRead trains a small history and
// checks what callers build on: progress that only moves forward through
// the stages, the files read with their SHA-256, and a cancelled context
// that stops the work.
func TestTrainReportsProgressAndTheFilesItRead(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	cfg := synth.DefaultConfig()
	cfg.Leads, cfg.Seed, cfg.Workers = 300, 4, 1
	if _, err := synth.Generate(context.Background(), dir, cfg); err != nil {
		t.Fatal(err)
	}
	files := dataset.HistoryFiles{Leads: filepath.Join(dir, synth.LeadsFile), Events: filepath.Join(dir, synth.EventsFile), Outcomes: filepath.Join(dir, synth.OutcomesFile)}
	settings, err := TrainConfig(func(n string) string { return n }, model.FamilyLogistic, 2, map[string]string{ParamTune: "false"}, false)
	if err != nil {
		t.Fatal(err)
	}
	request := func(progress func(string, float64, string)) TrainRequest {
		return TrainRequest{Data: BacktestData{History: &files}, Until: cfg.Start.AddDate(1, 0, 0), Config: settings.Config, Progress: progress}
	}

	t.Run("progress moves forward through the stages and the files are hashed", func(t *testing.T) {
		var stages []string
		last := 0.0
		res, err := Train(t.Context(), request(func(stage string, fraction float64, _ string) {
			if fraction < last || fraction > TrainProgressEnd {
				t.Errorf("progress %s: fraction %v after %v, want from %v to %v", stage, fraction, last, last, TrainProgressEnd)
			}
			last = fraction
			if !slices.Contains(stages, stage) {
				stages = append(stages, stage)
			}
		}))
		if err != nil {
			t.Fatalf("Train: %v", err)
		}
		for _, want := range []string{"reading", "profiling", "fitting", "calibrating"} {
			if !slices.Contains(stages, want) {
				t.Errorf("stages %v lack %q", stages, want)
			}
		}
		if got, want := len(res.Files), 3; got != want {
			t.Fatalf("files read: got %d, want %d", got, want)
		}
		for _, f := range res.Files {
			b, err := os.ReadFile(f.Path)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			if got, want := f.SHA256, hex.EncodeToString(sum[:]); got != want {
				t.Errorf("%s: got sha256 %s, want %s", f.Path, got, want)
			}
		}
		if !res.Model.Metadata.DataEnd.Equal(cfg.Start.AddDate(1, 0, 0)) || len(res.Artifact) == 0 {
			t.Errorf("model: data end %v, %d artifact bytes; want the until time and an artifact", res.Model.Metadata.DataEnd, len(res.Artifact))
		}
		opts := request(nil).Options(map[string]string{ParamTune: "false"})
		if opts["family"] != "logistic" || opts["seed"] != "2" || opts["tune"] != "false" || opts["until_time"] != cfg.Start.AddDate(1, 0, 0).Format(time.RFC3339) {
			t.Errorf("options: got %v", opts)
		}
	})

	t.Run("a cancelled context stops training with its error", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Train(ctx, request(nil))
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Train with a cancelled context: got %v, want context.Canceled", err)
		}
	})

	t.Run("an until time outside the history is refused", func(t *testing.T) {
		req := request(nil)
		req.Until = cfg.Start.AddDate(-1, 0, 0)
		if _, err := Train(t.Context(), req); err == nil {
			t.Error("Train until a time before the history: got no error")
		}
	})
}
