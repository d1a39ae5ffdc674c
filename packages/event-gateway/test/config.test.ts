// The gateway's settings on real files: defaults, patches, paths relative to the file naming them, upstream URLs
// normalised, and every kind of mistake reported as `file:line: key: reason`, including the [auth] key read at
// load (a missing file, a private key, algorithms the key cannot verify, `none`, the HS/RS confusion).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';
import { ConfigError } from '@event-broker/shared';
import { formatGatewayConfig, loadGatewayConfig, resolveGatewayConfig } from '../src/config.js';
import { parseUpstreamUrl } from '../src/config-decoders.js';
import type { GatewayConfig, GatewayConfigInput } from '../src/config-types.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { jwks, keyPair } from './helpers/keys.js';

const MiB = 1024 * 1024;

function refused(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${String(err)}`);
    return err;
  }
  assert.fail('the configuration was accepted');
}

/** Asserts a single problem and that the message reads `file:line: key: ...reason...`. */
function assertOneProblem(
  err: ConfigError,
  file: string,
  line: number,
  key: string,
  code: string,
  reason: RegExp,
): void {
  assert.equal(err.problems.length, 1, err.message);
  const p = err.problems[0]!;
  assert.deepEqual([p.file, p.line, p.key, p.code], [file, line, key, code], err.message);
  assert.match(p.reason, reason);
  assert.ok(err.message.includes(`${file}:${line}: ${key}: ${p.reason}`), err.message);
}

interface Files {
  dir: string;
  /** conf/ holds the TOML; keys/ beside it, named relatively. */
  conf: string;
}

/** A directory with an RSA public key, a secret, a JWKS and the TLS files (contents only matter for [auth]). */
async function files(t: TestContext): Promise<Files> {
  const dir = tmpDir(t, 'gateway-config-');
  const rsa = keyPair('rsa');
  write(dir, 'keys/rsa.pem', rsa.publicPem);
  write(dir, 'keys/rsa-private.pem', rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string);
  write(dir, 'keys/ec.pem', keyPair('ec').publicPem);
  write(dir, 'keys/secret', `${crypto.randomBytes(24).toString('hex')}\n`);
  write(dir, 'keys/short-secret', 'too-short\n');
  write(dir, 'keys/jwks.json', await jwks([{ key: keyPair('ec').publicKey, kid: 'k1' }]));
  return { dir, conf: path.join(dir, 'conf') };
}

/** The smallest complete file: [tls], [auth] and [upstream]; `auth` lines replace the default key line. */
function minimal(auth: string[] = ['public_key_path = "../keys/rsa.pem"'], extra: string[] = []): string[] {
  return [
    '[tls]', // 1
    'cert_path = "../tls/server.pem"', // 2
    'key_path = "../tls/server-key.pem"', // 3
    'root_ca_path = "../tls/ca.pem"', // 4
    '', // 5
    '[auth]', // 6
    ...auth, // 7...
    'issuer = "https://issuer.test"',
    'audience = ["event-gateway", "other"]',
    '',
    '[upstream]',
    'urls = ["nats://127.0.0.1", "tls://event-service.internal:7500"]', // 12 with one auth line
    ...extra,
  ];
}

function conf(f: Files, name: string, lines: string[]): string {
  return write(f.conf, name, `${lines.join('\n')}\n`);
}

test('a minimal file gets nats-server defaults, paths relative to the file, normalised URLs', async (t) => {
  const f = await files(t);
  const file = conf(f, 'gateway.toml', minimal());
  const { config, sources } = loadGatewayConfig({ configPath: file });
  const expected: GatewayConfig = {
    gateway: {
      host: '127.0.0.1',
      port: 4222,
      max_connections: 65_536,
      max_payload: MiB,
      max_control_line: 4096,
      max_pending: 64 * MiB,
      max_subscriptions: 0,
      default_max_subscriptions: 0,
      ping_interval: 120_000,
      ping_max: 2,
      write_deadline: 10_000,
      auth_timeout: 3_000,
      lame_duck_duration: 25_000,
      lame_duck_grace_period: 10_000,
    },
    tls: {
      cert_path: path.join(f.dir, 'tls/server.pem'),
      key_path: path.join(f.dir, 'tls/server-key.pem'),
      root_ca_path: path.join(f.dir, 'tls/ca.pem'),
      verify: true,
      min_version: 'TLSv1.2',
    },
    auth: {
      public_key_path: path.join(f.dir, 'keys/rsa.pem'),
      issuer: ['https://issuer.test'],
      audience: ['event-gateway', 'other'],
      clock_tolerance: 0,
      revoked: [],
    },
    upstream: {
      urls: ['nats://127.0.0.1:7422', 'tls://event-service.internal:7500'],
      buffer_bytes: 8 * MiB,
      auth_stamp: 'all',
      reconnect_delay: 1_000,
      reconnect_max_delay: 10_000,
    },
    log: { format: 'text', level: 'info' },
  };
  assert.deepEqual(config, expected);
  assert.deepEqual(sources.get('auth.public_key_path'), { kind: 'base', file, line: 7 });
  assert.deepEqual(sources.get('gateway.port'), { kind: 'default' });
});

test('every section and unit spelling, with a patch over the base', async (t) => {
  const f = await files(t);
  const base = conf(f, 'gateway.toml', [
    ...minimal(
      [
        'jwks_path = "../keys/jwks.json"',
        'algorithms = ["ES256"]',
        'clock_tolerance = "5s"',
        'revoked = ["jti-1", "jti-2"]',
      ],
      [
        'cert_path = "../tls/upstream.pem"',
        'key_path = "../tls/upstream-key.pem"',
        'buffer_bytes = "16MB"',
        'reconnect_delay = "250ms"',
        'reconnect_max_delay = 5',
      ],
    ),
    '[gateway]',
    'host = "127.0.0.1"',
    'port = 0',
    'ping_interval = "30s"',
    'server_name = "gw-1"',
    '[websocket]',
    'port = 8443',
    '[monitor]',
    'port = 8222',
    '[log]',
    'format = "json"',
  ]);
  const patch = write(
    f.dir,
    'patches/prod.toml',
    [
      '[gateway]',
      'port = 4443',
      'max_payload = "2MB"',
      '[tls]',
      'min_version = "TLSv1.3"',
      '[auth]',
      'revoked = []',
    ].join('\n'),
  );
  const { config, sources } = loadGatewayConfig({ configPath: base, patchPaths: [patch] });
  assert.equal(config.gateway.host, '127.0.0.1');
  assert.equal(config.gateway.port, 4443);
  assert.equal(config.gateway.max_payload, 2 * MiB);
  assert.equal(config.gateway.ping_interval, 30_000);
  assert.equal(config.gateway.server_name, 'gw-1');
  assert.deepEqual(config.websocket, { host: '127.0.0.1', port: 8443, same_origin: false, allowed_origins: [] });
  assert.deepEqual(config.monitor, {
    host: '127.0.0.1',
    port: 8222,
    allowed_origins: [],
    allowed_hosts: [],
    max_connections: 128,
  });
  assert.equal(config.tls.min_version, 'TLSv1.3');
  assert.deepEqual(config.auth.algorithms, ['ES256']);
  assert.equal(config.auth.clock_tolerance, 5_000);
  assert.deepEqual(config.auth.revoked, []);
  assert.equal(config.upstream.cert_path, path.join(f.dir, 'tls/upstream.pem'));
  assert.equal(config.upstream.buffer_bytes, 16 * MiB);
  assert.equal(config.upstream.reconnect_delay, 250);
  assert.equal(config.upstream.reconnect_max_delay, 5_000, 'an integer duration in a file is seconds');
  assert.equal(config.log.format, 'json');
  assert.deepEqual(sources.get('gateway.port'), { kind: 'patch', file: patch, line: 2, patch: 0 });
});

test('[auth] needs exactly one key setting', async (t) => {
  const f = await files(t);
  const none = conf(f, 'none.toml', minimal([]));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: none })),
    none,
    6,
    'auth',
    'ECONFIG_MISSING',
    /one of jwks_path, public_key_path or secret_path/,
  );
  const two = conf(f, 'two.toml', minimal(['public_key_path = "../keys/rsa.pem"', 'secret_path = "../keys/secret"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: two })),
    two,
    8,
    'auth.secret_path',
    'ECONFIG_VALUE',
    /conflicts with public_key_path/,
  );
});

test('"none", unknown names and HS/RS confusion in algorithms are refused at load', async (t) => {
  const f = await files(t);
  const none = conf(f, 'none.toml', minimal(['public_key_path = "../keys/rsa.pem"', 'algorithms = ["RS256", "none"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: none })),
    none,
    8,
    'auth.algorithms[1]',
    'ECONFIG_VALUE',
    /"none" is never allowed/,
  );
  const unknown = conf(f, 'unknown.toml', minimal(['public_key_path = "../keys/rsa.pem"', 'algorithms = ["RS257"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: unknown })),
    unknown,
    8,
    'auth.algorithms[0]',
    'ECONFIG_VALUE',
    /unknown algorithm "RS257"/,
  );
  const hsWithRsa = conf(
    f,
    'hs.toml',
    minimal(['public_key_path = "../keys/rsa.pem"', 'algorithms = ["RS256", "HS256"]']),
  );
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: hsWithRsa })),
    hsWithRsa,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /HS256 needs a shared secret/,
  );
  const rsWithSecret = conf(f, 'rs.toml', minimal(['secret_path = "../keys/secret"', 'algorithms = ["RS256"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: rsWithSecret })),
    rsWithSecret,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /RS256 needs a public key/,
  );
  const hsWithJwks = conf(f, 'hsjwks.toml', minimal(['jwks_path = "../keys/jwks.json"', 'algorithms = ["HS512"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: hsWithJwks })),
    hsWithJwks,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /HS512 needs a shared secret/,
  );
});

test('the key file is read at load: missing, private, wrong type for the algorithms, too short a secret, bad JWKS', async (t) => {
  const f = await files(t);
  const missing = conf(f, 'missing.toml', minimal(['public_key_path = "../keys/nope.pem"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: missing })),
    missing,
    7,
    'auth.public_key_path',
    'ECONFIG_FILE',
    /nope\.pem: no such file/,
  );
  const priv = conf(f, 'priv.toml', minimal(['public_key_path = "../keys/rsa-private.pem"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: priv })),
    priv,
    7,
    'auth.public_key_path',
    'ECONFIG_VALUE',
    /holds a private key/,
  );
  const esOnRsa = conf(
    f,
    'es.toml',
    minimal(['public_key_path = "../keys/rsa.pem"', 'algorithms = ["RS256", "ES256"]']),
  );
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: esOnRsa })),
    esOnRsa,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /ES256 cannot be verified with an RSA key .*it verifies RS256, RS384, RS512, PS256, PS384, PS512/,
  );
  const rsOnEc = conf(f, 'rsec.toml', minimal(['public_key_path = "../keys/ec.pem"', 'algorithms = ["RS256"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: rsOnEc })),
    rsOnEc,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /RS256 cannot be verified with an EC P-256 key/,
  );
  const short = conf(f, 'short.toml', minimal(['secret_path = "../keys/short-secret"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: short })),
    short,
    7,
    'auth.secret_path',
    'ECONFIG_VALUE',
    /holds 9 bytes; HS256 needs a secret of at least 32 bytes/,
  );

  write(f.dir, 'keys/oct.json', JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0', kid: 's' }] }));
  const oct = conf(f, 'oct.toml', minimal(['jwks_path = "../keys/oct.json"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: oct })),
    oct,
    7,
    'auth.jwks_path',
    'ECONFIG_VALUE',
    /keys\[0\] \(kid "s"\) is a symmetric \(oct\) key/,
  );
  const withPrivate = { ...keyPair('ec').privateKey.export({ format: 'jwk' }), kid: 'p' };
  write(f.dir, 'keys/private.json', JSON.stringify({ keys: [withPrivate] }));
  const privJwks = conf(f, 'privjwks.toml', minimal(['jwks_path = "../keys/private.json"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: privJwks })),
    privJwks,
    7,
    'auth.jwks_path',
    'ECONFIG_VALUE',
    /holds private key material \("d"\)/,
  );
  write(f.dir, 'keys/empty.json', '{"keys": []}');
  const empty = conf(f, 'empty.toml', minimal(['jwks_path = "../keys/empty.json"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: empty })),
    empty,
    7,
    'auth.jwks_path',
    'ECONFIG_VALUE',
    /has no keys/,
  );
  const rsOnJwks = conf(f, 'rsjwks.toml', minimal(['jwks_path = "../keys/jwks.json"', 'algorithms = ["RS256"]']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: rsOnJwks })),
    rsOnJwks,
    8,
    'auth.algorithms',
    'ECONFIG_VALUE',
    /RS256 cannot be verified with the keys of this set/,
  );
});

test('upstream URLs: scheme, credentials, paths; cert without key; buffer smaller than a message', async (t) => {
  const f = await files(t);
  const urls = (u: string): string[] => minimal(undefined).map((l) => (l.startsWith('urls =') ? `urls = ${u}` : l));
  const scheme = conf(f, 'scheme.toml', urls('["nats://a:1", "http://b:2"]'));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: scheme })),
    scheme,
    12,
    'upstream.urls[1]',
    'ECONFIG_VALUE',
    /scheme must be nats:\/\/ or tls:\/\//,
  );
  const creds = conf(f, 'creds.toml', urls('["nats://user:pw@a:1"]'));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: creds })),
    creds,
    12,
    'upstream.urls[0]',
    'ECONFIG_VALUE',
    /must not carry credentials/,
  );
  const empty = conf(f, 'empty.toml', urls('[]'));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: empty })),
    empty,
    12,
    'upstream.urls',
    'ECONFIG_VALUE',
    /at least one upstream URL/,
  );
  const half = conf(f, 'half.toml', minimal(undefined, ['cert_path = "../tls/up.pem"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: half })),
    half,
    13,
    'upstream.key_path',
    'ECONFIG_MISSING',
    /is required when cert_path is set/,
  );
  const small = conf(f, 'small.toml', minimal(undefined, ['buffer_bytes = "512KB"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: small })),
    small,
    13,
    'upstream.buffer_bytes',
    'ECONFIG_RANGE',
    /at least gateway\.max_payload \(1048576 bytes\)/,
  );
  const backoff = conf(f, 'backoff.toml', minimal(undefined, ['reconnect_delay = "5s"', 'reconnect_max_delay = "1s"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: backoff })),
    backoff,
    14,
    'upstream.reconnect_max_delay',
    'ECONFIG_RANGE',
    /at least reconnect_delay/,
  );

  assert.deepEqual(parseUpstreamUrl('tls://[::1]'), {
    ok: true,
    url: 'tls://[::1]:7422',
    tls: true,
    host: '[::1]',
    port: 7422,
  });
  assert.equal(parseUpstreamUrl('nats://a:7422/path').ok, false);
});

test('gateway.max_control_line is at most 1 MiB: a larger value is refused naming the key and the bound', async (t) => {
  const f = await files(t);
  // minimal() with one auth line ends at line 12; [gateway] follows.
  const file = conf(f, 'gateway.toml', minimal(undefined, ['[gateway]', 'max_control_line = "1GB"']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: file })),
    file,
    14,
    'gateway.max_control_line',
    'ECONFIG_RANGE',
    /to 1MB, got "1GB"/,
  );
  const cap = conf(f, 'cap.toml', minimal(undefined, ['[gateway]', 'max_control_line = 1048576']));
  assert.equal(
    loadGatewayConfig({ configPath: cap }).config.gateway.max_control_line,
    MiB,
    'the bound itself is accepted',
  );
});

test('gateway.default_max_payload and default_max_subscriptions read as sizes and counts, and may not exceed the limits they sit under', async (t) => {
  const f = await files(t);
  const ok = conf(
    f,
    'ok.toml',
    minimal(undefined, [
      '[gateway]',
      'max_subscriptions = 100',
      'default_max_subscriptions = 10',
      'default_max_payload = "64KB"',
    ]),
  );
  const g = loadGatewayConfig({ configPath: ok }).config.gateway;
  assert.deepEqual([g.default_max_subscriptions, g.default_max_payload], [10, 64 * 1024]);
  // Without max_subscriptions (0: no limit) any default is under it.
  const free = conf(f, 'free.toml', minimal(undefined, ['[gateway]', 'default_max_subscriptions = 5000']));
  assert.equal(loadGatewayConfig({ configPath: free }).config.gateway.default_max_subscriptions, 5000);
  const pay = conf(
    f,
    'pay.toml',
    minimal(undefined, ['[gateway]', 'max_payload = "64KB"', 'default_max_payload = "1MB"']),
  );
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: pay })),
    pay,
    15,
    'gateway.default_max_payload',
    'ECONFIG_RANGE',
    /must not exceed max_payload \(65536 bytes\), got 1048576 bytes/,
  );
  const subs = conf(
    f,
    'subs.toml',
    minimal(undefined, ['[gateway]', 'max_subscriptions = 10', 'default_max_subscriptions = 11']),
  );
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: subs })),
    subs,
    15,
    'gateway.default_max_subscriptions',
    'ECONFIG_RANGE',
    /must not exceed max_subscriptions \(10\), got 11/,
  );
  const zero = conf(f, 'zero.toml', minimal(undefined, ['[gateway]', 'default_max_payload = 0']));
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: zero })),
    zero,
    14,
    'gateway.default_max_payload',
    'ECONFIG_RANGE',
    /./,
  );
});

test('[tls]: required, and verify (on by default) needs root_ca_path', async (t) => {
  const f = await files(t);
  const noTls = conf(f, 'notls.toml', minimal().slice(5));
  const err = refused(() => loadGatewayConfig({ configPath: noTls }));
  assert.deepEqual(
    err.problems.map((p) => [p.key, p.code]),
    [
      ['tls.cert_path', 'ECONFIG_MISSING'],
      ['tls.key_path', 'ECONFIG_MISSING'],
    ],
  );
  const noCa = conf(
    f,
    'noca.toml',
    minimal().filter((l) => !l.startsWith('root_ca_path')),
  );
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: noCa })),
    noCa,
    1,
    'tls.root_ca_path',
    'ECONFIG_MISSING',
    /required while verify = true/,
  );
});

test('mistakes elsewhere are listed together, each with its line', async (t) => {
  const f = await files(t);
  const file = conf(f, 'many.toml', [
    ...minimal(),
    '[gateway]',
    'prot = 4222',
    'max_payload = "128MB"',
    'ping_max = 0',
    '[log]',
    'level = "loud"',
  ]);
  const err = refused(() => loadGatewayConfig({ configPath: file }));
  assert.deepEqual(
    err.problems.map((p) => `${p.line}: ${p.key}`),
    ['14: gateway.prot', '15: gateway.max_payload', '16: gateway.ping_max', '18: log.level'],
  );
  assert.match(err.problems[0]!.reason, /did you mean "gateway.port"/);
});

test('resolveGatewayConfig: embedded input, durations in ms, a string issuer as a list, the key checked too', async (t) => {
  const f = await files(t);
  const input = {
    tls: { cert_path: 'c.pem', key_path: 'k.pem', verify: false },
    auth: { secret_path: path.join(f.dir, 'keys/secret'), issuer: 'me', audience: 'you', clock_tolerance: 1500 },
    upstream: { urls: 'nats://127.0.0.1:7422', reconnect_delay: '2s' },
  };
  const c = resolveGatewayConfig(input);
  assert.deepEqual(c.auth.issuer, ['me']);
  assert.equal(c.auth.clock_tolerance, 1500);
  assert.equal(c.upstream.reconnect_delay, 2000);
  assert.equal(c.tls.cert_path, path.resolve('c.pem'));
  const bad = refused(() =>
    resolveGatewayConfig({ ...input, auth: { ...input.auth, secret_path: path.join(f.dir, 'keys/short-secret') } }),
  );
  assert.equal(bad.problems[0]!.file, '<embedded>');
  assert.equal(bad.problems[0]!.key, 'auth.secret_path');
});

test('formatGatewayConfig prints TOML that loads back to the same configuration', async (t) => {
  const f = await files(t);
  const base = conf(
    f,
    'gateway.toml',
    minimal(['jwks_path = "../keys/jwks.json"', 'revoked = ["a"]'], ['buffer_bytes = "16MB"']),
  );
  const { config, sources } = loadGatewayConfig({ configPath: base });
  const text = formatGatewayConfig(config, sources);
  assert.match(text, new RegExp(`jwks_path = ".*jwks\\.json"  # ${base.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:7`));
  const again = write(f.dir, 'printed.toml', formatGatewayConfig(config));
  assert.deepEqual(loadGatewayConfig({ configPath: again }).config, config);
});

