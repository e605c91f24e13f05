package trainer

// How logistic regression chooses the pairs of features that interact
// (model/pairs.go says what a pair is):
//
//   - The additive model is fitted first. Its residuals say where it is
//     wrong: a row's gradient g = won − p and hessian h = p(1 − p).
//   - Every feature is binned as a pair side would be, and every pair of
//     features is scored by how much a separate value per cell of its grid
//     would improve the fit beyond a value per bin of each feature alone:
//     with G and H summed per cell, per bin of either feature, and over all
//     rows, a Newton step's gain is Σ G²/(H + λ); the pair's interaction
//     gain S is the cells' gain minus either feature's bins' gain plus the
//     whole's (each feature's own effect is counted once, not twice). This
//     is the score statistic for the pair's interaction. With no
//     interaction E[G²] = H in every cell, so S has expectation
//     E = Σ H/(H + λ) over the same terms and is close to χ² with E
//     degrees of freedom; λ = 1 keeps cells with a handful of rows from
//     counting as whole degrees of freedom.
//   - A pair counts when its S is significant after a Bonferroni
//     correction for the number of pairs tried (P(χ²_E > S) < 0.05 / pairs),
//     so on data without interactions none is added. Of those, the most
//     significant are kept, up to the number asked for: ranking by the
//     chance rather than by S − E keeps a pair of many cells from winning
//     on many small, noisy gains.
//   - A chosen pair's cells that at least minPairCellRows training rows
//     fall into get a column each, and the model is fitted again with
//     them. A pair column's L2 penalty is pairPenaltyScale times an
//     additive column's (its C is C/16): a pair has tens or hundreds of
//     cells, each estimated from a few rows, and interactions are a priori
//     smaller than the effects of the features themselves, as hierarchical
//     models and GA²M assume. With the additive penalty, the pairs the
//     generated histories' fit features show (revenue × size, seniority ×
//     size) overfit and lost on the inner fold; with 16 times it they tie
//     the additive model there, and bank marketing's folds do as well as
//     before (tuning then picks a larger C).
//
// The pairs are chosen on the rows the model is fitted on, so a tuning
// candidate chooses them on the inner fold's fitting rows and the refit
// on all the training rows chooses them again.

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/leadscore/leadscore/model"
)

const (
	// pairLambda is the L2 term in the pair statistic's Newton gains.
	pairLambda = 1.0
	// pairAlpha is the family-wise significance level a pair must meet.
	pairAlpha = 0.05
	// minPairCellRows is the fewest training rows a cell of a chosen pair
	// needs for a column of its own.
	minPairCellRows = 20
	// maxPairRows bounds the rows pairs are scored on; more are sampled
	// evenly.
	maxPairRows = 200_000
	// pairPenaltyScale multiplies a pair column's L2 penalty. Chosen from
	// 1, 4, 16 and 64 by the inner-fold ROC AUC of tuned logistic models
	// on generated histories (seeds 1 and 2) and bank marketing's two
	// splits.
	pairPenaltyScale = 16.0
)

// pairScore is how one candidate pair did.
type pairScore struct {
	a, b int
	// gain is the interaction gain S, dof its expectation E without an
	// interaction, and logP the log of the chance of a gain as large
	// without one.
	gain, dof, logP float64
}

