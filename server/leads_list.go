package server

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"slices"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// Page sizes of ListLeads.
const (
	DefaultLeadPageSize = 100
	MaxLeadPageSize     = leadscore.MaxIngestBatch
)

func (s *leadService) ListLeads(ctx context.Context, req *leadscorev1.ListLeadsRequest) (*leadscorev1.ListLeadsResponse, error) {
	size := int(req.GetPageSize())
	switch {
	case size == 0:
		size = DefaultLeadPageSize
	case size < 0 || size > MaxLeadPageSize:
		return nil, leadscore.InvalidField("page_size", size, fmt.Sprintf("must be from 1 to %d, or 0 for %d", MaxLeadPageSize, DefaultLeadPageSize))
	}
	f, err := leadFilterFromProto(req)
	if err != nil {
		return nil, err
	}
	page, err := parseLeadPageToken(req.GetPageToken(), f)
	if err != nil {
		return nil, err
	}
	leads, next, err := s.store.ListLeads(ctx, f, page, size)
	if err != nil {
		return nil, err
	}
	out := &leadscorev1.ListLeadsResponse{Leads: make([]*leadscorev1.Lead, len(leads))}
	for i, l := range leads {
		out.Leads[i] = leadProto(l)
	}
	if next != (leadscore.LeadPage{}) {
		out.NextPageToken = leadPageToken(next, f)
	}
	return out, nil
}

// leadFilterFromProto reads ListLeads' filters and order; errors name the
// request's fields.
func leadFilterFromProto(req *leadscorev1.ListLeadsRequest) (leadscore.LeadFilter, error) {
	var f leadscore.LeadFilter
	switch req.GetOrder() {
	case leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_UNSPECIFIED, leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_SCORE_DESC:
		f.Order = leadscore.LeadsByScore
	case leadscorev1.ListLeadsOrder_LIST_LEADS_ORDER_UPDATE_TIME_DESC:
		f.Order = leadscore.LeadsByUpdate
	default:
		return f, leadscore.InvalidField("order", req.GetOrder().String(), "must be a ListLeadsOrder")
	}
	for i, pt := range req.GetTiers() {
		if pt < leadscorev1.Tier_TIER_VERY_GOOD || pt > leadscorev1.Tier_TIER_LOW {
			return f, leadscore.InvalidField(fmt.Sprintf("tiers[%d]", i), pt.String(), "must be a tier")
		}
		f.Tiers = append(f.Tiers, leadscore.Tier(pt-leadscorev1.Tier_TIER_VERY_GOOD)+leadscore.TierVeryGood)
	}
	for i, pc := range req.GetCells() {
		c, err := leadscore.ParseCell(fmt.Sprintf("cells[%d]", i), pc)
		if err != nil {
			return f, err
		}
		f.Cells = append(f.Cells, c)
	}
	f.Actions = slices.Clone(req.GetActions())
	if req.GetAccount() != "" {
		var err error
		if f.AccountID, err = leadscore.ParseAccountName("account", req.GetAccount()); err != nil {
			return f, err
		}
	}
	f.Owner = req.GetOwner()
	return f, nil
}

// leadPageToken encodes the position after a page of a listing with
// filters f.
func leadPageToken(page leadscore.LeadPage, f leadscore.LeadFilter) string {
	t := pageToken{Filter: leadsFilter(f), ID: page.LeadID, Scored: page.Scored, Probability: page.Probability}
	if f.Order == leadscore.LeadsByUpdate {
		t.Time = page.UpdatedAt
	}
	return t.encode()
}

// parseLeadPageToken decodes a page token of a listing with filters f:
// the zero LeadPage for none.
func parseLeadPageToken(s string, f leadscore.LeadFilter) (leadscore.LeadPage, error) {
	t, err := decodeKeysetToken(s, leadsFilter(f))
	if err != nil || s == "" {
		return leadscore.LeadPage{}, err
	}
	page := leadscore.LeadPage{LeadID: t.ID, Scored: t.Scored, Probability: t.Probability}
	if f.Order == leadscore.LeadsByUpdate {
		page.UpdatedAt = t.Time.UTC()
	}
	return page, nil
}

// leadsFilter fingerprints ListLeads, its filters and its order for page
// tokens.
func leadsFilter(f leadscore.LeadFilter) string {
	return listFilter("ListLeads", filterHash(f))
}

// filterHash is the first 8 bytes, in hex, of a SHA-256 of f's canonical
// form: lists sorted and each entry once, since the order of a filter's
// entries does not change what it passes.
func filterHash(f leadscore.LeadFilter) string {
	h := sha256.New()
	field := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	list := func(in []string) {
		in = slices.Compact(slices.Sorted(slices.Values(in)))
		field(fmt.Sprint(len(in)))
		for _, s := range in {
			field(s)
		}
	}
	field(fmt.Sprint(f.Order))
	tiers := make([]string, len(f.Tiers))
	for i, t := range f.Tiers {
		tiers[i] = t.String()
	}
	list(tiers)
	cells := make([]string, len(f.Cells))
	for i, c := range f.Cells {
		cells[i] = c.String()
	}
	list(cells)
	list(f.Actions)
	field(f.AccountID)
	field(f.Owner)
	return hex.EncodeToString(h.Sum(nil)[:8])
}

func (s *leadService) DeleteLead(ctx context.Context, req *leadscorev1.DeleteLeadRequest) (*leadscorev1.DeleteLeadResponse, error) {
	id, err := leadscore.ParseLeadName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	reason := req.GetReason()
	if len(reason) > leadscore.MaxErasureReason {
		return nil, leadscore.InvalidField("reason", reason[:32]+"...", fmt.Sprintf("must be at most %d bytes", leadscore.MaxErasureReason))
	}
	actor, err := actorOf(ctx)
	if err != nil {
		return nil, err
	}
	err = s.store.DeleteLead(ctx, id, leadscore.Erasure{Actor: actor, Reason: reason, At: s.now()})
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND && req.GetAllowMissing() {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	return &leadscorev1.DeleteLeadResponse{}, nil
}
