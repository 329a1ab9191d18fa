package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A subscribe to a topic the gateway already carries is served from the
// gateway's memory: at most one JetStream API call (here: none) for last
// values, live chat and presence, however many browsers subscribe.
func TestGatewayStateFromMemory(t *testing.T) {
	n := startNode(t, testConfig(t))
	nc := n.natsConnForTest()
	if r, err := nc.Request("market.AAPL", []byte(`{"symbol":"AAPL","price":100,"size":1}`), waitFor); err != nil ||
		!strings.Contains(string(r.Data), `"seq"`) {
		t.Fatalf("store tick: %v", err)
	}

	first := dial(t, n, "first", dialOpts{})
	first.welcome()
	first.subscribe("market.AAPL")
	first.subscribe("chat.lobby")
	first.mustOK(first.request(map[string]any{"op": "presence", "channel": "chat.lobby"}))

	js := countJSCalls(t, nc)
	// The counter counts: a history read goes to JetStream.
	first.mustOK(first.request(map[string]any{"op": "history", "channel": "chat.lobby", "limit": 5}))
	if js.take(t) == 0 {
		t.Fatal("a history read cost no JetStream API call: the counter is not counting")
	}

	for _, name := range []string{"b1", "b2", "b3"} {
		c := dial(t, n, name, dialOpts{})
		c.welcome()
		js.take(t)
		c.send(map[string]any{"op": "subscribe", "id": 1, "channel": "market.AAPL"})
		c.mustOK(c.next())
		if lv := c.next(); lv.Event != "market" || lv.Channel != "market.AAPL" {
			t.Fatalf("%s: after the reply got %s, want AAPL's last value", name, lv.Raw)
		}
		c.subscribe("chat.lobby")
		c.mustOK(c.request(map[string]any{"op": "presence", "channel": "chat.lobby"}))
		if d := js.take(t); d > 1 {
			t.Fatalf("%s: %d JetStream API calls (%s) to subscribe to carried topics and read presence, want at most 1",
				name, d, js.subjects())
		}
	}
}

// resumeReply is what a subscribe with since answers besides ok.
type resumeReply struct {
	Recovered *bool  `json:"recovered"`
	Epoch     string `json:"epoch"`
}

// subscribeSince subscribes c to channel after since; the reply must carry
// recovered and epoch.
func subscribeSince(t *testing.T, c *wsClient, channel string, since uint64) resumeReply {
	t.Helper()
	r := c.mustOK(c.request(map[string]any{"op": "subscribe", "channel": channel, "since": since}))
	var out resumeReply
	if err := json.Unmarshal(r.Raw, &out); err != nil || out.Recovered == nil || out.Epoch == "" {
		t.Fatalf("%s since %d: reply %s, want recovered and epoch", channel, since, r.Raw)
	}
	return out
}

// A subscribe with since says whether the replay is complete (recovered)
// and which incarnation of the stream the seqs belong to (epoch)
// (PROTOCOL §4). SSE's subscribe outcome carries the same fields
// (dashboard's TestSSESubscribeReply).
func TestSubscribeRecoveredAndEpoch(t *testing.T) {
	n := startNode(t, testConfig(t))
	c := dial(t, n, "ana", dialOpts{})
	c.welcome()
	var seqs []uint64
	for i := range 4 {
		seqs = append(seqs, c.publish("chat.lobby", fmt.Sprint("m", i), fmt.Sprint("id", i)))
	}
	subscribe := func(who string, since uint64) resumeReply {
		t.Helper()
		d := dial(t, n, who, dialOpts{})
		d.welcome()
		return subscribeSince(t, d, "chat.lobby", since)
	}
	full := subscribe("b1", seqs[0])
	if !*full.Recovered {
		t.Fatalf("everything retained, yet recovered=false")
	}
	// Retention drops the first three messages (a purge stands in for
	// MaxAge here; natsbus's test uses real expiry).
	js, err := jetstream.New(n.natsConnForTest())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "CHAT")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background(), jetstream.WithPurgeSequence(seqs[3])); err != nil {
		t.Fatal(err)
	}
	lost := subscribe("b2", seqs[0])
	if *lost.Recovered || lost.Epoch != full.Epoch {
		t.Fatalf("after retention dropped %d..%d: %+v, want recovered=false in epoch %s", seqs[1], seqs[2], lost, full.Epoch)
	}
	if ok := subscribe("b3", seqs[2]); !*ok.Recovered {
		t.Fatalf("resume right before the first retained seq: recovered=false")
	}
	// No since: no resume fields.
	d := dial(t, n, "b4", dialOpts{})
	d.welcome()
	if r := d.mustOK(d.request(map[string]any{"op": "subscribe", "channel": "chat.lobby"})); strings.Contains(string(r.Raw), "recovered") {
		t.Fatalf("subscribe without since carries resume fields: %s", r.Raw)
	}
}

