package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/protocol"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/alerts"
	"github.com/tickroom/tickroom/feeds/analytics"
	"github.com/tickroom/tickroom/feeds/internal/natstest"
	"github.com/tickroom/tickroom/feeds/market"
	"github.com/tickroom/tickroom/feeds/producer"
	"github.com/tickroom/tickroom/feeds/replay"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// sink records every message on a subject pattern.
type sink struct {
	mu   sync.Mutex
	msgs []*nats.Msg
}

func record(t *testing.T, nc *nats.Conn, subject string) *sink {
	t.Helper()
	s := &sink{}
	sub, err := nc.Subscribe(subject, func(m *nats.Msg) {
		s.mu.Lock()
		s.msgs = append(s.msgs, m)
		s.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sub.Unsubscribe() })
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return s
}

func (s *sink) on(subject string) []*nats.Msg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*nats.Msg
	for _, m := range s.msgs {
		if protocol.Match(subject, m.Subject) {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it holds or 10 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// The all-in-one wiring on a real nats-server: the simulated market flows
// into analytics and candles; an outside producer's ticks flow into
// analytics, candles and a move alert, then a stall alert.
func TestRunWithOnNATS(t *testing.T) {
	srv := natstest.RunServer(t)
	nc := natstest.Connect(t, srv)
	watch := natstest.Connect(t, srv)
	all := record(t, watch, ">")

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- RunWith(ctx, nc, Options{
			Market:    market.Config{Seed: 1, Rate: 20, Symbols: market.DefaultUniverse()[:3]},
			Analytics: analytics.Config{AnalyticsEvery: 50 * time.Millisecond, CandleEvery: 50 * time.Millisecond},
			Alerts:    alerts.Config{StallAfter: time.Second},
		})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("RunWith: %v", err)
		}
	}()

	waitFor(t, "market, analytics and candle for AAPL", func() bool {
		return len(all.on("market.AAPL")) > 0 && len(all.on("analytics.AAPL")) > 0 && len(all.on("candle.AAPL")) > 0
	})

	p, err := producer.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// Wait until the feeds' subscriptions are in place: the analytics of
	// the first DEMO tick show it.
	base := time.Now()
	send := func(price float64, at time.Time) {
		t.Helper()
		if err := p.Tick(ctx, producer.Tick{Symbol: "DEMO", Price: price, Size: 10, Time: feeds.Time{Time: at}}); err != nil {
			t.Fatal(err)
		}
	}
	send(100, base)
	waitFor(t, "analytics.DEMO", func() bool { return len(all.on("analytics.DEMO")) > 0 })
	for i := 1; i <= 5; i++ {
		send(100+float64(i)*0.6, base.Add(time.Duration(i)*10*time.Millisecond))
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	// +1.2% at the second tick (warn), +2.4% at the fourth (critical).
	waitFor(t, "a move alert for DEMO", func() bool {
		for _, m := range all.on("alert.DEMO") {
			var a feeds.Alert
			if json.Unmarshal(m.Data, &a) == nil && strings.HasPrefix(a.Text, "DEMO +2.4% in under 1s (100 → 102.4)") && a.Level == feeds.LevelCritical {
				return true
			}
		}
		return false
	})
	waitFor(t, "a stall alert for DEMO", func() bool {
		for _, m := range all.on("alert.DEMO") {
			if strings.Contains(string(m.Data), "DEMO feed stalled") {
				return true
			}
		}
		return false
	})
	cs := all.on("candle.DEMO")
	var c feeds.Candle
	if err := json.Unmarshal(cs[len(cs)-1].Data, &c); err != nil {
		t.Fatal(err)
	}
	if c.Open != 100 || c.High != 103 || c.Interval != "1m" {
		t.Errorf("DEMO candle %+v", c)
	}
	// Everything the feeds published passes the feeds' own decoding.
	for _, m := range all.on("market.*") {
		if _, err := feeds.DecodeTick(m.Subject, m.Data); err != nil {
			t.Errorf("%s: %v", m.Subject, err)
		}
	}
}

func TestMainMarketAndReplay(t *testing.T) {
	srv := natstest.RunServer(t)
	watch := natstest.Connect(t, srv)
	all := record(t, watch, "market.>")
	url := srv.ClientURL()

	// market: runs until cancelled.
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut bytes.Buffer
	done := make(chan error, 1)
	go func() {
		done <- Main(ctx, "market", []string{"-nats", url, "-seed", "3", "-rate", "50", "-symbols", "AAPL,DEMO=42.5"}, &out, &errOut)
	}()
	waitFor(t, "market.DEMO", func() bool { return len(all.on("market.DEMO")) > 0 && len(all.on("market.AAPL")) > 0 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("market: %v (stderr %s)", err, errOut.String())
	}
	if !strings.Contains(out.String(), "publishing 2 symbols") {
		t.Errorf("stdout %q", out.String())
	}

	// replay: plays the built-in sample and returns.
	ticks, err := replay.ReadCSV(bytes.NewReader(replay.Sample))
	if err != nil {
		t.Fatal(err)
	}
	rec := record(t, watch, "market.>")
	if err := Main(context.Background(), "replay", []string{"-nats", url, "-speed", "1e9", "-keep-time"}, &out, &errOut); err != nil {
		t.Fatalf("replay: %v", err)
	}
	waitFor(t, "every replayed tick", func() bool { return len(rec.on("market.>")) == len(ticks) })
	for i, m := range rec.on("market.>") {
		tk, err := feeds.DecodeTick(m.Subject, m.Data)
		if err != nil || tk != ticks[i] {
			t.Fatalf("row %d: %+v (%v), want %+v", i, tk, err, ticks[i])
		}
	}
}

func TestMainErrors(t *testing.T) {
	ctx := context.Background()
	var out, errOut bytes.Buffer
	if err := Main(ctx, "bogus", nil, &out, &errOut); err == nil || !strings.Contains(err.Error(), "market, analytics, alerts, replay") {
		t.Errorf("unknown feed: %v", err)
	}
	if err := Main(ctx, "market", []string{"-h"}, &out, &errOut); !errors.Is(err, flag.ErrHelp) || !strings.Contains(errOut.String(), "-symbols") {
		t.Errorf("-h: %v, usage %q", err, errOut.String())
	}
	if err := Main(ctx, "alerts", []string{"-nats", "nats://127.0.0.1:1", "-nats-wait", "300ms"}, &out, &errOut); err == nil || !strings.Contains(err.Error(), "cannot connect") {
		t.Errorf("no server: %v", err)
	}
	if err := Main(ctx, "replay", []string{"-file", "/nonexistent.csv", "-nats", "nats://127.0.0.1:1", "-nats-wait", "300ms"}, &out, &errOut); err == nil {
		t.Error("replay of a missing file did not fail")
	}
}

func TestParseSymbols(t *testing.T) {
	syms, err := ParseSymbols("AAPL, btcusd ,DEMO=42.5,MSFT=500")
	if err != nil {
		t.Fatal(err)
	}
	if len(syms) != 4 || syms[0].Name != "AAPL" || syms[1].Name != "BTCUSD" || syms[1].Class != market.Crypto ||
		syms[2].Name != "DEMO" || syms[2].Price != 42.5 || syms[3].Price != 500 {
		t.Errorf("%+v", syms)
	}
	for _, bad := range []string{"NOPE", "DEMO=abc", "DEMO=-1", "A.B=1", "AAPL,,MSFT"} {
		if _, err := ParseSymbols(bad); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	if syms, err := ParseSymbols(""); err != nil || syms != nil {
		t.Errorf("empty: %v %v", syms, err)
	}
}
