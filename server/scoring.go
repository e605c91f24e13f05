package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
	"github.com/leadscore/leadscore/model"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// scoringService serves leadscore.v1.ScoringService: thin handlers over the
// model set, the shared featurizer and the scorer.
type scoringService struct {
	leadscorev1.UnimplementedScoringServiceServer
	models *modelSet
	leads  leadscore.LeadStore
	shadow *shadow // nil when shadow scoring is off
	logger *slog.Logger
	// streams bounds the StreamScore calls held at once.
	streams chan struct{}
	now     func() time.Time
	// maxCall bounds a ScoreBatch call.
	maxCall time.Duration
}

// DefaultMaxCallDuration bounds a ScoreBatch call unless configured
// otherwise.
const DefaultMaxCallDuration = 30 * time.Second

// DefaultMaxStreams is how many StreamScore calls a server holds at once
// unless configured otherwise.
const DefaultMaxStreams = 64

func (s *scoringService) Score(ctx context.Context, req *leadscorev1.ScoreRequest) (*leadscorev1.ScoreResponse, error) {
	opts, err := parseScoreOptions("options", req.GetOptions(), s.now())
	if err != nil {
		return nil, err
	}
	if req.GetItem() == nil {
		return nil, leadscore.InvalidField("item", "unset", "is required")
	}
	c, err := s.prepare(ctx, &opts)
	if err != nil {
		return nil, err
	}
	if err := s.loadStored(ctx, []*leadscorev1.ScoreItem{req.GetItem()}, c); err != nil {
		return nil, err
	}
	resp := &leadscorev1.ScoreResponse{Score: &leadscorev1.LeadScore{}}
	unknown, err := s.scoreItem(-1, req.GetItem(), c, resp.Score)
	if err != nil {
		return nil, err
	}
	resp.UnknownAttributes = unknown
	return resp, nil
}

func (s *scoringService) ScoreBatch(ctx context.Context, req *leadscorev1.ScoreBatchRequest) (*leadscorev1.ScoreBatchResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.maxCall)
	defer cancel()
	opts, err := parseScoreOptions("options", req.GetOptions(), s.now())
	if err != nil {
		return nil, err
	}
	if err := checkItemCount("items", len(req.GetItems())); err != nil {
		return nil, err
	}
	c, err := s.prepare(ctx, &opts)
	if err != nil {
		return nil, err
	}
	if err := s.loadStored(ctx, req.GetItems(), c); err != nil {
		return nil, err
	}
	results, err := s.scoreItems(ctx, req.GetItems(), c)
	if err != nil {
		return nil, err
	}
	return &leadscorev1.ScoreBatchResponse{Results: results, ModelVersion: c.sel.sm.name, Alias: c.sel.alias}, nil
}

func (s *scoringService) StreamScore(stream leadscorev1.ScoringService_StreamScoreServer) error {
	select {
	case s.streams <- struct{}{}:
		defer func() { <-s.streams }()
	default:
		return status.Errorf(codes.ResourceExhausted, "this server already holds %d scoring streams; retry later or use another instance", cap(s.streams))
	}
	ctx := stream.Context()
	var c *scoreCall
	for chunk := int64(0); ; chunk++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if chunk == 0 {
			opts, err := parseScoreOptions("options", req.GetOptions(), s.now())
			if err != nil {
				return err
			}
			if c, err = s.prepare(ctx, &opts); err != nil {
				return err
			}
		} else if req.GetOptions() != nil {
			return leadscore.InvalidField("options", fmt.Sprintf("chunk %d", chunk), "is read from the first chunk only; leave it unset in later chunks")
		}
		if err := checkItemCount("items", len(req.GetItems())); err != nil {
			return withFieldPrefix(fmt.Sprintf("chunk[%d]", chunk), err)
		}
		if err := s.loadStored(ctx, req.GetItems(), c); err != nil {
			return err
		}
		results, err := s.scoreItems(ctx, req.GetItems(), c)
		if err != nil {
			return err
		}
		if err := stream.Send(&leadscorev1.StreamScoreResponse{
			Results: results, ModelVersion: c.sel.sm.name, Alias: c.sel.alias, Chunk: chunk,
		}); err != nil {
			return err
		}
	}
}

// scoreCall is what every item of one request is scored with.
type scoreCall struct {
	sel  selection
	opts *scoreOptions
	plan *columnPlan // nil without columns
	at   *timestamppb.Timestamp
	// stored holds the stored leads the items name, by id, as loaded
	// for this batch (loadStored); storedErr is why they could not be.
	stored    map[string]*leadscore.LeadActivity
	storedErr error
}

