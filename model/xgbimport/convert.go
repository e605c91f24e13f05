package xgbimport

import (
	"fmt"
	"math"
	"slices"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// Convert builds the feature spec and the ensemble of an imported model:
// the spec reads the mapped attributes (a categorical one with the
// categories of its one-hot features, or its category codes' values),
// and each XGBoost split becomes a split on the attribute's column that
// sends every row where XGBoost sends it. Each model feature is a source
// of the ensemble (see model.GBDT.Sources), so explanations are XGBoost's
// per feature, and an attribute's contribution is the sum of its
// features'. The ensemble is validated; its width is the spec's.
func Convert(b *Booster, mp *Mapping, attrs []Attribute) (*model.FeatureSpec, *model.GBDT, error) {
	if len(mp.Inputs) != len(b.FeatureNames) {
		return nil, nil, leadscore.InvalidField("mapping.inputs", len(mp.Inputs), fmt.Sprintf("must map each of the model's %d features", len(b.FeatureNames)))
	}
	byKey := map[string]*Attribute{}
	for i := range attrs {
		byKey[attrs[i].Key] = &attrs[i]
	}
	spec := &model.FeatureSpec{
		Version:      model.SpecVersion,
		WindowDays:   slices.Clone(model.DefaultWindowDays),
		HalfLifeDays: model.DefaultHalfLifeDays,
		DailyCap:     model.DefaultDailyCap,
	}
	column := map[string]int{}
	for _, in := range mp.Inputs {
		a := byKey[in.Attribute]
		if a == nil {
			return nil, nil, leadscore.InvalidField("feature "+in.Feature, in.Attribute, "is not an attribute of the reference data")
		}
		j, ok := column[in.Attribute]
		if !ok {
			j = len(spec.Fit)
			column[in.Attribute] = j
			ff := model.FitFeature{Attribute: a.Key, Kind: a.Kind}
			if in.Encoding == EncodingCategoryCode {
				ff.Categories = slices.Clone(a.Categories)
			}
			spec.Fit = append(spec.Fit, ff)
		}
		if in.Encoding == EncodingOneHot && a.Kind == model.KindCategorical {
			spec.Fit[j].Categories = append(spec.Fit[j].Categories, in.Category)
		}
	}
	if err := spec.Validate(); err != nil {
		return nil, nil, err
	}
	g := &model.GBDT{
		Width:     spec.Width(),
		BaseScore: float64(b.BaseMargin()),
		Sources:   make([]model.GBDTSource, len(mp.Inputs)),
		// XGBoost adds its trees in float32.
		SumFloat32: true,
	}
	for k, in := range mp.Inputs {
		g.Sources[k] = model.GBDTSource{Name: in.Feature, Feature: int32(column[in.Attribute])}
	}
	c := converter{b: b, mp: mp, spec: spec, g: g, column: column}
	for t := range b.Trees {
		if err := c.tree(t); err != nil {
			return nil, nil, err
		}
	}
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("the converted ensemble: %w", err)
	}
	return spec, g, nil
}

// converter appends XGBoost's trees to a GBDT.
type converter struct {
	b      *Booster
	mp     *Mapping
	spec   *model.FeatureSpec
	g      *model.GBDT
	column map[string]int
}

// tree appends tree t. Its nodes are in breadth-first order (see Read),
// so each keeps its index within the tree.
func (c *converter) tree(t int) error {
	root := int32(len(c.g.Nodes))
	c.g.Trees = append(c.g.Trees, root)
	for i, x := range c.b.Trees[t].Nodes {
		n := model.GBDTNode{Left: -1, Right: -1, Set: -1, Cover: x.Cover, Gain: x.Gain}
		if x.IsLeaf() {
			n.Value = float64(x.Value)
			n.Gain = 0
			c.g.Nodes = append(c.g.Nodes, n)
			continue
		}
		in := c.mp.Inputs[x.Feature]
		n.Feature = int32(c.column[in.Attribute])
		n.Source = x.Feature
		left, right := root+x.Left, root+x.Right
		field := fmt.Sprintf("trees[%d].nodes[%d]", t, i)
		var err error
		switch {
		case x.Categorical:
			err = c.categorical(field, &n, x, in, left, right)
		case in.Encoding == EncodingOneHot:
			c.oneHot(&n, x, in, left, right)
		default:
			// XGBoost compares the float32 value with the float32
			// threshold; Threshold32 gives the float64 threshold that
			// decides every float64 value the same way.
			n.Threshold = Threshold32(x.Threshold)
			n.Left, n.Right, n.DefaultLeft = left, right, x.DefaultLeft
		}
		if err != nil {
			return err
		}
		c.g.Nodes = append(c.g.Nodes, n)
	}
	return nil
}

