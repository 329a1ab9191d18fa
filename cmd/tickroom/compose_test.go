package main

// docker-compose.yml cannot run here (no Docker engine), so its topology is
// checked instead: the file is loaded with the Compose spec's own loader
// (github.com/compose-spec/compose-go), the NATS configs it mounts with
// nats-server's own parser, and the HAProxy config as text. Then the NATS
// configs run for real: three nodes from configs/nats-*.conf (only addresses
// and directories rewritten to loopback and temp dirs), a gateway and the
// producers with the users and passwords the compose file gives them.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	composecli "github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds/cli"
	"github.com/tickroom/tickroom/feeds/market"
)

const repoRoot = "../.."

// Development passwords the compose file falls back to.
const (
	devGatewayPassword = "dev-gateway-password"
	devFeedPassword    = "dev-feed-password"
)

func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := composecli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		composecli.WithWorkingDirectory(repoRoot),
		composecli.WithEnv(nil), // hermetic: the file's own defaults, not this machine's environment
		composecli.WithDiscardEnvFile,
		composecli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatalf("compose options: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	p, err := opts.LoadProject(ctx)
	if err != nil {
		t.Fatalf("load docker-compose.yml: %v", err)
	}
	return p
}

// flagValue returns the value following -name in cmd ("" when absent).
func flagValue(cmd []string, name string) string {
	for i, a := range cmd {
		if (a == "-"+name || a == "--"+name) && i+1 < len(cmd) {
			return cmd[i+1]
		}
		if v, ok := strings.CutPrefix(a, "-"+name+"="); ok {
			return v
		}
	}
	return ""
}

// natsTargets parses a -nats value into host:port targets and the user.
func natsTargets(t *testing.T, service, v string) (hosts []string, users []string) {
	t.Helper()
	for _, raw := range strings.Split(v, ",") {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "nats" {
			t.Errorf("%s: -nats entry %q is not a nats:// URL", service, raw)
			continue
		}
		hosts = append(hosts, u.Host)
		users = append(users, u.User.Username())
	}
	slices.Sort(hosts)
	return hosts, slices.Compact(users)
}

func hasHealthcheck(s types.ServiceConfig) bool {
	return s.HealthCheck != nil && !s.HealthCheck.Disable && len(s.HealthCheck.Test) > 1
}

// mountedFile returns the host path mounted at target in s.
func mountedFile(s types.ServiceConfig, target string) string {
	for _, v := range s.Volumes {
		if v.Target == target {
			return v.Source
		}
	}
	return ""
}

// loadNATSConf parses a nats-server config with nats-server itself, with
// the passwords the compose file passes in the environment.
func loadNATSConf(t *testing.T, path string) *server.Options {
	t.Helper()
	t.Setenv("TICKROOM_NATS_GATEWAY_PASSWORD", devGatewayPassword)
	t.Setenv("TICKROOM_NATS_FEED_PASSWORD", devFeedPassword)
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return opts
}

