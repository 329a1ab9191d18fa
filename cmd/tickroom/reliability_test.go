package main

// Reliability end-to-end tests (issue 5): a client that stops reading hurts
// nobody else and is dropped; a client that vanishes without a close frame
// is cleaned up; a reconnect mid-burst delivers every message exactly once;
// a NATS outage under live sessions is reported and survived. Every wait is
// bounded; no assertion is about how fast something happened.

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// rawDial connects a WebSocket that nothing reads: no reader goroutine, so
// pings go unanswered and the socket's receive buffer fills. rcvBuf > 0
// shrinks the kernel receive buffer before connecting.
func rawDial(t *testing.T, n *Node, token string, rcvBuf int) *websocket.Conn {
	t.Helper()
	nd := &net.Dialer{Timeout: waitFor}
	if rcvBuf > 0 {
		nd.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			err := c.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, rcvBuf)
			})
			return errors.Join(err, serr)
		}
	}
	d := websocket.Dialer{NetDialContext: nd.DialContext, Subprotocols: []string{protocol.Subprotocol}, HandshakeTimeout: waitFor}
	u := wsURL(n)
	if token != "" {
		u += "?token=" + token
	}
	ws, resp, err := d.Dial(u, nil)
	if err != nil {
		t.Fatalf("raw dial: %v (HTTP %v)", err, statusOf(resp))
	}
	resp.Body.Close()
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func rawSend(t *testing.T, ws *websocket.Conn, v any) {
	t.Helper()
	b, _ := json.Marshal(v)
	_ = ws.SetWriteDeadline(time.Now().Add(waitFor))
	if err := ws.WriteMessage(websocket.TextMessage, b); err != nil {
		t.Fatalf("raw write: %v", err)
	}
}

// waitMetric polls /metrics until sample satisfies ok, for up to d.
func waitMetric(t *testing.T, n *Node, sample string, d time.Duration, ok func(int64) bool) int64 {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		v := metricValue(t, n, sample)
		if ok(v) {
			return v
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d after %s", sample, v, d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A client that stops reading while others chat and tick: the others get
// every chat message, in order; the stuck one is closed as a slow consumer
// (4000) and removed, so its queue stops growing; the server keeps serving.
func TestReliabilitySlowConsumer(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxFrameBytes = 16 << 10
	cfg.Limits.QueueBytes = 256 << 10
	n := startNode(t, cfg)
	nc := n.natsConnForTest()

	stuck := rawDial(t, n, "", 4096)
	rawSend(t, stuck, map[string]any{"op": "subscribe", "id": 1, "channel": "chat.room"})
	rawSend(t, stuck, map[string]any{"op": "subscribe", "id": 2, "channel": "market.*"})

	alice := dial(t, n, "alice", dialOpts{})
	alice.welcome()
	alice.subscribe("chat.room")
	alice.subscribe("market.*")
	waitMetric(t, n, "tickroom_subscriptions", waitFor, func(v int64) bool { return v == 4 })

	text := strings.Repeat("x", 3000)
	// A batch (~60 KB) fits a reading client's queue with room to spare;
	// up to ~24 MB in all is far beyond any socket buffer.
	const batch, maxMsgs = 20, 8000
	sent, tick := 0, 0.0
	for metricValue(t, n, "tickroom_slow_consumer_closes_total") < 1 {
		if sent >= maxMsgs {
			t.Fatalf("the stuck client was never closed as a slow consumer after %d messages of %d bytes", sent, len(text))
		}
		for range batch {
			data, _ := json.Marshal(map[string]string{"user": "bot", "text": text, "msgid": "m-" + strconv.Itoa(sent)})
			if err := nc.Publish("chat.room", data); err != nil {
				t.Fatal(err)
			}
			sent++
			tick++
			if err := nc.Publish("market.AAPL", fmt.Appendf(nil, `{"symbol":"AAPL","price":%g}`, 100+tick)); err != nil {
				t.Fatal(err)
			}
		}
		// Alice receives the whole batch, in order, while the other one is
		// stuck.
		want := sent - batch
		for want < sent {
			ev := alice.waitEvent("chat m-"+strconv.Itoa(want), func(m msg) bool { return m.Event == "chat" })
			if got := ev.chat(t).MsgID; got != "m-"+strconv.Itoa(want) {
				t.Fatalf("alice got chat %s, want m-%d (a message lost or reordered)", got, want)
			}
			want++
		}
	}
	t.Logf("stuck client closed as a slow consumer after %d messages", sent)
	// Removed from the hub: its subscriptions and queue are released.
	waitMetric(t, n, "tickroom_connections", 3*waitFor, func(v int64) bool { return v == 1 })
	waitMetric(t, n, "tickroom_subscriptions", waitFor, func(v int64) bool { return v == 2 })
	if v := metricValue(t, n, `tickroom_closes_total{code="4000"}`); v != 1 {
		t.Errorf(`closes_total{code="4000"} = %d, want 1`, v)
	}
	// The stuck client, reading at last, finds the buffered events and then
	// a 4000 close or a dropped socket, never more than the bound allowed.
	_ = stuck.SetReadDeadline(time.Now().Add(waitFor))
	for {
		_, _, err := stuck.ReadMessage()
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			// 1006: the socket was dropped without a close frame, which is
			// all a server can do for a peer that does not read.
			if ce.Code != protocol.CloseSlowConsumer && ce.Code != websocket.CloseAbnormalClosure {
				t.Errorf("stuck client closed with %d, want %d or dropped", ce.Code, protocol.CloseSlowConsumer)
			}
			t.Logf("stuck client: %v", err)
			break
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the stuck client's socket is still open after the close")
			}
			t.Logf("stuck client dropped without a close frame: %v", err)
			break
		}
	}
	// The others never noticed.
	alice.publish("chat.room", "still here", "a-1")
	alice.waitEvent("own chat", func(m msg) bool { return m.Event == "chat" && m.chat(t).MsgID == "a-1" })
}

