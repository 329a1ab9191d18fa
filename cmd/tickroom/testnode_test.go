package main

// The end-to-end harness: a real Node (embedded NATS + JetStream in a temp
// dir, the Fiber gateway on a free loopback port) and real WebSocket clients
// (github.com/fasthttp/websocket's client) that read in the background,
// split server frames on '\n' and hand the objects to the test. Every wait
// is bounded by a deadline; nothing sleeps and hopes.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"
	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/internal/config"
	"github.com/tickroom/tickroom/internal/protocol"
)

// waitFor bounds every wait in these tests; generous for -race on a busy
// machine, never reached when things work.
const waitFor = 10 * time.Second

// testConfig is config.Default() made hermetic: a free loopback port, a temp
// data dir, no outside NATS listener, no simulated feeds.
func testConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Addr = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.NATSListen = "off"
	cfg.Feeds = false
	cfg.Node = "gw-test"
	cfg.LogLevel = "warn"
	return cfg
}

// testLogger sends the node's log to t.Log (warnings and up), so a failing
// test shows what the server said. It stops logging once the test is over:
// t.Log after the end of a test panics.
func testLogger(t *testing.T) *slog.Logger {
	w := &tlogWriter{t: t}
	t.Cleanup(w.stop)
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tlogWriter struct {
	mu   sync.Mutex
	t    *testing.T
	done bool
}

func (w *tlogWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.done {
		w.t.Helper()
		w.t.Log(strings.TrimRight(string(p), "\n"))
	}
	return len(p), nil
}

func (w *tlogWriter) stop() {
	w.mu.Lock()
	w.done = true
	w.mu.Unlock()
}

// startNode starts a Node and shuts it down at the end of the test (the
// shutdown is idempotent, so a test may shut it down itself earlier).
func startNode(t *testing.T, cfg config.Config) *Node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n, err := Start(ctx, cfg, testLogger(t))
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { shutdownNode(t, n) })
	return n
}

func shutdownNode(t *testing.T, n *Node) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := n.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// natsConnForTest is the node's own NATS connection, for tests that act as
// a feed producer. Test-only: nothing new is exported.
func (n *Node) natsConnForTest() *nats.Conn { return n.bus.Conn() }

func wsURL(n *Node) string { return "ws" + strings.TrimPrefix(n.URL(), "http") + "/ws" }

// httpClient keeps no idle connections, so no transport goroutine outlives
// a request (goleak).
var httpClient = &http.Client{
	Transport: &http.Transport{DisableKeepAlives: true},
	Timeout:   waitFor,
}

func httpGet(t *testing.T, u string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", u, err)
	}
	return resp.StatusCode, body
}

