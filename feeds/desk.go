package feeds

import (
	"github.com/tickroom/tickroom/internal/bars"
	"github.com/tickroom/tickroom/internal/protocol"
)

// Subject kinds of the desk additions (PROTOCOL §4).
const (
	KindRef  = protocol.KindRef
	KindBook = protocol.KindBook
)

// Ref is the payload of ref.<SYMBOL>: what a page needs to show an
// instrument's prices (PROTOCOL §4). TickSize > 0; PriceDecimals 0..10.
type Ref struct {
	Symbol        string  `json:"symbol"`
	Name          string  `json:"name,omitempty"`
	AssetClass    string  `json:"asset_class,omitempty"`
	Currency      string  `json:"currency,omitempty"`
	TickSize      float64 `json:"tick_size"`
	PriceDecimals int     `json:"price_decimals"`
}

// Level is one price level of a book: [price, size] on the wire.
type Level [2]float64

// Book is the payload of book.<SYMBOL>: a full snapshot of the top of the
// book, bids best (highest) first, asks best (lowest) first.
type Book struct {
	Symbol string  `json:"symbol"`
	Time   Time    `json:"time,omitzero"`
	Bids   []Level `json:"bids"`
	Asks   []Level `json:"asks"`
}

// BarsSubject is where a price producer stores its closed bars of an
// interval (1m 5m 15m 1h 1D) for chart history: bars.<SYMBOL>.<interval>.
// The payload is a Candle with that Interval.
func BarsSubject(symbol, interval string) string { return "bars." + symbol + "." + interval }

// CandleOf returns b as the Candle payload of symbol at interval.
func CandleOf(symbol, interval string, b bars.Bar) Candle {
	return Candle{Symbol: symbol, Interval: interval, Start: Time{Time: b.Start.UTC()},
		Open: b.Open, High: b.High, Low: b.Low, Close: b.Close, Volume: b.Volume}
}
