// Turns the stored runs of the cost curves (bench/curves/<curve>.json, written by curves.ts) into the SVG charts and
// the "Cost curves" section of bench/RESULTS.md: a chart per figure with the numbers as a table under it. Pure
// functions of the stored data, so the section can be rebuilt from curves run at different times.
import { renderChart, type Series } from './chart.js';
import type { Curve, CurveFigure, Measured } from './curves-defs.js';
import type { TargetName } from './servers.js';
import type { SystemInfo } from './system.js';

export interface CurveCell {
  result?: Measured;
  error?: string;
  /** Failed checks (a lost message, an idle connection closed). */
  problems: string[];
  notes: string[];
}

export interface CurvePointRun {
  x: number;
  cells: Partial<Record<TargetName, CurveCell>>;
}

/** One curve's last run, as bench/curves/<name>.json stores it. */
export interface CurveRun {
  curve: string;
  info: SystemInfo;
  generator: string;
  quick: boolean;
  repeat: number;
  elapsed_s: number;
  points: CurvePointRun[];
}

export const BEGIN_MARK =
  '<!-- cost-curves:begin (written by `pnpm bench --curves`; edits in between are overwritten) -->';
export const END_MARK = '<!-- cost-curves:end -->';
// The two servers in the order the charts and tables show them.
const TARGETS: TargetName[] = ['ours', 'nats-server'];

/** The figure's value for one server at one point, NaN when it failed or did not run. */
export function figureValue(fig: CurveFigure, cell: CurveCell | undefined): number {
  if (!cell?.result || cell.error) return NaN;
  const v = fig.value(cell.result);
  return Number.isFinite(v) ? v : NaN;
}

export function chartFor(curve: Curve, fig: CurveFigure, run: CurveRun): string {
  const series: Series[] = TARGETS.map((t) => ({
    name: t,
    points: run.points.map((p) => ({ x: p.x, y: figureValue(fig, p.cells[t]) })),
  }));
  return renderChart({
    title: fig.title,
    x: { label: curve.xLabel, log: true, format: curve.xFormat, ticks: run.points.map((p) => p.x) },
    y: { label: fig.yLabel, ...(fig.yLog ? { log: true } : {}) },
    series,
  });
}

function cpuPerMessage(cell: CurveCell | undefined): string {
  const r = cell?.result;
  if (!r || cell?.error || r.server_cpu_s === undefined || !r.sent) return '—';
  const us = (r.server_cpu_s * 1e6) / r.sent;
  return us.toFixed(us < 10 ? 2 : us < 100 ? 1 : 0);
}

/** The figure's numbers as a Markdown table, one row per point; `mark` numbers a note and returns its index. */
export function tableFor(curve: Curve, fig: CurveFigure, run: CurveRun, mark: (text: string) => number): string {
  const arrow = fig.better === 'higher' ? '↑' : '↓';
  const head = [curve.xLabel, `ours (${fig.unit} ${arrow})`, `nats-server (${fig.unit} ${arrow})`, 'ours/nats'];
  if (fig.cpu) head.push('ours CPU µs/msg', 'nats-server CPU µs/msg');
  const rows = run.points.map((p) => {
    const cellText = (t: TargetName) => {
      const cell = p.cells[t];
      if (!cell) return '—';
      if (cell.error) return `error [${mark(`${t} at ${curve.xFormat(p.x)}: ${cell.error}`)}]`;
      const v = figureValue(fig, cell);
      let text = Number.isFinite(v) ? fig.format(v) : '?';
      for (const pr of cell.problems) text += ` FAIL[${mark(`${t} at ${curve.xFormat(p.x)}: ${pr}`)}]`;
      for (const n of cell.notes) text += ` [${mark(`${t} at ${curve.xFormat(p.x)}: ${n}`)}]`;
      return text;
    };
    const ours = figureValue(fig, p.cells.ours);
    const nats = figureValue(fig, p.cells['nats-server']);
    const ratio = Number.isFinite(ours) && Number.isFinite(nats) && nats !== 0 ? (ours / nats).toFixed(2) : '—';
    const row = [curve.xFormat(p.x), cellText('ours'), cellText('nats-server'), ratio];
    if (fig.cpu) row.push(cpuPerMessage(p.cells.ours), cpuPerMessage(p.cells['nats-server']));
    return row;
  });
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? '---' : '---:'))), ...rows.map(line)].join('\n');
}

