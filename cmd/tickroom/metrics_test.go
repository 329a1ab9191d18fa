package main

import (
	"bufio"
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// scrape returns a gateway's /metrics body.
func scrape(t *testing.T, n *Node) []byte {
	t.Helper()
	status, body := httpGet(t, n.URL()+"/metrics")
	if status != http.StatusOK {
		t.Fatalf("GET /metrics: status %d", status)
	}
	return body
}

// exportedNames is the set of metric family names in an exposition (the
// "# TYPE" lines), plus each histogram's _bucket, _sum and _count series.
func exportedNames(body []byte) map[string]bool {
	names := make(map[string]bool)
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			names[f[2]] = true
			if f[3] == "histogram" || f[3] == "summary" {
				for _, s := range []string{"_bucket", "_sum", "_count"} {
					names[f[2]+s] = true
				}
			}
		}
	}
	return names
}

// exercise makes a node do one of everything the histograms time — a
// subscriber receives a tick from NATS, a chat message is published — and
// count once in the labelled counters that have no series before their
// first count: an invalid producer message and a refused request.
func exercise(t *testing.T, n *Node) {
	t.Helper()
	c := dial(t, n, "ana", dialOpts{})
	c.welcome()
	c.subscribe("market.AAPL")
	c.subscribe("chat.lobby")
	nc := n.natsConnForTest()
	if err := nc.Publish("market.AAPL", []byte(`{"symbol":"AAPL","price":101.5,"size":100}`)); err != nil {
		t.Fatal(err)
	}
	c.waitEvent("the tick", func(m msg) bool { return m.Channel == "market.AAPL" && m.Event == "market" })
	c.publish("chat.lobby", "hello", "m-1")
	if err := nc.Publish("market.AAPL", []byte(`not json`)); err != nil {
		t.Fatal(err)
	}
	if r := c.request(map[string]any{"op": "publish", "channel": "market.AAPL", "data": map[string]any{"text": "x"}}); r.errCode() == "" {
		t.Fatalf("publish to market.AAPL: %s, want an error", r.Raw)
	}
	eventually(t, "the invalid message counted", func() error {
		if v := metricValue(t, n, `tickroom_invalid_messages_total{subject="market.AAPL"}`); v < 1 {
			return fmt.Errorf("tickroom_invalid_messages_total{market.AAPL} = %d", v)
		}
		return nil
	})
}

// TestMetricsExposition scrapes a running gateway: the exposition is
// client_golang's, passes promlint, carries the Go runtime and process
// collectors, and the fan-out, batch and ack histograms have observations.
func TestMetricsExposition(t *testing.T) {
	n := startNode(t, testConfig(t))
	exercise(t, n)
	body := scrape(t, n)

	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatalf("promlint: %v", err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}

	names := exportedNames(body)
	for _, want := range []string{
		// runtime and process collectors
		"go_goroutines", "go_memstats_heap_inuse_bytes", "go_gc_duration_seconds",
		"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
		// the gateway's own (the names the other tests and docs/operations.md use)
		"tickroom_connections", "tickroom_connections_total", "tickroom_connections_refused_total",
		"tickroom_subscriptions", "tickroom_nats_subscriptions", "tickroom_nats_ready",
		"tickroom_events_in_total", "tickroom_events_out_total", "tickroom_events_conflated_total",
		"tickroom_slow_consumer_closes_total", "tickroom_frames_out_total", "tickroom_bytes_out_total",
		"tickroom_chat_publishes_total", "tickroom_chat_publish_failures_total", "tickroom_queued_events",
		"tickroom_invalid_messages_total", "tickroom_request_errors_total",
		"tickroom_producer_last_event_timestamp_seconds",
		"tickroom_chat_ack_seconds", "tickroom_fanout_delay_seconds", "tickroom_write_batch_events",
	} {
		if !names[want] {
			t.Errorf("/metrics has no %s", want)
		}
	}
	for _, h := range []string{"tickroom_chat_ack_seconds_count", "tickroom_fanout_delay_seconds_count", "tickroom_write_batch_events_count"} {
		if v := metricValue(t, n, h); v < 1 {
			t.Errorf("%s = %d after a tick and a chat message, want ≥ 1", h, v)
		}
	}
	if v := metricValue(t, n, `tickroom_events_in_total{kind="market"}`); v < 1 {
		t.Errorf(`tickroom_events_in_total{kind="market"} = %d, want ≥ 1`, v)
	}
	if v := metricValue(t, n, `tickroom_events_in_total{kind="alert"}`); v != 0 {
		t.Errorf(`tickroom_events_in_total{kind="alert"} = %d: every kind is exported from the start, at 0`, v)
	}
	// A late subscriber gets AAPL's last value from the gateway's cache:
	// that wait is not fan-out delay and is not counted.
	before := metricValue(t, n, "tickroom_fanout_delay_seconds_count")
	late := dial(t, n, "late", dialOpts{})
	late.welcome()
	late.subscribe("market.AAPL")
	late.waitEvent("AAPL's last value", func(m msg) bool { return m.Channel == "market.AAPL" })
	late.ping() // the writer is past the batch that carried it
	if after := metricValue(t, n, "tickroom_fanout_delay_seconds_count"); after != before {
		t.Errorf("tickroom_fanout_delay_seconds_count went from %d to %d for a cached last value", before, after)
	}

	// tickroom_closes_total{code} has series only once the server closed a
	// connection; reliability_test and security_test check those.
	if t.Failed() {
		fmt.Println(string(body))
	}
}
