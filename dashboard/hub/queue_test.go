package hub

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"
)

var ctx = context.Background()

func TestBufferingUntilLive(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	s := mustSubscribe(t, h, c, "chat.room")

	// Live events before Live are held, not queued.
	for seq := uint64(4); seq <= 7; seq++ {
		up.push(t, "chat.room", strict("chat.room", seq, fmt.Sprint("live", seq)))
	}
	if n, _ := c.Queued(); n != 0 {
		t.Fatalf("%d events queued while buffering", n)
	}
	select {
	case <-wakes(c):
		t.Fatal("Ready signalled for held events")
	default:
	}

	// The replay goes straight to the queue, ahead of what is held.
	for seq := uint64(2); seq <= 5; seq++ {
		if err := s.replay(ctx, strict("chat.room", seq, fmt.Sprint("hist", seq))); err != nil {
			t.Fatal(err)
		}
	}
	// A replayed seq at or below the last replayed one is dropped.
	if err := s.replay(ctx, strict("chat.room", 3, "hist3-again")); err != nil {
		t.Fatal(err)
	}
	if n, _ := c.Queued(); n != 4 {
		t.Fatalf("%d events queued after replay, want 4", n)
	}

	// Live flushes only what the replay did not send.
	s.live()
	expectFrames(t, c, "hist2", "hist3", "hist4", "hist5", "live6", "live7")

	// After Live, events flow straight through, still deduplicated.
	up.push(t, "chat.room", strict("chat.room", 7, "live7-dup"))
	up.push(t, "chat.room", strict("chat.room", 8, "live8"))
	expectFrames(t, c, "live8")
}

func TestLiveFlushesNonSeqEvents(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	s := mustSubscribe(t, h, c, "market.AAPL")
	up.push(t, "market.AAPL", tick("market.AAPL", "t1"))
	up.push(t, "market.AAPL", tick("market.AAPL", "t2"))
	up.push(t, "market.AAPL", strict("market.AAPL", 0, "s3"))
	if err := s.replay(ctx, tick("market.AAPL", "last")); err != nil {
		t.Fatal(err)
	}
	s.live()
	// Seq 0 events are all flushed; the held ticks conflate with each other
	// but not with the replayed last value (replays are strict).
	expectFrames(t, c, "last", "t2", "s3")
	if st := h.Stats(); st.Conflated != 1 {
		t.Fatalf("Conflated = %d, want 1", st.Conflated)
	}
}

func TestReplayIsStrict(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	s := mustSubscribe(t, h, c, "market.AAPL")
	orig := tick("market.AAPL", "v1")
	for _, ev := range []*Event{orig, tick("market.AAPL", "v2")} {
		if err := s.replay(ctx, ev); err != nil {
			t.Fatal(err)
		}
	}
	got := c.Drain(nil)
	if len(got) != 2 || got[0].Droppable || got[1].Droppable {
		t.Fatalf("replayed events = %v, want 2 strict events", got)
	}
	if !orig.Droppable {
		t.Fatal("Replay modified the caller's shared event")
	}
}

func TestSkipToDropsOld(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")

	// While buffering.
	s := mustSubscribe(t, h, c, "chat.room")
	s.skipTo(10)
	for seq := uint64(8); seq <= 12; seq++ {
		up.push(t, "chat.room", strict("chat.room", seq, fmt.Sprint(seq)))
	}
	if err := s.replay(ctx, strict("chat.room", 9, "old")); err != nil {
		t.Fatal(err)
	}
	s.skipTo(5) // never moves back
	s.live()
	expectFrames(t, c, "11", "12")

	// After Live.
	s2 := subscribeLive(t, h, c, "alert.>")
	s2.skipTo(100)
	up.push(t, "alert.>", strict("alert.AAPL", 100, "a100"))
	up.push(t, "alert.>", strict("alert.AAPL", 101, "a101"))
	up.push(t, "alert.>", strict("alert.AAPL", 0, "a-noseq"))
	expectFrames(t, c, "a101", "a-noseq")
}

