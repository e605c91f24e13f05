package storetest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

func createEvaluation(t *testing.T, s RegistryStore, e leadscore.Evaluation) {
	t.Helper()
	if e.Report == nil {
		e.Report = []byte(`{}`)
	}
	if err := s.CreateEvaluation(t.Context(), e); err != nil {
		t.Fatalf("CreateEvaluation(%s): %v", e.ID, err)
	}
}

func createPolicy(t *testing.T, s RegistryStore, name, doc string) leadscore.GatePolicyRecord {
	t.Helper()
	p, err := s.CreateGatePolicy(t.Context(), leadscore.GatePolicyRecord{Name: name, Document: []byte(doc), CreatedBy: "tester", CreatedAt: base})
	if err != nil {
		t.Fatalf("CreateGatePolicy(%s): %v", name, err)
	}
	return p
}

func createJob(t *testing.T, s RegistryStore, j leadscore.Job) leadscore.Job {
	t.Helper()
	if j.Spec == nil {
		j.Spec = []byte(`{}`)
	}
	got, created, err := s.CreateJob(t.Context(), j)
	if err != nil || !created {
		t.Fatalf("CreateJob(%s) = created %v, %v; want created", j.ID, created, err)
	}
	return got
}

func testGatePolicies(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	// JSON as a person wrote it: the store gives back these bytes, not a
	// re-encoding.
	docs := []string{
		`{"min_auc_gain": 0.01,  "rules": ["b", "a"], "active": true}`,
		"{\n  \"z\": 1,\n  \"a\": 2\n}",
	}
	var created []leadscore.GatePolicyRecord
	for i, doc := range docs {
		p, err := s.CreateGatePolicy(ctx, leadscore.GatePolicyRecord{Name: "default", Document: []byte(doc), CreatedBy: "ann", CreatedAt: minute(i)})
		if err != nil {
			t.Fatalf("CreateGatePolicy(default, %d): %v", i, err)
		}
		want := leadscore.GatePolicyRecord{Name: "default", Revision: int64(i + 1), Document: []byte(doc), CreatedBy: "ann", CreatedAt: stored(minute(i))}
		if !reflect.DeepEqual(p, want) {
			t.Errorf("CreateGatePolicy(default, %d) = %+v, want %+v", i, p, want)
		}
		created = append(created, want)
	}
	strict := createPolicy(t, s, "strict", `{}`)
	if strict.Revision != 1 {
		t.Errorf("first revision of another policy = %d, want 1", strict.Revision)
	}
	for _, tt := range []struct {
		revision int64
		want     leadscore.GatePolicyRecord
	}{{0, created[1]}, {1, created[0]}, {2, created[1]}} {
		got, err := s.GetGatePolicy(ctx, "default", tt.revision)
		if err != nil {
			t.Fatalf("GetGatePolicy(default, %d): %v", tt.revision, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("GetGatePolicy(default, %d) = %+v (document %s), want %+v (document %s)", tt.revision, got, got.Document, tt.want, tt.want.Document)
		}
	}
	_, err := s.GetGatePolicy(ctx, "default", 3)
	wantCode(t, "GetGatePolicy() of an unknown revision", err, leadscore.ENOTFOUND)
	wantMention(t, "GetGatePolicy() of an unknown revision", err, "gatePolicies/default/revisions/3")
	_, err = s.GetGatePolicy(ctx, "nope", 0)
	wantCode(t, "GetGatePolicy() of an unknown policy", err, leadscore.ENOTFOUND)

	list := func(after string, limit int) []leadscore.GatePolicyRecord {
		t.Helper()
		ps, err := s.ListGatePolicies(ctx, after, limit)
		if err != nil {
			t.Fatalf("ListGatePolicies(%q, %d): %v", after, limit, err)
		}
		return ps
	}
	if got, want := list("", 0), []leadscore.GatePolicyRecord{created[1], strict}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListGatePolicies() = %+v, want the newest revision of each: %+v", got, want)
	}
	if got := list("", 1); len(got) != 1 || got[0].Name != "default" {
		t.Errorf("ListGatePolicies(limit 1) = %+v, want default", got)
	}
	if got := list("default", 0); len(got) != 1 || got[0].Name != "strict" {
		t.Errorf("ListGatePolicies(after default) = %+v, want strict", got)
	}
}

