package main

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/nats-io/nats.go"
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
