package main

// End-to-end tests of the wire contract (PROTOCOL.md section 2, plus the
// parts of section 3 the WebSocket relies on) against a real Node: real
// sockets, real embedded NATS/JetStream on disk. Each test fails if the
// behaviour it names breaks. The harness is in testnode_test.go.

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tickroom/tickroom/internal/protocol"
)

// 1. welcome first; subprotocol; version and origin checks before the upgrade.
func TestE2EWelcomeAndUpgradeChecks(t *testing.T) {
	cfg := testConfig(t)
	cfg.HeartbeatInterval = 7 * time.Second
	n := startNode(t, cfg)

	c := dial(t, n, "plain", dialOpts{})
	if got := c.ws.Subprotocol(); got != protocol.Subprotocol {
		t.Errorf("selected subprotocol %q, want %q", got, protocol.Subprotocol)
	}
	w := c.welcome()
	if !strings.HasPrefix(w.User, "guest-") {
		t.Errorf("welcome user %q, want a guest name", w.User)
	}
	if !strings.HasPrefix(w.Session, "s-") || len(w.Session) < 4 {
		t.Errorf("welcome session %q, want s-…", w.Session)
	}
	if w.Node != "gw-test" || w.Protocol != 1 || w.HeartbeatMS != 7000 {
		t.Errorf("welcome %+v, want node gw-test, protocol 1, heartbeat_ms 7000", w)
	}
	c.ping()

	// Only an unknown version offered: an HTTP error before the upgrade.
	if _, resp, err := tryDial(t, n, "v9", dialOpts{subprotocols: []string{"tickroom.v9"}}); err == nil {
		t.Errorf("a client offering only tickroom.v9 was upgraded")
	} else if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("tickroom.v9 only: got %v (resp %v), want HTTP 400", err, statusOf(resp))
	}
	// v9 next to v1: v1 is selected.
	both := dial(t, n, "v9+v1", dialOpts{subprotocols: []string{"tickroom.v9", protocol.Subprotocol}})
	if got := both.ws.Subprotocol(); got != protocol.Subprotocol {
		t.Errorf("offering v9 and v1 selected %q", got)
	}
	both.welcome()

	// A foreign Origin is refused with 403 (same host on another port is
	// another origin).
	for _, origin := range []string{"http://evil.example", "http://127.0.0.1:1", "null"} {
		foreign := http.Header{"Origin": {origin}}
		if _, resp, err := tryDial(t, n, "foreign", dialOpts{header: foreign}); err == nil {
			t.Errorf("Origin %s was upgraded", origin)
		} else if resp == nil || resp.StatusCode != http.StatusForbidden {
			t.Errorf("Origin %s: got %v (resp %v), want HTTP 403", origin, err, statusOf(resp))
		}
	}
	// Same origin is allowed (no Origin was allowed above).
	same := dial(t, n, "same-origin", dialOpts{header: http.Header{"Origin": {n.URL()}}})
	same.welcome()
	same.ping()
}

func statusOf(resp *http.Response) any {
	if resp == nil {
		return nil
	}
	return resp.StatusCode
}

