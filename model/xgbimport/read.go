package xgbimport

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// MaxBytes is the default limit of a model file's size: a 1,000-tree
// depth-8 model saves to about 60 MB.
const MaxBytes = 64 << 20

// Objectives Read accepts: both are a binary classifier's log-odds.
const (
	// ObjectiveLogistic adds logit(base_score) to the trees' sum.
	ObjectiveLogistic = "binary:logistic"
	// ObjectiveLogitRaw adds base_score itself to the trees' sum.
	ObjectiveLogitRaw = "binary:logitraw"
)

// Booster is a parsed and checked XGBoost gbtree model, holding the trees
// its prediction uses.
type Booster struct {
	// Objective is ObjectiveLogistic or ObjectiveLogitRaw.
	Objective string
	// BaseScore is learner_model_param.base_score as saved: a probability
	// for binary:logistic, a margin for binary:logitraw.
	BaseScore float32
	// FeatureNames and FeatureTypes describe the model's columns, in
	// order; a type is "float", "int", "i" (indicator), "q" (quantitative)
	// or "c" (categorical).
	FeatureNames []string
	FeatureTypes []string
	// BestIteration is the iteration early stopping kept, or -1.
	BestIteration int
	// TreesInFile is the number of trees the file holds; Trees are the
	// ones up to the best iteration, which prediction uses.
	TreesInFile int
	Trees       []Tree
	// Version is the XGBoost version that saved the file, such as 1.7.4.
	Version string
}

// Tree is one regression tree, its nodes indexed as in the file: node 0 is
// the root.
type Tree struct {
	Nodes []Node
}

// Node is one node of a Tree.
type Node struct {
	// Left and Right are the children's indexes, both -1 in a leaf.
	Left, Right int32
	// Feature is the index of the column a split tests.
	Feature int32
	// Threshold sends a row left when its value, as a float32, is below
	// it (numeric splits).
	Threshold float32
	// Value is a leaf's output.
	Value float32
	// DefaultLeft sends missing values left.
	DefaultLeft bool
	// Categorical marks a split on a categorical column: the categories in
	// Categories go right, every other one left.
	Categorical bool
	Categories  []int32
	// Cover is the hessian sum of the training rows that reached the
	// node, and Gain the loss change of a split.
	Cover, Gain float64
}

// IsLeaf reports whether the node is a leaf.
func (n *Node) IsLeaf() bool { return n.Left < 0 }

// BaseMargin is the margin before any tree, as XGBoost computes it in
// float32: logit(base_score) for binary:logistic, base_score for
// binary:logitraw.
func (b *Booster) BaseMargin() float32 {
	if b.Objective == ObjectiveLogitRaw {
		return b.BaseScore
	}
	return float32(-math.Log(float64(float32(1/b.BaseScore) - 1)))
}

// file mirrors the parts of XGBoost's JSON model that prediction needs.
type file struct {
	Learner *struct {
		Attributes        map[string]string `json:"attributes"`
		FeatureNames      []string          `json:"feature_names"`
		FeatureTypes      []string          `json:"feature_types"`
		LearnerModelParam map[string]string `json:"learner_model_param"`
		Objective         *struct {
			Name string `json:"name"`
		} `json:"objective"`
		GradientBooster *struct {
			Name  string `json:"name"`
			Model *struct {
				Param    map[string]string `json:"gbtree_model_param"`
				TreeInfo []int64           `json:"tree_info"`
				Trees    []treeJSON        `json:"trees"`
			} `json:"model"`
		} `json:"gradient_booster"`
	} `json:"learner"`
	Version []int64 `json:"version"`
}

