package registry

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/evaluator"
)

// Promotion asks to point an alias at a version.
type Promotion struct {
	Version leadscore.VersionRef
	// Alias is the alias to move; empty means champion.
	Alias string
	// ExpectRevision, when not 0, is the alias revision the caller last
	// read (its etag); a move since then fails with EABORTED.
	ExpectRevision int64
	// Evaluation is the id of the evaluation that justifies the move;
	// empty means the newest one that counts.
	Evaluation string
	// Reason says why; it is required when Force is set.
	Reason string
	// Force bypasses the gate for an emergency. The history marks the move
	// as forced, with its reason.
	Force     bool
	Actor     string
	RequestID string
}

// Promote moves an alias to a version. Moving the champion needs a stored
// evaluation of the version that passed its gate policy against the current
// champion (or, for a model's first champion, against the points baseline)
// on data later than the version's training window; the check and the move
// happen in one transaction, so a champion that moves in between makes the
// evaluation stop counting. Other aliases (challenger, shadow, ...) move
// freely. Every move is appended to the alias's history.
func (r *Registry) Promote(ctx context.Context, p Promotion) (leadscore.Alias, leadscore.AliasChange, error) {
	alias := p.Alias
	if alias == "" {
		alias = leadscore.AliasChampion
	}
	if err := leadscore.ValidateSlug("alias", alias); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	if err := leadscore.ValidateSlug("name", p.Version.Model); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	if p.Version.Version < 1 {
		return leadscore.Alias{}, leadscore.AliasChange{}, leadscore.InvalidField("name", p.Version.Version, "the version must be a whole number from 1")
	}
	if err := checkMove(p.Reason, p.Force, p.Actor, p.RequestID); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	if p.Evaluation != "" {
		if err := leadscore.ValidateID("evaluation", p.Evaluation); err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, err
		}
	}
	kind := leadscore.AliasPromote
	if p.Force {
		kind = leadscore.AliasForce
	}
	move := leadscore.AliasMove{
		Model:          p.Version.Model,
		Alias:          alias,
		Kind:           kind,
		ToVersion:      p.Version.Version,
		ExpectRevision: p.ExpectRevision,
		Evaluation:     p.Evaluation,
		Actor:          p.Actor,
		Reason:         p.Reason,
		RequestID:      p.RequestID,
		Method:         "PromoteModelVersion",
		At:             r.clock(),
	}
	var judge Judge
	if !p.Force && alias == leadscore.AliasChampion {
		policy, name, err := r.ChampionPolicy(ctx)
		if err != nil {
			return leadscore.Alias{}, leadscore.AliasChange{}, err
		}
		judge = JudgeWith(policy, name)
	}
	gate := func(s leadscore.AliasMoveState) (string, error) {
		switch {
		case p.Force || alias != leadscore.AliasChampion:
			return namedEvaluation(p.Evaluation, s)
		default:
			return ChampionGate(s, judge)
		}
	}
	return r.store.MoveAlias(ctx, move, gate)
}

// ChampionPolicy returns the gate policy that judges every move of a
// champion, and its name: the default policy's newest stored revision, or
// the built-in default while none is stored. Only admin may store a new
// default (the server's scope table), and a default must hold a fail rule
// comparing the candidate with its reference (CreatePolicy), so no caller
// short of admin can weaken what a champion must pass, whatever policy
// its evaluation was run with.
func (r *Registry) ChampionPolicy(ctx context.Context) (*evaluator.GatePolicy, string, error) {
	rec, err := r.store.GetGatePolicy(ctx, DefaultPolicyName, 0)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		return evaluator.DefaultPolicy(), "gatePolicies/default (built-in)", nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("read the champion gate policy: %w", err)
	}
	p, err := evaluator.ParsePolicy(rec.Document, policyName(rec))
	if err != nil {
		return nil, "", fmt.Errorf("stored gate policy %s: %w", policyName(rec), err)
	}
	return p, policyName(rec), nil
}

// Judge says whether a stored evaluation's figures pass the champion gate,
// and if not, why.
type Judge func(e leadscore.Evaluation) (passed bool, why string)

