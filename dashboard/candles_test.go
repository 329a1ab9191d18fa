package dashboard

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/tickroom/tickroom/internal/natsbus"
	"github.com/tickroom/tickroom/internal/protocol"
)

// memBars is a barReader over messages kept in memory, stamped with the
// time they were "stored".
type memBars map[string][]natsbus.Msg

func (m memBars) ReadSince(_ context.Context, subject string, from time.Time, fn func(natsbus.Msg) error) error {
	for _, msg := range m[subject] {
		if !msg.Time.Before(from) {
			if err := fn(msg); err != nil {
				return err
			}
		}
	}
	return nil
}

func (m memBars) put(subject string, stored time.Time, data string) {
	m[subject] = append(m[subject], natsbus.Msg{Subject: subject, Time: stored, Data: []byte(data)})
}

func barJSON(iv string, start time.Time, o, h, l, c, v float64) string {
	return fmt.Sprintf(`{"symbol":"AAPL","interval":%q,"start":%q,"open":%g,"high":%g,"low":%g,"close":%g,"volume":%g}`,
		iv, start.Format(time.RFC3339), o, h, l, c, v)
}

type gotBar struct {
	Channel string `json:"channel"`
	Event   string `json:"event"`
	Seq     uint64 `json:"seq"`
	Data    struct {
		Symbol   string    `json:"symbol"`
		Interval string    `json:"interval"`
		Start    time.Time `json:"start"`
		Open     float64   `json:"open"`
		High     float64   `json:"high"`
		Low      float64   `json:"low"`
		Close    float64   `json:"close"`
		Volume   float64   `json:"volume"`
	} `json:"data"`
}

func history(t *testing.T, br barReader, interval string, before time.Time, limit int) []gotBar {
	t.Helper()
	s := &Server{bus: struct {
		Bus
		barReader
	}{barReader: br}}
	s.cfg.QueueBytes = 1 << 20
	raw, err := s.candleHistoryJSON(context.Background(), &protocol.Request{
		Channel: "candle.AAPL", Interval: interval, BeforeTime: before, Limit: limit})
	if err != nil {
		t.Fatal(err)
	}
	var got []gotBar
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	return got
}

