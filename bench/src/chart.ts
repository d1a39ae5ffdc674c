// Plain SVG line charts for the cost curves (`--curves`, curves.ts): one line per server, linear or log axes, labelled
// ticks, a legend; no script, no external font, a white background so they read on GitHub's dark theme too.
// Written here rather than taken from a library: the Node chart libraries either need a DOM or a canvas (Chart.js,
// Vega, d3-selection) or stop at scales and path strings (d3-scale, d3-shape), leaving axes, labels and legend to
// write anyway; this is that part and nothing more, with no dependency to install or merge.

export interface Point {
  x: number;
  /** NaN (or a non-positive value on a log axis) leaves a gap: the line breaks there. */
  y: number;
}

export interface Series {
  name: string;
  points: Point[];
}

export interface Axis {
  label: string;
  log?: boolean;
  /** Tick text; default: 1.5k, 2M style. */
  format?: (v: number) => string;
  /** Where the ticks go (e.g. the measured x values); default: powers of ten (log) or a 1-2-5 step (linear). */
  ticks?: number[];
}

export interface Chart {
  title: string;
  x: Axis;
  y: Axis;
  series: Series[];
  width?: number;
  height?: number;
}

// Two series styles told apart by colour, dash and marker (a reader without colour still sees which is which).
const STYLES = [
  { color: '#1f5fa8', dash: '', marker: 'circle' },
  { color: '#c4461b', dash: '6 4', marker: 'square' },
  { color: '#3a8a3a', dash: '2 3', marker: 'circle' },
  { color: '#7a4fa0', dash: '10 3 2 3', marker: 'square' },
] as const;
const MARGIN = { left: 78, right: 24, top: 44, bottom: 78 };
const FONT = 'font-family="sans-serif"';
// The first and last x sit this far inside the axes, so their markers do not cover the y axis.
const X_PAD = 14;

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** 950, 1.5k, 20k, 1.2M, 3G: short tick and table text. */
export function formatSi(v: number): string {
  const a = Math.abs(v);
  const units: Array<[number, string]> = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [n, s] of units) if (a >= n) return `${trim(v / n)}${s}`;
  return trim(v);
}

function trim(v: number): string {
  const a = Math.abs(v);
  const t = a >= 100 || Number.isInteger(v) ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(2);
  return t.includes('.') ? t.replace(/\.?0+$/, '') : t;
}

/** Powers of ten covering [min, max] (min > 0); with two decades or fewer, 2× and 5× between them too. */
export function logTicks(min: number, max: number): number[] {
  const lo = Math.floor(Math.log10(min));
  const hi = Math.max(lo + 1, Math.ceil(Math.log10(max)));
  const steps = hi - lo <= 2 ? [1, 2, 5] : [1];
  const out: number[] = [];
  for (let e = lo; e <= hi; e++) for (const m of steps) if (e < hi || m === 1) out.push(m * 10 ** e);
  return out;
}

/** From 0 (or a round value at or below a negative min) to a round value at or above max, in steps of 1, 2, 2.5 or 5 × 10^k. */
export function linearTicks(max: number, min = 0): number[] {
  const lo = Math.min(0, Number.isFinite(min) ? min : 0);
  // All zero (or nothing measured): an axis of 0 to 1.
  const hi = Math.max(0, Number.isFinite(max) ? max : 0) || (lo === 0 ? 1 : 0);
  const span = hi - lo;
  const raw = span / 5;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const first = Math.floor(lo / step + 1e-9);
  const last = Math.max(first + 1, Math.ceil(hi / step - 1e-9));
  // toPrecision: 3 × 0.2 is 0.6000000000000001 in binary floating point.
  return Array.from({ length: last - first + 1 }, (_, i) => Number(((first + i) * step).toPrecision(12)) + 0);
}

interface Scale {
  ticks: number[];
  at: (v: number) => number;
}

/** Maps values onto [from, to] pixels; `values` are the data (finite, positive on a log axis). */
function scale(axis: Axis, values: number[], from: number, to: number): Scale {
  const usable = values.filter((v) => Number.isFinite(v) && (!axis.log || v > 0));
  const given = axis.ticks?.filter((t) => Number.isFinite(t) && (!axis.log || t > 0));
  if (axis.log) {
    const all = [...usable, ...(given ?? [])];
    const lo = all.length ? Math.min(...all) : 1;
    const hi = all.length ? Math.max(...all) : 10;
    const ticks = given?.length ? given : logTicks(lo, hi);
    // Given ticks span the data exactly; powers of ten round outwards.
    const dmin = Math.log10(Math.min(lo, ...ticks));
    const dmax = Math.log10(Math.max(hi, ...ticks));
    const span = dmax - dmin || 1;
    return { ticks, at: (v) => from + ((Math.log10(v) - dmin) / span) * (to - from) };
  }
  const hi = Math.max(0, ...usable, ...(given ?? []));
  const lo = Math.min(0, ...usable, ...(given ?? []));
  const ticks = given?.length ? given : linearTicks(hi, lo);
  const bottom = Math.min(lo, ...ticks);
  const span = Math.max(hi, ...ticks) - bottom || 1;
  return { ticks, at: (v) => from + ((v - bottom) / span) * (to - from) };
}

const px = (v: number) => v.toFixed(1);

function plottable(p: Point, x: Axis, y: Axis): boolean {
  return Number.isFinite(p.x) && Number.isFinite(p.y) && (!x.log || p.x > 0) && (!y.log || p.y > 0);
}

