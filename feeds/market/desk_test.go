package market

import (
	"context"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/internal/bars"
	"github.com/tickroom/tickroom/internal/protocol"
)

func TestRefDecimals(t *testing.T) {
	want := map[string]struct {
		decimals int
		currency string
		class    string
	}{
		"EURUSD": {5, "USD", "fx"}, "USDJPY": {3, "JPY", "fx"}, "GBPUSD": {5, "USD", "fx"},
		"DOGEUSD": {5, "USD", "crypto"}, "XRPUSD": {4, "USD", "crypto"}, "BTCUSD": {2, "USD", "crypto"},
		"AAPL": {2, "USD", "equity"}, "SPY": {2, "USD", "equity"},
	}
	s := mustNew(t, Config{Seed: 1, Start: start})
	seen := 0
	for _, sym := range s.Symbols() {
		ref := sym.Ref()
		data, _ := json.Marshal(ref)
		if _, err := protocol.ValidatePayload("ref."+sym.Name, data); err != nil {
			t.Errorf("%s: %s: %v", sym.Name, data, err)
		}
		if ref.Name == "" || ref.Name == sym.Name {
			t.Errorf("%s: no display name", sym.Name)
		}
		w, ok := want[sym.Name]
		if !ok {
			continue
		}
		seen++
		if ref.PriceDecimals != w.decimals || ref.Currency != w.currency || ref.AssetClass != w.class {
			t.Errorf("%s: %+v, want %d decimals, %s, %s", sym.Name, ref, w.decimals, w.currency, w.class)
		}
	}
	if seen != len(want) {
		t.Fatalf("checked %d of %d symbols", seen, len(want))
	}
	// A symbol outside the built-in table.
	ref := Symbol{Name: "DEMO", Price: 42.5, TickSize: 0.005}.Defaults().Ref()
	if ref.Name != "DEMO" || ref.PriceDecimals != 3 || ref.Currency != "USD" {
		t.Errorf("DEMO: %+v", ref)
	}
}

// Every tick's book has the tick's quote on top, ten levels a side, and
// passes the gateway's book rules.
func TestBookConsistency(t *testing.T) {
	s := mustNew(t, Config{Seed: 21, Start: start})
	for i := 0; i < 20000; i++ {
		tk := s.Next()
		b, ok := s.Book(tk.Symbol)
		if !ok {
			t.Fatalf("no book for %s", tk.Symbol)
		}
		if len(b.Bids) != DefaultBookLevels || len(b.Asks) != DefaultBookLevels {
			t.Fatalf("%s: %d bids, %d asks", tk.Symbol, len(b.Bids), len(b.Asks))
		}
		if b.Bids[0] != (feeds.Level{tk.Bid, tk.BidSize}) || b.Asks[0] != (feeds.Level{tk.Ask, tk.AskSize}) {
			t.Fatalf("%s: top %v / %v, tick %v×%v / %v×%v", tk.Symbol, b.Bids[0], b.Asks[0], tk.Bid, tk.BidSize, tk.Ask, tk.AskSize)
		}
		if !b.Time.Equal(tk.Time.Time) || b.Symbol != tk.Symbol {
			t.Fatalf("book %s at %v for tick %s at %v", b.Symbol, b.Time, tk.Symbol, tk.Time)
		}
		if tk.BidSize <= 0 || tk.AskSize <= 0 {
			t.Fatalf("quote sizes %v %v", tk.BidSize, tk.AskSize)
		}
		if i%97 == 0 {
			data, _ := json.Marshal(b)
			if _, err := protocol.ValidatePayload("book."+b.Symbol, data); err != nil {
				t.Fatalf("%s: %v", data, err)
			}
			td, _ := json.Marshal(tk)
			if _, err := protocol.ValidatePayload("market."+tk.Symbol, td); err != nil || !strings.Contains(string(td), `"bid_size":`) {
				t.Fatalf("%s: %v", td, err)
			}
		}
	}
}

// Books draw from their own source: the price path is the one a Sim
// without books makes.
func TestBooksDoNotMoveThePricePath(t *testing.T) {
	a := mustNew(t, Config{Seed: 4, Start: start})
	b := mustNew(t, Config{Seed: 4, Start: start, NoBooks: true, BookLevels: 3})
	for i := 0; i < 5000; i++ {
		ta, tb := a.Next(), b.Next()
		if ta.Price != tb.Price || ta.Bid != tb.Bid || ta.Time != tb.Time {
			t.Fatalf("tick %d: %+v vs %+v", i, ta, tb)
		}
	}
	if _, ok := b.Book("AAPL"); ok {
		t.Fatal("NoBooks has a book")
	}
}

