package dashboard

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// upstream feeds the hub from the Bus: one NATS subscription per pattern in
// use, every message validated against its kind's schema and encoded once.
type upstream struct {
	bus     Bus
	maxSize int
	metrics *metrics
	log     *rateLog
}

var _ hub.Upstream = (*upstream)(nil)

func (u *upstream) Subscribe(pattern string, deliver func(*hub.Event)) (func(), error) {
	sub, err := u.bus.SubscribeLive(pattern, func(m natsbus.Msg) {
		received := time.Now()
		ev, err := u.encode(m)
		if err != nil {
			u.reject(m.Subject, err)
			return
		}
		u.metrics.eventIn(protocol.Kind(ev.Channel))
		ev.Received = received.UnixNano()
		deliver(ev)
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
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

// rateLog logs at most one line per key per interval, counting what it
// skipped, so a hostile producer cannot flood the log.
type rateLog struct {
	logger   *slog.Logger
	interval time.Duration

	mu      sync.Mutex
	last    time.Time
	skipped int
}

func (r *rateLog) Warn(msg string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.last) < r.interval {
		r.skipped++
		r.mu.Unlock()
		return
	}
	skipped := r.skipped
	r.last, r.skipped = now, 0
	r.mu.Unlock()
	if skipped > 0 {
		args = append(args, "suppressed", skipped)
	}
	r.logger.Warn(msg, args...)
}