function marker(kind: 'circle' | 'square', at: { x: number; y: number; cls: string }, color: string, tip: string) {
  const { x: cx, y: cy, cls } = at;
  const title = `<title>${escapeXml(tip)}</title>`;
  if (kind === 'circle') {
    return `<circle class="${cls}" cx="${px(cx)}" cy="${px(cy)}" r="3.5" fill="${color}">${title}</circle>`;
  }
  return (
    `<rect class="${cls}" x="${px(cx - 3.5)}" y="${px(cy - 3.5)}" width="7" height="7" fill="${color}">` +
    `${title}</rect>`
  );
}

/** The chart as a standalone SVG document. */
export function renderChart(c: Chart): string {
  const width = c.width ?? 640;
  const height = c.height ?? 360;
  const left = MARGIN.left;
  const right = width - MARGIN.right;
  const top = MARGIN.top;
  const bottom = height - MARGIN.bottom;
  const fx = c.x.format ?? formatSi;
  const fy = c.y.format ?? formatSi;
  const pts = c.series.flatMap((s) => s.points);
  const xs = scale(
    c.x,
    pts.map((p) => p.x),
    left + X_PAD,
    right - X_PAD,
  );
  const ys = scale(
    c.y,
    pts.filter((p) => plottable(p, c.x, c.y)).map((p) => p.y),
    bottom,
    top,
  );
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" ` +
      `role="img" aria-label="${escapeXml(c.title)}">`,
    `<title>${escapeXml(c.title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text class="title" x="${left}" y="24" ${FONT} font-size="15" font-weight="bold" fill="#222">` +
      `${escapeXml(c.title)}</text>`,
  ];
  // Grid and tick labels.
  out.push('<g class="y-axis">');
  for (const t of ys.ticks) {
    const y = ys.at(t);
    out.push(
      `<line x1="${left}" y1="${px(y)}" x2="${right}" y2="${px(y)}" stroke="#e3e3e3"/>`,
      `<text class="tick" x="${left - 8}" y="${px(y + 4)}" ${FONT} font-size="11" text-anchor="end" fill="#444">` +
        `${escapeXml(fy(t))}</text>`,
    );
  }
  out.push('</g>', '<g class="x-axis">');
  for (const t of xs.ticks) {
    const x = xs.at(t);
    out.push(
      `<line x1="${px(x)}" y1="${top}" x2="${px(x)}" y2="${bottom}" stroke="#eeeeee"/>`,
      `<text class="tick" x="${px(x)}" y="${bottom + 18}" ${FONT} font-size="11" text-anchor="middle" fill="#444">` +
        `${escapeXml(fx(t))}</text>`,
    );
  }
  out.push('</g>');
  out.push(
    `<line class="axis" x1="${left}" y1="${bottom}" x2="${right}" y2="${bottom}" stroke="#555"/>`,
    `<line class="axis" x1="${left}" y1="${top}" x2="${left}" y2="${bottom}" stroke="#555"/>`,
    `<text class="x-label" x="${px((left + right) / 2)}" y="${bottom + 40}" ${FONT} font-size="12" ` +
      `text-anchor="middle" fill="#222">${escapeXml(c.x.label + (c.x.log ? ' (log scale)' : ''))}</text>`,
    `<text class="y-label" transform="translate(18 ${px((top + bottom) / 2)}) rotate(-90)" ${FONT} font-size="12" ` +
      `text-anchor="middle" fill="#222">${escapeXml(c.y.label + (c.y.log ? ' (log scale)' : ''))}</text>`,
  );
  // The lines: a gap where a point is missing.
  c.series.forEach((s, i) => {
    const st = STYLES[i % STYLES.length]!;
    const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : '';
    let d = '';
    let pen = false;
    const marks: string[] = [];
    for (const p of s.points) {
      if (!plottable(p, c.x, c.y)) {
        pen = false;
        continue;
      }
      const x = xs.at(p.x);
      const y = ys.at(p.y);
      d += `${pen ? 'L' : 'M'}${px(x)} ${px(y)} `;
      pen = true;
      marks.push(marker(st.marker, { x, y, cls: 'point' }, st.color, `${s.name}: ${fx(p.x)} → ${fy(p.y)}`));
    }
    out.push(`<g class="series" data-name="${escapeXml(s.name)}">`);
    if (d) out.push(`<path d="${d.trim()}" fill="none" stroke="${st.color}" stroke-width="2"${dash}/>`);
    out.push(...marks, '</g>');
  });
  // Legend, under the x-axis label.
  out.push('<g class="legend">');
  let lx = left;
  const ly = height - 14;
  c.series.forEach((s, i) => {
    const st = STYLES[i % STYLES.length]!;
    const dash = st.dash ? ` stroke-dasharray="${st.dash}"` : '';
    out.push(
      `<line x1="${lx}" y1="${ly - 4}" x2="${lx + 28}" y2="${ly - 4}" stroke="${st.color}" stroke-width="2"${dash}/>`,
      marker(st.marker, { x: lx + 14, y: ly - 4, cls: 'key' }, st.color, s.name),
      `<text x="${lx + 34}" y="${ly}" ${FONT} font-size="12" fill="#222">${escapeXml(s.name)}</text>`,
    );
    lx += 48 + s.name.length * 7;
  });
  out.push('</g>', '</svg>', '');
  return out.join('\n');
}
