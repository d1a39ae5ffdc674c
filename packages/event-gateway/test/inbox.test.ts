// Replies are private to the client that asked. Through the real gateway (CLI child) and a real event service with a
// store, with the official nats client: a client whose token grants `_INBOX.>` (the grant the README used to teach;
// nats-server would let it read every reply) or `>` reads neither another external client's replies nor an internal
// service's replies to a feed query, not even by subscribing to a reply subject it saw; a client whose token (as
// dev/mint-token.mjs writes it) grants its own prefix `_INBOX.<id>.>` does request/reply through it with the
// client's `inboxPrefix` option, feed queries included.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { connect, type Msg, type NatsConnection } from 'nats';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';
import { startEventService, type EventService } from '@event-broker/event-service';
import { jsonLines, logLine } from '@event-broker/test-support/child';
import { HOST } from '@event-broker/test-support/processes';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { until, within } from '@event-broker/test-support/wait';
import { devPki, external, gatewayToml, startCli, type Pki } from './helpers/ops.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const FEED_QUERY = '$EVENTS.FEED.QUERY';

async function mintDev(pki: Pki, ...args: string[]): Promise<{ token: string; stderr: string }> {
  const r = await promisify(execFile)(
    process.execPath,
    [path.join(ROOT, 'dev/mint-token.mjs'), '--certs', pki.dir, ...args],
    { timeout: 60_000 },
  );
  return { token: r.stdout.trim(), stderr: r.stderr };
}

function claims(token: string): { sub: string; nats: { sub?: { allow?: string[] } } } {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as never;
}

async function serviceWithStore(t: TestContext, pki: Pki): Promise<EventService> {
  const F = DEV_PKI_FILES;
  const service = await startEventService({
    service: { host: HOST, port: 0 },
    leafnodes: {
      host: HOST,
      port: 0,
      tls: {
        cert_path: pki.file(F.eventService.cert),
        key_path: pki.file(F.eventService.key),
        root_ca_path: pki.file(F.ca.cert),
      },
    },
    store: { path: path.join(tmpDir(t), 'events.db') },
    log: { level: 'silent' },
  } as never);
  t.after(() => service.close());
  return service;
}

/** Everything a subscription receives, and the errors (permission refusals) the client reports for it. */
function record(nc: NatsConnection, subject: string): { subjects: string[]; errors: string[] } {
  const out = { subjects: [] as string[], errors: [] as string[] };
  nc.subscribe(subject, {
    callback: (err, m: Msg) => {
      if (err) out.errors.push(err.message);
      else out.subjects.push(m.subject);
    },
  });
  return out;
}