type treeJSON struct {
	Param              map[string]string `json:"tree_param"`
	Left               []int64           `json:"left_children"`
	Right              []int64           `json:"right_children"`
	SplitIndices       []int64           `json:"split_indices"`
	SplitConditions    floats            `json:"split_conditions"`
	SplitType          []int64           `json:"split_type"`
	DefaultLeft        flags             `json:"default_left"`
	SumHessian         floats            `json:"sum_hessian"`
	LossChanges        floats            `json:"loss_changes"`
	Categories         []int64           `json:"categories"`
	CategoriesNodes    []int64           `json:"categories_nodes"`
	CategoriesSegments []int64           `json:"categories_segments"`
	CategoriesSizes    []int64           `json:"categories_sizes"`
}

// Read parses and checks an XGBoost JSON model of at most limit bytes
// (MaxBytes when limit is 0). Anything it cannot score exactly is refused
// with an EINVALID error naming the field and value: another objective or
// booster, several classes, a tree with a cycle, a dangling child, a
// feature index out of range, a NaN threshold or a node count its arrays
// do not hold. Its memory is a small multiple of the file's size, since
// every count is checked against the arrays the file holds before
// anything is sized by it.
func Read(r io.Reader, limit int64) (*Booster, error) {
	if limit <= 0 {
		limit = MaxBytes
	}
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read xgboost model: %w", err)
	}
	if int64(len(data)) > limit {
		return nil, leadscore.InvalidField("model", fmt.Sprintf("more than %d bytes", limit), "is larger than the limit")
	}
	var f file
	if err := json.Unmarshal(quoteNonFinite(data), &f); err != nil {
		return nil, jsonError(err)
	}
	return f.check()
}

// jsonError names the field or offset of a decoding error.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return leadscore.InvalidField("model", fmt.Sprintf("byte %d", syn.Offset), "is not valid JSON (truncated or corrupt): "+syn.Error())
	case errors.As(err, &typ):
		return leadscore.InvalidField(typ.Field, typ.Value, fmt.Sprintf("must be %s", typ.Type))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return leadscore.InvalidField("model", "end of file", "is not valid JSON: the file is truncated")
	}
	var inv *leadscore.Error
	if errors.As(err, &inv) {
		return inv
	}
	return leadscore.InvalidField("model", "", "is not an XGBoost JSON model: "+err.Error())
}

// quoteNonFinite puts quotes around the NaN, Infinity and -Infinity that
// XGBoost writes as bare words, which JSON does not allow, so the standard
// decoder reads them as strings; floats reads them back as numbers.
func quoteNonFinite(data []byte) []byte {
	var out []byte
	inString, escaped := false, false
	last := 0
	for i := 0; i < len(data); i++ {
		c := data[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		if c == '"' {
			inString = true
			continue
		}
		for _, word := range []string{"NaN", "Infinity", "-Infinity"} {
			if c == word[0] && bytes.HasPrefix(data[i:], []byte(word)) {
				if out == nil {
					out = make([]byte, 0, len(data)+len(data)/64)
				}
				out = append(out, data[last:i]...)
				out = append(out, '"')
				out = append(out, word...)
				out = append(out, '"')
				i += len(word) - 1
				last = i + 1
				break
			}
		}
	}
	if out == nil {
		return data
	}
	return append(out, data[last:]...)
}

// floats is an array of float32 values in XGBoost's JSON: numbers, or the
// quoted words quoteNonFinite made.
type floats []float32

func (fs *floats) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) < 2 || b[0] != '[' || b[len(b)-1] != ']' {
		return fmt.Errorf("want an array of numbers, got %.20q", b)
	}
	body := bytes.TrimSpace(b[1 : len(b)-1])
	if len(body) == 0 {
		*fs = floats{}
		return nil
	}
	out := make(floats, 0, bytes.Count(body, []byte(","))+1)
	for len(body) > 0 {
		tok := body
		if i := bytes.IndexByte(body, ','); i >= 0 {
			tok, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		s := strings.Trim(string(bytes.TrimSpace(tok)), `"`)
		v, err := strconv.ParseFloat(s, 32)
		if err != nil && !errors.Is(err, strconv.ErrRange) {
			return fmt.Errorf("element %d: %q is not a number", len(out), s)
		}
		out = append(out, float32(v))
	}
	*fs = out
	return nil
}

