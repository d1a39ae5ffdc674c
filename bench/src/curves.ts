// `pnpm bench --curves`: runs each cost curve (curves-defs.ts) point by point against both servers, each point on a
// fresh server with the same generator, then writes bench/curves/<curve>.json, the charts (bench/curves/*.svg) and
// the "Cost curves" section of bench/RESULTS.md (curves-report.ts draws them from the stored runs).
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { settledRssKiB } from '@event-broker/test-support/processes';
import { BENCH_DIR, type Generator } from './generators.js';
import { DEFAULT_LIMITS } from './load-spec.js';
import { CURVES, type Curve, type CurvePoint, type Measured } from './curves-defs.js';
import {
  chartFor,
  costCurvesSection,
  curveSection,
  figureValue,
  replaceSection,
  type CurveCell,
  type CurveRun,
} from './curves-report.js';
import { startTarget, type RunningServer, type TargetName } from './servers.js';
import { systemInfo } from './system.js';

export const CURVES_DIR = path.join(BENCH_DIR, 'curves');
const RESULTS_MD = path.join(BENCH_DIR, 'RESULTS.md');
// RSS is read once it stops moving (the server has digested a SUB storm, Node's lazy frees): five readings 100 ms
// apart within RSS_QUIET_KIB, at most RSS_SETTLE_MAX_MS. 128 KiB: well under the ~0.3-0.7 MiB that 1,000
// subscriptions add, the smallest difference a curve reads.
const RSS_QUIET_KIB = 128;
const RSS_SETTLE_MAX_MS = 10_000;

export interface CurvesOptions {
  curves: Curve[];
  targets: TargetName[];
  quick: boolean;
  repeat: number;
  generator: Generator;
}

/** One point against one server: a fresh server, the generator, the RSS at its ready phases, the server's CPU. */
async function measure(point: CurvePoint, target: TargetName, generator: Generator): Promise<Measured> {
  let server: RunningServer | undefined;
  try {
    server = await startTarget(target, { limits: DEFAULT_LIMITS, ...(point.ours ? { ours: point.ours } : {}) });
    const srv = server;
    let cpu0 = 0;
    let cpu: number | undefined;
    const rss: Record<string, number> = {};
    const r: Measured = await generator.run(point.spec, srv.port, {
      onWindow(phase) {
        if (phase === 'start') cpu0 = srv.cpuSeconds();
        else cpu = srv.cpuSeconds() - cpu0;
      },
      async onReady(phase) {
        // Ours: a full GC before the baseline, so garbage left from start-up is not freed during the load and taken
        // off the difference (a negative figure at 1,000 subscriptions without it). Only the baseline, and only
        // where it can be forced: any bias this leaves counts against ours.
        if (phase === 'base') await srv.heap?.();
        rss[phase] = await settledRssKiB(srv.pid, { quietKiB: RSS_QUIET_KIB, maxMs: RSS_SETTLE_MAX_MS });
      },
    });
    if (rss['base'] !== undefined) r.rss_base_kib = rss['base'];
    if (rss['full'] !== undefined) r.rss_full_kib = rss['full'];
    if (cpu !== undefined) r.server_cpu_s = cpu;
    return r;
  } finally {
    await server?.stop();
  }
}

/** The figure of a capped point is still a rate (or a size over what was opened); the note says how far it got. */
function cappedNote(r: Measured, point: CurvePoint): string {
  const got =
    r.opened !== undefined
      ? `${r.opened} of ${point.spec.conns} connections opened`
      : `${r.sent} of ${point.spec.count} messages sent`;
  return `time cap hit: ${got}`;
}

