// [[service.users]] beside nats-server 2.9 given the same users in its own `authorization { users }`: user/password
// and bcrypt admission with the official client, the same Authorization Violation for every refusal, publish and
// subscribe permissions with nats-server's texts (queue form, deny on delivery to a wildcard subscription,
// allow_responses), what a reload does to open connections, config errors with file:line, and hostile input.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import * as nats from 'nats';
import { createLogger } from '@event-broker/shared';
import { natsServerInstalled, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { connectRaw, type Endpoint, type RawConn } from '@event-broker/test-support/raw';
import { until } from '@event-broker/test-support/wait';
import { formatConfig, loadServiceConfig, planServiceReload, resolveServiceConfig } from '../src/config.js';
import type { ServiceSection, ServiceUser } from '../src/config-types.js';
import { EventServer } from '../src/server.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';

const HOST = '127.0.0.1';
const WAIT_MS = 5000;
// Cost 4 (bcrypt's least) keeps the suite quick; nats-server accepts it as any other.
const hash = (password: string, spelling: '2a' | '2b' | '2y' = '2a') =>
  bcrypt.hashSync(password, 4).replace(/^\$2b\$/, `$${spelling}$`);

// --- the two servers -------------------------------------------------------------------------------------------

interface Side {
  readonly name: 'event-service' | 'nats-server';
  readonly endpoint: Endpoint;
  /** Puts `users` (none: no authorization) in force as a reload does (SIGHUP for nats-server, applyConfig for ours). */
  reload(users: ServiceUser[] | undefined): Promise<void>;
}

interface Ours extends Side {
  readonly server: EventServer;
  /** Every log line so far (JSON, level debug). */
  logs(): string;
}

async function ours(t: TestContext, users: ServiceUser[], extra: Partial<ServiceSection> = {}): Promise<Ours> {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ format: 'json', level: 'debug', destination });
  const config = (u: ServiceUser[] | undefined) =>
    resolveServiceConfig({ service: { host: HOST, port: 0, ...extra, ...(u !== undefined && { users: u }) } });
  const server = new EventServer(config(users), logger, { handlers: false });
  await server.listen();
  t.after(() => server.close());
  return {
    name: 'event-service',
    endpoint: { host: HOST, port: server.port },
    server,
    logs: () => lines.join(''),
    reload: async (next) => void server.applyConfig(config(next)),
  };
}

/** nats-server's spelling of the same users (none: no authorization block). */
function natsAuthorization(users: ServiceUser[] | undefined): string {
  if (users === undefined) return '';
  const q = JSON.stringify;
  const list = (l: string[] | undefined) => `[${(l ?? []).map((s) => q(s)).join(', ')}]`;
  const entry = (u: ServiceUser) => {
    const p = u.permissions;
    const perms = [];
    if (p?.publish)
      perms.push(
        `publish: { ${p.publish.allow ? `allow: ${list(p.publish.allow)}, ` : ''}${p.publish.deny ? `deny: ${list(p.publish.deny)}` : ''} }`,
      );
    if (p?.subscribe)
      perms.push(
        `subscribe: { ${p.subscribe.allow ? `allow: ${list(p.subscribe.allow)}, ` : ''}${p.subscribe.deny ? `deny: ${list(p.subscribe.deny)}` : ''} }`,
      );
    if (p?.allow_responses)
      perms.push(`allow_responses: { max: ${p.allow_responses.max}, expires: "${p.allow_responses.expires}ms" }`);
    return `{ user: ${q(u.user)}, password: ${q(u.password)}${perms.length > 0 ? `, permissions: { ${perms.join(', ')} }` : ''} }`;
  };
  return `authorization { users = [ ${users.map(entry).join(', ')} ] }`;
}

