package main

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Peers are the servers tickbench compares tickroom with. Their tests skip
// when the peer is not installed; TICKBENCH_REQUIRE_PEERS=1 (set by
// .ci/run, which installs them) turns the skip into a failure.

func requirePeer(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("TICKBENCH_REQUIRE_PEERS") == "1" {
		t.Fatalf("%s (TICKBENCH_REQUIRE_PEERS=1)", why)
	}
	t.Skip(why)
}

// freePort returns a loopback port that was free a moment ago (the peer
// binds it itself).
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// centrifugoBinary finds centrifugo on PATH or in $(go env GOPATH)/bin,
// where `go install github.com/centrifugal/centrifugo/v6@v6.9.1` puts it.
func centrifugoBinary(t *testing.T) string {
	if p, err := exec.LookPath("centrifugo"); err == nil {
		return p
	}
	out, err := exec.Command("go", "env", "GOPATH").Output()
	if err == nil {
		p := filepath.Join(strings.TrimSpace(string(out)), "bin", "centrifugo")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	requirePeer(t, "centrifugo not installed: go install github.com/centrifugal/centrifugo/v6@v6.9.1")
	return ""
}

// TestCentrifugoTarget runs tickbench's broadcast against a real Centrifugo
// with each of the two configs the benchmarks use: every client connects
// and subscribes, every publish is acknowledged and delivered to everyone.
func TestCentrifugoTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Centrifugo")
	}
	bin := centrifugoBinary(t)
	for _, cfg := range []string{"nohistory", "history"} {
		t.Run(cfg, func(t *testing.T) {
			conf, _ := filepath.Abs(filepath.Join("centrifugo", cfg+".json"))
			port := freePort(t)
			url := "http://127.0.0.1:" + port
			r := runJSON(t, "-target", "centrifugo", "-url", url, "-scenario", "broadcast", "-n", "10", "-rate", "40",
				"-duration", "1s", "-settle-quiet", "1", "-drain", "5s",
				"-server", bin+" -c "+conf+" -p {port} --http_server.address 127.0.0.1")
			if r.Connected != 10 || r.Sent == 0 || r.Acked != r.Sent || r.PubErrors != 0 {
				t.Fatalf("connected %d sent %d acked %d errors %d (%s)", r.Connected, r.Sent, r.Acked, r.PubErrors, r.PubError)
			}
			if r.Delivered != r.Sent*10 || r.Dropped != 0 || r.Latency == nil || r.ServerCPUSec < 0 {
				t.Fatalf("sent %d delivered %d dropped %d latency %+v", r.Sent, r.Delivered, r.Dropped, r.Latency)
			}
		})
	}
}

// TestSocketIOTarget does the same against the Socket.IO chat server.
func TestSocketIOTarget(t *testing.T) {
	if testing.Short() {
		t.Skip("starts node")
	}
	node, err := exec.LookPath("node")
	if err != nil {
		requirePeer(t, "node not installed")
	}
	if _, err := os.Stat(filepath.Join("socketio", "node_modules", "socket.io")); err != nil {
		requirePeer(t, "socket.io not installed: (cd cmd/tickbench/socketio && npm ci)")
	}
	dir, _ := filepath.Abs("socketio")
	port := freePort(t)
	r := runJSON(t, "-target", "socketio", "-url", "http://127.0.0.1:"+port, "-scenario", "broadcast", "-n", "10", "-rate", "40",
		"-duration", "1s", "-settle-quiet", "1", "-drain", "5s",
		"-server", node+" "+filepath.Join(dir, "server.js")+" {port}")
	if r.Connected != 10 || r.Sent == 0 || r.Delivered != r.Sent*10 || r.Dropped != 0 {
		t.Fatalf("connected %d sent %d delivered %d dropped %d", r.Connected, r.Sent, r.Delivered, r.Dropped)
	}
}

// TestServerCommand checks -server's failure modes: a command that exits
// at once is reported with its output, and a fresh directory replaces
// {data}.
func TestServerCommand(t *testing.T) {
	port := freePort(t)
	o := &options{url: "http://127.0.0.1:" + port, target: "socketio", server: "sh -c exit_3_now"}
	s, err := newServerCmd(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := s.start(ctx); err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("err %v", err)
	}
	if _, err := newServerCmd(&options{url: "http://127.0.0.1", server: "x"}, nil); err == nil {
		t.Fatal("a -url without a port was accepted")
	}
	o.server = "sh -c {data}/none"
	if _, err := s.start(ctx); err == nil {
		t.Fatal("started")
	}
}
