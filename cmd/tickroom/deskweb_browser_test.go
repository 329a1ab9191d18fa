package main

// Browser tests of the desk as a trader sees it: prices at the instrument's
// decimals everywhere, layouts that hold at common screen sizes, a banner
// that tells the truth about the connection, choices that survive a reload
// and a URL hash that names the view, and axe-core with zero violations.
// Real Chromium, driven over CDP; real node, real NATS.

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/nats-io/nats.go"

	"github.com/tickroom/tickroom/internal/protocol"
)

// evalJSON evaluates expr (awaiting a promise) and decodes its JSON value into out.
func evalJSON(expr string, out any) chromedp.Action {
	return chromedp.Evaluate(expr, out, func(p *runtime.EvaluateParams) *runtime.EvaluateParams { return p.WithAwaitPromise(true) })
}

// viewport sets the page's size in CSS pixels, as a window of that size would.
func viewport(w, h int) chromedp.Action { return chromedp.EmulateViewport(int64(w), int64(h)) }

// publishJSON publishes a producer message on the node's NATS.
func publishJSON(t *testing.T, nc *nats.Conn, subject, body string) {
	t.Helper()
	if err := nc.Publish(subject, []byte(body)); err != nil {
		t.Fatalf("publish %s: %v", subject, err)
	}
}

func nowRFC3339() string { return time.Now().UTC().Format(time.RFC3339Nano) }

// fxTicks publishes a few EURUSD ticks at five decimals (and candles), a
// yen pair at three and a crypto pair past a thousand, as a producer would.
func fxTicks(t *testing.T, nc *nats.Conn) {
	t.Helper()
	now := time.Now().UTC()
	minute := now.Truncate(time.Minute)
	for i := 0; i < 3; i++ {
		publishJSON(t, nc, "candle.EURUSD", fmt.Sprintf(`{"symbol":"EURUSD","interval":"1m","start":%q,"open":1.08401,"high":1.08433,"low":1.08392,"close":1.08405,"volume":%d}`,
			minute.Add(time.Duration(i-2)*time.Minute).Format(time.RFC3339), 1200+i))
	}
	for _, p := range []float64{1.08405, 1.08411, 1.0841} {
		time.Sleep(30 * time.Millisecond) // ticks are conflated: space them so each is a print
		publishJSON(t, nc, "market.EURUSD", fmt.Sprintf(`{"symbol":"EURUSD","price":%g,"bid":%g,"ask":%g,"size":100000,"volume":5000000,"time":%q}`, p, p-0.00003, p+0.00003, nowRFC3339()))
	}
	publishJSON(t, nc, "market.USDJPY", `{"symbol":"USDJPY","price":149.287,"bid":149.285,"ask":149.289,"time":"`+nowRFC3339()+`"}`)
	publishJSON(t, nc, "market.BTCUSD", `{"symbol":"BTCUSD","price":64261.31,"bid":64261.3,"ask":64261.32,"time":"`+nowRFC3339()+`"}`)
}

// TestBrowserDeskDecimals: EURUSD shows five decimals in every place a
// price is shown — board (last, change, bid, ask), analytics and day range,
// movers, the chart's axis format and OHLC legend, the tape, a chat chip —
// and the order book when the gateway carries book.<SYM>.
func TestBrowserDeskDecimals(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	page := newPage(t)
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana#symbol=EURUSD&interval=1m&room=EURUSD"), waitState("connected"))

	hasRef, hasBook := protocol.KnownKind("ref"), protocol.KnownKind("book")
	if hasRef {
		publishJSON(t, nc, "ref.EURUSD", `{"symbol":"EURUSD","name":"Euro / US Dollar","asset_class":"fx","currency":"USD","tick_size":0.00001,"price_decimals":5}`)
	}
	fxTicks(t, nc)
	if hasBook {
		publishJSON(t, nc, "book.EURUSD", `{"symbol":"EURUSD","time":"`+nowRFC3339()+`","bids":[[1.08407,1000000],[1.08406,2000000]],"asks":[[1.08413,1500000],[1.08414,500000]]}`)
	}
	five := `/^[+−]?\d{1,3}(,\d{3})*\.\d{5}$/`
	row := `document.querySelector('[aria-label="Tickers"] tr[data-sym="EURUSD"]')`
	run(t, page, 15*time.Second,
		waitJS("EURUSD row", row+` !== null`),
		waitJS("EURUSD last 1.08410", row+`.querySelector('.c-last').textContent === '1.08410'`),
		waitJS("bid and ask at 5", fmt.Sprintf(`['.c-bid','.c-ask','.c-chg'].every(c => %s.test(%s.querySelector(c).textContent.trim()))`, five, row)),
		waitJS("yen pair at 3", `document.querySelector('[aria-label="Tickers"] tr[data-sym="USDJPY"] .c-last').textContent === '149.287'`),
		waitJS("crypto grouped", `document.querySelector('[aria-label="Tickers"] tr[data-sym="BTCUSD"] .c-last').textContent === '64,261.31'`),
		waitJS("analytics day range at 5", `/^\d\.\d{5} – \d\.\d{5}$/.test([...document.querySelectorAll('#analytics div')].find(d => d.firstChild.textContent === 'Day range').lastChild.textContent)`),
		waitJS("movers at 5", `[...document.querySelectorAll('#movers [data-sym="EURUSD"] .px')].every(e => /\.\d{5}$/.test(e.textContent))`),
		waitJS("tape at 5", `(() => { const c = [...document.querySelectorAll('[aria-label="Time and sales"] tbody tr td:nth-child(2)')]; return c.length >= 3 && c.every(e => /^\d\.\d{5}$/.test(e.textContent)); })()`),
		waitJS("chart bars", `+document.getElementById('chart').dataset.bars >= 3`),
		waitJS("legend OHLC at 5", `(() => { const b = [...document.querySelectorAll('#ohlc b')].slice(0, 4).map(e => e.textContent); return b.length === 4 && b.every(x => /^\d\.\d{5}$/.test(x)); })()`),
		waitJS("chart axis precision 5", `(() => { const f = globalThis.tickroomChart?.candles?.options().priceFormat; return f && f.precision === 5 && Math.abs(f.minMove - 0.00001) < 1e-12; })()`),
		waitJS("chart axis formatter at 5", `/^1\.08\d{3}$/.test(globalThis.tickroomChart.chart.options().localization.priceFormatter(1.084))`),
	)
	// A $EURUSD chip in chat carries the price at five decimals.
	run(t, page, 10*time.Second, chromedp.SendKeys(byName("Message"), "watch $EURUSD here"+kb.Enter),
		waitJS("chip at 5", `(() => { const p = document.querySelector('[aria-label="Chat messages"] [data-sym="EURUSD"] .chip-price'); return p && /^\d\.\d{5}$/.test(p.textContent); })()`))
	if hasBook {
		run(t, page, 10*time.Second, waitJS("book at 5 and best = board", `(() => {
			const bid = document.querySelector('[aria-label="Order book"] tr[data-best="bid"] td'), ask = document.querySelector('[aria-label="Order book"] tr[data-best="ask"] td');
			return bid && ask && bid.textContent === '1.08407' && ask.textContent === '1.08413';
		})()`))
	} else {
		run(t, page, 5*time.Second, waitJS("no book data", `!document.getElementById('book-empty').hidden && document.getElementById('book-empty').textContent === 'No book data'`))
		t.Log("gateway does not carry book.<SYM> yet: checked the \"No book data\" state")
	}
	screenshot(t, page, "eurusd")
}

