// Sockets on the [leafnodes] port that have not (yet) been admitted cost the service little (issue 11, finding 2): a
// refused leaf is dropped once its -ERR is out (nothing more is read), nothing behind a CONNECT is read before its
// verdict (compared with nats-server 2.9.10 on the wire), and unauthenticated sockets are bounded in number
// (max_unauthenticated), in time (the authorization timeout, one deadline from accept, reloadable) and in queued
// bcrypt compares. Raw sockets, the CLI as a child for the reload. Who is admitted is leaf-admission.test.ts.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { startEventService } from '../src/index.js';
import { logLine, signal } from '@event-broker/test-support/child';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { connectRaw, connectRawTls, RawConn, RawPool } from '@event-broker/test-support/raw';
import { until, within } from '@event-broker/test-support/wait';
import { startCli } from './helpers/cli.js';
import { S3CRET_BCRYPT, assertAdmitted, leafConnect, makePki } from './helpers/leaf-admission.js';

const HOST = '127.0.0.1';

// --- unauthenticated connections are bounded ---------------------------------------------------------------------

/**
 * A peer that goes on sending after `first` and never closes its side: how much the service read from it after its
 * -ERR. A socket ended gracefully keeps reading (and throwing away) the burst until the peer stops or the 2 s grace
 * ends; a dropped one is reset. Writes stop at the reset or at `limit` bytes.
 */
async function burstAfterRefusal(
  port: number,
  first: string,
  limit: number,
): Promise<{ answer: string; sent: number; reset: boolean }> {
  const socket = net.connect({ port, host: HOST, allowHalfOpen: true });
  let input = '';
  let failed = false;
  socket.on('data', (d: Buffer) => (input += d.toString('latin1')));
  socket.on('error', () => (failed = true));
  try {
    await until(() => input.includes('\r\n') || failed, 'the INFO', 3000);
    input = '';
    socket.write(first);
    await until(
      () => input.includes('-ERR') || failed,
      'the -ERR',
      3000,
      () => JSON.stringify(input),
    );
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    while (sent < limit && !failed) {
      const ok = await new Promise<boolean>((resolve) => socket.write(chunk, (err) => resolve(err == null)));
      if (!ok) break;
      sent += chunk.length;
    }
    return { answer: input, sent, reset: failed };
  } finally {
    socket.destroy();
  }
}

describe('refused leaves are dropped once their -ERR is out', () => {
  // Far more than the kernel's socket buffers hold on loopback: a peer still sending that much after its -ERR was
  // being read by the service.
  const LIMIT = 32 * 1024 * 1024;
  const USER = { user: 'leaf', password: 's3cret' };

  for (const [what, first, expected, conf] of [
    ['an operation before CONNECT', 'LMSG foo 10\r\n', 'Authorization Violation', { authorization: USER }],
    [
      'a CONNECT with a wrong password',
      leafConnect({ user: 'leaf', pass: 'wrong' }),
      'Authorization Violation',
      { authorization: USER },
    ],
    [
      'a CONNECT whose bcrypt check fails',
      leafConnect({ user: 'leaf', pass: 'wrong' }),
      'Authorization Violation',
      { authorization: { user: 'leaf', password: S3CRET_BCRYPT } },
    ],
    [
      'a client CONNECT on the leaf port',
      'CONNECT {"lang":"node","verbose":false}\r\n',
      'attempted to connect to leaf node port',
      {},
    ],
  ] as const) {
    it(`${what}: the -ERR, then the connection reset, nothing more read`, async (t: TestContext) => {
      const svc = await startEventService({
        service: { host: HOST, port: 0 },
        leafnodes: { host: HOST, port: 0, ...conf } as never,
        log: { level: 'silent' },
      });
      t.after(() => svc.close());
      const r = await burstAfterRefusal(svc.leafnodePort!, first, LIMIT);
      assert.match(r.answer, new RegExp(`^-ERR '${expected}'\\r\\n`));
      assert.ok(
        r.reset && r.sent < LIMIT,
        `the peer wrote ${r.sent} bytes after its -ERR${r.reset ? ' before the reset' : ' and was never reset'}`,
      );
    });
  }
});

