// The dev PKI (@event-broker/dev-tools) loads through shared's TLS loaders as the service's and the gateway's TLS
// sections would name its files: server pairs with client verification, client pairs with the CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { DEV_PKI_FILES, writeDevPki } from '@event-broker/dev-tools';
import { loadClientTlsOptions, loadServerTlsOptions } from '../src/index.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

test('the dev PKI loads as the service and gateway TLS sections would name it', async (t) => {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  const p = (f: string) => path.join(dir, f);
  for (const pair of [DEV_PKI_FILES.eventService, DEV_PKI_FILES.gateway]) {
    const opts = loadServerTlsOptions({
      cert_path: p(pair.cert),
      key_path: p(pair.key),
      root_ca_path: p('ca.pem'),
      verify: true,
    });
    assert.equal(opts.requestCert, true);
  }
  for (const pair of [DEV_PKI_FILES.gatewayUpstream, DEV_PKI_FILES.client]) {
    const opts = loadClientTlsOptions({ cert_path: p(pair.cert), key_path: p(pair.key), root_ca_path: p('ca.pem') });
    assert.ok(opts.cert && opts.key && opts.ca);
  }
  assert.deepEqual(new crypto.X509Certificate(fs.readFileSync(p('gateway-upstream.pem'))).keyUsage, [CLIENT_AUTH]);
  assert.deepEqual(new crypto.X509Certificate(fs.readFileSync(p('gateway.pem'))).keyUsage, [SERVER_AUTH]);
});
