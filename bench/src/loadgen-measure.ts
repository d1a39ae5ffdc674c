// How the node generator measures: the clock, the measured window's end (waitCount), the CPU and disconnect
// fields every result carries, and the JSON lines it prints (main.ts reads them).
import { GENERATOR, RawConn } from './loadgen-conn.js';

const STALL_MS = 2000;
const DRAIN_MS = 10_000;

export const now = () => process.hrtime.bigint();
export const ms = (n: number) => BigInt(Math.round(n)) * 1_000_000n;
export const sleep = (n: number) => new Promise((r) => setTimeout(r, n));

export function out(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/**
 * Waits until `count()` reaches `target`, progress stalls, or the drain bound passes. Returns the end of the
 * measured window: when the target was reached, else the last observed progress.
 */
export async function waitCount(count: () => number, target: number): Promise<bigint> {
  const start = now();
  let last = count();
  let lastChange = start;
  while (last < target) {
    const t = now();
    if (t - lastChange > ms(STALL_MS) || t - start > ms(DRAIN_MS)) break;
    await sleep(1);
    const d = count();
    if (d !== last) {
      last = d;
      lastChange = now();
    }
  }
  return last >= target ? now() : lastChange;
}

export function cpuFields(cpu0: NodeJS.CpuUsage, t0: bigint, t1: bigint): Record<string, unknown> {
  const w = process.cpuUsage(cpu0);
  const all = process.cpuUsage();
  return {
    generator: GENERATOR,
    window_ns: Number(t1 - t0),
    window_cpu_s: (w.user + w.system) / 1e6,
    cpu_user_s: all.user / 1e6,
    cpu_sys_s: all.system / 1e6,
    async_errors: 0,
    disconnects: RawConn.disconnects,
  };
}
