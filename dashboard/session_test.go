package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fasthttp/websocket"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/auth"
	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// fakeBus is an in-memory Bus: stored messages per subject, live callbacks
// per pattern, and a hook that runs inside Replay (to deliver live events
// while a replay is in progress).
type fakeBus struct {
	mu       sync.Mutex
	stored   map[string][]natsbus.Msg
	live     map[string]func(natsbus.Msg)
	duringRe func()
	epoch    string
}

func newFakeBus() *fakeBus {
	return &fakeBus{stored: map[string][]natsbus.Msg{}, live: map[string]func(natsbus.Msg){}, epoch: "e1"}
}

var _ Bus = (*fakeBus)(nil)

func (b *fakeBus) Ready() bool                               { return true }
func (b *fakeBus) OnStatus(func(bool))                       {}
func (b *fakeBus) PublishPresenceEvent(string, []byte) error { return nil }
func (b *fakeBus) PutPresence(context.Context, string, map[string][]string) error {
	return nil
}
func (b *fakeBus) DeletePresence(context.Context, string) error { return nil }
func (b *fakeBus) Presence(context.Context, string) ([]string, error) {
	return nil, nil
}
func (b *fakeBus) SubscribePresenceEvents(func(natsbus.Msg)) (natsbus.Subscription, error) {
	return unsub(func() {}), nil
}

type unsub func()

func (u unsub) Unsubscribe() error { u(); return nil }

func (b *fakeBus) PublishDurable(_ context.Context, subject string, data []byte, _ string) (uint64, bool, error) {
	b.mu.Lock()
	seq := uint64(len(b.stored[subject]) + 1)
	b.mu.Unlock()
	b.store(natsbus.Msg{Subject: subject, Seq: seq, Time: time.Now(), Data: data})
	return seq, false, nil
}

// store keeps m and delivers it live, like JetStream then the consumer.
func (b *fakeBus) store(m natsbus.Msg) {
	b.mu.Lock()
	b.stored[m.Subject] = append(b.stored[m.Subject], m)
	var fns []func(natsbus.Msg)
	for p, fn := range b.live {
		if protocol.Match(p, m.Subject) {
			fns = append(fns, fn)
		}
	}
	b.mu.Unlock()
	for _, fn := range fns {
		fn(m)
	}
}

func (b *fakeBus) SubscribeLive(pattern string, fn func(natsbus.Msg)) (natsbus.Subscription, error) {
	b.mu.Lock()
	b.live[pattern] = fn
	b.mu.Unlock()
	return unsub(func() {
		b.mu.Lock()
		delete(b.live, pattern)
		b.mu.Unlock()
	}), nil
}

func (b *fakeBus) matching(pattern string) []natsbus.Msg {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []natsbus.Msg
	for subj, ms := range b.stored {
		if protocol.Match(pattern, subj) {
			out = append(out, ms...)
		}
	}
	return out
}

func (b *fakeBus) Replay(ctx context.Context, pattern string, after uint64, fn func(natsbus.Msg) error) (uint64, error) {
	msgs := b.matching(pattern)
	b.mu.Lock()
	hook := b.duringRe
	b.mu.Unlock()
	if hook != nil {
		hook()
	}
	last := after
	for _, m := range msgs {
		if m.Seq > after {
			if err := fn(m); err != nil {
				return last, err
			}
			last = m.Seq
		}
	}
	return last, nil
}

func (b *fakeBus) ResumeInfo(context.Context, string, uint64) (bool, string, error) {
	return true, b.epoch, nil
}

func (b *fakeBus) History(context.Context, string, uint64, int) ([]natsbus.Msg, error) {
	return nil, nil
}

func (b *fakeBus) LastValues(_ context.Context, pattern string, fn func(natsbus.Msg) error) error {
	ms := b.matching(pattern)
	if len(ms) > 0 {
		return fn(ms[len(ms)-1])
	}
	return nil
}

// fakeTransport records what the writer sends. Writes block while gate is
// held, like a peer that does not read.
type fakeTransport struct {
	mu      sync.Mutex
	batches [][]string
	pings   int
	closed  *protocol.Close
	broken  bool
	ended   chan struct{}
	gate    sync.Mutex
}

func newFakeTransport() *fakeTransport { return &fakeTransport{ended: make(chan struct{})} }

var _ Transport = (*fakeTransport)(nil)

func (t *fakeTransport) Name() string                     { return "fake" }
func (t *fakeTransport) SetWriteDeadline(time.Time) error { return nil }
func (t *fakeTransport) CutWrite()                        {}

func (t *fakeTransport) WriteBatch(batch []*hub.Event) (int, int, error) {
	t.gate.Lock()
	defer t.gate.Unlock()
	frames := make([]string, len(batch))
	n := 0
	for i, ev := range batch {
		frames[i] = string(ev.Frame)
		n += len(ev.Frame)
	}
	t.mu.Lock()
	t.batches = append(t.batches, frames)
	t.mu.Unlock()
	return 1, n, nil
}

func (t *fakeTransport) Pong([]byte) error { return nil }

