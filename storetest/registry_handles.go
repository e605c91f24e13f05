package storetest

import (
	"testing"

	"github.com/leadscore/leadscore"
)

// RunRegistryHandles runs the registry tests that need two handles on one
// database, as two processes sharing it have: a server following aliases
// and the command line moving them. open must return two stores on one
// new, empty, migrated database that shares nothing with any other
// database open returned, and arrange for their cleanup.
func RunRegistryHandles(t *testing.T, open func(t *testing.T) (RegistryStore, RegistryStore)) {
	t.Helper()
	tests := []struct {
		name string
		test func(t *testing.T, first, second RegistryStore)
	}{
		{"notices report moves committed through another handle", testNoticesOtherHandle},
		{"notices of both handles' moves arrive in commit order on each", testNoticesBothHandles},
		{"burst through another handle is delivered or resynced", testNoticesOtherHandleBurst},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			first, second := open(t)
			tt.test(t, first, second)
		})
	}
}

func testNoticesOtherHandle(t *testing.T, mover, server RegistryStore) {
	modelWithVersions(t, mover, "churn", 2)
	ch, err := server.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	want := noticedMoves(t, mover)
	for i, w := range want {
		if got := ReceiveNotice(t, ch); got != w {
			t.Errorf("notice %d = %+v, want %+v", i, got, w)
		}
	}
}

func testNoticesBothHandles(t *testing.T, first, second RegistryStore) {
	modelWithVersions(t, first, "churn", 2)
	handles := []RegistryStore{first, second}
	chans := make([]<-chan leadscore.AliasNotice, len(handles))
	for i, s := range handles {
		ch, err := s.AliasNotices(t.Context())
		if err != nil {
			t.Fatalf("AliasNotices() on handle %d: %v", i+1, err)
		}
		chans[i] = ch
	}
	// Each move is committed before the next begins, through the two
	// handles in turn: the commit order is the loop's.
	const moves = 6
	for i := range moves {
		mustMove(t, handles[i%2], leadscore.AliasMove{
			Model: "churn", Alias: "champion", Kind: leadscore.AliasForce, ToVersion: int64(i%2 + 1), At: base,
		}, nil)
	}
	for h, ch := range chans {
		for i := range int64(moves) {
			want := leadscore.AliasNotice{Model: "churn", Alias: "champion", Seq: i + 1, Version: i%2 + 1}
			if got := ReceiveNotice(t, ch); got != want {
				t.Fatalf("notice %d on handle %d = %+v, want %+v", i, h+1, got, want)
			}
		}
	}
}

func testNoticesOtherHandleBurst(t *testing.T, mover, server RegistryStore) {
	modelWithVersions(t, mover, "churn", 2)
	ch, err := server.AliasNotices(t.Context())
	if err != nil {
		t.Fatalf("AliasNotices(): %v", err)
	}
	burst(t, mover, ch)
}
