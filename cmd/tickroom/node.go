package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tickroom/tickroom/dashboard"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/config"
	"github.com/tickroom/tickroom/internal/natsbus"
)

// Node is one running tickroom process: optionally an embedded NATS server,
// the bus connection, the gateway, and optionally the in-process feeds.
// Start builds it; Shutdown stops the parts in reverse order.
//
// The parts that run (the gateway's listener, pprof, the in-process feeds)
// run under one errgroup: the first that fails ends Wait with its error,
// so the process exits with one clear line instead of running unready.
type Node struct {
	cfg  config.Config
	log  *slog.Logger
	nats *natsbus.Server // nil on external NATS
	bus  *natsbus.Bus
	gw   *dashboard.Server
	ln   net.Listener
	url  string

	pprof *http.Server

	parts     *errgroup.Group
	partsCtx  context.Context    // the parts' context: ends at Shutdown or when one fails
	stopParts context.CancelFunc // ends partsCtx at Shutdown
	stopping  atomic.Bool        // Shutdown began: parts ending now are not failures
	failOnce  sync.Once
	failed    chan struct{} // closed when a part failed; failErr says why
	failErr   error

	jwt *auth.JWTVerifier // nil without a provider; Close ends its JWKS refresher

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start brings a node up and returns once it accepts connections. If any
// step fails, what already started is stopped (bounded) and the error is
// returned; Start never returns a half-built node.
func Start(ctx context.Context, cfg config.Config, logger *slog.Logger) (*Node, error) {
	n := &Node{cfg: cfg, log: logger, failed: make(chan struct{})}
	base, cancel := context.WithCancel(context.Background())
	n.parts, n.partsCtx = errgroup.WithContext(base)
	n.stopParts = cancel
	if err := n.start(ctx); err != nil {
		sctx, cancel := context.WithTimeout(context.Background(), startCleanup)
		defer cancel()
		if serr := n.Shutdown(sctx); serr != nil {
			n.log.Warn("cleanup after a failed start", "err", serr)
		}
		return nil, err
	}
	return n, nil
}

// startCleanup bounds the cleanup after a failed Start.
const startCleanup = 15 * time.Second

// goPart runs one part of the node under the errgroup. A part that ends
// before Shutdown began — with an error, or without one (a listener closed
// under it) — fails the node: Wait returns its error.
func (n *Node) goPart(name string, run func(ctx context.Context) error) {
	n.parts.Go(func() error {
		err := run(n.partsCtx)
		if n.stopping.Load() {
			return nil
		}
		if err == nil {
			err = errors.New("stopped unexpectedly")
		}
		err = fmt.Errorf("%s: %w", name, err)
		n.failOnce.Do(func() {
			n.failErr = err
			close(n.failed)
		})
		return err
	})
}

// Wait blocks until ctx ends (then it returns nil) or a part of the node
// fails (then it returns that part's error). Shutdown is the caller's
// next step either way.
func (n *Node) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case <-n.failed:
		return n.failErr
	}
}