func testConcurrentGatePolicies(t *testing.T, s RegistryStore) {
	const creators = 10
	revisions := make([]int64, creators)
	errs := make([]error, creators)
	var wg sync.WaitGroup
	for i := range creators {
		wg.Go(func() {
			p, err := s.CreateGatePolicy(t.Context(), leadscore.GatePolicyRecord{Name: "default", Document: []byte(fmt.Sprintf(`{"n":%d}`, i)), CreatedAt: base})
			revisions[i], errs[i] = p.Revision, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("creator %d: %v", i, err)
		}
	}
	slices.Sort(revisions)
	for i, r := range revisions {
		if r != int64(i+1) {
			t.Fatalf("revisions = %v, want 1 to %d", revisions, creators)
		}
	}
}

func testGatePolicyInvalid(t *testing.T, s RegistryStore) {
	for _, p := range []leadscore.GatePolicyRecord{
		{Name: "default", Document: []byte(`{"unterminated": `)},
		{Name: "default"},
		{Document: []byte(`{}`)},
	} {
		_, err := s.CreateGatePolicy(t.Context(), p)
		wantCode(t, fmt.Sprintf("CreateGatePolicy(%q, %q)", p.Name, p.Document), err, leadscore.EINVALID)
	}
	ps, err := s.ListGatePolicies(t.Context(), "", 0)
	if err != nil || len(ps) != 0 {
		t.Errorf("ListGatePolicies() after refusals = %+v, %v, want none", ps, err)
	}
}

func testEvaluationRoundTrip(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobEvaluation, Model: "churn", CreatedAt: base})
	createPolicy(t, s, "default", `{}`)
	passed := true
	e := leadscore.Evaluation{
		ID: "ev-1", JobID: "job-1", Model: "churn", Version: 2, ChampionVersion: 1, Baseline: "builtin:points",
		GatePolicy: "default", GatePolicyRevision: 1, Passed: &passed,
		DataStart: minute(-100), DataEnd: minute(-10),
		Report:    []byte(`{"z": 1,  "a": [true, null, 0.5e3]}`),
		CreatedAt: minute(1),
	}
	if err := s.CreateEvaluation(ctx, e); err != nil {
		t.Fatalf("CreateEvaluation(): %v", err)
	}
	want := e
	want.DataStart, want.DataEnd, want.CreatedAt = stored(e.DataStart), stored(e.DataEnd), stored(e.CreatedAt)
	got, err := s.GetEvaluation(ctx, "ev-1")
	if err != nil {
		t.Fatalf("GetEvaluation(): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("GetEvaluation() = %+v (report %s)\nwant %+v (report %s)", got, got.Report, want, want.Report)
	}
	listed, err := s.ListEvaluations(ctx, leadscore.EvaluationFilter{}, leadscore.Page{}, 0)
	if err != nil {
		t.Fatalf("ListEvaluations(): %v", err)
	}
	want.Report = nil
	if len(listed) != 1 || !reflect.DeepEqual(listed[0], want) {
		t.Errorf("ListEvaluations() = %+v, want [%+v] without its report", listed, want)
	}
	_, err = s.GetEvaluation(ctx, "nope")
	wantCode(t, "GetEvaluation() of an unknown evaluation", err, leadscore.ENOTFOUND)
	wantMention(t, "GetEvaluation() of an unknown evaluation", err, "evaluations/nope")
}

func testEvaluationMinimal(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 1)
	e := leadscore.Evaluation{ID: "ev-flat", Model: "churn", Version: 1, Report: []byte(`[]`), CreatedAt: base}
	createEvaluation(t, s, e)
	got, err := s.GetEvaluation(t.Context(), "ev-flat")
	if err != nil {
		t.Fatal(err)
	}
	e.CreatedAt = stored(base)
	if !reflect.DeepEqual(got, e) {
		t.Errorf("GetEvaluation() = %+v, want %+v", got, e)
	}
	// A window of one instant is a window.
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-instant", Model: "churn", Version: 1, DataStart: base, DataEnd: base, CreatedAt: base})
}

