package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
)

// summarize reads the JSON lines of several runs (matrix.sh's output) and
// prints, per cell (the run label without its "#n"), the median and range
// of each figure the benchmarks doc reports.
func summarize(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	type cell struct {
		name   string
		runs   int
		values map[string][]float64
		notes  []string
	}
	cells := map[string]*cell{}
	var order []string
	add := func(label, key string, v float64) {
		name, _, _ := strings.Cut(label, "#")
		c := cells[name]
		if c == nil {
			c = &cell{name: name, values: map[string][]float64{}}
			cells[name] = c
			order = append(order, name)
		}
		if key == "" {
			c.runs++
			return
		}
		c.values[key] = append(c.values[key], v)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var probe struct {
			Steps json.RawMessage `json:"steps"`
		}
		if err := json.Unmarshal(line, &probe); err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if probe.Steps != nil {
			var sr SweepResult
			if err := json.Unmarshal(line, &sr); err != nil {
				return err
			}
			add(sr.Label, "", 0)
			add(sr.Label, "steps", float64(len(sr.Steps)))
			if sr.FailedAt > 0 {
				add(sr.Label, "first failure (rate)", sr.FailedAt)
			} else {
				add(sr.Label, "NO FAILURE up to the sweep maximum (capacity is a lower bound)", 1)
			}
			if sr.Capacity == nil {
				add(sr.Label, "capacity (rate)", 0)
				continue
			}
			r := sr.Capacity.Result
			lat := r.Latency
			if r.Scenario == "market" {
				lat = r.TickAge
			}
			add(sr.Label, "capacity (rate)", sr.Capacity.Rate)
			add(sr.Label, "capacity: delivered/s", r.DeliveredPS)
			if lat != nil {
				add(sr.Label, "capacity: p99 ms", lat.P99)
			}
			if r.AckLatency != nil {
				add(sr.Label, "capacity: publish → reply p99 ms", r.AckLatency.P99)
			}
			add(sr.Label, "capacity: deliveries per server CPU-s", r.PerCPUSec)
			add(sr.Label, "capacity: server CPU %", r.ServerCPUPct)
			add(sr.Label, "capacity: tickbench CPU %", r.ClientCPUPct)
			continue
		}
		var r Result
		if err := json.Unmarshal(line, &r); err != nil {
			return err
		}
		add(r.Label, "", 0)
		switch r.Scenario {
		case "storm":
			add(r.Label, "resumed", float64(r.Resumed))
			add(r.Label, "all resumed s", r.AllResumedSec)
			if r.ResumeLatency != nil {
				add(r.Label, "resume p99 ms", r.ResumeLatency.P99)
			}
			if r.JSAPICalls != nil {
				add(r.Label, "JetStream API calls per client", r.JSAPIPerClient)
			}
			add(r.Label, "server CPU s", r.ServerCPUSec)
		default:
			add(r.Label, "delivered/s", r.DeliveredPS)
			add(r.Label, "delivered of sent %", r.OfSentPct)
			if r.Latency != nil {
				add(r.Label, "p99 ms", r.Latency.P99)
			}
			if r.AckLatency != nil {
				add(r.Label, "publish → reply p99 ms", r.AckLatency.P99)
			}
			if r.TickAge != nil {
				add(r.Label, "tick age p99 ms", r.TickAge.P99)
			}
			if r.RSSPerConnKB != 0 {
				add(r.Label, "RSS per connection KiB", r.RSSPerConnKB)
			}
			add(r.Label, "deliveries per server CPU-s", r.PerCPUSec)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, name := range order {
		c := cells[name]
		fmt.Fprintf(tw, "%s (%d runs)\t\n", c.name, c.runs)
		keys := make([]string, 0, len(c.values))
		for k := range c.values {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			fmt.Fprintf(tw, "  %s\t%s\n", k, medianRange(c.values[k]))
		}
	}
	return tw.Flush()
}

// medianRange formats values as "median [min–max]" (the median of an even
// count is the mean of the middle two).
func medianRange(v []float64) string {
	s := slices.Clone(v)
	slices.Sort(s)
	n := len(s)
	med := s[n/2]
	if n%2 == 0 {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	if n == 1 {
		return num(med) + " (1 run)"
	}
	return fmt.Sprintf("%s [%s–%s]", num(med), num(s[0]), num(s[n-1]))
}

// num prints whole numbers from 1,000 up without exponent or decimals,
// smaller ones with three significant digits.
func num(v float64) string {
	if v >= 1000 || v <= -1000 {
		return fmt.Sprintf("%.0f", v)
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}
