package storeutil

import (
	"errors"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

func rollupScore(id string, p float64, cell string, v int64, minutes int) leadscore.LeadScoreRecord {
	c, err := leadscore.ParseCell("cell", cell)
	if err != nil {
		panic(err)
	}
	return leadscore.LeadScoreRecord{LeadID: id, Probability: p, Cell: c,
		Version: leadscore.VersionRef{Model: "m", Version: v}, ScoredAt: t0.Add(time.Duration(minutes) * time.Minute)}
}

func TestRollup(t *testing.T) {
	t.Parallel()
	if got := Rollup(3, nil); got != nil {
		t.Errorf("Rollup of no scored lead = %+v, want nil", got)
	}
	scores := []leadscore.LeadScoreRecord{
		rollupScore("f", 0.125, "D1", 1, 0),
		rollupScore("b", 0.5, "B2", 1, 1),
		rollupScore("a", 0.5, "C3", 2, 2),
		rollupScore("e", 0.25, "B4", 1, 0),
		rollupScore("c", 0.75, "C1", 1, 2),
		rollupScore("d", 0.25, "D4", 1, 0),
	}
	// 1 − .25·.5·.5·.75·.75·.875 = 1 − 0.03076171875.
	want := &leadscore.AccountRollup{Probability: 0.96923828125, Score: 97, BestGrade: leadscore.GradeB,
		LeadCount: 9, EngagedLeadCount: 3, TopLeads: []string{"c", "a", "b", "d", "e"},
		Version: leadscore.VersionRef{Model: "m", Version: 2}, ScoredAt: t0.Add(time.Duration(2) * time.Minute)}
	got := Rollup(9, scores)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Rollup() = %+v, want %+v", got, want)
	}
	// Any order of rows gives the same bits.
	reversed := slices.Clone(scores)
	slices.Reverse(reversed)
	if again := Rollup(9, reversed); !reflect.DeepEqual(again, got) {
		t.Errorf("Rollup of reversed rows = %+v, want %+v", again, got)
	}

	one := Rollup(1, []leadscore.LeadScoreRecord{rollupScore("a", 1, "A4", 1, 0), rollupScore("b", 0.3, "B1", 1, 0)})
	if one.Probability != 1 || one.Score != 99 {
		t.Errorf("Rollup with a lead at 1: probability %v, score %d; want 1 and 99", one.Probability, one.Score)
	}
	low := Rollup(1, []leadscore.LeadScoreRecord{rollupScore("a", 0.001, "D4", 1, 0)})
	if low.Score != 1 || low.EngagedLeadCount != 0 {
		t.Errorf("Rollup of one lead at 0.001: score %d, engaged %d; want 1 and 0", low.Score, low.EngagedLeadCount)
	}
}

func TestAccountsPage(t *testing.T) {
	t.Parallel()
	acc := func(id string, p float64, g leadscore.Grade) leadscore.StoredAccount {
		a := leadscore.StoredAccount{Account: leadscore.Account{ID: id}}
		if p >= 0 {
			a.Rollup = &leadscore.AccountRollup{Probability: p, BestGrade: g}
		}
		return a
	}
	all := []leadscore.StoredAccount{
		acc("z", -1, 0), acc("b", 0.5, leadscore.GradeB), acc("a", 0.5, leadscore.GradeA),
		acc("c", 0.9, leadscore.GradeB), acc("y", -1, 0), acc("d", 0, leadscore.GradeD),
	}
	ids := func(as []leadscore.StoredAccount) []string {
		var out []string
		for _, a := range as {
			out = append(out, a.Account.ID)
		}
		return out
	}
	walk := func(grades []leadscore.Grade, limit int) []string {
		var out []string
		var page leadscore.AccountPage
		for range 20 {
			got, next := AccountsPage(all, grades, page, limit)
			out = append(out, ids(got)...)
			if next == (leadscore.AccountPage{}) {
				return out
			}
			page = next
		}
		t.Fatalf("paging of limit %d does not end", limit)
		return nil
	}
	want := []string{"c", "a", "b", "d", "y", "z"}
	for _, limit := range []int{1, 2, 5, 6, 7} {
		if got := walk(nil, limit); !slices.Equal(got, want) {
			t.Errorf("pages of %d = %v, want %v", limit, got, want)
		}
	}
	if got, want := walk([]leadscore.Grade{leadscore.GradeB}, 1), []string{"c", "b"}; !slices.Equal(got, want) {
		t.Errorf("grade B in pages of 1 = %v, want %v", got, want)
	}
	if got, next := AccountsPage(all, nil, leadscore.AccountPage{}, 6); next != (leadscore.AccountPage{}) || len(got) != 6 {
		t.Errorf("a full page = %d accounts, next %+v; want 6 and no next page", len(got), next)
	}
	if _, next := AccountsPage(all, nil, leadscore.AccountPage{}, 2); next != (leadscore.AccountPage{AccountID: "a", Scored: true, Probability: 0.5}) {
		t.Errorf("next of the first 2 = %+v, want after a at 0.5", next)
	}
}

func TestCheckAccountList(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name   string
		grades []leadscore.Grade
		page   leadscore.AccountPage
		limit  int
		field  string
	}{
		{"grade none", []leadscore.Grade{leadscore.GradeNone}, leadscore.AccountPage{}, 1, "best_grades[0]"},
		{"grade past D", []leadscore.Grade{leadscore.GradeA, leadscore.GradeD + 1}, leadscore.AccountPage{}, 1, "best_grades[1]"},
		{"too many grades", make([]leadscore.Grade, MaxFilterValues+1), leadscore.AccountPage{}, 1, "best_grades"},
		{"page id", nil, leadscore.AccountPage{AccountID: "\x00"}, 1, "page.account_id"},
		{"page probability", nil, leadscore.AccountPage{AccountID: "a", Scored: true, Probability: -0.5}, 1, "page.probability"},
		{"limit 0", nil, leadscore.AccountPage{}, 0, "limit"},
		{"limit past the batch", nil, leadscore.AccountPage{}, leadscore.MaxIngestBatch + 1, "limit"},
	} {
		err := CheckAccountList(tt.grades, tt.page, tt.limit)
		var e *leadscore.Error
		if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) == 0 || e.Fields[0].Field != tt.field {
			t.Errorf("%s: %v, want EINVALID naming %s", tt.name, err, tt.field)
		}
	}
	if err := CheckAccountList([]leadscore.Grade{leadscore.GradeA, leadscore.GradeD}, leadscore.AccountPage{AccountID: "a"}, leadscore.MaxIngestBatch); err != nil {
		t.Errorf("valid arguments: %v", err)
	}
	if err := AccountNotFound("acme"); leadscore.ErrorCode(err) != leadscore.ENOTFOUND {
		t.Errorf("AccountNotFound: %v, want ENOTFOUND", err)
	}
}
