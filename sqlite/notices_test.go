package sqlite_test

import (
	"context"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
	"github.com/leadscore/leadscore/sqlite"
	"github.com/leadscore/leadscore/storetest"
)

func force(t *testing.T, db *sqlite.DB, model, alias string, version int64) {
	t.Helper()
	_, _, err := db.MoveAlias(t.Context(), leadscore.AliasMove{Model: model, Alias: alias, Kind: leadscore.AliasForce, ToVersion: version}, nil)
	if err != nil {
		t.Fatalf("MoveAlias(%s/%s to %d): %v", model, alias, version, err)
	}
}

// TestAliasNoticesSeeMovesOfAnotherHandle moves an alias through one
// handle on a file and receives the notice through another, as a server
// does when `leadscore promote` runs beside it.
func TestAliasNoticesSeeMovesOfAnotherHandle(t *testing.T) {
	t.Parallel()
	path := tempPath(t)
	mover := open(t, path)
	migrate(t, mover)
	server := open(t, path)
	modelWithVersions(t, mover, "churn", 2)
	ch, err := server.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	start := time.Now()
	force(t, mover, "churn", "champion", 2)
	want := leadscore.AliasNotice{Model: "churn", Alias: "champion", Seq: 1, Version: 2}
	if got := storetest.ReceiveNotice(t, ch); got != want {
		t.Errorf("notice = %+v, want %+v from the other handle", got, want)
	}
	t.Logf("the other handle's move arrived after %v", time.Since(start).Round(time.Millisecond))
}

// TestAliasNoticesStopWithTheirSubscription checks that a subscription's
// watcher lets go of its connection when its context ends, and when the
// store closes, before its channel is closed.
func TestAliasNoticesStopWithTheirSubscription(t *testing.T) {
	t.Parallel()
	db := open(t, tempPath(t))
	migrate(t, db)
	ctx, cancel := context.WithCancel(t.Context())
	left, err := db.AliasNotices(ctx)
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	stays, err := db.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	if got := db.Watching(); got != 2 {
		t.Fatalf("%d subscriptions watching, want 2", got)
	}
	cancel()
	storetest.WaitNoticesClosed(t, left)
	if got := db.Watching(); got != 1 {
		t.Errorf("%d subscriptions watching after one was cancelled, want 1", got)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("Close(): %v", err)
	}
	storetest.WaitNoticesClosed(t, stays)
	if got := db.Watching(); got != 0 {
		t.Errorf("%d subscriptions watching after Close, want 0", got)
	}
}

// TestAliasNoticesOnUnmigratedFile checks that subscribing to a file
// without the registry's tables fails rather than watching nothing.
func TestAliasNoticesOnUnmigratedFile(t *testing.T) {
	t.Parallel()
	db := open(t, tempPath(t))
	if _, err := db.AliasNotices(t.Context()); err == nil {
		t.Error("AliasNotices() on an unmigrated file succeeded, want an error")
	}
	if got := db.Watching(); got != 0 {
		t.Errorf("%d subscriptions watching after a failed one, want 0", got)
	}
}