func TestReplyStaysFirst(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	other := mustRegister(t, h, "other", "")
	subscribeLive(t, h, other, "chat.room")

	s := mustSubscribe(t, h, c, "chat.room")
	up.push(t, "chat.room", strict("chat.room", 3, "live3")) // before the reply is sent
	if err := c.Send([]byte("reply")); err != nil {
		t.Fatal(err)
	}
	up.push(t, "chat.room", strict("chat.room", 4, "live4"))
	if err := s.replay(ctx, strict("chat.room", 1, "hist1")); err != nil {
		t.Fatal(err)
	}
	if err := s.replay(ctx, strict("chat.room", 2, "hist2")); err != nil {
		t.Fatal(err)
	}
	up.push(t, "chat.room", strict("chat.room", 5, "live5"))
	s.live()
	up.push(t, "chat.room", strict("chat.room", 6, "live6"))
	expectFrames(t, c, "reply", "hist1", "hist2", "live3", "live4", "live5", "live6")
	expectFrames(t, other, "live3", "live4", "live5", "live6")
}

func TestReplayWaitsForTheWriter(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 10})
	c := mustRegister(t, h, "c", "")
	s := mustSubscribe(t, h, c, "chat.room")
	if err := s.replay(ctx, strict("chat.room", 1, "12345678")); err != nil { // 9 bytes
		t.Fatal(err)
	}
	// A replay that would overflow waits for the writer rather than
	// closing the client: it runs at the pace the client reads.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := s.replay(short, strict("chat.room", 2, "12")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Replay into a full queue = %v, want it to wait until ctx ends", err)
	}
	if r := c.Reason(); r != nil {
		t.Fatalf("client closed by a waiting replay: %v", r)
	}
	bounded, cancel2 := context.WithTimeout(ctx, 10*time.Second)
	defer cancel2()
	done := make(chan error, 1)
	go func() { done <- s.replay(bounded, strict("chat.room", 3, "34")) }()
	// Drain only once the replay is blocked (it has not queued "34"), so the
	// wake-up must come from Drain itself.
	select {
	case err := <-done:
		t.Fatalf("Replay into a full queue returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	c.Drain(nil)
	if err := <-done; err != nil {
		t.Fatalf("Replay after drain = %v (Drain must wake a waiting replay)", err)
	}
	s.live()
	expectFrames(t, c, "34")
}

func TestBufferingOverflowClosesClient(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 20})
	c := mustRegister(t, h, "c", "")
	s := mustSubscribe(t, h, c, "market.AAPL")
	// Even droppable events count while held: a replay that never ends
	// must not grow memory without bound.
	for range 2 { // 10 bytes each: 20 held is at the bound, not over it
		up.push(t, "market.AAPL", tick("market.AAPL", "123456789"))
	}
	if r := c.Reason(); r != nil {
		t.Fatalf("closed early: %v", r)
	}
	up.push(t, "market.AAPL", tick("market.AAPL", "123456789"))
	if r := c.Reason(); r == nil || r.Code != protocol.CloseSlowConsumer {
		t.Fatalf("Reason = %v, want slow consumer", r)
	}
	if st := h.Stats(); st.SlowCloses != 1 {
		t.Fatalf("SlowCloses = %d", st.SlowCloses)
	}
	s.live()
	expectFrames(t, c)
}

func TestConflation(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 64})
	c := mustRegister(t, h, "c", "")
	subscribeLive(t, h, c, "market.>")

	const n = 1000
	for i := range n {
		up.push(t, "market.>", tick("market.AAPL", fmt.Sprint("A", i)))
	}
	if events, bytes := c.Queued(); events != 1 || bytes != 0 {
		t.Fatalf("Queued = %d events, %d strict bytes; want 1, 0", events, bytes)
	}
	if st := h.Stats(); st.Conflated != n-1 {
		t.Fatalf("Conflated = %d, want %d", st.Conflated, n-1)
	}

	// Another channel gets its own slot; a strict event in between keeps
	// its place and the slots keep theirs.
	up.push(t, "market.>", tick("market.MSFT", "M0"))
	up.push(t, "market.>", strict("market.MSFT", 0, "S"))
	up.push(t, "market.>", tick("market.MSFT", "M1"))
	up.push(t, "market.>", tick("market.AAPL", "A-last"))
	expectFrames(t, c, "A-last", "M1", "S")
	if st := h.Stats(); st.Conflated != n+1 {
		t.Fatalf("Conflated = %d, want %d", st.Conflated, n+1)
	}

	// Drain resets the slots: the next tick is queued, not conflated into
	// the batch the writer already holds.
	up.push(t, "market.>", tick("market.AAPL", "after"))
	expectFrames(t, c, "after")
	if st := h.Stats(); st.Conflated != n+1 {
		t.Fatalf("Conflated moved after Drain: %d", st.Conflated)
	}
	if r := c.Reason(); r != nil {
		t.Fatalf("ticks closed the client: %v", r)
	}
}

