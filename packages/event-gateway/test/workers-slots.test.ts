// `[gateway] workers = 2` through the CLI: max_connections is one budget for the whole gateway, held by the primary
// (cluster-slots.ts). A worker that dies gives back the slots of the clients it held; a reload lowering the limit
// leaves the connections over it open (as one process does) and refuses newcomers. The two base cases (admitted
// whenever the gateway holds fewer, refused past it) are in workers-lifecycle.test.ts. Official `nats` clients, a real
// event service, real sockets; no timing assertions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { logLine } from '@event-broker/test-support/child';
import { workersStarted } from './helpers/workers.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import type { SharedSlots, SlotAnswer } from '@event-broker/shared';
import { startBridge } from './helpers/bridge.js';
import { ALL, cli, devPki, external, gatewayToml, getJson, startService } from './helpers/ops.js';

const OPTS = { nats: { reconnect: false } };

test('workers = 2, max_connections = 1: a worker killed with its client gives the slot back, and the next client is admitted', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(
    tmpDir(t),
    'gateway.toml',
    gatewayToml(pki, service.leafnodePort!, ['workers = 2', 'max_connections = 1']),
  );
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  const a = await external(t, pki, `127.0.0.1:${port}`, token, OPTS);
  const holder = (await logLine(run, 'client connected')).pid as number;
  const closed = a.closed();
  process.kill(holder, 'SIGKILL');
  await within(closed, "a's worker is gone, and a with it");
  // The slot a held is free: whichever worker the port hands b to (the survivor, or the replacement) admits it.
  const b = await external(t, pki, `127.0.0.1:${port}`, token, OPTS);
  assert.ok(!b.isClosed());
});

test('workers = 2: a reload lowering max_connections leaves the connections over it open and refuses newcomers', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const config = (max: number) => gatewayToml(pki, service.leafnodePort!, ['workers = 2', `max_connections = ${max}`]);
  const file = write(tmpDir(t), 'gateway.toml', config(3));
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  const a = await external(t, pki, `127.0.0.1:${port}`, token, OPTS);
  const b = await external(t, pki, `127.0.0.1:${port}`, token, OPTS);
  fs.writeFileSync(file, config(1).join('\n'));
  run.child.kill('SIGHUP');
  await Promise.all([1, 2].map((w) => logLine(run, 'configuration reloaded', { fields: { worker: w } })));
  // Two held against a limit of one: both stay; a third is refused, whichever worker the port hands it to.
  await assert.rejects(external(t, pki, `127.0.0.1:${port}`, token, OPTS));
  await logLine(run, 'maximum connections exceeded, refusing');
  assert.ok(!a.isClosed() && !b.isClosed());
});

test('workers = 2, max_connections = 30: with slots leased ahead while far from the limit, exactly 30 are admitted, the 31st is refused, and one gone lets one in', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const file = write(
    tmpDir(t),
    'gateway.toml',
    gatewayToml(pki, service.leafnodePort!, ['workers = 2', 'max_connections = 30']),
  );
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const monitorPort = (await logLine(run, 'monitoring listener started')).port as number;
  const token = await pki.token('kim', ALL);
  const clients = [];
  for (let i = 0; i < 30; i++) clients.push(await external(t, pki, `127.0.0.1:${port}`, token, OPTS));
  await assert.rejects(external(t, pki, `127.0.0.1:${port}`, token, OPTS));
  await logLine(run, 'maximum connections exceeded, refusing');
  await clients.pop()!.close();
  await until(async () => (await getJson(`http://127.0.0.1:${monitorPort}/varz`)).connections === 29, 'one is gone');
  const last = await external(t, pki, `127.0.0.1:${port}`, token, OPTS);
  assert.ok(!last.isClosed() && clients.every((c) => !c.isClosed()));
});