// 2. two clients chat; the server stamps the user; the publisher sees its own
// message; seq grows strictly.
func TestE2ETwoClientsChat(t *testing.T) {
	n := startNode(t, testConfig(t))
	tokA, _ := signIn(t, n, "ana")
	tokB, _ := signIn(t, n, "bob")
	a := dial(t, n, "A", dialOpts{token: tokA})
	b := dial(t, n, "B", dialOpts{token: tokB})
	if u := a.welcome().User; u != "ana" {
		t.Fatalf("A is %q", u)
	}
	b.welcome()
	a.subscribe("chat.lobby")
	b.subscribe("chat.lobby")

	var last uint64
	for i, text := range []string{"hi", "second"} {
		msgid := "a-" + strconv.Itoa(i)
		r := a.mustOK(a.request(map[string]any{
			"op": "publish", "channel": "chat.lobby", "msgid": msgid,
			"data": map[string]any{"text": text, "user": "mallory"},
		}))
		if r.Seq == 0 || r.Seq <= last {
			t.Fatalf("ack %s: seq must be set and grow (previous %d)", r.Raw, last)
		}
		last = r.Seq
		for _, c := range []*wsClient{b, a} {
			ev := c.waitEvent("chat "+msgid, func(m msg) bool { return m.Event == "chat" })
			d := ev.chat(t)
			if ev.Channel != "chat.lobby" || ev.Seq != r.Seq || d.Text != text || d.MsgID != msgid || ev.Time == "" {
				t.Errorf("%s got %s, want chat.lobby seq %d text %q msgid %q with time", c.name, ev.Raw, r.Seq, text, msgid)
			}
			if d.User != "ana" {
				t.Errorf("%s: chat user %q, want the sender's real name ana (client sent mallory)", c.name, d.User)
			}
		}
	}
}

// 3. dev identity: sign-in, token in the query, cookie, guests, forged tokens.
func TestE2EDevIdentity(t *testing.T) {
	n := startNode(t, testConfig(t))
	token, cookie := signIn(t, n, "ana")
	if cookie.Value != token || !cookie.HttpOnly {
		t.Errorf("session cookie %+v: want HttpOnly with the token", cookie)
	}

	if u := dial(t, n, "query", dialOpts{token: token}).welcome().User; u != "ana" {
		t.Errorf("?token= connected as %q, want ana", u)
	}
	withCookie := http.Header{"Cookie": {cookie.Name + "=" + cookie.Value}}
	if u := dial(t, n, "cookie", dialOpts{header: withCookie}).welcome().User; u != "ana" {
		t.Errorf("cookie connected as %q, want ana", u)
	}
	g1 := dial(t, n, "guest1", dialOpts{}).welcome().User
	g2 := dial(t, n, "guest2", dialOpts{}).welcome().User
	if !strings.HasPrefix(g1, "guest-") || !strings.HasPrefix(g2, "guest-") || g1 == g2 {
		t.Errorf("guests %q and %q: want two distinct guest-… names", g1, g2)
	}

	// Tampered: a payload naming someone else under ana's signature.
	body, sig, _ := strings.Cut(token, ".")
	payload, err := base64.RawURLEncoding.DecodeString(body)
	if err != nil {
		t.Fatalf("token payload: %v", err)
	}
	forgedPayload := strings.Replace(string(payload), `"ana"`, `"admin"`, 1)
	tampered := base64.RawURLEncoding.EncodeToString([]byte(forgedPayload)) + "." + sig
	for name, tok := range map[string]string{
		"tampered": tampered,
		"garbage":  "not-a-token",
		"badsig":   body + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 32)),
	} {
		c := dial(t, n, name, dialOpts{token: tok})
		if code := c.closeCode(); code != protocol.ClosePolicy {
			t.Errorf("%s token: close %d, want %d", name, code, protocol.ClosePolicy)
		}
		if len(c.in) != 0 {
			t.Errorf("%s token: the server sent %d objects before closing", name, len(c.in))
		}
	}
}

// 4. the same msgid twice is stored once and acked with the same seq.
func TestE2EIdempotentMsgID(t *testing.T) {
	n := startNode(t, testConfig(t))
	a := dial(t, n, "A", dialOpts{})
	b := dial(t, n, "B", dialOpts{})
	a.welcome()
	b.welcome()
	b.subscribe("chat.lobby")

	s1 := a.publish("chat.lobby", "once", "dup-1")
	s2 := a.publish("chat.lobby", "once", "dup-1")
	if s1 != s2 {
		t.Fatalf("same msgid acked with seq %d then %d", s1, s2)
	}
	end := a.publish("chat.lobby", "sentinel", "end")
	if end <= s1 {
		t.Fatalf("sentinel seq %d not after %d", end, s1)
	}
	evs := b.chatEventsUntil("chat.lobby", "end")
	if len(evs) != 2 || evs[0].chat(t).MsgID != "dup-1" || evs[0].Seq != s1 {
		t.Fatalf("B received %d chat events before/with the sentinel, want dup-1 (seq %d) once: %v", len(evs), s1, raws(evs))
	}
	h := a.mustOK(a.request(map[string]any{"op": "history", "channel": "chat.lobby"}))
	if len(h.Messages) != 2 {
		t.Errorf("history holds %d messages, want 2 (dup-1 stored once, sentinel)", len(h.Messages))
	}
}

