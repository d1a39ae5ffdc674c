// The memory scenarios: server RSS per idle connection (conns, idle-10k) and the soak, which checks that heap and RSS
// come back after a load and an idle period (soak.ts runs it).
import type { Metric, Scenario } from './scenario-types.js';
import { fmtFixed, fmtRate, lossNotes } from './scenario-parts.js';

const rssPerConn: Metric['value'] = (r) => ((r.rss_full_kib ?? NaN) - (r.rss_base_kib ?? NaN)) / (r.opened ?? NaN);
const idleCheck: Scenario['check'] = (r) =>
  (r.closed_by_server ?? 0) > 0 ? `server closed ${r.closed_by_server} idle connection(s)` : undefined;

export const conns: Scenario = {
  name: 'conns',
  kind: 'generator',
  spec: (quick) => ({ mode: 'conns', conns: 1000, capMs: quick ? 10_000 : 20_000 }),
  metrics: [
    {
      label: '1,000 idle connections, server RSS',
      unit: 'KiB/conn',
      better: 'lower',
      format: fmtFixed(1),
      value: rssPerConn,
    },
  ],
  check: idleCheck,
  notes: (r) => [`RSS ${mib(r.rss_base_kib)} → ${mib(r.rss_full_kib)} MiB`],
};

export const idle10k: Scenario = {
  name: 'idle-10k',
  kind: 'generator',
  optIn: true,
  // One SUB each (bench.idle.<i>): a connection without interest is not what a fleet of idle clients looks like.
  // Needs ulimit -n above 10,064 for the generator and each server (the generator says so when it is not).
  spec: () => ({ mode: 'conns', conns: 10_000, sub: true, capMs: 60_000 }),
  ours: { listener_limit: 20_000 },
  metrics: [
    {
      label: '10,000 idle connections, 1 SUB each, server RSS',
      unit: 'KiB/conn',
      better: 'lower',
      format: fmtFixed(1),
      value: rssPerConn,
    },
  ],
  check: idleCheck,
  notes: (r) => [
    `RSS ${mib(r.rss_base_kib)} → ${mib(r.rss_full_kib)} MiB, ${r.subscriptions ?? 0} subscriptions`,
    ...(r.capped ? ['time cap hit'] : []),
  ],
};

export const soak: Scenario = {
  name: 'soak',
  kind: 'soak',
  optIn: true,
  // Seconds come from --soak-seconds (default 60; 15 with --quick), idle 10 s (3 s with --quick).
  spec: (quick) => ({ mode: 'pub', soakSeconds: quick ? 15 : 60, idleSeconds: quick ? 3 : 10 }),
  ours: { listener_limit: 200_000 },
  metrics: [
    {
      label: 'soak: server RSS after the idle period',
      unit: 'MiB',
      better: 'lower',
      format: fmtFixed(1),
      value: (r) => (r.rss_after_kib ?? NaN) / 1024,
    },
    {
      label: 'soak: heapUsed after idle, % of warm start (forced GC)',
      unit: '%',
      better: 'lower',
      format: fmtFixed(0),
      value: (r) => ((r.heap_after ?? NaN) / (r.heap_before ?? NaN)) * 100,
      only: 'ours',
    },
    {
      label: 'soak: heapUsed after idle, % of cold start (fresh process)',
      unit: '%',
      better: 'lower',
      format: fmtFixed(0),
      value: (r) => ((r.heap_after ?? NaN) / (r.heap_cold ?? NaN)) * 100,
      only: 'ours',
    },
  ],
  // Issue 7: after the load and an idle period the heap is back within 10% of where it started.
  check: (r) =>
    r.heap_after !== undefined && r.heap_before !== undefined && r.heap_after > r.heap_before * 1.1
      ? `heapUsed ${mib(r.heap_after / 1024)} MiB after idle, over 110% of ${mib(r.heap_before / 1024)} MiB at the warm start`
      : undefined,
  notes: (r) => [
    ...(r.heap_before !== undefined
      ? [
          `heapUsed ${mib((r.heap_cold ?? NaN) / 1024)} MiB cold, ${mib(r.heap_before / 1024)} MiB warm → ` +
            `${mib((r.heap_during_max ?? NaN) / 1024)} MiB ` +
            `at most during → ${mib((r.heap_after ?? NaN) / 1024)} MiB after ${r.idle_s ?? '?'} s idle (forced GC each); ` +
            `growth by space: ${Object.entries(r.heap_space_growth ?? {})
              .map(([k, v]) => `${k} ${v >= 0 ? '+' : ''}${(v / 1024).toFixed(0)} KiB`)
              .join(', ')}; since the cold start ${kib((r.heap_after ?? NaN) - (r.heap_cold ?? NaN))}, of which ` +
            `compiled bytecode and code ${kib((r.compiled_after ?? NaN) - (r.compiled_cold ?? NaN))}`,
        ]
      : []),
    `RSS ${mib(r.rss_cold_kib)} cold, ${mib(r.rss_before_kib)} warm → ${mib(r.rss_during_max_kib)} at most → ` +
      `${mib(r.rss_after_kib)} MiB; ` +
      `${r.steps ?? 0} load steps in ${(r.load_s ?? 0).toFixed(0)} s (${(r.step_names ?? []).join(', ')}), ` +
      `${fmtRate((r.sent ?? 0) + (r.received ?? 0))} msgs, ${r.samples ?? 0} samples`,
    ...lossNotes(r),
  ],
};

/** Signed KiB from bytes. */
function kib(bytes: number): string {
  return `${bytes >= 0 ? '+' : ''}${(bytes / 1024).toFixed(0)} KiB`;
}

function mib(kib: number | undefined): string {
  return kib === undefined ? '?' : (kib / 1024).toFixed(1);
}
