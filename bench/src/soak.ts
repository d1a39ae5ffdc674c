// The `soak` scenario: a bounded period of mixed load, then idle, watching whether the server's memory comes back.
// The load is the other scenarios' own generator loads in their --quick sizes (pub, 1→1, fan-out, queue,
// request/reply, 64 KiB, 1,000 connections opened and closed, 100,000 subscriptions made and dropped), one after
// the other, round again until the time is up; every step opens fresh connections, so connection and
// subscription churn is part of it. Our service's heapUsed is read after a forced GC (run-service.ts, --expose-gc)
// before the load, every SAMPLE_MS during it, and after the idle period; VmRSS likewise for both servers.
// Issue 7's target: heapUsed after the idle period within 10% of the start.
//
// "The start" is read twice: cold (fresh process) and warm (after one round of every step). A fresh service's
// heap lacks the bytecode, type feedback and optimised code of the paths a load first runs: on the 2-core machine
// that is +1.0 MiB on a 9.6 MiB cold heap (old_space +0.6 MiB, code_space +0.5 MiB), all of it in the first round,
// then flat (10.7-11.0 MiB after each of 15 rounds in a row, 2026-11-30; RESULTS.md has the heap-snapshot diff).
// The check compares with the warm start, which is what a leak would move; the cold ratio is printed beside it.
import path from 'node:path';
import type { Generator } from './generators.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { SCENARIOS } from './scenarios.js';
import { startTarget, type RunningServer, type TargetName } from './servers.js';

const LOAD_STEPS = ['pub', 'pubsub', 'fanout', 'queue', 'reqrep', 'payload-64k', 'conns', 'subs-100k'];
// Often enough to catch growth within a 60 s run; each sample costs the service one full GC (a few ms).
const SAMPLE_MS = 5000;
// As main.ts: let the server settle after starting before the first reading.
const SETTLE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Sample {
  heap?: number;
  spaces?: Record<string, number>;
  compiled?: number;
  rssKiB: number;
}

async function sample(srv: RunningServer): Promise<Sample> {
  const h = srv.heap ? await srv.heap() : undefined;
  if (h && !h.gc) throw new Error('the service runs without --expose-gc: heap samples would include garbage');
  return { ...(h ? { heap: h.heap_used, spaces: h.spaces, compiled: h.compiled } : {}), rssKiB: srv.rssKiB() };
}

export interface SoakOptions {
  /** Ours only: write cold.heapsnapshot and after.heapsnapshot here (compare with heap-diff.js). */
  snapshotDir?: string;
  target: TargetName;
  generator: Generator;
  limits: Limits;
  ours?: Record<string, unknown>;
  /** Server CPU seconds over the load period. */
  onServerCpu?: (s: number) => void;
}

export async function runSoak(spec: GenSpec, o: SoakOptions): Promise<GenResult> {
  const loadMs = (spec.soakSeconds ?? 60) * 1000;
  const idleMs = (spec.idleSeconds ?? 10) * 1000;
  const steps = LOAD_STEPS.map((name) => {
    const sc = SCENARIOS.find((s) => s.name === name);
    if (!sc) throw new Error(`soak: no scenario ${name}`);
    return { name, spec: sc.spec(true) };
  });
  const srv = await startTarget(o.target, { limits: o.limits, ...(o.ours ? { ours: o.ours } : {}) });
  try {
    await sleep(SETTLE_MS);
    const cold = await sample(srv);
    if (o.snapshotDir && srv.snapshot) await srv.snapshot(path.join(o.snapshotDir, 'cold.heapsnapshot'));
    for (const step of steps) await o.generator.run(step.spec, srv.port);
    const before = await sample(srv);
    const during: Sample[] = [];
    const r: GenResult = {
      generator: o.generator.name,
      mode: 'soak',
      window_ns: 0,
      window_cpu_s: 0,
      cpu_user_s: 0,
      cpu_sys_s: 0,
    };
    let sent = 0;
    let received = 0;
    let lost = 0;
    let disconnects = 0;
    let done = 0;
    const cpu0 = srv.cpuSeconds();
    const t0 = process.hrtime.bigint();
    // Samples run beside the load; one at a time, and the last one is awaited before the idle period.
    let sampling: Promise<void> = Promise.resolve();
    let failure: Error | undefined;
    const timer = setInterval(() => {
      sampling = sampling.then(async () => {
        try {
          during.push(await sample(srv));
        } catch (err) {
          failure ??= err as Error;
        }
      });
    }, SAMPLE_MS);
    try {
      for (let i = 0; Number(process.hrtime.bigint() - t0) / 1e6 < loadMs; i++) {
        const step = steps[i % steps.length]!;
        const g = await o.generator.run(step.spec, srv.port);
        sent += g.sent ?? g.requests ?? 0;
        received += g.received ?? 0;
        lost += g.lost ?? 0;
        disconnects += g.disconnects ?? 0;
        r.window_cpu_s += g.window_cpu_s;
        done++;
        if (failure) throw failure;
      }
    } finally {
      clearInterval(timer);
    }
    await sampling;
    if (failure) throw failure;
    r.window_ns = Number(process.hrtime.bigint() - t0);
    o.onServerCpu?.(srv.cpuSeconds() - cpu0);
    during.push(await sample(srv));
    await sleep(idleMs);
    const after = await sample(srv);
    if (o.snapshotDir && srv.snapshot) await srv.snapshot(path.join(o.snapshotDir, 'after.heapsnapshot'));

    const max = (pick: (s: Sample) => number | undefined) =>
      Math.max(...during.map((s) => pick(s) ?? NaN).filter(Number.isFinite));
    Object.assign(r, {
      sent,
      received,
      lost,
      expected: received + lost,
      disconnects,
      rss_cold_kib: cold.rssKiB,
      rss_before_kib: before.rssKiB,
      rss_during_max_kib: max((s) => s.rssKiB),
      rss_after_kib: after.rssKiB,
      samples: during.length + 2,
      steps: done,
      step_names: LOAD_STEPS,
      load_s: r.window_ns / 1e9,
      idle_s: idleMs / 1000,
    });
    if (before.heap !== undefined && after.heap !== undefined) {
      const spaces: Record<string, number> = {};
      for (const [k, v] of Object.entries(after.spaces ?? {})) {
        const d = v - (before.spaces?.[k] ?? 0);
        if (d !== 0) spaces[k] = d;
      }
      Object.assign(r, {
        heap_cold: cold.heap,
        heap_before: before.heap,
        heap_during_max: max((s) => s.heap),
        heap_after: after.heap,
        heap_space_growth: spaces,
        compiled_cold: cold.compiled,
        compiled_after: after.compiled,
      });
    }
    return r;
  } finally {
    await srv.stop();
  }
}