func raws(ms []msg) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m.Raw)
	}
	return out
}

func seqsOf(t *testing.T, ms []msg) []uint64 {
	t.Helper()
	out := make([]uint64, len(ms))
	for i, m := range ms {
		out[i] = m.Seq
	}
	return out
}

// 5. since resume (exact replay, then live, no gap, no duplicate), since:0,
// and persistence, history and HTTP history across a restart.
func TestE2ESinceResumeAndRestart(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	a := dial(t, n, "A", dialOpts{})
	a.welcome()
	var seqs []uint64
	for i := 1; i <= 5; i++ {
		seqs = append(seqs, a.publish("chat.lobby", "m"+strconv.Itoa(i), "m"+strconv.Itoa(i)))
	}
	// Noise on another room must not show up in this one.
	a.publish("chat.other", "elsewhere", "o1")

	c := dial(t, n, "resumer", dialOpts{})
	c.welcome()
	c.send(map[string]any{"op": "subscribe", "id": "r", "channel": "chat.lobby", "since": seqs[1]})
	if first := c.next(); !first.isReply() || string(first.ID) != `"r"` || !*first.OK {
		t.Fatalf("first object after subscribe is %s, want its reply", first.Raw)
	}
	for i := 2; i < 5; i++ {
		ev := c.next()
		if ev.Event != "chat" || ev.Seq != seqs[i] || ev.chat(t).MsgID != "m"+strconv.Itoa(i+1) {
			t.Fatalf("replay[%d] = %s, want m%d with seq %d", i, ev.Raw, i+1, seqs[i])
		}
	}
	seqs = append(seqs, a.publish("chat.lobby", "live", "m6"))
	seqs = append(seqs, a.publish("chat.lobby", "sentinel", "m7"))
	if got := seqsOf(t, c.chatEventsUntil("chat.lobby", "m7")); !slices.Equal(got, seqs[5:]) {
		t.Fatalf("after the replay got seqs %v, want exactly %v (live, no duplicate)", got, seqs[5:])
	}

	z := dial(t, n, "since0", dialOpts{})
	z.welcome()
	z.subscribe("chat.lobby", 0)
	if got := seqsOf(t, z.chatEventsUntil("chat.lobby", "m7")); !slices.Equal(got, seqs) {
		t.Fatalf("since:0 replayed %v, want %v", got, seqs)
	}
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			t.Fatalf("seqs not strictly increasing: %v", seqs)
		}
	}

	// Restart on the same data dir.
	a.close()
	c.close()
	z.close()
	shutdownNode(t, n)
	n2 := startNode(t, cfg)
	r := dial(t, n2, "after-restart", dialOpts{})
	r.welcome()
	r.subscribe("chat.lobby", 0)
	if got := seqsOf(t, r.chatEventsUntil("chat.lobby", "m7")); !slices.Equal(got, seqs) {
		t.Fatalf("after restart since:0 replayed %v, want %v", got, seqs)
	}

	history := func(req map[string]any) []uint64 {
		t.Helper()
		req["op"], req["channel"] = "history", "chat.lobby"
		h := r.mustOK(r.request(req))
		return historySeqs(t, h.Messages)
	}
	if got := history(map[string]any{}); !slices.Equal(got, seqs) {
		t.Errorf("history = %v, want %v oldest first", got, seqs)
	}
	if got := history(map[string]any{"limit": 3}); !slices.Equal(got, seqs[4:]) {
		t.Errorf("history limit 3 = %v, want the latest three %v", got, seqs[4:])
	}
	if got := history(map[string]any{"limit": 2, "before": seqs[3]}); !slices.Equal(got, seqs[1:3]) {
		t.Errorf("history limit 2 before %d = %v, want %v", seqs[3], got, seqs[1:3])
	}

	status, body := httpGet(t, fmt.Sprintf("%s/api/channels/chat.lobby/history?limit=2&before=%d", n2.URL(), seqs[3]))
	if status != http.StatusOK {
		t.Fatalf("GET history: status %d: %s", status, body)
	}
	var hr msg
	if err := json.Unmarshal(body, &hr); err != nil || hr.OK == nil || !*hr.OK {
		t.Fatalf("GET history: %s (%v)", body, err)
	}
	if got := historySeqs(t, hr.Messages); !slices.Equal(got, seqs[1:3]) {
		t.Errorf("GET history = %v, want %v", got, seqs[1:3])
	}
}