/** Prose wrapped at `width` columns, as RESULTS.md is laid out by hand (tables and images stay one line each). */
export function wrap(text: string, width = 118): string {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) lines.push(line);
  return lines.join('\n');
}

function runLine(run: CurveRun): string {
  const i = run.info;
  const kind = run.quick ? 'quick run (--quick)' : 'full run';
  const rep = run.repeat > 1 ? `, median of ${run.repeat}` : '';
  return (
    `Measured ${i.date}, ${kind}${rep}, ${run.elapsed_s.toFixed(0)} s; load average ${i.loadAvg.toFixed(2)} at ` +
    `the start; ${i.cpuModel} × ${i.cores} cores, node ${i.node}, nats-server ${i.natsServer}, commit ${i.commit}, ` +
    `generator ${run.generator}.`
  );
}

/** The curve's part of the section: what it measures, then each figure's chart and table, then the notes. */
export function curveSection(curve: Curve, run: CurveRun): string {
  const notes: string[] = [];
  const mark = (text: string) => {
    const i = notes.indexOf(text);
    return i >= 0 ? i + 1 : notes.push(text);
  };
  const out = [`### ${curve.heading}`, '', wrap(curve.about), '', wrap(runLine(run)), ''];
  for (const fig of curve.figures) {
    out.push(`![${fig.title}](curves/${fig.file}.svg)`, '', tableFor(curve, fig, run, mark), '');
  }
  // Notes quote error texts: an angle bracket in them would be taken for HTML.
  const md = (t: string) => t.replace(/</g, '&lt;').replace(/>/g, '&gt;');
  if (notes.length) out.push(...notes.map((n, i) => wrap(`${i + 1}. ${md(n)}`)), '');
  return out.join('\n');
}

const INTRO =
  '`pnpm bench --curves` (`node bench/dist/src/main.js --curves`) measures how each cost grows with the work, for ' +
  'both servers, each point on a fresh server, the same generator for both, and rewrites this section and ' +
  '`bench/curves/*.svg` (each curve’s numbers are kept in `bench/curves/<curve>.json`, so ' +
  '`--curves --scenario <curve>` redraws one curve and keeps the others). `--quick` runs fewer, smaller points; ' +
  '`--repeat <n>` keeps each point’s median (3 took payload and fan-out 5.5 minutes); `--only` prints without ' +
  'writing. The x axes are logarithmic. Read the two lines of a chart against each other; absolute figures move ' +
  'with the load on the machine (the line under each heading gives it). A full run took 7 minutes on the 2-core ' +
  'machine at load average 11-14 (2026-12-05), 3.5 of them the idle connections (opening 19,900 connections on a ' +
  'busy machine is slow); `--quick` took 2 minutes.';

/** The whole section, markers included, for the curves that have a stored run (in CURVES order). */
export function costCurvesSection(curves: Array<{ curve: Curve; run: CurveRun }>): string {
  const parts = curves.map(({ curve, run }) => curveSection(curve, run));
  return [BEGIN_MARK, '## Cost curves', '', wrap(INTRO), '', ...parts, END_MARK].join('\n');
}

/**
 * `md` with the section between the markers replaced by `section` (markers included in it). Without markers the
 * section goes before the first dated results heading (`## 2026-...`), else at the end. Text outside is kept as is.
 */
export function replaceSection(md: string, section: string): string {
  const b = md.indexOf(BEGIN_MARK);
  const e = md.indexOf(END_MARK);
  if (b >= 0 && e > b) return md.slice(0, b) + section + md.slice(e + END_MARK.length);
  if (b >= 0 || e >= 0) throw new Error('bench/RESULTS.md has one cost-curves marker without the other');
  const dated = /^## \d{4}-\d{2}-\d{2}/m.exec(md);
  if (!dated) return `${md.replace(/\n*$/, '\n\n')}${section}\n`;
  return `${md.slice(0, dated.index)}${section}\n\n${md.slice(dated.index)}`;
}
