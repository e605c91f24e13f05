package storetest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// promote moves an alias to a version without a gate, failing the test on
// error.
func promote(t *testing.T, s RegistryStore, model, alias string, version int64) (leadscore.Alias, leadscore.AliasChange) {
	t.Helper()
	return mustMove(t, s, leadscore.AliasMove{
		Model: model, Alias: alias, Kind: leadscore.AliasPromote, ToVersion: version, Actor: "tester", At: base,
	}, nil)
}

func mustMove(t *testing.T, s RegistryStore, move leadscore.AliasMove, gate leadscore.AliasGate) (leadscore.Alias, leadscore.AliasChange) {
	t.Helper()
	a, c, err := s.MoveAlias(t.Context(), move, gate)
	if err != nil {
		t.Fatalf("MoveAlias(%+v): %v", move, err)
	}
	return a, c
}

// history returns an alias's whole history, newest first.
func history(t *testing.T, s RegistryStore, model, alias string) []leadscore.AliasChange {
	t.Helper()
	h, err := s.ListAliasHistory(t.Context(), leadscore.AliasRef{Model: model, Alias: alias}, 0, 0)
	if err != nil {
		t.Fatalf("ListAliasHistory(%s/%s): %v", model, alias, err)
	}
	return h
}

// checkChain checks that a history, newest first, is numbered from 1
// without gaps and that each entry moved the alias from where the one
// before left it.
func checkChain(t *testing.T, h []leadscore.AliasChange) {
	t.Helper()
	for i, c := range slices.Backward(h) {
		if want := int64(len(h) - i); c.Seq != want {
			t.Errorf("history entry %d has seq %d, want %d", len(h)-i, c.Seq, want)
		}
		var before int64
		if i+1 < len(h) {
			before = h[i+1].ToVersion
		}
		if c.FromVersion != before {
			t.Errorf("history entry %d moved from version %d, want %d (where entry %d left it)", c.Seq, c.FromVersion, before, c.Seq-1)
		}
	}
}

func getAlias(t *testing.T, s RegistryStore, model, alias string) leadscore.Alias {
	t.Helper()
	a, err := s.GetAlias(t.Context(), leadscore.AliasRef{Model: model, Alias: alias})
	if err != nil {
		t.Fatalf("GetAlias(%s/%s): %v", model, alias, err)
	}
	return a
}

// refusal is what the suite's refusing gates return.
func refusal() *leadscore.Error {
	return &leadscore.Error{
		Code:          leadscore.EPRECONDITION,
		Message:       "no passing evaluation",
		Preconditions: []leadscore.PreconditionViolation{{Type: "EVALUATION", Subject: "test", Description: "no passing evaluation"}},
	}
}

func testPromote(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	a, c := mustMove(t, s, leadscore.AliasMove{
		Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1,
		Actor: "ann", Reason: "first", At: minute(10),
	}, nil)
	wantA := leadscore.Alias{Model: "churn", Name: "champion", Version: 1, Seq: 1, Revision: 1, UpdatedAt: stored(minute(10))}
	wantC := leadscore.AliasChange{Model: "churn", Alias: "champion", Seq: 1, Kind: leadscore.AliasPromote,
		ToVersion: 1, Actor: "ann", Reason: "first", CreatedAt: stored(minute(10))}
	if a != wantA || c != wantC {
		t.Errorf("first MoveAlias() = %+v, %+v\nwant %+v, %+v", a, c, wantA, wantC)
	}
	if got := getAlias(t, s, "churn", "champion"); got != wantA {
		t.Errorf("GetAlias() = %+v, want %+v", got, wantA)
	}

	a2, c2 := mustMove(t, s, leadscore.AliasMove{
		Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: 2,
		Actor: "bob", Reason: "emergency", At: minute(11),
	}, nil)
	wantA2 := leadscore.Alias{Model: "churn", Name: "champion", Version: 2, Seq: 2, Revision: 2, UpdatedAt: stored(minute(11))}
	wantC2 := leadscore.AliasChange{Model: "churn", Alias: "champion", Seq: 2, Kind: leadscore.AliasForce,
		FromVersion: 1, ToVersion: 2, Actor: "bob", Reason: "emergency", CreatedAt: stored(minute(11))}
	if a2 != wantA2 || c2 != wantC2 {
		t.Errorf("second MoveAlias() = %+v, %+v\nwant %+v, %+v", a2, c2, wantA2, wantC2)
	}
	if got := getAlias(t, s, "churn", "champion"); got != wantA2 {
		t.Errorf("GetAlias() = %+v, want %+v", got, wantA2)
	}
	if got, want := history(t, s, "churn", "champion"), []leadscore.AliasChange{wantC2, wantC}; !reflect.DeepEqual(got, want) {
		t.Errorf("ListAliasHistory() = %+v\nwant %+v", got, want)
	}

	challenger, _ := mustMove(t, s, leadscore.AliasMove{
		Model: "churn", Alias: "challenger", Kind: leadscore.AliasPromote, ToVersion: 1, At: minute(12),
	}, nil)
	aliases, err := s.ListAliases(ctx, "churn")
	if err != nil {
		t.Fatalf("ListAliases(): %v", err)
	}
	if want := []leadscore.Alias{challenger, wantA2}; !reflect.DeepEqual(aliases, want) {
		t.Errorf("ListAliases() = %+v\nwant %+v", aliases, want)
	}
	m, err := s.GetModel(ctx, "churn")
	if err != nil {
		t.Fatal(err)
	}
	if !m.UpdatedAt.Equal(stored(minute(12))) || m.Revision != 1 {
		t.Errorf("GetModel() after moves = %+v, want updated at the last move (%v) and revision 1", m, stored(minute(12)))
	}
	_, err = s.ListAliases(ctx, "nope")
	wantCode(t, "ListAliases() of an unknown model", err, leadscore.ENOTFOUND)
}