func historySeqs(t *testing.T, raw []json.RawMessage) []uint64 {
	t.Helper()
	out := []uint64{}
	for _, m := range raw {
		var ev msg
		if err := json.Unmarshal(m, &ev); err != nil {
			t.Fatalf("history message %s: %v", m, err)
		}
		if ev.Event != "chat" || ev.Channel != "chat.lobby" {
			t.Fatalf("history message %s is not a chat.lobby event", m)
		}
		out = append(out, ev.Seq)
	}
	return out
}

// 6. bad input gets an error reply and the connection stays open; binary and
// oversized frames close with 1003 and 1009; the server stays healthy.
func TestE2EBadInput(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.MaxFrameBytes = 8 << 10
	cfg.Limits.MaxChatBytes = 1 << 10
	n := startNode(t, cfg)
	c := dial(t, n, "bad", dialOpts{})
	c.welcome()

	for _, frame := range []string{`not json`, `[1,2]`, `[{"op":"ping","id":1}]`, `"str"`, `{}`, `   `, `{"op":"ping","id":{"x":1}}`} {
		c.sendRaw(websocket.TextMessage, []byte(frame))
		r := c.next()
		if !r.isReply() || *r.OK || r.errCode() != protocol.CodeBadRequest || len(r.ID) != 0 {
			t.Errorf("frame %q: got %s, want bad_request without id", frame, r.Raw)
		}
	}
	// An object with a usable id but no op: the id is kept so the client
	// can match the error (the protocol package's deliberate choice).
	c.sendRaw(websocket.TextMessage, []byte(`{"id":9}`))
	if r := c.waitReply(`9`); *r.OK || r.errCode() != protocol.CodeBadRequest {
		t.Errorf("no op: %s, want bad_request", r.Raw)
	}
	c.send(map[string]any{"op": "frobnicate", "id": "u-1"})
	if r := c.waitReply(`"u-1"`); *r.OK || r.errCode() != protocol.CodeUnknownOp {
		t.Errorf("unknown op: %s, want unknown_op", r.Raw)
	}

	long := "chat." + strings.Repeat("x", 251)
	deep := "chat" + strings.Repeat(".x", 16)
	for _, tc := range []struct {
		name string
		req  map[string]any
		code string
	}{
		{"empty channel", map[string]any{"op": "subscribe", "channel": ""}, protocol.CodeBadRequest},
		{"empty token", map[string]any{"op": "subscribe", "channel": "chat..x"}, protocol.CodeBadRequest},
		{"trailing dot", map[string]any{"op": "subscribe", "channel": "chat.lobby."}, protocol.CodeBadRequest},
		{"too long", map[string]any{"op": "subscribe", "channel": long}, protocol.CodeBadRequest},
		{"too many tokens", map[string]any{"op": "subscribe", "channel": deep}, protocol.CodeBadRequest},
		{"space", map[string]any{"op": "subscribe", "channel": "chat.lob by"}, protocol.CodeBadRequest},
		{"bad char", map[string]any{"op": "subscribe", "channel": "chat.lob$by"}, protocol.CodeBadRequest},
		{"wildcard publish *", map[string]any{"op": "publish", "channel": "chat.*", "data": map[string]any{"text": "x"}}, protocol.CodeBadRequest},
		{"wildcard publish >", map[string]any{"op": "publish", "channel": "chat.>", "data": map[string]any{"text": "x"}}, protocol.CodeBadRequest},
		{"publish bad name", map[string]any{"op": "publish", "channel": "chat..x", "data": map[string]any{"text": "x"}}, protocol.CodeBadRequest},
		{"publish market", map[string]any{"op": "publish", "channel": "market.AAPL", "data": map[string]any{"text": "x"}}, protocol.CodeForbidden},
		{"chat too large", map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{"text": strings.Repeat("y", 2<<10)}}, protocol.CodeTooLarge},
		{"publish no data", map[string]any{"op": "publish", "channel": "chat.lobby"}, protocol.CodeBadRequest},
		{"history market", map[string]any{"op": "history", "channel": "market.AAPL"}, protocol.CodeBadRequest},
	} {
		r := c.request(tc.req)
		if *r.OK || r.errCode() != tc.code {
			t.Errorf("%s: got %s, want %s", tc.name, r.Raw, tc.code)
		}
	}
	if len(long) != 256 {
		t.Fatalf("test bug: long channel is %d bytes", len(long))
	}
	c.ping()

	bin := dial(t, n, "binary", dialOpts{})
	bin.welcome()
	bin.sendRaw(websocket.BinaryMessage, []byte(`{"op":"ping","id":1}`))
	if code := bin.closeCode(); code != protocol.CloseUnsupportedData {
		t.Errorf("binary frame: close %d, want %d", code, protocol.CloseUnsupportedData)
	}

	big := dial(t, n, "oversized", dialOpts{})
	big.welcome()
	pad := strings.Repeat("z", cfg.Limits.MaxFrameBytes)
	big.send(map[string]any{"op": "ping", "id": 1, "pad": pad})
	if code := big.closeCode(); code != protocol.CloseTooLarge {
		t.Errorf("oversized frame: close %d, want %d", code, protocol.CloseTooLarge)
	}

	c.ping() // the first connection is still fine
	if status, body := httpGet(t, n.URL()+"/healthz"); status != http.StatusOK {
		t.Errorf("/healthz: %d %s", status, body)
	}
	x := dial(t, n, "fresh", dialOpts{})
	x.welcome()
	x.subscribe("chat.lobby")
	seq := x.publish("chat.lobby", "still here", "fresh-1")
	if ev := x.waitEvent("own chat", func(m msg) bool { return m.Event == "chat" }); ev.Seq != seq {
		t.Errorf("fresh client got %s, want seq %d", ev.Raw, seq)
	}
}

