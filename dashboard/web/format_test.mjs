// Unit tests of the page's pure parts: price decimals (inferred and from
// ref data), the one price formatter, interval aggregation, indicators and
// the price store. Run: node --test dashboard/web/format_test.mjs
import test from 'node:test';
import assert from 'node:assert/strict';
import {decimalsOf, inferDecimals, refDecimals, fmtPrice, fmtChange, MAX_INFERRED_DECIMALS} from './format.js';
import {aggregate, bucketStart, sma, vwap, INTERVALS} from './candles.js';
import {PriceStore} from './store.js';

test('decimalsOf: the shortest exact form, float noise ignored', () => {
  assert.equal(decimalsOf(1.08405), 5);
  assert.equal(decimalsOf(149.287), 3);
  assert.equal(decimalsOf(0.10885), 5);
  assert.equal(decimalsOf(64261.31), 2);
  assert.equal(decimalsOf(100), 0);
  assert.equal(decimalsOf(0.1 + 0.2), 1);
  assert.equal(decimalsOf(1.1 * 3), 1);
  assert.equal(decimalsOf(NaN), 0);
});

test('inferDecimals: the most any value needs, at least 2, at most 8', () => {
  assert.equal(inferDecimals([1.08405, 1.0841, 1.08411]), 5);
  assert.equal(inferDecimals([1.0841, 1.084]), 4);
  assert.equal(inferDecimals([189.3, 189]), 2);
  assert.equal(inferDecimals([149.287, 149.29]), 3);
  assert.equal(inferDecimals([]), 2);
  assert.equal(inferDecimals([0.123456789123]), MAX_INFERRED_DECIMALS);
  assert.equal(inferDecimals([1e-12]), 8);
  assert.equal(inferDecimals([5000], 0), 0);
});

test('refDecimals: price_decimals, else tick_size', () => {
  assert.equal(refDecimals({price_decimals: 5, tick_size: 0.01}), 5);
  assert.equal(refDecimals({tick_size: 0.00001}), 5);
  assert.equal(refDecimals({tick_size: 0.25}), 2);
  assert.equal(refDecimals({price_decimals: 11}), undefined);
  assert.equal(refDecimals({}), undefined);
  assert.equal(refDecimals(null), undefined);
});

test('fmtPrice and fmtChange: fixed decimals, one grouping rule', () => {
  const g = new Intl.NumberFormat(undefined, {minimumFractionDigits: 2, maximumFractionDigits: 2, useGrouping: true}).format(64261.31);
  assert.equal(fmtPrice(64261.31, 2), g);
  assert.equal(fmtPrice(1.08405, 5).replace(/[^0-9]/g, ''), '108405');
  assert.equal(fmtPrice(1.0841, 5).replace(/[^0-9]/g, ''), '108410');
  assert.equal(fmtPrice(NaN, 5), '—');
  assert.equal(fmtChange(0.000001, 5).replace(/[^0-9+−]/g, ''), '000000');
  assert.match(fmtChange(0.00012, 5), /^\+/);
  assert.match(fmtChange(-1.5, 2), /^−/);
});

test('aggregate: 1-minute bars into 5-minute buckets', () => {
  const m = (t, o, h, l, c, v) => ({time: t, open: o, high: h, low: l, close: c, volume: v});
  const bars = [m(600, 1, 2, 0.5, 1.5, 10), m(660, 1.5, 3, 1, 2, 5), m(900, 2, 2.5, 1.8, 2.2, 1), m(840, 2, 2.1, 0.4, 2, 1)];
  const out = aggregate(bars, '5m');
  assert.deepEqual(out, [m(600, 1, 3, 0.4, 2, 16), m(900, 2, 2.5, 1.8, 2.2, 1)]);
  assert.equal(bucketStart(86400 * 3 + 5, '1D'), 86400 * 3);
  for (const iv of Object.keys(INTERVALS)) assert.equal(bucketStart(0, iv), 0);
});

test('sma and vwap over loaded bars', () => {
  const bars = [1, 2, 3, 4].map((c, i) => ({time: i * 60, open: c, high: c, low: c, close: c, volume: 1}));
  assert.deepEqual(sma(bars, 2).map((p) => p.value), [1.5, 2.5, 3.5]);
  assert.deepEqual(vwap(bars, '1m').map((p) => p.value), [1, 1.5, 2, 2.5]);
});

test('PriceStore: decimals inferred until a ref arrives; tape newest last, capped', () => {
  const s = new PriceStore((fn) => fn());
  let changed = null;
  s.onChange((c) => { changed = c; });
  s.tick({symbol: 'EURUSD', price: 1.0841, bid: 1.08405, ask: 1.08411, time: '2026-12-01T10:00:00Z'});
  assert.equal(s.decimals('EURUSD'), 5);
  assert.ok(changed.has('EURUSD'));
  s.tick({symbol: 'USDJPY', price: 149.29});
  assert.equal(s.decimals('USDJPY'), 2);
  s.ref({symbol: 'USDJPY', price_decimals: 3, tick_size: 0.001});
  assert.equal(s.decimals('USDJPY'), 3);
  assert.equal(s.get('EURUSD').time, Date.parse('2026-12-01T10:00:00Z'));
  for (let i = 0; i < 150; i++) s.tick({symbol: 'EURUSD', price: 1.08 + i * 1e-5, bid: 1.08, ask: 1.09});
  const p = s.get('EURUSD').prints;
  assert.equal(p.length, 100);
  assert.equal(p[p.length - 1].side, -1);  // below the mid
});
