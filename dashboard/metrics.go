package dashboard

import (
	"fmt"
	"io"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/common/expfmt"

	"github.com/tickroom/tickroom/dashboard/hub"
	"github.com/tickroom/tickroom/internal/protocol"
)

// maxLabelValues bounds a labelled counter's series so a producer that
// invents subjects cannot grow /metrics without limit.
const maxLabelValues = 1000

// metrics holds the gateway's counters. The values live where the hot path
// can bump them cheaply (atomics; labelled ones take a short lock) and the
// admin page can read them; prometheus/client_golang reads them at scrape
// time through CounterFuncs and collectors, and renders the exposition.
// Histograms are client_golang's own. Safe for concurrent use.
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

	ackLatency histogram // chat publish → durable ack
	fanout     histogram // NATS receive → socket write
	batch      prometheus.Histogram

	reg *prometheus.Registry // everything but the scrape-time gauges
}

// kindStat counts a channel kind's accepted producer events and when the
// last one arrived: producer health at a glance.
type kindStat struct {
	label  string // the kind label's value: protocol's KindTraits.Metric
	events atomic.Int64
	last   atomic.Int64 // unix nanoseconds
}

// histogram is a client_golang histogram of durations, in seconds.
type histogram struct{ h prometheus.Histogram }

func (h histogram) observe(d time.Duration) { h.h.Observe(d.Seconds()) }

func newMetrics() *metrics {
	m := &metrics{
		kinds: make(map[string]*kindStat),
		reg:   prometheus.NewRegistry(),
		ackLatency: histogram{prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tickroom_chat_ack_seconds",
			Help:    "Time from a chat publish request to its durable ack.",
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		})},
		fanout: histogram{prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tickroom_fanout_delay_seconds",
			Help: "Time from the gateway receiving an event from NATS to the end of the socket write that carried it, once per writer batch (its oldest event).",
			// A writer's wait in the flush pool's line is part of it; the
			// tail is what a loaded gateway adds.
			Buckets: []float64{0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5},
		})},
		batch: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tickroom_write_batch_events",
			Help:    "Events and replies a client's writer took from its queue in one go.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12), // 1 … 2048
		}),
	}
	for _, k := range protocol.Kinds() {
		m.kinds[k.Name] = &kindStat{label: k.Metric}
	}
	m.invalids = newLabelled("tickroom_invalid_messages_total", "Producer messages dropped for breaking their schema, by subject.", "subject")
	m.closes = newLabelled("tickroom_closes_total", "Connections closed by the server, by close code.", "code")
	m.errors = newLabelled("tickroom_request_errors_total", "Requests answered with an error, by code.", "code")

	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v.Load()) })
	}
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		counter("tickroom_connections_total", "Client connections accepted.", &m.connsTotal),
		counter("tickroom_connections_refused_total", "Upgrades refused (limits, origin, protocol).", &m.refused),
		counter("tickroom_frames_out_total", "WebSocket frames written.", &m.framesOut),
		counter("tickroom_bytes_out_total", "Payload bytes written to clients.", &m.bytesOut),
		counter("tickroom_chat_publishes_total", "Chat messages acknowledged.", &m.publishes),
		counter("tickroom_chat_publish_failures_total", "Chat publishes refused for NATS being unavailable or failing.", &m.pubFailures),
		&m.invalids, &m.closes, &m.errors,
		m.ackLatency.h, m.fanout.h, m.batch,
	)
	for _, st := range m.kinds {
		labels := prometheus.Labels{"kind": st.label}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "tickroom_events_in_total", Help: "Producer events accepted from NATS, by kind.", ConstLabels: labels,
			}, func() float64 { return float64(st.events.Load()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "tickroom_producer_last_event_timestamp_seconds", Help: "Unix time of the last producer event accepted, by kind; 0 before the first.", ConstLabels: labels,
			}, func() float64 { return float64(st.last.Load()) / 1e9 }),
		)
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

// frameWritten records the fan-out delay of a batch written at now: the
// time since the gateway received its oldest event from NATS. Replies and
// events the gateway made itself carry no receive time and are not counted.
func (m *metrics) frameWritten(events []*hub.Event, now time.Time) {
	if received := oldestReceived(events); received != 0 {
		m.fanout.observe(now.Sub(time.Unix(0, received)))
	}
}