// 7. presence: join and leave events, the presence op.
func TestE2EPresence(t *testing.T) {
	n := startNode(t, testConfig(t))
	tokA, _ := signIn(t, n, "ana")
	tokB, _ := signIn(t, n, "bob")
	a := dial(t, n, "A", dialOpts{token: tokA})
	b := dial(t, n, "B", dialOpts{token: tokB})
	a.welcome()
	b.welcome()

	b.subscribe("chat.room")
	a.subscribe("chat.room")
	isPresence := func(event, user string) func(msg) bool {
		return func(m msg) bool {
			if m.Event != event || m.Channel != "chat.room" {
				return false
			}
			var d struct{ User string }
			_ = json.Unmarshal(m.Data, &d)
			return d.User == user
		}
	}
	b.waitEvent("join of ana", isPresence("join", "ana"))

	users := func() []string {
		t.Helper()
		r := a.mustOK(a.request(map[string]any{"op": "presence", "channel": "chat.room"}))
		if r.Users == nil {
			t.Fatalf("presence reply without users: %s", r.Raw)
		}
		return r.Users
	}
	if got := users(); !slices.Equal(got, []string{"ana", "bob"}) {
		t.Errorf("presence = %v, want [ana bob]", got)
	}
	if got := users(); slices.Contains(got, "carol") {
		t.Errorf("presence = %v", got)
	}

	b.close()
	a.waitEvent("leave of bob", isPresence("leave", "bob"))
	eventually(t, "bob gone from presence", func() error {
		if got := users(); !slices.Equal(got, []string{"ana"}) {
			return fmt.Errorf("presence = %v, want [ana]", got)
		}
		return nil
	})
	// Another room is empty.
	r := a.mustOK(a.request(map[string]any{"op": "presence", "channel": "chat.empty"}))
	if len(r.Users) != 0 || !strings.Contains(string(r.Raw), `"users":[]`) {
		t.Errorf("presence of an empty room: %s, want users []", r.Raw)
	}
}