func testEvaluationReferences(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 1)
	createPolicy(t, s, "default", `{}`)
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-1", Model: "churn", Version: 1, CreatedAt: base})
	passed := false
	for _, tt := range []struct {
		name   string
		change func(*leadscore.Evaluation)
		code   leadscore.Code
		want   string
	}{
		{"unknown version", func(e *leadscore.Evaluation) { e.Version = 9 }, leadscore.ENOTFOUND, "models/churn/versions/9"},
		{"unknown model", func(e *leadscore.Evaluation) { e.Model = "nope" }, leadscore.ENOTFOUND, "models/nope"},
		{"unknown champion", func(e *leadscore.Evaluation) { e.ChampionVersion = 9 }, leadscore.ENOTFOUND, "models/churn/versions/9"},
		{"unknown policy revision", func(e *leadscore.Evaluation) { e.GatePolicy, e.GatePolicyRevision, e.Passed = "default", 2, &passed },
			leadscore.ENOTFOUND, "gatePolicies/default/revisions/2"},
		{"unknown policy", func(e *leadscore.Evaluation) { e.GatePolicy, e.GatePolicyRevision, e.Passed = "nope", 1, &passed },
			leadscore.ENOTFOUND, "gatePolicies/nope/revisions/1"},
		{"unknown job", func(e *leadscore.Evaluation) { e.JobID = "nope" }, leadscore.ENOTFOUND, "jobs/nope"},
		{"taken id", func(e *leadscore.Evaluation) { e.ID = "ev-1" }, leadscore.ECONFLICT, "evaluations/ev-1"},
	} {
		e := leadscore.Evaluation{ID: "ev-2", Model: "churn", Version: 1, Report: []byte(`{}`), CreatedAt: base}
		tt.change(&e)
		err := s.CreateEvaluation(ctx, e)
		wantCode(t, tt.name, err, tt.code)
		wantMention(t, tt.name, err, tt.want)
	}
	listed, err := s.ListEvaluations(ctx, leadscore.EvaluationFilter{}, leadscore.Page{}, 0)
	if err != nil || len(listed) != 1 {
		t.Errorf("ListEvaluations() after refusals = %+v, %v, want only ev-1", listed, err)
	}
}

func testEvaluationInvalid(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 1)
	createPolicy(t, s, "default", `{}`)
	passed := true
	for _, tt := range []struct {
		name   string
		change func(*leadscore.Evaluation)
	}{
		{"no id", func(e *leadscore.Evaluation) { e.ID = "" }},
		{"no version", func(e *leadscore.Evaluation) { e.Version = 0 }},
		{"passed without a policy", func(e *leadscore.Evaluation) { e.Passed = &passed }},
		{"policy without passed", func(e *leadscore.Evaluation) { e.GatePolicy, e.GatePolicyRevision = "default", 1 }},
		{"policy without revision", func(e *leadscore.Evaluation) { e.GatePolicy, e.Passed = "default", &passed }},
		{"window without end", func(e *leadscore.Evaluation) { e.DataStart = base }},
		{"window ending before it starts", func(e *leadscore.Evaluation) { e.DataStart, e.DataEnd = minute(1), minute(0) }},
		{"report not JSON", func(e *leadscore.Evaluation) { e.Report = []byte(`{"a": nope}`) }},
		{"no report", func(e *leadscore.Evaluation) { e.Report = nil }},
	} {
		e := leadscore.Evaluation{ID: "ev-1", Model: "churn", Version: 1, Report: []byte(`{}`), CreatedAt: base}
		tt.change(&e)
		wantCode(t, tt.name, s.CreateEvaluation(t.Context(), e), leadscore.EINVALID)
	}
}