async function theirs(t: TestContext, users: ServiceUser[]): Promise<Side> {
  const port = await freePort();
  const conf = (u: ServiceUser[] | undefined) => [`listen: "${HOST}:${port}"`, natsAuthorization(u)];
  const child = await startNatsServer(t, conf(users), port);
  return { name: 'nats-server', endpoint: { host: HOST, port }, reload: (next) => child.reload(conf(next)) };
}

/** Ours and, when installed, nats-server (required under CI), each given `users`. */
async function sides(t: TestContext, users: ServiceUser[]): Promise<[Ours, ...Side[]]> {
  const out: [Ours, ...Side[]] = [await ours(t, users)];
  if (natsServerInstalled()) out.push(await theirs(t, users));
  else if (process.env['CI'])
    throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  else t.diagnostic('nats-server is not installed: our side only');
  return out;
}

// --- the wire --------------------------------------------------------------------------------------------------

async function raw(t: TestContext, side: Side): Promise<RawConn> {
  const conn = await connectRaw(side.endpoint, { timeoutMs: WAIT_MS });
  t.after(() => conn.close());
  return conn;
}

/** A raw connection admitted as `user`. */
async function login(t: TestContext, side: Side, user: string, pass: string): Promise<RawConn> {
  const conn = await raw(t, side);
  conn.send(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, user, pass })}\r\nPING\r\n`);
  await conn.expect(/^PONG\r\n/, WAIT_MS);
  return conn;
}

/** Sends `ops` (each a line, or a PUB with its payload) then PING; the lines that came back before the PONG. */
async function exchange(conn: RawConn, ops: string[]): Promise<string[]> {
  conn.send(`${ops.map((l) => `${l}\r\n`).join('')}PING\r\n`);
  const m = await conn.expect(/^([\s\S]*?)PONG\r\n/, WAIT_MS);
  return m[1]!.split('\r\n').filter((l) => l !== '');
}

/** A CONNECT that is refused: what came back after the INFO, and that the server closed. */
async function refusal(t: TestContext, side: Side, connect: Record<string, unknown>): Promise<string> {
  const conn = await raw(t, side);
  conn.send(`CONNECT ${JSON.stringify({ verbose: false, pedantic: false, ...connect })}\r\nPING\r\n`);
  return (await conn.expectClosed(WAIT_MS)).rest;
}

const AUTH_VIOLATION = "-ERR 'Authorization Violation'\r\n";

// --- admission -------------------------------------------------------------------------------------------------

test('user and password, plain or bcrypt ($2a$, $2b$, $2y$): the official client connects on both; a wrong password, an unknown user and none get the same Authorization Violation', async (t) => {
  const users: ServiceUser[] = [
    { user: 'alice', password: 'pa55' },
    { user: 'bob-a', password: hash('s3cret', '2a') },
    { user: 'bob-b', password: hash('s3cret', '2b') },
    { user: 'bob-y', password: hash('s3cret', '2y') },
  ];
  const all = await sides(t, users);
  for (const side of all) {
    const probe = await raw(t, side);
    assert.equal(probe.info.auth_required, true, `${side.name}: INFO says auth_required`);
    const url = `nats://${HOST}:${side.endpoint.port}`;
    for (const [user, pass] of [
      ['alice', 'pa55'],
      ['bob-a', 's3cret'],
      ['bob-b', 's3cret'],
      ['bob-y', 's3cret'],
    ] as const) {
      const nc = await nats.connect({ servers: url, user, pass, reconnect: false });
      await nc.flush();
      await nc.close();
    }
    for (const creds of [
      { user: 'alice', pass: 'wrong' },
      { user: 'bob-a', pass: 'wrong' },
      { user: 'eve', pass: 'pa55' },
      {},
    ]) {
      await assert.rejects(
        nats.connect({ servers: url, ...creds, reconnect: false }),
        (err: nats.NatsError) => err.code === nats.ErrorCode.AuthorizationViolation,
        `${side.name}: ${JSON.stringify(creds)}`,
      );
      const rest = await refusal(t, side, creds);
      assert.equal(rest, AUTH_VIOLATION, `${side.name}: ${JSON.stringify(creds)} on the wire`);
    }
    // A token is no user.
    assert.equal(await refusal(t, side, { auth_token: 'pa55' }), AUTH_VIOLATION, side.name);
  }

  // Ours: who the connection is, for logs and for the events it publishes; the password in neither.
  const [svc] = all;
  const conn = await login(t, svc, 'bob-y', 's3cret');
  await exchange(conn, []);
  const client = [...svc.server.clients.values()].find((c) => c.identity === 'bob-y');
  assert.deepEqual(client?.auth, { authtype: 'service_account', authid: 'bob-y' });
  assert.ok(!svc.logs().includes('pa55') && !svc.logs().includes('s3cret'), 'no password in the log');
});

