// Candlestick chart of the selected symbol at the chosen interval, drawn
// with TradingView Lightweight Charts (vendored, Apache-2.0; see
// vendor/lightweight-charts/).
//
// Data (PROTOCOL §4): `history` on candle.<SYM> with `interval` and
// `before` (a time) gives bars oldest first, paged further back as the user
// scrolls left; live 1-minute bars come from the candle.<SYM> subscription
// (since:0 at 1m, which also replays the stored bars) and are folded into
// the bar in progress at longer intervals. A server that answers `history`
// with 1-minute bars whatever the interval is handled by aggregating them.
// VWAP and SMA 20 are computed here over every bar loaded, so they cover
// the whole history on screen. Prices use the instrument's decimals from
// the price store, on the axis, the crosshair and the legend alike.
import {parseTime, fmtPrice, fmtChange, fmtPct, fmtVol, fmtBarTime, fmtAxisTime} from './format.js';
import {INTERVALS, DEFAULT_INTERVAL, validInterval, bucketStart, aggregate, toBar, sma, vwap} from './candles.js';
import {cssColor, withAlpha} from './theme.js';

const LIB = '/vendor/lightweight-charts/lightweight-charts.standalone.production.js';
export const PAGE = 500;
let loading = null;
function loadLib() {
  if (globalThis.LightweightCharts) return Promise.resolve(globalThis.LightweightCharts);
  loading ||= new Promise((resolve, reject) => {
    const s = document.createElement('script');
    s.src = LIB;
    s.onload = () => resolve(globalThis.LightweightCharts);
    s.onerror = () => { loading = null; reject(new Error('chart library failed to load')); };
    document.head.append(s);
  });
  return loading;
}

/** `history` with an interval (and before as a time) on a candle channel. */
function historyReq(socket, channel, opts) { return socket.history(channel, opts); }

export class ChartView {
  /** @param o {container, title, legend (the OHLC line), note, live (button), socket, store, onView(state)} */
  constructor(o) {
    Object.assign(this, o);
    this.sym = null; this.iv = DEFAULT_INTERVAL; this.channel = null; this.gen = 0;
    this.bars = new Map();  // time (s) → bar, at this.iv
    this.minutes = new Map();  // 1m bar start → volume counted into the bar in progress (intervals > 1m)
    this.sorted = null; this.lastTime = 0; this.needsFull = true; this.raf = 0; this.updates = null;
    this.oldest = Infinity; this.exhausted = false; this.paging = false; this.loaded = false;
    this.hover = null; this.dec = undefined;
    this.socket.on('candle', (d, m) => { if (m.channel === this.channel) this.onCandle(d); });
    this.live.addEventListener('click', () => this.toLive());
    this.ready = loadLib().then((LC) => this.build(LC), (e) => { this.note.hidden = false; this.note.textContent = e.message; });
  }

  /** Colours from the page's CSS variables (call again after a theme switch). */
  themeOptions() {
    const text = cssColor('--muted'), grid = cssColor('--grid'), line = cssColor('--line');
    return {
      layout: {background: {type: 'solid', color: 'transparent'}, textColor: text, attributionLogo: false},  // the page links to TradingView next to the chart instead (see index.html)
      grid: {vertLines: {color: grid}, horzLines: {color: grid}},
      rightPriceScale: {borderColor: line, minimumWidth: 72},
      timeScale: {borderColor: line, timeVisible: true, secondsVisible: false},
    };
  }

  applyTheme() {
    if (!this.chart) return;
    this.chart.applyOptions(this.themeOptions());
    const up = cssColor('--up'), down = cssColor('--down');
    this.colors = {up, down, upV: withAlpha(up, 0.35), downV: withAlpha(down, 0.35)};
    this.candles.applyOptions({upColor: up, downColor: down, wickUpColor: up, wickDownColor: down});
    this.vwapLine.applyOptions({color: cssColor('--vwap')});
    this.smaLine.applyOptions({color: cssColor('--sma')});
    this.needsFull = true; this.schedule();
  }