// JudgeWith judges evaluations by applying policy (named name) to the
// figures of their reports: the candidate's against the champion's, or
// against the points baseline's when the report has no champion.
func JudgeWith(policy *evaluator.GatePolicy, name string) Judge {
	return func(e leadscore.Evaluation) (bool, string) {
		if len(e.Report) == 0 {
			return false, "its report is not stored, so the champion gate cannot judge its figures"
		}
		var rep evaluator.Report
		if err := json.Unmarshal(e.Report, &rep); err != nil || rep.Candidate == nil {
			return false, "its report cannot be read, so the champion gate cannot judge its figures"
		}
		ref, kind := rep.Champion, evaluator.ReferenceChampion
		if ref == nil {
			ref, kind = rep.Baseline, evaluator.ReferenceBaseline
		}
		res := evaluator.Apply(policy, rep.Candidate, ref, kind, name)
		if res.Passed {
			return true, ""
		}
		var failed []string
		for _, c := range res.Checks {
			if !c.Passed && c.Rule.Severity == evaluator.SeverityFail {
				failed = append(failed, c.Message)
			}
		}
		return false, fmt.Sprintf("its figures fail the champion gate %s: %s", name, strings.Join(failed, "; "))
	}
}

// namedEvaluation returns the evaluation a caller named for an ungated
// move, checking that it is one of the target's.
func namedEvaluation(id string, s leadscore.AliasMoveState) (string, error) {
	if id == "" {
		return "", nil
	}
	for _, e := range s.Evaluations {
		if e.ID == id {
			return id, nil
		}
	}
	return "", leadscore.InvalidField("evaluation", "evaluations/"+id, "is not an evaluation of "+s.Target.Ref().Name())
}

// ChampionGate is the rule a version must meet to become champion without
// force: one of its stored evaluations (the one named, or any, newest
// first) passed its gate policy, and its figures pass the champion gate
// (judge, when not nil: the policy that judges every champion, whatever
// policy the evaluation was run with), against the champion serving now,
// or against the points baseline when the model has no champion yet, on
// data that starts no earlier than the end of the version's training
// window. It returns the id of the newest evaluation that counts, or an
// EPRECONDITION error listing why each evaluation considered does not.
func ChampionGate(s leadscore.AliasMoveState, judge Judge) (string, error) {
	target := s.Target
	subject := target.Ref().Name()
	var champion int64
	if s.Champion != nil {
		champion = s.Champion.Version
	}
	refuse := func(vs []leadscore.PreconditionViolation) error {
		against := "against the points baseline"
		if champion != 0 {
			against = fmt.Sprintf("against the current champion (version %d)", champion)
		}
		return &leadscore.Error{
			Code:          leadscore.EPRECONDITION,
			Message:       fmt.Sprintf("%s cannot become champion: it needs a stored evaluation that passed the gate %s on data later than its training window", subject, against),
			Preconditions: vs,
		}
	}
	if len(s.Evaluations) == 0 {
		return "", refuse([]leadscore.PreconditionViolation{{
			Type:        "EVALUATION",
			Subject:     subject,
			Description: "no stored evaluation of this version (or the named evaluation is not one of its); run `leadscore backtest` with --register, or an evaluation job, first",
		}})
	}
	const shown = 5
	var vs []leadscore.PreconditionViolation
	for _, e := range s.Evaluations {
		reasons := whyNot(e, target, champion)
		if judge != nil && e.Passed != nil && *e.Passed {
			if ok, why := judge(e); !ok {
				reasons = append(reasons, why)
			}
		}
		if len(reasons) == 0 {
			return e.ID, nil
		}
		if len(vs) < shown {
			vs = append(vs, leadscore.PreconditionViolation{
				Type:        "EVALUATION",
				Subject:     "evaluations/" + e.ID,
				Description: strings.Join(reasons, "; "),
			})
		}
	}
	if n := len(s.Evaluations) - len(vs); n > 0 {
		vs = append(vs, leadscore.PreconditionViolation{
			Type:        "EVALUATION",
			Subject:     subject,
			Description: fmt.Sprintf("%d older evaluations do not count either", n),
		})
	}
	return "", refuse(vs)
}