test("the shared token's clients are recorded as an api_key, compared in constant time whatever its length", async (t) => {
  const logger = createLogger({ level: 'silent' });
  const server = new EventServer(resolveServiceConfig({ service: { host: HOST, port: 0, token: 'tok-3' } }), logger, {
    handlers: false,
  });
  await server.listen();
  t.after(() => server.close());
  const side: Side = { name: 'event-service', endpoint: { host: HOST, port: server.port }, reload: async () => {} };
  assert.equal(await refusal(t, side, { auth_token: 'tok-3-and-more' }), AUTH_VIOLATION);
  assert.equal(await refusal(t, side, { auth_token: '' }), AUTH_VIOLATION);
  const conn = await raw(t, side);
  assert.deepEqual(await exchange(conn, [`CONNECT ${JSON.stringify({ verbose: false, auth_token: 'tok-3' })}`]), []);
  assert.deepEqual([...server.clients.values()][0]?.auth, { authtype: 'api_key' });
});

// --- permissions -----------------------------------------------------------------------------------------------

test("publish and subscribe permissions: allow, deny and queue entries refuse with nats-server's texts, and the connection stays open", async (t) => {
  const users: ServiceUser[] = [
    {
      user: 'p',
      password: 'p',
      permissions: {
        publish: { allow: ['orders.>', 'audit.*', 'q"uote.*'], deny: ['orders.secret.>'] },
        subscribe: {
          allow: ['orders.*', 'audit.>', 'foo', 'foo v1', 'bar *.dev'],
          deny: ['audit.secret.>', '> *.prod'],
        },
      },
    },
    { user: 'list', password: 'l', permissions: { publish: { allow: ['only.this'] }, subscribe: { deny: ['>'] } } },
  ];
  const pubs = [
    'orders.new',
    'orders.eu.new',
    'orders',
    'audit.created',
    'audit.a.b',
    'billing.paid',
    'orders.secret.key',
    'q"uote.x',
    'a"b\\c',
  ];
  const subs = [
    'orders.new',
    'orders.*',
    'audit.x',
    'audit.secret.k',
    'foo',
    'foo v1',
    'foo v2',
    'bar',
    'bar eu.dev',
    'bar eu.prod',
    'audit.x q.prod',
    '>',
  ];
  const ops = [...pubs.map((s) => `PUB ${s} 0\r\n`), ...subs.map((s, i) => `SUB ${s} ${i + 1}`)];
  const transcripts: string[][] = [];
  for (const side of await sides(t, users)) {
    const conn = await login(t, side, 'p', 'p');
    const got = await exchange(conn, ops);
    transcripts.push(got);
    assert.equal(conn.closed, false, `${side.name}: still open`);
    const other = await login(t, side, 'list', 'l');
    assert.deepEqual(
      await exchange(other, ['PUB only.this 0\r\n', 'PUB not.this 0\r\n', 'SUB anything 1', 'SUB anything q 2']),
      [
        `-ERR 'Permissions Violation for Publish to "not.this"'`,
        `-ERR 'Permissions Violation for Subscription to "anything"'`,
        `-ERR 'Permissions Violation for Subscription to "anything" using queue "q"'`,
      ],
      `${side.name}: deny [">"] allows no subscription`,
    );
  }
  const [mine, theirs] = transcripts;
  assert.ok(mine!.length >= 10, `the cases exercise refusals: ${mine!.join('\n')}`);
  assert.ok(mine!.includes(`-ERR 'Permissions Violation for Subscription to "audit.x" using queue "q.prod"'`));
  assert.ok(mine!.includes(`-ERR 'Permissions Violation for Publish to "a\\"b\\\\c"'`), 'Go-quoted');
  if (theirs !== undefined) assert.deepEqual(mine, theirs);
});

