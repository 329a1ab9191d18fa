package main

// Separate processes for the deployment tests: nats-server binaries (built
// from the module proxy at go.mod's version), the tickroom binary (built by
// the test), and Debian's haproxy. Where a binary is missing the tests skip
// with a message; TICKROOM_REQUIRE_DEPLOY=1 (set by .ci/run) makes that a
// failure.

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// needBinary returns the path of a tool, or skips (fails under
// TICKROOM_REQUIRE_DEPLOY=1) with how to install it.
func needBinary(t *testing.T, name, install string, extra ...string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, p := range extra {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	msg := fmt.Sprintf("%s not found in PATH or %v; install it with: %s", name, extra, install)
	if os.Getenv("TICKROOM_REQUIRE_DEPLOY") == "1" {
		t.Fatal(msg + " (TICKROOM_REQUIRE_DEPLOY=1)")
	}
	t.Skip(msg)
	return ""
}

// natsServerVersion is the nats-server version go.mod requires, so the
// processes run the same server as the embedded one.
func natsServerVersion(t *testing.T) string {
	t.Helper()
	mod, err := os.ReadFile(filepath.Join(repoRoot, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`github\.com/nats-io/nats-server/v2 (v\S+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no nats-server requirement")
	}
	return string(m[1])
}

func natsServerBinary(t *testing.T) string {
	t.Helper()
	var extra []string
	if gobin := goEnv(t, "GOBIN"); gobin != "" {
		extra = append(extra, filepath.Join(gobin, "nats-server"))
	}
	if gopath := goEnv(t, "GOPATH"); gopath != "" {
		for _, p := range filepath.SplitList(gopath) {
			extra = append(extra, filepath.Join(p, "bin", "nats-server"))
		}
	}
	bin := needBinary(t, "nats-server", "go install github.com/nats-io/nats-server/v2@"+natsServerVersion(t), extra...)
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if want := strings.TrimPrefix(natsServerVersion(t), "v"); err != nil || !bytes.Contains(out, []byte(want)) {
		t.Logf("warning: %s --version = %q, go.mod has %s", bin, bytes.TrimSpace(out), want)
	}
	return bin
}

func goEnv(t *testing.T, name string) string {
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
	buildDir  string
)

func removeBuiltBinary() {
	if buildDir != "" {
		_ = os.RemoveAll(buildDir)
	}
}

// tickroomBinary builds cmd/tickroom once per test binary run, into a
// temporary directory that removeBuiltBinary (TestMain) deletes.
func tickroomBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "tickroom-bin-")
		if err != nil {
			buildErr = err
			return
		}
		buildDir = dir
		buildBin = filepath.Join(dir, "tickroom")
		out, err := exec.Command("go", "build", "-o", buildBin, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// proc is one child process; its output is kept for the failure report.
type proc struct {
	name string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startProc starts bin; the test's cleanup kills it (SIGTERM, then SIGKILL)
// and logs its output when the test failed.
func startProc(t *testing.T, name, bin string, args []string, env ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &syncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	dieWithTest(p.cmd)
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("%s: start: %v", name, err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.stop()
		if t.Failed() {
			t.Logf("--- %s output:\n%s", name, tail(p.out.String(), 4000))
		}
	})
	return p
}

// stop ends the process: SIGTERM, SIGKILL after 10s.
func (p *proc) stop() {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// kill9 is what a crash looks like: SIGKILL, no cleanup.
func (p *proc) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatalf("kill -9 %s: %v", p.name, err)
	}
	<-p.done
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n:]
}

func loopback(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// httpOK polls GET url until 200.
func httpOK(url string) error {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d", url, resp.StatusCode)
	}
	return nil
}

// natsNode is one nats-server process of a test cluster, configured from
// configs/nats-N.conf with addresses and directories rewritten.
type natsNode struct {
	name                     string
	client, cluster, monitor int
	conf                     string
	proc                     *proc
}

func (n *natsNode) url(user, password string) string {
	return "nats://" + user + ":" + password + "@" + loopback(n.client)
}

// processCluster is three nats-server processes.
type processCluster struct {
	t     *testing.T
	bin   string
	nodes []*natsNode
}

// newProcessCluster writes the three configs (from configs/nats-N.conf:
// loopback ports, temp store dirs) without starting anything.
func newProcessCluster(t *testing.T) *processCluster {
	t.Helper()
	c := &processCluster{t: t, bin: natsServerBinary(t)}
	for i := range 3 {
		c.nodes = append(c.nodes, &natsNode{
			name: "nats-" + strconv.Itoa(i+1), client: freeLoopbackPort(t),
			cluster: freeLoopbackPort(t), monitor: freeLoopbackPort(t),
		})
	}
	dir := t.TempDir()
	for _, n := range c.nodes {
		raw, err := os.ReadFile(filepath.Join(repoRoot, "configs", n.name+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		s := string(raw)
		rep := []string{
			"0.0.0.0:4222", loopback(n.client),
			"0.0.0.0:8222", loopback(n.monitor),
			"0.0.0.0:6222", loopback(n.cluster),
			"store_dir: /data", "store_dir: " + strconv.Quote(filepath.Join(dir, n.name)),
			"max_file_store: 8GB", "max_file_store: 1GB",
			"max_memory_store: 512MB", "max_memory_store: 64MB",
		}
		for _, m := range c.nodes {
			rep = append(rep, "nats-route://"+m.name+":6222", "nats-route://"+loopback(m.cluster))
		}
		for k := 0; k < len(rep); k += 2 {
			if !strings.Contains(s, rep[k]) {
				t.Fatalf("configs/%s.conf no longer contains %q: update the test's rewriting", n.name, rep[k])
			}
			s = strings.ReplaceAll(s, rep[k], rep[k+1])
		}
		n.conf = filepath.Join(dir, n.name+".conf")
		if err := os.WriteFile(n.conf, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// Passwords the test gives the compose users (the configs read them from
// the environment).
var natsEnv = []string{
	"TICKROOM_NATS_GATEWAY_PASSWORD=" + devGatewayPassword,
	"TICKROOM_NATS_FEED_PASSWORD=" + devFeedPassword,
}

func (c *processCluster) start(i int) {
	n := c.nodes[i]
	n.proc = startProc(c.t, n.name, c.bin, []string{"--config", n.conf}, natsEnv...)
}

// healthy waits until every running node's /healthz is 200 (JetStream
// current).
func (c *processCluster) healthy(d time.Duration) {
	c.t.Helper()
	eventually2(c.t, "NATS /healthz", d, func() error {
		for _, n := range c.nodes {
			if n.proc == nil || n.proc.exited() {
				continue
			}
			if err := httpOK("http://" + loopback(n.monitor) + "/healthz"); err != nil {
				return fmt.Errorf("%s: %v", n.name, err)
			}
		}
		return nil
	})
}

// urls lists every node for user, as -nats takes them.
func (c *processCluster) urls(user, password string) string {
	var out []string
	for _, n := range c.nodes {
		out = append(out, n.url(user, password))
	}
	return strings.Join(out, ",")
}

func (c *processCluster) index(name string) int {
	for i, n := range c.nodes {
		if n.name == name {
			return i
		}
	}
	c.t.Fatalf("no node %q", name)
	return -1
}
