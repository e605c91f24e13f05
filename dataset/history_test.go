package dataset

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

var day0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func days(n float64) time.Duration { return time.Duration(n * 24 * float64(time.Hour)) }

// randomHistory builds a history of n leads with random attributes, events
// and outcomes over a year, from a seed.
func randomHistory(t testing.TB, n int, seed uint64, extra func(b *HistoryBuilder, rng *rand.Rand)) *History {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	b := NewHistoryBuilder()
	industries := []string{"software", "retail", "finance", "health"}
	types := []string{"page_view", "email_open", "email_click", "demo_request", "unsubscribe", "bounce"}
	pages := []string{"pricing", "blog", "docs"}
	ev := 0
	for i := 0; i < n; i++ {
		id := fmt.Sprintf("L%04d", i)
		attrs := map[string]leadscore.Value{"industry": leadscore.String(industries[rng.IntN(len(industries))])}
		if rng.IntN(5) > 0 {
			attrs["employees"] = leadscore.Number(float64(rng.IntN(5000)))
		}
		created := day0.Add(days(rng.Float64() * 300))
		if err := b.AddLead(leadscore.Lead{ID: id, AccountID: fmt.Sprint("A", i/3), CreatedAt: created, Attributes: attrs}); err != nil {
			t.Fatalf("add lead: %v", err)
		}
		for k := 0; k < rng.IntN(30); k++ {
			e := leadscore.Event{ID: fmt.Sprint("E", ev), LeadID: id, Type: types[rng.IntN(len(types))], OccurredAt: created.Add(days(rng.Float64() * 200))}
			ev++
			if e.Type == "page_view" {
				e.Properties = map[string]string{"page": pages[rng.IntN(len(pages))]}
			}
			if err := b.AddEvent(e); err != nil {
				t.Fatalf("add event: %v", err)
			}
		}
		if r := rng.IntN(10); r < 3 {
			status := leadscore.OutcomeWon
			if r == 0 {
				status = leadscore.OutcomeLost
			}
			if err := b.AddOutcome(leadscore.Outcome{LeadID: id, Status: status, OccurredAt: created.Add(days(10 + rng.Float64()*200))}); err != nil {
				t.Fatalf("add outcome: %v", err)
			}
		}
	}
	if extra != nil {
		extra(b, rng)
	}
	h, err := b.Build()
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	return h
}

func TestBuildGroupsSortsAndDeduplicatesEvents(t *testing.T) {
	t.Parallel()
	b := NewHistoryBuilder()
	for _, id := range []string{"a", "b"} {
		if err := b.AddLead(leadscore.Lead{ID: id, CreatedAt: day0}); err != nil {
			t.Fatal(err)
		}
	}
	add := func(id, lead string, at time.Time) {
		t.Helper()
		if err := b.AddEvent(leadscore.Event{ID: id, LeadID: lead, Type: "email_open", OccurredAt: at}); err != nil {
			t.Fatal(err)
		}
	}
	add("e3", "a", day0.Add(days(3)))
	add("e1", "b", day0.Add(days(1)))
	add("e2", "a", day0.Add(days(2)))
	add("e2", "a", day0.Add(days(2)))  // exact duplicate
	add("e4", "a", day0.Add(days(40))) // the first copy of e4 wins...
	add("e4", "a", day0.Add(days(5)))  // ...over a re-sent one claiming an earlier time
	h, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range h.Events(0) {
		got = append(got, e.OccurredAt.Format("01-02"))
	}
	if want := "01-03 01-04 02-10"; strings.Join(got, " ") != want {
		t.Errorf("events of lead a: got %v, want %s", got, want)
	}
	if got := len(h.Events(1)); got != 1 {
		t.Errorf("lead b has %d events, want 1", got)
	}
	if got, want := h.EventCount(), 4; got != want {
		t.Errorf("event count: got %d, want %d", got, want)
	}
}

func TestBuilderRefusesBadRecords(t *testing.T) {
	t.Parallel()
	newBuilder := func(t *testing.T) *HistoryBuilder {
		b := NewHistoryBuilder()
		if err := b.AddLead(leadscore.Lead{ID: "a", CreatedAt: day0, Attributes: map[string]leadscore.Value{"size": leadscore.Number(3)}}); err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name string
		add  func(b *HistoryBuilder) error
		want string
	}{
		{"duplicate lead", func(b *HistoryBuilder) error { return b.AddLead(leadscore.Lead{ID: "a", CreatedAt: day0}) }, "appears twice"},
		{"lead without creation time", func(b *HistoryBuilder) error { return b.AddLead(leadscore.Lead{ID: "z"}) }, "created_at"},
		{"attribute of another kind", func(b *HistoryBuilder) error {
			return b.AddLead(leadscore.Lead{ID: "b", CreatedAt: day0, Attributes: map[string]leadscore.Value{"size": leadscore.String("big")}})
		}, "attributes.size"},
		{"NaN attribute", func(b *HistoryBuilder) error {
			return b.AddLead(leadscore.Lead{ID: "b", CreatedAt: day0, Attributes: map[string]leadscore.Value{"size": leadscore.Number(math.NaN())}})
		}, "finite"},
		{"event of unknown lead", func(b *HistoryBuilder) error {
			return b.AddEvent(leadscore.Event{ID: "e", LeadID: "nobody", Type: "email_open", OccurredAt: day0})
		}, "nobody"},
		{"event with bad type", func(b *HistoryBuilder) error {
			return b.AddEvent(leadscore.Event{ID: "e", LeadID: "a", Type: "Email Open", OccurredAt: day0})
		}, "type"},
		{"outcome of unknown lead", func(b *HistoryBuilder) error {
			return b.AddOutcome(leadscore.Outcome{LeadID: "nobody", Status: leadscore.OutcomeWon, OccurredAt: day0})
		}, "nobody"},
		{"outcome with negative amount", func(b *HistoryBuilder) error {
			return b.AddOutcome(leadscore.Outcome{LeadID: "a", Status: leadscore.OutcomeWon, OccurredAt: day0, Amount: -5})
		}, "amount"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.add(newBuilder(t))
			if leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v, want EINVALID mentioning %q", err, tt.want)
			}
		})
	}
}

