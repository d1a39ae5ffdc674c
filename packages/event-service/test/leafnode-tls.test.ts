// The [leafnodes] listener over TLS with Debian's nats-server 2.9 as the leaf: leaves always need a client
// certificate of our CA (while [tls] verify stays false for clients); one from our CA attaches and messages cross,
// none or one from another CA never attaches. The leaf over plain TCP is leafnode.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, StringCodec } from 'nats';
import { startEventService, type EventService } from '../src/index.js';
import { uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { type NatsLeaf, natsLeafLinks, natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { until } from '@event-broker/test-support/wait';
import { tmpDir } from '@event-broker/test-support/tmp';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import { writePem } from './helpers/pem-files.js';

const sc = StringCodec();

describe('leafnode listener over TLS', { skip: natsServerSkip() }, () => {
  const dir = tmpDir({ after }, 'leafnode-tls-');
  const write = (name: string, pem: CertificatePem) => writePem(dir, name, pem);
  let svc: EventService;
  let caPath: string;
  let client: { cert: string; key: string };
  let foreign: { cert: string; key: string };
  const leaves: NatsLeaf[] = [];

  before(async () => {
    const ca = await createCertificateAuthority({ commonName: 'leafnode-test CA' });
    const other = await createCertificateAuthority({ commonName: 'unrelated CA' });
    caPath = write('ca', ca).cert;
    const server = write('server', await createServerCertificate(ca));
    client = write('leaf', await createClientCertificate(ca, 'leaf'));
    foreign = write('foreign', await createClientCertificate(other, 'mallory'));
    // [tls] verify stays false: clients need no certificate, leaves always do.
    svc = await startEventService({
      service: { host: '127.0.0.1', port: 0 },
      tls: { cert_path: server.cert, key_path: server.key, root_ca_path: caPath },
      leafnodes: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    });
  });

  after(async () => {
    for (const l of leaves) await l.stop();
    await svc?.close();
  });

  it('a leaf with a certificate from our CA attaches over TLS and messages cross', async () => {
    const leaf = await startNatsLeaf(svc.leafnodePort!, { tls: { caPath, ...client } });
    leaves.push(leaf);
    const nc = await connect({ servers: `127.0.0.1:${leaf.clientPort}` });
    try {
      const subject = uniqueSubject('tls.up');
      const got: string[] = [];
      svc.subscribe(subject, { callback: (m) => got.push(m.string()) });
      await untilFlows(
        () => nc.publish(subject, sc.encode('over tls')),
        () => got.includes('over tls'),
        'leaf → hub over TLS',
      );
    } finally {
      await nc.close();
    }
  });

  it('a leaf without a client certificate, or with one from another CA, never attaches', async () => {
    const bare = await startNatsLeaf(svc.leafnodePort!, { tls: { caPath } });
    leaves.push(bare);
    const stranger = await startNatsLeaf(svc.leafnodePort!, { tls: { caPath, ...foreign } });
    leaves.push(stranger);
    // nats-server retries every second; two attempts each, closed by us (its log says so), are enough.
    const refusals = (l: NatsLeaf) => (l.log().match(/Leafnode connection closed/g) ?? []).length;
    await until(
      () => refusals(bare) >= 2 && refusals(stranger) >= 2,
      'both leaves refused twice',
      10_000,
      () => `${bare.log()}\n${stranger.log()}`,
    );
    assert.deepEqual(await natsLeafLinks(bare), []);
    assert.deepEqual(await natsLeafLinks(stranger), []);
  });
});
