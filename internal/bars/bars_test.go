package bars

import (
	"reflect"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 9, 58, 0, 0, time.UTC)

func bar(min int, o, h, l, c, v float64) Bar {
	return Bar{Start: t0.Add(time.Duration(min) * time.Minute), Open: o, High: h, Low: l, Close: c, Volume: v}
}

func TestAggregate(t *testing.T) {
	at := func(s string) time.Time {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	tests := []struct {
		name string
		in   []Bar
		d    time.Duration
		want []Bar
	}{
		{"empty", nil, 5 * time.Minute, nil},
		{"one bar keeps its values, window start", []Bar{bar(0, 10, 11, 9, 10.5, 3)}, 5 * time.Minute,
			[]Bar{{Start: at("2026-12-01T09:55:00Z"), Open: 10, High: 11, Low: 9, Close: 10.5, Volume: 3}}},
		{"crossing a window boundary", []Bar{
			bar(0, 10, 11, 9, 10.5, 1),  // 09:58
			bar(1, 10.5, 12, 10, 11, 2), // 09:59
			bar(2, 11, 11.5, 8, 9, 3),   // 10:00 — next 5m window
			bar(3, 9, 9.5, 8.5, 9.2, 4), // 10:01
		}, 5 * time.Minute, []Bar{
			{Start: at("2026-12-01T09:55:00Z"), Open: 10, High: 12, Low: 9, Close: 11, Volume: 3},
			{Start: at("2026-12-01T10:00:00Z"), Open: 11, High: 11.5, Low: 8, Close: 9.2, Volume: 7},
		}},
		{"gaps leave windows out", []Bar{bar(0, 1, 1, 1, 1, 1), bar(62, 2, 2, 2, 2, 1)}, 15 * time.Minute, []Bar{
			{Start: at("2026-12-01T09:45:00Z"), Open: 1, High: 1, Low: 1, Close: 1, Volume: 1},
			{Start: at("2026-12-01T11:00:00Z"), Open: 2, High: 2, Low: 2, Close: 2, Volume: 1},
		}},
		{"days start at 00:00 UTC", []Bar{
			{Start: at("2026-12-01T23:00:00Z"), Open: 5, High: 6, Low: 4, Close: 5.5, Volume: 0.1},
			{Start: at("2026-12-01T23:30:00Z"), Open: 5.5, High: 7, Low: 5, Close: 6, Volume: 0.2},
			{Start: at("2026-12-02T00:00:00Z"), Open: 6, High: 6, Low: 3, Close: 3, Volume: 1},
		}, 24 * time.Hour, []Bar{
			{Start: at("2026-12-01T00:00:00Z"), Open: 5, High: 7, Low: 4, Close: 6, Volume: 0.3}, // 0.1+0.2 without float noise
			{Start: at("2026-12-02T00:00:00Z"), Open: 6, High: 6, Low: 3, Close: 3, Volume: 1},
		}},
		{"hours from 15 minutes", []Bar{
			{Start: at("2026-12-01T10:00:00Z"), Open: 1, High: 2, Low: 1, Close: 2, Volume: 1},
			{Start: at("2026-12-01T10:15:00Z"), Open: 2, High: 3, Low: 2, Close: 3, Volume: 1},
			{Start: at("2026-12-01T10:30:00Z"), Open: 3, High: 3, Low: 0.5, Close: 1, Volume: 1},
			{Start: at("2026-12-01T10:45:00Z"), Open: 1, High: 1.5, Low: 1, Close: 1.2, Volume: 1},
		}, time.Hour, []Bar{
			{Start: at("2026-12-01T10:00:00Z"), Open: 1, High: 3, Low: 0.5, Close: 1.2, Volume: 4},
		}},
	}
	for _, tt := range tests {
		if got := Aggregate(tt.in, tt.d); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s:\n got %+v\nwant %+v", tt.name, got, tt.want)
		}
	}
}

// Aggregating in steps (1m → 5m → 15m → 1h) gives what aggregating at once
// does: the gateway derives coarse bars from whatever finer ones it has.
func TestAggregateComposes(t *testing.T) {
	var in []Bar
	p := 100.0
	for i := 0; i < 600; i++ {
		o := p
		p += float64(i%7) - 3
		in = append(in, bar(i, o, max(o, p)+1, min(o, p)-1, p, float64(i%5)))
	}
	direct := Aggregate(in, time.Hour)
	stepped := Aggregate(Aggregate(Aggregate(in, 5*time.Minute), 15*time.Minute), time.Hour)
	if !reflect.DeepEqual(direct, stepped) {
		t.Fatalf("stepped aggregation differs:\n%+v\n%+v", direct, stepped)
	}
	if len(direct) != 11 { // 09:00 (2 min) … 19:00 (58 min)
		t.Fatalf("%d hourly bars, want 11", len(direct))
	}
}

func TestCascade(t *testing.T) {
	c := NewCascade(5*time.Minute, time.Hour)
	// Taking over from a backfill: the hour so far was made elsewhere.
	c.Seed(1, Bar{Start: t0.Add(-30 * time.Minute), Open: 50, High: 200, Low: 40, Close: 99, Volume: 10})
	var closed []Closed
	for i := 0; i < 8; i++ { // 09:58 … 10:05
		closed = append(closed, c.Add(bar(i, 100, 101, 99, 100, 1))...)
	}
	want := []Closed{
		{5 * time.Minute, Bar{Start: time.Date(2026, 12, 1, 9, 55, 0, 0, time.UTC), Open: 100, High: 101, Low: 99, Close: 100, Volume: 2}},
		{time.Hour, Bar{Start: time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC), Open: 50, High: 200, Low: 40, Close: 100, Volume: 12}},
		{5 * time.Minute, Bar{Start: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Open: 100, High: 101, Low: 99, Close: 100, Volume: 5}},
	}
	if !reflect.DeepEqual(closed, want) {
		t.Fatalf("closed:\n got %+v\nwant %+v", closed, want)
	}
	if b, ok := c.Open(0); !ok || !b.Start.Equal(time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)) || b.Volume != 1 {
		t.Fatalf("open 5m bar %+v %v", b, ok)
	}
	// A late bar changes nothing.
	if got := c.Add(bar(0, 1, 1, 1, 1, 1)); got != nil {
		t.Fatalf("late bar closed %+v", got)
	}
	if b, _ := c.Open(1); b.Low != 99 || b.Volume != 6 {
		t.Fatalf("late bar merged into %+v", b)
	}
}