// A client that vanishes without a close frame — its TCP connection closed,
// or half-open (never reads, never pongs) — leaves presence and the metrics
// within about two heartbeats.
func TestReliabilityVanishedPeer(t *testing.T) {
	const interval = 200 * time.Millisecond
	cfg := testConfig(t)
	cfg.HeartbeatInterval = interval
	n := startNode(t, cfg)

	tokAna, _ := signIn(t, n, "ana")
	ana := dial(t, n, "ana", dialOpts{token: tokAna})
	ana.welcome()
	ana.subscribe("chat.room")

	left := func(user string) func(msg) bool {
		return func(m msg) bool {
			if m.Event != "leave" || m.Channel != "chat.room" {
				return false
			}
			var d struct{ User string }
			_ = json.Unmarshal(m.Data, &d)
			return d.User == user
		}
	}
	presence := func() []string {
		r := ana.mustOK(ana.request(map[string]any{"op": "presence", "channel": "chat.room"}))
		return r.Users
	}
	gone := func(user string) {
		t.Helper()
		ana.waitEvent("leave of "+user, left(user))
		eventually(t, user+" gone from presence and metrics", func() error {
			if p := presence(); slices.Contains(p, user) {
				return fmt.Errorf("presence %v", p)
			}
			if v := metricValue(t, n, "tickroom_connections"); v != 1 {
				return fmt.Errorf("tickroom_connections %d", v)
			}
			if v := metricValue(t, n, "tickroom_subscriptions"); v != 1 {
				return fmt.Errorf("tickroom_subscriptions %d", v)
			}
			return nil
		})
	}

	t.Run("TCP closed without a close frame", func(t *testing.T) {
		tok, _ := signIn(t, n, "ghost")
		g := dial(t, n, "ghost", dialOpts{token: tok})
		g.welcome()
		g.subscribe("chat.room")
		eventually(t, "ghost present", func() error {
			if p := presence(); !slices.Contains(p, "ghost") {
				return fmt.Errorf("presence %v", p)
			}
			return nil
		})
		_ = g.ws.NetConn().Close() // no close frame
		gone("ghost")
	})

	t.Run("half-open: never reads, never pongs", func(t *testing.T) {
		tok, _ := signIn(t, n, "zombie")
		z := rawDial(t, n, tok, 0)
		rawSend(t, z, map[string]any{"op": "subscribe", "id": 1, "channel": "chat.room"})
		eventually(t, "zombie present", func() error {
			if p := presence(); !slices.Contains(p, "zombie") {
				return fmt.Errorf("presence %v", p)
			}
			return nil
		})
		gone("zombie") // the socket stays open on our side throughout
	})
	ana.ping()
}

