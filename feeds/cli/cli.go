// Package cli holds the entry points of the feed producers: Main for
// `tickroom feed <name> [flags]` (each producer as its own process against
// any NATS) and RunAll for the all-in-one binary, which runs the simulated
// market, the analytics and the alerts in-process on one connection.
package cli

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"

	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/alerts"
	"github.com/tickroom/tickroom/feeds/analytics"
	"github.com/tickroom/tickroom/feeds/market"
	"github.com/tickroom/tickroom/feeds/natsfeed"
	"github.com/tickroom/tickroom/feeds/replay"
)

// Names lists the feeds Main runs.
var Names = []string{"market", "analytics", "alerts", "replay"}

// DefaultURL is the NATS URL of the all-in-one binary's embedded server.
const DefaultURL = "nats://127.0.0.1:4222"

// Options configures RunWith. Zero values mean each package's defaults.
type Options struct {
	Market    market.Config
	Analytics analytics.Config
	Alerts    alerts.Config
	// Logger for all three; nil discards. A Logger set in one of the
	// configs wins for that feed.
	Logger *slog.Logger
}

// RunAll runs the simulated market, the analytics and the alerts on nc
// with their defaults until ctx is done, then returns nil once all three
// have stopped. It does not close nc.
func RunAll(ctx context.Context, nc *nats.Conn, logger *slog.Logger) error {
	return RunWith(ctx, nc, Options{Logger: logger})
}

// RunWith is RunAll with options. It returns an error at once if a config
// is invalid; if one feed fails while running, the others are stopped and
// its error returned.
func RunWith(ctx context.Context, nc *nats.Conn, opts Options) error {
	if nc == nil {
		return errors.New("feeds: nil NATS connection")
	}
	if opts.Market.Logger == nil {
		opts.Market.Logger = opts.Logger
	}
	if opts.Analytics.Logger == nil {
		opts.Analytics.Logger = opts.Logger
	}
	if opts.Alerts.Logger == nil {
		opts.Alerts.Logger = opts.Logger
	}
	sim, err := market.New(opts.Market)
	if err != nil {
		return err
	}
	an, err := analytics.New(opts.Analytics)
	if err != nil {
		return err
	}
	al, err := alerts.New(opts.Alerts)
	if err != nil {
		return err
	}
	bus := natsfeed.New(nc)
	// The market starts once the analytics listen, so the first live 1m
	// bar holds the first tick and opens where the backfilled history
	// closes. One connection keeps the order: SUB goes out before PUB.
	anSub := &firstSubscribe{Subscriber: bus, done: make(chan struct{})}
	return runGroup(ctx,
		func(ctx context.Context) error { return an.Run(ctx, anSub, bus) },
		func(ctx context.Context) error { return al.Run(ctx, bus, bus) },
		func(ctx context.Context) error {
			select {
			case <-anSub.done:
			case <-ctx.Done():
				return nil
			}
			return sim.Run(ctx, bus)
		},
		func(ctx context.Context) error { return (&alerts.PriceAlerts{NC: nc, Log: opts.Logger}).Run(ctx) },
	)
}

// firstSubscribe is a Subscriber that closes done after its first
// Subscribe call returned.
type firstSubscribe struct {
	feeds.Subscriber
	once sync.Once
	done chan struct{}
}

func (f *firstSubscribe) Subscribe(subject string, fn func(string, []byte)) (func() error, error) {
	unsub, err := f.Subscriber.Subscribe(subject, fn)
	f.once.Do(func() { close(f.done) })
	return unsub, err
}

// runGroup runs fns until ctx is done or one fails; it waits for all.
func runGroup(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, fn := range fns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		}()
	}
	wg.Wait()
	return first
}

