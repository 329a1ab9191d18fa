package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// A subscribe to a topic the gateway already carries is served from the
// gateway's memory: at most one JetStream API call (here: none) for last
// values, live chat and presence, however many browsers subscribe.
func TestGatewayStateFromMemory(t *testing.T) {
	n := startNode(t, testConfig(t))
	nc := n.natsConnForTest()
	if r, err := nc.Request("market.AAPL", []byte(`{"symbol":"AAPL","price":100,"size":1}`), waitFor); err != nil ||
		!strings.Contains(string(r.Data), `"seq"`) {
		t.Fatalf("store tick: %v", err)
	}

	first := dial(t, n, "first", dialOpts{})
	first.welcome()
	first.subscribe("market.AAPL")
	first.subscribe("chat.lobby")
	first.mustOK(first.request(map[string]any{"op": "presence", "channel": "chat.lobby"}))

	var calls atomic.Int64
	var subjects atomic.Value
	sub, err := nc.Subscribe("$JS.API.>", func(m *nats.Msg) {
		calls.Add(1)
		subjects.Store(m.Subject)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"b1", "b2", "b3"} {
		c := dial(t, n, name, dialOpts{})
		c.welcome()
		before := calls.Load()
		c.send(map[string]any{"op": "subscribe", "id": 1, "channel": "market.AAPL"})
		c.mustOK(c.next())
		if lv := c.next(); lv.Event != "market" || lv.Channel != "market.AAPL" {
			t.Fatalf("%s: after the reply got %s, want AAPL's last value", name, lv.Raw)
		}
		c.subscribe("chat.lobby")
		c.mustOK(c.request(map[string]any{"op": "presence", "channel": "chat.lobby"}))
		_ = nc.Flush()
		if d := calls.Load() - before; d > 1 {
			t.Fatalf("%s: %d JetStream API calls (last %v) to subscribe to carried topics and read presence, want at most 1",
				name, d, subjects.Load())
		}
	}
}

// A subscribe with since says whether the replay is complete (recovered)
// and which incarnation of the stream the seqs belong to (epoch)
// (PROTOCOL §4). SSE's subscribe outcome carries the same fields
// (dashboard's TestSSESubscribeReply).
func TestSubscribeRecoveredAndEpoch(t *testing.T) {
	n := startNode(t, testConfig(t))
	c := dial(t, n, "ana", dialOpts{})
	c.welcome()
	var seqs []uint64
	for i := range 4 {
		seqs = append(seqs, c.publish("chat.lobby", fmt.Sprint("m", i), fmt.Sprint("id", i)))
	}
	type resume struct {
		Recovered *bool  `json:"recovered"`
		Epoch     string `json:"epoch"`
	}
	subscribe := func(who string, since uint64) resume {
		t.Helper()
		d := dial(t, n, who, dialOpts{})
		d.welcome()
		r := d.mustOK(d.request(map[string]any{"op": "subscribe", "channel": "chat.lobby", "since": since}))
		var out resume
		if err := json.Unmarshal(r.Raw, &out); err != nil || out.Recovered == nil || out.Epoch == "" {
			t.Fatalf("%s: subscribe reply %s: want recovered and epoch", who, r.Raw)
		}
		return out
	}
	full := subscribe("b1", seqs[0])
	if !*full.Recovered {
		t.Fatalf("everything retained, yet recovered=false")
	}
	// Retention drops the first three messages (a purge stands in for
	// MaxAge here; natsbus's test uses real expiry).
	js, err := jetstream.New(n.natsConnForTest())
	if err != nil {
		t.Fatal(err)
	}
	st, err := js.Stream(context.Background(), "CHAT")
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Purge(context.Background(), jetstream.WithPurgeSequence(seqs[3])); err != nil {
		t.Fatal(err)
	}
	lost := subscribe("b2", seqs[0])
	if *lost.Recovered || lost.Epoch != full.Epoch {
		t.Fatalf("after retention dropped %d..%d: %+v, want recovered=false in epoch %s", seqs[1], seqs[2], lost, full.Epoch)
	}
	if ok := subscribe("b3", seqs[2]); !*ok.Recovered {
		t.Fatalf("resume right before the first retained seq: recovered=false")
	}
	// No since: no resume fields.
	d := dial(t, n, "b4", dialOpts{})
	d.welcome()
	if r := d.mustOK(d.request(map[string]any{"op": "subscribe", "channel": "chat.lobby"})); strings.Contains(string(r.Raw), "recovered") {
		t.Fatalf("subscribe without since carries resume fields: %s", r.Raw)
	}
}
