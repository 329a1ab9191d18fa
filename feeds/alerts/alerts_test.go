package alerts

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"

	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/market"
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

func newRunner(t *testing.T, cfg Config) (*Runner, *memfeed.Bus, *clock) {
	t.Helper()
	clk := &clock{t: t0}
	cfg.Now = clk.Now
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	bus := memfeed.New()
	r.pub = bus
	return r, bus, clk
}

func send(r *Runner, clk *clock, sym string, at time.Time, price, size float64) {
	clk.Set(at)
	b, _ := json.Marshal(feeds.Tick{Symbol: sym, Price: price, Size: size, Time: feeds.Time{Time: at}})
	r.HandleMessage("market."+sym, b)
}

func alertsOf(t *testing.T, bus *memfeed.Bus, subject string) []feeds.Alert {
	t.Helper()
	var out []feeds.Alert
	for _, m := range bus.Messages(subject) {
		var a feeds.Alert
		if err := json.Unmarshal(m.Data, &a); err != nil {
			t.Fatal(err)
		}
		if !protocol.ValidToken(a.Symbol) || a.Text == "" || levels[a.Level] == 0 || a.Time.IsZero() {
			t.Fatalf("malformed alert %s", m.Data)
		}
		out = append(out, a)
	}
	return out
}

func TestMoveAlert(t *testing.T) {
	r, bus, clk := newRunner(t, Config{})
	// Drift up 1.2% over 3 minutes, one tick every 10 s.
	for i := 0; i <= 18; i++ {
		send(r, clk, "AAPL", t0.Add(time.Duration(i)*10*time.Second), 200+float64(i)*200*0.012/18, 100)
	}
	as := alertsOf(t, bus, "alert.AAPL")
	if len(as) != 1 {
		t.Fatalf("alerts: %+v", as)
	}
	if want := "AAPL +1.0% in 2m30s (200 → 202)"; as[0].Text != want || as[0].Level != feeds.LevelWarn {
		t.Errorf("alert = %q (%s), want %q (warn)", as[0].Text, as[0].Level, want)
	}
	if !as[0].Time.Equal(t0.Add(150 * time.Second)) {
		t.Errorf("alert time %v", as[0].Time)
	}
	// More of the same within the cool-down: quiet.
	send(r, clk, "AAPL", t0.Add(190*time.Second), 202.6, 100)
	if n := len(alertsOf(t, bus, "alert.AAPL")); n != 1 {
		t.Fatalf("%d alerts during the cool-down", n)
	}
	// Twice the threshold escalates to critical despite the cool-down.
	send(r, clk, "AAPL", t0.Add(200*time.Second), 204.5, 100)
	as = alertsOf(t, bus, "alert.AAPL")
	if len(as) != 2 || as[1].Level != feeds.LevelCritical || as[1].Text != "AAPL +2.2% in 3m20s (200 → 204.5)" {
		t.Fatalf("escalation: %+v", as)
	}
}

func TestMoveDownUsesWindowHigh(t *testing.T) {
	r, bus, clk := newRunner(t, Config{MovePct: 2, MoveWindow: time.Minute})
	send(r, clk, "BTCUSD", t0, 64000, 0.1)
	send(r, clk, "BTCUSD", t0.Add(20*time.Second), 65000, 0.1)
	send(r, clk, "BTCUSD", t0.Add(40*time.Second), 63500, 0.1) // −2.3% from the high
	as := alertsOf(t, bus, "alert.BTCUSD")
	if len(as) != 1 || as[0].Text != "BTCUSD -2.3% in 20s (65000 → 63500)" {
		t.Fatalf("alerts: %+v", as)
	}
	// Outside the window the old high no longer counts.
	r2, bus2, clk2 := newRunner(t, Config{MovePct: 2, MoveWindow: time.Minute})
	send(r2, clk2, "X", t0, 100, 1)
	send(r2, clk2, "X", t0.Add(61*time.Second), 97, 1)
	if as := alertsOf(t, bus2, "alert.X"); len(as) != 0 {
		t.Fatalf("move outside the window alerted: %+v", as)
	}
}