func TestSnapshotsEligibilityAndLabels(t *testing.T) {
	t.Parallel()
	b := NewHistoryBuilder()
	lead := func(id string, created float64) {
		if err := b.AddLead(leadscore.Lead{ID: id, CreatedAt: day0.Add(days(created))}); err != nil {
			t.Fatal(err)
		}
	}
	outcome := func(id string, s leadscore.OutcomeStatus, at float64) {
		if err := b.AddOutcome(leadscore.Outcome{LeadID: id, Status: s, OccurredAt: day0.Add(days(at))}); err != nil {
			t.Fatal(err)
		}
	}
	lead("won-in-window", 0)
	outcome("won-in-window", leadscore.OutcomeWon, 150)
	lead("won-too-late", 0)
	outcome("won-too-late", leadscore.OutcomeWon, 200)
	lead("won-before", 0)
	outcome("won-before", leadscore.OutcomeWon, 90)
	lead("lost-in-window", 0)
	outcome("lost-in-window", leadscore.OutcomeLost, 120)
	lead("open", 0)
	lead("not-yet-created", 101)
	lead("ends-history", 0)
	outcome("ends-history", leadscore.OutcomeLost, 400)
	h, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	ex, err := h.Snapshots(SnapshotSpec{Start: day0.Add(days(100)), End: day0.Add(days(101)), Interval: days(30)})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for i := range ex.Lead {
		got[h.LeadID(int(ex.Lead[i]))] = ex.Label[i]
	}
	want := map[string]bool{"won-in-window": true, "won-too-late": false, "lost-in-window": false, "open": false, "ends-history": false}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("examples at T=day 100:\n got %v\nwant %v", got, want)
	}

	_, err = h.Snapshots(SnapshotSpec{Start: day0.Add(days(100)), End: day0.Add(days(350)), Interval: days(30)})
	if leadscore.ErrorCode(err) != leadscore.EINVALID || !strings.Contains(err.Error(), "incomplete") {
		t.Errorf("snapshots whose labels pass the end of history: got %v, want an error", err)
	}
}

func TestTimeSplitLeavesAHorizonGap(t *testing.T) {
	t.Parallel()
	h := randomHistory(t, 300, 7, nil)
	ex, err := h.Snapshots(SnapshotSpec{Start: day0.Add(days(30)), End: day0.Add(days(300)), Interval: days(15)})
	if err != nil {
		t.Fatal(err)
	}
	cut := day0.Add(days(200))
	train, test := ex.TimeSplit(cut)
	if train.Len() == 0 || test.Len() == 0 {
		t.Fatalf("empty side: train %d, test %d", train.Len(), test.Len())
	}
	for _, at := range train.At {
		if time.Unix(at, 0).Add(ex.Horizon).After(cut) {
			t.Fatalf("a training label window ends %s, after the test start %s", time.Unix(at, 0).Add(ex.Horizon).UTC(), cut)
		}
	}
	for _, at := range test.At {
		if at < cut.Unix() {
			t.Fatalf("a test example at %s is before the test start", time.Unix(at, 0).UTC())
		}
	}
}