func testMoveNotFound(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 1)
	for _, tt := range []struct {
		name string
		move leadscore.AliasMove
		want string
	}{
		{"unknown version", leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 9}, "models/churn/versions/9"},
		{"unknown version forced", leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: 9}, "models/churn/versions/9"},
		{"unknown model", leadscore.AliasMove{Model: "nope", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1}, "models/nope"},
		{"unknown alias deleted", leadscore.AliasMove{Model: "churn", Alias: "shadow", Kind: leadscore.AliasDelete}, "models/churn/aliases/shadow"},
	} {
		_, _, err := s.MoveAlias(ctx, tt.move, nil)
		wantCode(t, tt.name, err, leadscore.ENOTFOUND)
		wantMention(t, tt.name, err, tt.want)
	}
	_, err := s.GetAlias(ctx, leadscore.AliasRef{Model: "churn", Alias: "champion"})
	wantCode(t, "GetAlias() of an unknown alias", err, leadscore.ENOTFOUND)
	wantMention(t, "GetAlias() of an unknown alias", err, "models/churn/aliases/champion")
}

func testMoveArchived(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	archived := leadscore.VersionArchived
	if _, err := s.UpdateModelVersion(ctx, leadscore.VersionRef{Model: "churn", Version: 2}, leadscore.VersionUpdate{State: &archived}); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []leadscore.AliasChangeKind{leadscore.AliasPromote, leadscore.AliasForce} {
		_, _, err := s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: kind, ToVersion: 2, At: base}, nil)
		v := wantPrecondition(t, fmt.Sprintf("%s to an archived version", kind), err, "VERSION_STATE")
		if v.Subject != "models/churn/versions/2" {
			t.Errorf("%s to an archived version: violation subject %q, want the version", kind, v.Subject)
		}
	}
}

func testMoveSameTarget(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 1)
	promote(t, s, "churn", "champion", 1)
	for _, move := range []leadscore.AliasMove{
		{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1},
		{Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: 1},
		{Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback, RollbackToSeq: 1},
	} {
		_, _, err := s.MoveAlias(ctx, move, nil)
		wantPrecondition(t, fmt.Sprintf("%s to the current target", move.Kind), err, "ALIAS_TARGET")
		wantMention(t, fmt.Sprintf("%s to the current target", move.Kind), err, "already points at version 1")
	}
	if h := history(t, s, "churn", "champion"); len(h) != 1 {
		t.Errorf("history has %d entries after refused moves, want 1", len(h))
	}
}

func testMoveInvalid(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 1)
	for _, tt := range []struct {
		name string
		move leadscore.AliasMove
	}{
		{"no kind", leadscore.AliasMove{Model: "churn", Alias: "champion", ToVersion: 1}},
		{"unknown kind", leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: "swap", ToVersion: 1}},
		{"no alias", leadscore.AliasMove{Model: "churn", Kind: leadscore.AliasPromote, ToVersion: 1}},
		{"no version", leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote}},
		{"negative rollback entry", leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback, RollbackToSeq: -1}},
	} {
		_, _, err := s.MoveAlias(t.Context(), tt.move, nil)
		wantCode(t, tt.name, err, leadscore.EINVALID)
	}
}

