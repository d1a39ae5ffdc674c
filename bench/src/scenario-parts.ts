// The pieces the scenario definitions share: load shapes (counts, warm-up, caps), rates, the no-loss check and the
// loss notes. Figures particular to one group stay in its file (scenarios-messaging, -events, -memory).
import type { GenMode, GenSpec } from './load-spec.js';
import type { GenResult, Metric, Scenario } from './scenario-types.js';

const M = 1e6;

export function fmtRate(v: number): string {
  if (v >= M) return `${(v / M).toFixed(2)} M`;
  if (v >= 1e3) return `${(v / 1e3).toFixed(1)} k`;
  return v.toFixed(0);
}

export const fmtFixed = (digits: number) => (v: number) => v.toFixed(digits);

export const seconds = (r: GenResult) => r.window_ns / 1e9;

export const received: Metric['value'] = (r) => (r.received ?? 0) / seconds(r);
export const sentRate: Metric['value'] = (r) => (r.sent ?? 0) / seconds(r);

export const noLoss: Scenario['check'] = (r) =>
  (r.lost ?? 0) > 0 ? `lost ${r.lost} of ${r.expected} messages` : undefined;

export function lossNotes(r: GenResult): string[] {
  const out: string[] = [];
  if ((r.lost ?? 0) > 0) out.push(`lost ${r.lost} of ${r.expected}`);
  if (r.capped) out.push(`time cap hit: ${r.sent} of the planned messages sent`);
  if ((r.disconnects ?? 0) > 0) out.push(`${r.disconnects} connection(s) dropped by the server`);
  if ((r.async_errors ?? 0) > 0) out.push(`${r.async_errors} async client error(s) (slow consumer?)`);
  return out;
}

// Counts: the nats-server run of each takes ~1-2 s here; caps bound a slower server to ~5 s of load plus a
// bounded drain, which keeps a full run with both servers under ~3 minutes on 2 cores.
export const q = (quick: boolean, full: number) => (quick ? Math.max(1, Math.round(full / 5)) : full);

/** A load of `count` messages of `size` bytes after a warm-up of a tenth as many, capped at 5 s (quick: 2 s). */
export function load(
  quick: boolean,
  mode: GenMode,
  size: number,
  count: number,
  extra: Partial<GenSpec> = {},
): GenSpec {
  return { mode, size, count: q(quick, count), warmup: q(quick, count / 10), capMs: quick ? 2000 : 5000, ...extra };
}
