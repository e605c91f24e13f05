package xgbimport_test

import (
	"bytes"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"

	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
)

// randomXGBoost is an XGBoost JSON model of full trees over width numeric
// features, with float32 thresholds and leaves and both default
// directions, as a 200-tree depth-6 model trained by XGBoost would be.
func randomXGBoost(tb testing.TB, rng *rand.Rand, width, trees, depth int) []byte {
	tb.Helper()
	names := make([]string, width)
	types := make([]string, width)
	for i := range names {
		names[i], types[i] = "f"+strconv.Itoa(i), "float"
	}
	n := 1<<(depth+1) - 1
	var ts []any
	for range trees {
		left, right, feat := make([]int, n), make([]int, n), make([]int, n)
		cond, hess, gain := make([]float64, n), make([]float64, n), make([]float64, n)
		dl, st := make([]int, n), make([]int, n)
		for i := range n {
			if 2*i+1 < n {
				left[i], right[i] = 2*i+1, 2*i+2
				feat[i] = rng.IntN(width)
				cond[i] = float64(float32(rng.NormFloat64()))
				dl[i] = rng.IntN(2)
				gain[i] = float64(float32(rng.Float64()))
			} else {
				left[i], right[i] = -1, -1
				cond[i] = float64(float32(rng.NormFloat64() / 10))
			}
		}
		// Covers halve down the tree, so every child has some.
		for i := range n {
			d := int(math.Log2(float64(i + 1)))
			hess[i] = float64(uint(1) << (depth + 4 - d))
		}
		ts = append(ts, map[string]any{
			"tree_param":     map[string]any{"num_nodes": strconv.Itoa(n), "num_feature": strconv.Itoa(width)},
			"left_children":  left,
			"right_children": right,
			"split_indices":  feat, "split_conditions": cond, "split_type": st, "default_left": dl,
			"sum_hessian": hess, "loss_changes": gain,
			"categories": []int{}, "categories_nodes": []int{}, "categories_segments": []int{}, "categories_sizes": []int{},
		})
	}
	info := make([]int, trees)
	return encode(tb, map[string]any{
		"version": []int{1, 7, 4},
		"learner": map[string]any{
			"attributes":          map[string]any{},
			"feature_names":       names,
			"feature_types":       types,
			"learner_model_param": map[string]any{"base_score": "1E-1", "num_class": "0", "num_feature": strconv.Itoa(width), "num_target": "1"},
			"objective":           map[string]any{"name": "binary:logistic"},
			"gradient_booster": map[string]any{"name": "gbtree", "model": map[string]any{
				"gbtree_model_param": map[string]any{"num_trees": strconv.Itoa(trees), "num_parallel_tree": "1"},
				"tree_info":          info,
				"trees":              ts,
			}},
		},
	})
}

// benchModels imports a random 200-tree depth-6 XGBoost model over 30
// numeric features, and builds the same-shaped leadscore GBDT: the same
// trees on the same columns, as leadscore's trainer would hold them
// (float64 thresholds, no sources). It returns both with rows to score.
func benchModels(b *testing.B) (imported, native *model.GBDT, rows []float64) {
	b.Helper()
	const width, trees, depth, n = 30, 200, 6, 1 << 14
	rng := rand.New(rand.NewPCG(3, 4))
	file := randomXGBoost(b, rng, width, trees, depth)
	imported = importNumeric(b, file)
	native = &model.GBDT{Width: imported.Width, BaseScore: imported.BaseScore, Trees: imported.Trees, CategorySets: imported.CategorySets}
	for _, nd := range imported.Nodes {
		nd.Source = 0
		native.Nodes = append(native.Nodes, nd)
	}
	if err := native.Validate(); err != nil {
		b.Fatal(err)
	}
	rows = make([]float64, n*imported.Width)
	for i := range rows {
		rows[i] = rng.NormFloat64()
		if rng.IntN(20) == 0 {
			rows[i] = math.NaN()
		}
	}
	return imported, native, rows
}

// importNumeric reads and converts a model whose features f0, f1, ... are
// numeric attributes.
func importNumeric(tb testing.TB, file []byte) *model.GBDT {
	tb.Helper()
	bst, err := xgbimport.Read(bytes.NewReader(file), 0)
	if err != nil {
		tb.Fatal(err)
	}
	var attrs []xgbimport.Attribute
	for _, name := range bst.FeatureNames {
		attrs = append(attrs, xgbimport.Attribute{Column: name, Key: name, Kind: model.KindNumeric})
	}
	mp, err := xgbimport.Map(bst, attrs, nil, false)
	if err != nil {
		tb.Fatal(err)
	}
	_, g, err := xgbimport.Convert(bst, mp, attrs)
	if err != nil {
		tb.Fatal(err)
	}
	return g
}

// BenchmarkScoreImportedVsNative scores the same rows with an imported
// model and the same-shaped leadscore GBDT, in one run: the imported model
// must cost no more.
func BenchmarkScoreImportedVsNative(b *testing.B) {
	imported, native, rows := benchModels(b)
	for _, c := range []struct {
		name string
		g    *model.GBDT
	}{{"imported", imported}, {"native", native}} {
		w := c.g.Width
		n := len(rows) / w
		b.Run(c.name+"/predict", func(b *testing.B) {
			var sink float64
			for b.Loop() {
				for i := range n {
					sink += c.g.Predict(rows[i*w : (i+1)*w])
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1000, "µs/row")
			_ = sink
		})
		b.Run(c.name+"/predict_batch", func(b *testing.B) {
			out := make([]float64, n)
			for b.Loop() {
				if err := c.g.PredictBatch(rows, out); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n)/1000, "µs/row")
		})
	}
}

// BenchmarkImport reads, checks and converts a 200-tree depth-6 model.
func BenchmarkImport(b *testing.B) {
	file := randomXGBoost(b, rand.New(rand.NewPCG(3, 4)), 30, 200, 6)
	for b.Loop() {
		importNumeric(b, file)
	}
	b.ReportMetric(float64(len(file))/1e6, "MB")
}

// TestImportedScoresWithoutAllocating checks that prediction and both
// kinds of contributions of an imported model allocate nothing.
func TestImportedScoresWithoutAllocating(t *testing.T) {
	g := importNumeric(t, randomXGBoost(t, rand.New(rand.NewPCG(5, 6)), 8, 20, 4))
	row := make([]float64, g.Width)
	copy(row, []float64{0.1, -1, math.NaN(), 2, 0, 0.5, -0.3, 1})
	out, src := make([]float64, g.Width), make([]float64, len(g.Sources))
	for _, c := range []struct {
		name string
		fn   func()
	}{
		{"predict", func() { g.Predict(row) }},
		{"contributions", func() { g.Contributions(row, out) }},
		{"source_contributions", func() { g.SourceContributions(row, src) }},
	} {
		if got := testing.AllocsPerRun(50, c.fn); got != 0 {
			t.Errorf("%s: got %v allocations a row, want 0", c.name, got)
		}
	}
}
