// The selected symbol's panels — analytics, order book, time and sales —
// and the top-movers list. All read the price store; none keeps prices of
// its own. Each renders at most once per frame, touching changed text only.
import {fmtNum, fmtPct, fmtChange, fmtSize, fmtClock, el} from './format.js';

const KNOWN = [
  ['vwap', 'VWAP', 'price'], ['sma20', 'SMA 20', 'price'], ['ema20', 'EMA 20', 'price'],
  ['rsi14', 'RSI 14', 'num'], ['volatility', 'Volatility', 'num'], ['change_pct', 'Change', 'pct'],
];
const SKIP = new Set(['symbol', 'time', 'price', 'volume', 'size', 'bid', 'ask', 'day_high', 'day_low', 'high', 'low', 'open', 'close', ...KNOWN.map((k) => k[0])]);

export class AnalyticsPanel {
  constructor(dl, store) { this.dl = dl; this.store = store; this.sym = null; this.cells = new Map(); }

  show(sym) { this.sym = sym; this.dl.replaceChildren(); this.cells.clear(); this.render(); }

  render() {
    if (!this.sym) return;
    const s = this.store, sym = this.sym, it = s.get(sym);
    const a = it?.analytics || {};
    const px = (v) => s.fmt(sym, v);
    const rows = [
      ['Last', px(it?.price)],
      ['Change', it ? fmtChange(it.chg, s.decimals(sym)) + ' (' + fmtPct(it.pct) + ')' : '—'],
    ];
    for (const [k, label, kind] of KNOWN) if (k !== 'change_pct') rows.push([label, kind === 'price' ? px(a[k]) : fmtNum(a[k])]);
    const hi = it?.hi, lo = it?.lo;
    rows.push(['Day range', Number.isFinite(lo) && Number.isFinite(hi) ? px(lo) + ' – ' + px(hi) : '—']);
    if (it?.ref?.name) rows.push(['Name', String(it.ref.name)]);
    for (const [k, v] of Object.entries(a)) if (!SKIP.has(k) && typeof v === 'number') rows.push([k, fmtNum(v)]);
    for (const [label, text] of rows) {
      let dd = this.cells.get(label);
      if (!dd) {
        dd = el('dd');
        const div = el('div');
        div.append(el('dt', '', label), dd);
        this.dl.append(div);
        this.cells.set(label, dd);
      }
      if (dd.textContent !== text) dd.textContent = text;
    }
  }
}

export class Movers {
  constructor(ol, store, onSelect) {
    this.ol = ol; this.store = store; this.key = '';
    ol.addEventListener('click', (e) => { const b = e.target.closest('[data-sym]'); if (b) onSelect(b.dataset.sym); });
  }

  render(n = 6) {
    const s = this.store;
    const rows = s.symbols().map((x) => s.get(x)).filter((r) => Number.isFinite(r.pct))
      .sort((a, b) => Math.abs(b.pct) - Math.abs(a.pct)).slice(0, n);
    const key = rows.map((r) => r.sym + fmtPct(r.pct) + s.fmt(r.sym, r.price)).join('|');
    if (key === this.key) return;
    this.key = key;
    // Keep focus on a mover that survives the re-render.
    const focused = this.ol.contains(document.activeElement) ? document.activeElement.dataset.sym : null;
    this.ol.replaceChildren(...rows.map((r) => {
      const li = el('li');
      const pct = fmtPct(r.pct);
      const dir = /^\+/.test(pct) ? 'up' : /^−/.test(pct) ? 'down' : '';
      const b = el('button', 'mover ' + dir, null, {type: 'button', 'data-sym': r.sym});
      b.append(el('span', 'sym', r.sym), el('span', 'px', s.fmt(r.sym, r.price)), el('span', 'num', pct));
      li.append(b);
      return li;
    }));
    if (focused) this.ol.querySelector(`[data-sym="${CSS.escape(focused)}"]`)?.focus();
  }
}

/** Depth ladder: asks above (best ask lowest), the spread, bids below
 *  (best bid first), each with a size bar scaled to the largest size
 *  shown. "No book data" until a book arrives. */