func testMoveStaleRevision(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 3)
	move := func(version, expect int64) error {
		_, _, err := s.MoveAlias(ctx, leadscore.AliasMove{
			Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: version, ExpectRevision: expect, At: base,
		}, nil)
		return err
	}
	err := move(1, 1)
	wantCode(t, "creating an alias expecting revision 1", err, leadscore.EABORTED)
	wantMention(t, "creating an alias expecting revision 1", err, "revision 0", "not 1")
	if err := move(1, 0); err != nil {
		t.Fatalf("creating an alias: %v", err)
	}
	if err := move(2, 1); err != nil {
		t.Fatalf("moving an alias at the expected revision: %v", err)
	}
	err = move(3, 1)
	wantCode(t, "moving an alias expecting a stale revision", err, leadscore.EABORTED)
	wantMention(t, "moving an alias expecting a stale revision", err, "revision 2", "not 1")
	_, _, err = s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasDelete, ExpectRevision: 1}, nil)
	wantCode(t, "deleting an alias expecting a stale revision", err, leadscore.EABORTED)
	if a := getAlias(t, s, "churn", "champion"); a.Version != 2 || a.Revision != 2 {
		t.Errorf("alias after stale moves = %+v, want version 2 at revision 2", a)
	}
}

func testGateState(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 2)
	champion, _ := promote(t, s, "churn", "champion", 1)
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-old", Model: "churn", Version: 2, ChampionVersion: 1, CreatedAt: minute(1), Report: []byte(`{"n":1}`)})
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-new", Model: "churn", Version: 2, ChampionVersion: 1, CreatedAt: minute(2), Report: []byte(`{"n":2}`)})
	createEvaluation(t, s, leadscore.Evaluation{ID: "ev-v1", Model: "churn", Version: 1, CreatedAt: minute(3)})
	target, err := s.GetModelVersion(t.Context(), leadscore.VersionRef{Model: "churn", Version: 2})
	if err != nil {
		t.Fatal(err)
	}

	var seen leadscore.AliasMoveState
	capture := func(state leadscore.AliasMoveState) (string, error) {
		seen = state
		return "", nil
	}
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasPromote, ToVersion: 2, At: minute(4)}, capture)
	if seen.Current != nil {
		t.Errorf("state.Current = %+v for a new alias, want nil", seen.Current)
	}
	if seen.Champion == nil || *seen.Champion != champion {
		t.Errorf("state.Champion = %+v, want %+v", seen.Champion, champion)
	}
	if seen.Target == nil {
		t.Fatal("state.Target is nil for a promotion")
	}
	checkVersion(t, "state.Target", *seen.Target, target)
	var ids []string
	for _, e := range seen.Evaluations {
		ids = append(ids, e.ID)
		if want := fmt.Sprintf(`{"n":%d}`, map[string]int{"ev-old": 1, "ev-new": 2}[e.ID]); string(e.Report) != want {
			t.Errorf("state.Evaluations[%s].Report = %q, want %s: the champion gate judges it", e.ID, e.Report, want)
		}
		if e.Model != "churn" || e.Version != 2 || e.ChampionVersion != 1 {
			t.Errorf("state.Evaluations[%s] = %+v, want an evaluation of version 2 against champion 1", e.ID, e)
		}
	}
	if want := []string{"ev-new", "ev-old"}; !slices.Equal(ids, want) {
		t.Errorf("state.Evaluations = %v, want %v", ids, want)
	}

	challenger := getAlias(t, s, "churn", "challenger")
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasPromote, ToVersion: 1, At: minute(5)}, capture)
	if seen.Current == nil || *seen.Current != challenger {
		t.Errorf("state.Current = %+v, want %+v", seen.Current, challenger)
	}
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, At: minute(6)}, capture)
	if seen.Current == nil || seen.Champion == nil || *seen.Current != champion || *seen.Champion != champion {
		t.Errorf("moving the champion: state.Current = %+v, state.Champion = %+v, want both %+v", seen.Current, seen.Champion, champion)
	}
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasDelete, At: minute(7)}, capture)
	if seen.Target != nil || len(seen.Evaluations) != 0 {
		t.Errorf("deleting: state.Target = %+v, state.Evaluations = %+v, want none", seen.Target, seen.Evaluations)
	}
}

