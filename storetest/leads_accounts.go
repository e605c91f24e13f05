package storetest

import (
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// The conformance suite of GetAccount and ListAccounts: roll-up figures
// against hand-computed values, accounts without a roll-up, order, keyset
// pages and the grade filter. Probabilities are dyadic, so every product
// is exact and the wanted figures are written out.

// accountFixture stores accounts acme, globex, hooli, initech, umbrella
// and zeta:
//   - acme: a1..a6 scored (a2 by version 2, the newest), a7 not;
//   - globex and zeta: one lead each at 0.75 (tied, globex first by id);
//   - hooli: one lead at probability 1;
//   - initech: one unscored lead, created by the lead;
//   - umbrella: no lead.
func accountFixture(t *testing.T, s leadStore) {
	t.Helper()
	registerScoring(t, s)
	createVersion(t, s, scoringModel, 2)
	accounts := []leadscore.Account{
		{ID: "acme", Name: "Acme Corp", Attributes: map[string]leadscore.Value{"employees": leadscore.Number(250)}},
		{ID: "globex"}, {ID: "hooli"}, {ID: "umbrella", Name: "Umbrella"}, {ID: "zeta"},
	}
	if _, err := s.UpsertAccounts(t.Context(), accounts, ingest(0)); err != nil {
		t.Fatalf("UpsertAccounts(): %v", err)
	}
	var leads []leadscore.Lead
	for _, la := range [][2]string{
		{"a1", "acme"}, {"a2", "acme"}, {"a3", "acme"}, {"a4", "acme"}, {"a5", "acme"}, {"a6", "acme"}, {"a7", "acme"},
		{"g1", "globex"}, {"h1", "hooli"}, {"i1", "initech"}, {"z1", "zeta"}, {"x1", ""},
	} {
		l := lead(la[0])
		l.AccountID = la[1]
		leads = append(leads, l)
	}
	upsertLeads(t, s, 0, leads...)
	a2 := score("a2", 2, minute(3), 0.5, leadscore.TierGood, "A3")
	saveScores(t, s, 0,
		score("a1", 1, minute(1), 0.5, leadscore.TierGood, "B1"),
		a2,
		score("a3", 1, minute(2), 0.25, leadscore.TierMedium, "C2"),
		score("a4", 1, minute(1), 0.75, leadscore.TierVeryGood, "B4"),
		score("a5", 1, minute(1), 0.125, leadscore.TierLow, "D1"),
		score("a6", 1, minute(2), 0.25, leadscore.TierMedium, "C3"),
		score("g1", 1, minute(1), 0.75, leadscore.TierVeryGood, "B2"),
		score("h1", 1, minute(1), 1, leadscore.TierVeryGood, "C1"),
		score("z1", 1, minute(2), 0.75, leadscore.TierVeryGood, "C4"),
		score("x1", 1, minute(2), 0.875, leadscore.TierVeryGood, "A1"),
	)
}

// us is t at the stores' precision, a microsecond.
func us(t time.Time) time.Time { return t.Truncate(time.Microsecond) }

func getAccount(t *testing.T, s leadStore, id string) leadscore.StoredAccount {
	t.Helper()
	a, err := s.GetAccount(t.Context(), id)
	if err != nil {
		t.Fatalf("GetAccount(%q): %v", id, err)
	}
	return a
}

func testAccountRollup(t *testing.T, s leadStore) {
	accountFixture(t, s)
	got := getAccount(t, s, "acme")
	if got.Account.ID != "acme" || got.Account.Name != "Acme Corp" ||
		!reflect.DeepEqual(got.Account.Attributes, map[string]leadscore.Value{"employees": leadscore.Number(250)}) ||
		!got.Account.UpdatedAt.Equal(us(minute(0))) {
		t.Errorf("GetAccount(acme).Account = %+v, want Acme Corp with 250 employees updated at minute 0", got.Account)
	}
	// 1 − (1−.75)(1−.5)(1−.5)(1−.25)(1−.25)(1−.125) = 1 − 0.030761718750.
	want := &leadscore.AccountRollup{
		Probability: 0.96923828125, Score: 97, BestGrade: leadscore.GradeA,
		LeadCount: 7, EngagedLeadCount: 3, // a1 (B1), a3 (C2), a5 (D1)
		TopLeads: []string{"a4", "a1", "a2", "a3", "a6"},
		Version:  leadscore.VersionRef{Model: scoringModel, Version: 2}, ScoredAt: us(minute(3)),
	}
	if !reflect.DeepEqual(got.Rollup, want) {
		t.Errorf("GetAccount(acme).Rollup = %+v, want %+v", got.Rollup, want)
	}

	hooli := getAccount(t, s, "hooli")
	wantHooli := &leadscore.AccountRollup{Probability: 1, Score: 99, BestGrade: leadscore.GradeC, LeadCount: 1,
		EngagedLeadCount: 1, TopLeads: []string{"h1"}, Version: leadscore.VersionRef{Model: scoringModel, Version: 1}, ScoredAt: us(minute(1))}
	if !reflect.DeepEqual(hooli.Rollup, wantHooli) {
		t.Errorf("GetAccount(hooli).Rollup = %+v, want %+v (a lead at 1 makes the account 1)", hooli.Rollup, wantHooli)
	}
	globex := getAccount(t, s, "globex")
	if globex.Rollup == nil || globex.Rollup.Probability != 0.75 || globex.Rollup.Score != 75 || globex.Rollup.BestGrade != leadscore.GradeB ||
		globex.Rollup.EngagedLeadCount != 1 || globex.Rollup.LeadCount != 1 {
		t.Errorf("GetAccount(globex).Rollup = %+v, want probability 0.75, score 75, grade B, 1 lead engaged", globex.Rollup)
	}
	for _, id := range []string{"initech", "umbrella"} {
		if a := getAccount(t, s, id); a.Rollup != nil || a.Account.ID != id {
			t.Errorf("GetAccount(%q) = %+v, want the account without a roll-up (no scored lead)", id, a)
		}
	}

	_, err := s.GetAccount(t.Context(), "nope")
	wantCode(t, "GetAccount(nope)", err, leadscore.ENOTFOUND)
	_, err = s.GetAccount(t.Context(), "")
	wantField(t, `GetAccount("")`, err, "id")
}

// accountIDs walks every page of ListAccounts, limit accounts a page.
func accountIDs(t *testing.T, s leadStore, grades []leadscore.Grade, limit int) []string {
	t.Helper()
	var ids []string
	var page leadscore.AccountPage
	for pages := 0; ; pages++ {
		got, next, err := s.ListAccounts(t.Context(), grades, page, limit)
		if err != nil {
			t.Fatalf("ListAccounts(%v, %+v, %d): %v", grades, page, limit, err)
		}
		if len(got) > limit || (next != (leadscore.AccountPage{}) && len(got) != limit) {
			t.Fatalf("page %d of limit %d has %d accounts (next %+v)", pages, limit, len(got), next)
		}
		for _, a := range got {
			ids = append(ids, a.Account.ID)
		}
		if next == (leadscore.AccountPage{}) {
			return ids
		}
		if pages > 100 {
			t.Fatalf("more than 100 pages of limit %d: paging does not advance", limit)
		}
		page = next
	}
}

func testListAccounts(t *testing.T, s leadStore) {
	accountFixture(t, s)
	want := []string{"hooli", "acme", "globex", "zeta", "initech", "umbrella"}
	for _, limit := range []int{1, 2, 4, 5, 6, 1000} {
		if got := accountIDs(t, s, nil, limit); !slices.Equal(got, want) {
			t.Errorf("ListAccounts pages of %d = %v, want %v", limit, got, want)
		}
	}
	got, _, err := s.ListAccounts(t.Context(), nil, leadscore.AccountPage{}, 2)
	if err != nil {
		t.Fatalf("ListAccounts(): %v", err)
	}
	if len(got) != 2 || got[1].Rollup == nil || got[1].Rollup.Probability != 0.96923828125 || got[1].Account.Name != "Acme Corp" {
		t.Errorf("ListAccounts()[1] = %+v, want acme with its roll-up", got)
	}
	for _, tt := range []struct {
		grades []leadscore.Grade
		want   []string
	}{
		{[]leadscore.Grade{leadscore.GradeB}, []string{"globex"}},
		{[]leadscore.Grade{leadscore.GradeC, leadscore.GradeA}, []string{"hooli", "acme", "zeta"}},
		{[]leadscore.Grade{leadscore.GradeD}, nil},
	} {
		for _, limit := range []int{1, 10} {
			if got := accountIDs(t, s, tt.grades, limit); !slices.Equal(got, tt.want) {
				t.Errorf("ListAccounts(best grades %v) pages of %d = %v, want %v", tt.grades, limit, got, tt.want)
			}
		}
	}
}

func testListAccountsChecks(t *testing.T, s leadStore) {
	for _, tt := range []struct {
		name   string
		grades []leadscore.Grade
		page   leadscore.AccountPage
		limit  int
		field  string
	}{
		{"grade none", []leadscore.Grade{leadscore.GradeA, leadscore.GradeNone}, leadscore.AccountPage{}, 10, "best_grades[1]"},
		{"grade past D", []leadscore.Grade{leadscore.GradeD + 1}, leadscore.AccountPage{}, 10, "best_grades[0]"},
		{"limit 0", nil, leadscore.AccountPage{}, 0, "limit"},
		{"limit past the batch", nil, leadscore.AccountPage{}, leadscore.MaxIngestBatch + 1, "limit"},
		{"malformed page id", nil, leadscore.AccountPage{AccountID: "a b\x00"}, 10, "page.account_id"},
		{"page probability past 1", nil, leadscore.AccountPage{AccountID: "a", Scored: true, Probability: 2}, 10, "page.probability"},
	} {
		_, _, err := s.ListAccounts(t.Context(), tt.grades, tt.page, tt.limit)
		wantField(t, tt.name, err, tt.field)
	}
}
