#!/usr/bin/env node
// Entry for `npm start`, `npm test`, `npm run bench` and `npm run fuzz` on a fresh clone where only Node 20 and npm exist:
// make sure pnpm 10 is present (corepack's pnpm fails its signature check on these machines), install, build,
// then hand over to the real command. Kept dependency-free because it runs before anything is installed.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
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
// With a lockfile, install exactly it: a package.json changed without `pnpm install` fails here, on a developer's
// machine as in CI, instead of resolving new versions silently. Without one (a fresh project), resolve and write it.
const frozen = existsSync(path.join(root, 'pnpm-lock.yaml'));
const installed = run('pnpm', [
  'install',
  frozen ? '--frozen-lockfile' : '--frozen-lockfile=false',
  '--reporter=append-only',
]);
if (installed !== 0 && frozen)
  console.error('bootstrap: if pnpm says the lockfile is out of date, run `pnpm install` and commit pnpm-lock.yaml');
ensure(installed === 0, 'pnpm install');
ensure(run('pnpm', ['exec', 'tsc', '-b']) === 0, 'build (tsc -b)');
// The event service's and the gateway's CLIs as one file each (scripts/bundle.mjs): what `npm start`, the bins and
// the startup bench run.
ensure(run('node', ['scripts/bundle.mjs']) === 0, 'bundle (scripts/bundle.mjs)');

switch (command) {
  case 'start':
    process.exitCode = run('node', ['dev/start.mjs', ...rest]);
    break;
  case 'test':
    // The linter and the format check (package.json config.formatCheck) first; then the suite under coverage, judged against the floor
    // in coverage-floor.json. `npm test -- FILTER` runs the matching test files only, without lint or coverage.
    if (rest.length > 0) {
      process.exitCode = run('node', ['scripts/run-tests.mjs', ...rest]);
    } else {
      ensure(run('node', ['scripts/lint.mjs']) === 0, 'lint');
      process.exitCode = run('node', ['scripts/coverage.mjs']);
    }
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
