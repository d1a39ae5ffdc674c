// The bundled CLIs (scripts/bundle.mjs: what `npm start` and the bins run, issue 16 item 5) with the dev
// configurations: the gateway's bundle, its workers (node:cluster runs the bundle again in each) and its link to the
// service's bundle come up, /healthz makes the round trip, and both exit 0 on SIGTERM. Bundled here, into
// directories of this test's own, from the compiled files of this build, so a bundling rule that breaks the gateway
// at run time fails the suite.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { writeDevPki } from '@event-broker/dev-tools';
import { exitOf, spawnCli } from '@event-broker/test-support/child';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';

/** dist/test/cli-bundle.test.js → the repository root. */
const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const START_MS = 20_000;

interface BundleScript {
  bundle(targets: { entry: string; outdir: string }[]): Promise<void>;
}

async function healthz(port: number): Promise<number> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/healthz`, { signal: AbortSignal.timeout(3000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

test('the bundled gateway CLI with two workers links to the bundled service (/healthz round trip) and exits 0 on SIGTERM', async (t) => {
  const dir = tmpDir(t, 'gateway-bundle-');
  const script = pathToFileURL(path.join(ROOT, 'scripts', 'bundle.mjs')).href;
  const { bundle } = (await import(script)) as BundleScript;
  await bundle([
    { entry: 'packages/event-service/dist/src/cli.js', outdir: path.join(dir, 'service') },
    { entry: 'packages/event-gateway/dist/src/cli.js', outdir: path.join(dir, 'gateway') },
  ]);
  await writeDevPki(path.join(dir, 'certs'));
  fs.mkdirSync(path.join(dir, 'dev'));
  fs.mkdirSync(path.join(dir, 'data'));
  for (const f of ['event-service.toml', 'event-gateway.toml'])
    fs.copyFileSync(path.join(ROOT, 'dev', f), path.join(dir, 'dev', f));
  const leafPort = await freePort();
  const monitorPort = await freePort();
  const servicePatch = path.join(dir, 'service-ports.toml');
  const ports = (sections: string[]) => sections.flatMap((s) => [`[${s}]`, 'port = 0']);
  fs.writeFileSync(
    servicePatch,
    [...ports(['service', 'websocket', 'monitor']), '[leafnodes]', `port = ${leafPort}`, ''].join('\n'),
  );
  const gatewayPatch = path.join(dir, 'gateway-ports.toml');
  fs.writeFileSync(
    gatewayPatch,
    [
      ...ports(['gateway']),
      'workers = 2',
      ...ports(['websocket']),
      '[upstream]',
      `urls = ["tls://127.0.0.1:${leafPort}"]`,
      '[monitor]',
      `port = ${monitorPort}`,
      '',
    ].join('\n'),
  );
  const service = spawnCli(
    t,
    path.join(dir, 'service', 'cli.mjs'),
    ['--config', path.join(dir, 'dev', 'event-service.toml'), '--patch', servicePatch],
    { name: 'event-service (bundle)', cwd: dir },
  );
  const gateway = spawnCli(
    t,
    path.join(dir, 'gateway', 'cli.mjs'),
    ['--config', path.join(dir, 'dev', 'event-gateway.toml'), '--patch', gatewayPatch],
    { name: 'event-gateway (bundle)', cwd: dir },
  );
  const output = () =>
    `service:\n${service.stdout()}${service.stderr()}\ngateway:\n${gateway.stdout()}${gateway.stderr()}`;
  await until(
    async () => {
      for (const run of [service, gateway])
        if (run.child.exitCode !== null || run.child.signalCode !== null) throw new Error(`exited:\n${output()}`);
      return (await healthz(monitorPort)) === 200;
    },
    "the bundled gateway's /healthz answers 200 (a round trip through the leaf link to the bundled service)",
    START_MS,
    output,
  );
  // Both workers ran the bundle (node:cluster forks process.argv[1]) and listened before the primary said so.
  assert.match(gateway.stdout(), /gateway workers started.*"workers":2/, output());

  gateway.child.kill('SIGTERM');
  service.child.kill('SIGTERM');
  const [g, s] = [await exitOf(gateway), await exitOf(service)];
  assert.equal(g.code, 0, g.stderr);
  assert.equal(s.code, 0, s.stderr);
});
