package model

import (
	"fmt"
	"math"
	"slices"

	"github.com/leadscore/leadscore"
)

// A linear model adds up one term per feature, so it cannot say that a
// combination matters more than its parts: that calls from one month
// convert best on particular days, say. A pair gives such a combination
// its own columns: each of two features is cut into a few bins (a numeric
// feature at quantiles, a categorical feature by category, a boolean by
// value, and a missing value in a bin of its own), and every cell of the
// grid of bins that enough training rows fall into gets a one-hot design
// column. The model stays a logistic regression over a design vector, its
// weights shrunk by the same L2 penalty, and its explanations stay exact:
// a pair column's centred contribution is shared equally between its two
// features.

// MaxPairBins is the most bins a side of a pair has for present values;
// missing values have one more. 32 bins give a day of the month a bin
// each, and keep a pair's grid at most 33×33 cells; a numeric side's 31
// cuts are searched in five branch-free steps.
const MaxPairBins = 32

// MaxPairs is the most pairs a linear encoding holds.
const MaxPairs = 64

// PairSide says how one feature of a pair is binned.
type PairSide struct {
	// Feature is the feature's index in the row.
	Feature int `json:"feature"`
	// Cuts are a numeric feature's bin edges, strictly ascending: a
	// present value x falls in bin k, the number of cuts below x.
	Cuts []float64 `json:"cuts,omitempty"`
	// Levels give a categorical feature's bin for each of its category
	// indexes, "other" (the last) included.
	Levels []int `json:"levels,omitempty"`
	// Bins is the number of bins of present values: len(Cuts)+1 for a
	// numeric feature, 2 for a boolean one (false, true). A missing value
	// falls in bin Bins.
	Bins int `json:"bins"`
}

// Pair is an interaction of two features of a linear model.
type Pair struct {
	A, B PairSide
	// Cells are the cells that have a design column, in column order and
	// strictly ascending: the cell of bins (a, b) is a×(B.Bins+1) + b.
	// Rows in any other cell get no column of the pair.
	Cells []int `json:"cells"`
}

// Bin returns the bin of a value x of the side's feature, of kind k.
func (s *PairSide) Bin(k Kind, x float64) int {
	switch {
	case math.IsNaN(x):
		return s.Bins
	case k == KindCategorical:
		c := len(s.Levels) - 1
		if x >= 0 && x < float64(c) {
			c = int(x)
		}
		return s.Levels[c]
	case k == KindBoolean:
		if x != 0 {
			return 1
		}
		return 0
	default:
		b, _ := slices.BinarySearch(s.Cuts, x)
		// BinarySearch finds the first cut ≥ x: the number of cuts below x.
		return b
	}
}

// cells is the number of cells of the pair's grid.
func (p *Pair) cells() int { return (p.A.Bins + 1) * (p.B.Bins + 1) }

// Cell returns the cell a row falls in; kinds are the row's feature
// kinds.
func (p *Pair) Cell(kinds []Kind, row []float64) int {
	a := p.A.Bin(kinds[p.A.Feature], row[p.A.Feature])
	b := p.B.Bin(kinds[p.B.Feature], row[p.B.Feature])
	return a*(p.B.Bins+1) + b
}