func TestConflationAcrossSubscriptions(t *testing.T) {
	// Two subscriptions delivering the same channel share the client's slot.
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	subscribeLive(t, h, c, "market.AAPL")
	subscribeLive(t, h, c, "market.>")
	up.push(t, "market.AAPL", tick("market.AAPL", "1"))
	up.push(t, "market.>", tick("market.AAPL", "2"))
	expectFrames(t, c, "2")
}

func TestStrictOverflowClosesSlowConsumer(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 100})
	c := mustRegister(t, h, "c", "")
	fast := mustRegister(t, h, "fast", "")
	subscribeLive(t, h, c, "chat.room")
	subscribeLive(t, h, fast, "chat.room")

	frame := strings.Repeat("x", 29) // 30 bytes queued each
	for seq := uint64(1); seq <= 3; seq++ {
		up.push(t, "chat.room", strict("chat.room", seq, frame))
		fast.Drain(nil)
	}
	if _, bytes := c.Queued(); bytes != 90 {
		t.Fatalf("strict bytes = %d, want 90", bytes)
	}
	if isClosed(c.Done()) {
		t.Fatal("closed below the bound")
	}
	up.push(t, "chat.room", strict("chat.room", 4, frame))
	if !isClosed(c.Done()) {
		t.Fatal("Done not closed after overflow")
	}
	r := c.Reason()
	if r == nil || r.Code != protocol.CloseSlowConsumer || r.Reason == "" {
		t.Fatalf("Reason = %v, want %d with a reason", r, protocol.CloseSlowConsumer)
	}
	if st := h.Stats(); st.SlowCloses != 1 {
		t.Fatalf("SlowCloses = %d, want 1", st.SlowCloses)
	}
	if r := fast.Reason(); r != nil {
		t.Fatalf("a draining client was closed: %v", r)
	}
	if n, _ := c.Queued(); n != 3 {
		t.Fatalf("queued %d events, want the 3 that fit", n)
	}
	// Nothing more is queued to a closed client; Send reports the reason.
	up.push(t, "chat.room", strict("chat.room", 5, "y"))
	var cl *protocol.Close
	if err := c.Send([]byte("reply")); !errors.As(err, &cl) || cl.Code != protocol.CloseSlowConsumer {
		t.Fatalf("Send after overflow = %v", err)
	}
	if n, _ := c.Queued(); n != 3 {
		t.Fatalf("queued %d events after close, want 3", n)
	}
	c.Close(protocol.CloseNormal, "")
	if st := h.Stats(); st.SlowCloses != 1 {
		t.Fatalf("SlowCloses counted twice: %d", st.SlowCloses)
	}
}

func TestSendOverflow(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 10})
	c := mustRegister(t, h, "c", "")
	if err := c.Send([]byte("123456789")); err != nil { // exactly 10
		t.Fatalf("Send at the bound: %v", err)
	}
	err := c.Send([]byte(""))
	var cl *protocol.Close
	if !errors.As(err, &cl) || cl.Code != protocol.CloseSlowConsumer {
		t.Fatalf("Send beyond the bound = %v", err)
	}
}

