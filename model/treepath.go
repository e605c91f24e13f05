package model

// This file computes tree-path attribution (Saabas, "Interpreting random
// forests", 2014) for the grid. Let E(n) be the cover-weighted mean leaf
// value under node n, as expectedValue computes it. A row's path through a
// tree moves the expectation from E(root) to the value of the leaf it
// reaches; each edge parent → child moves it by E(child) − E(parent),
// which is credited to the feature the parent splits on. Over all trees
// the credits add up to the raw output minus ExpectedValue, the same
// identity TreeSHAP contributions satisfy.
//
// Unlike TreeSHAP, which costs about a millisecond a row for 200 trees of
// depth 6, the credits of a path depend on its leaf alone: a leaf has one
// path. So the share of a group of features is a constant per leaf,
// computed once per model, and reading it during prediction costs one add
// per tree. The grid's fit grade of a GBDT with the tree-path basis is
// read from this share; its engagement level from the rest.

// gbdtPath is a GBDT's per-leaf tree-path attribution to one group of
// features. It keeps the prediction layout its leaf array is parallel to,
// so that a row is always walked on the layout the array was built for,
// even while Validate swaps in a new one (which is the same).
type gbdtPath struct {
	flat *gbdtFlat
	base float64 // the ensemble's BaseScore
	// leaf holds, at each leaf's index of flat.values, the credits along
	// the leaf's path that go to the group; split nodes hold 0.
	leaf []float64
}

// newPath builds the tree-path attribution to the features j with in[j]
// set, for the layout f of m (the one a successful Validate built).
func (m *GBDT) newPath(f *gbdtFlat, in []bool) *gbdtPath {
	return &gbdtPath{flat: f, base: m.BaseScore, leaf: m.pathLeaves(f, in)}
}

// nodeExpectations returns E(n) for every node: children come after their
// parent, so one pass from the end sees both children before the parent.
// The arithmetic is expectedValue's, so the roots' values have its bits.
func (m *GBDT) nodeExpectations() []float64 {
	e := make([]float64, len(m.Nodes))
	for i := len(m.Nodes) - 1; i >= 0; i-- {
		n := &m.Nodes[i]
		if n.IsLeaf() {
			e[i] = n.Value
			continue
		}
		l, r := &m.Nodes[n.Left], &m.Nodes[n.Right]
		e[i] = (l.Cover*e[n.Left] + r.Cover*e[n.Right]) / (l.Cover + r.Cover)
	}
	return e
}

// pathLeaves returns, parallel to f.values, each leaf's sum of the credits
// on its path that go to the features in in. It walks each tree of m and
// of f together: the layout puts a split's left child at next and its
// right child at next+1.
func (m *GBDT) pathLeaves(f *gbdtFlat, in []bool) []float64 {
	e := m.nodeExpectations()
	out := make([]float64, len(f.values))
	type visit struct {
		src, at int32
		credit  float64
	}
	// Depth-first, the stack holds at most one pending sibling per level
	// plus the node being expanded.
	stack := make([]visit, 0, f.maxDepth+2)
	for t, root := range m.Trees {
		stack = append(stack[:0], visit{src: root, at: f.trees[t].root})
		for len(stack) > 0 {
			v := stack[len(stack)-1]
			stack = stack[:len(stack)-1]
			n := &m.Nodes[v.src]
			if n.IsLeaf() {
				out[v.at] = v.credit
				continue
			}
			left, right := v.credit, v.credit
			if in[n.Feature] {
				left += e[n.Left] - e[v.src]
				right += e[n.Right] - e[v.src]
			}
			next := f.nodes[v.at].next
			stack = append(stack, visit{n.Left, next, left}, visit{n.Right, next + 1, right})
		}
	}
	return out
}

// sums returns the raw output of row (Predict's bits) and the group's
// tree-path share of raw − ExpectedValue, in one walk of the trees.
func (p *gbdtPath) sums(row []float64) (raw, share float64) {
	return p.flat.predict(row, p.base, p.leaf)
}
