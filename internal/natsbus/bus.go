package natsbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Config configures a Bus. Zero values take the documented defaults.
type Config struct {
	URLs       []string      // external NATS servers; ignored when Server != nil
	Server     *Server       // embedded server: connect in-process, no TCP
	Name       string        // connection name shown by the server, e.g. "tickroom-gw-1"
	Replicas   int           // stream replicas, default 1 (3 in a cluster)
	Retention  Retention     // per-stream limits for streams this bus creates; zero fields take DefaultRetention
	DupeWindow time.Duration // msgid dedupe window, default 10m (capped at a stream's max age)
	// UpdateStreams applies Retention, Replicas and the dedupe window to
	// streams and buckets that already exist (once, at the first ensure).
	// Off, existing streams are never changed: an operator's `nats stream
	// edit` stands, and a difference is logged once.
	UpdateStreams bool
	Access        Access        // credentials and TLS for URLs; ignored when Server != nil
	PresenceTTL   time.Duration // presence snapshot lifetime, default 30s; refresh well within it
	Logger        *slog.Logger  // default slog.Default()
}

const (
	defaultDupeWindow  = 10 * time.Minute
	defaultPresenceTTL = 30 * time.Second

	ensureTimeout      = 10 * time.Second
	firstEnsureTimeout = 5 * time.Second
	ensureBackoffMin   = 250 * time.Millisecond
	ensureBackoffMax   = 5 * time.Second
	closeWait          = 10 * time.Second
)

func (c Config) withDefaults() (Config, error) {
	if c.Server == nil && len(c.URLs) == 0 {
		return c, errors.New("natsbus: Config needs URLs or Server")
	}
	if c.Replicas <= 0 {
		c.Replicas = 1
	}
	c.Retention = c.Retention.withDefaults()
	if c.DupeWindow <= 0 {
		c.DupeWindow = defaultDupeWindow
	}
	if c.PresenceTTL <= 0 {
		c.PresenceTTL = defaultPresenceTTL
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c, nil
}

// Bus is a NATS connection with tickroom's streams declared on it.
type Bus struct {
	cfg Config
	log *slog.Logger
	nc  *nats.Conn
	js  jetstream.JetStream

	// Readiness is "connected, and the streams were declared once" (see
	// streamsReady). Each (re)connect re-checks the streams: a disconnect
	// bumps epoch, a successful ensure records epoch+1 in readyEpoch, so
	// an ensure racing a disconnect never counts.
	epoch      atomic.Uint64
	readyEpoch atomic.Uint64
	ensured    atomic.Bool
	closed     atomic.Bool

	kick       chan struct{} // wakes the supervisor; buffered 1, sends never block
	connClosed chan struct{} // closed by nats' ClosedHandler
	ctx        context.Context
	cancel     context.CancelFunc
	wg         sync.WaitGroup
	closeOnce  sync.Once

	statusMu  sync.Mutex // guards fns and lastReady
	fns       []func(ready bool)
	lastReady bool

	subsMu sync.Mutex
	subs   map[*liveSub]struct{}

	kvMu sync.Mutex
	kv   jetstream.KeyValue

	presence presenceView // presence.go: every gateway's snapshot, from a KV watch
	buckets  bucketCache  // chatstore.go: key-value buckets opened so far
	reads    readSlots    // readlimit.go: stored-message reads in flight

	updated atomic.Bool // UpdateStreams has been applied
	warnMu  sync.Mutex
	warned  map[string]string // stream → difference already logged
}

// Connect connects to NATS and declares the streams. It fails only on bad
// configuration or a canceled ctx: if NATS is down the Bus keeps retrying
// in the background (forever, until Close) and Ready reports false until
// the connection is up and the streams exist. ctx bounds only the first
// attempt to declare the streams.
func Connect(ctx context.Context, cfg Config) (*Bus, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	b := &Bus{
		cfg:        cfg,
		log:        cfg.Logger.With("component", "natsbus"),
		kick:       make(chan struct{}, 1),
		connClosed: make(chan struct{}),
		subs:       make(map[*liveSub]struct{}),
		warned:     make(map[string]string),
		reads:      make(readSlots, maxReads),
	}
	var closedOnce sync.Once
	opts := []nats.Option{
		nats.Name(cfg.Name),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(true),
		// No reconnect buffer: a publish while disconnected fails at once
		// instead of being replayed later behind the caller's back (a chat
		// message reported as failed must not appear a minute later).
		nats.ReconnectBufSize(-1),
		nats.DrainTimeout(5 * time.Second),
		nats.ConnectHandler(func(*nats.Conn) { b.wake() }),
		nats.ReconnectHandler(func(*nats.Conn) { b.wake() }),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			b.epoch.Add(1)
			if err != nil {
				b.log.Warn("nats disconnected", "err", err)
			}
			b.wake()
		}),
		nats.ClosedHandler(func(*nats.Conn) {
			closedOnce.Do(func() { close(b.connClosed) })
			b.wake()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subj := ""
			if sub != nil {
				subj = sub.Subject
			}
			b.log.Warn("nats async error", "subject", subj, "err", err)
		}),
	}
	url := strings.Join(cfg.URLs, ",")
	if cfg.Server != nil {
		url = ""
		opts = append(opts, nats.InProcessServer(cfg.Server.ns))
		opts = append(opts, cfg.Server.clientAuth...)
	} else {
		access, err := cfg.Access.options()
		if err != nil {
			return nil, err
		}
		opts = append(opts, access...)
	}
	opts = append(opts, failoverOptions()...)
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		return nil, fmt.Errorf("natsbus: connect to %s: %w", b.servers(), err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("natsbus: jetstream: %w", err)
	}
	b.nc, b.js = nc, js
	b.ctx, b.cancel = context.WithCancel(context.Background())

	// One synchronous attempt so the common case returns ready; a cluster
	// still forming is left to the supervisor.
	if nc.IsConnected() {
		if err := b.tryEnsure(ctx, firstEnsureTimeout); err != nil {
			b.log.Warn("natsbus: streams not ready yet, retrying in background", "err", err)
		}
	}
	if err := ctx.Err(); err != nil {
		b.Close()
		return nil, fmt.Errorf("natsbus: connect: %w", err)
	}
	// OnStatus reports changes from here on; the state at return is Ready().
	b.lastReady = b.Ready()
	b.wg.Add(1)
	go b.supervise()
	return b, nil
}

