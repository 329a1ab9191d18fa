// Package alerts watches market ticks and analytics and publishes
// alert.<SYMBOL> messages (PROTOCOL section 1) with a human sentence:
//
//   - move: the price moved more than MovePct percent within MoveWindow
//     (measured from the window's low for a rise, from its high for a
//     fall): warn, critical from twice the threshold.
//     "AAPL +3.1% in 4m (221.40 → 228.26)"
//   - rsi: RSI(14) from analytics.<SYMBOL> crossed above RSIHigh or below
//     RSILow: info. "AAPL RSI(14) crossed above 70 (71.3): overbought"
//   - volume: the volume of the last minute is at least VolumeFactor times
//     the average minute of the previous VolumeBaseline: info, warn from
//     twice the factor.
//     "TSLA volume spike: 48,200 in the last minute, 4.1× the 30-minute average"
//   - stall: no tick from a symbol that was ticking for StallAfter (or ten
//     times its usual gap between ticks, if longer): warn; its first tick
//     afterwards gives an info "… feed resumed after 2m".
//
// Each symbol and kind has a cool-down: after an alert, the same kind for
// the same symbol is quiet for Cooldown unless its level rises.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/lograte"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Alert kinds, the keys of the cool-down.
const (
	KindMove   = "move"
	KindRSI    = "rsi"
	KindVolume = "volume"
	KindStall  = "stall"
)

const (
	volumeBucket   = 10 * time.Second
	stallMinTicks  = 5
	stallGapFactor = 10
	stallCheck     = time.Second
)

// Config configures a Runner. The zero value is usable: every zero field
// means the documented default.
type Config struct {
	// MovePct is the move alert threshold in percent. Zero means 1.
	MovePct float64
	// MoveWindow is the window of the move alert. Zero means 5 minutes.
	MoveWindow time.Duration
	// RSIHigh and RSILow are the RSI levels whose crossing alerts. Zero
	// means 70 and 30.
	RSIHigh, RSILow float64
	// VolumeFactor is the volume spike threshold, a multiple of the
	// average volume per minute. Zero means 4.
	VolumeFactor float64
	// VolumeBaseline is the history the average volume is taken over. Zero
	// means 30 minutes; no spike is reported before a third of it is
	// known.
	VolumeBaseline time.Duration
	// StallAfter is the silence after which a symbol's feed is reported
	// stalled. Zero means 30 seconds; negative disables stall alerts.
	StallAfter time.Duration
	// Cooldown is the quiet time per symbol and kind. Zero means 5 minutes.
	Cooldown time.Duration
	// Now is the wall clock (stall detection, ticks without time). Nil
	// means time.Now.
	Now func() time.Time
	// Logger receives dropped messages and publish errors, at a bounded
	// rate. Nil discards.
	Logger *slog.Logger
}

// Runner detects alerts. It is safe for concurrent use; Run may be called
// once at a time.
type Runner struct {
	cfg     Config
	errLog  *lograte.Limiter
	dropped atomic.Int64

	mu      sync.Mutex
	pub     feeds.Publisher
	running bool
	syms    map[string]*symbol
}

type point struct {
	t time.Time
	p float64
}

type bucket struct {
	start time.Time
	vol   float64
}

type symbol struct {
	name string
	// move: the window's points and monotonic deques of its low and high
	points, lows, highs []point
	// volume
	buckets       []bucket
	lastCumVolume float64
	// rsi
	rsi float64
	// stall (wall clock)
	ticks    int
	lastRecv time.Time
	meanGap  time.Duration
	lastTick feeds.Tick
	stalled  bool
	// cool-down per kind
	sent map[string]sent
}

type sent struct {
	t     time.Time
	level int
}

var levels = map[string]int{feeds.LevelInfo: 1, feeds.LevelWarn: 2, feeds.LevelCritical: 3}

