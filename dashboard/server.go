package dashboard

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/lograte"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Identities resolves who a connection is. Dev sessions are required in dev
// mode; Provider (a JWT verifier) is optional.
type Identities struct {
	Sessions *auth.DevSessions
	Provider auth.Verifier
}

// Server is one gateway. Create it with New, run it with Serve, stop it with
// Shutdown.
type Server struct {
	cfg     Config
	bus     Bus
	ids     Identities
	hub     *hub.Hub
	up      *upstream
	app     *fiber.App
	metrics *metrics
	log     *slog.Logger

	ctx     context.Context // cancelled by Shutdown; parent of every request context
	cancel  context.CancelFunc
	tracked tracker // connection handlers and background loops; Shutdown waits for them

	limits   connLimits
	registry connRegistry
	started  time.Time
	chatRate userRates
	presence *presenceLoop
	presSub  natsbus.Subscription
	// streamSub tells the recent windows of purges and deletes (recent.go).
	streamSub natsbus.Subscription
	chat      *chatOps // chatops.go: stamps, edits, mutes, read positions, alerts
	flushes   *flushPool

	shutdownOnce sync.Once
	closing      atomic.Bool
}

// New builds a gateway on bus. It starts the presence loop; Shutdown stops
// it.
func New(cfg Config, bus Bus, ids Identities) (*Server, error) {
	cfg.setDefaults()
	proxies, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	if cfg.Dev && ids.Sessions == nil {
		return nil, errors.New("dashboard: dev mode needs dev sessions")
	}
	if !cfg.Dev && ids.Provider == nil {
		return nil, errors.New("dashboard: without dev mode an identity provider is required")
	}
	s := &Server{
		cfg:     cfg,
		bus:     bus,
		ids:     ids,
		metrics: newMetrics(),
		log:     cfg.Logger.With("node", cfg.Node),
		started: time.Now(),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.limits = connLimits{max: cfg.MaxConnections, perIP: cfg.MaxConnectionsPerIP, byIP: map[string]int{}}
	s.limits.proxies = proxies
	s.chatRate = userRates{rate: cfg.ChatRate, burst: cfg.ChatBurst, buckets: map[string]*bucketRef{}}
	s.presence = newPresenceLoop(s)
	up := &upstream{
		bus: bus, maxSize: cfg.MaxPayloadBytes, metrics: s.metrics,
		log: &lograte.Limiter{Logger: s.log, Every: 5 * time.Second},
	}
	s.up = up
	s.chat = newChatOps(s)
	up.chat = s.chat
	up.recent = &recentWindows{ctx: s.ctx, up: up, perChannel: cfg.ReplayWindow, budget: int64(cfg.ReplayWindowBytes)}
	up.recent.reader, _ = bus.(recentReader) // none: every resume reads the Bus
	if w, ok := bus.(streamWatcher); ok && up.recent.reader != nil {
		// Windows must see purges and deletes; without the watch, none.
		if s.streamSub, err = w.WatchStreamChanges(up.recent.streamChanged); err != nil {
			s.log.Warn("stream changes not watched; resumes read JetStream", "err", err)
			up.recent.reader = nil
		}
	} else {
		up.recent.reader = nil
	}
	s.hub = hub.New(up, hub.Config{
		QueueBytes: cfg.QueueBytes,
		OnPresence: s.presence.changed,
	})
	sub, err := bus.SubscribePresenceEvents(s.onPresenceEvent)
	if err != nil {
		s.cancel()
		if s.streamSub != nil {
			_ = s.streamSub.Unsubscribe()
		}
		return nil, fmt.Errorf("dashboard: presence events: %w", err)
	}
	s.presSub = sub
	bus.OnStatus(s.feedStatusChanged)
	bus.OnStatus(func(ready bool) { // the streams may come back as other incarnations
		if !ready {
			up.recent.invalidate()
		}
	})
	s.flushes = newFlushPool(defaultFlushWorkers(), flushStuckAfter, flushIdleAfter)
	s.app = s.routes()
	s.tracked.Go(s.presence.run)
	s.tracked.Go(s.pingLoop)
	s.tracked.Go(s.chat.run)
	return s, nil
}

// feedStatusChanged tells every client when NATS goes away or comes back,
// so pages can say the prices are not live instead of showing them frozen.
func (s *Server) feedStatusChanged(ready bool) {
	s.hub.SendAll(statusFrame(ready))
}

func statusFrame(ready bool) []byte {
	data := `{"feed":"available"}`
	if !ready {
		data = `{"feed":"unavailable","message":"market data and chat are unavailable; reconnecting"}`
	}
	return protocol.AppendEvent(nil, "", protocol.EventStatus, 0, time.Now(), []byte(data))
}

// pingTurns is how many turns a heartbeat's pings are spread over.
const pingTurns = 20

// pingLoop pings every WebSocket once each heartbeat from one timer (the
// writers run on demand, so no connection keeps a ticker of its own),
// spread over pingTurns turns: all at once, 10,000 connections meant
// 10,000 ping writes (~40 ms of a core) and then 10,000 pongs to read, and
// the broadcasts of that moment waited behind them (the 10,000 × 10
// benchmark's p99 tail, docs/benchmarks.md).
func (s *Server) pingLoop() {
	turns := uint32(pingTurns)
	if s.cfg.Heartbeat < pingTurns*time.Millisecond {
		turns = 1
	}
	t := time.NewTicker(s.cfg.Heartbeat / time.Duration(turns))
	defer t.Stop()
	for k := uint32(0); ; k = (k + 1) % turns {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			s.registry.pingSlice(k, turns)
		}
	}
}

// App exposes the Fiber app, for tests that drive it with app.Test.
func (s *Server) App() *fiber.App { return s.app }

// Hub exposes the fan-out core, for metrics and tests.
func (s *Server) Hub() *hub.Hub { return s.hub }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.app.Listener(s.guard(ln))
	if s.closing.Load() {
		return nil
	}
	return err
}

// Shutdown closes every client with 1001 (going away), stops accepting,
// and waits for every goroutine the server started. It is bounded by ctx:
// when ctx ends first it returns ctx's error at once; what still runs
// then ends on its own (each connection within its write deadline).
func (s *Server) Shutdown(ctx context.Context) error {
	var err error
	s.shutdownOnce.Do(func() {
		s.closing.Store(true)
		s.tracked.close() // nothing new starts from here on
		// Fasthttp does not close hijacked sockets: the hub closes them.
		s.hub.Shutdown(protocol.CloseGoingAway, "server shutting down; reconnect")
		err = s.app.ShutdownWithContext(ctx)
		if errors.Is(err, net.ErrClosed) {
			err = nil // the listener was already closed (by its owner): nothing left to stop
		}
		s.cancel()
		done := make(chan struct{})
		go func() { // ends once the last tracked goroutine has
			s.tracked.wait()
			s.flushes.close() // every session ended: no flush is left to start
			s.hub.WaitUpstreamsStopped()
			if s.streamSub != nil {
				_ = s.streamSub.Unsubscribe()
			}
			if s.presSub != nil {
				_ = s.presSub.Unsubscribe()
			}
			close(done)
		}()
		select {
		case <-done:
		case <-ctx.Done():
			err = errors.Join(err, fmt.Errorf("dashboard: shutdown: %w", ctx.Err()))
		}
	})
	return err
}

func newSessionID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "s-" + hex.EncodeToString(b[:])
}