// FitPairSide learns how feature j of kind k is binned for pairs from its
// training values (row-major rows of width features): a numeric feature
// with at most MaxPairBins distinct values gets a bin for each, one with
// more gets MaxPairBins bins at quantiles of its present values; a
// categorical feature with categories categories (plus "other") gets a
// bin for each of its MaxPairBins-1 most frequent ones and one that the
// rest share, or a bin each when they fit; a boolean one a bin per value.
func FitPairSide(j int, k Kind, categories int, rows []float64, width int) PairSide {
	s := PairSide{Feature: j}
	n := len(rows) / width
	switch k {
	case KindBoolean:
		s.Bins = 2
	case KindCategorical:
		counts := make([]int, categories+1)
		for i := range n {
			x := rows[i*width+j]
			if math.IsNaN(x) {
				continue
			}
			c := categories
			if x >= 0 && x < float64(categories) {
				c = int(x)
			}
			counts[c]++
		}
		s.Levels = make([]int, categories+1)
		if categories+1 <= MaxPairBins {
			for c := range s.Levels {
				s.Levels[c] = c
			}
			s.Bins = categories + 1
			break
		}
		// The most frequent categories, the lower index first on a tie,
		// keep their own bins in index order; the rest share the last.
		order := make([]int, len(counts))
		for c := range order {
			order[c] = c
		}
		slices.SortStableFunc(order, func(a, b int) int { return counts[b] - counts[a] })
		own := make([]bool, len(counts))
		for _, c := range order[:MaxPairBins-1] {
			own[c] = true
		}
		next := 0
		for c := range s.Levels {
			if own[c] {
				s.Levels[c] = next
				next++
			}
		}
		for c := range s.Levels {
			if !own[c] {
				s.Levels[c] = next
			}
		}
		s.Bins = next + 1
	default:
		present := make([]float64, 0, n)
		for i := range n {
			if x := rows[i*width+j]; !math.IsNaN(x) {
				present = append(present, x)
			}
		}
		slices.Sort(present)
		distinct := slices.Compact(slices.Clone(present))
		if len(distinct) <= MaxPairBins {
			// A cut midway between neighbouring values; the midpoint of
			// two adjacent floats can round onto the lower one, which
			// still separates them (x > cut).
			for i := 1; i < len(distinct); i++ {
				s.Cuts = append(s.Cuts, distinct[i-1]+(distinct[i]-distinct[i-1])/2)
			}
		} else {
			for q := 1; q < MaxPairBins; q++ {
				// The cut sits midway below the quantile's value, so that
				// value and every copy of it fall in the bin above.
				hi := present[q*len(present)/MaxPairBins]
				k, _ := slices.BinarySearch(present, hi)
				if k == 0 {
					continue
				}
				lo := present[k-1]
				c := lo + (hi-lo)/2
				if len(s.Cuts) > 0 && c <= s.Cuts[len(s.Cuts)-1] {
					continue
				}
				s.Cuts = append(s.Cuts, c)
			}
		}
		s.Bins = len(s.Cuts) + 1
	}
	return s
}

// WithPairs returns a copy of e with the given pairs' columns after every
// feature's columns; the pairs replace any e had.
func (e *LinearEncoding) WithPairs(pairs []Pair) *LinearEncoding {
	c := *e
	c.Pairs = pairs
	c.Width = e.pairOffset()
	for _, p := range pairs {
		c.Width += len(p.Cells)
	}
	return &c
}

// FirstPairColumn is the first design column of the pairs, the column
// after every feature's: the pairs' columns are those from it to Width.
func (e *LinearEncoding) FirstPairColumn() int { return e.pairOffset() }

// pairOffset is the first design column of the pairs: the column after
// every feature's.
func (e *LinearEncoding) pairOffset() int {
	last := len(e.Kinds) - 1
	if last < 0 {
		return 0
	}
	return e.Offsets[last] + e.columns(last)
}

// encodePairs sets the pairs' one-hot columns of a row in out, whose pair
// columns must be zero.
func (e *LinearEncoding) encodePairs(row, out []float64) {
	off := e.pairOffset()
	for i := range e.Pairs {
		p := &e.Pairs[i]
		if k, ok := slices.BinarySearch(p.Cells, p.Cell(e.Kinds, row)); ok {
			out[off+k] = 1
		}
		off += len(p.Cells)
	}
}