// whyNot lists why an evaluation does not justify making target champion
// while champion (0: none) serves.
func whyNot(e leadscore.Evaluation, target *leadscore.ModelVersion, champion int64) []string {
	var out []string
	switch {
	case e.Passed == nil:
		out = append(out, "no gate policy was applied")
	case !*e.Passed:
		out = append(out, fmt.Sprintf("it failed gate policy %s revision %d", e.GatePolicy, e.GatePolicyRevision))
	}
	switch {
	case e.ChampionVersion == champion:
	case champion == 0:
		out = append(out, fmt.Sprintf("it compared with champion version %d, but the model has no champion now", e.ChampionVersion))
	case e.ChampionVersion == 0:
		out = append(out, fmt.Sprintf("it compared with no champion, but version %d is champion now", champion))
	default:
		out = append(out, fmt.Sprintf("it compared with champion version %d, but version %d is champion now", e.ChampionVersion, champion))
	}
	if champion == 0 && e.Baseline == "" {
		out = append(out, "it has no points-baseline comparison, which a model's first champion needs")
	}
	end := target.Lineage.DataEnd
	switch {
	case !target.Lineage.HasWindow():
		out = append(out, "the version's training window is unknown (trained without times), so no evaluation can show it was judged on later data; only a forced promotion with a reason can make it champion")
	case e.DataStart.IsZero():
		out = append(out, "its data has no times, so it cannot show it is later than the training window")
	case e.DataStart.Before(end):
		out = append(out, fmt.Sprintf("its data starts %s, before the training window ends %s", e.DataStart.UTC().Format(time.RFC3339), end.UTC().Format(time.RFC3339)))
	}
	return out
}

// Rollback asks to move an alias back to a target from its history.
type Rollback struct {
	Alias leadscore.AliasRef
	// ToSeq is the history entry whose target to restore; 0 means the
	// target before the current one.
	ToSeq          int64
	ExpectRevision int64
	// Reason is required: a rollback is an incident.
	Reason    string
	Actor     string
	RequestID string
}

// RollbackAlias moves an alias back to an earlier target. It needs no new
// evaluation: the target served before, and the move is recorded as a
// rollback with its reason.
func (r *Registry) RollbackAlias(ctx context.Context, rb Rollback) (leadscore.Alias, leadscore.AliasChange, error) {
	if err := validAlias(rb.Alias); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	if rb.ToSeq < 0 {
		return leadscore.Alias{}, leadscore.AliasChange{}, leadscore.InvalidField("to_sequence", rb.ToSeq, "must be 0 (the previous target) or a history sequence from 1")
	}
	if err := checkMove(rb.Reason, true, rb.Actor, rb.RequestID); err != nil {
		return leadscore.Alias{}, leadscore.AliasChange{}, err
	}
	move := leadscore.AliasMove{
		Model:          rb.Alias.Model,
		Alias:          rb.Alias.Alias,
		Kind:           leadscore.AliasRollback,
		RollbackToSeq:  rb.ToSeq,
		ExpectRevision: rb.ExpectRevision,
		Actor:          rb.Actor,
		Reason:         rb.Reason,
		RequestID:      rb.RequestID,
		Method:         "RollbackAlias",
		At:             r.clock(),
	}
	return r.store.MoveAlias(ctx, move, func(leadscore.AliasMoveState) (string, error) { return "", nil })
}

// DeleteAlias removes an alias other than champion, recording the removal
// in its history.
func (r *Registry) DeleteAlias(ctx context.Context, ref leadscore.AliasRef, expectRevision int64, reason, actor string) (leadscore.AliasChange, error) {
	if err := validAlias(ref); err != nil {
		return leadscore.AliasChange{}, err
	}
	if ref.Alias == leadscore.AliasChampion {
		return leadscore.AliasChange{}, leadscore.InvalidField("name", ref.Name(), "the champion alias cannot be deleted; promote or roll back instead")
	}
	if err := checkMove(reason, false, actor, ""); err != nil {
		return leadscore.AliasChange{}, err
	}
	move := leadscore.AliasMove{
		Model:          ref.Model,
		Alias:          ref.Alias,
		Kind:           leadscore.AliasDelete,
		ExpectRevision: expectRevision,
		Actor:          actor,
		Reason:         reason,
		Method:         "DeleteAlias",
		At:             r.clock(),
	}
	_, change, err := r.store.MoveAlias(ctx, move, func(leadscore.AliasMoveState) (string, error) { return "", nil })
	return change, err
}

func validAlias(ref leadscore.AliasRef) error {
	if err := leadscore.ValidateSlug("name", ref.Model); err != nil {
		return err
	}
	return leadscore.ValidateSlug("name", ref.Alias)
}

func checkMove(reason string, reasonRequired bool, actor, requestID string) error {
	if reasonRequired && strings.TrimSpace(reason) == "" {
		return leadscore.InvalidField("reason", reason, "is required for a forced promotion or a rollback")
	}
	if err := checkText("reason", reason, MaxReason); err != nil {
		return err
	}
	if err := checkActor(actor); err != nil {
		return err
	}
	if requestID != "" {
		return leadscore.ValidateID("request_id", requestID)
	}
	return nil
}