func TestBackfill(t *testing.T) {
	end := time.Date(2026, 12, 1, 10, 37, 0, 0, time.UTC)
	for _, sym := range []Symbol{DefaultUniverse()[0], DefaultUniverse()[10], DefaultUniverse()[18]} {
		sym = sym.Defaults()
		sym.Rate = 4
		endPrice := round(sym.Price*1.001, decimals(sym.TickSize))
		h := Backfill(sym, 99, end, endPrice, 500)
		dec := decimals(sym.TickSize)
		for k, iv := range Intervals {
			bs := h.Closed[k]
			if len(bs) < 500 {
				t.Fatalf("%s %s: %d bars", sym.Name, iv.Name, len(bs))
			}
			for i, b := range bs {
				if !b.Start.Equal(bars.Floor(b.Start, iv.D)) || b.Start.Add(iv.D).After(end) {
					t.Fatalf("%s %s bar %d: start %v not a closed window before %v", sym.Name, iv.Name, i, b.Start, end)
				}
				if !(b.Low > 0 && b.Low <= math.Min(b.Open, b.Close) && b.High >= math.Max(b.Open, b.Close) && b.Volume > 0) {
					t.Fatalf("%s %s bar %d: implausible %+v", sym.Name, iv.Name, i, b)
				}
				for _, p := range []float64{b.Open, b.High, b.Low, b.Close} {
					if p != round(p, dec) {
						t.Fatalf("%s %s: price %v off the tick grid", sym.Name, iv.Name, p)
					}
				}
				if i > 0 {
					if !b.Start.Equal(bs[i-1].Start.Add(iv.D)) {
						t.Fatalf("%s %s: gap after %v", sym.Name, iv.Name, bs[i-1].Start)
					}
					if b.Open != bs[i-1].Close {
						t.Fatalf("%s %s bar %d opens at %v, previous closed at %v", sym.Name, iv.Name, i, b.Open, bs[i-1].Close)
					}
				}
			}
			// Each coarser bar that finer bars cover is their aggregate.
			if k > 0 {
				agg := map[time.Time]bars.Bar{}
				for _, b := range bars.Aggregate(h.Closed[k-1], iv.D) {
					agg[b.Start] = b
				}
				covered := 0
				for _, b := range bs {
					if b.Start.Before(h.Closed[k-1][0].Start) {
						continue
					}
					covered++
					if a := agg[b.Start]; a != b {
						t.Fatalf("%s %s at %v: %+v, finer bars give %+v", sym.Name, iv.Name, b.Start, b, a)
					}
				}
				if covered == 0 {
					t.Fatalf("%s %s: no bar covered by %s bars", sym.Name, iv.Name, Intervals[k-1].Name)
				}
			}
		}
		last := h.Closed[0][len(h.Closed[0])-1]
		if last.Close != endPrice || !last.Start.Add(time.Minute).Equal(end) {
			t.Fatalf("%s: last 1m bar %+v, want a close of %v at %v", sym.Name, last, endPrice, end)
		}
		// The windows holding End: 10:35 (5m), 10:30 (15m), 10:00 (1h), 00:00 (1D),
		// each closing at the end price and opening where the previous bar closed.
		for k, want := range []string{"", "10:35", "10:30", "10:00", "00:00"} {
			p := h.Partial[k]
			if k == 0 {
				if p.Ok {
					t.Fatalf("1m partial at a minute boundary")
				}
				continue
			}
			prev := h.Closed[k][len(h.Closed[k])-1]
			if !p.Ok || p.Bar.Start.Format("15:04") != want || p.Bar.Close != endPrice || p.Bar.Open != prev.Close {
				t.Fatalf("%s %s partial %+v ok=%v, previous close %v", sym.Name, Intervals[k].Name, p.Bar, p.Ok, prev.Close)
			}
		}
		if again := Backfill(sym, 99, end, endPrice, 500); !reflect.DeepEqual(again, h) {
			t.Fatalf("%s: not deterministic", sym.Name)
		}
		if other := Backfill(sym, 100, end, endPrice, 500); reflect.DeepEqual(other.Closed[4], h.Closed[4]) {
			t.Fatalf("%s: another seed gave the same days", sym.Name)
		}
	}
}

