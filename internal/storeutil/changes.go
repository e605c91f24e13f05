package storeutil

import (
	"time"

	"github.com/leadscore/leadscore"
)

// The rules of retention (PruneScoreChanges, PruneRequestIDs) both
// backends follow.

// PruneCutoff checks the time PruneScoreChanges deletes entries before,
// and returns it as the stores compare it: stores keep change times to
// the microsecond, so before is rounded up to the next microsecond, and
// an entry recorded at 12:00:00.000001 is deleted by a before of
// 12:00:00.0000015 as it is by the exact time. A zero time is refused
// rather than taken as "nothing": a caller that computed no cutoff has a
// bug.
func PruneCutoff(before time.Time) (time.Time, error) {
	if before.IsZero() {
		return time.Time{}, leadscore.InvalidField("before", "", "is required")
	}
	cut := before.UTC().Truncate(time.Microsecond)
	if cut.Before(before) {
		cut = cut.Add(time.Microsecond)
	}
	return cut, nil
}
