package hub

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// One call orders everything: the reply, then the backfill (resuming after
// Since), then the live events held meanwhile, minus what the backfill sent.
func TestSubscribeOrdersReplyBackfillLive(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	s, created, err := h.Subscribe(ctx, c, "chat.room", Start{
		Since: 1,
		Reply: []byte("reply"),
		Backfill: func(ctx context.Context, out *Replay) error {
			up.push(t, "chat.room", strict("chat.room", 3, "live3-dup"))
			up.push(t, "chat.room", strict("chat.room", 4, "live4"))
			for seq := uint64(1); seq <= 3; seq++ { // seq 1 is at Since: dropped
				if err := out.Send(strict("chat.room", seq, fmt.Sprint("hist", seq))); err != nil {
					return err
				}
			}
			return nil
		},
	})
	if err != nil || !created || s == nil {
		t.Fatalf("Subscribe = %v, %v, %v", s, created, err)
	}
	expectFrames(t, c, "reply", "hist2", "hist3", "live4")

	// Again: only the reply, nothing replayed twice.
	if _, created, err := h.Subscribe(ctx, c, "chat.room", Start{Reply: []byte("again"), Backfill: func(context.Context, *Replay) error {
		t.Error("backfill ran for an existing subscription")
		return nil
	}}); err != nil || created {
		t.Fatalf("second Subscribe: created=%v err=%v", created, err)
	}
	expectFrames(t, c, "again")
}

// A backfill error is returned with the subscription live.
func TestSubscribeBackfillErrorLeavesLiveSubscription(t *testing.T) {
	h, up := newTestHub(t, Config{Linger: tinyLinger})
	c := mustRegister(t, h, "c", "")
	boom := errors.New("boom")
	s, _, err := h.Subscribe(ctx, c, "chat.room", Start{Backfill: func(context.Context, *Replay) error { return boom }})
	if !errors.Is(err, boom) || s == nil || !c.Subscribed("chat.room") {
		t.Fatalf("Subscribe = %v, %v; want boom with the subscription in place", s, err)
	}
	up.push(t, "chat.room", strict("chat.room", 1, "live1"))
	expectFrames(t, c, "live1")
}

// Waiting for another client's upstream subscription is bounded by ctx.
func TestSubscribeWaitHonoursContext(t *testing.T) {
	h, _ := newTestHub(t, Config{Linger: tinyLinger})
	entered, release := h.up.(*fakeUpstream).hold("chat.room")
	defer release()
	a := mustRegister(t, h, "a", "")
	go func() { _, _, _ = h.Subscribe(ctx, a, "chat.room", Start{}) }()
	<-entered
	b := mustRegister(t, h, "b", "")
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, _, err := h.Subscribe(short, b, "chat.room", Start{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Subscribe while the upstream hangs = %v, want the deadline", err)
	}
	if b.Subscribed("chat.room") {
		t.Fatal("a timed-out subscribe left a subscription")
	}
}