func TestDroppableNeverOverflows(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 16})
	c := mustRegister(t, h, "c", "")
	subscribeLive(t, h, c, "market.>")
	big := strings.Repeat("t", 1000)
	for i := range 500 {
		up.push(t, "market.>", tick(fmt.Sprint("market.S", i%50), big))
	}
	if r := c.Reason(); r != nil {
		t.Fatalf("droppable events closed the client: %v", r)
	}
	if events, bytes := c.Queued(); events != 50 || bytes != 0 {
		t.Fatalf("Queued = %d, %d; want 50 slots, 0 strict bytes", events, bytes)
	}
	if st := h.Stats(); st.SlowCloses != 0 || st.Conflated != 450 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestDrainResetsBound(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 10})
	c := mustRegister(t, h, "c", "")
	var batch []*Event
	for i := range 100 {
		if err := c.Send([]byte("12345678")); err != nil {
			t.Fatalf("Send %d with a draining writer: %v", i, err)
		}
		batch = c.Drain(batch[:0])
		if len(batch) != 1 {
			t.Fatalf("Drain = %d events", len(batch))
		}
	}
	if _, bytes := c.Queued(); bytes != 0 {
		t.Fatalf("strict bytes after Drain = %d", bytes)
	}
}

func TestDrainAppendsAndSwaps(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")

	// Empty queue: dst comes back as it was.
	dst := []*Event{strict("x", 0, "kept")}
	if got := c.Drain(dst); len(got) != 1 || got[0] != dst[0] {
		t.Fatalf("Drain of an empty queue = %v", got)
	}

	// Documented as appending: what dst held is kept.
	_ = c.Send([]byte("a"))
	_ = c.Send([]byte("b"))
	got := c.Drain([]*Event{strict("x", 0, "kept")})
	var names []string
	for _, ev := range got {
		names = append(names, string(ev.Frame))
	}
	if strings.Join(names, ",") != "kept,a,b" {
		t.Fatalf("Drain(dst) = %q, want dst's events then the queue", names)
	}

	// The writer's swap loop never shares a backing array with the queue.
	var batch []*Event
	for i := range 10 {
		_ = c.Send([]byte(fmt.Sprint(i)))
		batch = c.Drain(batch[:0])
		_ = c.Send([]byte("next"))
		if len(batch) != 1 || string(batch[0].Frame) != fmt.Sprint(i) {
			t.Fatalf("round %d: batch %v was overwritten by the next Send", i, batch)
		}
		c.Drain(nil)
	}
}

// TestReadyWriterReceivesEveryStrictEvent runs the transport's writer loop
// against concurrent producers (upstream deliveries on several topics plus
// replies) and checks each producer's events arrive exactly once, in order.
func TestReadyWriterReceivesEveryStrictEvent(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 1 << 30})
	c := mustRegister(t, h, "c", "")
	const producers, perProducer = 8, 2000
	patterns := make([]string, producers)
	for i := range patterns {
		patterns[i] = fmt.Sprint("chat.p", i)
		subscribeLive(t, h, c, patterns[i])
	}

	type key struct{ p, n int }
	decode := func(ev *Event) key {
		var k key
		if _, err := fmt.Sscanf(string(ev.Frame), "%d/%d", &k.p, &k.n); err != nil {
			panic(err)
		}
		return k
	}

	total := (producers + 1) * perProducer
	writerDone := make(chan error, 1)
	go func() {
		next := make([]int, producers+1)
		got := 0
		var batch []*Event
		for got < total {
			select {
			case <-wakes(c):
			case <-time.After(10 * time.Second):
				writerDone <- fmt.Errorf("writer stuck after %d of %d events: lost wake-up", got, total)
				return
			}
			batch = c.Drain(batch[:0])
			for _, ev := range batch {
				k := decode(ev)
				if k.n != next[k.p] {
					writerDone <- fmt.Errorf("producer %d: got #%d, want #%d", k.p, k.n, next[k.p])
					return
				}
				next[k.p]++
				got++
			}
		}
		if n, _ := c.Queued(); n != 0 {
			writerDone <- fmt.Errorf("%d extra events", n)
			return
		}
		writerDone <- nil
	}()

	var wg sync.WaitGroup
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range perProducer {
				up.push(t, patterns[p], strict(patterns[p], uint64(n+1), fmt.Sprintf("%d/%d", p, n)))
			}
		}()
	}
	wg.Add(1)
	go func() { // replies from the reader goroutine
		defer wg.Done()
		for n := range perProducer {
			if err := c.Send(fmt.Appendf(nil, "%d/%d", producers, n)); err != nil {
				panic(err)
			}
		}
	}()
	wg.Wait()
	if err := <-writerDone; err != nil {
		t.Fatal(err)
	}
}