test('a wildcard subscription is not sent a subject the deny list names, on both servers', async (t) => {
  const users: ServiceUser[] = [
    { user: 'watcher', password: 'w', permissions: { subscribe: { deny: ['secret.>'] } } },
    { user: 'pub', password: 'p' },
  ];
  for (const side of await sides(t, users)) {
    const watcher = await login(t, side, 'watcher', 'w');
    assert.deepEqual(
      await exchange(watcher, ['SUB > 1', 'SUB secret.* 2', 'SUB public.* 3']),
      [`-ERR 'Permissions Violation for Subscription to "secret.*"'`],
      side.name,
    );
    const pub = await login(t, side, 'pub', 'p');
    await exchange(pub, [
      'PUB secret.a 1\r\nx',
      'PUB public.a 1\r\ny',
      'PUB secret.b.c 1\r\nz',
      'PUB public.end 0\r\n',
    ]);
    // public.end, published last, reaches both subscriptions: everything before it has been delivered by then.
    await until(
      () => (watcher.buffered.match(/MSG public\.end/g) ?? []).length === 2,
      `${side.name}: public.end delivered twice`,
      WAIT_MS,
      () => watcher.buffered,
    );
    const got = await exchange(watcher, []);
    // nats-server may order one message's copies for two subscriptions either way: compared sorted.
    assert.deepEqual(
      got.sort(),
      ['MSG public.a 1 1', 'MSG public.a 3 1', 'MSG public.end 1 0', 'MSG public.end 3 0', 'y', 'y'].sort(),
      `${side.name}: secret.* reached no subscription`,
    );
  }
});

test('allow_responses: a responder answers a request it received, up to max and within expires, and publishes nothing else', async (t) => {
  const users: ServiceUser[] = [
    { user: 'asker', password: 'a' },
    {
      user: 'svc',
      password: 's',
      permissions: { subscribe: { allow: ['svc.>'] }, allow_responses: { max: 2, expires: 60_000 } },
    },
    {
      user: 'quick',
      password: 'q',
      permissions: { subscribe: { allow: ['quick.>'] }, allow_responses: { max: 5, expires: 300 } },
    },
  ];
  const transcripts: string[][] = [];
  for (const side of await sides(t, users)) {
    const asker = await login(t, side, 'asker', 'a');
    const svc = await login(t, side, 'svc', 's');
    const quick = await login(t, side, 'quick', 'q');
    await exchange(svc, ['SUB svc.echo 1']);
    await exchange(quick, ['SUB quick.echo 1']);
    await exchange(asker, [
      'SUB _INBOX.r1 1',
      'SUB _INBOX.r2 2',
      'PUB svc.echo _INBOX.r1 2\r\nhi',
      'PUB quick.echo _INBOX.r2 2\r\nhi',
    ]);
    await svc.expect(/^MSG svc\.echo 1 _INBOX\.r1 2\r\nhi\r\n/, WAIT_MS);
    const delivered = Date.now();
    await quick.expect(/^MSG quick\.echo 1 _INBOX\.r2 2\r\nhi\r\n/, WAIT_MS);
    const got = await exchange(svc, [
      'PUB _INBOX.r1 1\r\na',
      'PUB _INBOX.r1 1\r\nb',
      'PUB _INBOX.r1 1\r\nc',
      'PUB _INBOX.never 0\r\n',
      'PUB svc.echo 0\r\n',
    ]);
    // After expires (300 ms), the grant is gone.
    await until(() => Date.now() - delivered > 400, 'the reply grant expired', WAIT_MS);
    got.push(...(await exchange(quick, ['PUB _INBOX.r2 1\r\nz'])));
    const replies = await asker.expect(/^(MSG _INBOX\.r1 1 1\r\na\r\nMSG _INBOX\.r1 1 1\r\nb\r\n)/, WAIT_MS);
    assert.ok(replies);
    assert.deepEqual(await exchange(asker, []), [], `${side.name}: no third reply, no late one`);
    transcripts.push(got);
  }
  assert.deepEqual(transcripts[0], [
    `-ERR 'Permissions Violation for Publish to "_INBOX.r1"'`,
    `-ERR 'Permissions Violation for Publish to "_INBOX.never"'`,
    `-ERR 'Permissions Violation for Publish to "svc.echo"'`,
    `-ERR 'Permissions Violation for Publish to "_INBOX.r2"'`,
  ]);
  if (transcripts[1] !== undefined) assert.deepEqual(transcripts[0], transcripts[1]);
});

