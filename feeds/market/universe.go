package market

// Class is an asset class; it sets the defaults of a Symbol.
type Class int

// Asset classes.
const (
	Equity Class = iota
	FX
	Crypto
)

func (c Class) String() string {
	switch c {
	case Equity:
		return "equity"
	case FX:
		return "fx"
	case Crypto:
		return "crypto"
	}
	return "unknown"
}

// Symbol describes one simulated instrument. Vol and Drift are annualised
// over TradingYear for every class, so a crypto pair's Vol is about 0.43 of
// its usual calendar-year (24/7) figure. Zero fields take the defaults of
// the Class (see Defaults); Name and Price are required.
type Symbol struct {
	Name  string // subject token, [A-Za-z0-9_-]
	Class Class
	Price float64 // starting price, > 0

	TickSize  float64 // price increment; zero: 0.01 (FX 0.00001)
	Vol       float64 // annualised volatility in the calm regime; zero: class default
	Drift     float64 // annualised drift of the log price (μ in GBM); zero means none
	SpreadBps float64 // typical bid/ask spread in basis points of the price; zero: class default
	Lot       float64 // trade size increment; zero: class default (100, 1000, 0.0001)
	MedianLot float64 // median trade size in lots; zero: class default
	JumpStd   float64 // stdev of a jump's log return; zero: class default
	Rate      float64 // mean ticks per second; zero: Config.Rate

	// Reference data published on ref.<Name> (PROTOCOL §4). Title is the
	// instrument's display name (zero: the built-in name of a default
	// symbol, else Name); Currency the quote currency (zero: USD, or the
	// last three letters of a six-letter FX pair).
	Title    string
	Currency string
}

// classDefaults returns the defaults for fields left zero.
func classDefaults(c Class) Symbol {
	switch c {
	case FX:
		return Symbol{TickSize: 0.00001, Vol: 0.05, SpreadBps: 0.6, Lot: 1000, MedianLot: 100, JumpStd: 0.004}
	case Crypto:
		return Symbol{TickSize: 0.01, Vol: 0.35, SpreadBps: 1, Lot: 0.0001, MedianLot: 500, JumpStd: 0.015}
	default:
		return Symbol{TickSize: 0.01, Vol: 0.30, SpreadBps: 1, Lot: 1, MedianLot: 100, JumpStd: 0.01}
	}
}

// Defaults returns s with its zero fields set from its class.
func (s Symbol) Defaults() Symbol {
	d := classDefaults(s.Class)
	if s.TickSize == 0 {
		s.TickSize = d.TickSize
	}
	if s.Vol == 0 {
		s.Vol = d.Vol
	}
	if s.SpreadBps == 0 {
		s.SpreadBps = d.SpreadBps
	}
	if s.Lot == 0 {
		s.Lot = d.Lot
	}
	if s.MedianLot == 0 {
		s.MedianLot = d.MedianLot
	}
	if s.JumpStd == 0 {
		s.JumpStd = d.JumpStd
	}
	return s
}

// DefaultUniverse returns the 20 symbols simulated when Config.Symbols is
// empty: ten US equities and ETFs, four FX pairs and six crypto pairs, with
// plausible prices, tick sizes and volatilities.
func DefaultUniverse() []Symbol {
	return []Symbol{
		{Name: "AAPL", Class: Equity, Price: 228.50, Vol: 0.25, SpreadBps: 0.5},
		{Name: "MSFT", Class: Equity, Price: 415.20, Vol: 0.22, SpreadBps: 0.5},
		{Name: "NVDA", Class: Equity, Price: 131.80, Vol: 0.50, SpreadBps: 0.8},
		{Name: "TSLA", Class: Equity, Price: 251.40, Vol: 0.55, SpreadBps: 0.8},
		{Name: "AMZN", Class: Equity, Price: 186.30, Vol: 0.30},
		{Name: "GOOGL", Class: Equity, Price: 165.10, Vol: 0.28},
		{Name: "META", Class: Equity, Price: 562.90, Vol: 0.35},
		{Name: "JPM", Class: Equity, Price: 212.70, Vol: 0.20},
		{Name: "SPY", Class: Equity, Price: 571.40, Vol: 0.14, SpreadBps: 0.2, JumpStd: 0.004},
		{Name: "QQQ", Class: Equity, Price: 488.60, Vol: 0.18, SpreadBps: 0.25, JumpStd: 0.005},
		{Name: "EURUSD", Class: FX, Price: 1.08420, Vol: 0.045},
		{Name: "GBPUSD", Class: FX, Price: 1.27150, Vol: 0.05, SpreadBps: 0.8},
		{Name: "USDJPY", Class: FX, Price: 149.320, TickSize: 0.001, Vol: 0.055},
		{Name: "AUDUSD", Class: FX, Price: 0.66310, Vol: 0.06, SpreadBps: 1},
		{Name: "BTCUSD", Class: Crypto, Price: 64250.00, Vol: 0.25, SpreadBps: 0.2, MedianLot: 400},
		{Name: "ETHUSD", Class: Crypto, Price: 3180.00, Vol: 0.32, SpreadBps: 0.5, Lot: 0.001, MedianLot: 300},
		{Name: "SOLUSD", Class: Crypto, Price: 148.20, Vol: 0.42, Lot: 0.01, MedianLot: 500},
		{Name: "XRPUSD", Class: Crypto, Price: 0.5421, TickSize: 0.0001, Vol: 0.40, Lot: 1, MedianLot: 800},
		{Name: "DOGEUSD", Class: Crypto, Price: 0.10873, TickSize: 0.00001, Vol: 0.45, Lot: 1, MedianLot: 2000},
		{Name: "ADAUSD", Class: Crypto, Price: 0.3514, TickSize: 0.0001, Vol: 0.42, Lot: 1, MedianLot: 1000},
	}
}
