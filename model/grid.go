package model

import (
	"fmt"
	"math"
	"slices"
	"sort"

	"github.com/leadscore/leadscore"
)

// GridBasis says how a lead's raw output minus the model's base value is
// split between the fit and the engagement features to place it on the
// grid. The cut points are learned from sums of one basis and mean nothing
// for another, so a grid records its own.
type GridBasis string

// The grid bases.
const (
	// GridBasisContributions sums the features' exact contributions
	// (TreeSHAP for a GBDT) per group. It is the zero value: every grid
	// made before bases existed has it.
	GridBasisContributions GridBasis = ""
	// GridBasisTreePath splits a GBDT's output along the row's decision
	// path in each tree: the edge from a split to the child the row takes
	// moves the tree's expected output (the cover-weighted mean of the
	// leaves below) by E(child) − E(split), credited to the group of the
	// split's feature. The two sums add up to raw − base exactly as the
	// contributions do, and cost one add per tree during prediction where
	// TreeSHAP costs about a millisecond a row, so every score gets its
	// cell at prediction speed. Only a GBDT has it.
	GridBasisTreePath GridBasis = "tree_path"
)

// Grid places scored leads on the fit × engagement grid and in tiers. Its
// cut points are learned from the training population, so that grade A
// means "the best quarter of the leads this model learned from" (by
// default) rather than a number somebody guessed.
type Grid struct {
	// Basis says what the fit and engagement sums the cuts separate are.
	Basis GridBasis `json:"basis,omitempty"`
	// FitCuts separate the grades by a lead's fit sum (as Basis defines
	// it), descending: A at or above FitCuts[0], B at or above
	// FitCuts[1], C at or above FitCuts[2], D below.
	FitCuts [3]float64 `json:"fit_cuts"`
	// EngagementCuts separate the levels 1 to 4 the same way by the
	// engagement sum.
	EngagementCuts [3]float64 `json:"engagement_cuts"`
	// TierCuts separate the tiers by calibrated probability, descending.
	TierCuts [3]float64 `json:"tier_cuts"`
	// Percentiles are the 0th to 100th percentiles of the raw output over
	// the training population, for a lead's percentile.
	Percentiles []float64 `json:"percentiles"`
	// Actions are the next actions of the 16 cells in the order A1, A2, A3,
	// A4, B1, … D4.
	Actions [16]string `json:"actions"`
}

// GridOptions control how the grid is learned.
type GridOptions struct {
	// Shares are the population shares above each cut, ascending: the
	// default {0.25, 0.5, 0.75} makes every grade, level and tier a
	// quarter of the training population.
	Shares [3]float64
	// Policy maps cells to next actions; nil means the default policy.
	Policy leadscore.GridPolicy
}

// FitGrid learns the cut points from the training population's fit and
// engagement sums, calibrated probabilities and raw outputs. The grid has
// the contributions basis; a caller whose sums are of another basis sets
// Basis to it.
func FitGrid(fitSums, engagementSums, probabilities, raws []float64, opts GridOptions) (*Grid, error) {
	n := len(raws)
	if n == 0 || len(fitSums) != n || len(engagementSums) != n || len(probabilities) != n {
		return nil, leadscore.InvalidField("population", n, "needs the same number (at least one) of fit sums, engagement sums, probabilities and raw outputs")
	}
	shares := opts.Shares
	if shares == ([3]float64{}) {
		shares = [3]float64{0.25, 0.5, 0.75}
	}
	for i, s := range shares {
		if !(s > 0 && s < 1) || (i > 0 && s <= shares[i-1]) {
			return nil, leadscore.InvalidField(fmt.Sprintf("shares[%d]", i), s, "shares must be ascending fractions between 0 and 1")
		}
	}
	policy := opts.Policy
	if policy == nil {
		policy = leadscore.DefaultGridPolicy()
	}
	if err := policy.Validate("policy"); err != nil {
		return nil, err
	}
	g := &Grid{}
	var err error
	if g.FitCuts, err = cuts(fitSums, shares); err != nil {
		return nil, fmt.Errorf("fit grid: fit sums: %w", err)
	}
	if g.EngagementCuts, err = cuts(engagementSums, shares); err != nil {
		return nil, fmt.Errorf("fit grid: engagement sums: %w", err)
	}
	if g.TierCuts, err = cuts(probabilities, shares); err != nil {
		return nil, fmt.Errorf("fit grid: probabilities: %w", err)
	}
	sorted := slices.Clone(raws)
	slices.Sort(sorted)
	for k := 0; k <= 100; k++ {
		g.Percentiles = append(g.Percentiles, quantile(sorted, float64(k)/100))
	}
	for i := range g.Actions {
		g.Actions[i] = policy[cellAt(i)]
	}
	return g, nil
}

