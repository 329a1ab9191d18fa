package analytics

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/lograte"
)

// Indicator periods.
const (
	SMAPeriod        = 20
	EMAPeriod        = 20
	RSIPeriod        = 14
	VolatilityPeriod = 20
	barInterval      = time.Minute
	flushEvery       = 100 * time.Millisecond
)

// Config configures a Runner. The zero value is usable: every zero field
// means the documented default.
type Config struct {
	// AnalyticsEvery is the minimum time between two analytics messages for
	// one symbol. Zero means 500ms (at most 2 per second).
	AnalyticsEvery time.Duration
	// CandleEvery is the minimum time between two re-sends of a symbol's bar
	// in progress. Zero means 2s. A bar's final version is sent when it
	// closes, whatever the throttle.
	CandleEvery time.Duration
	// Grace is how long after a minute ends, by the feed's clock, a bar
	// waits for a late tick before it is closed without one. Zero means 2s.
	Grace time.Duration
	// Bars is how many one-minute closes are kept per symbol for the
	// indicators. Zero means 240 (four hours); it must be at least 21.
	Bars int
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
	// Logger receives dropped messages and publish errors, at a bounded
	// rate. Nil discards.
	Logger *slog.Logger
}

// Runner turns market ticks into analytics and one-minute candles.
//
// Bars follow the ticks' own times (a replay at 10× speed makes correct
// one-minute bars in six seconds): a bar closes when a tick of a later
// minute arrives for its symbol, or when the feed's clock — the latest tick
// time seen, advanced by the wall clock while no tick arrives — passes the
// bar's end plus Grace. Ticks without a time are stamped on receipt. The
// session (open, high, low, VWAP, volume) is the UTC day of the ticks.
//
// A Runner is safe for concurrent use; Run may be called once at a time.
type Runner struct {
	cfg     Config
	errLog  *lograte.Limiter
	dropped atomic.Int64

	mu      sync.Mutex
	pub     feeds.Publisher
	running bool
	syms    map[string]*symbol
	// The feed's clock: the latest tick time and when (wall) it was seen.
	maxTick, maxTickAt time.Time
}

type symbol struct {
	name string

	// session
	day                   time.Time
	open, high, low, last float64
	pv, volume            float64 // Σ price·size and Σ size
	lastCumVolume         float64
	lastTime              time.Time

	// bars
	closes     []float64 // completed one-minute closes, oldest first
	bar        feeds.Candle
	barOpen    bool
	lastClosed time.Time // start of the last closed bar

	// throttles (wall clock)
	sentAnalytics, sentCandle   time.Time
	dirtyAnalytics, dirtyCandle bool
}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	if cfg.AnalyticsEvery == 0 {
		cfg.AnalyticsEvery = 500 * time.Millisecond
	}
	if cfg.CandleEvery == 0 {
		cfg.CandleEvery = 2 * time.Second
	}
	if cfg.Grace == 0 {
		cfg.Grace = 2 * time.Second
	}
	if cfg.Bars == 0 {
		cfg.Bars = 240
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	switch {
	case cfg.AnalyticsEvery < 0 || cfg.CandleEvery < 0 || cfg.Grace < 0:
		return nil, errors.New("analytics: durations must not be negative")
	case cfg.Bars < SMAPeriod+1:
		return nil, errors.New("analytics: Bars must be at least 21")
	}
	return &Runner{
		cfg:    cfg,
		errLog: &lograte.Limiter{Logger: cfg.Logger},
		syms:   map[string]*symbol{},
	}, nil
}

// Dropped returns how many received messages were not valid ticks.
func (r *Runner) Dropped() int64 { return r.dropped.Load() }

// Run subscribes to market.* on sub and publishes analytics.<SYM> and
// candle.<SYM> on pub until ctx is done; then it unsubscribes and returns
// nil. It starts no goroutine of its own (sub delivers on its own).
func (r *Runner) Run(ctx context.Context, sub feeds.Subscriber, pub feeds.Publisher) error {
	if sub == nil || pub == nil {
		return errors.New("analytics: nil subscriber or publisher")
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("analytics: already running")
	}
	r.running, r.pub = true, pub
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	unsub, err := sub.Subscribe(feeds.KindMarket+".*", r.HandleMessage)
	if err != nil {
		return err
	}
	defer unsub()
	tick := time.NewTicker(flushEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.Flush()
		}
	}
}

