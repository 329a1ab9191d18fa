package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// waitJS polls a JavaScript expression until it is true.
// clickJS clicks the element matching selector from inside the page, once
// it exists. chromedp.Click resolves a DOM node first and clicks it after:
// a board row the sort moved in between is a node CDP no longer knows.
func clickJS(selector string) chromedp.Action {
	return waitJS("click "+selector, `(() => { const el = document.querySelector(`+jsonQuote(selector)+`); if (!el) return false; el.click(); return true; })()`)
}

func jsonQuote(s string) string { b, _ := json.Marshal(s); return string(b) }

func waitJS(what, expr string) chromedp.Action {
	return chromedp.ActionFunc(func(ctx context.Context) error {
		var ok bool
		for {
			if err := chromedp.Run(ctx, chromedp.Evaluate("!!("+expr+")", &ok)); err != nil {
				return err
			}
			if ok {
				return nil
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s: never true: %w", what, ctx.Err())
			case <-time.After(50 * time.Millisecond):
			}
		}
	})
}

const tickerRows = `document.querySelectorAll('[aria-label="Tickers"] tbody tr')`

// TestBrowserDesk walks the desk a trader keeps open: the board fills and
// moves, a selected symbol gets its chart, two people talk in the symbol's
// room, a $mention is a live price chip, and an alert shows in the chat.
func TestBrowserDesk(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	cfg.Feeds = true
	n := startNode(t, cfg)
	nc := n.natsConnForTest()

	ana, bob := newPage(t), newPage(t)
	opened := time.Now()
	run(t, ana, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"))

	// The board fills with the simulated market, and prices move. How long
	// a working desk takes is reported, not asserted (timings are noisy).
	run(t, ana, 20*time.Second, waitJS("ten ticker rows", tickerRows+`.length >= 10`))
	t.Logf("desk: connected and ten tickers shown %v after navigation began", time.Since(opened).Round(time.Millisecond))
	var first []string
	run(t, ana, 5*time.Second, chromedp.Evaluate(`[...`+tickerRows+`].map(r => r.innerText)`, &first))
	run(t, ana, 20*time.Second, waitJS("a price moved",
		fmt.Sprintf(`(() => { const before = %s; return [...%s].some((r, i) => before.indexOf(r.innerText) < 0); })()`,
			jsonString(t, first), tickerRows)))

	// Selecting AAPL draws its candles (history and the bar in progress).
	// "Follow symbol" is off by default: Ana turns it on so her room follows.
	run(t, ana, 10*time.Second, clickJS(`#follow`), clickJS(`[aria-label="Tickers"] tbody tr[data-sym="AAPL"]`))
	run(t, ana, 20*time.Second,
		waitJS("chart titled AAPL", `document.getElementById('chart-sym').textContent.includes('AAPL')`),
		waitJS("candles drawn", `+(document.getElementById('chart').dataset.bars || 0) >= 1`),
		waitJS("chart canvas", `document.querySelector('#chart canvas') !== null`))

	// Bob opens the AAPL room directly; Ana's room followed her selection.
	run(t, bob, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=bob#AAPL"), waitState("connected"),
		waitJS("bob in #AAPL", `document.getElementById('chat-title').textContent.includes('AAPL')`))
	run(t, ana, 10*time.Second, waitJS("ana in #AAPL", `document.getElementById('chat-title').textContent.includes('AAPL')`))
	run(t, ana, 10*time.Second, chromedp.SendKeys(byName("Message"), "$AAPL looks strong"+kb.Enter))
	run(t, bob, 10*time.Second, waitText("Chat messages", "looks strong"))
	// The mention is a chip with a live price, which selects the symbol.
	run(t, bob, 15*time.Second, waitJS("price chip", `(() => {
		const p = document.querySelector('[aria-label="Chat messages"] [data-sym="AAPL"] .chip-price');
		return p && /\d/.test(p.textContent);
	})()`))

	// An alert from the analytics feed appears in the room as a system message.
	alert := `{"symbol":"AAPL","level":"warn","text":"AAPL +3.1% in 5m (browser test)","time":"` + time.Now().UTC().Format(time.RFC3339) + `"}`
	if err := nc.Publish("alert.AAPL", []byte(alert)); err != nil {
		t.Fatal(err)
	}
	run(t, bob, 15*time.Second, waitJS("alert in chat", `[...document.querySelectorAll('[aria-label="Chat messages"] li')]
		.some(li => li.classList.contains('alert') && li.textContent.includes('+3.1% in 5m (browser test)'))`))

	// Presence: both are in the room.
	run(t, bob, 10*time.Second, waitJS("presence lists ana and bob", `(() => {
		const t = document.querySelector('[aria-label="Who is here"]').textContent;
		return t.includes('ana') && t.includes('bob');
	})()`))

	if path := screenshot(t, ana, "desk"); path != "" && os.Getenv("TICKROOM_UPDATE_SCREENSHOT") != "" {
		copyFile(t, path, filepath.Join("..", "..", "docs", "screenshot.png"))
	}
}

func jsonString(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func copyFile(t *testing.T, from, to string) {
	b, err := os.ReadFile(from)
	if err == nil {
		err = os.WriteFile(to, b, 0o644)
	}
	if err != nil {
		t.Errorf("copy %s: %v", from, err)
	}
}

// TestBrowserFrameBudget measures how the page renders under the load of
// issue 10's "Speed" section: 100 symbols at 10 ticks/s each (with sizes,
// so the Time and sales tape runs), plus, for the selected and charted
// symbol, a 10-level book.<SYM> at 10 updates/s and a live 1m bar over 600
// bars of history. Frame intervals are taken from requestAnimationFrame for
// a few seconds. Timings are reported (and recorded in docs/benchmarks.md),
// never asserted: this 2-core machine is noisy. The behaviour checked is
// that all 100 rows are shown and that the Order book and Time and sales
// panels keep updating during the window.
func TestBrowserFrameBudget(t *testing.T) { frameBudget(t, true) }

// TestBrowserFrameBudgetBoardOnly is the control for TestBrowserFrameBudget,
// run beside it on the same (shared, noisy) machine: the earlier load only —
// 100 symbols × 10 ticks/s, no book, no chart history, no selection by the
// test. The gap between the two is what the book, tape and chart cost.
func TestBrowserFrameBudgetBoardOnly(t *testing.T) { frameBudget(t, false) }

// frameBudget measures frames under 100 symbols × 10 ticks/s, and with desk
// also the selected symbol's book at 10 updates/s and its charted history.
func frameBudget(t *testing.T, desk bool) {
	findChromium(t)
	if testing.Short() {
		t.Skip("frame budget run is long; skipped with -short")
	}
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()

	const symbols, tps, seconds, levels = 100, 10, 6, 10
	const sel = "S000" // the selected symbol: charted, with book and tape
	quote := func(i, s int) (p, bid, ask float64) {
		p = 100 + float64((i*7+s*13)%50)/10
		return p, p - 0.01, p + 0.01
	}

	// History for the chart: 600 one-minute bars up to the current minute.
	minute := time.Now().UTC().Truncate(time.Minute)
	for k := 599; desk && k >= 0; k-- {
		o := 100 + float64(k%37)/10
		publishJSON(t, nc, "candle."+sel, fmt.Sprintf(`{"symbol":%q,"interval":"1m","start":%q,"open":%.2f,"high":%.2f,"low":%.2f,"close":%.2f,"volume":%d}`,
			sel, minute.Add(-time.Duration(k)*time.Minute).Format(time.RFC3339), o, o+0.4, o-0.3, o+0.1, 1000+k))
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	page := newPage(t)
	url, artifact := n.URL()+"/?name=perf#symbol="+sel+"&interval=1m&room=lobby", "frame-budget.json"
	if !desk {
		url, artifact = n.URL()+"/?name=perf", "frame-budget-board-only.json"
	}
	run(t, page, 30*time.Second, chromedp.Navigate(url), waitState("connected"))

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // the producer, until cancelled
		defer close(done)
		tick := time.NewTicker(time.Second / tps)
		defer tick.Stop()
		var book []byte
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			now := time.Now().UTC()
			stamp := now.Format(time.RFC3339Nano)
			for s := range symbols {
				p, bid, ask := quote(i, s)
				_ = nc.Publish(fmt.Sprintf("market.S%03d", s),
					fmt.Appendf(nil, `{"symbol":"S%03d","price":%.2f,"bid":%.2f,"ask":%.2f,"size":%d,"bid_size":%d,"ask_size":%d,"time":%q}`,
						s, p, bid, ask, 100+(i*37+s)%900, 500+(i*11)%700, 400+(i*13)%800, stamp))
			}
			if !desk {
				continue
			}
			// The selected symbol's book: best bid and ask are its tick's.
			_, bid, ask := quote(i, 0)
			book = fmt.Appendf(book[:0], `{"symbol":%q,"time":%q,"bids":[`, sel, stamp)
			for l := range levels {
				book = fmt.Appendf(book, `%s[%.2f,%d]`, comma(l), bid-float64(l)/100, 200+((i+l)*53)%1800)
			}
			book = append(book, `],"asks":[`...)
			for l := range levels {
				book = fmt.Appendf(book, `%s[%.2f,%d]`, comma(l), ask+float64(l)/100, 200+((i+2*l)*47)%1800)
			}
			book = append(book, "]}"...)
			_ = nc.Publish("book."+sel, book)
			// The bar in progress moves once a second, as a live candle feed does.
			if i%tps == 0 {
				p, _, _ := quote(i, 0)
				m := now.Truncate(time.Minute)
				_ = nc.Publish("candle."+sel, fmt.Appendf(nil, `{"symbol":%q,"interval":"1m","start":%q,"open":100,"high":105,"low":99,"close":%.2f,"volume":%d}`,
					sel, m.Format(time.RFC3339), p, 1000+i))
			}
		}
	}()
	defer func() { cancel(); <-done }()

	run(t, page, 20*time.Second, waitJS("100 rows", tickerRows+`.length >= 100`))
	if desk {
		run(t, page, 20*time.Second, waitJS("chart with history", `+(document.getElementById('chart').dataset.bars || 0) >= 500`),
			waitJS("book shown", `document.querySelector('[aria-label="Order book"] tr[data-best="bid"]') !== null`),
			waitJS("tape running", `document.querySelectorAll('[aria-label="Time and sales"] tbody tr').length >= 5`))
	}

	// Frames, and how often the book and the tape changed, over one window.
	var got struct {
		Frames     []float64 `json:"frames"`
		PerSecond  []int     `json:"perSecond"` // frames drawn in each whole second of the window
		BookRedraw int       `json:"book"`
		TapeRows   int       `json:"tape"`
	}
	run(t, page, time.Duration(seconds+10)*time.Second, chromedp.Evaluate(fmt.Sprintf(`new Promise(resolve => {
		let book = 0, tape = 0;
		const bo = new MutationObserver(rs => { book += rs.length; });
		bo.observe(document.querySelector('[aria-label="Order book"] tbody'), {childList: true});
		const to = new MutationObserver(rs => { for (const r of rs) tape += r.addedNodes.length; });
		to.observe(document.querySelector('[aria-label="Time and sales"] tbody'), {childList: true});
		const frames = [], perSecond = []; let last = performance.now(); const start = last, end = last + %d;
		function step(now) {
			frames.push(now - last); last = now;
			const sec = Math.floor((now - start) / 1000);
			if (now < end) perSecond[sec] = (perSecond[sec] || 0) + 1;
			if (now < end) { requestAnimationFrame(step); return; }
			bo.disconnect(); to.disconnect();
			resolve({frames, perSecond: Array.from(perSecond, (v) => v || 0), book, tape});
		}
		requestAnimationFrame(step);
	})`, seconds*1000), &got, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) }))
	frames := got.Frames
	if len(frames) == 0 {
		t.Fatalf("no frame in %ds: the page is not rendering", seconds)
	}
	slices.Sort(frames)
	pct := func(p float64) float64 { return frames[int(p*float64(len(frames)-1))] }
	// Two readings of "a median of 55 fps": 1000 / the median frame interval,
	// and the median of the frames counted in each second of the window.
	perSecond := slices.Clone(got.PerSecond)
	slices.Sort(perSecond)
	medianSecond := 0.0
	if k := len(perSecond); k > 0 {
		medianSecond = float64(perSecond[(k-1)/2]+perSecond[k/2]) / 2
	}
	load, _ := os.ReadFile("/proc/loadavg") // how busy the shared machine was
	loadavg := strings.Fields(string(load) + " ?")[0]
	bookRate, bookLevels := 0, 0
	if desk {
		bookRate, bookLevels = tps, levels
	}
	report := fmt.Sprintf(`{"desk":%t,"loadavg_1m":%q,"symbols":%d,"ticks_per_s":%d,"book_updates_per_s":%d,"book_levels":%d,"frames":%d,"fps":%.1f,"fps_from_median_interval":%.1f,"fps_per_second":%s,"fps_per_second_median":%.1f,"frame_ms_p50":%.1f,"frame_ms_p95":%.1f,"frame_ms_p99":%.1f,"frame_ms_max":%.1f,"book_redraws":%d,"tape_rows_added":%d}`,
		desk, loadavg, symbols, symbols*tps, bookRate, bookLevels, len(frames), float64(len(frames))/seconds, 1000/pct(0.5), jsonString(t, got.PerSecond), medianSecond, pct(0.5), pct(0.95), pct(0.99), frames[len(frames)-1], got.BookRedraw, got.TapeRows)
	t.Logf("frame budget: %s", report)
	if dir := os.Getenv("TICKROOM_ARTIFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, artifact), []byte(report+"\n"), 0o644)
	}
	var rows int
	run(t, page, 5*time.Second, chromedp.Evaluate(tickerRows+`.length`, &rows))
	if rows < symbols {
		t.Errorf("board shows %d rows, want %d", rows, symbols)
	}
	// Both panels followed the feed during the window. How many updates
	// reached the screen is a speed, reported above (docs/benchmarks.md),
	// not asserted here.
	if !desk {
		return
	}
	if got.BookRedraw == 0 {
		t.Errorf("order book not redrawn in %ds: it is not following book.%s", seconds, sel)
	}
	if got.TapeRows == 0 {
		t.Errorf("time and sales added no print in %ds: the tape is not running", seconds)
	}
}

