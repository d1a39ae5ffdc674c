// [intake.http]'s configuration problems, each `file:line: key: reason`: a listener that would admit anyone,
// anonymous callers off loopback or beside a verifier, the token key (a missing file, the HS/RS confusion), the CA
// client verification needs, event-type entries, and the durable intake it needs. And what a valid one resolves to.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { loadServiceConfig } from '../src/config.js';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { assertOneProblem, refused } from './helpers/service-config.js';
import { secretFile } from './helpers/intake-http.js';

const STORE = ['[store]', 'path = "events.db"'];

test('a listener that names nobody it trusts is refused at its port line', (t) => {
  const file = write(tmpDir(t), 'base.toml', [...STORE, '[intake.http]', 'port = 8443']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    4,
    'intake.http.port',
    'ECONFIG_VALUE',
    /would admit anyone.*\[intake\.http\.auth\].*verify = true.*allow_anonymous/,
  );
});

test('allow_anonymous: loopback only, and not beside a verifier', (t) => {
  const dir = tmpDir(t);
  const wide = write(dir, 'wide.toml', [
    ...STORE,
    '[intake.http]',
    'host = "0.0.0.0"',
    'port = 8443',
    'allow_anonymous = true',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: wide })),
    wide,
    4,
    'intake.http.host',
    'ECONFIG_VALUE',
    /not a loopback address: allow_anonymous admits callers on loopback only/,
  );
  const secret = secretFile(dir);
  const both = write(dir, 'both.toml', [
    ...STORE,
    '[intake.http]',
    'port = 8443',
    'allow_anonymous = true',
    '[intake.http.auth]',
    `secret_path = ${JSON.stringify(secret)}`,
    'issuer = "i"',
    'audience = "a"',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: both })),
    both,
    5,
    'intake.http.allow_anonymous',
    'ECONFIG_VALUE',
    /conflicts with \[intake\.http\.auth\]/,
  );
  const ok = write(dir, 'ok.toml', [...STORE, '[intake.http]', 'port = 0', 'allow_anonymous = true']);
  const http = loadServiceConfig({ configPath: ok }).config.intake?.http;
  assert.deepEqual(
    [http?.host, http?.max_body, http?.max_batch, http?.max_connections],
    ['127.0.0.1', 16 * 1024 * 1024, 1000, 256],
  );
});

test('[intake.http.auth]: a missing key file and the HS/RS confusion at their lines, as the gateway reports them', (t) => {
  const dir = tmpDir(t);
  const missing = path.join(dir, 'nope.jwks');
  const file = write(dir, 'base.toml', [
    ...STORE,
    '[intake.http]',
    'port = 8443',
    '[intake.http.auth]',
    `jwks_path = ${JSON.stringify(missing)}`,
    'issuer = "i"',
    'audience = "a"',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    6,
    'intake.http.auth.jwks_path',
    'ECONFIG_FILE',
    /no such file/,
  );
  const confused = write(dir, 'hs.toml', [
    ...STORE,
    '[intake.http]',
    'port = 8443',
    '[intake.http.auth]',
    `jwks_path = ${JSON.stringify(missing)}`,
    'issuer = "i"',
    'audience = "a"',
    'algorithms = ["HS256"]',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: confused })),
    confused,
    9,
    'intake.http.auth.algorithms',
    'ECONFIG_VALUE',
    /HS256 needs a shared secret/,
  );
});

test('tls verify needs root_ca_path; event_types entries are types or noun:verb; the intake needs [store] or [handlers]', (t) => {
  const dir = tmpDir(t);
  const noCa = write(dir, 'noca.toml', [
    ...STORE,
    '[intake.http]',
    'port = 8443',
    '[intake.http.tls]',
    'cert_path = "c.pem"',
    'key_path = "k.pem"',
    'verify = true',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: noCa })),
    noCa,
    8,
    'intake.http.tls.root_ca_path',
    'ECONFIG_MISSING',
    /is required when verify = true/,
  );
  const grants = write(dir, 'grants.toml', [
    ...STORE,
    '[intake.http]',
    'port = 0',
    'allow_anonymous = true',
    'event_types = ["scanJob:*", "no such"]',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: grants })),
    grants,
    6,
    'intake.http.event_types[1]',
    'ECONFIG_VALUE',
    /neither an event type nor a noun:verb pattern/,
  );
  const alone = write(dir, 'alone.toml', ['[intake.http]', 'port = 0', 'allow_anonymous = true']);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: alone })),
    alone,
    2,
    'intake.http',
    'ECONFIG_MISSING',
    /needs \[store\] or \[handlers\]/,
  );
});

test('headers_timeout past request_timeout is refused at its line (node would throw at start)', (t) => {
  const file = write(tmpDir(t), 'base.toml', [
    ...STORE,
    '[intake.http]',
    'port = 0',
    'allow_anonymous = true',
    'headers_timeout = "60s"',
    'request_timeout = "30s"',
  ]);
  assertOneProblem(
    refused(() => loadServiceConfig({ configPath: file })),
    file,
    6,
    'intake.http.headers_timeout',
    'ECONFIG_VALUE',
    /must not exceed request_timeout/,
  );
});
