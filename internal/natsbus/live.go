package natsbus

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

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
// ephemeral JetStream consumer starting just after the stream's last
// message: Msg.Seq and Msg.Time are set, seqs strictly increase, and a
// publish that JetStream rejected as a duplicate msgid is never seen. The
// consumer is recreated (under a new name, so the cluster places it on a
// live node) after a reconnect, missed heartbeats or a gap, and resumes
// after the last seq it delivered, so no stored message is skipped
// (streamLive).
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
	l := &streamLive{
		b: b, pattern: pattern, stream: stream, fn: fn,
		next: st.CachedInfo().State.LastSeq + 1,
		kick: make(chan struct{}, 1), exited: make(chan struct{}),
		// Registered before the first consumer, so no reconnect after it
		// goes unseen.
		reconnects: b.nc.StatusChanged(nats.CONNECTED),
	}
	l.ctx, l.cancel = context.WithCancel(b.ctx)
	if err := l.consume(ctx); err != nil {
		l.cancel()
		b.nc.RemoveStatusListener(l.reconnects)
		return nil, wrapErr(op, err)
	}
	go l.run()
	return b.track(&liveSub{stop: func() error { l.stop(); return nil }})
}

const (
	// liveHeartbeat is the idle heartbeat asked of a live consumer. One
	// whose server died is noticed after two missed heartbeats: at 1s that
	// is a ~2s pause in live chat when a NATS node fails, not the ~10s of
	// the 5s default.
	liveHeartbeat = time.Second
	// liveCreateTimeout bounds one attempt to recreate a live consumer. A
	// create answers in milliseconds when it can; one that was placed on a
	// dead node, or sent while there is no meta leader, is never answered,
	// and the next attempt (a new name, placed afresh) should not wait long.
	liveCreateTimeout = 3 * time.Second
	// liveRetryMin and liveRetryMax pace the attempts to recreate one.
	liveRetryMin = 250 * time.Millisecond
	liveRetryMax = 2 * time.Second
)

// streamLive reads a persisted pattern live through a chain of ephemeral
// consumers, each starting just after the last message delivered, like
// nats.go's ordered consumer. It exists because that one does not recover
// from the loss of a NATS node: its recovery retries the create of the
// same consumer name, and the meta leader keeps a name where it first
// placed it, so a consumer it placed on a node killed moments before
// (nats-server marks a node that vanished without a shutdown event as
// offline only after minutes) is retried there, unanswered, until that node
// returns. Here every attempt creates a consumer under a new name, which
// the meta leader places afresh.
//
// Concurrency: the message handlers of the current consumer and run (the
// one goroutine that recreates consumers) share mu; fn runs under fnMu
// only, so fn may call stop (Unsubscribe) and run never waits for fn.
type streamLive struct {
	b       *Bus
	pattern string
	stream  string
	fn      func(Msg)

	fnMu sync.Mutex // held while fn runs: fn is called serially, in seq order

	mu    sync.Mutex
	next  uint64 // stream seq the next consumer starts at
	gen   int    // generation of the current consumer; older ones' messages are dropped
	dseq  uint64 // last delivery seq of the current consumer
	name  string
	cc    jetstream.ConsumeContext
	ended bool

	kick       chan struct{}    // capacity 1: "recreate the consumer"
	reconnects chan nats.Status // the connection is back: what was in flight may be lost
	ctx        context.Context  // ends with stop (or the bus)
	cancel     context.CancelFunc
	exited     chan struct{} // closed when run returns
	once       sync.Once
}

