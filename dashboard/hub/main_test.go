package hub

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// fakeUpstream records Subscribe and stop calls per pattern and keeps the
// deliver funcs so a test can push events as if they came from NATS.
type fakeUpstream struct {
	mu      sync.Mutex
	subs    map[string]int
	stops   map[string]int
	deliver map[string]func(*Event) // current (not yet stopped) subscription per pattern
	fail    map[string]error        // returned by the next Subscribe to pattern
	gate    map[string]chan struct{}
	entered map[string]chan struct{}
}

func newFakeUpstream() *fakeUpstream {
	return &fakeUpstream{
		subs:    make(map[string]int),
		stops:   make(map[string]int),
		deliver: make(map[string]func(*Event)),
		fail:    make(map[string]error),
		gate:    make(map[string]chan struct{}),
		entered: make(map[string]chan struct{}),
	}
}

var _ Upstream = (*fakeUpstream)(nil)

func (f *fakeUpstream) Subscribe(pattern string, deliver func(*Event)) (func(), error) {
	f.mu.Lock()
	f.subs[pattern]++
	gate, entered := f.gate[pattern], f.entered[pattern]
	delete(f.gate, pattern)
	delete(f.entered, pattern)
	f.mu.Unlock()
	if gate != nil { // a test holds this Subscribe "in network I/O"
		close(entered)
		<-gate
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.fail[pattern]; err != nil {
		delete(f.fail, pattern)
		return nil, err
	}
	f.deliver[pattern] = deliver
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.stops[pattern]++
			delete(f.deliver, pattern)
			f.mu.Unlock()
		})
	}, nil
}

// failNext makes the next Subscribe to pattern fail with err.
func (f *fakeUpstream) failNext(pattern string, err error) {
	f.mu.Lock()
	f.fail[pattern] = err
	f.mu.Unlock()
}

// hold makes the next Subscribe to pattern block until release is called;
// entered is closed once that Subscribe has been called.
func (f *fakeUpstream) hold(pattern string) (entered <-chan struct{}, release func()) {
	gate, in := make(chan struct{}), make(chan struct{})
	f.mu.Lock()
	f.gate[pattern], f.entered[pattern] = gate, in
	f.mu.Unlock()
	var once sync.Once
	return in, func() { once.Do(func() { close(gate) }) }
}

func (f *fakeUpstream) counts(pattern string) (subscribes, stops int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.subs[pattern], f.stops[pattern]
}

// push delivers ev through pattern's upstream subscription, as NATS would.
func (f *fakeUpstream) push(t testing.TB, pattern string, ev *Event) {
	t.Helper()
	f.mu.Lock()
	d := f.deliver[pattern]
	f.mu.Unlock()
	if d == nil {
		t.Fatalf("no live upstream subscription for %q", pattern)
	}
	d(ev)
}

// checkFor polls f until it returns nil or timeout passes (nats-server's
// test helper of the same name).
func checkFor(t testing.TB, timeout, interval time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var err error
	for time.Now().Before(deadline) {
		if err = f(); err == nil {
			return
		}
		time.Sleep(interval)
	}
	t.Fatalf("condition not met after %v: %v", timeout, err)
}

// newTestHub returns a hub on a fake upstream that is shut down, with every
// upstream stop awaited, when the test ends.
func newTestHub(t testing.TB, cfg Config) (*Hub, *fakeUpstream) {
	t.Helper()
	up := newFakeUpstream()
	h := New(up, cfg)
	t.Cleanup(func() {
		h.Shutdown(1001, "test over")
		for _, c := range h.Clients() {
			h.Unregister(c)
		}
		h.WaitUpstreamsStopped()
	})
	return h, up
}

func mustRegister(t testing.TB, h *Hub, id, user string) *Client {
	t.Helper()
	c, err := h.Register(id, user)
	if err != nil {
		t.Fatalf("Register(%q): %v", id, err)
	}
	wakes(c)
	return c
}

// wakeChans holds, per client, the channel its OnWake signals: a test's
// stand-in for a transport's writer.
var wakeChans sync.Map // *Client → chan struct{}

// wakes returns the channel that receives when c's queue may have become
// non-empty or c closed. mustRegister sets it up before anything is queued.
func wakes(c *Client) <-chan struct{} {
	if ch, ok := wakeChans.Load(c); ok {
		return ch.(chan struct{})
	}
	ch := make(chan struct{}, 1)
	c.OnWake(func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	})
	wakeChans.Store(c, ch)
	return ch
}

func mustSubscribe(t testing.TB, h *Hub, c *Client, pattern string) *Sub {
	t.Helper()
	s, created, err := h.subscribe(ctx, c, pattern)
	if err != nil {
		t.Fatalf("Subscribe(%s, %q): %v", c.ID, pattern, err)
	}
	if !created {
		t.Fatalf("Subscribe(%s, %q): created=false for a new subscription", c.ID, pattern)
	}
	return s
}

// subscribeLive subscribes and ends buffering at once (no replay).
func subscribeLive(t testing.TB, h *Hub, c *Client, pattern string) *Sub {
	t.Helper()
	s := mustSubscribe(t, h, c, pattern)
	s.live()
	return s
}

func strict(channel string, seq uint64, body string) *Event {
	return &Event{Channel: channel, Seq: seq, Frame: []byte(body)}
}

func tick(channel, body string) *Event {
	return &Event{Channel: channel, Droppable: true, Frame: []byte(body)}
}

// frames drains c and returns the queued frames as strings.
func frames(c *Client) []string {
	var out []string
	for _, ev := range c.Drain(nil) {
		out = append(out, string(ev.Frame))
	}
	return out
}

func expectFrames(t testing.TB, c *Client, want ...string) {
	t.Helper()
	got := frames(c)
	if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
		t.Fatalf("client %s frames:\n got  %q\n want %q", c.ID, got, want)
	}
}

func expectCounts(t testing.TB, up *fakeUpstream, pattern string, subscribes, stops int) {
	t.Helper()
	s, st := up.counts(pattern)
	if s != subscribes || st != stops {
		t.Fatalf("upstream %q: %d subscribes, %d stops; want %d, %d", pattern, s, st, subscribes, stops)
	}
}

func waitStops(t testing.TB, up *fakeUpstream, pattern string, stops int) {
	t.Helper()
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
		if _, st := up.counts(pattern); st != stops {
			return fmt.Errorf("upstream %q stopped %d times, want %d", pattern, st, stops)
		}
		return nil
	})
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// presenceLog records OnPresence calls.
type presenceLog struct {
	mu    sync.Mutex
	calls []string
}

func (p *presenceLog) record(channel, user string, joined bool) {
	verb := "left"
	if joined {
		verb = "joined"
	}
	p.mu.Lock()
	p.calls = append(p.calls, user+" "+verb+" "+channel)
	p.mu.Unlock()
}

func (p *presenceLog) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.calls
	p.calls = nil
	return out
}

func (p *presenceLog) expect(t testing.TB, want ...string) {
	t.Helper()
	got := p.take()
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("presence calls:\n got  %q\n want %q", got, want)
	}
}

var errUpstream = errors.New("upstream down")