// New validates cfg and returns a Runner.
func New(cfg Config) (*Runner, error) {
	def := func(v *float64, d float64) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&cfg.MovePct, 1)
	def(&cfg.RSIHigh, 70)
	def(&cfg.RSILow, 30)
	def(&cfg.VolumeFactor, 4)
	defDur(&cfg.MoveWindow, 5*time.Minute)
	defDur(&cfg.VolumeBaseline, 30*time.Minute)
	defDur(&cfg.StallAfter, 30*time.Second)
	defDur(&cfg.Cooldown, 5*time.Minute)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	var errs []error
	if !(cfg.MovePct > 0) || math.IsInf(cfg.MovePct, 0) {
		errs = append(errs, fmt.Errorf("move threshold %v%% must be > 0", cfg.MovePct))
	}
	if !(cfg.RSILow > 0 && cfg.RSILow < cfg.RSIHigh && cfg.RSIHigh < 100) {
		errs = append(errs, fmt.Errorf("RSI levels must satisfy 0 < low (%v) < high (%v) < 100", cfg.RSILow, cfg.RSIHigh))
	}
	if !(cfg.VolumeFactor > 1) || math.IsInf(cfg.VolumeFactor, 0) {
		errs = append(errs, fmt.Errorf("volume factor %v must be > 1", cfg.VolumeFactor))
	}
	if cfg.MoveWindow < 0 || cfg.VolumeBaseline < 3*time.Minute || cfg.Cooldown < 0 {
		errs = append(errs, errors.New("move window and cool-down must be > 0, volume baseline at least 3m"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerts: invalid config: %w", errors.Join(errs...))
	}
	return &Runner{cfg: cfg, errLog: &lograte.Limiter{Logger: cfg.Logger}, syms: map[string]*symbol{}}, nil
}

// Dropped returns how many received messages were invalid.
func (r *Runner) Dropped() int64 { return r.dropped.Load() }

// Run subscribes to market.* and analytics.* on sub and publishes
// alert.<SYM> on pub until ctx is done; then it unsubscribes and returns
// nil. It starts no goroutine of its own.
func (r *Runner) Run(ctx context.Context, sub feeds.Subscriber, pub feeds.Publisher) error {
	if sub == nil || pub == nil {
		return errors.New("alerts: nil subscriber or publisher")
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("alerts: already running")
	}
	r.running, r.pub = true, pub
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.running = false
		r.mu.Unlock()
	}()
	for _, kind := range []string{feeds.KindMarket, feeds.KindAnalytics} {
		unsub, err := sub.Subscribe(kind+".*", r.HandleMessage)
		if err != nil {
			return err
		}
		defer unsub()
	}
	tick := time.NewTicker(stallCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			r.CheckStalls()
		}
	}
}

// HandleMessage processes a market.<SYM> or analytics.<SYM> message (the
// Subscriber callback); invalid ones are counted and dropped.
func (r *Runner) HandleMessage(subject string, data []byte) {
	kind, _, _ := strings.Cut(subject, ".")
	switch kind {
	case feeds.KindMarket:
		tk, err := feeds.DecodeTick(subject, data)
		if err != nil {
			r.drop(subject, err)
			return
		}
		r.onTick(tk)
	case feeds.KindAnalytics:
		var a feeds.Analytics
		if err := json.Unmarshal(data, &a); err != nil || a.Symbol != protocol.LastToken(subject) {
			r.drop(subject, fmt.Errorf("bad analytics payload: %v", err))
			return
		}
		r.onAnalytics(a)
	}
}

func (r *Runner) drop(subject string, err error) {
	r.dropped.Add(1)
	r.errLog.Error("alerts: dropped message", "subject", subject, "err", err)
}

func (r *Runner) symbol(name string) *symbol {
	st := r.syms[name]
	if st == nil {
		st = &symbol{name: name, rsi: math.NaN(), sent: map[string]sent{}}
		r.syms[name] = st
	}
	return st
}

