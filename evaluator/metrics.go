package evaluator

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/leadscore/leadscore"
)

// DefaultResamples is the number of bootstrap resamples of the ROC AUC's
// confidence interval.
const DefaultResamples = 200

// Sizes of the report's tables.
const (
	// ReliabilityBins is the number of equal-width bins of the
	// reliability diagram, which the ECE is computed over, and the most
	// bins of equal numbers of leads the calibration chart draws.
	ReliabilityBins = 10
	// HistogramBins is the number of equal-width bins of the score
	// histogram.
	HistogramBins = 20
	// MaxImportance is the most features Importance lists.
	MaxImportance = 20
	// MaxGroups is the most campaigns or sources listed; the smaller ones
	// are summed into one OtherGroup row.
	MaxGroups = 100
)

// Keys of the campaign and source groups that are not values.
const (
	// NoneGroup holds the leads without a value.
	NoneGroup = "(none)"
	// OtherGroup holds the leads of the groups beyond MaxGroups.
	OtherGroup = "(other)"
)

// EvalOptions control the figures that involve chance.
type EvalOptions struct {
	// Seed seeds the bootstrap; the same seed and rows give the same
	// interval.
	Seed uint64
	// Resamples is the number of bootstrap resamples; 0 means
	// DefaultResamples.
	Resamples int
}

