#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js, bench/dist/test/**/*.test.js) with node's test
// runner.
// Node 20 has no fs.glob, so the files are listed here; an optional argument filters by substring.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const filter = process.argv[2];

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(path.join(root, 'packages'))) {
  const dir = path.join(root, 'packages', pkg, 'dist', 'test');
  if (existsSync(dir)) walk(dir, files);
}
// The bench's own tests (its chart drawing): no speed in them, like the rest of the suite.
if (existsSync(path.join(root, 'bench', 'dist', 'test'))) walk(path.join(root, 'bench', 'dist', 'test'), files);
const selected = files.filter((f) => !filter || f.includes(filter)).sort();
if (selected.length === 0) {
  console.error('run-tests: no test files found (did the build run?)');
  process.exit(1);
}
const res = spawnSync(
  process.execPath,
  ['--test', '--test-reporter=spec', '--test-concurrency=2', '--test-timeout=120000', ...selected],
  { cwd: root, stdio: 'inherit' },
);
process.exit(res.status ?? 1);
