// `pnpm bench` (= `npm run bench` = scripts/bootstrap.mjs bench: install, build, then this file).
// Runs the same load, from one load generator, against our event service and against nats-server, both started
// here as child processes on loopback, and prints our figure beside nats-server's with the ratio.
//
// Usage: pnpm bench [-- options]            (or, once built: node bench/dist/src/main.js [options])
//   --scenario <a,b>   run only these (repeatable); --list shows the names (gateway: TLS client → event-gateway →
//                      service vs TLS client → nats-server leaf → hub, gateway.ts)
//   --only <target>    ours | nats-server: run one server (e.g. while ours is being written)
//   --quick            ~1/5 of the counts and 2 s caps: a smoke run, figures noisier
//   --generator <g>    native | libnats | node (default: native when cc + libnats-dev are there, else node).
//                      native = bench/bin/loadgen with raw sockets (lightest, see native/loadgen.c); libnats = the
//                      same binary driving the NATS C client; node = bench/src/node-loadgen.ts
//   --repeat <n>       run each scenario n times per server, the servers taking turns; each metric's median (default 1)
//   --all              include opt-in scenarios (idle-10k, soak)
//   --soak-seconds <s> seconds of mixed load in `soak` (default 60, 15 with --quick), then 10 s idle (3 s)
//   --cpu-prof <dir>   run our service with node --cpu-prof, one .cpuprofile per service child in <dir> (and per
//                      gateway child: event-gateway.*.cpuprofile)
//                      (summarise with `node bench/dist/src/prof-summary.js <file>`)
//   --heap-snapshots <dir>  soak: heap snapshots of our service, cold and after the idle period, into <dir>
//                      (compare with `node bench/dist/src/heap-diff.js <cold> <after>`)
//   --md               print the tables as Markdown (for bench/RESULTS.md)
//   --curves           the cost curves instead of the scenarios (curves.ts): throughput and memory as subscriptions,
//                      idle connections, payload size and fan-out grow, both servers; writes bench/curves/*.svg and
//                      RESULTS.md's "Cost curves" section. --scenario picks curves (subs, conns, payload, fanout);
//                      --quick, --repeat, --generator and --only apply (--only prints without writing)
// Results also go to bench/out/<date>.json. Exit code 1 when a run failed or a check did (lost messages).
// Compare ratios from one run, never absolute figures across runs or machines (±15% between identical runs).
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BENCH_DIR, pickGenerator, runInproc, type Generator } from './generators.js';
import { runEvents } from './events.js';
import { runEventsHttp } from './events-http.js';
import { runEventsJetStream } from './events-jetstream.js';
import { runGateway } from './gateway.js';
import { runLeaf } from './leaf.js';
import { render, type Cell, type ScenarioRun } from './report.js';
import { DEFAULT_LIMITS } from './load-spec.js';
import type { Scenario } from './scenario-types.js';
import { SCENARIOS } from './scenarios.js';
import { profileServiceInto, startTarget, type RunningServer, type TargetName } from './servers.js';
import { runSoak } from './soak.js';
import { runCurves } from './curves.js';
import { pickCurves, type Curve } from './curves-defs.js';
import { systemInfo } from './system.js';

// Let the server settle (allocations after the last handshake, Node's lazy frees) before reading VmRSS.
const RSS_SETTLE_MS = 500;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Options {
  scenarios: Scenario[];
  targets: TargetName[];
  quick: boolean;
  repeat: number;
  generator: Generator;
  md: boolean;
  soakSeconds?: number;
  snapshotDir?: string;
  /** --curves: run these cost curves instead of the scenarios. */
  curves?: Curve[];
}

function usage(): string {
  const names = SCENARIOS.map((s) => {
    const labels = s.metrics.map((m) => m.label).join('; ');
    return `  ${s.name.padEnd(12)} ${labels}${s.optIn ? ' (opt-in)' : ''}`;
  });
  return ['scenarios:', ...names].join('\n');
}

