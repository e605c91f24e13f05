package trainer

import (
	"fmt"
	"math"
	"slices"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// FitPlatt fits Platt scaling p = σ(A·raw + B) to out-of-sample raw outputs and
// labels by Newton's method on the log loss, with Platt's smoothed targets
// (N₊+1)/(N₊+2) and 1/(N₋+2), which keep the fit finite when the classes
// separate.
func FitPlatt(raw []float64, labels []bool) (*model.Calibration, error) {
	pos, err := checkCalibrationData(raw, labels)
	if err != nil {
		return nil, err
	}
	neg := len(labels) - pos
	hi := (float64(pos) + 1) / (float64(pos) + 2)
	lo := 1 / (float64(neg) + 2)
	// Newton's method is fitted on standardised outputs, so that raw
	// outputs in the hundreds (points) start as close to the optimum as
	// log-odds do, and each step is backtracked until the loss falls.
	var mean, sq float64
	for _, r := range raw {
		mean += r
	}
	mean /= float64(len(raw))
	for _, r := range raw {
		sq += (r - mean) * (r - mean)
	}
	sd := math.Sqrt(sq / float64(len(raw)))
	if sd == 0 {
		return nil, leadscore.InvalidField("raw", raw[0], "every output is the same, so no map can tell leads apart")
	}
	target := func(i int) float64 {
		if labels[i] {
			return hi
		}
		return lo
	}
	loss := func(a, b float64) float64 {
		var l float64
		for i, r := range raw {
			z := a*(r-mean)/sd + b
			t := target(i)
			l += t*softplus(-z) + (1-t)*softplus(z)
		}
		return l
	}
	a, b := 1.0, math.Log(float64(pos)/float64(neg))
	current := loss(a, b)
	for iter := 0; iter < 100; iter++ {
		var ga, gb, haa, hab, hbb float64
		for i, r := range raw {
			x := (r - mean) / sd
			p := sigmoid(a*x + b)
			d := p - target(i)
			w := math.Max(p*(1-p), 1e-12)
			ga += d * x
			gb += d
			haa += w * x * x
			hab += w * x
			hbb += w
		}
		det := haa*hbb - hab*hab
		if det <= 0 {
			break
		}
		da := (hbb*ga - hab*gb) / det
		db := (haa*gb - hab*ga) / det
		step := 1.0
		for ; step > 1e-10; step /= 2 {
			if l := loss(a-step*da, b-step*db); l <= current {
				current = l
				break
			}
		}
		a -= step * da
		b -= step * db
		if math.Abs(step*da) < 1e-12 && math.Abs(step*db) < 1e-12 {
			break
		}
	}
	// Map back from standardised outputs: a·(r-mean)/sd + b.
	a, b = a/sd, b-a*mean/sd
	c := &model.Calibration{Method: model.CalibrationPlatt, A: a, B: b}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("fit platt scaling: the outputs give no increasing map: %w", err)
	}
	return c, nil
}

// FitIsotonic fits isotonic regression (pool adjacent violators) of labels
// on raw outputs and returns its knots: one per pooled block, at the block's
// mean raw output and rate, so that the map interpolates between blocks.
func FitIsotonic(raw []float64, labels []bool) (*model.Calibration, error) {
	if _, err := checkCalibrationData(raw, labels); err != nil {
		return nil, err
	}
	order := make([]int, len(raw))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		switch {
		case raw[a] < raw[b]:
			return -1
		case raw[a] > raw[b]:
			return 1
		}
		return 0
	})
	type block struct{ sumX, sumY, n float64 }
	var blocks []block
	for k := 0; k < len(order); {
		// Equal raw outputs must map to one probability: start them as one
		// block.
		b := block{}
		j := k
		for j < len(order) && raw[order[j]] == raw[order[k]] {
			b.sumX += raw[order[j]]
			if labels[order[j]] {
				b.sumY++
			}
			b.n++
			j++
		}
		k = j
		blocks = append(blocks, b)
		for len(blocks) > 1 {
			last, prev := blocks[len(blocks)-1], blocks[len(blocks)-2]
			if prev.sumY/prev.n <= last.sumY/last.n {
				break
			}
			blocks = blocks[:len(blocks)-2]
			blocks = append(blocks, block{prev.sumX + last.sumX, prev.sumY + last.sumY, prev.n + last.n})
		}
	}
	c := &model.Calibration{Method: model.CalibrationIsotonic}
	for _, b := range blocks {
		c.X = append(c.X, b.sumX/b.n)
		c.Y = append(c.Y, b.sumY/b.n)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("fit isotonic calibration: %w", err)
	}
	return c, nil
}

func checkCalibrationData(raw []float64, labels []bool) (positives int, err error) {
	if len(raw) != len(labels) {
		return 0, leadscore.InvalidField("raw", len(raw), "must have one output per label")
	}
	for i, r := range raw {
		if math.IsNaN(r) || math.IsInf(r, 0) {
			return 0, leadscore.InvalidField(fmt.Sprintf("raw[%d]", i), r, "must be finite")
		}
		if labels[i] {
			positives++
		}
	}
	if positives == 0 || positives == len(labels) {
		return 0, leadscore.InvalidField("labels", positives, "calibration needs rows with both outcomes")
	}
	return positives, nil
}