func (r *Runner) onTick(tk feeds.Tick) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	t := tk.Time.Time
	if t.IsZero() {
		t = now
	}
	st := r.symbol(tk.Symbol)

	// Stall bookkeeping (wall clock).
	if st.ticks > 0 {
		gap := now.Sub(st.lastRecv)
		if st.meanGap == 0 {
			st.meanGap = gap
		} else {
			st.meanGap += (gap - st.meanGap) / 8
		}
	}
	if st.stalled {
		st.stalled = false
		r.emit(st, KindStall+"-resumed", feeds.LevelInfo, now,
			fmt.Sprintf("%s feed resumed after %s", st.name, human(now.Sub(st.lastRecv))))
	}
	st.ticks++
	st.lastRecv = now
	st.lastTick = tk

	// A clock going back (a looping replay) starts the windows afresh.
	if n := len(st.points); n > 0 && t.Before(st.points[n-1].t) {
		st.points, st.lows, st.highs, st.buckets = nil, nil, nil, nil
	}
	r.checkMove(st, t, tk.Price)
	size := tk.Size
	if size == 0 && st.lastCumVolume > 0 && tk.Volume > st.lastCumVolume {
		size = tk.Volume - st.lastCumVolume
	}
	if tk.Volume > 0 {
		st.lastCumVolume = tk.Volume
	}
	r.checkVolume(st, t, size)
}

func (r *Runner) checkMove(st *symbol, t time.Time, p float64) {
	pt := point{t, p}
	st.points = append(st.points, pt)
	for n := len(st.lows); n > 0 && st.lows[n-1].p >= p; n-- {
		st.lows = st.lows[:n-1]
	}
	st.lows = append(st.lows, pt)
	for n := len(st.highs); n > 0 && st.highs[n-1].p <= p; n-- {
		st.highs = st.highs[:n-1]
	}
	st.highs = append(st.highs, pt)
	cut := t.Add(-r.cfg.MoveWindow)
	st.points = trim(st.points, cut)
	st.lows = trim(st.lows, cut)
	st.highs = trim(st.highs, cut)

	low, high := st.lows[0], st.highs[0]
	up := (p/low.p - 1) * 100
	down := (p/high.p - 1) * 100
	from := low
	pct := up
	if -down > up {
		from, pct = high, down
	}
	if math.Abs(pct) < r.cfg.MovePct {
		return
	}
	level := feeds.LevelWarn
	if math.Abs(pct) >= 2*r.cfg.MovePct {
		level = feeds.LevelCritical
	}
	r.emit(st, KindMove, level, t, fmt.Sprintf("%s %+.1f%% in %s (%s → %s)",
		st.name, pct, human(t.Sub(from.t)), price(from.p), price(p)))
}

// trim drops the points older than cut (keeping the slice's capacity).
func trim(ps []point, cut time.Time) []point {
	i := 0
	for i < len(ps)-1 && ps[i].t.Before(cut) {
		i++
	}
	if i == 0 {
		return ps
	}
	return append(ps[:0], ps[i:]...)
}

func (r *Runner) checkVolume(st *symbol, t time.Time, size float64) {
	start := t.Truncate(volumeBucket)
	if n := len(st.buckets); n > 0 && !start.After(st.buckets[n-1].start) {
		st.buckets[n-1].vol += size
	} else {
		st.buckets = append(st.buckets, bucket{start, size})
	}
	recentFrom := t.Add(-time.Minute)
	keepFrom := recentFrom.Add(-r.cfg.VolumeBaseline)
	i := 0
	for i < len(st.buckets) && st.buckets[i].start.Before(keepFrom) {
		i++
	}
	st.buckets = append(st.buckets[:0], st.buckets[i:]...)

	var recent, base float64
	for _, b := range st.buckets {
		if b.start.After(recentFrom) {
			recent += b.vol
		} else {
			base += b.vol
		}
	}
	span := recentFrom.Sub(st.buckets[0].start)
	if span < r.cfg.VolumeBaseline/3 || base <= 0 {
		return
	}
	perMinute := base / span.Minutes()
	ratio := recent / perMinute
	if ratio < r.cfg.VolumeFactor {
		return
	}
	level := feeds.LevelInfo
	if ratio >= 2*r.cfg.VolumeFactor {
		level = feeds.LevelWarn
	}
	r.emit(st, KindVolume, level, t, fmt.Sprintf("%s volume spike: %s in the last minute, %.1f× the %s average",
		st.name, quantity(recent), ratio, fmt.Sprintf("%.0f-minute", r.cfg.VolumeBaseline.Minutes())))
}