// oldestReceived is the earliest receive time among events; 0 if none
// came from NATS.
func oldestReceived(events []*hub.Event) int64 {
	var oldest int64
	for _, e := range events {
		if e.Received != 0 && (oldest == 0 || e.Received < oldest) {
			oldest = e.Received
		}
	}
	return oldest
}

// observeBatch records how many queued items a writer took in one go.
func (m *metrics) observeBatch(n int) { m.batch.Observe(float64(n)) }

// labelled is a counter by one label, bounded to maxLabelValues series (the
// rest count under "_other"), and a collector of itself.
type labelled struct {
	desc *prometheus.Desc

	mu     sync.Mutex
	counts map[string]int64
}

func newLabelled(name, help, label string) labelled {
	return labelled{desc: prometheus.NewDesc(name, help, []string{label}, nil)}
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

func (l *labelled) Describe(ch chan<- *prometheus.Desc) { ch <- l.desc }

func (l *labelled) Collect(ch chan<- prometheus.Metric) {
	keys, counts := l.snapshot()
	for _, k := range keys {
		ch <- prometheus.MustNewConstMetric(l.desc, prometheus.CounterValue, float64(counts[k]), k)
	}
}

// gauges are values computed at scrape time by the server.
type gauges struct {
	connections, subscriptions, topics, conflated, slowCloses int64
	queued                                                    int64
	outByKind                                                 map[string]int64
	natsReady                                                 bool
}

var (
	descConnections   = prometheus.NewDesc("tickroom_connections", "Open client connections.", nil, nil)
	descSubscriptions = prometheus.NewDesc("tickroom_subscriptions", "Client subscriptions.", nil, nil)
	descTopics        = prometheus.NewDesc("tickroom_nats_subscriptions", "Channel patterns with a NATS subscription on this gateway.", nil, nil)
	descConflated     = prometheus.NewDesc("tickroom_events_conflated_total", "Ticks replaced by a newer one before being written.", nil, nil)
	descSlowCloses    = prometheus.NewDesc("tickroom_slow_consumer_closes_total", "Clients closed with 4000 because their queue overflowed.", nil, nil)
	descNATSReady     = prometheus.NewDesc("tickroom_nats_ready", "1 when NATS is connected and the streams are ready.", nil, nil)
	descQueued        = prometheus.NewDesc("tickroom_queued_events", "Events waiting in client queues.", nil, nil)
	descOutByKind     = prometheus.NewDesc("tickroom_events_out_total", "Events queued to clients (each event once per subscriber), by kind.", []string{"kind"}, nil)
)

// gaugeCollector exposes one scrape's gauges.
type gaugeCollector struct {
	g     gauges
	kinds map[string]*kindStat // for the kind label
}

func (c gaugeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descConnections, descSubscriptions, descTopics, descConflated, descSlowCloses, descNATSReady, descQueued, descOutByKind} {
		ch <- d
	}
}

func (c gaugeCollector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	gauge := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, float64(v))
	}
	count := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	gauge(descConnections, g.connections)
	gauge(descSubscriptions, g.subscriptions)
	gauge(descTopics, g.topics)
	gauge(descQueued, g.queued)
	var ready int64
	if g.natsReady {
		ready = 1
	}
	gauge(descNATSReady, ready)
	count(descConflated, g.conflated)
	count(descSlowCloses, g.slowCloses)
	for name, st := range c.kinds {
		ch <- prometheus.MustNewConstMetric(descOutByKind, prometheus.CounterValue, float64(g.outByKind[name]), st.label)
	}
}

// write renders every metric, with this scrape's gauges, in the Prometheus
// text format (client_golang's encoder).
func (m *metrics) write(w io.Writer, g gauges) {
	scrape := prometheus.NewRegistry()
	scrape.MustRegister(gaugeCollector{g: g, kinds: m.kinds})
	families, err := prometheus.Gatherers{m.reg, scrape}.Gather()
	if err != nil {
		// Gather still returns what it could; the error names the rest.
		fmt.Fprintf(w, "# gather: %v\n", err)
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range families {
		if err := enc.Encode(mf); err != nil {
			return
		}
	}
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
