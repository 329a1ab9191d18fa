package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// grafanaDashboard is the part of a Grafana dashboard model the test reads.
type grafanaDashboard struct {
	UID    string         `json:"uid"`
	Title  string         `json:"title"`
	Panels []grafanaPanel `json:"panels"`
}

type grafanaPanel struct {
	Type    string         `json:"type"`
	Title   string         `json:"title"`
	Panels  []grafanaPanel `json:"panels"` // a collapsed row's
	Targets []struct {
		Expr  string `json:"expr"`
		RefID string `json:"refId"`
	} `json:"targets"`
}

func (p grafanaPanel) walk(f func(grafanaPanel)) {
	f(p)
	for _, c := range p.Panels {
		c.walk(f)
	}
}

var (
	promStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'`)
	promMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promRanges    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promFuncCall  = regexp.MustCompile(`^\s*\(`)
	promNotMetric = map[string]bool{
		"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
		"bool": true, "and": true, "or": true, "unless": true, "offset": true, "inf": true, "nan": true,
	}
)

// promMetricNames returns the metric names a PromQL expression selects:
// identifiers left once strings, label matchers, ranges and groupings are
// removed, that are neither keywords nor called as functions.
func promMetricNames(expr string) []string {
	e := promStrings.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRanges.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var names []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		id := e[loc[0]:loc[1]]
		if promNotMetric[strings.ToLower(id)] || promFuncCall.MatchString(e[loc[1]:]) {
			continue
		}
		if loc[0] > 0 && (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9' || e[loc[0]-1] == '.') {
			continue // a number's exponent or unit, as in 1e3
		}
		names = append(names, id)
	}
	return names
}

func TestPromMetricNames(t *testing.T) {
	for expr, want := range map[string]string{
		`histogram_quantile(0.99, sum by (le, instance) (rate(tickroom_fanout_delay_seconds_bucket[$__rate_interval])))`: "tickroom_fanout_delay_seconds_bucket",
		`time() - max by (kind) (tickroom_producer_last_event_timestamp_seconds{kind!="x"} > 0)`:                         "tickroom_producer_last_event_timestamp_seconds",
		`sum(a_total) / on(instance) group_left b_total or vector(0)`:                                                    "a_total b_total",
		`topk(10, sum by (subject) (rate(x_total{subject=~"market.*"}[5m]))) > 1e3`:                                      "x_total",
	} {
		if got := strings.Join(promMetricNames(expr), " "); got != want {
			t.Errorf("promMetricNames(%q) = %q, want %q", expr, got, want)
		}
	}
}

// TestGrafanaDashboard reads configs/grafana/*.json and checks that each is
// a dashboard whose every query names only metrics a running gateway
// exports, and that it covers what operators watch.
func TestGrafanaDashboard(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "configs", "grafana", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no dashboards in configs/grafana (%v)", err)
	}
	n := startNode(t, testConfig(t))
	exercise(t, n)
	exported := exportedNames(scrape(t, n))

	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var d grafanaDashboard
		if err := json.Unmarshal(raw, &d); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.UID == "" || d.Title == "" || len(d.Panels) == 0 {
			t.Fatalf("%s: want a uid, a title and panels", f)
		}
		var titles []string
		used := make(map[string]bool)
		for _, top := range d.Panels {
			top.walk(func(p grafanaPanel) {
				titles = append(titles, strings.ToLower(p.Title))
				if p.Type == "row" {
					return
				}
				if len(p.Targets) == 0 {
					t.Errorf("%s: panel %q has no query", f, p.Title)
				}
				for _, q := range p.Targets {
					names := promMetricNames(q.Expr)
					if len(names) == 0 {
						t.Errorf("%s: panel %q query %s names no metric: %q", f, p.Title, q.RefID, q.Expr)
					}
					for _, m := range names {
						used[m] = true
						if !exported[m] {
							t.Errorf("%s: panel %q queries %s, which the gateway does not export", f, p.Title, m)
						}
					}
				}
			})
		}
		all := strings.Join(titles, "\n")
		for _, want := range []string{"connections", "deliveries/s by kind", "fan-out delay p99", "slow-consumer closes", "nats status", "producer"} {
			if !strings.Contains(all, want) {
				t.Errorf("%s: no panel titled with %q", f, want)
			}
		}
		names := make([]string, 0, len(used))
		for m := range used {
			names = append(names, m)
		}
		sort.Strings(names)
		t.Logf("%s: %d panels' queries use %s", filepath.Base(f), len(titles), strings.Join(names, ", "))
	}
}
