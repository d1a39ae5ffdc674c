// shared's bin/cli-entry.mjs, which both commands' bins run: stack frames in a bundle name the TypeScript source its
// linked map gives, mapped when the stack is formatted rather than by Node's source-map support at load (issue 16
// item 5), and read exactly as --enable-source-maps prints them. A real esbuild bundle of a small TypeScript file,
// run in a child process (Error.prepareStackTrace is the process's).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { exitOf, spawnCli } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';

/** dist/test/cli-entry.test.js → the repository root (esbuild is the root's development dependency). */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI_ENTRY = pathToFileURL(path.join(ROOT, 'packages/shared/bin/cli-entry.mjs')).href;

interface Esbuild {
  build(opts: Record<string, unknown>): Promise<unknown>;
}

/** Bundles src/fail.ts (the throw on line 6, column 9) into bundle/out.mjs with a linked map; returns the bundle's directory. */
async function bundleFailing(dir: string): Promise<string> {
  write(dir, 'src/fail.ts', [
    '// a TypeScript source whose line numbers the bundle does not keep',
    'type Why = { reason: string };',
    '',
    'export function fail(why: Why): never {',
    '  const text: string = `boom: ${why.reason}`;',
    '  throw new RangeError(text);',
    '}',
  ]);
  const esbuild = createRequire(path.join(ROOT, 'package.json'))('esbuild') as Esbuild;
  await esbuild.build({
    entryPoints: [path.join(dir, 'src/fail.ts')],
    outfile: path.join(dir, 'bundle/out.mjs'),
    bundle: true,
    format: 'esm',
    platform: 'node',
    sourcemap: 'linked',
    sourcesContent: false,
    banner: { js: '// a banner, so the bundle lines differ from the source lines\n\n\n' },
    logLevel: 'error',
  });
  return path.join(dir, 'bundle');
}

/** Runs a script that imports the bundle and prints the thrown error's stack. */
async function stackOf(t: test.TestContext, dir: string, bundleDir: string, mode: 'mapped' | 'plain' | 'node') {
  const script = write(dir, `run-${mode}.mjs`, [
    `import { mapBundleStacks } from ${JSON.stringify(CLI_ENTRY)};`,
    `const bundleDir = ${JSON.stringify(pathToFileURL(bundleDir).href + '/')};`,
    mode === 'plain' ? '' : 'mapBundleStacks(bundleDir);',
    "const { fail } = await import(new URL('out.mjs', bundleDir).href);",
    "try { fail({ reason: 'why' }); } catch (err) { console.log(err.stack); }",
  ]);
  const args = mode === 'node' ? ['--enable-source-maps', script] : [script];
  const run = spawnCli(t, args[0]!, args.slice(1), { name: `stack (${mode})` });
  const r = await exitOf(run);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('a bundle frame names the TypeScript source, line and column, as --enable-source-maps does', async (t) => {
  const dir = tmpDir(t, 'cli-entry-');
  const bundleDir = await bundleFailing(dir);
  const source = path.join(dir, 'src', 'fail.ts');

  const mapped = await stackOf(t, dir, bundleDir, 'mapped');
  assert.equal(mapped[0], 'RangeError: boom: why');
  assert.equal(mapped[1], `    at fail (${source}:6:9)`);
  assert.match(mapped[2]!, /run-mapped\.mjs:\d+:\d+\)?$/, 'a frame outside the bundle reads as V8 writes it');

  const plain = await stackOf(t, dir, bundleDir, 'plain');
  assert.match(plain[1]!, /at fail \(file:\/\/.*\/bundle\/out\.mjs:\d+:\d+\)$/, 'unmapped, the frame names the bundle');
  assert.notEqual(plain[1], mapped[1]);

  const node = await stackOf(t, dir, bundleDir, 'node');
  assert.equal(node[1], mapped[1], "Node's own source-map support prints the same frame");
});

/** The first lines of the stacks of errors thrown outside any bundle, with mapBundleStacks on or not. */
async function headsOf(t: test.TestContext, dir: string, mapped: boolean): Promise<string[]> {
  const script = write(dir, `heads-${mapped ? 'mapped' : 'node'}.mjs`, [
    `import { mapBundleStacks } from ${JSON.stringify(CLI_ENTRY)};`,
    mapped ? `mapBundleStacks(${JSON.stringify(pathToFileURL(path.join(dir, 'bundle')).href + '/')});` : '',
    "import { readFileSync } from 'node:fs';",
    'const thrown = [',
    '  () => Buffer.alloc(-1),',
    "  () => readFileSync({ not: 'a path' }),",
    "  () => { const err = new Error('mine'); err.code = 'ERR_MINE'; throw err; },",
    "  () => { throw new AggregateError([new Error('one')], 'all', { cause: new Error('why') }); },",
    '];',
    'for (const f of thrown) { try { f(); } catch (err) { console.log(err.stack.split("\\n")[0]); } }',
  ]);
  const r = await exitOf(spawnCli(t, script, [], { name: `heads (${mapped ? 'mapped' : 'node'})` }));
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test("Node's own errors keep their code in the stack's first line, as Node writes it; others read as before", async (t) => {
  const dir = tmpDir(t, 'cli-entry-');
  const mapped = await headsOf(t, dir, true);
  assert.match(mapped[0]!, /^RangeError \[ERR_OUT_OF_RANGE\]: The value of "size" is out of range/);
  assert.match(mapped[1]!, /^TypeError \[ERR_INVALID_ARG_TYPE\]: /);
  assert.equal(mapped[2], 'Error: mine');
  assert.equal(mapped[3], 'AggregateError: all');
  assert.deepEqual(mapped, await headsOf(t, dir, false));
});
