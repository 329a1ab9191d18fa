package main

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

// fakeServer passes every rate up to capacity and fails above it; it
// records the rates measured.
type fakeServer struct {
	capacity float64
	tried    []float64
	failAt   float64 // a measurement error at this rate (0: none)
}

func (f *fakeServer) measure(_ context.Context, rate float64) (*Result, error) {
	f.tried = append(f.tried, rate)
	if f.failAt != 0 && rate == f.failAt {
		return nil, errors.New("server did not start")
	}
	r := &Result{Scenario: "broadcast", N: 1000, Connected: 1000, Rate: rate, OfSentPct: 100, Latency: &Latency{P99: 20}}
	if rate > f.capacity {
		r.OfSentPct, r.Latency.P99 = 97, 900
	}
	return r, nil
}

var bounds = judge(99.9, 100*time.Millisecond)

func TestSearchClimbsThenBisects(t *testing.T) {
	f := &fakeServer{capacity: 700}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1e6, Factor: 2, Bisect: 3}, f.measure, bounds, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 100 200 400 800(fail), then √(400·800)=566 pass, √(566·800)=673 pass, √(673·800)=734 fail.
	want := []float64{100, 200, 400, 800, 566, 673, 734}
	if !equal(f.tried, want) {
		t.Fatalf("tried %v, want %v", f.tried, want)
	}
	if sr.Capacity == nil || sr.Capacity.Rate != 673 || !sr.Capacity.Pass || sr.FailedAt != 734 {
		t.Fatalf("capacity %+v failed at %v", sr.Capacity, sr.FailedAt)
	}
	for _, r := range f.tried {
		if r > sr.FailedAt && r != 800 {
			t.Errorf("measured %v above the first failure", r)
		}
	}
	if len(sr.Steps) != len(want) {
		t.Fatalf("%d steps", len(sr.Steps))
	}
}

func TestSearchStopsAtFirstFailure(t *testing.T) {
	f := &fakeServer{capacity: 250}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1e6, Factor: 2, Bisect: 0}, f.measure, bounds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !equal(f.tried, []float64{100, 200, 400}) || sr.Capacity.Rate != 200 || sr.FailedAt != 400 {
		t.Fatalf("tried %v capacity %v failed at %v", f.tried, sr.Capacity.Rate, sr.FailedAt)
	}
}

func TestSearchStepsDownWhenStartFails(t *testing.T) {
	f := &fakeServer{capacity: 30}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1e6, Factor: 2, Bisect: 1, DownSteps: 4}, f.measure, bounds, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 100 fail, 50 fail, 25 pass, then √(25·50)=35.4 fail.
	if !equal(f.tried, []float64{100, 50, 25, 35.4}) || sr.Capacity.Rate != 25 || sr.FailedAt != 35.4 {
		t.Fatalf("tried %v capacity %+v failed at %v", f.tried, sr.Capacity, sr.FailedAt)
	}
}

func TestSearchNothingPasses(t *testing.T) {
	f := &fakeServer{capacity: 1}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1e6, Factor: 2, Bisect: 3, DownSteps: 2}, f.measure, bounds, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sr.Capacity != nil || sr.FailedAt != 25 || !equal(f.tried, []float64{100, 50, 25}) {
		t.Fatalf("capacity %+v failed at %v tried %v", sr.Capacity, sr.FailedAt, f.tried)
	}
	var b strings.Builder
	sr.writeTable(&b)
	if !strings.Contains(b.String(), "below the lowest step") {
		t.Fatalf("table: %s", b.String())
	}
}

func TestSearchUnboundedAtMax(t *testing.T) {
	f := &fakeServer{capacity: 1e9}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1000, Factor: 3, Bisect: 3}, f.measure, bounds, nil)
	if err != nil {
		t.Fatal(err)
	}
	// 100 300 900 then the max itself.
	if !equal(f.tried, []float64{100, 300, 900, 1000}) || sr.Capacity.Rate != 1000 || sr.FailedAt != 0 {
		t.Fatalf("tried %v capacity %v failed at %v", f.tried, sr.Capacity.Rate, sr.FailedAt)
	}
	var b strings.Builder
	sr.writeTable(&b)
	if !strings.Contains(b.String(), "at least") {
		t.Fatalf("table: %s", b.String())
	}
}