func (r *Runner) onAnalytics(a feeds.Analytics) {
	if math.IsNaN(a.RSI14) {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.symbol(a.Symbol)
	prev := st.rsi
	st.rsi = a.RSI14
	if math.IsNaN(prev) {
		return
	}
	t := a.Time
	if t.IsZero() {
		t = r.cfg.Now()
	}
	switch {
	case prev < r.cfg.RSIHigh && a.RSI14 >= r.cfg.RSIHigh:
		r.emit(st, KindRSI+"-high", feeds.LevelInfo, t, fmt.Sprintf("%s RSI(14) crossed above %s (%.1f): overbought",
			st.name, price(r.cfg.RSIHigh), a.RSI14))
	case prev > r.cfg.RSILow && a.RSI14 <= r.cfg.RSILow:
		r.emit(st, KindRSI+"-low", feeds.LevelInfo, t, fmt.Sprintf("%s RSI(14) crossed below %s (%.1f): oversold",
			st.name, price(r.cfg.RSILow), a.RSI14))
	}
}

// CheckStalls reports the symbols whose feed went quiet. Run calls it every
// second.
func (r *Runner) CheckStalls() {
	if r.cfg.StallAfter < 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	for _, st := range r.syms {
		if st.stalled || st.ticks < stallMinTicks {
			continue
		}
		limit := max(r.cfg.StallAfter, stallGapFactor*st.meanGap)
		silent := now.Sub(st.lastRecv)
		if silent < limit {
			continue
		}
		st.stalled = true
		r.emit(st, KindStall, feeds.LevelWarn, now, fmt.Sprintf("%s feed stalled: no tick for %s (last %s)",
			st.name, human(silent), price(st.lastTick.Price)))
	}
}

// emit publishes an alert unless the symbol's kind is cooling down (a
// higher level than the last alert's passes).
func (r *Runner) emit(st *symbol, kind, level string, t time.Time, text string) {
	if last, ok := st.sent[kind]; ok && !t.Before(last.t) && t.Sub(last.t) < r.cfg.Cooldown && levels[level] <= last.level {
		return
	}
	st.sent[kind] = sent{t, levels[level]}
	if r.pub == nil {
		return
	}
	a := feeds.Alert{Symbol: st.name, Level: level, Text: text, Time: feeds.Time{Time: t}}
	data, err := json.Marshal(a)
	if err == nil {
		err = r.pub.Publish(feeds.Subject(feeds.KindAlert, st.name), data)
	}
	if err != nil {
		r.errLog.Error("alerts: publish failed", "symbol", st.name, "err", err)
	}
}

// human writes a duration the way a trader says it: 40s, 4m, 2m10s, 1h5m.
func human(d time.Duration) string {
	d = d.Round(time.Second)
	switch {
	case d <= 0:
		return "under 1s"
	case d < time.Minute:
		return strconv.Itoa(int(d.Seconds())) + "s"
	case d < time.Hour:
		m, s := int(d.Minutes()), int(d.Seconds())%60
		if s == 0 || m >= 5 {
			return strconv.Itoa(int(d.Round(time.Minute).Minutes())) + "m"
		}
		return fmt.Sprintf("%dm%ds", m, s)
	}
	h, m := int(d.Hours()), int(d.Minutes())%60
	if m == 0 {
		return strconv.Itoa(h) + "h"
	}
	return fmt.Sprintf("%dh%dm", h, m)
}

// price writes a price with the digits it has (at most 8 decimals).
func price(p float64) string {
	return strconv.FormatFloat(math.Round(p*1e8)/1e8, 'f', -1, 64)
}

// quantity writes a volume with thousands separators (two decimals under
// 1000).
func quantity(v float64) string {
	if v < 1000 {
		return strconv.FormatFloat(math.Round(v*100)/100, 'f', -1, 64)
	}
	s := strconv.FormatFloat(math.Round(v), 'f', 0, 64)
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
