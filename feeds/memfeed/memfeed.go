// Package memfeed is an in-memory message bus implementing feeds.Publisher
// and feeds.Subscriber, for tests and for wiring runners in one process
// without NATS.
//
// Delivery is synchronous: Publish calls every matching subscriber's fn on
// the caller's goroutine, in subscription order, before it returns. A fn may
// publish in turn; it must not unsubscribe itself while being called from a
// Publish that holds a lock the unsubscriber needs (Bus holds none).
// Bus is safe for concurrent use; each message is also recorded.
package memfeed

import (
	"sync"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Msg is a recorded message.
type Msg struct {
	Subject string
	Data    []byte
}

// Bus is an in-memory bus. The zero value is ready to use.
type Bus struct {
	mu     sync.Mutex
	nextID int
	subs   []sub
	log    []Msg
}

type sub struct {
	id      int
	pattern string
	fn      func(string, []byte)
	mu      *sync.Mutex
}

var (
	_ feeds.Publisher  = (*Bus)(nil)
	_ feeds.Subscriber = (*Bus)(nil)
)

// New returns an empty Bus.
func New() *Bus { return &Bus{} }

// Publish records the message and delivers a copy to every matching
// subscriber.
func (b *Bus) Publish(subject string, data []byte) error {
	cp := append([]byte(nil), data...)
	b.mu.Lock()
	b.log = append(b.log, Msg{subject, cp})
	subs := append([]sub(nil), b.subs...)
	b.mu.Unlock()
	for _, s := range subs {
		if protocol.Match(s.pattern, subject) {
			s.mu.Lock()
			s.fn(subject, append([]byte(nil), cp...))
			s.mu.Unlock()
		}
	}
	return nil
}

// Subscribe implements feeds.Subscriber.
func (b *Bus) Subscribe(subject string, fn func(subject string, data []byte)) (func() error, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.nextID++
	id := b.nextID
	b.subs = append(b.subs, sub{id: id, pattern: subject, fn: fn, mu: new(sync.Mutex)})
	return func() error {
		b.mu.Lock()
		defer b.mu.Unlock()
		for i, s := range b.subs {
			if s.id == id {
				b.subs = append(b.subs[:i:i], b.subs[i+1:]...)
				break
			}
		}
		return nil
	}, nil
}

// Messages returns the recorded messages whose subject matches pattern, in
// publish order.
func (b *Bus) Messages(pattern string) []Msg {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []Msg
	for _, m := range b.log {
		if protocol.Match(pattern, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

// Subscribers returns the number of live subscriptions.
func (b *Bus) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Reset forgets the recorded messages.
func (b *Bus) Reset() {
	b.mu.Lock()
	b.log = nil
	b.mu.Unlock()
}
