// Revocation by configuration on a running gateway process: the CLI (bin/event-gateway.mjs --config file) serves
// clients holding tokens X and Y; `[auth] revoked = ["X"]` is written and the process gets SIGHUP. X's live
// connections are told `User Authentication Revoked` and closed, as nats-server tells a user its account revoked
// (accounts.go, closeConnection(Revocation)); X cannot connect again (Authorization Violation), Y carries on. And what
// the official nats client does with that text when it may reconnect.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeJwt } from 'jose';
import { NatsError } from 'nats';
import { until, within } from '@event-broker/test-support/wait';
import {
  connectLine,
  devPki,
  externalClient,
  internalClient,
  rawTls,
  record,
  startBridge,
  startService,
  type LogLine,
} from './helpers/bridge.js';
import { spawnCli } from '@event-broker/test-support/child';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/event-gateway.mjs');

/** The gateway CLI as a child process, its JSON log lines collected from stdout. */
async function runGatewayCli(t: TestContext, configPath: string) {
  const { child, stdout, stderr } = spawnCli(t, BIN, ['--config', configPath], { name: 'event-gateway' });
  t.after(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      // Its orderly shutdown is not under test here (SIGTERM drains in lame duck mode, which takes its time).
      child.kill('SIGKILL');
      await within(exited, 'the gateway process exits', 5000);
    }
  });
  const lines = (): LogLine[] =>
    stdout()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as LogLine);
  const waitFor = async (pred: (l: LogLine) => boolean, what: string, ms = 5000): Promise<LogLine> => {
    await until(
      () => child.exitCode !== null || lines().some(pred),
      what,
      ms,
      () => `stdout: ${stdout()}\nstderr: ${stderr()}`,
    );
    const found = lines().find(pred);
    if (found === undefined)
      throw new Error(`${what}: the gateway exited with ${child.exitCode}\nstdout: ${stdout()}\nstderr: ${stderr()}`);
    return found;
  };
  return { child, lines, waitFor, stdout };
}