test('a worker on a shared budget upgrades a WebSocket only once its slot is known: never upgraded, then cut for want of one', async (t) => {
  // The primary's answer late: an ask unanswered in time is a refusal (WorkerSlots), here after ANSWER_MS.
  const ANSWER_MS = 1000;
  let answering = false;
  const slots: SharedSlots = {
    acquire: () =>
      answering ? Promise.resolve('granted') : new Promise((r) => setTimeout(() => r('unanswered'), ANSWER_MS)),
    release: () => {},
  };
  const b = await startBridge(t, {
    config: { websocket: { host: '127.0.0.1', port: 0 } },
    worker: { cids: { first: 1, step: 1 }, slots },
  });
  const tlsOptions = {
    ca: fs.readFileSync(b.pki.ca),
    cert: fs.readFileSync(b.pki.client.cert),
    key: fs.readFileSync(b.pki.client.key),
  };
  /** What a raw WebSocket client sees first: its INFO, or the end before one (`opened`: the upgrade was done). */
  const firstWord = (): Promise<{ opened: boolean; info: boolean }> => {
    const ws = new WebSocket(`wss://localhost:${b.gateway.websocketPort}`, tlsOptions);
    t.after(() => ws.terminate());
    let opened = false;
    ws.on('open', () => (opened = true));
    return within(
      new Promise((resolve) => {
        ws.once('message', (data: Buffer) => resolve({ opened, info: data.toString().startsWith('INFO ') }));
        ws.once('close', () => resolve({ opened, info: false }));
        ws.once('error', () => resolve({ opened, info: false }));
      }),
      'the WebSocket client is greeted or closed',
    );
  };
  assert.deepEqual(await firstWord(), { opened: false, info: false }, 'refused before its upgrade');
  answering = true;
  assert.deepEqual(await firstWord(), { opened: true, info: true }, 'granted: upgraded and greeted');
});

test('workers = 2: a reload lowering max_connections calls back the spares leased under the old limit, so none admits a newcomer over the new one', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const config = (max: number) => gatewayToml(pki, service.leafnodePort!, ['workers = 2', `max_connections = ${max}`]);
  const file = write(tmpDir(t), 'gateway.toml', config(100));
  const run = cli(t, ['--config', file]);
  const port = await workersStarted(run);
  const token = await pki.token('kim', ALL);
  // Far from 100: each worker that takes a client leases slots ahead, and holds the rest as spares.
  const held = [];
  for (let i = 0; i < 2; i++) held.push(await external(t, pki, `127.0.0.1:${port}`, token, OPTS));
  fs.writeFileSync(file, config(1).join('\n'));
  run.child.kill('SIGHUP');
  await Promise.all([1, 2].map((w) => logLine(run, 'configuration reloaded', { fields: { worker: w } })));
  // Two held against a limit of one: a newcomer is refused, whichever worker the port hands it to.
  for (let i = 0; i < 2; i++) await assert.rejects(external(t, pki, `127.0.0.1:${port}`, token, OPTS));
  assert.ok(held.every((c) => !c.isClosed()));
});

test('a worker on a shared budget whose ask goes unanswered refuses the newcomer and evicts nobody (the whole may have room)', async (t) => {
  const answers: SlotAnswer[] = ['granted', 'unanswered'];
  const slots: SharedSlots = { acquire: async () => answers.shift() ?? 'unanswered', release: () => {} };
  const b = await startBridge(t, { worker: { cids: { first: 1, step: 1 }, slots } });
  /** A raw socket on the TLS client port: what it is sent up to its first line (`untilClose`: up to its close). */
  const raw = (untilClose = false): Promise<{ socket: net.Socket; text: string }> => {
    const socket = net.connect(b.gateway.port, '127.0.0.1');
    t.after(() => socket.destroy());
    socket.on('error', () => {});
    let text = '';
    return within(
      new Promise((resolve) => {
        socket.on('data', (d) => {
          text += d.toString();
          if (!untilClose && text.includes('\r\n')) resolve({ socket, text });
        });
        socket.once('close', () => resolve({ socket, text }));
      }),
      'the raw socket is greeted or closed',
    );
  };
  const waiting = await raw(); // granted, greeted, its TLS handshake not begun: not admitted
  assert.match(waiting.text, /^INFO /);
  const newcomer = await raw(true);
  assert.match(newcomer.text, /-ERR 'maximum connections exceeded'/);
  assert.ok(!waiting.socket.destroyed, 'the connection not yet admitted was kept');
});