func TestRSICrossing(t *testing.T) {
	r, bus, clk := newRunner(t, Config{})
	rsi := func(at time.Time, v float64) {
		clk.Set(at)
		a := feeds.NewAnalytics("NVDA", at)
		a.RSI14 = v
		b, _ := json.Marshal(a)
		r.HandleMessage("analytics.NVDA", b)
	}
	rsi(t0, 65)
	rsi(t0.Add(time.Second), 71.34)
	rsi(t0.Add(2*time.Second), 69)
	rsi(t0.Add(3*time.Second), 72) // within the cool-down
	rsi(t0.Add(10*time.Minute), 40)
	rsi(t0.Add(11*time.Minute), 29.4)
	// Analytics without rsi14 (too few bars) are ignored.
	r.HandleMessage("analytics.NVDA", []byte(`{"symbol":"NVDA","price":130}`))
	as := alertsOf(t, bus, "alert.NVDA")
	want := []string{"NVDA RSI(14) crossed above 70 (71.3): overbought", "NVDA RSI(14) crossed below 30 (29.4): oversold"}
	if len(as) != len(want) {
		t.Fatalf("alerts: %+v", as)
	}
	for i := range want {
		if as[i].Text != want[i] || as[i].Level != feeds.LevelInfo {
			t.Errorf("alert %d = %q, want %q", i, as[i].Text, want[i])
		}
	}
}

func TestVolumeSpike(t *testing.T) {
	r, bus, clk := newRunner(t, Config{})
	at := t0
	// 20 minutes of 600 shares a minute.
	for ; at.Before(t0.Add(20 * time.Minute)); at = at.Add(10 * time.Second) {
		send(r, clk, "TSLA", at, 250, 100)
	}
	if as := alertsOf(t, bus, "alert.TSLA"); len(as) != 0 {
		t.Fatalf("steady volume alerted: %+v", as)
	}
	// Ticks of 500 shares: the fifth brings the last minute (19:40 to
	// 20:40, exclusive) to 100 + 5·500 = 2600 against 11,900 over the
	// previous 19m40s, 4.3×.
	for i := 0; i < 6; i++ {
		send(r, clk, "TSLA", at, 250, 500)
		at = at.Add(10 * time.Second)
	}
	as := alertsOf(t, bus, "alert.TSLA")
	if len(as) != 1 {
		t.Fatalf("alerts: %+v", as)
	}
	if as[0].Level != feeds.LevelInfo || as[0].Text != "TSLA volume spike: 2,600 in the last minute, 4.3× the 30-minute average" {
		t.Errorf("alert = %q (%s)", as[0].Text, as[0].Level)
	}
}

func TestStall(t *testing.T) {
	r, bus, clk := newRunner(t, Config{})
	for i := 0; i < 10; i++ {
		send(r, clk, "EURUSD", t0.Add(time.Duration(i)*250*time.Millisecond), 1.0842, 1000)
	}
	// A single tick is not a feed: DEMO never stalls.
	send(r, clk, "DEMO", t0.Add(2*time.Second), 42.5, 0)
	last := t0.Add(9 * 250 * time.Millisecond)
	clk.Set(last.Add(29 * time.Second))
	r.CheckStalls()
	if n := len(bus.Messages("alert.>")); n != 0 {
		t.Fatalf("stall before 30s: %d alerts", n)
	}
	clk.Set(last.Add(31 * time.Second))
	r.CheckStalls()
	clk.Set(last.Add(45 * time.Second))
	r.CheckStalls()
	as := alertsOf(t, bus, "alert.>")
	if len(as) != 1 || as[0].Symbol != "EURUSD" || as[0].Level != feeds.LevelWarn ||
		as[0].Text != "EURUSD feed stalled: no tick for 31s (last 1.0842)" {
		t.Fatalf("alerts: %+v", as)
	}
	send(r, clk, "EURUSD", last.Add(130*time.Second), 1.0843, 1000)
	as = alertsOf(t, bus, "alert.>")
	if len(as) != 2 || as[1].Text != "EURUSD feed resumed after 2m10s" || as[1].Level != feeds.LevelInfo {
		t.Fatalf("alerts: %+v", as)
	}
	// Disabled.
	r2, bus2, clk2 := newRunner(t, Config{StallAfter: -1})
	for i := 0; i < 10; i++ {
		send(r2, clk2, "X", t0.Add(time.Duration(i)*time.Second), 1, 1)
	}
	clk2.Set(t0.Add(time.Hour))
	r2.CheckStalls()
	if n := len(bus2.Messages(">")); n != 0 {
		t.Fatal("stall alert while disabled")
	}
}

