// Bars and the indicators drawn over them. Pure functions (format_test.mjs
// runs them under node): the chart keeps bars by start time in seconds.

/** The chart's intervals and their length in seconds (PROTOCOL §4). */
export const INTERVALS = {'1m': 60, '5m': 300, '15m': 900, '1h': 3600, '1D': 86400};
export const DEFAULT_INTERVAL = '1m';

export function validInterval(iv) { return Object.hasOwn(INTERVALS, iv); }

/** Start (s) of the bar of interval iv that holds time t (s); days start at 00:00 UTC. */
export function bucketStart(t, iv) {
  const n = INTERVALS[iv] || 60;
  return Math.floor(t / n) * n;
}

/** Merge bar b into bar a of the same bucket (a earlier than b). */
export function mergeBar(a, b) {
  return {
    time: a.time, open: a.open, close: b.close,
    high: Math.max(a.high, b.high), low: Math.min(a.low, b.low),
    volume: (a.volume || 0) + (b.volume || 0),
  };
}

/** Bars of a shorter interval (sorted or not) aggregated into iv buckets,
 *  sorted by time. A server that does not know `interval` answers with
 *  1-minute bars; this keeps such a chart right at every interval. */
export function aggregate(bars, iv) {
  const sorted = [...bars].sort((a, b) => a.time - b.time);
  const out = [];
  for (const b of sorted) {
    const t = bucketStart(b.time, iv);
    const last = out[out.length - 1];
    if (last && last.time === t) out[out.length - 1] = mergeBar(last, b);
    else out.push({...b, time: t});
  }
  return out;
}

/** A candle event's data as a bar {time (s), open, high, low, close, volume},
 *  or null when it is not a usable bar. */
export function toBar(d, parseTime) {
  if (!d || typeof d !== 'object') return null;
  const t = Math.floor(parseTime(d.start ?? d.time) / 1000);
  if (!Number.isFinite(t) || ![d.open, d.high, d.low, d.close].every(Number.isFinite)) return null;
  return {time: t, open: d.open, high: d.high, low: d.low, close: d.close, volume: Number.isFinite(d.volume) ? d.volume : 0};
}

/** Simple moving average of closes over n bars: [{time, value}] from the n-th bar. */
export function sma(bars, n) {
  const out = [];
  let sum = 0;
  for (let i = 0; i < bars.length; i++) {
    sum += bars[i].close;
    if (i >= n) sum -= bars[i - n].close;
    if (i >= n - 1) out.push({time: bars[i].time, value: sum / n});
  }
  return out;
}

/** VWAP of the typical price (h+l+c)/3 over the loaded bars, restarting
 *  each UTC day for intraday bars (a session VWAP); over everything for
 *  daily bars. Bars without volume weigh as 1 so a line still shows. */
export function vwap(bars, iv) {
  const out = [];
  let pv = 0, vol = 0, day = null;
  for (const b of bars) {
    const d = iv === '1D' ? 0 : Math.floor(b.time / 86400);
    if (d !== day) { day = d; pv = 0; vol = 0; }
    const w = b.volume > 0 ? b.volume : 1;
    pv += ((b.high + b.low + b.close) / 3) * w;
    vol += w;
    out.push({time: b.time, value: pv / vol});
  }
  return out;
}
