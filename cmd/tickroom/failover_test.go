package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/natsbus"
)

// failoverBound is what issue 11 asks for: publishes acknowledged again
// within this long after kill -9 of the node leading CHAT.
const failoverBound = 2 * time.Second

// TestDeployNATSFailover kills the CHAT leader of a 3-process nats-server
// cluster with SIGKILL, measures how long until a chat publish through the
// gateway's bus is acknowledged again, restarts the node, and repeats
// (TICKROOM_FAILOVER_RUNS times, default 3). Every run's figure is logged;
// docs/deploy.md quotes them.
//
//	go test ./cmd/tickroom -run TestDeployNATSFailover -v
func TestDeployNATSFailover(t *testing.T) {
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("TICKROOM_FAILOVER_RUNS")); err == nil && v > 0 {
		runs = v
	}
	c := newProcessCluster(t)
	for i := range c.nodes {
		c.start(i)
	}
	c.healthy(30 * time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bus, err := natsbus.Connect(ctx, natsbus.Config{
		URLs: []string{c.urls("gateway", devGatewayPassword)}, Replicas: 3, Name: "failover-test", Logger: testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer bus.Close()
	eventually2(t, "bus ready", 30*time.Second, func() error {
		if !bus.Ready() {
			return errors.New(bus.Status())
		}
		return nil
	})
	admin, err := nats.Connect(c.urls("gateway", devGatewayPassword), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	js, _ := jetstream.New(admin)

	var took []time.Duration
	for run := range runs {
		publishAcked(t, bus, fmt.Sprintf("warm-%d", run), 30*time.Second)
		leader := chatLeader(t, js)
		victim := c.index(leader)
		killed := time.Now()
		c.nodes[victim].proc.kill9(t)
		d, attempts := timeToAck(t, bus, fmt.Sprintf("after-%d", run), killed, 60*time.Second)
		took = append(took, d)
		t.Logf("run %d: killed %s (CHAT leader): first ack %v later; attempts %v", run+1, leader, d.Round(time.Millisecond), attempts)
		c.start(victim)
		c.healthy(60 * time.Second)
	}
	slices.Sort(took)
	t.Logf("failover after kill -9 of the CHAT leader, %d runs: min %v, max %v", runs, took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))
	if os.Getenv("TICKROOM_FAILOVER_STRICT") == "1" && took[len(took)-1] > failoverBound {
		t.Fatalf("slowest failover %v, bound %v", took[len(took)-1], failoverBound)
	}
}

func chatLeader(t *testing.T, js jetstream.JetStream) string {
	t.Helper()
	var leader string
	eventually2(t, "CHAT leader", 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		st, err := js.Stream(ctx, "CHAT")
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		if info.Cluster == nil || info.Cluster.Leader == "" || len(info.Cluster.Replicas) != 2 {
			return fmt.Errorf("cluster info %+v", info.Cluster)
		}
		for _, r := range info.Cluster.Replicas {
			if !r.Current || r.Offline {
				return fmt.Errorf("replica %s not current", r.Name)
			}
		}
		leader = info.Cluster.Leader
		return nil
	})
	return leader
}

func publishAcked(t *testing.T, bus *natsbus.Bus, id string, d time.Duration) {
	t.Helper()
	if _, attempts := timeToAck(t, bus, id, time.Now(), d); len(attempts) > 20 {
		t.Logf("warm-up publish needed %d attempts", len(attempts))
	}
}

// timeToAck publishes the same msgid as a client's outbox would (the
// gateway gives each attempt 5s), until acknowledged; it returns the time
// since t0 and a summary of each failed attempt.
func timeToAck(t *testing.T, bus *natsbus.Bus, msgid string, t0 time.Time, d time.Duration) (time.Duration, []string) {
	t.Helper()
	var attempts []string
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, _, err := bus.PublishDurable(ctx, "chat.lobby", []byte(`{"text":"x"}`), msgid)
		cancel()
		if err == nil {
			return time.Since(t0), attempts
		}
		attempts = append(attempts, fmt.Sprintf("%v after %v", shortErr(err), time.Since(start).Round(time.Millisecond)))
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("publish %s not acknowledged within %v: %v", msgid, d, attempts)
	return 0, nil
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}