test('an unknown top-level section is refused as the service refuses one: `file:line: key: reason`, ECONFIG_UNKNOWN_KEY', async (t) => {
  const f = await files(t);
  const base = conf(f, 'gateway.toml', minimal());
  const typo = conf(f, 'typo.toml', ['[upstreams]', 'buffer_bytes = "16MB"']);
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: base, patchPaths: [typo] })),
    typo,
    1,
    'upstreams',
    'ECONFIG_UNKNOWN_KEY',
    /^unknown key \(did you mean "upstream"\?\)$/,
  );
  // A section only the event service has: named, with the sections the gateway knows.
  const elsewhere = conf(f, 'elsewhere.toml', [...minimal(), '', '[leafnodes]', 'port = 7422']);
  assertOneProblem(
    refused(() => loadGatewayConfig({ configPath: elsewhere })),
    elsewhere,
    14,
    'leafnodes',
    'ECONFIG_UNKNOWN_KEY',
    /^unknown key \(known here: gateway, websocket, tls, auth, upstream, monitor, log\)$/,
  );
  // An embedding program's object, the same.
  const embedded = refused(() =>
    resolveGatewayConfig({ ...loadGatewayConfig({ configPath: base }).config, store: {} } as GatewayConfigInput),
  );
  assert.deepEqual(
    embedded.problems.map((p) => [p.file, p.key, p.code]),
    [['<embedded>', 'store', 'ECONFIG_UNKNOWN_KEY']],
  );
});