func testGateRefusal(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	before, _ := mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1, At: minute(1)}, nil)
	refused := refusal()
	gate := func(leadscore.AliasMoveState) (string, error) { return "", refused }
	for _, move := range []leadscore.AliasMove{
		{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, At: minute(2), RequestID: "req-refused"},
		{Model: "churn", Alias: "champion", Kind: leadscore.AliasDelete, At: minute(2)},
		{Model: "churn", Alias: "challenger", Kind: leadscore.AliasPromote, ToVersion: 2, At: minute(2)},
	} {
		_, _, err := s.MoveAlias(ctx, move, gate)
		if err != refused {
			t.Errorf("MoveAlias(%s %s) with a refusing gate = %v, want the gate's error unchanged", move.Kind, move.Alias, err)
		}
	}
	if got := getAlias(t, s, "churn", "champion"); got != before {
		t.Errorf("alias after refused moves = %+v, want %+v", got, before)
	}
	if h := history(t, s, "churn", "champion"); len(h) != 1 {
		t.Errorf("history after refused moves has %d entries, want 1", len(h))
	}
	_, err := s.GetAlias(ctx, leadscore.AliasRef{Model: "churn", Alias: "challenger"})
	wantCode(t, "GetAlias() of an alias whose creation was refused", err, leadscore.ENOTFOUND)
	_, err = s.ListAliasHistory(ctx, leadscore.AliasRef{Model: "churn", Alias: "challenger"}, 0, 0)
	wantCode(t, "ListAliasHistory() of an alias whose creation was refused", err, leadscore.ENOTFOUND)
	if m, err := s.GetModel(ctx, "churn"); err != nil || !m.UpdatedAt.Equal(stored(minute(1))) {
		t.Errorf("GetModel() after refused moves = %+v, %v, want updated at %v", m, err, stored(minute(1)))
	}
	// A refused move's request id is not remembered: the retry is decided
	// afresh.
	a, _ := mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, At: minute(3), RequestID: "req-refused"}, nil)
	if a.Version != 2 {
		t.Errorf("retry of a refused move = %+v, want the alias at version 2", a)
	}
}

func testGateNamedEvaluation(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 3)
	for _, e := range []leadscore.Evaluation{
		{ID: "ev-a", Model: "churn", Version: 2, CreatedAt: minute(1)},
		{ID: "ev-b", Model: "churn", Version: 2, CreatedAt: minute(2)},
		{ID: "ev-c", Model: "churn", Version: 3, CreatedAt: minute(3)},
	} {
		createEvaluation(t, s, e)
	}
	var seen []leadscore.Evaluation
	gate := func(state leadscore.AliasMoveState) (string, error) {
		seen = state.Evaluations
		if len(seen) == 0 {
			return "", refusal()
		}
		return seen[0].ID, nil
	}
	_, _, err := s.MoveAlias(t.Context(), leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, Evaluation: "ev-c", At: base}, gate)
	wantCode(t, "promotion naming another version's evaluation", err, leadscore.EPRECONDITION)
	if seen == nil || len(seen) != 0 {
		t.Errorf("state.Evaluations naming another version's evaluation = %+v, want an empty list", seen)
	}
	_, c := mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, Evaluation: "ev-a", At: base}, gate)
	if len(seen) != 1 || seen[0].ID != "ev-a" {
		t.Errorf("state.Evaluations naming ev-a = %+v, want only ev-a", seen)
	}
	if c.Evaluation != "ev-a" {
		t.Errorf("change.Evaluation = %q, want the gate's ev-a", c.Evaluation)
	}
	if h := history(t, s, "churn", "champion"); h[0].Evaluation != "ev-a" {
		t.Errorf("history entry evaluation = %q, want ev-a", h[0].Evaluation)
	}
}

func testMoveRequestID(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 3)
	calls := 0
	gate := func(leadscore.AliasMoveState) (string, error) { calls++; return "", nil }
	move := leadscore.AliasMove{
		Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 1,
		Actor: "ann", RequestID: "mv-1", Method: "PromoteModelVersion", At: minute(1),
	}
	a1, c1 := mustMove(t, s, move, gate)
	if c1.RequestID != "mv-1" {
		t.Errorf("change.RequestID = %q, want mv-1", c1.RequestID)
	}
	retry := move
	retry.ToVersion, retry.At = 2, minute(2)
	a2, c2 := mustMove(t, s, retry, gate)
	if a2 != a1 || c2 != c1 {
		t.Errorf("replayed MoveAlias() = %+v, %+v\nwant the first result %+v, %+v", a2, c2, a1, c1)
	}
	if calls != 1 {
		t.Errorf("gate called %d times, want once: a replay decides nothing", calls)
	}
	if h := history(t, s, "churn", "champion"); len(h) != 1 {
		t.Errorf("history after a replay has %d entries, want 1", len(h))
	}

	other := move
	other.Method = "RollbackAlias"
	_, _, err := s.MoveAlias(ctx, other, gate)
	wantCode(t, "request id replayed for another method", err, leadscore.ECONFLICT)
	other = move
	other.Alias = "challenger"
	_, _, err = s.MoveAlias(ctx, other, gate)
	wantCode(t, "request id replayed for another alias", err, leadscore.ECONFLICT)

	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 3, At: minute(3)}, nil)
	a3, c3 := mustMove(t, s, move, gate)
	if a3 != a1 || c3 != c1 {
		t.Errorf("replay after a later move = %+v, %+v\nwant the first result %+v, %+v", a3, c3, a1, c1)
	}

	del := leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasDelete, RequestID: "del-1", Method: "DeleteAlias", At: minute(4)}
	da, dc := mustMove(t, s, del, nil)
	da2, dc2 := mustMove(t, s, del, nil)
	if da != (leadscore.Alias{}) || da2 != da || dc2 != dc {
		t.Errorf("replayed delete = %+v, %+v, want the zero alias and %+v", da2, dc2, dc)
	}
}

