package market

import (
	"context"
	"encoding/json"
	"math"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var start = time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)

func mustNew(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDeterministic(t *testing.T) {
	a := mustNew(t, Config{Seed: 42, Start: start})
	b := mustNew(t, Config{Seed: 42, Start: start})
	c := mustNew(t, Config{Seed: 43, Start: start})
	same := true
	for i := 0; i < 20000; i++ {
		ta, tb, tc := a.Next(), b.Next(), c.Next()
		if ta != tb {
			t.Fatalf("tick %d differs for the same seed:\n%+v\n%+v", i, ta, tb)
		}
		same = same && ta == tc
	}
	if same {
		t.Fatal("seeds 42 and 43 gave the same ticks")
	}
}

// A symbol's path depends only on the seed and its own name.
func TestSymbolStreamsIndependent(t *testing.T) {
	one := mustNew(t, Config{Seed: 7, Start: start, Symbols: DefaultUniverse()[:1]})
	all := mustNew(t, Config{Seed: 7, Start: start})
	var want []feeds.Tick
	for len(want) < 500 {
		want = append(want, one.Next())
	}
	var got []feeds.Tick
	for len(got) < 500 {
		if tk := all.Next(); tk.Symbol == want[0].Symbol {
			got = append(got, tk)
		}
	}
	for i := range want {
		if want[i] != got[i] {
			t.Fatalf("tick %d: alone %+v, in universe %+v", i, want[i], got[i])
		}
	}
}

// Over 100k steps of about a day each, the log returns of a symbol without
// jumps or regimes have the configured drift and volatility.
func TestGBMDriftAndVolatility(t *testing.T) {
	const (
		mu    = 0.08
		sigma = 0.25
		n     = 100_000
	)
	day := 6.5 * 3600.0 // one trading day of simulated seconds
	s := mustNew(t, Config{
		Seed: 1, Start: start, NoJumps: true, NoRegimes: true,
		Symbols: []Symbol{{Name: "X", Price: 100, Vol: sigma, Drift: mu, Rate: 1 / day}},
	})
	mid := func(tk feeds.Tick) float64 { return math.Log((tk.Bid + tk.Ask) / 2) }
	prev := s.Next()
	var sumR, sumDt float64
	rs := make([]float64, 0, n)
	dts := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		tk := s.Next()
		dt := float64(tk.Time.Sub(prev.Time.Time)) / TradingYear
		r := mid(tk) - mid(prev)
		sumR += r
		sumDt += dt
		rs, dts = append(rs, r), append(dts, dt)
		prev = tk
	}
	m := sumR / sumDt // estimates μ − σ²/2
	var v float64
	for i := range rs {
		d := rs[i] - m*dts[i]
		v += d * d / dts[i]
	}
	gotSigma := math.Sqrt(v / n)
	gotMu := m + gotSigma*gotSigma/2
	// Standard errors: σ/√T ≈ 0.0065 for the drift, σ/√(2n) ≈ 0.0006 for σ.
	if math.Abs(gotMu-mu) > 0.03 {
		t.Errorf("drift = %.4f, want %.4f ± 0.03 (T = %.0f years)", gotMu, mu, sumDt)
	}
	if math.Abs(gotSigma-sigma) > 0.005 {
		t.Errorf("volatility = %.4f, want %.4f ± 0.005", gotSigma, sigma)
	}
}

// At the default tick rate the per-tick volatility is still right.
func TestVolatilityAtTickRate(t *testing.T) {
	s := mustNew(t, Config{
		Seed: 3, Start: start, NoJumps: true, NoRegimes: true,
		Symbols: []Symbol{{Name: "BTCUSD", Class: Crypto, Price: 64250, Vol: 0.55, SpreadBps: 0.2}},
	})
	mid := func(tk feeds.Tick) float64 { return math.Log((tk.Bid + tk.Ask) / 2) }
	prev := s.Next()
	var v, T float64
	const n = 100_000
	for i := 0; i < n; i++ {
		tk := s.Next()
		r := mid(tk) - mid(prev)
		v += r * r
		T += float64(tk.Time.Sub(prev.Time.Time)) / TradingYear
		prev = tk
	}
	got := math.Sqrt(v / T)
	if math.Abs(got-0.55)/0.55 > 0.05 {
		t.Errorf("volatility at 4 ticks/s = %.4f, want 0.55 ± 5%%", got)
	}
	if rate := n / (T * TradingYear / float64(time.Second)); math.Abs(rate-4) > 0.1 {
		t.Errorf("rate = %.2f ticks/s, want 4", rate)
	}
}

var timeRE = regexp.MustCompile(`"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"`)

