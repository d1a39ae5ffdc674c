#!/usr/bin/env node
// Writes the dev PKI into certs/ on first run (a CA, server certificates for the event service and the gateway,
// the gateway's upstream certificate CN=event-gateway-upstream, the clients' certificate CN=dev-client, the dev JWT
// signing key); existing files are kept, except a pair whose subject is not the expected one (an older
// gateway-upstream.pem was CN=event-gateway: re-issued, since the dev leaf port admits only the new subject).
// `npm start` calls it; so can you.
// usage: node dev/certs.mjs [DIR]     (default: certs/ at the repository root)
import path from 'node:path';
import { CERTS_DIR, ROOT, isMain, loadDevTools } from './shared.mjs';

/** Makes whatever is missing in `dir` and reports it on `log`; returns writeDevPki's result. */
export async function ensureDevCerts({ dir = CERTS_DIR, log = (line) => console.log(line) } = {}) {
  const { writeDevPki } = await loadDevTools();
  const result = await writeDevPki(dir);
  const shown = path.relative(ROOT, result.dir) || '.';
  if (result.written.length > 0) {
    const names = result.written.map((f) => path.basename(f)).join(', ');
    log(`dev certificates: wrote ${names} in ${shown}/ (private keys mode 0600, never committed)`);
  }
  for (const warning of result.warnings) log(`dev certificates: warning: ${warning.replaceAll(ROOT + path.sep, '')}`);
  return result;
}

if (isMain(import.meta.url)) {
  const arg = process.argv[2];
  if (arg === '--help' || arg === '-h') {
    console.log('usage: node dev/certs.mjs [DIR]   writes the dev PKI into DIR (default certs/) where missing');
  } else {
    const result = await ensureDevCerts({ dir: arg === undefined ? CERTS_DIR : path.resolve(arg) });
    if (result.written.length === 0) console.log(`dev certificates: all present in ${result.dir}`);
  }
}
