package server

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// listEnv stores leads a to f, scored by the champion (d and e after
// demo requests, so scores differ), with owners and accounts to filter by.
func listEnv(t *testing.T) leadscorev1.LeadServiceClient {
	t.Helper()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	_, clock, client := leadEnv(t, now, nil)
	ctx := testContext(t)
	var leads []*leadscorev1.Lead
	for i, id := range []string{"a", "b", "c", "d", "e", "f"} {
		l := &leadscorev1.Lead{Name: "leads/" + id, CreateTime: timestamppb.New(now.AddDate(0, -1, 0)),
			Owner: []string{"sam", "kim"}[i%2], Account: []string{"accounts/acme", "accounts/globex", "accounts/initech"}[i%3]}
		leads = append(leads, l)
	}
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: leads}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	clock.Set(now.Add(time.Hour))
	if _, err := client.RecordEvents(ctx, &leadscorev1.RecordEventsRequest{Events: []*leadscorev1.Event{
		{EventId: "e1", Lead: "leads/d", Type: "demo_request", OccurTime: timestamppb.New(now)},
		{EventId: "e2", Lead: "leads/e", Type: "demo_request", OccurTime: timestamppb.New(now)},
		{EventId: "e3", Lead: "leads/e", Type: "pricing_view", OccurTime: timestamppb.New(now.Add(time.Minute))},
	}}); err != nil {
		t.Fatalf("RecordEvents: %v", err)
	}
	return client
}

// listAll walks every page of a listing of size a page.
func listAll(t *testing.T, client leadscorev1.LeadServiceClient, req *leadscorev1.ListLeadsRequest, size int32) []*leadscorev1.Lead {
	t.Helper()
	var out []*leadscorev1.Lead
	req.PageSize, req.PageToken = size, ""
	for range 100 {
		res, err := client.ListLeads(testContext(t), req)
		if err != nil {
			t.Fatalf("ListLeads(%v): %v", req, err)
		}
		out = append(out, res.GetLeads()...)
		if res.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = res.GetNextPageToken()
	}
	t.Fatalf("ListLeads(%v) has more than 100 pages", req)
	return nil
}

func names(leads []*leadscorev1.Lead) []string {
	out := make([]string, len(leads))
	for i, l := range leads {
		out[i] = l.GetName()
	}
	return out
}

func TestListLeadsOrdersAndPages(t *testing.T) {
	t.Parallel()
	client := listEnv(t)
	all := listAll(t, client, &leadscorev1.ListLeadsRequest{}, 0)
	if len(all) != 6 {
		t.Fatalf("ListLeads lists %v, want 6 leads", names(all))
	}
	for i, l := range all {
		cur := l.GetCurrentScore()
		if cur == nil || len(cur.GetFactors()) != 0 {
			t.Fatalf("%s: current score %v, want one without factors", l.GetName(), cur)
		}
		if i > 0 {
			prev := all[i-1].GetCurrentScore().GetProbability()
			if p := cur.GetProbability(); p > prev || (p == prev && l.GetName() < all[i-1].GetName()) {
				t.Errorf("%s (%v) listed after %s (%v): want probability descending, ties by id", l.GetName(), p, all[i-1].GetName(), prev)
			}
		}
	}
	if top := all[0].GetName(); top != "leads/d" && top != "leads/e" {
		t.Errorf("first lead %s, want one of the leads with a demo request", top)
	}
	for _, size := range []int32{1, 2, 4} {
		if got := listAll(t, client, &leadscorev1.ListLeadsRequest{}, size); !slices.Equal(names(got), names(all)) {
			t.Errorf("pages of %d list %v, want %v", size, names(got), names(all))
		}
	}
	// By update time: every lead was written in one call, and events leave
	// a lead's updated time alone, so ties by id.
	byUpdate := listAll(t, client, &leadscorev1.ListLeadsRequest{Order: leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_UPDATE_TIME_DESC}, 4)
	if want := []string{"leads/a", "leads/b", "leads/c", "leads/d", "leads/e", "leads/f"}; !slices.Equal(names(byUpdate), want) {
		t.Errorf("by update time: %v, want %v", names(byUpdate), want)
	}
}

