// Compares two V8 heap snapshots (e.g. the soak scenario's cold and after, `--heap-snapshots <dir>`): the growth
// in self size by node type, and the largest changes by type and name. Tells compiled code and V8 metadata
// (type `code`: bytecode, machine code, feedback) apart from live JS objects, which is where a leak would show.
//   node bench/dist/src/heap-diff.js <before.heapsnapshot> <after.heapsnapshot> [top=25]
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

/** Self size summed by "type: name"; strings are summed by type only (their names are their contents). */
function aggregate(file: string): Map<string, number> {
  const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = s.snapshot.meta.node_fields;
  const types = s.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out = new Map<string, number>();
  for (let i = 0; i < s.nodes.length; i += width) {
    const type = types[s.nodes[i + iType]!]!;
    let name = type.includes('string') ? '' : (s.strings[s.nodes[i + iName]!] ?? '');
    if (type === 'code') name = name.replace(/\s.*$/, ''); // "(code for foo)" → "(code": one row per kind
    const key = `${type}: ${name.slice(0, 60)}`;
    out.set(key, (out.get(key) ?? 0) + s.nodes[i + iSize]!);
  }
  return out;
}

function main(): void {
  const [a, b, topArg] = process.argv.slice(2);
  if (!a || !b) throw new Error('usage: heap-diff <before.heapsnapshot> <after.heapsnapshot> [top]');
  const top = Number(topArg ?? 25);
  const before = aggregate(a);
  const after = aggregate(b);
  const sum = (m: Map<string, number>) => [...m.values()].reduce((x, y) => x + y, 0);
  const kib = (n: number) => `${n >= 0 ? '+' : ''}${(n / 1024).toFixed(1)} KiB`;
  const diff = [...new Set([...before.keys(), ...after.keys()])]
    .map((k) => [k, (after.get(k) ?? 0) - (before.get(k) ?? 0)] as const)
    .filter(([, d]) => d !== 0);
  console.log(
    `self size ${(sum(before) / 1024).toFixed(0)} → ${(sum(after) / 1024).toFixed(0)} KiB (${kib(sum(after) - sum(before))})`,
  );
  const byType = new Map<string, number>();
  for (const [k, d] of diff) byType.set(k.split(':')[0]!, (byType.get(k.split(':')[0]!) ?? 0) + d);
  console.log(
    `by type: ${[...byType]
      .sort((x, y) => y[1] - x[1])
      .map(([t, d]) => `${t} ${kib(d)}`)
      .join(', ')}`,
  );
  console.log('largest changes:');
  for (const [k, d] of diff.sort((x, y) => Math.abs(y[1]) - Math.abs(x[1])).slice(0, top)) {
    console.log(`${kib(d).padStart(13)}  ${k}`);
  }
}

main();
