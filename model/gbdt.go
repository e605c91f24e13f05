package model

import (
	"fmt"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/leadscore/leadscore"
)

// GBDTMaxDepth is the deepest tree a GBDT may hold. Prediction walks every
// tree to its full depth, so a crafted model with a degenerate chain of
// thousands of nodes would make each score cost that much; trained trees
// are far shallower.
const GBDTMaxDepth = 64

// GBDTMaxWidth is the most features a GBDT may score. Batch prediction
// keeps two copies of each feature for a block of rows, so a crafted width
// must not ask for gigabytes.
const GBDTMaxWidth = 1 << 16

// GBDTMaxCategory is the largest category index a categorical split may
// name: bitsets are at most four 64-bit words.
const GBDTMaxCategory = 255

// GBDTNode is one node of a tree in a GBDT's flat node array. A split node
// sends a row to Left or Right; a leaf (Left and Right both -1) adds Value
// to the raw output.
type GBDTNode struct {
	// Feature is the index in the feature row of the value a split tests.
	// Leaves hold 0.
	Feature int32 `json:"feature"`
	// Left and Right are the indexes in GBDT.Nodes of the children, or -1
	// in a leaf. A child always comes after its parent in the array, which
	// makes a loaded tree easy to prove acyclic.
	Left  int32 `json:"left"`
	Right int32 `json:"right"`
	// Threshold sends a row left when its value is less than Threshold
	// (numeric splits). A split that separates missing values from all
	// present ones uses math.MaxFloat64.
	Threshold float64 `json:"threshold"`
	// Set is the index in GBDT.CategorySets of the categories that go left
	// (categorical splits: every other category, including ones never seen
	// in training, goes right), or -1 for a numeric split or a leaf.
	Set int32 `json:"set"`
	// DefaultLeft sends missing values (NaN) left. It is learned per split
	// by trying missing values on both sides, as XGBoost does.
	DefaultLeft bool `json:"default_left"`
	// Value is a leaf's contribution to the raw output (log-odds), already
	// scaled by the learning rate. Split nodes hold 0.
	Value float64 `json:"value"`
	// Cover is the hessian sum of the training rows that reached the node.
	// TreeSHAP weighs the branches of a feature it does not know by it.
	Cover float64 `json:"cover"`
	// Gain is the loss reduction of a split, for feature importance; 0 in
	// leaves.
	Gain float64 `json:"gain"`
	// Source is the index in GBDT.Sources of the feature a split tested in
	// the model the ensemble was imported from. It is 0 in leaves and in
	// every node of an ensemble without sources.
	Source int32 `json:"source,omitempty"`
}

// GBDTSource is one feature of the model an ensemble was imported from,
// such as the one-hot column job_admin. of an XGBoost model, which the
// ensemble tests through a feature of its own row (attr.job).
type GBDTSource struct {
	// Name is the feature's name in the imported model.
	Name string `json:"name"`
	// Feature is the index in the feature row of the value the source's
	// splits test.
	Feature int32 `json:"feature"`
}

// IsLeaf reports whether the node is a leaf.
func (n *GBDTNode) IsLeaf() bool { return n.Left < 0 }

// GBDT is an ensemble of binary regression trees whose summed leaf values
// and base score are the log-odds of conversion. Its exported fields are
// plain slices so that an artifact format can carry them as they are.
// Validate checks a loaded ensemble completely and prepares it for
// prediction; after that, Predict, PredictBatch, PredictBatchParallel and
// Contributions are safe for concurrent use.
type GBDT struct {
	// Width is the length of the feature rows the ensemble scores.
	Width int `json:"width"`
	// BaseScore is the raw output before any tree: the log-odds of the
	// training base rate.
	BaseScore float64 `json:"base_score"`
	// Trees holds the index in Nodes of each tree's root. A tree's nodes
	// are contiguous: tree t occupies Nodes[Trees[t]:Trees[t+1]], the last
	// one runs to the end, and its root is its first node.
	Trees []int32 `json:"trees"`
	// Nodes are the nodes of all trees.
	Nodes []GBDTNode `json:"nodes"`
	// CategorySets are the categories sent left by categorical splits, as
	// bitsets: bit c%64 of word c/64 stands for category index c.
	CategorySets [][]uint64 `json:"category_sets,omitempty"`
	// Sources, when set, are the features of the model the ensemble was
	// imported from; each split names its own in GBDTNode.Source. Several
	// sources may test one row feature (the one-hot columns of one
	// attribute), and TreeSHAP treats each source as a player of its own,
	// as the imported model's explanations do; a row feature's
	// contribution is the sum of its sources'. Without sources, each row
	// feature is one player.
	Sources []GBDTSource `json:"sources,omitempty"`
	// SumFloat32 adds the base score and the leaf values in float32, in
	// tree order, as XGBoost does, so that an imported model's raw output
	// has XGBoost's bits rather than a more exact sum that differs from
	// them by up to a few millionths over hundreds of trees. BaseScore and
	// the leaf values must then be float32 values.
	SumFloat32 bool `json:"sum_float32,omitempty"`

	// flat is the prediction layout, built by Validate. It is swapped
	// atomically, so validating a model (as every new Scorer does) while
	// other goroutines score with it is safe: they see the old layout or
	// the new one, which are the same.
	flat atomic.Pointer[gbdtFlat]
}

