package hub

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"
)

const tinyLinger = 5 * time.Millisecond

func TestOneUpstreamSubscriptionPerPattern(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	const n = 5
	clients := make([]*Client, n)
	for i := range clients {
		clients[i] = mustRegister(t, h, fmt.Sprint("c", i), "")
		subscribeLive(t, h, clients[i], "market.AAPL")
	}
	expectCounts(t, up, "market.AAPL", 1, 0)
	if st := h.Stats(); st.Topics != 1 || st.Subscriptions != n || st.Clients != n {
		t.Fatalf("stats = %+v, want 1 topic, %d subscriptions, %d clients", st, n, n)
	}

	// One upstream event reaches every client, as the same shared *Event.
	ev := tick("market.AAPL", `{"p":1}`)
	up.push(t, "market.AAPL", ev)
	for _, c := range clients {
		got := c.Drain(nil)
		if len(got) != 1 || got[0] != ev {
			t.Fatalf("client %s got %v, want the shared event", c.ID, got)
		}
	}

	for _, c := range clients[:n-1] {
		if !h.Unsubscribe(c, "market.AAPL") {
			t.Fatalf("Unsubscribe(%s) = false", c.ID)
		}
	}
	// Still one subscriber: the upstream must stay, linger or not.
	time.Sleep(10 * tinyLinger)
	expectCounts(t, up, "market.AAPL", 1, 0)

	h.Unsubscribe(clients[n-1], "market.AAPL")
	waitStops(t, up, "market.AAPL", 1)
	expectCounts(t, up, "market.AAPL", 1, 1)
	if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
		t.Fatalf("stats after last unsubscribe = %+v, want no topics or subscriptions", st)
	}

	// After the linger expired a new subscriber opens a fresh upstream.
	subscribeLive(t, h, clients[0], "market.AAPL")
	expectCounts(t, up, "market.AAPL", 2, 1)
}

func TestConcurrentSubscribersShareOneUpstream(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	entered, release := up.hold("chat.room")
	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		c := mustRegister(t, h, fmt.Sprint("c", i), "")
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, created, err := h.subscribe(ctx, c, "chat.room")
			if err == nil && !created {
				err = errors.New("created=false")
			}
			errs <- err
		}()
	}
	<-entered
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
		if got := h.Stats().Subscriptions; got != n {
			return fmt.Errorf("%d subscriptions waiting, want %d", got, n)
		}
		return nil
	})
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	expectCounts(t, up, "chat.room", 1, 0)
}

func TestResubscribeWithinLingerReusesUpstream(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: time.Hour})
	c := mustRegister(t, h, "c", "")
	subscribeLive(t, h, c, "market.AAPL")
	h.Unsubscribe(c, "market.AAPL")
	if st := h.Stats(); st.Topics != 1 {
		t.Fatalf("lingering topic not counted: %+v", st)
	}
	subscribeLive(t, h, c, "market.AAPL")
	expectCounts(t, up, "market.AAPL", 1, 0)

	// The reused upstream still feeds the new subscription.
	up.push(t, "market.AAPL", tick("market.AAPL", "t1"))
	expectFrames(t, c, "t1")

	// Shutdown+Wait stop a lingering topic without waiting out the linger.
	h.Unsubscribe(c, "market.AAPL")
	h.Unregister(c)
	h.Shutdown(protocol.CloseGoingAway, "bye")
	h.WaitUpstreamsStopped()
	expectCounts(t, up, "market.AAPL", 1, 1)
}

func TestLingerTimerCancelledByResubscribe(t *testing.T) {
	// The linger fires while a new subscriber holds the topic: it must not
	// stop the upstream from under it.
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	for range 20 {
		subscribeLive(t, h, c, "market.AAPL")
		h.Unsubscribe(c, "market.AAPL")
		subscribeLive(t, h, c, "market.AAPL")
		time.Sleep(2 * tinyLinger)
		subs, stops := up.counts("market.AAPL")
		if subs != stops+1 {
			t.Fatalf("upstream subscribes=%d stops=%d with a live subscriber", subs, stops)
		}
		up.push(t, "market.AAPL", tick("market.AAPL", "x"))
		expectFrames(t, c, "x")
		h.Unsubscribe(c, "market.AAPL")
	}
}