// layoutReport measures the page: horizontal overflow, and any two visible
// panels (or header, banner, footer) whose rectangles intersect.
const layoutReport = `(() => {
	const ids = ['p-board', 'p-chart', 'p-info', 'p-book', 'p-tape', 'p-chat'];
	const els = ids.map(id => document.getElementById(id));
	els.push(document.querySelector('.top'), document.querySelector('.foot'), document.querySelector('.tabs'), document.getElementById('banner'));
	const boxes = els.map(e => {
		const r = e.getBoundingClientRect();
		return {id: e.id || e.className, x: r.left, y: r.top, r: r.right, b: r.bottom, w: r.width, h: r.height,
			vis: getComputedStyle(e).display !== 'none' && !e.hidden && r.width > 0 && r.height > 0};
	});
	const over = [];
	const vis = boxes.filter(b => b.vis);
	for (let i = 0; i < vis.length; i++) for (let j = i + 1; j < vis.length; j++) {
		const a = vis[i], c = vis[j];
		const ix = Math.min(a.r, c.r) - Math.max(a.x, c.x), iy = Math.min(a.b, c.b) - Math.max(a.y, c.y);
		if (ix > 0.5 && iy > 0.5) over.push(a.id + ' × ' + c.id);
	}
	const out = vis.filter(b => b.x < -0.5 || b.r > innerWidth + 0.5).map(b => b.id);
	const inner = [...document.querySelectorAll('.panel .scroll, .panel-head, .chart-wrap')].filter(e => e.offsetParent && e.scrollWidth > e.clientWidth + 1).map(e => {
		const edge = e.getBoundingClientRect().right;
		const wide = [...e.querySelectorAll('*')].find(c => c.getBoundingClientRect().right > edge + 1);
		return e.closest('.panel').id + ' ' + e.className + (wide ? ' (' + wide.tagName.toLowerCase() + '.' + wide.className + ' ' + (wide.textContent || '').slice(0, 30) + ')' : '');
	});
	const past = [...document.querySelectorAll('body *')].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5 && getComputedStyle(e).position !== 'fixed').slice(0, 3).map(e => e.tagName.toLowerCase() + '#' + e.id + '.' + e.className);
	return {scrollWidth: document.documentElement.scrollWidth, innerWidth, scrollHeight: document.documentElement.scrollHeight, innerHeight,
		over, out, inner, past, visible: vis.map(b => b.id + ' ' + Math.round(b.w) + 'x' + Math.round(b.h))};
})()`

type layout struct {
	ScrollWidth  float64  `json:"scrollWidth"`
	InnerWidth   float64  `json:"innerWidth"`
	ScrollHeight float64  `json:"scrollHeight"`
	InnerHeight  float64  `json:"innerHeight"`
	Over         []string `json:"over"`
	Out          []string `json:"out"`
	Inner        []string `json:"inner"`
	Visible      []string `json:"visible"`
	Past         []string `json:"past"` // elements past the right edge (maybe clipped), to explain a sideways scroll
}

