package storeutil

import (
	"context"
	"sync"

	"github.com/leadscore/leadscore"
)

// NoticeBuffer is how many alias notices wait for a slow receiver before
// they collapse into one resync notice.
const NoticeBuffer = 64

// Subscription delivers alias notices to one receiver without ever making
// the publisher wait: Publish queues a notice, and a goroutine the
// subscription owns hands queued notices to the receiver in order. When
// the queue is full, its notices collapse into one resync notice, which
// tells the receiver to re-read everything; notices published while a
// resync is pending are dropped, since the re-read, which happens after
// they were published, covers them.
type Subscription struct {
	out  chan leadscore.AliasNotice
	wake chan struct{}
	done chan struct{}
	size int

	mu     sync.Mutex
	queue  []leadscore.AliasNotice
	resync bool
}

// Subscribe returns a subscription holding up to size notices. It delivers
// until ctx ends, then closes its channel.
func Subscribe(ctx context.Context, size int) *Subscription {
	s := &Subscription{
		out:  make(chan leadscore.AliasNotice),
		wake: make(chan struct{}, 1),
		done: make(chan struct{}),
		size: max(size, 1),
	}
	go s.deliver(ctx)
	return s
}

// C returns the channel the receiver reads.
func (s *Subscription) C() <-chan leadscore.AliasNotice { return s.out }

// Done is closed once the subscription has stopped and closed C.
func (s *Subscription) Done() <-chan struct{} { return s.done }

// Publish queues n for the receiver. A resync notice (empty Model) replaces
// whatever is queued.
func (s *Subscription) Publish(n leadscore.AliasNotice) {
	s.mu.Lock()
	switch {
	case s.resync:
	case n.Resync() || len(s.queue) >= s.size:
		s.queue = nil
		s.resync = true
	default:
		s.queue = append(s.queue, n)
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // A wake-up is already pending.
	}
}

// next takes the notice to deliver next, a pending resync first.
func (s *Subscription) next() (leadscore.AliasNotice, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.resync {
		s.resync = false
		return leadscore.AliasNotice{}, true
	}
	if len(s.queue) == 0 {
		return leadscore.AliasNotice{}, false
	}
	n := s.queue[0]
	s.queue = s.queue[1:]
	return n, true
}

func (s *Subscription) deliver(ctx context.Context) {
	defer close(s.done)
	defer close(s.out)
	for {
		n, ok := s.next()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-ctx.Done():
				return
			}
		}
		select {
		case s.out <- n:
		case <-ctx.Done():
			return
		}
	}
}

// Broker fans alias notices out to the subscribers in one process. SQLite's
// subscriptions take them as the signal to read a move committed in their
// process at once, rather than at their next poll of the file.
type Broker struct {
	closing context.Context
	close   context.CancelFunc
	wg      sync.WaitGroup

	mu     sync.Mutex
	subs   map[*Subscription]struct{}
	closed bool
}

// NewBroker returns a broker without subscribers.
func NewBroker() *Broker {
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{closing: ctx, close: cancel, subs: make(map[*Subscription]struct{})}
}

// Subscribe returns a channel of the notices published from now until ctx
// ends or the broker is closed; then the channel is closed.
func (b *Broker) Subscribe(ctx context.Context) (<-chan leadscore.AliasNotice, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, leadscore.Errorf(leadscore.EUNAVAILABLE, "subscribe to alias notices: the store is closed")
	}
	ctx, cancel := context.WithCancel(ctx)
	stopOnClose := context.AfterFunc(b.closing, cancel)
	s := Subscribe(ctx, NoticeBuffer)
	b.subs[s] = struct{}{}
	b.wg.Add(1)
	context.AfterFunc(ctx, func() {
		<-s.Done()
		stopOnClose()
		cancel()
		b.mu.Lock()
		delete(b.subs, s)
		b.mu.Unlock()
		b.wg.Done()
	})
	return s.C(), nil
}

// Commit runs commit and, if it succeeds, publishes n to every subscriber.
// Commits through one broker are serialised with their publication, so
// subscribers receive notices in commit order.
func (b *Broker) Commit(commit func() error, n leadscore.AliasNotice) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := commit(); err != nil {
		return err
	}
	for s := range b.subs {
		s.Publish(n)
	}
	return nil
}

// Close ends every subscription, closing their channels, and waits for
// their goroutines to stop. It is safe to call more than once.
func (b *Broker) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.close()
	b.wg.Wait()
}