func TestUpstreamErrorIsReturnedAndRetried(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	up.failNext("chat.room", errUpstream)

	s, created, err := h.subscribe(ctx, c, "chat.room")
	if !errors.Is(err, errUpstream) || s != nil || created {
		t.Fatalf("Subscribe = %v, %v, %v; want nil, false, %v", s, created, err, errUpstream)
	}
	if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
		t.Fatalf("failed topic not forgotten: %+v", st)
	}
	if n := c.Subscriptions(); n != 0 {
		t.Fatalf("client keeps %d subscriptions after a failed subscribe", n)
	}

	subscribeLive(t, h, c, "chat.room")
	expectCounts(t, up, "chat.room", 2, 0)
	up.push(t, "chat.room", strict("chat.room", 1, "m1"))
	expectFrames(t, c, "m1")
}

func TestUpstreamErrorReachesEveryWaiter(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	entered, release := up.hold("chat.room")
	up.failNext("chat.room", errUpstream)
	const n = 3
	errs := make(chan error, n)
	for i := range n {
		c := mustRegister(t, h, fmt.Sprint("c", i), "")
		go func() {
			_, _, err := h.subscribe(ctx, c, "chat.room")
			errs <- err
		}()
	}
	<-entered
	checkFor(t, 2*time.Second, time.Millisecond, func() error {
		if got := h.Stats().Subscriptions; got != n {
			return fmt.Errorf("%d subscriptions waiting, want %d", got, n)
		}
		return nil
	})
	release()
	for range n {
		if err := <-errs; !errors.Is(err, errUpstream) {
			t.Fatalf("waiter got %v, want %v", err, errUpstream)
		}
	}
	if st := h.Stats(); st.Topics != 0 || st.Subscriptions != 0 {
		t.Fatalf("stats after failure = %+v", st)
	}
	expectCounts(t, up, "chat.room", 1, 0)
}

func TestDuplicateSubscribe(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	s1 := mustSubscribe(t, h, c, "chat.room")
	s2, created, err := h.subscribe(ctx, c, "chat.room")
	if err != nil || created || s2 != s1 {
		t.Fatalf("duplicate Subscribe = %p, %v, %v; want %p, false, nil", s2, created, err, s1)
	}
	if n := c.Subscriptions(); n != 1 {
		t.Fatalf("Subscriptions = %d, want 1", n)
	}
	if st := h.Stats(); st.Subscriptions != 1 {
		t.Fatalf("stats = %+v, want 1 subscription", st)
	}
	// "Stays as it was": still buffering.
	up.push(t, "chat.room", strict("chat.room", 1, "m1"))
	expectFrames(t, c)
	s1.live()
	expectFrames(t, c, "m1")
	expectCounts(t, up, "chat.room", 1, 0)
}

func TestUnsubscribeStopsDelivery(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: time.Hour})
	a := mustRegister(t, h, "a", "")
	b := mustRegister(t, h, "b", "")
	subscribeLive(t, h, a, "chat.room")
	subscribeLive(t, h, b, "chat.room")

	up.push(t, "chat.room", strict("chat.room", 1, "m1"))
	if !h.Unsubscribe(a, "chat.room") {
		t.Fatal("Unsubscribe = false for a subscription")
	}
	if h.Unsubscribe(a, "chat.room") {
		t.Fatal("second Unsubscribe = true")
	}
	if h.Unsubscribe(a, "chat.other") {
		t.Fatal("Unsubscribe of an unknown pattern = true")
	}
	up.push(t, "chat.room", strict("chat.room", 2, "m2"))
	expectFrames(t, a, "m1")
	expectFrames(t, b, "m1", "m2")

	// Events held while buffering are dropped with the subscription.
	s := mustSubscribe(t, h, a, "chat.room")
	up.push(t, "chat.room", strict("chat.room", 3, "m3"))
	h.Unsubscribe(a, "chat.room")
	s.live()
	expectFrames(t, a)
	expectFrames(t, b, "m3")
}