func checkLayout(t *testing.T, page context.Context, what string) layout {
	t.Helper()
	var l layout
	run(t, page, 10*time.Second, evalJSON(layoutReport, &l))
	if l.ScrollWidth > l.InnerWidth {
		t.Errorf("%s: page scrolls sideways: scrollWidth %v > innerWidth %v (past the edge: %v)", what, l.ScrollWidth, l.InnerWidth, l.Past)
	}
	if len(l.Over) > 0 {
		t.Errorf("%s: panels overlap: %v (visible: %v)", what, l.Over, l.Visible)
	}
	if len(l.Out) > 0 {
		t.Errorf("%s: panels past the viewport's edge: %v", what, l.Out)
	}
	if len(l.Inner) > 0 {
		t.Errorf("%s: panel content scrolls sideways: %v", what, l.Inner)
	}
	return l
}

// TestBrowserDeskLayouts measures the desk at common screen sizes: no
// horizontal scroll, no panels over each other (phones: each tab), and
// the big screen's board uses its height.
func TestBrowserDeskLayouts(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	cfg.Feeds = true
	n := startNode(t, cfg)
	page := newPage(t)
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana#symbol=AAPL&interval=1m&room=lobby"), waitState("connected"),
		waitJS("board filled", tickerRows+`.length >= 10`), waitJS("chart drawn", `document.querySelector('#chart canvas') !== null`))
	sizes := [][2]int{{1920, 1080}, {1440, 900}, {1366, 768}, {1280, 720}, {1024, 768}, {768, 1024}, {390, 844}, {2560, 1440}}
	for _, s := range sizes {
		what := fmt.Sprintf("%dx%d", s[0], s[1])
		run(t, page, 10*time.Second, viewport(s[0], s[1]), chromedp.Sleep(400*time.Millisecond))
		var tabbed bool
		run(t, page, 5*time.Second, chromedp.Evaluate(`getComputedStyle(document.querySelector('.tabs')).display !== 'none'`, &tabbed))
		if !tabbed {
			l := checkLayout(t, page, what)
			if l.ScrollHeight > l.InnerHeight {
				t.Errorf("%s: page scrolls: scrollHeight %v > innerHeight %v", what, l.ScrollHeight, l.InnerHeight)
			}
			screenshot(t, page, what)
			continue
		}
		for _, tab := range []string{"board", "chart", "chat"} {
			run(t, page, 5*time.Second, chromedp.Click(`[role="tab"][data-tab="`+tab+`"]`, chromedp.ByQuery), chromedp.Sleep(250*time.Millisecond))
			l := checkLayout(t, page, what+" "+tab)
			if len(l.Visible) < 3 {
				t.Errorf("%s %s: visible %v", what, tab, l.Visible)
			}
			screenshot(t, page, what+"-"+tab)
		}
		run(t, page, 5*time.Second, chromedp.Click(`[role="tab"][data-tab="board"]`, chromedp.ByQuery))
	}
	// The board never needs to scroll sideways, at any width its splitter allows.
	for _, w := range []int{300, 340, 380, 420, 460, 500, 540, 580, 620, 700} {
		var over string
		run(t, page, 10*time.Second, viewport(1920, 1080), chromedp.Evaluate(fmt.Sprintf(`document.getElementById('desk').style.setProperty('--w-board', '%dpx')`, w), nil),
			chromedp.Sleep(100*time.Millisecond),
			chromedp.Evaluate(`(() => { const s = document.getElementById('board-scroll'); return s.scrollWidth > s.clientWidth + 1 ? s.scrollWidth + ' > ' + s.clientWidth : ''; })()`, &over))
		if over != "" {
			t.Errorf("board %dpx wide: table scrolls sideways (%s)", w, over)
		}
	}
	run(t, page, 5*time.Second, chromedp.Evaluate(`document.getElementById('desk').style.removeProperty('--w-board')`, nil))
	// 2560×1440: the board's rows fill most of its panel, not a third of it.
	var fill float64
	run(t, page, 10*time.Second, viewport(2560, 1440), chromedp.Sleep(300*time.Millisecond),
		chromedp.Evaluate(`document.querySelector('#tickers').getBoundingClientRect().height / document.getElementById('board-scroll').clientHeight`, &fill))
	if fill < 0.6 {
		t.Errorf("2560x1440: the ticker table fills %.0f%% of the board's height, want most of it", fill*100)
	}
}

// bannerText is the text of the alert banner, "" while it is hidden.
const bannerText = `(() => { const b = document.querySelector('[role="alert"]#banner'); return b && !b.hidden ? b.textContent : ''; })()`

