package storeutil

import (
	"slices"

	"github.com/leadscore/leadscore"
)

// WriteScores is how a backend lets RescoreInWrite work inside a write's
// transaction. Activity and Save are LeadActivity and SaveScores run in
// the transaction; each leaves the transaction as it found it when it
// fails (under a savepoint, say), so the write can still commit. MarkDue
// makes the write's leads due (storeutil's DueAfterScore rule) and locks
// them until the write commits, unless the write's own statements did
// both already (then it is nil); it returns those of the leads whose
// activity another write may have changed since Activity last read them.
type WriteScores struct {
	Activity func(ids []string) ([]leadscore.LeadActivity, error)
	MarkDue  func(ids []string) (changed []string, err error)
	Save     func(scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error)
}

// RescoreInWrite marks the leads ids that a write changed due and runs
// the write's IngestOptions.Rescore on them before the write commits.
//
// The leads are locked as late as possible, so that concurrent writes of
// the same leads queue only for the save, not for reading and scoring:
// their activity is read and scored first, without locks; then MarkDue
// locks them and names those that another write changed meanwhile (it
// committed between the read and the lock), which are read and scored
// again under the lock; then the scores are saved. Every score saved so
// holds every write that committed before it, as scoring under the lock
// from the start would.
//
// What fails in reading, scoring and saving is undone alone (WriteScores
// says how) and returned as rescoreErr, for the result's RescoreErr,
// and the leads stay due as MarkDue left them. err is a failure of
// MarkDue, which fails the write. With no Rescore it only marks due.
func RescoreInWrite(ids []string, opts leadscore.IngestOptions, w WriteScores) (res leadscore.SaveScoresResult, rescoreErr, err error) {
	if len(ids) == 0 {
		return res, nil, nil
	}
	var scores []leadscore.LeadScoreRecord
	if opts.Rescore != nil {
		var acts []leadscore.LeadActivity
		if acts, rescoreErr = w.Activity(ids); rescoreErr == nil {
			scores = opts.Rescore(acts)
		}
	}
	var changed []string
	if w.MarkDue != nil {
		if changed, err = w.MarkDue(ids); err != nil {
			return res, nil, err
		}
		slices.Sort(changed)
	}
	if opts.Rescore == nil || rescoreErr != nil {
		return res, rescoreErr, nil
	}
	rescoreErr = func() error {
		if len(changed) > 0 {
			acts, err := w.Activity(changed)
			if err != nil {
				return err
			}
			scores = slices.DeleteFunc(scores, func(s leadscore.LeadScoreRecord) bool {
				_, found := slices.BinarySearch(changed, s.LeadID)
				return found
			})
			scores = append(scores, opts.Rescore(acts)...)
		}
		if len(scores) == 0 {
			return nil
		}
		if err := CheckScores(scores, opts.RescoreOptions); err != nil {
			return err
		}
		var err error
		res, err = w.Save(scores, opts.RescoreOptions)
		return err
	}()
	if rescoreErr != nil {
		return leadscore.SaveScoresResult{}, rescoreErr, nil
	}
	return res, nil, nil
}
