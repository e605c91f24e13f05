package evaluator

import "time"

// ReportSchemaVersion is the version of the JSON report schema. It changes
// only when a field is removed or changes meaning; adding a field keeps it.
// The schema is documented in evaluator/REPORT.md.
const ReportSchemaVersion = 1

// Report is one backtest of a candidate, compared on the same rows with the
// champion and the points baseline, and judged by a gate policy. It is what
// `leadscore backtest --json` prints, what the registry stores with an
// evaluation, and what the Markdown and HTML renderings are made from.
// Field names are snake_case and stable.
type Report struct {
	SchemaVersion int `json:"schema_version"`
	// Verdict is "pass", "fail" or "none" (no gate was applied).
	Verdict string `json:"verdict"`
	// Candidate, Champion and Baseline are the figures of each model on
	// the same rows. Champion and Baseline are nil when there is none.
	Candidate *Metrics `json:"candidate"`
	Champion  *Metrics `json:"champion,omitempty"`
	Baseline  *Metrics `json:"baseline,omitempty"`
	// Deltas compare the candidate with the champion and the baseline.
	Deltas []Delta `json:"deltas"`
	// Gate is the gate policy's verdict, nil when no gate was applied.
	Gate *GateResult `json:"gate,omitempty"`
	// Warnings are for people: possible leakage (AUC above 0.97, one
	// feature carrying most of the importance), failed warning-severity
	// rules, too few conversions for a stable figure.
	Warnings []string `json:"warnings"`
	// Data says what was scored, so the backtest can be reproduced.
	Data DataInfo `json:"data"`
	// Seed is the bootstrap seed.
	Seed uint64 `json:"seed"`
	// CreatedAt is when the report was made. It is the only field that
	// differs between two runs on the same inputs.
	CreatedAt time.Time `json:"created_at"`
	// Evaluation is the resource name of the stored evaluation,
	// "evaluations/{id}", set by whoever stored it; empty otherwise.
	Evaluation string `json:"evaluation,omitempty"`
}

// DataInfo describes the rows a backtest scored.
type DataInfo struct {
	// Kind is "history" (three tables scored as of a cut-off) or "flat"
	// (one row per lead with a label).
	Kind string `json:"kind"`
	// Source says where the rows came from: file paths or "store".
	Source string `json:"source"`
	// Cutoff and Horizon define a history backtest: leads eligible at
	// Cutoff are scored with what was known before it and judged on
	// outcomes in (Cutoff, Cutoff+Horizon]. Zero for flat data.
	Cutoff  time.Time `json:"cutoff,omitzero"`
	Horizon Duration  `json:"horizon,omitempty"`
	// WindowStart and WindowEnd bound the times the backtest judged on:
	// the cut-off and the cut-off plus the horizon, or the span of a flat
	// table's time column. Zero when the data has no times.
	WindowStart time.Time `json:"window_start,omitzero"`
	WindowEnd   time.Time `json:"window_end,omitzero"`
	// Rows is the number of leads scored; Positives how many converted.
	Rows      int `json:"rows"`
	Positives int `json:"positives"`
	// SHA256 is the hex SHA-256 of the scored rows' ids and labels in
	// order, so two reports can be shown to be on the same rows.
	SHA256 string `json:"sha256"`
}

// Duration is a time.Duration that reads and writes as a Go duration
// string, such as "2160h0m0s".
type Duration time.Duration

// Metrics are the figures of one model on one backtest.
type Metrics struct {
	// Model names the model: a registry version name
	// ("models/m/versions/3"), an artifact file path, "learned:points" or
	// "builtin:points".
	Model  string `json:"model"`
	Family string `json:"family"`
	// Leads and Conversions count the scored rows and the positives;
	// BaseRate is Conversions / Leads.
	Leads       int     `json:"leads"`
	Conversions int     `json:"conversions"`
	BaseRate    float64 `json:"base_rate"`
	// RocAUC with its bootstrap 95% confidence interval.
	RocAUC        float64 `json:"roc_auc"`
	RocAUCCILower float64 `json:"roc_auc_ci_lower"`
	RocAUCCIUpper float64 `json:"roc_auc_ci_upper"`
	// PrAUC is the average precision.
	PrAUC   float64 `json:"pr_auc"`
	LogLoss float64 `json:"log_loss"`
	Brier   float64 `json:"brier"`
	ECE     float64 `json:"ece"`
	// KS is the Kolmogorov-Smirnov statistic between the score
	// distributions of converted and other leads.
	KS            float64 `json:"ks"`
	LiftTopDecile float64 `json:"lift_top_decile"`
	// Deciles are the ten deciles by score, best first.
	Deciles []Decile `json:"deciles"`
	// Reliability are ten equal-width probability bins, over which ECE is
	// computed.
	Reliability []ReliabilityBin `json:"reliability"`
	// ReliabilityQuantiles are up to ten bins of about equal numbers of
	// leads (QuantileReliability), which the calibration chart draws.
	ReliabilityQuantiles []ReliabilityBin `json:"reliability_quantiles"`
	// Groups: close rate per tier, fit grade, grid cell, campaign and
	// source. Campaigns and sources are empty when the data has no such
	// attribute.
	Tiers     []Group `json:"tiers"`
	Grades    []Group `json:"grades"`
	Cells     []Group `json:"cells"`
	Campaigns []Group `json:"campaigns"`
	Sources   []Group `json:"sources"`
	// Acceptance are MadKudu-style acceptance figures of the tiers.
	Acceptance Acceptance `json:"acceptance"`
	// Histogram is the distribution of probabilities by outcome in twenty
	// equal-width bins, for the score distribution chart.
	Histogram ScoreHistogram `json:"histogram"`
	// Importance is each feature's share of the summed absolute
	// contributions, largest first (at most 20 listed).
	Importance []Importance `json:"importance"`
}

