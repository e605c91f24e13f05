package artifact

import (
	"fmt"
	"math"
	"slices"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	artifactv1 "github.com/leadscore/leadscore/proto/leadscore/artifact/v1"
)

// Errors name fields by their path in the Artifact message, such as
// "gbdt.nodes.left" or "metadata.horizon". model's own validation, which
// fromProto runs, uses nearly the same paths ("gbdt.nodes[3].left"), so an
// error points at the stored field either way.

var familyToProto = map[model.Family]artifactv1.Family{
	model.FamilyPoints:   artifactv1.Family_FAMILY_POINTS,
	model.FamilyLogistic: artifactv1.Family_FAMILY_LOGISTIC,
	model.FamilyGBDT:     artifactv1.Family_FAMILY_GBDT,
}

var familyFromProto = map[artifactv1.Family]model.Family{
	artifactv1.Family_FAMILY_POINTS:   model.FamilyPoints,
	artifactv1.Family_FAMILY_LOGISTIC: model.FamilyLogistic,
	artifactv1.Family_FAMILY_GBDT:     model.FamilyGBDT,
}

var basisToProto = map[model.GridBasis]artifactv1.GridBasis{
	model.GridBasisContributions: artifactv1.GridBasis_GRID_BASIS_UNSPECIFIED,
	model.GridBasisTreePath:      artifactv1.GridBasis_GRID_BASIS_TREE_PATH,
}

var basisFromProto = map[artifactv1.GridBasis]model.GridBasis{
	artifactv1.GridBasis_GRID_BASIS_UNSPECIFIED: model.GridBasisContributions,
	artifactv1.GridBasis_GRID_BASIS_TREE_PATH:   model.GridBasisTreePath,
}

var kindToProto = map[model.Kind]artifactv1.FeatureKind{
	model.KindNumeric:     artifactv1.FeatureKind_FEATURE_KIND_NUMERIC,
	model.KindCategorical: artifactv1.FeatureKind_FEATURE_KIND_CATEGORICAL,
	model.KindBoolean:     artifactv1.FeatureKind_FEATURE_KIND_BOOLEAN,
}

var kindFromProto = map[artifactv1.FeatureKind]model.Kind{
	artifactv1.FeatureKind_FEATURE_KIND_NUMERIC:     model.KindNumeric,
	artifactv1.FeatureKind_FEATURE_KIND_CATEGORICAL: model.KindCategorical,
	artifactv1.FeatureKind_FEATURE_KIND_BOOLEAN:     model.KindBoolean,
}

// toProto converts a model to its message. It checks only what the
// message cannot represent; marshal validates the rest by converting the
// message back. The message shares m's slices, so it must not outlive a
// change to m.
func toProto(m *model.Model) (*artifactv1.Artifact, error) {
	pb := &artifactv1.Artifact{FormatVersion: FormatVersion}
	fam, ok := familyToProto[m.Family]
	if !ok {
		return nil, leadscore.InvalidField("family", m.Family, "must be points, logistic or gbdt")
	}
	pb.Family = fam
	if m.Spec != nil {
		spec, err := specToProto(m.Spec)
		if err != nil {
			return nil, err
		}
		pb.FeatureSpec = spec
	}
	families := 0
	if m.Logistic != nil {
		families++
		p, err := linearToProto(m.Logistic)
		if err != nil {
			return nil, err
		}
		pb.Parameters = &artifactv1.Artifact_Logistic{Logistic: p}
	}
	if m.GBDT != nil {
		families++
		pb.Parameters = &artifactv1.Artifact_Gbdt{Gbdt: gbdtToProto(m.GBDT)}
	}
	if m.Points != nil {
		families++
		p, err := pointsToProto(m.Points)
		if err != nil {
			return nil, err
		}
		pb.Parameters = &artifactv1.Artifact_Points{Points: p}
	}
	if families > 1 {
		return nil, leadscore.InvalidField("family", m.Family, "a model holds exactly one family's parameters")
	}
	if m.Calibration != nil {
		c, err := calibrationToProto(m.Calibration)
		if err != nil {
			return nil, err
		}
		pb.Calibration = c
	}
	if m.Grid != nil {
		g, err := gridToProto(m.Grid)
		if err != nil {
			return nil, err
		}
		pb.Grid = g
	}
	md, err := metadataToProto(&m.Metadata)
	if err != nil {
		return nil, err
	}
	pb.Metadata = md
	if b := m.PointsBaseline; b != nil {
		if b.PointsBaseline != nil {
			return nil, leadscore.InvalidField("points_baseline.points_baseline", "set", "must be unset: a baseline has no baseline of its own")
		}
		if pb.PointsBaseline, err = toProto(b); err != nil {
			return nil, fmt.Errorf("points baseline: %w", err)
		}
	}
	return pb, nil
}

