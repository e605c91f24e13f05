package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// MaxEventFuture is how far past the server's clock an event's time may be:
// clocks of senders drift, but an event from the future would count before
// it happened.
const MaxEventFuture = 5 * time.Minute

// MaxScoreHistory is the most past scores GetLead returns.
const MaxScoreHistory = 1000

// leadService serves leadscore.v1.LeadService over a LeadStore: handlers
// that check each record with the API's field names, write through the
// store and rescore the leads that changed before they return.
type leadService struct {
	leadscorev1.UnimplementedLeadServiceServer
	store   leadscore.LeadStore
	aliases leadscore.RegistryStore
	rescore *rescorer
	logger  *slog.Logger
	now     func() time.Time
	// draining is cancelled when the server's shutdown begins: watch
	// streams end then with UNAVAILABLE, so their clients resume
	// elsewhere.
	draining context.Context
}

// The API's names of the fields the store's rejections name, per table.
var apiFieldNames = map[string]map[string]string{
	leadscore.TableLeads:    {"id": "name", "account_id": "account", "created_at": "create_time"},
	leadscore.TableEvents:   {"id": "event_id", "lead_id": "lead", "occurred_at": "occur_time"},
	leadscore.TableOutcomes: {"lead_id": "lead", "occurred_at": "occur_time", "currency": "currency_code"},
	storeutil.TableAccounts: {"id": "name", "name": "display_name"},
}

func (s *leadService) UpsertLeads(ctx context.Context, req *leadscorev1.UpsertLeadsRequest) (*leadscorev1.UpsertLeadsResponse, error) {
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	opts := leadscore.IngestOptions{At: s.now(), Partial: req.GetPartial()}
	b, err := convertBatch(leadscore.TableLeads, req.GetLeads(), opts, leadFromProto)
	if err != nil {
		return nil, err
	}
	opts, tally := s.rescore.inWrite(ctx, opts, leadscore.ReasonAttributes)
	res, err := s.store.UpsertLeads(ctx, b.records, opts)
	if err != nil {
		return nil, b.storeError(err)
	}
	done := tally(res.Leads, res.RescoreErr)
	return &leadscorev1.UpsertLeadsResponse{
		CreatedCount: int32(res.Created), UpdatedCount: int32(res.Updated), UnchangedCount: int32(res.Unchanged),
		Rejected:      b.rejections(ctx, s.logger, res.Rejected),
		RescoredCount: int32(done.Done), NotRescoredCount: int32(done.Failed),
	}, nil
}

func (s *leadService) UpsertAccounts(ctx context.Context, req *leadscorev1.UpsertAccountsRequest) (*leadscorev1.UpsertAccountsResponse, error) {
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	opts := leadscore.IngestOptions{At: s.now(), Partial: req.GetPartial()}
	b, err := convertBatch(storeutil.TableAccounts, req.GetAccounts(), opts, accountFromProto)
	if err != nil {
		return nil, err
	}
	res, err := s.store.UpsertAccounts(ctx, b.records, opts)
	if err != nil {
		return nil, b.storeError(err)
	}
	return &leadscorev1.UpsertAccountsResponse{
		CreatedCount: int32(res.Created), UpdatedCount: int32(res.Updated), UnchangedCount: int32(res.Unchanged),
		Rejected: b.rejections(ctx, s.logger, res.Rejected),
	}, nil
}