test('SIGHUP with [auth] revoked closes the live connections holding that token id, refuses it after, and leaves others alone', async (t) => {
  const pki = await devPki(t);
  const service = await startService(t, pki);
  const F = DEV_PKI_FILES;
  const configPath = path.join(pki.dir, 'gateway.toml');
  // Relative paths resolve against the configuration file, which sits beside the dev PKI.
  const config = (revoked: string[]) => `
[gateway]
host = "127.0.0.1"
port = 0
# One process: the reload's single log line counts every revoked connection (workers.test.ts runs several).
workers = 1

[tls]
cert_path = "${F.gateway.cert}"
key_path = "${F.gateway.key}"
root_ca_path = "${F.ca.cert}"

[auth]
public_key_path = "${F.jwt.publicKey}"
issuer = "event-broker-dev"
audience = "event-broker-dev"
revoked = ${JSON.stringify(revoked)}

[upstream]
urls = ["tls://127.0.0.1:${service.leafnodePort}"]
cert_path = "${F.gatewayUpstream.cert}"
key_path = "${F.gatewayUpstream.key}"
root_ca_path = "${F.ca.cert}"

[log]
format = "json"
level = "info"
`;
  fs.writeFileSync(configPath, config([]));
  const gw = await runGatewayCli(t, configPath);
  const listening = await gw.waitFor(
    (l) => l.msg === 'listening for client connections',
    'the gateway listens',
    20_000,
  );
  await gw.waitFor((l) => l.msg === 'uplink up', 'the gateway link comes up', 10_000);
  const port = listening['port'] as number;

  const perms = { pub: { allow: ['chat.>'] }, sub: { allow: ['chat.>'] } };
  const tokenX = await pki.devToken('xavier', perms);
  const tokenY = await pki.devToken('yvonne', perms);
  const jtiX = decodeJwt(tokenX).jti!;
  assert.notEqual(jtiX, decodeJwt(tokenY).jti);

  const inside = await internalClient(t, pki, service.port);
  const got = record(inside, 'chat.>');
  await inside.flush();
  const x = await externalClient(t, pki, port, tokenX);
  const y = await externalClient(t, pki, port, tokenY);
  const xClosed = x.closed();
  const raw = await rawTls(port, { ca: pki.ca, ...pki.client });
  t.after(() => raw.socket.destroy());
  raw.socket.write(`${connectLine({ auth_token: tokenX })}PING\r\n`);
  assert.equal(await raw.readUntil('PONG\r\n'), 'PONG\r\n');
  await until(() => {
    x.publish('chat.x', 'before');
    y.publish('chat.y', 'before');
    return got.msgs.some((m) => m.subject === 'chat.x') && got.msgs.some((m) => m.subject === 'chat.y');
  }, 'both clients reach the service before the reload');

  // A file that does not load changes nothing: X stays connected.
  fs.writeFileSync(configPath, config([jtiX]).replace('revoked = ', 'revoked = 5 #'));
  gw.child.kill('SIGHUP');
  await gw.waitFor(
    (l) => l.msg === 'configuration reload refused; the running configuration is unchanged',
    'the bad reload is refused',
  );
  x.publish('chat.x', 'still');
  await until(
    () => got.msgs.some((m) => m.subject === 'chat.x' && m.string() === 'still'),
    'X still publishes after a refused reload',
  );

  fs.writeFileSync(configPath, config([jtiX]));
  gw.child.kill('SIGHUP');
  const reloaded = await gw.waitFor((l) => l.msg === 'configuration reloaded', 'the reload is logged');
  assert.equal(reloaded['revoked_connections'], 2);

  // X's connections: User Authentication Revoked, closed. nats.js 2.x knows no such auth error: it is a protocol
  // error to it (code NATS_PROTOCOL_ERR, the server's text as the message).
  assert.equal(await raw.readToClose(), "-ERR 'User Authentication Revoked'\r\n");
  const err = await within(xClosed, 'the nats client holding X is closed');
  assert.ok(err instanceof NatsError, `closed with ${String(err)}`);
  assert.equal(err.code, 'NATS_PROTOCOL_ERR');
  assert.match(err.message, /User Authentication Revoked/);

  // X again: refused at connect, and the log says why without the token.
  await assert.rejects(
    externalClient(t, pki, port, tokenX),
    (e: unknown) => e instanceof NatsError && e.code === 'AUTHORIZATION_VIOLATION',
  );
  const refused = await gw.waitFor((l) => l.msg === 'client refused', 'the refusal is logged');
  assert.equal(refused['reason'], `token id ${JSON.stringify(jtiX)} is revoked`);
  assert.equal(refused['cert_subject'], 'CN=dev-client');
  assert.ok(!gw.stdout().includes(tokenX), 'the log never contains the token');

  // Y carries on, both ways.
  assert.equal(y.isClosed(), false);
  const yGot = record(y, 'chat.to-y');
  await y.flush();
  y.publish('chat.y', 'after');
  await until(
    () => got.msgs.some((m) => m.subject === 'chat.y' && m.string() === 'after'),
    "Y's publish after the reload arrives",
  );
  await until(() => {
    inside.publish('chat.to-y', 'hello');
    return yGot.msgs.length > 0;
  }, 'Y receives an internal publish after the reload');
});

test('a nats client allowed to reconnect takes User Authentication Revoked as a protocol error, retries, and gives up on the second Authorization Violation', async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('xavier', { pub: { allow: ['chat.>'] } });
  // nats.js's defaults but for the wait between attempts; its attempt budget (10) is not what ends the retries.
  const nc = await b.external(token, { nats: { reconnect: true, reconnectTimeWait: 50, maxReconnectAttempts: 10 } });
  const seen: string[] = [];
  void (async () => {
    for await (const s of nc.status()) seen.push(`${s.type}:${String(s.data)}`);
  })();
  const closed = nc.closed();
  await nc.flush();

  const running = b.gateway.config;
  b.gateway.applyConfig({ ...running, auth: { ...running.auth, revoked: [decodeJwt(token).jti!] } });

  const err = await within(closed, 'the client stops reconnecting and closes');
  assert.ok(err instanceof NatsError, `closed with ${String(err)}`);
  assert.equal(err.code, 'AUTHORIZATION_VIOLATION');
  // The revocation first (a protocol error to nats.js), then a disconnect; each reconnect is refused, and the
  // second refusal in a row with the same code ends it (nats.js handleAuthError; nats.go does the same with
  // ErrAuthRevoked, then ErrAuthorization).
  assert.equal(seen[0], 'error:NATS_PROTOCOL_ERR', seen.join(', '));
  assert.ok(seen.includes('disconnect:' + `127.0.0.1:${b.gateway.port}`), seen.join(', '));
  assert.equal(seen.filter((s) => s === 'error:AUTHORIZATION_VIOLATION').length, 2, seen.join(', '));
  assert.ok(!seen.some((s) => s.startsWith('reconnect:')), `never reconnected: ${seen.join(', ')}`);
});
