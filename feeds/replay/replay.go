// Package replay publishes recorded ticks from a CSV file on
// market.<SYMBOL>, at the original pace or faster: the bridge from real
// data to tickroom.
//
// # File format
//
// UTF-8 CSV with a header row naming the columns, in any order:
//
//	time,symbol,price,bid,ask,size,volume
//	2026-11-26T14:30:00.250Z,AAPL,228.51,228.50,228.52,100,100
//
// time (RFC 3339, or unix milliseconds), symbol and price are required;
// bid, ask, size and volume may be absent or empty. Rows are replayed in
// file order; the wait between two rows is the difference of their times
// divided by the speed (a time going backwards waits nothing).
package replay

import (
	"context"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/lograte"
)

// Sample is a small recording of the simulated market (four symbols, a few
// hundred rows), the default file of `tickroom feed replay`.
//
//go:embed testdata/ticks.csv
var Sample []byte

// Columns is the header WriteCSV writes and ReadCSV understands.
var Columns = []string{"time", "symbol", "price", "bid", "ask", "size", "volume"}

// MaxRows bounds what ReadCSV loads.
const MaxRows = 10_000_000

// ReadCSV reads ticks from r. Every row must make a valid tick (see
// feeds.Tick.Validate); the error names the first bad line.
func ReadCSV(r io.Reader) ([]feeds.Tick, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	head, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("replay: empty file: want a header row " + strings.Join(Columns, ","))
	}
	if err != nil {
		return nil, fmt.Errorf("replay: header: %w", err)
	}
	col := map[string]int{}
	for i, name := range head {
		name = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(name, "\uFEFF")))
		if _, dup := col[name]; dup {
			return nil, fmt.Errorf("replay: header: column %q twice", name)
		}
		col[name] = i
	}
	for _, need := range Columns[:3] {
		if _, ok := col[need]; !ok {
			return nil, fmt.Errorf("replay: header: no %q column (want %s)", need, strings.Join(Columns, ","))
		}
	}
	var ticks []feeds.Tick
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return ticks, nil
		}
		if err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if len(ticks) >= MaxRows {
			return nil, fmt.Errorf("replay: more than %d rows", MaxRows)
		}
		field := func(name string) string {
			if i, ok := col[name]; ok && i < len(rec) {
				return strings.TrimSpace(rec[i])
			}
			return ""
		}
		tk := feeds.Tick{Symbol: field("symbol")}
		if tk.Time.Time, err = parseTime(field("time")); err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", line, err)
		}
		for _, f := range []struct {
			name     string
			v        *float64
			optional bool
		}{{"price", &tk.Price, false}, {"bid", &tk.Bid, true}, {"ask", &tk.Ask, true}, {"size", &tk.Size, true}, {"volume", &tk.Volume, true}} {
			s := field(f.name)
			if s == "" && f.optional {
				continue
			}
			if *f.v, err = strconv.ParseFloat(s, 64); err != nil {
				return nil, fmt.Errorf("replay: line %d: %s %q is not a number", line, f.name, s)
			}
		}
		if err := tk.Validate(); err != nil {
			return nil, fmt.Errorf("replay: line %d: %w", line, err)
		}
		ticks = append(ticks, tk)
	}
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, errors.New("empty time")
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	ms, err := strconv.ParseInt(s, 10, 64)
	if err != nil || ms < 0 || ms > 1e15 {
		return time.Time{}, fmt.Errorf("time %q is neither RFC 3339 nor unix milliseconds", s)
	}
	return time.UnixMilli(ms).UTC(), nil
}

// WriteCSV writes ticks in the format ReadCSV reads (times in RFC 3339 with
// milliseconds, UTC; absent values empty).
func WriteCSV(w io.Writer, ticks []feeds.Tick) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(Columns); err != nil {
		return err
	}
	num := func(v float64) string {
		if v == 0 {
			return ""
		}
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	for _, tk := range ticks {
		rec := []string{feeds.FormatTime(tk.Time.Time), tk.Symbol, num(tk.Price), num(tk.Bid), num(tk.Ask), num(tk.Size), num(tk.Volume)}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// Config configures a Replayer. Zero fields mean the documented defaults.
type Config struct {
	// Ticks to replay, in order. Required.
	Ticks []feeds.Tick
	// Speed multiplies the original pace: 10 replays ten times faster.
	// Zero means 1; it must be > 0. math.Inf(1) means no waiting at all.
	Speed float64
	// Loop starts again from the first row after the last, forever.
	Loop bool
	// KeepTime publishes each tick with its recorded time. By default
	// (false) a tick is stamped with the time it is published, so a
	// replay looks live to the dashboard and the analytics.
	KeepTime bool
	// Logger receives publish errors, at a bounded rate. Nil discards.
	Logger *slog.Logger
}

// Replayer publishes recorded ticks.
type Replayer struct{ cfg Config }

// New validates cfg and returns a Replayer.
func New(cfg Config) (*Replayer, error) {
	if cfg.Speed == 0 {
		cfg.Speed = 1
	}
	if !(cfg.Speed > 0) {
		return nil, fmt.Errorf("replay: speed %v must be > 0", cfg.Speed)
	}
	if len(cfg.Ticks) == 0 {
		return nil, errors.New("replay: no ticks")
	}
	for i, tk := range cfg.Ticks {
		if err := tk.Validate(); err != nil {
			return nil, fmt.Errorf("replay: tick %d: %w", i, err)
		}
	}
	return &Replayer{cfg: cfg}, nil
}

// Run publishes the ticks on market.<SYMBOL> at the recorded pace divided
// by Speed. It returns nil when the ticks are done (never with Loop) or
// ctx is done. Publish errors are logged and skipped. Run starts no
// goroutine.
func (p *Replayer) Run(ctx context.Context, pub feeds.Publisher) error {
	if pub == nil {
		return errors.New("replay: nil publisher")
	}
	errLog := &lograte.Limiter{Logger: p.cfg.Logger}
	ticks := p.cfg.Ticks
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		// Waits are measured from an anchor, so they do not drift.
		start := time.Now()
		var elapsed time.Duration // recorded time since the first row
		for i, tk := range ticks {
			if i > 0 {
				if d := tk.Time.Sub(ticks[i-1].Time.Time); d > 0 {
					elapsed += d
				}
			}
			if !math.IsInf(p.cfg.Speed, 1) {
				due := start.Add(time.Duration(float64(elapsed) / p.cfg.Speed))
				if wait := time.Until(due); wait > 0 {
					timer.Reset(wait)
					select {
					case <-ctx.Done():
						return nil
					case <-timer.C:
					}
				}
			}
			if ctx.Err() != nil {
				return nil
			}
			if !p.cfg.KeepTime {
				tk.Time = feeds.Time{Time: time.Now().UTC().Truncate(time.Millisecond)}
			}
			data, err := json.Marshal(tk)
			if err == nil {
				err = pub.Publish(feeds.Subject(feeds.KindMarket, tk.Symbol), data)
			}
			if err != nil {
				errLog.Error("replay: publish failed", "symbol", tk.Symbol, "err", err)
			}
		}
		if !p.cfg.Loop {
			return nil
		}
		// Leave the usual gap before the first row again.
		if len(ticks) > 1 {
			gap := ticks[len(ticks)-1].Time.Sub(ticks[0].Time.Time) / time.Duration(len(ticks)-1)
			if !math.IsInf(p.cfg.Speed, 1) && gap > 0 {
				timer.Reset(time.Duration(float64(gap) / p.cfg.Speed))
				select {
				case <-ctx.Done():
					return nil
				case <-timer.C:
				}
			}
		}
	}
}
