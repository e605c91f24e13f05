package storeutil

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/leadscore/leadscore"
)

// The rules of GetAccount and ListAccounts. The backends read accounts,
// their leads and the leads' current scores; the roll-ups are computed
// here, in Go, so that both backends agree on every bit of a probability.

// AccountNotFound is the error for an account the store does not hold.
func AccountNotFound(id string) error {
	return leadscore.Errorf(leadscore.ENOTFOUND, "%s does not exist", leadscore.AccountName(id))
}

// Rollup computes an account's roll-up from the number of its leads and
// the current scores of the scored ones, in any order: nil when none is
// scored. A lead at probability 1 makes the account's probability 1
// exactly (its factor 1 − p is 0), never more.
func Rollup(leadCount int, scores []leadscore.LeadScoreRecord) *leadscore.AccountRollup {
	if len(scores) == 0 {
		return nil
	}
	// A fixed order makes the product, and so the probability, the same
	// bits however a backend returned the rows.
	sorted := slices.Clone(scores)
	slices.SortFunc(sorted, func(a, b leadscore.LeadScoreRecord) int {
		if c := cmp.Compare(b.Probability, a.Probability); c != 0 {
			return c
		}
		return cmp.Compare(a.LeadID, b.LeadID)
	})
	r := &leadscore.AccountRollup{LeadCount: leadCount}
	none := 1.0 // the probability that no lead converts
	for i, s := range sorted {
		none *= 1 - min(1, max(0, s.Probability))
		if r.BestGrade == leadscore.GradeNone || (s.Cell.Grade != leadscore.GradeNone && s.Cell.Grade < r.BestGrade) {
			r.BestGrade = s.Cell.Grade
		}
		if s.Cell.Level == 1 || s.Cell.Level == 2 {
			r.EngagedLeadCount++
		}
		if i < leadscore.MaxTopLeads {
			r.TopLeads = append(r.TopLeads, s.LeadID)
		}
		if i == 0 || s.ScoredAt.After(r.ScoredAt) || (s.ScoredAt.Equal(r.ScoredAt) && versionLess(r.Version, s.Version)) {
			r.ScoredAt, r.Version = s.ScoredAt, s.Version
		}
	}
	r.Probability = min(1, max(0, 1-none))
	r.Score = leadscore.ScoreOf(r.Probability)
	return r
}

// versionLess orders versions so that scores made at the same time name
// the same newest version on every backend.
func versionLess(a, b leadscore.VersionRef) bool {
	if a.Model != b.Model {
		return a.Model < b.Model
	}
	return a.Version < b.Version
}

// CheckAccountList checks ListAccounts' arguments; errors name them.
func CheckAccountList(bestGrades []leadscore.Grade, page leadscore.AccountPage, limit int) error {
	if len(bestGrades) > MaxFilterValues {
		return leadscore.InvalidField("best_grades", len(bestGrades), fmt.Sprintf("has more than %d entries", MaxFilterValues))
	}
	for i, g := range bestGrades {
		if g < leadscore.GradeA || g > leadscore.GradeD {
			return leadscore.InvalidField(fmt.Sprintf("best_grades[%d]", i), int(g), "must be a grade from A to D")
		}
	}
	if page.AccountID != "" {
		if err := leadscore.ValidateID("page.account_id", page.AccountID); err != nil {
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

// CompareAccounts is ListAccounts' order: highest roll-up probability
// first, accounts without a roll-up last, ties by id.
func CompareAccounts(a, b leadscore.StoredAccount) int {
	return compareAccountKeys(accountKey(a), accountKey(b))
}

func accountKey(a leadscore.StoredAccount) leadscore.AccountPage {
	k := leadscore.AccountPage{AccountID: a.Account.ID}
	if a.Rollup != nil {
		k.Scored, k.Probability = true, a.Rollup.Probability
	}
	return k
}

func compareAccountKeys(a, b leadscore.AccountPage) int {
	if a.Scored != b.Scored {
		if a.Scored {
			return -1
		}
		return 1
	}
	if c := cmp.Compare(b.Probability, a.Probability); a.Scored && c != 0 {
		return c
	}
	return cmp.Compare(a.AccountID, b.AccountID)
}

// AccountsPage orders every account of a listing, keeps those whose best
// grade is in bestGrades (any when empty), and returns up to limit of
// them after the position page, with the position of the next page (the
// zero AccountPage when none follows).
func AccountsPage(accounts []leadscore.StoredAccount, bestGrades []leadscore.Grade, page leadscore.AccountPage, limit int) ([]leadscore.StoredAccount, leadscore.AccountPage) {
	var out []leadscore.StoredAccount
	for _, a := range accounts {
		if len(bestGrades) > 0 && (a.Rollup == nil || !slices.Contains(bestGrades, a.Rollup.BestGrade)) {
			continue
		}
		if page.AccountID != "" && compareAccountKeys(accountKey(a), page) <= 0 {
			continue
		}
		out = append(out, a)
	}
	slices.SortFunc(out, CompareAccounts)
	if len(out) <= limit {
		return out, leadscore.AccountPage{}
	}
	out = out[:limit]
	return out, accountKey(out[limit-1])
}

// AccountRollups computes the stored accounts of a listing or a read:
// each account with the roll-up of the scores of its leads. leadAccount
// maps every lead of the accounts to its account; scores are the current
// scores of those leads (others are ignored).
func AccountRollups(accounts []leadscore.Account, leadAccount map[string]string, scores []leadscore.LeadScoreRecord) []leadscore.StoredAccount {
	counts := make(map[string]int, len(accounts))
	for _, acc := range leadAccount {
		counts[acc]++
	}
	byAccount := make(map[string][]leadscore.LeadScoreRecord, len(accounts))
	for _, s := range scores {
		if acc, ok := leadAccount[s.LeadID]; ok {
			byAccount[acc] = append(byAccount[acc], s)
		}
	}
	out := make([]leadscore.StoredAccount, len(accounts))
	for i, a := range accounts {
		out[i] = leadscore.StoredAccount{Account: a, Rollup: Rollup(counts[a.ID], byAccount[a.ID])}
	}
	return out
}
