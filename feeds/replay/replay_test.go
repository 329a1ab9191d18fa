package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tickroom/tickroom/feeds"
	"github.com/tickroom/tickroom/feeds/market"
	"github.com/tickroom/tickroom/feeds/memfeed"
)

var update = flag.Bool("update", false, "regenerate testdata/ticks.csv from the simulator")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestSample checks the shipped sample; with -update it first regenerates
// it: 100 seconds of four symbols of the simulated market at 1 tick/s.
func TestSample(t *testing.T) {
	if *update {
		var syms []market.Symbol
		for _, s := range market.DefaultUniverse() {
			switch s.Name {
			case "AAPL", "TSLA", "EURUSD", "BTCUSD":
				syms = append(syms, s)
			}
		}
		start := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
		sim, err := market.New(market.Config{Seed: 2026, Start: start, Symbols: syms, Rate: 1})
		if err != nil {
			t.Fatal(err)
		}
		var ticks []feeds.Tick
		for tk := sim.Next(); tk.Time.Sub(start) < 100*time.Second; tk = sim.Next() {
			ticks = append(ticks, tk)
		}
		var buf bytes.Buffer
		if err := WriteCSV(&buf, ticks); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("testdata/ticks.csv", buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %d rows", len(ticks))
	}
	file, err := os.ReadFile("testdata/ticks.csv")
	if err != nil {
		t.Fatal(err)
	}
	ticks, err := ReadCSV(bytes.NewReader(file))
	if err != nil {
		t.Fatal(err)
	}
	if len(ticks) < 200 || len(ticks) > 1000 {
		t.Errorf("sample has %d rows, want a few hundred", len(ticks))
	}
	// The embedded copy is the file (rebuild after -update).
	if !*update && !bytes.Equal(Sample, file) {
		t.Error("embedded Sample differs from testdata/ticks.csv")
	}
	// WriteCSV ∘ ReadCSV is the identity on the sample.
	var buf bytes.Buffer
	if err := WriteCSV(&buf, ticks); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), file) {
		t.Error("WriteCSV(ReadCSV(sample)) differs from the sample")
	}
}