// flags is XGBoost's default_left: 0 and 1, or booleans in newer files.
type flags []bool

func (fl *flags) UnmarshalJSON(b []byte) error {
	var raw []json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	out := make(flags, len(raw))
	for i, r := range raw {
		switch string(bytes.TrimSpace(r)) {
		case "1", "true":
			out[i] = true
		case "0", "false":
		default:
			return fmt.Errorf("element %d: %s is not 0, 1, true or false", i, r)
		}
	}
	*fl = out
	return nil
}

// param reads a whole number from one of XGBoost's string-valued
// parameter maps; absent is def.
func param(m map[string]string, key, field string, def, lo, hi int64) (int64, error) {
	s, ok := m[key]
	if !ok {
		return def, nil
	}
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || v < lo || v > hi {
		return 0, leadscore.InvalidField(field, s, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	}
	return v, nil
}

// check validates the parsed file and returns its Booster.
func (f *file) check() (*Booster, error) {
	l := f.Learner
	if l == nil {
		return nil, leadscore.InvalidField("learner", "", "is required: the file is not an XGBoost JSON model")
	}
	gb := l.GradientBooster
	if gb == nil || gb.Name != "gbtree" {
		name := ""
		if gb != nil {
			name = gb.Name
		}
		return nil, leadscore.InvalidField("learner.gradient_booster.name", name, "must be gbtree (gblinear and dart models cannot be imported)")
	}
	if gb.Model == nil {
		return nil, leadscore.InvalidField("learner.gradient_booster.model", "", "is required")
	}
	b := &Booster{BestIteration: -1}
	if l.Objective == nil || (l.Objective.Name != ObjectiveLogistic && l.Objective.Name != ObjectiveLogitRaw) {
		name := ""
		if l.Objective != nil {
			name = l.Objective.Name
		}
		return nil, leadscore.InvalidField("learner.objective.name", name, "must be binary:logistic or binary:logitraw")
	}
	b.Objective = l.Objective.Name
	mp := l.LearnerModelParam
	if _, err := param(mp, "num_class", "learner.learner_model_param.num_class", 0, 0, 1); err != nil {
		return nil, leadscore.InvalidField("learner.learner_model_param.num_class", mp["num_class"], "must be 0 or 1: multi-class models cannot be imported")
	}
	if _, err := param(mp, "num_target", "learner.learner_model_param.num_target", 1, 1, 1); err != nil {
		return nil, leadscore.InvalidField("learner.learner_model_param.num_target", mp["num_target"], "must be 1: multi-target models cannot be imported")
	}
	width, err := param(mp, "num_feature", "learner.learner_model_param.num_feature", -1, 1, model.GBDTMaxWidth)
	if err != nil || width < 0 {
		return nil, leadscore.InvalidField("learner.learner_model_param.num_feature", mp["num_feature"], fmt.Sprintf("must be a whole number from 1 to %d", model.GBDTMaxWidth))
	}
	base, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(mp["base_score"]), "[]"), 32)
	switch {
	case err != nil || math.IsNaN(base) || math.IsInf(base, 0):
		return nil, leadscore.InvalidField("learner.learner_model_param.base_score", mp["base_score"], "must be a finite number")
	case b.Objective == ObjectiveLogistic && !(base > 0 && base < 1):
		return nil, leadscore.InvalidField("learner.learner_model_param.base_score", mp["base_score"], "must be a probability strictly between 0 and 1 for binary:logistic")
	}
	b.BaseScore = float32(base)
	if len(l.FeatureNames) != int(width) {
		return nil, leadscore.InvalidField("learner.feature_names", len(l.FeatureNames),
			fmt.Sprintf("must name each of the %d features: train from a pandas DataFrame or set the booster's feature_names before save_model", width))
	}
	seen := make(map[string]int, width)
	for i, name := range l.FeatureNames {
		if name == "" {
			return nil, leadscore.InvalidField(fmt.Sprintf("learner.feature_names[%d]", i), name, "must not be empty")
		}
		if j, dup := seen[name]; dup {
			return nil, leadscore.InvalidField(fmt.Sprintf("learner.feature_names[%d]", i), name, fmt.Sprintf("is also feature %d", j))
		}
		seen[name] = i
	}
	b.FeatureNames = l.FeatureNames
	b.FeatureTypes = l.FeatureTypes
	if len(b.FeatureTypes) == 0 {
		b.FeatureTypes = make([]string, width)
		for i := range b.FeatureTypes {
			b.FeatureTypes[i] = "float"
		}
	}
	if len(b.FeatureTypes) != int(width) {
		return nil, leadscore.InvalidField("learner.feature_types", len(b.FeatureTypes), fmt.Sprintf("must give the type of each of the %d features", width))
	}
	for i, t := range b.FeatureTypes {
		switch t {
		case "float", "int", "i", "q", "c":
		default:
			return nil, leadscore.InvalidField(fmt.Sprintf("learner.feature_types[%d]", i), t, "must be float, int, i, q or c")
		}
	}
	gm := gb.Model
	parallel, err := param(gm.Param, "num_parallel_tree", "learner.gradient_booster.model.gbtree_model_param.num_parallel_tree", 1, 1, math.MaxInt32)
	if err != nil {
		return nil, err
	}
	b.TreesInFile = len(gm.Trees)
	if n, err := param(gm.Param, "num_trees", "learner.gradient_booster.model.gbtree_model_param.num_trees", int64(len(gm.Trees)), 0, math.MaxInt32); err != nil {
		return nil, err
	} else if n != int64(len(gm.Trees)) {
		return nil, leadscore.InvalidField("learner.gradient_booster.model.gbtree_model_param.num_trees", n, fmt.Sprintf("must equal the %d trees the file holds", len(gm.Trees)))
	}
	if len(gm.TreeInfo) != len(gm.Trees) {
		return nil, leadscore.InvalidField("learner.gradient_booster.model.tree_info", len(gm.TreeInfo), fmt.Sprintf("must have one entry per tree, %d", len(gm.Trees)))
	}
	for i, g := range gm.TreeInfo {
		if g != 0 {
			return nil, leadscore.InvalidField(fmt.Sprintf("learner.gradient_booster.model.tree_info[%d]", i), g, "must be 0: every tree of a binary classifier is in group 0")
		}
	}
	used := len(gm.Trees)
	if s, ok := l.Attributes["best_iteration"]; ok {
		best, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || best < 0 {
			return nil, leadscore.InvalidField("learner.attributes.best_iteration", s, "must be a whole number, 0 or more")
		}
		b.BestIteration = best
		if n := (int64(best) + 1) * parallel; n < int64(used) {
			used = int(n)
		}
	}
	if used == 0 {
		return nil, leadscore.InvalidField("learner.gradient_booster.model.trees", 0, "must hold at least one tree")
	}
	b.Trees = make([]Tree, 0, used)
	for t := range gm.Trees[:used] {
		tree, err := gm.Trees[t].check(fmt.Sprintf("learner.gradient_booster.model.trees[%d]", t), int32(width), b.FeatureTypes)
		if err != nil {
			return nil, err
		}
		b.Trees = append(b.Trees, tree)
	}
	var v []string
	for _, x := range f.Version {
		v = append(v, strconv.FormatInt(x, 10))
	}
	b.Version = strings.Join(v, ".")
	return b, nil
}

