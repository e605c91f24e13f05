package model

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/leadscore/leadscore"
)

func TestLinearEncoding(t *testing.T) {
	t.Parallel()
	features := []Feature{
		{Name: "n", Kind: KindNumeric},
		{Name: "c", Kind: KindCategorical, Categories: []string{"x", "y"}},
		{Name: "b", Kind: KindBoolean},
	}
	nan := math.NaN()
	rows := []float64{
		1, 0, 1,
		3, 1, nan,
		nan, nan, 0,
	}
	e, err := FitLinearEncoding(features, rows)
	if err != nil {
		t.Fatal(err)
	}
	// n: value + missing; c: x, y, other + missing; b: value + missing.
	if got, want := e.Width, 2+4+2; got != want {
		t.Fatalf("width: got %d, want %d", got, want)
	}
	tests := []struct {
		row  []float64
		want string
	}{
		{[]float64{1, 0, 1}, "[-1 0 1 0 0 0 1 0]"},
		{[]float64{3, 1, nan}, "[1 0 0 1 0 0 0 1]"},
		{[]float64{nan, nan, 0}, "[0 1 0 0 0 1 0 0]"},
		{[]float64{2, 7, 1}, "[0 0 0 0 1 0 1 0]"}, // an unknown category is "other"
	}
	out := make([]float64, e.Width)
	for _, tt := range tests {
		e.Encode(tt.row, out)
		if got := fmt.Sprint(out); got != tt.want {
			t.Errorf("Encode(%v): got %s, want %s", tt.row, got, tt.want)
		}
	}
	if _, err := FitLinearEncoding(features, rows[:4]); err == nil {
		t.Error("a ragged matrix was accepted")
	}
}