// A reconnecting page (market.*, candle.<SYM> with since:0, chat.lobby with
// since) whose since is inside the gateway's recent window of each channel
// is resumed from memory: at most one JetStream API call (the chat room's
// read position), with the same reply fields and the same replay as a
// resume read from JetStream. A since older than the window, or ahead of
// the stream, is answered from JetStream as before.
func TestResumeFromRecentWindow(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.ReplayWindow = 5
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	for k := range 3 {
		bar := fmt.Sprintf(`{"symbol":"AAPL","interval":"1m","start":"2026-12-01T10:0%d:00Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":%d}`, k, k)
		if _, err := nc.Request("candle.AAPL", []byte(bar), waitFor); err != nil {
			t.Fatal(err)
		}
	}
	a := dial(t, n, "ana", dialOpts{})
	a.welcome()
	var seqs []uint64
	for i := range 8 {
		seqs = append(seqs, a.publish("chat.lobby", fmt.Sprint("m", i), fmt.Sprint("rw", i)))
	}

	// resume subscribes c to channel after since and returns the reply's
	// fields and the seqs replayed (up to a ping's reply, which comes
	// after the replay: one session's requests are answered in order).
	resume := func(c *wsClient, channel string, since uint64) (resumeReply, []uint64) {
		t.Helper()
		out := subscribeSince(t, c, channel, since)
		c.nextID++
		c.send(map[string]any{"op": "ping", "id": c.nextID})
		var got []uint64
		for {
			m := c.next()
			if m.isReply() && string(m.ID) == fmt.Sprint(c.nextID) {
				return out, got
			}
			if m.Channel == channel && m.Seq > 0 {
				got = append(got, m.Seq)
			}
		}
	}
	// The first page opens the topics and loads their windows.
	first := dial(t, n, "first", dialOpts{})
	first.welcome()
	first.subscribe("market.*")
	jsCandle, jsBars := resume(first, "candle.AAPL", 0)
	jsChat, jsReplay := resume(first, "chat.lobby", seqs[2])
	if !*jsChat.Recovered || !slices.Equal(jsReplay, seqs[3:]) || len(jsBars) != 3 {
		t.Fatalf("first resume: %+v %v, bars %v; want recovered, %v and 3 bars", jsChat, jsReplay, jsBars, seqs[3:])
	}

	js := countJSCalls(t, nc)

	// The window holds seqs[3:] (5 messages): since = the one before its
	// oldest is the boundary still answered from memory.
	for _, name := range []string{"b1", "b2"} {
		c := dial(t, n, name, dialOpts{})
		c.welcome()
		js.take(t)
		c.subscribe("market.*")
		candle, bars := resume(c, "candle.AAPL", 0)
		chat, replay := resume(c, "chat.lobby", seqs[3]-1)
		if d := js.take(t); d > 1 {
			t.Fatalf("%s: %d JetStream API calls (%s) to resume inside the windows, want at most 1", name, d, js.subjects())
		}
		if *candle.Recovered != *jsCandle.Recovered || candle.Epoch != jsCandle.Epoch || !slices.Equal(bars, jsBars) {
			t.Fatalf("%s: candle resume %+v %v from memory, %+v %v from JetStream", name, candle, bars, jsCandle, jsBars)
		}
		if !*chat.Recovered || chat.Epoch != jsChat.Epoch || !slices.Equal(replay, seqs[3:]) {
			t.Fatalf("%s: chat resume %+v %v, want recovered in %s and %v", name, chat, replay, jsChat.Epoch, seqs[3:])
		}
		c.close()
	}

	// An edit and a delete after the window loaded: a resume from memory
	// shows the message edited, the deleted one without its text, and
	// both amendments' events, as a replay from JetStream does.
	a.mustOK(a.request(map[string]any{"op": "edit", "channel": "chat.lobby", "seq": seqs[6], "data": map[string]any{"text": "edited"}}))
	a.mustOK(a.request(map[string]any{"op": "delete", "channel": "chat.lobby", "seq": seqs[7]}))
	replayed := func(c *wsClient, since uint64) map[uint64]string {
		t.Helper()
		c.mustOK(c.request(map[string]any{"op": "subscribe", "channel": "chat.lobby", "since": since}))
		c.nextID++
		c.send(map[string]any{"op": "ping", "id": c.nextID})
		out := map[uint64]string{}
		for {
			m := c.next()
			if m.isReply() && string(m.ID) == fmt.Sprint(c.nextID) {
				return out
			}
			if m.Channel == "chat.lobby" && m.Seq > 0 {
				out[m.Seq] = m.Event + " " + string(m.Data)
			}
		}
	}
	e1 := dial(t, n, "e1", dialOpts{})
	e1.welcome()
	js.take(t)
	mem := replayed(e1, seqs[5])
	if d := js.take(t); d > 1 {
		t.Fatalf("resume after an edit: %d JetStream API calls (%s), want at most 1", d, js.subjects())
	}
	e2 := dial(t, n, "e2", dialOpts{})
	e2.welcome()
	fromJS := replayed(e2, seqs[0]) // older than the window
	if len(mem) != 4 || !strings.Contains(mem[seqs[6]], `"edited":true`) || !strings.Contains(mem[seqs[7]], `"deleted":true`) ||
		strings.Contains(mem[seqs[7]], `"text"`) {
		t.Fatalf("replay from memory after an edit and a delete: %v", mem)
	}
	for seq, ev := range mem {
		if fromJS[seq] != ev {
			t.Fatalf("seq %d from memory %s, from JetStream %s", seq, ev, fromJS[seq])
		}
	}

	// Older than the window: read from JetStream, with the same answer.
	c := dial(t, n, "b3", dialOpts{})
	c.welcome()
	js.take(t)
	old, replay := resume(c, "chat.lobby", seqs[0])
	if js.take(t) == 0 {
		t.Error("a since older than the window cost no JetStream call")
	}
	if !*old.Recovered || len(replay) != 7+2 || !slices.Equal(replay[:7], seqs[1:]) {
		t.Fatalf("since older than the window: %+v %v, want recovered and %v then the edit and delete", old, replay, seqs[1:])
	}
	// Ahead of the stream (a seq of another epoch): not recovered.
	d := dial(t, n, "b4", dialOpts{})
	d.welcome()
	if ahead, replay := resume(d, "chat.lobby", seqs[7]+1000); *ahead.Recovered || len(replay) != 0 {
		t.Fatalf("since ahead of the stream: %+v %v, want recovered=false and nothing", ahead, replay)
	}
}

// jsCalls counts the JetStream API requests the server routes, through a
// synchronous subscription: once nc.Flush returns, every request the
// server routed before it is pending here (an asynchronous callback might
// not have run yet, and a count could come up short).
type jsCalls struct {
	nc   *nats.Conn
	sub  *nats.Subscription
	last []string
}

func countJSCalls(t *testing.T, nc *nats.Conn) *jsCalls {
	t.Helper()
	sub, err := nc.SubscribeSync("$JS.API.>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return &jsCalls{nc: nc, sub: sub}
}

// take returns the calls since the last take and remembers their subjects.
func (j *jsCalls) take(t *testing.T) int {
	t.Helper()
	if err := j.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	n, _, err := j.sub.Pending()
	if err != nil {
		t.Fatal(err)
	}
	j.last = j.last[:0]
	for range n {
		m, err := j.sub.NextMsg(time.Second)
		if err != nil {
			t.Fatal(err)
		}
		j.last = append(j.last, m.Subject)
	}
	return n
}

func (j *jsCalls) subjects() string { return strings.Join(j.last, ", ") }
