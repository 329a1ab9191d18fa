// Package market simulates a market: a seeded, deterministic stream of ticks
// for a universe of symbols, and a runner that publishes them as
// market.<SYMBOL> (PROTOCOL section 1).
//
// # Model
//
// Each symbol's mid price follows geometric Brownian motion: over an interval
// of dt years the log price moves by (μ − σ²/2)·dt + σ·√dt·Z, Z ~ N(0,1).
// Volatility is annualised over a trading year of 252 days × 6.5 hours of
// simulated time (TradingYear), whatever the asset class, so a symbol with
// Vol 0.25 moves about 0.25/√252 ≈ 1.6% in 6.5 hours.
//
// On top of that:
//   - regimes: each symbol switches between a calm and a volatile regime
//     (a two-state Markov chain with mean durations CalmMean and
//     VolatileMean); the volatile regime multiplies volatility by
//     VolatileFactor, widens spreads, raises trade sizes and the tick rate.
//   - jumps: a Poisson process (JumpsPerHour per symbol) adds a log return of
//     about ±1.8 JumpStd, starts a volatile regime and, for about a
//     minute, a burst of bigger and more frequent trades.
//   - ticks arrive with exponential inter-arrival times (a Poisson process of
//     the symbol's Rate, faster in the volatile regime): bursty, not
//     metronomic.
//   - each tick is a trade: a spread of whole ticks around the mid gives bid
//     and ask, the trade prints at the ask (buyer) or the bid (seller), its
//     size is log-normal around MedianLot lots, and volume accumulates.
//
// Every symbol draws from its own random source seeded from (Seed, name), so
// a symbol's path does not change when others are added to the universe.
package market

import (
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/protocol"
)

// TradingYear is the length of the year volatility and drift are
// annualised over: 252 trading days of 6.5 hours.
const TradingYear = 252 * 6.5 * float64(time.Hour)

// Regime multipliers applied in the volatile regime (besides VolatileFactor
// on volatility).
const (
	volatileSpread = 2.0
	volatileSize   = 1.5
	volatileRate   = 1.6
	burstSize      = 2.5 // for about a minute after a jump
	burstRate      = 1.5
)

// Config configures a Sim. The zero value is usable: every zero field means
// the documented default.
type Config struct {
	// Seed seeds the random sources. Zero picks a seed from the clock
	// (the run is then not reproducible); any other value gives the same
	// ticks for the same Config.
	Seed int64
	// Start is the simulated time of the first tick's clock, used by Next.
	// Zero means time.Now() at New. Run re-anchors the clock to the wall
	// clock when it starts.
	Start time.Time
	// Symbols is the universe. Empty means DefaultUniverse().
	Symbols []Symbol
	// Rate is the mean number of ticks per second per symbol (a Symbol's
	// own Rate overrides it). Zero means 4.
	Rate float64
	// JumpsPerHour is the mean number of price jumps per symbol per hour of
	// simulated time. Zero means 0.2; see NoJumps.
	JumpsPerHour float64
	// NoJumps disables jumps.
	NoJumps bool
	// NoRegimes keeps every symbol in the calm regime.
	NoRegimes bool
	// CalmMean and VolatileMean are the mean durations of the regimes.
	// Zero means 20 minutes and 3 minutes.
	CalmMean, VolatileMean time.Duration
	// VolatileFactor multiplies volatility in the volatile regime. Zero
	// means 2.5; it must be >= 1.
	VolatileFactor float64
	// Logger receives Run's publish errors, at a bounded rate. Nil discards.
	Logger *slog.Logger

	// BookLevels is the depth of each side of the book.<SYMBOL> snapshots
	// Run publishes after every tick. Zero means DefaultBookLevels; at most
	// 50. NoBooks publishes none (ticks still carry bid_size and ask_size).
	BookLevels int
	NoBooks    bool
	// History is how many bars of each interval (1m 5m 15m 1h 1D) Run
	// backfills per symbol before its first tick. Zero means
	// DefaultHistoryBars; NoHistory backfills none.
	History   int
	NoHistory bool
}

// Sim is a simulated market. It is not safe for concurrent use: drive it
// either with Next (tests, recording) or with Run, from one goroutine.
type Sim struct {
	cfg  Config
	syms []*state
	now  time.Time
}

type state struct {
	Symbol
	rng      *rand.Rand
	decimals int     // decimals of TickSize
	lotDec   int     // decimals of Lot
	logMid   float64 // unrounded log mid price
	last     time.Time
	next     time.Time
	volatile bool
	burst    time.Time // until then, after a jump: bigger trades, more often
	volume   float64

	bookRng *rand.Rand // book and quote sizes, apart from the price path
	book    feeds.Book // as of the last tick
	seed    uint64     // of the symbol's sources, for its history
	bars    barStore   // Run's chart history
}

