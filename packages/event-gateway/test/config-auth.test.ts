// The gateway's [auth] settings, read at load (helpers/config-files.ts): exactly one key setting; `none`, unknown
// names and the HS/RS confusion refused in algorithms; the key file itself read and checked (missing, private,
// the wrong type for the algorithms, too short a secret, a bad JWKS). Each mistake as `file:line: key: reason`.
import { test } from 'node:test';
import { loadGatewayConfig } from '../src/config.js';
import { write } from '@event-broker/test-support/tmp';
import { keyPair } from './helpers/keys.js';
import { assertOneProblem, conf, files, minimal, refused } from './helpers/config-files.js';

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
