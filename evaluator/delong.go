package evaluator

import (
	"cmp"
	"fmt"
	"math"
	"slices"

	"github.com/leadscore/leadscore"
)

// PairedROCAUC compares two scorings of the same rows: it returns each
// one's ROC AUC and the standard error of their difference (a − b) by
// DeLong, DeLong and Clarke-Pearson's method (Biometrics, 1988), which
// accounts for the two scorings ranking the same leads: each positive's
// share of negatives it outranks (ties one half) and each negative's share
// of positives that outrank it are the two AUCs' structural components,
// and their covariances over the positives and over the negatives give the
// variance of the difference. The components come from midranks (Sun and
// Xu, 2014), O(n log n).
func PairedROCAUC(a, b []float64, labels []bool) (aucA, aucB, se float64, err error) {
	if len(a) != len(labels) || len(b) != len(labels) {
		return 0, 0, 0, leadscore.InvalidField("scores", fmt.Sprintf("%d and %d", len(a), len(b)), fmt.Sprintf("must each have one score per label (%d)", len(labels)))
	}
	p := 0
	for i, l := range labels {
		if math.IsNaN(a[i]) || math.IsNaN(b[i]) {
			return 0, 0, 0, leadscore.InvalidField(fmt.Sprintf("scores[%d]", i), math.NaN(), "must be a number")
		}
		if l {
			p++
		}
	}
	n := len(labels) - p
	if p < 2 || n < 2 {
		return 0, 0, 0, leadscore.InvalidField("labels", fmt.Sprintf("%d converted of %d", p, len(labels)),
			"need at least two converted and two other leads for the AUCs' standard error")
	}
	va, wa := components(a, labels, p, n)
	vb, wb := components(b, labels, p, n)
	aucA, aucB = meanOf(va), meanOf(vb)
	// Var(a − b) = (S10aa + S10bb − 2·S10ab)/p + (S01aa + S01bb − 2·S01ab)/n,
	// which is the variance of the per-row component differences.
	v := diffVariance(va, vb)/float64(p) + diffVariance(wa, wb)/float64(n)
	return aucA, aucB, math.Sqrt(max(v, 0)), nil
}

// components returns the DeLong components of one scoring: for each
// positive (in row order) the share of negatives it outranks, and for each
// negative the share of positives that outrank it, ties counting one half.
func components(scores []float64, labels []bool, p, n int) (pos, neg []float64) {
	all := midranks(scores, func(int) bool { return true })
	inPos := midranks(scores, func(i int) bool { return labels[i] })
	inNeg := midranks(scores, func(i int) bool { return !labels[i] })
	pos, neg = make([]float64, 0, p), make([]float64, 0, n)
	for i, l := range labels {
		if l {
			pos = append(pos, (all[i]-inPos[i])/float64(n))
		} else {
			neg = append(neg, 1-(all[i]-inNeg[i])/float64(p))
		}
	}
	return pos, neg
}

// midranks returns, for each row that keep selects, its 1-based rank
// among the selected rows by score, tied scores sharing their mean rank;
// unselected rows get 0.
func midranks(scores []float64, keep func(int) bool) []float64 {
	var order []int
	for i := range scores {
		if keep(i) {
			order = append(order, i)
		}
	}
	slices.SortFunc(order, func(x, y int) int { return cmp.Compare(scores[x], scores[y]) })
	r := make([]float64, len(scores))
	for i := 0; i < len(order); {
		j := i
		for j < len(order) && scores[order[j]] == scores[order[i]] {
			j++
		}
		mid := float64(i+j+1) / 2
		for k := i; k < j; k++ {
			r[order[k]] = mid
		}
		i = j
	}
	return r
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// diffVariance is the sample variance (n − 1 denominator) of x − y.
func diffVariance(x, y []float64) float64 {
	d := make([]float64, len(x))
	for i := range x {
		d[i] = x[i] - y[i]
	}
	m := meanOf(d)
	var s float64
	for _, v := range d {
		s += (v - m) * (v - m)
	}
	return s / float64(len(d)-1)
}
