// The gateway on every core (issue 16 item 2): admission (admission.ts: mTLS + JWT connects/s against nats-server's
// mTLS + token) with the gateway's default workers (the core count), and the same with workers = 1 (today's single
// process), plus the gateway path (gateway.ts) with workers = 1, so one invocation compares both.
import { runAdmission } from './admission.js';
import { runGateway } from './gateway.js';
import { fmtFixed, fmtRate, lossNotes, noLoss, q, seconds } from './scenario-parts.js';
import type { GenResult, Scenario } from './scenario-types.js';
import { gateway } from './scenarios-messaging.js';

const ADMISSION_COUNT = 1000;

const connectsPerSecond = (r: GenResult) => (r.opened ?? 0) / seconds(r);

const cpuParts = (r: GenResult) =>
  Object.entries(r.server_cpu_parts ?? {})
    .map(([k, v]) => `${k} ${v.toFixed(2)} s`)
    .join(' + ');

function admissionScenario(name: string, workers?: number): Scenario {
  return {
    name,
    kind: 'custom',
    ...(workers !== undefined ? { optIn: true } : {}),
    spec: (quick) => ({ mode: 'admission', count: q(quick, ADMISSION_COUNT), warmup: 50, inflight: 16, capMs: 60_000 }),
    run: (ctx) => runAdmission(ctx, workers !== undefined ? { workers } : {}),
    metrics: [
      {
        label: `connects/s, mTLS + token, 16 at a time (ours: gateway${workers !== undefined ? ` workers=${workers}` : ''}, JWT)`,
        unit: 'conn/s',
        better: 'higher',
        format: fmtRate,
        value: connectsPerSecond,
      },
      { label: 'connect p50', unit: 'ms', better: 'lower', format: fmtFixed(2), value: (r) => (r.p50_us ?? 0) / 1e3 },
      { label: 'connect p99', unit: 'ms', better: 'lower', format: fmtFixed(2), value: (r) => (r.p99_us ?? 0) / 1e3 },
    ],
    check: (r) =>
      (r.refused ?? 0) > 0 || r.capped === true
        ? `${r.refused ?? 0} connects refused, ${r.opened ?? 0} of ${r.expected ?? '?'} admitted`
        : undefined,
    notes: (r) => [`client ${r.publisher ?? '?'}, server CPU (per connect in the CPU column) = ${cpuParts(r)}`],
  };
}

/** Admission with the gateway's default workers (the core count). */
export const admission = admissionScenario('admission');
/** Admission with one gateway process, as before workers existed (opt-in). */
export const admissionW1 = admissionScenario('admission-w1', 1);

/** The gateway path with one gateway process (opt-in; `gateway` runs the default workers). */
export const gatewayW1: Scenario = {
  ...gateway,
  name: 'gateway-w1',
  kind: 'custom',
  optIn: true,
  run: (ctx) =>
    runGateway(ctx.spec, {
      target: ctx.target,
      generator: ctx.generator,
      limits: ctx.limits,
      onServerCpu: ctx.onServerCpu,
      workers: 1,
    }),
  metrics: gateway.metrics.map((m) => ({ ...m, label: `${m.label}, gateway workers=1` })),
  check: noLoss,
  notes: (r) => [...lossNotes(r), `server CPU = ${cpuParts(r)}`],
};