// validatePairs checks the pairs of an encoding of width features.
func (e *LinearEncoding) validatePairs(width int) error {
	if len(e.Pairs) > MaxPairs {
		return leadscore.InvalidField("logistic.encoding.pairs", len(e.Pairs), fmt.Sprintf("must hold at most %d pairs", MaxPairs))
	}
	for i := range e.Pairs {
		p := &e.Pairs[i]
		field := fmt.Sprintf("logistic.encoding.pairs[%d]", i)
		if err := e.validatePairSide(field+".a", &p.A, width); err != nil {
			return err
		}
		if err := e.validatePairSide(field+".b", &p.B, width); err != nil {
			return err
		}
		if p.A.Feature >= p.B.Feature {
			return leadscore.InvalidField(field+".b.feature", p.B.Feature, fmt.Sprintf("must be above the first feature %d", p.A.Feature))
		}
		if i > 0 {
			q := &e.Pairs[i-1]
			if q.A.Feature > p.A.Feature || (q.A.Feature == p.A.Feature && q.B.Feature >= p.B.Feature) {
				return leadscore.InvalidField(field, fmt.Sprintf("%d×%d", p.A.Feature, p.B.Feature),
					fmt.Sprintf("must come after pair %d×%d: pairs are distinct and ordered by their features", q.A.Feature, q.B.Feature))
			}
		}
		if len(p.Cells) == 0 {
			return leadscore.InvalidField(field+".cells", 0, "must name at least one cell")
		}
		for k, c := range p.Cells {
			switch {
			case c < 0 || c >= p.cells():
				return leadscore.InvalidField(fmt.Sprintf("%s.cells[%d]", field, k), c, fmt.Sprintf("must be from 0 to %d, the pair's %d×%d grid", p.cells()-1, p.A.Bins+1, p.B.Bins+1))
			case k > 0 && c <= p.Cells[k-1]:
				return leadscore.InvalidField(fmt.Sprintf("%s.cells[%d]", field, k), c, fmt.Sprintf("must be above the previous cell %d: cells strictly ascend", p.Cells[k-1]))
			}
		}
	}
	return nil
}

func (e *LinearEncoding) validatePairSide(field string, s *PairSide, width int) error {
	if s.Feature < 0 || s.Feature >= width {
		return leadscore.InvalidField(field+".feature", s.Feature, fmt.Sprintf("must be a feature index from 0 to %d", width-1))
	}
	switch e.Kinds[s.Feature] {
	case KindCategorical:
		if len(s.Cuts) > 0 {
			return leadscore.InvalidField(field+".cuts", len(s.Cuts), fmt.Sprintf("must be empty: feature %d is categorical", s.Feature))
		}
		if want := e.Categories[s.Feature] + 1; len(s.Levels) != want {
			return leadscore.InvalidField(field+".levels", len(s.Levels), fmt.Sprintf("must give a bin to each of feature %d's %d categories and \"other\"", s.Feature, want))
		}
		if s.Bins < 1 || s.Bins > MaxPairBins {
			return leadscore.InvalidField(field+".bins", s.Bins, fmt.Sprintf("must be from 1 to %d", MaxPairBins))
		}
		for c, b := range s.Levels {
			if b < 0 || b >= s.Bins {
				return leadscore.InvalidField(fmt.Sprintf("%s.levels[%d]", field, c), b, fmt.Sprintf("must be a bin from 0 to %d", s.Bins-1))
			}
		}
	case KindBoolean:
		if len(s.Cuts) > 0 || len(s.Levels) > 0 {
			return leadscore.InvalidField(field, s.Feature, "must have neither cuts nor levels: the feature is boolean")
		}
		if s.Bins != 2 {
			return leadscore.InvalidField(field+".bins", s.Bins, "must be 2 for a boolean feature")
		}
	default:
		if len(s.Levels) > 0 {
			return leadscore.InvalidField(field+".levels", len(s.Levels), fmt.Sprintf("must be empty: feature %d is numeric", s.Feature))
		}
		if len(s.Cuts) > MaxPairBins-1 {
			return leadscore.InvalidField(field+".cuts", len(s.Cuts), fmt.Sprintf("must hold at most %d cuts", MaxPairBins-1))
		}
		for k, c := range s.Cuts {
			switch {
			case !finite(c):
				return leadscore.InvalidField(fmt.Sprintf("%s.cuts[%d]", field, k), c, "must be finite")
			case k > 0 && !(c > s.Cuts[k-1]):
				return leadscore.InvalidField(fmt.Sprintf("%s.cuts[%d]", field, k), c, fmt.Sprintf("must be above the previous cut %v: cuts strictly ascend", s.Cuts[k-1]))
			}
		}
		if s.Bins != len(s.Cuts)+1 {
			return leadscore.InvalidField(field+".bins", s.Bins, fmt.Sprintf("must be %d, one more than the cuts", len(s.Cuts)+1))
		}
	}
	return nil
}

// compiledPair is a pair folded for scoring: each side's binning and a
// dense table of the weight of every cell (zero for cells without a
// column).
type compiledPair struct {
	a, b   pairBinner
	stride int32
	table  []float64
}

