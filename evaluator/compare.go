package evaluator

// ComparedMetrics are the metrics Compare reports, in the order it reports
// them.
var ComparedMetrics = []string{"roc_auc", "pr_auc", "log_loss", "brier", "ece", "ks", "lift_top_decile"}

// The references a candidate is compared with.
const (
	ReferenceChampion = "champion"
	ReferenceBaseline = "baseline"
	// ReferenceNone is a gate result's reference when there was neither.
	ReferenceNone = "none"
)

// Compare returns the candidate's differences (candidate minus reference)
// from the champion and then from the baseline on ComparedMetrics; a nil
// reference is left out. Whether a difference is better depends on the
// metric: HigherIsBetter tells.
func Compare(candidate, champion, baseline *Metrics) []Delta {
	out := []Delta{}
	if candidate == nil {
		return out
	}
	for _, ref := range []struct {
		kind string
		m    *Metrics
	}{{ReferenceChampion, champion}, {ReferenceBaseline, baseline}} {
		if ref.m == nil {
			continue
		}
		for _, name := range ComparedMetrics {
			c, _ := MetricValue(candidate, name)
			r, _ := MetricValue(ref.m, name)
			out = append(out, Delta{Metric: name, Reference: ref.kind, CandidateValue: c, ReferenceValue: r, Delta: c - r})
		}
	}
	return out
}
