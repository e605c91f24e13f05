package xgbimport_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	"github.com/leadscore/leadscore/model/xgbimport"
)

// tinyModel is a two-feature binary:logistic model of one depth-2 tree as
// XGBoost 1.7 writes it: a numeric split on age, then a categorical split
// on plan (categories 1 and 3 go right) and a leaf.
func tinyModel() map[string]any {
	tree := map[string]any{
		"tree_param":          map[string]any{"num_nodes": "5", "num_feature": "2", "num_deleted": "0", "size_leaf_vector": "0"},
		"left_children":       []int{1, 3, -1, -1, -1},
		"right_children":      []int{2, 4, -1, -1, -1},
		"parents":             []int{2147483647, 0, 0, 1, 1},
		"split_indices":       []int{0, 1, 0, 0, 0},
		"split_conditions":    []any{30.5, "NaN", 0.25, -0.125, 0.5},
		"split_type":          []int{0, 1, 0, 0, 0},
		"default_left":        []int{1, 0, 0, 0, 0},
		"sum_hessian":         []float64{100, 60, 40, 25, 35},
		"loss_changes":        []float64{12, 5, 0, 0, 0},
		"base_weights":        []float64{0, 0, 0.25, -0.125, 0.5},
		"categories":          []int{1, 3},
		"categories_nodes":    []int{1},
		"categories_segments": []int{0},
		"categories_sizes":    []int{2},
		"id":                  0,
	}
	return map[string]any{
		"version": []int{1, 7, 4},
		"learner": map[string]any{
			"attributes":          map[string]any{},
			"feature_names":       []string{"age", "plan"},
			"feature_types":       []string{"float", "c"},
			"learner_model_param": map[string]any{"base_score": "5E-1", "num_class": "0", "num_feature": "2", "num_target": "1"},
			"objective":           map[string]any{"name": "binary:logistic"},
			"gradient_booster": map[string]any{
				"name": "gbtree",
				"model": map[string]any{
					"gbtree_model_param": map[string]any{"num_trees": "1", "num_parallel_tree": "1"},
					"tree_info":          []int{0},
					"trees":              []any{tree},
				},
			},
		},
	}
}

// encode writes a model map as XGBoost does: the string "NaN" in a number
// array becomes the bare word NaN.
func encode(tb testing.TB, m map[string]any) []byte {
	tb.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return bytes.ReplaceAll(b, []byte(`"NaN"`), []byte("NaN"))
}

func learner(m map[string]any) map[string]any { return m["learner"].(map[string]any) }

func firstTree(m map[string]any) map[string]any {
	gb := learner(m)["gradient_booster"].(map[string]any)["model"].(map[string]any)
	return gb["trees"].([]any)[0].(map[string]any)
}