// flatNode is one node of the prediction layout, sixteen bytes so that four
// share a cache line. The children of a split are adjacent (right = left +
// 1), so a step is next + bit. A leaf points at itself with a NaN threshold
// and missing values sent left, so walking a tree for a fixed number of
// steps (its depth) needs no leaf test and no branch.
type flatNode struct {
	thr float64
	// col is the feature index times two, plus one when missing values go
	// right, with flatCategorical set for a categorical split on a set of
	// categories and flatEquality for one on a single category (whose
	// thr is that category: x == thr goes left). It indexes
	// the two copies of each feature that batch prediction keeps (see
	// predictRange).
	col  uint32
	next int32
}

const (
	flatCategorical = 1 << 31
	flatEquality    = 1 << 30
	flatCol         = flatEquality - 1
)

// flatTree is a tree of the prediction layout.
type flatTree struct {
	root  int32
	depth int32
	// categorical trees take the slower step that can test a bitset.
	categorical bool
	// equality trees, whose categorical splits each send one category
	// left (as one-vs-rest splitting grows them), take a branch-free step
	// that tests equality as well as order.
	equality bool
}

// flatGroup is a run of trees that batch prediction walks together: four
// numeric trees, or a single tree.
type flatGroup struct {
	first int
	four  bool
	// equality says some of the four trees have equality splits.
	equality bool
	depth    int32 // the deepest of the four
}

// size is the number of trees in the group.
func (g flatGroup) size() int {
	if g.four {
		return 4
	}
	return 1
}

// catRef locates a categorical split's bitset in gbdtFlat.sets.
type catRef struct {
	off, words int32
}

// gbdtFlat is the GBDT rearranged for fast prediction: breadth-first
// nodes with adjacent siblings, self-looping leaves and leaf values in a
// parallel array.
type gbdtFlat struct {
	nodes    []flatNode
	values   []float64
	cats     []catRef // parallel to nodes; nil when no split is categorical
	sets     []uint64
	trees    []flatTree
	groups   []flatGroup
	maxDepth int
	// round32 rounds the running sum to float32 after each tree (see
	// GBDT.SumFloat32).
	round32  bool
	expected float64
	shap     sync.Pool // *shapScratch
	blocks   sync.Pool // *blockBuf
}

