package feeds

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestTickJSON(t *testing.T) {
	tk := Tick{Symbol: "AAPL", Price: 189.32, Bid: 189.31, Ask: 189.33, Size: 100, Volume: 1200345,
		Time: Time{time.Date(2026, 11, 26, 12, 0, 0, 123456789, time.FixedZone("x", 3600))}}
	b, _ := json.Marshal(tk)
	want := `{"symbol":"AAPL","price":189.32,"bid":189.31,"ask":189.33,"size":100,"volume":1200345,"time":"2026-11-26T11:00:00.123Z"}`
	if string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(Tick{Symbol: "DEMO", Price: 42.5})
	if string(b) != `{"symbol":"DEMO","price":42.5}` {
		t.Errorf("bare tick %s", b)
	}
	got, err := DecodeTick("market.DEMO", []byte(`{"symbol":"DEMO","price":42.5,"time":1795703400123}`))
	if err != nil || !got.Time.Equal(time.UnixMilli(1795703400123)) {
		t.Errorf("unix ms: %+v %v", got, err)
	}
}

func TestAnalyticsJSON(t *testing.T) {
	a := NewAnalytics("AAPL", time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC))
	a.Price, a.RSI14, a.VWAP = 189.32, 0, math.Inf(1)
	b, _ := json.Marshal(a)
	if want := `{"symbol":"AAPL","time":"2026-11-26T12:00:00.000Z","price":189.32,"rsi14":0}`; string(b) != want {
		t.Errorf("got  %s\nwant %s", b, want)
	}
	var back Analytics
	if err := json.Unmarshal(b, &back); err != nil || back.RSI14 != 0 || !math.IsNaN(back.SMA20) || back.Price != 189.32 {
		t.Errorf("round trip %+v %v", back, err)
	}
}