// A client publishes a burst with msgids, loses its socket mid-way without
// reading the acks, reconnects and re-publishes everything unacknowledged
// with the same msgids: each message is stored exactly once, and each retry
// is acknowledged with the seq of the stored copy.
func TestReliabilityReconnectExactlyOnce(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.ChatRate = 10000
	cfg.Limits.ChatBurst = 10000
	n := startNode(t, cfg)
	tok, _ := signIn(t, n, "ana")
	const total, killAfter = 200, 120
	msgid := func(i int) string { return "burst-" + strconv.Itoa(i) }
	pub := func(i int) map[string]any {
		return map[string]any{"op": "publish", "id": i, "channel": "chat.burst", "msgid": msgid(i), "data": map[string]any{"text": "m" + strconv.Itoa(i)}}
	}

	first := dial(t, n, "first", dialOpts{token: tok})
	first.welcome()
	for i := range killAfter / 2 {
		first.send(pub(i))
	}
	first.waitReply(strconv.Itoa(killAfter / 4)) // some acks read, the rest not
	for i := killAfter / 2; i < killAfter; i++ {
		first.send(pub(i))
	}
	_ = first.ws.NetConn().Close() // mid-burst, no close frame, acks unread
	<-first.done
	acked := map[string]uint64{}
	for {
		m, err := first.nextWithin(0)
		if err != nil {
			break
		}
		if m.isReply() && *m.OK {
			i, _ := strconv.Atoi(string(m.ID))
			acked[msgid(i)] = m.Seq
		}
	}
	t.Logf("%d of %d sent publishes were acked before the socket died", len(acked), killAfter)

	reconnectAt := time.Now()
	second := dial(t, n, "second", dialOpts{token: tok})
	second.welcome()
	var retried []int
	for i := range total {
		if _, ok := acked[msgid(i)]; !ok {
			second.send(pub(i))
			retried = append(retried, i)
		}
	}
	for _, i := range retried {
		r := second.mustOK(second.waitReply(strconv.Itoa(i)))
		acked[msgid(i)] = r.Seq
	}
	second.publish("chat.burst", "end", "end")

	reader := dial(t, n, "reader", dialOpts{})
	reader.welcome()
	reader.subscribe("chat.burst", 0)
	seen := map[string]int{}
	retriedIDs := map[string]bool{}
	for _, i := range retried {
		retriedIDs[msgid(i)] = true
	}
	deduplicated := 0 // stored by the first connection, unacked, retried
	for _, ev := range reader.chatEventsUntil("chat.burst", "end") {
		d := ev.chat(t)
		seen[d.MsgID]++
		if at, err := time.Parse(time.RFC3339Nano, ev.Time); err == nil && retriedIDs[d.MsgID] && at.Before(reconnectAt) {
			deduplicated++
		}
		if want, ok := acked[d.MsgID]; ok && ev.Seq != want {
			t.Errorf("%s stored at seq %d but acked with %d", d.MsgID, ev.Seq, want)
		}
	}
	for i := range total {
		if c := seen[msgid(i)]; c != 1 {
			t.Errorf("%s stored %d times, want exactly once", msgid(i), c)
		}
	}
	t.Logf("%d retries were of messages stored before the socket died (acknowledged by deduplication)", deduplicated)
	if len(seen) != total+1 {
		t.Errorf("%d distinct messages, want %d", len(seen), total+1)
	}
}