// Validate checks the ensemble completely, so that a corrupt or crafted
// model is refused with an error naming the bad field rather than
// panicking or scoring garbage: every tree is contiguous and acyclic with
// each node reached exactly once, child and feature indexes are in range,
// thresholds, values and covers are finite, and category sets exist. It
// then builds the layout prediction uses. Call it after loading a model
// and before scoring with it; it may run while the same model is scoring.
// When it fails, the model can no longer be scored.
func (m *GBDT) Validate() (err error) {
	defer func() {
		if err != nil {
			m.flat.Store(nil)
		}
	}()
	if m.Width < 1 || m.Width > GBDTMaxWidth {
		return leadscore.InvalidField("gbdt.width", m.Width, fmt.Sprintf("must be from 1 to %d", GBDTMaxWidth))
	}
	if math.IsNaN(m.BaseScore) || math.IsInf(m.BaseScore, 0) {
		return leadscore.InvalidField("gbdt.base_score", m.BaseScore, "must be finite")
	}
	if m.SumFloat32 && float64(float32(m.BaseScore)) != m.BaseScore {
		return leadscore.InvalidField("gbdt.base_score", m.BaseScore, "must be a float32 value when the ensemble sums in float32")
	}
	if len(m.Nodes) > math.MaxInt32/2 {
		return leadscore.InvalidField("gbdt.nodes", len(m.Nodes), "too many nodes")
	}
	for i, src := range m.Sources {
		if src.Feature < 0 || int(src.Feature) >= m.Width {
			return leadscore.InvalidField(fmt.Sprintf("gbdt.sources[%d].feature", i), src.Feature, fmt.Sprintf("must index a feature row of width %d", m.Width))
		}
	}
	if len(m.Sources) > math.MaxInt32 {
		return leadscore.InvalidField("gbdt.sources", len(m.Sources), "too many sources")
	}
	for i, set := range m.CategorySets {
		if len(set) == 0 || len(set) > (GBDTMaxCategory+1)/64 {
			return leadscore.InvalidField(fmt.Sprintf("gbdt.category_sets[%d]", i), len(set), "must be 1 to 4 words")
		}
	}
	if len(m.Trees) == 0 && len(m.Nodes) != 0 {
		return leadscore.InvalidField("gbdt.trees", 0, "nodes without trees")
	}
	for t, root := range m.Trees {
		field := fmt.Sprintf("gbdt.trees[%d]", t)
		switch {
		case t == 0 && root != 0:
			return leadscore.InvalidField(field, root, "the first tree must start at node 0")
		case t > 0 && root <= m.Trees[t-1]:
			return leadscore.InvalidField(field, root, "trees must start at increasing node indexes")
		case int(root) >= len(m.Nodes):
			return leadscore.InvalidField(field, root, fmt.Sprintf("must index one of %d nodes", len(m.Nodes)))
		}
	}
	parents := make([]int32, len(m.Nodes))
	for i := range parents {
		parents[i] = -1
	}
	depth := make([]int32, len(m.Nodes))
	for t, root := range m.Trees {
		end := int32(len(m.Nodes))
		if t+1 < len(m.Trees) {
			end = m.Trees[t+1]
		}
		for i := root; i < end; i++ {
			n := &m.Nodes[i]
			field := fmt.Sprintf("gbdt.nodes[%d]", i)
			if i > root && parents[i] < 0 {
				return leadscore.InvalidField(field, i, "is not reached from its tree's root")
			}
			if math.IsNaN(n.Cover) || math.IsInf(n.Cover, 0) || n.Cover < 0 {
				return leadscore.InvalidField(field+".cover", n.Cover, "must be a finite non-negative number")
			}
			if math.IsNaN(n.Gain) || math.IsInf(n.Gain, 0) {
				return leadscore.InvalidField(field+".gain", n.Gain, "must be finite")
			}
			if err := m.validateSource(field, n); err != nil {
				return err
			}
			if n.Left < 0 || n.Right < 0 {
				if n.Left != -1 || n.Right != -1 {
					return leadscore.InvalidField(field+".left", n.Left, "a leaf has both children -1, a split neither")
				}
				if math.IsNaN(n.Value) || math.IsInf(n.Value, 0) {
					return leadscore.InvalidField(field+".value", n.Value, "must be finite")
				}
				if m.SumFloat32 && float64(float32(n.Value)) != n.Value {
					return leadscore.InvalidField(field+".value", n.Value, "must be a float32 value when the ensemble sums in float32")
				}
				continue
			}
			if n.Feature < 0 || int(n.Feature) >= m.Width {
				return leadscore.InvalidField(field+".feature", n.Feature, fmt.Sprintf("must index a feature row of width %d", m.Width))
			}
			if n.Set >= 0 {
				if int(n.Set) >= len(m.CategorySets) {
					return leadscore.InvalidField(field+".set", n.Set, fmt.Sprintf("must index one of %d category sets", len(m.CategorySets)))
				}
			} else if n.Set != -1 {
				return leadscore.InvalidField(field+".set", n.Set, "must be -1 for a numeric split")
			} else if math.IsNaN(n.Threshold) || math.IsInf(n.Threshold, 0) {
				return leadscore.InvalidField(field+".threshold", n.Threshold, "must be finite")
			}
			for side, c := range [2]int32{n.Left, n.Right} {
				cf := field + [2]string{".left", ".right"}[side]
				if c <= i || c >= end {
					return leadscore.InvalidField(cf, c, fmt.Sprintf("children must come after their parent within its tree (nodes %d to %d)", i+1, end-1))
				}
				if parents[c] >= 0 {
					return leadscore.InvalidField(cf, c, fmt.Sprintf("node %d already has parent %d", c, parents[c]))
				}
				parents[c] = i
				depth[c] = depth[i] + 1
				if depth[c] > GBDTMaxDepth {
					return leadscore.InvalidField(cf, depth[c], fmt.Sprintf("trees may be at most %d deep", GBDTMaxDepth))
				}
			}
			l, r := &m.Nodes[n.Left], &m.Nodes[n.Right]
			if !(l.Cover+r.Cover > 0) {
				return leadscore.InvalidField(field+".cover", l.Cover+r.Cover, "the children's covers must sum to a positive number")
			}
		}
	}
	m.flat.Store(m.compile(depth))
	return nil
}

// validateSource checks the source of node n: the feature the split reads
// is its source's, and leaves and ensembles without sources hold 0.
func (m *GBDT) validateSource(field string, n *GBDTNode) error {
	if m.Sources == nil || n.Left < 0 {
		if n.Source != 0 {
			return leadscore.InvalidField(field+".source", n.Source, "must be 0 in a leaf or an ensemble without sources")
		}
		return nil
	}
	if n.Source < 0 || int(n.Source) >= len(m.Sources) {
		return leadscore.InvalidField(field+".source", n.Source, fmt.Sprintf("must index one of %d sources", len(m.Sources)))
	}
	if src := m.Sources[n.Source]; src.Feature != n.Feature {
		return leadscore.InvalidField(field+".source", n.Source, fmt.Sprintf("source %s tests feature %d, the split feature %d", src.Name, src.Feature, n.Feature))
	}
	return nil
}