// cuts returns the values above which the given shares of xs lie,
// descending.
func cuts(xs []float64, shares [3]float64) ([3]float64, error) {
	sorted := slices.Clone(xs)
	for _, x := range sorted {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return [3]float64{}, leadscore.InvalidField("value", x, "must be finite")
		}
	}
	slices.Sort(sorted)
	var out [3]float64
	for i, s := range shares {
		out[i] = quantile(sorted, 1-s)
	}
	return out, nil
}

// quantile interpolates the q-quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	pos := q * float64(len(sorted)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(sorted)-1)
	return sorted[lo] + (sorted[hi]-sorted[lo])*(pos-float64(lo))
}

func cellAt(i int) leadscore.Cell {
	return leadscore.Cell{Grade: leadscore.GradeA + leadscore.Grade(i/4), Level: leadscore.Level(i%4 + 1)}
}

// Validate checks a grid completely, so a corrupt artifact is refused at
// load time.
func (g *Grid) Validate() error {
	switch g.Basis {
	case GridBasisContributions, GridBasisTreePath:
	default:
		return leadscore.InvalidField("grid.basis", g.Basis, `must be "" (the contributions) or "tree_path"`)
	}
	for name, c := range map[string][3]float64{"fit_cuts": g.FitCuts, "engagement_cuts": g.EngagementCuts, "tier_cuts": g.TierCuts} {
		for i, x := range c {
			if !finite(x) || (i > 0 && x > c[i-1]) {
				return leadscore.InvalidField("grid."+name, fmt.Sprint(c), "cut points must be finite and descending")
			}
		}
	}
	if len(g.Percentiles) != 101 {
		return leadscore.InvalidField("grid.percentiles", len(g.Percentiles), "must hold 101 values")
	}
	for i, x := range g.Percentiles {
		if !finite(x) || (i > 0 && x < g.Percentiles[i-1]) {
			return leadscore.InvalidField(fmt.Sprintf("grid.percentiles[%d]", i), x, "must be finite and ascending")
		}
	}
	for i, a := range g.Actions {
		if err := leadscore.ValidateKey("grid.actions."+cellAt(i).String(), a); err != nil {
			return err
		}
	}
	return nil
}

// band returns 1 to 4: 1 at or above cuts[0], 4 below cuts[2].
func band(x float64, cuts [3]float64) int {
	for i, c := range cuts {
		if x >= c {
			return i + 1
		}
	}
	return 4
}

// Cell places a lead by its fit and engagement sums of the grid's basis.
func (g *Grid) Cell(fitSum, engagementSum float64) leadscore.Cell {
	return leadscore.Cell{
		Grade: leadscore.GradeA + leadscore.Grade(band(fitSum, g.FitCuts)-1),
		Level: leadscore.Level(band(engagementSum, g.EngagementCuts)),
	}
}

// Action returns the next action of a cell.
func (g *Grid) Action(c leadscore.Cell) string {
	if !c.Valid() {
		return ""
	}
	return g.Actions[int(c.Grade-leadscore.GradeA)*4+int(c.Level-1)]
}

// Tier places a calibrated probability in a tier.
func (g *Grid) Tier(p float64) leadscore.Tier {
	return leadscore.TierVeryGood + leadscore.Tier(band(p, g.TierCuts)-1)
}

// Percentile returns the share, 0 to 100, of the training population whose
// raw output was at or below raw, interpolated between percentiles.
func (g *Grid) Percentile(raw float64) float64 {
	p := g.Percentiles
	if raw <= p[0] {
		return 0
	}
	if raw >= p[100] {
		return 100
	}
	k := sort.SearchFloat64s(p, raw) // p[k-1] < raw <= p[k]
	if p[k] == p[k-1] {
		return float64(k)
	}
	return float64(k-1) + (raw-p[k-1])/(p[k]-p[k-1])
}