// check validates one tree: every array holds num_nodes elements, each
// node but the root has exactly one parent and is reached from the root
// (no cycle, no dangling or shared child), split features are in range,
// numbers finite, and categorical splits have their categories.
func (t *treeJSON) check(field string, width int32, types []string) (Tree, error) {
	n, err := param(t.Param, "num_nodes", field+".tree_param.num_nodes", -1, 1, math.MaxInt32)
	if err != nil || n < 0 {
		return Tree{}, leadscore.InvalidField(field+".tree_param.num_nodes", t.Param["num_nodes"], "must be a whole number, 1 or more")
	}
	for _, col := range []struct {
		name string
		len  int
	}{
		{"left_children", len(t.Left)},
		{"right_children", len(t.Right)},
		{"split_indices", len(t.SplitIndices)},
		{"split_conditions", len(t.SplitConditions)},
		{"default_left", len(t.DefaultLeft)},
		{"sum_hessian", len(t.SumHessian)},
		{"loss_changes", len(t.LossChanges)},
	} {
		if int64(col.len) != n {
			return Tree{}, leadscore.InvalidField(field+"."+col.name, col.len, fmt.Sprintf("must have num_nodes (%d) elements", n))
		}
	}
	if len(t.SplitType) != 0 && int64(len(t.SplitType)) != n {
		return Tree{}, leadscore.InvalidField(field+".split_type", len(t.SplitType), fmt.Sprintf("must have num_nodes (%d) elements", n))
	}
	nodes := make([]Node, n)
	for i := range nodes {
		nf := fmt.Sprintf("%s.nodes[%d]", field, i)
		l, r := t.Left[i], t.Right[i]
		nd := Node{Left: -1, Right: -1, DefaultLeft: t.DefaultLeft[i], Cover: float64(t.SumHessian[i]), Gain: float64(t.LossChanges[i])}
		if c := nd.Cover; math.IsNaN(c) || math.IsInf(c, 0) || c < 0 {
			return Tree{}, leadscore.InvalidField(nf+".sum_hessian", c, "must be a finite non-negative number")
		}
		if g := nd.Gain; math.IsNaN(g) || math.IsInf(g, 0) {
			return Tree{}, leadscore.InvalidField(nf+".loss_changes", g, "must be finite")
		}
		cond := t.SplitConditions[i]
		if l == -1 && r == -1 {
			if math.IsNaN(float64(cond)) || math.IsInf(float64(cond), 0) {
				return Tree{}, leadscore.InvalidField(nf+".split_conditions", cond, "a leaf's value must be finite")
			}
			nd.Value = cond
			nodes[i] = nd
			continue
		}
		if l < 1 || l >= n {
			return Tree{}, leadscore.InvalidField(nf+".left_children", l, fmt.Sprintf("must index one of the tree's %d nodes other than the root, or be -1 with right_children in a leaf", n))
		}
		if r < 1 || r >= n || r == l {
			return Tree{}, leadscore.InvalidField(nf+".right_children", r, fmt.Sprintf("must index one of the tree's %d nodes other than the root and the left child", n))
		}
		nd.Left, nd.Right = int32(l), int32(r)
		fi := t.SplitIndices[i]
		if fi < 0 || fi >= int64(width) {
			return Tree{}, leadscore.InvalidField(nf+".split_indices", fi, fmt.Sprintf("must index one of the model's %d features", width))
		}
		nd.Feature = int32(fi)
		if len(t.SplitType) > 0 {
			switch t.SplitType[i] {
			case 0:
			case 1:
				nd.Categorical = true
			default:
				return Tree{}, leadscore.InvalidField(nf+".split_type", t.SplitType[i], "must be 0 (numeric) or 1 (categorical)")
			}
		}
		if nd.Categorical && types[fi] != "c" {
			return Tree{}, leadscore.InvalidField(nf+".split_type", 1, fmt.Sprintf("a categorical split needs a categorical feature, and feature %d has type %s", fi, types[fi]))
		}
		if !nd.Categorical {
			if math.IsNaN(float64(cond)) || math.IsInf(float64(cond), 0) {
				return Tree{}, leadscore.InvalidField(nf+".split_conditions", cond, "a numeric split's threshold must be finite")
			}
			nd.Threshold = cond
		}
		nodes[i] = nd
	}
	if err := t.checkCategories(field, nodes); err != nil {
		return Tree{}, err
	}
	// Walk from the root: every node reached once, within the depth limit.
	parent := make([]int32, n)
	for i := range parent {
		parent[i] = -1
	}
	depth := make([]int32, n)
	queue := make([]int32, 1, n)
	for q := 0; q < len(queue); q++ {
		i := queue[q]
		nd := &nodes[i]
		if nd.IsLeaf() {
			continue
		}
		for side, c := range [2]int32{nd.Left, nd.Right} {
			cf := fmt.Sprintf("%s.nodes[%d].%s", field, i, [2]string{"left_children", "right_children"}[side])
			if parent[c] >= 0 {
				return Tree{}, leadscore.InvalidField(cf, c, fmt.Sprintf("node %d is already a child of node %d (a cycle or a shared child)", c, parent[c]))
			}
			parent[c] = i
			depth[c] = depth[i] + 1
			if depth[c] > model.GBDTMaxDepth {
				return Tree{}, leadscore.InvalidField(cf, depth[c], fmt.Sprintf("trees may be at most %d deep", model.GBDTMaxDepth))
			}
			queue = append(queue, c)
		}
	}
	// Nodes XGBoost pruned stay in the arrays, unreached; the tree is the
	// reached ones, renumbered in breadth-first order so that children
	// come after their parents.
	index := make([]int32, n)
	for i := range index {
		index[i] = -1
	}
	for k, i := range queue {
		index[i] = int32(k)
	}
	out := Tree{Nodes: make([]Node, len(queue))}
	for k, i := range queue {
		nd := nodes[i]
		if !nd.IsLeaf() {
			nd.Left, nd.Right = index[nd.Left], index[nd.Right]
		}
		out.Nodes[k] = nd
	}
	return out, nil
}