// loadStored reads the stored leads that items name, in one store call, into
// c. Names that do not parse are left for parseItem to report. Only a
// single item's call (Score) fails when the store does; in a batch the
// items that name stored leads fail, and the others are scored.
func (s *scoringService) loadStored(ctx context.Context, items []*leadscorev1.ScoreItem, c *scoreCall) error {
	var ids []string
	for _, it := range items {
		if l, ok := it.GetSubject().(*leadscorev1.ScoreItem_Lead); ok {
			if id, err := leadscore.ParseLeadName("lead", l.Lead); err == nil {
				ids = append(ids, id)
			}
		}
	}
	c.stored, c.storedErr = nil, nil
	if len(ids) == 0 {
		return nil
	}
	acts, err := s.leads.LeadActivity(ctx, storeutil.SortedUnique(ids))
	if err != nil {
		c.storedErr = err
		if len(items) == 1 {
			return err
		}
		return nil
	}
	c.stored = make(map[string]*leadscore.LeadActivity, len(acts))
	for i := range acts {
		c.stored[acts[i].Lead.ID] = &acts[i]
	}
	return nil
}

// prepare resolves a request's model version and binds its columns to it.
func (s *scoringService) prepare(ctx context.Context, opts *scoreOptions) (*scoreCall, error) {
	sel, err := s.models.resolve(ctx, opts.model, opts.version)
	if err != nil {
		return nil, err
	}
	plan, err := bindColumns("options", opts.columns, sel.sm)
	if err != nil {
		return nil, err
	}
	return &scoreCall{sel: sel, opts: opts, plan: plan, at: timestamppb.New(opts.at)}, nil
}

func checkItemCount(field string, n int) error {
	if n < 1 || n > MaxBatchItems {
		return leadscore.InvalidField(field, n, fmt.Sprintf("must hold 1 to %d items", MaxBatchItems))
	}
	return nil
}

// scoreItems scores a batch with one version. A bad item gets its own
// ItemError; only a cancelled call fails the whole batch.
func (s *scoringService) scoreItems(ctx context.Context, items []*leadscorev1.ScoreItem, c *scoreCall) ([]*leadscorev1.ScoreItemResult, error) {
	n := len(items)
	// One allocation per kind of message for the whole batch rather than
	// several per item.
	results := make([]leadscorev1.ScoreItemResult, n)
	scores := make([]leadscorev1.LeadScore, n)
	wrapped := make([]leadscorev1.ScoreItemResult_Score, n)
	out := make([]*leadscorev1.ScoreItemResult, n)
	set := func(i int, err error) {
		r := &results[i]
		if err != nil {
			r.Result = &leadscorev1.ScoreItemResult_Error{Error: s.itemError(ctx, err)}
		} else {
			wrapped[i].Score = &scores[i]
			r.Result = &wrapped[i]
		}
		out[i] = r
	}
	for i, it := range items {
		results[i].Key = it.GetKey()
	}
	if c.opts.explain {
		// Explanations cost far more than anything shared: item by item.
		for i, it := range items {
			if i%64 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			unknown, err := s.scoreItem(i, it, c, &scores[i])
			results[i].UnknownAttributes = unknown
			set(i, err)
		}
		return out, nil
	}
	// Without explanations every item is featurized into one matrix and
	// the matrix scored at once (Scorer.ScoreBatch: Score's results, the
	// trees walked over blocks of rows).
	sm := c.sel.sm
	sc := sm.get()
	defer sm.put(sc)
	w := len(sc.row)
	if cap(sc.matrix) < n*w {
		sc.matrix = make([]float64, n*w)
		sc.batch, sc.batchErrs = make([]model.Scored, n), make([]error, n)
	}
	mat, batch, batchErrs := sc.matrix[:n*w], sc.batch[:n], sc.batchErrs[:n]
	errs := make([]error, n)
	for i, it := range items {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		row := mat[i*w : (i+1)*w]
		clear(sc.fit)
		results[i].UnknownAttributes, errs[i] = s.featurize(i, it, c, sc, row)
		if errs[i] != nil {
			// A row that is not scored still takes its place in the batch.
			for j := range row {
				row[j] = math.NaN()
			}
		}
	}
	if err := sc.scorer.ScoreBatch(mat, batch, batchErrs); err != nil {
		return nil, err
	}
	for i, it := range items {
		err := errs[i]
		if err == nil && batchErrs[i] != nil {
			err = withFieldPrefix(itemField(i)+"."+subjectField(it), batchErrs[i])
		}
		if err == nil {
			s.deliver(it, c, &batch[i], nil, &scores[i])
		}
		set(i, err)
	}
	return out, nil
}

