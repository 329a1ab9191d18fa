// What the page remembers (localStorage) and what its URL says (the hash).
// The hash names the view — symbol, interval, room — so a link pasted in
// chat opens the same view: #symbol=EURUSD&interval=5m&room=lobby. A bare
// #AAPL (the older form) means symbol and room AAPL.

const KEY = 'tickroom.prefs';

export function loadPrefs() {
  try { const v = JSON.parse(localStorage.getItem(KEY) || '{}'); return v && typeof v === 'object' ? v : {}; } catch (e) { return {}; }
}

export function savePrefs(p) { try { localStorage.setItem(KEY, JSON.stringify(p)); } catch (e) { /* private mode */ } }

const TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

/** {symbol?, interval?, room?} from a location hash ("#…"); invalid parts are left out. */
export function parseHash(hash) {
  const h = String(hash || '').replace(/^#/, '');
  const out = {};
  if (!h) return out;
  if (!h.includes('=')) {
    const t = decodeURIComponent(h);
    if (TOKEN.test(t)) { if (t !== 'lobby') out.symbol = t; out.room = t; }
    return out;
  }
  const q = new URLSearchParams(h);
  const sym = q.get('symbol'), iv = q.get('interval'), room = q.get('room');
  if (sym && TOKEN.test(sym)) out.symbol = sym;
  if (iv && /^(1m|5m|15m|1h|1D)$/.test(iv)) out.interval = iv;
  if (room && TOKEN.test(room)) out.room = room;
  return out;
}

/** The hash for a view ("#symbol=…&interval=…&room=…"). */
export function formatHash({symbol, interval, room}) {
  const q = new URLSearchParams();
  if (symbol) q.set('symbol', symbol);
  if (interval) q.set('interval', interval);
  if (room) q.set('room', room);
  return '#' + q.toString();
}