// 8. heartbeats: a peer that stops answering pings is closed within about
// two intervals; a peer that answers stays.
func TestE2EHeartbeats(t *testing.T) {
	const interval = 200 * time.Millisecond
	cfg := testConfig(t)
	cfg.HeartbeatInterval = interval
	n := startNode(t, cfg)

	healthy := dial(t, n, "healthy", dialOpts{}) // the default handler answers pings
	if w := healthy.welcome(); w.HeartbeatMS != interval.Milliseconds() {
		t.Fatalf("heartbeat_ms %d", w.HeartbeatMS)
	}
	healthyAt := time.Now()

	start := time.Now()
	pinged := make(chan struct{}, 1)
	zombie := dial(t, n, "zombie", dialOpts{pingHandler: func(string) error {
		select {
		case pinged <- struct{}{}:
		default:
		}
		return nil // no pong
	}})
	zombie.welcome()
	eventually(t, "two connections counted", func() error {
		if v := metricValue(t, n, "tickroom_connections"); v != 2 {
			return fmt.Errorf("tickroom_connections %d", v)
		}
		return nil
	})
	select {
	case <-zombie.done:
	case <-time.After(waitFor):
		t.Fatalf("a peer that answers no pings is still connected after %s (interval %s)", waitFor, interval)
	}
	elapsed := time.Since(start)
	t.Logf("zombie closed after %s (%v)", elapsed, zombie.readErr)
	select {
	case <-pinged:
	default:
		t.Errorf("the server never pinged")
	}
	// The contract is "closed after two silent intervals": the upper bound
	// has generous slack (-race, a loaded 2-core CI machine) because it
	// checks the rule, not a speed; the lower bound catches a server that
	// closes without waiting for the pong.
	if elapsed > 2*interval+3*time.Second || elapsed < interval {
		t.Errorf("zombie closed after %s, want about 2×%s", elapsed, interval)
	}
	eventually(t, "the zombie is gone from the hub", func() error {
		select {
		case <-healthy.done:
			t.Fatalf("a peer that answers pings was closed: %v", healthy.readErr)
		default:
		}
		if v := metricValue(t, n, "tickroom_connections"); v != 1 {
			return fmt.Errorf("tickroom_connections %d, want 1", v)
		}
		return nil
	})

	// The healthy peer has lived through several intervals on pongs alone.
	if wait := time.Until(healthyAt.Add(5 * interval)); wait > 0 {
		time.Sleep(wait)
	}
	select {
	case <-healthy.done:
		t.Fatalf("a peer that answers pings was closed: %v", healthy.readErr)
	default:
	}
	healthy.ping()
}

