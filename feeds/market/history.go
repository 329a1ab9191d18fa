package market

import (
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickroom/tickroom/internal/bars"
)

// History sizes.
const (
	// DefaultHistoryBars is how many closed bars of each interval Run
	// backfills per symbol: more than the 500 a chart opens with.
	DefaultHistoryBars = 520
	// MaxHistoryBars is the most a backfill may ask for: what the gateway's
	// store keeps per symbol and interval.
	MaxHistoryBars = 2000
)

// Interval is a bar interval of the chart history.
type Interval struct {
	Name string
	D    time.Duration
}

// Intervals are the bar intervals of the history, shortest first; each
// divides the next.
var Intervals = []Interval{
	{"1m", time.Minute}, {"5m", 5 * time.Minute}, {"15m", 15 * time.Minute},
	{"1h", time.Hour}, {"1D", 24 * time.Hour},
}

// History is a symbol's backfilled chart history, ending where the live
// market begins.
type History struct {
	// End is the start of the first live minute: every closed bar ends at
	// or before it, and the last 1m bar's close is the first live price.
	End time.Time
	// Closed holds, per interval of Intervals, the closed bars, oldest
	// first: at least n of each, every window entirely before End.
	Closed [][]bars.Bar
	// Partial holds, per interval, the bar of the window that holds End
	// made of the history before End (Ok false when End starts a window).
	// The live market continues these bars.
	Partial []PartialBar
}

// PartialBar is a bar whose window the live market continues.
type PartialBar struct {
	Bar bars.Bar
	Ok  bool
}

// histSalt separates a symbol's history source from its other sources.
const histSalt = 0x5deece66d

// Backfill returns n closed bars of every interval of Intervals for sym
// (defaults applied) ending at end (a minute boundary) at endPrice, drawn
// from the same model as the live ticks (the volatility per unit of time,
// no regimes or jumps). It is deterministic in (seed, sym, end, endPrice,
// n) and consistent across intervals: a 1h bar covered by 15m bars is
// their aggregate, and every bar opens at the previous bar's close.
//
// The path is built from the longest interval down: daily closes are a
// random walk backward from endPrice; each finer level fills the boundaries
// between the coarser ones it covers with a Brownian bridge, so the finer
// path passes through the coarser closes. Highs, lows and volumes are built
// from the shortest interval up; a window no finer bar covers gets a high
// and low drawn around its open and close.
func Backfill(sym Symbol, seed uint64, end time.Time, endPrice float64, n int) History {
	end = bars.Floor(end, time.Minute)
	r := rand.New(rand.NewPCG(seed^histSalt, uint64(end.Unix())))
	dec, lotDec := decimals(sym.TickSize), decimals(sym.Lot)
	variance := func(d time.Duration) float64 { return sym.Vol * sym.Vol * float64(d) / TradingYear }

	top := len(Intervals) - 1
	x := map[int64]float64{end.Unix(): math.Log(endPrice)} // log price at boundaries
	cover := make([]time.Time, len(Intervals))             // first window start per level

	// Daily closes: a walk backward from the end.
	day := Intervals[top].D
	d0 := bars.Floor(end, day)
	x[d0.Unix()] = x[end.Unix()] + math.Sqrt(variance(end.Sub(d0)))*r.NormFloat64()
	for j := 1; j <= n; j++ {
		t := d0.Add(-time.Duration(j) * day)
		x[t.Unix()] = x[t.Add(day).Unix()] + math.Sqrt(variance(day))*r.NormFloat64()
	}
	cover[top] = d0.Add(-time.Duration(n) * day)

	// Finer levels: Brownian bridges between the coarser boundaries.
	for k := top - 1; k >= 0; k-- {
		d, parent := Intervals[k].D, Intervals[k+1].D
		cover[k] = bars.Floor(end.Add(-time.Duration(n)*d), parent)
		prev := cover[k]
		for t := cover[k].Add(d); t.Before(end); t = t.Add(d) {
			if _, ok := x[t.Unix()]; ok {
				prev = t
				continue
			}
			next := bars.Floor(t, parent).Add(parent)
			if next.After(end) {
				next = end
			}
			xp, xn := x[prev.Unix()], x[next.Unix()]
			a, b := float64(t.Sub(prev)), float64(next.Sub(t))
			mean := xp + a/(a+b)*(xn-xp)
			x[t.Unix()] = mean + math.Sqrt(variance(t.Sub(prev))*b/(a+b))*r.NormFloat64()
			prev = t
		}
	}

	price := func(t time.Time) float64 {
		return math.Max(round(math.Exp(x[t.Unix()]), dec), sym.TickSize)
	}
	base1m := sym.MedianLot * sym.Lot * math.Exp(0.32) * sym.Rate * 60 // mean trade × trades a minute
	h := History{End: end, Closed: make([][]bars.Bar, len(Intervals)), Partial: make([]PartialBar, len(Intervals))}
	for k, iv := range Intervals {
		d := iv.D
		var finer map[int64]bars.Bar
		if k > 0 {
			finer = map[int64]bars.Bar{}
			for _, b := range bars.Aggregate(h.Closed[k-1], d) {
				finer[b.Start.Unix()] = b
			}
		}
		for w := cover[k]; !w.Add(d).After(end); w = w.Add(d) {
			if k > 0 && !w.Before(cover[k-1]) {
				h.Closed[k] = append(h.Closed[k], finer[w.Unix()])
				continue
			}
			o, c := price(w), price(w.Add(d))
			s := math.Sqrt(variance(d))
			hi := round(math.Max(o, c)*math.Exp(0.5*s*math.Abs(r.NormFloat64())), dec)
			lo := math.Max(round(math.Min(o, c)*math.Exp(-0.5*s*math.Abs(r.NormFloat64())), dec), sym.TickSize)
			vol := round(base1m*float64(d/time.Minute)*math.Exp(0.4*r.NormFloat64()-0.08), lotDec)
			h.Closed[k] = append(h.Closed[k], bars.Bar{Start: w, Open: o, High: hi, Low: lo, Close: c, Volume: vol})
		}
		if k == 0 {
			continue
		}
		// The window holding End: the finer closed bars in it, then the
		// finer partial bar.
		w := bars.Floor(end, d)
		if w.Equal(end) {
			continue
		}
		var in []bars.Bar
		for _, b := range h.Closed[k-1] {
			if !b.Start.Before(w) {
				in = append(in, b)
			}
		}
		if p := h.Partial[k-1]; p.Ok {
			in = append(in, p.Bar)
		}
		if agg := bars.Aggregate(in, d); len(agg) == 1 {
			h.Partial[k] = PartialBar{Bar: agg[0], Ok: true}
		}
	}
	return h
}
