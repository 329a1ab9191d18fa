package market

import (
	"math"

	"github.com/tickroom/tickroom/feeds"
)

// DefaultBookLevels is how many levels a side a simulated book has.
const DefaultBookLevels = 10

// quote sizes the tick's bid and ask and builds the book behind them: level
// 0 of each side is the tick's bid or ask with its size, deeper levels step
// away by one tick, now and then two (a gap), with sizes that grow with
// depth. It draws from the symbol's book source only, so books do not
// change the price path.
func (st *state) quote(t *feeds.Tick, levels int) {
	r := st.bookRng
	lot := func(depth int) float64 {
		lots := math.Max(1, math.Round(st.MedianLot*math.Exp(0.6*r.NormFloat64())*(1+0.35*float64(depth))))
		return round(lots*st.Lot, st.lotDec)
	}
	if levels <= 0 {
		t.BidSize, t.AskSize = lot(0), lot(0)
		return
	}
	bids := make([]feeds.Level, 0, levels)
	asks := make([]feeds.Level, 0, levels)
	bidTicks := math.Round(t.Bid / st.TickSize)
	askTicks := math.Round(t.Ask / st.TickSize)
	for i := 0; i < levels; i++ {
		if i > 0 {
			bidTicks -= 1 + float64(r.IntN(5)/4) // a gap one level in five
			askTicks += 1 + float64(r.IntN(5)/4)
		}
		if bidTicks >= 1 {
			bids = append(bids, feeds.Level{round(bidTicks*st.TickSize, st.decimals), lot(i)})
		}
		asks = append(asks, feeds.Level{round(askTicks*st.TickSize, st.decimals), lot(i)})
	}
	// Level 0 is the tick's quote exactly, whatever the rounding above.
	if len(bids) > 0 {
		bids[0][0] = t.Bid
		t.BidSize = bids[0][1]
	}
	asks[0][0] = t.Ask
	t.AskSize = asks[0][1]
	st.book = feeds.Book{Symbol: t.Symbol, Time: t.Time, Bids: bids, Asks: asks}
}