func comma(i int) string {
	if i == 0 {
		return ""
	}
	return ","
}

// TestBrowserFreshChart measures issue 10's "a fresh page shows a full
// chart with history": from navigation start (performance.now() in the
// page, whose origin is the navigation) to the chart holding at least 500
// bars of the default symbol, on a fresh data dir with the simulator
// backfilling. Two pages, each a fresh browser profile: the first opened
// as soon as the node is up (the backfill may still be running), the
// second once the server is warm. Reported, not asserted, beyond a 30 s
// sanity bound.
func TestBrowserFreshChart(t *testing.T) {
	findChromium(t)
	if testing.Short() {
		t.Skip("fresh chart timing is long; skipped with -short")
	}
	cfg := testConfig(t)
	cfg.Feeds = true
	began := time.Now()
	n := startNode(t, cfg)
	t.Logf("fresh chart: node up %v after start", time.Since(began).Round(time.Millisecond))

	// Installed before any page script runs: a frame-by-frame check that
	// stamps the first frame at which the chart holds 500 bars, and when
	// the page first reported connected.
	const probe = `(() => {
		window.__fresh = {};
		function step() {
			const f = window.__fresh, c = document.getElementById('chart'), s = document.getElementById('status');
			if (!f.connected && s && s.dataset.state === 'connected') f.connected = performance.now();
			if (!f.firstBar && c && +(c.dataset.bars || 0) >= 1) f.firstBar = performance.now();
			if (c && +(c.dataset.bars || 0) >= 500) {
				f.full = performance.now(); f.bars = +c.dataset.bars;
				f.sym = (document.getElementById('chart-sym') || {}).textContent || '';
				return;
			}
			requestAnimationFrame(step);
		}
		requestAnimationFrame(step);
	})()`
	type fresh struct {
		Connected float64 `json:"connected"`
		FirstBar  float64 `json:"firstBar"`
		Full      float64 `json:"full"`
		Bars      int     `json:"bars"`
		Sym       string  `json:"sym"`
	}
	measure := func(name string) fresh {
		page := newPage(t)
		var got fresh
		run(t, page, 40*time.Second,
			chromedp.ActionFunc(func(ctx context.Context) error {
				_, err := cdppage.AddScriptToEvaluateOnNewDocument(probe).Do(ctx)
				return err
			}),
			chromedp.Navigate(n.URL()+"/?name="+name),
			waitJS("chart with 500 bars", `window.__fresh && window.__fresh.full > 0`),
			chromedp.Evaluate(`window.__fresh`, &got))
		if got.Full > 30000 {
			t.Errorf("%s: full chart %.0f ms after navigation start; want well under 30 s", name, got.Full)
		}
		// This page has done its part; leave it idle so it costs nothing.
		run(t, page, 10*time.Second, chromedp.Navigate("about:blank"))
		return got
	}
	cold := measure("cold")
	warm := measure("warm")
	report := fmt.Sprintf(`{"cold":{"sym":%q,"bars":%d,"connected_ms":%.0f,"first_bar_ms":%.0f,"full_chart_ms":%.0f},"warm":{"sym":%q,"bars":%d,"connected_ms":%.0f,"first_bar_ms":%.0f,"full_chart_ms":%.0f}}`,
		cold.Sym, cold.Bars, cold.Connected, cold.FirstBar, cold.Full, warm.Sym, warm.Bars, warm.Connected, warm.FirstBar, warm.Full)
	t.Logf("fresh chart: %s", report)
	if dir := os.Getenv("TICKROOM_ARTIFACTS"); dir != "" {
		_ = os.WriteFile(filepath.Join(dir, "fresh-chart.json"), []byte(report+"\n"), 0o644)
	}
}