func testRollback(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 3)
	for v := int64(1); v <= 3; v++ {
		promote(t, s, "churn", "champion", v)
	}
	rollback := func(seq int64, at time.Time) (leadscore.Alias, leadscore.AliasChange) {
		t.Helper()
		return mustMove(t, s, leadscore.AliasMove{
			Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback, RollbackToSeq: seq, Actor: "ops", Reason: "bad", At: at,
		}, nil)
	}
	for _, tt := range []struct {
		seq       int64
		from, to  int64
		wantSeq   int64
		wantNotes string
	}{
		{0, 3, 2, 4, "the target before the current one"},
		{0, 2, 3, 5, "undoing the rollback"},
		{1, 3, 1, 6, "entry 1's target"},
	} {
		a, c := rollback(tt.seq, minute(int(tt.wantSeq)))
		want := leadscore.AliasChange{Model: "churn", Alias: "champion", Seq: tt.wantSeq, Kind: leadscore.AliasRollback,
			FromVersion: tt.from, ToVersion: tt.to, Actor: "ops", Reason: "bad", CreatedAt: stored(minute(int(tt.wantSeq)))}
		if c != want {
			t.Errorf("rollback to %s = %+v, want %+v", tt.wantNotes, c, want)
		}
		if a.Version != tt.to || a.Seq != tt.wantSeq || a.Revision != tt.wantSeq {
			t.Errorf("alias after rollback to %s = %+v, want version %d, seq and revision %d", tt.wantNotes, a, tt.to, tt.wantSeq)
		}
	}
	checkChain(t, history(t, s, "churn", "champion"))
	_, _, err := s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback, RollbackToSeq: 9}, nil)
	wantCode(t, "rollback to an entry that does not exist", err, leadscore.ENOTFOUND)
	wantMention(t, "rollback to an entry that does not exist", err, "models/churn/aliases/champion/history/9")
}

func testRollbackRefused(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	rollback := func(alias string, seq int64) error {
		_, _, err := s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: alias, Kind: leadscore.AliasRollback, RollbackToSeq: seq, At: base}, nil)
		return err
	}
	err := rollback("champion", 0)
	wantPrecondition(t, "rollback of an alias that does not exist", err, "ALIAS_HISTORY")
	wantMention(t, "rollback of an alias that does not exist", err, "nothing to roll back to")

	promote(t, s, "churn", "champion", 1)
	err = rollback("champion", 0)
	wantPrecondition(t, "rollback of an alias without an earlier target", err, "ALIAS_HISTORY")
	wantMention(t, "rollback of an alias without an earlier target", err, "nothing to roll back to")

	promote(t, s, "churn", "shadow", 1)
	promote(t, s, "churn", "shadow", 2)
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "shadow", Kind: leadscore.AliasDelete, At: base}, nil)
	err = rollback("shadow", 3)
	v := wantPrecondition(t, "rollback to a delete", err, "ALIAS_HISTORY")
	if v.Subject != "models/churn/aliases/shadow/history/3" {
		t.Errorf("rollback to a delete: violation subject %q, want the history entry", v.Subject)
	}
	err = rollback("shadow", 0)
	wantPrecondition(t, "rollback of a deleted alias to the target before", err, "ALIAS_HISTORY")
}

