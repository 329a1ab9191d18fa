// Candlestick chart of the selected symbol, drawn with TradingView
// Lightweight Charts (vendored, Apache-2.0; see vendor/lightweight-charts/).
// History and live bars come from one subscription: candle.<SYM> since:0.
// VWAP and SMA overlays come from analytics.<SYM>, one point per bar.
import {parseTime} from './format.js';

const LIB = '/vendor/lightweight-charts/lightweight-charts.standalone.production.js';
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

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

export class ChartView {
  constructor(container, titleEl, socket) {
    this.container = container; this.titleEl = titleEl; this.socket = socket;
    this.sym = null; this.channel = null;
    this.bars = new Map();  // time (s) → bar
    this.lastTime = 0; this.needsFull = true; this.raf = 0;
    this.overlay = {vwap: new Map(), sma: new Map()};
    socket.on('candle', (d, m) => { if (m.channel === this.channel) this.onCandle(d); });
    socket.on('analytics', (d, m) => { if (this.sym && m.channel === 'analytics.' + this.sym) this.onAnalytics(d); });
    this.ready = loadLib().then((LC) => this.build(LC), (e) => { this.container.textContent = e.message; });
  }

  /** Colours from the page's CSS variables (call again after a theme switch). */
  themeOptions() {
    const text = cssVar('--muted', '#8b95a5'), grid = cssVar('--grid', '#1b2029');
    return {
      layout: {background: {type: 'solid', color: 'transparent'}, textColor: text, attributionLogo: false},  // the page links to TradingView next to the chart instead (see index.html)
      grid: {vertLines: {color: grid}, horzLines: {color: grid}},
      rightPriceScale: {borderColor: grid, minimumWidth: 72},
      timeScale: {borderColor: grid, timeVisible: true, secondsVisible: false},
    };
  }

  applyTheme() { if (this.chart) this.chart.applyOptions(this.themeOptions()); }

  build(LC) {
    this.chart = LC.createChart(this.container, {
      autoSize: true,
      ...this.themeOptions(),
      crosshair: {mode: 0},
      localization: {timeFormatter: (t) => new Date(t * 1000).toLocaleString()},
    });
    this.candles = this.chart.addCandlestickSeries({upColor: '#26a65b', downColor: '#ef5350', borderVisible: false, wickUpColor: '#26a65b', wickDownColor: '#ef5350'});
    this.volume = this.chart.addHistogramSeries({priceFormat: {type: 'volume'}, priceScaleId: '', lastValueVisible: false, priceLineVisible: false});
    this.volume.priceScale().applyOptions({scaleMargins: {top: 0.8, bottom: 0}});
    this.vwap = this.chart.addLineSeries({color: '#e0b341', lineWidth: 1, title: 'VWAP', lastValueVisible: false, priceLineVisible: false});
    this.sma = this.chart.addLineSeries({color: '#5b9cf5', lineWidth: 1, title: 'SMA20', lastValueVisible: false, priceLineVisible: false});
    this.schedule();
  }

  /** Show a symbol: drop the old subscription, replay the new one from 0. */
  show(sym) {
    if (sym === this.sym) return;
    if (this.channel) this.socket.unsubscribe(this.channel).catch(() => {});
    this.sym = sym; this.channel = 'candle.' + sym;
    this.titleEl.textContent = sym;
    this.bars.clear(); this.lastTime = 0; this.needsFull = true;
    this.overlay.vwap.clear(); this.overlay.sma.clear();
    this.socket.subscribe(this.channel, {since: 0}).catch(() => {});
    this.schedule();
  }

  onCandle(d) {
    const t = Math.floor(parseTime(d.start ?? d.time) / 1000);
    if (!Number.isFinite(t) || ![d.open, d.high, d.low, d.close].every(Number.isFinite)) return;
    const bar = {time: t, open: d.open, high: d.high, low: d.low, close: d.close, volume: d.volume};
    this.bars.set(t, bar);   // a bar in progress comes again with the same start: last wins
    if (t < this.lastTime) this.needsFull = true;
    else { this.lastTime = t; (this.updates ||= new Map()).set(t, bar); }
    this.schedule();
  }

  onAnalytics(d) {
    if (!this.lastTime) return;
    let changed = false;
    if (Number.isFinite(d.vwap)) { this.overlay.vwap.set(this.lastTime, d.vwap); changed = true; }
    const sma = d.sma20 ?? d.sma;
    if (Number.isFinite(sma)) { this.overlay.sma.set(this.lastTime, sma); changed = true; }
    if (changed) { this.overlayDirty = true; this.schedule(); }
  }

  schedule() { if (!this.raf) this.raf = requestAnimationFrame(() => this.flush()); }

  flush() {
    this.raf = 0;
    if (!this.chart) return;
    const up = (b) => ({time: b.time, value: b.volume ?? 0, color: b.close >= b.open ? 'rgba(38,166,91,0.35)' : 'rgba(239,83,80,0.35)'});
    if (this.needsFull) {
      const bars = [...this.bars.values()].sort((a, b) => a.time - b.time);
      this.candles.setData(bars);
      this.volume.setData(bars.map(up));
      this.needsFull = false; this.updates = null;
      this.lastTime = bars.length ? bars[bars.length - 1].time : 0;
      if (bars.length) this.chart.timeScale().scrollToRealTime();
    } else if (this.updates) {
      for (const b of [...this.updates.values()].sort((a, c) => a.time - c.time)) { this.candles.update(b); this.volume.update(up(b)); }
      this.updates = null;
    }
    // The number of bars drawn, for people reading the DOM (and tests).
    this.container.dataset.bars = String(this.bars.size);
    if (this.overlayDirty) {
      this.overlayDirty = false;
      const line = (m) => [...m].sort((a, b) => a[0] - b[0]).map(([time, value]) => ({time, value}));
      this.vwap.setData(line(this.overlay.vwap));
      this.sma.setData(line(this.overlay.sma));
    }
  }
}