// TestBrowserDeskBannerServerStop: once the server stops, a
// role="alert" banner says the connection is lost, since when, and the last
// update time; the chart and lower panels are marked paused.
func TestBrowserDeskBannerServerStop(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	page := newPage(t)
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana#symbol=EURUSD"), waitState("connected"))
	fxTicks(t, nc)
	run(t, page, 10*time.Second, waitJS("EURUSD row", `document.querySelector('[aria-label="Tickers"] tr[data-sym="EURUSD"]') !== null`))
	var before string
	run(t, page, 2*time.Second, chromedp.Evaluate(bannerText, &before))
	if before != "" {
		t.Fatalf("banner shown while live: %q", before)
	}
	stopped := time.Now()
	shutdownNode(t, n)
	run(t, page, 30*time.Second, waitJS("banner", bannerText+`.includes('lost')`)) // a hang guard; the time is logged below
	var text string
	var paused bool
	run(t, page, 2*time.Second, chromedp.Evaluate(bannerText, &text),
		chromedp.Evaluate(`document.body.classList.contains('paused') && getComputedStyle(document.querySelector('#p-chart .paused-tag')).display !== 'none'`, &paused))
	t.Logf("banner %v after the stop: %q", time.Since(stopped).Round(time.Millisecond), text)
	if !strings.Contains(text, "since") || !strings.Contains(text, "Last update") {
		t.Errorf("banner %q does not say since when and the last update", text)
	}
	if !paused {
		t.Error("chart not marked paused while disconnected")
	}
	// Five seconds on (by the ticks' own time) the rows are stale: tinted,
	// marked, and the symbol is still whole.
	run(t, page, 10*time.Second, waitJS("EURUSD stale", `document.querySelector('[aria-label="Tickers"] tr[data-sym="EURUSD"]').classList.contains('stale')`))
	var cut []string
	run(t, page, 5*time.Second, chromedp.Evaluate(`[...document.querySelectorAll('[aria-label="Tickers"] tbody th .sym')].filter(e => e.getBoundingClientRect().right > e.closest('th').getBoundingClientRect().right - 2 || e.textContent !== e.closest('tr').dataset.sym).map(e => e.textContent)`, &cut))
	if len(cut) > 0 {
		t.Errorf("stale rows cut their symbols: %v", cut)
	}
	screenshot(t, page, "server-stopped")
}

// TestBrowserDeskBannerNATS: NATS goes away under a live gateway; the
// gateway's status event becomes a banner (how soon is logged), and it
// goes when NATS is back.
func TestBrowserDeskBannerNATS(t *testing.T) {
	findChromium(t)
	startNATS := restartableNATS(t)
	ns := startNATS()
	t.Cleanup(func() { ns.Shutdown() })
	cfg := testConfig(t)
	cfg.NATSURLs = []string{ns.ClientURL()}
	n := startNode(t, cfg)
	page := newPage(t)
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"))
	publishJSON(t, n.natsConnForTest(), "market.AAPL", `{"symbol":"AAPL","price":189.32,"time":"`+nowRFC3339()+`"}`)
	run(t, page, 10*time.Second, waitJS("AAPL row", `document.querySelector('[aria-label="Tickers"] tr[data-sym="AAPL"]') !== null`))
	stopped := time.Now()
	ns.Shutdown()
	run(t, page, 30*time.Second, waitJS("banner", bannerText+`.includes('unavailable')`)) // a hang guard; the time is logged below
	var text string
	run(t, page, 2*time.Second, chromedp.Evaluate(bannerText, &text))
	t.Logf("banner %v after NATS stopped: %q", time.Since(stopped).Round(time.Millisecond), text)
	if !strings.Contains(text, "since") || !strings.Contains(text, "Last update") {
		t.Errorf("banner %q does not say since when and the last update", text)
	}
	screenshot(t, page, "nats-down")
	ns = startNATS()
	run(t, page, 30*time.Second, waitJS("banner gone", bannerText+` === ''`))
}