// consume creates a consumer starting at l.next under a new name and
// starts reading it, replacing the current one.
func (l *streamLive) consume(ctx context.Context) error {
	// The generation changes first: from here on the current consumer's
	// messages are dropped, so the start seq read with it stays the one
	// after the last message fn got.
	l.mu.Lock()
	l.gen++
	gen, start := l.gen, l.next
	l.dseq = 0
	l.mu.Unlock()
	name := nuid.Next()
	cons, err := l.b.js.CreateOrUpdateConsumer(ctx, l.stream, jetstream.ConsumerConfig{
		Name:              name,
		FilterSubject:     l.pattern,
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 5 * time.Minute, // what a consumer left on a dead node costs
		Replicas:          1,
		MemoryStorage:     true,
	})
	if err != nil {
		return err
	}
	cc, err := cons.Consume(func(jm jetstream.Msg) { l.deliver(gen, jm) },
		jetstream.PullHeartbeat(liveHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConnectionClosed) {
				return // the bus is closing; Close stops this subscription
			}
			// A missed heartbeat, a deleted consumer, no responders, a
			// leader change: whatever it was, a new consumer after the last
			// message delivered cannot skip nor repeat one.
			l.b.log.Debug("natsbus: live consumer", "pattern", l.pattern, "err", err)
			l.restart(gen)
		}))
	if err != nil {
		l.deleteConsumer(name)
		return err
	}
	l.mu.Lock()
	old, oldName := l.cc, l.name
	if l.ended {
		l.mu.Unlock()
		cc.Stop()
		return nil
	}
	l.cc, l.name = cc, name
	l.mu.Unlock()
	if old != nil {
		old.Stop()
		l.deleteConsumer(oldName)
	}
	return nil
}

// deliver hands one message of consumer generation gen to fn, in order:
// a message out of sequence (one lost on the way, e.g. across a reconnect)
// is not delivered and the consumer is recreated after the last one that was.
func (l *streamLive) deliver(gen int, jm jetstream.Msg) {
	m, meta, err := fromJS(jm)
	if err != nil {
		l.b.log.Warn("natsbus: live message dropped", "pattern", l.pattern, "err", err)
		l.restart(gen)
		return
	}
	l.fnMu.Lock()
	defer l.fnMu.Unlock()
	l.mu.Lock()
	if gen != l.gen || l.ended {
		l.mu.Unlock()
		return
	}
	if meta.Sequence.Consumer != l.dseq+1 {
		l.mu.Unlock()
		l.restart(gen)
		return
	}
	l.dseq = meta.Sequence.Consumer
	l.next = meta.Sequence.Stream + 1
	l.mu.Unlock()
	l.fn(m)
}

// restart asks run to replace consumer generation gen, if it is current.
func (l *streamLive) restart(gen int) {
	l.mu.Lock()
	current := gen == l.gen
	l.mu.Unlock()
	if !current {
		return
	}
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// run recreates the consumer whenever asked and after every reconnect
// (messages pushed while the connection was down are lost, and the next
// one might not come for a while to reveal the gap), until stop: each
// attempt under a new name, paced by a backoff.
func (l *streamLive) run() {
	defer close(l.exited)
	defer l.b.nc.RemoveStatusListener(l.reconnects)
	var wait time.Duration
	for {
		select {
		case <-l.ctx.Done():
			return
		case <-l.kick:
		case <-l.reconnects:
		}
		for {
			if wait > 0 {
				select {
				case <-l.ctx.Done():
					return
				case <-time.After(wait):
				}
			}
			ctx, cancel := context.WithTimeout(l.ctx, liveCreateTimeout)
			err := l.consume(ctx)
			cancel()
			if err == nil {
				// The next failure waits a little: a consumer that fails
				// at once must not spin.
				wait = liveRetryMin
				break
			}
			if l.ctx.Err() != nil {
				return
			}
			l.b.log.Debug("natsbus: recreating live consumer", "pattern", l.pattern, "err", err)
			wait = min(max(2*wait, liveRetryMin), liveRetryMax)
		}
	}
}

// deleteConsumer removes a consumer this subscription no longer reads,
// best effort: one that cannot be reached now expires by its inactive
// threshold.
func (l *streamLive) deleteConsumer(name string) {
	if name == "" || !l.b.nc.IsConnected() {
		return
	}
	ctx, cancel := context.WithTimeout(l.ctx, time.Second)
	defer cancel()
	_ = l.b.js.DeleteConsumer(ctx, l.stream, name)
}

// stop ends the subscription; fn is not called after it returned, except
// by a call already in progress (stop may be called from inside fn).
func (l *streamLive) stop() {
	l.once.Do(func() {
		l.mu.Lock()
		l.ended = true
		cc := l.cc
		l.mu.Unlock()
		l.cancel()
		if cc != nil {
			cc.Stop()
		}
		<-l.exited
	})
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
