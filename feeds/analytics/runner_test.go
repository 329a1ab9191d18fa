package analytics

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/memfeed"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var t0 = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func newRunner(t *testing.T) (*Runner, *memfeed.Bus, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	r, err := New(Config{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	bus := memfeed.New()
	r.pub = bus
	return r, bus, clk
}

func send(r *Runner, clk *clock, tk feeds.Tick) {
	clk.Set(tk.Time.Time)
	b, _ := json.Marshal(tk)
	r.HandleMessage("market."+tk.Symbol, b)
}

func tick(sym string, at time.Time, price, size float64) feeds.Tick {
	return feeds.Tick{Symbol: sym, Price: price, Size: size, Time: feeds.Time{Time: at}}
}

func candles(t *testing.T, bus *memfeed.Bus, subject string) []feeds.Candle {
	t.Helper()
	var out []feeds.Candle
	for _, m := range bus.Messages(subject) {
		var c feeds.Candle
		if err := json.Unmarshal(m.Data, &c); err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	return out
}

func analyticsMsgs(t *testing.T, bus *memfeed.Bus, subject string) []feeds.Analytics {
	t.Helper()
	var out []feeds.Analytics
	for _, m := range bus.Messages(subject) {
		var a feeds.Analytics
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}

func TestCandlesThrottledAndFinal(t *testing.T) {
	r, bus, clk := newRunner(t)
	// Minute 0: 10 ticks every 100ms (1s), then one at 30s.
	prices := []float64{100, 101, 99, 100.5, 102, 101.5, 98.5, 100, 100.2, 100.1}
	for i, p := range prices {
		send(r, clk, tick("AAPL", t0.Add(time.Duration(i)*100*time.Millisecond), p, 10))
	}
	send(r, clk, tick("AAPL", t0.Add(30*time.Second), 100.3, 5))
	// First tick of minute 1 closes bar 0.
	send(r, clk, tick("AAPL", t0.Add(61*time.Second), 100.4, 1))

	cs := candles(t, bus, "candle.AAPL")
	// Sent: first tick (0s), 30s update, final of bar 0 on the 61s tick,
	// then bar 1 throttled (the final was just sent, < 2s ago).
	if len(cs) != 3 {
		t.Fatalf("got %d candle messages: %+v", len(cs), cs)
	}
	final := cs[2]
	want := feeds.Candle{Symbol: "AAPL", Interval: "1m", Start: feeds.Time{Time: t0},
		Open: 100, High: 102, Low: 98.5, Close: 100.3, Volume: 105}
	if final != want {
		t.Errorf("final bar = %+v\nwant %+v", final, want)
	}
	if cs[0].Start != cs[1].Start || cs[1].Close != 100.3 {
		t.Errorf("in-progress re-sends: %+v", cs[:2])
	}
	// The bar in progress goes out once the throttle allows.
	clk.Set(t0.Add(63 * time.Second)) // the 2s throttle since the final at 61s
	r.Flush()
	cs = candles(t, bus, "candle.AAPL")
	if last := cs[len(cs)-1]; last.Start.Time != t0.Add(time.Minute) || last.Close != 100.4 {
		t.Errorf("bar 1 in progress = %+v", last)
	}
	// Nothing changes: nothing more is sent.
	n := len(cs)
	clk.Set(t0.Add(65 * time.Second))
	r.Flush()
	if got := len(candles(t, bus, "candle.AAPL")); got != n {
		t.Errorf("unchanged bar re-sent: %d messages, want %d", got, n)
	}
}

// With no further tick, a bar closes when the feed's clock passes its end
// plus the grace period.
func TestBarClosesOnClock(t *testing.T) {
	r, bus, clk := newRunner(t)
	send(r, clk, tick("EURUSD", t0.Add(10*time.Second), 1.0842, 1000))
	send(r, clk, tick("EURUSD", t0.Add(50*time.Second), 1.0845, 1000))
	n := len(candles(t, bus, "candle.EURUSD"))
	clk.Set(t0.Add(61 * time.Second)) // within grace
	r.Flush()
	cs := candles(t, bus, "candle.EURUSD")
	if len(cs) != n {
		t.Fatalf("bar closed before the grace period: %+v", cs[n:])
	}
	clk.Set(t0.Add(63 * time.Second)) // the 2s throttle since the final at 61s
	r.Flush()
	cs = candles(t, bus, "candle.EURUSD")
	if len(cs) != n+1 || cs[n].Close != 1.0845 || cs[n].Volume != 2000 {
		t.Fatalf("closing bar: %+v", cs)
	}
	// A late tick for the closed minute does not reopen it.
	send(r, clk, tick("EURUSD", t0.Add(59*time.Second), 2, 1))
	clk.Set(t0.Add(70 * time.Second))
	r.Flush()
	for _, c := range candles(t, bus, "candle.EURUSD")[n+1:] {
		if c.Start.Time.Equal(t0) {
			t.Fatalf("late tick reopened the closed bar: %+v", c)
		}
	}
}

func TestAnalyticsSessionValues(t *testing.T) {
	r, bus, clk := newRunner(t)
	ticks := []feeds.Tick{
		tick("MSFT", t0, 400, 100),
		tick("MSFT", t0.Add(1*time.Second), 404, 300),
		tick("MSFT", t0.Add(2*time.Second), 396, 100),
		tick("MSFT", t0.Add(3*time.Second), 412, 100),
	}
	var ps, ss []float64
	for _, tk := range ticks {
		send(r, clk, tk)
		ps, ss = append(ps, tk.Price), append(ss, tk.Size)
	}
	as := analyticsMsgs(t, bus, "analytics.MSFT")
	if len(as) != 4 { // 1s apart: every tick passes the 500ms throttle
		t.Fatalf("%d analytics messages", len(as))
	}
	a := as[3]
	if a.Price != 412 || a.Open != 400 || a.High != 412 || a.Low != 396 || a.Volume != 600 {
		t.Errorf("session values %+v", a)
	}
	if math.Abs(a.ChangePct-3) > 1e-9 {
		t.Errorf("change_pct = %v, want 3", a.ChangePct)
	}
	if math.Abs(a.VWAP-VWAP(ps, ss)) > 1e-9 {
		t.Errorf("vwap = %v, want %v", a.VWAP, VWAP(ps, ss))
	}
	if !math.IsNaN(a.SMA20) || !math.IsNaN(a.RSI14) || !math.IsNaN(a.Volatility) {
		t.Errorf("indicators before 20 bars: %+v", a)
	}
	raw := string(bus.Messages("analytics.MSFT")[3].Data)
	wantJSON := `{"symbol":"MSFT","time":"2026-11-26T12:00:03.000Z","price":412,"open":400,"high":412,"low":396,"change_pct":3,"volume":600,"vwap":403.3333333333333}`
	if raw != wantJSON {
		t.Errorf("analytics JSON\n got %s\nwant %s", raw, wantJSON)
	}
}

func TestAnalyticsThrottle(t *testing.T) {
	r, bus, clk := newRunner(t)
	for i := 0; i < 100; i++ { // 10 ticks per second for 10 s
		send(r, clk, tick("TSLA", t0.Add(time.Duration(i)*100*time.Millisecond), 250+float64(i%7), 1))
	}
	if n := len(bus.Messages("analytics.TSLA")); n > 21 {
		t.Errorf("%d analytics messages in 10s, want at most 2/s", n)
	}
	if n := len(bus.Messages("candle.TSLA")); n > 11 {
		t.Errorf("%d candle messages in 10s, want at most 1/s", n)
	}
}

// After 30 one-minute bars the indicators match the pure functions over
// the closes (plus the bar in progress).
func TestIndicatorsOverBars(t *testing.T) {
	r, bus, clk := newRunner(t)
	var closes []float64
	for m := 0; m < 30; m++ {
		p := 100 + 5*math.Sin(float64(m)/3)
		closes = append(closes, p)
		send(r, clk, tick("NVDA", t0.Add(time.Duration(m)*time.Minute+time.Second), p-0.5, 1))
		send(r, clk, tick("NVDA", t0.Add(time.Duration(m)*time.Minute+50*time.Second), p, 1))
	}
	clk.Set(clk.Now().Add(2 * time.Second))
	r.Flush()
	as := analyticsMsgs(t, bus, "analytics.NVDA")
	a := as[len(as)-1]
	check := func(name string, got, want float64) {
		t.Helper()
		if math.IsNaN(got) || math.Abs(got-want) > 1e-9 {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	check("sma20", a.SMA20, Last(SMA(closes, 20)))
	check("ema20", a.EMA20, Last(EMA(closes, 20)))
	check("rsi14", a.RSI14, Last(RSI(closes, 14)))
	check("volatility", a.Volatility, Volatility(closes[:29], 20, MinutesPerTradingYear))
	if n := len(candles(t, bus, "candle.NVDA")); n < 30 {
		t.Errorf("%d candle messages for 30 bars", n)
	}
}

func TestDropsInvalid(t *testing.T) {
	r, bus, _ := newRunner(t)
	for _, m := range []struct{ subj, data string }{
		{"market.AAPL", `not json`},
		{"market.AAPL", `{"symbol":"MSFT","price":1}`},
		{"market.AAPL", `{"symbol":"AAPL","price":0}`},
		{"market.AAPL", `{"symbol":"AAPL","price":-3}`},
		{"market.AAPL", `{"symbol":"AAPL"}`},
		{"market.AAPL", `{"symbol":"AAPL","price":"12"}`},
		{"market.AAPL", `{"symbol":"AAPL","price":12,"time":"yesterday"}`},
	} {
		r.HandleMessage(m.subj, []byte(m.data))
	}
	if r.Dropped() != 7 {
		t.Errorf("dropped %d, want 7", r.Dropped())
	}
	if n := len(bus.Messages(">")); n != 0 {
		t.Errorf("published %d messages for invalid input", n)
	}
	// A bare tick (the docs' nats pub example) is accepted and stamped.
	r.HandleMessage("market.DEMO", []byte(`{"symbol":"DEMO","price":42.5}`))
	if n := len(bus.Messages("candle.DEMO")); n != 1 {
		t.Errorf("bare tick gave %d candles", n)
	}
	// Unix-millisecond times are accepted too.
	r.HandleMessage("market.DEMO2", []byte(fmt.Sprintf(`{"symbol":"DEMO2","price":1.5,"time":%d}`, t0.UnixMilli())))
	cs := candles(t, bus, "candle.DEMO2")
	if len(cs) != 1 || !cs[0].Start.Time.Equal(t0) {
		t.Errorf("unix ms tick: %+v", cs)
	}
}

func TestRunStops(t *testing.T) {
	r, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	bus := memfeed.New()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx, bus, bus) }()
	deadline := time.Now().Add(5 * time.Second)
	for bus.Subscribers() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("Run did not subscribe")
		}
		time.Sleep(5 * time.Millisecond)
	}
	bus.Publish("market.AAPL", []byte(`{"symbol":"AAPL","price":228.5,"size":100}`))
	if n := len(bus.Messages("analytics.AAPL")); n != 1 {
		t.Errorf("analytics messages: %d", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bus.Subscribers() != 0 {
		t.Error("Run left its subscription")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{{Bars: 5}, {AnalyticsEvery: -1}, {Grace: -time.Second}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}