func (t *fakeTransport) Ping() error {
	t.mu.Lock()
	t.pings++
	t.mu.Unlock()
	return nil
}

func (t *fakeTransport) Close(r *protocol.Close) {
	t.mu.Lock()
	if r == nil {
		t.broken = true
	} else {
		c := *r
		t.closed = &c
	}
	t.mu.Unlock()
	close(t.ended)
}

// frames returns every frame written so far, in order.
func (t *fakeTransport) frames() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []string
	for _, b := range t.batches {
		out = append(out, b...)
	}
	return out
}

func (t *fakeTransport) waitFrames(tb testing.TB, n int) []string {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		if f := t.frames(); len(f) >= n {
			return f
		}
		time.Sleep(2 * time.Millisecond)
	}
	tb.Fatalf("wrote %d frames, want %d: %q", len(t.frames()), n, t.frames())
	return nil
}

func (t *fakeTransport) waitClosed(tb testing.TB) *protocol.Close {
	tb.Helper()
	select {
	case <-t.ended:
	case <-time.After(5 * time.Second):
		tb.Fatal("transport not closed")
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.closed
}

func testServer(t testing.TB, bus Bus, mod func(*Config)) *Server {
	t.Helper()
	cfg := Config{
		Dev: true, Heartbeat: time.Hour, Node: "gw-test",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, bus, Identities{Sessions: auth.NewDevSessions([]byte("0123456789abcdef0123456789abcdef"), time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s
}

// openTestSession opens a session the way the adapters do, on a fake
// transport.
func openTestSession(t *testing.T, s *Server, id auth.Identity) (*Session, *fakeTransport) {
	t.Helper()
	if ok, reason := s.limits.acquire("192.0.2.1"); !ok {
		t.Fatal(reason)
	}
	ss, err := s.openSession(id, "192.0.2.1", "fake")
	if err != nil {
		t.Fatal(err)
	}
	tr := newFakeTransport()
	ss.start(tr)
	return ss, tr
}

func chatMsg(t *testing.T, seq uint64, text string) natsbus.Msg {
	t.Helper()
	data, perr := protocol.ChatData(json.RawMessage(fmt.Sprintf(`{"text":%q}`, text)), "ana", "", 4096)
	if perr != nil {
		t.Fatal(perr)
	}
	return natsbus.Msg{Subject: "chat.lobby", Seq: seq, Time: time.Now(), Data: data}
}

func textOf(frame string) string {
	var ev struct {
		Data struct{ Text string } `json:"data"`
	}
	_ = json.Unmarshal([]byte(frame), &ev)
	return ev.Data.Text
}

// The subscribe's reply comes first, then the replay after since, then
// live events — including those that arrived during the replay, without
// the ones the replay already sent.
func TestSessionSubscribeOrder(t *testing.T) {
	bus := newFakeBus()
	s := testServer(t, bus, nil)
	for i := uint64(1); i <= 3; i++ {
		bus.store(chatMsg(t, i, fmt.Sprint("stored", i)))
	}
	bus.duringRe = func() {
		bus.store(chatMsg(t, 4, "during-replay"))
	}
	ss, tr := openTestSession(t, s, auth.Identity{User: "ana"})
	defer ss.end()
	tr.waitFrames(t, 1) // welcome
	ss.handleFrame([]byte(`{"op":"subscribe","id":7,"channel":"chat.lobby","since":1}`))
	bus.store(chatMsg(t, 5, "live"))

	// Six frames: the welcome, the reply and four events. The writer runs
	// on its own goroutine, so it may have written the first five before
	// "live" was queued: waiting for fewer than all six reads a prefix.
	got := tr.waitFrames(t, 6)
	if !strings.Contains(got[0], `"event":"welcome"`) {
		t.Fatalf("first frame %s, want the welcome", got[0])
	}
	if got[1] != `{"id":7,"ok":true,"recovered":true,"epoch":"e1"}` {
		t.Fatalf("after the welcome: %s, want the reply with recovered and epoch", got[1])
	}
	var texts []string
	for _, f := range got[2:] {
		texts = append(texts, textOf(f))
	}
	if want := "stored2 stored3 during-replay live"; strings.Join(texts, " ") != want {
		t.Fatalf("events %q, want %q", texts, want)
	}
	time.Sleep(20 * time.Millisecond)
	if n := len(tr.frames()); n != 6 {
		t.Fatalf("%d frames, want 6 (no duplicate): %q", n, tr.frames())
	}
}

// Events queued while a write is in progress leave together, in order, in
// one batch — not one write per event.
func TestSessionBatches(t *testing.T) {
	bus := newFakeBus()
	s := testServer(t, bus, nil)
	ss, tr := openTestSession(t, s, auth.Identity{User: "ana"})
	defer ss.end()
	ss.handleFrame([]byte(`{"op":"subscribe","id":1,"channel":"chat.lobby"}`))
	tr.waitFrames(t, 2)
	tr.gate.Lock() // the peer stops reading
	bus.store(chatMsg(t, 1, "m1"))
	time.Sleep(10 * time.Millisecond) // the writer is now stuck writing m1
	for i := uint64(2); i <= 50; i++ {
		bus.store(chatMsg(t, i, fmt.Sprint("m", i)))
	}
	tr.gate.Unlock()
	got := tr.waitFrames(t, 52)
	for i, f := range got[2:] {
		if textOf(f) != fmt.Sprint("m", i+1) {
			t.Fatalf("event %d is %s, want m%d", i, f, i+1)
		}
	}
	tr.mu.Lock()
	batches := len(tr.batches)
	tr.mu.Unlock()
	if batches > 6 {
		t.Fatalf("%d batches for 52 frames: the writer did not batch", batches)
	}
}

// Every way a session ends reaches the transport as one close reason.
func TestSessionCloseReasons(t *testing.T) {
	t.Run("slow consumer", func(t *testing.T) {
		bus := newFakeBus()
		s := testServer(t, bus, func(c *Config) { c.QueueBytes = 64 << 10 })
		ss, tr := openTestSession(t, s, auth.Identity{User: "ana"})
		ss.handleFrame([]byte(`{"op":"subscribe","id":1,"channel":"chat.lobby"}`))
		tr.waitFrames(t, 2)
		tr.gate.Lock()
		// 300 KB: more than the queue even after the writer took one
		// full write buffer (64 KiB) into a batch stuck at the gate.
		big := strings.Repeat("x", 3000)
		for i := uint64(1); i <= 100; i++ {
			bus.store(chatMsg(t, i, big))
		}
		tr.gate.Unlock()
		if r := tr.waitClosed(t); r == nil || r.Code != protocol.CloseSlowConsumer {
			t.Fatalf("close %+v, want %d", r, protocol.CloseSlowConsumer)
		}
		ss.end()
	})
	t.Run("credential expiry", func(t *testing.T) {
		s := testServer(t, newFakeBus(), nil)
		ss, tr := openTestSession(t, s, auth.Identity{User: "ana", Expires: time.Now().Add(50 * time.Millisecond)})
		if r := tr.waitClosed(t); r == nil || r.Code != protocol.ClosePolicy {
			t.Fatalf("close %+v, want %d", r, protocol.ClosePolicy)
		}
		ss.end()
	})
	t.Run("server shutdown", func(t *testing.T) {
		s := testServer(t, newFakeBus(), nil)
		ss, tr := openTestSession(t, s, auth.Identity{User: "ana"})
		done := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			done <- s.Shutdown(ctx)
		}()
		if r := tr.waitClosed(t); r == nil || r.Code != protocol.CloseGoingAway {
			t.Fatalf("close %+v, want %d", r, protocol.CloseGoingAway)
		}
		ss.end()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	t.Run("normal end", func(t *testing.T) {
		s := testServer(t, newFakeBus(), nil)
		ss, tr := openTestSession(t, s, auth.Identity{User: "ana"})
		ss.end()
		if r := tr.waitClosed(t); r == nil || r.Code != protocol.CloseNormal {
			t.Fatalf("close %+v, want %d", r, protocol.CloseNormal)
		}
	})
}

// The per-IP limit counts the client behind a trusted proxy, not the
// proxy, on both transports (SSE used to count the proxy's address).
func TestPerIPLimitBehindProxyBothTransports(t *testing.T) {
	s := testServer(t, newFakeBus(), func(c *Config) {
		c.TrustedProxies = []string{"127.0.0.1"}
		c.MaxConnectionsPerIP = 1
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(ln) }()
	base := "http://" + ln.Addr().String()

	openSSE := func(client string) (int, func()) {
		req, _ := http.NewRequest("GET", base+"/sse?channel=chat.lobby", nil)
		req.Header.Set("X-Forwarded-For", client)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode == 200 {
			// Read the first message so the stream is surely registered.
			_, _ = bufio.NewReader(resp.Body).ReadString('\n')
		}
		return resp.StatusCode, func() { resp.Body.Close() }
	}
	openWS := func(client string) int {
		h := http.Header{"X-Forwarded-For": {client}}
		c, resp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/ws", h)
		if err != nil {
			if resp != nil {
				return resp.StatusCode
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return resp.StatusCode
	}

	code, closeA := openSSE("203.0.113.1")
	defer closeA()
	if code != 200 {
		t.Fatalf("first SSE stream from 203.0.113.1: %d", code)
	}
	code, closeB := openSSE("203.0.113.2")
	defer closeB()
	if code != 200 {
		t.Fatalf("SSE stream from another client behind the same proxy: %d, want 200", code)
	}
	code, closeC := openSSE("203.0.113.1")
	defer closeC()
	if code != http.StatusServiceUnavailable {
		t.Fatalf("second SSE stream from 203.0.113.1: %d, want 503", code)
	}
	if code := openWS("203.0.113.3"); code != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket from 203.0.113.3: %d, want 101", code)
	}
	if code := openWS("203.0.113.1"); code != http.StatusServiceUnavailable {
		t.Fatalf("WebSocket from 203.0.113.1, which holds an SSE stream: %d, want 503", code)
	}
}
