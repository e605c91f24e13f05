package storeutil

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// invalidField returns the field an EINVALID error names, or "" for
// another error or none.
func invalidField(err error) string {
	var e *leadscore.Error
	if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) == 0 {
		return ""
	}
	return e.Fields[0].Field
}

func TestCheckLeadList(t *testing.T) {
	t.Parallel()
	ok := leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierGood}, Cells: []leadscore.Cell{{Grade: leadscore.GradeA, Level: 1}},
		Actions: []string{"nurture"}, AccountID: "acme", Owner: "sam"}
	if err := CheckLeadList(ok, leadscore.LeadPage{LeadID: "a", Scored: true, Probability: 1}, 1000); err != nil {
		t.Fatalf("CheckLeadList() of a good listing: %v", err)
	}
	many := make([]string, MaxFilterValues+1)
	tests := []struct {
		name  string
		edit  func(*leadscore.LeadFilter, *leadscore.LeadPage, *int)
		field string
	}{
		{"order", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Order = 2 }, "order"},
		{"tier", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Tiers = append(f.Tiers, 9) }, "tiers[1]"},
		{"cell", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Cells = []leadscore.Cell{{}} }, "cells[0]"},
		{"too many actions", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Actions = many }, "actions"},
		{"action", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Actions = []string{"\xff"} }, "actions[0]"},
		{"account", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.AccountID = "a b" }, "account_id"},
		{"owner", func(f *leadscore.LeadFilter, _ *leadscore.LeadPage, _ *int) { f.Owner = "\x00" }, "owner"},
		{"page id", func(_ *leadscore.LeadFilter, p *leadscore.LeadPage, _ *int) { p.LeadID = "a b" }, "page.lead_id"},
		{"page probability", func(_ *leadscore.LeadFilter, p *leadscore.LeadPage, _ *int) { p.Scored, p.Probability = true, -0.1 }, "page.probability"},
		{"limit 0", func(_ *leadscore.LeadFilter, _ *leadscore.LeadPage, n *int) { *n = 0 }, "limit"},
		{"limit 1001", func(_ *leadscore.LeadFilter, _ *leadscore.LeadPage, n *int) { *n = 1001 }, "limit"},
	}
	for _, tt := range tests {
		f, p, n := ok, leadscore.LeadPage{}, 10
		f.Tiers = append([]leadscore.Tier(nil), ok.Tiers...)
		tt.edit(&f, &p, &n)
		if got := invalidField(CheckLeadList(f, p, n)); got != tt.field {
			t.Errorf("CheckLeadList() with a bad %s names %q, want %q", tt.name, got, tt.field)
		}
	}
}

func TestListPage(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC)
	leads := []leadscore.StoredLead{
		{Lead: leadscore.Lead{ID: "a"}, Score: &leadscore.LeadScoreRecord{Probability: 0.5, Factors: []leadscore.ScoreFactor{{Feature: "x"}}}},
		{Lead: leadscore.Lead{ID: "b"}, UpdatedAt: at},
		{Lead: leadscore.Lead{ID: "c"}},
	}
	got, next := ListPage(leads[:2:2], 2)
	if len(got) != 2 || next != (leadscore.LeadPage{}) {
		t.Errorf("ListPage() of a last page = %d leads, next %+v; want 2 and none", len(got), next)
	}
	if got[0].Score.Factors != nil {
		t.Errorf("ListPage() keeps factors %v", got[0].Score.Factors)
	}
	got, next = ListPage(leads, 2)
	if len(got) != 2 || next != (leadscore.LeadPage{LeadID: "b", UpdatedAt: at}) {
		t.Errorf("ListPage() of 3 leads, 2 a page = %d leads, next %+v; want 2 and after b", len(got), next)
	}
	if _, next = ListPage(leads, 1); next != (leadscore.LeadPage{LeadID: "a", Scored: true, Probability: 0.5}) {
		t.Errorf("ListPage() after a scored lead: next %+v", next)
	}
}

func TestCheckErasureAndHash(t *testing.T) {
	t.Parallel()
	ok := leadscore.Erasure{Actor: "dpo", Reason: strings.Repeat("x", leadscore.MaxErasureReason), At: t0}
	if err := CheckErasure("a", ok); err != nil {
		t.Fatalf("CheckErasure() of a good erasure: %v", err)
	}
	for _, tt := range []struct {
		id    string
		e     leadscore.Erasure
		field string
	}{
		{"a b", ok, "id"},
		{"a", leadscore.Erasure{Actor: "", At: t0}, "actor"},
		{"a", leadscore.Erasure{Actor: "dpo", Reason: ok.Reason + "x", At: t0}, "reason"},
		{"a", leadscore.Erasure{Actor: "dpo", Reason: "\xff", At: t0}, "reason"},
		{"a", leadscore.Erasure{Actor: "dpo"}, "at"},
	} {
		if got := invalidField(CheckErasure(tt.id, tt.e)); got != tt.field {
			t.Errorf("CheckErasure(%q, %+v) names %q, want %q", tt.id, tt.e.Actor, got, tt.field)
		}
	}
	// The SHA-256 of "a", as sha256sum prints it.
	if got, want := LeadIDHash("a"), "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"; got != want {
		t.Errorf("LeadIDHash(a) = %s, want %s", got, want)
	}
}
