// scripts/bundle.mjs writes the bundle without indentation or comments (issue 16 item 5), and Node prints the source
// line an uncaught exception was thrown from, with a caret under its column, before the stack: without a line limit
// that line is as long as a module (the service's bundle had lines of 250 KB), all of it written to stderr on a crash.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exitOf, spawnCli } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';

/** dist/test/cli-bundle-crash.test.js → the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const LONGEST = 2_000;

interface BundleScript {
  bundle(targets: { entry: string; outdir: string }[]): Promise<void>;
}

test("an uncaught exception in a bundle prints a source line of bounded length, then the error's stack", async (t) => {
  const dir = tmpDir(t, 'cli-bundle-crash-');
  const entry = write(dir, 'entry.mjs', [
    ...Array.from({ length: 1000 }, (_, i) => `globalThis.value${i} = ${i} + Number(process.argv.length);`),
    "setImmediate(() => { throw new Error('crash after start'); });",
  ]);
  const outdir = path.join(dir, 'bundle');
  const { bundle } = (await import(pathToFileURL(path.join(ROOT, 'scripts', 'bundle.mjs')).href)) as BundleScript;
  await bundle([{ entry, outdir }]);

  const r = await exitOf(spawnCli(t, path.join(outdir, 'cli.mjs'), [], { name: 'crashing bundle' }));
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^Error: crash after start$/m);
  const longest = Math.max(...r.stderr.split('\n').map((line) => line.length));
  assert.ok(longest <= LONGEST, `a stderr line of ${longest} characters`);
});
