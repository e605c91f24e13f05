package storetest

import (
	"fmt"
	"reflect"
	"slices"
	"sync"
	"testing"

	"github.com/leadscore/leadscore"
)

// The conformance suite of ListLeads: orders, filters, keyset pages and
// what paging guarantees while scores change.

// listLeads calls ListLeads and fails the test on an error.
func listLeads(t *testing.T, s leadStore, f leadscore.LeadFilter, page leadscore.LeadPage, limit int) ([]leadscore.StoredLead, leadscore.LeadPage) {
	t.Helper()
	got, next, err := s.ListLeads(t.Context(), f, page, limit)
	if err != nil {
		t.Fatalf("ListLeads(%+v, %+v, %d): %v", f, page, limit, err)
	}
	return got, next
}

// listIDs walks every page of a listing, limit leads a page, and returns
// the ids in the order listed, failing the test on a page longer than
// limit or a non-final page shorter than it.
func listIDs(t *testing.T, s leadStore, f leadscore.LeadFilter, limit int) []string {
	t.Helper()
	var ids []string
	var page leadscore.LeadPage
	for pages := 0; ; pages++ {
		got, next := listLeads(t, s, f, page, limit)
		if len(got) > limit || (next != (leadscore.LeadPage{}) && len(got) != limit) {
			t.Fatalf("page %d of limit %d has %d leads (next %+v)", pages, limit, len(got), next)
		}
		for _, l := range got {
			ids = append(ids, l.Lead.ID)
		}
		if next == (leadscore.LeadPage{}) {
			return ids
		}
		if pages > 10000 {
			t.Fatalf("more than 10000 pages of limit %d: paging does not advance", limit)
		}
		page = next
	}
}

// listFixture stores leads a to h: a to f scored (b highest, a and c tied,
// so c follows a by id), g and h not; accounts, owners, tiers, cells and
// actions to filter by.
func listFixture(t *testing.T, s leadStore) {
	t.Helper()
	registerScoring(t, s)
	var leads []leadscore.Lead
	for i, id := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		l := lead(id)
		l.AccountID = map[bool]string{true: "acme", false: "globex"}[i%2 == 0]
		l.Owner = map[bool]string{true: "sam", false: "kim"}[i < 4]
		leads = append(leads, l)
	}
	upsertLeads(t, s, 0, leads...)
	sc := func(id string, p float64, tier leadscore.Tier, cell, action string) leadscore.LeadScoreRecord {
		r := score(id, 1, minute(1), p, tier, cell)
		r.Action = action
		return r
	}
	saveScores(t, s, 0,
		sc("a", 0.5, leadscore.TierGood, "B1", leadscore.ActionNurture),
		sc("b", 0.9, leadscore.TierVeryGood, "A1", leadscore.ActionSendToSales),
		sc("c", 0.5, leadscore.TierGood, "B2", leadscore.ActionNurture),
		sc("d", 0.1, leadscore.TierLow, "D4", leadscore.ActionNoAction),
		sc("e", 0.3, leadscore.TierMedium, "C2", leadscore.ActionQualifyingCall),
		sc("f", 0.7, leadscore.TierVeryGood, "A2", leadscore.ActionSendToSales),
	)
}

func testListByScore(t *testing.T, s leadStore) {
	listFixture(t, s)
	won := leadscore.Outcome{LeadID: "d", Status: leadscore.OutcomeWon, OccurredAt: minute(2), Amount: 10, Currency: "EUR"}
	if _, err := s.RecordOutcomes(t.Context(), []leadscore.Outcome{won}, ingest(2)); err != nil {
		t.Fatalf("RecordOutcomes(): %v", err)
	}
	got, next := listLeads(t, s, leadscore.LeadFilter{}, leadscore.LeadPage{}, 100)
	if next != (leadscore.LeadPage{}) {
		t.Errorf("next page of a listing of all = %+v, want none", next)
	}
	var ids []string
	for _, l := range got {
		ids = append(ids, l.Lead.ID)
	}
	if want := []string{"b", "f", "a", "c", "e", "d", "g", "h"}; !slices.Equal(ids, want) {
		t.Fatalf("ListLeads() by score = %v, want %v (probability descending, ties by id, unscored last)", ids, want)
	}
	// Each lead reads back as GetLead returns it, without factors.
	for _, l := range got {
		want := getLead(t, s, l.Lead.ID)
		if want.Score != nil {
			want.Score.Factors = nil
		}
		if !reflect.DeepEqual(l, want) {
			t.Errorf("listed %s = %+v, want GetLead's without factors %+v", l.Lead.ID, l, want)
		}
	}
	if got[5].Outcome == nil || got[5].Outcome.Status != leadscore.OutcomeWon {
		t.Errorf("listed d's outcome = %+v, want won", got[5].Outcome)
	}
	if got[6].Score != nil {
		t.Errorf("listed g's score = %+v, want none", got[6].Score)
	}
}