func testListEvaluations(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "a", 2)
	modelWithVersions(t, s, "b", 1)
	for _, e := range []leadscore.Evaluation{
		{ID: "e1", Model: "a", Version: 1, CreatedAt: minute(1)},
		{ID: "e2", Model: "a", Version: 2, CreatedAt: minute(2)},
		{ID: "e3", Model: "b", Version: 1, CreatedAt: minute(2)},
		{ID: "e4", Model: "a", Version: 2, CreatedAt: minute(3)},
		{ID: "e5", Model: "a", Version: 1, CreatedAt: minute(2)},
	} {
		createEvaluation(t, s, e)
	}
	// all lists with f in pages of limit, following the keyset.
	all := func(f leadscore.EvaluationFilter, limit int) string {
		t.Helper()
		var ids []string
		var page leadscore.Page
		for range 10 {
			evals, err := s.ListEvaluations(ctx, f, page, limit)
			if err != nil {
				t.Fatalf("ListEvaluations(%+v, %+v, %d): %v", f, page, limit, err)
			}
			for _, e := range evals {
				if e.Report != nil {
					t.Errorf("listed %s with its report", e.ID)
				}
				ids = append(ids, e.ID)
			}
			if limit == 0 || len(evals) < limit {
				return strings.Join(ids, " ")
			}
			last := evals[len(evals)-1]
			page = leadscore.Page{Time: last.CreatedAt, ID: last.ID}
		}
		t.Fatal("ListEvaluations() pages never end")
		return ""
	}
	for _, tt := range []struct {
		filter leadscore.EvaluationFilter
		limit  int
		want   string
	}{
		{leadscore.EvaluationFilter{}, 0, "e4 e5 e3 e2 e1"},
		{leadscore.EvaluationFilter{}, 2, "e4 e5 e3 e2 e1"},
		{leadscore.EvaluationFilter{}, 1, "e4 e5 e3 e2 e1"},
		{leadscore.EvaluationFilter{Model: "a"}, 2, "e4 e5 e2 e1"},
		{leadscore.EvaluationFilter{Model: "a", Version: 2}, 1, "e4 e2"},
		{leadscore.EvaluationFilter{Model: "nope"}, 0, ""},
	} {
		if got := all(tt.filter, tt.limit); got != tt.want {
			t.Errorf("ListEvaluations(%+v) in pages of %d = %q, want %q", tt.filter, tt.limit, got, tt.want)
		}
	}
	_, err := s.ListEvaluations(ctx, leadscore.EvaluationFilter{Version: 1}, leadscore.Page{}, 0)
	wantCode(t, "ListEvaluations() by version without a model", err, leadscore.EINVALID)
}

func testJobRoundTrip(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	for _, j := range []leadscore.Job{
		{ID: "job-1", Kind: leadscore.JobTraining, State: leadscore.JobQueued, Model: "churn",
			Spec: []byte(`{"model": "churn",  "rounds": 10}`), CreatedBy: "ann", CreatedAt: minute(1)},
		{ID: "job-2", Kind: leadscore.JobEvaluation, State: leadscore.JobFailed, Model: "churn", Progress: 0.5,
			Stage: "backtest", Message: "scoring", RequestID: "req-2", Spec: []byte(`[1]`), Result: []byte(`{"partial": true}`),
			ErrorCode: "DATA", ErrorMessage: "no outcomes", CreatedBy: "bob", CreatedAt: minute(2),
			StartedAt: minute(3), FinishedAt: minute(4), UpdatedAt: minute(4)},
	} {
		got, created, err := s.CreateJob(ctx, j)
		if err != nil || !created {
			t.Fatalf("CreateJob(%s) = created %v, %v; want created", j.ID, created, err)
		}
		want := j
		want.CreatedAt, want.StartedAt, want.FinishedAt = stored(j.CreatedAt), storedOrZero(j.StartedAt), storedOrZero(j.FinishedAt)
		want.UpdatedAt = stored(j.UpdatedAt)
		if j.UpdatedAt.IsZero() {
			want.UpdatedAt = want.CreatedAt
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("CreateJob(%s) = %+v\nwant %+v", j.ID, got, want)
		}
		got, err = s.GetJob(ctx, j.ID)
		if err != nil {
			t.Fatalf("GetJob(%s): %v", j.ID, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("GetJob(%s) = %+v\nwant %+v", j.ID, got, want)
		}
	}
	j := createJob(t, s, leadscore.Job{ID: "job-3", Kind: leadscore.JobTraining, CreatedAt: base})
	if j.State != leadscore.JobQueued {
		t.Errorf("job created without a state is %q, want queued", j.State)
	}
	_, err := s.GetJob(ctx, "nope")
	wantCode(t, "GetJob() of an unknown job", err, leadscore.ENOTFOUND)
	wantMention(t, "GetJob() of an unknown job", err, "jobs/nope")
	for _, bad := range []leadscore.Job{
		{ID: "bad", Kind: "sleeping", Spec: []byte(`{}`)},
		{ID: "bad", Kind: leadscore.JobTraining, State: "paused", Spec: []byte(`{}`)},
		{ID: "bad", Kind: leadscore.JobTraining, Spec: []byte(`{`)},
		{ID: "bad", Kind: leadscore.JobTraining, Progress: 1.5, Spec: []byte(`{}`)},
		{Kind: leadscore.JobTraining, Spec: []byte(`{}`)},
	} {
		_, _, err := s.CreateJob(ctx, bad)
		wantCode(t, fmt.Sprintf("CreateJob(%+v)", bad), err, leadscore.EINVALID)
	}
}

// storedOrZero is stored for a time that may be absent.
func storedOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return stored(t)
}