// Decile is one tenth of the leads ranked by probability, best first.
type Decile struct {
	Decile          int     `json:"decile"`
	Leads           int     `json:"leads"`
	Conversions     int     `json:"conversions"`
	CloseRate       float64 `json:"close_rate"`
	Lift            float64 `json:"lift"`
	CumulativeGain  float64 `json:"cumulative_gain"`
	MeanProbability float64 `json:"mean_probability"`
	MinProbability  float64 `json:"min_probability"`
}

// Group is the close rate of one group of leads.
type Group struct {
	Key             string  `json:"key"`
	Leads           int     `json:"leads"`
	Conversions     int     `json:"conversions"`
	CloseRate       float64 `json:"close_rate"`
	Lift            float64 `json:"lift"`
	MeanProbability float64 `json:"mean_probability"`
}

// Acceptance are the MadKudu-style acceptance figures: 15–35% of leads in
// the top two tiers, holding at least 60% of conversions, with the top tier
// converting at least 10× the bottom one.
type Acceptance struct {
	TopTwoTiersLeadShare       float64 `json:"top_two_tiers_lead_share"`
	TopTwoTiersConversionShare float64 `json:"top_two_tiers_conversion_share"`
	// TopToBottomCloseRateRatio is 0 when the bottom tier has no
	// conversions (the ratio is unbounded); BottomTierConversions tells.
	TopToBottomCloseRateRatio float64 `json:"top_to_bottom_close_rate_ratio"`
	BottomTierConversions     int     `json:"bottom_tier_conversions"`
}

// ScoreHistogram counts probabilities in equal-width bins over [0, 1].
type ScoreHistogram struct {
	Bins      int   `json:"bins"`
	Converted []int `json:"converted"`
	Other     []int `json:"other"`
}

// Importance is one feature's share of the absolute contributions.
type Importance struct {
	Feature string  `json:"feature"`
	Group   string  `json:"group"`
	Share   float64 `json:"share"`
}

// Delta compares one metric of the candidate with a reference.
type Delta struct {
	Metric string `json:"metric"`
	// Reference is "champion" or "baseline".
	Reference      string  `json:"reference"`
	CandidateValue float64 `json:"candidate_value"`
	ReferenceValue float64 `json:"reference_value"`
	Delta          float64 `json:"delta"`
}

// GateResult is a gate policy's verdict on a report.
type GateResult struct {
	// Policy names the policy revision applied, such as
	// "gatePolicies/default/revisions/1", or a file path.
	Policy string `json:"policy"`
	// Reference is what the relative rules compared against: "champion",
	// or "baseline" when the model has no champion yet.
	Reference string      `json:"reference"`
	Passed    bool        `json:"passed"`
	Checks    []GateCheck `json:"checks"`
}

// GateCheck is the outcome of one rule.
type GateCheck struct {
	Rule GateRule `json:"rule"`
	// CandidateValue and ReferenceValue are nil when missing.
	CandidateValue *float64 `json:"candidate_value"`
	ReferenceValue *float64 `json:"reference_value"`
	Passed         bool     `json:"passed"`
	Message        string   `json:"message"`
}

// GateRule is one metric condition of a gate policy. Every bound that is
// set must hold; a metric the report does not have fails the rule.
type GateRule struct {
	Metric string `json:"metric"`
	// HigherIsBetter is false for loss-like metrics (log_loss, brier,
	// ece). Policy files may leave it out: it defaults from the metric.
	HigherIsBetter bool `json:"higher_is_better"`
	// MinValue is the value the candidate must reach (at most, when lower
	// is better).
	MinValue *float64 `json:"min_value,omitempty"`
	// MaxValue is the other side of MinValue: the value the candidate
	// must not pass (must not go below, when lower is better), for a
	// figure that may be too good, such as a share that should stay in a
	// band or an AUC high enough to suggest leakage.
	MaxValue *float64 `json:"max_value,omitempty"`
	// MaxRegression is the largest allowed regression against the
	// reference, in the metric's units.
	MaxRegression *float64 `json:"max_regression,omitempty"`
	// MaxRelativeRegression is the largest allowed regression as a
	// fraction of the reference's absolute value.
	MaxRelativeRegression *float64 `json:"max_relative_regression,omitempty"`
	// MinImprovement is the smallest required improvement over the
	// reference.
	MinImprovement *float64 `json:"min_improvement,omitempty"`
	// Severity is "fail" (default) or "warn".
	Severity string `json:"severity,omitempty"`
}

// GatePolicy is a written set of rules.
type GatePolicy struct {
	Description string     `json:"description,omitempty"`
	Rules       []GateRule `json:"rules"`
}
