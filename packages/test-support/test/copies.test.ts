// The claim of this package, checked: every package's tests use it instead of copies of its helpers, and no test
// waits with a fixed sleep. A sleep that is a test's point is quietFor (an absence) or pace (a rate), both named;
// anything else waits on its condition. Reads the TypeScript sources of packages/*/test and bench/src.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function sources(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

const PACKAGES = path.join(ROOT, 'packages');
const testFiles = fs
  .readdirSync(PACKAGES)
  .filter((p) => p !== 'test-support')
  .flatMap((p) => sources(path.join(PACKAGES, p, 'test')));
const benchFiles = sources(path.join(ROOT, 'bench', 'src'));

/** Each line of `files` that matches `re`, as `file:line: text`. */
function hits(files: string[], re: RegExp): string[] {
  return files.flatMap((f) =>
    fs
      .readFileSync(f, 'utf8')
      .split('\n')
      .flatMap((line, i) => (re.test(line) ? [`${path.relative(ROOT, f)}:${i + 1}: ${line.trim()}`] : [])),
  );
}

test('the tests are found (the check reads something)', () => {
  assert.ok(testFiles.length > 50, `${testFiles.length} test sources`);
  assert.ok(benchFiles.length > 5, `${benchFiles.length} bench sources`);
});

test('no test waits with a fixed sleep: a promise a timer resolves, settle(), sleep(), timers/promises', () => {
  assert.deepEqual(hits(testFiles, /setTimeout\(\s*r[a-z]*\s*,|\bsettle\(|\bsleep\(|timers\/promises/), []);
});

test('no test copies a helper test-support has: waits, temp dirs, ports, the nats-server launcher', () => {
  assert.deepEqual(
    hits(
      testFiles,
      /\bfunction (within|until|eventually|untilFlows|collect|tmpDir|freePort|waitForPort|idleSockets|readRssKiB)\b|\bconst (within|until|sleep|settle) = /,
    ),
    [],
  );
  assert.deepEqual(hits(testFiles, /mkdtempSync\(/), [], 'temporary directories come from tmpDir');
  assert.deepEqual(
    hits([...testFiles, ...benchFiles], /spawn\(\s*'nats-server'/),
    [],
    'nats-server is started by spawnNatsServer',
  );
  assert.deepEqual(hits(benchFiles, /\bfunction (freePort|waitForPort|readRssKiB|natsServerVersion)\b/), []);
});

test("nothing imports shared's test support any more (@event-broker/shared/testing/*)", () => {
  assert.deepEqual(hits([...testFiles, ...benchFiles], /@event-broker\/shared\/testing\//), []);
  const exportsOf = JSON.parse(fs.readFileSync(path.join(PACKAGES, 'shared', 'package.json'), 'utf8')) as {
    exports: Record<string, unknown>;
  };
  assert.deepEqual(
    Object.keys(exportsOf.exports).filter((k) => k.startsWith('./testing')),
    [],
  );
});