// TestTrainAndServeComputeTheSameFeatures checks the promise of the model
// package: the columnar path used in training and backtests, and the
// record path used by live scoring, give bit-identical rows.
func TestTrainAndServeComputeTheSameFeatures(t *testing.T) {
	t.Parallel()
	h := randomHistory(t, 200, 11, nil)
	spec, err := h.LearnSpec(model.SpecOptions{MinCategoryCount: 1, MinRefinementCount: 1}, day0.Add(days(400)))
	if err != nil {
		t.Fatal(err)
	}
	bind, err := h.Bind(spec)
	if err != nil {
		t.Fatal(err)
	}
	ex, err := h.Snapshots(SnapshotSpec{Start: day0.Add(days(60)), End: day0.Add(days(300)), Interval: days(20), Horizon: days(30)})
	if err != nil {
		t.Fatal(err)
	}
	matrix, err := bind.Matrix(context.Background(), ex)
	if err != nil {
		t.Fatal(err)
	}
	f, err := model.NewFeaturizer(spec)
	if err != nil {
		t.Fatal(err)
	}
	w := bind.Width()
	row := make([]float64, w)
	for r := 0; r < ex.Len(); r++ {
		i := int(ex.Lead[r])
		lead := h.Lead(i)
		fit := make([]leadscore.Value, len(spec.Fit))
		for j, ff := range spec.Fit {
			fit[j] = lead.Attributes[ff.Attribute]
		}
		if err := f.Compute(fit, lead.CreatedAt.Unix(), spec.ActivityFromEvents(h.Events(i)), ex.At[r], row); err != nil {
			t.Fatal(err)
		}
		for c := 0; c < w; c++ {
			if math.Float64bits(row[c]) != math.Float64bits(matrix[r*w+c]) {
				t.Fatalf("example %d feature %s: serving path %v, training path %v", r, spec.Features()[c].Name, row[c], matrix[r*w+c])
			}
		}
	}
}

// TestFutureEventsChangeNoSnapshotFeature adds events at and after each
// snapshot time to a history and checks that no feature row at that time
// changes.
func TestFutureEventsChangeNoSnapshotFeature(t *testing.T) {
	t.Parallel()
	snap := SnapshotSpec{Start: day0.Add(days(150)), End: day0.Add(days(151)), Interval: days(1), Horizon: days(30)}
	T := snap.Start
	rows := func(h *History) []float64 {
		spec, err := h.LearnSpec(model.SpecOptions{MinCategoryCount: 1, MinRefinementCount: 1}, T)
		if err != nil {
			t.Fatal(err)
		}
		bind, err := h.Bind(spec)
		if err != nil {
			t.Fatal(err)
		}
		ex, err := h.Snapshots(snap)
		if err != nil {
			t.Fatal(err)
		}
		m, err := bind.Matrix(context.Background(), ex)
		if err != nil {
			t.Fatal(err)
		}
		return m
	}
	before := rows(randomHistory(t, 150, 3, nil))
	after := rows(randomHistory(t, 150, 3, func(b *HistoryBuilder, rng *rand.Rand) {
		for k := 0; k < 2000; k++ {
			e := leadscore.Event{
				ID:         fmt.Sprint("late", k),
				LeadID:     fmt.Sprintf("L%04d", rng.IntN(150)),
				Type:       []string{"page_view", "email_open", "webinar_attended", "unsubscribe"}[rng.IntN(4)],
				OccurredAt: T.Add(days(rng.Float64() * 60)),
			}
			if rng.IntN(3) == 0 {
				e.ID = fmt.Sprint("E", rng.IntN(500)) // a late copy of an early event
			}
			if e.Type == "page_view" {
				e.Properties = map[string]string{"page": "pricing"}
			}
			if err := b.AddEvent(e); err != nil {
				t.Fatal(err)
			}
		}
	}))
	if len(before) != len(after) {
		t.Fatalf("feature matrix has %d values before and %d after adding future events", len(before), len(after))
	}
	for i := range before {
		if math.Float64bits(before[i]) != math.Float64bits(after[i]) {
			t.Fatalf("value %d changed from %v to %v after adding events at or after T", i, before[i], after[i])
		}
	}
}

func TestOrderedSplit(t *testing.T) {
	t.Parallel()
	train, test, err := OrderedSplit(5, []int64{50, 10, 40, 20, 30}, 0.4)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(train, test) != "[1 3 4] [2 0]" {
		t.Errorf("got train %v test %v, want the two latest rows in test", train, test)
	}
	if _, _, err := OrderedSplit(5, nil, 1.5); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("fraction 1.5: got %v, want EINVALID", err)
	}
}

func TestRandomSplitIsSeededAndKeepsGroupsWhole(t *testing.T) {
	t.Parallel()
	n := 10000
	groups := make([]uint32, n)
	for i := range groups {
		groups[i] = uint32(i / 4)
	}
	train1, test1, err := RandomSplit(n, 0.2, 42, groups)
	if err != nil {
		t.Fatal(err)
	}
	train2, test2, _ := RandomSplit(n, 0.2, 42, groups)
	if fmt.Sprint(train1) != fmt.Sprint(train2) || fmt.Sprint(test1) != fmt.Sprint(test2) {
		t.Error("the same seed gave different splits")
	}
	_, test3, _ := RandomSplit(n, 0.2, 43, groups)
	if fmt.Sprint(test1) == fmt.Sprint(test3) {
		t.Error("different seeds gave the same split")
	}
	side := map[uint32]bool{}
	for _, i := range test1 {
		side[groups[i]] = true
	}
	for _, i := range train1 {
		if side[groups[i]] {
			t.Fatalf("group %d is on both sides", groups[i])
		}
	}
	if share := float64(len(test1)) / float64(n); share < 0.15 || share > 0.25 {
		t.Errorf("test share %.3f, want about 0.2", share)
	}
}