// compile builds the prediction layout of a validated ensemble. depth is
// each node's depth in its tree.
func (m *GBDT) compile(depth []int32) *gbdtFlat {
	f := &gbdtFlat{
		nodes:  make([]flatNode, 0, len(m.Nodes)),
		values: make([]float64, 0, len(m.Nodes)),
		trees:  make([]flatTree, len(m.Trees)),
	}
	setOff := make([]int32, len(m.CategorySets))
	for i, s := range m.CategorySets {
		setOff[i] = int32(len(f.sets))
		f.sets = append(f.sets, s...)
	}
	if len(m.CategorySets) > 0 {
		f.cats = make([]catRef, 0, len(m.Nodes))
	}
	f.expected = m.BaseScore
	f.round32 = m.SumFloat32
	queue := make([]int32, 0, 64)
	for t, root := range m.Trees {
		ft := flatTree{root: int32(len(f.nodes))}
		// Breadth-first: each split's children are appended together, so
		// they are adjacent.
		queue = append(queue[:0], root)
		f.push(m, root, setOff)
		for q := 0; q < len(queue); q++ {
			src := queue[q]
			n := &m.Nodes[src]
			at := ft.root + int32(q)
			ft.depth = max(ft.depth, depth[src])
			if n.IsLeaf() {
				f.nodes[at].next = at
				continue
			}
			switch c := f.nodes[at].col; {
			case c&flatCategorical != 0:
				ft.categorical = true
			case c&flatEquality != 0:
				ft.equality = true
			}
			f.nodes[at].next = int32(len(f.nodes))
			queue = append(queue, n.Left, n.Right)
			f.push(m, n.Left, setOff)
			f.push(m, n.Right, setOff)
		}
		f.trees[t] = ft
		f.maxDepth = max(f.maxDepth, int(ft.depth))
		f.expected += m.expectedValue(root)
	}
	for t := 0; t < len(f.trees); {
		g := flatGroup{first: t, depth: f.trees[t].depth}
		if t+4 <= len(f.trees) {
			g.four = true
			for _, ft := range f.trees[t : t+4] {
				g.four = g.four && !ft.categorical
				g.equality = g.equality || ft.equality
				g.depth = max(g.depth, ft.depth)
			}
		}
		f.groups = append(f.groups, g)
		if g.four {
			t += 4
		} else {
			t++
		}
	}
	f.shap.New = func() any { return newSHAPScratch(f.maxDepth, len(m.Sources)) }
	f.blocks.New = func() any { return &blockBuf{x: make([]float64, 2*m.Width*predictBlock)} }
	return f
}

// push appends the prediction form of node i; its next index is filled in
// by the caller.
func (f *gbdtFlat) push(m *GBDT, i int32, setOff []int32) {
	n := &m.Nodes[i]
	fn := flatNode{col: uint32(n.Feature) << 1, thr: n.Threshold}
	var ref catRef
	switch {
	case n.IsLeaf():
		fn = flatNode{thr: math.NaN()}
	case n.Set >= 0:
		if c, ok := singleCategory(m.CategorySets[n.Set]); ok {
			fn.col |= flatEquality
			fn.thr = float64(c)
			break
		}
		fn.col |= flatCategorical
		fn.thr = 0
		ref = catRef{off: setOff[n.Set], words: int32(len(m.CategorySets[n.Set]))}
	}
	if !n.IsLeaf() && !n.DefaultLeft {
		fn.col |= 1
	}
	f.nodes = append(f.nodes, fn)
	f.values = append(f.values, n.Value)
	if f.cats != nil {
		f.cats = append(f.cats, ref)
	}
}

// expectedValue is the cover-weighted mean leaf value of the tree rooted at
// i: the output TreeSHAP attributes nothing to.
func (m *GBDT) expectedValue(i int32) float64 {
	n := &m.Nodes[i]
	if n.IsLeaf() {
		return n.Value
	}
	l, r := &m.Nodes[n.Left], &m.Nodes[n.Right]
	total := l.Cover + r.Cover
	return (l.Cover*m.expectedValue(n.Left) + r.Cover*m.expectedValue(n.Right)) / total
}

// prepared returns the prediction layout. Using an ensemble that Validate
// has not accepted is a programming error, like reading a nil map.
func (m *GBDT) prepared() *gbdtFlat {
	f := m.flat.Load()
	if f == nil {
		panic("model: GBDT used before a successful Validate")
	}
	return f
}

