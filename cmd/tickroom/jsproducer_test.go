package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// jsProducerDir holds the JavaScript producer that docs/feeds.md shows.
var jsProducerDir = filepath.Join("..", "..", "feeds", "examples", "js")

// needNode returns the node binary, or skips — fails under
// TICKROOM_REQUIRE_NODE=1, as in CI — when node or the producer's
// node_modules (npm ci) are missing.
func needNode(t *testing.T) string {
	t.Helper()
	missing := func(why string) {
		if os.Getenv("TICKROOM_REQUIRE_NODE") == "1" {
			t.Fatalf("%s (TICKROOM_REQUIRE_NODE=1)", why)
		}
		t.Skip(why)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed: the JavaScript producer test needs it")
	}
	if _, err := os.Stat(filepath.Join(jsProducerDir, "node_modules", "nats", "package.json")); err != nil {
		missing("feeds/examples/js has no node_modules/nats: run `npm ci` there")
	}
	return node
}

// TestJSProducer runs feeds/examples/js/producer.mjs (the `nats` npm
// package) against a node's embedded NATS over TCP, and checks a browser
// client receives what it publishes: ticks, a feed object named by the
// Tickroom-Event header, and a bot chat message stored by JetStream.
func TestJSProducer(t *testing.T) {
	node := needNode(t)
	cfg := testConfig(t)
	cfg.NATSListen = "127.0.0.1:0"
	n := startNode(t, cfg)
	natsURL := n.nats.ClientURL()
	if natsURL == "" {
		t.Fatal("the embedded NATS has no client URL")
	}

	c := dial(t, n, "watcher", dialOpts{})
	c.welcome()
	for _, ch := range []string{"market.JSDEMO", "feed.demo.status", "chat.jsroom"} {
		c.subscribe(ch)
	}
	before := metricValue(t, n, `tickroom_events_in_total{kind="market"}`)

	const ticks = 5
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, "producer.mjs")
	cmd.Dir = jsProducerDir
	cmd.Env = append(os.Environ(),
		"NATS_URL="+natsURL, "SYMBOL=JSDEMO", "COUNT=5", "INTERVAL_MS=20", "ROOM=jsroom")
	out, err := cmd.CombinedOutput()
	t.Logf("producer.mjs:\n%s", out)
	if err != nil {
		t.Fatalf("node producer.mjs: %v", err)
	}
	if !strings.Contains(string(out), "chat.jsroom stored as CHAT #") {
		t.Errorf("the producer did not report a JetStream ack for its bot message")
	}

	var gotTicks, gotStatus int
	var gotChat bool
	deadline := time.Now().Add(waitFor)
	for (gotTicks < ticks || gotStatus < ticks || !gotChat) && time.Now().Before(deadline) {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			break
		}
		switch {
		case m.Channel == "market.JSDEMO" && m.Event == "market":
			var d struct {
				Symbol string  `json:"symbol"`
				Price  float64 `json:"price"`
			}
			if err := json.Unmarshal(m.Data, &d); err != nil || d.Symbol != "JSDEMO" || d.Price <= 0 {
				t.Errorf("tick %s", m.Raw)
			}
			gotTicks++
		case m.Channel == "feed.demo.status":
			if m.Event != "status" {
				t.Errorf("feed.demo.status arrived as event %q, want status (the Tickroom-Event header)", m.Event)
			}
			gotStatus++
		case m.Channel == "chat.jsroom" && m.Event == "chat":
			if d := m.chat(t); d.User != "js-bot" || !strings.HasPrefix(d.Text, "JSDEMO opened at ") || m.Seq == 0 {
				t.Errorf("bot message %s", m.Raw)
			}
			gotChat = true
		}
	}
	// Ticks are droppable (conflated under load), so at least the last one
	// must arrive; on an idle test machine all of them do.
	if gotTicks < 1 || gotStatus < 1 || !gotChat {
		t.Fatalf("received %d ticks, %d status events, chat %v; want ticks, status events and the bot message", gotTicks, gotStatus, gotChat)
	}
	if after := metricValue(t, n, `tickroom_events_in_total{kind="market"}`); after-before != ticks {
		t.Errorf("tickroom_events_in_total{kind=market} went up by %d, want %d (every tick accepted, none invalid)", after-before, ticks)
	}
	if v := metricValue(t, n, `tickroom_invalid_messages_total{subject="market.JSDEMO"}`); v > 0 {
		t.Errorf("the gateway dropped %d of the producer's ticks as invalid", v)
	}
}
