package storeutil

import (
	"github.com/leadscore/leadscore"
)

// WriteScores is how a backend lets RescoreInWrite work inside a write's
// transaction: Savepoint runs fn under a savepoint, released when fn
// succeeds and rolled back to when it fails; Activity and Save are
// LeadActivity and SaveScores run in the transaction (under the
// savepoint).
type WriteScores struct {
	Savepoint func(fn func() error) error
	Activity  func(ids []string) ([]leadscore.LeadActivity, error)
	Save      func(scores []leadscore.LeadScoreRecord, opts leadscore.SaveScoresOptions) (leadscore.SaveScoresResult, error)
}

// RescoreInWrite runs a write's IngestOptions.Rescore on the leads it made
// due, before the write commits: it reads their activity, has Rescore
// score it, and saves the scores, all under one savepoint. What fails
// there is undone alone and returned for the result's RescoreErr; the
// leads stay due as the write left them. With no Rescore or no leads it
// does nothing.
func RescoreInWrite(ids []string, opts leadscore.IngestOptions, w WriteScores) (leadscore.SaveScoresResult, error) {
	if opts.Rescore == nil || len(ids) == 0 {
		return leadscore.SaveScoresResult{}, nil
	}
	var res leadscore.SaveScoresResult
	err := w.Savepoint(func() error {
		acts, err := w.Activity(ids)
		if err != nil {
			return err
		}
		scores := opts.Rescore(acts)
		if len(scores) == 0 {
			return nil
		}
		if err := CheckScores(scores, opts.RescoreOptions); err != nil {
			return err
		}
		res, err = w.Save(scores, opts.RescoreOptions)
		return err
	})
	if err != nil {
		return leadscore.SaveScoresResult{}, err
	}
	return res, nil
}