// ExpectedValue is the raw output averaged over the training population as
// the trees' covers describe it: the output before any feature is known.
// TreeSHAP contributions of a row sum to its raw output minus this.
func (m *GBDT) ExpectedValue() float64 { return m.prepared().expected }

// GoesLeft reports whether a row with value x for the node's feature goes
// to the left child of n, one of m's split nodes: the one decision rule
// that prediction, training and explanation share.
func (m *GBDT) GoesLeft(n *GBDTNode, x float64) bool {
	if math.IsNaN(x) {
		return n.DefaultLeft
	}
	if n.Set >= 0 {
		return inSet(m.CategorySets[n.Set], x)
	}
	return x < n.Threshold
}

// inSet reports whether category value x is in the bitset. Values that are
// not whole category indexes are in no set, so they go right like an
// unseen category.
func inSet(set []uint64, x float64) bool {
	if !(x >= 0 && x < float64(64*len(set))) {
		return false
	}
	c := uint64(x)
	if float64(c) != x {
		return false
	}
	return set[c>>6]>>(c&63)&1 != 0
}

// singleCategory returns the one category of a set that holds exactly one.
// Such a split is x == c, since inSet admits only whole category indexes.
func singleCategory(set []uint64) (uint64, bool) {
	c, n := uint64(0), 0
	for w, word := range set {
		n += bits.OnesCount64(word)
		if word != 0 {
			c = uint64(w)*64 + uint64(bits.TrailingZeros64(word))
		}
	}
	return c, n == 1
}

// Predict returns the raw output (log-odds) of one feature row of length
// Width, with NaN for missing values. It allocates nothing and gives the
// same bits as PredictBatch. The row's width is the caller's contract (the
// featurizer and the artifact loader check it); a row of another length
// panics, as an out-of-range index would.
func (m *GBDT) Predict(row []float64) float64 {
	f := m.prepared()
	if len(row) != m.Width {
		panic(fmt.Sprintf("model: GBDT.Predict: row has %d values, the model takes %d", len(row), m.Width))
	}
	sum, _ := f.predict(row, m.BaseScore, nil)
	return sum
}

// predict walks every tree for row and returns base plus the values of the
// leaves reached and, when part is not nil, the sum of part (parallel to
// f.values) over the same leaves. Scoring reads a tree-path attribution
// this way (see treepath.go) in the walk that predicts, rather than in a
// copy of it, so the two can never disagree about a row's leaves. The
// test on part goes the same way every tree; benchstat finds no change in
// Predict's time from it.
func (f *gbdtFlat) predict(row []float64, base float64, part []float64) (sum, partSum float64) {
	sum = base
	nodes, values := f.nodes, f.values
	for _, g := range f.groups {
		if g.four && !g.equality {
			// Four numeric trees stepped side by side: their walks do not
			// depend on each other, so the processor overlaps them, where
			// one tree's steps each wait for the last (Predict 1.9× faster
			// for 200 trees of depth 6, by benchstat). The leaves are
			// added in tree order.
			ts := f.trees[g.first : g.first+4]
			k0, k1, k2, k3 := ts[0].root, ts[1].root, ts[2].root, ts[3].root
			for range g.depth {
				k0 = stepNumeric(&nodes[k0], row)
				k1 = stepNumeric(&nodes[k1], row)
				k2 = stepNumeric(&nodes[k2], row)
				k3 = stepNumeric(&nodes[k3], row)
			}
			if f.round32 {
				sum = add32(add32(add32(add32(sum, values[k0]), values[k1]), values[k2]), values[k3])
			} else {
				sum += values[k0]
				sum += values[k1]
				sum += values[k2]
				sum += values[k3]
			}
			if part != nil {
				partSum += part[k0]
				partSum += part[k1]
				partSum += part[k2]
				partSum += part[k3]
			}
			continue
		}
		for _, t := range f.trees[g.first : g.first+g.size()] {
			k := t.root
			switch {
			case t.categorical:
				for range t.depth {
					k = f.stepCategorical(k, row)
				}
			case t.equality:
				for range t.depth {
					k = stepEquality(&nodes[k], row)
				}
			default:
				for range t.depth {
					k = stepNumeric(&nodes[k], row)
				}
			}
			if f.round32 {
				sum = add32(sum, values[k])
			} else {
				sum += values[k]
			}
			if part != nil {
				partSum += part[k]
			}
		}
	}
	return sum, partSum
}

// add32 adds a leaf value to a sum as float32 arithmetic does: both are
// float32 values, so their float64 sum is exact and rounding it once gives
// the float32 sum.
func add32(sum, v float64) float64 { return float64(float32(sum + v)) }