func TestListLeadsFilters(t *testing.T) {
	t.Parallel()
	client := listEnv(t)
	all := listAll(t, client, &leadscorev1.ListLeadsRequest{}, 0)
	tier, cell, action := all[0].GetCurrentScore().GetTier(), all[0].GetCurrentScore().GetCell(), all[0].GetCurrentScore().GetNextAction()
	// want keeps the leads of all (in its order) that pass keep.
	want := func(keep func(*leadscorev1.Lead) bool) []string {
		var out []string
		for _, l := range all {
			if keep(l) {
				out = append(out, l.GetName())
			}
		}
		return out
	}
	tests := []struct {
		name string
		req  *leadscorev1.ListLeadsRequest
		want []string
	}{
		{"owner", &leadscorev1.ListLeadsRequest{Owner: "kim"}, want(func(l *leadscorev1.Lead) bool { return l.GetOwner() == "kim" })},
		{"account", &leadscorev1.ListLeadsRequest{Account: "accounts/globex"}, want(func(l *leadscorev1.Lead) bool { return l.GetAccount() == "accounts/globex" })},
		{"tier", &leadscorev1.ListLeadsRequest{Tiers: []leadscorev1.Tier{tier}}, want(func(l *leadscorev1.Lead) bool { return l.GetCurrentScore().GetTier() == tier })},
		{"cell", &leadscorev1.ListLeadsRequest{Cells: []string{cell, "D4"}}, want(func(l *leadscorev1.Lead) bool {
			return l.GetCurrentScore().GetCell() == cell || l.GetCurrentScore().GetCell() == "D4"
		})},
		{"action", &leadscorev1.ListLeadsRequest{Actions: []string{action}}, want(func(l *leadscorev1.Lead) bool { return l.GetCurrentScore().GetNextAction() == action })},
		{"owner and account", &leadscorev1.ListLeadsRequest{Owner: "kim", Account: "accounts/acme"}, []string{"leads/d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if len(tt.want) == 0 {
				t.Fatalf("the fixture has no lead to list; the filter checks nothing")
			}
			got := names(listAll(t, client, tt.req, 1))
			if !slices.Equal(got, tt.want) {
				t.Errorf("ListLeads(%v) = %v, want %v", tt.req, got, tt.want)
			}
		})
	}
}

func TestListLeadsRefusesBadRequests(t *testing.T) {
	t.Parallel()
	client := listEnv(t)
	ctx := testContext(t)
	first, err := client.ListLeads(ctx, &leadscorev1.ListLeadsRequest{PageSize: 2, Owner: "sam"})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("ListLeads: %v, %v; want a first page with a next one", first, err)
	}
	tests := []struct {
		name  string
		req   *leadscorev1.ListLeadsRequest
		field string
	}{
		{"negative page size", &leadscorev1.ListLeadsRequest{PageSize: -1}, "page_size"},
		{"page size above 1000", &leadscorev1.ListLeadsRequest{PageSize: 1001}, "page_size"},
		{"garbage page token", &leadscorev1.ListLeadsRequest{PageToken: "not a token!"}, "page_token"},
		{"page token of other filters", &leadscorev1.ListLeadsRequest{PageToken: first.GetNextPageToken(), Owner: "kim"}, "page_token"},
		{"page token of another order", &leadscorev1.ListLeadsRequest{PageToken: first.GetNextPageToken(), Owner: "sam",
			Order: leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_UPDATE_TIME_DESC}, "page_token"},
		{"unknown cell", &leadscorev1.ListLeadsRequest{Cells: []string{"A1", "Z9"}}, "cells[1]"},
		{"unspecified tier", &leadscorev1.ListLeadsRequest{Tiers: []leadscorev1.Tier{leadscorev1.Tier_TIER_UNSPECIFIED}}, "tiers[0]"},
		{"malformed account", &leadscorev1.ListLeadsRequest{Account: "acme"}, "account"},
		{"unknown order", &leadscorev1.ListLeadsRequest{Order: 9}, "order"},
	}
	for _, tt := range tests {
		_, err := client.ListLeads(ctx, tt.req)
		wantField(t, tt.name, err, tt.field)
	}
	// The token continues the listing it was made for.
	next, err := client.ListLeads(ctx, &leadscorev1.ListLeadsRequest{PageSize: 2, Owner: "sam", PageToken: first.GetNextPageToken()})
	if err != nil || len(next.GetLeads()) != 1 || next.GetNextPageToken() != "" {
		t.Errorf("second page: %v, %v; want the last of sam's 3 leads and no next page", next, err)
	}
}

