package model

import (
	"math"
	"math/rand/v2"
)

var nan = math.NaN()

// randomEnsemble builds trees of the given depth over width features with
// random thresholds, default directions, covers and leaf values. Leaves
// stop some branches early; categorical adds bitset splits on feature 0.
// A negative depth gives each tree a random depth up to -depth.
func randomEnsemble(rng *rand.Rand, width, trees, depth int, categorical bool) *GBDT {
	return randomEnsembleSets(rng, width, trees, depth, categorical, false)
}

// randomEnsembleSets is randomEnsemble whose categorical splits, when
// single is set, each send one category left, as one-vs-rest splitting
// grows them (the category in either word of a two-word set).
func randomEnsembleSets(rng *rand.Rand, width, trees, depth int, categorical, single bool) *GBDT {
	m := &GBDT{Width: width, BaseScore: -2.2}
	maxDepth := depth
	for range trees {
		if maxDepth < 0 {
			depth = rng.IntN(1 - maxDepth)
		}
		m.Trees = append(m.Trees, int32(len(m.Nodes)))
		root := int32(len(m.Nodes))
		m.Nodes = append(m.Nodes, GBDTNode{Set: -1})
		frontier := []int32{root}
		for d := 0; d < depth; d++ {
			var next []int32
			for _, i := range frontier {
				if d > 1 && rng.IntN(8) == 0 {
					continue
				}
				n := &m.Nodes[i]
				n.Feature = int32(rng.IntN(width))
				n.Threshold = rng.NormFloat64()
				n.DefaultLeft = rng.IntN(2) == 0
				n.Gain = rng.Float64()
				if categorical && rng.IntN(3) == 0 {
					n.Feature = 0
					set := make([]uint64, 1+rng.IntN(2))
					for w := range set {
						set[w] = rng.Uint64()
					}
					if single {
						clear(set)
						c := rng.IntN(64 * len(set))
						set[c/64] = 1 << (c % 64)
					}
					n.Set = int32(len(m.CategorySets))
					n.Threshold = 0
					m.CategorySets = append(m.CategorySets, set)
				}
				l := int32(len(m.Nodes))
				n.Left, n.Right = l, l+1
				m.Nodes = append(m.Nodes, GBDTNode{Set: -1}, GBDTNode{Set: -1})
				next = append(next, l, l+1)
			}
			frontier = next
		}
		// Leaves get values; covers add up from the leaves.
		for i := len(m.Nodes) - 1; i >= int(root); i-- {
			n := &m.Nodes[i]
			if n.Left == 0 && n.Right == 0 {
				n.Left, n.Right = -1, -1
				n.Value = rng.NormFloat64() * 0.1
				n.Cover = 1 + rng.Float64()*100
				continue
			}
			n.Cover = m.Nodes[n.Left].Cover + m.Nodes[n.Right].Cover
		}
	}
	return m
}