// Live closed bars continue the backfill: the first live minute opens at the
// last historic close, and a coarse window that began in the history closes
// with the history's part in it.
func TestLiveBarsContinueTheBackfill(t *testing.T) {
	t0 := time.Date(2026, 12, 1, 10, 37, 20, 0, time.UTC)
	s := mustNew(t, Config{Seed: 8, Start: t0, Symbols: DefaultUniverse()[:1], History: 500})
	byIv := map[string][]feeds.Candle{}
	var first feeds.Tick
	var out []outMsg
	for {
		st, tk := s.next()
		if first.Symbol == "" {
			first = tk
		}
		out = s.storeBars(st, tk, out[:0])
		for _, m := range out {
			iv := m.subject[strings.LastIndexByte(m.subject, '.')+1:]
			var batch BarBatch
			if err := json.Unmarshal(m.data, &batch); err == nil && len(batch.Bars) > 0 {
				byIv[iv] = append(byIv[iv], batch.Bars...)
				continue
			}
			var c feeds.Candle
			if err := json.Unmarshal(m.data, &c); err != nil || c.Interval != iv || c.Symbol != "AAPL" {
				t.Fatalf("%s: %s (%v)", m.subject, m.data, err)
			}
			byIv[iv] = append(byIv[iv], c)
		}
		if tk.Time.After(t0.Add(90 * time.Minute)) {
			break
		}
	}
	m1 := byIv["1m"]
	end := t0.Truncate(time.Minute)
	var hist, live []feeds.Candle
	for _, c := range m1 {
		if c.Start.Before(end) {
			hist = append(hist, c)
		} else {
			live = append(live, c)
		}
	}
	if len(hist) < 500 || len(live) < 85 {
		t.Fatalf("%d historic and %d live 1m bars", len(hist), len(live))
	}
	if h, l := hist[len(hist)-1], live[0]; h.Close != first.Price || l.Open != first.Price || !l.Start.Equal(end) {
		t.Fatalf("seam: last historic %+v, first live %+v, first tick %v", h, l, first.Price)
	}
	// The 1h window 10:00–11:00 began in the history and closed live: its
	// open is the historic 10:00 open, its close the live 10:59 close.
	var hour feeds.Candle
	for _, c := range byIv["1h"] {
		if c.Start.Equal(time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)) {
			hour = c
		}
	}
	var h10, l1059 feeds.Candle
	for _, c := range m1 {
		switch c.Start.Format("15:04") {
		case "10:59":
			l1059 = c
		}
	}
	for _, c := range byIv["15m"] {
		if c.Start.Format("15:04") == "10:00" {
			h10 = c
		}
	}
	if hour.Symbol == "" || hour.Open != h10.Open || hour.Close != l1059.Close || hour.High < l1059.High || hour.Volume <= l1059.Volume {
		t.Fatalf("1h 10:00 %+v; 15m 10:00 %+v; 1m 10:59 %+v", hour, h10, l1059)
	}
}

func TestRunPublishesDeskData(t *testing.T) {
	s := mustNew(t, Config{Seed: 9, Rate: 50, Symbols: DefaultUniverse()[10:12], History: 500})
	rec := &recorder{msgs: map[string][][]byte{}, full: make(chan struct{}), want: 40}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, rec) }()
	select {
	case <-rec.full:
	case <-time.After(10 * time.Second):
		t.Fatal("no 40 ticks in 10s")
	}
	cancel()
	<-done
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var ref feeds.Ref
	if refs := rec.msgs["ref.EURUSD"]; len(refs) == 0 || json.Unmarshal(refs[0], &ref) != nil || ref.PriceDecimals != 5 {
		t.Fatalf("ref.EURUSD: %q", refs)
	}
	for _, iv := range Intervals {
		msgs := rec.msgs["bars.EURUSD."+iv.Name]
		var batch BarBatch
		if len(msgs) == 0 || json.Unmarshal(msgs[0], &batch) != nil || len(batch.Bars) < 500 {
			t.Fatalf("bars.EURUSD.%s: %d messages, first has %d bars", iv.Name, len(msgs), len(batch.Bars))
		}
	}
	books, ticks := rec.msgs["book.EURUSD"], rec.msgs["market.EURUSD"]
	if len(books) != len(ticks) {
		t.Fatalf("%d books for %d ticks", len(books), len(ticks))
	}
	var b feeds.Book
	tk, err := feeds.DecodeTick("market.EURUSD", ticks[len(ticks)-1])
	if err != nil || json.Unmarshal(books[len(books)-1], &b) != nil || b.Bids[0][0] != tk.Bid || b.Asks[0][0] != tk.Ask {
		t.Fatalf("last book %s, last tick %s (%v)", books[len(books)-1], ticks[len(ticks)-1], err)
	}
}
