package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/leadscore/leadscore"
)

func TestFitPairSideBinsEachKind(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	t.Run("a numeric with few values gets a bin for each", func(t *testing.T) {
		t.Parallel()
		rows := []float64{3, 1, 1, nan, 7, 3, 1}
		s := FitPairSide(0, KindNumeric, 0, rows, 1)
		if got, want := fmt.Sprint(s.Cuts), "[2 5]"; got != want || s.Bins != 3 {
			t.Fatalf("cuts %s and %d bins, want %s and 3", got, s.Bins, want)
		}
		for _, tc := range []struct {
			x    float64
			want int
		}{{1, 0}, {2, 0}, {2.5, 1}, {3, 1}, {5, 1}, {7, 2}, {-1e9, 0}, {1e9, 2}, {nan, 3}} {
			if got := s.Bin(KindNumeric, tc.x); got != tc.want {
				t.Errorf("Bin(%v) = %d, want %d", tc.x, got, tc.want)
			}
		}
	})
	t.Run("a numeric with many values gets quantile bins that keep ties together", func(t *testing.T) {
		t.Parallel()
		var rows []float64
		for i := range 1000 {
			rows = append(rows, float64(i%100)) // 100 values, ten rows each
		}
		rows = append(rows, slices.Repeat([]float64{0}, 2000)...) // and zero for two thirds of the rows
		s := FitPairSide(0, KindNumeric, 0, rows, 1)
		if len(s.Cuts) < 5 || len(s.Cuts) > MaxPairBins-1 || s.Bins != len(s.Cuts)+1 {
			t.Fatalf("%d cuts, %d bins: want the spread values cut several times", len(s.Cuts), s.Bins)
		}
		for k := 1; k < len(s.Cuts); k++ {
			if !(s.Cuts[k] > s.Cuts[k-1]) {
				t.Fatalf("cuts %v do not strictly ascend", s.Cuts)
			}
		}
		// The heavy value 0 takes the first bin's quantiles (no cut
		// falls inside a value's copies), the largest value the last
		// bin, and the bins above the first share the other rows about
		// equally.
		if s.Bin(KindNumeric, 0) != 0 || s.Bin(KindNumeric, 99) != s.Bins-1 {
			t.Errorf("0 and 99 fall in bins %d and %d, want 0 and %d", s.Bin(KindNumeric, 0), s.Bin(KindNumeric, 99), s.Bins-1)
		}
		counts := make([]int, s.Bins)
		for _, x := range rows[:1000] {
			counts[s.Bin(KindNumeric, x)]++
		}
		for b, c := range counts[1:] {
			if fair := 990 / (s.Bins - 1); c < fair/3 || c > 3*fair {
				t.Errorf("bin %d holds %d of the 990 spread rows, far from %d: %v", b+1, c, fair, counts)
			}
		}
	})
	t.Run("a categorical keeps its most frequent categories apart", func(t *testing.T) {
		t.Parallel()
		const cats = 40
		var rows []float64
		for c := range cats {
			// Category c appears c+1 times; the nine rarest share a bin.
			for range c + 1 {
				rows = append(rows, float64(c))
			}
		}
		rows = append(rows, nan)
		s := FitPairSide(0, KindCategorical, cats, rows, 1)
		if s.Bins != MaxPairBins || len(s.Levels) != cats+1 {
			t.Fatalf("%d bins, %d levels", s.Bins, len(s.Levels))
		}
		shared := s.Levels[0]
		for c := range cats + 1 {
			// "other" (index cats) never appeared, so it shares too.
			own := c >= cats-(MaxPairBins-1) && c < cats
			if own == (s.Levels[c] == shared) {
				t.Errorf("category %d in bin %d (shared bin %d), want own=%v", c, s.Levels[c], shared, own)
			}
		}
		if got := s.Bin(KindCategorical, 1e9); got != shared {
			t.Errorf("an unknown category is in bin %d, want the shared bin %d (other)", got, shared)
		}
		if got := s.Bin(KindCategorical, nan); got != s.Bins {
			t.Errorf("a missing category is in bin %d, want %d", got, s.Bins)
		}
		few := FitPairSide(0, KindCategorical, 3, []float64{0, 1, 2}, 1)
		if got := fmt.Sprint(few.Levels); got != "[0 1 2 3]" || few.Bins != 4 {
			t.Errorf("three categories: levels %s with %d bins, want [0 1 2 3] with 4", got, few.Bins)
		}
	})
	t.Run("a boolean has two bins", func(t *testing.T) {
		t.Parallel()
		s := FitPairSide(0, KindBoolean, 0, []float64{0, 1, nan}, 1)
		if s.Bins != 2 || s.Bin(KindBoolean, 0) != 0 || s.Bin(KindBoolean, 1) != 1 || s.Bin(KindBoolean, nan) != 2 {
			t.Errorf("boolean side %+v bins 0, 1, NaN as %d %d %d", s, s.Bin(KindBoolean, 0), s.Bin(KindBoolean, 1), s.Bin(KindBoolean, nan))
		}
	})
}

