package market

import (
	"encoding/json"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/bars"
)

// barStore is what a symbol keeps to store its chart history: the minute
// in progress and the coarser bars in progress above it.
type barStore struct {
	started bool
	minute  bars.Bar
	open    bool
	cascade *bars.Cascade // Intervals[1:]
}

// BarBatch is a message on bars.<SYMBOL>.<interval> holding many closed
// bars at once (the backfill); a single closed bar is sent as a Candle.
type BarBatch struct {
	Symbol   string         `json:"symbol"`
	Interval string         `json:"interval"`
	Bars     []feeds.Candle `json:"bars"`
}

// maxBatchBars keeps a batch message well under NATS's 1 MB default
// payload limit (a bar is about 130 bytes).
const maxBatchBars = 1000

// storeBars keeps st's chart history for tick t and returns the messages
// to publish on bars.<SYMBOL>.<interval>: on the symbol's first tick, the
// backfill ending at it (unless disabled); whenever a minute ends, its
// closed 1m bar and every coarser bar it closed.
func (s *Sim) storeBars(st *state, t feeds.Tick, out []outMsg) []outMsg {
	bs := &st.bars
	if !bs.started {
		bs.started = true
		coarse := make([]time.Duration, 0, len(Intervals)-1)
		for _, iv := range Intervals[1:] {
			coarse = append(coarse, iv.D)
		}
		bs.cascade = bars.NewCascade(coarse...)
		if !s.cfg.NoHistory {
			h := Backfill(st.Symbol, uint64(s.cfg.Seed)^st.seed, t.Time.Time, t.Price, s.cfg.History)
			for k, iv := range Intervals {
				out = appendBatches(out, st.Name, iv.Name, h.Closed[k])
				if k > 0 && h.Partial[k].Ok {
					bs.cascade.Seed(k-1, h.Partial[k].Bar)
				}
			}
		}
	}
	m := bars.Floor(t.Time.Time, time.Minute)
	if bs.open && m.After(bs.minute.Start) {
		out = appendBar(out, st.Name, Intervals[0].Name, bs.minute)
		for _, c := range bs.cascade.Add(bs.minute) {
			out = appendBar(out, st.Name, intervalName(c.Interval), c.Bar)
		}
		bs.open = false
	}
	b := bars.Bar{Start: m, Open: t.Price, High: t.Price, Low: t.Price, Close: t.Price, Volume: t.Size}
	switch {
	case !bs.open:
		bs.minute, bs.open = b, true
	case !m.Before(bs.minute.Start):
		bs.minute = bars.Merge(bs.minute, b)
	}
	return out
}

func intervalName(d time.Duration) string {
	for _, iv := range Intervals {
		if iv.D == d {
			return iv.Name
		}
	}
	return ""
}

// outMsg is one message Run publishes.
type outMsg struct {
	subject string
	data    []byte
}

func appendBar(out []outMsg, symbol, interval string, b bars.Bar) []outMsg {
	data, err := json.Marshal(feeds.CandleOf(symbol, interval, b))
	if err != nil {
		return out
	}
	return append(out, outMsg{feeds.BarsSubject(symbol, interval), data})
}

func appendBatches(out []outMsg, symbol, interval string, bs []bars.Bar) []outMsg {
	for len(bs) > 0 {
		n := min(len(bs), maxBatchBars)
		batch := BarBatch{Symbol: symbol, Interval: interval, Bars: make([]feeds.Candle, n)}
		for i, b := range bs[:n] {
			batch.Bars[i] = feeds.CandleOf(symbol, interval, b)
		}
		if data, err := json.Marshal(batch); err == nil {
			out = append(out, outMsg{feeds.BarsSubject(symbol, interval), data})
		}
		bs = bs[n:]
	}
	return out
}