// --- reload ----------------------------------------------------------------------------------------------------

test('reload: an added user connects, a removed one is closed without -ERR, a changed password gets Authorization Violation, changed permissions reach the open connection and remove the subscriptions they no longer allow', async (t) => {
  const eHash = hash('pe');
  const before: ServiceUser[] = [
    {
      user: 'a',
      password: 'pa',
      permissions: { subscribe: { allow: ['foo.>', 'bar'] }, publish: { allow: ['x.>', 'bar', 'foo.>'] } },
    },
    { user: 'b', password: 'pb' },
    { user: 'c', password: 'pc' },
    { user: 'e', password: eHash },
    { user: 'f', password: hash('pf') },
  ];
  const after: ServiceUser[] = [
    {
      user: 'a',
      password: 'pa',
      permissions: { subscribe: { allow: ['bar'] }, publish: { allow: ['y.>', 'bar', 'foo.>'] } },
    },
    { user: 'c', password: 'pc2' },
    { user: 'd', password: 'pd' },
    // The same password hashed again (another salt): still the same password, so e stays.
    { user: 'e', password: hash('pe') },
    { user: 'f', password: hash('another') },
  ];
  assert.notEqual(after[3]!.password, eHash);
  for (const side of await sides(t, before)) {
    const a = await login(t, side, 'a', 'pa');
    assert.deepEqual(await exchange(a, ['SUB foo.x 1', 'SUB bar 2', 'SUB foo.> 3']), []);
    const b = await login(t, side, 'b', 'pb');
    const c = await login(t, side, 'c', 'pc');
    const e = await login(t, side, 'e', 'pe');
    const f = await login(t, side, 'f', 'pf');
    assert.equal(await refusal(t, side, { user: 'd', pass: 'pd' }), AUTH_VIOLATION, `${side.name}: d not yet`);

    await side.reload(after);
    assert.equal((await b.expectClosed(WAIT_MS)).rest, '', `${side.name}: b removed, closed without -ERR`);
    assert.equal((await c.expectClosed(WAIT_MS)).rest, AUTH_VIOLATION, `${side.name}: c's password changed`);
    assert.equal((await f.expectClosed(WAIT_MS)).rest, AUTH_VIOLATION, `${side.name}: f's bcrypt password changed`);
    assert.deepEqual(await exchange(e, []), [], `${side.name}: e's password hashed anew, same password: stays`);
    // nats-server removes them in map order: compared as a set.
    const removed = await exchange(a, []);
    assert.deepEqual(
      removed.sort(),
      [
        `-ERR 'Permissions Violation for Subscription to "foo.>" (sid "3")'`,
        `-ERR 'Permissions Violation for Subscription to "foo.x" (sid "1")'`,
      ],
      side.name,
    );
    const d = await login(t, side, 'd', 'pd');
    assert.deepEqual(
      await exchange(a, ['PUB x.1 0\r\n', 'PUB y.1 0\r\n', 'PUB foo.x 1\r\nf', 'PUB bar 1\r\nb']),
      [`-ERR 'Permissions Violation for Publish to "x.1"'`, 'MSG bar 2 1', 'b'],
      `${side.name}: a under its new permissions`,
    );
    assert.deepEqual(await exchange(d, ['PUB foo.x 0\r\n']), []);
    assert.deepEqual(await exchange(a, []), [], `${side.name}: foo.x reaches a no more`);
    assert.equal(a.closed || d.closed || e.closed, false);
  }
});