// pairBinner bins one side of a pair without branching on the value's
// bin.
type pairBinner struct {
	feature int32
	kind    uint8 // 0 numeric, 1 boolean, 2 categorical
	missing int32
	cuts    pairCuts
	levels  []int32
}

func compilePairSide(k Kind, s *PairSide) pairBinner {
	b := pairBinner{feature: int32(s.Feature), missing: int32(s.Bins)}
	switch k {
	case KindCategorical:
		b.kind = 2
		b.levels = make([]int32, len(s.Levels))
		for c, l := range s.Levels {
			b.levels[c] = int32(l)
		}
	case KindBoolean:
		b.kind = 1
	default:
		b.cuts = newPairCuts(s.Cuts)
	}
	return b
}

// bin returns the bin of a row's value, as PairSide.Bin does.
func (b *pairBinner) bin(row []float64) int32 {
	x := row[b.feature]
	if x != x {
		return b.missing
	}
	switch b.kind {
	case 0:
		return int32(b.cuts.below(x))
	case 1:
		return int32(b2i(x != 0))
	default:
		c := len(b.levels) - 1
		if x >= 0 && x < float64(c) {
			c = int(x)
		}
		return b.levels[c]
	}
}

// compilePairs folds the pairs of l into dense weight tables.
func (l *Linear) compilePairs() []compiledPair {
	e := l.Encoding
	out := make([]compiledPair, len(e.Pairs))
	off := e.pairOffset()
	for i := range e.Pairs {
		p := &e.Pairs[i]
		cp := compiledPair{
			a:      compilePairSide(e.Kinds[p.A.Feature], &p.A),
			b:      compilePairSide(e.Kinds[p.B.Feature], &p.B),
			stride: int32(p.B.Bins + 1),
			table:  make([]float64, p.cells()),
		}
		for k, c := range p.Cells {
			cp.table[c] = l.Weights[off+k]
		}
		off += len(p.Cells)
		out[i] = cp
	}
	return out
}

// raw is the pair's term of a row's raw output.
func (c *compiledPair) raw(row []float64) float64 {
	return c.table[c.a.bin(row)*c.stride+c.b.bin(row)]
}

// cutTable is up to MaxKnots ascending cut points padded with +Inf, searched
// in four branch-free steps: with values spread over the segments, a
// search's branches mispredict and cost several times as much.
type cutTable [MaxKnots]float64

// cutTable.below's four steps are written for exactly 15 cuts; this stops
// the build if MaxKnots changes without them.
const _ = uint(MaxKnots-15) + uint(15-MaxKnots)

func newCutTable(cuts []float64) cutTable {
	var t cutTable
	padCuts(t[:], cuts)
	return t
}

// padCuts copies cuts into t and fills the rest of t with +Inf, which no
// value is above.
func padCuts(t, cuts []float64) {
	n := copy(t, cuts)
	for i := n; i < len(t); i++ {
		t[i] = math.Inf(1)
	}
}

// below returns the number of cuts below x (x > cut), for a present x.
func (t *cutTable) below(x float64) int {
	s := b2i(x > t[7]) << 3
	s += b2i(x > t[s+3]) << 2
	s += b2i(x > t[s+1]) << 1
	return s + b2i(x > t[s])
}

// pairCuts is up to MaxPairBins-1 ascending cut points padded with +Inf,
// searched in five branch-free steps, as cutTable is.
type pairCuts [MaxPairBins - 1]float64

// pairCuts.below's five steps are written for exactly 31 cuts; this stops
// the build if MaxPairBins changes without them.
const _ = uint(MaxPairBins-32) + uint(32-MaxPairBins)

func newPairCuts(cuts []float64) pairCuts {
	var t pairCuts
	padCuts(t[:], cuts)
	return t
}

// below returns the number of cuts below x (x > cut), for a present x.
func (t *pairCuts) below(x float64) int {
	s := b2i(x > t[15]) << 4
	s += b2i(x > t[s+7]) << 3
	s += b2i(x > t[s+3]) << 2
	s += b2i(x > t[s+1]) << 1
	return s + b2i(x > t[s])
}
