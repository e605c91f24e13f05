package model

import (
	"fmt"

	"github.com/leadscore/leadscore"
)

// Reading says how the text of the training data was read, so that a
// backtest or a scoring run reads its own data alike: a value the model
// learned as missing must not come back as a category.
type Reading struct {
	// MissingValues are the values read as missing in every column, the
	// empty value first. Empty in a model trained before they were
	// recorded.
	MissingValues []string `json:"missing_values,omitempty"`
	// ColumnMissing are further values read as missing in one column, by
	// column name, such as "pdays": {"-1"}.
	ColumnMissing map[string][]string `json:"column_missing,omitempty"`
}

// Column kinds of a ColumnProfile: a feature's (or group's) type, or the
// role of a column that is not a feature.
const (
	ColumnNumeric     = "numeric"
	ColumnBoolean     = "boolean"
	ColumnCategorical = "categorical"
	ColumnLabel       = "label"
	ColumnID          = "id"
	ColumnTime        = "time"
	ColumnExcluded    = "excluded"
)

// ColumnProfile describes one column of the training data as it was read:
// what a person checks before trusting a model trained on it.
type ColumnProfile struct {
	Name string `json:"name"`
	// Kind is one of the Column kinds.
	Kind string `json:"kind"`
	// Group says a categorical column keys segments and is not a feature.
	Group bool `json:"group,omitempty"`
	// MissingShare is the share of the rows read whose value was missing.
	MissingShare float64 `json:"missing_share"`
	// Distinct counts the distinct present values, up to the profile's
	// cap; DistinctCapped says there are at least that many. Zero for the
	// label, id, time and excluded columns, which are not counted.
	Distinct       int  `json:"distinct"`
	DistinctCapped bool `json:"distinct_capped,omitempty"`
	// MissingValues are the placeholder values met that were read as
	// missing (the empty value included), most frequent first.
	MissingValues []ValueCount `json:"missing_values,omitempty"`
	// Placeholders are present values that look like a placeholder for
	// "no answer" (such as "unknown", or the few words of a mostly
	// numeric column), most frequent first: read as values, unless a
	// missing value list names them.
	Placeholders []ValueCount `json:"placeholders,omitempty"`
}

// ValueCount is a value and the number of rows holding it.
type ValueCount struct {
	Value string `json:"value"`
	Rows  int    `json:"rows"`
}

// ValidateProfile checks a data profile as a loader must: every kind
// known, shares from 0 to 1, counts not negative.
func ValidateProfile(profile []ColumnProfile) error {
	for i, c := range profile {
		field := fmt.Sprintf("metadata.profile[%d]", i)
		switch c.Kind {
		case ColumnNumeric, ColumnBoolean, ColumnCategorical, ColumnLabel, ColumnID, ColumnTime, ColumnExcluded:
		default:
			return leadscore.InvalidField(field+".kind", c.Kind, "must be numeric, boolean, categorical, label, id, time or excluded")
		}
		if c.Name == "" {
			return leadscore.InvalidField(field+".name", "", "is required")
		}
		if !(c.MissingShare >= 0 && c.MissingShare <= 1) {
			return leadscore.InvalidField(field+".missing_share", c.MissingShare, "must be a share from 0 to 1")
		}
		if c.Distinct < 0 {
			return leadscore.InvalidField(field+".distinct", c.Distinct, "must not be negative")
		}
		for j, v := range append(append([]ValueCount(nil), c.MissingValues...), c.Placeholders...) {
			if v.Rows < 0 {
				return leadscore.InvalidField(fmt.Sprintf("%s.values[%d].rows", field, j), v.Rows, "must not be negative")
			}
		}
	}
	return nil
}
