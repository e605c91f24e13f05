package xgbimport

import (
	"fmt"
	"slices"
	"strings"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/model"
)

// The encodings of an Input: how a lead's attribute becomes the model's
// feature.
const (
	// EncodingValue is the attribute's number (a boolean as 0 or 1).
	EncodingValue = "value"
	// EncodingOneHot is 1 when the attribute has the Input's category and
	// 0 otherwise, a missing value included, as pandas' get_dummies and
	// scikit-learn's OneHotEncoder make them.
	EncodingOneHot = "one_hot"
	// EncodingCategoryCode is the index of the attribute's value in its
	// categories, as XGBoost's own categorical features (a pandas
	// category column) hold it.
	EncodingCategoryCode = "category_code"
)

// Attribute is a lead attribute an imported model may read, as the
// reference data shows it.
type Attribute struct {
	// Column is the attribute's column name in the data the model was
	// trained on, such as "Lead Source"; one-hot features are named after
	// it. Key is the attribute key leadscore reads it by ("lead_source").
	Column, Key string
	// Kind is how leadscore reads the attribute.
	Kind model.Kind
	// Categories are a categorical attribute's values. For a feature
	// XGBoost reads as categorical they are its category codes' values in
	// code order (pandas orders a category column's categories sorted);
	// for one-hot features they tell which attribute a name belongs to.
	Categories []string
}

// Input says where one feature of the model comes from.
type Input struct {
	// Feature is the model's feature name.
	Feature string `json:"feature"`
	// Attribute is the key of the lead attribute it reads.
	Attribute string `json:"attribute"`
	// Encoding is one of the Encoding constants.
	Encoding string `json:"encoding"`
	// Category is the value a one-hot feature is 1 for.
	Category string `json:"category,omitempty"`
}

// Mapping is the resolved feature mapping of a model: one Input per
// feature, in the model's feature order. It is recorded in a version's
// lineage.
type Mapping struct {
	Inputs []Input `json:"inputs"`
	// SparseZeros says the model was trained on a sparse matrix (as
	// scikit-learn's OneHotEncoder outputs by default), where XGBoost reads
	// a stored zero as missing: a one-hot feature's 0 then takes a split's
	// default direction.
	SparseZeros bool `json:"sparse_zeros,omitempty"`
}

// Map resolves each feature of b to an attribute of attrs: a feature named
// like an attribute's column or key reads its value (or, for a feature
// XGBoost reads as categorical, its category code); a feature named
// COLUMN_VALUE is a one-hot column of a categorical or boolean attribute,
// as pandas' get_dummies and scikit-learn's OneHotEncoder name them
// ("job_admin." is attribute job with value "admin."). explicit maps
// features by name ahead of the rules, for pipelines that name them
// otherwise; its Feature fields are ignored. A feature no rule maps, or
// that several attributes could explain, is an error naming it.
func Map(b *Booster, attrs []Attribute, explicit map[string]Input, sparseZeros bool) (*Mapping, error) {
	byName := map[string]*Attribute{}
	for i := range attrs {
		a := &attrs[i]
		byName[a.Column] = a
		byName[a.Key] = a
	}
	for name := range explicit {
		if !slices.Contains(b.FeatureNames, name) {
			return nil, leadscore.InvalidField("mapping."+name, name, "is not a feature of the model")
		}
	}
	mp := &Mapping{Inputs: make([]Input, len(b.FeatureNames)), SparseZeros: sparseZeros}
	for i, name := range b.FeatureNames {
		field := "feature " + name
		in, ok := explicit[name]
		if ok {
			a := byName[in.Attribute]
			if a == nil {
				return nil, leadscore.InvalidField("mapping."+name, in.Attribute, "is not an attribute of the reference data")
			}
			in.Feature, in.Attribute = name, a.Key
			if in.Encoding == "" {
				in.Encoding = EncodingValue
				if in.Category != "" {
					in.Encoding = EncodingOneHot
				}
			}
		} else {
			var err error
			if in, err = resolve(name, b.FeatureTypes[i], attrs, byName); err != nil {
				return nil, err
			}
		}
		if err := fits(field, in, byName[in.Attribute], b.FeatureTypes[i]); err != nil {
			return nil, err
		}
		mp.Inputs[i] = in
	}
	return mp, mp.check()
}

