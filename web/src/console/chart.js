// A stacked bar chart in plain SVG: one bar per hour, one colour per series. No library:
// 168 rectangles per series need none, and nothing is fetched from elsewhere.

const SVG = 'http://www.w3.org/2000/svg';
export const COLOURS = { WEBSOCKET: '#0f4c5c', SSE: '#1f8a4c', MULTIPART: '#b7791f', WEBHOOK: '#7b3fa0', BRIDGE: '#b83232', HTTP: '#536b78' };

function svg(tag, attributes, ...children) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  node.append(...children);
  return node;
}

/**
 * `hours`: the hour starts (Date) on the x axis, oldest first; `series`: name → Map(hour ms → count).
 * Returns an <svg> with a bar per hour, stacked by series, a y-axis maximum and a legend.
 */
export function stackedBars(hours, series, { width = 1100, height = 260 } = {}) {
  const names = Object.keys(series);
  const totals = hours.map((h) => names.reduce((sum, n) => sum + (series[n].get(h.getTime()) ?? 0), 0));
  const max = Math.max(1, ...totals);
  const left = 48;
  const bottom = 24;
  const plot = height - bottom - 24;
  const step = (width - left) / Math.max(1, hours.length);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', class: 'bars', 'aria-label': 'deliveries per hour' });
  chart.append(svg('text', { x: 4, y: 14, class: 'axis' }, String(max)), svg('text', { x: 4, y: plot + 24, class: 'axis' }, '0'));
  chart.append(svg('line', { x1: left, x2: width, y1: plot + 24, y2: plot + 24, class: 'baseline' }));
  hours.forEach((hour, i) => {
    let y = plot + 24;
    for (const name of names) {
      const count = series[name].get(hour.getTime()) ?? 0;
      if (!count) continue;
      const h = (count / max) * plot;
      y -= h;
      const bar = svg('rect', { x: left + i * step, y, width: Math.max(1, step - 1), height: h, fill: COLOURS[name] ?? '#888', class: 'bar', 'data-transport': name });
      bar.append(svg('title', {}, `${hour.toLocaleString()} · ${name}: ${count}`));
      chart.append(bar);
    }
    if (hour.getUTCHours() === 0) chart.append(svg('text', { x: left + i * step, y: height - 6, class: 'axis' }, hour.toLocaleDateString()));
  });
  names.forEach((name, i) => {
    chart.append(svg('rect', { x: left + i * 110, y: 2, width: 10, height: 10, fill: COLOURS[name] ?? '#888' }));
    chart.append(svg('text', { x: left + 14 + i * 110, y: 11, class: 'legend' }, name));
  });
  return chart;
}
