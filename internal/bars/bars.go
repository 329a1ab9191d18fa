// Package bars holds OHLCV bars as plain values and the pure functions that
// turn finer bars into coarser ones: the one definition of "a 5-minute bar
// is these five 1-minute bars" that the simulator (which stores bars) and
// the gateway (which derives the bars nobody stored yet) share.
//
// Windows are aligned to the UTC clock: a bar of interval d starts at a
// multiple of d since the zero time, so 1D bars start at 00:00 UTC and 1h
// bars on the hour.
//
// # Concurrency
//
// Functions are pure. A Cascade is not safe for concurrent use.
package bars

import (
	"math"
	"time"
)

// Bar is one OHLCV bar: Start is the beginning of its window, Volume the
// traded size within it.
type Bar struct {
	Start                          time.Time
	Open, High, Low, Close, Volume float64
}

// Floor returns the start of the window of length d that holds t.
func Floor(t time.Time, d time.Duration) time.Time { return t.UTC().Truncate(d) }

// Merge folds b, a later bar of the same window, into a.
func Merge(a, b Bar) Bar {
	a.High = math.Max(a.High, b.High)
	a.Low = math.Min(a.Low, b.Low)
	a.Close = b.Close
	a.Volume = RoundVolume(a.Volume + b.Volume)
	return a
}

// Aggregate turns bars (sorted by Start, all of an interval that divides d)
// into bars of interval d: each window's open is its first bar's open, its
// close the last bar's close, its high and low the extremes and its volume
// the sum. An empty input gives nil.
func Aggregate(in []Bar, d time.Duration) []Bar {
	var out []Bar
	for _, b := range in {
		w := Floor(b.Start, d)
		if n := len(out); n > 0 && out[n-1].Start.Equal(w) {
			out[n-1] = Merge(out[n-1], b)
			continue
		}
		b.Start = w
		out = append(out, b)
	}
	return out
}

// RoundVolume drops float noise from sums of decimal sizes.
func RoundVolume(v float64) float64 { return math.Round(v*1e8) / 1e8 }

// Cascade builds the coarser bars of one instrument from its closed bars
// of the finest interval, as they come: Add a closed 1-minute bar and get
// back the coarser bars whose window it closed.
type Cascade struct {
	levels []time.Duration // coarser intervals, each a multiple of the finest
	open   []*Bar          // the bar in progress per level, nil before the first
}

// NewCascade returns a Cascade for the given coarser intervals.
func NewCascade(levels ...time.Duration) *Cascade {
	return &Cascade{levels: levels, open: make([]*Bar, len(levels))}
}

// Seed sets the bar in progress of level i (its window holds b.Start), for
// a cascade that takes over from bars made elsewhere (a backfill).
func (c *Cascade) Seed(i int, b Bar) {
	b.Start = Floor(b.Start, c.levels[i])
	c.open[i] = &b
}

// Closed is a coarser bar that a finer one closed.
type Closed struct {
	Interval time.Duration
	Bar      Bar
}

// Add takes the next closed bar of the finest interval (later than every
// bar before it) and returns the coarser bars it closed, finest first. A
// window closes when a bar of a later window arrives.
func (c *Cascade) Add(b Bar) []Closed {
	var out []Closed
	for i, d := range c.levels {
		w := Floor(b.Start, d)
		cur := c.open[i]
		switch {
		case cur == nil || w.After(cur.Start):
			if cur != nil {
				out = append(out, Closed{Interval: d, Bar: *cur})
			}
			nb := b
			nb.Start = w
			c.open[i] = &nb
		case w.Equal(cur.Start):
			*cur = Merge(*cur, b)
		}
		// A bar older than the window in progress is ignored: late.
	}
	return out
}

// Open returns the bar in progress of level i and whether there is one.
func (c *Cascade) Open(i int) (Bar, bool) {
	if c.open[i] == nil {
		return Bar{}, false
	}
	return *c.open[i], true
}
