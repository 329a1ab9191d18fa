package main

// The scaled-out shape of DESIGN.md on one machine: three nats-server nodes
// clustered by routes with JetStream (streams R3), two stateless gateways
// (gw-1, gw-2) on that cluster exactly as `tickroom gateway -nats a,b,c
// -replicas 3` runs them, and the simulated producers on their own NATS
// connection, as `tickroom feed …` processes would be. Everything runs
// in-process on loopback ports; every wait is bounded.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/tickroom/tickroom/feeds/cli"
	"github.com/tickroom/tickroom/feeds/market"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// failoverWait bounds waits that span a NATS failure: a reconnect, a Raft
// leader election, an ordered consumer noticing its server died (nats.go
// resets it after missed idle heartbeats, ~5-10s). Never reached when it
// works; the measured recovery time is logged.
const failoverWait = 45 * time.Second

type testCluster struct {
	t      *testing.T
	nats   []*natsbus.Server
	urls   []string // client URLs, in node order
	gws    []*Node  // gw-1, gw-2
	feedNC *nats.Conn
}

// startTestCluster starts the three NATS nodes, waits for the JetStream
// meta leader, starts gw-1 and gw-2 and waits until both are ready, then
// starts the producers (market, analytics, alerts) on their own connection.
func startTestCluster(t *testing.T) *testCluster {
	t.Helper()
	c := &testCluster{t: t}
	c.nats = startNATSCluster(t, 3)
	for _, s := range c.nats {
		c.urls = append(c.urls, s.ClientURL())
	}
	eventually2(t, "JetStream meta leader", 30*time.Second, func() error {
		for i, s := range c.nats {
			if !s.JetStreamClusterReady() {
				return fmt.Errorf("nats-%d: no meta leader yet (routes %d)", i+1, s.NumRoutes())
			}
		}
		return nil
	})
	for i := range 2 {
		cfg := testConfig(t)
		cfg.NATSURLs = c.urls
		cfg.Replicas = 3
		cfg.Feeds = false
		cfg.Node = "gw-" + strconv.Itoa(i+1)
		cfg.Limits.ChatRate, cfg.Limits.ChatBurst = 1000, 1000 // bursts are the point here
		c.gws = append(c.gws, startNode(t, cfg))
	}
	for _, n := range c.gws {
		eventually2(t, n.cfg.Node+" /readyz", 30*time.Second, func() error {
			if status, body := httpGet(t, n.URL()+"/readyz"); status != http.StatusOK {
				return fmt.Errorf("HTTP %d %s", status, strings.TrimSpace(string(body)))
			}
			return nil
		})
	}
	c.startFeeds()
	return c
}

// startNATSCluster starts n nodes on loopback, each routing to all of them
// (a node skips the route to itself), with its own ServerName and store.
// Route ports must be known before any node starts, so they are picked
// free up front; if one was taken in between, the whole start is retried.
func startNATSCluster(t *testing.T, n int) []*natsbus.Server {
	t.Helper()
	var lastErr error
	for range 3 {
		ports := make([]int, n)
		routes := make([]string, n)
		for i := range ports {
			ports[i] = freeLoopbackPort(t)
			routes[i] = "nats-route://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i]))
		}
		var nodes []*natsbus.Server
		lastErr = nil
		for i := range n {
			s, err := natsbus.StartServer(natsbus.ServerConfig{
				DataDir:       t.TempDir(),
				Listen:        "127.0.0.1:0",
				ServerName:    "nats-" + strconv.Itoa(i+1),
				ClusterName:   "tickroom-test",
				ClusterListen: net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[i])),
				Routes:        routes,
				MaxMemory:     64 << 20,
				MaxStore:      512 << 20,
			})
			if err != nil {
				lastErr = err
				break
			}
			nodes = append(nodes, s)
		}
		if lastErr == nil {
			for _, s := range nodes {
				t.Cleanup(s.Shutdown) // idempotent: tests may kill a node first
			}
			return nodes
		}
		for _, s := range nodes {
			s.Shutdown()
		}
	}
	t.Fatalf("NATS cluster: %v", lastErr)
	return nil
}

func freeLoopbackPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startFeeds runs market (3 symbols, 25 ticks/s each), analytics and
// alerts on a connection to all three nodes, like the compose services.
func (c *testCluster) startFeeds() {
	t := c.t
	nc, err := nats.Connect(strings.Join(c.urls, ","), nats.Name("tickroom-test-feeds"),
		nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("feeds: connect: %v", err)
	}
	syms, err := cli.ParseSymbols("AAPL,MSFT,NVDA")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- cli.RunWith(ctx, nc, cli.Options{
			Market: market.Config{Seed: 42, Symbols: syms, Rate: 25},
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		})
	}()
	c.feedNC = nc
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Errorf("feeds: %v", err)
			}
		case <-time.After(waitFor):
			t.Errorf("feeds still running %s after cancel", waitFor)
		}
		nc.Close()
	})
}

// eventually2 is eventually with its own bound.
func eventually2(t *testing.T, what string, d time.Duration, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(d)
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, d, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// tryRequest sends req with a fresh id and waits up to d for its reply,
// keeping the events that arrive meanwhile for next/waitEvent. Unlike
// request it returns an error instead of failing the test.
func (c *wsClient) tryRequest(req map[string]any, d time.Duration) (msg, error) {
	c.t.Helper()
	c.nextID++
	rawID := strconv.Itoa(c.nextID)
	req["id"] = c.nextID
	c.send(req)
	var skipped []msg
	defer func() { c.backlog = append(skipped, c.backlog...) }()
	deadline := time.Now().Add(d)
	for {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			return msg{}, err
		}
		if m.isReply() && string(m.ID) == rawID {
			return m, nil
		}
		skipped = append(skipped, m)
	}
}

// publishRetry publishes like a client library does across a failure:
// the same msgid again after a failed or missing ack, until one succeeds.
func (c *wsClient) publishRetry(channel, text, msgid string, d time.Duration) (seq uint64, tries int) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		tries++
		r, err := c.tryRequest(map[string]any{
			"op": "publish", "channel": channel, "msgid": msgid, "data": map[string]any{"text": text},
		}, 2*waitFor)
		switch {
		case err != nil:
			c.t.Fatalf("%s: publish %s: %v", c.name, msgid, err) // the connection itself broke
		case *r.OK && r.Seq > 0:
			return r.Seq, tries
		case r.errCode() != protocol.CodeUnavailable && r.errCode() != protocol.CodeInternal:
			c.t.Fatalf("%s: publish %s: %s", c.name, msgid, r.Raw)
		}
		last = string(r.Raw)
		time.Sleep(100 * time.Millisecond)
	}
	c.t.Fatalf("%s: publish %s not acknowledged within %s; last reply %s", c.name, msgid, d, last)
	return 0, tries
}

func (c *wsClient) presence(channel string) []string {
	c.t.Helper()
	r := c.mustOK(c.request(map[string]any{"op": "presence", "channel": channel}))
	return r.Users
}

// waitChat waits for the chat event with msgid on channel.
func (c *wsClient) waitChat(channel, msgid string) msg {
	c.t.Helper()
	return c.waitEvent("chat "+msgid, func(m msg) bool {
		return m.Event == "chat" && m.Channel == channel && m.chat(c.t).MsgID == msgid
	})
}

// A client on gw-1 and a client on gw-2 see each other: a token issued by
// gw-1 works on gw-2, joins cross gateways, presence lists both from
// either side, and chat flows both ways with one seq numbering.
func TestClusterChatAcrossGateways(t *testing.T) {
	c := startTestCluster(t)
	gw1, gw2 := c.gws[0], c.gws[1]
	tokAna, _ := signIn(t, gw1, "ana")
	tokBob, _ := signIn(t, gw1, "bob") // issued by gw-1, used on gw-2

	ana := dial(t, gw1, "ana@gw-1", dialOpts{token: tokAna})
	if w := ana.welcome(); w.User != "ana" || w.Node != "gw-1" {
		t.Fatalf("ana's welcome %+v, want ana on gw-1", w)
	}
	bob := dial(t, gw2, "bob@gw-2", dialOpts{token: tokBob})
	if w := bob.welcome(); w.User != "bob" || w.Node != "gw-2" {
		t.Fatalf("bob's welcome %+v: gw-2 must accept gw-1's dev token", w)
	}

	ana.subscribe("chat.lobby")
	bob.subscribe("chat.lobby")
	ana.waitEvent("bob's join from gw-2", func(m msg) bool {
		return m.Event == protocol.EventJoin && m.Channel == "chat.lobby" && strings.Contains(string(m.Data), `"bob"`)
	})

	for _, cl := range []*wsClient{ana, bob} {
		d := eventually2(t, cl.name+" presence", waitFor, func() error {
			if users := cl.presence("chat.lobby"); !slices.Equal(users, []string{"ana", "bob"}) {
				return fmt.Errorf("users %v", users)
			}
			return nil
		})
		t.Logf("%s: presence lists both after %s", cl.name, d.Round(time.Millisecond))
	}

	s1 := ana.publish("chat.lobby", "hi from gw-1", "ana-1")
	s2 := bob.publish("chat.lobby", "hi from gw-2", "bob-1")
	if s2 <= s1 {
		t.Fatalf("seqs %d then %d: one stream, one strictly increasing numbering", s1, s2)
	}
	for _, cl := range []*wsClient{ana, bob} {
		evs := cl.chatEventsUntil("chat.lobby", "bob-1")
		if got := seqsOf(t, evs); !slices.Equal(got, []uint64{s1, s2}) {
			t.Errorf("%s saw seqs %v, want [%d %d]", cl.name, got, s1, s2)
		}
		if u := evs[0].chat(t).User; u != "ana" {
			t.Errorf("%s: first message by %q, want ana", cl.name, u)
		}
	}

	bob.close()
	ana.waitEvent("bob's leave from gw-2", func(m msg) bool {
		return m.Event == protocol.EventLeave && m.Channel == "chat.lobby" && strings.Contains(string(m.Data), `"bob"`)
	})
}