  build(LC) {
    this.chart = LC.createChart(this.container, {
      autoSize: true,
      ...this.themeOptions(),
      crosshair: {mode: 0},
      localization: {
        timeFormatter: (t) => fmtBarTime(t * 1000, this.iv === '1D'),
        priceFormatter: (p) => fmtPrice(p, this.dec),
      },
    });
    this.chart.applyOptions({timeScale: {tickMarkFormatter: (t, type) => fmtAxisTime(t * 1000, type < 3)}});
    this.candles = this.chart.addCandlestickSeries({borderVisible: false});
    this.volume = this.chart.addHistogramSeries({priceFormat: {type: 'volume'}, priceScaleId: '', lastValueVisible: false, priceLineVisible: false});
    this.volume.priceScale().applyOptions({scaleMargins: {top: 0.8, bottom: 0}});
    this.vwapLine = this.chart.addLineSeries({lineWidth: 1, lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false});
    this.smaLine = this.chart.addLineSeries({lineWidth: 1, lastValueVisible: false, priceLineVisible: false, crosshairMarkerVisible: false});
    this.applyTheme();
    this.chart.subscribeCrosshairMove((p) => {
      this.hover = p && p.time !== undefined ? p.time : null;
      this.renderLegend();
    });
    const ts = this.chart.timeScale();
    ts.subscribeVisibleLogicalRangeChange((r) => {
      if (r && r.from < 30) this.loadOlder();
      this.updateLive();
    });
    this.applyPrecision();
    this.schedule();
  }

  /** Price precision from the store (ref data or inferred); cheap to call per frame. */
  applyPrecision() {
    const dec = this.sym ? this.store.decimals(this.sym) : undefined;
    if (!this.candles || dec === this.dec) return;
    this.dec = dec;
    const d = Number.isInteger(dec) ? dec : 2;
    const pf = {type: 'price', precision: d, minMove: Number((10 ** -d).toFixed(d))};
    this.candles.applyOptions({priceFormat: pf});
    this.vwapLine.applyOptions({priceFormat: pf});
    this.smaLine.applyOptions({priceFormat: pf});
    this.chart.applyOptions({localization: {priceFormatter: (p) => fmtPrice(p, d)}});
    this.renderLegend();
  }

  /** Show a symbol at an interval; history first, then live. */
  show(sym, iv = this.iv) {
    if (!validInterval(iv)) iv = DEFAULT_INTERVAL;
    if (sym === this.sym && iv === this.iv) return;
    const gen = ++this.gen;
    const ch = 'candle.' + sym;
    if (this.channel && this.channel !== ch) this.socket.unsubscribe(this.channel).catch(() => {});
    const fresh = this.channel !== ch;
    this.sym = sym; this.iv = iv; this.channel = ch;
    this.title.textContent = sym;
    this.bars.clear(); this.minutes.clear(); this.sorted = null; this.lastTime = 0; this.needsFull = true; this.updates = null;
    this.oldest = Infinity; this.exhausted = false; this.paging = false; this.loaded = false; this.hover = null;
    this.histEnd = 0; this.snap = true;
    this.note.hidden = true;
    this.dec = undefined; this.applyPrecision();
    const hist = this.fetch(gen, {interval: iv, before: new Date(Date.now() + 60000).toISOString(), limit: PAGE}, true);
    // At 1m the subscription with since:0 replays the stored bars too; at
    // other intervals only live bars are wanted (history has the rest).
    const sub = fresh || iv === '1m'
      ? this.socket.subscribe(ch, iv === '1m' ? {since: 0} : {}).catch(() => {})
      : Promise.resolve();
    Promise.allSettled([hist, sub]).then(() => {
      if (gen !== this.gen) return;
      this.loaded = true;
      this.updateNote();
    });
    this.schedule();
    this.onView?.();
  }