// pairedLinear is hingedLinear with a pair between every two features, each
// pair keeping a random half of its cells, with random weights.
func pairedLinear(t testing.TB, rng *rand.Rand, features []Feature, n int) (*Linear, []float64) {
	t.Helper()
	l, rows := hingedLinear(t, rng, features, n)
	w := len(features)
	var pairs []Pair
	for a := range w {
		for b := a + 1; b < w; b++ {
			p := Pair{
				A: FitPairSide(a, features[a].Kind, len(features[a].Categories), rows, w),
				B: FitPairSide(b, features[b].Kind, len(features[b].Categories), rows, w),
			}
			for c := range p.cells() {
				if rng.IntN(2) == 0 {
					p.Cells = append(p.Cells, c)
				}
			}
			pairs = append(pairs, p)
		}
	}
	e := l.Encoding.WithPairs(pairs)
	l = &Linear{Encoding: e, Intercept: l.Intercept, Weights: append(l.Weights, make([]float64, e.Width-len(l.Weights))...)}
	for i := len(l.Weights) - (e.Width - l.Encoding.pairOffset()); i < len(l.Weights); i++ {
		l.Weights[i] = rng.NormFloat64()
	}
	setMeans(t, l, rows, w)
	return l, rows
}

// TestPairedContributionsAddUpToTheRawOutput: with pairs, the compiled raw
// output still equals the design vector's dot product, the base value plus
// the contributions add up to it within 1e-9, and each pair's part goes to
// its two features only.
func TestPairedContributionsAddUpToTheRawOutput(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	l, _ := pairedLinear(t, rng, linearTestFeatures, 3000)
	if len(l.Encoding.Pairs) != 10 {
		t.Fatalf("%d pairs, want all 10 of 5 features", len(l.Encoding.Pairs))
	}
	additive := &Linear{Encoding: l.Encoding.WithPairs(nil), Intercept: l.Intercept}
	additive.Weights = l.Weights[:additive.Encoding.Width]
	additive.Means = l.Means[:additive.Encoding.Width]
	c := l.Compile()
	w := len(linearTestFeatures)
	rows := randomLinearRows(rng, linearTestFeatures, 5000)
	// Values on and beside the pairs' cuts, and beyond the training range.
	for _, p := range l.Encoding.Pairs {
		for _, cut := range p.A.Cuts {
			for _, x := range []float64{cut, math.Nextafter(cut, math.Inf(-1)), math.Nextafter(cut, math.Inf(1)), -1e6, 1e6} {
				row := []float64{x, 7, x, 1, x}
				rows = append(rows, row...)
			}
		}
	}
	design := make([]float64, l.Encoding.Width)
	contrs := make([]float64, w)
	own := make([]float64, w)
	for i := 0; i < len(rows)/w; i++ {
		row := rows[i*w : (i+1)*w]
		tol := checkExplained(t, l, c, row, design, contrs)
		// The additive part of each contribution is the additive model's.
		additive.contributions(row, make([]float64, additive.Encoding.Width), own)
		var pairsPart float64
		for j := range w {
			pairsPart += contrs[j] - own[j]
		}
		want := 0.0
		col := l.Encoding.pairOffset()
		for k := col; k < l.Encoding.Width; k++ {
			want += l.Weights[k] * (design[k] - l.Means[k])
		}
		if math.Abs(pairsPart-want) > tol {
			t.Fatalf("row %v: the pairs add %v to the contributions, their columns %v", row, pairsPart, want)
		}
	}
}

func TestPairedScoringAllocatesNothing(t *testing.T) {
	l, rows := pairedLinear(t, rand.New(rand.NewPCG(5, 6)), linearTestFeatures, 500)
	c := l.Compile()
	design := make([]float64, l.Encoding.Width)
	contrs := make([]float64, len(linearTestFeatures))
	row := rows[:len(linearTestFeatures)]
	var sink float64
	allocs := testing.AllocsPerRun(100, func() {
		sink += c.Raw(row)
		sink += l.contributions(row, design, contrs)
	})
	if allocs != 0 {
		t.Errorf("scoring with pairs allocates %v times a row, want 0", allocs)
	}
}