func testRollbackArchived(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	promote(t, s, "churn", "champion", 1)
	promote(t, s, "churn", "champion", 2)
	v1 := leadscore.VersionRef{Model: "churn", Version: 1}
	state := leadscore.VersionArchived
	if _, err := s.UpdateModelVersion(ctx, v1, leadscore.VersionUpdate{State: &state}); err != nil {
		t.Fatalf("archive version 1: %v", err)
	}
	rollback := leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasRollback, At: base}
	_, _, err := s.MoveAlias(ctx, rollback, nil)
	v := wantPrecondition(t, "rollback to an archived version", err, "VERSION_STATE")
	if v.Subject != "models/churn/versions/1" || !strings.Contains(v.Description, "unarchive it first") {
		t.Errorf("rollback to an archived version: violation %+v, want version 1 named and what to do", v)
	}
	if h := history(t, s, "churn", "champion"); len(h) != 2 {
		t.Errorf("history after a refused rollback has %d entries, want the 2 promotions", len(h))
	}
	state = leadscore.VersionActive
	if _, err := s.UpdateModelVersion(ctx, v1, leadscore.VersionUpdate{State: &state}); err != nil {
		t.Fatalf("unarchive version 1: %v", err)
	}
	a, _ := mustMove(t, s, rollback, nil)
	if a.Version != 1 {
		t.Errorf("rollback to an unarchived version = %+v, want version 1", a)
	}
}

func testDeleteAlias(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 2)
	promote(t, s, "churn", "challenger", 1)
	promote(t, s, "churn", "challenger", 2)
	a, c := mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasDelete, Actor: "ann", Reason: "done", At: minute(5)}, nil)
	want := leadscore.AliasChange{Model: "churn", Alias: "challenger", Seq: 3, Kind: leadscore.AliasDelete,
		FromVersion: 2, Actor: "ann", Reason: "done", CreatedAt: stored(minute(5))}
	if a != (leadscore.Alias{}) || c != want {
		t.Errorf("delete = %+v, %+v, want the zero alias and %+v", a, c, want)
	}
	_, err := s.GetAlias(ctx, leadscore.AliasRef{Model: "churn", Alias: "challenger"})
	wantCode(t, "GetAlias() of a deleted alias", err, leadscore.ENOTFOUND)
	if aliases, err := s.ListAliases(ctx, "churn"); err != nil || len(aliases) != 0 {
		t.Errorf("ListAliases() after the delete = %+v, %v, want none", aliases, err)
	}
	h := history(t, s, "churn", "challenger")
	if len(h) != 3 || h[0] != want {
		t.Errorf("history of the deleted alias = %+v, want 3 entries, the delete first", h)
	}
	checkChain(t, h)
	_, _, err = s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasDelete}, nil)
	wantCode(t, "deleting a deleted alias", err, leadscore.ENOTFOUND)

	// Rolling back to an entry before the delete creates the alias again.
	a, c = mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasRollback, RollbackToSeq: 2, At: minute(6)}, nil)
	// The revision is the history sequence, so an etag read before the
	// delete (revision 2) can never match the re-created alias.
	if a.Version != 2 || a.Seq != 4 || a.Revision != 4 || c.FromVersion != 0 || c.ToVersion != 2 {
		t.Errorf("rollback of a deleted alias = %+v, %+v, want version 2 at seq 4, revision 4, moved from nothing", a, c)
	}
	_, _, err = s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "challenger", Kind: leadscore.AliasPromote, ToVersion: 1, ExpectRevision: 2, At: minute(7)}, nil)
	wantCode(t, "a move with an etag read before the delete", err, leadscore.EABORTED)
	checkChain(t, history(t, s, "churn", "challenger"))
}

func testHistoryGapFree(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 3)
	steps := []struct {
		alias   string
		kind    leadscore.AliasChangeKind
		version int64
	}{
		{"champion", leadscore.AliasPromote, 1},
		{"shadow", leadscore.AliasPromote, 2},
		{"champion", leadscore.AliasForce, 2},
		{"shadow", leadscore.AliasDelete, 0},
		{"champion", leadscore.AliasRollback, 0},
		{"shadow", leadscore.AliasPromote, 3},
		{"shadow", leadscore.AliasDelete, 0},
		{"shadow", leadscore.AliasForce, 1},
		{"champion", leadscore.AliasPromote, 3},
	}
	for i, st := range steps {
		mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: st.alias, Kind: st.kind, ToVersion: st.version, At: minute(i)}, nil)
	}
	for alias, n := range map[string]int{"champion": 4, "shadow": 5} {
		h := history(t, s, "churn", alias)
		if len(h) != n {
			t.Errorf("history of %s has %d entries, want %d", alias, len(h), n)
		}
		checkChain(t, h)
		if a := getAlias(t, s, "churn", alias); a.Seq != h[0].Seq || a.Version != h[0].ToVersion {
			t.Errorf("alias %s = %+v, want it set by its newest entry %+v", alias, a, h[0])
		}
	}
}

