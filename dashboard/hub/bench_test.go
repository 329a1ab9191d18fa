package hub

import (
	"fmt"
	"testing"
	"time"
)

// upstreamDeliver returns pattern's deliver func, so a benchmark calls it
// the way the NATS callback does, without the fake's lock.
func upstreamDeliver(b *testing.B, up *fakeUpstream, pattern string) func(*Event) {
	b.Helper()
	up.mu.Lock()
	defer up.mu.Unlock()
	d := up.deliver[pattern]
	if d == nil {
		b.Fatalf("no upstream subscription for %q", pattern)
	}
	return d
}

// BenchmarkFanout delivers one upstream tick to N subscribed clients and
// then plays each client's writer (Ready, Drain with the swapped batch), so
// queues stay short and the steady state must not allocate.
func BenchmarkFanout(b *testing.B) {
	for _, n := range []int{1, 100, 1000, 10000} {
		b.Run(fmt.Sprint("subs=", n), func(b *testing.B) {
			h, up := newTestHub(b, Config{Linger: time.Hour})
			clients := make([]*Client, n)
			for i := range clients {
				clients[i] = mustRegister(b, h, fmt.Sprint("c", i), "")
				subscribeLive(b, h, clients[i], "market.AAPL")
			}
			deliver := upstreamDeliver(b, up, "market.AAPL")
			ev := tick("market.AAPL", `{"event":"market.AAPL","data":{"p":187.31,"v":1200}}`)
			batches := make([][]*Event, n)
			writers := func() { playWriters(b, clients, batches) }
			for range 2 { // warm up: both swap buffers allocated
				deliver(ev)
				writers()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				deliver(ev)
				writers()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkFanoutOnly measures the fan-out step alone: ticks conflate into a
// client that does not drain, so each delivery is one slot replacement.
func BenchmarkFanoutOnly(b *testing.B) {
	for _, n := range []int{100, 10000} {
		b.Run(fmt.Sprint("subs=", n), func(b *testing.B) {
			h, up := newTestHub(b, Config{Linger: time.Hour})
			for i := range n {
				subscribeLive(b, h, mustRegister(b, h, fmt.Sprint("c", i), ""), "market.AAPL")
			}
			deliver := upstreamDeliver(b, up, "market.AAPL")
			ev := tick("market.AAPL", `{"p":1}`)
			deliver(ev)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				deliver(ev)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
		})
	}
}

// BenchmarkConflation pushes ticks for a few channels into a client whose
// writer never drains: every event after the first per channel replaces a
// slot.
func BenchmarkConflation(b *testing.B) {
	h, up := newTestHub(b, Config{Linger: time.Hour})
	c := mustRegister(b, h, "c", "")
	subscribeLive(b, h, c, "market.>")
	deliver := upstreamDeliver(b, up, "market.>")
	evs := make([]*Event, 8)
	for i := range evs {
		evs[i] = tick(fmt.Sprint("market.S", i), `{"p":1}`)
		deliver(evs[i])
	}
	b.ReportAllocs()
	b.ResetTimer()
	i := 0
	for b.Loop() {
		deliver(evs[i&7])
		i++
	}
	b.StopTimer()
	if n, _ := c.Queued(); n != len(evs) {
		b.Fatalf("queued %d events, want %d", n, len(evs))
	}
}

// BenchmarkDrain queues a batch of strict events and drains it with the
// writer's swap, per batch size.
func BenchmarkDrain(b *testing.B) {
	for _, size := range []int{1, 16, 256} {
		b.Run(fmt.Sprint("batch=", size), func(b *testing.B) {
			h, up := newTestHub(b, Config{Linger: time.Hour, QueueBytes: 1 << 30})
			c := mustRegister(b, h, "c", "")
			subscribeLive(b, h, c, "chat.room")
			deliver := upstreamDeliver(b, up, "chat.room")
			ev := &Event{Channel: "chat.room", Frame: []byte(`{"event":"chat.room","data":{"text":"hi"}}`)}
			var batch []*Event
			round := func() {
				for range size {
					deliver(ev)
				}
				select {
				case <-wakes(c):
				default:
				}
				batch = c.Drain(batch[:0])
				if len(batch) != size {
					b.Fatalf("drained %d, want %d", len(batch), size)
				}
			}
			round()
			round()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				round()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(size), "ns/event")
		})
	}
}
