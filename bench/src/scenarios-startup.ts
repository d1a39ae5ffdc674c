// The start-up scenarios: exec → first PONG for nats-server and for our service's CLI (startup.ts runs them), its RSS
// and CPU at that moment; `startup` with npm start's dev configuration (four listeners and the store),
// `startup-default` with the embedded defaults (the client port only). Lower is better everywhere.
import type { GenResult, Metric, Scenario } from './scenario-types.js';
import { fmtFixed } from './scenario-parts.js';
import { runStartup, STARTUP_SAMPLES, STARTUP_SAMPLES_QUICK, type StartupConfig } from './startup.js';

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

function startupScenario(name: string, config: StartupConfig): Scenario {
  return {
    name,
    kind: 'custom',
    optIn: true,
    // No generator runs: the mode is a placeholder; `count` is the number of timed starts.
    spec: (quick) => ({ mode: 'conns', count: quick ? STARTUP_SAMPLES_QUICK : STARTUP_SAMPLES }),
    metrics,
    notes: (r) => [`${r.sent ?? 0} starts after one untimed; slowest ${((r.max_us ?? NaN) / 1000).toFixed(0)} ms`],
    run: (ctx) => runStartup(ctx, ctx.spec.count ?? STARTUP_SAMPLES, config),
  };
}

export const startup = startupScenario('startup', 'dev');
export const startupDefault = startupScenario('startup-default', 'embedded');