func testListHistory(t *testing.T, s RegistryStore) {
	ctx := t.Context()
	modelWithVersions(t, s, "churn", 5)
	for v := int64(1); v <= 5; v++ {
		promote(t, s, "churn", "champion", v)
	}
	ref := leadscore.AliasRef{Model: "churn", Alias: "champion"}
	seqs := func(before int64, limit int) string {
		t.Helper()
		h, err := s.ListAliasHistory(ctx, ref, before, limit)
		if err != nil {
			t.Fatalf("ListAliasHistory(%d, %d): %v", before, limit, err)
		}
		var out []string
		for _, c := range h {
			out = append(out, fmt.Sprint(c.Seq))
		}
		return fmt.Sprint(out)
	}
	for _, tt := range []struct {
		before int64
		limit  int
		want   string
	}{
		{0, 0, "[5 4 3 2 1]"},
		{0, 2, "[5 4]"},
		{4, 2, "[3 2]"},
		{2, 0, "[1]"},
		{1, 0, "[]"},
	} {
		if got := seqs(tt.before, tt.limit); got != tt.want {
			t.Errorf("ListAliasHistory(before %d, limit %d) = %s, want %s", tt.before, tt.limit, got, tt.want)
		}
	}
	_, err := s.ListAliasHistory(ctx, leadscore.AliasRef{Model: "churn", Alias: "shadow"}, 0, 0)
	wantCode(t, "ListAliasHistory() of an alias that never existed", err, leadscore.ENOTFOUND)
	_, err = s.ListAliasHistory(ctx, leadscore.AliasRef{Model: "nope", Alias: "champion"}, 0, 0)
	wantCode(t, "ListAliasHistory() of an unknown model", err, leadscore.ENOTFOUND)
}

// movers is how many goroutines the concurrency tests run at once.
const movers = 20