// Main runs the feed called name with command-line args until ctx is done
// (or, for a replay without -loop, until the file is played). Flags:
//
//	all:        -nats URL (default nats://127.0.0.1:4222)
//	market:     -seed N -rate R -symbols AAPL,MSFT,DEMO=42.5 -jumps J -history N -book-levels N
//	analytics:  -every 500ms -candle-every 2s
//	alerts:     -move-pct 1 -move-window 5m -volume-factor 4 -stall 30s -cooldown 5m
//	replay:     -file ticks.csv -speed 1 -loop -keep-time
//
// Status lines go to stdout, logs and usage to stderr. -h returns
// flag.ErrHelp after printing the usage.
func Main(ctx context.Context, name string, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("tickroom feed "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	url := fs.String("nats", DefaultURL, "NATS server URL")
	natsWait := fs.Duration("nats-wait", 30*time.Second, "how long to keep trying the first connection (a feed may start before NATS, as docker compose starts them)")
	logger := slog.New(slog.NewTextHandler(stderr, nil))

	var run func(ctx context.Context, bus *natsfeed.Conn) error
	switch name {
	case "market":
		seed := fs.Int64("seed", 0, "random seed (0: from the clock; any other value repeats the same market)")
		rate := fs.Float64("rate", 4, "mean ticks per second per symbol")
		syms := fs.String("symbols", "", "comma-separated symbols (default: the 20 built-in); SYM=price adds a new one")
		jumps := fs.Float64("jumps", 0.2, "price jumps per symbol per hour (0: none)")
		history := fs.Int("history", market.DefaultHistoryBars, "bars of each interval (1m 5m 15m 1h 1D) to backfill per symbol at start (0: none)")
		bookLevels := fs.Int("book-levels", market.DefaultBookLevels, "levels a side of the book.<SYM> sent after each tick (0: no books)")
		run = func(ctx context.Context, bus *natsfeed.Conn) error {
			cfg := market.Config{Seed: *seed, Rate: *rate, JumpsPerHour: *jumps, NoJumps: *jumps == 0, Logger: logger,
				History: *history, NoHistory: *history == 0, BookLevels: *bookLevels, NoBooks: *bookLevels == 0}
			var err error
			if cfg.Symbols, err = ParseSymbols(*syms); err != nil {
				return err
			}
			sim, err := market.New(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "market: publishing %d symbols at %g ticks/s each to %s\n", len(sim.Symbols()), *rate, *url)
			return sim.Run(ctx, bus)
		}
	case "analytics":
		every := fs.Duration("every", 500*time.Millisecond, "minimum time between analytics messages per symbol")
		candleEvery := fs.Duration("candle-every", 2*time.Second, "minimum time between re-sends of a bar in progress")
		run = func(ctx context.Context, bus *natsfeed.Conn) error {
			r, err := analytics.New(analytics.Config{AnalyticsEvery: *every, CandleEvery: *candleEvery, Logger: logger})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "analytics: market.* → analytics.*, candle.* on %s\n", *url)
			return r.Run(ctx, bus, bus)
		}
	case "alerts":
		movePct := fs.Float64("move-pct", 1, "alert on a move of more than this percent…")
		moveWindow := fs.Duration("move-window", 5*time.Minute, "…within this window")
		volFactor := fs.Float64("volume-factor", 4, "alert when a minute's volume is this many times the average")
		stall := fs.Duration("stall", 30*time.Second, "alert when a ticking symbol is silent this long (negative: never)")
		cooldown := fs.Duration("cooldown", 5*time.Minute, "quiet time per symbol and kind of alert")
		run = func(ctx context.Context, bus *natsfeed.Conn) error {
			r, err := alerts.New(alerts.Config{MovePct: *movePct, MoveWindow: *moveWindow, VolumeFactor: *volFactor,
				StallAfter: *stall, Cooldown: *cooldown, Logger: logger})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "alerts: market.*, analytics.* → alert.*, users' price alerts → user.* on %s\n", *url)
			return runGroup(ctx,
				func(ctx context.Context) error { return r.Run(ctx, bus, bus) },
				func(ctx context.Context) error { return (&alerts.PriceAlerts{NC: bus.NATS(), Log: logger}).Run(ctx) })
		}
	case "replay":
		file := fs.String("file", "", "CSV file with a time,symbol,price,bid,ask,size,volume header (default: the built-in sample)")
		speed := fs.Float64("speed", 1, "replay speed: 10 plays ten times faster")
		loop := fs.Bool("loop", false, "start again at the end, forever")
		keep := fs.Bool("keep-time", false, "publish the recorded times instead of the current time")
		run = func(ctx context.Context, bus *natsfeed.Conn) error {
			data, src := replay.Sample, "the built-in sample"
			if *file != "" {
				var err error
				if data, err = os.ReadFile(*file); err != nil {
					return err
				}
				src = *file
			}
			ticks, err := replay.ReadCSV(bytes.NewReader(data))
			if err != nil {
				return fmt.Errorf("%s: %w", src, err)
			}
			p, err := replay.New(replay.Config{Ticks: ticks, Speed: *speed, Loop: *loop, KeepTime: *keep, Logger: logger})
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "replay: %d ticks from %s at %g× to %s\n", len(ticks), src, *speed, *url)
			return p.Run(ctx, bus)
		}
	default:
		return fmt.Errorf("unknown feed %q: want one of %s", name, strings.Join(Names, ", "))
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("tickroom feed %s: unexpected argument %q", name, fs.Arg(0))
	}
	opts := []nats.Option{nats.Name("tickroom-feed-" + name), nats.MaxReconnects(-1),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				logger.Warn("NATS disconnected", "err", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) { logger.Info("NATS reconnected", "url", c.ConnectedUrl()) })}
	nc, err := connectWithin(ctx, *url, *natsWait, opts)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS at %s (is `tickroom run` or a nats-server up?): %w", *url, err)
	}
	defer nc.Close()
	runErr := run(ctx, natsfeed.New(nc))
	if err := nc.FlushTimeout(5 * time.Second); err != nil && runErr == nil && ctx.Err() == nil {
		runErr = fmt.Errorf("flushing to NATS: %w", err)
	}
	return runErr
}