func (s *leadService) RecordEvents(ctx context.Context, req *leadscorev1.RecordEventsRequest) (*leadscorev1.RecordEventsResponse, error) {
	at := s.now()
	opts := leadscore.IngestOptions{At: at, Partial: req.GetPartial()}
	b, err := convertBatch(leadscore.TableEvents, req.GetEvents(), opts, func(pe *leadscorev1.Event) (leadscore.Event, error) {
		return eventFromProto(pe, at)
	})
	if err != nil {
		return nil, err
	}
	opts, tally := s.rescore.inWrite(ctx, opts, leadscore.ReasonEvent)
	res, err := s.store.RecordEvents(ctx, b.records, opts)
	if err != nil {
		return nil, b.storeError(err)
	}
	done := tally(res.Leads, res.RescoreErr)
	out := &leadscorev1.RecordEventsResponse{
		RecordedCount: int32(res.Recorded), DuplicateCount: int32(res.Duplicates),
		Rejected:      b.rejections(ctx, s.logger, res.Rejected),
		RescoredCount: int32(done.Done), NotRescoredCount: int32(done.Failed),
	}
	names := apiFieldNames[leadscore.TableEvents]
	for _, c := range res.Conflicts {
		pc := &leadscorev1.EventConflict{Index: int32(b.index[c.Index]), EventId: c.ID}
		for _, f := range c.Fields {
			pc.Fields = append(pc.Fields, cmpOr(names[f], f))
		}
		out.Conflicts = append(out.Conflicts, pc)
	}
	return out, nil
}

func (s *leadService) RecordOutcomes(ctx context.Context, req *leadscorev1.RecordOutcomesRequest) (*leadscorev1.RecordOutcomesResponse, error) {
	if err := checkRequestID("request_id", req.GetRequestId()); err != nil {
		return nil, err
	}
	at := s.now()
	opts := leadscore.IngestOptions{At: at, Partial: req.GetPartial()}
	b, err := convertBatch(leadscore.TableOutcomes, req.GetOutcomes(), opts, func(po *leadscorev1.Outcome) (leadscore.Outcome, error) {
		return outcomeFromProto(po, at)
	})
	if err != nil {
		return nil, err
	}
	res, err := s.store.RecordOutcomes(ctx, b.records, opts)
	if err != nil {
		return nil, b.storeError(err)
	}
	return &leadscorev1.RecordOutcomesResponse{
		RecordedCount: int32(res.Created + res.Updated), UnchangedCount: int32(res.Unchanged),
		Rejected: b.rejections(ctx, s.logger, res.Rejected),
	}, nil
}

func (s *leadService) GetLead(ctx context.Context, req *leadscorev1.GetLeadRequest) (*leadscorev1.GetLeadResponse, error) {
	id, err := leadscore.ParseLeadName("name", req.GetName())
	if err != nil {
		return nil, err
	}
	limit := int(req.GetScoreHistoryLimit())
	if limit < 0 || limit > MaxScoreHistory {
		return nil, leadscore.InvalidField("score_history_limit", limit, fmt.Sprintf("must be from 0 to %d", MaxScoreHistory))
	}
	stored, err := s.store.GetLead(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &leadscorev1.GetLeadResponse{Lead: leadProto(stored)}
	if stored.Score != nil {
		out.Lead.CurrentScore.Factors, err = s.factors(ctx, stored.Score)
		if err != nil {
			return nil, err
		}
	}
	if limit > 0 {
		hist, err := s.store.ScoreHistory(ctx, id, limit)
		if err != nil {
			return nil, err
		}
		for i := range hist {
			out.ScoreHistory = append(out.ScoreHistory, &leadscorev1.ScoreHistoryEntry{Score: scoreProto(&hist[i]), Reason: hist[i].Reason})
		}
	}
	return out, nil
}

// factors explains a stored score exactly: the lead as of the score's time,
// scored again by the version that scored it, with its features'
// contributions. Scores are stored without them, since exact
// contributions cost a thousand times a score and a lead is rescored on
// every action; reading a lead is rarer.
func (s *leadService) factors(ctx context.Context, rec *leadscore.LeadScoreRecord) ([]*leadscorev1.Factor, error) {
	sm, err := s.rescore.models.version(ctx, rec.Version)
	if err != nil {
		if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
			// The version was deleted since: the score stands, unexplained.
			return nil, nil
		}
		return nil, err
	}
	acts, err := s.store.LeadActivity(ctx, []string{rec.LeadID})
	if err != nil || len(acts) == 0 {
		return nil, err
	}
	sc := sm.get()
	defer sm.put(sc)
	clear(sc.fit)
	if err := storedFeatures(sm, &acts[0], rec.ScoredAt, sc, sc.row); err != nil {
		return nil, err
	}
	if err := sc.scorer.Explain(sc.row, &sc.out); err != nil {
		return nil, err
	}
	return factorsProto(model.TopFactors(sm.features, sc.row, sc.out.Contributions, DefaultFactors)), nil
}

