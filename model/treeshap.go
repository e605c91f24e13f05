package model

import "fmt"

// This file computes exact TreeSHAP contributions with the path-dependent
// algorithm of Lundberg, Erion and Lee, "Consistent Individualized Feature
// Attribution for Tree Ensembles" (2018), Algorithm 2. A feature the
// explanation does not condition on follows both branches of its splits,
// weighted by the training cover of each branch. The walk keeps, for the
// path from the root, the fraction of "zero" paths (feature unknown) and
// "one" paths (feature known) through each split feature, together with
// the weight of every subset size, so each leaf adds its share to every
// feature on its path in O(depth²) instead of enumerating subsets.

// pathElem is one distinct feature on the path from the root to the
// current node.
type pathElem struct {
	feature int32
	// zero is the fraction of rows (by cover) that flow through the
	// feature's splits on this path when the feature is unknown; one is 1
	// when the row itself follows the path through them, 0 when not.
	zero, one float64
	// weight is the permutation weight of the subsets of this size.
	weight float64
}

// shapScratch is the path storage of one walk: the path at depth d lives
// in its own segment of d+1 elements, so a child extends a copy and the
// parent's path survives for the sibling. sources holds the contributions
// of an ensemble's sources, when it has them.
type shapScratch struct {
	buf     []pathElem
	sources []float64
}

func newSHAPScratch(maxDepth, sources int) *shapScratch {
	return &shapScratch{buf: make([]pathElem, (maxDepth+1)*(maxDepth+2)/2), sources: make([]float64, sources)}
}

// Contributions writes into out (length Width) each feature's exact
// TreeSHAP contribution to the raw output of row. The contributions sum to
// Predict(row) - ExpectedValue(), up to rounding. It allocates nothing in
// the steady state and is safe for concurrent use. As with Predict, rows
// and out of the wrong length are a programming error and panic.
func (m *GBDT) Contributions(row, out []float64) {
	f := m.prepared()
	if len(row) != m.Width || len(out) != m.Width {
		panic(fmt.Sprintf("model: GBDT.Contributions: row has %d values and out %d, the model takes %d", len(row), len(out), m.Width))
	}
	clear(out)
	s := f.shap.Get().(*shapScratch)
	if m.Sources == nil {
		m.walkSHAP(row, out, s.buf, false)
	} else {
		m.walkSHAP(row, s.sources, s.buf, true)
		for k, src := range m.Sources {
			out[src.Feature] += s.sources[k]
		}
	}
	f.shap.Put(s)
}

// SourceContributions writes into out (one entry per source, see
// GBDT.Sources) each source feature's exact TreeSHAP contribution to the
// raw output of row, as the model the ensemble was imported from explains
// it. They sum to Predict(row) - ExpectedValue(), up to rounding, and the
// sources of a row feature sum to its Contributions. It allocates nothing
// in the steady state. An ensemble without sources, or out of another
// length than its sources, is a programming error and panics.
func (m *GBDT) SourceContributions(row, out []float64) {
	f := m.prepared()
	if m.Sources == nil || len(row) != m.Width || len(out) != len(m.Sources) {
		panic(fmt.Sprintf("model: GBDT.SourceContributions: row has %d values and out %d, the model takes %d and has %d sources", len(row), len(out), m.Width, len(m.Sources)))
	}
	s := f.shap.Get().(*shapScratch)
	m.walkSHAP(row, out, s.buf, true)
	f.shap.Put(s)
}

// walkSHAP adds every tree's TreeSHAP contributions of row into out, by
// row feature or, with bySource, by source.
func (m *GBDT) walkSHAP(row, out []float64, buf []pathElem, bySource bool) {
	clear(out)
	w := shapWalk{m: m, row: row, out: out, buf: buf, bySource: bySource}
	for _, root := range m.Trees {
		w.recurse(root, 0, nil, 1, 1, -1)
	}
}

// shapWalk is the state of one row's explanation.
type shapWalk struct {
	m   *GBDT
	row []float64
	out []float64
	buf []pathElem
	// bySource makes each split's player its source rather than its
	// feature.
	bySource bool
}

