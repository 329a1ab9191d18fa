package main

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// Result is one run's report; zero fields are left out of the JSON line.
type Result struct {
	Scenario string `json:"scenario"`
	Target   string `json:"target"`
	Label    string `json:"label,omitempty"`
	URL      string `json:"url"`
	Channel  string `json:"channel,omitempty"`

	N             int     `json:"n"`
	Connected     int     `json:"connected"`
	ConnectFailed int     `json:"connect_failed,omitempty"`
	ConnectError  string  `json:"connect_error,omitempty"`
	ConnectSec    float64 `json:"connect_s"`
	ConnectPerSec float64 `json:"connects_per_s"`
	SettleSec     float64 `json:"settle_s,omitempty"`
	SetupLines    uint64  `json:"setup_events,omitempty"` // events received while subscribing (joins)
	SrcIPs        int     `json:"src_ips,omitempty"`

	DurationSec float64 `json:"duration_s"`
	WarmupSec   float64 `json:"warmup_s,omitempty"`
	WarmupSent  uint64  `json:"warmup_sent,omitempty"` // broadcast: publishes before the window, not counted

	// broadcast
	Rate         float64 `json:"rate,omitempty"` // offered messages/s
	Publishers   int     `json:"publishers,omitempty"`
	Sent         uint64  `json:"sent,omitempty"`
	SentPerSec   float64 `json:"sent_per_s,omitempty"`
	Acked        uint64  `json:"acked,omitempty"`
	PubErrors    uint64  `json:"pub_errors,omitempty"`
	PubError     string  `json:"pub_error,omitempty"`
	PendingAcks  uint64  `json:"pending_acks,omitempty"`
	Expected     uint64  `json:"expected,omitempty"`
	Delivered    uint64  `json:"delivered"`
	InWindow     uint64  `json:"delivered_in_window,omitempty"`
	DeliveredPS  float64 `json:"delivered_per_s"`
	OfferedPS    float64 `json:"offered_per_s,omitempty"`
	InWindowPct  float64 `json:"delivered_in_window_pct,omitempty"`
	DeliveredPct float64 `json:"delivered_pct,omitempty"`
	// OfSentPct is delivered / (sent × subscribers): unlike DeliveredPct it
	// also counts publishes the server had not acknowledged by the end.
	OfSentPct float64  `json:"delivered_of_sent_pct,omitempty"`
	LossPct   float64  `json:"loss_pct,omitempty"`
	DrainSec  float64  `json:"drain_s,omitempty"`
	Latency   *Latency `json:"latency,omitempty"` // publish → receipt (broadcast), connect+subscribe (churn)
	// AckLatency: broadcast, publish → the server's reply (for tickroom:
	// stored in JetStream and acknowledged), measured publishes only.
	AckLatency *Latency `json:"ack_latency,omitempty"`
	TickAge    *Latency `json:"tick_age,omitempty"` // market
	Dropped    uint64   `json:"dropped,omitempty"`  // connections the server closed during the run
	DropCodes  string   `json:"drop_codes,omitempty"`

	// market
	Symbols   int     `json:"symbols,omitempty"`
	TPS       float64 `json:"tps,omitempty"`
	Published uint64  `json:"published,omitempty"`

	// churn
	Churned     uint64  `json:"churned,omitempty"`
	ChurnFailed uint64  `json:"churn_failed,omitempty"`
	ChurnSkip   uint64  `json:"churn_skipped,omitempty"`
	ChurnPS     float64 `json:"churn_per_s,omitempty"`

	// storm
	StormNote      string   `json:"storm_note,omitempty"`
	Resumed        int      `json:"resumed,omitempty"`
	ResumeFailed   int      `json:"resume_failed,omitempty"`
	ResumeError    string   `json:"resume_error,omitempty"`  // the first failure seen (retried or not)
	Retries        int64    `json:"retries,omitempty"`       // attempts retried after a backoff
	AllResumedSec  float64  `json:"all_resumed_s,omitempty"` // storm start → last client resumed
	ResumeLatency  *Latency `json:"resume_latency,omitempty"`
	JSAPICalls     *uint64  `json:"js_api_calls,omitempty"` // $JS.API requests seen during the storm; nil: not counted
	JSAPIPerClient float64  `json:"js_api_per_client,omitempty"`
	JSAPIKinds     string   `json:"js_api_kinds,omitempty"`

	// server process
	PID          int     `json:"pid,omitempty"`
	RSSBeforeKB  int64   `json:"rss_before_kb,omitempty"`
	RSSAfterKB   int64   `json:"rss_after_kb,omitempty"`
	RSSPerConnKB float64 `json:"rss_per_conn_kb,omitempty"`
	ServerCPUSec float64 `json:"server_cpu_s,omitempty"`
	ServerCPUPct float64 `json:"server_cpu_pct,omitempty"`
	PerCPUSec    float64 `json:"deliveries_per_cpu_s,omitempty"`
	ClientCPUPct float64 `json:"client_cpu_pct,omitempty"`
}

