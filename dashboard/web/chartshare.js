// The chart's "Share to chat" and "New price alert" buttons, and opening
// the chart at the moment a chat message points at. It reads the chart
// (chart.js's ChartView) from outside: the crosshair's last position, or
// the latest bar when the pointer is elsewhere.
import {el} from './format.js';

/** Add the two buttons to head. chart: a ChartView; selected() → symbol;
 *  chat: a Chat; inbox: an Inbox. */
export function mountChartTools(head, chart, selected, chat, inbox) {
  // The crosshair's last bar: the pointer leaves the chart on its way to
  // the button, so the position is kept for a while after it moved.
  let last = null;  // {time (s), price, sym, at (ms)}
  chart.ready?.then(() => {
    chart.chart?.subscribeCrosshairMove((p) => {
      const bar = p && p.time !== undefined && chart.candles ? p.seriesData?.get(chart.candles) : null;
      if (bar) last = {time: Number(p.time), price: bar.close, sym: chart.sym, at: Date.now()};
    });
  });
  const recent = () => (last && last.sym === selected() && Date.now() - last.at < 30000 ? last : null);
  const moment = () => {
    const sym = selected();
    if (!sym) return null;
    const at = recent();
    if (at) return {symbol: sym, time: new Date(at.time * 1000).toISOString(), price: at.price, interval: '1m'};
    const bars = [...(chart.bars?.values() || [])];
    const last = bars.length ? bars.reduce((a, b) => (b.time > a.time ? b : a)) : null;
    return last ? {symbol: sym, time: new Date(last.time * 1000).toISOString(), price: last.close, interval: '1m'} : null;
  };
  const share = el('button', 'tool share', 'Share to chat', {type: 'button', title: 'Post the moment under the crosshair (or the latest bar) to the chat room'});
  share.addEventListener('click', () => { const ref = moment(); if (ref) chat.share(ref); });
  const alert = el('button', 'tool new-alert', 'New price alert', {type: 'button'});
  alert.addEventListener('click', () => { const sym = selected(); if (sym) inbox.newAlert(sym, recent()?.price); });
  head.append(share, alert);
}

/** Show ref's moment on the chart: its symbol, scrolled there, a marker. */
export function focusChart(chart, ref) {
  const t = Math.floor(Date.parse(ref.time) / 1000 / 60) * 60;
  if (!Number.isFinite(t)) return;
  const mark = () => {
    if (!chart.candles || chart.sym !== ref.symbol) return;
    chart.candles.setMarkers?.([{time: t, position: 'aboveBar', color: '#e0b341', shape: 'arrowDown', text: 'shared'}]);
    chart.chart?.timeScale().setVisibleRange?.({from: t - 45 * 60, to: t + 15 * 60});
  };
  // The bars arrive after show(): mark once they are likely in, twice.
  setTimeout(mark, 400);
  setTimeout(mark, 1500);
}