func TestReadTinyModel(t *testing.T) {
	t.Parallel()
	b, err := xgbimport.Read(bytes.NewReader(encode(t, tinyModel())), 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(b.Trees), 1; got != want {
		t.Fatalf("trees: got %d, want %d", got, want)
	}
	n := b.Trees[0].Nodes
	if got, want := n[1].Categories, []int32{1, 3}; !slices.Equal(got, want) {
		t.Errorf("categories of node 1: got %v, want %v", got, want)
	}
	if got, want := n[0].Threshold, float32(30.5); got != want {
		t.Errorf("threshold of node 0: got %v, want %v", got, want)
	}
	attrs := []xgbimport.Attribute{
		{Column: "age", Key: "age", Kind: model.KindNumeric},
		{Column: "plan", Key: "plan", Kind: model.KindCategorical, Categories: []string{"basic", "free", "pro", "team"}},
	}
	mp, err := xgbimport.Map(b, attrs, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	spec, g, err := xgbimport.Convert(b, mp, attrs)
	if err != nil {
		t.Fatal(err)
	}
	row := make([]float64, spec.Width())
	for _, c := range []struct {
		name      string
		age, plan float64
		want      float64
	}{
		{"young_lead_goes_left_then_by_plan_in_set_right", 20, 1, 0.5},
		{"young_lead_with_a_plan_outside_the_set_goes_left", 20, 2, -0.125},
		{"missing_plan_takes_the_default_right", 20, math.NaN(), 0.5},
		{"older_lead_goes_right", 40, 1, 0.25},
		{"missing_age_takes_the_default_left", math.NaN(), 3, 0.5},
	} {
		row[0], row[1] = c.age, c.plan
		if got := g.Predict(row); got != c.want {
			t.Errorf("%s: got %v, want %v (base margin 0)", c.name, got, c.want)
		}
	}
}

func TestReadRefusesBadFiles(t *testing.T) {
	t.Parallel()
	synth, err := os.ReadFile(filepath.Join("testdata", "synth.model.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		file  func() []byte
		limit int64
		field string
	}{
		{"truncated_file_is_not_valid_json", func() []byte { return synth[:len(synth)/2] }, 0, "model"},
		{"corrupt_file_is_not_valid_json", func() []byte { return []byte(`{"learner": {"feature_names": [1, }`) }, 0, "model"},
		{"not_a_model_has_no_learner", func() []byte { return []byte(`{"hello": "world"}`) }, 0, "learner"},
		{"file_over_the_limit", func() []byte { return synth }, 1000, "model"},
		{"cycle_makes_a_node_its_ancestors_child", func() []byte {
			m := tinyModel()
			tr := firstTree(m)
			// node 1's left child becomes node 2, already a child of node 0.
			tr["left_children"] = []int{1, 2, -1, -1, -1}
			return encode(t, m)
		}, 0, "left_children"},
		{"child_pointing_back_at_the_root", func() []byte {
			m := tinyModel()
			firstTree(m)["right_children"] = []int{2, 0, -1, -1, -1}
			return encode(t, m)
		}, 0, "right_children"},
		{"dangling_child_beyond_the_nodes", func() []byte {
			m := tinyModel()
			firstTree(m)["left_children"] = []int{1, 99, -1, -1, -1}
			return encode(t, m)
		}, 0, "left_children"},
		{"feature_index_out_of_range", func() []byte {
			m := tinyModel()
			firstTree(m)["split_indices"] = []int{7, 1, 0, 0, 0}
			return encode(t, m)
		}, 0, "split_indices"},
		{"nan_threshold_on_a_numeric_split", func() []byte {
			m := tinyModel()
			firstTree(m)["split_conditions"] = []any{"NaN", "NaN", 0.25, -0.125, 0.5}
			return encode(t, m)
		}, 0, "split_conditions"},
		{"huge_node_count_the_arrays_do_not_hold", func() []byte {
			m := tinyModel()
			firstTree(m)["tree_param"].(map[string]any)["num_nodes"] = "2000000000"
			return encode(t, m)
		}, 0, "left_children"},
		{"negative_cover", func() []byte {
			m := tinyModel()
			firstTree(m)["sum_hessian"] = []float64{100, -60, 40, 25, 35}
			return encode(t, m)
		}, 0, "sum_hessian"},
		{"category_code_out_of_range", func() []byte {
			m := tinyModel()
			firstTree(m)["categories"] = []int{1, 300}
			return encode(t, m)
		}, 0, "categories"},
		{"categorical_split_without_categories", func() []byte {
			m := tinyModel()
			tr := firstTree(m)
			tr["categories_nodes"], tr["categories_segments"], tr["categories_sizes"] = []int{}, []int{}, []int{}
			return encode(t, m)
		}, 0, "split_type"},
		{"multi_class_objective", func() []byte {
			m := tinyModel()
			learner(m)["objective"] = map[string]any{"name": "multi:softprob"}
			return encode(t, m)
		}, 0, "learner.objective.name"},
		{"regression_objective", func() []byte {
			m := tinyModel()
			learner(m)["objective"] = map[string]any{"name": "reg:squarederror"}
			return encode(t, m)
		}, 0, "learner.objective.name"},
		{"several_classes", func() []byte {
			m := tinyModel()
			learner(m)["learner_model_param"].(map[string]any)["num_class"] = "3"
			return encode(t, m)
		}, 0, "num_class"},
		{"gblinear_booster", func() []byte {
			m := tinyModel()
			learner(m)["gradient_booster"] = map[string]any{"name": "gblinear", "model": map[string]any{}}
			return encode(t, m)
		}, 0, "learner.gradient_booster.name"},
		{"dart_booster", func() []byte {
			m := tinyModel()
			learner(m)["gradient_booster"].(map[string]any)["name"] = "dart"
			return encode(t, m)
		}, 0, "learner.gradient_booster.name"},
		{"features_without_names", func() []byte {
			m := tinyModel()
			delete(learner(m), "feature_names")
			return encode(t, m)
		}, 0, "learner.feature_names"},
		{"base_score_outside_zero_and_one", func() []byte {
			m := tinyModel()
			learner(m)["learner_model_param"].(map[string]any)["base_score"] = "1.5"
			return encode(t, m)
		}, 0, "base_score"},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, err := xgbimport.Read(bytes.NewReader(c.file()), c.limit)
			assertField(t, err, c.field)
		})
	}
}

// assertField checks that err is an EINVALID error whose field names want.
func assertField(t *testing.T, err error, want string) {
	t.Helper()
	var le *leadscore.Error
	if !errors.As(err, &le) || le.Code != leadscore.EINVALID || len(le.Fields) == 0 {
		t.Fatalf("got %v, want an invalid-field error naming %s", err, want)
	}
	if got := le.Fields[0].Field; !strings.Contains(got, want) {
		t.Errorf("field: got %q (%v), want it to name %s", got, err, want)
	}
}

func TestReadHonoursBestIteration(t *testing.T) {
	t.Parallel()
	m := tinyModel()
	gb := learner(m)["gradient_booster"].(map[string]any)["model"].(map[string]any)
	tree := firstTree(m)
	second := map[string]any{}
	for k, v := range tree {
		second[k] = v
	}
	gb["trees"] = []any{tree, second}
	gb["tree_info"] = []int{0, 0}
	gb["gbtree_model_param"] = map[string]any{"num_trees": "2", "num_parallel_tree": "1"}
	for _, c := range []struct {
		name string
		best string
		want int
	}{
		{"no_best_iteration_uses_every_tree", "", 2},
		{"best_iteration_zero_uses_the_first_tree", "0", 1},
		{"best_iteration_past_the_end_uses_every_tree", "5", 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			attrs := map[string]any{}
			if c.best != "" {
				attrs["best_iteration"] = c.best
			}
			learner(m)["attributes"] = attrs
			b, err := xgbimport.Read(bytes.NewReader(encode(t, m)), 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := len(b.Trees); got != c.want {
				t.Errorf("trees used: got %d, want %d", got, c.want)
			}
		})
	}
}

func TestThreshold32DecidesAsFloat32(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		thr  float32
	}{
		{"decimal_threshold", 0.1},
		{"threshold_with_an_even_predecessor", math.Float32frombits(math.Float32bits(1.5) + 1)},
		{"threshold_with_an_odd_predecessor", math.Float32frombits(math.Float32bits(1.5) + 2)},
		{"zero", 0},
		{"negative", -2.75},
		{"smallest_subnormal", math.SmallestNonzeroFloat32},
		{"largest", math.MaxFloat32},
		{"most_negative", -math.MaxFloat32},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			u := xgbimport.Threshold32(c.thr)
			// Around the threshold and around the float32 below it,
			// every float64 step must decide as float32 does.
			p := math.Nextafter32(c.thr, float32(math.Inf(-1)))
			var centres []float64
			for _, f := range []float32{p, c.thr} {
				if !math.IsInf(float64(f), 0) {
					centres = append(centres, float64(f))
				}
			}
			centres = append(centres, u)
			for _, centre := range centres {
				x := centre
				for range 40 {
					x = math.Nextafter(x, math.Inf(-1))
				}
				for range 80 {
					if got, want := x < u, float32(x) < c.thr; got != want {
						t.Fatalf("x = %v: x < %v is %v, float32(x) < %v is %v", x, u, got, c.thr, want)
					}
					x = math.Nextafter(x, math.Inf(1))
				}
			}
		})
	}
}
