package natsbus

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

// ServerConfig configures the embedded nats-server. Zero values are
// documented per field; DataDir is the only required one.
type ServerConfig struct {
	DataDir    string // JetStream store directory (required)
	Listen     string // "host:port" for outside clients; port 0 or -1 picks a free one; "" or "off" = in-process only
	ServerName string // default "tickroom"; must be unique per node in a cluster
	MaxMemory  int64  // JetStream memory limit, default 256 MiB
	MaxStore   int64  // JetStream disk limit, default 4 GiB

	// Clustering, all empty by default (a standalone server). Setting
	// ClusterName makes this node one of a JetStream cluster: it then needs
	// ClusterListen, at least one route, an explicit ServerName distinct
	// from every other node's, and a TCP Listen (a cluster with DontListen
	// never routes and hangs on shutdown, nats-server#5174).
	ClusterName   string   // cluster name, identical on every node
	ClusterListen string   // "host:port" for routes; port 0 or -1 picks a free one
	Routes        []string // "nats-route://host:port" of the nodes (this one may be listed too: it is skipped)
	// Token, when set, is required from every client (the in-process bus
	// presents it itself). UsersFile names a nats-server configuration file
	// whose authorization block (users, nkeys, permissions) is enforced on
	// every client; the in-process bus then uses a user of its own with a
	// random password. At most one of them.
	Token     string
	UsersFile string
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
	ns         *server.Server
	clientAuth []nats.Option // how the in-process bus authenticates
	url        string
	clusterURL string
	stopOnce   sync.Once
}

// StartServer starts an embedded nats-server with JetStream and returns
// once it accepts connections. Failures that nats-server would only log
// (port in use, unusable store directory) are returned as errors.
func StartServer(cfg ServerConfig) (*Server, error) {
	opts, err := serverOptions(cfg)
	if err != nil {
		return nil, err
	}
	clientAuth, err := authOptions(cfg, opts)
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
	s := &Server{ns: ns, clientAuth: clientAuth}
	if !opts.DontListen {
		s.url = clientURL(ns.Addr())
	}
	if opts.Cluster.Port != 0 {
		s.clusterURL = routeURL(ns.ClusterAddr())
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
		host, port, err := splitListen(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("natsbus: ServerConfig.Listen %q: %w", cfg.Listen, err)
		}
		opts.Host, opts.Port = host, port
	}
	if err := clusterOptions(cfg, opts); err != nil {
		return nil, err
	}
	return opts, nil
}

// clusterOptions fills opts.Cluster and opts.Routes from cfg, refusing the
// combinations nats-server would accept but that cannot work.
func clusterOptions(cfg ServerConfig, opts *server.Options) error {
	if cfg.ClusterName == "" {
		if cfg.ClusterListen != "" || len(cfg.Routes) > 0 {
			return errors.New("natsbus: ClusterListen and Routes need a ClusterName")
		}
		return nil
	}
	var errs []error
	if cfg.ServerName == "" {
		errs = append(errs, errors.New("a clustered node needs its own ServerName"))
	}
	if opts.DontListen {
		// nats-server#5174: never routes, hangs on shutdown.
		errs = append(errs, errors.New(`a clustered node needs a TCP Listen address (not "" or "off")`))
	}
	if len(cfg.Routes) == 0 {
		errs = append(errs, errors.New("a clustered node needs Routes (JetStream clustering refuses to start without)"))
	}
	host, port, err := splitListen(cfg.ClusterListen)
	if err != nil {
		errs = append(errs, fmt.Errorf("ClusterListen %q: %w", cfg.ClusterListen, err))
	}
	for _, r := range cfg.Routes {
		u, err := url.Parse(r)
		if err != nil || u.Host == "" || (u.Scheme != "nats-route" && u.Scheme != "nats") {
			errs = append(errs, fmt.Errorf("route %q: want nats-route://host:port", r))
			continue
		}
		opts.Routes = append(opts.Routes, u)
	}
	if len(errs) > 0 {
		return fmt.Errorf("natsbus: cluster %q: %w", cfg.ClusterName, errors.Join(errs...))
	}
	opts.Cluster.Name = cfg.ClusterName
	opts.Cluster.Host, opts.Cluster.Port = host, port
	return nil
}

// splitListen parses "host:port"; port 0 and -1 both mean "any free port"
// (nats-server itself reads 0 as "the default port" or "off").
func splitListen(listen string) (string, int, error) {
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > 65535 {
		return "", 0, errors.New("bad port")
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	return host, port, nil
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

// ClusterURL is the URL other nodes route to ("nats-route://host:port"), or
// "" for a standalone server.
func (s *Server) ClusterURL() string { return s.clusterURL }

// NumRoutes is the number of route connections to other nodes (with route
// pooling, several per peer).
func (s *Server) NumRoutes() int { return s.ns.NumRoutes() }

// JetStreamClusterReady reports whether this node sees a JetStream meta
// leader (itself or a peer), so clustered streams can be created.
func (s *Server) JetStreamClusterReady() bool {
	return s.ns.JetStreamIsClustered() && s.ns.JetStreamIsCurrent()
}

func routeURL(addr *net.TCPAddr) string {
	if addr == nil {
		return ""
	}
	u := clientURL(addr)
	return "nats-route://" + strings.TrimPrefix(u, "nats://")
}

// Shutdown stops the server and waits until it has stopped. It is
// idempotent and safe to call concurrently.
func (s *Server) Shutdown() {
	s.stopOnce.Do(func() {
		s.ns.Shutdown()
		s.ns.WaitForShutdown()
	})
}