// 9. last values: reply, then last value, then live; wildcards; invalid
// producer messages never reach clients and are counted.
func TestE2ELastValues(t *testing.T) {
	n := startNode(t, testConfig(t))
	nc := n.natsConnForTest()
	store := func(subject, data string) {
		t.Helper()
		// A request to a stream subject returns JetStream's ack once stored.
		r, err := nc.Request(subject, []byte(data), waitFor)
		if err != nil {
			t.Fatalf("publish %s: %v", subject, err)
		}
		if !strings.Contains(string(r.Data), `"seq"`) {
			t.Fatalf("publish %s: not stored: %s", subject, r.Data)
		}
	}
	tick := func(sym string, price float64) string {
		return fmt.Sprintf(`{"symbol":%q,"price":%g,"size":100}`, sym, price)
	}
	type tickData struct {
		Symbol string  `json:"symbol"`
		Price  float64 `json:"price"`
	}
	tickOf := func(m msg) tickData {
		var d tickData
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("tick %s: %v", m.Raw, err)
		}
		return d
	}
	store("market.AAPL", tick("AAPL", 100))
	store("market.MSFT", tick("MSFT", 200))

	c := dial(t, n, "aapl", dialOpts{})
	c.welcome()
	c.send(map[string]any{"op": "subscribe", "id": 1, "channel": "market.AAPL"})
	if r := c.next(); !r.isReply() || string(r.ID) != "1" || !*r.OK {
		t.Fatalf("first object after subscribe: %s, want the reply", r.Raw)
	}
	lv := c.next()
	if lv.Event != "market" || lv.Channel != "market.AAPL" || tickOf(lv) != (tickData{"AAPL", 100}) || lv.Time == "" {
		t.Fatalf("after the reply: %s, want the last AAPL tick (price 100) with a time", lv.Raw)
	}
	if lv.Seq != 0 {
		t.Errorf("a tick carries seq: %s", lv.Raw)
	}
	store("market.AAPL", tick("AAPL", 101))
	if ev := c.next(); ev.Event != "market" || tickOf(ev) != (tickData{"AAPL", 101}) {
		t.Fatalf("live tick: %s, want AAPL 101", ev.Raw)
	}

	w := dial(t, n, "wildcard", dialOpts{})
	w.welcome()
	w.send(map[string]any{"op": "subscribe", "id": 2, "channel": "market.*"})
	if r := w.next(); !r.isReply() || string(r.ID) != "2" || !*r.OK {
		t.Fatalf("first object after subscribe market.*: %s, want the reply", r.Raw)
	}
	got := map[string]float64{}
	for range 2 {
		ev := w.next()
		if ev.Event != "market" {
			t.Fatalf("market.* last values: got %s", ev.Raw)
		}
		d := tickOf(ev)
		if ev.Channel != "market."+d.Symbol {
			t.Errorf("event on %s for symbol %s", ev.Channel, d.Symbol)
		}
		got[d.Symbol] = d.Price
	}
	if want := map[string]float64{"AAPL": 101, "MSFT": 200}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("market.* last values %v, want %v", got, want)
	}

	// Invalid ticks, then a valid sentinel: clients see only valid ticks.
	before := metricValue(t, n, `tickroom_invalid_messages_total{subject="market.AAPL"}`)
	for _, bad := range []string{tick("MSFT", 5), tick("AAPL", -1), `not json`, `{"symbol":"AAPL","price":"NaN"}`, `{"symbol":"AAPL"}`} {
		if err := nc.Publish("market.AAPL", []byte(bad)); err != nil {
			t.Fatal(err)
		}
	}
	store("market.AAPL", tick("AAPL", 102))
	for _, cl := range []*wsClient{c, w} {
		for {
			ev := cl.waitEvent("market event", func(m msg) bool { return m.Event == "market" })
			d := tickOf(ev)
			if ev.Channel != "market.AAPL" && ev.Channel != "market.MSFT" || d.Price <= 0 || ev.Channel != "market."+d.Symbol {
				t.Fatalf("%s received an invalid tick: %s", cl.name, ev.Raw)
			}
			if d == (tickData{"AAPL", 102}) {
				break
			}
		}
	}
	eventually(t, "invalid ticks counted", func() error {
		after := metricValue(t, n, `tickroom_invalid_messages_total{subject="market.AAPL"}`)
		if after-max(before, 0) < 5 {
			return fmt.Errorf("tickroom_invalid_messages_total{market.AAPL} went from %d to %d, want +5 or more", before, after)
		}
		return nil
	})
	c.ping()
	w.ping()

	t.Run("invalid tick does not erase the last value", func(t *testing.T) {
		store("market.AAPL", tick("AAPL", 103))
		store("market.AAPL", `{"symbol":"AAPL","price":-1}`)
		f := dial(t, n, "fresh", dialOpts{})
		f.welcome()
		f.subscribe("market.AAPL")
		ev := f.next()
		if ev.Event != "market" || tickOf(ev) != (tickData{"AAPL", 103}) {
			t.Fatalf("fresh subscriber got %s, want the last valid tick (AAPL 103)", ev.Raw)
		}
	})
}

