package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMedianRange(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want string
	}{
		{[]float64{3, 1, 2}, "2 [1–3]"},
		{[]float64{4, 1, 2, 3}, "2.5 [1–4]"},
		{[]float64{250000}, "250000 (1 run)"},
		{[]float64{0.1234}, "0.123 (1 run)"},
	} {
		if got := medianRange(c.in); got != c.want {
			t.Errorf("medianRange(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestSummarize(t *testing.T) {
	var lines []string
	for i, rate := range []float64{200, 400, 283} {
		sr := SweepResult{Scenario: "broadcast", Target: "tickroom", Label: "cap/tickroom#" + string(rune('1'+i)), FailedAt: rate * 1.2,
			Steps: []Step{{Rate: rate, Pass: true}}}
		sr.Capacity = &Step{Rate: rate, Pass: true, Result: &Result{Scenario: "broadcast", DeliveredPS: rate * 1000, PerCPUSec: 5e5, Latency: &Latency{P99: 50}}}
		b, _ := json.Marshal(sr)
		lines = append(lines, string(b))
	}
	calls := uint64(9000)
	b, _ := json.Marshal(Result{Scenario: "storm", Label: "storm/tickroom#1", Resumed: 1000, AllResumedSec: 2.5, JSAPICalls: &calls, JSAPIPerClient: 9})
	lines = append(lines, string(b))
	path := filepath.Join(t.TempDir(), "r.jsonl")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	if err := summarize(path, &out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"cap/tickroom (3 runs)", "capacity (rate)", "283 [200–400]", "283000 [200000–400000]", "storm/tickroom (1 runs)", "9 (1 run)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, out.String())
		}
	}
	if err := summarize(filepath.Join(t.TempDir(), "none"), &out); err == nil {
		t.Error("a missing file was accepted")
	}
}