func TestComposeTopology(t *testing.T) {
	p := loadCompose(t)
	wantNATS := []string{"nats-1:4222", "nats-2:4222", "nats-3:4222"}

	var natsSvcs, gateways, feeds, lbs []types.ServiceConfig
	for _, s := range p.Services {
		switch {
		case strings.HasPrefix(s.Image, "nats:"):
			natsSvcs = append(natsSvcs, s)
		case strings.HasPrefix(s.Image, "haproxy:") || strings.HasPrefix(s.Image, "nginx:"):
			lbs = append(lbs, s)
		case len(s.Command) > 0 && s.Command[0] == "gateway":
			gateways = append(gateways, s)
		case len(s.Command) > 1 && s.Command[0] == "feed":
			feeds = append(feeds, s)
		default:
			t.Errorf("service %s (image %s, command %v) has no known role", s.Name, s.Image, s.Command)
		}
	}
	if len(natsSvcs) != 3 || len(gateways) != 2 || len(feeds) != 3 || len(lbs) != 1 {
		t.Fatalf("services: %d nats, %d gateways, %d feeds, %d load balancers; want 3, 2, 3, 1",
			len(natsSvcs), len(gateways), len(feeds), len(lbs))
	}

	// NATS: each node's config routes to all three, clusters under one
	// name, runs JetStream with explicit limits on a volume.
	clusterNames := map[string]bool{}
	serverNames := map[string]bool{}
	for _, s := range natsSvcs {
		if !hasHealthcheck(s) || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), ":8222/healthz") {
			t.Errorf("%s: health check %v, want the monitoring /healthz on 8222", s.Name, s.HealthCheck)
		}
		conf := mountedFile(s, "/etc/nats/nats.conf")
		if conf == "" || !slices.Contains(s.Command, "/etc/nats/nats.conf") {
			t.Errorf("%s: configs/nats-N.conf must be mounted at /etc/nats/nats.conf and used (command %v)", s.Name, s.Command)
			continue
		}
		o := loadNATSConf(t, conf)
		serverNames[o.ServerName] = true
		clusterNames[o.Cluster.Name] = true
		var routes []string
		for _, r := range o.Routes {
			routes = append(routes, r.Host)
		}
		slices.Sort(routes)
		if want := []string{"nats-1:6222", "nats-2:6222", "nats-3:6222"}; !slices.Equal(routes, want) {
			t.Errorf("%s (%s): routes %v, want %v", s.Name, filepath.Base(conf), routes, want)
		}
		if o.Cluster.Port != 6222 {
			t.Errorf("%s: cluster port %d, want 6222", s.Name, o.Cluster.Port)
		}
		if !o.JetStream || o.JetStreamMaxMemory <= 0 || o.JetStreamMaxStore <= 0 {
			t.Errorf("%s: JetStream %v, limits mem %d store %d: want enabled with explicit limits", s.Name, o.JetStream, o.JetStreamMaxMemory, o.JetStreamMaxStore)
		}
		if mountedFile(s, o.StoreDir) == "" {
			t.Errorf("%s: JetStream store_dir %q is not a volume", s.Name, o.StoreDir)
		}
		if o.HTTPPort != 8222 {
			t.Errorf("%s: monitoring port %d, want 8222 (health check)", s.Name, o.HTTPPort)
		}
		if s.Hostname != s.Name || o.ServerName != s.Name {
			t.Errorf("%s: hostname %q, server_name %q: want both equal to the service name (routes use it)", s.Name, s.Hostname, o.ServerName)
		}
		checkNATSUsers(t, s.Name, o)
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes ports %v: NATS stays on the backend network", s.Name, s.Ports)
		}
	}
	if len(serverNames) != 3 || len(clusterNames) != 1 {
		t.Errorf("server names %v (want 3 distinct), cluster names %v (want 1)", serverNames, clusterNames)
	}

	frontendSubnet := ""
	if n, ok := p.Networks["frontend"]; ok && len(n.Ipam.Config) == 1 {
		frontendSubnet = n.Ipam.Config[0].Subnet
	}
	if frontendSubnet == "" {
		t.Errorf("the frontend network needs a fixed subnet (the gateways trust it as the proxy)")
	}

	// Gateways: on all three NATS nodes, R3, distinct names, ready-checked.
	nodes := map[string]bool{}
	for _, s := range gateways {
		hosts, users := natsTargets(t, s.Name, flagValue(s.Command, "nats"))
		if !slices.Equal(hosts, wantNATS) || !slices.Equal(users, []string{"gateway"}) {
			t.Errorf("%s: -nats targets %v as %v, want %v as gateway", s.Name, hosts, users, wantNATS)
		}
		if r := flagValue(s.Command, "replicas"); r != "3" {
			t.Errorf("%s: -replicas %q, want 3", s.Name, r)
		}
		if flagValue(s.Command, "origins") == "" {
			t.Errorf("%s: no -origins: the page is served through the load balancer's origin", s.Name)
		}
		if tp := flagValue(s.Command, "trusted-proxies"); tp == "" || tp != frontendSubnet {
			t.Errorf("%s: -trusted-proxies %q, want the frontend network %q (the LB's address names the client)", s.Name, tp, frontendSubnet)
		}
		nodes[flagValue(s.Command, "node")] = true
		if !hasHealthcheck(s) || !strings.Contains(strings.Join(s.HealthCheck.Test, " "), "/readyz") {
			t.Errorf("%s: health check %v, want /readyz", s.Name, s.HealthCheck)
		}
		checkDependsOnNATS(t, s)
		if s.Build == nil && s.Image == "" {
			t.Errorf("%s: neither build nor image", s.Name)
		}
	}
	if len(nodes) != 2 || nodes[""] {
		t.Errorf("gateway -node names %v: want two distinct", nodes)
	}

	// Feeds: market, analytics, alerts, each on all three nodes as "feed".
	var kinds []string
	for _, s := range feeds {
		kinds = append(kinds, s.Command[1])
		hosts, users := natsTargets(t, s.Name, flagValue(s.Command, "nats"))
		if !slices.Equal(hosts, wantNATS) || !slices.Equal(users, []string{"feed"}) {
			t.Errorf("%s: -nats targets %v as %v, want %v as feed", s.Name, hosts, users, wantNATS)
		}
		checkDependsOnNATS(t, s)
	}
	slices.Sort(kinds)
	if !slices.Equal(kinds, []string{"alerts", "analytics", "market"}) {
		t.Errorf("feeds %v, want alerts, analytics, market", kinds)
	}

	// The load balancer: after both gateways, health-checked, the only
	// published port, configured without stickiness.
	lb := lbs[0]
	for _, gw := range gateways {
		if d, ok := lb.DependsOn[gw.Name]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %s = %+v, want service_healthy", lb.Name, gw.Name, d)
		}
	}
	if !hasHealthcheck(lb) {
		t.Errorf("%s: no health check", lb.Name)
	}
	if len(lb.Ports) != 1 || lb.Ports[0].Target != 8080 {
		t.Errorf("%s: ports %+v, want 8080 published", lb.Name, lb.Ports)
	}
	for _, s := range append(append(natsSvcs, gateways...), feeds...) {
		if len(s.Ports) > 0 {
			t.Errorf("%s publishes %+v: only the load balancer faces clients", s.Name, s.Ports)
		}
	}
	cfgPath := mountedFile(lb, "/usr/local/etc/haproxy/haproxy.cfg")
	if cfgPath == "" {
		t.Fatalf("%s: configs/haproxy.cfg not mounted", lb.Name)
	}
	checkHAProxy(t, cfgPath, gateways)
}