// TestBrowserDeskPersistence: symbol, interval, room, sort, filter, theme
// and panel sizes survive a reload; the hash names the view and the page
// follows it both ways.
func TestBrowserDeskPersistence(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	page := newPage(t)
	run(t, page, 30*time.Second, viewport(1440, 900), chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"))
	fxTicks(t, nc)
	run(t, page, 10*time.Second, waitJS("rows", tickerRows+`.length >= 3`),
		clickJS(`#follow`), // off by default (issue 14); the room follows from here
		clickJS(`[aria-label="Tickers"] tr[data-sym="USDJPY"]`),
		chromedp.Click(`[aria-label="Interval"] button[data-iv="15m"]`, chromedp.ByQuery),
		chromedp.Click(`[aria-label="Tickers"] thead button[data-key="pct"]`, chromedp.ByQuery),
		chromedp.SendKeys(byName("Filter symbols"), "usd"),
		chromedp.Click(`#theme`, chromedp.ByQuery),
		waitJS("hash written", `location.hash === '#symbol=USDJPY&interval=15m&room=USDJPY'`),
	)
	// Resize the board with the keyboard (the splitter is a focusable separator).
	var w0, w1 float64
	run(t, page, 5*time.Second, chromedp.Evaluate(`document.getElementById('p-board').getBoundingClientRect().width`, &w0),
		chromedp.Focus(`#split-board`, chromedp.ByQuery), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight),
		chromedp.Evaluate(`document.getElementById('p-board').getBoundingClientRect().width`, &w1))
	if w1 <= w0 {
		t.Fatalf("board width %v → %v after ArrowRight on its splitter", w0, w1)
	}
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana"), waitState("connected"))
	var got struct {
		Hash, Sym, Room, Sort, Filter, Theme, Iv string
		W                                        float64
	}
	run(t, page, 10*time.Second, waitJS("chart USDJPY", `document.getElementById('chart-sym').textContent === 'USDJPY'`),
		evalJSON(`({hash: location.hash, sym: document.getElementById('chart-sym').textContent, room: document.getElementById('chat-title').textContent,
			sort: document.querySelector('[aria-label="Tickers"] th[aria-sort="descending"] button')?.dataset.key || '',
			filter: document.getElementById('filter').value, theme: document.documentElement.dataset.theme || 'dark',
			iv: document.querySelector('[aria-label="Interval"] [aria-pressed="true"]').dataset.iv,
			w: document.getElementById('p-board').getBoundingClientRect().width})`, &got))
	want := "USDJPY $USDJPY pct usd light 15m"
	if s := strings.Join([]string{got.Sym, got.Room, got.Sort, got.Filter, got.Theme, got.Iv}, " "); s != want || got.Hash != "#symbol=USDJPY&interval=15m&room=USDJPY" || got.W < w1-1 || got.W > w1+1 {
		t.Errorf("after reload: %+v, want %q, hash #symbol=USDJPY&interval=15m&room=USDJPY and board width %v", got, want, w1)
	}
	// The hash leads: a changed hash moves the view…
	run(t, page, 10*time.Second, chromedp.Evaluate(`location.hash = '#symbol=EURUSD&interval=5m&room=lobby'`, nil),
		waitJS("chart follows the hash", `document.getElementById('chart-sym').textContent === 'EURUSD'`),
		waitJS("interval follows", `document.querySelector('[aria-label="Interval"] [aria-pressed="true"]').dataset.iv === '5m'`),
		waitJS("room follows", `document.getElementById('chat-title').textContent === '#lobby'`))
	// …and a choice on the page moves the hash.
	run(t, page, 10*time.Second, chromedp.Click(`[aria-label="Interval"] button[data-iv="1h"]`, chromedp.ByQuery),
		waitJS("hash follows the page", `location.hash === '#symbol=EURUSD&interval=1h&room=lobby'`))
	// A link pasted in a fresh browser opens the same view.
	other := newPage(t)
	run(t, other, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=bob#symbol=USDJPY&interval=5m&room=USDJPY"), waitState("connected"),
		waitJS("linked view", `document.getElementById('chart-sym').textContent === 'USDJPY' && document.getElementById('chat-title').textContent === '$USDJPY' &&
			document.querySelector('[aria-label="Interval"] [aria-pressed="true"]').dataset.iv === '5m'`))
}

// axeSource finds axe-core's axe.min.js (npm package axe-core, installed by
// .ci/run into .cache/axe); skips when missing unless TICKROOM_REQUIRE_AXE is set.
func axeSource(t *testing.T) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("TICKROOM_AXE"); p != "" {
		candidates = append(candidates, p)
	}
	for _, root := range []string{"../..", "."} {
		candidates = append(candidates, filepath.Join(root, ".cache", "axe", "node_modules", "axe-core", "axe.min.js"))
	}
	for _, p := range candidates {
		if b, err := os.ReadFile(p); err == nil && len(b) > 1000 {
			return string(b)
		}
	}
	msg := "axe test needs axe-core: npm install --prefix .cache/axe axe-core (.ci/run does)"
	if os.Getenv("TICKROOM_REQUIRE_AXE") != "" {
		t.Fatal(msg + " — TICKROOM_REQUIRE_AXE is set, so this is a failure")
	}
	t.Skip(msg)
	return ""
}

// TestBrowserDeskAxe: axe-core finds no violations (WCAG 2 A/AA rules and
// best practices) in the dark and light themes at 1366×768 and 1920×1080.
func TestBrowserDeskAxe(t *testing.T) {
	findChromium(t)
	axe := axeSource(t)
	cfg := testConfig(t)
	cfg.Feeds = true
	n := startNode(t, cfg)
	page := newPage(t)
	run(t, page, 30*time.Second, chromedp.Navigate(n.URL()+"/?name=ana#symbol=AAPL&interval=1m&room=AAPL"), waitState("connected"),
		waitJS("board filled", tickerRows+`.length >= 10`), waitJS("chart drawn", `+document.getElementById('chart').dataset.bars >= 1`))
	run(t, page, 10*time.Second, chromedp.SendKeys(byName("Message"), "$AAPL and $TSLA for the axe run"+kb.Enter),
		waitText("Chat messages", "for the axe run"))
	var injected bool
	run(t, page, 10*time.Second, chromedp.Evaluate(axe+";\ntypeof axe === 'object'", &injected))
	if !injected {
		t.Fatal("axe-core did not load in the page")
	}
	for _, theme := range []string{"dark", "light"} {
		for _, s := range [][2]int{{1366, 768}, {1920, 1080}} {
			what := fmt.Sprintf("%s %dx%d", theme, s[0], s[1])
			set := `delete document.documentElement.dataset.theme`
			if theme == "light" {
				set = `document.documentElement.dataset.theme = 'light'`
			}
			// Reduced motion, as a user may ask: no flash mid-way changes a measured contrast.
			run(t, page, 10*time.Second, viewport(s[0], s[1]),
				emulation.SetEmulatedMedia().WithFeatures([]*emulation.MediaFeature{{Name: "prefers-reduced-motion", Value: "reduce"}}),
				chromedp.Evaluate(set+`; true`, nil), chromedp.Sleep(600*time.Millisecond))
			var res []struct {
				ID    string `json:"id"`
				Help  string `json:"help"`
				Nodes []struct {
					Target  []any  `json:"target"`
					Summary string `json:"failureSummary"`
				} `json:"nodes"`
			}
			run(t, page, 60*time.Second, evalJSON(`axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map(v => ({id: v.id, help: v.help, nodes: v.nodes.slice(0, 5).map(n => ({target: n.target, failureSummary: n.failureSummary}))})))`, &res))
			for _, v := range res {
				b, _ := json.Marshal(v.Nodes)
				t.Errorf("%s: axe %s (%s): %s", what, v.ID, v.Help, b)
			}
			if len(res) == 0 {
				t.Logf("%s: axe-core: no violations", what)
			}
			screenshot(t, page, strings.ReplaceAll(what, " ", "-"))
		}
	}
}