func round(v float64, digits int) float64 {
	p := math.Pow(10, float64(digits))
	return math.Round(v*p) / p
}

func (r *Result) writeTable(w io.Writer) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	row := func(k, format string, args ...any) { fmt.Fprintf(tw, "%s\t"+format+"\n", append([]any{k}, args...)...) }
	title := r.Scenario + " on " + r.Target
	if r.Label != "" {
		title += " (" + r.Label + ")"
	}
	fmt.Fprintln(tw, title+"\t"+strings.Repeat("-", 30))
	if r.Scenario != "churn" {
		row("connections", "%d of %d in %.2fs (%.0f/s)%s", r.Connected, r.N, r.ConnectSec, r.ConnectPerSec, failNote(r.ConnectFailed, r.ConnectError))
	}
	if r.SettleSec > 0 {
		row("settle", "%.1fs, %d events during setup", r.SettleSec, r.SetupLines)
	}
	switch r.Scenario {
	case "broadcast":
		row("offered", "%.0f msg/s × %d subscribers = %.0f deliveries/s (%d publishers)", r.Rate, r.N, r.OfferedPS, r.Publishers)
		row("published", "%d (%.0f/s), acked %d, errors %d %s", r.Sent, r.SentPerSec, r.Acked, r.PubErrors, r.PubError)
		row("delivered", "%d of %d acknowledged (%.2f%%; %.2f%% within the window), loss %.2f%%", r.Delivered, r.Expected, r.DeliveredPct, r.InWindowPct, r.LossPct)
		row("delivered of sent", "%.2f%% (of every message sent × subscribers, acknowledged or not)", r.OfSentPct)
		row("delivered/s", "%.0f", r.DeliveredPS)
		writeLatency(row, "latency", r.Latency)
		if r.AckLatency != nil {
			writeLatency(row, "publish → reply", r.AckLatency)
		}
	case "market":
		row("offered", "%d symbols × %.0f tps × %d clients = %.0f events/s", r.Symbols, r.TPS, r.N, r.OfferedPS)
		row("delivered", "%d (%.0f/s; %.1f%% of offered, the rest conflated)", r.Delivered, r.DeliveredPS, r.InWindowPct)
		writeLatency(row, "tick age", r.TickAge)
	case "churn":
		row("churned", "%d ok, %d failed, %d skipped (in-flight cap) → %.0f/s of %.0f/s offered%s", r.Churned, r.ChurnFailed, r.ChurnSkip, r.ChurnPS, r.Rate, failNote(0, ""))
		if r.ConnectError != "" {
			row("first failure", "%s", r.ConnectError)
		}
		writeLatency(row, "connect+subscribe", r.Latency)
	case "storm":
		row("resumed", "%d of %d reconnecting at once, %d failed for good, %d retries", r.Resumed, r.N, r.ResumeFailed, r.Retries)
		if r.ResumeError != "" {
			row("first failure", "%s", r.ResumeError)
		}
		row("all resumed after", "%.2fs", r.AllResumedSec)
		writeLatency(row, "resume time", r.ResumeLatency)
		if r.JSAPICalls != nil {
			row("JetStream API calls", "%d (%.2f per client): %s", *r.JSAPICalls, r.JSAPIPerClient, r.JSAPIKinds)
		} else {
			row("JetStream API calls", "not counted (no -nats)")
		}
		if r.StormNote != "" {
			row("note", "%s", r.StormNote)
		}
	case "idle":
		if r.RSSAfterKB > 0 {
			row("server RSS", "%.1f MiB → %.1f MiB: %.1f KiB per connection", float64(r.RSSBeforeKB)/1024, float64(r.RSSAfterKB)/1024, r.RSSPerConnKB)
		}
	}
	if r.Dropped > 0 {
		row("dropped by server", "%d connections (close codes %s)", r.Dropped, r.DropCodes)
	}
	if r.PID != 0 {
		row("server CPU", "%.2fs (%.0f%% of a core)", r.ServerCPUSec, r.ServerCPUPct)
		if r.PerCPUSec > 0 {
			row("deliveries/CPU-s", "%.0f", r.PerCPUSec)
		}
	}
	row("tickbench CPU", "%.0f%% of a core", r.ClientCPUPct)
	tw.Flush()
}

func failNote(n int, e string) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d failed (%s)", n, e)
}

func writeLatency(row func(string, string, ...any), name string, l *Latency) {
	if l == nil {
		row(name, "no samples")
		return
	}
	row(name, "p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f ms (n=%d)", l.P50, l.P90, l.P99, l.P999, l.Max, l.N)
}
