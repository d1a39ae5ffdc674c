// The bundled CLI (scripts/bundle.mjs: what `npm start` and the bin run, issue 16 item 5) with the dev configuration:
// it starts, answers the official client, takes an event through the intake into the store (the writer's worker
// thread, the validators), and exits 0 on SIGTERM. Bundled here, into a directory of this test's own, from the
// compiled files of this build, so a bundling rule that breaks the program at run time fails the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { connect, StringCodec } from 'nats';
import { writeDevPki } from '@event-broker/dev-tools';
import { exitOf, logLine, spawnCli } from '@event-broker/test-support/child';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';

/** dist/test/cli-bundle.test.js → the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

interface BundleScript {
  bundle(targets: { entry: string; outdir: string }[]): Promise<void>;
}

test('the bundled CLI runs the dev configuration: PING, an event stored through the intake, SIGTERM exits 0', async (t) => {
  const dir = tmpDir(t);
  const outdir = path.join(dir, 'bundle');
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'bundle.mjs')).href;
  const { bundle } = (await import(script)) as BundleScript;
  await bundle([{ entry: 'packages/event-service/dist/src/cli.js', outdir }]);

  // dev/event-service.toml's relative paths (../certs, ../data) against a layout of our own; ports and logs patched.
  mkdirSync(path.join(dir, 'dev'));
  mkdirSync(path.join(dir, 'data'));
  copyFileSync(path.join(ROOT, 'dev', 'event-service.toml'), path.join(dir, 'dev', 'event-service.toml'));
  await writeDevPki(path.join(dir, 'certs'));
  write(dir, 'dev/ports.toml', [
    ...['service', 'websocket', 'leafnodes', 'monitor'].flatMap((s) => [`[${s}]`, 'port = 0']),
    '[log]',
    'format = "json"',
  ]);
  const run = spawnCli(
    t,
    path.join(outdir, 'cli.mjs'),
    ['--config', 'dev/event-service.toml', '--patch', 'dev/ports.toml'],
    { name: 'event-service (bundle)', cwd: dir },
  );
  const port = (await logLine(run, 'listening for client connections')).port as number;
  await logLine(run, 'ready');

  const nc = await within(connect({ servers: `127.0.0.1:${port}` }), 'nats connect');
  t.after(() => nc.close());
  await within(nc.flush(), 'PING answered');
  const sc = StringCodec();
  const event = {
    specversion: '1.0',
    id: 'bundle-1',
    source: '/test',
    type: 'scanJobCreated',
    producer: { id: 'p1', name: 'tester', type: 'service' },
    data: { n: 1 },
  };
  const reply = await nc.request('events.scanJobCreated', sc.encode(JSON.stringify(event)), { timeout: 5000 });
  assert.deepEqual(JSON.parse(sc.decode(reply.data)), { id: 'bundle-1' }, 'stored (the reply follows the commit)');
  const bad = await nc.request('events.scanJobCreated', sc.encode('{"specversion":"1.0"}'), { timeout: 5000 });
  assert.match(sc.decode(bad.data), /error/i, 'a bad event is refused by the validators');
  await nc.close();

  run.child.kill('SIGTERM');
  const r = await exitOf(run);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /"msg":"server stopped"/);
});