// batch is a write's records after the server's own checks: the records
// for the store, each one's index in the request, and the rejected ones
// (partial calls only).
type batch[T any] struct {
	table    string
	records  []T
	index    []int // request index of records[j]
	rejected []leadscore.Rejection
}

// convertBatch converts and checks each record of a write with the API's
// field names. A bad record fails the whole call, naming every bad
// record's fields, unless the call is partial: then it is set aside and
// the others go on.
func convertBatch[P, T any](table string, in []P, opts leadscore.IngestOptions, conv func(P) (T, error)) (*batch[T], error) {
	check, err := storeutil.NewBatch(table, len(in), opts)
	if err != nil {
		return nil, apiFields(table, err, nil)
	}
	b := &batch[T]{table: table, records: make([]T, 0, len(in)), index: make([]int, 0, len(in))}
	for i, p := range in {
		rec, err := conv(p)
		if err != nil {
			check.Reject(i, err)
			continue
		}
		b.records = append(b.records, rec)
		b.index = append(b.index, i)
	}
	if err := check.Err(); err != nil {
		return nil, err
	}
	b.rejected = check.Rejections()
	return b, nil
}

// storeError is the error of a failed store write, with the request's
// indexes and the API's field names.
func (b *batch[T]) storeError(err error) error {
	return apiFields(b.table, err, b.index)
}

// rejections merges the server's rejections with the store's (whose
// indexes count the records the store was given) in request order.
func (b *batch[T]) rejections(ctx context.Context, logger *slog.Logger, store []leadscore.Rejection) []*leadscorev1.RecordRejection {
	all := append([]leadscore.Rejection(nil), b.rejected...)
	for _, r := range store {
		all = append(all, leadscore.Rejection{Index: b.index[r.Index], Err: apiFields(b.table, r.Err, b.index)})
	}
	if len(all) == 0 {
		return nil
	}
	sortRejections(all)
	out := make([]*leadscorev1.RecordRejection, len(all))
	method := "/leadscore.v1.LeadService/" + b.table
	for i, r := range all {
		out[i] = &leadscorev1.RecordRejection{Index: int32(r.Index), Error: itemError(ctx, logger, method, r.Err)}
	}
	return out
}

func sortRejections(rs []leadscore.Rejection) {
	for i := 1; i < len(rs); i++ {
		for j := i; j > 0 && rs[j].Index < rs[j-1].Index; j-- {
			rs[j], rs[j-1] = rs[j-1], rs[j]
		}
	}
}

// apiFields rewrites the field paths of a store error ("events[3].lead_id")
// with the request's index (index[3], when index is not nil) and the API's
// field name ("events[5].lead"), in its fields and its message.
func apiFields(table string, err error, index []int) error {
	var e *leadscore.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	return rewriteFields(e, func(path string) string {
		rest, ok := strings.CutPrefix(path, table+"[")
		if !ok {
			return path
		}
		num, field, ok := strings.Cut(rest, "].")
		j, err := strconv.Atoi(num)
		if !ok || err != nil || j < 0 {
			return path
		}
		if index != nil && j < len(index) {
			j = index[j]
		}
		return fmt.Sprintf("%s[%d].%s", table, j, apiField(table, field))
	})
}

// renameFields gives the field paths of a record's own check (Lead.Validate
// and the others, whose names are the store's: "account_id") the API's
// names ("account").
func renameFields(table string, err error) error {
	var e *leadscore.Error
	if !errors.As(err, &e) || len(e.Fields) == 0 {
		return err
	}
	return rewriteFields(e, func(path string) string { return apiField(table, path) })
}

// apiField renames the first segment of a record's field path.
func apiField(table, path string) string {
	head, tail, _ := strings.Cut(path, ".")
	if n, ok := apiFieldNames[table][head]; ok {
		head = n
	}
	if tail != "" {
		head += "." + tail
	}
	return head
}