func TestLinearEncodingHinges(t *testing.T) {
	t.Parallel()
	features := []Feature{
		{Name: "n", Kind: KindNumeric},
		{Name: "few", Kind: KindNumeric},
		{Name: "c", Kind: KindCategorical, Categories: []string{"x"}},
	}
	nan := math.NaN()
	// n takes 1..8 and is missing once; few is 0 but for one 5.
	var rows []float64
	for i := 1; i <= 8; i++ {
		few := 0.0
		if i == 8 {
			few = 5
		}
		rows = append(rows, float64(i), few, float64(i%2))
	}
	rows = append(rows, nan, 0, 0)
	e, err := FitLinearEncodingWith(features, rows, LinearEncodingOptions{Knots: 3})
	if err != nil {
		t.Fatal(err)
	}
	// n's quartiles of 1..8 are 3, 5 and 7; few's all fall on its
	// smallest value 0, whose hinge would repeat the linear column, so it
	// has none; categorical features never have any.
	var knots [][]float64
	for _, hs := range e.Hinges {
		var ks []float64
		for _, h := range hs {
			ks = append(ks, h.Knot)
		}
		knots = append(knots, ks)
	}
	if got, want := fmt.Sprint(knots), "[[3 5 7] [] []]"; got != want {
		t.Fatalf("knots: got %s, want %s", got, want)
	}
	// n: value, 3 hinges, missing; few: value; c: x, other.
	if got, want := e.Width, 1+3+1+1+2; got != want {
		t.Fatalf("width: got %d, want %d", got, want)
	}
	out := make([]float64, e.Width)
	h := e.Hinges[0]
	e.Encode([]float64{6, 0, 0}, out)
	for k, want := range []float64{3, 1, 0} { // max(0, 6 - knot)
		if got := out[1+k]*h[k].Scale + h[k].Mean; math.Abs(got-want) > 1e-12 {
			t.Errorf("hinge %d of 6: got %v, want %v", k, got, want)
		}
	}
	// The hinges are standardised over the present training values.
	for k, hk := range h {
		var sum float64
		for i := 1; i <= 8; i++ {
			sum += max(0, float64(i)-hk.Knot)
		}
		if want := sum / 8; math.Abs(hk.Mean-want) > 1e-12 {
			t.Errorf("hinge %d mean: got %v, want %v", k, hk.Mean, want)
		}
	}
	// A missing value sets the indicator and leaves every hinge at 0.
	e.Encode([]float64{nan, 0, 0}, out)
	if got, want := fmt.Sprint(out[:5]), "[0 0 0 0 1]"; got != want {
		t.Errorf("Encode(missing): got %s, want %s", got, want)
	}

	plain, err := FitLinearEncodingWith(features, rows, LinearEncodingOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if plain.Hinges != nil || plain.Width != 1+1+1+2 {
		t.Errorf("Knots 0: hinges %v, width %d; want the plain encoding", plain.Hinges, plain.Width)
	}
	// Knots asked for where none fit give the plain encoding too.
	none, err := FitLinearEncodingWith(features[1:], rows[:0], LinearEncodingOptions{Knots: 3})
	if err != nil || none.Hinges != nil {
		t.Errorf("no rows: hinges %v, err %v; want the plain encoding", none.Hinges, err)
	}
	if _, err := FitLinearEncodingWith(features, rows, LinearEncodingOptions{Knots: -1}); err == nil {
		t.Error("negative knots were accepted")
	}
}

// hingedLinear fits a hinged encoding to random rows with missing values
// and gives it random weights and its design columns' means.
func hingedLinear(t testing.TB, rng *rand.Rand, features []Feature, n int) (*Linear, []float64) {
	t.Helper()
	w := len(features)
	rows := randomLinearRows(rng, features, n)
	e, err := FitLinearEncodingWith(features, rows, LinearEncodingOptions{Knots: 8})
	if err != nil {
		t.Fatal(err)
	}
	l := &Linear{Encoding: e, Intercept: rng.NormFloat64(), Weights: make([]float64, e.Width), Means: make([]float64, e.Width)}
	for i := range l.Weights {
		l.Weights[i] = rng.NormFloat64()
	}
	setMeans(t, l, rows, w)
	return l, rows
}

// setMeans sets l's design column means over the rows (w features wide)
// and checks that l validates.
func setMeans(t testing.TB, l *Linear, rows []float64, w int) {
	t.Helper()
	n := len(rows) / w
	l.Means = make([]float64, l.Encoding.Width)
	design := make([]float64, l.Encoding.Width)
	for i := 0; i < n; i++ {
		l.Encoding.Encode(rows[i*w:(i+1)*w], design)
		for c, v := range design {
			l.Means[c] += v / float64(n)
		}
	}
	if err := l.Validate(w); err != nil {
		t.Fatalf("the model does not validate: %v", err)
	}
}

func randomLinearRows(rng *rand.Rand, features []Feature, n int) []float64 {
	var rows []float64
	for range n {
		for _, f := range features {
			var x float64
			switch f.Kind {
			case KindCategorical:
				x = float64(rng.IntN(len(f.Categories) + 2))
			case KindBoolean:
				x = float64(rng.IntN(2))
			default:
				// Long-tailed, with ties at zero, like counts and balances.
				x = math.Floor(rng.ExpFloat64() * 3 * math.Pow(10, float64(rng.IntN(4))))
			}
			if rng.IntN(8) == 0 {
				x = math.NaN()
			}
			rows = append(rows, x)
		}
	}
	return rows
}

var linearTestFeatures = []Feature{
	{Name: "age", Kind: KindNumeric},
	{Name: "plan", Kind: KindCategorical, Categories: []string{"pro", "free", "team"}},
	{Name: "views", Kind: KindNumeric},
	{Name: "partner", Kind: KindBoolean},
	{Name: "balance", Kind: KindNumeric},
}

// TestHingedContributionsAddUpToTheRawOutput holds the hinged encoding to
// the plain one's promise: the compiled raw output equals the design
// vector's dot product, and the base value plus the per-feature
// contributions (each feature's hinges included) add up to it within 1e-9.
func TestHingedContributionsAddUpToTheRawOutput(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	l, _ := hingedLinear(t, rng, linearTestFeatures, 3000)
	if l.Encoding.HingeCount() < 10 {
		t.Fatalf("only %d hinges: the test would not exercise them", l.Encoding.HingeCount())
	}
	c := l.Compile()
	w := len(linearTestFeatures)
	rows := randomLinearRows(rng, linearTestFeatures, 5000)
	// Values at and around the knots, and beyond the training range.
	for _, hs := range l.Encoding.Hinges {
		for _, h := range hs {
			for _, x := range []float64{h.Knot, math.Nextafter(h.Knot, math.Inf(-1)), math.Nextafter(h.Knot, math.Inf(1)), -h.Knot - 1, 1e6} {
				row := []float64{x, 0, x, 1, x}
				rows = append(rows, row...)
			}
		}
	}
	design := make([]float64, l.Encoding.Width)
	contrs := make([]float64, w)
	for i := 0; i < len(rows)/w; i++ {
		checkExplained(t, l, c, rows[i*w:(i+1)*w], design, contrs)
	}
}

// checkExplained explains row into the design and contrs buffers and
// checks that the compiled raw output equals the design vector's dot
// product and that the base value plus the contributions add up to it,
// within 1e-9 relative; it returns the raw output's tolerance.
func checkExplained(t *testing.T, l *Linear, c *CompiledLinear, row, design, contrs []float64) float64 {
	t.Helper()
	base := l.contributions(row, design, contrs)
	direct := l.Intercept
	for k, v := range design {
		direct += l.Weights[k] * v
	}
	raw := c.Raw(row)
	sum := base
	for _, v := range contrs {
		sum += v
	}
	tol := 1e-9 * max(1, math.Abs(raw))
	if math.Abs(raw-direct) > tol || math.Abs(sum-raw) > tol {
		t.Fatalf("row %v: compiled raw %v, design raw %v, base + contributions %v", row, raw, direct, sum)
	}
	return tol
}

func TestHingedValidateRefusesBadHinges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		edit  func(e *LinearEncoding)
		field string
	}{
		{"descending knots", func(e *LinearEncoding) { e.Hinges[0][1].Knot = e.Hinges[0][0].Knot }, "logistic.encoding.hinges[0][1].knot"},
		{"NaN knot", func(e *LinearEncoding) { e.Hinges[2][0].Knot = math.NaN() }, "logistic.encoding.hinges[2][0].knot"},
		{"infinite mean", func(e *LinearEncoding) { e.Hinges[0][2].Mean = math.Inf(1) }, "logistic.encoding.hinges[0][2].mean"},
		{"zero scale", func(e *LinearEncoding) { e.Hinges[4][0].Scale = 0 }, "logistic.encoding.hinges[4][0].scale"},
		{"hinges on a categorical feature", func(e *LinearEncoding) { e.Hinges[1] = e.Hinges[0] }, "logistic.encoding.hinges[1]"},
		{"a list too few", func(e *LinearEncoding) { e.Hinges = e.Hinges[:4] }, "logistic.encoding.hinges"},
		{"a hinge the weights lack", func(e *LinearEncoding) {
			e.Hinges[0] = append(e.Hinges[0], Hinge{Knot: 1e9, Scale: 1})
		}, "logistic.encoding[1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			l, _ := hingedLinear(t, rand.New(rand.NewPCG(1, 2)), linearTestFeatures, 500)
			tc.edit(l.Encoding)
			err := l.Validate(len(linearTestFeatures))
			var e *leadscore.Error
			if !errors.As(err, &e) || len(e.Fields) == 0 || e.Fields[0].Field != tc.field {
				t.Errorf("Validate: got %v, want an error naming %s", err, tc.field)
			}
		})
	}
}

func BenchmarkCompiledLinearRaw(b *testing.B) {
	for _, knots := range []int{0, 8} {
		b.Run(fmt.Sprintf("knots=%d", knots), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(3, 4))
			w := len(linearTestFeatures)
			l, rows := hingedLinear(b, rng, linearTestFeatures, 2000)
			if knots == 0 {
				e, err := FitLinearEncoding(linearTestFeatures, rows)
				if err != nil {
					b.Fatal(err)
				}
				l = &Linear{Encoding: e, Weights: make([]float64, e.Width), Means: make([]float64, e.Width)}
			}
			benchmarkRaw(b, l.Compile(), rows, w)
		})
	}
}

// benchmarkRaw times c.Raw over the rows (w features wide) in turn.
func benchmarkRaw(b *testing.B, c *CompiledLinear, rows []float64, w int) {
	b.Helper()
	n := len(rows) / w
	var sink float64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		k := i % n
		sink += c.Raw(rows[k*w : (k+1)*w])
	}
	_ = sink
}