// gw-1 is shut down mid-conversation. Its client reconnects to gw-2 and
// resumes with since=<last seq it saw>: every acknowledged message arrives
// exactly once, in order, including the burst published while it was away
// and its own publish whose ack it never read, which it retries with the
// same msgid and gets the same seq.
func TestClusterGatewayFailover(t *testing.T) {
	c := startTestCluster(t)
	gw1, gw2 := c.gws[0], c.gws[1]
	tokAna, _ := signIn(t, gw1, "ana")
	tokBob, _ := signIn(t, gw2, "bob")
	ana := dial(t, gw1, "ana@gw-1", dialOpts{token: tokAna})
	ana.welcome()
	bob := dial(t, gw2, "bob@gw-2", dialOpts{token: tokBob})
	bob.welcome()
	ana.subscribe("chat.room")
	bob.subscribe("chat.room")

	// A conversation; ana reads it up to bob-3.
	var acked []uint64
	for i := 1; i <= 3; i++ {
		acked = append(acked, ana.publish("chat.room", "a"+strconv.Itoa(i), "ana-"+strconv.Itoa(i)))
		acked = append(acked, bob.publish("chat.room", "b"+strconv.Itoa(i), "bob-"+strconv.Itoa(i)))
	}
	seen := seqsOf(t, ana.chatEventsUntil("chat.room", "bob-3"))
	if !slices.Equal(seen, acked) {
		t.Fatalf("ana saw %v, want %v", seen, acked)
	}
	lastSeen := seen[len(seen)-1]

	// ana publishes; gw-1 stores it (bob sees it) but ana never reads the
	// ack: gw-1 goes away first.
	ana.send(map[string]any{"op": "publish", "id": "pending", "channel": "chat.room",
		"msgid": "ana-pending", "data": map[string]any{"text": "did this arrive?"}})
	pendingSeq := bob.waitChat("chat.room", "ana-pending").Seq

	down := time.Now()
	shutdownNode(t, gw1)
	if code := ana.closeCode(); code != protocol.CloseGoingAway {
		t.Errorf("ana's close code %d on gateway shutdown, want %d", code, protocol.CloseGoingAway)
	}
	t.Logf("gw-1 shut down in %s", time.Since(down).Round(time.Millisecond))

	// While ana is away: a burst from bob, all acknowledged.
	const burst = 25
	want := []uint64{pendingSeq}
	for i := range burst {
		want = append(want, bob.publish("chat.room", "burst "+strconv.Itoa(i), "bob-burst-"+strconv.Itoa(i)))
	}

	// ana comes back, through the load balancer, on gw-2.
	resume := time.Now()
	ana2 := dial(t, gw2, "ana@gw-2", dialOpts{token: tokAna})
	if w := ana2.welcome(); w.User != "ana" || w.Node != "gw-2" {
		t.Fatalf("ana's new welcome %+v", w)
	}
	ana2.subscribe("chat.room", lastSeen)
	// The retry of the unacknowledged publish: stored once, same seq.
	if seq, _ := ana2.publishRetry("chat.room", "did this arrive?", "ana-pending", waitFor); seq != pendingSeq {
		t.Fatalf("retried msgid ana-pending acked with seq %d, want the original %d", seq, pendingSeq)
	}
	want = append(want, bob.publish("chat.room", "welcome back", "bob-end"))
	got := ana2.chatEventsUntil("chat.room", "bob-end")
	t.Logf("ana resumed on gw-2 in %s: %d messages replayed and live", time.Since(resume).Round(time.Millisecond), len(got))
	if seqs := seqsOf(t, got); !slices.Equal(seqs, want) {
		t.Fatalf("after resume ana saw seqs %v,\nwant exactly %v (every acknowledged message once, in order)", seqs, want)
	}
	// Nothing else follows: a ping's reply comes before any straggler.
	ana2.ping()
	for _, m := range ana2.backlog {
		if m.Event == "chat" {
			t.Errorf("unexpected chat event after the sentinel: %s", m.Raw)
		}
	}
	if users := bob.presence("chat.room"); !slices.Equal(users, []string{"ana", "bob"}) {
		t.Errorf("presence after failover %v, want [ana bob]", users)
	}
}

