package hub

import (
	"fmt"
	"testing"
	"time"
)

// TestDeliveryAllocatesNothing holds the hot path to its promise: once the
// queues' buffers exist, delivering an event to 100 subscribers and
// draining their queues allocates nothing — for strict events (chat) and
// for ticks (conflation slots). It counts allocations, not time, so it is
// a behaviour, not a benchmark.
func TestDeliveryAllocatesNothing(t *testing.T) {
	for _, ev := range []*Event{
		strict("chat.lobby", 1, `{"text":"hi"}`),
		tick("chat.lobby", `{"p":1}`),
	} {
		h, up := newTestHub(t, Config{Linger: time.Hour})
		clients := make([]*Client, 100)
		for i := range clients {
			clients[i] = mustRegister(t, h, fmt.Sprint("c", i), "")
			subscribeLive(t, h, clients[i], "chat.lobby")
		}
		up.mu.Lock()
		deliver := up.deliver["chat.lobby"]
		up.mu.Unlock()
		batches := make([][]*Event, len(clients))
		var seq uint64 = 1
		step := func() {
			if ev.Seq != 0 { // strict events must grow in seq to pass the dedupe
				seq++
				ev.Seq = seq
			}
			deliver(ev)
			playWriters(t, clients, batches)
		}
		step()
		step()
		if n := testing.AllocsPerRun(200, step); n != 0 {
			t.Errorf("droppable=%v: %.1f allocations per event delivered to %d clients, want 0", ev.Droppable, n, len(clients))
		}
	}
}

// playWriters does what each client's writer would: take the wake-up, drain
// the queue into its reused batch. Each client must have exactly one event.
func playWriters(tb testing.TB, clients []*Client, batches [][]*Event) {
	for i, c := range clients {
		select {
		case <-wakes(c):
		default:
		}
		batches[i] = c.Drain(batches[i][:0])
		if len(batches[i]) != 1 {
			tb.Fatalf("client %d drained %d events", i, len(batches[i]))
		}
	}
}
