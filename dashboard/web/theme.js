// Colours for what scripts draw (chart, sparklines): read from the page's
// CSS variables, so the dark and light themes are defined once, in style.css.

/** The computed value of a CSS custom property on <html>, e.g. cssColor('--up'). */
export function cssColor(name, fallback = '#888') {
  if (typeof getComputedStyle !== 'function') return fallback;
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/** A #rgb / #rrggbb colour as rgba() with alpha a (0–1); other forms as
 *  they are (the chart library parses rgba, not color-mix). */
export function withAlpha(color, a) {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color);
  if (!m) return color;
  const h = m[1].length === 3 ? m[1].replace(/./g, '$&$&') : m[1];
  const n = parseInt(h, 16);
  return `rgba(${n >> 16}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}
