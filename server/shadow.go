package server

import (
	"context"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/internal/storeutil"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// ShadowOptions configure challenger shadow scoring: a share of the
// requests scored by a champion is scored again by the same model's
// challenger, off the request path, so a data team can see how the two
// would disagree before promoting.
type ShadowOptions struct {
	// Share is the fraction of champion-scored items also scored by the
	// challenger, from 0 (off) to 1.
	Share float64
	// Queue is how many items may wait for the challenger. When it is full,
	// items are dropped and counted rather than slowing callers down.
	Queue int
	// Window is how many recent pairs the summary covers.
	Window int
}

// DefaultShadowQueue and DefaultShadowWindow are the shadow scorer's
// bounds unless configured otherwise.
const (
	DefaultShadowQueue  = 1024
	DefaultShadowWindow = 10000
)

// shadow scores sampled champion items with the challenger in one
// background goroutine and keeps the recent pairs.
type shadow struct {
	models *modelSet
	opts   ShadowOptions
	logger *slog.Logger
	queue  chan shadowJob

	offered, dropped, scored, failed atomic.Int64

	mu    sync.Mutex
	pairs []shadowPair // ring of the last Window pairs
	next  int
	full  bool
}

type shadowJob struct {
	champion *servedModel
	opts     scoreOptions
	item     *leadscorev1.ScoreItem
	stored   *leadscore.LeadActivity // the lead item names by id, or nil
	prob     float64
	cell     leadscore.Cell
}

// shadowPair is one item scored by both.
type shadowPair struct {
	champion, challenger         string // version names
	championProb, challengerProb float64
	championCell, challengerCell leadscore.Cell
}

func newShadow(models *modelSet, opts ShadowOptions, logger *slog.Logger) *shadow {
	if opts.Queue <= 0 {
		opts.Queue = DefaultShadowQueue
	}
	if opts.Window <= 0 {
		opts.Window = DefaultShadowWindow
	}
	return &shadow{models: models, opts: opts, logger: logger, queue: make(chan shadowJob, opts.Queue), pairs: make([]shadowPair, opts.Window)}
}

// offer samples an item scored by a champion and queues it for the
// challenger without ever blocking.
// stored is the lead an item names by id, as the call read it, or nil.
func (s *shadow) offer(champion *servedModel, opts *scoreOptions, item *leadscorev1.ScoreItem, stored *leadscore.LeadActivity, prob float64, cell leadscore.Cell) {
	if s.opts.Share <= 0 || (s.opts.Share < 1 && rand.Float64() >= s.opts.Share) {
		return
	}
	challenger := leadscore.AliasRef{Model: champion.ref.Model, Alias: "challenger"}
	if sm := s.models.current(challenger); sm == nil || sm == champion {
		return
	}
	s.offered.Add(1)
	select {
	case s.queue <- shadowJob{champion: champion, opts: *opts, item: item, stored: stored, prob: prob, cell: cell}:
	default:
		s.dropped.Add(1)
	}
}

// run scores queued items until ctx ends.
func (s *shadow) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case job := <-s.queue:
			s.score(job)
		}
	}
}

func (s *shadow) score(job shadowJob) {
	challenger := s.models.current(leadscore.AliasRef{Model: job.champion.ref.Model, Alias: "challenger"})
	if challenger == nil {
		return
	}
	sc := challenger.get()
	defer challenger.put(sc)
	// The request's columns, bound to the challenger this time.
	plan, err := bindColumns("options", job.opts.columns, challenger)
	var in itemInput
	if err == nil {
		in, err = parseItem(job.item, challenger, &job.opts, plan, sc.fit)
	}
	switch {
	case err != nil:
	case in.storedID != "" && job.stored != nil:
		err = storedFeatures(challenger, job.stored, job.opts.at, sc, sc.row)
	case in.storedID != "":
		err = storeutil.LeadNotFound(in.storedID)
	default:
		err = sc.feat.Compute(sc.fit, in.created, in.act, job.opts.unix, sc.row)
	}
	if err == nil {
		err = sc.scorer.Score(sc.row, &sc.out)
	}
	if err != nil {
		// The champion scored it, so the challenger reads the lead
		// differently (another spec): worth counting, not failing anything.
		s.failed.Add(1)
		s.logger.Debug("shadow scoring failed", slog.String("challenger", challenger.name), slog.Any("error", err))
		return
	}
	s.scored.Add(1)
	s.mu.Lock()
	s.pairs[s.next] = shadowPair{
		champion: job.champion.name, challenger: challenger.name,
		championProb: job.prob, challengerProb: sc.out.Probability,
		championCell: job.cell, challengerCell: sc.out.Cell,
	}
	s.next++
	if s.next == len(s.pairs) {
		s.next, s.full = 0, true
	}
	s.mu.Unlock()
}