// 10. shutdown closes clients with 1001 and returns.
func TestE2EShutdown(t *testing.T) {
	n := startNode(t, testConfig(t))
	a := dial(t, n, "A", dialOpts{})
	b := dial(t, n, "B", dialOpts{})
	a.welcome()
	b.welcome()
	a.subscribe("chat.lobby")
	b.subscribe("market.*")

	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		defer cancel()
		done <- n.Shutdown(ctx)
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(waitFor + 10*time.Second):
		t.Fatal("Shutdown did not return")
	}
	for _, c := range []*wsClient{a, b} {
		if code := c.closeCode(); code != protocol.CloseGoingAway {
			t.Errorf("%s: close %d after shutdown, want %d", c.name, code, protocol.CloseGoingAway)
		}
	}
	if _, err := httpClient.Get(n.URL() + "/healthz"); err == nil {
		t.Errorf("the node still serves HTTP after Shutdown")
	}
	if err := n.Shutdown(context.Background()); err != nil {
		t.Errorf("second Shutdown: %v", err)
	}
}

// 11. publishing faster than the chat burst is rate limited, per user.
func TestE2EChatRateLimit(t *testing.T) {
	cfg := testConfig(t)
	cfg.Limits.ChatBurst = 10
	cfg.Limits.ChatRate = 0.01 // no refill within the test: exact counts
	n := startNode(t, cfg)
	tok, _ := signIn(t, n, "spammer")
	c := dial(t, n, "spammer", dialOpts{token: tok})
	c.welcome()

	const total = 30
	for i := range total { // pipelined: no waiting for acks
		c.send(map[string]any{"op": "publish", "id": i, "channel": "chat.lobby", "data": map[string]any{"text": "spam"}})
	}
	ok, limited := 0, 0
	for i := range total {
		r := c.waitReply(strconv.Itoa(i))
		switch {
		case *r.OK:
			ok++
		case r.errCode() == protocol.CodeRateLimited:
			limited++
		default:
			t.Fatalf("reply %s", r.Raw)
		}
	}
	if ok != cfg.Limits.ChatBurst || limited != total-cfg.Limits.ChatBurst {
		t.Errorf("%d ok and %d rate_limited, want %d and %d", ok, limited, cfg.Limits.ChatBurst, total-cfg.Limits.ChatBurst)
	}
	// The bucket belongs to the user: another tab gets no fresh burst.
	c2 := dial(t, n, "spammer-2", dialOpts{token: tok})
	c2.welcome()
	if r := c2.request(map[string]any{"op": "publish", "channel": "chat.lobby", "data": map[string]any{"text": "x"}}); *r.OK || r.errCode() != protocol.CodeRateLimited {
		t.Errorf("same user, second connection: %s, want rate_limited", r.Raw)
	}
	// Another user is not affected, and the limited connection still works.
	other := dial(t, n, "other", dialOpts{})
	other.welcome()
	other.publish("chat.lobby", "hello", "o-1")
	c.ping()
}