// pastCandles publishes n one-minute EURUSD bars ending at the current
// minute (a producer's recent history).
func pastCandles(t *testing.T, nc *nats.Conn, n int) {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Minute)
	p := 1.08
	for i := n - 1; i >= 0; i-- {
		o := p
		p += 0.00003 * float64((i%7)-3)
		publishJSON(t, nc, "candle.EURUSD", fmt.Sprintf(`{"symbol":"EURUSD","interval":"1m","start":%q,"open":%.5f,"high":%.5f,"low":%.5f,"close":%.5f,"volume":%d}`,
			now.Add(-time.Duration(i)*time.Minute).Format(time.RFC3339), o, max(o, p)+0.00002, min(o, p)-0.00002, p, 1000+i))
	}
}

// TestBrowserDeskChart: bars at 1m and aggregated at 5m, the crosshair
// legend (O H L C V and change, 24-hour time) for the bar under the
// pointer, Back to live after scrolling into the past, and an unknown
// symbol that says there is no data for it.
func TestBrowserDeskChart(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	pastCandles(t, nc, 120)
	fxTicks(t, nc)
	page := newPage(t)
	run(t, page, 30*time.Second, viewport(1440, 900), chromedp.Navigate(n.URL()+"/?name=ana#symbol=EURUSD&interval=1m&room=lobby"), waitState("connected"),
		waitJS("120 bars at 1m", `+document.getElementById('chart').dataset.bars >= 120`))
	var legend string
	run(t, page, 5*time.Second, chromedp.Evaluate(`document.getElementById('ohlc').textContent`, &legend))
	for _, want := range []string{"O ", "H ", "L ", "C ", "V "} {
		if !strings.Contains(legend, want) {
			t.Errorf("legend %q lacks %q", legend, want)
		}
	}
	// The crosshair over an older bar shows that bar.
	var before, after string
	run(t, page, 10*time.Second, chromedp.Evaluate(`document.getElementById('ohlc').dataset.time`, &before),
		chromedp.ActionFunc(func(ctx context.Context) error {
			var box []float64
			if err := chromedp.Evaluate(`(() => { const r = document.getElementById('chart').getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })()`, &box).Do(ctx); err != nil {
				return err
			}
			return chromedp.MouseEvent("mouseMoved", box[0]+box[2]*0.4, box[1]+box[3]*0.5).Do(ctx)
		}),
		waitJS("legend follows the crosshair", `document.getElementById('ohlc').dataset.time !== `+jsonString(t, before)),
		chromedp.Evaluate(`document.getElementById('ohlc').textContent`, &after))
	if !regexpMatch(`\b([01]\d|2[0-3]):[0-5]\d\b`, after) || !regexpMatch(`[+−]?\d\.\d{5} \([+−]?\d`, after) {
		t.Errorf("crosshair legend %q: want a 24-hour time and the bar's change", after)
	}
	// Scrolled into the past: Back to live appears and brings the chart back.
	run(t, page, 10*time.Second,
		chromedp.Evaluate(`tickroomChart.chart.timeScale().scrollToPosition(-60, false)`, nil),
		waitJS("Back to live shown", `!document.getElementById('live').hidden`),
		chromedp.Click(`#live`, chromedp.ByQuery),
		waitJS("back at live", `document.getElementById('live').hidden && tickroomChart.chart.timeScale().scrollPosition() > -1`))
	// 5m: the same minutes in five-minute bars (24 or 25 of them).
	run(t, page, 10*time.Second, chromedp.Click(`[aria-label="Interval"] button[data-iv="5m"]`, chromedp.ByQuery),
		waitJS("5m bars", `document.getElementById('chart').dataset.interval === '5m' && +document.getElementById('chart').dataset.bars >= 24 && +document.getElementById('chart').dataset.bars <= 26`))
	// VWAP and SMA are drawn over the loaded history.
	var lines []int
	run(t, page, 5*time.Second, chromedp.Evaluate(`[tickroomChart.vwapLine.data().length, tickroomChart.smaLine.data().length]`, &lines))
	if len(lines) != 2 || lines[0] < 24 || lines[1] < 4 {
		t.Errorf("VWAP/SMA points over 5m history: %v", lines)
	}
	// An unknown symbol says so and draws nothing of the last one.
	run(t, page, 10*time.Second, chromedp.Evaluate(`location.hash = '#symbol=ZZZZ&interval=1m&room=lobby'`, nil),
		waitJS("no data note", `!document.getElementById('chart-note').hidden && document.getElementById('chart-note').textContent === 'No data for ZZZZ'`),
		waitJS("no overlay left", `tickroomChart.vwapLine.data().length === 0 && +document.getElementById('chart').dataset.bars === 0`))
	screenshot(t, page, "zzzz")
}

