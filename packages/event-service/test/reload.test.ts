// SIGHUP on the event-service command: the base and every patch are read again; what can change live reaches the
// connections already open, a broken file changes nothing, and a rotated certificate serves the next handshake.
// The CLI runs as a child (helpers/cli.ts); the live connection is a raw wire client so each limit is seen exactly.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { jsonLines, logLine, type Run, signal } from '@event-broker/test-support/child';
import { connectAndHandshake, connectRaw, type RawConn } from '@event-broker/test-support/raw';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';
import { createCertificateAuthority, createServerCertificate } from '@event-broker/dev-tools';

/** Generous: the reload itself is synchronous, but the child shares two cores with the whole suite. */
const WAIT_MS = 10_000;
const HOST = '127.0.0.1';

function baseLines(extra: string[] = []): string[] {
  return [
    '[service]',
    `host = "${HOST}"`,
    'port = 0',
    'listener_limit = 100',
    ...extra,
    '[log]',
    'format = "json"',
    'level = "info"',
  ];
}

async function raw(t: TestContext, port: number): Promise<RawConn> {
  const conn = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => conn.close());
  return conn;
}

/** Sends `lines` then PING and returns what came back up to the PONG. */
async function roundTrip(conn: RawConn, lines: string): Promise<string> {
  conn.send(`${lines}PING\r\n`);
  const m = await conn.expect(/^([\s\S]*?)PONG\r\n/, WAIT_MS);
  return m[1] ?? '';
}

/** SIGHUP, then the nth 'configuration reloaded' (or 'refused') line. */
async function reload(run: Run, n: number, outcome: 'reloaded' | 'refused'): Promise<Record<string, unknown>> {
  await signal(run, 'SIGHUP');
  const msg =
    outcome === 'reloaded'
      ? 'configuration reloaded'
      : 'configuration reload refused; the running configuration is unchanged';
  return logLine(run, msg, { n, ms: WAIT_MS });
}

test('SIGHUP applies a patch lowering listener_limit and raising the log level to a connection already open, and names what needs a restart', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines());
  const patch = write(dir, 'patch.toml', ['# nothing yet']);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const conn = await raw(t, port);
  assert.equal(
    await roundTrip(conn, 'SUB r.a 1\r\nSUB r.b 2\r\nSUB r.c 3\r\n'),
    '',
    'three subscriptions under the limit',
  );
  assert.ok(!jsonLines(run.stdout()).some((l) => l.level === 20), 'no debug lines at level info');

  write(dir, 'patch.toml', [
    '[service]',
    'listener_limit = 3',
    '[log]',
    'level = "debug"',
    '[websocket]',
    `host = "${HOST}"`,
    'port = 0',
  ]);
  const done = await reload(run, 1, 'reloaded');
  assert.deepEqual(done.changed, ['log.level', 'service.listener_limit']);
  assert.deepEqual(done.restart_required, [
    'websocket.allowed_origins',
    'websocket.host',
    'websocket.no_tls',
    'websocket.port',
    'websocket.same_origin',
  ]);
  const restart = await logLine(run, 'configuration change needs a restart', { fields: { setting: 'websocket.port' } });
  assert.equal(restart.configured, 0);
  const changed = await logLine(run, 'configuration changed', { fields: { setting: 'service.listener_limit' } });
  assert.equal(changed.from, 100);
  assert.equal(changed.to, 3);

  // The same connection: a fourth subscription now exceeds the service-wide limit, and the connection stays.
  assert.match(await roundTrip(conn, 'SUB r.d 4\r\n'), /^-ERR 'maximum subscriptions exceeded'\r\n$/);
  // The refusal is also logged at debug, which only the reloaded level lets through.
  const debug = await logLine(run, 'protocol error', { ms: WAIT_MS });
  assert.equal(debug.level, 20);
  assert.equal(await roundTrip(conn, 'UNSUB 1\r\nSUB r.d 4\r\n'), '', 'a freed slot is usable again');
});