// choosePairs returns up to k pairs of features that interact in rows
// (row-major, len(features) wide) beyond what the additive model lin
// explains, in the order an encoding holds them, with each pair's cells
// that have enough rows, and their statistics.
func choosePairs(ctx context.Context, features []model.Feature, rows []float64, labels []bool, lin *model.Linear, k int) ([]model.Pair, []pairScore, error) {
	w := len(features)
	n := len(labels)
	if k <= 0 || w < 2 || n == 0 {
		return nil, nil, nil
	}
	sides, scores, err := scoreEveryPair(ctx, features, rows, labels, lin)
	if err != nil {
		return nil, nil, err
	}
	var chosen []pairScore
	bound := math.Log(pairAlpha / float64(len(scores)))
	for _, s := range scores {
		if s.logP < bound {
			chosen = append(chosen, s)
		}
	}
	slices.SortStableFunc(chosen, func(x, y pairScore) int { return cmp.Compare(x.logP, y.logP) })
	chosen = chosen[:min(k, len(chosen))]
	slices.SortFunc(chosen, func(x, y pairScore) int { return cmp.Or(cmp.Compare(x.a, y.a), cmp.Compare(x.b, y.b)) })

	// The cells with enough rows, counted on every row.
	var pairs []model.Pair
	var kept []pairScore
	kinds := make([]model.Kind, w)
	for j, f := range features {
		kinds[j] = f.Kind
	}
	for _, s := range chosen {
		p := model.Pair{A: sides[s.a], B: sides[s.b]}
		counts := make([]int, (p.A.Bins+1)*(p.B.Bins+1))
		for i := range n {
			counts[p.Cell(kinds, rows[i*w:(i+1)*w])]++
		}
		for c, v := range counts {
			if v >= minPairCellRows {
				p.Cells = append(p.Cells, c)
			}
		}
		if len(p.Cells) > 0 {
			pairs = append(pairs, p)
			kept = append(kept, s)
		}
	}
	return pairs, kept, nil
}

// scorePairs returns the statistics of every pair of features of rows
// beyond what the additive model lin explains, in the order a, b.
func scorePairs(ctx context.Context, features []model.Feature, rows []float64, labels []bool, lin *model.Linear) ([]pairScore, error) {
	_, scores, err := scoreEveryPair(ctx, features, rows, labels, lin)
	return scores, err
}

// scoreEveryPair bins every feature as a pair side and returns the sides
// and the statistics of every pair, in the order a, b.
func scoreEveryPair(ctx context.Context, features []model.Feature, rows []float64, labels []bool, lin *model.Linear) ([]model.PairSide, []pairScore, error) {
	w := len(features)
	n := len(labels)
	sides := make([]model.PairSide, w)
	for j, f := range features {
		sides[j] = model.FitPairSide(j, f.Kind, len(f.Categories), rows, w)
	}
	sample := gridSample(n, maxPairRows)
	m := len(sample)
	// Residuals of the additive fit, and every feature's bin, on the
	// sampled rows.
	g, h := make([]float64, m), make([]float64, m)
	bins := make([][]uint8, w)
	for j := range bins {
		bins[j] = make([]uint8, m)
	}
	scorer := lin.Compile()
	for r, i := range sample {
		row := rows[i*w : (i+1)*w]
		p := sigmoid(scorer.Raw(row))
		g[r], h[r] = -p, p*(1-p)
		if labels[i] {
			g[r] += 1
		}
		for j := range w {
			bins[j][r] = uint8(sides[j].Bin(features[j].Kind, row[j]))
		}
	}
	// Each feature's own gain and its expectation, and the whole's.
	var G, H float64
	for r := range m {
		G += g[r]
		H += h[r]
	}
	wholeGain, wholeDof := G*G/(H+pairLambda), H/(H+pairLambda)
	ownGain, ownDof := make([]float64, w), make([]float64, w)
	for j := range w {
		var gs, hs [model.MaxPairBins + 1]float64
		for r, b := range bins[j] {
			gs[b] += g[r]
			hs[b] += h[r]
		}
		ownGain[j], ownDof[j] = newtonGain(gs[:], hs[:])
	}

	type job struct{ a, b int }
	var jobs []job
	for a := range w {
		for b := a + 1; b < w; b++ {
			jobs = append(jobs, job{a, b})
		}
	}
	scores := make([]pairScore, len(jobs))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(jobs)))
	var wg sync.WaitGroup
	for t := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			const cells = (model.MaxPairBins + 1) * (model.MaxPairBins + 1)
			var gs, hs [cells]float64
			for q := t; q < len(jobs); q += workers {
				if q%64 == t && ctx.Err() != nil {
					return
				}
				a, b := jobs[q].a, jobs[q].b
				stride := sides[b].Bins + 1
				size := (sides[a].Bins + 1) * stride
				clear(gs[:size])
				clear(hs[:size])
				ba, bb := bins[a], bins[b]
				for r := range m {
					c := int(ba[r])*stride + int(bb[r])
					gs[c] += g[r]
					hs[c] += h[r]
				}
				cg, cd := newtonGain(gs[:size], hs[:size])
				s := pairScore{a: a, b: b,
					gain: cg - ownGain[a] - ownGain[b] + wholeGain,
					dof:  cd - ownDof[a] - ownDof[b] + wholeDof,
				}
				if s.dof > 0.5 && s.gain > 0 {
					s.logP = logChiSquareSurvival(s.gain, s.dof)
				}
				scores[q] = s
			}
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	return sides, scores, nil
}

