package dashboard

import (
	"context"
	"sync"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Last values from memory. For every topic of a last-value kind that the
// gateway carries, the upstream keeps the newest event of each channel it
// matches: loaded from JetStream once, when the topic opens on this
// gateway, and kept current by the topic's live subscription. A subscribe
// to a carried topic then costs NATS nothing.

// lastValueLoad bounds the JetStream read when a topic opens.
const lastValueLoad = 5 * time.Second

// lastCache is one topic's last values. Safe for concurrent use: put runs
// on the topic's NATS callback, snapshot on subscribers' goroutines.
type lastCache struct {
	mu     sync.Mutex
	order  []string // channels in the order first seen (stream order, then live)
	byChan map[string]*hub.Event
	loaded bool // the JetStream load succeeded
}

func newLastCache() *lastCache { return &lastCache{byChan: map[string]*hub.Event{}} }

// put records a live event: it is the newest there is.
func (c *lastCache) put(ev *hub.Event) { c.record(ev, true) }

// putStored records a stored value unless a live one came in meanwhile.
func (c *lastCache) putStored(ev *hub.Event) { c.record(ev, false) }

// record stores ev for its channel if the channel has none yet, or
// replaces the one there when replace is set.
func (c *lastCache) record(ev *hub.Event, replace bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, seen := c.byChan[ev.Channel]
	if !seen {
		c.order = append(c.order, ev.Channel)
	}
	if !seen || replace {
		c.byChan[ev.Channel] = ev
	}
}

func (c *lastCache) snapshot() (evs []*hub.Event, loaded bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	evs = make([]*hub.Event, 0, len(c.order))
	for _, ch := range c.order {
		evs = append(evs, c.byChan[ch])
	}
	return evs, c.loaded
}

// lastCaches holds the caches of the open topics, by pattern.
type lastCaches struct{ topics topicMap[*lastCache] }

// open starts a cache for pattern, replacing one a closing topic of the
// same pattern may still hold.
func (l *lastCaches) open(pattern string) *lastCache {
	c := newLastCache()
	l.topics.put(pattern, c)
	return c
}

// close forgets c, unless a newer topic of the same pattern replaced it.
func (l *lastCaches) close(pattern string, c *lastCache) {
	l.topics.remove(pattern, c)
}

func (l *lastCaches) get(pattern string) *lastCache {
	return l.topics.get(pattern)
}

// load reads pattern's stored last values into c: one JetStream read, when
// the topic opens.
func (u *upstream) load(ctx context.Context, pattern string, c *lastCache) error {
	err := u.bus.LastValues(ctx, pattern, func(m natsbus.Msg) error {
		ev, err := u.lastValid(ctx, m)
		if err == nil && ev != nil {
			c.putStored(ev)
		}
		return nil // nothing valid stored for this channel
	})
	if err == nil {
		c.mu.Lock()
		c.loaded = true
		c.mu.Unlock()
	}
	return err
}

// sendLastValues sends the last valid value of every channel matching
// pattern through out: from the topic's cache, or, if loading it from
// JetStream failed when the topic opened, from JetStream again.
func (s *Server) sendLastValues(ctx context.Context, pattern string, out *hub.Replay) error {
	c := s.up.last.get(pattern)
	if c == nil { // not carried (the hub opens the topic first): read directly
		c = newLastCache()
		if err := s.up.load(ctx, pattern, c); err != nil {
			return err
		}
	}
	evs, loaded := c.snapshot()
	if !loaded {
		if err := s.up.load(ctx, pattern, c); err != nil {
			return err
		}
		evs, _ = c.snapshot()
	}
	for _, ev := range evs {
		if err := out.Send(ev); err != nil {
			return err
		}
	}
	return nil
}

// lastValid encodes a channel's stored last value, or, when that one broke
// its schema, the newest valid one before it: a hostile or buggy producer
// must not erase the price a fresh page shows.
func (u *upstream) lastValid(ctx context.Context, m natsbus.Msg) (*hub.Event, error) {
	if ev, err := u.encode(m); err == nil {
		return ev, nil
	}
	older, err := u.bus.History(ctx, m.Subject, m.Seq, natsbus.LastValidKeep)
	if err != nil {
		return nil, err
	}
	for i := len(older) - 1; i >= 0; i-- {
		if ev, err := u.encode(older[i]); err == nil {
			return ev, nil
		}
	}
	return nil, nil
}

// carriesLastValues reports whether a topic on pattern keeps last values.
func carriesLastValues(pattern string) bool { return protocol.HasLastValue(protocol.Kind(pattern)) }
