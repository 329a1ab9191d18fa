package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// ServerConfig configures the embedded nats-server. Zero values are
// documented per field; DataDir is the only required one.
type ServerConfig struct {
	DataDir    string // JetStream store directory (required)
	Listen     string // "host:port" for outside clients; port 0 or -1 picks a free one; "" or "off" = in-process only
	ServerName string // default "tickroom"
	MaxMemory  int64  // JetStream memory limit, default 256 MiB
	MaxStore   int64  // JetStream disk limit, default 4 GiB
	// Logger receives the server's notices, warnings and errors; nil
	// discards them (fatal errors are still returned by StartServer).
	Logger *slog.Logger
}

const (
	defaultServerName = "tickroom"
	defaultMaxMemory  = 256 << 20
	defaultMaxStore   = 4 << 30
	serverReadyWait   = 10 * time.Second
)

// Server is a running embedded nats-server with JetStream enabled.
type Server struct {
	ns       *server.Server
	url      string
	stopOnce sync.Once
}

// StartServer starts an embedded nats-server with JetStream and returns
// once it accepts connections. Failures that nats-server would only log
// (port in use, unusable store directory) are returned as errors.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("natsbus: new nats-server: %w", err)
	}
	// The logger also captures Fatalf: without it a failed listen or
	// JetStream start would surface only as a 10 s readiness timeout.
	lg := newServerLogger(cfg.Logger)
	ns.SetLoggerV2(lg, false, false, false)
	ns.Start() // synchronous up to the accept loop, so fatal errors are known here

	if msg := lg.fatalMsg(); msg != "" {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsbus: start nats-server: %s", msg)
	}
	if !ns.ReadyForConnections(serverReadyWait) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("natsbus: nats-server not ready after %s", serverReadyWait)
	}
	if !ns.JetStreamEnabled() {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, errors.New("natsbus: nats-server started without JetStream")
	}
	s := &Server{ns: ns}
	if !opts.DontListen {
		s.url = clientURL(ns.Addr())
	}
	return s, nil
}

func serverOptions(cfg ServerConfig) (*server.Options, error) {
	if cfg.DataDir == "" {
		return nil, errors.New("natsbus: ServerConfig.DataDir is required")
	}
	opts := &server.Options{
		ServerName:         cfg.ServerName,
		JetStream:          true,
		StoreDir:           cfg.DataDir,
		JetStreamMaxMemory: cfg.MaxMemory,
		JetStreamMaxStore:  cfg.MaxStore,
		// Otherwise SIGTERM makes the server os.Exit in the middle of
		// our own shutdown.
		NoSigs: true,
	}
	if opts.ServerName == "" {
		opts.ServerName = defaultServerName
	}
	// Explicit limits: nats-server's defaults are 75% of the machine.
	if opts.JetStreamMaxMemory <= 0 {
		opts.JetStreamMaxMemory = defaultMaxMemory
	}
	if opts.JetStreamMaxStore <= 0 {
		opts.JetStreamMaxStore = defaultMaxStore
	}
	switch cfg.Listen {
	case "", "off":
		opts.DontListen = true
	default:
		host, portStr, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsbus: ServerConfig.Listen %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil || port < -1 || port > 65535 {
			return nil, fmt.Errorf("natsbus: ServerConfig.Listen %q: bad port", cfg.Listen)
		}
		if port == 0 {
			// nats-server reads 0 as "default 4222"; -1 is its "any free port".
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	return opts, nil
}

// clientURL turns the listener address into a URL a local client can dial:
// a wildcard bind address is replaced by loopback.
func clientURL(addr net.Addr) string {
	ta, ok := addr.(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := "127.0.0.1"
	if ta.IP != nil && !ta.IP.IsUnspecified() {
		host = ta.IP.String()
	}
	return "nats://" + net.JoinHostPort(host, strconv.Itoa(ta.Port))
}

// ClientURL is the URL outside clients connect to, or "" when the server
// does not listen on TCP.
func (s *Server) ClientURL() string { return s.url }

// Shutdown stops the server and waits until it has stopped. It is
// idempotent and safe to call concurrently.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}