// rewriteFields returns e with its field paths rewritten and its message
// naming the first.
func rewriteFields(e *leadscore.Error, rewrite func(string) string) error {
	out := *e
	out.Fields = make([]leadscore.FieldViolation, len(e.Fields))
	for i, f := range e.Fields {
		out.Fields[i] = leadscore.FieldViolation{Field: rewrite(f.Field), Description: f.Description}
	}
	if len(out.Fields) > 0 && e.Code == leadscore.EINVALID {
		out.Message = fmt.Sprintf("invalid %s: %s", out.Fields[0].Field, out.Fields[0].Description)
		if n := len(out.Fields); n > 1 {
			out.Message += fmt.Sprintf(" (and %d more)", n-1)
		}
	}
	return &out
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// leadFromProto converts a lead of a write; errors name its fields.
func leadFromProto(pl *leadscorev1.Lead) (leadscore.Lead, error) {
	var l leadscore.Lead
	if pl == nil {
		return l, leadscore.InvalidField("lead", "null", "is required")
	}
	var err error
	if l.ID, err = leadscore.ParseLeadName("name", pl.GetName()); err != nil {
		return l, err
	}
	if pl.GetAccount() != "" {
		if l.AccountID, err = leadscore.ParseAccountName("account", pl.GetAccount()); err != nil {
			return l, err
		}
	}
	l.Owner = pl.GetOwner()
	if l.CreatedAt, err = requiredTime("create_time", pl.GetCreateTime()); err != nil {
		return l, err
	}
	if l.Attributes, err = attributesFromProto(pl.GetAttributes()); err != nil {
		return l, err
	}
	return l, renameFields(leadscore.TableLeads, l.Validate())
}

// accountFromProto converts an account of a write.
func accountFromProto(pa *leadscorev1.Account) (leadscore.Account, error) {
	var a leadscore.Account
	if pa == nil {
		return a, leadscore.InvalidField("account", "null", "is required")
	}
	var err error
	if a.ID, err = leadscore.ParseAccountName("name", pa.GetName()); err != nil {
		return a, err
	}
	a.Name = pa.GetDisplayName()
	if a.Attributes, err = attributesFromProto(pa.GetAttributes()); err != nil {
		return a, err
	}
	return a, renameFields(storeutil.TableAccounts, a.Validate())
}

// eventFromProto converts an event of a write received at at.
func eventFromProto(pe *leadscorev1.Event, at time.Time) (leadscore.Event, error) {
	var e leadscore.Event
	if pe == nil {
		return e, leadscore.InvalidField("event", "null", "is required")
	}
	e.ID, e.Type, e.Properties = pe.GetEventId(), pe.GetType(), pe.GetProperties()
	if err := leadscore.ValidateID("event_id", e.ID); err != nil {
		return e, err
	}
	var err error
	if e.LeadID, err = leadscore.ParseLeadName("lead", pe.GetLead()); err != nil {
		return e, err
	}
	if e.OccurredAt, err = requiredTime("occur_time", pe.GetOccurTime()); err != nil {
		return e, err
	}
	if e.OccurredAt.After(at.Add(MaxEventFuture)) {
		return e, leadscore.InvalidField("occur_time", e.OccurredAt.Format(time.RFC3339),
			fmt.Sprintf("is more than %v after the server's time %s", MaxEventFuture, at.UTC().Format(time.RFC3339)))
	}
	return e, renameFields(leadscore.TableEvents, e.Validate())
}

// outcomeFromProto converts an outcome of a write received at at.
func outcomeFromProto(po *leadscorev1.Outcome, at time.Time) (leadscore.Outcome, error) {
	var o leadscore.Outcome
	if po == nil {
		return o, leadscore.InvalidField("outcome", "null", "is required")
	}
	var err error
	if o.LeadID, err = leadscore.ParseLeadName("lead", po.GetLead()); err != nil {
		return o, err
	}
	switch po.GetStatus() {
	case leadscorev1.OutcomeStatus_OUTCOME_STATUS_WON:
		o.Status = leadscore.OutcomeWon
	case leadscorev1.OutcomeStatus_OUTCOME_STATUS_LOST:
		o.Status = leadscore.OutcomeLost
	default:
		return o, leadscore.InvalidField("status", po.GetStatus().String(), "must be OUTCOME_STATUS_WON or OUTCOME_STATUS_LOST")
	}
	if o.OccurredAt, err = requiredTime("occur_time", po.GetOccurTime()); err != nil {
		return o, err
	}
	if o.OccurredAt.After(at.Add(MaxEventFuture)) {
		return o, leadscore.InvalidField("occur_time", o.OccurredAt.Format(time.RFC3339),
			fmt.Sprintf("is more than %v after the server's time %s", MaxEventFuture, at.UTC().Format(time.RFC3339)))
	}
	o.Amount, o.Currency = po.GetAmount(), po.GetCurrencyCode()
	return o, renameFields(leadscore.TableOutcomes, o.Validate())
}

// requiredTime reads a required timestamp.
func requiredTime(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, leadscore.InvalidField(field, "unset", "is required")
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, leadscore.InvalidField(field, ts.String(), "must be a valid timestamp")
	}
	return ts.AsTime(), nil
}

