package hub

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
)

// Fan-out reads a topic's subscriber list without locks while clients
// subscribe (appending in place) and unsubscribe (copying): a client
// subscribed throughout gets every event once, in order, and the race
// detector sees no write to a list fan-out is reading.
func TestFanOutDuringSubscribeChurn(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	const stable, churners, events = 5, 40, 200
	var steady []*Client
	for i := range stable {
		c := mustRegister(t, h, "stable"+strconv.Itoa(i), "")
		subscribeLive(t, h, c, "chat.room")
		steady = append(steady, c)
	}
	stop := make(chan struct{})
	var wg, cycled sync.WaitGroup // cycled: every churner is through one cycle
	cycled.Add(churners)
	for i := range churners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := mustRegister(t, h, "churn"+strconv.Itoa(i), "")
			first := true
			defer func() {
				if first { // ended before a whole cycle: do not hold the pushes
					cycled.Done()
				}
			}()
			for {
				select {
				case <-stop:
					return
				default:
				}
				s, _, err := h.subscribe(ctx, c, "chat.room")
				if err != nil {
					t.Errorf("subscribe: %v", err)
					return
				}
				s.live()
				h.Unsubscribe(c, "chat.room")
				c.Drain(nil)
				if first {
					first = false
					cycled.Done()
				}
			}
		}()
	}
	cycled.Wait() // the churn runs before and throughout the pushes
	for seq := uint64(1); seq <= events; seq++ {
		up.push(t, "chat.room", strict("chat.room", seq, strconv.FormatUint(seq, 10)))
	}
	close(stop)
	wg.Wait()
	want := make([]string, events)
	for i := range want {
		want[i] = fmt.Sprint(i + 1)
	}
	for _, c := range steady {
		expectFrames(t, c, want...)
	}
}