export class BookView {
  constructor(table, empty, titleEl, store, levels = 10) {
    this.table = table; this.tbody = table.tBodies[0]; this.empty = empty; this.titleEl = titleEl;
    this.store = store; this.levels = levels; this.sym = null; this.key = '';
    // The spread stays in the middle of the view, unless the user is looking around.
    this.box = table.parentElement; this.held = false;
    this.box.addEventListener('pointerenter', () => { this.held = true; });
    this.box.addEventListener('pointerleave', () => { this.held = false; });
  }

  show(sym) { this.sym = sym; this.titleEl.textContent = sym || ''; this.key = ''; this.render(); }

  render() {
    const it = this.sym && this.store.get(this.sym);
    const b = it?.book;
    const has = !!(b && (b.bids.length || b.asks.length));
    this.table.classList.toggle('none', !has);
    this.empty.hidden = has;
    if (!has) { if (this.key) { this.tbody.replaceChildren(); this.key = ''; } return; }
    const s = this.store, sym = this.sym;
    const asks = b.asks.slice(0, this.levels), bids = b.bids.slice(0, this.levels);
    let max = 0;
    for (const l of asks) max = Math.max(max, l[1]);
    for (const l of bids) max = Math.max(max, l[1]);
    const key = asks.map((l) => l.join(':')).join('|') + '#' + bids.map((l) => l.join(':')).join('|') + '#' + s.decimals(sym);
    if (key === this.key) return;
    this.key = key;
    const rows = [];
    const row = (l, side, best) => {
      const tr = el('tr', side + (best ? ' best' : ''), null, best ? {'data-best': side} : null);
      const size = el('td', 'sz');
      size.textContent = fmtSize(l[1]);
      size.style.setProperty('--w', (max ? Math.round((l[1] / max) * 100) : 0) + '%');
      tr.append(el('td', 'px', s.fmt(sym, l[0])), size);
      return tr;
    };
    for (let i = asks.length - 1; i >= 0; i--) rows.push(row(asks[i], 'ask', i === 0));
    if (asks.length && bids.length) {
      const tr = el('tr', 'spread');
      const td = el('td', '', 'Spread ' + s.fmt(sym, asks[0][0] - bids[0][0]), {colspan: '2'});
      tr.append(td);
      rows.push(tr);
    }
    bids.forEach((l, i) => rows.push(row(l, 'bid', i === 0)));
    // One snapshot replaces the last; rebuilt only when what it shows changed.
    this.tbody.replaceChildren(...rows);
    const mid = this.tbody.querySelector('tr.spread');
    if (mid && !this.held && this.box.scrollHeight > this.box.clientHeight) this.box.scrollTop = mid.offsetTop - (this.box.clientHeight - mid.offsetHeight) / 2;
  }
}

/** Time and sales: the last prints of the selected symbol, newest first,
 *  coloured by side against the mid of the quote each came with. */
export class TapeView {
  constructor(table, empty, titleEl, store, max = 100) {
    this.table = table; this.tbody = table.tBodies[0]; this.empty = empty; this.titleEl = titleEl;
    this.store = store; this.max = max; this.sym = null; this.shown = null;
  }

  show(sym) { this.sym = sym; this.titleEl.textContent = sym || ''; this.tbody.replaceChildren(); this.shown = null; this.render(); }

  render() {
    const it = this.sym && this.store.get(this.sym);
    const prints = it?.prints || [];
    this.table.classList.toggle('none', !prints.length);
    this.empty.hidden = prints.length > 0;
    // Prepend the prints newer than the newest shown, then trim the tail.
    const at = this.shown ? prints.lastIndexOf(this.shown) : -1;
    const fresh = prints.slice(at + 1).slice(-this.max);
    if (!fresh.length) return;
    const frag = document.createDocumentFragment();
    for (let i = fresh.length - 1; i >= 0; i--) {
      const p = fresh[i];
      const tr = el('tr', p.side > 0 ? 'up' : p.side < 0 ? 'down' : '');
      tr.append(el('td', '', fmtClock(p.time)), el('td', '', this.store.fmt(this.sym, p.price)), el('td', '', fmtSize(p.size)));
      frag.append(tr);
    }
    this.tbody.prepend(frag);
    while (this.tbody.rows.length > this.max) this.tbody.lastElementChild.remove();
    this.shown = prints[prints.length - 1];
  }
}
