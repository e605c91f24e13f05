package registry

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
)

func TestChampionGate(t *testing.T) {
	trainedUntil := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	target := &leadscore.ModelVersion{Model: "m", Version: 4, Lineage: leadscore.Lineage{DataStart: trainedUntil.AddDate(-1, 0, 0), DataEnd: trainedUntil}}
	untimed := &leadscore.ModelVersion{Model: "m", Version: 5}
	champion := &leadscore.Alias{Model: "m", Name: leadscore.AliasChampion, Version: 2}
	yes, no := true, false
	eval := func(id string, passed *bool, champ int64, start time.Time) leadscore.Evaluation {
		e := leadscore.Evaluation{ID: id, Model: "m", Version: 4, ChampionVersion: champ, Baseline: "builtin:points", Passed: passed, GatePolicy: "default", GatePolicyRevision: 1}
		if !start.IsZero() {
			e.DataStart, e.DataEnd = start, start.AddDate(0, 3, 0)
		}
		return e
	}
	later := trainedUntil.AddDate(0, 1, 0)
	tests := []struct {
		name     string
		state    leadscore.AliasMoveState
		want     string
		refusals []string // substrings the refusal must contain
	}{
		{"passing evaluation against the current champion counts",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 2, later)}}, "e1", nil},
		{"newest evaluation that counts is chosen",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e3", &no, 2, later), eval("e2", &yes, 2, later), eval("e1", &yes, 2, later)}}, "e2", nil},
		{"first champion counts an evaluation against the baseline",
			leadscore.AliasMoveState{Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 0, later)}}, "e1", nil},
		{"data starting exactly at the training end counts",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 2, trainedUntil)}}, "e1", nil},
		{"no evaluation is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target}, "", []string{"no stored evaluation"}},
		{"failed gate is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &no, 2, later)}}, "", []string{"failed gate policy default revision 1"}},
		{"ungated evaluation is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", nil, 2, later)}}, "", []string{"no gate policy was applied"}},
		{"champion moved since the evaluation is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 3, later)}}, "", []string{"compared with champion version 3, but version 2 is champion now"}},
		{"evaluation without champion after one appeared is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 0, later)}}, "", []string{"compared with no champion, but version 2 is champion now"}},
		{"first champion without baseline comparison is refused",
			leadscore.AliasMoveState{Target: target, Evaluations: []leadscore.Evaluation{func() leadscore.Evaluation { e := eval("e1", &yes, 0, later); e.Baseline = ""; return e }()}}, "", []string{"no points-baseline comparison"}},
		{"data overlapping the training window is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 2, trainedUntil.AddDate(0, 0, -1))}}, "", []string{"before the training window ends 2025-03-01"}},
		{"evaluation without times is refused",
			leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 2, time.Time{})}}, "", []string{"its data has no times"}},
		{"version without a training window is refused",
			leadscore.AliasMoveState{Champion: champion, Target: untimed, Evaluations: []leadscore.Evaluation{eval("e1", &yes, 2, later)}}, "", []string{"training window is unknown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ChampionGate(tt.state, nil)
			if tt.refusals == nil {
				if err != nil || got != tt.want {
					t.Fatalf("ChampionGate = %q, %v; want %q, nil", got, err, tt.want)
				}
				return
			}
			var le *leadscore.Error
			if !errors.As(err, &le) || le.Code != leadscore.EPRECONDITION {
				t.Fatalf("ChampionGate = %q, %v; want a failed-precondition error", got, err)
			}
			if len(le.Preconditions) == 0 {
				t.Fatal("refusal lists no precondition violations")
			}
			var all []string
			for _, v := range le.Preconditions {
				all = append(all, v.Subject+": "+v.Description)
			}
			text := strings.Join(all, "\n")
			for _, want := range tt.refusals {
				if !strings.Contains(text, want) {
					t.Errorf("violations %q do not say %q", text, want)
				}
			}
		})
	}
}

// TestChampionGateJudgesEveryEvaluationWithItsOwnPolicy: an evaluation
// that passed the weak policy it was run with (warnings only, or a floor of
// min_value 0) does not make a candidate far worse than the champion its
// successor: the champion gate judges the report's figures again.
func TestChampionGateJudgesEveryEvaluationWithItsOwnPolicy(t *testing.T) {
	trainedUntil := time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)
	target := &leadscore.ModelVersion{Model: "m", Version: 4, Lineage: leadscore.Lineage{DataStart: trainedUntil.AddDate(-1, 0, 0), DataEnd: trainedUntil}}
	champion := &leadscore.Alias{Model: "m", Name: leadscore.AliasChampion, Version: 2}
	yes := true
	report := func(candidateAUC float64) []byte {
		b, err := json.Marshal(evaluator.Report{
			Candidate: &evaluator.Metrics{Model: "models/m/versions/4", RocAUC: candidateAUC, LiftTopDecile: 3},
			Champion:  &evaluator.Metrics{Model: "models/m/versions/2", RocAUC: 0.90, LiftTopDecile: 3},
		})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	eval := func(id string, auc float64) leadscore.Evaluation {
		return leadscore.Evaluation{ID: id, Model: "m", Version: 4, ChampionVersion: 2, Baseline: "learned:points", Passed: &yes,
			GatePolicy: "lenient", GatePolicyRevision: 1, DataStart: trainedUntil.AddDate(0, 1, 0), Report: report(auc)}
	}
	judge := JudgeWith(evaluator.DefaultPolicy(), "gatePolicies/default/revisions/1")

	state := leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{eval("weak", 0.40)}}
	_, err := ChampionGate(state, judge)
	var le *leadscore.Error
	if !errors.As(err, &le) || le.Code != leadscore.EPRECONDITION || !strings.Contains(le.Preconditions[0].Description, "fail the champion gate gatePolicies/default/revisions/1") {
		t.Fatalf("ChampionGate(AUC 0.40 against a champion at 0.90, passed under a lenient policy) = %v; want refused by the champion gate", err)
	}
	state.Evaluations = append(state.Evaluations, eval("good", 0.91))
	if got, err := ChampionGate(state, judge); err != nil || got != "good" {
		t.Fatalf("ChampionGate(with an evaluation whose figures pass) = %q, %v; want good", got, err)
	}
	noReport := eval("bare", 0.95)
	noReport.Report = nil
	_, err = ChampionGate(leadscore.AliasMoveState{Champion: champion, Target: target, Evaluations: []leadscore.Evaluation{noReport}}, judge)
	if err == nil || !strings.Contains(err.Error(), "cannot become champion") {
		t.Fatalf("ChampionGate(an evaluation without its report) = %v; want refused", err)
	}
}
