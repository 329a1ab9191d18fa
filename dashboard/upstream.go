package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/lograte"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// upstream feeds the hub from the Bus: one NATS subscription per pattern in
// use, every message validated against its kind's schema and encoded once.
type upstream struct {
	bus     Bus
	maxSize int
	metrics *metrics
	log     *lograte.Limiter // invalid producer messages: one line per interval
	last    lastCaches       // last values of the open last-value topics
	recent  *recentWindows   // recent messages of the open persisted topics (recent.go)
	chat    *chatOps         // chat stamps and edits (chatops.go)
}

var _ hub.Upstream = (*upstream)(nil)

// Subscribe opens pattern's live subscription and, for a last-value kind,
// loads the topic's last values from JetStream once (after the live
// subscription is in place, so nothing falls between the two).
func (u *upstream) Subscribe(pattern string, deliver func(*hub.Event)) (func(), error) {
	deliver, roomLoaded, roomClosed := u.chat.indexRoom(pattern, deliver) // chat rooms: unread from memory (chatindex.go)
	var cache *lastCache
	if carriesLastValues(pattern) {
		cache = u.last.open(pattern)
	}
	window := u.recent.open(pattern) // nil unless a literal persisted channel
	sub, err := u.bus.SubscribeLive(pattern, func(m natsbus.Msg) {
		received := time.Now()
		ev, err := u.encode(m)
		if err != nil {
			window.add(m, nil) // its seq is seen; a replay skips it too
			u.reject(m.Subject, err)
			return
		}
		// Held before it is delivered: a resume that registers meanwhile
		// finds it in the window or in its held live events (or both:
		// the hub drops the duplicate by seq), never in neither.
		window.add(m, ev)
		u.metrics.eventIn(protocol.Kind(ev.Channel))
		ev.Received = received.UnixNano()
		if cache != nil {
			// The cache hands this value to later subscribers; without a
			// receive time, their wait does not count as fan-out delay.
			last := *ev
			last.Received = 0
			cache.put(&last)
		}
		deliver(ev)
	})
	if err != nil {
		roomClosed()
		if cache != nil {
			u.last.close(pattern, cache)
		}
		if window != nil {
			u.recent.close(pattern, window)
		}
		return nil, err
	}
	roomLoaded()
	if cache != nil {
		ctx, cancel := context.WithTimeout(context.Background(), lastValueLoad)
		if err := u.load(ctx, pattern, cache); err != nil {
			// Not fatal: the topic is live, and a subscriber retries the load.
			u.log.Warn("last values not loaded", "pattern", pattern, "err", err)
		}
		cancel()
	}
	return func() {
		_ = sub.Unsubscribe()
		roomClosed()
		if cache != nil {
			u.last.close(pattern, cache)
		}
		if window != nil {
			u.recent.close(pattern, window)
		}
	}, nil
}

// encode turns a producer's NATS message into the event browsers receive,
// or refuses it.
func (u *upstream) encode(m natsbus.Msg) (*hub.Event, error) {
	if len(m.Data) > u.maxSize {
		return nil, fmt.Errorf("%w: %d bytes, over the %d byte limit", protocol.ErrPayload, len(m.Data), u.maxSize)
	}
	kind := protocol.Kind(m.Subject)
	if protocol.ValidateChannel(m.Subject, false) != nil {
		return nil, fmt.Errorf("%w: subject is not a valid channel", protocol.ErrPayload)
	}
	if kind == protocol.KindChat {
		return u.encodeChat(m) // bot marking, edits, deletes (chatops.go)
	}
	t, err := protocol.ValidatePayload(m.Subject, m.Data)
	if err != nil {
		return nil, err
	}
	data := m.Data
	if bytes.ContainsAny(data, "\r\n") {
		// Server frames are '\n'-separated objects: a pretty-printed
		// payload must not split one. JSON strings cannot hold raw line
		// breaks, so compacting removes every one.
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			return nil, fmt.Errorf("%w: %v", protocol.ErrPayload, err)
		}
		data = buf.Bytes()
	}
	event := kind
	if m.Event != "" && kind != protocol.KindChat {
		if !protocol.ValidEventName(m.Event) {
			return nil, fmt.Errorf("%w: Tickroom-Event header is not a valid event name", protocol.ErrPayload)
		}
		event = m.Event
	}
	switch {
	case kind == protocol.KindChat && !m.Time.IsZero():
		t = m.Time // chat is stamped by the server that stored it
	case t.IsZero() && !m.Time.IsZero():
		t = m.Time
	case t.IsZero():
		t = time.Now()
	}
	var seq uint64
	if protocol.Persisted(kind) {
		seq = m.Seq
	}
	return &hub.Event{
		Channel:   m.Subject,
		Seq:       seq,
		Droppable: protocol.Droppable(kind),
		Frame:     protocol.AppendEvent(make([]byte, 0, 96+len(m.Subject)+len(data)), m.Subject, event, seq, t, data),
	}, nil
}

func (u *upstream) reject(subject string, err error) {
	u.metrics.invalid(subject)
	u.log.Warn("dropped invalid producer message", "subject", subject, "err", err)
}
