// Ticker board: one row per symbol from market.* ticks.
// Ticks are only stored when they arrive; the DOM is touched once per
// animation frame, and only the cells whose text changed. Rows without an
// update for STALE_MS are marked stale instead of silently freezing.
import {fmtPrice, fmtChange, fmtPct, fmtVol, parseTime, el} from './format.js';

export const STALE_MS = 5000;
const SPARK_POINTS = 60;
const COLS = ['sym', 'last', 'chg', 'pct', 'bid', 'ask', 'vol'];
const DYNAMIC = new Set(['last', 'chg', 'pct', 'vol']);

export class Board {
  /** @param table the <table aria-label="Tickers"> with a <tbody>
   *  @param opts {onSelect(sym), onFrame(changedSymbols)} */
  constructor(table, opts = {}) {
    this.table = table;
    this.tbody = table.tBodies[0];
    this.opts = opts;
    this.rows = new Map();      // sym → row state
    this.dirty = new Map();     // sym → latest tick since last frame
    this.raf = 0;
    this.sort = {key: 'sym', dir: 1};
    this.filter = '';
    this.selected = null;
    for (const th of table.tHead.rows[0].cells) {
      const b = th.querySelector('button[data-key]');
      if (b) b.addEventListener('click', () => this.sortBy(b.dataset.key));
    }
    this.tbody.addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-sym]');
      if (tr) this.opts.onSelect?.(tr.dataset.sym);
    });
    this.tbody.addEventListener('keydown', (e) => this.onKey(e));
    setInterval(() => this.checkStale(), 1000);
    setInterval(() => { if (DYNAMIC.has(this.sort.key)) this.applySort(); }, 2000);
  }

  /** Queue a tick (data of a market event); applied on the next frame. */
  tick(d) {
    if (!d || typeof d.symbol !== 'string' || typeof d.price !== 'number') return;
    const prev = this.dirty.get(d.symbol);
    // Keep the direction of the first move in the frame for the flash.
    this.dirty.set(d.symbol, prev ? {...prev, ...d} : d);
    this.schedule();
  }

  /** Analytics for a symbol: change_pct (if any) overrides the session change. */
  analytics(d) {
    const r = d && this.rows.get(d.symbol);
    if (!r) return;
    r.analytics = d;
    if (typeof d.change_pct === 'number') { r.pctOverride = d.change_pct; if (!this.dirty.has(d.symbol)) this.dirty.set(d.symbol, {symbol: d.symbol, price: r.price, recalc: true}); this.schedule(); }
  }

  schedule() { if (!this.raf) this.raf = requestAnimationFrame(() => this.flush()); }

  flush() {
    this.raf = 0;
    const now = Date.now();
    const changed = [];
    let added = false;
    for (const [sym, d] of this.dirty) {
      let r = this.rows.get(sym);
      if (!r) { r = this.addRow(sym); added = true; }
      this.update(r, d, now);
      changed.push(sym);
    }
    this.dirty.clear();
    if (added) this.applySort();
    this.opts.onFrame?.(changed);
  }

  addRow(sym) {
    const tr = el('tr', '', null, {'data-sym': sym, tabindex: this.rows.size ? '-1' : '0'});
    const cells = {};
    for (const k of COLS) {
      const td = el(k === 'sym' ? 'th' : 'td', 'c-' + k);
      if (k === 'sym') {
        td.setAttribute('scope', 'row');
        td.append(el('span', 'sym', sym), el('span', 'stale-tag', 'stale', {title: 'No update for a few seconds'}));
      }
      tr.append(td);
      cells[k] = td;
    }
    const sparkTd = el('td', 'c-spark');
    const canvas = el('canvas', 'spark', null, {width: '60', height: '18', 'aria-hidden': 'true'});
    sparkTd.append(canvas);
    tr.append(sparkTd);
    const r = {sym, tr, cells, canvas, text: {}, price: NaN, ref: NaN, hist: [], histAt: 0, drawnAt: 0,
      last: 0, stale: false, hi: -Infinity, lo: Infinity, vol: NaN, bid: NaN, ask: NaN};
    this.rows.set(sym, r);
    tr.hidden = !!this.filter && !sym.includes(this.filter);
    if (sym === this.selected) tr.setAttribute('aria-current', 'true');
    this.tbody.append(tr);
    return r;
  }

  update(r, d, now) {
    const prevPrice = r.price;
    r.price = d.price;
    if (!Number.isFinite(r.ref)) r.ref = d.price;
    if (typeof d.bid === 'number') r.bid = d.bid;
    if (typeof d.ask === 'number') r.ask = d.ask;
    if (typeof d.volume === 'number') r.vol = d.volume;
    r.hi = Math.max(r.hi, d.price); r.lo = Math.min(r.lo, d.price);
    if (!d.recalc) {  // a real tick, not a recomputation after analytics
      r.time = parseTime(d.time);
      r.last = now;
      if (r.stale) { r.stale = false; r.tr.classList.remove('stale'); }
    }
    let pct, chg;
    if (typeof r.pctOverride === 'number') { pct = r.pctOverride; chg = r.price - r.price / (1 + pct / 100); }
    else { chg = r.price - r.ref; pct = r.ref ? (chg / r.ref) * 100 : 0; }
    r.chg = chg; r.pct = pct;
    this.set(r, 'last', fmtPrice(r.price));
    this.set(r, 'chg', fmtChange(chg, r.price));
    this.set(r, 'pct', fmtPct(pct));
    this.set(r, 'bid', fmtPrice(r.bid, r.price));
    this.set(r, 'ask', fmtPrice(r.ask, r.price));
    this.set(r, 'vol', fmtVol(r.vol));
    const sign = chg > 0 ? 'up' : chg < 0 ? 'down' : '';
    if (r.sign !== sign) {
      r.sign = sign;
      for (const k of ['chg', 'pct']) { r.cells[k].classList.toggle('up', sign === 'up'); r.cells[k].classList.toggle('down', sign === 'down'); }
    }
    if (Number.isFinite(prevPrice) && prevPrice !== r.price) flash(r.cells.last, r.price > prevPrice);
    // Sparkline: one point per second, the last one moves with the price.
    if (now - r.histAt >= 1000 || !r.hist.length) { r.hist.push(r.price); r.histAt = now; if (r.hist.length > SPARK_POINTS) r.hist.shift(); }
    else r.hist[r.hist.length - 1] = r.price;
    if (now - r.drawnAt >= 1000 && !r.tr.hidden) { r.drawnAt = now; drawSpark(r.canvas, r.hist); }
  }

  set(r, k, text) {
    if (r.text[k] === text) return;
    r.text[k] = text;
    r.cells[k].textContent = text;
  }

  checkStale() {
    const now = Date.now();
    for (const r of this.rows.values()) {
      const stale = now - r.last > STALE_MS;
      if (stale !== r.stale) { r.stale = stale; r.tr.classList.toggle('stale', stale); }
    }
  }

  sortBy(key) {
    this.sort = this.sort.key === key ? {key, dir: -this.sort.dir} : {key, dir: key === 'sym' ? 1 : -1};
    for (const th of this.table.tHead.rows[0].cells) {
      const b = th.querySelector('button[data-key]');
      if (b) th.setAttribute('aria-sort', b.dataset.key === key ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
    this.applySort();
  }

  applySort() {
    const {key, dir} = this.sort;
    const v = (r) => key === 'sym' ? r.sym : key === 'last' ? r.price : key === 'vol' ? r.vol : key === 'bid' ? r.bid : key === 'ask' ? r.ask : key === 'chg' ? r.chg : r.pct;
    const rows = [...this.rows.values()].sort((a, b) => {
      const x = v(a), y = v(b);
      if (typeof x === 'string') return dir * x.localeCompare(y);
      const nx = Number.isFinite(x) ? x : -Infinity, ny = Number.isFinite(y) ? y : -Infinity;
      return dir * (nx - ny) || a.sym.localeCompare(b.sym);
    });
    // Move only when the order changed (DOM moves are not free).
    let i = 0, same = true;
    for (const tr of this.tbody.rows) if (tr !== rows[i++]?.tr) { same = false; break; }
    if (same && i === rows.length) return;
    const focused = document.activeElement;
    for (const r of rows) this.tbody.append(r.tr);
    if (focused && this.tbody.contains(focused)) focused.focus();
  }

  setFilter(text) {
    this.filter = text.trim().toUpperCase();
    for (const r of this.rows.values()) r.tr.hidden = !!this.filter && !r.sym.includes(this.filter);
  }

  select(sym) {
    if (this.selected === sym) return;
    this.rows.get(this.selected)?.tr.removeAttribute('aria-current');
    this.selected = sym;
    const r = this.rows.get(sym);
    if (r) {
      r.tr.setAttribute('aria-current', 'true');
      for (const tr of this.tbody.rows) tr.tabIndex = tr === r.tr ? 0 : -1;
    }
  }

  onKey(e) {
    const tr = e.target.closest('tr[data-sym]');
    if (!tr) return;
    const visible = [...this.tbody.rows].filter((x) => !x.hidden);
    const i = visible.indexOf(tr);
    let next = null;
    if (e.key === 'ArrowDown') next = visible[i + 1];
    else if (e.key === 'ArrowUp') next = visible[i - 1];
    else if (e.key === 'Home') next = visible[0];
    else if (e.key === 'End') next = visible[visible.length - 1];
    else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.opts.onSelect?.(tr.dataset.sym); return; }
    else return;
    e.preventDefault();
    if (next) { tr.tabIndex = -1; next.tabIndex = 0; next.focus(); }
  }

  /** Row state for other panels (price, change, hi/lo…); undefined if unseen. */
  get(sym) { return this.rows.get(sym); }
  symbols() { return [...this.rows.keys()]; }
}