func TestDeleteLeadErasesAndRecords(t *testing.T) {
	t.Parallel()
	now := time.Date(2024, time.September, 1, 0, 0, 0, 0, time.UTC)
	env, _, client := leadEnv(t, now, nil)
	ctx := testContext(t)
	if _, err := client.UpsertLeads(ctx, &leadscorev1.UpsertLeadsRequest{Leads: []*leadscorev1.Lead{
		{Name: "leads/a", CreateTime: timestamppb.New(now.AddDate(0, -1, 0))},
		{Name: "leads/b", CreateTime: timestamppb.New(now.AddDate(0, -1, 0))},
	}}); err != nil {
		t.Fatalf("UpsertLeads: %v", err)
	}
	if _, err := client.DeleteLead(asActor(ctx, "dpo@example.com"), &leadscorev1.DeleteLeadRequest{Name: "leads/a", Reason: "erasure request 42"}); err != nil {
		t.Fatalf("DeleteLead: %v", err)
	}
	if _, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/a"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetLead of the erased lead: %v, want NOT_FOUND", err)
	}
	if got := names(listAll(t, client, &leadscorev1.ListLeadsRequest{}, 0)); !slices.Equal(got, []string{"leads/b"}) {
		t.Errorf("ListLeads after the erasure = %v, want leads/b", got)
	}
	recs, err := env.store.(leadscore.LeadStore).LeadErasures(ctx, "a")
	if err != nil || len(recs) != 1 || recs[0].Actor != "dpo@example.com" || recs[0].Reason != "erasure request 42" || !recs[0].At.Equal(now) {
		t.Errorf("erasure records of a: %+v, %v; want one by dpo@example.com for request 42 at %v", recs, err, now)
	}

	if _, err := client.DeleteLead(ctx, &leadscorev1.DeleteLeadRequest{Name: "leads/a"}); status.Code(err) != codes.NotFound {
		t.Errorf("DeleteLead of an erased lead: %v, want NOT_FOUND", err)
	}
	if _, err := client.DeleteLead(ctx, &leadscorev1.DeleteLeadRequest{Name: "leads/a", AllowMissing: true}); err != nil {
		t.Errorf("DeleteLead of an erased lead with allow_missing: %v, want OK", err)
	}
	if recs, err := env.store.(leadscore.LeadStore).LeadErasures(ctx, "a"); err != nil || len(recs) != 1 {
		t.Errorf("erasure records of a after deletes of nothing: %d, %v; want still 1", len(recs), err)
	}

	_, err = client.DeleteLead(ctx, &leadscorev1.DeleteLeadRequest{Name: "leads/b", Reason: strings.Repeat("x", leadscore.MaxErasureReason+1)})
	wantField(t, "DeleteLead with a reason over 1024 bytes", err, "reason")
	_, err = client.DeleteLead(ctx, &leadscorev1.DeleteLeadRequest{Name: "b"})
	wantField(t, "DeleteLead of a malformed name", err, "name")
	if _, err := client.GetLead(ctx, &leadscorev1.GetLeadRequest{Name: "leads/b"}); err != nil {
		t.Errorf("GetLead of b after refused deletes: %v", err)
	}
}

// TestFilterHashIgnoresEntryOrder: a token stays valid when a client sends
// the same filters in another order, and not when the filters differ.
func TestFilterHashIgnoresEntryOrder(t *testing.T) {
	t.Parallel()
	a := leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierGood, leadscore.TierLow}, Actions: []string{"x", "y"}, Owner: "sam"}
	b := leadscore.LeadFilter{Tiers: []leadscore.Tier{leadscore.TierLow, leadscore.TierGood}, Actions: []string{"y", "x", "y"}, Owner: "sam"}
	if filterHash(a) != filterHash(b) {
		t.Errorf("filterHash differs for the same filters in another order")
	}
	for _, other := range []leadscore.LeadFilter{
		{Tiers: a.Tiers, Actions: a.Actions, Owner: "sa"},
		{Tiers: a.Tiers, Actions: []string{"xy"}, Owner: "sam"},
		{Tiers: a.Tiers, Actions: a.Actions, Owner: "sam", Order: leadscore.LeadsByUpdate},
		{Tiers: a.Tiers, Actions: a.Actions, AccountID: "sam"},
	} {
		if filterHash(other) == filterHash(a) {
			t.Errorf("filterHash(%+v) equals filterHash(%+v)", other, a)
		}
	}
}

// FuzzListLeadsPageToken decodes arbitrary page tokens: nothing panics,
// every refusal is an invalid argument naming page_token, and a token
// taken reads back as the position it encodes.
func FuzzListLeadsPageToken(f *testing.F) {
	sam := leadscore.LeadFilter{Owner: "sam"}
	f.Add(leadPageToken(leadscore.LeadPage{LeadID: "a", Scored: true, Probability: 0.25}, sam), "sam")
	f.Add(leadPageToken(leadscore.LeadPage{LeadID: "b"}, sam), "kim")
	f.Add("", "")
	f.Add("e30", "sam")
	f.Fuzz(func(t *testing.T, token, owner string) {
		filter := leadscore.LeadFilter{Owner: owner}
		page, err := parseLeadPageToken(token, filter)
		if err != nil {
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "page_token" {
				t.Fatalf("parseLeadPageToken(%q) = %v, want EINVALID naming page_token", token, err)
			}
			return
		}
		if page == (leadscore.LeadPage{}) {
			return // The first page, of an empty token, has none.
		}
		again, err := parseLeadPageToken(leadPageToken(page, filter), filter)
		if err != nil || again != page {
			t.Fatalf("token of %+v reads back as %+v, %v", page, again, err)
		}
	})
}
