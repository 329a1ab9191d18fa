package dashboard

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// maxLabelValues bounds a labelled counter's series so a producer that
// invents subjects cannot grow /metrics without limit.
const maxLabelValues = 1000

// metrics holds the gateway's counters, rendered in the Prometheus text
// format by write. Hot-path counters are atomics; labelled ones take a short
// lock.
type metrics struct {
	framesOut   atomic.Int64
	bytesOut    atomic.Int64
	connsTotal  atomic.Int64
	refused     atomic.Int64
	publishes   atomic.Int64
	pubFailures atomic.Int64

	kinds    map[string]*kindStat // by channel kind; fixed at construction, so lock-free
	invalids labelled             // by subject
	closes   labelled             // by close code
	errors   labelled             // by reply error code

	ackLatency histogram
}

// kindStat counts a channel kind's accepted producer events and when the
// last one arrived: producer health at a glance.
type kindStat struct {
	events atomic.Int64
	last   atomic.Int64 // unix nanoseconds
}

func newMetrics() *metrics {
	m := &metrics{
		ackLatency: newHistogram(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
		kinds:      make(map[string]*kindStat),
	}
	for _, k := range []string{"market", "analytics", "candle", "alert", "chat", "feed"} {
		m.kinds[k] = &kindStat{}
	}
	return m
}

func (m *metrics) eventIn(kind string) {
	if k := m.kinds[kind]; k != nil {
		k.events.Add(1)
		k.last.Store(time.Now().UnixNano())
	}
}

func (m *metrics) kindNames() []string {
	names := make([]string, 0, len(m.kinds))
	for k := range m.kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}
func (m *metrics) invalid(subject string) { m.invalids.inc(subject) }

type labelled struct {
	mu     sync.Mutex
	counts map[string]int64
}

func (l *labelled) inc(label string) {
	l.mu.Lock()
	if l.counts == nil {
		l.counts = make(map[string]int64)
	}
	if _, ok := l.counts[label]; !ok && len(l.counts) >= maxLabelValues {
		label = "_other"
	}
	l.counts[label]++
	l.mu.Unlock()
}

func (l *labelled) snapshot() ([]string, map[string]int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]int64, len(l.counts))
	keys := make([]string, 0, len(l.counts))
	for k, v := range l.counts {
		out[k] = v
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys, out
}

type histogram struct {
	mu      sync.Mutex
	bounds  []float64
	buckets []int64
	sum     float64
	count   int64
}

func newHistogram(bounds ...float64) histogram {
	return histogram{bounds: bounds, buckets: make([]int64, len(bounds))}
}

func (h *histogram) observe(d time.Duration) {
	v := d.Seconds()
	h.mu.Lock()
	for i, b := range h.bounds {
		if v <= b {
			h.buckets[i]++
		}
	}
	h.sum += v
	h.count++
	h.mu.Unlock()
}

// gauges are values computed at scrape time by the server.
type gauges struct {
	connections, subscriptions, topics, conflated, slowCloses int64
	queued                                                    int64
	outByKind                                                 map[string]int64
	natsReady                                                 bool
}

func (m *metrics) write(w io.Writer, g gauges) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	metric := func(name, typ, help string) { p("# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ) }
	one := func(name, typ, help string, v int64) {
		metric(name, typ, help)
		p("%s %d\n", name, v)
	}

	one("tickroom_connections", "gauge", "Open client connections.", g.connections)
	one("tickroom_connections_total", "counter", "Client connections accepted.", m.connsTotal.Load())
	one("tickroom_connections_refused_total", "counter", "Upgrades refused (limits, origin, protocol).", m.refused.Load())
	one("tickroom_subscriptions", "gauge", "Client subscriptions.", g.subscriptions)
	one("tickroom_nats_subscriptions", "gauge", "Channel patterns with a NATS subscription on this gateway.", g.topics)
	one("tickroom_events_conflated_total", "counter", "Ticks replaced by a newer one before being written.", g.conflated)
	one("tickroom_slow_consumer_closes_total", "counter", "Clients closed with 4000 because their queue overflowed.", g.slowCloses)
	one("tickroom_frames_out_total", "counter", "WebSocket frames written.", m.framesOut.Load())
	one("tickroom_bytes_out_total", "counter", "Payload bytes written to clients.", m.bytesOut.Load())
	one("tickroom_chat_publishes_total", "counter", "Chat messages acknowledged.", m.publishes.Load())
	one("tickroom_chat_publish_failures_total", "counter", "Chat publishes refused for NATS being unavailable or failing.", m.pubFailures.Load())
	var ready int64
	if g.natsReady {
		ready = 1
	}
	one("tickroom_nats_ready", "gauge", "1 when NATS is connected and the streams are ready.", ready)

	writeLabelled := func(name, help, label string, l *labelled) {
		metric(name, "counter", help)
		keys, counts := l.snapshot()
		for _, k := range keys {
			p("%s{%s=%q} %d\n", name, label, k, counts[k])
		}
	}
	byKind := func(name, help string, v func(kind string) int64) {
		metric(name, "counter", help)
		for _, k := range m.kindNames() {
			p("%s{kind=%q} %d\n", name, k, v(k))
		}
	}
	byKind("tickroom_events_in_total", "Producer events accepted from NATS, by kind.",
		func(k string) int64 { return m.kinds[k].events.Load() })
	byKind("tickroom_events_out_total", "Events queued to clients (each event once per subscriber), by kind.",
		func(k string) int64 { return g.outByKind[k] })
	one("tickroom_queued_events", "gauge", "Events waiting in client queues.", g.queued)
	writeLabelled("tickroom_invalid_messages_total", "Producer messages dropped for breaking their schema, by subject.", "subject", &m.invalids)
	writeLabelled("tickroom_closes_total", "Connections closed by the server, by close code.", "code", &m.closes)
	writeLabelled("tickroom_request_errors_total", "Requests answered with an error, by code.", "code", &m.errors)

	h := &m.ackLatency
	h.mu.Lock()
	metric("tickroom_chat_ack_seconds", "histogram", "Time from a chat publish request to its durable ack.")
	for i, b := range h.bounds {
		p("tickroom_chat_ack_seconds_bucket{le=\"%g\"} %d\n", b, h.buckets[i])
	}
	p("tickroom_chat_ack_seconds_bucket{le=\"+Inf\"} %d\n", h.count)
	p("tickroom_chat_ack_seconds_sum %g\ntickroom_chat_ack_seconds_count %d\n", h.sum, h.count)
	h.mu.Unlock()
}

// gauges reads the hub's state for a scrape.
func (s *Server) gauges() gauges {
	st := s.hub.Stats()
	g := gauges{
		connections: st.Clients, subscriptions: st.Subscriptions, topics: st.Topics,
		conflated: st.Conflated, slowCloses: st.SlowCloses, natsReady: s.bus.Ready(),
		outByKind: s.hub.DeliveriesByKind(),
	}
	for _, c := range s.hub.Clients() {
		n, _ := c.Queued()
		g.queued += int64(n)
	}
	return g
}