// newtonGain returns Σ G²/(H + λ) over the bins with rows, and its
// expectation Σ H/(H + λ) when the bins' true values are all equal.
func newtonGain(gs, hs []float64) (gain, dof float64) {
	for c, hc := range hs {
		if hc > 0 {
			gain += gs[c] * gs[c] / (hc + pairLambda)
			dof += hc / (hc + pairLambda)
		}
	}
	return gain, dof
}

// describePairs names the pairs for an artifact's parameters, with their
// statistics when given (one per pair, in the same order): the number of
// cells with a column, and the interaction gain S against its expectation
// E without an interaction, with the chance of so large a gain.
func describePairs(features []model.Feature, pairs []model.Pair, scores []pairScore) string {
	names := make([]string, len(pairs))
	for i, p := range pairs {
		names[i] = fmt.Sprintf("%s×%s (%d cells", features[p.A.Feature].Name, features[p.B.Feature].Name, len(p.Cells))
		if len(scores) == len(pairs) {
			s := scores[i]
			names[i] += fmt.Sprintf("; gain %.1f, %.1f expected without an interaction, log10 p %.1f", s.gain, s.dof, s.logP/math.Ln10)
		}
		names[i] += ")"
	}
	return strings.Join(names, ", ")
}

// logChiSquareSurvival is log P(X > x) for X ~ χ² with k degrees of
// freedom (k > 0, not necessarily whole): the log of the regularised upper
// incomplete gamma function Q(k/2, x/2). The log keeps very small chances
// apart, so that they can be ranked.
func logChiSquareSurvival(x, k float64) float64 {
	if x <= 0 {
		return 0
	}
	return logGammaQ(k/2, x/2)
}

// logGammaQ is log Q(a, x), the regularised upper incomplete gamma
// function, for a > 0 and x > 0: by the power series of P = 1 − Q below
// x = a + 1, where the series converges fast, and by Q's continued
// fraction (in Lentz's form) above, where the fraction does.
func logGammaQ(a, x float64) float64 {
	lg, _ := math.Lgamma(a)
	logPrefix := a*math.Log(x) - x - lg
	if x < a+1 {
		// P(a, x) = e^{-x} x^a / Γ(a+1) Σ x^n / ((a+1)…(a+n)).
		term := 1 / a
		sum := term
		for n := 1; n < 1000; n++ {
			term *= x / (a + float64(n))
			sum += term
			if math.Abs(term) < math.Abs(sum)*1e-15 {
				break
			}
		}
		return math.Log1p(-min(1, sum*math.Exp(logPrefix)))
	}
	// Q(a, x) = e^{-x} x^a / Γ(a) · 1/(x+1−a− 1·(1−a)/(x+3−a− 2·(2−a)/(x+5−a− …))).
	const tiny = 1e-300
	b := x + 1 - a
	c := 1 / tiny
	d := 1 / b
	f := d
	for i := 1; i < 1000; i++ {
		an := -float64(i) * (float64(i) - a)
		b += 2
		d = an*d + b
		if math.Abs(d) < tiny {
			d = tiny
		}
		c = b + an/c
		if math.Abs(c) < tiny {
			c = tiny
		}
		d = 1 / d
		delta := d * c
		f *= delta
		if math.Abs(delta-1) < 1e-15 {
			break
		}
	}
	return logPrefix + math.Log(f)
}
