package main

// End-to-end tests of the producer contract (PROTOCOL.md section 1,
// docs/feeds.md) against a real Node: an embedded nats-server listening on
// loopback TCP, outside producers on plain nats.go (feeds/producer), the
// in-process simulated feeds, `tickroom feed replay`, and real WebSocket
// clients from the harness in testnode_test.go.
//
// Ticks are droppable: the gateway may conflate two ticks of one channel
// queued for a slow client. Tests that assert an exact sequence of ticks
// therefore put each expected tick on its own channel (or wait for one
// before sending the next); invalid messages share channels with valid ones.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/feeds/producer"
	"github.com/tickroom/tickroom/feeds/replay"
	"github.com/tickroom/tickroom/internal/config"
)

// fxTCPConfig is testConfig with the embedded NATS also listening on a free
// loopback port (natsbus reads port 0 as "pick one").
func fxTCPConfig(t *testing.T) config.Config {
	t.Helper()
	cfg := testConfig(t)
	cfg.NATSListen = "127.0.0.1:0"
	return cfg
}

// fxProducer connects a feeds/producer over TCP to the node's NATS URL and
// closes it at the end of the test.
func fxProducer(t *testing.T, n *Node) *producer.Producer {
	t.Helper()
	u := n.NATSURL()
	if !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") {
		t.Fatalf("NATSURL() = %q, want nats://127.0.0.1:<the picked free port>", u)
	}
	p, err := producer.Connect(u, nats.Timeout(waitFor))
	if err != nil {
		t.Fatalf("producer.Connect(%s): %v", u, err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func fxFlush(t *testing.T, p *producer.Producer) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("producer flush: %v", err)
	}
}