// One NATS node is shut down: the one leading the CHAT stream, so chat
// needs a leader election, and one or both gateways need a reconnect. Chat
// keeps being acknowledged and delivered across gateways; ticks keep
// flowing on both gateways.
func TestClusterNATSNodeLoss(t *testing.T) {
	c := startTestCluster(t)
	gw1, gw2 := c.gws[0], c.gws[1]
	ana := dial(t, gw1, "ana@gw-1", dialOpts{token: first(signIn(t, gw1, "ana"))})
	ana.welcome()
	bob := dial(t, gw2, "bob@gw-2", dialOpts{token: first(signIn(t, gw2, "bob"))})
	bob.welcome()
	ana.subscribe("chat.lobby")
	bob.subscribe("chat.lobby")
	var tickers []*wsClient
	for _, gw := range c.gws {
		tk := dial(t, gw, "ticks@"+gw.cfg.Node, dialOpts{})
		tk.welcome()
		tk.subscribe("market.*")
		waitTickAfter(t, tk, time.Now(), waitFor)
		tickers = append(tickers, tk)
	}
	s0 := ana.publish("chat.lobby", "before", "ana-0")
	bob.waitChat("chat.lobby", "ana-0")

	victim := c.streamLeader("CHAT")
	t.Logf("shutting down %s (CHAT leader); gw-1 on %s, gw-2 on %s", c.nats[victim].ClientURL(),
		gw1.bus.Conn().ConnectedUrl(), gw2.bus.Conn().ConnectedUrl())
	killed := time.Now()
	c.nats[victim].Shutdown()
	seq, tries := ana.publishRetry("chat.lobby", "after", "ana-1", failoverWait)
	t.Logf("chat: first ack after the node loss in %s (%d tries)", time.Since(killed).Round(time.Millisecond), tries)
	if seq <= s0 {
		t.Fatalf("seq %d after the node loss, want > %d", seq, s0)
	}
	ev := waitChatWithin(t, bob, "chat.lobby", "ana-1", failoverWait)
	t.Logf("chat: delivered across gateways %s after the node loss", time.Since(killed).Round(time.Millisecond))
	if ev.Seq != seq {
		t.Fatalf("bob got ana-1 with seq %d, acked %d", ev.Seq, seq)
	}
	bseq, _ := bob.publishRetry("chat.lobby", "still here", "bob-1", failoverWait)
	if got := waitChatWithin(t, ana, "chat.lobby", "bob-1", failoverWait); got.Seq != bseq {
		t.Fatalf("ana got bob-1 with seq %d, acked %d", got.Seq, bseq)
	}
	t.Logf("chat: both directions delivered %s after the node loss", time.Since(killed).Round(time.Millisecond))

	for _, tk := range tickers {
		d := waitTickAfter(t, tk, killed, failoverWait)
		t.Logf("%s: receives ticks produced after the node loss (first one produced %s after it)", tk.name, d.Round(time.Millisecond))
	}
	for _, gw := range c.gws {
		eventually2(t, gw.cfg.Node+" /readyz after node loss", failoverWait, func() error {
			if status, body := httpGet(t, gw.URL()+"/readyz"); status != http.StatusOK {
				return fmt.Errorf("HTTP %d %s", status, body)
			}
			return nil
		})
	}
}

