// The in-process scenario, in a child of its own: our service embedded in a Node program, `svc.publish` to a
// `svc.subscribe(subject, { callback })` with no socket in between. Prints a generator-shaped JSON result so
// main.ts treats it like a loopback run (compared with nats-server's 1→1 over loopback).
// argv[2]: JSON GenSpec (count, warmup, size, capMs).
import { setImmediate as turn } from 'node:timers/promises';
import type { GenSpec } from './load-spec.js';
import type { GenResult } from './scenario-types.js';

const SUBJECT = 'bench.inproc';
// Yield to the event loop this often, so deliveries the service defers to a later turn run and memory stays
// bounded; checked against the clock at the same points.
const YIELD_EVERY = 65_536;
const STALL_MS = 2000;
const DRAIN_MS = 10_000;

function print(r: Partial<GenResult>): void {
  process.stdout.write(`${JSON.stringify({ generator: 'in-process', mode: 'inproc', ...r })}\n`);
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? '{}') as GenSpec;
  const count = spec.count ?? 1_000_000;
  const warmup = spec.warmup ?? 100_000;
  const capNs = BigInt(spec.capMs ?? 5000) * 1_000_000n;
  const data = Buffer.alloc(spec.size ?? 16, 'a');

  // Imported here, not at the top: a service that fails to load then reports as a JSON error like any other.
  const { startEventService } = await import('@event-broker/event-service');
  const svc = await startEventService({ service: { host: '127.0.0.1', port: 0 }, log: { level: 'silent' } });
  let received = 0;
  svc.subscribe(SUBJECT, {
    callback: () => {
      received++;
    },
  });

  async function publish(n: number, deadline: bigint): Promise<number> {
    let sent = 0;
    while (sent < n) {
      const b = Math.min(YIELD_EVERY, n - sent);
      for (let i = 0; i < b; i++) svc.publish(SUBJECT, data);
      sent += b;
      await turn();
      if (process.hrtime.bigint() > deadline) break;
    }
    return sent;
  }

  // Returns when `target` messages arrived, progress stalled, or the drain bound passed: the last progress time.
  async function waitReceived(target: number): Promise<bigint> {
    const start = process.hrtime.bigint();
    let last = received;
    let lastChange = start;
    while (received < target) {
      const now = process.hrtime.bigint();
      if (now - lastChange > BigInt(STALL_MS) * 1_000_000n || now - start > BigInt(DRAIN_MS) * 1_000_000n) break;
      await new Promise((r) => setTimeout(r, 1));
      if (received !== last) {
        last = received;
        lastChange = process.hrtime.bigint();
      }
    }
    return received >= target ? process.hrtime.bigint() : lastChange;
  }

  const warm = await publish(warmup, process.hrtime.bigint() + capNs);
  await waitReceived(warm);
  const base = received;

  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const sent = await publish(count, t0 + capNs);
  const t1 = await waitReceived(base + sent);
  const got = received - base;
  const cpu = process.cpuUsage(cpu0);
  const total = process.cpuUsage();
  print({
    window_ns: Number(t1 - t0),
    window_cpu_s: (cpu.user + cpu.system) / 1e6,
    cpu_user_s: total.user / 1e6,
    cpu_sys_s: total.system / 1e6,
    sent,
    received: got,
    expected: sent,
    lost: sent - got,
    capped: sent < count,
    size: data.length,
    subs: 1,
  });
  await svc.close();
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    print({ error: err instanceof Error ? err.message : String(err) });
    process.exit(1);
  },
);