  /** One `history` page; falls back to what an older server can answer. */
  async fetch(gen, opts, first) {
    let msgs;
    try {
      msgs = (await historyReq(this.socket, this.channel, opts)).messages || [];
    } catch (e) {
      if (gen !== this.gen) return;
      if (!first) { this.exhausted = true; return; }
      // An older server: no `interval`, `before` by seq. The newest bars it has.
      try { msgs = (await this.socket.history(this.channel, {limit: 500})).messages || []; } catch (e2) { msgs = []; }
      this.exhausted = true;
    }
    if (gen !== this.gen) return;
    const raw = msgs.map((m) => toBar(m.data, parseTime)).filter(Boolean);
    if (!first && raw.length < (opts.limit || PAGE) / 2) this.exhausted = true;
    const bars = aggregate(raw, this.iv);
    let added = 0;
    for (const b of bars) {
      // A bar already here came live, so it is at least as new: keep it.
      if (!this.bars.has(b.time)) { this.bars.set(b.time, b); added++; }
      if (b.time < this.oldest) this.oldest = b.time;
    }
    this.sorted = null;
    if (first && bars.length) this.histEnd = Math.max(this.histEnd, bars[bars.length - 1].time);
    if (!first && !added) this.exhausted = true;
    this.needsFull = true;
    this.shift = first ? 0 : (this.shift || 0) + added;
    this.schedule();
    this.updateNote();
  }

  loadOlder() {
    if (this.paging || this.exhausted || !this.loaded || !Number.isFinite(this.oldest)) return;
    this.paging = true;
    const gen = this.gen;
    this.fetch(gen, {interval: this.iv, before: new Date(this.oldest * 1000).toISOString(), limit: PAGE}, false)
      .finally(() => { if (gen === this.gen) this.paging = false; });
  }

  onCandle(d) {
    const m = toBar(d, parseTime);
    if (!m) return;
    if (d.interval && d.interval !== '1m' && d.interval !== this.iv) return;
    let bar = m;
    if (this.iv !== '1m' && d.interval !== this.iv) {
      const t = bucketStart(m.time, this.iv);
      const have = this.bars.get(t);
      if (!have) {
        if (t < this.histEnd) return;  // history already holds it
        bar = {...m, time: t, live: true, lastMinute: m.time};
      } else {
        // Count each minute's volume once. A minute first seen in the
        // bucket history served last is assumed counted there already.
        const seen = this.minutes.get(m.time);
        const dv = seen !== undefined ? m.volume - seen : have.live || t !== this.histEnd ? m.volume : 0;
        bar = {time: t, open: have.open, high: Math.max(have.high, m.high), low: Math.min(have.low, m.low),
          close: m.time >= (have.lastMinute ?? 0) ? m.close : have.close, volume: (have.volume || 0) + dv,
          live: true, lastMinute: Math.max(have.lastMinute ?? 0, m.time)};
      }
      this.minutes.set(m.time, m.volume);
      if (this.minutes.size > 5000) this.minutes.clear();
    }
    this.bars.set(bar.time, bar);  // a bar in progress comes again with the same start: last wins
    if (bar.time < this.oldest) this.oldest = bar.time;
    if (bar.time < this.lastTime) this.needsFull = true;
    else { this.lastTime = bar.time; (this.updates ||= new Map()).set(bar.time, bar); }
    this.sorted = null;
    this.note.hidden = true;
    this.schedule();
  }

  schedule() { if (!this.raf) this.raf = requestAnimationFrame(() => this.flush()); }

  sortedBars() { return (this.sorted ||= [...this.bars.values()].sort((a, b) => a.time - b.time)); }