// recurse visits node i at the given depth. parent is the path above it;
// the split that led here contributes an element for feature pf with
// fractions pz and po (feature -1 marks the root's empty element).
func (w *shapWalk) recurse(i int32, depth int, parent []pathElem, pz, po float64, pf int32) {
	start := depth * (depth + 1) / 2
	p := w.buf[start : start+len(parent) : start+depth+1]
	copy(p, parent)
	p = extendPath(p, pz, po, pf)

	n := &w.m.Nodes[i]
	if n.IsLeaf() {
		for k := 1; k < len(p); k++ {
			e := &p[k]
			if e.one == e.zero {
				continue
			}
			w.out[e.feature] += unwoundSum(p, k) * (e.one - e.zero) * n.Value
		}
		return
	}

	player := n.Feature
	if w.bySource {
		player = n.Source
	}
	hot, cold := n.Left, n.Right
	if !w.m.GoesLeft(n, w.row[n.Feature]) {
		hot, cold = cold, hot
	}
	total := w.m.Nodes[n.Left].Cover + w.m.Nodes[n.Right].Cover
	hotZero := w.m.Nodes[hot].Cover / total
	coldZero := w.m.Nodes[cold].Cover / total

	// A feature split on again below an earlier split of the same feature
	// is one player: undo its element and carry its fractions on.
	iz, io := 1.0, 1.0
	for k := 1; k < len(p); k++ {
		if p[k].feature == player {
			iz, io = p[k].zero, p[k].one
			p = unwindPath(p, k)
			break
		}
	}
	// A branch that neither the row nor any training row takes weighs
	// nothing: every path weight below it is zero, and skipping it avoids
	// dividing zero by zero when unwinding.
	if iz*hotZero != 0 || io != 0 {
		w.recurse(hot, depth+1, p, iz*hotZero, io, player)
	}
	if iz*coldZero != 0 {
		w.recurse(cold, depth+1, p, iz*coldZero, 0, player)
	}
}

// extendPath appends an element for a split on feature pf to p, which has
// room for it, and updates the subset weights: each existing subset either
// leaves the new feature out (zero fraction pz) or takes it in (one
// fraction po).
func extendPath(p []pathElem, pz, po float64, pf int32) []pathElem {
	l := len(p)
	p = p[:l+1]
	p[l] = pathElem{feature: pf, zero: pz, one: po}
	if l == 0 {
		p[l].weight = 1
	}
	inv := 1 / float64(l+1)
	for i := l - 1; i >= 0; i-- {
		p[i+1].weight += po * p[i].weight * float64(i+1) * inv
		p[i].weight = pz * p[i].weight * float64(l-i) * inv
	}
	return p
}

// unwindPath removes element k from p, inverting extendPath for it, and
// returns the shortened path.
func unwindPath(p []pathElem, k int) []pathElem {
	l := len(p) - 1
	one, zero := p[k].one, p[k].zero
	next := p[l].weight
	for j := l - 1; j >= 0; j-- {
		if one != 0 {
			t := p[j].weight
			p[j].weight = next * float64(l+1) / (float64(j+1) * one)
			next = t - p[j].weight*zero*float64(l-j)/float64(l+1)
		} else {
			p[j].weight = p[j].weight * float64(l+1) / (zero * float64(l-j))
		}
	}
	for j := k; j < l; j++ {
		p[j].feature, p[j].zero, p[j].one = p[j+1].feature, p[j+1].zero, p[j+1].one
	}
	return p[:l]
}

// unwoundSum is the total weight of p with element k unwound, without
// changing p: the Shapley weight of the feature of element k at a leaf.
func unwoundSum(p []pathElem, k int) float64 {
	l := len(p) - 1
	one, zero := p[k].one, p[k].zero
	var total float64
	if one != 0 {
		next := p[l].weight
		for j := l - 1; j >= 0; j-- {
			t := next * float64(l+1) / (float64(j+1) * one)
			total += t
			next = p[j].weight - t*zero*float64(l-j)/float64(l+1)
		}
		return total
	}
	for j := l - 1; j >= 0; j-- {
		total += p[j].weight * float64(l+1) / (zero * float64(l-j))
	}
	return total
}