func checkDependsOnNATS(t *testing.T, s types.ServiceConfig) {
	t.Helper()
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		if d, ok := s.DependsOn[n]; !ok || d.Condition != types.ServiceConditionHealthy {
			t.Errorf("%s: depends_on %s = %+v, want service_healthy", s.Name, n, d)
		}
	}
}

// checkNATSUsers: the gateway user may use everything; the feed user may
// publish its kinds but reach neither the secrets bucket nor the JetStream
// API.
func checkNATSUsers(t *testing.T, name string, o *server.Options) {
	t.Helper()
	users := map[string]*server.User{}
	for _, u := range o.Users {
		users[u.Username] = u
	}
	gw, feed := users["gateway"], users["feed"]
	if gw == nil || feed == nil || len(users) != 2 {
		t.Errorf("%s: users %v, want gateway and feed", name, slices.Collect(mapsKeys(users)))
		return
	}
	if gw.Password != devGatewayPassword || feed.Password != devFeedPassword {
		t.Errorf("%s: passwords are not taken from the environment", name)
	}
	if gw.Permissions != nil {
		t.Errorf("%s: the gateway user is restricted (%+v); it needs JetStream, KV and every channel", name, gw.Permissions)
	}
	p := feed.Permissions
	if p == nil || p.Publish == nil || p.Subscribe == nil || len(p.Publish.Allow) == 0 || len(p.Subscribe.Allow) == 0 {
		t.Fatalf("%s: the feed user needs publish and subscribe allow-lists", name)
	}
	allowed := func(list []string, subject string) bool {
		for _, f := range list {
			if server.SubjectMatchesFilter(subject, f) {
				return true
			}
		}
		return false
	}
	for _, subj := range []string{"market.AAPL", "analytics.AAPL", "candle.AAPL", "alert.AAPL", "feed.news"} {
		if !allowed(p.Publish.Allow, subj) {
			t.Errorf("%s: feed user may not publish %s", name, subj)
		}
	}
	for _, subj := range []string{"$KV.tickroom_secrets.dev-session-key", "$JS.API.STREAM.INFO.CHAT", "chat.lobby"} {
		if allowed(p.Publish.Allow, subj) || allowed(p.Subscribe.Allow, subj) {
			t.Errorf("%s: feed user may reach %s", name, subj)
		}
	}
}

func mapsKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// checkHAProxy reads haproxy.cfg as text: every gateway is a server of a
// round-robin backend with a /readyz check; WebSockets get a long tunnel
// timeout; nothing pins a client to a server.
func checkHAProxy(t *testing.T, path string, gateways []types.ServiceConfig) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, l := range strings.Split(string(raw), "\n") {
		l, _, _ = strings.Cut(l, "#")
		if l = strings.Join(strings.Fields(l), " "); l != "" {
			lines = append(lines, l)
		}
	}
	has := func(re string) bool {
		r := regexp.MustCompile(re)
		return slices.ContainsFunc(lines, r.MatchString)
	}
	for _, gw := range gateways {
		if !has(`^server \S+ ` + regexp.QuoteMeta(gw.Name) + `:8080\b`) {
			t.Errorf("haproxy.cfg: no server line for %s:8080", gw.Name)
		}
	}
	for what, re := range map[string]string{
		"round-robin":                                 `^balance roundrobin$`,
		"/readyz health check":                        `^http-check send .*uri /readyz`,
		"checks on every server":                      `^default-server .*\bcheck\b`,
		"WebSocket tunnel timeout of minutes or more": `^timeout tunnel (\d+[mh]|\d{3,}s)$`,
		"long server timeout (SSE)":                   `^timeout server (\d+[mh]|\d{3,}s)$`,
	} {
		if !has(re) {
			t.Errorf("haproxy.cfg: no %s (%s)", what, re)
		}
	}
	// Stickiness in HAProxy: cookie insertion, stick tables and rules,
	// source/URI/header hashing.
	for _, re := range []string{`^cookie\b`, `^stick-table\b`, `\bcookie \S+ (insert|prefix|rewrite)`, `^stick (on|match|store-request|store-response)\b`,
		`^balance (source|uri|url_param|hdr|rdp-cookie|hash)\b`, `^hash-type\b`, `^appsession\b`, `^persist\b`} {
		if has(re) {
			t.Errorf("haproxy.cfg: sticky-session directive matching %s", re)
		}
	}
}