// ShadowSummary summarises the recent champion–challenger pairs.
type ShadowSummary struct {
	// Share is the configured sampling share.
	Share float64 `json:"share"`
	// Offered counts sampled items; Dropped those the full queue refused;
	// Scored those the challenger scored; Failed those it could not.
	Offered int64 `json:"offered"`
	Dropped int64 `json:"dropped"`
	Scored  int64 `json:"scored"`
	Failed  int64 `json:"failed"`
	// Pairs is how many recent pairs the figures below cover.
	Pairs int `json:"pairs"`
	// Champion and Challenger name the versions of the latest pair.
	Champion   string `json:"champion,omitempty"`
	Challenger string `json:"challenger,omitempty"`
	// CellAgreement is the share of pairs placed in the same grid cell.
	CellAgreement float64 `json:"cell_agreement"`
	// MeanDifference is the mean of challenger minus champion probability;
	// MeanAbsDifference the mean of its absolute value.
	MeanDifference    float64 `json:"mean_difference"`
	MeanAbsDifference float64 `json:"mean_abs_difference"`
	// RankCorrelation is Spearman's rank correlation of the two
	// probabilities (average ranks for ties); 0 with fewer than two pairs
	// or no variation.
	RankCorrelation float64 `json:"rank_correlation"`
}

// summary computes the summary of the current window.
func (s *shadow) summary() ShadowSummary {
	s.mu.Lock()
	n := s.next
	if s.full {
		n = len(s.pairs)
	}
	pairs := slices.Clone(s.pairs[:n])
	latest := -1
	if n > 0 {
		latest = (s.next - 1 + len(s.pairs)) % len(s.pairs)
	}
	var last shadowPair
	if latest >= 0 {
		last = s.pairs[latest]
	}
	s.mu.Unlock()
	out := ShadowSummary{
		Share: s.opts.Share, Offered: s.offered.Load(), Dropped: s.dropped.Load(),
		Scored: s.scored.Load(), Failed: s.failed.Load(), Pairs: n,
		Champion: last.champion, Challenger: last.challenger,
	}
	if n == 0 {
		return out
	}
	a := make([]float64, n)
	b := make([]float64, n)
	same := 0
	for i, p := range pairs {
		a[i], b[i] = p.championProb, p.challengerProb
		d := p.challengerProb - p.championProb
		out.MeanDifference += d
		out.MeanAbsDifference += math.Abs(d)
		if p.championCell == p.challengerCell {
			same++
		}
	}
	out.MeanDifference /= float64(n)
	out.MeanAbsDifference /= float64(n)
	out.CellAgreement = float64(same) / float64(n)
	out.RankCorrelation = spearman(a, b)
	return out
}

// spearman is the Pearson correlation of the average ranks of a and b.
func spearman(a, b []float64) float64 {
	if len(a) < 2 {
		return 0
	}
	ra, rb := ranks(a), ranks(b)
	var ma, mb float64
	for i := range ra {
		ma += ra[i]
		mb += rb[i]
	}
	ma /= float64(len(ra))
	mb /= float64(len(rb))
	var sab, saa, sbb float64
	for i := range ra {
		da, db := ra[i]-ma, rb[i]-mb
		sab += da * db
		saa += da * da
		sbb += db * db
	}
	if saa == 0 || sbb == 0 {
		return 0
	}
	return sab / math.Sqrt(saa*sbb)
}

// ranks returns the 1-based ranks of xs, ties sharing their average rank.
func ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	slices.SortFunc(idx, func(i, j int) int {
		switch {
		case xs[i] < xs[j]:
			return -1
		case xs[i] > xs[j]:
			return 1
		}
		return 0
	})
	out := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		r := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			out[idx[k]] = r
		}
		i = j + 1
	}
	return out
}
