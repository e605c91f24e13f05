package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"time"

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

// listToken is the wire form of a ListLeads position: base64url of
// its JSON. F is a hash of the filters and order it was made under, so a
// token sent with other filters is refused rather than silently
// continuing another listing.
type listToken struct {
	F  string  `json:"f"`
	ID string  `json:"id"`
	S  bool    `json:"s,omitempty"`
	P  float64 `json:"p,omitempty"`
	U  int64   `json:"u,omitempty"` // updated time, microseconds since the epoch
}

func listTokenOf(page leadscore.LeadPage, f leadscore.LeadFilter) listToken {
	tok := listToken{F: filterHash(f), ID: page.LeadID, S: page.Scored, P: page.Probability}
	if f.Order == leadscore.LeadsByUpdate {
		tok.U = page.UpdatedAt.UnixMicro()
	}
	return tok
}

// leadPageToken encodes the position after a page.
func leadPageToken(page leadscore.LeadPage, f leadscore.LeadFilter) string {
	b, _ := json.Marshal(listTokenOf(page, f)) // Plain fields always encode.
	return base64.RawURLEncoding.EncodeToString(b)
}

// parseLeadPageToken decodes a page token of a listing with filters f:
// the zero LeadPage for none.
func parseLeadPageToken(s string, f leadscore.LeadFilter) (leadscore.LeadPage, error) {
	if s == "" {
		return leadscore.LeadPage{}, nil
	}
	bad := func(why string) error {
		shown := s
		if len(shown) > 32 {
			shown = shown[:32] + "..."
		}
		return leadscore.InvalidField("page_token", shown, why)
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return leadscore.LeadPage{}, bad("is not a page token of ListLeads")
	}
	var tok listToken
	if err := json.Unmarshal(b, &tok); err != nil || tok.ID == "" || leadscore.ValidateID("id", tok.ID) != nil ||
		!(tok.P >= 0 && tok.P <= 1) {
		return leadscore.LeadPage{}, bad("is not a page token of ListLeads")
	}
	if tok.F != filterHash(f) {
		return leadscore.LeadPage{}, bad("was made with other filters or order; send the filters of the call that returned it")
	}
	page := leadscore.LeadPage{LeadID: tok.ID, Scored: tok.S, Probability: tok.P}
	if f.Order == leadscore.LeadsByUpdate {
		page.UpdatedAt = time.UnixMicro(tok.U).UTC()
	}
	return page, nil
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
