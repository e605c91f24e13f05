package server

import (
	"cmp"
	"errors"
	"slices"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// accountEnv is listEnv (leads a to f in acme, globex and initech, all
// scored) with acme named and umbrella, an account without leads.
func accountEnv(t *testing.T) leadscorev1.LeadServiceClient {
	t.Helper()
	client := listEnv(t)
	if _, err := client.UpsertAccounts(testContext(t), &leadscorev1.UpsertAccountsRequest{Accounts: []*leadscorev1.Account{
		{Name: "accounts/acme", DisplayName: "Acme Corp", Attributes: map[string]*leadscorev1.AttributeValue{
			"employees": {Kind: &leadscorev1.AttributeValue_NumberValue{NumberValue: 250}}}},
		{Name: "accounts/umbrella", DisplayName: "Umbrella"},
	}}); err != nil {
		t.Fatalf("UpsertAccounts: %v", err)
	}
	return client
}

// wantRollup computes an account's score from its leads' current scores,
// as the API lists them, the way the roll-up is defined.
func wantRollup(leads []*leadscorev1.Lead) *leadscorev1.AccountScore {
	scored := slices.Clone(leads)
	slices.SortFunc(scored, func(a, b *leadscorev1.Lead) int {
		if c := cmp.Compare(b.GetCurrentScore().GetProbability(), a.GetCurrentScore().GetProbability()); c != 0 {
			return c
		}
		return cmp.Compare(a.GetName(), b.GetName())
	})
	out := &leadscorev1.AccountScore{LeadCount: int32(len(leads))}
	none := 1.0
	for i, l := range scored {
		s := l.GetCurrentScore()
		none *= 1 - s.GetProbability()
		if out.BestGrade == leadscorev1.Grade_GRADE_UNSPECIFIED || s.GetGrade() < out.BestGrade {
			out.BestGrade = s.GetGrade()
		}
		if lv := s.GetEngagementLevel(); lv == leadscorev1.EngagementLevel_ENGAGEMENT_LEVEL_1 || lv == leadscorev1.EngagementLevel_ENGAGEMENT_LEVEL_2 {
			out.EngagedLeadCount++
		}
		if i < 5 {
			out.TopLeads = append(out.TopLeads, l.GetName())
		}
		if out.ScoreTime == nil || s.GetScoreTime().AsTime().After(out.ScoreTime.AsTime()) {
			out.ScoreTime, out.ModelVersion = s.GetScoreTime(), s.GetModelVersion()
		}
	}
	out.Probability = 1 - none
	out.Score = int32(leadscore.ScoreOf(out.Probability))
	return out
}

func TestGetAccount(t *testing.T) {
	t.Parallel()
	client := accountEnv(t)
	ctx := testContext(t)
	all := listAll(t, client, &leadscorev1.ListLeadsRequest{}, 0)
	var acme []*leadscorev1.Lead
	for _, l := range all {
		if l.GetAccount() == "accounts/acme" {
			acme = append(acme, l)
		}
	}
	if len(acme) != 2 {
		t.Fatalf("acme has leads %v, want a and d", names(acme))
	}
	res, err := client.GetAccount(ctx, &leadscorev1.GetAccountRequest{Name: "accounts/acme"})
	if err != nil {
		t.Fatalf("GetAccount(acme): %v", err)
	}
	a := res.GetAccount()
	if a.GetName() != "accounts/acme" || a.GetDisplayName() != "Acme Corp" || a.GetAttributes()["employees"].GetNumberValue() != 250 || a.GetUpdateTime() == nil {
		t.Errorf("GetAccount(acme) = %v, want Acme Corp with 250 employees and an update time", a)
	}
	want := wantRollup(acme)
	got := a.GetScore()
	if got == nil || got.GetProbability() != want.GetProbability() || got.GetScore() != want.GetScore() || got.GetBestGrade() != want.GetBestGrade() ||
		got.GetLeadCount() != 2 || got.GetEngagedLeadCount() != want.GetEngagedLeadCount() || !slices.Equal(got.GetTopLeads(), want.GetTopLeads()) ||
		got.GetModelVersion() != want.GetModelVersion() || !got.GetScoreTime().AsTime().Equal(want.GetScoreTime().AsTime()) {
		t.Errorf("GetAccount(acme).score = %v, want %v", got, want)
	}
	if got.GetProbability() <= 0 || got.GetModelVersion() == "" || got.GetBestGrade() == leadscorev1.Grade_GRADE_UNSPECIFIED {
		t.Errorf("GetAccount(acme).score = %v, want a probability, a model version and a grade", got)
	}

	res, err = client.GetAccount(ctx, &leadscorev1.GetAccountRequest{Name: "accounts/umbrella"})
	if err != nil || res.GetAccount().GetScore() != nil || res.GetAccount().GetDisplayName() != "Umbrella" {
		t.Errorf("GetAccount(umbrella) = %v, %v; want Umbrella without a score (no scored lead)", res, err)
	}
	if _, err := client.GetAccount(ctx, &leadscorev1.GetAccountRequest{Name: "accounts/nope"}); status.Code(err) != codes.NotFound {
		t.Errorf("GetAccount(nope): %v, want NOT_FOUND", err)
	}
	for _, name := range []string{"", "acme", "leads/acme", "accounts/"} {
		_, err := client.GetAccount(ctx, &leadscorev1.GetAccountRequest{Name: name})
		wantField(t, "GetAccount("+name+")", err, "name")
	}
}

// listAccountsAll walks every page of ListAccounts of size a page.
func listAccountsAll(t *testing.T, client leadscorev1.LeadServiceClient, req *leadscorev1.ListAccountsRequest, size int32) []*leadscorev1.Account {
	t.Helper()
	var out []*leadscorev1.Account
	req.PageSize, req.PageToken = size, ""
	for range 100 {
		res, err := client.ListAccounts(testContext(t), req)
		if err != nil {
			t.Fatalf("ListAccounts(%v): %v", req, err)
		}
		if size > 0 && len(res.GetAccounts()) > int(size) {
			t.Fatalf("ListAccounts(%v) returned %d accounts, more than the page size", req, len(res.GetAccounts()))
		}
		out = append(out, res.GetAccounts()...)
		if res.GetNextPageToken() == "" {
			return out
		}
		req.PageToken = res.GetNextPageToken()
	}
	t.Fatalf("ListAccounts(%v) has more than 100 pages", req)
	return nil
}

func accountNames(accounts []*leadscorev1.Account) []string {
	out := make([]string, len(accounts))
	for i, a := range accounts {
		out[i] = a.GetName()
	}
	return out
}

func TestListAccountsOrdersPagesAndFilters(t *testing.T) {
	t.Parallel()
	client := accountEnv(t)
	all := listAccountsAll(t, client, &leadscorev1.ListAccountsRequest{}, 0)
	if len(all) != 4 || all[3].GetName() != "accounts/umbrella" || all[3].GetScore() != nil {
		t.Fatalf("ListAccounts = %v, want 4 accounts with umbrella, unscored, last", accountNames(all))
	}
	for i, a := range all[:3] {
		if a.GetScore() == nil || a.GetScore().GetLeadCount() != 2 {
			t.Fatalf("%s: score %v, want a roll-up of 2 leads", a.GetName(), a.GetScore())
		}
		if i > 0 {
			prev := all[i-1].GetScore().GetProbability()
			if p := a.GetScore().GetProbability(); p > prev || (p == prev && a.GetName() < all[i-1].GetName()) {
				t.Errorf("%s (%v) listed after %s (%v): want probability descending, ties by id", a.GetName(), p, all[i-1].GetName(), prev)
			}
		}
	}
	if all[0].GetName() == "accounts/acme" && all[0].GetDisplayName() != "Acme Corp" {
		t.Errorf("acme listed without its display name: %v", all[0])
	}
	for _, size := range []int32{1, 2, 3} {
		if got := listAccountsAll(t, client, &leadscorev1.ListAccountsRequest{}, size); !slices.Equal(accountNames(got), accountNames(all)) {
			t.Errorf("pages of %d list %v, want %v", size, accountNames(got), accountNames(all))
		}
	}

	grade := all[0].GetScore().GetBestGrade()
	var want []string
	for _, a := range all {
		if a.GetScore() != nil && a.GetScore().GetBestGrade() == grade {
			want = append(want, a.GetName())
		}
	}
	for _, size := range []int32{1, 0} {
		got := listAccountsAll(t, client, &leadscorev1.ListAccountsRequest{BestGrades: []leadscorev1.Grade{grade}}, size)
		if !slices.Equal(accountNames(got), want) {
			t.Errorf("best_grades [%v] in pages of %d: %v, want %v", grade, size, accountNames(got), want)
		}
	}
}

func TestListAccountsRefusals(t *testing.T) {
	t.Parallel()
	client := accountEnv(t)
	ctx := testContext(t)
	first, err := client.ListAccounts(ctx, &leadscorev1.ListAccountsRequest{PageSize: 1})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("ListAccounts(page_size 1) = %v, %v; want a page and a next token", first, err)
	}
	tests := []struct {
		name  string
		req   *leadscorev1.ListAccountsRequest
		field string
	}{
		{"negative page size", &leadscorev1.ListAccountsRequest{PageSize: -1}, "page_size"},
		{"page size past 1000", &leadscorev1.ListAccountsRequest{PageSize: MaxAccountPageSize + 1}, "page_size"},
		{"unspecified grade", &leadscorev1.ListAccountsRequest{BestGrades: []leadscorev1.Grade{leadscorev1.Grade_GRADE_A, leadscorev1.Grade_GRADE_UNSPECIFIED}}, "best_grades[1]"},
		{"unknown grade", &leadscorev1.ListAccountsRequest{BestGrades: []leadscorev1.Grade{99}}, "best_grades[0]"},
		{"garbage token", &leadscorev1.ListAccountsRequest{PageToken: "%%%"}, "page_token"},
		{"token of ListLeads", &leadscorev1.ListAccountsRequest{PageToken: leadPageToken(leadscore.LeadPage{LeadID: "a"}, leadscore.LeadFilter{})}, "page_token"},
		{"token with other filters", &leadscorev1.ListAccountsRequest{PageToken: first.GetNextPageToken(), BestGrades: []leadscorev1.Grade{leadscorev1.Grade_GRADE_B}}, "page_token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := client.ListAccounts(ctx, tt.req)
			wantField(t, tt.name, err, tt.field)
		})
	}
	if _, err := client.ListAccounts(ctx, &leadscorev1.ListAccountsRequest{PageSize: 1, PageToken: first.GetNextPageToken()}); err != nil {
		t.Errorf("ListAccounts with its own token: %v", err)
	}
}