// NATS killed and restarted under live sessions: /readyz and a status
// event say so, chat publishes are refused with unavailable (never a false
// ack); when NATS is back, the same subscriptions carry chat and ticks again
// without a resubscribe.
func TestReliabilityNATSOutage(t *testing.T) {
	startNATS := restartableNATS(t)
	ns := startNATS()
	// Cleanups run last-in first-out: the node (registered later) stops
	// before whichever NATS server is running then.
	t.Cleanup(func() { ns.Shutdown() })

	cfg := testConfig(t)
	cfg.NATSURLs = []string{ns.ClientURL()}
	n := startNode(t, cfg)

	producer, err := nats.Connect(ns.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(producer.Close)
	price := 100.0
	tick := func() {
		t.Helper()
		price++
		if err := producer.Publish("market.AAPL", fmt.Appendf(nil, `{"symbol":"AAPL","price":%g}`, price)); err != nil {
			t.Fatal(err)
		}
	}
	// waitTick ticks until c sees a tick newer than from (a tick published
	// while the producer or the gateway is still reconnecting may be lost:
	// ticks are droppable).
	waitTick := func(c *wsClient, from float64) {
		t.Helper()
		deadline := time.Now().Add(3 * waitFor)
		for {
			tick()
			m, err := c.nextWithin(200 * time.Millisecond)
			if err == nil && m.Event == "market" {
				var d struct{ Price float64 }
				_ = json.Unmarshal(m.Data, &d)
				if d.Price > from {
					return
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: no live tick after %s", c.name, 3*waitFor)
			}
		}
	}
	isStatus := func(feed string) func(msg) bool {
		return func(m msg) bool {
			if m.Event != protocol.EventStatus {
				return false
			}
			var d struct{ Feed string }
			_ = json.Unmarshal(m.Data, &d)
			return d.Feed == feed
		}
	}
	readyz := func() int {
		s, _ := httpGet(t, n.URL()+"/readyz")
		return s
	}

	tokA, _ := signIn(t, n, "ana")
	tokB, _ := signIn(t, n, "bob")
	ana := dial(t, n, "ana", dialOpts{token: tokA})
	bob := dial(t, n, "bob", dialOpts{token: tokB})
	ana.welcome()
	bob.welcome()
	ana.subscribe("chat.room")
	ana.subscribe("market.AAPL")
	bob.publish("chat.room", "before", "b-1")
	ana.waitEvent("chat before", func(m msg) bool { return m.Event == "chat" && m.chat(t).MsgID == "b-1" })
	waitTick(ana, 0)

	ns.Shutdown()
	eventually(t, "/readyz fails while NATS is down", func() error {
		if s := readyz(); s != http.StatusServiceUnavailable {
			return fmt.Errorf("/readyz %d", s)
		}
		return nil
	})
	if v := metricValue(t, n, "tickroom_nats_ready"); v != 0 {
		t.Errorf("tickroom_nats_ready %d while down", v)
	}
	ana.waitEvent("status unavailable", isStatus("unavailable"))
	bob.waitEvent("status unavailable", isStatus("unavailable"))
	r := bob.request(map[string]any{"op": "publish", "channel": "chat.room", "msgid": "b-lost", "data": map[string]any{"text": "lost"}})
	if *r.OK || r.errCode() != protocol.CodeUnavailable {
		t.Fatalf("publish while NATS is down: %s, want unavailable", r.Raw)
	}
	var lastPrice float64 = price
	if status, _ := httpGet(t, n.URL()+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz %d while NATS is down: the gateway must stay up", status)
	}

	ns = startNATS() // same port, same store
	eventually(t, "/readyz recovers", func() error {
		if s := readyz(); s != http.StatusOK {
			return fmt.Errorf("/readyz %d", s)
		}
		return nil
	})
	ana.waitEvent("status available", isStatus("available"))
	seq := bob.publish("chat.room", "after", "b-2")
	ev := ana.waitEvent("chat after", func(m msg) bool { return m.Event == "chat" && m.Channel == "chat.room" })
	if d := ev.chat(t); d.MsgID != "b-2" || ev.Seq != seq {
		t.Fatalf("first chat after the outage: %s, want b-2 at seq %d (and never b-lost)", ev.Raw, seq)
	}
	waitTick(ana, lastPrice)

	// What was refused while down was never stored.
	reader := dial(t, n, "reader", dialOpts{})
	reader.welcome()
	reader.subscribe("chat.room", 0)
	for _, m := range reader.chatEventsUntil("chat.room", "b-2") {
		if m.chat(t).MsgID == "b-lost" {
			t.Errorf("a publish refused as unavailable was stored: %s", m.Raw)
		}
	}
	// Stop the node while NATS is still up, then NATS (cleanup).
	shutdownNode(t, n)
}

func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// restartableNATS returns a function that starts a NATS server, each time
// on the same loopback port and store directory, so a test can stop it and
// bring "the same" server back.
func restartableNATS(t *testing.T) func() *natsbus.Server {
	dir := t.TempDir()
	listen := freeLoopbackAddr(t)
	return func() *natsbus.Server {
		t.Helper()
		s, err := natsbus.StartServer(natsbus.ServerConfig{DataDir: dir, Listen: listen})
		if err != nil {
			t.Fatalf("nats-server on %s: %v", listen, err)
		}
		return s
	}
}