function options(): Options | undefined {
  const { values } = parseArgs({
    options: {
      scenario: { type: 'string', multiple: true },
      only: { type: 'string' },
      quick: { type: 'boolean', default: false },
      generator: { type: 'string' },
      repeat: { type: 'string', default: '1' },
      all: { type: 'boolean', default: false },
      'soak-seconds': { type: 'string' },
      'cpu-prof': { type: 'string' },
      'heap-snapshots': { type: 'string' },
      md: { type: 'boolean', default: false },
      curves: { type: 'boolean', default: false },
      list: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help || values.list) {
    console.log(values.help ? help() : usage());
    return undefined;
  }
  const wanted = (values.scenario ?? [])
    .flatMap((s) => s.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  // With --curves, --scenario names curves.
  const curves = values.curves ? pickCurves(wanted) : undefined;
  for (const w of curves ? [] : wanted) {
    if (!SCENARIOS.some((s) => s.name === w)) throw new Error(`unknown scenario ${w}\n${usage()}`);
  }
  const scenarios = SCENARIOS.filter((s) => (wanted.length ? wanted.includes(s.name) : values.all || !s.optIn));
  const only = values.only;
  if (only !== undefined && only !== 'ours' && only !== 'nats-server') {
    throw new Error('--only takes ours or nats-server');
  }
  const gen = values.generator;
  if (gen !== undefined && gen !== 'native' && gen !== 'libnats' && gen !== 'node') {
    throw new Error('--generator takes native, libnats or node');
  }
  const repeat = Number.parseInt(values.repeat, 10);
  if (!(repeat >= 1 && repeat <= 9)) throw new Error('--repeat takes 1..9');
  const soak = values['soak-seconds'];
  const soakSeconds = soak === undefined ? undefined : Number(soak);
  if (soakSeconds !== undefined && !(soakSeconds >= 1 && soakSeconds <= 3600)) {
    throw new Error('--soak-seconds takes 1..3600');
  }
  if (values['cpu-prof'] !== undefined) {
    const dir = path.resolve(values['cpu-prof']);
    mkdirSync(dir, { recursive: true });
    profileServiceInto(dir);
  }
  const snapshots = values['heap-snapshots'];
  if (snapshots !== undefined) mkdirSync(path.resolve(snapshots), { recursive: true });
  return {
    ...(soakSeconds !== undefined ? { soakSeconds } : {}),
    ...(snapshots !== undefined ? { snapshotDir: path.resolve(snapshots) } : {}),
    ...(curves ? { curves } : {}),
    scenarios,
    // Each scenario runs nats-server, then ours, each a fresh process with the same limits.
    targets: only ? [only] : ['nats-server', 'ours'],
    quick: values.quick,
    repeat,
    generator: pickGenerator(gen),
    md: values.md,
  };
}

function help(): string {
  return [
    'pnpm bench [-- options]',
    '  --scenario <a,b>  --only ours|nats-server  --quick  --generator native|libnats|node  --repeat <n>',
    '  --all  --soak-seconds <s>  --cpu-prof <dir>  --heap-snapshots <dir>  --md  --list  --curves',
    '  (details: the comment at the top of bench/src/main.ts)',
    usage(),
  ].join('\n');
}

/** One scenario against one server: fresh server with the scenario's limits, generator, server CPU and RSS. */
async function runCell(sc: Scenario, target: TargetName, o: Options): Promise<Cell> {
  const spec = sc.spec(o.quick);
  if (sc.kind === 'soak' && o.soakSeconds !== undefined) spec.soakSeconds = o.soakSeconds;
  const cell: Cell = { target, problems: [], notes: [] };
  const started = Date.now();
  if (sc.kind === 'soak') {
    try {
      const r = await runSoak(spec, {
        target,
        generator: o.generator,
        limits: { ...DEFAULT_LIMITS, ...sc.limits },
        ...(sc.ours ? { ours: sc.ours } : {}),
        ...(o.snapshotDir !== undefined ? { snapshotDir: o.snapshotDir } : {}),
        onServerCpu: (s) => (cell.serverCpuS = s),
      });
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'custom') {
    try {
      if (!sc.run) throw new Error(`scenario ${sc.name} has kind custom but no run`);
      const r = await sc.run({
        spec,
        target,
        generator: o.generator,
        limits: { ...DEFAULT_LIMITS, ...sc.limits },
        quick: o.quick,
        onServerCpu: (s) => (cell.serverCpuS = s),
      });
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'events') {
    try {
      const r = await runEvents(spec, { ...DEFAULT_LIMITS, ...sc.limits }, o.generator, (s) => (cell.serverCpuS = s));
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'events-http') {
    try {
      const r = await runEventsHttp(spec, { ...DEFAULT_LIMITS, ...sc.limits }, (s) => (cell.serverCpuS = s));
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'events-jetstream') {
    try {
      const r = await runEventsJetStream(
        spec,
        { ...DEFAULT_LIMITS, ...sc.limits },
        o.generator,
        (s) => (cell.serverCpuS = s),
        { replicas: spec.replicas ?? 1, instances: spec.instances ?? 1 },
      );
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'gateway' || sc.kind === 'leaf') {
    try {
      const run = sc.kind === 'gateway' ? runGateway : runLeaf;
      const r = await run(spec, {
        target,
        generator: o.generator,
        limits: { ...DEFAULT_LIMITS, ...sc.limits },
        onServerCpu: (s) => (cell.serverCpuS = s),
      });
      cell.result = r;
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  if (sc.kind === 'inproc') {
    try {
      const r = await runInproc(spec);
      cell.result = r;
      cell.serverCpuS = r.window_cpu_s; // publisher and service share the process: all of it is "server"
      cell.windowS = r.window_ns / 1e9;
    } catch (err) {
      cell.error = (err as Error).message;
    }
    return finish(sc, cell, started);
  }
  let server: RunningServer | undefined;
  try {
    server = await startTarget(target, { limits: { ...DEFAULT_LIMITS, ...sc.limits }, ours: sc.ours });
    const srv = server;
    let cpu0 = 0;
    const rss: Record<string, number> = {};
    const r = await o.generator.run(spec, srv.port, {
      onWindow(phase) {
        if (phase === 'start') {
          cpu0 = srv.cpuSeconds();
        } else {
          cell.serverCpuS = srv.cpuSeconds() - cpu0;
        }
      },
      async onReady(phase) {
        await sleep(RSS_SETTLE_MS);
        rss[phase] = srv.rssKiB();
      },
    });
    if (rss['base'] !== undefined) r.rss_base_kib = rss['base'];
    if (rss['full'] !== undefined) r.rss_full_kib = rss['full'];
    cell.windowS = r.window_ns / 1e9;
    cell.result = r;
  } catch (err) {
    cell.error = (err as Error).message;
  } finally {
    await server?.stop();
  }
  return finish(sc, cell, started);
}

function finish(sc: Scenario, cell: Cell, started: number): Cell {
  cell.elapsedS = (Date.now() - started) / 1000;
  const r = cell.result;
  if (r) {
    const bad = sc.check?.(r);
    if (bad) cell.problems.push(bad);
    cell.notes.push(...(sc.notes?.(r) ?? []));
  }
  return cell;
}

/** Runs a cell `repeat` times (one server alone: the inproc row's borrowed nats-server figure) and keeps the median. */
async function runMedian(sc: Scenario, target: TargetName, o: Options): Promise<Cell> {
  const cells: Cell[] = [];
  for (let i = 0; i < o.repeat; i++) cells.push(await runCell(sc, target, o));
  return medianCell(sc, cells, o);
}

/**
 * The cell of a scenario's repeats: the run whose first metric is the median, with every metric's own median beside
 * it (metricValues), so a tail figure (a request's p99) is the median of the runs' p99s, not one run's.
 */
function medianCell(sc: Scenario, cells: Cell[], o: Options): Cell {
  const ok = cells.filter((c) => c.result && !c.error);
  if (ok.length === 0) return cells[0]!;
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)]!;
  const m = sc.metrics[0]!;
  ok.sort((a, b) => m.value(a.result!) - m.value(b.result!));
  const med = ok[Math.floor((ok.length - 1) / 2)]!;
  if (o.repeat > 1) {
    med.notes.push(`median of ${ok.length}: ${ok.map((c) => m.format(m.value(c.result!))).join(', ')}`);
    med.metricValues = sc.metrics.map((metric) => median(ok.map((c) => metric.value(c.result!))));
  }
  // A failure in any repetition counts.
  for (const c of cells) if (c !== med) med.problems.push(...c.problems.filter((p) => !med.problems.includes(p)));
  return med;
}

async function main(): Promise<void> {
  const o = options();
  if (!o) return;
  if (o.curves) {
    const { quick, repeat, generator, targets } = o;
    if (!(await runCurves({ curves: o.curves, quick, repeat, generator, targets }))) process.exitCode = 1;
    return;
  }
  const info = systemInfo();
  const t0 = Date.now();
  const runs: ScenarioRun[] = [];
  const byName = new Map<string, ScenarioRun>();
  const what = `${o.scenarios.length} scenario(s) × ${o.targets.join(' + ')}`;
  process.stderr.write(`bench: generator ${o.generator.name}; ${what}\n`);

  for (const sc of o.scenarios) {
    const run: ScenarioRun = { scenario: sc, cells: {} };
    const measured: TargetName[] = [];
    for (const target of o.targets) {
      // nats-server has no durable intake or sinks: the row shows ours alone, no ratio (the note says why).
      const oursOnly =
        sc.oursOnly || sc.kind === 'events' || sc.kind === 'events-jetstream' || sc.kind === 'events-http';
      if (oursOnly && target === 'nats-server') continue;
      if (sc.kind === 'inproc' && target === 'nats-server') {
        // nats-server has no in-process API: its figure is the loopback run of `comparedWith`, same invocation.
        const base = SCENARIOS.find((s) => s.name === sc.comparedWith)!;
        let cell = byName.get(base.name)?.cells['nats-server'];
        if (!cell) {
          process.stderr.write(`bench: ${base.name} on nats-server (for ${sc.name}) ...\n`);
          cell = await runMedian(base, 'nats-server', o);
        }
        run.cells[target] = { ...cell, notes: [...cell.notes], problems: [...cell.problems], borrowedFrom: base.name };
        continue;
      }
      measured.push(target);
    }
    // The servers take turns, repeat by repeat, so both meet the same minutes of a shared machine.
    const repeats = new Map<TargetName, Cell[]>(measured.map((t) => [t, []]));
    for (let i = 0; i < o.repeat; i++) {
      for (const target of measured) {
        const round = o.repeat > 1 ? ` (${i + 1}/${o.repeat})` : '';
        process.stderr.write(`bench: ${sc.name} on ${target}${round} ...`);
        const cell = await runCell(sc, target, o);
        process.stderr.write(cell.error ? ` failed: ${cell.error}\n` : ` ${cell.elapsedS?.toFixed(1)} s\n`);
        repeats.get(target)!.push(cell);
      }
    }
    for (const [target, cells] of repeats) run.cells[target] = medianCell(sc, cells, o);
    runs.push(run);
    byName.set(sc.name, run);
  }

  const totalS = (Date.now() - t0) / 1000;
  console.log(render({ info, generator: o.generator, runs, quick: o.quick, totalS, md: o.md, targets: o.targets }));

  const outDir = path.join(BENCH_DIR, 'out');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `${info.date.replace(/[:]/g, '-')}.json`);
  writeFileSync(
    file,
    `${JSON.stringify(
      {
        info,
        generator: { name: o.generator.name, description: o.generator.description },
        quick: o.quick,
        repeat: o.repeat,
        totalS,
        runs: runs.map((r) => ({
          scenario: r.scenario.name,
          metrics: r.scenario.metrics.map((m) => m.label),
          cells: r.cells as Record<string, Cell | undefined>,
        })),
      },
      null,
      2,
    )}\n`,
  );
  console.log(`\nraw results: ${path.relative(process.cwd(), file)}`);
  const failed = runs.some((r) => Object.values(r.cells).some((c) => c && (c.error || c.problems.length)));
  if (failed) process.exitCode = 1;
}

main().catch((err: unknown) => {
  console.error(`bench: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