test('SIGHUP changing the token closes connections on the old one with Authorization Violation, as nats-server does; adding one closes those that had none; the new token admits; the log never shows it', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines(['token = "0ld-s3cret"']));
  const patch = write(dir, 'patch.toml', ['# nothing yet']);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const old = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false, auth_token: '0ld-s3cret' },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => old.close());

  write(dir, 'patch.toml', ['[service]', 'token = "n3w-s3cret"']);
  const done = await reload(run, 1, 'reloaded');
  assert.deepEqual(done.changed, ['service.token']);
  // nats-server 2.9.10 (observed): reload.go reloadAuthorization judges every client again, authViolation for those
  // whose credential no longer admits them.
  await old.expect(/-ERR 'Authorization Violation'\r\n/, WAIT_MS);
  await old.expectClosed(WAIT_MS);
  const fresh = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false, auth_token: 'n3w-s3cret' },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => fresh.close());
  assert.equal(await roundTrip(fresh, 'SUB r.a 1\r\n'), '');
  const token = await logLine(run, 'configuration changed', { fields: { setting: 'service.token' } });
  assert.equal(token.to, '<redacted>');
  assert.ok(
    !run.stdout().includes('n3w-s3cret') && !run.stderr().includes('n3w-s3cret'),
    'the token never reaches the log',
  );

  // Without a token every client is admitted; adding one closes those that presented none.
  write(dir, 'base.toml', baseLines());
  write(dir, 'patch.toml', ['# no token']);
  await reload(run, 2, 'reloaded');
  assert.equal(await roundTrip(fresh, ''), '', 'with no token required, a connection admitted by one stays');
  const none = await connectAndHandshake(
    { host: HOST, port },
    { verbose: false, pedantic: false },
    { timeoutMs: WAIT_MS },
  );
  t.after(() => none.close());
  write(dir, 'patch.toml', ['[service]', 'token = "an0ther"']);
  await reload(run, 3, 'reloaded');
  await none.expect(/-ERR 'Authorization Violation'\r\n/, WAIT_MS);
  await none.expectClosed(WAIT_MS);
  // Kept while no token was required; the new one is not what it presented.
  await fresh.expect(/-ERR 'Authorization Violation'\r\n/, WAIT_MS);
});

test('a broken patch is refused with file, line and key, and the running configuration keeps serving', async (t) => {
  const dir = tmpDir(t);
  const base = write(dir, 'base.toml', baseLines());
  const patch = write(dir, 'patch.toml', ['[service]', 'listener_limit = 3']);
  const { run, port } = await startCli(t, ['--config', base, '--patch', patch]);
  const conn = await raw(t, port);
  assert.equal(await roundTrip(conn, 'SUB r.a 1\r\nSUB r.b 2\r\nSUB r.c 3\r\n'), '');

  // Wrong type, out of range and an unknown key, next to changes that would be valid alone.
  write(dir, 'patch.toml', [
    '[service]',
    'listener_limit = "lots"',
    'max_payload = 16',
    'ping_max = 0',
    'prot = 1',
    '[log]',
    'level = "debug"',
  ]);
  const refused = await reload(run, 1, 'refused');
  const problems = refused.problems as string[];
  assert.ok(
    problems.some((p) => p.startsWith(`${patch}:2: service.listener_limit:`)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith(`${patch}:4: service.ping_max:`)),
    problems.join('\n'),
  );
  assert.ok(
    problems.some((p) => p.startsWith(`${patch}:5: service.prot: unknown key`)),
    problems.join('\n'),
  );
  const logged = jsonLines(run.stdout())
    .filter((l) => l.msg === 'configuration problem')
    .map((l) => l.problem);
  assert.deepEqual(logged, problems, 'each problem on its own line too');
  assert.ok(!jsonLines(run.stdout()).some((l) => l.msg === 'configuration changed'), 'nothing applied');

  // The old configuration still serves: listener_limit 3 on the open connection, max_payload and level unchanged.
  assert.match(await roundTrip(conn, 'SUB r.d 4\r\n'), /^-ERR 'maximum subscriptions exceeded'\r\n$/);
  const fresh = await connectRaw({ host: HOST, port }, { timeoutMs: WAIT_MS });
  t.after(() => fresh.close());
  assert.equal(fresh.info.max_payload, 1024 * 1024);
  assert.equal(await roundTrip(conn, 'PUB r.a 5\r\nhello\r\n'), 'MSG r.a 1 5\r\nhello\r\n');
  assert.ok(!jsonLines(run.stdout()).some((l) => l.level === 20), 'still at level info');

  // Fixed, the next SIGHUP applies it.
  write(dir, 'patch.toml', ['[service]', 'listener_limit = 4']);
  const done = await reload(run, 1, 'reloaded');
  assert.deepEqual(done.changed, ['service.listener_limit']);
  assert.equal(await roundTrip(conn, 'SUB r.d 4\r\n'), '');
});