func testListByUpdate(t *testing.T, s leadStore) {
	registerScoring(t, s)
	upsertLeads(t, s, 0, lead("a"), lead("b"))
	upsertLeads(t, s, 1, lead("d"), lead("c"))
	upsertLeads(t, s, 2, lead("e"))
	changed := lead("a")
	changed.Owner = "sam"
	upsertLeads(t, s, 3, changed)
	// A score changes no lead's updated time.
	saveScores(t, s, 0, score("b", 1, minute(4), 0.9, leadscore.TierVeryGood, "A1"))
	f := leadscore.LeadFilter{Order: leadscore.LeadsByUpdate}
	want := []string{"a", "e", "c", "d", "b"}
	if got := listIDs(t, s, f, 100); !slices.Equal(got, want) {
		t.Errorf("ListLeads() by update = %v, want %v (newest first, ties by id)", got, want)
	}
	if got := listIDs(t, s, f, 2); !slices.Equal(got, want) {
		t.Errorf("ListLeads() by update, 2 a page = %v, want %v", got, want)
	}
}

func testListFilters(t *testing.T, s leadStore) {
	listFixture(t, s)
	c := func(s string) leadscore.Cell {
		cell, err := leadscore.ParseCell("cell", s)
		if err != nil {
			t.Fatal(err)
		}
		return cell
	}
	tests := []struct {
		name string
		f    leadscore.LeadFilter
		want []string // by score
	}{
		{"no filter lists every lead", leadscore.LeadFilter{}, []string{"b", "f", "a", "c", "e", "d", "g", "h"}},
		{"a tier", leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierGood}}, []string{"a", "c"}},
		{"any of tiers", leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierLow, leadscore.TierVeryGood}}, []string{"b", "f", "d"}},
		{"a cell", leadscore.LeadFilter{Cells: []leadscore.Cell{c("B2")}}, []string{"c"}},
		{"any of cells", leadscore.LeadFilter{Cells: []leadscore.Cell{c("D4"), c("A1"), c("C1")}}, []string{"b", "d"}},
		{"any of actions", leadscore.LeadFilter{Actions: []string{leadscore.ActionSendToSales, leadscore.ActionNoAction}}, []string{"b", "f", "d"}},
		{"an action no score has", leadscore.LeadFilter{Actions: []string{"call_the_ceo"}}, nil},
		{"account, unscored included", leadscore.LeadFilter{AccountID: "acme"}, []string{"a", "c", "e", "g"}},
		{"owner, unscored included", leadscore.LeadFilter{Owner: "kim"}, []string{"f", "e", "g", "h"}},
		{"account and owner", leadscore.LeadFilter{AccountID: "globex", Owner: "sam"}, []string{"b", "d"}},
		{"account and tier", leadscore.LeadFilter{AccountID: "acme", Tiers: []leadscore.Tier{leadscore.TierGood, leadscore.TierMedium}}, []string{"a", "c", "e"}},
		{"every filter", leadscore.LeadFilter{AccountID: "acme", Owner: "sam", Tiers: []leadscore.Tier{leadscore.TierGood},
			Cells: []leadscore.Cell{c("B2")}, Actions: []string{leadscore.ActionNurture}}, []string{"c"}},
		{"unknown account", leadscore.LeadFilter{AccountID: "initech"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []int{1, 3, 100} {
				if got := listIDs(t, s, tt.f, limit); !slices.Equal(got, tt.want) {
					t.Errorf("ListLeads(%+v) by score, %d a page = %v, want %v", tt.f, limit, got, tt.want)
				}
			}
			// By update every lead was written at minute 0: ties by id.
			f := tt.f
			f.Order = leadscore.LeadsByUpdate
			want := slices.Clone(tt.want)
			slices.Sort(want)
			if got := listIDs(t, s, f, 2); !slices.Equal(got, want) {
				t.Errorf("ListLeads(%+v) by update = %v, want %v", f, got, want)
			}
		})
	}
}

// pagingFixture stores 40 leads: 28 scored with probabilities in 7 ties
// of 4, 12 unscored, written at 5 different minutes.
func pagingFixture(t *testing.T, s leadStore) []string {
	t.Helper()
	registerScoring(t, s)
	var ids []string
	var scores []leadscore.LeadScoreRecord
	for i := range 40 {
		id := fmt.Sprintf("lead-%02d", (i*17)%40)
		ids = append(ids, id)
		upsertLeads(t, s, i%5, lead(id))
		if i < 28 {
			scores = append(scores, score(id, 1, minute(10), float64(i%7)/10, leadscore.TierMedium, "C2"))
		}
	}
	saveScores(t, s, 0, scores...)
	return ids
}

func testListPaging(t *testing.T, s leadStore) {
	ids := pagingFixture(t, s)
	for _, order := range []leadscore.LeadOrder{leadscore.LeadsByScore, leadscore.LeadsByUpdate} {
		f := leadscore.LeadFilter{Order: order}
		all := listIDs(t, s, f, 1000)
		if got, want := sortedCopy(all), sortedCopy(ids); !slices.Equal(got, want) {
			t.Fatalf("order %d: one page of every lead = %v, want each of %v once", order, got, want)
		}
		for _, limit := range []int{1, 2, 3, 4, 7, 39, 40} {
			if got := listIDs(t, s, f, limit); !slices.Equal(got, all) {
				t.Errorf("order %d: pages of %d = %v, want %v", order, limit, got, all)
			}
		}
		// A page that ends with the last lead says that none follows.
		if _, next := listLeads(t, s, f, leadscore.LeadPage{}, 40); next != (leadscore.LeadPage{}) {
			t.Errorf("order %d: next page after all 40 = %+v, want none", order, next)
		}
	}
}