func TestDockerfile(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	df := string(raw)
	froms := regexp.MustCompile(`(?m)^FROM\s+(\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a multi-stage build", len(froms))
	}
	final := froms[len(froms)-1][1]
	if !strings.Contains(final, "distroless/static") && final != "scratch" {
		t.Errorf("final image %s, want distroless/static or scratch", final)
	}
	for what, re := range map[string]string{
		"static build":   `CGO_ENABLED=0`,
		"go build":       `go build .*\./cmd/tickroom`,
		"non-root user":  `(?m)^USER\s+(nonroot|65532)`,
		"EXPOSE 8080":    `(?m)^EXPOSE\s+8080\b`,
		"ENTRYPOINT":     `(?m)^ENTRYPOINT\s+\[.*tickroom"\]`,
		"health checker": `(?m)^COPY .*wget`,
	} {
		if !regexp.MustCompile(re).MatchString(df) {
			t.Errorf("Dockerfile: no %s (%s)", what, re)
		}
	}
	if regexp.MustCompile(`(?m)^USER\s+(root|0)\b`).MatchString(df) {
		t.Error("Dockerfile: runs as root")
	}
}

// TestComposeNATSConfigsRun runs configs/nats-{1,2,3}.conf as a cluster on
// loopback (addresses and store directories rewritten, everything else as
// written, users and permissions included), then a gateway as the
// "gateway" user and the producers as the "feed" user, as the compose file
// has them: the gateway gets ready (R3 streams, shared secret), ticks
// reach a client, and the feed user is refused the secrets bucket.
func TestComposeNATSConfigsRun(t *testing.T) {
	var servers []*server.Server
	var lastErr error
	for range 3 {
		servers, lastErr = startConfNodes(t)
		if lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatal(lastErr)
	}
	urls := func(user, pass string) []string {
		var out []string
		for _, s := range servers {
			out = append(out, fmt.Sprintf("nats://%s:%s@%s", user, pass, s.Addr().String()))
		}
		return out
	}
	eventually2(t, "JetStream meta leader", 30*time.Second, func() error {
		for _, s := range servers {
			if !s.JetStreamIsCurrent() {
				return fmt.Errorf("%s not current", s.Name())
			}
		}
		return nil
	})

	cfg := testConfig(t)
	cfg.NATSURLs = urls("gateway", devGatewayPassword)
	cfg.Replicas = 3
	cfg.Node = "gw-1"
	gw := startNode(t, cfg)
	eventually2(t, "gateway /readyz", 30*time.Second, func() error {
		if status, body := httpGet(t, gw.URL()+"/readyz"); status != 200 {
			return fmt.Errorf("HTTP %d %s", status, body)
		}
		return nil
	})

	var denied sync.Once
	deniedCh := make(chan error, 1)
	feedNC, err := nats.Connect(strings.Join(urls("feed", devFeedPassword), ","), nats.Name("test-feed"),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			if errors.Is(err, nats.ErrPermissionViolation) {
				denied.Do(func() { deniedCh <- err })
			}
		}))
	if err != nil {
		t.Fatalf("feed user: %v", err)
	}
	defer feedNC.Close()
	syms, _ := cli.ParseSymbols("AAPL")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.RunWith(ctx, feedNC, cli.Options{Market: market.Config{Seed: 7, Symbols: syms, Rate: 20},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("feeds: %v", err)
		}
	}()

	c := dial(t, gw, "ticks", dialOpts{})
	c.welcome()
	c.subscribe("market.*")
	waitTickAfter(t, c, time.Now(), waitFor)
	c.close()

	if _, err := feedNC.SubscribeSync("$KV.tickroom_secrets.>"); err != nil {
		t.Fatal(err)
	}
	_ = feedNC.Flush()
	select {
	case err := <-deniedCh:
		t.Logf("feed user reading the secrets bucket: %v", err)
	case <-time.After(waitFor):
		t.Fatal("the feed user subscribed to $KV.tickroom_secrets.> without a permissions violation")
	}
}

// startConfNodes starts the three nodes from the config files, rewriting
// only what cannot work on one machine: listen addresses, routes (DNS names
// → loopback ports), store directories, monitoring port, signals, logging.
func startConfNodes(t *testing.T) ([]*server.Server, error) {
	t.Helper()
	ports := make([]int, 3)
	var routes []*url.URL
	for i := range ports {
		ports[i] = freeLoopbackPort(t)
		routes = append(routes, &url.URL{Scheme: "nats-route", Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))})
	}
	var started []*server.Server
	fail := func(err error) ([]*server.Server, error) {
		for _, s := range started {
			s.Shutdown()
			s.WaitForShutdown()
		}
		return nil, err
	}
	for i := range 3 {
		o := loadNATSConf(t, filepath.Join(repoRoot, "configs", "nats-"+strconv.Itoa(i+1)+".conf"))
		if len(o.Routes) != 3 {
			return fail(fmt.Errorf("nats-%d.conf: %d routes", i+1, len(o.Routes)))
		}
		o.Host, o.Port = "127.0.0.1", server.RANDOM_PORT
		o.HTTPPort = 0
		o.Cluster.Host, o.Cluster.Port = "127.0.0.1", ports[i]
		o.Routes = routes
		o.StoreDir = t.TempDir()
		o.JetStreamMaxMemory, o.JetStreamMaxStore = 64<<20, 512<<20
		o.NoSigs, o.NoLog = true, true
		s, err := server.NewServer(o)
		if err != nil {
			return fail(err)
		}
		s.Start()
		if !s.ReadyForConnections(waitFor) {
			s.Shutdown()
			s.WaitForShutdown()
			return fail(fmt.Errorf("nats-%d not ready (port taken?)", i+1))
		}
		started = append(started, s)
	}
	for _, s := range started {
		t.Cleanup(func() { s.Shutdown(); s.WaitForShutdown() })
	}
	return started, nil
}
