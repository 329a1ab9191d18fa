package natsbus

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// recorder collects messages from a live callback.
type recorder struct {
	mu   sync.Mutex
	msgs []Msg
}

func (r *recorder) add(m Msg) {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
}

func (r *recorder) get() []Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Msg(nil), r.msgs...)
}

func (r *recorder) waitLen(t *testing.T, n int) []Msg {
	t.Helper()
	checkFor(t, 10*time.Second, 10*time.Millisecond, func() error {
		if got := len(r.get()); got < n {
			return fmt.Errorf("have %d messages, want %d", got, n)
		}
		return nil
	})
	return r.get()
}

func TestSubscribeLiveChatSkipsDuplicates(t *testing.T) {
	_, b := newEmbedded(t)
	old := mustPublish(t, b, "chat.lobby", "before subscribe", "")

	var r recorder
	sub, err := b.SubscribeLive("chat.lobby", r.add)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	s1 := mustPublish(t, b, "chat.lobby", "one", "m1")
	if _, dup, err := b.PublishDurable(ctxT(t), "chat.lobby", []byte("one again"), "m1"); err != nil || !dup {
		t.Fatalf("dup publish: dup=%v err=%v", dup, err)
	}
	mustPublish(t, b, "chat.other", "elsewhere", "")
	s2 := mustPublish(t, b, "chat.lobby", "two", "m2")

	// Delivery is in stream order, so once "two" is here the duplicate would
	// have arrived before it.
	got := r.waitLen(t, 2)
	if fmtSeq(got) != fmt.Sprint([]uint64{s1, s2}) || s1 <= old {
		t.Fatalf("live = %v %q, want [%d %d]", seqs(got), datas(got), s1, s2)
	}
	if got[0].Time.IsZero() || got[0].Subject != "chat.lobby" {
		t.Fatalf("bad live message %+v", got[0])
	}

	if err := sub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if err := sub.Unsubscribe(); err != nil {
		t.Fatalf("second Unsubscribe: %v", err)
	}
}

func TestSubscribeLiveCoreTicks(t *testing.T) {
	_, b := newEmbedded(t)
	var r recorder
	sub, err := b.SubscribeLive("market.*", r.add)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()

	nc := b.Conn()
	if err := nc.Publish("market.AAPL", []byte(`{"price":1}`)); err != nil {
		t.Fatal(err)
	}
	m := nats.NewMsg("market.MSFT")
	m.Header.Set(EventHeader, "halt")
	m.Data = []byte(`{}`)
	if err := nc.PublishMsg(m); err != nil {
		t.Fatal(err)
	}
	got := r.waitLen(t, 2)
	if got[0].Subject != "market.AAPL" || got[0].Seq != 0 || !got[0].Time.IsZero() || got[0].Event != "" {
		t.Fatalf("tick = %+v", got[0])
	}
	if got[1].Subject != "market.MSFT" || got[1].Event != "halt" {
		t.Fatalf("tick with event = %+v", got[1])
	}
}

func TestUnsubscribeFromCallback(t *testing.T) {
	_, b := newEmbedded(t)
	var (
		r   recorder
		sub Subscription
		mu  sync.Mutex
	)
	mu.Lock()
	sub, err := b.SubscribeLive("chat.lobby", func(m Msg) {
		r.add(m)
		mu.Lock()
		defer mu.Unlock()
		_ = sub.Unsubscribe()
	})
	mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	mustPublish(t, b, "chat.lobby", "x", "")
	r.waitLen(t, 1)
}