test('reload from users to none: every user connection is closed without -ERR, as nats-server closes a user it no longer has', async (t) => {
  for (const side of await sides(t, [{ user: 'a', password: 'pa' }])) {
    const a = await login(t, side, 'a', 'pa');
    await side.reload(undefined);
    assert.equal((await a.expectClosed(WAIT_MS)).rest, '', side.name);
    assert.equal(
      (await raw(t, side)).info.auth_required,
      undefined,
      `${side.name}: INFO no longer asks for credentials`,
    );
  }
});

// --- configuration ---------------------------------------------------------------------------------------------

/** `lines` as the file `name` in a fresh directory. */
const tmpFile = (t: TestContext, name: string, lines: string[]): string =>
  write(tmpDir(t, 'service-users-'), name, lines);

function problems(file: string): string[] {
  try {
    loadServiceConfig({ configPath: file });
  } catch (err) {
    return (err as Error).message
      .split('\n')
      .slice(1)
      .map((l) => l.trim());
  }
  assert.fail(`${file} was accepted`);
}

test('config: every problem of [[service.users]] is reported as file:line: key: reason, never showing a password', async (t) => {
  const file = tmpFile(t, 'users.toml', [
    '[service]', // 1
    '[[service.users]]', // 2
    'user = "a"', // 3
    'password = "secret-canary"', // 4
    'permissions = { publish = ["ok.>", "bad..subject"], subscribe = { allow = ["x q extra"], except = ["y"] } }', // 5
    '[[service.users]]', // 6
    'user = "a"', // 7
    'password = "$2a$11$notahash-canary"', // 8
    '[[service.users]]', // 9
    'user = "no-password"', // 10
    'pasword = "typo-canary"', // 11
    '[[service.users]]', // 12
    'user = "r"', // 13
    'password = "r"', // 14
    '[service.users.permissions]', // 15
    'allow_responses = { max = "one", expires = "soon" }', // 16
    'pub = ["a"]', // 17
    '[[service.users]]', // 18
    'user = "empty"', // 19
    'password = "e"', // 20
    'permissions = { publish = [], subscribe = { allow = [], deny = [] } }', // 21
  ]);
  const got = problems(file);
  const want = [
    `${file}:5: service.users[0].permissions.publish[1]: must be a subject (wildcards * and > allowed), got "bad..subject"`,
    `${file}:5: service.users[0].permissions.subscribe.except: unknown key (known here: allow, deny)`,
    `${file}:5: service.users[0].permissions.subscribe.allow[0]: must be a subject, or a subject and a queue group ("orders.* workers"), got "x q extra"`,
    `${file}:7: service.users[1].user: "a" is listed twice`,
    `${file}:8: service.users[1].password: starts like a bcrypt hash but is not one that can be checked ($2a$, $2b$ or $2y$, a cost from 04 to 31, then 53 characters of salt and digest)`,
    `${file}:9: service.users[2].password: is required (a user alone proves nothing): plain, or a bcrypt hash`,
    `${file}:11: service.users[2].pasword: unknown key (known here: user, password, permissions)`,
    `${file}:16: service.users[3].permissions.allow_responses.max: must be an integer (0: the default 1, negative: no limit), got "one"`,
    `${file}:16: service.users[3].permissions.allow_responses.expires: must be a duration (seconds, or a string such as "250ms", "10s", "2m") from 0s to 596h31m23s647ms, got "soon" (0: the default "2m", negative: no limit)`,
    `${file}:17: service.users[3].permissions.pub: unknown key (known here: publish, subscribe, allow_responses)`,
    `${file}:21: service.users[4].permissions.publish: is an empty allow list, which nats-server reads as no list (every subject allowed): leave it out to allow every subject, or write deny = [">"] to allow none`,
    `${file}:21: service.users[4].permissions.subscribe.allow: is an empty allow list, which nats-server reads as no list (every subject allowed): leave it out to allow every subject, or write deny = [">"] to allow none`,
  ];
  assert.deepEqual([...got].sort(), [...want].sort());
  assert.ok(!got.join('\n').includes('canary'), 'no password (or what may be one) in a problem');
});

