package model

import (
	"math"
	"math/rand/v2"
	"testing"
)

// naivePath walks row down the canonical nodes with GoesLeft and credits
// each edge's move of the expectation, E(child) − E(parent) with E from
// the recursive expectedValue, to the parent's feature: the reference the
// per-leaf precomputation must match. It returns the credits to the
// features in in and to the others.
func naivePath(m *GBDT, row []float64, in []bool) (inside, outside float64) {
	for _, root := range m.Trees {
		k := root
		for !m.Nodes[k].IsLeaf() {
			n := &m.Nodes[k]
			next := n.Right
			if m.GoesLeft(n, row[n.Feature]) {
				next = n.Left
			}
			move := m.expectedValue(next) - m.expectedValue(k)
			if in[n.Feature] {
				inside += move
			} else {
				outside += move
			}
			k = next
		}
	}
	return inside, outside
}

// zeroSomeCovers gives, in about a quarter of the splits whose children
// are both leaves, the left leaf no training cover, as a branch no
// training row took has, and adds the covers up again.
func zeroSomeCovers(rng *rand.Rand, m *GBDT) {
	for i := range m.Nodes {
		n := &m.Nodes[i]
		if !n.IsLeaf() && m.Nodes[n.Left].IsLeaf() && m.Nodes[n.Right].IsLeaf() && rng.IntN(4) == 0 {
			m.Nodes[n.Left].Cover = 0
		}
	}
	for i := len(m.Nodes) - 1; i >= 0; i-- {
		if n := &m.Nodes[i]; !n.IsLeaf() {
			n.Cover = m.Nodes[n.Left].Cover + m.Nodes[n.Right].Cover
		}
	}
}

func TestTreePathAttribution(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name                string
		width, trees, depth int
		categorical, single bool
		zeroCovers          bool
	}{
		{"numeric trees", 9, 60, 6, false, false, false},
		{"trees of depths 0 to 7", 9, 60, -7, false, false, false},
		{"categorical sets", 6, 80, 6, true, false, false},
		{"one-category splits", 6, 80, 6, true, true, false},
		{"branches without cover", 9, 60, 5, true, false, true},
		{"the benchmark's shape", 30, 200, 6, false, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(21, uint64(tc.trees)))
			m := randomEnsembleSets(rng, tc.width, tc.trees, tc.depth, tc.categorical, tc.single)
			if tc.zeroCovers {
				zeroSomeCovers(rng, m)
			}
			if err := m.Validate(); err != nil {
				t.Fatal(err)
			}
			// Feature 0 (the categorical one) and every third feature form
			// the group; the rest its complement.
			in, out := make([]bool, tc.width), make([]bool, tc.width)
			for j := range in {
				in[j] = j%3 == 0
				out[j] = !in[j]
			}
			f := m.prepared()
			pin, pout := m.newPath(f, in), m.newPath(f, out)
			const rows = 300
			x := randomRows(rng, rows, tc.width)
			x[0], x[1], x[2] = math.Inf(1), math.Inf(-1), 2.5
			for i := range rows {
				row := x[i*tc.width : (i+1)*tc.width]
				raw, inside := pin.sums(row)
				raw2, outside := pout.sums(row)
				if want := m.Predict(row); math.Float64bits(raw) != math.Float64bits(want) || math.Float64bits(raw2) != math.Float64bits(want) {
					t.Fatalf("row %d: the path walks give raw %v and %v, Predict %v", i, raw, raw2, want)
				}
				wantIn, wantOut := naivePath(m, row, in)
				if math.Abs(inside-wantIn) > 1e-12 || math.Abs(outside-wantOut) > 1e-12 {
					t.Fatalf("row %d: per-leaf shares %v and %v, naive path walk %v and %v", i, inside, outside, wantIn, wantOut)
				}
				if got, want := inside+outside, raw-m.ExpectedValue(); math.Abs(got-want) > 1e-9 {
					t.Fatalf("row %d: shares add up to %.15g, want raw − expected %.15g (off by %.3g)", i, got, want, got-want)
				}
			}
		})
	}
}
