package registry

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/artifact"
	"github.com/leadscore/leadscore/dataset"
	"github.com/leadscore/leadscore/evaluator"
	"github.com/leadscore/leadscore/model"
)

// DefaultPolicyName is the gate policy applied when none is named. Until a
// policy of this name is stored, it is the built-in evaluator.DefaultPolicy,
// stored as revision 1 the first time an evaluation needs to refer to it.
const DefaultPolicyName = "default"

// resolved is a model a backtest scores, with where it came from.
type resolved struct {
	name    string // as reports show it
	model   *model.Model
	version *leadscore.ModelVersion // nil for a file or the built-in baseline
}

// resolveModel loads a reference: a registry version or alias, or an
// artifact file.
func (r *Registry) resolveModel(ctx context.Context, field, s string) (*resolved, error) {
	ref, err := ParseReference(field, s)
	if err != nil {
		return nil, err
	}
	if ref.IsFile() {
		m, err := artifact.ReadFile(ref.File)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", field, ref.File, err)
		}
		return &resolved{name: ref.File, model: m}, nil
	}
	if r.store == nil {
		return nil, leadscore.InvalidField(field, s, "is a registry reference, but no store is open")
	}
	vref, err := r.Resolve(ctx, ref)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", field, s, err)
	}
	return r.resolveVersion(ctx, vref)
}

func (r *Registry) resolveVersion(ctx context.Context, vref leadscore.VersionRef) (*resolved, error) {
	v, err := r.store.GetModelVersion(ctx, vref)
	if err != nil {
		return nil, err
	}
	m, _, err := r.LoadVersion(ctx, vref)
	if err != nil {
		return nil, err
	}
	return &resolved{name: vref.Name(), model: m, version: &v}, nil
}

// resolveChampion finds the model to compare the candidate with.
func (r *Registry) resolveChampion(ctx context.Context, req BacktestRequest, cand *resolved) (*resolved, error) {
	switch {
	case req.Champion == "none":
		return nil, nil
	case req.Champion != "":
		return r.resolveModel(ctx, "champion", req.Champion)
	case cand.version == nil || r.store == nil:
		return nil, nil
	}
	a, err := r.store.GetAlias(ctx, leadscore.AliasRef{Model: cand.version.Model, Alias: leadscore.AliasChampion})
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return r.resolveVersion(ctx, leadscore.VersionRef{Model: a.Model, Version: a.Version})
}

// resolveBaseline finds the registered points model to compare with: the
// one named, or the newest active points version of the candidate's model.
// It returns nil when the backtest chooses (see backtest.Models): the
// candidate's own learned points, or else the built-in rules.
func (r *Registry) resolveBaseline(ctx context.Context, req BacktestRequest, cand *resolved) (*resolved, error) {
	switch {
	case req.Baseline == "none":
		return nil, nil
	case req.Baseline != "":
		b, err := r.resolveModel(ctx, "baseline", req.Baseline)
		if err != nil {
			return nil, err
		}
		if b.model.Family != model.FamilyPoints {
			return nil, leadscore.InvalidField("baseline", req.Baseline, fmt.Sprintf("is a %s model; the baseline is a points model", b.model.Family))
		}
		return b, nil
	case cand.version == nil || r.store == nil:
		return nil, nil
	}
	var before int64
	for {
		vs, err := r.store.ListModelVersions(ctx, cand.version.Model, before, 100, false)
		if err != nil {
			return nil, err
		}
		for _, v := range vs {
			if v.Family == string(model.FamilyPoints) && v.Version != cand.version.Version {
				return r.resolveVersion(ctx, v.Ref())
			}
		}
		if len(vs) < 100 {
			return nil, nil
		}
		before = vs[len(vs)-1].Version
	}
}