// Stored bars, then the windows after them derived from shorter intervals
// down to the live minute in progress.
func TestCandleHistoryDerivesTheTail(t *testing.T) {
	br := memBars{}
	day := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	backfilled := day.Add(10*time.Hour + 2*time.Minute) // the backfill went out at 10:02
	// Two stored days, as one batch.
	br.put("bars.AAPL.1D", backfilled, `{"symbol":"AAPL","interval":"1D","bars":[`+
		barJSON("1D", day.Add(-48*time.Hour), 90, 101, 89, 100, 1000)+","+
		barJSON("1D", day.Add(-24*time.Hour), 100, 120, 95, 110, 2000)+`]}`)
	// Today: hours 00:00–09:00 stored, the 10:00 hour in progress.
	for h := 0; h < 10; h++ {
		br.put("bars.AAPL.1h", backfilled, barJSON("1h", day.Add(time.Duration(h)*time.Hour), 110, 111+float64(h), 109, 110, 10))
	}
	// 10:00 and 10:01 stored as 1m bars, 10:02 live (re-sent twice: the last wins).
	br.put("bars.AAPL.1m", backfilled, barJSON("1m", day.Add(10*time.Hour), 110, 112, 108, 111, 1))
	br.put("bars.AAPL.1m", backfilled, barJSON("1m", day.Add(10*time.Hour+time.Minute), 111, 111, 107, 108, 2))
	live := day.Add(10*time.Hour + 2*time.Minute)
	br.put("candle.AAPL", live.Add(2*time.Second), barJSON("1m", live, 108, 109, 108, 109, 1))
	br.put("candle.AAPL", live.Add(4*time.Second), barJSON("1m", live, 108, 130, 108, 125, 3))
	// Noise that must not count: an invalid message, another symbol, another interval.
	br.put("candle.AAPL", live.Add(5*time.Second), `{"symbol":"AAPL","open":-1}`)
	br.put("candle.AAPL", live.Add(5*time.Second), `{"symbol":"MSFT","interval":"1m","start":"2026-12-01T10:02:00Z","open":1,"high":1,"low":1,"close":1}`)
	br.put("candle.AAPL", live.Add(5*time.Second), barJSON("5m", live, 1, 1, 1, 1, 1))

	got := history(t, br, "1D", time.Time{}, 50)
	if len(got) != 3 {
		t.Fatalf("%d daily bars, want 3: %+v", len(got), got)
	}
	today := got[2]
	if today.Channel != "candle.AAPL" || today.Event != "candle" || today.Seq != 0 || today.Data.Interval != "1D" || today.Data.Symbol != "AAPL" {
		t.Fatalf("event %+v", today)
	}
	d := today.Data
	if !d.Start.Equal(day) || d.Open != 110 || d.High != 130 || d.Low != 107 || d.Close != 125 || d.Volume != 100+1+2+3 {
		t.Fatalf("today %+v", d)
	}
	// 1h: ten stored hours, then 10:00 from the minutes.
	hours := history(t, br, "1h", time.Time{}, 50)
	if len(hours) != 11 || hours[10].Data.Open != 110 || hours[10].Data.Close != 125 || hours[10].Data.Volume != 6 {
		t.Fatalf("hours %+v", hours)
	}
	// 1m: the stored minutes and the live one.
	mins := history(t, br, "1m", time.Time{}, 50)
	if len(mins) != 3 || mins[2].Data.Close != 125 || mins[1].Data.Close != 108 {
		t.Fatalf("minutes %+v", mins)
	}
	// Paging: before and limit, oldest first.
	page := history(t, br, "1h", day.Add(5*time.Hour), 3)
	if len(page) != 3 || !page[0].Data.Start.Equal(day.Add(2*time.Hour)) || !page[2].Data.Start.Equal(day.Add(4*time.Hour)) {
		t.Fatalf("page %+v", page)
	}
	if got := history(t, br, "1D", day.Add(-48*time.Hour), 50); len(got) != 0 {
		t.Fatalf("before the first bar: %+v", got)
	}
}

// A producer that stores nothing still gets every interval, derived from
// its live 1m bars.
func TestCandleHistoryFromLiveBarsOnly(t *testing.T) {
	br := memBars{}
	t0 := time.Date(2026, 12, 1, 9, 50, 0, 0, time.UTC)
	for i := 0; i < 30; i++ {
		start := t0.Add(time.Duration(i) * time.Minute)
		br.put("candle.AAPL", start.Add(time.Minute), barJSON("1m", start, 100+float64(i), 200, 50, 101+float64(i), 1))
	}
	fives := history(t, br, "5m", time.Time{}, 50)
	if len(fives) != 6 || fives[0].Data.Open != 100 || fives[0].Data.Close != 105 || fives[0].Data.Volume != 5 {
		t.Fatalf("5m %+v", fives)
	}
	if hours := history(t, br, "1h", time.Time{}, 50); len(hours) != 2 || hours[1].Data.Volume != 20 {
		t.Fatalf("1h %+v", hours)
	}
}

func TestCandleHistoryBudget(t *testing.T) {
	br := memBars{}
	t0 := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 100; i++ {
		start := t0.Add(time.Duration(i) * time.Minute)
		br.put("bars.AAPL.1m", start, barJSON("1m", start, 1, 1, 1, 1, 1))
	}
	s := &Server{bus: struct {
		Bus
		barReader
	}{barReader: br}}
	s.cfg.QueueBytes = 4000 // room for about 15 bars in half of it
	raw, err := s.candleHistoryJSON(context.Background(), &protocol.Request{Channel: "candle.AAPL", Interval: "1m", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	var got []gotBar
	if err := json.Unmarshal(raw, &got); err != nil || len(got) == 0 || len(got) > 20 || !got[len(got)-1].Data.Start.Equal(t0.Add(99*time.Minute)) {
		t.Fatalf("%d bars within budget, last %+v (%v)", len(got), got[len(got)-1], err)
	}
}
