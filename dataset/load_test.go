package dataset_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/dataset/synth"
	"github.com/leadscore/leadscore/postgres/pgtest"
	"github.com/leadscore/leadscore/sqlite"
)

// filesSource reads an import from history files with the dataset readers.
type filesSource struct{ files dataset.HistoryFiles }

func (s filesSource) Leads(ctx context.Context, fn func(leadscore.Lead) error) error {
	_, err := dataset.ReadLeads(ctx, s.files.Leads, dataset.ReadOptions{}, fn)
	return err
}

func (s filesSource) Events(ctx context.Context, fn func(leadscore.Event) error) error {
	_, err := dataset.ReadEvents(ctx, s.files.Events, dataset.ReadOptions{}, fn)
	return err
}

func (s filesSource) Outcomes(ctx context.Context, fn func(leadscore.Outcome) error) error {
	_, err := dataset.ReadOutcomes(ctx, s.files.Outcomes, dataset.ReadOptions{}, fn)
	return err
}

// TestHistoryFromTheStoreEqualsHistoryFromFiles imports a generated history
// into each backend and checks that reading it back from the store gives
// the same history as reading the files: the store is a faithful source for
// training and backtests.
func TestHistoryFromTheStoreEqualsHistoryFromFiles(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	cfg := synth.DefaultConfig()
	cfg.Leads = 1500
	cfg.Seed = 7
	if _, err := synth.Generate(ctx, dir, cfg); err != nil {
		t.Fatalf("generate: %v", err)
	}
	files := dataset.HistoryFiles{
		Leads:    filepath.Join(dir, "leads.csv"),
		Events:   filepath.Join(dir, "events.csv"),
		Outcomes: filepath.Join(dir, "outcomes.csv"),
	}
	resendEvents(t, files.Events, 200)
	want, _, err := dataset.LoadHistory(ctx, files, dataset.ReadOptions{})
	if err != nil {
		t.Fatalf("load from files: %v", err)
	}

	stores := map[string]func(t *testing.T) leadscore.HistoryStore{
		"sqlite": func(t *testing.T) leadscore.HistoryStore {
			db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "leadscore.db"))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			if _, err := db.Migrate(ctx); err != nil {
				t.Fatal(err)
			}
			return db
		},
		"postgres": func(t *testing.T) leadscore.HistoryStore { return pgtest.Open(t) },
	}
	for name, open := range stores {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			store := open(t)
			if _, err := store.ImportHistory(ctx, filesSource{files}, leadscore.ImportOptions{}); err != nil {
				t.Fatalf("import: %v", err)
			}
			got, err := dataset.LoadHistoryFromStore(ctx, store)
			if err != nil {
				t.Fatalf("load from store: %v", err)
			}
			compareHistories(t, got, want)
		})
	}
}

// resendEvents appends to an events file copies of every 50th of its first
// n*50 events, a minute earlier: re-sent events claiming another time.
// The first copy must win, in the store as in the files.
func resendEvents(t *testing.T, path string, n int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(f).ReadAll()
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	at := slices.Index(rows[0], "occurred_at")
	if at < 0 {
		t.Fatalf("%s has no occurred_at column", path)
	}
	var resent [][]string
	for i := 1; i < len(rows) && len(resent) < n; i += 50 {
		when, err := time.Parse(time.RFC3339, rows[i][at])
		if err != nil {
			t.Fatal(err)
		}
		row := slices.Clone(rows[i])
		row[at] = when.Add(-time.Minute).Format(time.RFC3339)
		resent = append(resent, row)
	}
	out, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	w := csv.NewWriter(out)
	if err := w.WriteAll(resent); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

func compareHistories(t *testing.T, got, want *dataset.History) {
	t.Helper()
	if got.Len() != want.Len() || got.EventCount() != want.EventCount() {
		t.Fatalf("got %d leads and %d events, want %d and %d", got.Len(), got.EventCount(), want.Len(), want.EventCount())
	}
	for i := 0; i < want.Len(); i++ {
		j, ok := got.LeadIndex(want.LeadID(i))
		if !ok {
			t.Fatalf("lead %s is missing", want.LeadID(i))
		}
		if g, w := got.Lead(j), want.Lead(i); !reflect.DeepEqual(g, w) {
			t.Fatalf("lead %s:\n got %+v\nwant %+v", w.ID, g, w)
		}
		if g, w := got.Events(j), want.Events(i); !reflect.DeepEqual(g, w) {
			t.Fatalf("events of lead %s differ:\n got %v\nwant %v", want.LeadID(i), g, w)
		}
		gs, gt := got.Outcome(j)
		ws, wt := want.Outcome(i)
		if gs != ws || !gt.Equal(wt) {
			t.Fatalf("outcome of lead %s: got %v at %v, want %v at %v", want.LeadID(i), gs, gt, ws, wt)
		}
	}
	if fmt.Sprint(got.Span()) != fmt.Sprint(want.Span()) {
		t.Errorf("span: got %v, want %v", fmt.Sprint(got.Span()), fmt.Sprint(want.Span()))
	}
}

func TestLoadHistoryLenientSkipsRecordsTheBuilderRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	files := dataset.HistoryFiles{
		Leads:  write("leads.csv", "id,created_at\nL1,2025-01-01\n"),
		Events: write("events.csv", "id,lead_id,type,occurred_at\nE1,L1,email_open,2025-01-02\nE2,nobody,email_open,2025-01-03\n"),
	}
	if _, _, err := dataset.LoadHistory(context.Background(), files, dataset.ReadOptions{}); err == nil || !strings.Contains(err.Error(), "nobody") {
		t.Fatalf("strict load: got %v, want an error naming the unknown lead", err)
	}
	h, stats, err := dataset.LoadHistory(context.Background(), files, dataset.ReadOptions{Lenient: true})
	if err != nil {
		t.Fatalf("lenient load: %v", err)
	}
	if h.EventCount() != 1 || stats.Events.Records != 1 || stats.Events.Skipped != 1 || len(stats.Events.Errors) != 1 {
		t.Errorf("got %d events, stats %+v; want 1 kept and 1 skipped with its error", h.EventCount(), stats.Events)
	}
}

func TestObservedUntilReadsTheManifest(t *testing.T) {
	dir := t.TempDir()
	if got := dataset.ObservedUntil(dir); !got.IsZero() {
		t.Fatalf("ObservedUntil without a manifest = %s, want the zero time", got)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"leads": 3, "history_end": "2025-07-01T00:00:00Z"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got, want := dataset.ObservedUntil(dir), time.Date(2025, 7, 1, 0, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Fatalf("ObservedUntil = %s, want %s", got, want)
	}
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), []byte(`{"history_end": "not a time"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := dataset.ObservedUntil(dir); !got.IsZero() {
		t.Fatalf("ObservedUntil of a bad manifest = %s, want the zero time", got)
	}
}