const UP = [{backgroundColor: 'rgba(38, 166, 91, 0.35)'}, {backgroundColor: 'rgba(38, 166, 91, 0)'}];
const DOWN = [{backgroundColor: 'rgba(239, 83, 80, 0.35)'}, {backgroundColor: 'rgba(239, 83, 80, 0)'}];
function flash(td, up) {
  if (td.animate) td.animate(up ? UP : DOWN, {duration: 450, easing: 'ease-out'});
}

function drawSpark(canvas, pts) {
  const ctx = canvas.getContext('2d');
  const w = canvas.width, h = canvas.height;
  ctx.clearRect(0, 0, w, h);
  if (pts.length < 2) return;
  let lo = Infinity, hi = -Infinity;
  for (const p of pts) { if (p < lo) lo = p; if (p > hi) hi = p; }
  const span = hi - lo || 1;
  ctx.beginPath();
  pts.forEach((p, i) => {
    const x = (i / (SPARK_POINTS - 1)) * (w - 2) + 1;
    const y = h - 2 - ((p - lo) / span) * (h - 4);
    i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
  });
  ctx.lineWidth = 1.25;
  ctx.strokeStyle = pts[pts.length - 1] >= pts[0] ? '#26a65b' : '#ef5350';
  ctx.stroke();
}