// categorical converts a split on an XGBoost categorical feature. XGBoost
// sends the listed categories right and every other code left; a leadscore
// set goes left, so the children swap. The codes are the indexes of the
// attribute's categories, which the spec keeps in code order; a value
// outside them reads as len(categories), in no set, so it goes where
// XGBoost sends a code it never saw.
func (c *converter) categorical(field string, n *model.GBDTNode, x Node, in Input, left, right int32) error {
	cats := c.spec.Fit[n.Feature].Categories
	words := 1
	for _, code := range x.Categories {
		if int(code) >= len(cats) {
			return leadscore.InvalidField(field+".categories", code, fmt.Sprintf("is no category of attribute %s, which has %d in code order", in.Attribute, len(cats)))
		}
		words = max(words, int(code)/64+1)
	}
	set := make([]uint64, words)
	for _, code := range x.Categories {
		set[code/64] |= 1 << (code % 64)
	}
	n.Set = int32(len(c.g.CategorySets))
	c.g.CategorySets = append(c.g.CategorySets, set)
	n.Left, n.Right, n.DefaultLeft = right, left, !x.DefaultLeft
	return nil
}

// oneHot converts a split on a one-hot feature into a split on its
// attribute: rows with the feature's category take the child XGBoost
// gives a 1, all others (a missing value too, whose one-hot columns are
// all 0) the child it gives a 0. With SparseZeros a 0 is missing to
// XGBoost and takes the default child.
func (c *converter) oneHot(n *model.GBDTNode, x Node, in Input, left, right int32) {
	child := func(v float32) int32 {
		if v < x.Threshold {
			return left
		}
		return right
	}
	c0, c1 := child(0), child(1)
	if c.mp.SparseZeros {
		c0 = right
		if x.DefaultLeft {
			c0 = left
		}
	}
	other := left + right - c0
	if c0 == c1 {
		// Every row goes one way: a split whose threshold no present
		// value reaches, missing values sent the same way.
		n.Threshold = math.MaxFloat64
		n.Left, n.Right, n.DefaultLeft = c0, other, true
		return
	}
	ff := c.spec.Fit[n.Feature]
	if ff.Kind == model.KindBoolean {
		// The column is 0 or 1; the feature is 1 where the column is the
		// category's value.
		v, _ := parseBool(in.Category)
		n.Threshold = 0.5
		if v {
			n.Left, n.Right = c0, c1
		} else {
			n.Left, n.Right = c1, c0
		}
		n.DefaultLeft = n.Left == c0
		return
	}
	code := slices.Index(ff.Categories, in.Category)
	set := make([]uint64, code/64+1)
	set[code/64] = 1 << (code % 64)
	n.Set = int32(len(c.g.CategorySets))
	c.g.CategorySets = append(c.g.CategorySets, set)
	n.Left, n.Right, n.DefaultLeft = c1, c0, false
}

// Threshold32 returns the float64 threshold u for which x < u exactly when
// float32(x) < t, for every float64 x: XGBoost casts each value to float32
// and compares it with its float32 threshold. float32(x) < t means x
// rounds to at most p, the float32 below t, so u is the midpoint of p and
// t (exact in float64), or just above it when a tie rounds to p (round
// half to even picks the one whose last significand bit is 0).
func Threshold32(t float32) float64 {
	p := math.Nextafter32(t, float32(math.Inf(-1)))
	if math.IsInf(float64(p), -1) {
		// Values round to -Inf, below -MaxFloat32, from the midpoint of
		// -MaxFloat32 and -2^128 on; a tie rounds to -Inf.
		return math.Nextafter(-(math.MaxFloat32 + math.Ldexp(1, 103)), math.Inf(1))
	}
	mid := (float64(p) + float64(t)) / 2
	if math.Float32bits(p)&1 == 0 {
		return math.Nextafter(mid, math.Inf(1))
	}
	return mid
}
