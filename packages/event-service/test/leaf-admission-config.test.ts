// The [leafnodes] settings of leaf admission (issue 11, finding 2): the port binds loopback by default; off loopback
// a port that names nobody (no credentials, no verify_and_map; TLS alone does not count) is refused with
// file:line: key, by the loader and by the CLI (exit 2); authorization settings that cannot work are refused with
// their line; --print-config and reload diffs show user names, never a password or token. Who attaches with
// settings that are accepted is leaf-admission.test.ts.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, configChanges } from '@event-broker/shared';
import { loadServiceConfig, resolveServiceConfig } from '../src/config.js';
import { startEventService } from '../src/index.js';
import { connectRaw } from '@event-broker/test-support/raw';
import { tmpDir } from '@event-broker/test-support/tmp';
import { runToExit } from './helpers/cli.js';

const HOST = '127.0.0.1';

// --- configuration ----------------------------------------------------------------------------------------------

describe('[leafnodes] configuration', () => {
  it('binds loopback unless told otherwise', async (t: TestContext) => {
    assert.equal(resolveServiceConfig({ leafnodes: {} }).leafnodes?.host, '127.0.0.1');
    const svc = await startEventService({
      service: { host: HOST, port: 0 },
      leafnodes: { port: 0 },
      log: { level: 'silent' },
    });
    t.after(() => svc.close());
    const conn = await connectRaw({ host: '127.0.0.1', port: svc.leafnodePort! });
    t.after(() => conn.close());
    assert.equal(conn.socket.remoteAddress, '127.0.0.1');
  });

  function load(t: TestContext, lines: string[]): { file: string; run: () => unknown } {
    const dir = tmpDir(t, 'leaf-config-');
    const file = path.join(dir, 'service.toml');
    fs.writeFileSync(file, lines.join('\n') + '\n');
    return { file, run: () => loadServiceConfig({ configPath: file }) };
  }

  it('a port that authenticates nobody on a non-loopback address is refused, naming file, line and key', (t: TestContext) => {
    for (const host of ['0.0.0.0', '::', '192.0.2.10', 'leaf.example']) {
      const { file, run } = load(t, [
        '[service]',
        'token = "client-token"',
        '',
        '[leafnodes]',
        `host = "${host}"`,
        'port = 7422',
      ]);
      assert.throws(
        run,
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.match(err.message, new RegExp(`${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:5: leafnodes\\.host: `));
          assert.match(err.message, /\[leafnodes\.authorization\]/);
          return true;
        },
        host,
      );
    }
  });

  it('TLS alone (any certificate of the CA) does not count as naming who may attach off loopback', (t: TestContext) => {
    const { file, run } = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
    ]);
    assert.throws(
      run,
      (err: unknown) => err instanceof ConfigError && err.message.includes(`${file}:2: leafnodes.host: `),
    );
  });

  it('off loopback, credentials or verify_and_map make the port acceptable', (t: TestContext) => {
    const a = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '[leafnodes.authorization]',
      'user = "gw"',
      'password = "pw"',
    ]);
    assert.doesNotThrow(a.run);
    const b = load(t, [
      '[leafnodes]',
      'host = "0.0.0.0"',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
      'verify_and_map = true',
      '[[leafnodes.authorization.users]]',
      'user = "CN=event-gateway-upstream"',
    ]);
    assert.doesNotThrow(b.run);
  });

  it('authorization settings that cannot work are refused with their line', (t: TestContext) => {
    const cases: Array<[string[], RegExp]> = [
      [['[leafnodes.authorization]', 'user = "gw"'], /:3: leafnodes\.authorization\.password: /],
      [['[leafnodes.authorization]', 'password = "pw"'], /:3: leafnodes\.authorization\.user: /],
      [
        ['[leafnodes.authorization]', 'token = "t"', 'user = "gw"', 'password = "pw"'],
        /:3: leafnodes\.authorization\.token: /,
      ],
      [
        [
          '[leafnodes.authorization]',
          'user = "gw"',
          'password = "pw"',
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "x"',
        ],
        /leafnodes\.authorization\.users: /,
      ],
      [['[[leafnodes.authorization.users]]', 'user = "b"'], /:2: leafnodes\.authorization\.users\[0\]\.password: /],
      [
        [
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "1"',
          '[[leafnodes.authorization.users]]',
          'user = "b"',
          'password = "2"',
        ],
        /:6: leafnodes\.authorization\.users\[1\]\.user: .*twice/,
      ],
      [
        [
          '[leafnodes.tls]',
          'cert_path = "s.pem"',
          'key_path = "k.pem"',
          'root_ca_path = "ca.pem"',
          'verify_and_map = true',
        ],
        /:6: leafnodes\.tls\.verify_and_map: /,
      ],
    ];
    for (const [lines, re] of cases) {
      const { run } = load(t, ['[leafnodes]', ...lines]);
      assert.throws(
        run,
        (err: unknown) => err instanceof ConfigError && re.test(err.message),
        `${lines.join(' / ')} → ${re}`,
      );
    }
  });

  it('the CLI refuses the open non-loopback port (exit 2, file:line: key: reason on stderr)', async (t: TestContext) => {
    const { file } = load(t, ['[service]', 'port = 0', '[leafnodes]', 'host = "0.0.0.0"', 'port = 0']);
    const r = await runToExit(t, ['--config', file]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, new RegExp(`${path.basename(file)}:4: leafnodes\\.host: `));
  });

  it('--print-config redacts the leaf password and token but keeps user names', async (t: TestContext) => {
    const { file } = load(t, [
      '[leafnodes.authorization]',
      'token = "tok-visible-nowhere"',
      '[leafnodes.tls]',
      'cert_path = "s.pem"',
      'key_path = "k.pem"',
      'root_ca_path = "ca.pem"',
    ]);
    const r = await runToExit(t, ['--config', file, '--print-config']);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(r.stdout, /tok-visible-nowhere/);
    assert.match(r.stdout, /token = "<redacted>"/);
    const { file: f2 } = load(t, [
      '[[leafnodes.authorization.users]]',
      'user = "gw-b"',
      'password = "pw-visible-nowhere"',
    ]);
    const r2 = await runToExit(t, ['--config', f2, '--print-config']);
    assert.equal(r2.code, 0, r2.stderr);
    assert.doesNotMatch(r2.stdout, /pw-visible-nowhere/);
    assert.match(r2.stdout, /gw-b/);
  });
});

describe('[leafnodes] settings in reload diffs', () => {
  it('a changed users list is shown with each password redacted (config reload and `config patch` print these)', () => {
    const before = resolveServiceConfig({
      leafnodes: { authorization: { users: [{ user: 'gw', password: 'old-secret' }] } } as never,
    });
    const next = resolveServiceConfig({
      leafnodes: {
        authorization: {
          users: [
            { user: 'gw', password: 'new-secret' },
            { user: 'b', password: 'b-secret' },
          ],
        },
      } as never,
    });
    const { restart, applied } = configChanges(before, next, { inForce: before });
    const shown = JSON.stringify([...restart, ...applied]);
    assert.match(shown, /leafnodes\.authorization\.users/);
    assert.doesNotMatch(shown, /secret/);
    assert.match(shown, /"user":"b"/);
  });
});