func TestUnregisterStopsDelivery(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	a := mustRegister(t, h, "a", "")
	b := mustRegister(t, h, "b", "")
	for _, p := range []string{"chat.room", "market.AAPL", "market.>"} {
		subscribeLive(t, h, a, p)
	}
	subscribeLive(t, h, b, "chat.room")

	h.Unregister(a)
	if r := a.Reason(); r == nil || r.Code != protocol.CloseNormal {
		t.Fatalf("Reason after Unregister = %v, want code %d", r, protocol.CloseNormal)
	}
	if !isClosed(a.Done()) {
		t.Fatal("Done not closed after Unregister")
	}
	if n := a.Subscriptions(); n != 0 {
		t.Fatalf("Subscriptions after Unregister = %d", n)
	}
	if st := h.Stats(); st.Clients != 1 || st.Subscriptions != 1 {
		t.Fatalf("stats after Unregister = %+v, want 1 client, 1 subscription", st)
	}
	up.push(t, "chat.room", strict("chat.room", 1, "m1"))
	expectFrames(t, a)
	expectFrames(t, b, "m1")

	// a was the only subscriber of the market topics.
	waitStops(t, up, "market.AAPL", 1)
	waitStops(t, up, "market.>", 1)
	expectCounts(t, up, "chat.room", 1, 0)

	// Unregister is idempotent; Subscribe on a closed client fails.
	h.Unregister(a)
	if st := h.Stats(); st.Clients != 1 {
		t.Fatalf("second Unregister changed clients: %+v", st)
	}
	_, _, err := h.subscribe(ctx, a, "chat.room")
	var cl *protocol.Close
	if !errors.As(err, &cl) || cl.Code != protocol.CloseNormal {
		t.Fatalf("Subscribe on closed client = %v, want its close reason", err)
	}
	if err := a.Send([]byte("x")); !errors.As(err, &cl) {
		t.Fatalf("Send on closed client = %v, want its close reason", err)
	}
}

func TestBroadcastMatchesExactAndWildcards(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	patterns := []string{"chat.room", "chat.*", "chat.>", "chat.other", "chat.room.x", "market.AAPL", "alert.>"}
	want := map[string]bool{"chat.room": true, "chat.*": true, "chat.>": true}
	clients := map[string]*Client{}
	for _, p := range patterns {
		c := mustRegister(t, h, p, "")
		subscribeLive(t, h, c, p)
		clients[p] = c
	}
	h.Broadcast(strict("chat.room", 0, "presence"))
	for _, p := range patterns {
		if want[p] {
			expectFrames(t, clients[p], "presence")
		} else {
			expectFrames(t, clients[p])
		}
	}

	// A client subscribed to two matching patterns gets it once per
	// subscription: each subscription is its own stream.
	both := mustRegister(t, h, "both", "")
	subscribeLive(t, h, both, "chat.room")
	subscribeLive(t, h, both, "chat.>")
	h.Broadcast(strict("chat.room", 0, "p2"))
	expectFrames(t, both, "p2", "p2")

	// Nobody listens: no panic, nothing queued.
	h.Broadcast(strict("feed.none", 0, "x"))
}

func TestSendAll(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 8})
	a := mustRegister(t, h, "a", "")
	b := mustRegister(t, h, "b", "")
	if err := b.Send([]byte("1234")); err != nil {
		t.Fatal(err)
	}
	h.SendAll([]byte("status"))
	expectFrames(t, a, "status")
	if r := b.Reason(); r == nil || r.Code != protocol.CloseSlowConsumer {
		t.Fatalf("b overflowed by SendAll: Reason = %v, want slow consumer", r)
	}
}

