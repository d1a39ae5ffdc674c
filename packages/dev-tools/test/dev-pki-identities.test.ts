// The dev PKI's identities (issue 11, finding 2): the gateway's upstream certificate, the clients' certificate and
// the gateway's server certificate have three different subjects, so the dev leaf port can list the upstream one
// alone; an upstream certificate from the older layout (CN=event-gateway, like the server certificate) is re-issued.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  DEV_CLIENT_COMMON_NAME,
  DEV_PKI_FILES,
  DEV_UPSTREAM_COMMON_NAME,
  createClientCertificate,
  writeDevPki,
} from '../src/index.js';
import { tmpDir } from '@event-broker/test-support/tmp';

const subject = (dir: string, file: string) =>
  new crypto.X509Certificate(fs.readFileSync(path.join(dir, file))).subject;

test('the upstream, client and gateway server certificates have three different subjects', async (t) => {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  const F = DEV_PKI_FILES;
  assert.equal(subject(dir, F.gatewayUpstream.cert), `CN=${DEV_UPSTREAM_COMMON_NAME}`);
  assert.equal(subject(dir, F.client.cert), `CN=${DEV_CLIENT_COMMON_NAME}`);
  assert.equal(
    new Set([F.gatewayUpstream.cert, F.client.cert, F.gateway.cert, F.eventService.cert].map((f) => subject(dir, f)))
      .size,
    4,
  );
});

test('an upstream certificate with the old subject is re-issued; the others are kept', async (t) => {
  const dir = tmpDir(t);
  await writeDevPki(dir);
  const F = DEV_PKI_FILES;
  const ca = {
    cert: fs.readFileSync(path.join(dir, F.ca.cert), 'utf8'),
    key: fs.readFileSync(path.join(dir, F.ca.key), 'utf8'),
  };
  const old = await createClientCertificate(ca, 'event-gateway');
  fs.writeFileSync(path.join(dir, F.gatewayUpstream.cert), old.cert);
  fs.writeFileSync(path.join(dir, F.gatewayUpstream.key), old.key, { mode: 0o600 });
  const clientBefore = fs.readFileSync(path.join(dir, F.client.cert), 'utf8');
  const result = await writeDevPki(dir);
  assert.deepEqual(
    result.written.map((f) => path.basename(f)).sort(),
    [F.gatewayUpstream.cert, F.gatewayUpstream.key].sort(),
  );
  assert.equal(subject(dir, F.gatewayUpstream.cert), `CN=${DEV_UPSTREAM_COMMON_NAME}`);
  assert.equal(fs.readFileSync(path.join(dir, F.client.cert), 'utf8'), clientBefore);
});
