package protocol

import (
	"testing"
	"time"
)

func TestDecodeCandleHistory(t *testing.T) {
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name     string
		frame    string
		code     string // "" for ok
		interval string
		before   time.Time
		limit    int
	}{
		{"contract example", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"5m","before":"2026-12-01T10:00:00Z","limit":500}`, "", "5m", at, 500},
		{"unix ms", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"1D","before":1795946400000}`, "", "1D", time.UnixMilli(1795946400000).UTC(), 50},
		{"offset time", `{"op":"history","id":9,"channel":"candle.AAPL","before":"2026-12-01T11:00:00+01:00"}`, "", "1m", at, 50},
		{"defaults", `{"op":"history","id":9,"channel":"candle.AAPL"}`, "", "1m", time.Time{}, 50},
		{"limit capped at 1000", `{"op":"history","id":9,"channel":"candle.AAPL","limit":5000}`, "", "1m", time.Time{}, 1000},
		{"every interval", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"15m"}`, "", "15m", time.Time{}, 50},
		{"hour", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"1h"}`, "", "1h", time.Time{}, 50},
		{"unknown interval", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"2m"}`, CodeBadRequest, "", time.Time{}, 0},
		{"interval case matters", `{"op":"history","id":9,"channel":"candle.AAPL","interval":"1d"}`, CodeBadRequest, "", time.Time{}, 0},
		{"interval not a string", `{"op":"history","id":9,"channel":"candle.AAPL","interval":5}`, CodeBadRequest, "", time.Time{}, 0},
		{"bad time", `{"op":"history","id":9,"channel":"candle.AAPL","before":"yesterday"}`, CodeBadRequest, "", time.Time{}, 0},
		{"negative before", `{"op":"history","id":9,"channel":"candle.AAPL","before":-5}`, CodeBadRequest, "", time.Time{}, 0},
		{"fractional before", `{"op":"history","id":9,"channel":"candle.AAPL","before":1.5}`, CodeBadRequest, "", time.Time{}, 0},
		{"before object", `{"op":"history","id":9,"channel":"candle.AAPL","before":{}}`, CodeBadRequest, "", time.Time{}, 0},
		{"negative limit", `{"op":"history","id":9,"channel":"candle.AAPL","limit":-1}`, CodeBadRequest, "", time.Time{}, 0},
		{"interval on chat", `{"op":"history","id":9,"channel":"chat.lobby","interval":"5m"}`, CodeBadRequest, "", time.Time{}, 0},
		{"time before on chat", `{"op":"history","id":9,"channel":"chat.lobby","before":"2026-12-01T10:00:00Z"}`, CodeBadRequest, "", time.Time{}, 0},
		{"wildcard candle", `{"op":"history","id":9,"channel":"candle.*","interval":"5m"}`, CodeBadRequest, "", time.Time{}, 0},
	}
	for _, tt := range tests {
		req, err := DecodeRequest([]byte(tt.frame))
		if tt.code != "" {
			if err == nil || err.Code != tt.code {
				t.Errorf("%s: got %v, want %s", tt.name, err, tt.code)
			}
			if string(req.ID) != "9" {
				t.Errorf("%s: id %q not kept for the reply", tt.name, req.ID)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if req.Interval != tt.interval || !req.BeforeTime.Equal(tt.before) || req.Limit != tt.limit || req.Before != 0 {
			t.Errorf("%s: interval %q before %v (seq %d) limit %d, want %q %v %d",
				tt.name, req.Interval, req.BeforeTime, req.Before, req.Limit, tt.interval, tt.before, tt.limit)
		}
	}
}

// A chat history's before is still a sequence number.
func TestDecodeChatHistoryBeforeSeq(t *testing.T) {
	req, err := DecodeRequest([]byte(`{"op":"history","id":6,"channel":"chat.lobby","before":1041,"limit":50}`))
	if err != nil || req.Before != 1041 || !req.BeforeTime.IsZero() || req.Interval != "" {
		t.Fatalf("got %+v, %v", req, err)
	}
}

func TestParseBeforeTime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1795946400000":        time.UnixMilli(1795946400000).UTC(),
		"2026-12-01T10:00:00Z": time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC),
	} {
		if got, err := ParseBeforeTime(in); err != nil || !got.Equal(want) {
			t.Errorf("ParseBeforeTime(%q) = %v, %v", in, got, err)
		}
	}
	for _, in := range []string{"", "x", "-1", "2026-12-01"} {
		if _, err := ParseBeforeTime(in); err == nil {
			t.Errorf("ParseBeforeTime(%q) accepted", in)
		}
	}
}

func TestCandleIntervals(t *testing.T) {
	prev := time.Duration(0)
	for _, name := range CandleIntervals {
		d, ok := CandleInterval(name)
		if !ok || d <= prev {
			t.Errorf("%s: %v %v", name, d, ok)
		}
		prev = d
	}
}