func TestShutdown(t *testing.T) {
	up := newFakeUpstream()
	h := New(up, Config{Linger: time.Hour})
	a := mustRegister(t, h, "a", "alice")
	b := mustRegister(t, h, "b", "bob")
	subscribeLive(t, h, a, "chat.room")
	subscribeLive(t, h, b, "chat.room")
	subscribeLive(t, h, b, "market.AAPL")
	idle := mustRegister(t, h, "idle", "")
	subscribeLive(t, h, idle, "market.MSFT")
	h.Unsubscribe(idle, "market.MSFT") // lingering for an hour

	h.Shutdown(protocol.CloseGoingAway, "server shutting down")
	for _, c := range []*Client{a, b, idle} {
		if !isClosed(c.Done()) {
			t.Fatalf("%s not closed by Shutdown", c.ID)
		}
		if r := c.Reason(); r == nil || r.Code != protocol.CloseGoingAway || r.Reason != "server shutting down" {
			t.Fatalf("%s Reason = %v, want 1001", c.ID, r)
		}
	}
	if c, err := h.Register("late", ""); !errors.Is(err, ErrClosed) || c != nil {
		t.Fatalf("Register after Shutdown = %v, %v; want ErrClosed", c, err)
	}
	if _, _, err := h.subscribe(ctx, a, "chat.other"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Subscribe after Shutdown = %v, want ErrClosed", err)
	}
	h.Shutdown(protocol.CloseGoingAway, "again") // idempotent
	if r := a.Reason(); r.Reason != "server shutting down" {
		t.Fatalf("second Shutdown replaced the reason: %v", r)
	}

	// The transports unregister; the first reason stays.
	for _, c := range []*Client{a, b, idle} {
		h.Unregister(c)
		if r := c.Reason(); r.Code != protocol.CloseGoingAway {
			t.Fatalf("Unregister replaced the close reason: %v", r)
		}
	}
	h.WaitUpstreamsStopped()
	for _, p := range []string{"chat.room", "market.AAPL", "market.MSFT"} {
		expectCounts(t, up, p, 1, 1)
	}
	if st := h.Stats(); st != (Stats{}) {
		t.Fatalf("stats after Shutdown and Wait = %+v, want zero", st)
	}
}