func TestReadCSV(t *testing.T) {
	in := "\uFEFFsymbol, price ,time,size\n" +
		"AAPL,228.5,2026-11-26T14:30:00.250Z,100\n" +
		"DEMO,42.5,1795703400000,\n"
	ticks, err := ReadCSV(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	want := []feeds.Tick{
		{Symbol: "AAPL", Price: 228.5, Size: 100, Time: feeds.Time{Time: time.Date(2026, 11, 26, 14, 30, 0, 250e6, time.UTC)}},
		{Symbol: "DEMO", Price: 42.5, Time: feeds.Time{Time: time.UnixMilli(1795703400000).UTC()}},
	}
	if len(ticks) != 2 || ticks[0] != want[0] || ticks[1] != want[1] {
		t.Fatalf("got %+v\nwant %+v", ticks, want)
	}
	for _, bad := range []string{
		"",
		"symbol,price\nAAPL,1\n",
		"time,symbol,price,price\n",
		"time,symbol,price\n2026-11-26T14:30:00Z,AAPL,abc\n",
		"time,symbol,price\n2026-11-26T14:30:00Z,AAPL,-1\n",
		"time,symbol,price\n2026-11-26T14:30:00Z,AAPL,NaN\n",
		"time,symbol,price\n2026-11-26T14:30:00Z,BAD.SYM,1\n",
		"time,symbol,price\nyesterday,AAPL,1\n",
		"time,symbol,price\n,AAPL,1\n",
		"time,symbol,price,size\n2026-11-26T14:30:00Z,AAPL,1,-5\n",
		"time,symbol,price\n2026-11-26T14:30:00Z,AAPL\n",
	} {
		if _, err := ReadCSV(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
	_, err = ReadCSV(strings.NewReader("time,symbol,price\n2026-11-26T14:30:00Z,AAPL,1\n2026-11-26T14:30:01Z,AAPL,x\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error %v does not name line 3", err)
	}
}

type recorder struct {
	mu   sync.Mutex
	msgs []memfeed.Msg
}

func (r *recorder) Publish(s string, d []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.msgs = append(r.msgs, memfeed.Msg{Subject: s, Data: append([]byte(nil), d...)})
	return nil
}

func TestRunOrderAndCount(t *testing.T) {
	ticks, err := ReadCSV(bytes.NewReader(Sample))
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []bool{true, false} {
		p, err := New(Config{Ticks: ticks, Speed: 1e9, KeepTime: keep})
		if err != nil {
			t.Fatal(err)
		}
		rec := &recorder{}
		before := time.Now().UTC().Truncate(time.Millisecond)
		if err := p.Run(context.Background(), rec); err != nil {
			t.Fatal(err)
		}
		if len(rec.msgs) != len(ticks) {
			t.Fatalf("published %d of %d", len(rec.msgs), len(ticks))
		}
		for i, m := range rec.msgs {
			got, err := feeds.DecodeTick(m.Subject, m.Data)
			if err != nil {
				t.Fatal(err)
			}
			want := ticks[i]
			if keep {
				if got != want {
					t.Fatalf("row %d: %+v, want %+v", i, got, want)
				}
				continue
			}
			if got.Time.Before(before) || got.Time.After(time.Now()) {
				t.Fatalf("row %d not stamped with the publish time: %v", i, got.Time)
			}
			got.Time = want.Time
			if got != want {
				t.Fatalf("row %d: %+v, want %+v", i, got, want)
			}
		}
	}
}

// Speed scales the waits: 3 rows 1 s apart at speed 20 take about 100ms.
func TestRunPace(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var ticks []feeds.Tick
	for i := 0; i < 3; i++ {
		ticks = append(ticks, feeds.Tick{Symbol: "X", Price: 1, Time: feeds.Time{Time: t0.Add(time.Duration(i) * time.Second)}})
	}
	p, _ := New(Config{Ticks: ticks, Speed: 20})
	start := time.Now()
	if err := p.Run(context.Background(), &recorder{}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 95*time.Millisecond || d > 2*time.Second {
		t.Errorf("took %v, want about 100ms", d)
	}
}

func TestLoopStopsOnCancel(t *testing.T) {
	ticks, _ := ReadCSV(bytes.NewReader(Sample))
	p, _ := New(Config{Ticks: ticks, Speed: math.Inf(1), Loop: true})
	rec := &recorder{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, rec) }()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		rec.mu.Lock()
		n := len(rec.msgs)
		rec.mu.Unlock()
		if n > 2*len(ticks) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("loop did not go round twice")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	var first feeds.Tick
	_ = json.Unmarshal(rec.msgs[len(ticks)].Data, &first)
	if first.Symbol != ticks[0].Symbol || first.Price != ticks[0].Price {
		t.Errorf("second round starts with %+v", first)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := []feeds.Tick{{Symbol: "X", Price: 1}}
	for _, cfg := range []Config{{}, {Ticks: ok, Speed: -1}, {Ticks: ok, Speed: math.NaN()}, {Ticks: []feeds.Tick{{Symbol: "X"}}}} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New accepted %+v", cfg)
		}
	}
}

func FuzzReadCSV(f *testing.F) {
	f.Add(string(Sample[:min(len(Sample), 600)]))
	f.Add("time,symbol,price\n1795703400000,A,1\n")
	f.Add("symbol,price,time,bid\n\"A\",1e308,2026-11-26T14:30:00Z,\n")
	f.Fuzz(func(t *testing.T, in string) {
		ticks, err := ReadCSV(strings.NewReader(in))
		if err != nil {
			return
		}
		for _, tk := range ticks {
			if err := tk.Validate(); err != nil {
				t.Fatalf("ReadCSV returned an invalid tick %+v: %v", tk, err)
			}
			if _, err := json.Marshal(tk); err != nil {
				t.Fatalf("tick does not marshal: %v", err)
			}
		}
	})
}