test("a client reads only its own replies: not another client's, not an internal feed reply, whatever its token grants", async (t) => {
  const pki = await devPki(t);
  const service = await serviceWithStore(t, pki);
  const { run, port } = await startCli(t, [
    '--config',
    write(tmpDir(t), 'gateway.toml', gatewayToml(pki, service.leafnodePort!)),
  ]);
  await logLine(run, 'uplink up');
  const gw = `${HOST}:${port}`;

  const inside = await within(connect({ servers: `${HOST}:${service.port}`, reconnect: false }), 'internal client');
  t.after(() => inside.close());
  inside.subscribe('greet.*', { callback: (_e, m) => m.respond(`hi ${m.subject}`) });
  await inside.flush();

  // The README's old example grant, and a grant of everything.
  const mallory = await external(
    t,
    pki,
    gw,
    await pki.token('mallory', { pub: { allow: ['greet.>'] }, sub: { allow: ['greet.>', '_INBOX.>'] } }),
  );
  const mallet = await external(
    t,
    pki,
    gw,
    await pki.token('mallet', { pub: { allow: ['>'] }, sub: { allow: ['>'] } }),
  );
  const m1 = record(mallory, '_INBOX.>');
  const m2all = record(mallet, '>');
  const m2inbox = record(mallet, '_INBOX.>');
  // Each allowed subscription's interest has crossed the link once a message published inside reaches it.
  await until(async () => {
    inside.publish('probe.1');
    inside.publish('_INBOX.probe.1');
    await inside.flush();
    await Promise.all([mallory.flush(), mallet.flush()]);
    return m2all.subjects.includes('probe.1') && (m1.subjects.length > 0 || m1.errors.length > 0);
  }, "the outsiders' interest reaches the service");
  const said = jsonLines(run.stdout()).find((l) => l.who === 'mallory' && l.level === 40);
  assert.ok(
    said !== undefined && JSON.stringify(said).includes('_INBOX.>'),
    `the gateway warns about the grant: ${run.stdout().slice(-3000)}`,
  );

  // An internal service's own requests: an event stored (the ack is a reply), then a feed page read.
  const ack = await inside.request(
    'events.scanJobCreated',
    JSON.stringify({ specversion: '1.0', id: 'inbox-1', source: '/inbox-test', type: 'scanJobCreated' }),
    { timeout: 10_000 },
  );
  assert.equal((ack.json() as { id: string }).id, 'inbox-1');
  const page = await inside.request(FEED_QUERY, '{}', { timeout: 10_000 });
  assert.ok((page.json() as { events: unknown[] }).events.length >= 1, page.string());

  // alice, with the token dev/mint-token.mjs writes, asks through her own prefix.
  const minted = await mintDev(pki, '--sub', 'alice', '--pub', `greet.>,${FEED_QUERY}`, '--sub-allow', 'greet.>');
  assert.deepEqual(claims(minted.token).nats.sub?.allow, ['greet.>', '_INBOX.alice.>']);
  assert.match(minted.stderr, /inboxPrefix.*_INBOX\.alice/);
  const alice = await external(t, pki, gw, minted.token, { nats: { inboxPrefix: '_INBOX.alice' } });
  const hi = await alice.request('greet.you', '', { timeout: 10_000 });
  assert.equal(hi.string(), 'hi greet.you');
  const herPage = await alice.request(FEED_QUERY, JSON.stringify({ id: 'inbox-1' }), { timeout: 10_000 });
  assert.equal(
    (herPage.json() as { event: { id: string } }).event.id,
    'inbox-1',
    'a feed query through the gateway, answered to her prefix',
  );

  // mallet saw alice's request (its `>` covers greet.you), so it knows her reply subject: subscribing to it is refused.
  await mallet.flush();
  const seen = m2all.subjects.includes('greet.you');
  assert.ok(seen, 'mallet sees the request itself');
  const aliceInbox = hi.subject.split('.').slice(0, 3).join('.');
  assert.match(aliceInbox, /^_INBOX\.alice\.\w+$/);
  const m2literal = record(mallet, `${aliceInbox}.*`);
  await mallet.flush();
  assert.equal((await alice.request('greet.again', '', { timeout: 10_000 })).string(), 'hi greet.again');

  await Promise.all([mallory.flush(), mallet.flush()]);
  const inboxes = (r: { subjects: string[] }) => r.subjects.filter((s) => s.startsWith('_INBOX'));
  assert.deepEqual(inboxes(m1), [], 'the _INBOX.> grant reads no reply');
  assert.deepEqual(inboxes(m2all), [], 'a > subscription gets no reply');
  assert.deepEqual(inboxes(m2inbox), []);
  assert.deepEqual(inboxes(m2literal), [], 'nor a subscription to a reply subject it saw');
  const violation = (s: string) => `Permissions Violation for Subscription to "${s}"`;
  assert.ok(
    m1.errors.some((e) => e.includes(violation('_INBOX.>'))),
    m1.errors.join('; '),
  );
  assert.ok(
    m2inbox.errors.some((e) => e.includes(violation('_INBOX.>'))),
    m2inbox.errors.join('; '),
  );
  assert.ok(
    m2literal.errors.some((e) => e.includes(violation(`${aliceInbox}.*`))),
    m2literal.errors.join('; '),
  );
  assert.ok(!mallory.isClosed() && !mallet.isClosed(), 'a refused subscription leaves the connection open');
});

test("dev/mint-token.mjs writes a private inbox grant and refuses one that covers other clients' inboxes", async (t) => {
  const pki = await devPki(t);
  const bob = await mintDev(pki, '--sub', 'bob');
  assert.deepEqual(
    claims(bob.token).nats.sub?.allow,
    ['>', '_INBOX.bob.>'],
    'no list given: everything, and its own inbox',
  );
  assert.ok(!/warning/.test(bob.stderr), bob.stderr);
  // The signing key open to other users: minted all the same, with a warning naming the file, never the key.
  const signingKey = pki.file(DEV_PKI_FILES.jwt.privateKey);
  fs.chmodSync(signingKey, 0o644);
  const warned = await mintDev(pki, '--sub', 'bob');
  assert.ok(warned.stderr.includes(`warning: ${signingKey} is open to other users (mode 0644)`), warned.stderr);
  assert.ok(!warned.stderr.includes('PRIVATE KEY') && claims(warned.token).sub === 'bob');
  fs.chmodSync(signingKey, 0o600);
  const own = await mintDev(pki, '--sub', 'svc@example.com', '--inbox', '_INBOX.svc-1', '--sub-allow', 'a.>');
  assert.deepEqual(claims(own.token).nats.sub?.allow, ['a.>', '_INBOX.svc-1.>']);
  assert.deepEqual(
    claims((await mintDev(pki, '--sub', 'carol', '--sub-allow', 'a.>', '--inbox', 'none')).token).nats.sub?.allow,
    ['a.>'],
  );
  for (const [args, why] of [
    [['--sub', 'eve', '--sub-allow', 'greet.>,_INBOX.>'], /_INBOX\.>.*every client/],
    [['--sub', 'eve', '--sub-allow', '_INBOX.*.x'], /every client/],
    [['--sub', 'eve', '--inbox', '_INBOX.>'], /--inbox/],
    [['--sub', 'svc@example.com'], /--inbox/],
  ] as const) {
    await assert.rejects(
      mintDev(pki, ...args),
      (err: { code?: number; stderr?: string }) => err.code === 2 && why.test(err.stderr ?? ''),
      args.join(' '),
    );
  }
});
