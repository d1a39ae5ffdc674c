// What a peer on the leafnode port can make the service write to its log and hide from its counters (issue 11 review,
// findings 1d and 1f): refused leaves are logged rate-limited, with the name they chose clipped, so a loop of bad
// CONNECTs cannot flood the log; operations from an admitted leaf refused for invalid UTF-8 are counted and logged
// (rate-limited) instead of vanishing. The CLI runs as a child with JSON logs (helpers/cli.ts), raw sockets for
// the wire.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { connectRaw, RawPool } from '@event-broker/test-support/raw';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';
import { loopbackListeners } from './helpers/loopback-toml.js';

const HOST = '127.0.0.1';
const WAIT_MS = 10_000;

function leafConnect(fields: Record<string, unknown>): string {
  return `CONNECT ${JSON.stringify({ version: '2.9.10', server_id: 'NRAWLEAF', headers: true, ...fields })}\r\n`;
}

async function startService(
  t: TestContext,
  leafLines: string[],
): Promise<{ stdout: () => string; leafPort: number; monitorPort: number }> {
  const dir = tmpDir(t);
  const conf = write(dir, 'svc.toml', [
    ...loopbackListeners('service', 'monitor', 'leafnodes'),
    ...leafLines,
    '[log]',
    'format = "json"',
  ]);
  const { run } = await startCli(t, ['--config', conf]);
  const leafPort = (await logLine(run, 'listening for leafnode connections')).port as number;
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  return { stdout: run.stdout, leafPort, monitorPort };
}

test('a loop of refused leaves with a 3,900-byte name writes a few short warn lines, not one long line each', async (t) => {
  const svc = await startService(t, ['[leafnodes.authorization]', 'user = "leaf"', 'password = "s3cret"']);
  const before = jsonLines(svc.stdout()).length;
  const LEAVES = 100;
  const name = `leaf-${'n'.repeat(3900)}`;
  const pool = new RawPool();
  t.after(() => pool.closeAll());
  for (let i = 0; i < LEAVES; i++) {
    const conn = pool.track(await connectRaw({ host: HOST, port: svc.leafPort }));
    conn.send(leafConnect({ name, user: 'leaf', pass: 'wrong' }));
    const closed = await conn.expectClosed(WAIT_MS);
    assert.equal(closed.rest, "-ERR 'Authorization Violation'\r\n");
  }
  // The first refusal is logged at once; wait for it, then read everything written since the loop began.
  await until(() => jsonLines(svc.stdout()).length > before, 'a log line for the refusals', WAIT_MS);
  const lines = svc
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .slice(before);
  const longest = Math.max(...lines.map((l) => l.length));
  t.diagnostic(`${LEAVES} refused leaves wrote ${lines.length} log lines, the longest ${longest} bytes`);
  assert.ok(lines.length <= 3, `at most a few lines for ${LEAVES} refusals, got ${lines.length}`);
  assert.ok(longest < 1000, `the leaf's name is clipped in the log, the longest line has ${longest} bytes`);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.level, 40, 'a warn line');
  assert.match(String(first.leaf), /^leaf-n+/, 'the name, clipped, is still there to recognise');
});

test('LS+, LS- and LMSG from an admitted leaf with a subject that is not UTF-8 are counted in /metrics and logged, and the link stays up', async (t) => {
  const svc = await startService(t, []);
  const pool = new RawPool();
  t.after(() => pool.closeAll());
  const leaf = pool.track(await connectRaw({ host: HOST, port: svc.leafPort }));
  leaf.send(leafConnect({ name: 'raw-leaf' }) + 'PING\r\n');
  await leaf.expect(/PONG\r\n/, WAIT_MS);
  const bad = Buffer.from([0xff, 0xfe]);
  leaf.send(
    Buffer.concat([
      Buffer.from('LS+ a.'),
      bad,
      Buffer.from('\r\nLS- a.'),
      bad,
      Buffer.from('\r\nLMSG b.'),
      bad,
      Buffer.from(' 2\r\nhi\r\nPING\r\n'),
    ]),
  );
  await leaf.expect(/PONG\r\n/, WAIT_MS);
  const metrics = await within(
    (async () => (await fetch(`http://${HOST}:${svc.monitorPort}/metrics`)).text())(),
    'GET /metrics',
    WAIT_MS,
  );
  const counted = /^event_service_leafnode_refused_total (\d+)$/m.exec(metrics);
  assert.ok(counted !== null, 'a leafnode_refused_total counter in /metrics');
  assert.equal(Number(counted[1]), 3, 'the LS+, the LS- and the LMSG');
  const line = jsonLines(svc.stdout()).find((l) => l.level === 40 && typeof l.msg === 'string' && /UTF-8/.test(l.msg));
  assert.ok(line !== undefined, 'a warn line names the refusal');
  assert.equal(leaf.closed, false, 'the link stays up');
});
