package server

import (
	"strconv"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
	leadscorev1 "github.com/leadscore/leadscore/proto/leadscore/v1"
)

// Conversions between evaluations, gate policies and their messages.

// evaluationProto converts a stored evaluation. report is its parsed
// report, or nil for a listing (listings carry no reports); data is the
// data source of the job that made it, when known.
func evaluationProto(e leadscore.Evaluation, report *evaluator.Report, data *leadscorev1.DataSource) *leadscorev1.Evaluation {
	out := &leadscorev1.Evaluation{
		Name:       evaluationName(e.ID),
		Candidate:  e.Ref().Name(),
		Data:       data,
		CreateTime: timestamp(e.CreatedAt),
	}
	if e.JobID != "" {
		out.EvaluationJob = evaluationJobName(e.JobID)
	}
	if e.ChampionVersion != 0 {
		out.Champion = leadscore.VersionRef{Model: e.Model, Version: e.ChampionVersion}.Name()
	}
	if e.Passed != nil {
		out.Gate = &leadscorev1.GateResult{GatePolicy: gatePolicyRevisionName(e.GatePolicy, e.GatePolicyRevision), Verdict: verdictProto(*e.Passed)}
	}
	// Without a report, the evaluation's own window is the best account of
	// the cut-off and horizon.
	if !e.DataStart.IsZero() {
		out.CutoffTime = timestamp(e.DataStart)
		if !e.DataEnd.IsZero() {
			out.Horizon = duration(e.DataEnd.Sub(e.DataStart))
		}
	}
	if report == nil {
		return out
	}
	if d := report.Data; !d.Cutoff.IsZero() {
		out.CutoffTime = timestamp(d.Cutoff)
		out.Horizon = duration(time.Duration(d.Horizon))
	} else if d.Kind == "flat" {
		out.CutoffTime, out.Horizon = nil, nil
	}
	if out.Data == nil && report.Data.Kind == "history" && report.Data.Source == "store" {
		out.Data = &leadscorev1.DataSource{Source: &leadscorev1.DataSource_StoreHistory{StoreHistory: &leadscorev1.StoreHistory{}}}
	}
	out.DataSha256 = report.Data.SHA256
	out.Seed = report.Seed
	out.CandidateMetrics = metricsProto(report.Candidate)
	out.ChampionMetrics = metricsProto(report.Champion)
	out.BaselineMetrics = metricsProto(report.Baseline)
	for _, d := range report.Deltas {
		out.Deltas = append(out.Deltas, &leadscorev1.MetricDelta{
			Metric:         d.Metric,
			Reference:      d.Reference,
			CandidateValue: d.CandidateValue,
			ReferenceValue: d.ReferenceValue,
			Delta:          d.Delta,
		})
	}
	if g := report.Gate; g != nil {
		gate := &leadscorev1.GateResult{GatePolicy: gatePolicyRevisionName(e.GatePolicy, e.GatePolicyRevision), Verdict: verdictProto(g.Passed)}
		if gate.GatePolicy == "" {
			gate.GatePolicy = g.Policy
		}
		for _, c := range g.Checks {
			check := &leadscorev1.GateCheck{
				Rule:           gateRuleProto(c.Rule),
				CandidateValue: c.CandidateValue,
				Passed:         c.Passed,
				Message:        c.Message,
			}
			// The message has one reference value; it is the champion's
			// only when the gate compared with the champion (a first
			// champion is compared with the baseline, named in the
			// check's message).
			if g.Reference == "champion" {
				check.ChampionValue = c.ReferenceValue
			}
			gate.Checks = append(gate.Checks, check)
		}
		out.Gate = gate
	}
	out.Warnings = report.Warnings
	return out
}

// gatePolicyRevisionName names a policy revision, "" when none applied.
func gatePolicyRevisionName(name string, revision int64) string {
	switch {
	case name == "":
		return ""
	case revision == 0:
		return gatePolicyName(name)
	}
	return gatePolicyName(name) + "/revisions/" + strconv.FormatInt(revision, 10)
}

// gatePolicyName returns "gatePolicies/{id}".
func gatePolicyName(id string) string { return "gatePolicies/" + id }

func verdictProto(passed bool) leadscorev1.GateVerdict {
	if passed {
		return leadscorev1.GateVerdict_GATE_VERDICT_PASS
	}
	return leadscorev1.GateVerdict_GATE_VERDICT_FAIL
}

