package trainer

// How a tuning grid widens: a best value on the edge of its grid says only
// that the optimum may lie beyond it (the logistic C landed on 0.01 on a
// generated history and on 10 on bank marketing). So after the grid has
// been tried, while the chosen candidate's value of a widening parameter
// is the lowest or the highest that parameter has been tried at (its grid
// of two or more values, plus any value already added), one value beyond
// it is tried with the chosen candidate's other parameters (a coordinate
// step, not a new product of grids), at most maxWidenings times per
// parameter. A value beyond wins only by beating the best fold ROC AUC so
// far (a tie stays with the value inside the grid), and once a value
// beyond loses, the chosen one is inside the tried values and the widening
// stops. Every value tried beyond is a candidate in the report, and
// Widened says why it was tried.
//
// The step continues the grid's spacing: a scale parameter (C, min child
// weight) steps by the ratio of its two outermost values, rounded to one
// significant digit (10 after 3 gives 30, then 90; 0.01 after 0.03 gives
// 0.003); the depth steps by the difference (6 after 4 gives 8, 2 after 3
// gives 1). A value outside the parameter's bounds is not tried. The gbdt's
// default cap on the trees (MaxTrees unset) is widened the same way, by
// doubling, when the chosen candidate kept every tree the cap allowed:
// its early stopping never stopped. The
// knots and pairs are not widened: each is a choice between off (0) and
// on, not a point on a scale. A single-valued grid (a value given on the
// command line) is never widened.

import (
	"fmt"
	"slices"
	"strconv"
)

// maxWidenings is the most values a parameter is tried at beyond its grid.
const maxWidenings = 3

// Bounds of the widened grids, where a step more would change nothing
// measurable: a C of 1e-4 leaves little but the intercept, and 1e4 is
// close to no penalty on any table of the sizes trained here; a min child
// weight is a sum of hessians p(1 − p), so below 0.1 it no longer stops a
// leaf of one row at the base rates of lead data (10% gives 0.09), and
// 1e4 forbids most splits.
const (
	minTuneC              = 1e-4
	maxTuneC              = 1e4
	minTuneMinChildWeight = 0.1
	maxTuneMinChildWeight = 1e4
	// maxTuneTrees bounds a widened cap on the trees, as TuneOptions.check
	// bounds a given one.
	maxTuneTrees = 100_000
)

// gridAxis is one parameter a tuning may widen.
type gridAxis struct {
	name string
	// values are those tried so far.
	values []float64
	// at is a candidate's value of the parameter.
	at func(TuneCandidate) float64
	// linear steps by differences rather than ratios.
	linear bool
	lo, hi float64
	// widened counts the values tried beyond the grid.
	widened int
}

// widen tries values beyond the axes' grids while the chosen candidate's
// value is on an edge, as the file comment says; try fits and adds one
// candidate with the axis set to the value and the other parameters the
// chosen candidate's.
func (r *TuningReport) widen(axes []*gridAxis, try func(axis string, v float64) error) error {
	for {
		stepped := false
		for _, a := range axes {
			if a.widened == maxWidenings {
				continue
			}
			v := a.at(r.Candidates[r.Chosen])
			next, ok := a.beyond(v)
			if !ok {
				continue
			}
			side := "highest"
			if next < v {
				side = "lowest"
			}
			r.Widened = append(r.Widened, fmt.Sprintf("%s %g was the %s value tried: tried %g", a.name, v, side, next))
			if err := try(a.name, next); err != nil {
				return err
			}
			a.values = append(a.values, next)
			a.widened++
			stepped = true
		}
		if !stepped {
			break
		}
	}
	for _, a := range axes {
		v := a.at(r.Candidates[r.Chosen])
		if _, ok := a.beyond(v); ok && a.widened == maxWidenings {
			r.Widened = append(r.Widened, fmt.Sprintf("%s %g is still on the edge after %d values beyond the grid; widening stops there", a.name, v, maxWidenings))
		}
	}
	return nil
}

// beyond returns the next value outward from v when v is the lowest or the
// highest of two or more values tried, and it lies within the bounds.
func (a *gridAxis) beyond(v float64) (float64, bool) {
	vals := slices.Clone(a.values)
	slices.Sort(vals)
	vals = slices.Compact(vals)
	if len(vals) < 2 {
		return 0, false
	}
	var inner float64
	switch v {
	case vals[0]:
		inner = vals[1]
	case vals[len(vals)-1]:
		inner = vals[len(vals)-2]
	default:
		return 0, false
	}
	var next float64
	if a.linear {
		next = v + (v - inner)
	} else {
		next = oneDigit(v * v / inner)
	}
	if next == v || next < a.lo || next > a.hi || slices.Contains(vals, next) {
		return 0, false
	}
	return next, true
}

// oneDigit rounds a positive number to one significant digit. Going
// through the decimal text gives the decimal's nearest float (0.003, not
// 0.0030000000000000005), so the value reads back as it prints.
func oneDigit(x float64) float64 {
	out, err := strconv.ParseFloat(strconv.FormatFloat(x, 'e', 0, 64), 64)
	if err != nil {
		panic(fmt.Sprintf("trainer: %g formatted does not parse: %v", x, err))
	}
	return out
}

func intsToFloats(v []int) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(x)
	}
	return out
}