func (n *Node) start(ctx context.Context) (err error) {
	cfg, logger := n.cfg, n.log
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	busCfg := natsbus.Config{
		URLs: cfg.NATSURLs, Name: "tickroom-" + cfg.Node, Replicas: cfg.Replicas,
		Logger: logger.With("part", "natsbus"),
	}
	deployBusConfig(&busCfg, cfg)
	if len(cfg.NATSURLs) == 0 {
		listen := cfg.NATSListen
		n.nats, err = natsbus.StartServer(natsbus.ServerConfig{
			DataDir: cfg.DataDir, Listen: listen, // the server adds "jetstream/"
			Token: cfg.NATSAccess.Token, UsersFile: cfg.NATSAccess.UsersFile,
			Logger: quieter(logger.With("part", "nats-server"), slog.LevelWarn),
		})
		if err != nil {
			return fmt.Errorf("embedded NATS: %w", err)
		}
		busCfg.Server = n.nats
	}
	n.bus, err = natsbus.Connect(ctx, busCfg)
	if err != nil {
		return fmt.Errorf("NATS: %w", err)
	}

	ids, err := n.identities(ctx)
	if err != nil {
		return err
	}
	// A rule that does not parse must stop the start, never be dropped:
	// dropping it would open the room it was meant to close.
	readRules, err := config.ParseRoomRules(cfg.RoomRead)
	if err != nil {
		return fmt.Errorf("room-read: %w", err)
	}
	writeRules, err := config.ParseRoomRules(cfg.RoomWrite)
	if err != nil {
		return fmt.Errorf("room-write: %w", err)
	}
	n.gw, err = dashboard.New(dashboard.Config{
		Node:                cfg.Node,
		Dev:                 cfg.Dev,
		AllowedOrigins:      cfg.AllowedOrigins,
		Heartbeat:           cfg.HeartbeatInterval,
		MaxConnections:      cfg.Limits.MaxConnections,
		MaxConnectionsPerIP: cfg.Limits.MaxConnectionsPerIP,
		MaxSubscriptions:    cfg.Limits.MaxSubscriptions,
		MaxFrameBytes:       cfg.Limits.MaxFrameBytes,
		MaxChatBytes:        cfg.Limits.MaxChatBytes,
		QueueBytes:          cfg.Limits.QueueBytes,
		ReplayWindow:        cfg.Limits.ReplayWindow,
		ReplayWindowBytes:   cfg.Limits.ReplayWindowBytes,
		ChatRate:            cfg.Limits.ChatRate,
		ChatBurst:           cfg.Limits.ChatBurst,
		SubscribeRate:       cfg.Limits.SubscribeRate,
		SubscribeBurst:      cfg.Limits.SubscribeBurst,
		SecureCookies:       cfg.TLSCert != "",
		AdminToken:          cfg.AdminToken,
		ExpiryGrace:         expiryGrace(cfg),
		ReadRules:           readRules,
		WriteRules:          writeRules,
		Moderators:          cfg.Moderators,
		ModeratorRole:       cfg.ModeratorRole,
		TrustedProxies:      cfg.TrustedProxies,
		ProxyHeader:         cfg.ProxyHeader,
		HTTPGuard:           cfg.HTTP,
		Logger:              logger.With("part", "gateway"),
	}, n.bus, ids)
	if err != nil {
		return err
	}

	n.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Addr, err)
	}
	scheme := "http"
	if cfg.TLSCert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLSCert, cfg.TLSKey)
		if err != nil {
			return fmt.Errorf("TLS: %w", err)
		}
		n.ln = tls.NewListener(n.ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
		scheme = "https"
	}
	n.url = scheme + "://" + displayAddr(n.ln.Addr())
	n.goPart("gateway listener "+cfg.Addr, func(context.Context) error { return n.gw.Serve(n.ln) })

	if cfg.PprofAddr != "" {
		if err := n.startPprof(cfg.PprofAddr); err != nil {
			return err
		}
	}
	if cfg.Feeds {
		if err := n.startFeeds(); err != nil {
			return err
		}
	}
	logger.Info("tickroom started", "url", n.url, "node", cfg.Node, "nats", natsDescription(n))
	return nil
}

// identities builds dev sessions and the JWT verifier when one is
// configured. The dev session key lives in the data directory on the
// all-in-one node (tokens survive restarts); on external NATS it is shared
// through NATS, so a token issued by one gateway is good on every other.
func (n *Node) identities(ctx context.Context) (dashboard.Identities, error) {
	cfg := n.cfg
	var ids dashboard.Identities
	var key []byte
	var err error
	if n.nats != nil {
		key, err = auth.LoadOrCreateKey(cfg.DataDir)
	} else {
		key, err = n.sharedSessionKey(ctx)
	}
	if err != nil {
		return ids, fmt.Errorf("session key: %w", err)
	}
	ids.Sessions = auth.NewDevSessions(key, cfg.SessionTTL)
	if cfg.JWT.Enabled() {
		v, err := auth.NewJWTVerifier(auth.JWTConfig{
			HS256Secret: cfg.JWT.HS256Secret, PublicKeyFile: cfg.JWT.PublicKeyFile,
			JWKSFile: cfg.JWT.JWKSFile, JWKSURL: cfg.JWT.JWKSURL, Issuer: cfg.JWT.Issuer, Audience: cfg.JWT.Audience, Skew: jwtSkew(cfg.JWT.Skew),
		})
		if err != nil {
			return ids, fmt.Errorf("JWT: %w", err)
		}
		ids.Provider = v
		n.jwt = v
	}
	return ids, nil
}

