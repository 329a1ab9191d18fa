package hub

import (
	"sync"

	"github.com/tickroom/tickroom/internal/protocol"
)

// Client is one connection's view of the hub: its subscriptions and its
// outbound queue. A transport creates it with Hub.Register, sets OnWake to
// start (or signal) its writer, which empties the queue with Drain, and
// calls Hub.Unregister when the connection ends.
type Client struct {
	hub  *Hub
	ID   string // session id, for logs and admin
	User string // authenticated user name, for presence

	done    chan struct{} // closed once the client is closed
	drained chan struct{} // capacity 1: "the writer drained the queue", for replays waiting on it

	// mu guards everything below. Lock order: Hub.mu before mu, never the
	// other way round.
	mu        sync.Mutex
	queue     []*Event
	tickIndex map[string]int // channel → index in queue of its queued droppable event, for conflation
	bytes     int            // bytes of strict events queued
	subs      map[string]*Sub
	closeBy   *protocol.Close
	onSlow    func()
	onWake    func()
}

// Done is closed when the client is closed (by Close, by overflow or by the
// hub's shutdown). The writer should then send Reason's close frame.
func (c *Client) Done() <-chan struct{} { return c.done }

// Closed reports whether the client is closed. It takes no lock (unlike
// Reason), so a writer's hot path can ask it every turn.
func (c *Client) Closed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Reason is why the client was closed, nil while it is open.
func (c *Client) Reason() *protocol.Close {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeBy
}

// Drain moves every queued event into dst (appending) and empties the queue.
// Passing the previous batch back as dst[:0] lets the two slices swap roles,
// so the steady state allocates nothing.
func (c *Client) Drain(dst []*Event) []*Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.queue) == 0 {
		return dst
	}
	var out []*Event
	if len(dst) == 0 {
		out = c.queue
		c.queue = dst[:0]
	} else { // keep what dst holds, as documented
		out = append(dst, c.queue...)
		clear(c.queue)
		c.queue = c.queue[:0]
	}
	clear(c.tickIndex)
	c.bytes = 0
	select { // a replay waiting for room may go on
	case c.drained <- struct{}{}:
	default:
	}
	return out
}

// Queued reports the number of events and strict bytes waiting.
func (c *Client) Queued() (events, bytes int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.queue), c.bytes
}

// Send queues a frame addressed to this client alone (a reply). It is strict:
// it counts against the queue bound and is never dropped. It returns the
// close reason if the client is closed or this frame overflowed it.
func (c *Client) Send(frame []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeBy != nil {
		return c.closeBy
	}
	c.enqueueLocked(&Event{Frame: frame})
	if c.closeBy != nil {
		return c.closeBy
	}
	return nil
}

// Close closes the client with a reason; the first reason wins.
func (c *Client) Close(code int, reason string) {
	c.mu.Lock()
	c.closeLocked(code, reason)
	c.mu.Unlock()
}

func (c *Client) closeLocked(code int, reason string) {
	if c.closeBy != nil {
		return
	}
	c.closeBy = &protocol.Close{Code: code, Reason: reason}
	close(c.done)
	if c.onWake != nil {
		defer c.onWake() // after the slow-consumer hook below
	}
	if code == protocol.CloseSlowConsumer {
		c.hub.stats.slowCloses.Add(1)
		if c.onSlow != nil {
			c.onSlow()
		}
	}
}

// OnSlowConsumer sets fn to run when the client is closed as a slow
// consumer. Its writer is then likely blocked on a peer that does not read;
// fn lets the transport cut that write short (expire its deadline) instead
// of holding the connection until the write times out. fn runs under the
// client's lock: it must be quick and must not call the Client. It is never
// called after Unregister returns.
func (c *Client) OnSlowConsumer(fn func()) {
	c.mu.Lock()
	c.onSlow = fn
	c.mu.Unlock()
}

// enqueueLocked appends ev, conflating droppable events per channel and
// closing the client when strict events overflow the bound.
func (c *Client) enqueueLocked(ev *Event) {
	if ev.Droppable {
		if i, ok := c.tickIndex[ev.Channel]; ok {
			c.queue[i] = ev
			c.hub.stats.conflated.Add(1)
			return
		}
		c.tickIndex[ev.Channel] = len(c.queue)
	} else {
		c.bytes += ev.size()
		if c.bytes > c.hub.cfg.QueueBytes {
			c.closeLocked(protocol.CloseSlowConsumer, "slow consumer: outbound queue full; reconnect and resume with since")
			return
		}
	}
	c.queue = append(c.queue, ev)
	if len(c.queue) == 1 && c.onWake != nil {
		c.onWake()
	}
}

// OnWake sets fn to run whenever the queue goes from empty to non-empty and
// when the client is closed. It is the writer's one wake-up: a transport
// starts its writer on demand from it, so an idle connection parks no
// writer goroutine. fn runs under the client's lock: it must be quick
// (start a goroutine, flip a flag) and must not call the Client. Anything
// queued before fn was set woke nobody: look (Queued, Done) after setting it.
func (c *Client) OnWake(fn func()) {
	c.mu.Lock()
	c.onWake = fn
	c.mu.Unlock()
}

// deliver is the fan-out step for one subscription: buffered while the
// subscription replays, deduplicated by seq after.
func (c *Client) deliver(s *Sub, ev *Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeBy != nil || s.removed {
		return
	}
	if s.buffering {
		s.pendingBytes += ev.size()
		if s.pendingBytes > c.hub.cfg.QueueBytes {
			c.closeLocked(protocol.CloseSlowConsumer, "slow consumer: too many events during replay; resume with since")
			return
		}
		s.pending = append(s.pending, ev)
		return
	}
	if ev.Seq != 0 {
		if ev.Seq <= s.lastSeq {
			return
		}
		s.lastSeq = ev.Seq
	}
	c.enqueueLocked(ev)
}
