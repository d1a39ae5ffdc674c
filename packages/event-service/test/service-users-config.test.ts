// [[service.users]] in a configuration file: every problem reported as file:line: key: reason without showing a
// password, a token beside users refused as nats-server refuses it, and users printed redacted, read back the same
// and logged redacted by a reload's plan.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { formatConfig, loadServiceConfig, planServiceReload } from '../src/config.js';
import { hash } from './helpers/service-users.js';

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
