package hub

import (
	"sync/atomic"
	"testing"

	"github.com/tickroom/tickroom/internal/protocol"
)

func TestOnSlowConsumerRunsOnceOnOverflow(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger, QueueBytes: 10})
	c := mustRegister(t, h, "c", "")
	var calls atomic.Int32
	c.OnSlowConsumer(func() { calls.Add(1) })

	_ = c.Send([]byte("12345678")) // 9 bytes: fits
	if calls.Load() != 0 {
		t.Fatal("hook ran before any overflow")
	}
	_ = c.Send([]byte("12")) // overflows
	_ = c.Send([]byte("3"))  // already closed
	if got := calls.Load(); got != 1 {
		t.Fatalf("hook ran %d times, want once", got)
	}
	if r := c.Reason(); r == nil || r.Code != protocol.CloseSlowConsumer {
		t.Fatalf("reason = %v", r)
	}

	other := mustRegister(t, h, "d", "")
	other.OnSlowConsumer(func() { t.Error("hook ran for a normal close") })
	other.Close(protocol.CloseGoingAway, "bye")
}

func TestOnWakeWhenQueueFillsAndOnClose(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	var wakes atomic.Int32
	c.OnWake(func() { wakes.Add(1) })

	_ = c.Send([]byte("a")) // empty → non-empty: wake
	_ = c.Send([]byte("b")) // already non-empty: the writer will see it
	if got := wakes.Load(); got != 1 {
		t.Fatalf("wakes after two sends = %d, want 1", got)
	}
	c.Drain(nil)
	_ = c.Send([]byte("c"))
	if got := wakes.Load(); got != 2 {
		t.Fatalf("wakes after drain and send = %d, want 2", got)
	}
	c.Close(protocol.CloseGoingAway, "bye")
	c.Close(protocol.CloseGoingAway, "again")
	if got := wakes.Load(); got != 3 {
		t.Fatalf("wakes after close = %d, want 3 (one for the close)", got)
	}
}
