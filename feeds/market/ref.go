package market

import (
	"github.com/tickroom/tickroom/feeds"
)

// titles are the display names of the default universe.
var titles = map[string]string{
	"AAPL": "Apple Inc.", "MSFT": "Microsoft Corp.", "NVDA": "NVIDIA Corp.", "TSLA": "Tesla Inc.",
	"AMZN": "Amazon.com Inc.", "GOOGL": "Alphabet Inc. Class A", "META": "Meta Platforms Inc.",
	"JPM": "JPMorgan Chase & Co.", "SPY": "SPDR S&P 500 ETF", "QQQ": "Invesco QQQ Trust",
	"EURUSD": "Euro / US Dollar", "GBPUSD": "British Pound / US Dollar", "USDJPY": "US Dollar / Japanese Yen",
	"AUDUSD": "Australian Dollar / US Dollar", "BTCUSD": "Bitcoin / US Dollar", "ETHUSD": "Ether / US Dollar",
	"SOLUSD": "Solana / US Dollar", "XRPUSD": "XRP / US Dollar", "DOGEUSD": "Dogecoin / US Dollar",
	"ADAUSD": "Cardano / US Dollar",
}

// Ref returns the symbol's reference data: its price decimals are those of
// its tick size (EURUSD 0.00001 → 5, USDJPY 0.001 → 3, equities 0.01 → 2).
// s must have its defaults applied (Defaults).
func (s Symbol) Ref() feeds.Ref {
	title := s.Title
	if title == "" {
		title = titles[s.Name]
	}
	if title == "" {
		title = s.Name
	}
	cur := s.Currency
	if cur == "" {
		cur = "USD"
		if s.Class == FX && len(s.Name) == 6 {
			cur = s.Name[3:]
		}
	}
	return feeds.Ref{
		Symbol: s.Name, Name: title, AssetClass: s.Class.String(), Currency: cur,
		TickSize: s.TickSize, PriceDecimals: min(decimals(s.TickSize), 10),
	}
}
