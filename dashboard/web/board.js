// Ticker board: one row per symbol, drawn from the price store. The DOM is
// touched once per frame, only for cells whose text changed. A cell flashes
// only when its shown digits change, at most once per FLASH_MS. Rows whose
// last tick (by the tick's own time) is older than STALE_MS are tinted and
// marked with an icon. Sorting waits while the pointer or focus is in the
// board, so rows do not move under the user.
import {fmtChange, fmtPct, fmtVol, shownSign, el} from './format.js';
import {cssColor} from './theme.js';

export const STALE_MS = 5000;
export const FLASH_MS = 250;
const SPARK_POINTS = 60;
const COLS = ['sym', 'last', 'chg', 'pct', 'bid', 'ask', 'vol'];
const DYNAMIC = new Set(['last', 'chg', 'pct', 'vol', 'bid', 'ask']);

export class Board {
  /** @param table the <table aria-label="Tickers"> with a <tbody>
   *  @param store the PriceStore
   *  @param opts {onSelect(sym, how), empty: <p> for "no match", hold: element whose hover/focus holds the order} */
  constructor(table, store, opts = {}) {
    this.table = table;
    this.tbody = table.tBodies[0];
    this.store = store;
    this.opts = opts;
    this.rows = new Map();      // sym → row view state
    this.sort = {key: 'sym', dir: 1};
    this.filter = '';
    this.selected = null;
    this.held = {pointer: false, focus: false};
    this.sortDue = false;
    for (const th of table.tHead.rows[0].cells) {
      const b = th.querySelector('button[data-key]');
      if (b) b.addEventListener('click', () => this.sortBy(b.dataset.key));
    }
    this.tbody.addEventListener('click', (e) => {
      const tr = e.target.closest('tr[data-sym]');
      if (tr) { this.focusRow(tr); this.opts.onSelect?.(tr.dataset.sym, 'click'); }
    });
    this.tbody.addEventListener('keydown', (e) => this.onKey(e));
    const hold = opts.hold || table;
    hold.addEventListener('pointerenter', () => { this.held.pointer = true; });
    hold.addEventListener('pointerleave', () => { this.held.pointer = false; this.release(); });
    hold.addEventListener('focusin', () => { this.held.focus = true; });
    hold.addEventListener('focusout', (e) => { if (!hold.contains(e.relatedTarget)) { this.held.focus = false; this.release(); } });
    this.applyTheme();
    store.onChange((syms) => this.render(syms));
    this.staleTimer = setInterval(() => this.checkStale(), 1000);
    this.sortTimer = setInterval(() => { if (DYNAMIC.has(this.sort.key)) this.requestSort(); }, 2000);
  }

  applyTheme() {
    this.colors = {up: cssColor('--up'), down: cssColor('--down')};
    const fl = (c) => [{backgroundColor: c}, {backgroundColor: 'transparent'}];
    this.flashUp = fl(cssColor('--flash-up')); this.flashDown = fl(cssColor('--flash-down'));
    this.motion ||= typeof matchMedia === 'function' ? matchMedia('(prefers-reduced-motion: reduce)') : {matches: false};
    for (const r of this.rows.values()) r.drawnAt = 0;
  }

  get isHeld() { return this.held.pointer || this.held.focus; }
  release() { if (!this.isHeld && this.sortDue) this.applySort(); }
  requestSort() { if (this.isHeld) this.sortDue = true; else this.applySort(); }

  render(syms) {
    const now = Date.now();
    let added = false;
    for (const sym of syms) {
      const it = this.store.get(sym);
      if (!it || !Number.isFinite(it.price)) continue;
      let r = this.rows.get(sym);
      if (!r) { r = this.addRow(sym); added = true; }
      this.update(r, it, now);
    }
    if (added) { this.applySort(); this.updateEmpty(); }
  }

  addRow(sym) {
    const tr = el('tr', '', null, {'data-sym': sym, tabindex: this.rows.size ? '-1' : '0'});
    const cells = {};
    for (const k of COLS) {
      const td = el(k === 'sym' ? 'th' : 'td', 'c-' + k);
      if (k === 'sym') {
        td.setAttribute('scope', 'row');
        td.append(el('span', 'sym', sym), el('span', 'stale-note', ' (stale)'));
      }
      tr.append(td);
      cells[k] = td;
    }
    const sparkTd = el('td', 'c-spark');
    const canvas = el('canvas', 'spark', null, {width: '90', height: '24', 'aria-hidden': 'true'});
    sparkTd.append(canvas);
    tr.append(sparkTd);
    const r = {sym, tr, cells, canvas, text: {}, flashAt: 0, hist: [], histAt: 0, drawnAt: 0, stale: false, sign: ''};
    this.rows.set(sym, r);
    tr.hidden = !this.matches(sym);
    if (sym === this.selected) tr.setAttribute('aria-current', 'true');
    this.tbody.append(tr);
    return r;
  }

