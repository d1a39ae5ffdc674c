#!/usr/bin/env node
// Entry for `npm start`, `npm test`, `npm run bench` and `npm run fuzz` on a fresh clone where only Node 20 and npm exist:
// make sure pnpm 10 is present (corepack's pnpm fails its signature check on these machines), install, build,
// then hand over to the real command. Kept dependency-free because it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const [command, ...rest] = process.argv.slice(2);

function run(cmd, args, opts = {}) {
  const res = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', ...opts });
  if (res.error) throw res.error;
  return res.status ?? 1;
}

function hasPnpm10() {
  const res = spawnSync('pnpm', ['--version'], { cwd: root, encoding: 'utf8' });
  return res.status === 0 && /^10\./.test(res.stdout.trim());
}

function ensure(cond, what) {
  if (!cond) {
    console.error(`bootstrap: ${what} failed`);
    process.exit(1);
  }
}

if (!hasPnpm10()) {
  console.error('bootstrap: installing pnpm 10 with npm (corepack is not used: its signature check fails here)');
  ensure(run('npm', ['i', '-g', 'pnpm@10']) === 0, 'npm i -g pnpm@10');
}
ensure(run('pnpm', ['install', '--frozen-lockfile=false', '--reporter=append-only']) === 0, 'pnpm install');
ensure(run('pnpm', ['exec', 'tsc', '-b']) === 0, 'build (tsc -b)');

switch (command) {
  case 'start':
    process.exitCode = run('node', ['dev/start.mjs', ...rest]);
    break;
  case 'test':
    process.exitCode = run('node', ['scripts/run-tests.mjs', ...rest]);
    break;
  case 'bench':
    process.exitCode = run('node', ['bench/dist/src/main.js', ...rest]);
    break;
  case 'fuzz':
    process.exitCode = run('node', ['bench/dist/src/fuzz.js', ...rest]);
    break;
  default:
    console.error(`bootstrap: unknown command ${command ?? '(none)'}; use start, test, bench or fuzz`);
    process.exitCode = 2;
}