func testConcurrentGatedPromotions(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", movers)
	// Each mover evaluated its version against no champion, so its gate
	// passes only while there is none: only the first move can pass, and
	// only if every gate sees the state the move commits on.
	gate := func(state leadscore.AliasMoveState) (string, error) {
		if state.Champion != nil {
			return "", refusal()
		}
		return "", nil
	}
	errs := make([]error, movers)
	var wg sync.WaitGroup
	for i := range movers {
		wg.Go(func() {
			_, _, errs[i] = s.MoveAlias(t.Context(), leadscore.AliasMove{
				Model: "churn", Alias: leadscore.AliasChampion, Kind: leadscore.AliasPromote,
				ToVersion: int64(i + 1), Actor: fmt.Sprintf("mover-%d", i), At: minute(i),
			}, gate)
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch leadscore.ErrorCode(err) {
		case "":
			if winner >= 0 {
				t.Errorf("movers %d and %d both promoted", winner, i)
			}
			winner = i
		case leadscore.EPRECONDITION:
		default:
			t.Errorf("mover %d: %v, want success or a refusal", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no mover promoted")
	}
	champion := getAlias(t, s, "churn", leadscore.AliasChampion)
	if champion.Version != int64(winner+1) || champion.Seq != 1 || champion.Revision != 1 {
		t.Errorf("champion = %+v, want the winner's version %d at seq 1, revision 1", champion, winner+1)
	}
	h := history(t, s, "churn", leadscore.AliasChampion)
	if len(h) != 1 || h[0].Seq != 1 || h[0].ToVersion != int64(winner+1) {
		t.Errorf("history = %+v, want one entry for the winner", h)
	}
}

func testConcurrentForcedMoves(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", movers)
	errs := make([]error, movers)
	var wg sync.WaitGroup
	for i := range movers {
		wg.Go(func() {
			_, _, errs[i] = s.MoveAlias(t.Context(), leadscore.AliasMove{
				Model: "churn", Alias: leadscore.AliasChampion, Kind: leadscore.AliasForce,
				ToVersion: int64(i + 1), Actor: fmt.Sprintf("mover-%d", i), Reason: "drill", At: minute(i),
			}, func(leadscore.AliasMoveState) (string, error) { return "", nil })
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("mover %d: %v", i, err)
		}
	}
	h := history(t, s, "churn", leadscore.AliasChampion)
	if len(h) != movers {
		t.Fatalf("history has %d entries, want %d", len(h), movers)
	}
	checkChain(t, h)
	targets := map[int64]bool{}
	for _, c := range h {
		targets[c.ToVersion] = true
	}
	if len(targets) != movers {
		t.Errorf("history moved to %d distinct versions, want every mover's %d", len(targets), movers)
	}
	champion := getAlias(t, s, "churn", leadscore.AliasChampion)
	if champion.Version != h[0].ToVersion || champion.Seq != int64(movers) || champion.Revision != int64(movers) {
		t.Errorf("champion = %+v, want the newest entry's version %d at seq and revision %d", champion, h[0].ToVersion, movers)
	}
}

// noticeWait bounds the wait for a notice that must come, so that a lost
// notice fails the test instead of hanging it. It is not a latency
// requirement.
const noticeWait = 30 * time.Second

// ReceiveNotice returns the next notice of ch, failing the test when the
// channel closes or no notice comes within a generous bound.
func ReceiveNotice(t *testing.T, ch <-chan leadscore.AliasNotice) leadscore.AliasNotice {
	t.Helper()
	timer := time.NewTimer(noticeWait)
	defer timer.Stop()
	select {
	case n, ok := <-ch:
		if !ok {
			t.Fatal("the notice channel was closed, want a notice")
		}
		return n
	case <-timer.C:
		t.Fatalf("no notice within %v", noticeWait)
	}
	return leadscore.AliasNotice{}
}

// WaitNoticesClosed waits for a notice channel to be closed, dropping
// notices, and fails the test when it stays open.
func WaitNoticesClosed(t *testing.T, ch <-chan leadscore.AliasNotice) {
	t.Helper()
	timer := time.NewTimer(noticeWait)
	defer timer.Stop()
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-timer.C:
			t.Fatalf("the notice channel is still open %v later", noticeWait)
		}
	}
}

func testNotices(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 2)
	ch, err := s.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	want := noticedMoves(t, s)
	for i, w := range want {
		if got := ReceiveNotice(t, ch); got != w {
			t.Errorf("notice %d = %+v, want %+v", i, got, w)
		}
	}
}

// noticedMoves moves the aliases of model churn, which has two versions
// and no aliases, in every way that is notified and some that are not, and
// returns the notices the moves must give, in order.
func noticedMoves(t *testing.T, s RegistryStore) []leadscore.AliasNotice {
	t.Helper()
	ctx := t.Context()
	promote(t, s, "churn", "champion", 1)
	refuse := func(leadscore.AliasMoveState) (string, error) { return "", refusal() }
	if _, _, err := s.MoveAlias(ctx, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2}, refuse); err == nil {
		t.Fatal("refused move succeeded")
	}
	replayed := leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasPromote, ToVersion: 2, RequestID: "r-1", At: base}
	mustMove(t, s, replayed, nil)
	mustMove(t, s, replayed, nil)
	promote(t, s, "churn", "shadow", 1)
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "shadow", Kind: leadscore.AliasDelete, At: base}, nil)
	promote(t, s, "churn", "champion", 1)
	return []leadscore.AliasNotice{
		{Model: "churn", Alias: "champion", Seq: 1, Version: 1},
		{Model: "churn", Alias: "champion", Seq: 2, Version: 2},
		{Model: "churn", Alias: "shadow", Seq: 1, Version: 1},
		{Model: "churn", Alias: "shadow", Seq: 2, Version: 0},
		{Model: "churn", Alias: "champion", Seq: 3, Version: 1},
	}
}

func testNoticesSlowReceiver(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 2)
	ch, err := s.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	burst(t, s, ch)
}

// burst moves the champion alias of model churn, which has two versions,
// many more times than any buffer holds, receiving none of the notices
// until every move is done, and then checks that ch accounts for every
// move: by its own notice, in order, or by a resync notice standing for
// the ones dropped.
func burst(t *testing.T, s RegistryStore, ch <-chan leadscore.AliasNotice) {
	t.Helper()
	const moves = 200
	for i := range moves {
		mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: int64(i%2 + 1), At: base}, nil)
	}
	var last int64
	for last < moves {
		n := ReceiveNotice(t, ch)
		if n.Resync() {
			return
		}
		if n.Seq != last+1 {
			t.Fatalf("notice of seq %d after seq %d without a resync notice between", n.Seq, last)
		}
		last = n.Seq
	}
}

func testNoticesCanceled(t *testing.T, s RegistryStore) {
	modelWithVersions(t, s, "churn", 1)
	ctx, cancel := context.WithCancel(t.Context())
	ch, err := s.AliasNotices(ctx)
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	promote(t, s, "churn", "champion", 1)
	cancel()
	WaitNoticesClosed(t, ch)
	// Moves go on after the receiver left.
	mustMove(t, s, leadscore.AliasMove{Model: "churn", Alias: "champion", Kind: leadscore.AliasDelete, At: base}, nil)

	other, err := s.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close(): %v", err)
	}
	WaitNoticesClosed(t, other)
	if _, err := s.AliasNotices(t.Context()); err == nil {
		t.Error("AliasNotices() after Close() succeeded, want an error")
	}
}