/** `repeat` runs of a point; the median by the curve's first figure is kept, a failed check in any run counts. */
async function measureMedian(curve: Curve, point: CurvePoint, target: TargetName, o: CurvesOptions) {
  const cells: CurveCell[] = [];
  for (let i = 0; i < o.repeat; i++) {
    const cell: CurveCell = { problems: [], notes: [] };
    try {
      cell.result = await measure(point, target, o.generator);
      const bad = curve.check(cell.result);
      if (bad) cell.problems.push(bad);
      if (cell.result.capped) cell.notes.push(cappedNote(cell.result, point));
    } catch (err) {
      cell.error = (err as Error).message;
    }
    cells.push(cell);
  }
  const fig = curve.figures[0]!;
  const ok = cells.filter((c) => Number.isFinite(figureValue(fig, c)));
  if (ok.length === 0) return cells[0]!;
  ok.sort((a, b) => figureValue(fig, a) - figureValue(fig, b));
  const med = ok[Math.floor((ok.length - 1) / 2)]!;
  if (o.repeat > 1) {
    med.notes.push(`median of ${ok.length}: ${ok.map((c) => fig.format(figureValue(fig, c))).join(', ')} ${fig.unit}`);
  }
  for (const c of cells) if (c !== med) med.problems.push(...c.problems.filter((p) => !med.problems.includes(p)));
  return med;
}

async function runCurve(curve: Curve, o: CurvesOptions, commit: string): Promise<CurveRun> {
  // The commit as it was before this run wrote its own outputs (bench/curves, RESULTS.md): they are not a change.
  const info = { ...systemInfo(), commit };
  const t0 = Date.now();
  const run: CurveRun = {
    curve: curve.name,
    info,
    generator: o.generator.name,
    quick: o.quick,
    repeat: o.repeat,
    elapsed_s: 0,
    points: [],
  };
  for (const point of curve.points(o.quick)) {
    const p: CurveRun['points'][number] = { x: point.x, cells: {} };
    for (const target of o.targets) {
      process.stderr.write(`bench: curve ${curve.name} at ${curve.xFormat(point.x)} on ${target} ...`);
      const started = Date.now();
      const cell = await measureMedian(curve, point, target, o);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      process.stderr.write(cell.error ? ` failed: ${cell.error}\n` : ` ${took} s\n`);
      p.cells[target] = cell;
    }
    run.points.push(p);
  }
  run.elapsed_s = (Date.now() - t0) / 1000;
  return run;
}

function storedRun(curve: Curve): CurveRun | undefined {
  const file = path.join(CURVES_DIR, `${curve.name}.json`);
  if (!existsSync(file)) return undefined;
  return JSON.parse(readFileSync(file, 'utf8')) as CurveRun;
}

/**
 * Runs the curves and prints each one's tables. With both servers it stores each run, redraws its charts and
 * rewrites the RESULTS.md section from every stored run; with one (--only) it prints and writes only bench/out.
 * Resolves to false when a point failed or a check did.
 */
export async function runCurves(o: CurvesOptions): Promise<boolean> {
  const both = o.targets.includes('ours') && o.targets.includes('nats-server');
  const t0 = Date.now();
  process.stderr.write(
    `bench: curves ${o.curves.map((c) => c.name).join(', ')}; generator ${o.generator.name}; ` +
      `${o.targets.join(' + ')}${o.quick ? '; quick' : ''}\n`,
  );
  const runs: CurveRun[] = [];
  const commit = systemInfo().commit;
  let failed = false;
  for (const curve of o.curves) {
    const run = await runCurve(curve, o, commit);
    runs.push(run);
    failed ||= run.points.some((p) => Object.values(p.cells).some((c) => c && (c.error || c.problems.length)));
    console.log(`${curveSection(curve, run)}\n`);
    if (!both) continue;
    mkdirSync(CURVES_DIR, { recursive: true });
    writeFileSync(path.join(CURVES_DIR, `${curve.name}.json`), `${JSON.stringify(run, null, 2)}\n`);
    for (const fig of curve.figures) writeFileSync(path.join(CURVES_DIR, `${fig.file}.svg`), chartFor(curve, fig, run));
  }
  const totalS = (Date.now() - t0) / 1000;
  const outDir = path.join(BENCH_DIR, 'out');
  mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `curves-${new Date().toISOString().replace(/[:]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify({ totalS, runs }, null, 2)}\n`);
  console.log(`curves: ${totalS.toFixed(0)} s; raw results: ${path.relative(process.cwd(), file)}`);
  if (both) {
    const stored = CURVES.flatMap((curve) => {
      const run = storedRun(curve);
      return run ? [{ curve, run }] : [];
    });
    writeFileSync(RESULTS_MD, replaceSection(readFileSync(RESULTS_MD, 'utf8'), costCurvesSection(stored)));
    console.log(`curves: wrote bench/curves/ and the Cost curves section of bench/RESULTS.md`);
  }
  return !failed;
}
