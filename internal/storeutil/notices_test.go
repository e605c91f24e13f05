package storeutil

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/leadscore/leadscore"
)

// wait bounds waits for something that must happen, so that a bug fails
// the test instead of hanging it.
const wait = 10 * time.Second

func notice(seq int64) leadscore.AliasNotice {
	return leadscore.AliasNotice{Model: "m", Alias: "champion", Seq: seq, Version: seq}
}

func next(t *testing.T, ch <-chan leadscore.AliasNotice) leadscore.AliasNotice {
	t.Helper()
	select {
	case n, ok := <-ch:
		if !ok {
			t.Fatal("channel closed, want a notice")
		}
		return n
	case <-time.After(wait):
		t.Fatal("no notice")
	}
	return leadscore.AliasNotice{}
}

func closed(t *testing.T, ch <-chan leadscore.AliasNotice) {
	t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case _, ok := <-ch:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatal("channel still open")
		}
	}
}

func TestSubscriptionDeliversInOrder(t *testing.T) {
	t.Parallel()
	s := Subscribe(t.Context(), 10)
	for i := range int64(5) {
		s.Publish(notice(i + 1))
	}
	for i := range int64(5) {
		if got := next(t, s.C()); got != notice(i+1) {
			t.Errorf("notice %d = %+v, want %+v", i, got, notice(i+1))
		}
	}
}

// collapsed reads notices up to a resync and checks that those before it
// are the first ones published, in order, and at most max of them.
func collapsed(t *testing.T, ch <-chan leadscore.AliasNotice, max int) {
	t.Helper()
	for i := 1; ; i++ {
		n := next(t, ch)
		if n.Resync() {
			return
		}
		if i > max || n != notice(int64(i)) {
			t.Fatalf("notice %d before the resync = %+v, want at most %d notices from the first, in order", i, n, max)
		}
	}
}

func TestSubscriptionCollapsesIntoResyncWhenFull(t *testing.T) {
	t.Parallel()
	s := Subscribe(t.Context(), 3)
	for i := range int64(10) {
		s.Publish(notice(i + 1))
	}
	// The delivering goroutine may hold the first notice when the queue
	// fills; every other one is dropped for the resync.
	collapsed(t, s.C(), 1)
	s.Publish(notice(11))
	if got := next(t, s.C()); got != notice(11) {
		t.Errorf("notice after the resync = %+v, want %+v", got, notice(11))
	}
}

func TestSubscriptionResyncReplacesQueue(t *testing.T) {
	t.Parallel()
	s := Subscribe(t.Context(), 10)
	s.Publish(notice(1))
	s.Publish(notice(2))
	s.Publish(leadscore.AliasNotice{})
	s.Publish(notice(3))
	collapsed(t, s.C(), 1)
	s.Publish(notice(4))
	if got := next(t, s.C()); got != notice(4) {
		t.Errorf("notice after the resync = %+v, want %+v", got, notice(4))
	}
}

func TestSubscriptionClosesWhenContextEnds(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(t.Context())
	s := Subscribe(ctx, 10)
	s.Publish(notice(1))
	cancel()
	closed(t, s.C())
	select {
	case <-s.Done():
	case <-time.After(wait):
		t.Fatal("Done() not closed after the channel")
	}
	s.Publish(notice(2)) // Publishing to a stopped subscription is harmless.
}

func TestBrokerPublishesCommittedMoves(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	defer b.Close()
	one, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	two, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	failed := errors.New("commit failed")
	if err := b.Commit(func() error { return failed }, notice(1)); err != failed {
		t.Errorf("Commit() = %v, want the commit's error", err)
	}
	if err := b.Commit(func() error { return nil }, notice(2)); err != nil {
		t.Fatal(err)
	}
	for _, ch := range []<-chan leadscore.AliasNotice{one, two} {
		if got := next(t, ch); got != notice(2) {
			t.Errorf("notice = %+v, want only the committed %+v", got, notice(2))
		}
	}
}

func TestBrokerCloseEndsSubscriptions(t *testing.T) {
	t.Parallel()
	b := NewBroker()
	ctx, cancel := context.WithCancel(t.Context())
	left, err := b.Subscribe(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	closed(t, left)
	stays, err := b.Subscribe(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	b.Close()
	closed(t, stays)
	b.mu.Lock()
	n := len(b.subs)
	b.mu.Unlock()
	if n != 0 {
		t.Errorf("%d subscriptions left after Close", n)
	}
	if _, err := b.Subscribe(t.Context()); leadscore.ErrorCode(err) != leadscore.EUNAVAILABLE {
		t.Errorf("Subscribe() after Close() = %v, want EUNAVAILABLE", err)
	}
	b.Close()
}
