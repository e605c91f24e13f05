package server

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/auth"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/fieldmaskpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// This file holds what every handler needs to read a request the same way:
// the caller's identity, paging, etags and update masks.

// ActorHeader is the metadata key a caller names itself with.
const ActorHeader = "x-leadscore-actor"

// AnonymousActor is the actor recorded when a call names none.
const AnonymousActor = "anonymous"

// maxActor is the longest actor name, as the registry allows.
const maxActor = 256

// actorOf returns who makes a call, for the registry's audit trail: the
// caller's authenticated identity when authentication is on (the
// "x-leadscore-actor" header is then ignored). With authentication off
// (local development), it is whatever the caller puts in that header, or
// "anonymous" when it sends none: intent, not proof.
func actorOf(ctx context.Context) (string, error) {
	if id, ok := auth.IdentityFrom(ctx); ok {
		return id.Name, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	values := md.Get(ActorHeader)
	switch len(values) {
	case 0:
		return AnonymousActor, nil
	case 1:
	default:
		return "", leadscore.InvalidField("metadata."+ActorHeader, strings.Join(values, ","), "must be sent once")
	}
	actor := values[0]
	switch {
	case strings.TrimSpace(actor) == "":
		return "", leadscore.InvalidField("metadata."+ActorHeader, actor, "must not be blank; leave it out to call as anonymous")
	case len(actor) > maxActor:
		return "", leadscore.InvalidField("metadata."+ActorHeader, actor[:32]+"...", fmt.Sprintf("must be at most %d bytes", maxActor))
	case !utf8.ValidString(actor):
		return "", leadscore.InvalidField("metadata."+ActorHeader, actor, "must be valid UTF-8")
	}
	for _, r := range actor {
		if !unicode.IsPrint(r) {
			return "", leadscore.InvalidField("metadata."+ActorHeader, actor, fmt.Sprintf("contains the non-printable character %q", r))
		}
	}
	return actor, nil
}

// The page sizes of every list rpc.
const (
	defaultPageSize = 100
	maxPageSize     = 1000
)

// pageSize checks a request's page_size: 0 means the default.
func pageSize(n int32) (int, error) {
	switch {
	case n == 0:
		return defaultPageSize, nil
	case n < 0 || n > maxPageSize:
		return 0, leadscore.InvalidField("page_size", n, fmt.Sprintf("must be from 1 to %d, or 0 for %d", maxPageSize, defaultPageSize))
	}
	return int(n), nil
}

// pageToken is the position a list rpc resumes from. It travels to the
// client as opaque base64 of this JSON. Filter is a fingerprint of the rpc
// and of the request's filters, so that a token cannot be replayed against
// another list (where its keyset would mean something else).
type pageToken struct {
	Filter string    `json:"f"`
	After  string    `json:"a,omitempty"`
	Before int64     `json:"b,omitempty"`
	Time   time.Time `json:"t,omitzero"`
	ID     string    `json:"i,omitempty"`
	// Scored and Probability place a position in a listing ordered by
	// score (ListLeads, ListAccounts): scored entries first, by
	// probability, then by ID.
	Scored      bool    `json:"s,omitempty"`
	Probability float64 `json:"p,omitempty"`
}

// listFilter fingerprints an rpc and its filter values for page tokens.
func listFilter(method string, values ...string) string {
	h := sha256.New()
	h.Write([]byte(method))
	for _, v := range values {
		h.Write([]byte{0})
		h.Write([]byte(v))
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// encode returns the token's wire form.
func (t pageToken) encode() string {
	data, _ := json.Marshal(t) // a struct of strings, ints and a time cannot fail
	return base64.RawURLEncoding.EncodeToString(data)
}

// decodePageToken reads a page token a list rpc issued for filter. The
// empty token is the first page.
func decodePageToken(token, filter string) (pageToken, error) {
	if token == "" {
		return pageToken{Filter: filter}, nil
	}
	bad := func(reason string) error {
		shown := token
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return leadscore.InvalidField("page_token", shown, reason)
	}
	data, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil {
		return pageToken{}, bad("is not a page token this server issued")
	}
	var t pageToken
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return pageToken{}, bad("is not a page token this server issued")
	}
	if t.Filter != filter {
		return pageToken{}, bad("was issued for a different list or different filters; send the same filters as the call that returned it, or start again without a token")
	}
	if t.Before < 0 {
		return pageToken{}, bad("is not a page token this server issued")
	}
	return t, nil
}

// decodeKeysetToken reads a page token of a listing ordered by score
// (ListLeads, ListAccounts), issued for filter: beyond decodePageToken, a
// token must hold the ID of the entry it follows and a probability. The
// empty token is the first page.
func decodeKeysetToken(token, filter string) (pageToken, error) {
	t, err := decodePageToken(token, filter)
	if err != nil || token == "" {
		return t, err
	}
	if t.ID == "" || leadscore.ValidateID("id", t.ID) != nil || !(t.Probability >= 0 && t.Probability <= 1) {
		shown := token
		if len(shown) > 64 {
			shown = shown[:64] + "..."
		}
		return pageToken{}, leadscore.InvalidField("page_token", shown, "is not a page token this server issued")
	}
	return t, nil
}

// maskPaths checks an update mask against the paths an rpc allows. A nil
// or empty mask means the paths whose new value is set (present reports
// that), as Google's API guidelines ask; "*" means every allowed path.
func maskPaths(mask *fieldmaskpb.FieldMask, allowed []string, present func(path string) bool) (map[string]bool, error) {
	out := map[string]bool{}
	paths := mask.GetPaths()
	if len(paths) == 0 {
		for _, p := range allowed {
			if present(p) {
				out[p] = true
			}
		}
		return out, nil
	}
	for i, p := range paths {
		switch {
		case p == "*":
			if len(paths) > 1 {
				return nil, leadscore.InvalidField(fmt.Sprintf("update_mask.paths[%d]", i), p, `"*" must be the only path`)
			}
			for _, a := range allowed {
				out[a] = true
			}
		case slices.Contains(allowed, p):
			if out[p] {
				return nil, leadscore.InvalidField(fmt.Sprintf("update_mask.paths[%d]", i), p, "is named twice")
			}
			out[p] = true
		default:
			return nil, leadscore.InvalidField(fmt.Sprintf("update_mask.paths[%d]", i), p,
				fmt.Sprintf("cannot be updated; the mask may name only %s", strings.Join(allowed, " and ")))
		}
	}
	return out, nil
}

// checkRequestID checks an optional request_id.
func checkRequestID(field, id string) error {
	if id == "" {
		return nil
	}
	return leadscore.ValidateID(field, id)
}

// timestamp converts a time, the zero time to nil.
func timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// duration converts a duration, zero to nil.
func duration(d time.Duration) *durationpb.Duration {
	if d == 0 {
		return nil
	}
	return durationpb.New(d)
}

// requestTime reads an optional timestamp field; nil is the zero time.
func requestTime(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, leadscore.InvalidField(field, ts.String(), "is not a valid timestamp")
	}
	return ts.AsTime(), nil
}

// requestDuration reads an optional duration field; nil is zero.
func requestDuration(field string, d *durationpb.Duration) (time.Duration, error) {
	if d == nil {
		return 0, nil
	}
	if err := d.CheckValid(); err != nil {
		return 0, leadscore.InvalidField(field, d.String(), "is not a valid duration")
	}
	return d.AsDuration(), nil
}