// An hour of the default universe: valid, plausible ticks.
func TestDefaultUniversePlausible(t *testing.T) {
	s := mustNew(t, Config{Seed: 11, Start: start})
	syms := s.Symbols()
	if len(syms) < 20 {
		t.Fatalf("default universe has %d symbols", len(syms))
	}
	bySym := map[string]Symbol{}
	for _, sy := range syms {
		bySym[sy.Name] = sy
	}
	last := map[string]feeds.Tick{}
	count := map[string]int{}
	prevTime := start
	end := start.Add(time.Hour)
	for {
		tk := s.Next()
		if tk.Time.After(end) {
			break
		}
		sy := bySym[tk.Symbol]
		if err := tk.Validate(); err != nil {
			t.Fatal(err)
		}
		if tk.Time.Before(prevTime.Truncate(time.Millisecond)) {
			t.Fatalf("time went back: %v after %v", tk.Time, prevTime)
		}
		prevTime = tk.Time.Time
		if !(tk.Bid < tk.Ask) || (tk.Price != tk.Bid && tk.Price != tk.Ask) {
			t.Fatalf("bad quote %+v", tk)
		}
		if spread := tk.Ask - tk.Bid; spread < sy.TickSize*0.999 || spread/tk.Price > 0.002 {
			t.Fatalf("implausible spread %v for %+v", spread, tk)
		}
		if p := last[tk.Symbol]; p.Volume >= tk.Volume {
			t.Fatalf("volume did not grow: %v then %v", p.Volume, tk.Volume)
		}
		if tk.Size <= 0 {
			t.Fatalf("size %v", tk.Size)
		}
		if count[tk.Symbol]%50 == 0 {
			checkJSON(t, tk, sy)
		}
		last[tk.Symbol] = tk
		count[tk.Symbol]++
	}
	for _, sy := range syms {
		rate := float64(count[sy.Name]) / 3600
		if rate < 3.5 || rate > 5.5 {
			t.Errorf("%s: %.2f ticks/s, want about 4", sy.Name, rate)
		}
		if r := last[sy.Name].Price / sy.Price; r < 0.8 || r > 1.25 {
			t.Errorf("%s: moved from %v to %v in an hour", sy.Name, sy.Price, last[sy.Name].Price)
		}
	}
}

func checkJSON(t *testing.T, tk feeds.Tick, sy Symbol) {
	t.Helper()
	b, err := json.Marshal(tk)
	if err != nil {
		t.Fatal(err)
	}
	if !timeRE.Match(b) {
		t.Fatalf("time not RFC 3339 ms UTC: %s", b)
	}
	// Prices print without binary noise: no more decimals than the tick.
	var raw struct{ Price json.Number }
	_ = json.Unmarshal(b, &raw)
	if _, frac, ok := strings.Cut(raw.Price.String(), "."); ok && len(frac) > decimals(sy.TickSize) {
		t.Fatalf("price %s has more decimals than tick %v", raw.Price, sy.TickSize)
	}
}

// Inter-arrival times are exponential (bursty): their coefficient of
// variation is about 1, where a metronome's would be 0.
func TestBurstyArrivals(t *testing.T) {
	s := mustNew(t, Config{Seed: 5, Start: start, NoRegimes: true, Symbols: DefaultUniverse()[:1]})
	prev := s.Next().Time.Time
	var sum, sum2 float64
	const n = 20000
	for i := 0; i < n; i++ {
		tm := s.Next().Time.Time
		d := tm.Sub(prev).Seconds()
		sum += d
		sum2 += d * d
		prev = tm
	}
	mean := sum / n
	cv := math.Sqrt(sum2/n-mean*mean) / mean
	if cv < 0.9 || cv > 1.1 {
		t.Errorf("coefficient of variation of inter-arrival times = %.2f, want ≈ 1", cv)
	}
}

func TestConfigValidation(t *testing.T) {
	bad := []Config{
		{Rate: -1},
		{Rate: math.Inf(1)},
		{VolatileFactor: 0.5},
		{JumpsPerHour: -2},
		{Symbols: []Symbol{{Name: "BAD.SYM", Price: 1}}},
		{Symbols: []Symbol{{Name: "", Price: 1}}},
		{Symbols: []Symbol{{Name: "X", Price: 0}}},
		{Symbols: []Symbol{{Name: "X", Price: math.NaN()}}},
		{Symbols: []Symbol{{Name: "X", Price: 1, TickSize: 2}}},
		{Symbols: []Symbol{{Name: "X", Price: 1, Vol: -0.1}}},
		{Symbols: []Symbol{{Name: "X", Price: 1}, {Name: "X", Price: 2}}},
	}
	for i, cfg := range bad {
		if _, err := New(cfg); err == nil {
			t.Errorf("config %d: New accepted %+v", i, cfg)
		}
	}
	if _, err := New(Config{Symbols: []Symbol{{Name: "DEMO-1_x", Price: 42.5}}}); err != nil {
		t.Errorf("minimal symbol rejected: %v", err)
	}
}

type recorder struct {
	mu   sync.Mutex
	msgs map[string][][]byte
	n    int
	full chan struct{}
	want int
}

func (r *recorder) Publish(subject string, data []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs[subject] = append(r.msgs[subject], append([]byte(nil), data...))
	if !strings.HasPrefix(subject, "market.") {
		return nil // want counts ticks
	}
	r.n++
	if r.n == r.want {
		close(r.full)
	}
	return nil
}

func TestRunPublishesAndStops(t *testing.T) {
	s := mustNew(t, Config{Seed: 9, Rate: 200, Symbols: DefaultUniverse()[:4]})
	rec := &recorder{msgs: map[string][][]byte{}, full: make(chan struct{}), want: 200}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec) }()
	select {
	case <-rec.full:
	case <-time.After(10 * time.Second):
		t.Fatal("no 200 ticks in 10s at 800 ticks/s")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	markets := 0
	for subj := range rec.msgs {
		if strings.HasPrefix(subj, "market.") {
			markets++
		}
	}
	if markets != 4 {
		t.Errorf("published on %d market subjects, want 4", markets)
	}
	for subj, msgs := range rec.msgs {
		if !strings.HasPrefix(subj, "market.") {
			continue // desk_test.go checks ref, book and bars
		}
		tk, err := feeds.DecodeTick(subj, msgs[len(msgs)-1])
		if err != nil {
			t.Fatalf("%s: %v", subj, err)
		}
		if d := time.Since(tk.Time.Time); d < 0 || d > 5*time.Second {
			t.Errorf("%s: tick time %v is not the wall clock", subj, tk.Time)
		}
	}
}
