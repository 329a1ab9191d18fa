// Analytics panel for the selected symbol and the top-movers list.
import {fmtPrice, fmtNum, fmtPct, el} from './format.js';

const KNOWN = [
  ['vwap', 'VWAP', 'price'], ['sma20', 'SMA 20', 'price'], ['ema20', 'EMA 20', 'price'],
  ['rsi14', 'RSI 14', 'num'], ['volatility', 'Volatility', 'num'], ['change_pct', 'Change', 'pct'],
];
const SKIP = new Set(['symbol', 'time', 'price', 'volume', 'size', 'bid', 'ask', ...KNOWN.map((k) => k[0])]);

export class AnalyticsPanel {
  constructor(dl, board) { this.dl = dl; this.board = board; this.sym = null; this.data = new Map(); this.cells = new Map(); }

  onAnalytics(d) { if (d && d.symbol) this.data.set(d.symbol, d); }

  show(sym) { this.sym = sym; this.dl.replaceChildren(); this.cells.clear(); this.render(); }

  /** Called about once a second and on selection; touches changed values only. */
  render() {
    if (!this.sym) return;
    const a = this.data.get(this.sym) || {};
    const r = this.board.get(this.sym);
    const ref = r?.price;
    const rows = KNOWN.map(([k, label, kind]) => [label, kind === 'price' ? fmtPrice(a[k], ref) : kind === 'pct' ? fmtPct(a[k]) : fmtNum(a[k])]);
    const hi = a.day_high ?? a.high ?? r?.hi, lo = a.day_low ?? a.low ?? r?.lo;
    rows.push(['Day range', Number.isFinite(lo) && Number.isFinite(hi) ? fmtPrice(lo, ref) + ' – ' + fmtPrice(hi, ref) : '—']);
    for (const [k, v] of Object.entries(a)) if (!SKIP.has(k) && typeof v === 'number' && !/^(day_)?(high|low)$/.test(k)) rows.push([k, fmtNum(v)]);
    for (const [label, text] of rows) {
      let dd = this.cells.get(label);
      if (!dd) { dd = el('dd'); this.dl.append(el('dt', '', label), dd); this.cells.set(label, dd); }
      if (dd.textContent !== text) dd.textContent = text;
    }
  }
}

export class Movers {
  constructor(ol, board, onSelect) {
    this.ol = ol; this.board = board; this.key = '';
    ol.addEventListener('click', (e) => { const b = e.target.closest('[data-sym]'); if (b) onSelect(b.dataset.sym); });
  }

  render(n = 6) {
    const rows = this.board.symbols().map((s) => this.board.get(s)).filter((r) => Number.isFinite(r.pct))
      .sort((a, b) => Math.abs(b.pct) - Math.abs(a.pct)).slice(0, n);
    const key = rows.map((r) => r.sym + fmtPct(r.pct)).join('|');
    if (key === this.key) return;
    this.key = key;
    this.ol.replaceChildren(...rows.map((r) => {
      const li = el('li');
      const b = el('button', 'mover ' + (r.pct > 0 ? 'up' : r.pct < 0 ? 'down' : ''), null, {type: 'button', 'data-sym': r.sym});
      b.append(el('span', 'sym', r.sym), el('span', 'num', fmtPct(r.pct)));
      li.append(b);
      return li;
    }));
  }
}
