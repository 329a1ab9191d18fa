// The page's one price store: every panel (board, chips, analytics, movers,
// chart legend, depth, tape) reads an instrument's state from here, and
// analytics are kept here once. Events are applied as they arrive; readers
// are told once per animation frame which symbols changed. Single-threaded
// (the page's event loop); no DOM.
import {inferDecimals, refDecimals, fmtPrice, parseTime, DEFAULT_DECIMALS} from './format.js';

export const TAPE_SIZE = 100;

export class PriceStore {
  /** @param schedule(fn) runs fn once soon (requestAnimationFrame in the page) */
  constructor(schedule = (fn) => setTimeout(fn, 0)) {
    this.items = new Map();     // sym → Instrument
    this.changed = new Set();   // symbols changed since the last notify
    this.listeners = new Set();
    this.scheduled = false;
    this.schedule = schedule;
    this.lastUpdate = NaN;      // time (ms) of the newest tick, from the tick itself
  }

  /** fn(changedSymbols: Set) once per frame with changes. Returns an unsubscribe. */
  onChange(fn) { this.listeners.add(fn); return () => this.listeners.delete(fn); }

  item(sym) {
    let it = this.items.get(sym);
    if (!it) {
      it = {sym, price: NaN, bid: NaN, ask: NaN, bidSize: NaN, askSize: NaN, volume: NaN, size: NaN,
        time: NaN, open: NaN, hi: -Infinity, lo: Infinity, chg: NaN, pct: NaN,
        ref: null, analytics: null, book: null, prints: [], inferred: DEFAULT_DECIMALS};
      this.items.set(sym, it);
    }
    return it;
  }

  get(sym) { return this.items.get(sym); }
  has(sym) { return this.items.has(sym) && Number.isFinite(this.items.get(sym).price); }
  symbols() { return [...this.items.keys()].filter((s) => this.has(s)); }

  /** Decimals for sym's prices: the ref's, else inferred from what was seen. */
  decimals(sym) {
    const it = this.items.get(sym);
    if (!it) return undefined;
    return refDecimals(it.ref) ?? it.inferred;
  }

  /** sym's price p formatted with sym's decimals. */
  fmt(sym, p) { return fmtPrice(p, this.decimals(sym)); }

  /** Inferred decimals only grow: the most any seen price needed (cheap per tick). */
  see(it, ...vals) {
    const d = inferDecimals(vals);
    if (d > it.inferred) it.inferred = d;
  }

  /** A market event's data (a tick); m is the event (its time stands in
   *  for a tick without one: the gateway stamps it). */
  tick(d, m) {
    if (!d || typeof d.symbol !== 'string' || typeof d.price !== 'number' || !Number.isFinite(d.price)) return;
    const it = this.item(d.symbol);
    it.price = d.price;
    if (Number.isFinite(d.bid)) it.bid = d.bid;
    if (Number.isFinite(d.ask)) it.ask = d.ask;
    if (Number.isFinite(d.bid_size)) it.bidSize = d.bid_size;
    if (Number.isFinite(d.ask_size)) it.askSize = d.ask_size;
    if (Number.isFinite(d.volume)) it.volume = d.volume;
    it.size = Number.isFinite(d.size) ? d.size : NaN;
    let t = parseTime(d.time ?? m?.time);
    if (!Number.isFinite(t)) t = Date.now();
    it.time = t;
    if (!(t <= this.lastUpdate)) this.lastUpdate = t;
    if (!Number.isFinite(it.open)) it.open = d.price;
    it.hi = Math.max(it.hi, d.price); it.lo = Math.min(it.lo, d.price);
    this.see(it, d.price, d.bid, d.ask);
    this.recalc(it);
    // A print for the tape: side against the mid of the quote it came with.
    const mid = Number.isFinite(it.bid) && Number.isFinite(it.ask) ? (it.bid + it.ask) / 2 : NaN;
    const side = !Number.isFinite(mid) || d.price === mid ? 0 : d.price > mid ? 1 : -1;
    it.prints.push({time: t, price: d.price, size: it.size, side});
    if (it.prints.length > TAPE_SIZE) it.prints.splice(0, it.prints.length - TAPE_SIZE);
    this.mark(d.symbol);
  }

  /** Change since the session open, or the producer's change_pct when it sends one. */
  recalc(it) {
    const a = it.analytics;
    if (a && Number.isFinite(a.change_pct) && Number.isFinite(it.price)) {
      it.pct = a.change_pct; it.chg = it.price - it.price / (1 + a.change_pct / 100);
    } else if (Number.isFinite(it.open)) {
      it.chg = it.price - it.open; it.pct = it.open ? (it.chg / it.open) * 100 : 0;
    }
  }

  analytics(d) {
    if (!d || typeof d.symbol !== 'string') return;
    const it = this.item(d.symbol);
    it.analytics = d;
    if (Number.isFinite(d.day_high)) it.hi = Math.max(it.hi, d.day_high);
    if (Number.isFinite(d.day_low)) it.lo = Math.min(it.lo, d.day_low);
    if (Number.isFinite(it.price)) this.recalc(it);
    this.mark(d.symbol);
  }

  /** Instrument reference data (ref.<SYM>, PROTOCOL §4). */
  ref(d) {
    if (!d || typeof d.symbol !== 'string') return;
    this.item(d.symbol).ref = d;
    this.mark(d.symbol);
  }

  /** A full book snapshot (book.<SYM>): bids descending, asks ascending. */
  book(d) {
    if (!d || typeof d.symbol !== 'string') return;
    const lv = (xs) => (Array.isArray(xs) ? xs : []).filter((l) => Array.isArray(l) && Number.isFinite(l[0]) && Number.isFinite(l[1]));
    const it = this.item(d.symbol);
    it.book = {bids: lv(d.bids), asks: lv(d.asks), time: parseTime(d.time)};
    this.see(it, ...it.book.bids.slice(0, 3).map((l) => l[0]), ...it.book.asks.slice(0, 3).map((l) => l[0]));
    this.mark(d.symbol);
  }

  mark(sym) {
    this.changed.add(sym);
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(() => this.notify());
  }

  notify() {
    this.scheduled = false;
    if (!this.changed.size) return;
    const c = this.changed;
    this.changed = new Set();
    for (const fn of this.listeners) fn(c);
  }
}