  update(r, it, now) {
    const s = this.store, sym = r.sym;
    const dec = s.decimals(sym);
    const last = s.fmt(sym, it.price);
    const prevLast = r.text.last;
    this.set(r, 'last', last);
    const chg = fmtChange(it.chg, dec);
    this.set(r, 'chg', chg);
    const pct = fmtPct(it.pct);
    this.set(r, 'pct', pct);
    this.set(r, 'bid', s.fmt(sym, it.bid));
    this.set(r, 'ask', s.fmt(sym, it.ask));
    this.set(r, 'vol', fmtVol(it.volume));
    // Each cell's colour follows its own text: a value shown as zero is neutral.
    const signs = [shownSign(chg), shownSign(pct)];
    if (r.sign !== signs.join()) {
      r.sign = signs.join();
      ['chg', 'pct'].forEach((k, i) => { r.cells[k].classList.toggle('up', signs[i] > 0); r.cells[k].classList.toggle('down', signs[i] < 0); });
    }
    if (prevLast !== undefined && prevLast !== last && now - r.flashAt >= FLASH_MS && !r.tr.hidden) {
      r.flashAt = now;
      // The Web Animations API restarts a flash without forcing a layout.
      const up = it.price > (r.lastPrice ?? it.price);
      if (!this.motion.matches && r.cells.last.animate) r.cells.last.animate(up ? this.flashUp : this.flashDown, {duration: 450, easing: 'ease-out'});
    }
    r.lastPrice = it.price;
    this.setStale(r, now - it.time > STALE_MS);
    // Sparkline: one point per second, the last one moves with the price.
    if (now - r.histAt >= 1000 || !r.hist.length) { r.hist.push(it.price); r.histAt = now; if (r.hist.length > SPARK_POINTS) r.hist.shift(); }
    else r.hist[r.hist.length - 1] = it.price;
    if (now - r.drawnAt >= 1000 && !r.tr.hidden) { r.drawnAt = now; drawSpark(r.canvas, r.hist, this.colors); }
  }

  set(r, k, text) {
    if (r.text[k] === text) return;
    r.text[k] = text;
    r.cells[k].textContent = text;
  }

  setStale(r, stale) {
    if (stale === r.stale) return;
    r.stale = stale;
    r.tr.classList.toggle('stale', stale);
    r.tr.title = stale ? 'No update for ' + Math.round(STALE_MS / 1000) + ' s or more' : '';
  }

  /** Staleness is measured from each tick's own time, not when it arrived. */
  checkStale() {
    const now = Date.now();
    for (const r of this.rows.values()) {
      const it = this.store.get(r.sym);
      this.setStale(r, !it || !(now - it.time <= STALE_MS));
    }
  }

  sortBy(key, dir) {
    this.sort = dir ? {key, dir} : this.sort.key === key ? {key, dir: -this.sort.dir} : {key, dir: key === 'sym' ? 1 : -1};
    for (const th of this.table.tHead.rows[0].cells) {
      const b = th.querySelector('button[data-key]');
      if (b) th.setAttribute('aria-sort', b.dataset.key === this.sort.key ? (this.sort.dir > 0 ? 'ascending' : 'descending') : 'none');
    }
    this.applySort();
    this.opts.onSort?.(this.sort);
  }

  applySort() {
    this.sortDue = false;
    const {key, dir} = this.sort;
    const s = this.store;
    const v = (r) => {
      const it = s.get(r.sym) || {};
      return key === 'sym' ? r.sym : key === 'last' ? it.price : key === 'vol' ? it.volume : key === 'bid' ? it.bid : key === 'ask' ? it.ask : key === 'chg' ? it.chg : it.pct;
    };
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
    if (focused && this.tbody.contains(focused)) focused.focus({preventScroll: true});
  }

  matches(sym) {
    if (!this.filter) return true;
    const name = this.store.get(sym)?.ref?.name;
    return sym.includes(this.filter) || (typeof name === 'string' && name.toUpperCase().includes(this.filter));
  }

  setFilter(text) {
    this.filter = text.trim().toUpperCase();
    for (const r of this.rows.values()) {
      const hidden = !this.matches(r.sym);
      if (r.tr.hidden !== hidden) { r.tr.hidden = hidden; if (!hidden) r.drawnAt = 0; }
    }
    this.updateEmpty();
  }

  updateEmpty() {
    const p = this.opts.empty;
    if (!p) return;
    const none = this.rows.size > 0 && ![...this.rows.values()].some((r) => !r.tr.hidden);
    p.hidden = !none;
    if (none) p.textContent = 'No symbol matches “' + this.filter + '”.';
  }

  select(sym) {
    if (this.selected === sym) return;
    this.rows.get(this.selected)?.tr.removeAttribute('aria-current');
    this.selected = sym;
    const r = this.rows.get(sym);
    if (r) {
      r.tr.setAttribute('aria-current', 'true');
      for (const tr of this.tbody.rows) tr.tabIndex = tr === r.tr ? 0 : -1;
      if (!this.tbody.contains(document.activeElement)) r.tr.scrollIntoView({block: 'nearest'});
    }
  }

  focusRow(tr) { for (const x of this.tbody.rows) x.tabIndex = x === tr ? 0 : -1; }

  /** Arrow keys move the selection; the caller debounces the chart. */
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
    else if (e.key === 'PageDown') next = visible[Math.min(visible.length - 1, i + 10)];
    else if (e.key === 'PageUp') next = visible[Math.max(0, i - 10)];
    else if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); this.opts.onSelect?.(tr.dataset.sym, 'enter'); return; }
    else return;
    e.preventDefault();
    if (next) { this.focusRow(next); next.focus(); this.opts.onSelect?.(next.dataset.sym, 'key'); }
  }

  /** The first visible symbol in the board's order. */
  first() { return [...this.tbody.rows].find((tr) => !tr.hidden)?.dataset.sym; }
}

function drawSpark(canvas, pts, colors) {
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
  ctx.lineWidth = 1.5;
  ctx.strokeStyle = pts[pts.length - 1] >= pts[0] ? colors.up : colors.down;
  ctx.stroke();
}