/** Opens a TLS client connection the way NATS clients do (INFO in plaintext, then the handshake); returns the peer CN. */
async function tlsPeer(t: TestContext, port: number, ca: string): Promise<{ cn: string; socket: tls.TLSSocket }> {
  const plain = await connectRaw({ host: HOST, port }, { timeoutMs: WAIT_MS });
  assert.equal(plain.info.tls_required, true);
  plain.socket.removeAllListeners('data');
  const socket = tls.connect({ socket: plain.socket as net.Socket, ca, servername: 'localhost' });
  t.after(() => socket.destroy());
  await within(
    new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject)),
    'TLS handshake',
    WAIT_MS,
  );
  const cn = socket.getPeerCertificate().subject.CN;
  return { cn: String(Array.isArray(cn) ? cn[0] : cn), socket };
}

/** CONNECT + PING over an established TLS socket, resolving on PONG. */
async function tlsPing(socket: tls.TLSSocket): Promise<void> {
  let got = '';
  const pong = new Promise<void>((resolve) => {
    socket.on('data', (d: Buffer) => {
      got += d.toString('latin1');
      if (got.includes('PONG\r\n')) resolve();
    });
  });
  socket.write('CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n');
  await within(pong, 'PONG over TLS', WAIT_MS);
}

test('a certificate rotated in place and reloaded by SIGHUP serves the next connection; the open one stays', async (t) => {
  const dir = tmpDir(t);
  const ca = await createCertificateAuthority({ commonName: 'reload-test CA' });
  const first = await createServerCertificate(ca, { commonName: 'first' });
  const second = await createServerCertificate(ca, { commonName: 'second' });
  const caPath = path.join(dir, 'ca.pem');
  fs.writeFileSync(caPath, ca.cert);
  const certPath = path.join(dir, 'server.pem');
  const keyPath = path.join(dir, 'server-key.pem');
  fs.writeFileSync(certPath, first.cert);
  fs.writeFileSync(keyPath, first.key, { mode: 0o600 });
  const base = write(dir, 'base.toml', [
    ...baseLines(),
    '[tls]',
    `cert_path = ${JSON.stringify(certPath)}`,
    `key_path = ${JSON.stringify(keyPath)}`,
  ]);
  const { run, port } = await startCli(t, ['--config', base]);

  const before = await tlsPeer(t, port, ca.cert);
  assert.equal(before.cn, 'first');
  await tlsPing(before.socket);

  // A key that does not match the certificate: refused, the first certificate still serves.
  fs.writeFileSync(certPath, second.cert);
  const refused = await reload(run, 1, 'refused');
  assert.match((refused.problems as string[])[0]!, /^tls\.key_path: .*does not belong to the certificate/);
  assert.equal((await tlsPeer(t, port, ca.cert)).cn, 'first');

  fs.writeFileSync(keyPath, second.key, { mode: 0o600 });
  await reload(run, 1, 'reloaded');
  await logLine(run, 'TLS certificate reloaded for new connections', { fields: { cert_path: certPath } });
  const after = await tlsPeer(t, port, ca.cert);
  assert.equal(after.cn, 'second');
  await tlsPing(after.socket);
  await tlsPing(before.socket); // established before the rotation, still served
});
