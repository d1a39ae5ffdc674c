// The SVG line charts of `pnpm bench --curves` (bench/src/chart.ts), drawn from fixed numbers: one marker per
// measured point, lines broken at missing points, log and linear axes placed where they should be, every text
// escaped, and a document a browser parses (balanced tags, no script).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { escapeXml, formatSi, linearTicks, logTicks, renderChart, type Chart } from '../src/chart.js';

/** Tag names in document order, checked to nest properly; throws at the first unbalanced one. */
function checkWellFormed(svg: string): string[] {
  const stack: string[] = [];
  const names: string[] = [];
  for (const m of svg.matchAll(/<(\/?)([a-zA-Z][\w-]*)([^<>]*?)(\/?)>/g)) {
    const [, close, name, , self] = m;
    if (close) assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else {
      names.push(name!);
      if (!self) stack.push(name!);
    }
  }
  assert.deepEqual(stack, [], 'unclosed elements');
  // Text and attributes: no raw `<` outside tags, every `&` an entity.
  const text = svg.replace(/<(\/?)([a-zA-Z][\w-]*)((?:"[^"]*"|[^<>"])*)>/g, '');
  assert.ok(!text.includes('<') && !text.includes('>'), `stray angle bracket in ${JSON.stringify(text.slice(0, 200))}`);
  assert.doesNotMatch(svg, /&(?!#\d+;)/, 'an unescaped &');
  return names;
}

/** The attribute values of every element with class `cls` inside the series group named `name`. */
function seriesGroup(svg: string, name: string): string {
  const start = svg.indexOf(`<g class="series" data-name="${escapeXml(name)}">`);
  assert.ok(start >= 0, `no series group ${name}`);
  return svg.slice(start, svg.indexOf('</g>', start));
}

function coords(group: string): Array<{ x: number; y: number }> {
  return [...group.matchAll(/<circle class="point" cx="([\d.]+)" cy="([\d.]+)"/g)].map((m) => ({
    x: Number(m[1]),
    y: Number(m[2]),
  }));
}

const base: Chart = {
  title: 'Server memory per subscription',
  x: { label: 'subscriptions', log: true, ticks: [1_000, 10_000, 100_000] },
  y: { label: 'RSS per subscription (bytes)' },
  series: [
    {
      name: 'ours',
      points: [
        { x: 1_000, y: 100 },
        { x: 10_000, y: 200 },
        { x: 100_000, y: 300 },
      ],
    },
    {
      name: 'nats-server',
      points: [
        { x: 1_000, y: 150 },
        { x: 10_000, y: NaN },
        { x: 100_000, y: 250 },
      ],
    },
  ],
};

test('a chart has a marker per measured point, on a log x axis and a linear y axis from zero', () => {
  const svg = renderChart(base);
  const names = checkWellFormed(svg);
  assert.equal(names[0], 'svg');
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="640" height="360" viewBox="0 0 640 360"/);
  assert.ok(!names.includes('script') && !names.includes('foreignObject') && !/@import|url\(/.test(svg));

  const ours = coords(seriesGroup(svg, 'ours'));
  assert.equal(ours.length, 3);
  // Log x: 10k halfway between 1k and 100k; y grows upwards (smaller pixel), linear: 200 halfway from 100 to 300.
  assert.ok(Math.abs(ours[1]!.x - (ours[0]!.x + ours[2]!.x) / 2) < 0.2, JSON.stringify(ours));
  assert.ok(ours[0]!.y > ours[1]!.y && ours[1]!.y > ours[2]!.y);
  assert.ok(Math.abs(ours[1]!.y - (ours[0]!.y + ours[2]!.y) / 2) < 0.2);
  // The y axis starts at 0 (ticks 0, 100, 200, 300): 100 sits a third of the way up from the bottom of 300.
  const yTicks = [...svg.matchAll(/<text class="tick" x="70" y="[\d.]+"[^>]*>([^<]*)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(yTicks, ['0', '100', '200', '300']);
  const xTicks = [...svg.matchAll(/text-anchor="middle" fill="#444">([^<]*)<\/text>/g)].map((m) => m[1]);
  assert.deepEqual(xTicks, ['1k', '10k', '100k']);
  assert.match(svg, /<path d="M[\d.]+ [\d.]+ L[\d.]+ [\d.]+ L[\d.]+ [\d.]+" fill="none"/);

  // The missing middle point: two markers, the line broken (two moves, no segment between them).
  const nats = seriesGroup(svg, 'nats-server');
  assert.equal(coords(nats).length, 0, 'the second series uses square markers');
  assert.equal([...nats.matchAll(/<rect class="point"/g)].length, 2);
  assert.match(nats, /<path d="M[\d.]+ [\d.]+ M[\d.]+ [\d.]+"/);

  // Axis labels (the log one says so), a title, a legend naming both lines.
  assert.match(svg, /class="x-label"[^>]*>subscriptions \(log scale\)<\/text>/);
  assert.match(svg, /class="y-label"[^>]*>RSS per subscription \(bytes\)<\/text>/);
  assert.match(svg, /<title>Server memory per subscription<\/title>/);
  const legend = svg.slice(svg.indexOf('<g class="legend">'));
  assert.match(legend, />ours<\/text>/);
  assert.match(legend, />nats-server<\/text>/);
  assert.doesNotMatch(svg, /NaN|Infinity|undefined/);
});

test('every text in a chart is escaped: title, labels, series names, tick labels', () => {
  const svg = renderChart({
    ...base,
    title: 'p99 < 1 ms & "fast"',
    x: { label: "x's <axis>", log: true, format: (v) => `<${v}>` },
    y: { label: 'y & co', log: true },
    series: [{ name: '<script>alert(1)</script>', points: base.series[0]!.points }],
  });
  checkWellFormed(svg);
  assert.doesNotMatch(svg, /<script/);
  assert.match(svg, /&#60;script&#62;alert\(1\)&#60;\/script&#62;/);
  assert.match(svg, /<title>p99 &#60; 1 ms &#38; &#34;fast&#34;<\/title>/);
  assert.match(svg, />x&#39;s &#60;axis&#62; \(log scale\)</);
  assert.match(svg, />&#60;1000&#62;</);
});

test('a log axis leaves out values it cannot place (zero, negative) instead of drawing them at infinity', () => {
  const svg = renderChart({
    ...base,
    y: { label: 'msgs/s', log: true },
    series: [
      {
        name: 'ours',
        points: [
          { x: 1_000, y: 0 },
          { x: 10_000, y: 5_000 },
          { x: 100_000, y: 2_000_000 },
        ],
      },
    ],
  });
  checkWellFormed(svg);
  assert.equal(coords(seriesGroup(svg, 'ours')).length, 2);
  assert.doesNotMatch(svg, /NaN|Infinity/);
  // Powers of ten from 1k to 10M label the y axis.
  for (const t of ['1k', '10k', '100k', '1M', '10M']) assert.match(svg, new RegExp(`>${t}</text>`));
});

test('a chart with no measured point still draws its axes and legend', () => {
  const svg = renderChart({ ...base, series: [{ name: 'ours', points: [{ x: 1_000, y: NaN }] }] });
  checkWellFormed(svg);
  assert.doesNotMatch(seriesGroup(svg, 'ours'), /<path|class="point"/);
  assert.doesNotMatch(svg, /NaN|Infinity/);
});

test('ticks: powers of ten (with 2 and 5 between over two decades or less), linear 1-2-5 steps from zero', () => {
  assert.deepEqual(logTicks(16, 1_048_576), [10, 100, 1e3, 1e4, 1e5, 1e6, 1e7]);
  assert.deepEqual(logTicks(1, 64), [1, 2, 5, 10, 20, 50, 100]);
  assert.deepEqual(linearTicks(300), [0, 100, 200, 300]);
  assert.deepEqual(linearTicks(0), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(linearTicks(3.7e6), [0, 1e6, 2e6, 3e6, 4e6]);
  // A negative figure (a server's RSS shrank over a reading) stays on the chart, below a zero line.
  assert.deepEqual(linearTicks(300, -80), [-100, 0, 100, 200, 300]);
  assert.deepEqual(
    [950, 1_500, 20_000, 1_250_000, 3e9, 0.25].map((v) => formatSi(v)),
    ['950', '1.5k', '20k', '1.25M', '3G', '0.25'],
  );
});

test('a negative value on a linear axis stays inside the plot, the axis extended below zero', () => {
  const svg = renderChart({
    ...base,
    series: [
      {
        name: 'ours',
        points: [
          { x: 1_000, y: -80 },
          { x: 100_000, y: 300 },
        ],
      },
    ],
  });
  checkWellFormed(svg);
  const pts = coords(seriesGroup(svg, 'ours'));
  assert.equal(pts.length, 2);
  // The plot spans y 44 (top margin) to 282 (360 - 78).
  for (const p of pts) assert.ok(p.y >= 44 && p.y <= 282, JSON.stringify(pts));
  assert.match(svg, />-100<\/text>/);
});