test('config: a token beside users is refused at the token line, as nats-server refuses it', async (t) => {
  const file = tmpFile(t, 'both.toml', [
    '[service]',
    'port = 0',
    'token = "t"',
    'users = [{ user = "a", password = "b" }]',
  ]);
  assert.deepEqual(problems(file), [
    `${file}:3: service.token: cannot be set together with [[service.users]] (nats-server refuses a token beside users): give the token's clients a user and password, or remove users`,
  ]);
});

test('config: users print with passwords redacted, read back the same, and a reload logs them redacted', async (t) => {
  const file = tmpFile(t, 'ok.toml', [
    '[service]',
    '[[service.users]]',
    'user = "a"',
    'password = "pw-canary"',
    'permissions = { publish = "one.subject", subscribe = { allow = ["x.*", "jobs   workers"] }, allow_responses = true }',
    '[[service.users]]',
    'user = "b"',
    `password = "${hash('x')}"`,
    'permissions = { publish = { deny = ["admin.>"] }, allow_responses = { max = -5, expires = -1 } }',
  ]);
  const { config } = loadServiceConfig({ configPath: file });
  assert.deepEqual(config.service.users![0]!.permissions, {
    publish: { allow: ['one.subject'] },
    subscribe: { allow: ['x.*', 'jobs workers'] },
    allow_responses: { max: 1, expires: 120_000 },
  });
  assert.deepEqual(config.service.users![1]!.permissions!.allow_responses, { max: -1, expires: -1 });
  const printed = formatConfig(config);
  assert.ok(!printed.includes('pw-canary') && !printed.includes('$2a$'), printed);
  assert.match(
    printed,
    /users = \[\{ user = "a", password = "<redacted>", permissions = \{ publish = \{ allow = \["one\.subject"\] \}/,
  );
  const again = loadServiceConfig({ configPath: tmpFile(t, 'printed.toml', [printed]) }).config;
  assert.deepEqual(
    again.service.users!.map((u) => ({ ...u, password: '' })),
    config.service.users!.map((u) => ({ ...u, password: '' })),
  );

  const next = structuredClone(config);
  next.service.users![0]!.password = 'pw2-canary';
  const plan = planServiceReload(config, next);
  assert.deepEqual(
    plan.applied.map((c) => c.key),
    ['service.users'],
  );
  assert.ok(!JSON.stringify(plan.applied).includes('canary'), JSON.stringify(plan.applied));
});

// --- hostile input ---------------------------------------------------------------------------------------------

test('hostile CONNECTs: a huge password, a user name with control characters, fields of the wrong type: the same outcome as nats-server, nothing echoed to the log', async (t) => {
  const users: ServiceUser[] = [
    { user: 'alice', password: 'pa55' },
    { user: 'bob', password: hash('s3cret') },
  ];
  const all = await sides(t, users);
  const huge = 'p'.repeat(3900);
  const cases: [Record<string, unknown>, string][] = [
    [{ user: 'alice', pass: huge }, AUTH_VIOLATION],
    [{ user: 'bob', pass: huge }, AUTH_VIOLATION],
    [{ user: 'evil\u0000\r\n-ERR \u001b[31mname-canary', pass: 'x' }, AUTH_VIOLATION],
    [{ user: 'alice\u0000', pass: 'pa55' }, AUTH_VIOLATION],
    [{ user: '', pass: '' }, AUTH_VIOLATION],
    // A field of the wrong type fails the CONNECT itself: closed without a readable -ERR.
    [{ user: 42, pass: 'pa55' }, ''],
    [{ user: 'alice', pass: { $gt: '' } }, ''],
    // Past max_control_line (4096) the CONNECT is not even read.
    [{ user: 'alice', pass: 'p'.repeat(5000) }, "-ERR 'maximum control line exceeded'\r\n"],
  ];
  for (const side of all) {
    for (const [connect, outcome] of cases) {
      assert.equal(await refusal(t, side, connect), outcome, `${side.name}: ${JSON.stringify(connect).slice(0, 80)}`);
    }
  }
  const logs = all[0].logs();
  assert.ok(
    !logs.includes('name-canary') && !logs.includes(huge.slice(0, 100)),
    'neither the name nor the password reached the log',
  );
  assert.match(logs, /"reason":"unknown user"/);
});

test('a flood of wrong bcrypt passwords: the event loop keeps running, and checks of connections gone before their turn are never computed', async (t) => {
  // Cost 12: one compare takes hundreds of ms, so one on the event loop would show in its delay at once.
  const costly = bcrypt.hashSync('right', 12);
  const started = process.hrtime.bigint();
  bcrypt.compareSync('calibrate', costly);
  const compareMs = Number(process.hrtime.bigint() - started) / 1e6;
  const svc = await ours(t, [{ user: 'u', password: costly }], { auth_timeout: 2000 });
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  // More compares than fit in auth_timeout: those still waiting when their connection times out must be dropped.
  const FLOOD = Math.max(20, Math.ceil((3 * 2000) / compareMs));
  const connect = `CONNECT ${JSON.stringify({ verbose: false, user: 'u', pass: 'wrong' })}\r\nPING\r\n`;
  const flood = await Promise.all(
    Array.from({ length: FLOOD }, async () => {
      const c = await raw(t, svc);
      c.send(connect);
      return c;
    }),
  );
  const outcomes = new Map<string, number>();
  for (const c of flood) {
    const { rest } = await c.expectClosed(3 * WAIT_MS);
    outcomes.set(rest, (outcomes.get(rest) ?? 0) + 1);
  }
  delay.disable();
  const maxDelayMs = delay.max / 1e6;
  t.diagnostic(
    `one cost-12 compare ${compareMs.toFixed(0)} ms; ${FLOOD} wrong passwords: ${JSON.stringify([...outcomes])}; event loop delay max ${maxDelayMs.toFixed(0)} ms`,
  );
  assert.deepEqual(
    [...outcomes.keys()].sort(),
    ["-ERR 'Authentication Timeout'\r\n", AUTH_VIOLATION].sort(),
    'some refused by their compare, the rest timed out waiting',
  );
  assert.ok(
    maxDelayMs < compareMs / 2,
    `the loop never waited for a compare (max delay ${maxDelayMs.toFixed(0)} ms, one compare ${compareMs.toFixed(0)} ms)`,
  );
  // Had the timed-out connections' compares stayed queued, the worker would be busy far past this one's auth_timeout.
  const asked = Date.now();
  await login(t, svc, 'u', 'right');
  t.diagnostic(`the right password was admitted ${Date.now() - asked} ms after its CONNECT`);
});
