package server

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// Page sizes of ListAccounts.
const (
	DefaultAccountPageSize = 100
	MaxAccountPageSize     = leadscore.MaxIngestBatch
)

func (s *leadService) GetAccount(ctx context.Context, req *leadscorev1.GetAccountRequest) (*leadscorev1.GetAccountResponse, error) {
	id, err := leadscore.ParseAccountName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	a, err := s.store.GetAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.GetAccountResponse{Account: accountProto(a)}, nil
}

func (s *leadService) ListAccounts(ctx context.Context, req *leadscorev1.ListAccountsRequest) (*leadscorev1.ListAccountsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = DefaultAccountPageSize
	case size < 0 || size > MaxAccountPageSize:
		return nil, leadscore.InvalidField("page_size", size, fmt.Sprintf("must be from 1 to %d, or 0 for %d", MaxAccountPageSize, DefaultAccountPageSize))
	}
	grades := make([]leadscore.Grade, len(req.GetBestGrades()))
	for i, pg := range req.GetBestGrades() {
		if pg < leadscorev1.Grade_GRADE_A || pg > leadscorev1.Grade_GRADE_D {
			return nil, leadscore.InvalidField(fmt.Sprintf("best_grades[%d]", i), pg.String(), "must be a grade from A to D")
		}
		grades[i] = leadscore.Grade(pg-leadscorev1.Grade_GRADE_A) + leadscore.GradeA
	}
	page, err := parseAccountPageToken(req.GetPageToken(), grades)
	if err != nil {
		return nil, err
	}
	accounts, next, err := s.store.ListAccounts(ctx, grades, page, size)
	if err != nil {
		return nil, err
	}
	out := &leadscorev1.ListAccountsResponse{Accounts: make([]*leadscorev1.Account, len(accounts))}
	for i, a := range accounts {
		out.Accounts[i] = accountProto(a)
	}
	if next != (leadscore.AccountPage{}) {
		out.NextPageToken = accountPageToken(next, grades)
	}
	return out, nil
}

// accountProto is a stored account as the API shows it.
func accountProto(st leadscore.StoredAccount) *leadscorev1.Account {
	a := st.Account
	out := &leadscorev1.Account{
		Name:        leadscore.AccountName(a.ID),
		DisplayName: a.Name,
		Attributes:  make(map[string]*leadscorev1.AttributeValue, len(a.Attributes)),
		UpdateTime:  timestamp(a.UpdatedAt),
	}
	for k, v := range a.Attributes {
		if pv := attributeProto(v); pv != nil {
			out.Attributes[k] = pv
		}
	}
	if r := st.Rollup; r != nil {
		out.Score = &leadscorev1.AccountScore{
			Probability:      r.Probability,
			Score:            int32(r.Score),
			BestGrade:        gradeProto(r.BestGrade),
			LeadCount:        int32(r.LeadCount),
			EngagedLeadCount: int32(r.EngagedLeadCount),
			TopLeads:         make([]string, len(r.TopLeads)),
			ModelVersion:     r.Version.Name(),
			ScoreTime:        timestamp(r.ScoredAt),
		}
		for i, id := range r.TopLeads {
			out.Score.TopLeads[i] = leadscore.LeadName(id)
		}
	}
	return out
}

// accountPageToken encodes the position after a page of a listing with
// the grade filter grades.
func accountPageToken(page leadscore.AccountPage, grades []leadscore.Grade) string {
	return pageToken{Filter: accountsFilter(grades), ID: page.AccountID, Scored: page.Scored, Probability: page.Probability}.encode()
}

// parseAccountPageToken decodes a page token of a listing with the grade
// filter grades: the zero AccountPage for none.
func parseAccountPageToken(s string, grades []leadscore.Grade) (leadscore.AccountPage, error) {
	t, err := decodeKeysetToken(s, accountsFilter(grades))
	if err != nil {
		return leadscore.AccountPage{}, err
	}
	return leadscore.AccountPage{AccountID: t.ID, Scored: t.Scored, Probability: t.Probability}, nil
}

// accountsFilter fingerprints ListAccounts and its grade filter for page
// tokens.
func accountsFilter(grades []leadscore.Grade) string {
	return listFilter("ListAccounts", gradesHash(grades))
}

// gradesHash is the first 8 bytes, in hex, of a SHA-256 of the grade
// filter's canonical form: sorted, each grade once, since neither order
// nor repeats change what it passes. The prefix keeps it apart from a
// ListLeads filter hash.
func gradesHash(grades []leadscore.Grade) string {
	names := make([]string, len(grades))
	for i, g := range grades {
		names[i] = g.String()
	}
	names = slices.Compact(slices.Sorted(slices.Values(names)))
	h := sha256.Sum256([]byte("accounts:" + strings.Join(names, ",")))
	return hex.EncodeToString(h[:8])
}