// itemField is the path of item i of a batch or chunk, or "item" for the
// one item of Score (i < 0).
func itemField(i int) string {
	if i < 0 {
		return "item"
	}
	return "items[" + strconv.Itoa(i) + "]"
}

func (s *scoringService) itemError(ctx context.Context, err error) *leadscorev1.ItemError {
	return itemError(ctx, s.logger, "/leadscore.v1.ScoringService/item", err)
}

// itemError converts the error of one item of a call (method) the way
// toStatus converts a call's: application errors keep their code, message
// and fields; anything else is INTERNAL with a generic message, and
// logged.
func itemError(ctx context.Context, logger *slog.Logger, method string, err error) *leadscorev1.ItemError {
	st := toStatus(ctx, logger, method, err)
	ie := &leadscorev1.ItemError{Code: codeName(st.Code()), Message: st.Message()}
	var appErr *leadscore.Error
	if errors.As(err, &appErr) && appErr.Code != leadscore.EINTERNAL {
		for _, f := range appErr.Fields {
			ie.FieldViolations = append(ie.FieldViolations, &leadscorev1.FieldViolation{Field: f.Field, Description: f.Description})
		}
	}
	return ie
}

// codeName is a gRPC code's canonical name, such as "INVALID_ARGUMENT".
func codeName(c codes.Code) string {
	switch c {
	case codes.InvalidArgument:
		return "INVALID_ARGUMENT"
	case codes.NotFound:
		return "NOT_FOUND"
	case codes.FailedPrecondition:
		return "FAILED_PRECONDITION"
	case codes.Unavailable:
		return "UNAVAILABLE"
	case codes.AlreadyExists:
		return "ALREADY_EXISTS"
	case codes.Aborted:
		return "ABORTED"
	case codes.Canceled:
		return "CANCELLED"
	case codes.DeadlineExceeded:
		return "DEADLINE_EXCEEDED"
	case codes.ResourceExhausted:
		return "RESOURCE_EXHAUSTED"
	}
	return "INTERNAL"
}

// scoreItem scores item i (-1 for Score's one item) into dst, returning
// the attribute keys the model does not read.
func (s *scoringService) scoreItem(i int, it *leadscorev1.ScoreItem, c *scoreCall, dst *leadscorev1.LeadScore) ([]string, error) {
	sm := c.sel.sm
	sc := sm.get()
	defer sm.put(sc)
	unknown, err := s.featurize(i, it, c, sc, sc.row)
	if err != nil {
		return unknown, err
	}
	if c.opts.explain {
		err = sc.scorer.Explain(sc.row, &sc.out)
	} else {
		err = sc.scorer.Score(sc.row, &sc.out)
	}
	if err != nil {
		return unknown, withFieldPrefix(itemField(i)+"."+subjectField(it), err)
	}
	s.deliver(it, c, &sc.out, sc.row, dst)
	return unknown, nil
}

// featurize checks item i against the call's model and computes its
// feature row into row, with the scratch's fit values (which must be
// clear). It returns the attributes the model does not read.
func (s *scoringService) featurize(i int, it *leadscorev1.ScoreItem, c *scoreCall, sc *scoreScratch, row []float64) ([]string, error) {
	in, err := parseItem(it, c.sel.sm, c.opts, c.plan, sc.fit)
	if err != nil {
		return nil, withFieldPrefix(itemField(i), err)
	}
	if in.storedID != "" {
		la, err := c.storedLead(in.storedID)
		if err == nil {
			err = storedFeatures(c.sel.sm, la, c.opts.at, sc, row)
		}
		return nil, err
	}
	if err := sc.feat.Compute(sc.fit, in.created, in.act, c.opts.unix, row); err != nil {
		return in.unknown, withFieldPrefix(itemField(i)+"."+subjectField(it), err)
	}
	return in.unknown, nil
}