// policy returns the gate policy a request names, with the stored record
// that evaluations refer to (zero for a file or "none").
func (r *Registry) policy(ctx context.Context, name string, actor string) (*evaluator.GatePolicy, string, leadscore.GatePolicyRecord, error) {
	if name == "none" {
		return nil, "", leadscore.GatePolicyRecord{}, nil
	}
	if name == "" {
		name = DefaultPolicyName
	}
	if IsPolicyFile(name) {
		data, err := os.ReadFile(name)
		if err != nil {
			return nil, "", leadscore.GatePolicyRecord{}, leadscore.InvalidField("gate", name, "cannot be read: "+err.Error())
		}
		p, err := evaluator.ParsePolicy(data, name)
		if err != nil {
			return nil, "", leadscore.GatePolicyRecord{}, err
		}
		if r.store == nil {
			return p, name, leadscore.GatePolicyRecord{}, nil
		}
		// A policy file used for a stored evaluation is stored too, so the
		// evaluation says exactly which rules it passed.
		rec, err := r.storePolicyFile(ctx, name, p, actor)
		if err != nil {
			return nil, "", leadscore.GatePolicyRecord{}, err
		}
		return p, policyName(rec), rec, nil
	}
	policyID, rev, err := ParsePolicyRef(name)
	if err != nil {
		return nil, "", leadscore.GatePolicyRecord{}, err
	}
	if r.store == nil {
		if policyID == DefaultPolicyName && rev == 0 {
			return evaluator.DefaultPolicy(), "gatePolicies/default (built-in)", leadscore.GatePolicyRecord{}, nil
		}
		return nil, "", leadscore.GatePolicyRecord{}, leadscore.InvalidField("gate", name, "is not a file, and no store is open to read a stored policy from")
	}
	rec, err := r.store.GetGatePolicy(ctx, policyID, rev)
	if leadscore.ErrorCode(err) == leadscore.ENOTFOUND && policyID == DefaultPolicyName && rev == 0 {
		rec, err = r.CreatePolicy(ctx, DefaultPolicyName, evaluator.DefaultPolicy(), "leadscore")
	}
	if err != nil {
		return nil, "", leadscore.GatePolicyRecord{}, fmt.Errorf("gate policy %s: %w", name, err)
	}
	p, err := evaluator.ParsePolicy(rec.Document, policyName(rec))
	if err != nil {
		return nil, "", leadscore.GatePolicyRecord{}, fmt.Errorf("stored gate policy %s: %w", policyName(rec), err)
	}
	return p, policyName(rec), rec, nil
}

// storePolicyFile stores a policy read from a file under the file's base
// name, unless its newest revision already has the same rules.
func (r *Registry) storePolicyFile(ctx context.Context, path string, p *evaluator.GatePolicy, actor string) (leadscore.GatePolicyRecord, error) {
	id := policyIDFromPath(path)
	doc, err := evaluator.PolicyJSON(p)
	if err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	if rec, err := r.store.GetGatePolicy(ctx, id, 0); err == nil && string(rec.Document) == string(doc) {
		return rec, nil
	} else if err != nil && leadscore.ErrorCode(err) != leadscore.ENOTFOUND {
		return leadscore.GatePolicyRecord{}, err
	}
	return r.CreatePolicy(ctx, id, p, actor)
}

// CreatePolicy stores the next revision of a gate policy.
func (r *Registry) CreatePolicy(ctx context.Context, id string, p *evaluator.GatePolicy, actor string) (leadscore.GatePolicyRecord, error) {
	if err := leadscore.ValidateSlug("policy_id", id); err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	if err := checkActor(actor); err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	doc, err := evaluator.PolicyJSON(p)
	if err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	// Parse the canonical form back: what is stored must load.
	if _, err := evaluator.ParsePolicy(doc, id); err != nil {
		return leadscore.GatePolicyRecord{}, err
	}
	// The default policy judges every champion (ChampionPolicy).
	if id == DefaultPolicyName {
		if err := evaluator.CheckChampionGrade(p); err != nil {
			return leadscore.GatePolicyRecord{}, err
		}
	}
	return r.store.CreateGatePolicy(ctx, leadscore.GatePolicyRecord{Name: id, Document: doc, CreatedBy: actor, CreatedAt: r.clock()})
}

func policyName(rec leadscore.GatePolicyRecord) string {
	return fmt.Sprintf("gatePolicies/%s/revisions/%d", rec.Name, rec.Revision)
}

// loadData reads what a backtest scores; read says how to read a history's
// files.
func loadData(ctx context.Context, req BacktestRequest, read dataset.ReadOptions) (*dataset.History, *dataset.FlatTable, string, error) {
	d := req.Data
	n := 0
	for _, set := range []bool{d.History != nil, d.Store, d.Flat != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return nil, nil, "", leadscore.InvalidField("data", n, "exactly one data source must be named")
	}
	switch {
	case d.History != nil:
		h, _, err := dataset.LoadHistory(ctx, *d.History, read)
		if err != nil {
			return nil, nil, "", err
		}
		return h, nil, d.History.Leads, nil
	case d.Store:
		if req.HistoryStore == nil {
			return nil, nil, "", leadscore.InvalidField("data", "store", "no history store is open")
		}
		h, err := dataset.LoadHistoryFromStore(ctx, req.HistoryStore)
		if err != nil {
			return nil, nil, "", err
		}
		return h, nil, "store", nil
	default:
		t, err := dataset.ReadFlatTable(ctx, d.Flat.Path, d.Flat.Options)
		if err != nil {
			return nil, nil, "", err
		}
		return nil, t, d.Flat.Path, nil
	}
}

// defaultCutoff is the latest cut-off whose labels are complete.
func defaultCutoff(h *dataset.History, end time.Time, horizon time.Duration) time.Time {
	if end.IsZero() {
		_, end = h.Span()
	}
	return end.Add(-horizon).UTC()
}
