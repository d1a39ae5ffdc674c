// The gateway's [upstream], [gateway] limits and [tls] on real files (helpers/config-files.ts): upstream URLs
// normalised or refused (scheme, credentials, paths), a cert without its key, a buffer smaller than a message,
// max_control_line's bound, the per-connection defaults under the limits they sit under, and [tls] required with
// verify needing root_ca_path. Each mistake as `file:line: key: reason`.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadGatewayConfig } from '../src/config.js';
import { parseUpstreamUrl } from '../src/config-decoders.js';
import { MiB, assertOneProblem, conf, files, minimal, refused } from './helpers/config-files.js';

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