// TestBrowserDeskKeyboard: a calm board (no flash without a change of the
// shown digits, zero change neutral), the empty-filter message, search
// with type-ahead on / and Ctrl+K, arrow keys moving the selection with
// the chart following, ? for the shortcuts; every control shows focus.
func TestBrowserDeskKeyboard(t *testing.T) {
	findChromium(t)
	cfg := testConfig(t)
	n := startNode(t, cfg)
	nc := n.natsConnForTest()
	page := newPage(t)
	run(t, page, 30*time.Second, viewport(1440, 900), chromedp.Navigate(n.URL()+"/?name=ana#symbol=BTCUSD&interval=1m&room=lobby"), waitState("connected"))
	fxTicks(t, nc)
	run(t, page, 10*time.Second, waitJS("rows", tickerRows+`.length === 3`))
	// The same price again, many times: nothing on the board flashes.
	for i := 0; i < 20; i++ {
		publishJSON(t, nc, "market.USDJPY", `{"symbol":"USDJPY","price":149.287,"bid":149.285,"ask":149.289,"time":"`+nowRFC3339()+`"}`)
		time.Sleep(10 * time.Millisecond)
	}
	var flashing int
	var neutral bool
	run(t, page, 5*time.Second, chromedp.Sleep(100*time.Millisecond),
		chromedp.Evaluate(`document.querySelector('[aria-label="Tickers"] tr[data-sym="USDJPY"] .c-last').getAnimations().length`, &flashing),
		chromedp.Evaluate(`(() => { const c = document.querySelector('[aria-label="Tickers"] tr[data-sym="USDJPY"] .c-pct'); return c.textContent === '0.00%' && !c.classList.contains('up') && !c.classList.contains('down'); })()`, &neutral))
	if flashing != 0 || !neutral {
		t.Errorf("unchanged USDJPY: %d flashing cells, zero change neutral: %v", flashing, neutral)
	}
	// Sorted by Last, the rows hold still while the pointer is on the board,
	// and re-sort once it leaves.
	order := `[...document.querySelectorAll('[aria-label="Tickers"] tbody tr')].map(r => r.dataset.sym).join(',')`
	mouseAt := func(sel string) chromedp.Action {
		return chromedp.ActionFunc(func(ctx context.Context) error {
			var box []float64
			if err := chromedp.Evaluate(`(() => { const r = document.querySelector(`+jsonString(t, sel)+`).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2]; })()`, &box).Do(ctx); err != nil {
				return err
			}
			return chromedp.MouseEvent("mouseMoved", box[0], box[1]).Do(ctx)
		})
	}
	run(t, page, 10*time.Second, chromedp.Click(`[aria-label="Tickers"] thead button[data-key="last"]`, chromedp.ByQuery),
		waitJS("sorted by last", order+` === 'BTCUSD,USDJPY,EURUSD'`),
		mouseAt(`[aria-label="Tickers"] tr[data-sym="EURUSD"]`))
	publishJSON(t, nc, "market.EURUSD", `{"symbol":"EURUSD","price":99999.5,"time":"`+nowRFC3339()+`"}`)
	var held string
	run(t, page, 10*time.Second, waitJS("new price shown", `document.querySelector('[aria-label="Tickers"] tr[data-sym="EURUSD"] .c-last').textContent.startsWith('99,999')`),
		chromedp.Sleep(2500*time.Millisecond), chromedp.Evaluate(order, &held))
	if held != "BTCUSD,USDJPY,EURUSD" {
		t.Errorf("rows re-sorted under the pointer: %s", held)
	}
	// Focus in the board holds the order too: the sort button has it.
	run(t, page, 10*time.Second, mouseAt(`#chart`), chromedp.Sleep(300*time.Millisecond), chromedp.Evaluate(order, &held))
	if held != "BTCUSD,USDJPY,EURUSD" {
		t.Errorf("rows re-sorted while focus was in the board: %s", held)
	}
	run(t, page, 10*time.Second, chromedp.Evaluate(`document.activeElement.blur()`, nil), waitJS("re-sorted once pointer and focus left", order+` === 'EURUSD,BTCUSD,USDJPY'`),
		chromedp.Click(`[aria-label="Tickers"] thead button[data-key="sym"]`, chromedp.ByQuery))
	// Filter with no match says so.
	run(t, page, 5*time.Second, chromedp.SendKeys(byName("Filter symbols"), "qqqq"),
		waitJS("empty filter message", `!document.getElementById('board-empty').hidden && document.getElementById('board-empty').textContent.includes('QQQQ')`))
	run(t, page, 5*time.Second, chromedp.Evaluate(`(() => { const f = document.getElementById('filter'); f.value = ''; f.dispatchEvent(new Event('input')); f.blur(); })()`, nil))
	// "/" then type-ahead then Enter opens the symbol.
	run(t, page, 10*time.Second, chromedp.KeyEvent("/"),
		waitJS("search focused", `document.activeElement === document.querySelector('[aria-label="Symbol search"]')`),
		chromedp.KeyEvent("eur"),
		waitJS("type-ahead", `document.querySelector('#search-list [aria-selected="true"]')?.dataset.sym === 'EURUSD'`),
		chromedp.KeyEvent(kb.Enter),
		waitJS("chart EURUSD", `document.getElementById('chart-sym').textContent === 'EURUSD'`))
	// Ctrl+K also opens the search.
	run(t, page, 5*time.Second, chromedp.KeyEvent("k", chromedp.KeyModifiers(2)),
		waitJS("Ctrl+K focuses search", `document.activeElement === document.querySelector('[aria-label="Symbol search"]')`),
		chromedp.KeyEvent(kb.Escape))
	// Arrow keys in the board move the selection; the chart follows.
	run(t, page, 10*time.Second, chromedp.Focus(`[aria-label="Tickers"] tr[data-sym="BTCUSD"]`, chromedp.ByQuery), chromedp.KeyEvent(kb.ArrowDown),
		waitJS("selection moved", `document.querySelector('[aria-label="Tickers"] tr[aria-current="true"]').dataset.sym === 'EURUSD'`),
		chromedp.KeyEvent(kb.ArrowDown),
		waitJS("chart follows", `document.getElementById('chart-sym').textContent === 'USDJPY'`))
	// "?" shows the shortcuts.
	run(t, page, 5*time.Second, chromedp.Evaluate(`document.activeElement.blur()`, nil), chromedp.KeyEvent("?"),
		waitJS("shortcuts open", `document.getElementById('shortcuts').open`), chromedp.KeyEvent(kb.Escape),
		waitJS("shortcuts closed", `!document.getElementById('shortcuts').open`))
	// Every control shows focus when reached from the keyboard.
	var noRing []string
	run(t, page, 30*time.Second, evalJSON(`(async () => {
		const bad = [];
		const sel = 'button, a[href], input, select, textarea, [tabindex="0"], summary';
		for (const e of document.querySelectorAll(sel)) {
			if (!e.offsetParent || e.closest('dialog:not([open])')) continue;
			e.focus();
			if (document.activeElement !== e) continue;
			const s = getComputedStyle(e);
			const ring = (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0) || s.boxShadow !== 'none';
			if (!ring) bad.push(e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') + '.' + e.className + ' ' + (e.textContent || '').trim().slice(0, 20));
		}
		return bad;
	})()`, &noRing))
	if len(noRing) > 0 {
		t.Errorf("controls without a visible focus ring: %v", noRing)
	}
}