// New validates cfg, applies its defaults and returns a Sim.
func New(cfg Config) (*Sim, error) {
	var errs []error
	if cfg.Seed == 0 {
		cfg.Seed = time.Now().UnixNano()
	}
	if cfg.Start.IsZero() {
		cfg.Start = time.Now()
	}
	if len(cfg.Symbols) == 0 {
		cfg.Symbols = DefaultUniverse()
	}
	if cfg.Rate == 0 {
		cfg.Rate = 4
	}
	if cfg.JumpsPerHour == 0 {
		cfg.JumpsPerHour = 0.2
	}
	if cfg.CalmMean == 0 {
		cfg.CalmMean = 20 * time.Minute
	}
	if cfg.VolatileMean == 0 {
		cfg.VolatileMean = 3 * time.Minute
	}
	if cfg.VolatileFactor == 0 {
		cfg.VolatileFactor = 2.5
	}
	if cfg.BookLevels == 0 {
		cfg.BookLevels = DefaultBookLevels
	}
	if cfg.History == 0 {
		cfg.History = DefaultHistoryBars
	}
	if cfg.BookLevels < 0 || cfg.BookLevels > 50 {
		errs = append(errs, fmt.Errorf("book levels %d must be 1 to 50", cfg.BookLevels))
	}
	if cfg.History < 0 || cfg.History > MaxHistoryBars {
		errs = append(errs, fmt.Errorf("history %d must be 1 to %d bars", cfg.History, MaxHistoryBars))
	}
	if !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate %v must be > 0", cfg.Rate))
	}
	if !(cfg.JumpsPerHour >= 0) {
		errs = append(errs, fmt.Errorf("jumps per hour %v must be >= 0", cfg.JumpsPerHour))
	}
	if cfg.CalmMean < 0 || cfg.VolatileMean < 0 {
		errs = append(errs, errors.New("regime durations must be > 0"))
	}
	if !(cfg.VolatileFactor >= 1) {
		errs = append(errs, fmt.Errorf("volatile factor %v must be >= 1", cfg.VolatileFactor))
	}
	s := &Sim{cfg: cfg, now: cfg.Start}
	seen := map[string]bool{}
	for _, sym := range cfg.Symbols {
		sym = sym.Defaults()
		if sym.Rate == 0 {
			sym.Rate = cfg.Rate
		}
		if err := validSymbol(sym); err != nil {
			errs = append(errs, err)
			continue
		}
		if seen[sym.Name] {
			errs = append(errs, fmt.Errorf("symbol %s: listed twice", sym.Name))
			continue
		}
		seen[sym.Name] = true
		h := fnv.New64a()
		h.Write([]byte(sym.Name))
		st := &state{
			Symbol:   sym,
			rng:      rand.New(rand.NewPCG(uint64(cfg.Seed), h.Sum64())),
			decimals: decimals(sym.TickSize),
			lotDec:   decimals(sym.Lot),
			logMid:   math.Log(sym.Price),
			last:     cfg.Start,
			bookRng:  rand.New(rand.NewPCG(uint64(cfg.Seed)^bookSalt, h.Sum64())),
			seed:     h.Sum64(),
		}
		st.next = cfg.Start.Add(st.interArrival())
		s.syms = append(s.syms, st)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("market: invalid config: %w", errors.Join(errs...))
	}
	return s, nil
}

func validSymbol(s Symbol) error {
	if !protocol.ValidToken(s.Name) {
		return fmt.Errorf("symbol %q: name must be 1-64 characters of [A-Za-z0-9_-]", s.Name)
	}
	pos := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
	switch {
	case !pos(s.Price):
		return fmt.Errorf("symbol %s: price %v must be > 0", s.Name, s.Price)
	case !pos(s.TickSize) || s.TickSize > s.Price:
		return fmt.Errorf("symbol %s: tick size %v must be > 0 and below the price", s.Name, s.TickSize)
	case !pos(s.Vol):
		return fmt.Errorf("symbol %s: volatility %v must be > 0", s.Name, s.Vol)
	case math.IsNaN(s.Drift) || math.IsInf(s.Drift, 0):
		return fmt.Errorf("symbol %s: drift must be finite", s.Name)
	case !pos(s.SpreadBps) || !pos(s.Lot) || !pos(s.MedianLot) || !pos(s.JumpStd) || !pos(s.Rate):
		return fmt.Errorf("symbol %s: spread, lot, median lot, jump size and rate must be > 0", s.Name)
	}
	return nil
}

// Symbols returns the universe with every default applied.
func (s *Sim) Symbols() []Symbol {
	out := make([]Symbol, len(s.syms))
	for i, st := range s.syms {
		out[i] = st.Symbol
	}
	return out
}

// Peek returns the simulated time of the next tick.
func (s *Sim) Peek() time.Time { return s.nextState().next }

func (s *Sim) nextState() *state {
	best := s.syms[0]
	for _, st := range s.syms[1:] {
		if st.next.Before(best.next) {
			best = st
		}
	}
	return best
}

// Next advances the simulated clock to the next tick, of whichever symbol
// trades first, and returns it. Tick times never decrease.
func (s *Sim) Next() feeds.Tick {
	_, t := s.next()
	return t
}