func testJobRequestID(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	first := createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, Model: "churn", RequestID: "sub-1", CreatedAt: base})
	got, created, err := s.CreateJob(ctx, leadscore.Job{ID: "job-2", Kind: leadscore.JobTraining, Model: "churn", RequestID: "sub-1", Spec: []byte(`{"retry": 1}`), CreatedAt: minute(1)})
	if err != nil {
		t.Fatalf("retried CreateJob(): %v", err)
	}
	if created || !reflect.DeepEqual(got, first) {
		t.Errorf("retried CreateJob() = %+v, created %v; want the first job, not created", got, created)
	}
	_, err = s.GetJob(ctx, "job-2")
	wantCode(t, "GetJob() of the retry's id", err, leadscore.ENOTFOUND)
	_, _, err = s.CreateJob(ctx, leadscore.Job{ID: "job-3", Kind: leadscore.JobEvaluation, Model: "churn", RequestID: "sub-1", Spec: []byte(`{}`)})
	wantCode(t, "CreateJob() of another kind with a used request id", err, leadscore.ECONFLICT)
	_, _, err = s.CreateJob(ctx, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, Spec: []byte(`{}`)})
	wantCode(t, "CreateJob() with a taken id", err, leadscore.ECONFLICT)
	wantMention(t, "CreateJob() with a taken id", err, "jobs/job-1")
}

func testConcurrentJobSubmissions(t *testing.T, s RegistryStore) {
	const submitters = 10
	jobs := make([]leadscore.Job, submitters)
	created := make([]bool, submitters)
	errs := make([]error, submitters)
	var wg sync.WaitGroup
	for i := range submitters {
		wg.Go(func() {
			jobs[i], created[i], errs[i] = s.CreateJob(t.Context(), leadscore.Job{
				ID: fmt.Sprintf("job-%d", i), Kind: leadscore.JobTraining, RequestID: "sub-1", Spec: []byte(`{}`), CreatedAt: base,
			})
		})
	}
	wg.Wait()
	n := 0
	for i := range submitters {
		if errs[i] != nil {
			t.Fatalf("submitter %d: %v", i, errs[i])
		}
		if created[i] {
			n++
		}
		if jobs[i].ID != jobs[0].ID {
			t.Errorf("submitter %d got %s, submitter 0 got %s; want one job for one request", i, jobs[i].ID, jobs[0].ID)
		}
	}
	if n != 1 {
		t.Errorf("%d submissions created a job, want 1", n)
	}
}

