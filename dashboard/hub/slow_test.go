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