// checkCategories attaches each categorical split's categories.
func (t *treeJSON) checkCategories(field string, nodes []Node) error {
	k := len(t.CategoriesNodes)
	if len(t.CategoriesSegments) != k || len(t.CategoriesSizes) != k {
		return leadscore.InvalidField(field+".categories_segments", len(t.CategoriesSegments),
			fmt.Sprintf("categories_nodes, categories_segments and categories_sizes must have the same length, %d", k))
	}
	for j := range k {
		cf := fmt.Sprintf("%s.categories_nodes[%d]", field, j)
		i := t.CategoriesNodes[j]
		if i < 0 || i >= int64(len(nodes)) || !nodes[i].Categorical {
			return leadscore.InvalidField(cf, i, "must index a categorical split of the tree")
		}
		if nodes[i].Categories != nil {
			return leadscore.InvalidField(cf, i, "lists a node twice")
		}
		seg, size := t.CategoriesSegments[j], t.CategoriesSizes[j]
		if seg < 0 || size < 1 || seg > int64(len(t.Categories)) || size > int64(len(t.Categories))-seg {
			return leadscore.InvalidField(fmt.Sprintf("%s.categories_sizes[%d]", field, j), size,
				fmt.Sprintf("segment %d of %d categories must lie within the %d categories listed", seg, size, len(t.Categories)))
		}
		cats := make([]int32, size)
		for c, v := range t.Categories[seg : seg+size] {
			if v < 0 || v > model.GBDTMaxCategory {
				return leadscore.InvalidField(fmt.Sprintf("%s.categories[%d]", field, seg+int64(c)), v, fmt.Sprintf("must be a category code from 0 to %d", model.GBDTMaxCategory))
			}
			cats[c] = int32(v)
		}
		nodes[i].Categories = cats
	}
	for i := range nodes {
		if nodes[i].Categorical && nodes[i].Categories == nil && !nodes[i].IsLeaf() {
			return leadscore.InvalidField(fmt.Sprintf("%s.nodes[%d].split_type", field, i), 1, "a categorical split needs its categories in categories_nodes")
		}
	}
	return nil
}
