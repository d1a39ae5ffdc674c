// Summarises a V8 .cpuprofile (from `pnpm bench --cpu-prof <dir>`, or node --cpu-prof) as two short tables: self
// time and total (self + callees) time per function, as a % of the sampled time, for RESULTS.md.
//   node bench/dist/src/prof-summary.js <file.cpuprofile> [top=25]
// Functions are keyed by name, file and line; files print relative to the workspace (node: builtins as they are).
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

function where(n: ProfileNode): string {
  const { functionName, url, lineNumber } = n.callFrame;
  const name = functionName || '(anonymous)';
  if (!url) return name;
  let file = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (file.startsWith(ROOT)) file = path.relative(ROOT, file);
  file = file.replace(/(^|\/)node_modules\/\.pnpm\/[^/]+\/node_modules\//, '$1');
  return `${name} ${file}:${lineNumber + 1}`;
}

function main(): void {
  const [file, topArg] = process.argv.slice(2);
  if (!file) throw new Error('usage: prof-summary <file.cpuprofile> [top]');
  const top = Number(topArg ?? 25);
  const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

  const selfUs = new Map<number, number>();
  let totalUs = 0;
  p.samples.forEach((id, i) => {
    const dt = p.timeDeltas[i] ?? 0;
    selfUs.set(id, (selfUs.get(id) ?? 0) + dt);
    totalUs += dt;
  });

  const self = new Map<string, number>();
  const total = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    self.set(where(n), (self.get(where(n)) ?? 0) + us);
    // Each function on the stack once, however deep its recursion.
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const key = where(byId.get(at)!);
      if (seen.has(key)) continue;
      seen.add(key);
      total.set(key, (total.get(key) ?? 0) + us);
    }
  }
  const idle = self.get('(idle)') ?? 0;
  const busy = totalUs - idle;
  const print = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (% of ${(busy / 1e6).toFixed(2)} s busy; idle ${(idle / 1e6).toFixed(2)} s left out)`);
    [...m]
      .filter(([k]) => k !== '(idle)' && k !== '(root)')
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .forEach(([k, us]) => console.log(`${((us / busy) * 100).toFixed(1).padStart(5)}%  ${k}`));
  };
  console.log(`${path.basename(file)}: ${(totalUs / 1e6).toFixed(2)} s sampled`);
  print('self', self);
  print('total', total);
}

main();