func (s *Sim) next() (*state, feeds.Tick) {
	st := s.nextState()
	s.now = st.next
	t := st.step(s.now, &s.cfg)
	st.next = s.now.Add(st.interArrival())
	levels := s.cfg.BookLevels
	if s.cfg.NoBooks {
		levels = 0
	}
	st.quote(&t, levels)
	return st, t
}

// bookSalt separates a symbol's book source from its price source.
const bookSalt = 0x9e3779b97f4a7c15

// Book returns the book of symbol as of its last tick (best bid and ask
// equal that tick's bid and ask, their sizes its bid_size and ask_size),
// and false before its first tick or with NoBooks.
func (s *Sim) Book(symbol string) (feeds.Book, bool) {
	for _, st := range s.syms {
		if st.Name == symbol {
			return st.book, st.book.Symbol != ""
		}
	}
	return feeds.Book{}, false
}

// resync moves the clock to now: every symbol's next tick is drawn afresh
// from now. With fresh set, the time since each symbol's last tick is
// forgotten too (no catch-up move).
func (s *Sim) resync(now time.Time, fresh bool) {
	s.now = now
	for _, st := range s.syms {
		if fresh || st.last.After(now) {
			st.last = now
		}
		st.next = now.Add(st.interArrival())
	}
}

func (st *state) interArrival() time.Duration {
	rate := st.Rate
	if st.volatile {
		rate *= volatileRate
	}
	if st.last.Before(st.burst) {
		rate *= burstRate
	}
	d := time.Duration(st.rng.ExpFloat64() / rate * float64(time.Second))
	return max(d, time.Millisecond) // distinct ms timestamps per symbol
}

// step moves the symbol's price from st.last to now and prints a trade.
func (st *state) step(now time.Time, cfg *Config) feeds.Tick {
	r := st.rng
	dt := now.Sub(st.last)
	st.last = now
	sec := dt.Seconds()
	years := float64(dt) / TradingYear

	if !cfg.NoRegimes && sec > 0 {
		mean := cfg.CalmMean
		if st.volatile {
			mean = cfg.VolatileMean
		}
		if r.Float64() < -math.Expm1(-sec/mean.Seconds()) {
			st.volatile = !st.volatile
		}
	}
	sigma := st.Vol
	if st.volatile {
		sigma *= cfg.VolatileFactor
	}
	st.logMid += (st.Drift-sigma*sigma/2)*years + sigma*math.Sqrt(years)*r.NormFloat64()
	jumped := false
	if !cfg.NoJumps && sec > 0 && r.Float64() < -math.Expm1(-cfg.JumpsPerHour*sec/3600) {
		size := st.JumpStd * (1 + math.Abs(r.NormFloat64()))
		if r.IntN(2) == 0 {
			size = -size
		}
		st.logMid += size
		jumped = true
		st.burst = now.Add(time.Duration((0.5 + r.Float64()) * float64(time.Minute)))
		if !cfg.NoRegimes {
			st.volatile = true
		}
	}
	mid := math.Exp(st.logMid)

	// Spread in whole ticks around the mid.
	spreadMult := 0.75 + 0.5*r.Float64()
	if st.volatile {
		spreadMult *= volatileSpread
	}
	ticks := math.Max(1, math.Round(mid*st.SpreadBps/1e4/st.TickSize*spreadMult))
	bidTicks := math.Floor((mid - ticks*st.TickSize/2) / st.TickSize)
	bidTicks = math.Max(bidTicks, 1)
	bid := round(bidTicks*st.TickSize, st.decimals)
	ask := round((bidTicks+ticks)*st.TickSize, st.decimals)
	price := bid
	if r.IntN(2) == 0 {
		price = ask
	}

	// Log-normal trade size in whole lots.
	sizeMult := math.Exp(0.8 * r.NormFloat64())
	if st.volatile {
		sizeMult *= volatileSize
	}
	if now.Before(st.burst) {
		sizeMult *= burstSize
		if jumped {
			sizeMult *= 3
		}
	}
	lots := math.Max(1, math.Round(st.MedianLot*sizeMult))
	size := round(lots*st.Lot, st.lotDec)
	st.volume = round(st.volume+size, st.lotDec)

	return feeds.Tick{
		Symbol: st.Name,
		Price:  price,
		Bid:    bid,
		Ask:    ask,
		Size:   size,
		Volume: st.volume,
		Time:   feeds.Time{Time: now.UTC().Truncate(time.Millisecond)},
	}
}

// decimals returns the number of decimals needed to write step (≤ 12).
func decimals(step float64) int {
	for d := 0; d < 12; d++ {
		p := math.Pow10(d)
		if math.Abs(step*p-math.Round(step*p)) < 1e-9*math.Max(1, step*p) {
			return d
		}
	}
	return 12
}

// round rounds x to d decimals so that it prints as the shortest decimal.
func round(x float64, d int) float64 {
	p := math.Pow10(d)
	return math.Round(x*p) / p
}