// resolve finds the attribute of one feature by its name.
func resolve(name, typ string, attrs []Attribute, byName map[string]*Attribute) (Input, error) {
	field := "feature " + name
	if a := byName[name]; a != nil {
		enc := EncodingValue
		if typ == "c" {
			enc = EncodingCategoryCode
		}
		return Input{Feature: name, Attribute: a.Key, Encoding: enc}, nil
	}
	if typ == "c" {
		return Input{}, leadscore.InvalidField(field, name, "is categorical in the model, and no attribute has that name")
	}
	// One-hot: COLUMN_VALUE. A value the reference data holds is strong
	// evidence; a category the data lacks (a rare one) still fits an
	// attribute that can hold it.
	var strong, weak []Input
	for i := range attrs {
		a := &attrs[i]
		prefixes := []string{a.Column}
		if a.Key != a.Column {
			prefixes = append(prefixes, a.Key)
		}
		for _, prefix := range prefixes {
			rest, ok := strings.CutPrefix(name, prefix+"_")
			if !ok || rest == "" {
				continue
			}
			in := Input{Feature: name, Attribute: a.Key, Encoding: EncodingOneHot, Category: rest}
			switch a.Kind {
			case model.KindCategorical:
				if slices.Contains(a.Categories, rest) {
					strong = append(strong, in)
				} else {
					weak = append(weak, in)
				}
			case model.KindBoolean:
				if _, ok := parseBool(rest); ok {
					strong = append(strong, in)
				}
			}
		}
	}
	strong, weak = uniqueInputs(strong), uniqueInputs(weak)
	candidates := strong
	if len(candidates) == 0 {
		candidates = weak
	}
	switch len(candidates) {
	case 1:
		return candidates[0], nil
	case 0:
		return Input{}, leadscore.InvalidField(field, name, "is not mapped: no attribute has that name, and it is no one-hot column (ATTRIBUTE_VALUE) of a categorical or boolean attribute; map it explicitly")
	}
	var names []string
	for _, c := range candidates {
		names = append(names, fmt.Sprintf("%s = %q", c.Attribute, c.Category))
	}
	return Input{}, leadscore.InvalidField(field, name, "is ambiguous: it could be the one-hot column of "+strings.Join(names, " or ")+"; map it explicitly")
}

// uniqueInputs drops repeats (an attribute whose column and key are both
// prefixes of a name).
func uniqueInputs(ins []Input) []Input {
	var out []Input
	for _, in := range ins {
		if !slices.Contains(out, in) {
			out = append(out, in)
		}
	}
	return out
}

// fits checks that an input's encoding suits its attribute's kind and the
// feature's type.
func fits(field string, in Input, a *Attribute, typ string) error {
	switch in.Encoding {
	case EncodingValue:
		if a.Kind == model.KindCategorical {
			return leadscore.InvalidField(field, in.Attribute, "reads a number, and the attribute is categorical: one-hot encode it or make it a pandas category column")
		}
		if typ == "c" {
			return leadscore.InvalidField(field, in.Attribute, "is categorical in the model: its encoding must be category_code")
		}
	case EncodingOneHot:
		switch a.Kind {
		case model.KindCategorical:
		case model.KindBoolean:
			if _, ok := parseBool(in.Category); !ok {
				return leadscore.InvalidField(field, in.Category, fmt.Sprintf("must be true, false, yes or no: attribute %s is boolean", in.Attribute))
			}
		default:
			return leadscore.InvalidField(field, in.Attribute, "is a one-hot column, and the attribute is numeric")
		}
		if typ == "c" {
			return leadscore.InvalidField(field, in.Attribute, "is categorical in the model: its encoding must be category_code")
		}
	case EncodingCategoryCode:
		if typ != "c" {
			return leadscore.InvalidField(field, typ, "must be categorical (type c) in the model to read category codes")
		}
		if a.Kind != model.KindCategorical || len(a.Categories) == 0 {
			return leadscore.InvalidField(field, in.Attribute, "reads category codes and needs a categorical attribute with its categories in code order")
		}
	default:
		return leadscore.InvalidField(field+".encoding", in.Encoding, "must be value, one_hot or category_code")
	}
	return nil
}

// check refuses two features for one thing and an attribute read both as
// a value and one-hot.
func (mp *Mapping) check() error {
	enc := map[string]string{}
	seen := map[Input]string{}
	for _, in := range mp.Inputs {
		key := Input{Attribute: in.Attribute, Encoding: in.Encoding, Category: in.Category}
		if other, dup := seen[key]; dup {
			return leadscore.InvalidField("feature "+in.Feature, in.Attribute, "reads the same as feature "+other)
		}
		seen[key] = in.Feature
		if e, ok := enc[in.Attribute]; ok && e != in.Encoding {
			return leadscore.InvalidField("feature "+in.Feature, in.Attribute, fmt.Sprintf("is read as %s by another feature and as %s by this one", e, in.Encoding))
		}
		enc[in.Attribute] = in.Encoding
	}
	return nil
}

// parseBool reads a boolean one-hot category as the data readers read a
// boolean column.
func parseBool(s string) (value, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}