func testUpdateJob(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	j := createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, Model: "churn", CreatedAt: base})
	want := j
	want.State, want.Progress, want.Stage, want.Message = leadscore.JobRunning, 0.25, "fit", "round 50 of 200"
	want.StartedAt, want.UpdatedAt = stored(minute(2)), stored(minute(2))
	got, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error {
		j.State, j.Progress, j.Stage, j.Message = leadscore.JobRunning, 0.25, "fit", "round 50 of 200"
		j.StartedAt, j.UpdatedAt = minute(2), minute(2)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateJob(): %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("UpdateJob() = %+v\nwant %+v", got, want)
	}
	if read, err := s.GetJob(ctx, "job-1"); err != nil || !reflect.DeepEqual(read, want) {
		t.Errorf("GetJob() after UpdateJob() = %+v, %v\nwant %+v", read, err, want)
	}

	got, err = s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error {
		j.State, j.Progress, j.Result, j.FinishedAt = leadscore.JobSucceeded, 1, []byte(`{"version": 3}`), minute(3)
		return nil
	})
	if err != nil {
		t.Fatalf("UpdateJob() to succeeded: %v", err)
	}
	if string(got.Result) != `{"version": 3}` || !got.FinishedAt.Equal(stored(minute(3))) {
		t.Errorf("UpdateJob() to succeeded = %+v, want the result and finish time", got)
	}
	if !got.UpdatedAt.After(want.UpdatedAt) {
		t.Errorf("UpdatedAt = %v after an update that left it, want the store's clock, after %v", got.UpdatedAt, want.UpdatedAt)
	}
	_, err = s.UpdateJob(ctx, "nope", func(*leadscore.Job) error { return nil })
	wantCode(t, "UpdateJob() of an unknown job", err, leadscore.ENOTFOUND)
}

func testUpdateJobError(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	before := createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, Spec: []byte(`{"a": 1}`), CreatedAt: base})
	failure := errors.New("worker lost its lease")
	_, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error {
		j.State, j.Message = leadscore.JobRunning, "half done"
		j.Spec[1] = '!'
		return failure
	})
	if err != failure {
		t.Errorf("UpdateJob() = %v, want fn's error unchanged", err)
	}
	if got, err := s.GetJob(ctx, "job-1"); err != nil || !reflect.DeepEqual(got, before) {
		t.Errorf("GetJob() after a failed update = %+v, %v\nwant %+v", got, err, before)
	}
}

func testUpdateJobIdentity(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	before := createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, RequestID: "r", CreatedBy: "ann", CreatedAt: base})
	for _, tt := range []struct {
		field  string
		change func(*leadscore.Job)
	}{
		{"id", func(j *leadscore.Job) { j.ID = "job-2" }},
		{"kind", func(j *leadscore.Job) { j.Kind = leadscore.JobEvaluation }},
		{"request_id", func(j *leadscore.Job) { j.RequestID = "other" }},
		{"created_at", func(j *leadscore.Job) { j.CreatedAt = minute(1) }},
		{"created_by", func(j *leadscore.Job) { j.CreatedBy = "bob" }},
	} {
		_, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error { tt.change(j); return nil })
		wantCode(t, "changing "+tt.field, err, leadscore.EINVALID)
		var e *leadscore.Error
		if errors.As(err, &e) && (len(e.Fields) != 1 || e.Fields[0].Field != tt.field) {
			t.Errorf("changing %s: field violations %+v, want one for %s", tt.field, e.Fields, tt.field)
		}
	}
	for _, tt := range []struct {
		name   string
		change func(*leadscore.Job)
	}{
		{"unknown state", func(j *leadscore.Job) { j.State = "paused" }},
		{"progress above 1", func(j *leadscore.Job) { j.Progress = 2 }},
		{"result not JSON", func(j *leadscore.Job) { j.Result = []byte("done") }},
	} {
		_, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error { tt.change(j); return nil })
		wantCode(t, tt.name, err, leadscore.EINVALID)
	}
	if got, err := s.GetJob(ctx, "job-1"); err != nil || !reflect.DeepEqual(got, before) {
		t.Errorf("GetJob() after refused updates = %+v, %v\nwant %+v", got, err, before)
	}
}

