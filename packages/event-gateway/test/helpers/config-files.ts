// What the gateway's config*.test.ts files share: a directory of real key files (RSA and EC public keys, a private
// key, secrets, a JWKS), the smallest complete gateway.toml beside them (line numbers the tests count on), and the
// check that a load was refused with one problem reading `file:line: key: reason`. The tests are those files'.
import type { TestContext } from 'node:test';
import crypto from 'node:crypto';
import path from 'node:path';
import { ConfigError } from '@event-broker/shared';
import { assertOneProblem, refusedWith } from '@event-broker/test-support/config-problems';
import { tmpDir, write } from '@event-broker/test-support/tmp';
import { jwks, keyPair } from './keys.js';

export const MiB = 1024 * 1024;

export function refused(fn: () => unknown): ConfigError {
  return refusedWith(ConfigError, fn);
}

export { assertOneProblem };

export interface Files {
  dir: string;
  /** conf/ holds the TOML; keys/ beside it, named relatively. */
  conf: string;
}

/** A directory with an RSA public key, a secret, a JWKS and the TLS files (contents only matter for [auth]). */
export async function files(t: TestContext): Promise<Files> {
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
export function minimal(auth: string[] = ['public_key_path = "../keys/rsa.pem"'], extra: string[] = []): string[] {
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

export function conf(f: Files, name: string, lines: string[]): string {
  return write(f.conf, name, `${lines.join('\n')}\n`);
}