describe('nothing behind a CONNECT is read before its verdict', () => {
  it('a wrong bcrypt password with a bad operation behind it in the same write is an Authorization Violation, as on nats-server', async (t: TestContext) => {
    if (!requireNatsServer(t)) return;
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0, authorization: { user: 'leaf', password: S3CRET_BCRYPT } } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const [port, leafPort] = [await freePort(), await freePort()];
    await startNatsServer(
      t,
      [
        `listen: "${HOST}:${port}"`,
        `leafnodes { listen: "${HOST}:${leafPort}", authorization { user: leaf, password: "${S3CRET_BCRYPT}" } }`,
      ],
      port,
    );
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    for (const behind of ['FOO bar\r\n', `LMSG foo ${'9'.repeat(9)}\r\n`, 'LS+ foo\r\nLMSG foo 2\r\nhiXX']) {
      const answers: string[] = [];
      for (const target of [leafPort, svc.leafnodePort!]) {
        const conn = pool.track(await connectRaw({ host: HOST, port: target }));
        conn.send(leafConnect({ user: 'leaf', pass: 'wrong' }) + behind);
        answers.push((await conn.expectClosed(3000)).rest);
      }
      assert.equal(answers[0], "-ERR 'Authorization Violation'\r\n", `nats-server, ${JSON.stringify(behind)}`);
      assert.equal(answers[1], answers[0], `ours, ${JSON.stringify(behind)}`);
    }
  });

  it('the right bcrypt password with interest, a message and a PING behind it in the same write: all handled, in order, once admitted', async (t: TestContext) => {
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { host: HOST, port: 0, authorization: { user: 'leaf', password: S3CRET_BCRYPT } } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const subject = uniqueSubject('behind');
    const got: string[] = [];
    svc.subscribe(subject, { callback: (m) => got.push(m.string()) });
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const conn = pool.track(await connectRaw({ host: HOST, port: svc.leafnodePort! }));
    conn.send(
      `${leafConnect({ user: 'leaf', pass: 's3cret' })}LS+ ${subject}.back\r\nLMSG ${subject} 5\r\nhello\r\nPING\r\n`,
    );
    await assertAdmitted(conn, 'bcrypt, with operations behind the CONNECT');
    assert.deepEqual(got, ['hello'], 'the message behind the CONNECT was published before the PONG');
    // The LS+ behind the CONNECT made the leaf's interest: a message to it comes down the link.
    svc.publish(`${subject}.back`, 'down');
    await conn.expect(new RegExp(`LMSG ${subject.replace(/\./g, '\\.')}\\.back 4\\r\\ndown\\r\\n`), 3000);
  });
});

