// Turns a run into the printed report: the comparison table (ours, nats-server, ratio, each server's CPU per message), the CPU each side used,
// and the notes (failures, losses, capped runs). Plain aligned text for the terminal, or Markdown for RESULTS.md.
import type { Generator } from './generators.js';
import type { GenResult, Scenario } from './scenario-types.js';
import type { TargetName } from './servers.js';
import type { SystemInfo } from './system.js';

export interface Cell {
  target: TargetName;
  result?: GenResult;
  error?: string;
  /** Failed checks (lost messages, timeouts): the run's exit code is 1. */
  problems: string[];
  notes: string[];
  /** Server CPU seconds over the measured window (for in-process: the whole process). */
  serverCpuS?: number;
  windowS?: number;
  elapsedS?: number;
  /** With --repeat: each metric's median over the repeats (the figures printed), in the scenario's metric order. */
  metricValues?: number[];
  /** Set when the figure is another scenario's (nats-server's loopback 1→1 for the in-process row). */
  borrowedFrom?: string;
}

export interface ScenarioRun {
  scenario: Scenario;
  cells: Partial<Record<TargetName, Cell>>;
}

export interface Report {
  info: SystemInfo;
  generator: Generator;
  runs: ScenarioRun[];
  quick: boolean;
  totalS: number;
  md: boolean;
  targets: TargetName[];
}

function table(head: string[], rows: string[][], md: boolean, rightFrom: number): string {
  if (md) {
    const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
    const sep = head.map((_, i) => (i >= rightFrom ? '---:' : '---'));
    return [line(head), line(sep), ...rows.map(line)].join('\n');
  }
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const pad = (cells: string[]) =>
    cells
      .map((c, i) => (i >= rightFrom ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [pad(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(pad)].join('\n');
}

/**
 * The server's CPU per message over the measured window, in µs: its CPU seconds over the messages the generator sent
 * (published messages, requests, events), so a figure won by spending more CPU shows as such. `—` where no message was
 * sent (idle connections) or the figure is another scenario's; in-process rows count the publisher too.
 */
function cpuPerMessage(cell: Cell | undefined, inproc: boolean): string {
  const sent = cell?.result?.sent ?? cell?.result?.requests ?? 0;
  if (!cell || cell.error || cell.borrowedFrom || cell.serverCpuS === undefined || sent <= 0) return '—';
  const us = (cell.serverCpuS * 1e6) / sent;
  return `${us < 10 ? us.toFixed(2) : us.toFixed(1)}${inproc ? ' (in-process)' : ''}`;
}

function pct(cpu: number | undefined, window: number | undefined): string {
  if (cpu === undefined || !window) return '—';
  return `${cpu.toFixed(2)} s (${Math.round((cpu / window) * 100)}%)`;
}

export function render(r: Report): string {
  const { info, md } = r;
  // One note per distinct text and server, listing the scenarios it applies to (a service that does not start
  // fails every scenario the same way).
  const notes: Array<{ target: TargetName; text: string; scenarios: string[] }> = [];
  const mark = (scenario: string, target: TargetName, text: string) => {
    let i = notes.findIndex((n) => n.target === target && n.text === text);
    if (i < 0) i = notes.push({ target, text, scenarios: [] }) - 1;
    if (!notes[i]!.scenarios.includes(scenario)) notes[i]!.scenarios.push(scenario);
    return i + 1;
  };

  const rows: string[][] = [];
  for (const run of r.runs) {
    run.scenario.metrics.forEach((m, i) => {
      const fig = (target: TargetName): { text: string; value?: number } => {
        const cell = run.cells[target];
        if (!cell || (m.only !== undefined && m.only !== target)) return { text: '—' };
        if (cell.error) {
          const n = i === 0 ? mark(run.scenario.name, target, `error: ${cell.error}`) : undefined;
          return { text: n ? `error [${n}]` : 'error' };
        }
        const v = cell.metricValues?.[i] ?? m.value(cell.result!);
        let text = Number.isFinite(v) ? m.format(v) : '?';
        if (i === 0) {
          for (const p of cell.problems) text += ` FAIL[${mark(run.scenario.name, target, `FAILED: ${p}`)}]`;
          for (const n of cell.notes) text += ` [${mark(run.scenario.name, target, n)}]`;
        }
        return Number.isFinite(v) ? { text, value: v } : { text };
      };
      const ours = fig('ours');
      const nats = fig('nats-server');
      const ratio = ours.value !== undefined && nats.value ? (ours.value / nats.value).toFixed(2) : '—';
      // Once per scenario, on its first figure: the scenario's CPU cost, ours beside nats-server's.
      const inproc = run.scenario.kind === 'inproc';
      const cost = (target: TargetName) => (i === 0 ? cpuPerMessage(run.cells[target], inproc) : '');
      rows.push([
        m.label,
        `${m.unit} ${m.better === 'higher' ? '↑' : '↓'}`,
        ours.text,
        nats.text,
        ratio,
        cost('ours'),
        cost('nats-server'),
      ]);
    });
  }

  const res: string[][] = [];
  for (const run of r.runs) {
    for (const target of r.targets) {
      const cell = run.cells[target];
      if (!cell || cell.error || cell.borrowedFrom || !cell.result) continue;
      const inproc = run.scenario.kind === 'inproc';
      res.push([
        run.scenario.name,
        target,
        cell.windowS?.toFixed(2) ?? '—',
        inproc ? '— (in-process)' : pct(cell.result.window_cpu_s, cell.windowS),
        pct(cell.serverCpuS, cell.windowS),
      ]);
    }
  }

  const title = `pnpm bench: event service vs nats-server ${info.natsServer}, same invocation, same load generator, loopback`;
  const machine =
    `${info.date} · node ${info.node} · ${info.cpuModel} × ${info.cores} cores · ${info.kernel} · ` +
    `commit ${info.commit} · load avg ${info.loadAvg.toFixed(2)} at start`;
  const gen = `generator: ${r.generator.name}: ${r.generator.description}`;
  const kind = r.quick ? 'quick run (--quick: counts /5, 2 s caps)' : 'full run';
  const mode = `${kind}, ${r.totalS.toFixed(0)} s; ratio = ours / nats-server (↑ higher is better, ↓ lower)`;
  const out: string[] = [];
  if (md) out.push(`**${title}**`, '', `${machine}  `, `${gen}  `, mode, '');
  else out.push(title, machine, gen, mode, '');
  out.push(
    table(
      ['scenario', 'unit', 'ours', 'nats-server', 'ours/nats', 'ours CPU µs/msg', 'nats-server CPU µs/msg'],
      rows,
      md,
      2,
    ),
  );
  out.push('');
  const cpuHead = 'CPU over the measured window (seconds, % of one core); in-process: publisher and service together';
  out.push(md ? `${cpuHead}:` : cpuHead, '');
  out.push(table(['scenario', 'server', 'window s', 'generator CPU', 'server CPU'], res, md, 2));
  if (notes.length) {
    out.push('', md ? 'Notes:' : 'notes:', '');
    notes.forEach((n, i) => {
      const text = `${n.scenarios.join(', ')} / ${n.target}: ${n.text}`;
      out.push(md ? `${i + 1}. ${text}` : `[${i + 1}] ${text}`);
    });
  }
  return out.join('\n');
}
