package artifact

import (
	"fmt"
	"slices"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
	artifactv1 "github.com/leadscore/leadscore/proto/leadscore/artifact/v1"
)

// columnKinds maps a profile's column kinds to the artifact's enum.
var columnKinds = map[string]artifactv1.ColumnKind{
	model.ColumnNumeric:     artifactv1.ColumnKind_COLUMN_KIND_NUMERIC,
	model.ColumnBoolean:     artifactv1.ColumnKind_COLUMN_KIND_BOOLEAN,
	model.ColumnCategorical: artifactv1.ColumnKind_COLUMN_KIND_CATEGORICAL,
	model.ColumnLabel:       artifactv1.ColumnKind_COLUMN_KIND_LABEL,
	model.ColumnID:          artifactv1.ColumnKind_COLUMN_KIND_ID,
	model.ColumnTime:        artifactv1.ColumnKind_COLUMN_KIND_TIME,
	model.ColumnExcluded:    artifactv1.ColumnKind_COLUMN_KIND_EXCLUDED,
}

// readingToProto converts how the training data was read; nil when nothing
// was recorded.
func readingToProto(r model.Reading) *artifactv1.Reading {
	if len(r.MissingValues) == 0 && len(r.ColumnMissing) == 0 {
		return nil
	}
	pb := &artifactv1.Reading{MissingValues: r.MissingValues}
	if len(r.ColumnMissing) > 0 {
		pb.ColumnMissing = make(map[string]*artifactv1.MissingValues, len(r.ColumnMissing))
		for k, v := range r.ColumnMissing {
			pb.ColumnMissing[k] = &artifactv1.MissingValues{Values: v}
		}
	}
	return pb
}

// readingFromProto converts and checks how the training data was read.
func readingFromProto(pb *artifactv1.Reading) (model.Reading, error) {
	var r model.Reading
	if pb == nil {
		return r, nil
	}
	if v := pb.GetMissingValues(); len(v) > 0 {
		if v[0] != "" {
			return r, leadscore.InvalidField("metadata.reading.missing_values[0]", v[0], "must be the empty value, which is always missing")
		}
		r.MissingValues = slices.Clone(v)
	}
	if cm := pb.GetColumnMissing(); len(cm) > 0 {
		r.ColumnMissing = make(map[string][]string, len(cm))
		for k, v := range cm {
			if k == "" {
				return r, leadscore.InvalidField("metadata.reading.column_missing", k, "must name a column")
			}
			r.ColumnMissing[k] = slices.Clone(v.GetValues())
		}
	}
	return r, nil
}

func profileToProto(profile []model.ColumnProfile) ([]*artifactv1.ColumnProfile, error) {
	if err := model.ValidateProfile(profile); err != nil {
		return nil, err
	}
	out := make([]*artifactv1.ColumnProfile, len(profile))
	counts := func(vs []model.ValueCount) []*artifactv1.ValueCount {
		var pb []*artifactv1.ValueCount
		for _, v := range vs {
			pb = append(pb, &artifactv1.ValueCount{Value: v.Value, Rows: int64(v.Rows)})
		}
		return pb
	}
	for i, c := range profile {
		out[i] = &artifactv1.ColumnProfile{
			Name: c.Name, Kind: columnKinds[c.Kind], Group: c.Group, MissingShare: c.MissingShare,
			Distinct: int64(c.Distinct), DistinctCapped: c.DistinctCapped,
			MissingValues: counts(c.MissingValues), Placeholders: counts(c.Placeholders),
		}
	}
	return out, nil
}

func profileFromProto(pb []*artifactv1.ColumnProfile) ([]model.ColumnProfile, error) {
	var out []model.ColumnProfile
	for i, c := range pb {
		field := fmt.Sprintf("metadata.profile[%d]", i)
		p := model.ColumnProfile{Name: c.GetName(), Group: c.GetGroup(), MissingShare: c.GetMissingShare(), DistinctCapped: c.GetDistinctCapped()}
		for k, v := range columnKinds {
			if v == c.GetKind() {
				p.Kind = k
			}
		}
		if p.Kind == "" {
			return nil, leadscore.InvalidField(field+".kind", c.GetKind().String(), "is not a column kind this build knows")
		}
		var err error
		if p.Distinct, err = toInt(field+".distinct", c.GetDistinct()); err != nil {
			return nil, err
		}
		counts := func(name string, vs []*artifactv1.ValueCount) ([]model.ValueCount, error) {
			var out []model.ValueCount
			for j, v := range vs {
				n, err := toInt(fmt.Sprintf("%s.%s[%d].rows", field, name, j), v.GetRows())
				if err != nil {
					return nil, err
				}
				out = append(out, model.ValueCount{Value: v.GetValue(), Rows: n})
			}
			return out, nil
		}
		if p.MissingValues, err = counts("missing_values", c.GetMissingValues()); err != nil {
			return nil, err
		}
		if p.Placeholders, err = counts("placeholders", c.GetPlaceholders()); err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	if err := model.ValidateProfile(out); err != nil {
		return nil, err
	}
	return out, nil
}