// fxRaw publishes data as it is, with an optional Tickroom-Event header,
// bypassing the producer package's own checks (the point is to send what
// it would refuse).
func fxRaw(t *testing.T, nc *nats.Conn, subject, event string, data []byte) {
	t.Helper()
	m := &nats.Msg{Subject: subject, Data: data}
	if event != "" {
		m.Header = nats.Header{producer.EventHeader: []string{event}}
	}
	if err := nc.PublishMsg(m); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

// fxStore publishes on a stream subject and waits for JetStream's ack.
func fxStore(t *testing.T, nc *nats.Conn, subject, data string) uint64 {
	t.Helper()
	r, err := nc.Request(subject, []byte(data), waitFor)
	if err != nil {
		t.Fatalf("store %s: %v", subject, err)
	}
	var ack struct {
		Seq   uint64 `json:"seq"`
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.Data, &ack); err != nil || ack.Error != nil || ack.Seq == 0 {
		t.Fatalf("store %s: not stored: %s", subject, r.Data)
	}
	return ack.Seq
}

// fxTick is the data of a market event.
type fxTick struct {
	Symbol string   `json:"symbol"`
	Price  *float64 `json:"price"`
	Bid    *float64 `json:"bid"`
	Ask    *float64 `json:"ask"`
	Size   *float64 `json:"size"`
	Volume *float64 `json:"volume"`
	Time   string   `json:"time"`
}

func fxTickOf(t *testing.T, m msg) fxTick {
	t.Helper()
	var d fxTick
	if err := json.Unmarshal(m.Data, &d); err != nil {
		t.Fatalf("tick %s: %v", m.Raw, err)
	}
	return d
}

// fxCheckTick checks a market event against the PROTOCOL schema.
func fxCheckTick(t *testing.T, m msg) fxTick {
	t.Helper()
	d := fxTickOf(t, m)
	switch {
	case m.Event != "market":
		t.Fatalf("event %q on %s, want market: %s", m.Event, m.Channel, m.Raw)
	case m.Channel != "market."+d.Symbol:
		t.Fatalf("symbol %q on channel %s: %s", d.Symbol, m.Channel, m.Raw)
	case d.Price == nil || !(*d.Price > 0) || math.IsInf(*d.Price, 0):
		t.Fatalf("tick without a finite price > 0: %s", m.Raw)
	case d.Bid != nil && d.Ask != nil && *d.Bid > *d.Ask:
		t.Fatalf("bid above ask: %s", m.Raw)
	case m.Time == "" || m.Seq != 0:
		t.Fatalf("tick event must carry a time and no seq: %s", m.Raw)
	}
	for _, v := range []*float64{d.Bid, d.Ask, d.Size, d.Volume} {
		if v != nil && !(*v >= 0) {
			t.Fatalf("negative or NaN optional field: %s", m.Raw)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Time); err != nil {
		t.Fatalf("event time %q: %v", m.Time, err)
	}
	return d
}

// fxUntil reads objects until done returns true, failing after d.
func fxUntil(t *testing.T, c *wsClient, d time.Duration, what string, done func(msg) bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		m, err := c.nextWithin(time.Until(deadline))
		if err != nil {
			t.Fatalf("%s: waiting for %s: %v", c.name, what, err)
		}
		if done(m) {
			return
		}
	}
}

// fxSubscribed subscribes and then pings: requests on a connection are
// handled in order, and a subscribe to a last-value kind reads the stored
// last values on the gateway's NATS connection after it sent its SUB, so
// the pong proves the server has the subscription before an outside
// producer (another connection) publishes.
func fxSubscribed(c *wsClient, channel string) {
	c.t.Helper()
	c.subscribe(channel)
	c.ping()
}

// 1. An outside producer over TCP: only valid ticks reach the browser, in
// order; invalid ones are counted per subject and never erase a last value.
func TestE2EFeedsOutsideProducer(t *testing.T) {
	n := startNode(t, fxTCPConfig(t))
	p := fxProducer(t, n)
	nc := p.Conn()

	c := dial(t, n, "ticks", dialOpts{})
	c.welcome()
	fxSubscribed(c, "market.*")

	big := `{"symbol":"TSLA","price":1,"pad":"` + strings.Repeat("x", 64<<10) + `"}`
	type step struct {
		subject string
		raw     string  // invalid payload, published as is
		price   float64 // valid tick (raw == "")
	}
	steps := []step{
		{subject: "market.AAPL", price: 190.25},
		{subject: "market.AAPL", raw: `not json`},
		{subject: "market.AAPL", raw: `[{"symbol":"AAPL","price":1}]`},
		{subject: "market.AAPL", raw: `{"symbol":"MSFT","price":10}`},
		{subject: "market.AAPL", raw: `{"symbol":"AAPL","price":"NaN"}`},
		{subject: "market.AAPL", raw: `{"symbol":"AAPL","price":"12.5"}`},
		{subject: "market.MSFT", price: 410.5},
		{subject: "market.MSFT", raw: `{"symbol":"MSFT","price":-1}`},
		{subject: "market.MSFT", raw: `{"symbol":"MSFT","price":0}`},
		{subject: "market.MSFT", raw: `{"symbol":"MSFT","price":1,"bid":-1}`},
		{subject: "market.TSLA", price: 251.75},
		{subject: "market.TSLA", raw: `{"symbol":"TSLA","size":5}`},
		{subject: "market.TSLA", raw: big},
		{subject: "market.TSLA", raw: `{"symbol":"TSLA","price":1,"time":"yesterday"}`},
		{subject: "market.BADONLY", raw: `{"symbol":"badonly","price":1}`},
		{subject: "market.DEMO-1", price: 42.5},
		{subject: "market.BADONLY", raw: `{"symbol":"BADONLY","price":null}`},
		{subject: "market.FOO_BAR", price: 0.0001},
		{subject: "market.END", price: 1}, // the sentinel, last
	}
	if len(big) <= producer.MaxPayload {
		t.Fatalf("test bug: big payload is %d bytes", len(big))
	}

	invalidMetric := func(subject string) string {
		return fmt.Sprintf(`tickroom_invalid_messages_total{subject=%q}`, subject)
	}
	wantInvalid := map[string]int64{}
	before := map[string]int64{}
	var want []string // "channel price" of every valid tick, in publish order
	for _, s := range steps {
		if s.raw != "" {
			if _, ok := before[s.subject]; !ok {
				before[s.subject] = max(metricValue(t, n, invalidMetric(s.subject)), 0)
			}
			wantInvalid[s.subject]++
		}
	}
	for _, s := range steps {
		if s.raw != "" {
			fxRaw(t, nc, s.subject, "", []byte(s.raw))
			continue
		}
		sym := strings.TrimPrefix(s.subject, "market.")
		if err := p.Tick(context.Background(), producer.Tick{Symbol: sym, Price: s.price, Size: 10}); err != nil {
			t.Fatalf("producer.Tick %s: %v", sym, err)
		}
		want = append(want, fmt.Sprintf("%s %g", s.subject, s.price))
	}
	fxFlush(t, p)

	var got []string
	fxUntil(t, c, waitFor, "the sentinel tick", func(m msg) bool {
		if m.isReply() {
			return false
		}
		d := fxCheckTick(t, m)
		got = append(got, fmt.Sprintf("%s %g", m.Channel, *d.Price))
		return m.Channel == "market.END"
	})
	if !slices.Equal(got, want) {
		t.Fatalf("the browser received\n  %v\nwant exactly the valid ticks, in order\n  %v", got, want)
	}

	eventually(t, "invalid messages counted per subject", func() error {
		for subject, k := range wantInvalid {
			if v := metricValue(t, n, invalidMetric(subject)); v-before[subject] < k {
				return fmt.Errorf("%s went from %d to %d, want +%d or more", invalidMetric(subject), before[subject], v, k)
			}
		}
		return nil
	})
	if v := metricValue(t, n, invalidMetric("market.END")); v > 0 {
		t.Errorf("a valid subject counted as invalid: %d", v)
	}

	// A fresh page gets the last valid tick of every symbol, never an
	// invalid one published after it, and nothing for a subject that only
	// ever carried invalid messages.
	f := dial(t, n, "fresh", dialOpts{})
	f.welcome()
	f.subscribe("market.*")
	last := map[string]string{}
	for range len(want) {
		m := f.next()
		d := fxCheckTick(t, m)
		last[m.Channel] = fmt.Sprintf("%s %g", m.Channel, *d.Price)
	}
	f.ping()
	if len(f.backlog) != 0 {
		t.Errorf("fresh subscriber got more last values than valid symbols: %v", raws(f.backlog))
	}
	for _, w := range want {
		ch, _, _ := strings.Cut(w, " ")
		if last[ch] != w {
			t.Errorf("last value of %s = %q, want %q", ch, last[ch], w)
		}
	}
	c.ping()
}

// fxEvent is a compact view of an event for comparisons.
func fxEvent(m msg) string { return m.Event + " " + m.Channel + " " + string(m.Data) }

// 2. feed.* event names from the Tickroom-Event header; bots chat over NATS
// and the header cannot rename a chat event.
func TestE2EFeedsEventHeaderAndBotChat(t *testing.T) {
	n := startNode(t, fxTCPConfig(t))
	p := fxProducer(t, n)
	nc := p.Conn()

	c := dial(t, n, "feeds", dialOpts{})
	c.welcome()
	fxSubscribed(c, "feed.>")
	fxSubscribed(c, "chat.*")

	nextFeed := func(what string) msg {
		t.Helper()
		return c.waitEvent(what, func(m msg) bool { return strings.HasPrefix(m.Channel, "feed.") })
	}
	// One at a time: both go to feed.news, and a slow client may be sent
	// only the latest of two queued feed events of one channel.
	if err := p.Publish("feed.news", "headline", map[string]string{"title": "Rates unchanged", "source": "wire"}); err != nil {
		t.Fatal(err)
	}
	if m := nextFeed("the headline"); m.Event != "headline" || m.Channel != "feed.news" ||
		string(m.Data) != `{"source":"wire","title":"Rates unchanged"}` || m.Time == "" || m.Seq != 0 {
		t.Fatalf("got %s, want a headline event on feed.news with the payload as sent and a time", m.Raw)
	}
	if err := p.Publish("feed.news", "", json.RawMessage(`{"title":"no header"}`)); err != nil {
		t.Fatal(err)
	}
	if m := nextFeed("the plain feed message"); m.Event != "feed" || m.Channel != "feed.news" || string(m.Data) != `{"title":"no header"}` {
		t.Fatalf("got %s, want a feed event on feed.news", m.Raw)
	}

	// Invalid event names are dropped (on feed.news), then valid messages
	// on other channels arrive in order.
	fxRaw(t, nc, "feed.news", "bad name!", []byte(`{"title":"bad header"}`))
	fxRaw(t, nc, "feed.news", strings.Repeat("e", 65), []byte(`{"title":"long header"}`))
	fxRaw(t, nc, "feed.news", "", []byte(`["not","an","object"]`))
	if err := p.Publish("feed.weather.paris", "status", map[string]any{"temp": 11.5}); err != nil {
		t.Fatal(err)
	}
	if err := p.Publish("feed.end", "", map[string]any{"end": true}); err != nil {
		t.Fatal(err)
	}
	fxFlush(t, p)
	var got []string
	for {
		m := nextFeed("the feed.end sentinel")
		got = append(got, fxEvent(m))
		if m.Channel == "feed.end" {
			break
		}
	}
	want := []string{`status feed.weather.paris {"temp":11.5}`, `feed feed.end {"end":true}`}
	if !slices.Equal(got, want) {
		t.Fatalf("after the invalid messages the browser got\n  %q\nwant\n  %q", got, want)
	}
	eventually(t, "dropped feed messages counted", func() error {
		if v := metricValue(t, n, `tickroom_invalid_messages_total{subject="feed.news"}`); v < 3 {
			return fmt.Errorf("tickroom_invalid_messages_total{feed.news} = %d, want 3 or more", v)
		}
		return nil
	})

	// A bot chats over NATS: a chat event with seq, whatever the header
	// says; a bot message without user is dropped.
	fxRaw(t, nc, "chat.lobby", "", []byte(`{"text":"no user"}`))
	fxRaw(t, nc, "chat.lobby", "headline", []byte(`{"user":"vwap-bot","text":"AAPL crossed its VWAP"}`))
	fxRaw(t, nc, "chat.lobby", "", []byte(`{"user":"vwap-bot","text":"end"}`))
	fxFlush(t, p)
	var chats []msg
	for {
		m := c.waitEvent("bot chat", func(m msg) bool { return strings.HasPrefix(m.Channel, "chat.") })
		chats = append(chats, m)
		if m.chat(t).Text == "end" {
			break
		}
	}
	if len(chats) != 2 {
		t.Fatalf("got %d chat events, want 2 (the message without user dropped): %v", len(chats), raws(chats))
	}
	for i, m := range chats {
		d := m.chat(t)
		if m.Event != "chat" || m.Channel != "chat.lobby" || m.Seq == 0 || m.Time == "" || d.User != "vwap-bot" {
			t.Errorf("bot chat %d: %s, want event chat on chat.lobby from vwap-bot with seq and time", i, m.Raw)
		}
	}
	if chats[0].chat(t).Text != "AAPL crossed its VWAP" || chats[1].Seq <= chats[0].Seq {
		t.Errorf("bot chats %v: want the VWAP message first and growing seqs", raws(chats))
	}
	// Stored like browser chat: history has both (and not the invalid one).
	h := c.mustOK(c.request(map[string]any{"op": "history", "channel": "chat.lobby"}))
	if got := historySeqs(t, h.Messages); !slices.Equal(got, []uint64{chats[0].Seq, chats[1].Seq}) {
		t.Errorf("chat.lobby history seqs %v, want %v", got, []uint64{chats[0].Seq, chats[1].Seq})
	}
	c.ping()
}

// fxCandle is the data of a candle event.
type fxCandle struct {
	Symbol string  `json:"symbol"`
	Start  string  `json:"start"`
	Open   float64 `json:"open"`
	High   float64 `json:"high"`
	Low    float64 `json:"low"`
	Close  float64 `json:"close"`
}

func fxCandleJSON(sym string, start time.Time, close float64) string {
	return fmt.Sprintf(`{"symbol":%q,"interval":"1m","start":%q,"open":100,"high":200,"low":50,"close":%g,"volume":%d}`,
		sym, start.UTC().Format("2006-01-02T15:04:05.000Z"), close, int(close*10))
}

// 3. Candle history survives a restart: since:0 replays one bar per start
// (its last valid version), in start order, then goes live without a
// duplicate.
func TestE2EFeedsCandleHistoryAcrossRestart(t *testing.T) {
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()

	base := time.Date(2026, 11, 26, 14, 30, 0, 0, time.UTC)
	startOf := func(i int) time.Time { return base.Add(time.Duration(i) * time.Minute) }
	const bars = 5
	lastClose := map[string]float64{}
	for i := range bars {
		for v := range 3 { // the bar in progress, re-sent as it changes
			cl := 100 + float64(i) + float64(v+1)/10
			fxStore(t, nc, "candle.DEMO", fxCandleJSON("DEMO", startOf(i), cl))
			lastClose[startOf(i).Format(time.RFC3339)] = cl
		}
		// Noise: another symbol, and invalid versions that must neither
		// show up nor replace the last valid one.
		fxStore(t, nc, "candle.OTHER", fxCandleJSON("OTHER", startOf(i), 7))
		if i == 2 {
			fxStore(t, nc, "candle.DEMO", fxCandleJSON("DEMO", startOf(i), 0))
			fxStore(t, nc, "candle.DEMO", fxCandleJSON("OTHER", startOf(i), 1))
			fxStore(t, nc, "candle.DEMO", `{"symbol":"DEMO","interval":"1m","open":1,"high":1,"low":1,"close":1}`)
		}
	}

	shutdownNode(t, n)
	n2 := startNode(t, cfg)
	nc2 := n2.natsConnForTest()

	c := dial(t, n2, "chart", dialOpts{})
	c.welcome()
	c.subscribe("candle.DEMO", 0)
	// Live from here on: published while the replay may still be running,
	// each must be seen once, after the stored bars.
	liveStarts := []time.Time{startOf(bars), startOf(bars + 1)}
	fxStore(t, nc2, "candle.DEMO", fxCandleJSON("DEMO", liveStarts[0], 300))
	fxStore(t, nc2, "candle.DEMO", fxCandleJSON("DEMO", liveStarts[1], 301))
	lastClose[liveStarts[0].Format(time.RFC3339)] = 300
	lastClose[liveStarts[1].Format(time.RFC3339)] = 301

	var got []msg
	sentinel := liveStarts[1].Format("2006-01-02T15:04:05.000Z")
	fxUntil(t, c, waitFor, "the live sentinel bar", func(m msg) bool {
		if m.Channel != "candle.DEMO" {
			if m.Event != "" {
				t.Fatalf("unexpected event %s", m.Raw)
			}
			return false
		}
		got = append(got, m)
		var d fxCandle
		_ = json.Unmarshal(m.Data, &d)
		return d.Start == sentinel
	})
	c.ping() // nothing after the sentinel but the pong
	if len(c.backlog) != 0 {
		t.Errorf("events after the sentinel: %v", raws(c.backlog))
	}

	if len(got) != bars+2 {
		t.Fatalf("since:0 then live gave %d candle events, want %d stored bars + 2 live ones, one per start:\n%v",
			len(got), bars+2, strings.Join(raws(got), "\n"))
	}
	var prevSeq uint64
	for i, m := range got {
		var d fxCandle
		if err := json.Unmarshal(m.Data, &d); err != nil {
			t.Fatalf("candle %s: %v", m.Raw, err)
		}
		start, err := time.Parse(time.RFC3339Nano, d.Start)
		if err != nil {
			t.Fatalf("candle start %q: %v", d.Start, err)
		}
		if !start.Equal(startOf(i)) {
			t.Errorf("candle %d has start %s, want %s (one per start, in start order)", i, d.Start, startOf(i))
		}
		if want := lastClose[start.Format(time.RFC3339)]; d.Close != want || d.Symbol != "DEMO" {
			t.Errorf("candle %d (%s): %s close %g, want DEMO with the last valid close %g", i, d.Start, d.Symbol, d.Close, want)
		}
		if m.Event != "candle" || m.Seq == 0 || m.Seq <= prevSeq {
			t.Errorf("candle %d: event %q seq %d (previous %d): want candle events with a growing seq", i, m.Event, m.Seq, prevSeq)
		}
		prevSeq = m.Seq
		if mt, err := time.Parse(time.RFC3339Nano, m.Time); err != nil || !mt.Equal(start) {
			t.Errorf("candle %d: event time %q, want its start %s", i, m.Time, d.Start)
		}
	}
}

// 4. The in-process simulated feeds: ticks for many symbols that pass the
// schema, then analytics and candles.
func TestE2EFeedsInProcess(t *testing.T) {
	cfg := testConfig(t)
	cfg.Feeds = true
	n := startNode(t, cfg)

	ticks := dial(t, n, "ticks", dialOpts{})
	ticks.welcome()
	ticks.subscribe("market.*")
	seen := map[string]int{}
	fxUntil(t, ticks, waitFor, "ticks for 10 symbols", func(m msg) bool {
		if m.isReply() {
			return false
		}
		d := fxCheckTick(t, m)
		if d.Size == nil || d.Time == "" {
			t.Fatalf("simulated tick without size or time: %s", m.Raw)
		}
		seen[d.Symbol]++
		return len(seen) >= 10
	})
	t.Logf("ticks per symbol: %v", seen)

	an := dial(t, n, "analytics", dialOpts{})
	an.welcome()
	an.subscribe("analytics.*")
	an.subscribe("candle.*")
	var gotAnalytics, gotCandle bool
	fxUntil(t, an, 15*time.Second, "analytics and a candle", func(m msg) bool {
		switch m.Event {
		case "analytics":
			var a map[string]any
			if err := json.Unmarshal(m.Data, &a); err != nil {
				t.Fatalf("analytics %s: %v", m.Raw, err)
			}
			if m.Channel != "analytics."+fmt.Sprint(a["symbol"]) {
				t.Fatalf("analytics for %v on %s", a["symbol"], m.Channel)
			}
			// Published from the first tick: price, session open/high/low,
			// change since open, volume and VWAP; sma/ema/rsi need bars.
			for _, k := range []string{"price", "change_pct", "vwap"} {
				if v, ok := a[k].(float64); !ok || math.IsNaN(v) {
					t.Fatalf("analytics without a numeric %s: %s", k, m.Raw)
				}
			}
			low, _ := a["low"].(float64)
			high, _ := a["high"].(float64)
			if low <= 0 || low > high || a["price"].(float64) <= 0 {
				t.Fatalf("analytics out of range: %s", m.Raw)
			}
			gotAnalytics = true
		case "candle":
			var d fxCandle
			if err := json.Unmarshal(m.Data, &d); err != nil {
				t.Fatalf("candle %s: %v", m.Raw, err)
			}
			if m.Channel != "candle."+d.Symbol || m.Seq == 0 || d.Low > d.High || d.Low <= 0 ||
				d.Open < d.Low || d.Open > d.High || d.Close < d.Low || d.Close > d.High {
				t.Fatalf("bad candle event %s", m.Raw)
			}
			gotCandle = true
		}
		return gotAnalytics && gotCandle
	})
	ticks.ping()
}

// 5. `tickroom feed replay` against the node's NATS: the sample's symbols
// tick in the browser; cancelling the context stops it cleanly.
func TestE2EFeedsReplayCommand(t *testing.T) {
	n := startNode(t, fxTCPConfig(t))
	url := n.NATSURL()
	if url == "" {
		t.Fatal("no NATS URL")
	}
	sample, err := replay.ReadCSV(bytes.NewReader(replay.Sample))
	if err != nil {
		t.Fatalf("sample: %v", err)
	}
	lastPrice := map[string]float64{}
	for _, tk := range sample {
		lastPrice[tk.Symbol] = tk.Price
	}

	c := dial(t, n, "replay", dialOpts{})
	c.welcome()
	fxSubscribed(c, "market.*")

	type mainRun struct {
		cancel context.CancelFunc
		done   chan struct{} // closed when Main returned; err and stdout are set
		err    error
		stdout bytes.Buffer
	}
	run := func(t *testing.T, args ...string) *mainRun {
		ctx, cancel := context.WithCancel(context.Background())
		r := &mainRun{cancel: cancel, done: make(chan struct{})}
		go func() {
			defer close(r.done)
			var stderr bytes.Buffer
			r.err = Main(ctx, append([]string{"feed", "replay", "-nats", url, "-speed", "1000"}, args...),
				&r.stdout, &stderr, func(string) string { return "" })
		}()
		t.Cleanup(func() {
			cancel()
			select {
			case <-r.done:
			case <-time.After(waitFor):
				t.Errorf("Main did not return after cancel")
			}
		})
		return r
	}
	wait := func(t *testing.T, r *mainRun) {
		t.Helper()
		select {
		case <-r.done:
		case <-time.After(waitFor):
			t.Fatalf("Main did not return within %s", waitFor)
		}
		if r.err != nil {
			t.Fatalf("Main returned %v", r.err)
		}
		if !strings.Contains(r.stdout.String(), fmt.Sprintf("replay: %d ticks", len(sample))) {
			t.Errorf("stdout %q, want the replay status line", r.stdout.String())
		}
	}

	t.Run("once", func(t *testing.T) {
		// Played once at 1000× (0.1s): Main returns by itself, and the
		// browser ends on each symbol's last recorded price (ticks may be
		// conflated, never the latest one).
		r := run(t)
		last := map[string]float64{}
		fxUntil(t, c, waitFor, "each symbol's last recorded price", func(m msg) bool {
			if m.isReply() {
				return false
			}
			d := fxCheckTick(t, m)
			if _, ok := lastPrice[d.Symbol]; !ok {
				t.Fatalf("tick for %s, which is not in the sample", d.Symbol)
			}
			last[d.Symbol] = *d.Price
			for sym, p := range lastPrice {
				if last[sym] != p {
					return false
				}
			}
			return true
		})
		wait(t, r)
	})

	t.Run("loop until cancelled", func(t *testing.T) {
		r := run(t, "-loop")
		seen := map[string]bool{}
		fxUntil(t, c, waitFor, "ticks of every sample symbol", func(m msg) bool {
			if m.isReply() {
				return false
			}
			d := fxCheckTick(t, m)
			if _, ok := lastPrice[d.Symbol]; !ok {
				t.Fatalf("tick for %s, which is not in the sample", d.Symbol)
			}
			seen[d.Symbol] = true
			return len(seen) == len(lastPrice)
		})
		select {
		case <-r.done:
			t.Fatalf("Main with -loop returned before cancel: %v", r.err)
		default:
		}
		r.cancel()
		wait(t, r)
	})
	c.ping()
}
