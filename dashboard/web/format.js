// Number and time formatting shared by the dashboard modules. Formatters
// are built once (Intl objects are costly to create per tick).

const nf = new Map();
function num(min, max, extra = {}) {
  const k = min + ':' + max + ':' + JSON.stringify(extra);
  if (!nf.has(k)) nf.set(k, new Intl.NumberFormat(undefined, {minimumFractionDigits: min, maximumFractionDigits: max, ...extra}));
  return nf.get(k);
}

/** Decimals for a price: more for small prices. */
export function decimals(p) { return Math.abs(p) >= 1000 ? 2 : Math.abs(p) >= 1 ? 2 : 4; }

export function fmtPrice(p, ref = p) {
  if (typeof p !== 'number' || !Number.isFinite(p)) return '—';
  const d = decimals(ref);
  return num(d, d).format(p);
}

export function fmtChange(c, ref) {
  if (typeof c !== 'number' || !Number.isFinite(c)) return '—';
  const d = decimals(ref ?? c);
  const t = num(d, d).format(Math.abs(c));
  return (/[1-9]/.test(t) ? (c > 0 ? '+' : '−') : '') + t;  // no sign on a rounded zero
}

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

/** Milliseconds since the epoch from RFC 3339 text or unix ms / s; NaN if neither. */
export function parseTime(t) {
  if (typeof t === 'number') return t < 1e11 ? t * 1000 : t;
  if (typeof t === 'string' && t) return Date.parse(t);
  return NaN;
}

const tf = new Intl.DateTimeFormat(undefined, {hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false});
const df = new Intl.DateTimeFormat(undefined, {month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', hour12: false});

/** Clock time for today, date and time for older moments. */
export function fmtTime(ms) {
  if (!Number.isFinite(ms)) return '';
  const d = new Date(ms);
  return d.toDateString() === new Date().toDateString() ? tf.format(d) : df.format(d);
}

/** document.createElement with class, text and attributes; never parses HTML. */
export function el(tag, cls, text, attrs) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  if (attrs) for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}