func regexpMatch(re, s string) bool { return regexp.MustCompile(re).MatchString(s) }

// TestBrowserDeskHistory needs the PROTOCOL §4 back end (simulated
// history, book.<SYM>): on a fresh start every interval opens with at
// least 500 bars within 3 s, scrolling left pages older bars in, and the
// order book's best levels agree with the board's bid and ask.
func TestBrowserDeskHistory(t *testing.T) {
	findChromium(t)
	if !protocol.KnownKind("book") {
		t.Skip("needs the book.<SYM> kind and candle history by interval (PROTOCOL §4 back end)")
	}
	cfg := testConfig(t)
	cfg.Feeds = true
	n := startNode(t, cfg)
	page := newPage(t)
	run(t, page, 30*time.Second, viewport(1440, 900), chromedp.Navigate(n.URL()+"/?name=ana#symbol=EURUSD&interval=1m&room=lobby"), waitState("connected"))
	for _, iv := range []string{"1m", "5m", "15m", "1h", "1D"} {
		start := time.Now()
		run(t, page, 10*time.Second, chromedp.Click(`[aria-label="Interval"] button[data-iv="`+iv+`"]`, chromedp.ByQuery),
			waitJS(iv+" bars", `document.getElementById('chart').dataset.interval === '`+iv+`' && +document.getElementById('chart').dataset.bars >= 500`))
		t.Logf("%s: %s bars shown %v after the click", iv, ">= 500", time.Since(start).Round(time.Millisecond))
		var legend string
		run(t, page, 5*time.Second, chromedp.Evaluate(`document.getElementById('ohlc').textContent`, &legend))
		if !regexpMatch(`O \d\.\d{5}`, legend) {
			t.Errorf("%s legend %q: want O at five decimals", iv, legend)
		}
	}
	// Scrolling into the past pages older bars in.
	var before int
	run(t, page, 10*time.Second, chromedp.Click(`[aria-label="Interval"] button[data-iv="1m"]`, chromedp.ByQuery),
		waitJS("1m", `document.getElementById('chart').dataset.interval === '1m' && +document.getElementById('chart').dataset.bars >= 500`),
		chromedp.Evaluate(`+document.getElementById('chart').dataset.bars`, &before),
		chromedp.Evaluate(`tickroomChart.chart.timeScale().setVisibleLogicalRange({from: 0, to: 80})`, nil),
		waitJS("older bars paged in", fmt.Sprintf(`+document.getElementById('chart').dataset.bars > %d`, before)))
	// The book's best bid and ask are the board's.
	run(t, page, 15*time.Second, waitJS("book best = board", `(() => {
		const bid = document.querySelector('[aria-label="Order book"] tr[data-best="bid"] td'), ask = document.querySelector('[aria-label="Order book"] tr[data-best="ask"] td');
		const b = document.querySelector('[aria-label="Tickers"] tr[data-sym="EURUSD"]');
		return bid && ask && b && bid.textContent === b.querySelector('.c-bid').textContent && ask.textContent === b.querySelector('.c-ask').textContent;
	})()`))
	screenshot(t, page, "history")
}
