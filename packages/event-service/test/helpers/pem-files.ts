// Certificates written where a config's cert_path and key_path can name them: the TLS tests make their PKI with
// dev-tools and write it with this (their certificates and which is trusted are theirs).
import fs from 'node:fs';
import path from 'node:path';
import type { CertificatePem } from '@event-broker/dev-tools';

/** Writes `<dir>/<name>.pem` and `<dir>/<name>-key.pem` (the key readable by its owner only); returns both paths. */
export function writePem(dir: string, name: string, pem: CertificatePem): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.pem`);
  const key = path.join(dir, `${name}-key.pem`);
  fs.writeFileSync(cert, pem.cert);
  fs.writeFileSync(key, pem.key, { mode: 0o600 });
  return { cert, key };
}
