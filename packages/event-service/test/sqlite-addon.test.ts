// handlers/sqlite-addon.ts: the store names better-sqlite3's native addon by its path. Where its build leaves it, at
// once; elsewhere (another build layout) or nowhere, through better-sqlite3's own `bindings` search run from its
// directory, which must also work inside the CLI's bundle, where the search better-sqlite3 itself runs cannot
// ("__filename is not defined"), and fail with the search's own list of where it looked.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { exitOf, spawnCli } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { locateAddon } from '../src/handlers/sqlite-addon.js';

/** dist/test/sqlite-addon.test.js → the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const require = createRequire(import.meta.url);
const REAL_PKG = path.dirname(require.resolve('better-sqlite3/package.json'));
const REAL_ADDON = path.join(REAL_PKG, 'build', 'Release', 'better_sqlite3.node');
const PRE_GYP = `node-v${process.versions.modules}-${process.platform}-${process.arch}`;

interface BundleScript {
  bundle(targets: { entry: string; outdir: string }[]): Promise<void>;
}

/**
 * A better-sqlite3 under `dir`/node_modules (its package.json, the real `bindings` linked beside it) with the addon at
 * node-pre-gyp's place when `withAddon`; returns a module path there to resolve it from.
 */
function layout(dir: string, withAddon: boolean): string {
  const pkg = path.join(dir, 'node_modules', 'better-sqlite3');
  mkdirSync(pkg, { recursive: true });
  copyFileSync(path.join(REAL_PKG, 'package.json'), path.join(pkg, 'package.json'));
  const bindings = realpathSync(path.dirname(createRequire(path.join(REAL_PKG, 'x.js')).resolve('bindings')));
  symlinkSync(bindings, path.join(dir, 'node_modules', 'bindings'), 'dir');
  if (withAddon) {
    const at = path.join(pkg, 'lib', 'binding', PRE_GYP);
    mkdirSync(at, { recursive: true });
    copyFileSync(REAL_ADDON, path.join(at, 'better_sqlite3.node'));
  }
  return path.join(dir, 'main.js');
}

test("the addon of this package's better-sqlite3, where its build leaves it, opens a database", () => {
  const found = locateAddon(import.meta.url);
  assert.equal(realpathSync(found), realpathSync(REAL_ADDON));
  const db = new Database(':memory:', { nativeBinding: found });
  assert.equal((db.prepare('SELECT 1 AS one').get() as { one: number }).one, 1);
  db.close();
});

test("an addon elsewhere is found by better-sqlite3's search; none fails with where it looked", (t) => {
  const dir = tmpDir(t, 'sqlite-addon-');
  const elsewhere = locateAddon(layout(path.join(dir, 'elsewhere'), true));
  assert.equal(
    elsewhere,
    path.join(dir, 'elsewhere', 'node_modules', 'better-sqlite3', 'lib', 'binding', PRE_GYP, 'better_sqlite3.node'),
  );
  const none = layout(path.join(dir, 'none'), false);
  assert.throws(
    () => locateAddon(none),
    (err: Error) => {
      assert.match(err.message, /^Could not locate the bindings file\. Tried:/);
      assert.ok(err.message.includes(path.join(dir, 'none', 'node_modules', 'better-sqlite3', 'build', 'Release')));
      return true;
    },
  );
});

test('inside a bundle, the search finds an addon elsewhere and names where it looked for a missing one', async (t) => {
  const dir = tmpDir(t, 'sqlite-addon-bundle-');
  const entry = write(dir, 'entry.mjs', [
    `import Database from ${JSON.stringify(require.resolve('better-sqlite3'))};`,
    `import { locateAddon } from ${JSON.stringify(fileURLToPath(new URL('../src/handlers/sqlite-addon.js', import.meta.url)))};`,
    "const db = new Database(':memory:', { nativeBinding: locateAddon(process.argv[2]) });",
    "console.log(db.prepare('SELECT 41 + 1 AS n').get().n);",
    'try { locateAddon(process.argv[3]); } catch (err) { console.log(err.message.split("\\n")[0]); }',
  ]);
  const outdir = path.join(dir, 'bundle');
  const { bundle } = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'bundle.mjs')).href)) as BundleScript;
  await bundle([{ entry, outdir }]);
  const run = spawnCli(t, path.join(outdir, 'cli.mjs'), [
    layout(path.join(dir, 'elsewhere'), true),
    layout(path.join(dir, 'none'), false),
  ]);
  const r = await exitOf(run);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['42', 'Could not locate the bindings file. Tried:']);
});
