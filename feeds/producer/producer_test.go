package producer

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/internal/natstest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestProducer(t *testing.T) {
	srv := natstest.RunServer(t)
	watch := natstest.Connect(t, srv)
	msgs := make(chan *nats.Msg, 16)
	sub, err := watch.ChanSubscribe(">", msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	_ = watch.Flush()

	p, err := Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx := context.Background()

	// Invalid ticks and payloads fail without publishing.
	for _, tk := range []Tick{{Symbol: "DEMO"}, {Symbol: "DEMO", Price: math.NaN()}, {Symbol: "A.B", Price: 1}, {Symbol: "X", Price: 1, Size: -1}} {
		if err := p.Tick(ctx, tk); err == nil {
			t.Errorf("Tick accepted %+v", tk)
		}
	}
	for _, c := range []struct {
		subj, event string
		v           any
	}{
		{"feed.*", "", map[string]int{}}, {"feed", "", map[string]int{}}, {"feed.news", "bad event", map[string]int{}},
		{"feed.news", "", []int{1}}, {"feed.news", "", json.RawMessage(`{"a":`)}, {"feed.news", "", make([]byte, MaxPayload+1)},
	} {
		if err := p.Publish(c.subj, c.event, c.v); err == nil {
			t.Errorf("Publish accepted %q %q", c.subj, c.event)
		}
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := p.Tick(cancelled, Tick{Symbol: "DEMO", Price: 1}); err == nil {
		t.Error("Tick with a cancelled context succeeded")
	}

	before := time.Now().Add(-time.Millisecond)
	if err := p.Tick(ctx, Tick{Symbol: "DEMO", Price: 42.5, Size: 3}); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish("feed.news", "headline", map[string]string{"title": "Rates unchanged"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	m := <-msgs
	tk, err := feeds.DecodeTick(m.Subject, m.Data)
	if err != nil || m.Subject != "market.DEMO" || tk.Price != 42.5 || tk.Time.Before(before) || m.Header.Get(EventHeader) != "" {
		t.Errorf("tick message %s %s %v", m.Subject, m.Data, err)
	}
	m = <-msgs
	if m.Subject != "feed.news" || string(m.Data) != `{"title":"Rates unchanged"}` || m.Header.Get(EventHeader) != "headline" {
		t.Errorf("feed message %s %s %v", m.Subject, m.Data, m.Header)
	}
	select {
	case m := <-msgs:
		t.Errorf("unexpected message %s %s", m.Subject, m.Data)
	case <-time.After(50 * time.Millisecond):
	}
}