  flush() {
    this.raf = 0;
    if (!this.chart) return;
    this.applyPrecision();
    const c = this.colors;
    const vol = (b) => ({time: b.time, value: b.volume ?? 0, color: b.close >= b.open ? c.upV : c.downV});
    const bars = this.sortedBars();
    const plain = (b) => ({time: b.time, open: b.open, high: b.high, low: b.low, close: b.close});
    if (this.needsFull) {
      const ts = this.chart.timeScale();
      const range = ts.getVisibleLogicalRange();
      this.candles.setData(bars.map(plain));
      this.volume.setData(bars.map(vol));
      this.needsFull = false; this.updates = null;
      this.lastTime = bars.length ? bars[bars.length - 1].time : 0;
      if (this.shift && range) ts.setVisibleLogicalRange({from: range.from + this.shift, to: range.to + this.shift});
      else if (this.snap && bars.length) { ts.scrollToRealTime(); if (this.loaded) this.snap = false; }
      this.shift = 0;
      this.overlays(bars);
    } else if (this.updates) {
      for (const b of [...this.updates.values()].sort((a, x) => a.time - x.time)) { this.candles.update(plain(b)); this.volume.update(vol(b)); }
      this.updates = null;
      this.overlays(bars, true);
    }
    // The number of bars drawn, for people reading the DOM (and tests).
    this.container.dataset.bars = String(bars.length);
    this.container.dataset.interval = this.iv;
    this.renderLegend();
    this.updateLive();
  }

  /** VWAP and SMA over every loaded bar; on a live update only the last points move. */
  overlays(bars, tail) {
    const v = vwap(bars, this.iv), s = sma(bars, 20);
    if (tail && v.length) {
      this.vwapLine.update(v[v.length - 1]);
      if (s.length) this.smaLine.update(s[s.length - 1]);
    } else {
      this.vwapLine.setData(v);
      this.smaLine.setData(s);
    }
  }

  renderLegend() {
    const el = this.legend;
    if (!el) return;
    const bars = this.sortedBars();
    let i = bars.length - 1;
    if (this.hover !== null) i = bars.findIndex((b) => b.time === this.hover);
    const b = bars[i];
    if (!b) { el.replaceChildren(); el.dataset.time = ''; return; }
    const prev = bars[i - 1]?.close ?? b.open;
    const d = this.dec, chg = b.close - prev, pct = prev ? (chg / prev) * 100 : 0;
    const cls = chg > 0 ? 'up' : chg < 0 ? 'down' : '';
    const parts = [];
    const b_ = (label, text, c) => { const s = document.createElement('span'); s.append(label + ' '); const x = document.createElement('b'); x.textContent = text; if (c) x.className = c; s.append(x); parts.push(s); };
    const t = document.createElement('span');
    t.className = 'when';
    t.textContent = fmtBarTime(b.time * 1000, this.iv === '1D') + '  ';
    parts.push(t);
    b_('O', fmtPrice(b.open, d)); b_('H', fmtPrice(b.high, d)); b_('L', fmtPrice(b.low, d)); b_('C', fmtPrice(b.close, d));
    b_('V', fmtVol(b.volume));
    b_('', fmtChange(chg, d) + ' (' + fmtPct(pct) + ')', cls);
    el.replaceChildren(...parts);
    el.dataset.time = String(b.time);
  }

  /** "Back to live" shows once the newest bar is scrolled out of view. */
  updateLive() {
    if (!this.chart) return;
    const away = this.bars.size > 0 && this.chart.timeScale().scrollPosition() < -3;
    if (this.live.hidden === away) this.live.hidden = !away;
  }

  toLive() { this.chart?.timeScale().scrollToPosition(0, false); this.live.hidden = true; }

  updateNote() {
    if (!this.loaded) return;
    const none = this.bars.size === 0;
    this.note.hidden = !none;
    if (none) {
      this.note.textContent = this.store.has(this.sym) ? 'No ' + this.iv + ' bars for ' + this.sym + ' yet' : 'No data for ' + this.sym;
      this.vwapLine?.setData([]); this.smaLine?.setData([]);
    }
  }

  interval() { return this.iv; }
  static intervals() { return Object.keys(INTERVALS); }
}