// stepNumeric is one step of a numeric tree's walk, without a branch on
// the data: right when x >= thr, a missing value its default way. A leaf
// (thr NaN, col 0) steps to itself.
func stepNumeric(n *flatNode, row []float64) int32 {
	x := row[n.col>>1]
	r := int32(b2i(x >= n.thr))
	miss := int32(b2i(x != x))
	r ^= (r ^ int32(n.col&1)) & -miss
	return n.next + r
}

// stepCategorical is one step of the general walk, which handles
// categorical splits as well as numeric ones.
func (f *gbdtFlat) stepCategorical(k int32, row []float64) int32 {
	n := &f.nodes[k]
	x := row[(n.col&flatCol)>>1]
	if x != x {
		return n.next + int32(n.col&1)
	}
	if n.col&flatEquality != 0 {
		if x == n.thr {
			return n.next
		}
		return n.next + 1
	}
	if n.col&flatCategorical != 0 {
		ref := f.cats[k]
		if inSet(f.sets[ref.off:ref.off+ref.words], x) {
			return n.next
		}
		return n.next + 1
	}
	if x >= n.thr {
		return n.next + 1
	}
	return n.next
}

// stepEquality is one step of an equality tree's walk, without a branch
// on the data: a numeric node goes right when x >= thr, an equality node
// when x != thr, and a missing value its default way.
func stepEquality(n *flatNode, row []float64) int32 {
	x := row[(n.col&flatCol)>>1]
	ge := int32(b2i(x >= n.thr))
	ne := int32(b2i(x != n.thr))
	eq := int32(n.col>>30) & 1
	r := ge ^ ((ge ^ ne) & -eq)
	miss := int32(b2i(x != x))
	r ^= (r ^ int32(n.col&1)) & -miss
	return n.next + r
}

// predictBlock is the number of rows walked through a tree together. The
// steps of different rows do not depend on each other, so the processor
// overlaps their loads.
const predictBlock = 32

// PredictBatch writes the raw output of each row of rows (row-major, Width
// columns) into out. It walks each tree level by level over blocks of rows
// without branching on the data and allocates nothing in the steady state;
// each output has the same bits as Predict's. A shape mismatch is an
// EINVALID error.
func (m *GBDT) PredictBatch(rows, out []float64) error {
	f := m.prepared()
	if len(rows) != len(out)*m.Width {
		return leadscore.InvalidField("rows", len(rows), fmt.Sprintf("must hold %d rows of %d features", len(out), m.Width))
	}
	m.predictRange(f, rows, out, nil, nil)
	return nil
}

// PredictBatchParallel is PredictBatch spread over threads goroutines (0
// means GOMAXPROCS), each scoring contiguous chunks of rows. The results
// do not depend on threads.
func (m *GBDT) PredictBatchParallel(rows, out []float64, threads int) error {
	f := m.prepared()
	if len(rows) != len(out)*m.Width {
		return leadscore.InvalidField("rows", len(rows), fmt.Sprintf("must hold %d rows of %d features", len(out), m.Width))
	}
	if threads < 0 {
		return leadscore.InvalidField("threads", threads, "must not be negative")
	}
	if threads == 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	// Chunks of many blocks keep the scheduling overhead negligible while
	// leaving enough pieces for the goroutines to balance.
	const chunk = 128 * predictBlock
	chunks := (len(out) + chunk - 1) / chunk
	threads = min(threads, chunks)
	if threads <= 1 {
		m.predictRange(f, rows, out, nil, nil)
		return nil
	}
	var wg sync.WaitGroup
	var next atomic.Int64
	for range threads {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c := int(next.Add(1) - 1)
				if c >= chunks {
					return
				}
				lo, hi := c*chunk, min(len(out), (c+1)*chunk)
				m.predictRange(f, rows[lo*m.Width:hi*m.Width], out[lo:hi], nil, nil)
			}
		}()
	}
	wg.Wait()
	return nil
}

// blockBuf is the transposed copy of one block of rows.
type blockBuf struct {
	x []float64
}

// predictRange scores rows into out block by block. Each block is copied
// transposed, feature by feature, in two versions: one with missing values
// replaced by -Inf and one by +Inf. A node reads the version that matches
// its default direction (its col), so "x >= threshold" alone sends a
// missing value the right way and the walk needs no NaN test: -Inf is below
// every finite threshold, +Inf above. With part (a value per node of the
// layout, read at each row's leaves, see gbdtPath) it also writes each
// row's sum of part into outPart.
func (m *GBDT) predictRange(f *gbdtFlat, rows, out, part, outPart []float64) {
	if len(out) == 0 {
		return
	}
	w := m.Width
	buf := f.blocks.Get().(*blockBuf)
	xb := buf.x
	neg, pos := math.Inf(-1), math.Inf(1)
	for lo := 0; lo < len(out); lo += predictBlock {
		hi := min(len(out), lo+predictBlock)
		block := rows[lo*w : hi*w]
		if hi-lo < predictBlock {
			// Rows past the end of a short block are scored but not
			// written out.
			clear(xb)
		}
		for r := 0; r < hi-lo; r++ {
			row := block[r*w : r*w+w]
			for j, v := range row {
				lo, hi := v, v
				if v != v {
					lo, hi = neg, pos
				}
				xb[2*j*predictBlock+r] = lo
				xb[(2*j+1)*predictBlock+r] = hi
			}
		}
		var op []float64
		if part != nil {
			op = outPart[lo:hi]
		}
		f.predictBlock(xb, out[lo:hi], m.BaseScore, part, op)
	}
	f.blocks.Put(buf)
}