// Conn exposes the raw connection for wiring feed producers in cmd. Nothing
// else should need it.
func (b *Bus) Conn() *nats.Conn { return b.nc }

// Close stops live subscriptions, drains and closes the connection, and
// waits for the supervisor. It is idempotent; calls after Close fail with
// ErrClosed.
func (b *Bus) Close() {
	b.closeOnce.Do(func() {
		b.closed.Store(true)
		b.cancel()
		b.subsMu.Lock()
		subs := make([]*liveSub, 0, len(b.subs))
		for s := range b.subs {
			subs = append(subs, s)
		}
		b.subsMu.Unlock()
		for _, s := range subs {
			_ = s.Unsubscribe()
		}
		// Drain lets core subscriptions finish what they hold; on a
		// connection that is not up it closes at once.
		if err := b.nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionReconnecting) {
			b.nc.Close()
		}
		select {
		case <-b.connClosed:
		case <-time.After(closeWait):
			b.nc.Close()
			<-b.connClosed
		}
		b.wg.Wait()
		b.notify() // tell listeners we are no longer ready
	})
}

// usable fails fast when a call cannot succeed, instead of letting it wait
// for its context: after Close, or while NATS is unreachable.
func (b *Bus) usable(op string) error {
	if b.closed.Load() {
		return fmt.Errorf("natsbus: %s: %w", op, ErrClosed)
	}
	if !b.nc.IsConnected() {
		return fmt.Errorf("natsbus: %s: %w (%s)", op, ErrUnavailable, b.Status())
	}
	return nil
}

func (b *Bus) setPresenceKV(kv jetstream.KeyValue) {
	b.kvMu.Lock()
	b.kv = kv
	b.kvMu.Unlock()
}

func (b *Bus) presenceKV() jetstream.KeyValue {
	b.kvMu.Lock()
	defer b.kvMu.Unlock()
	return b.kv
}
