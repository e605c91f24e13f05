package evaluator

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/leadscore/leadscore"
)

// Thresholds of the report's warnings.
const (
	// LeakageAUC is the ROC AUC above which a candidate is suspected of
	// reading fields filled in after the outcome.
	LeakageAUC = 0.97
	// DominantShare is the importance share above which one feature is
	// suspected of leakage.
	DominantShare = 0.5
	// StableConversions is the number of conversions below which the
	// figures are called unstable.
	StableConversions = 100
)

// The verdicts of a report.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
	// VerdictNone means no gate was applied.
	VerdictNone = "none"
)

// ReportInput is what NewReport assembles a report from: the figures of the
// candidate, the champion and the baseline on the same rows.
type ReportInput struct {
	// Data describes the rows scored.
	Data DataInfo
	// Candidate is required; Champion and Baseline are nil when there is
	// none.
	Candidate, Champion, Baseline *Metrics
	// Policy is the gate applied, nil for none; PolicyName names it in the
	// result.
	Policy     *GatePolicy
	PolicyName string
	// Seed is the bootstrap seed the metrics were computed with.
	Seed uint64
	// CreatedAt is when the report is made.
	CreatedAt time.Time
	// Warnings are the caller's own (such as why there is no baseline);
	// they come first.
	Warnings []string
}

// NewReport assembles a report: the deltas against the champion and the
// baseline, the gate's verdict against the champion (or the baseline when
// there is no champion), and the warnings, in a fixed order: the caller's,
// possible leakage (a ROC AUC above LeakageAUC, one feature carrying more
// than DominantShare of the importance), too few conversions, then the
// failed warn-severity rules. Everything but CreatedAt depends only on the
// input.
func NewReport(in ReportInput) (*Report, error) {
	c := in.Candidate
	if c == nil {
		return nil, leadscore.InvalidField("candidate", "nil", "metrics are required")
	}
	r := &Report{
		SchemaVersion: ReportSchemaVersion,
		Verdict:       VerdictNone,
		Candidate:     c,
		Champion:      in.Champion,
		Baseline:      in.Baseline,
		Deltas:        Compare(c, in.Champion, in.Baseline),
		Warnings:      append([]string{}, in.Warnings...),
		Data:          in.Data,
		Seed:          in.Seed,
		CreatedAt:     in.CreatedAt,
	}
	if c.RocAUC > LeakageAUC {
		r.Warnings = append(r.Warnings, fmt.Sprintf(
			"candidate ROC AUC %.3f is above %.2f: possible leakage; check that no feature is filled in after the outcome (lead quality, rep tags, close dates)",
			c.RocAUC, LeakageAUC))
	}
	if len(c.Importance) > 0 && c.Importance[0].Share > DominantShare {
		r.Warnings = append(r.Warnings, fmt.Sprintf("feature %s carries %.0f%% of the importance: check it is known before the cut-off",
			c.Importance[0].Feature, math.Round(c.Importance[0].Share*100)))
	}
	if c.Conversions < StableConversions {
		r.Warnings = append(r.Warnings, fmt.Sprintf("only %d conversions: the figures are unstable; a backtest needs %d or more to be trusted",
			c.Conversions, StableConversions))
	}
	if in.Policy != nil {
		ref, kind := in.Champion, ReferenceChampion
		if ref == nil {
			ref, kind = in.Baseline, ReferenceBaseline
		}
		g := Apply(in.Policy, c, ref, kind, in.PolicyName)
		r.Gate = &g
		r.Verdict = VerdictFail
		if g.Passed {
			r.Verdict = VerdictPass
		}
		for _, ch := range g.Checks {
			if !ch.Passed && ch.Rule.Severity == SeverityWarn {
				r.Warnings = append(r.Warnings, "gate warning: "+ch.Message)
			}
		}
	}
	return r, nil
}

// HashRows returns the hex SHA-256 of n rows' ids and labels in order, the
// report's Data.SHA256: per row the id's length as a uvarint, the id, and
// one byte, 1 for converted and 0 otherwise. The lengths keep ids from
// running into each other.
func HashRows(n int, id func(i int) string, label func(i int) bool) string {
	h := sha256.New()
	var buf [binary.MaxVarintLen64 + 1]byte
	for i := range n {
		s := id(i)
		k := binary.PutUvarint(buf[:], uint64(len(s)))
		h.Write(buf[:k])
		io.WriteString(h, s)
		buf[0] = 0
		if label(i) {
			buf[0] = 1
		}
		h.Write(buf[:1])
	}
	return hex.EncodeToString(h.Sum(nil))
}