// Evaluate computes every figure of one model's scores. It needs at least
// ten rows (for the deciles), with both converted and other leads (for the
// ROC AUC).
func Evaluate(s *Scores, opts EvalOptions) (*Metrics, error) {
	if s == nil {
		return nil, leadscore.InvalidField("scores", "nil", "are required")
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	resamples := opts.Resamples
	if resamples == 0 {
		resamples = DefaultResamples
	}
	if resamples < 1 {
		return nil, leadscore.InvalidField("resamples", resamples, "must be positive")
	}
	r, err := rank(s.Probability, s.Label)
	if err != nil {
		return nil, err
	}
	n := len(s.Probability)
	m := &Metrics{
		Model:       s.Model,
		Family:      s.Family,
		Leads:       n,
		Conversions: r.p,
		BaseRate:    float64(r.p) / float64(n),
	}
	m.RocAUC = r.auc()
	m.RocAUCCILower, m.RocAUCCIUpper = r.bootstrap(resamples, opts.Seed)
	m.PrAUC = r.averagePrecision()
	m.KS = r.ks()
	if m.LogLoss, err = LogLoss(s.Probability, s.Label); err != nil {
		return nil, err
	}
	if m.Brier, err = Brier(s.Probability, s.Label); err != nil {
		return nil, err
	}
	if m.Reliability, m.ECE, err = Reliability(s.Probability, s.Label, ReliabilityBins); err != nil {
		return nil, err
	}
	if m.ReliabilityQuantiles, err = QuantileReliability(s.Probability, s.Label, ReliabilityBins); err != nil {
		return nil, err
	}
	if m.Deciles, err = r.deciles(s.Probability); err != nil {
		return nil, err
	}
	m.LiftTopDecile = m.Deciles[0].Lift
	m.Tiers, m.Grades, m.Cells = groupsByGrid(s, m.BaseRate)
	m.Campaigns = groupsByKey(s.Campaign, s, m.BaseRate)
	m.Sources = groupsByKey(s.Source, s, m.BaseRate)
	m.Acceptance = acceptance(m.Tiers, n, r.p)
	m.Histogram = histogram(s.Probability, s.Label)
	m.Importance = importance(s)
	return m, nil
}

// ranking is rows ranked by score, computed once and shared by the
// ranking metrics: the order, best first with ties in row order, and the
// groups of tied scores with their positives and negatives.
type ranking struct {
	order    []int   // rows by score descending, ties by row order
	group    []int32 // each row's tie group; group 0 has the highest score
	pos, neg []int   // per tie group
	p, n     int     // positives and negatives
	labels   []bool
}

// rank sorts the rows once. It refuses NaN scores, mismatched lengths and
// labels of one class, for which the ranking metrics are undefined.
func rank(scores []float64, labels []bool) (*ranking, error) {
	if len(scores) != len(labels) {
		return nil, leadscore.InvalidField("scores", len(scores), fmt.Sprintf("must have one score per label (%d)", len(labels)))
	}
	if len(scores) == 0 {
		return nil, leadscore.InvalidField("scores", 0, "need at least one row")
	}
	r := &ranking{order: make([]int, len(scores)), group: make([]int32, len(scores)), labels: labels}
	for i, x := range scores {
		if math.IsNaN(x) {
			return nil, leadscore.InvalidField(fmt.Sprintf("scores[%d]", i), x, "must be a number")
		}
		r.order[i] = i
		if labels[i] {
			r.p++
		} else {
			r.n++
		}
	}
	if r.p == 0 || r.n == 0 {
		return nil, leadscore.InvalidField("labels", fmt.Sprintf("%d converted of %d", r.p, len(labels)),
			"need both converted and other leads: the ROC AUC and the lift are undefined with one class")
	}
	// SortStableFunc keeps tied rows in row order: the deciles' tie break.
	slices.SortStableFunc(r.order, func(a, b int) int { return cmp.Compare(scores[b], scores[a]) })
	g := int32(-1)
	for k, i := range r.order {
		if k == 0 || scores[i] != scores[r.order[k-1]] {
			g++
			r.pos, r.neg = append(r.pos, 0), append(r.neg, 0)
		}
		r.group[i] = g
		if labels[i] {
			r.pos[g]++
		} else {
			r.neg[g]++
		}
	}
	return r, nil
}

// aucOf is the Mann-Whitney ROC AUC from per-group counts, ties counting
// one half: each positive beats the negatives of lower groups and ties
// half of its own group's.
func aucOf(pos, neg []int, p, n int) float64 {
	var wins float64
	below := n
	for g := range pos {
		below -= neg[g]
		wins += float64(pos[g]) * (float64(below) + 0.5*float64(neg[g]))
	}
	return wins / (float64(p) * float64(n))
}

func (r *ranking) auc() float64 { return aucOf(r.pos, r.neg, r.p, r.n) }

// bootstrap returns the percentile 95% interval of the ROC AUC over
// resamples stratified by class: each resample draws r.p positives and
// r.n negatives with replacement, so that every resample has both classes
// and the same base rate (as pROC's default). Rows are sorted once; a
// resample only counts how often each tie group was drawn, O(rows). The
// draws come from math/rand/v2's PCG seeded with (seed,
// bootstrapStream), which is specified and so gives the same interval on
// every platform. The percentiles interpolate linearly between order
// statistics (numpy's default).
func (r *ranking) bootstrap(resamples int, seed uint64) (lo, hi float64) {
	posRows := make([]int32, 0, r.p)
	negRows := make([]int32, 0, r.n)
	for _, i := range r.order {
		if r.labels[i] {
			posRows = append(posRows, r.group[i])
		} else {
			negRows = append(negRows, r.group[i])
		}
	}
	rng := rand.New(rand.NewPCG(seed, bootstrapStream))
	pos := make([]int, len(r.pos))
	neg := make([]int, len(r.neg))
	aucs := make([]float64, resamples)
	for b := range aucs {
		clear(pos)
		clear(neg)
		for range r.p {
			pos[posRows[rng.IntN(len(posRows))]]++
		}
		for range r.n {
			neg[negRows[rng.IntN(len(negRows))]]++
		}
		aucs[b] = aucOf(pos, neg, r.p, r.n)
	}
	slices.Sort(aucs)
	return quantile(aucs, 0.025), quantile(aucs, 0.975)
}

// bootstrapStream is the second PCG seed word of the bootstrap.
const bootstrapStream = 0x626f6f74 // "boot"

// quantile interpolates the q-quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

// averagePrecision is scikit-learn's average_precision_score: the sum over
// distinct score thresholds, best first, of the recall gained times the
// precision at that threshold. Tied scores form one threshold, so their
// order does not matter.
func (r *ranking) averagePrecision() float64 {
	var ap float64
	tp, fp := 0, 0
	for g := range r.pos {
		tp += r.pos[g]
		fp += r.neg[g]
		if r.pos[g] > 0 {
			ap += float64(r.pos[g]) / float64(r.p) * float64(tp) / float64(tp+fp)
		}
	}
	return ap
}

// ks is the two-sample Kolmogorov-Smirnov statistic between the scores of
// converted and other leads: the largest gap between their empirical CDFs
// (as scipy.stats.ks_2samp). The CDFs are compared only after a whole tie
// group, since no threshold separates tied scores.
func (r *ranking) ks() float64 {
	var best float64
	tp, fp := 0, 0
	for g := range r.pos {
		tp += r.pos[g]
		fp += r.neg[g]
		best = math.Max(best, math.Abs(float64(tp)/float64(r.p)-float64(fp)/float64(r.n)))
	}
	return best
}

// deciles splits the ranked rows into ten groups as equal as possible
// (the first n%10 one row larger), best first.
func (r *ranking) deciles(probs []float64) ([]Decile, error) {
	n := len(r.order)
	if n < 10 {
		return nil, leadscore.InvalidField("rows", n, "need at least 10 for deciles")
	}
	base := float64(r.p) / float64(n)
	out := make([]Decile, 10)
	from, cum := 0, 0
	for k := range out {
		size := n / 10
		if k < n%10 {
			size++
		}
		d := Decile{Decile: k + 1, Leads: size, MinProbability: math.Inf(1)}
		var sum float64
		for _, i := range r.order[from : from+size] {
			if r.labels[i] {
				d.Conversions++
			}
			sum += probs[i]
			d.MinProbability = math.Min(d.MinProbability, probs[i])
		}
		cum += d.Conversions
		d.CloseRate = float64(d.Conversions) / float64(size)
		d.Lift = d.CloseRate / base
		d.CumulativeGain = float64(cum) / float64(r.p)
		d.MeanProbability = sum / float64(size)
		out[k] = d
		from += size
	}
	return out, nil
}

// AveragePrecision returns the area under the precision-recall curve as
// scikit-learn's average_precision_score computes it, tied scores forming
// one threshold.
func AveragePrecision(scores []float64, labels []bool) (float64, error) {
	r, err := rank(scores, labels)
	if err != nil {
		return 0, err
	}
	return r.averagePrecision(), nil
}

// KS returns the Kolmogorov-Smirnov statistic between the scores of the
// positive and the negative rows.
func KS(scores []float64, labels []bool) (float64, error) {
	r, err := rank(scores, labels)
	if err != nil {
		return 0, err
	}
	return r.ks(), nil
}

// BootstrapROCAUC returns the ROC AUC and its percentile 95% interval over
// resamples stratified bootstrap resamples drawn with seed.
func BootstrapROCAUC(scores []float64, labels []bool, resamples int, seed uint64) (auc, lower, upper float64, err error) {
	if resamples < 1 {
		return 0, 0, 0, leadscore.InvalidField("resamples", resamples, "must be positive")
	}
	r, err := rank(scores, labels)
	if err != nil {
		return 0, 0, 0, err
	}
	lower, upper = r.bootstrap(resamples, seed)
	return r.auc(), lower, upper, nil
}

// Deciles ranks rows by probability, best first with ties in row order,
// and returns the ten deciles' close rates, lifts and cumulative gains.
func Deciles(probs []float64, labels []bool) ([]Decile, error) {
	if err := checkProbabilities(probs, labels); err != nil {
		return nil, err
	}
	r, err := rank(probs, labels)
	if err != nil {
		return nil, err
	}
	return r.deciles(probs)
}

// groupAcc accumulates one group's rows.
type groupAcc struct {
	leads, conversions int
	sumP               float64
}

func (a *groupAcc) add(p float64, converted bool) {
	a.leads++
	a.sumP += p
	if converted {
		a.conversions++
	}
}

func (a groupAcc) group(key string, base float64) Group {
	g := Group{Key: key, Leads: a.leads, Conversions: a.conversions}
	if a.leads > 0 {
		g.CloseRate = float64(a.conversions) / float64(a.leads)
		g.MeanProbability = a.sumP / float64(a.leads)
		if base > 0 {
			g.Lift = g.CloseRate / base
		}
	}
	return g
}

// groupsByGrid returns the close rates of the four tiers (best first), the
// four grades (A to D) and the sixteen cells (A1 to D4). Every group is
// listed, empty ones with zero rates, so that reports have one shape.
func groupsByGrid(s *Scores, base float64) (tiers, grades, cells []Group) {
	tiers, grades, cells = []Group{}, []Group{}, []Group{}
	if s.Tier != nil {
		var acc [4]groupAcc
		for i, t := range s.Tier {
			acc[t-leadscore.TierVeryGood].add(s.Probability[i], s.Label[i])
		}
		for k := range acc {
			tiers = append(tiers, acc[k].group((leadscore.TierVeryGood+leadscore.Tier(k)).String(), base))
		}
	}
	if s.Cell != nil {
		var byGrade [4]groupAcc
		var byCell [16]groupAcc
		for i, c := range s.Cell {
			g, l := int(c.Grade-leadscore.GradeA), int(c.Level-1)
			byGrade[g].add(s.Probability[i], s.Label[i])
			byCell[g*4+l].add(s.Probability[i], s.Label[i])
		}
		for g := range byGrade {
			grades = append(grades, byGrade[g].group((leadscore.GradeA+leadscore.Grade(g)).String(), base))
		}
		for k := range byCell {
			c := leadscore.Cell{Grade: leadscore.GradeA + leadscore.Grade(k/4), Level: leadscore.Level(k%4 + 1)}
			cells = append(cells, byCell[k].group(c.String(), base))
		}
	}
	return tiers, grades, cells
}

// groupsByKey returns the close rate per value of keys (campaign or
// source), by lead count descending and then key; rows without a value
// are grouped as NoneGroup, and groups beyond MaxGroups are summed into one
// OtherGroup row at the end.
func groupsByKey(keys []string, s *Scores, base float64) []Group {
	out := []Group{}
	if keys == nil {
		return out
	}
	acc := map[string]*groupAcc{}
	for i, k := range keys {
		if k == "" {
			k = NoneGroup
		}
		a := acc[k]
		if a == nil {
			a = &groupAcc{}
			acc[k] = a
		}
		a.add(s.Probability[i], s.Label[i])
	}
	names := make([]string, 0, len(acc))
	for k := range acc {
		names = append(names, k)
	}
	slices.SortFunc(names, func(a, b string) int {
		if c := cmp.Compare(acc[b].leads, acc[a].leads); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	})
	var other groupAcc
	for k, name := range names {
		if k >= MaxGroups {
			a := acc[name]
			other.leads += a.leads
			other.conversions += a.conversions
			other.sumP += a.sumP
			continue
		}
		out = append(out, acc[name].group(name, base))
	}
	if other.leads > 0 {
		out = append(out, other.group(OtherGroup, base))
	}
	return out
}

// acceptance computes the MadKudu-style figures from the tier groups, best
// first: the top two tiers' shares of leads and conversions, and the top
// tier's close rate over the bottom (low) tier's.
func acceptance(tiers []Group, leads, conversions int) Acceptance {
	var a Acceptance
	if len(tiers) != 4 {
		return a
	}
	top2 := tiers[0].Leads + tiers[1].Leads
	top2c := tiers[0].Conversions + tiers[1].Conversions
	a.TopTwoTiersLeadShare = float64(top2) / float64(leads)
	if conversions > 0 {
		a.TopTwoTiersConversionShare = float64(top2c) / float64(conversions)
	}
	bottom := tiers[3]
	a.BottomTierConversions = bottom.Conversions
	if bottom.Conversions > 0 {
		a.TopToBottomCloseRateRatio = tiers[0].CloseRate / bottom.CloseRate
	}
	return a
}

// histogram counts probabilities in HistogramBins equal-width bins over
// [0, 1] by outcome; the last bin includes 1.
func histogram(probs []float64, labels []bool) ScoreHistogram {
	h := ScoreHistogram{Bins: HistogramBins, Converted: make([]int, HistogramBins), Other: make([]int, HistogramBins)}
	for i, p := range probs {
		b := min(int(p*HistogramBins), HistogramBins-1)
		if labels[i] {
			h.Converted[b]++
		} else {
			h.Other[b]++
		}
	}
	return h
}

// importance returns each feature's share of the summed absolute
// contributions (equal to its share of the mean absolute contribution),
// largest first with ties in feature order, at most MaxImportance.
func importance(s *Scores) []Importance {
	out := []Importance{}
	var total float64
	for _, v := range s.AbsContribution {
		total += v
	}
	if !(total > 0) {
		return out
	}
	idx := make([]int, len(s.AbsContribution))
	for j := range idx {
		idx[j] = j
	}
	slices.SortStableFunc(idx, func(a, b int) int { return cmp.Compare(s.AbsContribution[b], s.AbsContribution[a]) })
	for _, j := range idx[:min(len(idx), MaxImportance)] {
		out = append(out, Importance{Feature: s.Features[j].Name, Group: string(s.Features[j].Group), Share: s.AbsContribution[j] / total})
	}
	return out
}