func TestSearchMeasureErrorEnds(t *testing.T) {
	f := &fakeServer{capacity: 1e9, failAt: 400}
	sr, err := search(context.Background(), sweepPlan{Start: 100, Max: 1e6, Factor: 2}, f.measure, bounds, nil)
	if err == nil || !strings.Contains(err.Error(), "did not start") {
		t.Fatalf("err %v", err)
	}
	if sr == nil || len(sr.Steps) != 2 || sr.Capacity.Rate != 200 {
		t.Fatalf("partial result %+v", sr)
	}
}

func TestSearchCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	f := &fakeServer{capacity: 1e9}
	n := 0
	_, err := search(ctx, sweepPlan{Start: 1, Max: 1e6, Factor: 2}, f.measure, bounds, func(Step) {
		if n++; n == 3 {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) || len(f.tried) != 3 {
		t.Fatalf("err %v after %v", err, f.tried)
	}
}

func TestSearchBadPlan(t *testing.T) {
	for _, p := range []sweepPlan{{Start: 0, Max: 1, Factor: 2}, {Start: 2, Max: 1, Factor: 2}, {Start: 1, Max: 2, Factor: 1}, {Start: 1, Max: 2, Factor: 2, Bisect: -1}} {
		if _, err := search(context.Background(), p, nil, bounds, nil); err == nil {
			t.Errorf("plan %+v accepted", p)
		}
	}
}

func TestJudge(t *testing.T) {
	ok := &Result{Scenario: "broadcast", N: 10, Connected: 10, OfSentPct: 99.95, Latency: &Latency{P99: 99}}
	if pass, why := bounds(ok); !pass {
		t.Fatalf("fails: %s", why)
	}
	cases := map[string]*Result{
		"delivered": {Scenario: "broadcast", N: 10, Connected: 10, OfSentPct: 99.8, Latency: &Latency{P99: 5}},
		"p99":       {Scenario: "broadcast", N: 10, Connected: 10, OfSentPct: 100, Latency: &Latency{P99: 101}},
		"dropped":   {Scenario: "broadcast", N: 10, Connected: 10, Dropped: 1, OfSentPct: 100, Latency: &Latency{P99: 5}},
		"latency":   {Scenario: "broadcast", N: 10, Connected: 10, OfSentPct: 100},
		// market judges the tick share and tick age, not OfSentPct/Latency.
		"delivered%": {Scenario: "market", N: 10, Connected: 10, OfSentPct: 100, InWindowPct: 95, TickAge: &Latency{P99: 5}},
	}
	for want, r := range cases {
		if pass, why := bounds(r); pass || !strings.Contains(why, strings.TrimSuffix(want, "%")) {
			t.Errorf("%s: pass %v why %q", want, pass, why)
		}
	}
	m := &Result{Scenario: "market", N: 10, Connected: 10, InWindowPct: 100, TickAge: &Latency{P99: 50}}
	if pass, why := bounds(m); !pass {
		t.Fatalf("market fails: %s", why)
	}
}

func TestNiceRate(t *testing.T) {
	for in, want := range map[float64]float64{141.4213: 141, 565.685: 566, 1234567: 1230000, 35.355: 35.4, 2: 2} {
		if got := niceRate(in); got != want {
			t.Errorf("niceRate(%v) = %v, want %v", in, got, want)
		}
	}
}

func equal(a, b []float64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestBackoffDelay(t *testing.T) {
	lo, hi := 250*time.Millisecond, 10*time.Second
	for attempt, top := range []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, hi, hi} {
		for range 200 {
			if d := backoffDelay(attempt, lo, hi); d < lo || d > top {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, lo, top)
			}
		}
	}
	if d := backoffDelay(100, lo, hi); d < lo || d > hi {
		t.Fatalf("attempt 100: %v", d)
	}
}