// predictBlock scores a transposed block (see predictRange) and writes the
// first len(out) outputs. For each tree it moves every row of the block
// one level down per pass, so the steps of different rows, which do not
// depend on each other, are in flight together. Runs of four numeric trees
// are walked side by side, which gives the processor four times the
// independent work per row and measured about 20% faster. Leaf values are
// added in tree order, so the sums have Predict's bits.
func (f *gbdtFlat) predictBlock(xb, out []float64, base float64, part, outPart []float64) {
	var sum, psum [predictBlock]float64
	for r := range sum {
		sum[r] = base
	}
	acc := leafSums{values: f.values, sum: &sum, part: part, psum: &psum, round32: f.round32}
	for _, g := range f.groups {
		if g.four {
			if g.equality {
				f.walkFourEquality(f.trees[g.first:g.first+4], g.depth, xb, &acc)
			} else {
				f.walkFour(f.trees[g.first:g.first+4], g.depth, xb, &acc)
			}
			continue
		}
		f.walkOne(f.trees[g.first], xb, &acc)
	}
	copy(out, sum[:])
	if part != nil {
		copy(outPart, psum[:])
	}
}

// leafSums adds the leaves a block of rows reached to their sums: the
// leaf values, and with part the part of each leaf too. The part is added
// after the walk, once per tree, so it costs the walk nothing.
type leafSums struct {
	values []float64
	sum    *[predictBlock]float64
	part   []float64
	psum   *[predictBlock]float64
	// round32 sums in float32 (see GBDT.SumFloat32).
	round32 bool
}

// addFour adds four trees' leaves, in tree order.
func (a *leafSums) addFour(i0, i1, i2, i3 *[predictBlock]int32) {
	values := a.values
	if a.round32 {
		for r := range a.sum {
			a.sum[r] = add32(add32(add32(add32(a.sum[r], values[i0[r]]), values[i1[r]]), values[i2[r]]), values[i3[r]])
		}
	} else {
		for r := range a.sum {
			s := a.sum[r]
			s += values[i0[r]]
			s += values[i1[r]]
			s += values[i2[r]]
			s += values[i3[r]]
			a.sum[r] = s
		}
	}
	if part := a.part; part != nil {
		for r := range a.psum {
			p := a.psum[r]
			p += part[i0[r]]
			p += part[i1[r]]
			p += part[i2[r]]
			p += part[i3[r]]
			a.psum[r] = p
		}
	}
}

// walkOne adds one tree's leaf values to the block's sums.
func (f *gbdtFlat) walkOne(t flatTree, xb []float64, acc *leafSums) {
	var ix [predictBlock]int32
	for r := range ix {
		ix[r] = t.root
	}
	nodes := f.nodes
	switch {
	case t.categorical:
		for range t.depth {
			for r := range ix {
				ix[r] = f.stepCategoricalBlock(ix[r], xb, r)
			}
		}
	case t.equality:
		for range t.depth {
			for r := range ix {
				ix[r] = stepEqualityBlock(&nodes[ix[r]], xb, r)
			}
		}
	default:
		for range t.depth {
			for r := range ix {
				nd := &nodes[ix[r]]
				var b int32
				if xb[int(nd.col)*predictBlock+r] >= nd.thr {
					b = 1
				}
				ix[r] = nd.next + b
			}
		}
	}
	for r := range acc.sum {
		if acc.round32 {
			acc.sum[r] = add32(acc.sum[r], f.values[ix[r]])
		} else {
			acc.sum[r] += f.values[ix[r]]
		}
	}
	if part := acc.part; part != nil {
		for r := range acc.psum {
			acc.psum[r] += part[ix[r]]
		}
	}
}