// metricsProto converts one model's figures.
func metricsProto(m *evaluator.Metrics) *leadscorev1.EvaluationMetrics {
	if m == nil {
		return nil
	}
	name := m.Model
	if name == "builtin:points" {
		// The API names the built-in baseline so.
		name = "baseline:points"
	}
	out := &leadscorev1.EvaluationMetrics{
		ModelVersion:    name,
		LeadCount:       int64(m.Leads),
		ConversionCount: int64(m.Conversions),
		BaseRate:        m.BaseRate,
		RocAuc:          m.RocAUC,
		RocAucCiLower:   m.RocAUCCILower,
		RocAucCiUpper:   m.RocAUCCIUpper,
		PrAuc:           m.PrAUC,
		LogLoss:         m.LogLoss,
		Brier:           m.Brier,
		Ece:             m.ECE,
		Ks:              m.KS,
		LiftTopDecile:   m.LiftTopDecile,
		Tiers:           groupRows(m.Tiers),
		Grades:          groupRows(m.Grades),
		Cells:           groupRows(m.Cells),
		Campaigns:       groupRows(m.Campaigns),
		Sources:         groupRows(m.Sources),
		Acceptance: &leadscorev1.AcceptanceFigures{
			TopTwoTiersLeadShare:       m.Acceptance.TopTwoTiersLeadShare,
			TopTwoTiersConversionShare: m.Acceptance.TopTwoTiersConversionShare,
			TopToBottomCloseRateRatio:  m.Acceptance.TopToBottomCloseRateRatio,
		},
	}
	for _, d := range m.Deciles {
		out.Deciles = append(out.Deciles, &leadscorev1.DecileRow{
			Decile:          int32(d.Decile),
			LeadCount:       int64(d.Leads),
			ConversionCount: int64(d.Conversions),
			CloseRate:       d.CloseRate,
			Lift:            d.Lift,
			CumulativeGain:  d.CumulativeGain,
			MeanProbability: d.MeanProbability,
		})
	}
	for _, b := range m.Reliability {
		out.Reliability = append(out.Reliability, &leadscorev1.ReliabilityBin{
			Lower:           b.Lower,
			Upper:           b.Upper,
			LeadCount:       int64(b.Leads),
			MeanProbability: b.MeanProbability,
			ObservedRate:    b.ObservedRate,
		})
	}
	return out
}

func groupRows(groups []evaluator.Group) []*leadscorev1.GroupRow {
	var out []*leadscorev1.GroupRow
	for _, g := range groups {
		out = append(out, &leadscorev1.GroupRow{
			Key:             g.Key,
			LeadCount:       int64(g.Leads),
			ConversionCount: int64(g.Conversions),
			CloseRate:       g.CloseRate,
			Lift:            g.Lift,
			MeanProbability: g.MeanProbability,
		})
	}
	return out
}

// gateRuleProto converts a rule of a policy or of a gate check.
func gateRuleProto(r evaluator.GateRule) *leadscorev1.GateRule {
	out := &leadscorev1.GateRule{
		Metric:                r.Metric,
		HigherIsBetter:        r.HigherIsBetter,
		MinValue:              r.MinValue,
		MaxValue:              r.MaxValue,
		MaxRegression:         r.MaxRegression,
		MaxRelativeRegression: r.MaxRelativeRegression,
		MinImprovement:        r.MinImprovement,
		Severity:              leadscorev1.GateSeverity_GATE_SEVERITY_FAIL,
	}
	if r.Severity == "warn" {
		out.Severity = leadscorev1.GateSeverity_GATE_SEVERITY_WARN
	}
	return out
}

// gateRuleDomain converts a rule of a request. Its checks are the
// evaluator's, which the caller applies to the whole policy.
func gateRuleDomain(r *leadscorev1.GateRule) evaluator.GateRule {
	out := evaluator.GateRule{
		Metric:                r.GetMetric(),
		HigherIsBetter:        r.GetHigherIsBetter(),
		MinValue:              r.MinValue,
		MaxValue:              r.MaxValue,
		MaxRegression:         r.MaxRegression,
		MaxRelativeRegression: r.MaxRelativeRegression,
		MinImprovement:        r.MinImprovement,
	}
	switch r.GetSeverity() {
	case leadscorev1.GateSeverity_GATE_SEVERITY_WARN:
		out.Severity = "warn"
	case leadscorev1.GateSeverity_GATE_SEVERITY_UNSPECIFIED, leadscorev1.GateSeverity_GATE_SEVERITY_FAIL:
		out.Severity = "fail"
	default:
		// An enum value this server does not know: pass it on so that the
		// evaluator refuses it by name.
		out.Severity = r.GetSeverity().String()
	}
	return out
}

// gatePolicyProto converts a stored policy revision.
func gatePolicyProto(rec leadscore.GatePolicyRecord, p *evaluator.GatePolicy) *leadscorev1.GatePolicy {
	out := &leadscorev1.GatePolicy{
		Name:        gatePolicyRevisionName(rec.Name, rec.Revision),
		Revision:    rec.Revision,
		Description: p.Description,
		Creator:     rec.CreatedBy,
		CreateTime:  timestamp(rec.CreatedAt),
	}
	for _, r := range p.Rules {
		out.Rules = append(out.Rules, gateRuleProto(r))
	}
	return out
}
