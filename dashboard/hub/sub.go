package hub

import "context"

// Sub is one client's subscription to one pattern.
type Sub struct {
	client  *Client
	topic   *topic
	Pattern string

	// Guarded by client.mu.
	buffering    bool
	pending      []*Event
	pendingBytes int
	lastSeq      uint64
	removed      bool // taken out of the registry; deliver ignores it

	present bool // guarded by Hub.mu: counted in Hub.presence
}

// replay queues an event from history or a last value while the
// subscription is still buffering, and records its seq so the live events
// held meanwhile are not sent twice. Replayed events are strict; instead of
// overflowing the queue, replay waits for the writer to drain it (a replay
// runs at the pace the client reads), until ctx ends.
func (s *Sub) replay(ctx context.Context, ev *Event) error {
	c := s.client
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.closeBy == nil && len(c.queue) > 0 && c.bytes+ev.size() > c.hub.cfg.QueueBytes {
		c.mu.Unlock()
		select {
		case <-c.drained:
		case <-c.done:
		case <-ctx.Done():
			c.mu.Lock()
			return ctx.Err()
		}
		c.mu.Lock()
	}
	if c.closeBy != nil {
		return c.closeBy
	}
	if ev.Seq != 0 {
		if ev.Seq <= s.lastSeq {
			return nil
		}
		s.lastSeq = ev.Seq
	}
	strict := *ev
	strict.Droppable = false
	c.enqueueLocked(&strict)
	if c.closeBy != nil {
		return c.closeBy
	}
	return nil
}

// skipTo sets the seq the subscription resumes after (the client's
// since), so nothing at or below it is delivered. It never moves back.
func (s *Sub) skipTo(seq uint64) {
	s.client.mu.Lock()
	if seq > s.lastSeq {
		s.lastSeq = seq
	}
	s.client.mu.Unlock()
}

// live ends buffering: events held during the replay that are newer than
// what it sent are queued in order, and later events flow straight through.
func (s *Sub) live() {
	c := s.client
	c.mu.Lock()
	defer c.mu.Unlock()
	pending := s.pending
	s.pending, s.pendingBytes, s.buffering = nil, 0, false
	if c.closeBy != nil || s.removed {
		return
	}
	for _, ev := range pending {
		if ev.Seq != 0 {
			if ev.Seq <= s.lastSeq {
				continue
			}
			s.lastSeq = ev.Seq
		}
		c.enqueueLocked(ev)
	}
}