// signIn is POST /api/session {"name":…} in dev mode; it returns the token
// and the session cookie the reply set.
func signIn(t *testing.T, n *Node, name string) (token string, cookie *http.Cookie) {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"name": name})
	resp, err := httpClient.Post(n.URL()+"/api/session", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("POST /api/session: %v", err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /api/session: status %d: %s", resp.StatusCode, raw)
	}
	var out struct {
		User  string `json:"user"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("POST /api/session: body %s: %v", raw, err)
	}
	if out.User != name || out.Token == "" {
		t.Fatalf("POST /api/session: got %s, want user %q and a token", raw, name)
	}
	for _, c := range resp.Cookies() {
		if c.Name == "tickroom_session" {
			cookie = c
		}
	}
	if cookie == nil {
		t.Fatalf("POST /api/session: no tickroom_session cookie in %v", resp.Header["Set-Cookie"])
	}
	return out.Token, cookie
}

// metricValue scrapes /metrics for one sample ("tickroom_connections" or
// `tickroom_invalid_messages_total{subject="market.AAPL"}`); -1 when absent.
func metricValue(t *testing.T, n *Node, sample string) int64 {
	t.Helper()
	status, body := httpGet(t, n.URL()+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			v, err := strconv.ParseInt(value, 10, 64)
			if err != nil {
				t.Fatalf("metric %s: %q: %v", sample, value, err)
			}
			return v
		}
	}
	return -1
}

// eventually polls f until it returns nil or waitFor passes.
func eventually(t *testing.T, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %s: %v", what, waitFor, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// msg is one object from a server frame: a reply or an event.
type msg struct {
	Raw json.RawMessage `json:"-"`

	// replies
	ID       json.RawMessage   `json:"id"`
	OK       *bool             `json:"ok"`
	Seq      uint64            `json:"seq"`
	Error    *protocol.Error   `json:"error"`
	Messages []json.RawMessage `json:"messages"`
	Users    []string          `json:"users"`

	// events
	Channel string          `json:"channel"`
	Event   string          `json:"event"`
	Time    string          `json:"time"`
	Data    json.RawMessage `json:"data"`
}

func (m msg) isReply() bool { return m.OK != nil }

func (m msg) errCode() string {
	if m.Error == nil {
		return ""
	}
	return m.Error.Code
}

// chatData is the data of a chat event.
type chatData struct {
	User  string `json:"user"`
	Text  string `json:"text"`
	MsgID string `json:"msgid"`
}

func (m msg) chat(t *testing.T) chatData {
	t.Helper()
	var d chatData
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("chat data %s: %v", m.Data, err)
	}
	return d
}

// wsClient is a test WebSocket client. One goroutine reads (and so answers
// pings with the library's default handler); the test goroutine is the only
// writer.
type wsClient struct {
	t    *testing.T
	name string
	ws   *websocket.Conn
	resp *http.Response

	in      chan msg
	done    chan struct{} // closed when the reader stopped; readErr is set
	readErr error

	backlog []msg // read but not yet consumed, in arrival order
	nextID  int
}

type dialOpts struct {
	subprotocols []string // default ["tickroom.v1"]
	header       http.Header
	token        string // ?token=
	pingHandler  func(string) error
}

// dial connects or fails the test.
func dial(t *testing.T, n *Node, name string, o dialOpts) *wsClient {
	t.Helper()
	c, resp, err := tryDial(t, n, name, o)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("%s: dial: %v (HTTP %d)", name, err, status)
	}
	return c
}

// tryDial connects; on a refused handshake it returns the HTTP response.
func tryDial(t *testing.T, n *Node, name string, o dialOpts) (*wsClient, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{
		Subprotocols:     o.subprotocols,
		HandshakeTimeout: waitFor,
	}
	if d.Subprotocols == nil {
		d.Subprotocols = []string{protocol.Subprotocol}
	}
	u := wsURL(n)
	if o.token != "" {
		u += "?token=" + url.QueryEscape(o.token)
	}
	ws, resp, err := d.Dial(u, o.header)
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	if err != nil {
		return nil, resp, err
	}
	c := &wsClient{t: t, name: name, ws: ws, resp: resp, in: make(chan msg, 4096), done: make(chan struct{})}
	if o.pingHandler != nil {
		ws.SetPingHandler(o.pingHandler)
	}
	go c.readLoop()
	t.Cleanup(c.close)
	return c, resp, nil
}

func (c *wsClient) readLoop() {
	defer close(c.done)
	for {
		typ, frame, err := c.ws.ReadMessage()
		if err != nil {
			c.readErr = err
			return
		}
		if typ != websocket.TextMessage {
			c.readErr = fmt.Errorf("server sent a non-text frame (type %d)", typ)
			return
		}
		for _, part := range bytes.Split(frame, []byte{'\n'}) {
			m := msg{Raw: append(json.RawMessage(nil), part...)}
			if err := json.Unmarshal(part, &m); err != nil {
				c.readErr = fmt.Errorf("server frame part %q is not a JSON object: %w", part, err)
				return
			}
			c.in <- m
		}
	}
}

// close ends the connection and waits for the reader.
func (c *wsClient) close() {
	_ = c.ws.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
	_ = c.ws.Close()
	<-c.done
}

// send writes one text frame holding v as JSON.
func (c *wsClient) send(v any) {
	c.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		c.t.Fatalf("%s: marshal: %v", c.name, err)
	}
	c.sendRaw(websocket.TextMessage, b)
}

func (c *wsClient) sendRaw(typ int, b []byte) {
	c.t.Helper()
	_ = c.ws.SetWriteDeadline(time.Now().Add(waitFor))
	if err := c.ws.WriteMessage(typ, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

// next returns the next object from the server, or fails the test when
// none arrives in time or the connection ended.
func (c *wsClient) next() msg {
	c.t.Helper()
	m, err := c.nextWithin(waitFor)
	if err != nil {
		c.t.Fatalf("%s: %v", c.name, err)
	}
	return m
}

func (c *wsClient) nextWithin(d time.Duration) (msg, error) {
	if len(c.backlog) > 0 {
		m := c.backlog[0]
		c.backlog = c.backlog[1:]
		return m, nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case m := <-c.in:
		return m, nil
	case <-c.done:
		select { // drain what arrived before the end
		case m := <-c.in:
			return m, nil
		default:
		}
		return msg{}, fmt.Errorf("connection ended while waiting: %v", c.readErr)
	case <-timer.C:
		return msg{}, fmt.Errorf("nothing from the server within %s", d)
	}
}

// request sends req with a fresh numeric id and returns its reply. Events
// that arrive before the reply stay queued, in order, for next/waitEvent.
func (c *wsClient) request(req map[string]any) msg {
	c.t.Helper()
	c.nextID++
	id := c.nextID
	req["id"] = id
	c.send(req)
	return c.waitReply(strconv.Itoa(id))
}

// waitReply waits for the reply whose raw id is rawID (e.g. `7` or `"x"`).
func (c *wsClient) waitReply(rawID string) msg {
	c.t.Helper()
	var skipped []msg
	defer func() { c.backlog = append(skipped, c.backlog...) }()
	deadline := time.Now().Add(waitFor)
	for {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			c.t.Fatalf("%s: waiting for reply %s: %v", c.name, rawID, err)
		}
		if m.isReply() && string(m.ID) == rawID {
			return m
		}
		skipped = append(skipped, m)
	}
}

// waitEvent discards objects until one satisfies pred.
func (c *wsClient) waitEvent(what string, pred func(msg) bool) msg {
	c.t.Helper()
	return waitUntil(c.t, c.name, what, c.nextWithin, pred)
}

// waitUntil reads with next, discarding what fails pred, until one passes
// or waitFor runs out (a fatal error naming who waited for what).
func waitUntil[M any](t *testing.T, who, what string, next func(time.Duration) (M, error), pred func(M) bool) M {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		m, err := next(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", who, what, err)
		}
		if pred(m) {
			return m
		}
	}
}

// welcome reads the first object, which must be the welcome event.
func (c *wsClient) welcome() protocol.Welcome {
	c.t.Helper()
	m := c.next()
	if m.Event != protocol.EventWelcome {
		c.t.Fatalf("%s: first object is %s, want the welcome event", c.name, m.Raw)
	}
	var w protocol.Welcome
	if err := json.Unmarshal(m.Data, &w); err != nil {
		c.t.Fatalf("%s: welcome data %s: %v", c.name, m.Data, err)
	}
	return w
}

// mustOK fails unless m is a successful reply.
func (c *wsClient) mustOK(m msg) msg {
	c.t.Helper()
	if m.OK == nil || !*m.OK {
		c.t.Fatalf("%s: want ok reply, got %s", c.name, m.Raw)
	}
	return m
}

func (c *wsClient) subscribe(channel string, since ...uint64) {
	c.t.Helper()
	req := map[string]any{"op": "subscribe", "channel": channel}
	if len(since) > 0 {
		req["since"] = since[0]
	}
	c.mustOK(c.request(req))
}

// publish sends a chat message and returns its acknowledged seq.
func (c *wsClient) publish(channel, text, msgid string) uint64 {
	c.t.Helper()
	r := c.mustOK(c.request(map[string]any{
		"op": "publish", "channel": channel, "msgid": msgid, "data": map[string]any{"text": text},
	}))
	if r.Seq == 0 {
		c.t.Fatalf("%s: publish ack without seq: %s", c.name, r.Raw)
	}
	return r.Seq
}

// ping checks the connection still answers.
func (c *wsClient) ping() {
	c.t.Helper()
	c.mustOK(c.request(map[string]any{"op": "ping"}))
}

// closeCode waits for the connection to end and returns the close code the
// server sent (-1 when it ended without a close frame).
func (c *wsClient) closeCode() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		c.t.Fatalf("%s: connection still open after %s", c.name, waitFor)
	}
	var ce *websocket.CloseError
	if errors.As(c.readErr, &ce) {
		return ce.Code
	}
	c.t.Logf("%s: connection ended without a close frame: %v", c.name, c.readErr)
	return -1
}

// chatEvents reads chat events on channel until one with msgid stop (a
// sentinel published last) and returns them all, sentinel included.
func (c *wsClient) chatEventsUntil(channel, stop string) []msg {
	c.t.Helper()
	var out []msg
	for {
		m := c.next()
		if m.Event != "chat" || m.Channel != channel {
			continue
		}
		out = append(out, m)
		if m.chat(c.t).MsgID == stop {
			return out
		}
	}
}