func sortedCopy(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// testListConcurrentScores walks the listing while another goroutine
// rescores some leads (the movers) again and again: every other lead is
// listed exactly once, and no page holds a lead twice. By update, which a
// score does not change, every lead is listed exactly once.
func testListConcurrentScores(t *testing.T, s leadStore) {
	ids := pagingFixture(t, s)
	movers := map[string]bool{}
	for _, id := range ids[:28:28] {
		if len(movers) < 8 {
			movers[id] = true
		}
	}
	for _, order := range []leadscore.LeadOrder{leadscore.LeadsByScore, leadscore.LeadsByUpdate} {
		// The saver signals each round it saved, and the walker waits for
		// one between pages, so the movers move between every two pages.
		stop := make(chan struct{})
		saved := make(chan struct{}, 1)
		var wg sync.WaitGroup
		wg.Add(1)
		var saveErr error
		go func() {
			defer wg.Done()
			defer close(saved)
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				var batch []leadscore.LeadScoreRecord
				j := 0
				for id := range movers {
					p := float64((round*7+j*3)%11) / 10
					batch = append(batch, score(id, 1, minute(20+int(order)*100000+round), p, leadscore.TierMedium, "C2"))
					j++
				}
				if _, err := s.SaveScores(t.Context(), batch, leadscore.SaveScoresOptions{}); err != nil {
					saveErr = err
					return
				}
				select {
				case saved <- struct{}{}:
				default:
				}
			}
		}()
		seen := map[string]int{}
		var page leadscore.LeadPage
		for pages := 0; pages < 1000; pages++ {
			got, next := listLeads(t, s, leadscore.LeadFilter{Order: order}, page, 3)
			onPage := map[string]bool{}
			for _, l := range got {
				if onPage[l.Lead.ID] {
					t.Errorf("order %d: page %d holds %s twice", order, pages, l.Lead.ID)
				}
				onPage[l.Lead.ID] = true
				seen[l.Lead.ID]++
			}
			if next == (leadscore.LeadPage{}) {
				break
			}
			page = next
			<-saved
		}
		close(stop)
		wg.Wait()
		if saveErr != nil {
			t.Fatalf("concurrent SaveScores(): %v", saveErr)
		}
		for _, id := range ids {
			if n := seen[id]; n != 1 && (order == leadscore.LeadsByUpdate || !movers[id]) {
				t.Errorf("order %d: %s listed %d times during concurrent rescoring, want once", order, id, n)
			}
		}
	}
}

func testListLimits(t *testing.T, s leadStore) {
	ctx := t.Context()
	tests := []struct {
		name  string
		f     leadscore.LeadFilter
		page  leadscore.LeadPage
		limit int
		field string
	}{
		{"limit 0", leadscore.LeadFilter{}, leadscore.LeadPage{}, 0, "limit"},
		{"limit above the batch size", leadscore.LeadFilter{}, leadscore.LeadPage{}, leadscore.MaxIngestBatch + 1, "limit"},
		{"unknown order", leadscore.LeadFilter{Order: 9}, leadscore.LeadPage{}, 10, "order"},
		{"no tier", leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierGood, leadscore.TierNone}}, leadscore.LeadPage{}, 10, "tiers[1]"},
		{"no cell", leadscore.LeadFilter{Cells: []leadscore.Cell{{Grade: leadscore.GradeA, Level: 5}}}, leadscore.LeadPage{}, 10, "cells[0]"},
		{"malformed account", leadscore.LeadFilter{AccountID: "no spaces"}, leadscore.LeadPage{}, 10, "account_id"},
		{"action with a NUL", leadscore.LeadFilter{Actions: []string{"a\x00"}}, leadscore.LeadPage{}, 10, "actions[0]"},
		{"malformed page id", leadscore.LeadFilter{}, leadscore.LeadPage{LeadID: "no spaces"}, 10, "page.lead_id"},
		{"page probability above 1", leadscore.LeadFilter{}, leadscore.LeadPage{LeadID: "a", Scored: true, Probability: 2}, 10, "page.probability"},
	}
	for _, tt := range tests {
		_, _, err := s.ListLeads(ctx, tt.f, tt.page, tt.limit)
		wantField(t, "ListLeads() with "+tt.name, err, tt.field)
	}
	upsertLeads(t, s, 0, lead("a"))
	if got, _ := listLeads(t, s, leadscore.LeadFilter{}, leadscore.LeadPage{}, leadscore.MaxIngestBatch); len(got) != 1 {
		t.Errorf("ListLeads() of the largest limit = %d leads, want 1", len(got))
	}
}
