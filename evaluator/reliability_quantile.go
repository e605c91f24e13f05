package evaluator

import (
	"cmp"
	"slices"

	"github.com/leadscore/leadscore"
)

// QuantileReliability returns the reliability diagram over bins that hold
// about equal numbers of leads: the leads ranked by predicted probability
// and cut into bins runs of len(probs)/bins, ties never split (so a bin may
// hold more leads, and there may be fewer bins). Each bin's Lower and Upper
// are the lowest and highest probability in it, both included. Drawn as a
// chart, every point then stands for as many leads, where equal-width bins
// put nearly all leads of a low base rate in the first point. The expected
// calibration error stays defined over Reliability's equal-width bins.
func QuantileReliability(probs []float64, labels []bool, bins int) ([]ReliabilityBin, error) {
	if err := checkProbabilities(probs, labels); err != nil {
		return nil, err
	}
	if bins < 1 {
		return nil, leadscore.InvalidField("bins", bins, "must be at least 1")
	}
	n := len(probs)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(probs[a], probs[b]) })
	var out []ReliabilityBin
	start := 0
	for b := 0; b < bins && start < n; b++ {
		end := max(start+1, ((b+1)*n+bins-1)/bins)
		for end < n && probs[order[end]] == probs[order[end-1]] {
			end++
		}
		bin := ReliabilityBin{Lower: probs[order[start]], Upper: probs[order[end-1]], Leads: end - start}
		var sum float64
		pos := 0
		for _, i := range order[start:end] {
			sum += probs[i]
			if labels[i] {
				pos++
			}
		}
		// Clamped, so that summing rounding never puts the mean outside
		// the bin (seven leads at 0.2 average 0.19999999999999998).
		bin.MeanProbability = min(max(sum/float64(bin.Leads), bin.Lower), bin.Upper)
		bin.ObservedRate = float64(pos) / float64(bin.Leads)
		out = append(out, bin)
		start = end
	}
	return out, nil
}