// TestAccountPageToken: a token reads back as its position under the same
// grades in any order, and is refused under other grades.
func TestAccountPageToken(t *testing.T) {
	t.Parallel()
	page := leadscore.AccountPage{AccountID: "acme", Scored: true, Probability: 0.25}
	tok := accountPageToken(page, []leadscore.Grade{leadscore.GradeA, leadscore.GradeC})
	got, err := parseAccountPageToken(tok, []leadscore.Grade{leadscore.GradeC, leadscore.GradeA, leadscore.GradeA})
	if err != nil || got != page {
		t.Errorf("token reads back as %+v, %v; want %+v", got, err, page)
	}
	if _, err := parseAccountPageToken(tok, []leadscore.Grade{leadscore.GradeA}); leadscore.ErrorCode(err) != leadscore.EINVALID {
		t.Errorf("token under other grades: %v, want EINVALID", err)
	}
}

// FuzzListAccountsPageToken decodes arbitrary page tokens: nothing
// panics, every refusal is an invalid argument naming page_token, and a
// token taken reads back as the position it encodes.
func FuzzListAccountsPageToken(f *testing.F) {
	f.Add(accountPageToken(leadscore.AccountPage{AccountID: "acme", Scored: true, Probability: 0.25}, nil), uint8(0))
	f.Add(accountPageToken(leadscore.AccountPage{AccountID: "umbrella"}, []leadscore.Grade{leadscore.GradeB}), uint8(2))
	f.Add("", uint8(1))
	f.Add("e30", uint8(0))
	f.Fuzz(func(t *testing.T, token string, grade uint8) {
		var grades []leadscore.Grade
		if grade != 0 {
			grades = []leadscore.Grade{leadscore.Grade(grade)}
		}
		page, err := parseAccountPageToken(token, grades)
		if err != nil {
			var e *leadscore.Error
			if !errors.As(err, &e) || e.Code != leadscore.EINVALID || len(e.Fields) != 1 || e.Fields[0].Field != "page_token" {
				t.Fatalf("parseAccountPageToken(%q) = %v, want EINVALID naming page_token", token, err)
			}
			return
		}
		if page == (leadscore.AccountPage{}) {
			return // The first page, of an empty token, has none.
		}
		again, err := parseAccountPageToken(accountPageToken(page, grades), grades)
		if err != nil || again != page {
			t.Fatalf("token of %+v reads back as %+v, %v", page, again, err)
		}
	})
}
