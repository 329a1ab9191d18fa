package protocol

import (
	"testing"
	"time"
)

func TestDecodeBars(t *testing.T) {
	start := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name, interval, data string
		n                    int // -1: rejected
	}{
		{"one bar", "5m", `{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":10}`, 1},
		{"one bar, unix ms, no volume", "5m", `{"symbol":"AAPL","interval":"5m","start":1795946400000,"open":1,"high":2,"low":0.5,"close":1.5}`, 1},
		{"no interval is 1m", "1m", `{"symbol":"AAPL","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5}`, 1},
		{"no interval is not 5m", "5m", `{"symbol":"AAPL","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5}`, -1},
		{"batch", "1D", `{"symbol":"AAPL","interval":"1D","bars":[{"start":"2026-12-01T00:00:00Z","open":1,"high":2,"low":0.5,"close":1.5},{"start":"2026-12-02T00:00:00Z","open":1.5,"high":2,"low":1,"close":1.2,"volume":3}]}`, 2},
		{"empty batch", "1D", `{"symbol":"AAPL","interval":"1D","bars":[]}`, 0},
		{"batch with a bad bar", "1D", `{"symbol":"AAPL","interval":"1D","bars":[{"start":"2026-12-01T00:00:00Z","open":1,"high":2,"low":0.5,"close":1.5},{"start":"x","open":1,"high":2,"low":1,"close":1}]}`, -1},
		{"batch bar of another interval", "1D", `{"symbol":"AAPL","interval":"1D","bars":[{"interval":"1h","start":"2026-12-01T00:00:00Z","open":1,"high":2,"low":0.5,"close":1.5}]}`, -1},
		{"wrong interval", "1h", `{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5}`, -1},
		{"wrong symbol", "5m", `{"symbol":"MSFT","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5}`, -1},
		{"low above high", "5m", `{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":3,"close":1.5}`, -1},
		{"zero open", "5m", `{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":0,"high":2,"low":0.5,"close":1.5}`, -1},
		{"negative volume", "5m", `{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":-1}`, -1},
		{"no start", "5m", `{"symbol":"AAPL","interval":"5m","open":1,"high":2,"low":0.5,"close":1.5}`, -1},
		{"not JSON", "5m", `bars`, -1},
		{"array", "5m", `[]`, -1},
	}
	for _, tt := range tests {
		got, err := DecodeBars("AAPL", tt.interval, []byte(tt.data))
		switch {
		case tt.n < 0 && err == nil:
			t.Errorf("%s: accepted %+v", tt.name, got)
		case tt.n >= 0 && (err != nil || len(got) != tt.n):
			t.Errorf("%s: %d bars, %v; want %d", tt.name, len(got), err, tt.n)
		}
	}
	got, _ := DecodeBars("AAPL", "5m", []byte(`{"symbol":"AAPL","interval":"5m","start":"2026-12-01T11:00:00+01:00","open":1,"high":2,"low":0.5,"close":1.5,"volume":10}`))
	if want := (Bar{Start: start, Open: 1, High: 2, Low: 0.5, Close: 1.5, Volume: 10}); len(got) != 1 || got[0] != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func FuzzDecodeBars(f *testing.F) {
	for _, s := range []string{
		`{"symbol":"AAPL","interval":"5m","start":"2026-12-01T10:00:00Z","open":1,"high":2,"low":0.5,"close":1.5,"volume":10}`,
		`{"symbol":"AAPL","interval":"5m","bars":[{"start":1,"open":1,"high":2,"low":0.5,"close":1.5}]}`,
		`{"symbol":"AAPL","interval":"5m","bars":null}`, `{"bars":[{}]}`, `[]`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		bars, err := DecodeBars("AAPL", "5m", data)
		if err != nil {
			return
		}
		for _, b := range bars {
			if !(b.Open > 0 && b.High > 0 && b.Low > 0 && b.Close > 0 && b.Low <= b.High && b.Volume >= 0) ||
				!finite(b.Open) || !finite(b.High) || !finite(b.Low) || !finite(b.Close) || !finite(b.Volume) || b.Start.IsZero() {
				t.Fatalf("accepted %+v from %q", b, data)
			}
		}
	})
}
