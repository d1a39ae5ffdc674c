// The start-up scenario: exec → first PONG for nats-server and for our service's CLI with the dev configuration
// (startup.ts runs it), its RSS and CPU at that moment. Lower is better everywhere.
import type { GenResult, Metric, Scenario } from './scenario-types.js';
import { fmtFixed } from './scenario-parts.js';
import { runStartup, STARTUP_SAMPLES, STARTUP_SAMPLES_QUICK } from './startup.js';

const ms = (field: 'p50_us' | 'p90_us') => (r: GenResult) => (r[field] ?? NaN) / 1000;

const metrics: Metric[] = [
  { label: 'exec → first PONG, median', unit: 'ms', better: 'lower', format: fmtFixed(0), value: ms('p50_us') },
  { label: 'exec → first PONG, p90', unit: 'ms', better: 'lower', format: fmtFixed(0), value: ms('p90_us') },
  {
    label: 'CPU to first PONG, median',
    unit: 'ms',
    better: 'lower',
    format: fmtFixed(0),
    value: (r) => (r.server_cpu_parts?.['start'] ?? NaN) * 1000,
  },
  {
    label: 'RSS at first PONG, median',
    unit: 'MiB',
    better: 'lower',
    format: fmtFixed(1),
    value: (r) => (r.rss_full_kib ?? NaN) / 1024,
  },
];

export const startup: Scenario = {
  name: 'startup',
  kind: 'custom',
  optIn: true,
  // No generator runs: the mode is a placeholder; `count` is the number of timed starts.
  spec: (quick) => ({ mode: 'conns', count: quick ? STARTUP_SAMPLES_QUICK : STARTUP_SAMPLES }),
  metrics,
  notes: (r) => [`${r.sent ?? 0} starts after one untimed; slowest ${((r.max_us ?? NaN) / 1000).toFixed(0)} ms`],
  run: (ctx) => runStartup(ctx, ctx.spec.count ?? STARTUP_SAMPLES),
};
