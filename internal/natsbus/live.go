package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/protocol"
)

// Subscription is a live subscription; Unsubscribe is idempotent and may be
// called from any goroutine, including from inside its own callback.
type Subscription interface{ Unsubscribe() error }

const subscribeTimeout = 10 * time.Second

// SubscribeLive calls fn for every new message on pattern (NATS wildcards
// allowed), serially, from one goroutine per subscription.
//
// A pattern whose kind is persisted (chat, alert, candle) is read through an
// ordered JetStream consumer starting just after the stream's last message:
// Msg.Seq and Msg.Time are set, seqs strictly increase, and a publish that
// JetStream rejected as a duplicate msgid is never seen. The consumer
// recreates itself after a reconnect or server restart and resumes after
// the last seq it delivered, so no stored message is skipped.
//
// Any other pattern (last-value kinds, and patterns whose first token is a
// wildcard) is a plain core subscription: Seq is 0 and Time is zero. nats.go
// resubscribes it after a reconnect; messages published while disconnected
// are not seen (LastValues fills that gap).
func (b *Bus) SubscribeLive(pattern string, fn func(Msg)) (Subscription, error) {
	if err := b.usable("subscribe"); err != nil {
		return nil, err
	}
	if PersistedKind(kindOf(pattern)) {
		return b.subscribeStream(pattern, fn)
	}
	return b.subscribeCore(pattern, fn, fromCore)
}

func (b *Bus) subscribeCore(subject string, fn func(Msg), conv func(*nats.Msg) Msg) (Subscription, error) {
	sub, err := b.nc.Subscribe(subject, func(m *nats.Msg) { fn(conv(m)) })
	if err != nil {
		return nil, wrapErr("subscribe "+subject, err)
	}
	// One round trip so the server has the interest before we return: a
	// caller that replies "subscribed" must not miss the next publish. When
	// NATS is away the subscription is re-sent on reconnect; don't wait.
	if b.nc.IsConnected() {
		_ = b.nc.FlushTimeout(2 * time.Second)
	}
	return b.track(&liveSub{stop: func() error {
		err := sub.Unsubscribe()
		if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
			return nil // already gone with the connection
		}
		return err
	}})
}

func (b *Bus) subscribeStream(pattern string, fn func(Msg)) (Subscription, error) {
	op := "subscribe " + pattern
	stream := protocol.StreamOf(kindOf(pattern))
	ctx, cancel := context.WithTimeout(b.ctx, subscribeTimeout)
	defer cancel()
	st, err := b.js.Stream(ctx, stream)
	if err != nil {
		return nil, wrapErr(op, err)
	}
	// An explicit start seq instead of DeliverNew: if the consumer has to
	// be recreated before it delivered anything, DeliverNew would silently
	// skip what arrived in between; a start seq does not.
	cons, err := b.js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{pattern},
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    st.CachedInfo().State.LastSeq + 1,
	})
	if err != nil {
		return nil, wrapErr(op, err)
	}
	// The ordered consumer hands messages over from a new goroutine after
	// each reset; the mutex keeps fn serial across that handover.
	var mu sync.Mutex
	cc, err := cons.Consume(func(jm jetstream.Msg) {
		m, _, err := fromJS(jm)
		if err != nil {
			b.log.Warn("natsbus: live message dropped", "pattern", pattern, "err", err)
			return
		}
		mu.Lock()
		defer mu.Unlock()
		fn(m)
	},
		// A consumer whose server died is noticed after two missed
		// heartbeats; at 1s that is a ~2s pause in live chat when a NATS
		// node fails, not the ~10s of the 5s default.
		jetstream.PullHeartbeat(time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Heartbeat misses and resets are expected around reconnects; the
			// ordered consumer recovers by itself.
			b.log.Debug("natsbus: live consumer", "pattern", pattern, "err", err)
		}))
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return b.track(&liveSub{stop: func() error { cc.Stop(); return nil }})
}

// liveSub is the Subscription handed out; the Bus tracks it so Close can
// stop what callers forgot.
type liveSub struct {
	b    *Bus
	once sync.Once
	stop func() error
	err  error
}

func (s *liveSub) Unsubscribe() error {
	s.once.Do(func() {
		s.err = s.stop()
		s.b.subsMu.Lock()
		delete(s.b.subs, s)
		s.b.subsMu.Unlock()
	})
	return s.err
}

// track registers s, or stops it at once if Close ran meanwhile (Close sets
// closed before it snapshots subs, so nothing slips between the two).
func (b *Bus) track(s *liveSub) (Subscription, error) {
	s.b = b
	b.subsMu.Lock()
	if b.closed.Load() {
		b.subsMu.Unlock()
		_ = s.Unsubscribe()
		return nil, fmt.Errorf("natsbus: subscribe: %w", ErrClosed)
	}
	b.subs[s] = struct{}{}
	b.subsMu.Unlock()
	return s, nil
}