// jwtSkew maps the config's skew (0 = none) to auth's (0 = its default,
// negative = none).
func jwtSkew(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// expiryGrace is the skew a JWT is granted past its exp at connect, granted
// mid-session too, so a connection is not closed before its token would be
// refused.
func expiryGrace(cfg config.Config) time.Duration {
	if !cfg.JWT.Enabled() {
		return 0
	}
	return cfg.JWT.Skew
}

// sharedSessionKey reads (or first creates) the deployment's session key in
// NATS, waiting up to 30s for NATS to come up: gateways may start first.
func (n *Node) sharedSessionKey(ctx context.Context) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	gen := func() ([]byte, error) {
		k := make([]byte, auth.KeySize)
		_, err := rand.Read(k)
		return k, err
	}
	for {
		key, err := n.bus.SharedSecret(ctx, "dev-session-key", gen)
		if err == nil {
			return key, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("from NATS: %w", err)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// URL is where the gateway serves, for people and tests.
func (n *Node) URL() string { return n.url }

// NATSURL is the embedded server's client URL ("" when not listening or on
// external NATS).
func (n *Node) NATSURL() string {
	if n.nats == nil {
		return ""
	}
	return n.nats.ClientURL()
}

// Shutdown stops the node: clients get 1001, the listener and pprof
// close, feeds stop, the bus drains, the embedded server shuts down. It is
// bounded by ctx: when ctx ends first it returns ctx's error without
// waiting for the parts still stopping (they end on their own). Safe on a
// node whose Start failed halfway, and idempotent.
func (n *Node) Shutdown(ctx context.Context) error {
	n.shutdownOnce.Do(func() {
		n.stopping.Store(true)
		var errs []error
		if n.gw != nil {
			errs = append(errs, n.gw.Shutdown(ctx))
		}
		if n.ln != nil {
			// fasthttp closes only a listener its Serve already registered:
			// one whose Serve goroutine has not begun yet must be closed
			// here, or that Serve would accept forever.
			_ = n.ln.Close()
		}
		if n.pprof != nil {
			errs = append(errs, n.pprof.Shutdown(ctx))
		}
		n.stopParts() // feeds stop
		parts := make(chan struct{})
		go func() { // ends when the last part returns
			_ = n.parts.Wait()
			close(parts)
		}()
		select {
		case <-parts:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("shutdown: parts still stopping: %w", ctx.Err()))
			n.shutdownErr = errors.Join(errs...)
			return
		}
		if n.bus != nil {
			n.bus.Close()
		}
		if n.nats != nil {
			n.nats.Shutdown()
		}
		if n.jwt != nil {
			n.jwt.Close()
		}
		n.shutdownErr = errors.Join(errs...)
	})
	return n.shutdownErr
}

func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return a.String()
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func natsDescription(n *Node) string {
	if n.nats == nil {
		return "external"
	}
	if u := n.nats.ClientURL(); u != "" {
		return "embedded, " + u
	}
	return "embedded, in-process only"
}

// quieter drops records below min: nats-server's notices (its banner) are
// noise in tickroom's log.
func quieter(l *slog.Logger, min slog.Level) *slog.Logger {
	return slog.New(minLevel{Handler: l.Handler(), min: min})
}

type minLevel struct {
	slog.Handler
	min slog.Level
}

func (m minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= m.min && m.Handler.Enabled(ctx, l)
}

func (m minLevel) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevel{Handler: m.Handler.WithAttrs(attrs), min: m.min}
}

func (m minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: m.Handler.WithGroup(name), min: m.min}
}

// startPprof serves net/http/pprof on its own listener, never on the public
// address: profiles reveal internals.
func (n *Node) startPprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("pprof listen %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	n.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	srv := n.pprof
	n.goPart("pprof listener "+addr, func(context.Context) error { // ends when Shutdown closes the server
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	n.log.Info("pprof listening", "addr", ln.Addr().String())
	return nil
}
