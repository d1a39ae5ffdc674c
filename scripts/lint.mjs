#!/usr/bin/env node
// What `npm test` runs before the suite: ESLint over the tree (eslint.config.js), then the format check (prettier, as
// `npm run format:check`) when it is switched on: package.json `"config": { "formatCheck": true }` (on since the tree
// was formatted), or FORMAT_CHECK=1 for one run. Exits non-zero on the first that fails.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function run(what, args) {
  const started = Date.now();
  const res = spawnSync('pnpm', ['exec', ...args], { cwd: root, stdio: 'inherit' });
  if (res.error) throw res.error;
  if (res.status !== 0) {
    console.error(`lint: ${what} failed (exit ${res.status})`);
    process.exit(res.status ?? 1);
  }
  console.log(`lint: ${what} passed in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/** True when the format check is on: FORMAT_CHECK=1 (or 0 to skip it), else package.json config.formatCheck. */
function formatCheckOn(env = process.env) {
  if (env.FORMAT_CHECK !== undefined && env.FORMAT_CHECK !== '')
    return env.FORMAT_CHECK === '1' || env.FORMAT_CHECK === 'true';
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8'));
  return pkg.config?.formatCheck === true;
}

// The cache lives in node_modules (never committed); a fresh clone, as in CI, lints every file.
run('eslint', ['eslint', '--cache', '--cache-location', 'node_modules/.cache/eslint/', '--max-warnings', '0', '.']);
if (formatCheckOn()) run('format check (prettier)', ['prettier', '--check', '--log-level', 'warn', '.']);
else console.log('lint: format check off (package.json config.formatCheck; FORMAT_CHECK=1 turns it on for one run)');
