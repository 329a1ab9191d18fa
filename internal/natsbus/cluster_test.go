package natsbus

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// startCluster starts n clustered nodes on loopback, each routing to all
// (itself included, which nats-server skips). Route ports are picked free
// up front because every node must know them all before it starts; if one
// was taken in between, the whole cluster is retried.
func startCluster(t *testing.T, n int) []*Server {
	t.Helper()
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		routes := make([]string, n)
		ports := make([]int, n)
		for i := range n {
			ports[i] = freePort(t)
			routes[i] = "nats-route://" + hostPort(ports[i])
		}
		var nodes []*Server
		lastErr = nil
		for i := range n {
			s, err := StartServer(ServerConfig{
				DataDir: t.TempDir(), Listen: "127.0.0.1:0", ServerName: fmt.Sprintf("n%d", i+1),
				ClusterName: "tickroom-test", ClusterListen: hostPort(ports[i]), Routes: routes,
				MaxMemory: 64 << 20, MaxStore: 256 << 20,
			})
			if err != nil {
				lastErr = err
				break
			}
			nodes = append(nodes, s)
		}
		if lastErr == nil {
			for _, s := range nodes {
				t.Cleanup(s.Shutdown)
			}
			return nodes
		}
		for _, s := range nodes {
			s.Shutdown()
		}
	}
	t.Fatalf("start cluster: %v", lastErr)
	return nil
}

func TestClusterConfigErrors(t *testing.T) {
	dir := t.TempDir()
	for name, cfg := range map[string]ServerConfig{
		"routes without name": {DataDir: dir, Listen: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:1"}},
		"no server name":      {DataDir: dir, Listen: "127.0.0.1:0", ClusterName: "c", ClusterListen: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:1"}},
		"dont listen":         {DataDir: dir, ServerName: "a", ClusterName: "c", ClusterListen: "127.0.0.1:0", Routes: []string{"nats-route://127.0.0.1:1"}},
		"no routes":           {DataDir: dir, Listen: "127.0.0.1:0", ServerName: "a", ClusterName: "c", ClusterListen: "127.0.0.1:0"},
		"bad route":           {DataDir: dir, Listen: "127.0.0.1:0", ServerName: "a", ClusterName: "c", ClusterListen: "127.0.0.1:0", Routes: []string{"http://x:1"}},
		"bad cluster listen":  {DataDir: dir, Listen: "127.0.0.1:0", ServerName: "a", ClusterName: "c", ClusterListen: "nope", Routes: []string{"nats-route://127.0.0.1:1"}},
	} {
		if s, err := StartServer(cfg); err == nil {
			s.Shutdown()
			t.Errorf("%s: StartServer succeeded", name)
		} else if !strings.Contains(err.Error(), "natsbus:") {
			t.Errorf("%s: error %v does not name the package", name, err)
		}
	}
}

// Three nodes form a JetStream cluster; a bus with Replicas 3 declares its
// streams (once there is a meta leader), publishes durably, and keeps
// publishing with the same sequence numbering after losing one node.
func TestClusterR3SurvivesANode(t *testing.T) {
	nodes := startCluster(t, 3)
	for _, s := range nodes {
		if !strings.HasPrefix(s.ClusterURL(), "nats-route://127.0.0.1:") {
			t.Fatalf("ClusterURL = %q", s.ClusterURL())
		}
	}
	checkFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		for i, s := range nodes {
			if s.NumRoutes() < 2 {
				return fmt.Errorf("node %d has %d routes", i+1, s.NumRoutes())
			}
			if !s.JetStreamClusterReady() {
				return fmt.Errorf("node %d: no JetStream meta leader yet", i+1)
			}
		}
		return nil
	})
	urls := []string{nodes[0].ClientURL(), nodes[1].ClientURL(), nodes[2].ClientURL()}
	b := connectTest(t, Config{URLs: urls, Replicas: 3})
	checkFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		if !b.Ready() {
			return errors.New(b.Status())
		}
		return nil
	})
	s1 := mustPublish(t, b, "chat.lobby", `{"text":"one"}`, "m1")

	// Lose the node the bus is connected to, if it is one of them: the
	// worst case for the client (reconnect) and for the stream (maybe its
	// leader).
	victim := 0
	for i, u := range urls {
		if b.Conn().ConnectedUrl() == u {
			victim = i
		}
	}
	nodes[victim].Shutdown()

	var s2 uint64
	checkFor(t, 30*time.Second, 100*time.Millisecond, func() error {
		seq, _, err := b.PublishDurable(ctxT(t), "chat.lobby", []byte(`{"text":"two"}`), "m2")
		if err != nil {
			return err
		}
		s2 = seq
		return nil
	})
	if s2 <= s1 {
		t.Fatalf("after losing a node: seq %d, want > %d", s2, s1)
	}
	got, _ := replayAll(t, b, "chat.lobby", 0)
	if fmt.Sprint(datas(got)) != `[{"text":"one"} {"text":"two"}]` {
		t.Fatalf("replay after node loss: %v (seqs %s)", datas(got), fmtSeq(got))
	}
}
