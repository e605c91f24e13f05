package storeutil

import (
	"fmt"
	"unicode/utf8"

	"github.com/leadscore/leadscore"
)

// The rules of ListLeads both backends follow: what a filter, a page
// position and a limit may hold, which leads a filter leaves out, and the
// position after a page.

// MaxFilterValues is the most entries a ListLeads filter list holds: more
// than every tier or cell, enough actions for any playbook.
const MaxFilterValues = 100

// CheckLeadList refuses ListLeads arguments no listing can have, naming
// the field ("tiers[1]", "page.lead_id", "limit").
func CheckLeadList(f leadscore.LeadFilter, page leadscore.LeadPage, limit int) error {
	if f.Order != leadscore.LeadsByScore && f.Order != leadscore.LeadsByUpdate {
		return leadscore.InvalidField("order", int(f.Order), "must be LeadsByScore or LeadsByUpdate")
	}
	for _, l := range []struct {
		name string
		n    int
	}{{"tiers", len(f.Tiers)}, {"cells", len(f.Cells)}, {"actions", len(f.Actions)}} {
		if l.n > MaxFilterValues {
			return leadscore.InvalidField(l.name, l.n, fmt.Sprintf("has more than %d entries", MaxFilterValues))
		}
	}
	for i, t := range f.Tiers {
		if t < leadscore.TierVeryGood || t > leadscore.TierLow {
			return leadscore.InvalidField(fmt.Sprintf("tiers[%d]", i), int(t), "must be a tier")
		}
	}
	for i, c := range f.Cells {
		if !c.Valid() {
			return leadscore.InvalidField(fmt.Sprintf("cells[%d]", i), fmt.Sprintf("%d/%d", c.Grade, c.Level), "must be a grid cell")
		}
	}
	for i, a := range f.Actions {
		if err := checkFilterText(fmt.Sprintf("actions[%d]", i), a); err != nil {
			return err
		}
	}
	if f.AccountID != "" {
		if err := leadscore.ValidateID("account_id", f.AccountID); err != nil {
			return err
		}
	}
	if err := checkFilterText("owner", f.Owner); err != nil {
		return err
	}
	if page.LeadID != "" {
		if err := leadscore.ValidateID("page.lead_id", page.LeadID); err != nil {
			return err
		}
	}
	if page.Scored && !(page.Probability >= 0 && page.Probability <= 1) {
		return leadscore.InvalidField("page.probability", page.Probability, "must be from 0 to 1")
	}
	if limit < 1 || limit > leadscore.MaxIngestBatch {
		return leadscore.InvalidField("limit", limit, fmt.Sprintf("must be from 1 to %d", leadscore.MaxIngestBatch))
	}
	return nil
}

// checkFilterText refuses a filter string that no stored lead or score
// can hold: invalid UTF-8 or a NUL, which PostgreSQL's text refuses.
func checkFilterText(field, s string) error {
	if !utf8.ValidString(s) {
		return leadscore.InvalidField(field, fmt.Sprintf("%q", s), "must be valid UTF-8")
	}
	for i := 0; i < len(s); i++ {
		if s[i] == 0 {
			return leadscore.InvalidField(field, fmt.Sprintf("%q", s), "must not hold a NUL character")
		}
	}
	return nil
}

// ScoreFiltered reports whether f filters by its leads' current scores,
// which leaves out every lead without one.
func ScoreFiltered(f leadscore.LeadFilter) bool {
	return len(f.Tiers) > 0 || len(f.Cells) > 0 || len(f.Actions) > 0
}

// TierNames returns the stored names of f's tiers.
func TierNames(f leadscore.LeadFilter) []string {
	out := make([]string, len(f.Tiers))
	for i, t := range f.Tiers {
		out[i] = t.String()
	}
	return out
}

// ListPage ends a listing's page: the backends read up to limit+1 leads
// so that they know whether another page follows. It returns the first
// limit leads, without their factors (a listing returns none), and the
// position of the next page, or the zero LeadPage when none follows.
func ListPage(leads []leadscore.StoredLead, limit int) ([]leadscore.StoredLead, leadscore.LeadPage) {
	for i := range leads {
		if leads[i].Score != nil {
			leads[i].Score.Factors = nil
		}
	}
	if len(leads) <= limit {
		return leads, leadscore.LeadPage{}
	}
	leads = leads[:limit]
	return leads, PageAfter(leads[limit-1])
}

// PageAfter is the position just after a listed lead.
func PageAfter(l leadscore.StoredLead) leadscore.LeadPage {
	p := leadscore.LeadPage{LeadID: l.Lead.ID, UpdatedAt: l.UpdatedAt}
	if l.Score != nil {
		p.Scored, p.Probability = true, l.Score.Probability
	}
	return p
}