// walkFour adds four numeric trees' leaf values to the block's sums,
// walking them together for depth steps; a shallower tree's rows wait at
// their self-looping leaves.
func (f *gbdtFlat) walkFour(ts []flatTree, depth int32, xb []float64, acc *leafSums) {
	var i0, i1, i2, i3 [predictBlock]int32
	r0, r1, r2, r3 := ts[0].root, ts[1].root, ts[2].root, ts[3].root
	for r := range i0 {
		i0[r], i1[r], i2[r], i3[r] = r0, r1, r2, r3
	}
	// The walk reads nodes and values through unchecked pointers: it is the
	// one loop where bounds checks cost (about a fifth of its time, by
	// benchstat), and the indexes are in range by construction. compile
	// lays out only validated trees, so every next (+1) is a node of the
	// layout, and every col is below 2×Width, a column of the block that
	// predictRange sizes to 2×Width×predictBlock; r < predictBlock.
	nodes := unsafe.Pointer(unsafe.SliceData(f.nodes))
	x := unsafe.Pointer(unsafe.SliceData(xb))
	node := func(i int32) *flatNode {
		return (*flatNode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(flatNode{})))
	}
	goes := func(n *flatNode, r int) int32 {
		v := *(*float64)(unsafe.Add(x, (uintptr(n.col)*predictBlock+uintptr(r))*8))
		if v >= n.thr {
			return 1
		}
		return 0
	}
	for range depth {
		for r := range i0 {
			n0, n1, n2, n3 := node(i0[r]), node(i1[r]), node(i2[r]), node(i3[r])
			i0[r], i1[r], i2[r], i3[r] = n0.next+goes(n0, r), n1.next+goes(n1, r), n2.next+goes(n2, r), n3.next+goes(n3, r)
		}
	}
	acc.addFour(&i0, &i1, &i2, &i3)
}

// walkFourEquality is walkFour for four trees some of which have equality
// splits: each step is stepEqualityBlock's.
func (f *gbdtFlat) walkFourEquality(ts []flatTree, depth int32, xb []float64, acc *leafSums) {
	var i0, i1, i2, i3 [predictBlock]int32
	r0, r1, r2, r3 := ts[0].root, ts[1].root, ts[2].root, ts[3].root
	for r := range i0 {
		i0[r], i1[r], i2[r], i3[r] = r0, r1, r2, r3
	}
	// The steps are stepEqualityBlock's, read through unchecked pointers
	// as walkFour reads them (the same invariants hold), so that the step
	// is inlined: called, it cost three times walkFour's step.
	nodes := unsafe.Pointer(unsafe.SliceData(f.nodes))
	x := unsafe.Pointer(unsafe.SliceData(xb))
	step := func(i int32, r uintptr) int32 {
		nd := (*flatNode)(unsafe.Add(nodes, uintptr(i)*unsafe.Sizeof(flatNode{})))
		col := uintptr(nd.col & flatCol)
		v := *(*float64)(unsafe.Add(x, (col*predictBlock+r)*8))
		w := *(*float64)(unsafe.Add(x, ((col^1)*predictBlock+r)*8))
		ge, ne := int32(b2i(v >= nd.thr)), int32(b2i(v != nd.thr))
		ne ^= (ne ^ int32(col&1)) & -int32(b2i(v != w))
		eq := int32(nd.col>>30) & 1
		return nd.next + (ge ^ ((ge ^ ne) & -eq))
	}
	for range depth {
		for r := range uintptr(predictBlock) {
			i0[r], i1[r], i2[r], i3[r] = step(i0[r], r), step(i1[r], r), step(i2[r], r), step(i3[r], r)
		}
	}
	acc.addFour(&i0, &i1, &i2, &i3)
}

// stepEqualityBlock is stepEquality for row r of a transposed block. The
// two copies of a value differ only when it is missing, which goes its
// default way at an equality node; at a numeric node the copy the node
// reads already sends it there.
func stepEqualityBlock(nd *flatNode, xb []float64, r int) int32 {
	col := int(nd.col & flatCol)
	x, y := xb[col*predictBlock+r], xb[(col^1)*predictBlock+r]
	ge := int32(b2i(x >= nd.thr))
	ne := int32(b2i(x != nd.thr))
	miss := int32(b2i(x != y))
	ne ^= (ne ^ int32(col&1)) & -miss
	eq := int32(nd.col>>30) & 1
	return nd.next + (ge ^ ((ge ^ ne) & -eq))
}

// stepCategoricalBlock is stepCategorical for row r of a transposed block.
func (f *gbdtFlat) stepCategoricalBlock(k int32, xb []float64, r int) int32 {
	n := &f.nodes[k]
	col := int(n.col & flatCol)
	x := xb[col*predictBlock+r]
	if n.col&(flatCategorical|flatEquality) == 0 {
		if x >= n.thr {
			return n.next + 1
		}
		return n.next
	}
	if xb[(col&^1)*predictBlock+r] != xb[(col|1)*predictBlock+r] {
		// The two copies differ only for a missing value.
		return n.next + int32(col&1)
	}
	if n.col&flatEquality != 0 {
		if x == n.thr {
			return n.next
		}
		return n.next + 1
	}
	ref := f.cats[k]
	if inSet(f.sets[ref.off:ref.off+ref.words], x) {
		return n.next
	}
	return n.next + 1
}