// attributesFromProto converts attribute values; a value of no kind, a
// non-finite number or an over-long string is an error naming its key.
func attributesFromProto(in map[string]*leadscorev1.AttributeValue) (map[string]leadscore.Value, error) {
	if len(in) > leadscore.MaxAttributes {
		return nil, leadscore.InvalidField("attributes", len(in), fmt.Sprintf("has more than %d attributes", leadscore.MaxAttributes))
	}
	out := make(map[string]leadscore.Value, len(in))
	for k, pv := range in {
		v, ok := attributeValue(pv)
		if !ok {
			return nil, attributeError("attributes."+k, pv)
		}
		out[k] = v
	}
	return out, nil
}

// leadProto is a stored lead as the API shows it.
func leadProto(st leadscore.StoredLead) *leadscorev1.Lead {
	l := st.Lead
	out := &leadscorev1.Lead{
		Name:       leadscore.LeadName(l.ID),
		Owner:      l.Owner,
		Attributes: make(map[string]*leadscorev1.AttributeValue, len(l.Attributes)),
		CreateTime: timestamppb.New(l.CreatedAt),
		UpdateTime: timestamppb.New(st.UpdatedAt),
	}
	if l.AccountID != "" {
		out.Account = leadscore.AccountName(l.AccountID)
	}
	for k, v := range l.Attributes {
		if pv := attributeProto(v); pv != nil {
			out.Attributes[k] = pv
		}
	}
	if o := st.Outcome; o != nil {
		out.Outcome = &leadscorev1.Outcome{
			Lead: out.Name, OccurTime: timestamppb.New(o.OccurredAt), Amount: o.Amount, CurrencyCode: o.Currency,
			Status: leadscorev1.OutcomeStatus_OUTCOME_STATUS_LOST,
		}
		if o.Status == leadscore.OutcomeWon {
			out.Outcome.Status = leadscorev1.OutcomeStatus_OUTCOME_STATUS_WON
		}
	}
	if st.Score != nil {
		out.CurrentScore = scoreProto(st.Score)
	}
	return out
}

// scoreProto is a stored score as the API shows it.
func scoreProto(r *leadscore.LeadScoreRecord) *leadscorev1.LeadScore {
	out := &leadscorev1.LeadScore{
		Probability:     r.Probability,
		Score:           int32(r.Score),
		Percentile:      r.Percentile,
		Tier:            tierProto(r.Tier),
		Grade:           gradeProto(r.Cell.Grade),
		EngagementLevel: levelProto(r.Cell.Level),
		Cell:            r.Cell.String(),
		NextAction:      r.Action,
		BaseValue:       r.BaseValue,
		RawOutput:       r.RawOutput,
		ModelVersion:    r.Version.Name(),
		Alias:           r.Alias,
		ScoreTime:       timestamppb.New(r.ScoredAt),
	}
	if r.Horizon > 0 {
		out.Horizon = durationpb.New(r.Horizon)
	}
	return out
}
