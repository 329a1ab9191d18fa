package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/internal/natsbus"
)

// liveWait bounds how long live chat may pause on a bus after kill -9 of
// the CHAT leader: the Raft election (4–9 s, see docs/deploy.md) plus the
// consumer's recovery.
const liveWait = 30 * time.Second

// liveRecorder collects what a live subscription delivered, and when.
type liveRecorder struct {
	mu   sync.Mutex
	seen map[string]liveArrival // payload → arrival
}

type liveArrival struct {
	seq uint64
	at  time.Time
}

func (r *liveRecorder) add(m natsbus.Msg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.seen[string(m.Data)] = liveArrival{m.Seq, time.Now()}
}

func (r *liveRecorder) has(data string) (liveArrival, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.seen[data]
	return a, ok
}

// TestDeployLiveAfterNATSKill is the focused form of the failure
// TestDeployComposeShapeAsProcesses once hit: after kill -9 of the NATS
// node leading CHAT, chat published through one gateway's bus never
// reached the live subscriptions of the other. Two buses (like two
// gateways) each hold live chat subscriptions; each run kills the CHAT
// leader with SIGKILL, publishes through one bus until acknowledged, and
// requires every subscription on both buses to deliver it within liveWait;
// then the node is restarted and the next run begins
// (TICKROOM_LIVE_FAILOVER_RUNS, default 3).
//
//	go test ./cmd/tickroom -run TestDeployLiveAfterNATSKill -v
func TestDeployLiveAfterNATSKill(t *testing.T) {
	runs := 3
	if v, err := strconv.Atoi(os.Getenv("TICKROOM_LIVE_FAILOVER_RUNS")); err == nil && v > 0 {
		runs = v
	}
	c := newProcessCluster(t)
	for i := range c.nodes {
		c.start(i)
	}
	c.healthy(30 * time.Second)

	level := slog.LevelWarn
	if os.Getenv("TICKROOM_LIVE_FAILOVER_DEBUG") == "1" {
		level = slog.LevelDebug
	}
	w := &tlogWriter{t: t}
	t.Cleanup(w.stop)
	logger := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level}))

	connect := func(name string) *natsbus.Bus {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		bus, err := natsbus.Connect(ctx, natsbus.Config{
			URLs: []string{c.urls("gateway", devGatewayPassword)}, Replicas: 3, Name: name, Logger: logger.With("bus", name),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(bus.Close)
		eventually2(t, name+" ready", 30*time.Second, func() error {
			if !bus.Ready() {
				return errors.New(bus.Status())
			}
			return nil
		})
		return bus
	}
	buses := []*natsbus.Bus{connect("gw-a"), connect("gw-b")}

	// Several subscriptions per bus, so their consumers land on different
	// nodes: some on the leader that dies, some elsewhere.
	type liveSub struct {
		name string
		rec  *liveRecorder
	}
	var subs []liveSub
	for _, b := range buses {
		for _, pattern := range []string{"chat.lobby", "chat.*", "chat.>"} {
			rec := &liveRecorder{seen: map[string]liveArrival{}}
			s, err := b.SubscribeLive(pattern, rec.add)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = s.Unsubscribe() })
			subs = append(subs, liveSub{name: b.Conn().Opts.Name + " " + pattern, rec: rec})
		}
	}

	admin, err := nats.Connect(c.urls("gateway", devGatewayPassword), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	js, _ := jetstream.New(admin)

	waitAll := func(data string, seq uint64, t0 time.Time) []time.Duration {
		t.Helper()
		var took []time.Duration
		for _, s := range subs {
			deadline := time.Now().Add(liveWait)
			for {
				if got, ok := s.rec.has(data); ok {
					if got.seq != seq {
						t.Fatalf("%s: %s with seq %d, acknowledged %d", s.name, data, got.seq, seq)
					}
					took = append(took, got.at.Sub(t0))
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: %s (seq %d) not delivered live within %v; consumers %s", s.name, data, seq, liveWait, consumerPlaces(js))
				}
				time.Sleep(20 * time.Millisecond)
			}
		}
		return took
	}
	publish := func(b *natsbus.Bus, data string, d time.Duration) uint64 {
		t.Helper()
		deadline := time.Now().Add(d)
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			seq, _, err := b.PublishDurable(ctx, "chat.lobby", []byte(data), data)
			cancel()
			if err == nil {
				return seq
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %s not acknowledged within %v: %v", data, d, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	var worst []time.Duration
	for run := range runs {
		warm := fmt.Sprintf(`{"text":"warm-%d"}`, run)
		waitAll(warm, publish(buses[0], warm, 30*time.Second), time.Now())

		leader := chatLeader(t, js)
		var placed []string
		for _, b := range buses {
			placed = append(placed, b.Conn().Opts.Name+"@"+b.Conn().ConnectedServerName())
		}
		t.Logf("run %d: CHAT leader %s; buses %v; consumers %s", run+1, leader, placed, consumerPlaces(js))
		killed := time.Now()
		c.nodes[c.index(leader)].proc.kill9(t)

		from := buses[run%2]
		after := fmt.Sprintf(`{"text":"after-%d"}`, run)
		seq := publish(from, after, 60*time.Second)
		acked := time.Since(killed)
		took := waitAll(after, seq, killed)
		slices.Sort(took)
		worst = append(worst, took[len(took)-1])
		t.Logf("run %d: acked %v after the kill; delivered live to all %d subscriptions %v–%v after it",
			run+1, acked.Round(time.Millisecond), len(subs), took[0].Round(time.Millisecond), took[len(took)-1].Round(time.Millisecond))

		c.start(c.index(leader))
		c.healthy(60 * time.Second)
	}
	slices.Sort(worst)
	t.Logf("live delivery after kill -9 of the CHAT leader, %d runs: slowest subscription %v–%v after the kill",
		runs, worst[0].Round(time.Millisecond), worst[len(worst)-1].Round(time.Millisecond))
}

// consumerPlaces lists CHAT's consumers as name@node, for the log.
func consumerPlaces(js jetstream.JetStream) string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, "CHAT")
	if err != nil {
		return err.Error()
	}
	var out []string
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		where := "?"
		if ci.Cluster != nil {
			where = ci.Cluster.Leader
		}
		out = append(out, ci.Name+"@"+where)
	}
	if err := l.Err(); err != nil {
		out = append(out, err.Error())
	}
	return strings.Join(out, " ")
}
