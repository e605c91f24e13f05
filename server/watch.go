package server

import (
	"context"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// changesPage is how many change log entries a watch reads at once. A
// full page is followed at once by the next; a short one means the watch
// has caught up, and it reads again after watchPoll.
const changesPage = 500

// maxChangeFilterValues bounds a watch's tier and cell lists: more than
// every tier and cell.
const maxChangeFilterValues = 100

// A change's cursor is the base64url encoding (unpadded) of "seq:" and its
// seq in decimal: opaque to clients, so the encoding may change, and
// cheap to check. Only the canonical spelling of a seq from 1 up is a
// cursor.
const cursorPrefix = "seq:"

// changeCursor is the cursor of the change log entry seq.
func changeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

// parseChangeCursor reads a cursor changeCursor made; anything else is
// EINVALID naming field.
func parseChangeCursor(field, cursor string) (int64, error) {
	bad := leadscore.InvalidField(field, cursor, "must be the cursor of a change this service sent")
	raw, err := base64.RawURLEncoding.Strict().DecodeString(cursor)
	if err != nil {
		return 0, bad
	}
	digits, ok := strings.CutPrefix(string(raw), cursorPrefix)
	if !ok {
		return 0, bad
	}
	seq, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || seq < 1 || strconv.FormatInt(seq, 10) != digits {
		return 0, bad
	}
	return seq, nil
}

// changeFilter is what a watch sends: a change passes when it passes every
// non-empty part, and a tier or cell set passes a change into or out of
// one of its members.
type changeFilter struct {
	tiers   map[leadscore.Tier]bool
	cells   map[leadscore.Cell]bool
	account string
	owner   string
}

// changeFilterFromProto checks a watch's filters, naming the field of the
// first bad one ("cells[2]").
func changeFilterFromProto(req *leadscorev1.WatchScoreChangesRequest) (changeFilter, error) {
	var f changeFilter
	if n := len(req.GetTiers()); n > maxChangeFilterValues {
		return f, leadscore.InvalidField("tiers", n, fmt.Sprintf("has more than %d entries", maxChangeFilterValues))
	}
	if n := len(req.GetCells()); n > maxChangeFilterValues {
		return f, leadscore.InvalidField("cells", n, fmt.Sprintf("has more than %d entries", maxChangeFilterValues))
	}
	for i, pt := range req.GetTiers() {
		if pt < leadscorev1.Tier_TIER_VERY_GOOD || pt > leadscorev1.Tier_TIER_LOW {
			return f, leadscore.InvalidField(fmt.Sprintf("tiers[%d]", i), pt.String(), "must be a tier")
		}
		if f.tiers == nil {
			f.tiers = map[leadscore.Tier]bool{}
		}
		f.tiers[leadscore.TierVeryGood+leadscore.Tier(pt-leadscorev1.Tier_TIER_VERY_GOOD)] = true
	}
	for i, s := range req.GetCells() {
		c, err := leadscore.ParseCell(fmt.Sprintf("cells[%d]", i), s)
		if err != nil {
			return f, err
		}
		if f.cells == nil {
			f.cells = map[leadscore.Cell]bool{}
		}
		f.cells[c] = true
	}
	if req.GetAccount() != "" {
		id, err := leadscore.ParseAccountName("account", req.GetAccount())
		if err != nil {
			return f, err
		}
		f.account = id
	}
	f.owner = req.GetOwner()
	return f, nil
}

// match reports whether the filter passes ch.
func (f changeFilter) match(ch *leadscore.ScoreChange) bool {
	if f.tiers != nil && !f.tiers[ch.PreviousTier] && !f.tiers[ch.Score.Tier] {
		return false
	}
	// A first score's previous cell is the zero Cell, never in the set.
	if f.cells != nil && !f.cells[ch.PreviousCell] && !f.cells[ch.Score.Cell] {
		return false
	}
	return (f.account == "" || ch.AccountID == f.account) && (f.owner == "" || ch.Owner == f.owner)
}

// WatchScoreChanges follows the change log from the request's cursor, or
// from its newest entry when there is none, sending the changes that pass
// the filters in log order, which is commit order. It reads a page of
// entries at a time: the next page at once after a full one, after
// watchPoll otherwise. Entries that do not pass are passed over without a
// message (a client that resumes reads them again, and again passes over
// them). The response headers are sent once the starting point is fixed,
// so a client that has them knows every later change will come.
//
// A cursor whose successors were pruned (see changesRetained) fails with
// OUT_OF_RANGE: the client missed changes and must read current scores
// afresh. The stream ends when the client cancels it, with the store's
// error when a read fails, and with UNAVAILABLE when the server starts to
// shut down (drainStream), so the client resumes elsewhere with the last
// cursor it processed.
func (s *leadService) WatchScoreChanges(req *leadscorev1.WatchScoreChangesRequest, stream leadscorev1.LeadService_WatchScoreChangesServer) error {
	ctx := stream.Context()
	f, err := changeFilterFromProto(req)
	if err != nil {
		return err
	}
	var after int64
	resumed := req.GetCursor() != ""
	if resumed {
		if after, err = parseChangeCursor("cursor", req.GetCursor()); err != nil {
			return err
		}
	} else if _, after, err = s.store.ScoreChangeBounds(ctx); err != nil {
		return err
	}
	if err := stream.SendHeader(metadata.MD{}); err != nil {
		return err
	}
	// A resumed cursor is checked against the retained log at the first
	// read; after that, whenever a page does not follow on from the last
	// entry read: the entries between were pruned, or never committed,
	// or belonged to an erased lead.
	check := resumed
	tick := time.NewTicker(watchPoll)
	defer tick.Stop()
	for {
		page, err := s.store.ScoreChanges(ctx, after, changesPage)
		if err != nil {
			return err
		}
		if check || (len(page) > 0 && page[0].Seq != after+1) {
			if err := s.changesRetained(ctx, after); err != nil {
				return err
			}
			check = false
		}
		for i := range page {
			ch := &page[i]
			if f.match(ch) {
				if err := stream.Send(&leadscorev1.WatchScoreChangesResponse{Change: changeProto(ch)}); err != nil {
					return err
				}
			}
			after = ch.Seq
		}
		if len(page) == changesPage {
			if err := ctx.Err(); err != nil {
				return err
			}
			continue
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-s.draining.Done():
			return status.Error(codes.Unavailable, "server is shutting down; reconnect to resume")
		case <-tick.C:
		}
	}
}

// changesRetained fails with OUT_OF_RANGE when a change after the cursor
// after may have been pruned, read after the page that followed it (a
// prune before that read shows in the bounds): when pruning has deleted a
// seq above the cursor. Seqs missing for other reasons (a rolled-back
// save, an erased lead) are no loss and pass.
func (s *leadService) changesRetained(ctx context.Context, after int64) error {
	prunedThrough, newest, err := s.store.ScoreChangeBounds(ctx)
	if err != nil {
		return err
	}
	switch {
	case after > newest:
		return outOfRange(fmt.Sprintf("is after the newest change (%d): it was not sent by a server of this store", newest))
	case after < prunedThrough:
		return outOfRange("is older than the retained changes: the changes after it were pruned; read current scores and watch from now")
	}
	return nil
}

// outOfRange is the OUT_OF_RANGE status of a cursor the log no longer
// follows, with the field violation that names it.
func outOfRange(why string) error {
	st := status.New(codes.OutOfRange, "cursor "+why)
	br := &errdetails.BadRequest{FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "cursor", Description: why}}}
	if d, err := st.WithDetails(br); err == nil {
		st = d
	}
	return st.Err()
}

// changeProto is a change log entry as the API shows it.
func changeProto(ch *leadscore.ScoreChange) *leadscorev1.ScoreChange {
	out := &leadscorev1.ScoreChange{
		Cursor:       changeCursor(ch.Seq),
		Lead:         leadscore.LeadName(ch.LeadID),
		Owner:        ch.Owner,
		PreviousTier: tierProto(ch.PreviousTier),
		Score:        scoreProto(&ch.Score),
		ChangeTime:   timestamppb.New(ch.ChangedAt),
	}
	if ch.AccountID != "" {
		out.Account = leadscore.AccountName(ch.AccountID)
	}
	if ch.PreviousCell.Valid() {
		out.PreviousCell = ch.PreviousCell.String()
	}
	return out
}