// fromProto converts a message to a model and validates the model
// completely. The model owns its memory: it shares nothing with pb.
func fromProto(pb *artifactv1.Artifact) (*model.Model, error) {
	if v := pb.GetFormatVersion(); v != FormatVersion {
		return nil, leadscore.InvalidField("format_version", v, fmt.Sprintf("is not supported: this build reads version %d", FormatVersion))
	}
	fam, ok := familyFromProto[pb.GetFamily()]
	if !ok {
		return nil, leadscore.InvalidField("family", pb.GetFamily(), "must be FAMILY_POINTS, FAMILY_LOGISTIC or FAMILY_GBDT")
	}
	m := &model.Model{Family: fam}
	var err error
	if m.Spec, err = specFromProto(pb.GetFeatureSpec()); err != nil {
		return nil, err
	}
	var params model.Family
	switch p := pb.GetParameters().(type) {
	case *artifactv1.Artifact_Logistic:
		params = model.FamilyLogistic
		if m.Logistic, err = linearFromProto(p.Logistic); err != nil {
			return nil, err
		}
	case *artifactv1.Artifact_Gbdt:
		params = model.FamilyGBDT
		if m.GBDT, err = gbdtFromProto(p.Gbdt); err != nil {
			return nil, err
		}
	case *artifactv1.Artifact_Points:
		params = model.FamilyPoints
		if m.Points, err = pointsFromProto(p.Points); err != nil {
			return nil, err
		}
	default:
		return nil, leadscore.InvalidField("parameters", "", "are required: one of logistic, gbdt or points")
	}
	if params != fam {
		return nil, leadscore.InvalidField("family", fam, fmt.Sprintf("does not match the parameters, which are %s", params))
	}
	// The spec is validated before the parameters are compared with it,
	// so that a bad spec is named as such rather than as a width mismatch.
	if err := m.Spec.Validate(); err != nil {
		return nil, err
	}
	if m.GBDT != nil && m.GBDT.Width != m.Spec.Width() {
		return nil, leadscore.InvalidField("gbdt.num_features", m.GBDT.Width, fmt.Sprintf("must equal the spec's %d features", m.Spec.Width()))
	}
	if m.Calibration, err = calibrationFromProto(pb.GetCalibration()); err != nil {
		return nil, err
	}
	if m.Grid, err = gridFromProto(pb.GetGrid()); err != nil {
		return nil, err
	}
	if m.Metadata, err = metadataFromProto(pb.GetMetadata()); err != nil {
		return nil, err
	}
	if b := pb.GetPointsBaseline(); b != nil {
		// Refused before converting, so that a crafted file cannot make
		// the reader recurse.
		if b.GetPointsBaseline() != nil {
			return nil, leadscore.InvalidField("points_baseline.points_baseline", "set", "must be unset: a baseline has no baseline of its own")
		}
		if m.PointsBaseline, err = fromProto(b); err != nil {
			return nil, fmt.Errorf("points baseline: %w", err)
		}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	if err := checkAgainstSpec(m); err != nil {
		return nil, err
	}
	return m, nil
}

// checkAgainstSpec checks what model.Validate leaves to the artifact:
// that the family's parameters describe the spec's features the way the
// trainer builds them, so a model whose encoding disagrees with its spec
// is refused rather than scored on misread columns. m has been validated,
// so every length and index is in range.
func checkAgainstSpec(m *model.Model) error {
	features := m.Spec.Features()
	switch {
	case m.Logistic != nil:
		e := m.Logistic.Encoding
		for j, f := range features {
			if e.Kinds[j] != f.Kind {
				return leadscore.InvalidField(fmt.Sprintf("logistic.encoding.kinds[%d]", j), e.Kinds[j], fmt.Sprintf("must be %s, the kind of feature %s", f.Kind, f.Name))
			}
			want := 0
			if f.Kind == model.KindCategorical {
				want = len(f.Categories)
			}
			if e.Categories[j] != want {
				return leadscore.InvalidField(fmt.Sprintf("logistic.encoding.categories[%d]", j), e.Categories[j], fmt.Sprintf("must be %d, the categories of feature %s", want, f.Name))
			}
		}
	case m.GBDT != nil:
		for i := range m.GBDT.Nodes {
			n := &m.GBDT.Nodes[i]
			if n.IsLeaf() || n.Set < 0 {
				continue
			}
			if f := features[n.Feature]; f.Kind != model.KindCategorical {
				return leadscore.InvalidField(fmt.Sprintf("gbdt.nodes.category_set[%d]", i), n.Set, fmt.Sprintf("a categorical split needs a categorical feature, and %s is %s", f.Name, f.Kind))
			}
		}
	}
	return nil
}

// toInt converts a stored integer to an int, refusing what does not fit.
func toInt(field string, v int64) (int, error) {
	if int64(int(v)) != v {
		return 0, leadscore.InvalidField(field, v, "is out of range")
	}
	return int(v), nil
}

func intsToProto(xs []int) []int64 {
	out := make([]int64, len(xs))
	for i, x := range xs {
		out[i] = int64(x)
	}
	return out
}

func intsFromProto(field string, xs []int64) ([]int, error) {
	out := make([]int, len(xs))
	for i, x := range xs {
		v, err := toInt(fmt.Sprintf("%s[%d]", field, i), x)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func specToProto(s *model.FeatureSpec) (*artifactv1.FeatureSpec, error) {
	pb := &artifactv1.FeatureSpec{
		Version:          int64(s.Version),
		WindowDays:       intsToProto(s.WindowDays),
		HalfLifeDays:     s.HalfLifeDays,
		DailyCap:         int64(s.DailyCap),
		HandRaiseTypes:   s.HandRaiseTypes,
		UnsubscribeTypes: s.UnsubscribeTypes,
		BounceTypes:      s.BounceTypes,
	}
	for i, f := range s.Fit {
		kind, ok := kindToProto[f.Kind]
		if !ok {
			return nil, leadscore.InvalidField(fmt.Sprintf("feature_spec.fit[%d].kind", i), f.Kind, "must be numeric, categorical or boolean")
		}
		pb.Fit = append(pb.Fit, &artifactv1.FitFeature{Attribute: f.Attribute, Kind: kind, Categories: f.Categories})
	}
	for _, k := range s.Kinds {
		pb.Kinds = append(pb.Kinds, &artifactv1.EventKind{Name: k.Name, Type: k.Type, Property: k.Property, Value: k.Value})
	}
	return pb, nil
}

func specFromProto(pb *artifactv1.FeatureSpec) (*model.FeatureSpec, error) {
	if pb == nil {
		return nil, leadscore.InvalidField("feature_spec", "", "is required")
	}
	// The row width is computed in int64 from counts bounded by the
	// payload's size, so it cannot overflow, and checked before anything
	// allocates rows of that width.
	width := int64(len(pb.GetFit())) + 1 + int64(len(pb.GetKinds()))*(int64(len(pb.GetWindowDays()))+1) + 6
	if width > MaxFeatures {
		return nil, leadscore.InvalidField("feature_spec", width, fmt.Sprintf("describes rows of more than %d features", MaxFeatures))
	}
	s := &model.FeatureSpec{
		HalfLifeDays:     pb.GetHalfLifeDays(),
		HandRaiseTypes:   slices.Clone(pb.GetHandRaiseTypes()),
		UnsubscribeTypes: slices.Clone(pb.GetUnsubscribeTypes()),
		BounceTypes:      slices.Clone(pb.GetBounceTypes()),
	}
	var err error
	if s.Version, err = toInt("feature_spec.version", pb.GetVersion()); err != nil {
		return nil, err
	}
	if s.DailyCap, err = toInt("feature_spec.daily_cap", pb.GetDailyCap()); err != nil {
		return nil, err
	}
	if s.WindowDays, err = intsFromProto("feature_spec.window_days", pb.GetWindowDays()); err != nil {
		return nil, err
	}
	for i, f := range pb.GetFit() {
		kind, ok := kindFromProto[f.GetKind()]
		if !ok {
			return nil, leadscore.InvalidField(fmt.Sprintf("feature_spec.fit[%d].kind", i), f.GetKind(), "must be numeric, categorical or boolean")
		}
		s.Fit = append(s.Fit, model.FitFeature{Attribute: f.GetAttribute(), Kind: kind, Categories: slices.Clone(f.GetCategories())})
	}
	for _, k := range pb.GetKinds() {
		s.Kinds = append(s.Kinds, model.EventKind{Name: k.GetName(), Type: k.GetType(), Property: k.GetProperty(), Value: k.GetValue()})
	}
	return s, nil
}

func linearToProto(l *model.Linear) (*artifactv1.LogisticParameters, error) {
	pb := &artifactv1.LogisticParameters{Weights: l.Weights, Intercept: l.Intercept, Means: l.Means}
	if e := l.Encoding; e != nil {
		enc := &artifactv1.LinearEncoding{
			Categories: intsToProto(e.Categories),
			Mean:       e.Mean,
			Scale:      e.Scale,
			Offsets:    intsToProto(e.Offsets),
			HasMissing: e.HasMissing,
			Width:      int64(e.Width),
		}
		for j, k := range e.Kinds {
			kind, ok := kindToProto[k]
			if !ok {
				return nil, leadscore.InvalidField(fmt.Sprintf("logistic.encoding.kinds[%d]", j), k, "must be numeric, categorical or boolean")
			}
			enc.Kinds = append(enc.Kinds, kind)
		}
		// An encoding without hinges writes none of the hinge fields, so
		// that its bytes are those of an artifact from before hinges.
		if e.HingeCount() > 0 {
			enc.HingeCounts = make([]int64, len(e.Hinges))
			for j, hs := range e.Hinges {
				enc.HingeCounts[j] = int64(len(hs))
				for _, h := range hs {
					enc.HingeKnots = append(enc.HingeKnots, h.Knot)
					enc.HingeMeans = append(enc.HingeMeans, h.Mean)
					enc.HingeScales = append(enc.HingeScales, h.Scale)
				}
			}
		}
		for _, p := range e.Pairs {
			enc.Pairs = append(enc.Pairs, &artifactv1.LinearPair{
				A:     pairSideToProto(p.A),
				B:     pairSideToProto(p.B),
				Cells: intsToProto(p.Cells),
			})
		}
		pb.Encoding = enc
	}
	return pb, nil
}

func pairSideToProto(s model.PairSide) *artifactv1.LinearPairSide {
	return &artifactv1.LinearPairSide{
		Feature: int64(s.Feature),
		Cuts:    s.Cuts,
		Levels:  intsToProto(s.Levels),
		Bins:    int64(s.Bins),
	}
}

// pairsFromProto reads the pairs; model.Validate checks their values.
func pairsFromProto(pe *artifactv1.LinearEncoding) ([]model.Pair, error) {
	pbs := pe.GetPairs()
	if len(pbs) == 0 {
		return nil, nil
	}
	if len(pbs) > model.MaxPairs {
		return nil, leadscore.InvalidField("logistic.encoding.pairs", len(pbs), fmt.Sprintf("must hold at most %d pairs", model.MaxPairs))
	}
	pairs := make([]model.Pair, len(pbs))
	for i, pb := range pbs {
		field := fmt.Sprintf("logistic.encoding.pairs[%d]", i)
		var err error
		if pairs[i].A, err = pairSideFromProto(field+".a", pb.GetA()); err != nil {
			return nil, err
		}
		if pairs[i].B, err = pairSideFromProto(field+".b", pb.GetB()); err != nil {
			return nil, err
		}
		if pairs[i].Cells, err = intsFromProto(field+".cells", pb.GetCells()); err != nil {
			return nil, err
		}
	}
	return pairs, nil
}

func pairSideFromProto(field string, pb *artifactv1.LinearPairSide) (model.PairSide, error) {
	if pb == nil {
		return model.PairSide{}, leadscore.InvalidField(field, "", "is required")
	}
	s := model.PairSide{Cuts: slices.Clone(pb.GetCuts())}
	var err error
	if s.Feature, err = toInt(field+".feature", pb.GetFeature()); err != nil {
		return s, err
	}
	if s.Bins, err = toInt(field+".bins", pb.GetBins()); err != nil {
		return s, err
	}
	if s.Levels, err = intsFromProto(field+".levels", pb.GetLevels()); err != nil {
		return s, err
	}
	return s, nil
}

// hingesFromProto regroups the flat hinge fields by feature. Their values
// are checked by model.Validate; this checks that the counts add up. An
// encoding whose counts are all zero has no hinges, as when they are
// absent, so that loading and saving it again gives the canonical bytes.
func hingesFromProto(pe *artifactv1.LinearEncoding) ([][]model.Hinge, error) {
	counts, knots := pe.GetHingeCounts(), pe.GetHingeKnots()
	if len(counts) == 0 {
		if len(knots) > 0 || len(pe.GetHingeMeans()) > 0 || len(pe.GetHingeScales()) > 0 {
			return nil, leadscore.InvalidField("logistic.encoding.hinge_counts", 0, "must give each feature's number of hinges when there are hinge knots")
		}
		return nil, nil
	}
	if n := len(pe.GetKinds()); len(counts) != n {
		return nil, leadscore.InvalidField("logistic.encoding.hinge_counts", len(counts), fmt.Sprintf("must hold one count per feature, %d like logistic.encoding.kinds", n))
	}
	total := 0
	for j, c := range counts {
		if c < 0 || c > model.MaxKnots {
			return nil, leadscore.InvalidField(fmt.Sprintf("logistic.encoding.hinge_counts[%d]", j), c, fmt.Sprintf("must be from 0 to %d", model.MaxKnots))
		}
		total += int(c)
	}
	for _, col := range []struct {
		name string
		len  int
	}{
		{"hinge_knots", len(knots)},
		{"hinge_means", len(pe.GetHingeMeans())},
		{"hinge_scales", len(pe.GetHingeScales())},
	} {
		if col.len != total {
			return nil, leadscore.InvalidField("logistic.encoding."+col.name, col.len, fmt.Sprintf("must have one element per hinge, %d as logistic.encoding.hinge_counts add up to", total))
		}
	}
	if total == 0 {
		return nil, nil
	}
	hinges := make([][]model.Hinge, len(counts))
	i := 0
	for j, c := range counts {
		if c == 0 {
			continue
		}
		hs := make([]model.Hinge, c)
		for k := range hs {
			hs[k] = model.Hinge{Knot: knots[i], Mean: pe.GetHingeMeans()[i], Scale: pe.GetHingeScales()[i]}
			i++
		}
		hinges[j] = hs
	}
	return hinges, nil
}

func linearFromProto(pb *artifactv1.LogisticParameters) (*model.Linear, error) {
	if pb.GetEncoding() == nil {
		return nil, leadscore.InvalidField("logistic.encoding", "", "is required")
	}
	pe := pb.GetEncoding()
	e := &model.LinearEncoding{
		Kinds:      make([]model.Kind, len(pe.GetKinds())),
		Mean:       slices.Clone(pe.GetMean()),
		Scale:      slices.Clone(pe.GetScale()),
		HasMissing: slices.Clone(pe.GetHasMissing()),
	}
	for j, k := range pe.GetKinds() {
		kind, ok := kindFromProto[k]
		if !ok {
			return nil, leadscore.InvalidField(fmt.Sprintf("logistic.encoding.kinds[%d]", j), k, "must be numeric, categorical or boolean")
		}
		e.Kinds[j] = kind
	}
	var err error
	if e.Categories, err = intsFromProto("logistic.encoding.categories", pe.GetCategories()); err != nil {
		return nil, err
	}
	if e.Offsets, err = intsFromProto("logistic.encoding.offsets", pe.GetOffsets()); err != nil {
		return nil, err
	}
	if e.Width, err = toInt("logistic.encoding.width", pe.GetWidth()); err != nil {
		return nil, err
	}
	if e.Hinges, err = hingesFromProto(pe); err != nil {
		return nil, err
	}
	if e.Pairs, err = pairsFromProto(pe); err != nil {
		return nil, err
	}
	return &model.Linear{
		Encoding:  e,
		Weights:   slices.Clone(pb.GetWeights()),
		Intercept: pb.GetIntercept(),
		Means:     slices.Clone(pb.GetMeans()),
	}, nil
}

func gbdtToProto(g *model.GBDT) *artifactv1.GbdtParameters {
	n := len(g.Nodes)
	nodes := &artifactv1.GbdtNodes{
		Feature:     make([]int32, n),
		Threshold:   make([]float64, n),
		DefaultLeft: make([]bool, n),
		CategorySet: make([]int32, n),
		Left:        make([]int32, n),
		Right:       make([]int32, n),
		Value:       make([]float64, n),
		Cover:       make([]float64, n),
		Gain:        make([]float64, n),
	}
	for i := range g.Nodes {
		nd := &g.Nodes[i]
		nodes.Feature[i] = nd.Feature
		nodes.Threshold[i] = nd.Threshold
		nodes.DefaultLeft[i] = nd.DefaultLeft
		nodes.CategorySet[i] = nd.Set
		nodes.Left[i] = nd.Left
		nodes.Right[i] = nd.Right
		nodes.Value[i] = nd.Value
		nodes.Cover[i] = nd.Cover
		nodes.Gain[i] = nd.Gain
	}
	pb := &artifactv1.GbdtParameters{
		NumFeatures: int64(g.Width),
		BaseScore:   g.BaseScore,
		TreeRoots:   g.Trees,
		Nodes:       nodes,
		SumFloat32:  g.SumFloat32,
	}
	for _, set := range g.CategorySets {
		pb.CategorySets = append(pb.CategorySets, &artifactv1.CategorySet{Words: set})
	}
	if g.Sources != nil {
		nodes.Source = make([]int32, n)
		for i := range g.Nodes {
			nodes.Source[i] = g.Nodes[i].Source
		}
		for _, src := range g.Sources {
			pb.Sources = append(pb.Sources, &artifactv1.GbdtSource{Name: src.Name, Feature: src.Feature})
		}
	}
	return pb
}

func gbdtFromProto(pb *artifactv1.GbdtParameters) (*model.GBDT, error) {
	if pb == nil {
		return nil, leadscore.InvalidField("gbdt", "", "is required")
	}
	width, err := toInt("gbdt.num_features", pb.GetNumFeatures())
	if err != nil {
		return nil, err
	}
	pn := pb.GetNodes()
	n := len(pn.GetFeature())
	for _, col := range []struct {
		name string
		len  int
	}{
		{"threshold", len(pn.GetThreshold())},
		{"default_left", len(pn.GetDefaultLeft())},
		{"category_set", len(pn.GetCategorySet())},
		{"left", len(pn.GetLeft())},
		{"right", len(pn.GetRight())},
		{"value", len(pn.GetValue())},
		{"cover", len(pn.GetCover())},
		{"gain", len(pn.GetGain())},
	} {
		if col.len != n {
			return nil, leadscore.InvalidField("gbdt.nodes."+col.name, col.len, fmt.Sprintf("must have one element per node, %d like gbdt.nodes.feature", n))
		}
	}
	g := &model.GBDT{
		Width:      width,
		BaseScore:  pb.GetBaseScore(),
		SumFloat32: pb.GetSumFloat32(),
		Trees:      slices.Clone(pb.GetTreeRoots()),
		Nodes:      make([]model.GBDTNode, n),
	}
	for i := range g.Nodes {
		g.Nodes[i] = model.GBDTNode{
			Feature:     pn.Feature[i],
			Left:        pn.Left[i],
			Right:       pn.Right[i],
			Threshold:   pn.Threshold[i],
			Set:         pn.CategorySet[i],
			DefaultLeft: pn.DefaultLeft[i],
			Value:       pn.Value[i],
			Cover:       pn.Cover[i],
			Gain:        pn.Gain[i],
		}
	}
	for _, set := range pb.GetCategorySets() {
		g.CategorySets = append(g.CategorySets, slices.Clone(set.GetWords()))
	}
	// An ensemble without sources has no source column; one with sources
	// has one element per node.
	if src := pn.GetSource(); len(pb.GetSources()) > 0 || len(src) > 0 {
		if len(src) != n {
			return nil, leadscore.InvalidField("gbdt.nodes.source", len(src), fmt.Sprintf("must have one element per node, %d like gbdt.nodes.feature, when the ensemble has sources", n))
		}
		for i := range g.Nodes {
			g.Nodes[i].Source = src[i]
		}
		g.Sources = make([]model.GBDTSource, len(pb.GetSources()))
		for i, s := range pb.GetSources() {
			g.Sources[i] = model.GBDTSource{Name: s.GetName(), Feature: s.GetFeature()}
		}
	}
	return g, nil
}

func calibrationToProto(c *model.Calibration) (*artifactv1.Calibration, error) {
	switch c.Method {
	case model.CalibrationPlatt:
		return &artifactv1.Calibration{Method: &artifactv1.Calibration_Platt{Platt: &artifactv1.PlattCalibration{A: c.A, B: c.B}}}, nil
	case model.CalibrationIsotonic:
		return &artifactv1.Calibration{Method: &artifactv1.Calibration_Isotonic{Isotonic: &artifactv1.IsotonicCalibration{X: c.X, Y: c.Y}}}, nil
	}
	return nil, leadscore.InvalidField("calibration.method", c.Method, `must be "platt" or "isotonic"`)
}

func calibrationFromProto(pb *artifactv1.Calibration) (*model.Calibration, error) {
	if pb == nil {
		return nil, leadscore.InvalidField("calibration", "", "is required")
	}
	switch c := pb.GetMethod().(type) {
	case *artifactv1.Calibration_Platt:
		return &model.Calibration{Method: model.CalibrationPlatt, A: c.Platt.GetA(), B: c.Platt.GetB()}, nil
	case *artifactv1.Calibration_Isotonic:
		return &model.Calibration{
			Method: model.CalibrationIsotonic,
			X:      slices.Clone(c.Isotonic.GetX()),
			Y:      slices.Clone(c.Isotonic.GetY()),
		}, nil
	}
	return nil, leadscore.InvalidField("calibration.method", "", "is required: platt or isotonic")
}

func gridToProto(g *model.Grid) (*artifactv1.Grid, error) {
	basis, ok := basisToProto[g.Basis]
	if !ok {
		return nil, leadscore.InvalidField("grid.basis", g.Basis, `must be "" (the contributions) or "tree_path"`)
	}
	return &artifactv1.Grid{
		FitCuts:        g.FitCuts[:],
		EngagementCuts: g.EngagementCuts[:],
		TierCuts:       g.TierCuts[:],
		Percentiles:    g.Percentiles,
		Actions:        g.Actions[:],
		// The contributions basis is the enum's zero value, which is not
		// written: artifacts of that basis keep their bytes.
		Basis: basis,
	}, nil
}

func gridFromProto(pb *artifactv1.Grid) (*model.Grid, error) {
	if pb == nil {
		return nil, leadscore.InvalidField("grid", "", "is required")
	}
	basis, ok := basisFromProto[pb.GetBasis()]
	if !ok {
		return nil, leadscore.InvalidField("grid.basis", pb.GetBasis(), "must be GRID_BASIS_UNSPECIFIED or GRID_BASIS_TREE_PATH")
	}
	g := &model.Grid{Basis: basis, Percentiles: slices.Clone(pb.GetPercentiles())}
	for _, cuts := range []struct {
		name string
		from []float64
		to   *[3]float64
	}{
		{"grid.fit_cuts", pb.GetFitCuts(), &g.FitCuts},
		{"grid.engagement_cuts", pb.GetEngagementCuts(), &g.EngagementCuts},
		{"grid.tier_cuts", pb.GetTierCuts(), &g.TierCuts},
	} {
		if len(cuts.from) != len(cuts.to) {
			return nil, leadscore.InvalidField(cuts.name, len(cuts.from), fmt.Sprintf("must hold %d cut points", len(cuts.to)))
		}
		copy(cuts.to[:], cuts.from)
	}
	if len(pb.GetActions()) != len(g.Actions) {
		return nil, leadscore.InvalidField("grid.actions", len(pb.GetActions()), fmt.Sprintf("must hold the actions of the %d cells", len(g.Actions)))
	}
	copy(g.Actions[:], pb.GetActions())
	return g, nil
}

func timeToProto(field string, t time.Time) (*timestamppb.Timestamp, error) {
	if t.IsZero() {
		return nil, nil
	}
	ts := timestamppb.New(t)
	if err := ts.CheckValid(); err != nil {
		return nil, leadscore.InvalidField(field, t, "must be a time in the years 1 to 9999")
	}
	return ts, nil
}

func timeFromProto(field string, ts *timestamppb.Timestamp) (time.Time, error) {
	if ts == nil {
		return time.Time{}, nil
	}
	if err := ts.CheckValid(); err != nil {
		return time.Time{}, leadscore.InvalidField(field, fmt.Sprintf("%ds %dns", ts.GetSeconds(), ts.GetNanos()), "must be a time in the years 1 to 9999")
	}
	return ts.AsTime(), nil
}

func metadataToProto(md *model.Metadata) (*artifactv1.Metadata, error) {
	pb := &artifactv1.Metadata{
		TrainerVersion:    md.TrainerVersion,
		Seed:              md.Seed,
		DataSha256:        md.DataSHA256,
		Parameters:        md.Parameters,
		ValidationMetrics: md.ValidationMetrics,
	}
	var err error
	if pb.DataStart, err = timeToProto("metadata.data_start", md.DataStart); err != nil {
		return nil, err
	}
	if pb.DataEnd, err = timeToProto("metadata.data_end", md.DataEnd); err != nil {
		return nil, err
	}
	if md.Horizon != 0 {
		pb.Horizon = durationpb.New(md.Horizon)
	}
	for _, b := range md.Reliability {
		pb.Reliability = append(pb.Reliability, &artifactv1.ReliabilityBin{
			Lower:           b.Lower,
			Upper:           b.Upper,
			Leads:           int64(b.Leads),
			MeanProbability: b.MeanProbability,
			ObservedRate:    b.ObservedRate,
		})
	}
	pb.Reading = readingToProto(md.Reading)
	if pb.Profile, err = profileToProto(md.Profile); err != nil {
		return nil, err
	}
	return pb, nil
}

// metadataFromProto converts and checks the metadata, which model.Validate
// does not look at: the registry's promotion gates read the metrics, so a
// NaN there must be refused as surely as a NaN weight.
func metadataFromProto(pb *artifactv1.Metadata) (model.Metadata, error) {
	md := model.Metadata{
		TrainerVersion: pb.GetTrainerVersion(),
		Seed:           pb.GetSeed(),
		DataSHA256:     pb.GetDataSha256(),
	}
	if s := md.DataSHA256; s != "" && !isLowerHex(s, 64) {
		return md, leadscore.InvalidField("metadata.data_sha256", s, "must be 64 lower-case hex digits")
	}
	var err error
	if md.DataStart, err = timeFromProto("metadata.data_start", pb.GetDataStart()); err != nil {
		return md, err
	}
	if md.DataEnd, err = timeFromProto("metadata.data_end", pb.GetDataEnd()); err != nil {
		return md, err
	}
	if !md.DataStart.IsZero() && !md.DataEnd.IsZero() && md.DataEnd.Before(md.DataStart) {
		return md, leadscore.InvalidField("metadata.data_end", md.DataEnd.Format(time.RFC3339Nano), "must not be before metadata.data_start")
	}
	if h := pb.GetHorizon(); h != nil {
		d := h.AsDuration()
		// AsDuration saturates what time.Duration cannot hold; a value
		// that does not convert back exactly was out of range.
		if err := h.CheckValid(); err != nil || durationpb.New(d).GetSeconds() != h.GetSeconds() || durationpb.New(d).GetNanos() != h.GetNanos() {
			return md, leadscore.InvalidField("metadata.horizon", fmt.Sprintf("%ds %dns", h.GetSeconds(), h.GetNanos()), "must be a duration of at most 292 years")
		}
		if d < 0 {
			return md, leadscore.InvalidField("metadata.horizon", d, "must not be negative")
		}
		md.Horizon = d
	}
	if p := pb.GetParameters(); len(p) > 0 {
		md.Parameters = make(map[string]string, len(p))
		for k, v := range p {
			md.Parameters[k] = v
		}
	}
	if vm := pb.GetValidationMetrics(); len(vm) > 0 {
		md.ValidationMetrics = make(map[string]float64, len(vm))
		for k, v := range vm {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return md, leadscore.InvalidField(fmt.Sprintf("metadata.validation_metrics[%q]", k), v, "must be finite")
			}
			md.ValidationMetrics[k] = v
		}
	}
	for i, b := range pb.GetReliability() {
		field := fmt.Sprintf("metadata.reliability[%d]", i)
		for _, x := range [...]struct {
			name string
			v    float64
		}{{"lower", b.GetLower()}, {"upper", b.GetUpper()}, {"mean_probability", b.GetMeanProbability()}, {"observed_rate", b.GetObservedRate()}} {
			if !(x.v >= 0 && x.v <= 1) {
				return md, leadscore.InvalidField(field+"."+x.name, x.v, "must be a probability from 0 to 1")
			}
		}
		if b.GetUpper() < b.GetLower() {
			return md, leadscore.InvalidField(field+".upper", b.GetUpper(), "must not be below lower")
		}
		leads, err := toInt(field+".leads", b.GetLeads())
		if err != nil {
			return md, err
		}
		if leads < 0 {
			return md, leadscore.InvalidField(field+".leads", leads, "must not be negative")
		}
		md.Reliability = append(md.Reliability, model.ReliabilityBin{
			Lower:           b.GetLower(),
			Upper:           b.GetUpper(),
			Leads:           leads,
			MeanProbability: b.GetMeanProbability(),
			ObservedRate:    b.GetObservedRate(),
		})
	}
	if md.Reading, err = readingFromProto(pb.GetReading()); err != nil {
		return md, err
	}
	if md.Profile, err = profileFromProto(pb.GetProfile()); err != nil {
		return md, err
	}
	return md, nil
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}