// Fan-in: 50 clients on one gateway subscribed to market.* cost that
// gateway one NATS subscription, and the NATS messages it receives per
// message produced do not grow with its clients.
func TestClusterFanIn(t *testing.T) {
	c := startTestCluster(t)
	gw := c.gws[0]

	one := dial(t, gw, "tick-0", dialOpts{})
	one.welcome()
	one.subscribe("market.*")
	waitTickAfter(t, one, time.Now(), waitFor)
	ratio1 := c.inPerProduced(gw, 150)

	clients := []*wsClient{one}
	for i := 1; i < 50; i++ {
		cl := dial(t, gw, "tick-"+strconv.Itoa(i), dialOpts{})
		cl.welcome()
		cl.subscribe("market.*")
		clients = append(clients, cl)
	}
	if got := metricValue(t, gw, "tickroom_nats_subscriptions"); got != 1 {
		t.Errorf("tickroom_nats_subscriptions = %d with 50 clients on market.*, want 1", got)
	}
	if got := metricValue(t, gw, "tickroom_subscriptions"); got != 50 {
		t.Errorf("tickroom_subscriptions = %d, want 50", got)
	}
	from := time.Now()
	for _, cl := range clients {
		waitTickAfter(t, cl, from, waitFor)
	}
	ratio50 := c.inPerProduced(gw, 150)
	t.Logf("NATS messages received by the gateway per message produced: %.3f with 1 client, %.3f with 50", ratio1, ratio50)
	if ratio50 > 1.5*ratio1+0.05 {
		t.Errorf("gateway NATS intake grew with its clients: %.3f → %.3f per produced message", ratio1, ratio50)
	}
	if got := metricValue(t, c.gws[1], "tickroom_nats_subscriptions"); got > 0 {
		t.Errorf("gw-2, without clients, holds %d NATS subscriptions for channels", got)
	}
	for _, cl := range clients {
		cl.close() // before their buffers fill with ticks
	}
}

// inPerProduced measures, over the next n messages the producers publish,
// how many messages gw's NATS connection receives per produced message.
func (c *testCluster) inPerProduced(gw *Node, n uint64) float64 {
	c.t.Helper()
	in0, out0 := gw.bus.Conn().Stats().InMsgs, c.feedNC.Stats().OutMsgs
	eventually2(c.t, "producers publishing", waitFor, func() error {
		if d := c.feedNC.Stats().OutMsgs - out0; d < n {
			return fmt.Errorf("%d of %d", d, n)
		}
		return nil
	})
	in, out := gw.bus.Conn().Stats().InMsgs-in0, c.feedNC.Stats().OutMsgs-out0
	return float64(in) / float64(out)
}

// streamLeader returns the index of the node leading stream.
func (c *testCluster) streamLeader(stream string) int {
	c.t.Helper()
	js, err := jetstream.New(c.feedNC)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	st, err := js.Stream(ctx, stream)
	if err != nil {
		c.t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := st.Info(ctx)
	if err != nil || info.Cluster == nil {
		c.t.Fatalf("stream %s info: %v", stream, err)
	}
	if info.Config.Replicas != 3 || len(info.Cluster.Replicas) != 2 {
		c.t.Fatalf("stream %s: %d replicas configured, %d peers besides the leader; want R3", stream, info.Config.Replicas, len(info.Cluster.Replicas))
	}
	for i := range c.nats {
		if "nats-"+strconv.Itoa(i+1) == info.Cluster.Leader {
			return i
		}
	}
	c.t.Fatalf("stream %s: leader %q is not a test node", stream, info.Cluster.Leader)
	return -1
}

// waitTickAfter waits for a market event whose producer time is after t0
// and returns how long after t0 it was produced (not when it was read: the
// client may have been busy with something else meanwhile).
func waitTickAfter(t *testing.T, c *wsClient, t0 time.Time, d time.Duration) time.Duration {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: no tick produced after %s: %v", c.name, t0.Format(time.RFC3339Nano), err)
		}
		if m.Event != "market" {
			continue
		}
		var tick struct {
			Time time.Time `json:"time"`
		}
		if err := json.Unmarshal(m.Data, &tick); err != nil {
			t.Fatalf("%s: tick %s: %v", c.name, m.Raw, err)
		}
		if tick.Time.After(t0) {
			return tick.Time.Sub(t0)
		}
	}
}

func waitChatWithin(t *testing.T, c *wsClient, channel, msgid string, d time.Duration) msg {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: waiting for chat %s: %v", c.name, msgid, err)
		}
		if m.Event == "chat" && m.Channel == channel && m.chat(t).MsgID == msgid {
			return m
		}
	}
}

func first[A, B any](a A, _ B) A { return a }