// HandleMessage processes one market message (the Subscriber callback).
// Messages that are not valid ticks are counted and dropped.
func (r *Runner) HandleMessage(subject string, data []byte) {
	tk, err := feeds.DecodeTick(subject, data)
	if err != nil {
		r.dropped.Add(1)
		r.errLog.Error("analytics: dropped market message", "subject", subject, "err", err)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	t := tk.Time.Time
	if t.IsZero() {
		t = now
	}
	t = t.UTC()
	if t.After(r.maxTick) {
		r.maxTick, r.maxTickAt = t, now
	}
	st := r.syms[tk.Symbol]
	if st == nil {
		st = &symbol{name: tk.Symbol}
		r.syms[tk.Symbol] = st
	}
	r.apply(st, tk, t)
	r.publishDue(st, now)
}

// Flush closes the bars whose minute is over by the feed's clock and sends
// the throttled updates that are due. Run calls it every 100ms.
func (r *Runner) Flush() {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	feedNow := r.maxTick.Add(now.Sub(r.maxTickAt))
	for _, st := range r.syms {
		if st.barOpen && !feedNow.Before(st.bar.Start.Add(barInterval+r.cfg.Grace)) {
			r.closeBar(st)
		}
		r.publishDue(st, now)
	}
}

func (r *Runner) apply(st *symbol, tk feeds.Tick, t time.Time) {
	// Time far behind the bar in progress: the source restarted (a looping
	// replay); start the symbol afresh rather than mixing histories.
	if !st.lastTime.IsZero() && st.lastTime.Sub(t) > 5*time.Minute {
		*st = symbol{name: st.name}
	}
	// Size: the trade size, or the growth of the cumulative volume.
	size := tk.Size
	if size == 0 && tk.Volume > st.lastCumVolume && st.lastCumVolume > 0 {
		size = tk.Volume - st.lastCumVolume
	}
	if tk.Volume > 0 {
		st.lastCumVolume = tk.Volume
	}

	day := t.Truncate(24 * time.Hour)
	if st.day.IsZero() || day.After(st.day) {
		st.day = day
		st.open, st.high, st.low = tk.Price, tk.Price, tk.Price
		st.pv, st.volume = 0, 0
	}
	st.high, st.low, st.last = math.Max(st.high, tk.Price), math.Min(st.low, tk.Price), tk.Price
	st.pv += tk.Price * size
	st.volume += size
	if t.After(st.lastTime) {
		st.lastTime = t
	}
	st.dirtyAnalytics = true

	minute := t.Truncate(barInterval)
	if !st.lastClosed.IsZero() && !minute.After(st.lastClosed) {
		return // late for a bar already closed
	}
	if st.barOpen && minute.After(st.bar.Start.Time) {
		r.closeBar(st)
	}
	if !st.barOpen {
		st.bar = feeds.Candle{
			Symbol: st.name, Interval: "1m", Start: feeds.Time{Time: minute},
			Open: tk.Price, High: tk.Price, Low: tk.Price,
		}
		st.barOpen = true
	}
	b := &st.bar
	b.High, b.Low, b.Close = math.Max(b.High, tk.Price), math.Min(b.Low, tk.Price), tk.Price
	b.Volume = roundVolume(b.Volume + size)
	st.dirtyCandle = true
}

// closeBar publishes the bar's final version and keeps its close.
func (r *Runner) closeBar(st *symbol) {
	st.barOpen = false
	st.lastClosed = st.bar.Start.Time
	st.closes = append(st.closes, st.bar.Close)
	if n := len(st.closes) - r.cfg.Bars; n > 0 {
		st.closes = append(st.closes[:0], st.closes[n:]...)
	}
	r.publish(feeds.Subject(feeds.KindCandle, st.name), st.bar)
	st.dirtyCandle = false
	st.sentCandle = r.cfg.Now()
	st.dirtyAnalytics = true // the indicators move to the next bar
}

func (r *Runner) publishDue(st *symbol, now time.Time) {
	if st.dirtyCandle && st.barOpen && now.Sub(st.sentCandle) >= r.cfg.CandleEvery {
		r.publish(feeds.Subject(feeds.KindCandle, st.name), st.bar)
		st.dirtyCandle, st.sentCandle = false, now
	}
	if st.dirtyAnalytics && now.Sub(st.sentAnalytics) >= r.cfg.AnalyticsEvery {
		r.publish(feeds.Subject(feeds.KindAnalytics, st.name), r.analytics(st))
		st.dirtyAnalytics, st.sentAnalytics = false, now
	}
}

// analytics computes a symbol's indicators. SMA, EMA and RSI use the
// completed one-minute closes plus the bar in progress; volatility uses the
// completed closes only (a partial bar would understate it).
func (r *Runner) analytics(st *symbol) feeds.Analytics {
	a := feeds.NewAnalytics(st.name, st.lastTime)
	a.Price, a.Open, a.High, a.Low = st.last, st.open, st.high, st.low
	a.ChangePct = ChangePct(st.open, st.last)
	a.Volume = roundVolume(st.volume)
	if st.volume > 0 {
		a.VWAP = st.pv / st.volume
	}
	series := st.closes
	if st.barOpen {
		series = append(series[:len(series):len(series)], st.bar.Close)
	}
	a.SMA20 = Last(SMA(series, SMAPeriod))
	a.EMA20 = Last(EMA(series, EMAPeriod))
	a.RSI14 = Last(RSI(series, RSIPeriod))
	a.Volatility = Volatility(st.closes, VolatilityPeriod, MinutesPerTradingYear)
	return a
}

func (r *Runner) publish(subject string, v any) {
	if r.pub == nil {
		return
	}
	data, err := json.Marshal(v)
	if err == nil {
		err = r.pub.Publish(subject, data)
	}
	if err != nil {
		r.errLog.Error("analytics: publish failed", "subject", subject, "err", err)
	}
}

// roundVolume drops float noise from sums of decimal sizes.
func roundVolume(v float64) float64 { return math.Round(v*1e8) / 1e8 }
