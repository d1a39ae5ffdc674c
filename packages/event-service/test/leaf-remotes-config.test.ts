// [[leafnodes.remotes]] in a TOML file: what loads (URLs normalised, paths resolved against the file), every mistake
// refused as `file:line: key: reason` (the element's key), credentials that exclude one another, the leafnode port
// that remotes alone do not open, secrets redacted when printed, restart-only on reload, and random input refused
// with a ConfigError only.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigError } from '@event-broker/shared';
import {
  formatConfig,
  leafnodeListener,
  loadServiceConfig,
  planServiceReload,
  resolveServiceConfig,
} from '../src/config.js';
import { tmpDir } from '@event-broker/test-support/tmp';
import { assertOneProblem, refused } from './helpers/service-config.js';

function load(
  t: TestContext,
  lines: string[],
): { file: string; dir: string; run: () => ReturnType<typeof loadServiceConfig> } {
  const dir = tmpDir(t, 'remotes-config-');
  const file = path.join(dir, 'service.toml');
  fs.writeFileSync(file, lines.join('\n') + '\n');
  return { file, dir, run: () => loadServiceConfig({ configPath: file }) };
}

describe('[[leafnodes.remotes]] configuration', () => {
  it('loads URLs (host:port meaning nats://, port 7422 when absent), TLS paths and credentials relative to the file', (t: TestContext) => {
    const { dir, run } = load(t, [
      '[[leafnodes.remotes]]',
      'urls = ["hub-a.example:7422", "tls://hub-b.example", "nats://10.0.0.5:4248"]',
      'cert_path = "certs/leaf.pem"',
      'key_path = "certs/leaf-key.pem"',
      'root_ca_path = "/etc/ca.pem"',
      'user = "leaf"',
      'password = "pw"',
      '',
      '[[leafnodes.remotes]]',
      'urls = "127.0.0.1:7500"',
      'credentials = "leaf.creds"',
    ]);
    const { config } = run();
    const [a, b] = config.leafnodes!.remotes!;
    assert.deepEqual(a!.urls, ['nats://hub-a.example:7422', 'tls://hub-b.example:7422', 'nats://10.0.0.5:4248']);
    assert.equal(a!.cert_path, path.join(dir, 'certs/leaf.pem'));
    assert.equal(a!.root_ca_path, '/etc/ca.pem');
    assert.equal(a!.user, 'leaf');
    assert.deepEqual(b!.urls, ['nats://127.0.0.1:7500']);
    assert.equal(b!.credentials, path.join(dir, 'leaf.creds'));
    // Remotes alone open no leafnode port (nats-server opens none without a port).
    assert.equal(config.leafnodes!.port, undefined);
    assert.equal(leafnodeListener(config.leafnodes), undefined);
  });

  it('the leafnode port: [leafnodes] alone listens on 7422 as before; with remotes, only when port is given', () => {
    const listen = (leafnodes: object) => leafnodeListener(resolveServiceConfig({ leafnodes }).leafnodes);
    assert.deepEqual(listen({}), { host: '127.0.0.1', port: 7422 });
    assert.deepEqual(listen({ host: '127.0.0.1', port: 0 }), { host: '127.0.0.1', port: 0 });
    assert.equal(listen({ remotes: [{ urls: ['nats://h:1'] }] }), undefined);
    assert.deepEqual(listen({ port: 7423, remotes: [{ urls: ['nats://h:1'] }] }), { host: '127.0.0.1', port: 7423 });
    assert.equal(leafnodeListener(resolveServiceConfig({}).leafnodes), undefined);
  });

  it('a non-loopback leafnode host that names nobody is refused only when the port listens', (t: TestContext) => {
    // No port with remotes: nothing listens, nothing to refuse.
    load(t, ['[leafnodes]', 'host = "0.0.0.0"', '', '[[leafnodes.remotes]]', 'urls = ["nats://h:1"]']).run();
    const { file, run } = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      'port = 7422',
      '',
      '[[leafnodes.remotes]]',
      'urls = ["nats://h:1"]',
    ]);
    assertOneProblem(refused(run), file, 2, 'leafnodes.host', 'ECONFIG_VALUE', /\[leafnodes\.authorization\]/);
  });

  const cases: { what: string; lines: string[]; line: number; key: string; code: string; reason: RegExp }[] = [
    {
      what: 'no urls',
      lines: ['cert_path = "c.pem"', 'key_path = "k.pem"'],
      line: 1,
      key: 'leafnodes.remotes[0].urls',
      code: 'ECONFIG_MISSING',
      reason: /is required/,
    },
    {
      what: 'an empty list',
      lines: ['urls = []'],
      line: 2,
      key: 'leafnodes.remotes[0].urls',
      code: 'ECONFIG_VALUE',
      reason: /at least one/,
    },
    {
      what: 'an http URL',
      lines: ['urls = ["nats://ok:1", "http://hub:7422"]'],
      line: 2,
      key: 'leafnodes.remotes[0].urls[1]',
      code: 'ECONFIG_VALUE',
      reason: /scheme must be nats:\/\/ or tls:\/\//,
    },
    {
      what: 'credentials in a URL',
      lines: ['urls = ["nats://u:secret@hub:7422"]'],
      line: 2,
      key: 'leafnodes.remotes[0].urls[0]',
      code: 'ECONFIG_VALUE',
      reason: /must not carry credentials/,
    },
    {
      what: 'port 0',
      lines: ['urls = ["hub:0"]'],
      line: 2,
      key: 'leafnodes.remotes[0].urls[0]',
      code: 'ECONFIG_VALUE',
      reason: /port 0/,
    },
    {
      what: 'a number for urls',
      lines: ['urls = 7422'],
      line: 2,
      key: 'leafnodes.remotes[0].urls',
      code: 'ECONFIG_TYPE',
      reason: /must be an array of nats/,
    },
    {
      what: 'a misspelt key',
      lines: ['urls = ["h:1"]', 'tokn = "x"'],
      line: 3,
      key: 'leafnodes.remotes[0].tokn',
      code: 'ECONFIG_UNKNOWN_KEY',
      reason: /did you mean "token"/,
    },
    {
      what: 'a token with user',
      lines: ['urls = ["h:1"]', 'user = "u"', 'password = "p"', 'token = "t"'],
      line: 5,
      key: 'leafnodes.remotes[0].token',
      code: 'ECONFIG_VALUE',
      reason: /conflicts with user/,
    },
    {
      what: 'credentials with a token',
      lines: ['urls = ["h:1"]', 'token = "t"', 'credentials = "a.creds"'],
      line: 4,
      key: 'leafnodes.remotes[0].credentials',
      code: 'ECONFIG_VALUE',
      reason: /conflicts with token/,
    },
    {
      what: 'credentials with user',
      lines: ['urls = ["h:1"]', 'user = "u"', 'password = "p"', 'credentials = "a.creds"'],
      line: 5,
      key: 'leafnodes.remotes[0].credentials',
      code: 'ECONFIG_VALUE',
      reason: /conflicts with user/,
    },
    {
      what: 'a user without password',
      lines: ['urls = ["h:1"]', 'user = "u"'],
      line: 1,
      key: 'leafnodes.remotes[0].password',
      code: 'ECONFIG_MISSING',
      reason: /required when user is set/,
    },
    {
      what: 'cert_path without key_path',
      lines: ['urls = ["h:1"]', 'cert_path = "c.pem"'],
      line: 1,
      key: 'leafnodes.remotes[0].key_path',
      code: 'ECONFIG_MISSING',
      reason: /required when cert_path is set/,
    },
    {
      what: 'an empty token',
      lines: ['urls = ["h:1"]', 'token = ""'],
      line: 3,
      key: 'leafnodes.remotes[0].token',
      code: 'ECONFIG_VALUE',
      reason: /must not be empty/,
    },
  ];
  for (const c of cases) {
    it(`refuses ${c.what} as file:line: key: reason`, (t: TestContext) => {
      const { file, run } = load(t, ['[[leafnodes.remotes]]', ...c.lines]);
      assertOneProblem(refused(run), file, c.line, c.key, c.code, c.reason);
    });
  }

  it('names the entry of the second remote, and refuses remotes that are not tables', (t: TestContext) => {
    const { file, run } = load(t, [
      '[[leafnodes.remotes]]',
      'urls = ["h:1"]',
      '',
      '[[leafnodes.remotes]]',
      'urls = ["h:2"]',
      'token = "t"',
      'user = "u"',
      'password = "p"',
    ]);
    assertOneProblem(refused(run), file, 6, 'leafnodes.remotes[1].token', 'ECONFIG_VALUE', /conflicts with user/);
    const notTables = load(t, ['[leafnodes]', 'remotes = ["nats://h:1"]']);
    assertOneProblem(
      refused(notTables.run),
      notTables.file,
      2,
      'leafnodes.remotes[0]',
      'ECONFIG_TYPE',
      /must be a table, got "nats:\/\/h:1"/,
    );
    const none = load(t, ['[leafnodes]', 'remotes = []']);
    assertOneProblem(refused(none.run), none.file, 2, 'leafnodes.remotes', 'ECONFIG_VALUE', /at least 1 table/);
  });

  it('prints tokens and passwords redacted and reads its own output back', (t: TestContext) => {
    const { run } = load(t, [
      '[[leafnodes.remotes]]',
      'urls = ["hub:7422"]',
      'user = "leaf"',
      'password = "hunter2-secret"',
      '',
      '[[leafnodes.remotes]]',
      'urls = ["tls://hub2:7422"]',
      'token = "tok-secret-9"',
    ]);
    const { config } = run();
    const text = formatConfig(config);
    assert.doesNotMatch(text, /hunter2-secret|tok-secret-9/);
    assert.match(text, /remotes = \[\{ urls = \["nats:\/\/hub:7422"\], user = "leaf", password = "<redacted>" \}/);
    const again = load(t, text.split('\n'));
    const back = again.run().config.leafnodes!.remotes!;
    assert.deepEqual(back[0]!.urls, ['nats://hub:7422']);
    assert.equal(back[1]!.token, '<redacted>');
  });

  it('a change of remotes waits for a restart', () => {
    const running = resolveServiceConfig({ leafnodes: { remotes: [{ urls: ['nats://a:1'] }] } });
    const next = resolveServiceConfig({ leafnodes: { remotes: [{ urls: ['nats://b:1'] }] } });
    const plan = planServiceReload(running, next);
    assert.ok(
      plan.restart.some((c) => c.key.startsWith('leafnodes')),
      JSON.stringify(plan.restart),
    );
    assert.deepEqual(plan.config.leafnodes!.remotes![0]!.urls, ['nats://a:1']);
  });

  it('random remotes values are accepted or refused with a ConfigError, never anything else', () => {
    const scalar = fc.oneof(
      fc.string({ maxLength: 30 }),
      fc.integer(),
      fc.boolean(),
      fc.constantFrom('nats://h:1', 'tls://h', 'h:65536', 'nats://[::1]:7', '://', 'nats://u:p@h', '', ' '),
    );
    const entry = fc.dictionary(
      fc.constantFrom('urls', 'user', 'password', 'token', 'credentials', 'cert_path', 'key_path', 'root_ca_path', 'x'),
      fc.oneof(scalar, fc.array(scalar, { maxLength: 3 })),
    );
    fc.assert(
      fc.property(fc.oneof(scalar, fc.array(fc.oneof(entry, scalar), { maxLength: 3 })), (remotes) => {
        try {
          resolveServiceConfig({ leafnodes: { remotes } } as never);
        } catch (err) {
          assert.ok(err instanceof ConfigError, String(err));
        }
      }),
      { numRuns: 500 },
    );
  });
});