func testUpdateJobFinal(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	createJob(t, s, leadscore.Job{ID: "job-1", Kind: leadscore.JobTraining, State: leadscore.JobSucceeded, CreatedAt: base})
	for _, state := range []leadscore.JobState{leadscore.JobRunning, leadscore.JobCancelled, leadscore.JobQueued} {
		_, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error { j.State = state; return nil })
		wantPrecondition(t, "leaving a final state for "+string(state), err, "JOB_STATE")
	}
	got, err := s.UpdateJob(ctx, "job-1", func(j *leadscore.Job) error { j.Message = "archived results"; return nil })
	if err != nil || got.State != leadscore.JobSucceeded || got.Message != "archived results" {
		t.Errorf("UpdateJob() of a finished job's message = %+v, %v; want it updated and still succeeded", got, err)
	}
	createJob(t, s, leadscore.Job{ID: "job-2", Kind: leadscore.JobTraining, State: leadscore.JobRunning, CreatedAt: base})
	for _, state := range []leadscore.JobState{leadscore.JobCancelling, leadscore.JobCancelled} {
		if _, err := s.UpdateJob(ctx, "job-2", func(j *leadscore.Job) error { j.State = state; return nil }); err != nil {
			t.Errorf("UpdateJob() to %s: %v", state, err)
		}
	}
}

func testListJobs(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	for _, j := range []leadscore.Job{
		{ID: "j1", Kind: leadscore.JobTraining, Model: "churn", State: leadscore.JobQueued, CreatedAt: minute(1)},
		{ID: "j2", Kind: leadscore.JobEvaluation, Model: "churn", State: leadscore.JobRunning, CreatedAt: minute(2)},
		{ID: "j3", Kind: leadscore.JobTraining, Model: "other", State: leadscore.JobSucceeded, CreatedAt: minute(2)},
		{ID: "j4", Kind: leadscore.JobEvaluation, Model: "other", State: leadscore.JobQueued, CreatedAt: minute(3)},
		{ID: "j5", Kind: leadscore.JobTraining, Model: "churn", State: leadscore.JobFailed, CreatedAt: minute(2)},
	} {
		createJob(t, s, j)
	}
	all := func(f leadscore.JobFilter, limit int) string {
		t.Helper()
		var ids []string
		var page leadscore.Page
		for range 10 {
			jobs, err := s.ListJobs(ctx, f, page, limit)
			if err != nil {
				t.Fatalf("ListJobs(%+v, %+v, %d): %v", f, page, limit, err)
			}
			for _, j := range jobs {
				ids = append(ids, j.ID)
			}
			if limit == 0 || len(jobs) < limit {
				return strings.Join(ids, " ")
			}
			last := jobs[len(jobs)-1]
			page = leadscore.Page{Time: last.CreatedAt, ID: last.ID}
		}
		t.Fatal("ListJobs() pages never end")
		return ""
	}
	for _, tt := range []struct {
		filter leadscore.JobFilter
		limit  int
		want   string
	}{
		{leadscore.JobFilter{}, 0, "j4 j5 j3 j2 j1"},
		{leadscore.JobFilter{}, 2, "j4 j5 j3 j2 j1"},
		{leadscore.JobFilter{Kind: leadscore.JobTraining}, 2, "j5 j3 j1"},
		{leadscore.JobFilter{Model: "churn"}, 1, "j5 j2 j1"},
		{leadscore.JobFilter{States: []leadscore.JobState{leadscore.JobQueued, leadscore.JobRunning}}, 2, "j4 j2 j1"},
		{leadscore.JobFilter{Kind: leadscore.JobEvaluation, Model: "other", States: []leadscore.JobState{leadscore.JobQueued}}, 0, "j4"},
		{leadscore.JobFilter{Model: "nope"}, 0, ""},
	} {
		if got := all(tt.filter, tt.limit); got != tt.want {
			t.Errorf("ListJobs(%+v) in pages of %d = %q, want %q", tt.filter, tt.limit, got, tt.want)
		}
	}
}