func TestPairedValidateRefusesBadPairs(t *testing.T) {
	t.Parallel()
	// linearTestFeatures: 0 age (numeric), 1 plan (categorical, 3
	// categories), 2 views, 3 partner (boolean), 4 balance. The pairs are
	// 0×1, 0×2, 0×3, 0×4, 1×2, 1×3, …, 3×4.
	for _, tc := range []struct {
		name  string
		edit  func(e *LinearEncoding)
		field string
	}{
		{"a feature out of range", func(e *LinearEncoding) { e.Pairs[3].B.Feature = 5 }, "logistic.encoding.pairs[3].b.feature"},
		{"a negative feature", func(e *LinearEncoding) { e.Pairs[0].A.Feature = -1 }, "logistic.encoding.pairs[0].a.feature"},
		{"a feature with itself", func(e *LinearEncoding) { e.Pairs[1].B = e.Pairs[1].A }, "logistic.encoding.pairs[1].b.feature"},
		{"pairs out of order", func(e *LinearEncoding) { e.Pairs[0], e.Pairs[1] = e.Pairs[1], e.Pairs[0] }, "logistic.encoding.pairs[1]"},
		{"a pair twice", func(e *LinearEncoding) { e.Pairs[1] = e.Pairs[0] }, "logistic.encoding.pairs[1]"},
		{"no cells", func(e *LinearEncoding) { e.Pairs[2].Cells = nil }, "logistic.encoding.pairs[2].cells"},
		{"cells out of order", func(e *LinearEncoding) {
			c := e.Pairs[2].Cells
			c[0], c[1] = c[1], c[0]
		}, "logistic.encoding.pairs[2].cells[1]"},
		{"a cell beyond the grid", func(e *LinearEncoding) { e.Pairs[4].Cells[0] = e.Pairs[4].cells() }, "logistic.encoding.pairs[4].cells[0]"},
		{"a negative cell", func(e *LinearEncoding) { e.Pairs[5].Cells[0] = -1 }, "logistic.encoding.pairs[5].cells[0]"},
		{"a level too few", func(e *LinearEncoding) { e.Pairs[4].A.Levels = e.Pairs[4].A.Levels[:3] }, "logistic.encoding.pairs[4].a.levels"},
		{"a level beyond the bins", func(e *LinearEncoding) { e.Pairs[4].A.Levels[2] = e.Pairs[4].A.Bins }, "logistic.encoding.pairs[4].a.levels[2]"},
		{"too many categorical bins", func(e *LinearEncoding) { e.Pairs[4].A.Bins = MaxPairBins + 1 }, "logistic.encoding.pairs[4].a.bins"},
		{"cuts on a categorical", func(e *LinearEncoding) { e.Pairs[4].A.Cuts = []float64{1} }, "logistic.encoding.pairs[4].a.cuts"},
		{"levels on a numeric", func(e *LinearEncoding) { e.Pairs[1].B.Levels = []int{0} }, "logistic.encoding.pairs[1].b.levels"},
		{"descending cuts", func(e *LinearEncoding) {
			c := e.Pairs[1].B.Cuts
			c[0], c[1] = c[1], c[0]
		}, "logistic.encoding.pairs[1].b.cuts[1]"},
		{"a NaN cut", func(e *LinearEncoding) { e.Pairs[1].A.Cuts[0] = math.NaN() }, "logistic.encoding.pairs[1].a.cuts[0]"},
		{"numeric bins that miscount the cuts", func(e *LinearEncoding) { e.Pairs[1].A.Bins++ }, "logistic.encoding.pairs[1].a.bins"},
		{"a boolean with three bins", func(e *LinearEncoding) { e.Pairs[2].B.Bins = 3 }, "logistic.encoding.pairs[2].b.bins"},
		{"cuts on a boolean", func(e *LinearEncoding) { e.Pairs[2].B.Cuts = []float64{0.5} }, "logistic.encoding.pairs[2].b"},
		{"a cell the weights lack", func(e *LinearEncoding) {
			p := &e.Pairs[9]
			for c := range p.cells() {
				if !slices.Contains(p.Cells, c) {
					p.Cells = append(p.Cells, c)
					slices.Sort(p.Cells)
					return
				}
			}
		}, "logistic.weights"},
		{"too many pairs", func(e *LinearEncoding) {
			for len(e.Pairs) <= MaxPairs {
				e.Pairs = append(e.Pairs, e.Pairs...)
			}
		}, "logistic.encoding.pairs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, _ := pairedLinear(t, rand.New(rand.NewPCG(1, 2)), linearTestFeatures, 500)
			tc.edit(l.Encoding)
			field := tc.field
			err := l.Validate(len(linearTestFeatures))
			var e *leadscore.Error
			if !errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != field {
				t.Errorf("Validate: got %v, want an error naming %s", err, field)
			}
		})
	}
}

// TestPairCutsAgreeWithTheirSearch checks the compiled five-step search
// against a plain count of the cuts below a value, for every number of
// cuts and values on, between and beyond them.
func TestPairCutsAgreeWithTheirSearch(t *testing.T) {
	t.Parallel()
	for k := 0; k < MaxPairBins; k++ {
		cuts := make([]float64, k)
		for i := range cuts {
			cuts[i] = float64(i*2) - 10
		}
		table := newPairCuts(cuts)
		for x := -14.0; x <= float64(2*k)-6; x += 0.5 {
			want := 0
			for _, c := range cuts {
				if x > c {
					want++
				}
			}
			if got := table.below(x); got != want {
				t.Fatalf("%d cuts: below(%v) = %d, want %d", k, x, got, want)
			}
		}
	}
}

func BenchmarkCompiledLinearRawPairs(b *testing.B) {
	rng := rand.New(rand.NewPCG(3, 4))
	w := len(linearTestFeatures)
	l, rows := pairedLinear(b, rng, linearTestFeatures, 2000)
	benchmarkRaw(b, l.Compile(), rows, w)
}