// ParseSymbols parses the -symbols flag: comma-separated names from the
// default universe, or NAME=price for a new equity-like symbol (a known
// NAME=price starts the known symbol at that price). Empty means nil (the
// default universe).
func ParseSymbols(s string) ([]market.Symbol, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	known := map[string]market.Symbol{}
	for _, sy := range market.DefaultUniverse() {
		known[strings.ToUpper(sy.Name)] = sy
	}
	var out []market.Symbol
	for _, item := range strings.Split(s, ",") {
		name, priceStr, hasPrice := strings.Cut(strings.TrimSpace(item), "=")
		if !protocol.ValidToken(name) {
			return nil, fmt.Errorf("-symbols: %q is not a symbol of [A-Za-z0-9_-]", name)
		}
		sy, ok := known[strings.ToUpper(name)]
		if !ok {
			sy = market.Symbol{Name: name, Class: market.Equity}
			if !hasPrice {
				return nil, fmt.Errorf("-symbols: %s is not built in: give its price as %s=42.5", name, name)
			}
		}
		if hasPrice {
			p, err := strconv.ParseFloat(priceStr, 64)
			if err != nil || !(p > 0) || math.IsInf(p, 0) {
				return nil, fmt.Errorf("-symbols: %s: price %q must be a number > 0", name, priceStr)
			}
			sy.Price = p
		}
		out = append(out, sy)
	}
	return out, nil
}

// connectWithin retries the first connection until it succeeds, wait has
// passed or ctx ends; it returns the last error.
func connectWithin(ctx context.Context, url string, wait time.Duration, opts []nats.Option) (*nats.Conn, error) {
	deadline := time.Now().Add(wait)
	for {
		nc, err := nats.Connect(url, opts...)
		if err == nil || time.Now().After(deadline) {
			return nc, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(250 * time.Millisecond):
		}
	}
}