// deliver fills dst from a scored item (with factors when the call
// explains: row is then its feature row), counts it for the metrics and
// offers it to shadow scoring.
func (s *scoringService) deliver(it *leadscorev1.ScoreItem, c *scoreCall, scored *model.Scored, row []float64, dst *leadscorev1.LeadScore) {
	sm := c.sel.sm
	fillScore(dst, sm, c.sel.alias, scored, c.at)
	if c.opts.explain {
		dst.Factors = factorsProto(model.TopFactors(sm.features, row, scored.Contributions, c.opts.factors))
	}
	cell := cellIndex(scored.Cell)
	if t := int(scored.Tier) - 1; cell >= 0 && t >= 0 && t < 4 {
		sm.counts[cell][t].Add(1)
	}
	if s.shadow != nil && c.sel.alias == leadscore.AliasChampion {
		var la *leadscore.LeadActivity
		if l, ok := it.GetSubject().(*leadscorev1.ScoreItem_Lead); ok {
			id, _ := leadscore.ParseLeadName("lead", l.Lead)
			la = c.stored[id]
		}
		s.shadow.offer(sm, c.opts, it, la, scored.Probability, scored.Cell)
	}
}

// storedLead returns a stored lead the call's items name.
func (c *scoreCall) storedLead(id string) (*leadscore.LeadActivity, error) {
	if c.storedErr != nil {
		return nil, c.storedErr
	}
	if la := c.stored[id]; la != nil {
		return la, nil
	}
	return nil, storeutil.LeadNotFound(id)
}

// subjectField names the field an item's lead is in.
func subjectField(it *leadscorev1.ScoreItem) string {
	if _, ok := it.GetSubject().(*leadscorev1.ScoreItem_Row); ok {
		return "row"
	}
	return "inline_lead"
}

// cellIndex is a cell's index from A1 (0) to D4 (15), or -1.
func cellIndex(c leadscore.Cell) int {
	if !c.Valid() {
		return -1
	}
	return int(c.Grade-leadscore.GradeA)*4 + int(c.Level) - 1
}

// fillScore fills a LeadScore from a scorer's result.
func fillScore(dst *leadscorev1.LeadScore, sm *servedModel, alias string, sc *model.Scored, at *timestamppb.Timestamp) {
	*dst = leadscorev1.LeadScore{
		Probability:     sc.Probability,
		Score:           int32(sc.Score),
		Percentile:      sc.Percentile,
		Tier:            tierProto(sc.Tier),
		Grade:           gradeProto(sc.Cell.Grade),
		EngagementLevel: levelProto(sc.Cell.Level),
		Cell:            cellNames[max(0, cellIndex(sc.Cell))],
		NextAction:      sc.Action,
		BaseValue:       sc.Base,
		RawOutput:       sc.Raw,
		ModelVersion:    sm.name,
		Alias:           alias,
		ScoreTime:       at,
		Horizon:         sm.horizon,
	}
}

// cellNames are the cells' names, so that a result does not build one.
var cellNames = func() [16]string {
	var out [16]string
	for i := range out {
		out[i] = leadscore.Cell{Grade: leadscore.GradeA + leadscore.Grade(i/4), Level: leadscore.Level(i%4 + 1)}.String()
	}
	return out
}()

func tierProto(t leadscore.Tier) leadscorev1.Tier {
	if t >= leadscore.TierVeryGood && t <= leadscore.TierLow {
		return leadscorev1.Tier(t-leadscore.TierVeryGood) + leadscorev1.Tier_TIER_VERY_GOOD
	}
	return leadscorev1.Tier_TIER_UNSPECIFIED
}

func gradeProto(g leadscore.Grade) leadscorev1.Grade {
	if g >= leadscore.GradeA && g <= leadscore.GradeD {
		return leadscorev1.Grade(g-leadscore.GradeA) + leadscorev1.Grade_GRADE_A
	}
	return leadscorev1.Grade_GRADE_UNSPECIFIED
}

func levelProto(l leadscore.Level) leadscorev1.EngagementLevel {
	if l >= 1 && l <= 4 {
		return leadscorev1.EngagementLevel(l)
	}
	return leadscorev1.EngagementLevel_ENGAGEMENT_LEVEL_UNSPECIFIED
}

// factorsProto converts factors.
func factorsProto(fs []model.Factor) []*leadscorev1.Factor {
	out := make([]*leadscorev1.Factor, len(fs))
	for i, f := range fs {
		g := leadscorev1.FactorGroup_FACTOR_GROUP_ENGAGEMENT
		if f.Group == model.GroupFit {
			g = leadscorev1.FactorGroup_FACTOR_GROUP_FIT
		}
		c := f.Contribution
		if math.IsNaN(c) {
			c = 0
		}
		out[i] = &leadscorev1.Factor{Feature: f.Feature, Group: g, Contribution: c, Value: f.Value, Description: f.Description}
	}
	return out
}