describe('unauthenticated connections on the leaf port', () => {
  it('are bounded in number (max_unauthenticated) and in time (the authorization timeout); a real leaf gets in after', async (t: TestContext) => {
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        max_unauthenticated: 3,
        authorization: { user: 'leaf', password: 's3cret', timeout: '400ms' },
      } as never,
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const target = { host: HOST, port: svc.leafnodePort! };
    const silent = [await pool.connect(target), await pool.connect(target), await pool.connect(target)];
    // The fourth is turned away at once, before any INFO.
    const fourth = pool.track(new RawConn(net.connect(target.port, target.host)));
    const closed = await fourth.expectClosed(2000);
    assert.equal(closed.rest, "-ERR 'maximum connections exceeded'\r\n");
    // The silent ones end with nats-server's timeout text.
    for (const s of silent) {
      const c = await s.expectClosed(3000);
      assert.equal(c.rest, "-ERR 'Authentication Timeout'\r\n");
    }
    const leaf = pool.track(await connectRaw(target));
    leaf.send(leafConnect({ user: 'leaf', pass: 's3cret' }) + 'PING\r\n');
    await assertAdmitted(leaf, 'after the flood');
    // An admitted link no longer counts: three more may wait again, and a fourth is the one turned away.
    const again = [await pool.connect(target), await pool.connect(target), await pool.connect(target)];
    const fifth = pool.track(new RawConn(net.connect(target.port, target.host)));
    assert.equal((await fifth.expectClosed(2000)).rest, "-ERR 'maximum connections exceeded'\r\n");
    for (const s of again) assert.equal(s.closed, false);
  });

  it('a loop of connect, a wrong bcrypt password and close queues no compares behind a real leaf: it is admitted within its timeout', async (t: TestContext) => {
    // Each wrong password costs the worker one bcrypt compare (~75 ms at cost 10); a socket gone before its compare
    // started must not leave it queued, or a real leaf's check waits behind all of them past its timeout.
    const MAX_UNAUTHENTICATED = 4;
    const FLOOD = 150;
    const FLOOD_MS = 4000;
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: {
        host: HOST,
        port: 0,
        max_unauthenticated: MAX_UNAUTHENTICATED,
        authorization: { user: 'leaf', password: S3CRET_BCRYPT, timeout: '2s' },
      } as never,
      monitor: { host: HOST, port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const handlerz = async () =>
      (
        (await (await fetch(`http://${HOST}:${svc.monitorPort}/handlerz`)).json()) as {
          leafnodes: { bcrypt_waiting: number; unauthenticated: number };
        }
      ).leafnodes;
    const wrong = leafConnect({ user: 'leaf', pass: 'wrong' });
    const started = Date.now();
    let sent = 0;
    let peak = 0;
    while (sent < FLOOD && Date.now() - started < FLOOD_MS) {
      const s = net.connect(svc.leafnodePort!, HOST);
      s.on('error', () => {});
      s.resume();
      s.end(wrong);
      await within(new Promise((r) => s.once('close', r)), 'a flood socket closes');
      if (++sent % 25 === 0) peak = Math.max(peak, (await handlerz()).bcrypt_waiting);
    }
    const after = await handlerz();
    peak = Math.max(peak, after.bcrypt_waiting);
    t.diagnostic(
      `${sent} wrong passwords in ${Date.now() - started} ms; bcrypt checks waiting: peak ${peak}, ${after.bcrypt_waiting} after the loop`,
    );
    assert.ok(
      peak <= MAX_UNAUTHENTICATED,
      `at most max_unauthenticated (${MAX_UNAUTHENTICATED}) bcrypt checks wait, saw ${peak}`,
    );
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const leaf = pool.track(await connectRaw({ host: HOST, port: svc.leafnodePort! }));
    const asked = Date.now();
    leaf.send(leafConnect({ user: 'leaf', pass: 's3cret' }) + 'PING\r\n');
    await assertAdmitted(leaf, 'the real leaf after the flood');
    t.diagnostic(`the real leaf was admitted ${Date.now() - asked} ms after its CONNECT`);
  });

  it('have one deadline from accept, read as each socket arrives: a reload of auth_timeout reaches the TLS handshake and the CONNECT', async (t: TestContext) => {
    const pki = await makePki(t);
    const conf = path.join(pki.dir, 'svc.toml');
    const lines = (authTimeout: string) => [
      '[service]',
      `host = "${HOST}"`,
      'port = 0',
      `auth_timeout = "${authTimeout}"`,
      '[leafnodes]',
      `host = "${HOST}"`,
      'port = 0',
      '[leafnodes.tls]',
      `cert_path = "${pki.server.cert}"`,
      `key_path = "${pki.server.key}"`,
      `root_ca_path = "${pki.ca}"`,
      '[log]',
      'format = "json"',
    ];
    fs.writeFileSync(conf, lines('10s').join('\n'));
    const { run } = await startCli(t, ['--config', conf]);
    const leafPort = (await logLine(run, 'listening for leafnode connections')).port as number;
    fs.writeFileSync(conf, lines('500ms').join('\n'));
    await signal(run, 'SIGHUP');
    await logLine(run, 'configuration reloaded');
    const pool = new RawPool();
    t.after(() => pool.closeAll());
    const started = Date.now();
    // Greeted in plaintext, never starts its TLS handshake.
    const noHandshake = pool.track(new RawConn(net.connect(leafPort, HOST)));
    // Handshake done, never sends CONNECT.
    const noConnect = pool.track(
      await connectRawTls(
        { host: HOST, port: leafPort },
        {
          ca: fs.readFileSync(pki.ca),
          cert: fs.readFileSync(pki.upstream.cert),
          key: fs.readFileSync(pki.upstream.key),
        },
      ),
    );
    const [a, b] = await Promise.all([noHandshake.expectClosed(3000), noConnect.expectClosed(3000)]);
    t.diagnostic(
      `both closed ${Date.now() - started} ms after accept (auth_timeout 10 s at start, 500 ms after the reload)`,
    );
    assert.match(a.rest, /^INFO /, 'the one without a handshake got its INFO, then the close');
    assert.equal(b.rest, "-ERR 'Authentication Timeout'\r\n");
  });
});