func TestWaitWaitsForSlowStop(t *testing.T) {
	// An upstream whose Subscribe is still in flight when the hub stops
	// the topic: Wait must return only after stop ran.
	up := newFakeUpstream()
	h := New(up, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	entered, release := up.hold("chat.room")
	done := make(chan error, 1)
	go func() {
		_, _, err := h.subscribe(ctx, c, "chat.room")
		done <- err
	}()
	<-entered
	h.Shutdown(protocol.CloseGoingAway, "")
	h.Unregister(c)
	waited := make(chan struct{})
	go func() {
		h.WaitUpstreamsStopped()
		close(waited)
	}()
	select {
	case <-waited:
		t.Fatal("Wait returned while the upstream Subscribe was in flight")
	case <-time.After(20 * time.Millisecond):
	}
	release()
	<-waited
	<-done
	expectCounts(t, up, "chat.room", 1, 1)
}

func TestCloseFirstReasonWins(t *testing.T) {
	h, _ := newTestHub(t, Config{})
	c := mustRegister(t, h, "c", "")
	if c.Reason() != nil || isClosed(c.Done()) {
		t.Fatal("new client is closed")
	}
	c.Close(4001, "first")
	c.Close(4002, "second")
	if r := c.Reason(); r.Code != 4001 || r.Reason != "first" {
		t.Fatalf("Reason = %v, want first", r)
	}
	if st := h.Stats(); st.SlowCloses != 0 {
		t.Fatalf("SlowCloses = %d for a non-overflow close", st.SlowCloses)
	}
}

func TestConfigDefaults(t *testing.T) {
	h := New(newFakeUpstream(), Config{QueueBytes: -1, Linger: -1})
	if h.cfg.QueueBytes != 1<<20 || h.cfg.Linger != 5*time.Second {
		t.Fatalf("defaults = %d, %v", h.cfg.QueueBytes, h.cfg.Linger)
	}
	h2 := New(newFakeUpstream(), Config{QueueBytes: 10, Linger: time.Second})
	if h2.cfg.QueueBytes != 10 || h2.cfg.Linger != time.Second {
		t.Fatalf("explicit config overwritten: %d, %v", h2.cfg.QueueBytes, h2.cfg.Linger)
	}
}

func TestWaitStopsLingeringTopics(t *testing.T) {
	// Wait also stops topics left lingering before any Shutdown.
	up := newFakeUpstream()
	h := New(up, Config{Linger: time.Hour})
	c := mustRegister(t, h, "c", "")
	subscribeLive(t, h, c, "market.AAPL")
	h.Unregister(c)
	expectCounts(t, up, "market.AAPL", 1, 0)
	h.WaitUpstreamsStopped()
	expectCounts(t, up, "market.AAPL", 1, 1)
	if st := h.Stats(); st.Topics != 0 {
		t.Fatalf("Topics after Wait = %d", st.Topics)
	}
}

// TestConcurrentChurn races subscribes, unsubscribes, unregisters,
// deliveries and broadcasts (run it with -race); afterwards every upstream
// subscription must be stopped exactly once and the gauges back at zero.
func TestConcurrentChurn(t *testing.T) {
	var log presenceLog
	up := newFakeUpstream()
	h := New(up, Config{Linger: time.Millisecond, QueueBytes: 1 << 12, OnPresence: log.record})
	patterns := []string{"chat.a", "chat.b", "chat.>", "market.AAPL", "market.*"}
	stopFeed := make(chan struct{})
	var feed sync.WaitGroup
	for _, p := range patterns {
		feed.Add(1)
		go func() { // an upstream that keeps delivering while topics churn
			defer feed.Done()
			var seq uint64
			for {
				select {
				case <-stopFeed:
					return
				default:
				}
				up.mu.Lock()
				d := up.deliver[p]
				up.mu.Unlock()
				if d != nil {
					seq++
					d(&Event{Channel: "chat.a", Seq: seq, Frame: []byte("x")})
				}
				h.Broadcast(tick("market.AAPL", "b"))
			}
		}()
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				c, err := h.Register(fmt.Sprint(w, "-", i), fmt.Sprint("u", w%3))
				if err != nil {
					t.Error(err)
					return
				}
				for j, p := range patterns[(i % len(patterns)):] {
					s, _, err := h.subscribe(ctx, c, p)
					var cl *protocol.Close
					if errors.As(err, &cl) && cl.Code == protocol.CloseSlowConsumer {
						break // the feed outran this client: it still unregisters
					}
					if err != nil {
						t.Error(err)
						return
					}
					if j%2 == 0 {
						s.live()
					}
				}
				c.Drain(nil)
				done := make(chan struct{})
				go func() { // the reader unsubscribes while the connection drops
					defer close(done)
					h.Unsubscribe(c, patterns[len(patterns)-1])
				}()
				h.Unregister(c)
				<-done
			}
		}()
	}
	wg.Wait()
	close(stopFeed)
	feed.Wait()
	h.Shutdown(1001, "")
	h.WaitUpstreamsStopped()
	for _, p := range patterns {
		subs, stops := up.counts(p)
		if subs == 0 || subs != stops {
			t.Errorf("%q: %d upstream subscribes, %d stops", p, subs, stops)
		}
	}
	if st := h.Stats(); st.Clients != 0 || st.Topics != 0 || st.Subscriptions != 0 {
		t.Errorf("stats after churn = %+v", st)
	}
	if p := h.Presence(); len(p) != 0 {
		t.Errorf("Presence after churn = %v", p)
	}
	joins := map[string]int{}
	for _, call := range log.take() {
		f := strings.Fields(call) // user verb channel
		if f[1] == "joined" {
			joins[f[0]+" "+f[2]]++
		} else {
			joins[f[0]+" "+f[2]]--
		}
	}
	for k, n := range joins {
		if n != 0 {
			t.Errorf("presence %s: %d more joins than leaves", k, n)
		}
	}
}
