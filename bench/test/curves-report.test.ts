// The "Cost curves" section of bench/RESULTS.md and its charts, built from a stored run with fixed numbers
// (bench/src/curves-report.ts): figures computed from the generator's fields, tables with ratios, errors and
// failed checks, and the section rewritten between its markers without touching the rest of the file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { subsCurve, payloadCurve, formatBytes } from '../src/curves-defs.js';
import {
  BEGIN_MARK,
  END_MARK,
  chartFor,
  costCurvesSection,
  replaceSection,
  tableFor,
  type CurveRun,
} from '../src/curves-report.js';

const info = {
  date: '2026-12-05T19:00:00Z',
  node: 'v20.0.0',
  cpuModel: 'Test CPU',
  cores: 2,
  kernel: 'Linux',
  commit: 'abc',
  natsServer: 'v2.9.10',
  loadAvg: 1.5,
};

const subsResult = (subscriptions: number, fullKiB: number, received: number) => ({
  generator: 'c-raw',
  mode: 'subs',
  window_ns: 2e9,
  window_cpu_s: 0.1,
  cpu_user_s: 0.1,
  cpu_sys_s: 0,
  sent: received / 10,
  received,
  lost: 0,
  subscriptions,
  rss_base_kib: 10_000,
  rss_full_kib: fullKiB,
  server_cpu_s: 1,
});

const subsRun: CurveRun = {
  curve: 'subs',
  info,
  generator: 'c-raw',
  quick: false,
  repeat: 1,
  elapsed_s: 42,
  points: [
    {
      x: 1_000,
      cells: {
        ours: { result: subsResult(1_000, 10_500, 2_000_000), problems: [], notes: [] },
        'nats-server': { result: subsResult(1_000, 11_000, 1_000_000), problems: [], notes: [] },
      },
    },
    {
      x: 10_000,
      cells: {
        ours: { error: 'event service did not start: <boom>', problems: [], notes: [] },
        'nats-server': {
          result: { ...subsResult(10_000, 20_000, 1_000_000), lost: 5 },
          problems: ['lost 5 of 100 messages'],
          notes: [],
        },
      },
    },
  ],
};

test('a curve table gives each server its figure, the ratio, CPU per message, errors and failed checks as notes', () => {
  const notes: string[] = [];
  const mark = (t: string) => notes.push(t);
  const [rss, rate] = subsCurve.figures;
  const table = tableFor(subsCurve, rss!, subsRun, mark).split('\n');
  assert.equal(table[0], '| subscriptions | ours (B/sub ↓) | nats-server (B/sub ↓) | ours/nats |');
  // (10,500 - 10,000) KiB over 1,000 subscriptions = 512 bytes; nats-server's 1,024: ratio 0.50.
  assert.equal(table[2], '| 1k | 512 | 1024 | 0.50 |');
  assert.equal(table[3], '| 10k | error [1] | 1024 FAIL[2] | — |');
  assert.deepEqual(notes, [
    'ours at 10k: event service did not start: <boom>',
    'nats-server at 10k: lost 5 of 100 messages',
  ]);

  const rateTable = tableFor(subsCurve, rate!, subsRun, () => 0).split('\n');
  assert.match(rateTable[0]!, /ours CPU µs\/msg \| nats-server CPU µs\/msg \|$/);
  // 2 M deliveries in 2 s = 1 M/s; 1 s of server CPU over 200,000 publishes = 5 µs each.
  assert.equal(rateTable[2], '| 1k | 1M | 500k | 2.00 | 5.00 | 10.0 |');
});

test('a curve chart draws both servers from the stored run, a gap where a point failed', () => {
  const svg = chartFor(subsCurve, subsCurve.figures[0]!, subsRun);
  const ours = svg.slice(svg.indexOf('data-name="ours"'), svg.indexOf('data-name="nats-server"'));
  assert.equal([...ours.matchAll(/class="point"/g)].length, 1, 'ours failed at 10k: one point');
  const nats = svg.slice(svg.indexOf('data-name="nats-server"'));
  assert.equal([...nats.matchAll(/class="point"/g)].length, 2);
  assert.match(svg, /<title>ours: 1k → 512<\/title>/);
  assert.match(svg, />subscriptions \(log scale\)</);
});

test('the section holds each curve: what it measures, the run line, an image and table per figure, the notes', () => {
  const section = costCurvesSection([{ curve: subsCurve, run: subsRun }]);
  assert.ok(section.startsWith(BEGIN_MARK) && section.endsWith(END_MARK));
  assert.match(section, /^## Cost curves$/m);
  assert.match(section, /^### Subscriptions$/m);
  assert.match(section, /^!\[Server memory per subscription\]\(curves\/subs-rss\.svg\)$/m);
  assert.match(section, /^!\[Delivery rate as subscriptions grow\]\(curves\/subs-rate\.svg\)$/m);
  assert.match(section, /Measured 2026-12-05T19:00:00Z, full run, 42 s; load average 1\.50/);
  assert.match(section, /^1\. ours at 10k: event service did not start: &lt;boom&gt;$/m);
  // Prose is wrapped as RESULTS.md is (tables and image lines are one line each, whatever their length).
  for (const line of section.split('\n')) {
    if (!line.startsWith('|') && !line.startsWith('![') && !line.startsWith('<!--')) {
      assert.ok(line.length <= 118, `longer than 118: ${line}`);
    }
  }
});

test('the section replaces what is between its markers, or goes before the first dated results', () => {
  const before = '# Bench results\n\nintro\n\n## How it measures\n\n- a\n\n## 2026-12-05: older\n\ntable\n';
  const first = replaceSection(before, `${BEGIN_MARK}\nONE\n${END_MARK}`);
  assert.equal(
    first,
    `# Bench results\n\nintro\n\n## How it measures\n\n- a\n\n${BEGIN_MARK}\nONE\n${END_MARK}\n\n## 2026-12-05: older\n\ntable\n`,
  );
  const second = replaceSection(first, `${BEGIN_MARK}\nTWO\n${END_MARK}`);
  assert.equal(second, first.replace('ONE', 'TWO'));
  assert.equal(replaceSection('# x\n', `${BEGIN_MARK}\n${END_MARK}`), `# x\n\n${BEGIN_MARK}\n${END_MARK}\n`);
  assert.throws(() => replaceSection(`a\n${BEGIN_MARK}\nb\n`, 'c'), /one cost-curves marker without the other/);
});

test('payload sizes print in bytes, KiB and MiB, and --quick leaves out the 1 MiB point', () => {
  assert.deepEqual([16, 256, 4096, 65_536, 1 << 20, 1000].map(formatBytes), [
    '16 B',
    '256 B',
    '4 KiB',
    '64 KiB',
    '1 MiB',
    '1000 B',
  ]);
  assert.deepEqual(
    payloadCurve.points(false).map((p) => p.x),
    [16, 256, 4096, 65_536, 1 << 20],
  );
  assert.deepEqual(
    payloadCurve.points(true).map((p) => p.x),
    [16, 256, 4096, 65_536],
  );
});
