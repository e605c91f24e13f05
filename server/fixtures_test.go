package server

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/postgres"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/trainer"
	"google.golang.org/grpc/metadata"
)

// Both storage backends implement the registry's store; the server tests
// run against each.
var (
	_ leadscore.RegistryStore = (*sqlite.DB)(nil)
	_ leadscore.RegistryStore = (*postgres.DB)(nil)
)

// fixtureDir holds what is built once per test binary: a generated
// history and the artifacts trained on it.
var fixtureDir string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "leadscore-server-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "make temp dir:", err)
		os.Exit(2)
	}
	fixtureDir = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// backends are the stores the registry tests run against.
var backends = []struct {
	name string
	open func(t *testing.T) leadscore.Store
}{
	{"sqlite", openStore},
	{"postgres", func(t *testing.T) leadscore.Store { return pgtest.Open(t) }},
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, st leadscore.Store)) {
	t.Helper()
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b.open(t))
		})
	}
}

// The generated history: a year from 2024-01-01. Versions are trained on
// what was observed until trainedUntil, so a backtest cut off there judges
// them on later data.
var (
	historyStart = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	trainedUntil = time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
)

// fixtures are a generated history (in the directory that serves as the
// data directory of job tests) and artifacts trained on its first eight
// months.
type fixtures struct {
	historyDir string
	// artifacts are distinct logistic models (different regularisation).
	artifacts [][]byte
	// history is the generated history, loaded.
	history *dataset.History
}

var (
	fixtureOnce sync.Once
	fixture     fixtures
	fixtureErr  error
)

func testFixtures(t testing.TB) fixtures {
	t.Helper()
	fixtureOnce.Do(func() { fixture, fixtureErr = buildFixtures() })
	if fixtureErr != nil {
		t.Fatalf("build test fixtures: %v", fixtureErr)
	}
	return fixture
}

func buildFixtures() (fixtures, error) {
	ctx := context.Background()
	f := fixtures{historyDir: filepath.Join(fixtureDir, "data")}
	hist := filepath.Join(f.historyDir, "history")
	if _, err := synth.Generate(ctx, hist, synth.Config{Leads: 10000, Seed: 11, Start: historyStart, Months: 12, Workers: 1}); err != nil {
		return f, fmt.Errorf("generate history: %w", err)
	}
	h, _, err := dataset.LoadHistory(ctx, dataset.HistoryFiles{
		Leads:    filepath.Join(hist, synth.LeadsFile),
		Events:   filepath.Join(hist, synth.EventsFile),
		Outcomes: filepath.Join(hist, synth.OutcomesFile),
	}, dataset.ReadOptions{})
	if err != nil {
		return f, fmt.Errorf("load history: %w", err)
	}
	f.history = h
	data, err := trainer.FromHistory(ctx, h, trainer.HistoryOptions{ObservedUntil: trainedUntil})
	if err != nil {
		return f, fmt.Errorf("prepare training data: %w", err)
	}
	for _, c := range []float64{1, 0.2} {
		m, _, err := trainer.Train(ctx, data, trainer.Config{Family: model.FamilyLogistic, Seed: 1, Logistic: trainer.LogisticOptions{C: c}})
		if err != nil {
			return f, fmt.Errorf("train: %w", err)
		}
		b, err := artifact.Marshal(m)
		if err != nil {
			return f, fmt.Errorf("marshal artifact: %w", err)
		}
		f.artifacts = append(f.artifacts, b)
	}
	return f, nil
}

// asActor returns ctx with the actor header set.
func asActor(ctx context.Context, actor string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, ActorHeader, actor)
}
