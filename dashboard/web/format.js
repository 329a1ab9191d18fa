// Number and time formatting shared by the dashboard modules: one price
// formatter and one grouping rule for every place a price is shown (board,
// chips, analytics, chart axis, depth, tape). Formatters are built once
// (Intl objects are costly to create per tick). Pure functions, no DOM
// except el(): format_test.mjs runs them under node.

/** The most decimals a price is shown with when inferred from values. */
export const MAX_INFERRED_DECIMALS = 8;
/** Decimals a price is shown with before anything is known about it. */
export const DEFAULT_DECIMALS = 2;

const nf = new Map();
function num(min, max, extra) {
  const k = min + ':' + max + (extra ? ':' + JSON.stringify(extra) : '');
  let f = nf.get(k);
  if (!f) {
    // One grouping rule: thousands are always grouped (the locale's way).
    f = new Intl.NumberFormat(undefined, {minimumFractionDigits: min, maximumFractionDigits: max, useGrouping: true, ...extra});
    nf.set(k, f);
  }
  return f;
}

/** The decimals a single value is written with (its shortest exact form,
 *  so float noise like 0.30000000000000004 counts as 1), at most max. */
export function decimalsOf(v, max = MAX_INFERRED_DECIMALS) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return 0;
  const a = Math.abs(v);
  for (let d = 0; d < max; d++) {
    const s = 10 ** d;
    if (Math.abs(Math.round(a * s) / s - a) <= a * 1e-12) return d;
  }
  return max;
}

/** Decimals inferred from the values seen so far: the most any of them
 *  needs, at least DEFAULT_DECIMALS (so 189.3 shows as 189.30), at most 8. */
export function inferDecimals(values, floor = DEFAULT_DECIMALS) {
  let d = floor;
  for (const v of values) d = Math.max(d, decimalsOf(v));
  return Math.min(d, MAX_INFERRED_DECIMALS);
}

/** Decimals from instrument reference data (ref.<SYM>): price_decimals,
 *  else the decimals of tick_size; undefined when neither is usable. */
export function refDecimals(ref) {
  if (!ref || typeof ref !== 'object') return undefined;
  const pd = ref.price_decimals;
  if (Number.isInteger(pd) && pd >= 0 && pd <= 10) return pd;
  const ts = ref.tick_size;
  if (typeof ts === 'number' && Number.isFinite(ts) && ts > 0) return decimalsOf(ts, 10);
  return undefined;
}

/** A price with exactly `dec` decimals (DEFAULT_DECIMALS when unknown). */
export function fmtPrice(p, dec) {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  const d = Number.isInteger(dec) && dec >= 0 && dec <= 10 ? dec : DEFAULT_DECIMALS;
  return num(d, d).format(p);
}

/** A signed price difference: "+0.00012", "−1.50"; no sign on a displayed zero. */
export function fmtChange(c, dec) {
  if (typeof c !== 'number' || !Number.isFinite(c)) return '—';
  const t = fmtPrice(Math.abs(c), dec);
  return (/[1-9]/.test(t) ? (c > 0 ? '+' : '−') : '') + t;
}

/** The sign a displayed value has: 1, -1, or 0 when it shows as zero. */
export function shownSign(text) { return /^\+/.test(text) ? 1 : /^−/.test(text) ? -1 : 0; }

export function fmtPct(p) {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  const t = num(2, 2).format(Math.abs(p));
  return (/[1-9]/.test(t) ? (p > 0 ? '+' : '−') : '') + t + '%';
}

export function fmtNum(v, digits = 2) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  return num(digits, digits).format(v);
}

export function fmtVol(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  return num(0, 1, {notation: 'compact'}).format(v);
}

/** A size (order book, prints): grouped, up to 4 decimals for fractional lots. */
export function fmtSize(v) {
  if (typeof v !== 'number' || !Number.isFinite(v)) return '—';
  if (Math.abs(v) >= 1e4) return fmtVol(v);  // 41K, 1.2M: sizes stay short in narrow panels
  return num(0, Math.min(4, decimalsOf(v))).format(v);
}

/** Milliseconds since the epoch from RFC 3339 text or unix ms / s; NaN if neither. */
export function parseTime(t) {
  if (typeof t === 'number') return t < 1e11 ? t * 1000 : t;
  if (typeof t === 'string' && t) return Date.parse(t);
  return NaN;
}

// 24-hour local time everywhere (hourCycle h23, so midnight is 00, not 24).
const tf = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23'});
const hm = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
const df = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23'});
const mdf = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric'});
const dayf = new Intl.DateTimeFormat(undefined, {year: 'numeric', month: 'short', day: 'numeric'});

/** Clock time for today, date and time for older moments. */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? tf.format(d) : df.format(d);
}

/** HH:MM:SS, 24-hour local. */
export function fmtClock(ms) { return Number.isFinite(ms) ? tf.format(new Date(ms)) : ''; }

/** A bar's time for a legend: date and HH:MM (24-hour local); date only for daily bars. */
export function fmtBarTime(ms, daily) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return daily ? dayf.format(d) : mdf.format(d) + ' ' + hm.format(d);
}

/** A time-axis label: HH:MM, or the date at a day boundary (24-hour local). */
export function fmtAxisTime(ms, showDate) {
  const d = new Date(ms);
  return showDate ? dayf.format(d) : hm.format(d);
}

/** document.createElement with class, text and attributes; never parses HTML. */
export function el(tag, cls, text, attrs) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