func TestClockGoingBackResets(t *testing.T) {
	r, bus, clk := newRunner(t, Config{})
	send(r, clk, "X", t0, 100, 1)
	send(r, clk, "X", t0.Add(time.Minute), 102, 1) // +2%: critical
	// A replay loops: time goes back an hour, prices restart.
	send(r, clk, "X", t0.Add(-time.Hour), 100, 1)
	send(r, clk, "X", t0.Add(-time.Hour+time.Minute), 101.5, 1)
	as := alertsOf(t, bus, "alert.X")
	if len(as) != 2 {
		t.Fatalf("alerts after the clock went back: %+v", as)
	}
}

func TestDropsInvalid(t *testing.T) {
	r, bus, _ := newRunner(t, Config{})
	r.HandleMessage("market.X", []byte(`{"symbol":"Y","price":1}`))
	r.HandleMessage("market.X", []byte(`{`))
	r.HandleMessage("analytics.X", []byte(`{"symbol":"Y","rsi14":80}`))
	r.HandleMessage("analytics.X", []byte(`[]`))
	if r.Dropped() != 4 || len(bus.Messages(">")) != 0 {
		t.Errorf("dropped %d, published %d", r.Dropped(), len(bus.Messages(">")))
	}
}

func TestFormatting(t *testing.T) {
	for d, want := range map[time.Duration]string{
		40 * time.Second: "40s", 300 * time.Millisecond: "under 1s", 3 * time.Minute: "3m", 130 * time.Second: "2m10s",
		7*time.Minute + 40*time.Second: "8m", 65 * time.Minute: "1h5m", 2 * time.Hour: "2h",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
	for v, want := range map[float64]string{48200: "48,200", 1234567.8: "1,234,568", 999: "999", 12.3456: "12.35", 0.0042: "0"} {
		if got := quantity(v); got != want {
			t.Errorf("quantity(%v) = %q, want %q", v, got, want)
		}
	}
	if got := price(1.08412); got != "1.08412" {
		t.Errorf("price = %q", got)
	}
}

// The default simulated market gives a readable number of alerts: some,
// but not a flood.
func TestAlertRateOnSimulatedMarket(t *testing.T) {
	sim, err := market.New(market.Config{Seed: 1, Start: t0})
	if err != nil {
		t.Fatal(err)
	}
	r, bus, clk := newRunner(t, Config{})
	for {
		tk := sim.Next()
		if tk.Time.Sub(t0) > time.Hour {
			break
		}
		clk.Set(tk.Time.Time)
		r.onTick(tk)
	}
	kinds := map[string]int{}
	for _, a := range alertsOf(t, bus, "alert.>") {
		kinds[a.Level]++
		if testing.Verbose() {
			t.Log(a.Time.Format("15:04:05"), a.Level, a.Text)
		}
	}
	total := kinds["info"] + kinds["warn"] + kinds["critical"]
	t.Logf("1 simulated hour, 20 symbols: %d alerts %v", total, kinds)
	if total < 3 || total > 80 {
		t.Errorf("%d alerts in an hour", total)
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
	for deadline := time.Now().Add(5 * time.Second); bus.Subscribers() < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run did not subscribe")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if bus.Subscribers() != 0 {
		t.Error("Run left subscriptions")
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{{MovePct: -1}, {RSIHigh: 20}, {VolumeFactor: 0.5}, {VolumeBaseline: time.Minute}, {Cooldown: -1}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}
