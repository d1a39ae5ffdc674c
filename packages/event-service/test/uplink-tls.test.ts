// shared's Uplink to our [leafnodes] listener over TLS with client certificates (the two ends are
// helpers/uplink-ends.ts): a certificate from the hub's CA attaches (nats:// by address, tls:// by name) and messages
// cross both ways; no certificate or one from another CA never comes up and says why; [leafnodes.tls] makes the link
// TLS while the client port stays plain; a plaintext URL upgrades because the hub says tls_required.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UplinkError, loadClientTlsOptions } from '@event-broker/shared';
import { connect, StringCodec } from 'nats';
import { type EventService } from '../src/index.js';
import { collect, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { tmpDir } from '@event-broker/test-support/tmp';
import { within } from '@event-broker/test-support/wait';
import {
  createCertificateAuthority,
  createClientCertificate,
  createServerCertificate,
  type CertificatePem,
} from '@event-broker/dev-tools';
import { writePem } from './helpers/pem-files.js';
import { FLOW_MS, ourHub, startGateway, type Hub } from './helpers/uplink-ends.js';

const sc = StringCodec();
const HOST = '127.0.0.1';

describe('uplink to our leafnode listener over TLS with client certificates', () => {
  const dir = tmpDir({ after }, 'uplink-tls-');
  const write = (name: string, pem: CertificatePem) => writePem(dir, name, pem);
  let hub: Hub & { readonly svc: EventService };
  let caPath: string;
  let leafCert: { cert: string; key: string };
  let foreignCert: { cert: string; key: string };

  before(async () => {
    const ca = await createCertificateAuthority({ commonName: 'uplink-test CA' });
    const other = await createCertificateAuthority({ commonName: 'unrelated CA' });
    caPath = write('ca', ca).cert;
    const server = write('server', await createServerCertificate(ca));
    leafCert = write('gateway-upstream', await createClientCertificate(ca, 'gateway-upstream'));
    foreignCert = write('foreign', await createClientCertificate(other, 'mallory'));
    hub = await ourHub({ tls: { cert_path: server.cert, key_path: server.key, root_ca_path: caPath } });
    await hub.start();
  });

  after(async () => {
    await hub?.dispose();
  });

  for (const scheme of ['nats', 'tls'] as const) {
    it(`attaches with a certificate from the hub's CA (${scheme}:// URL) and messages cross both ways`, async (t) => {
      // tls:// by name (SNI and the name check on localhost), nats:// by address (the IP SAN).
      const gw = await startGateway(`${scheme}://${scheme === 'tls' ? 'localhost' : HOST}:${hub.leafPort}`, {
        tls: loadClientTlsOptions({ cert_path: leafCert.cert, key_path: leafCert.key, root_ca_path: caPath }),
      });
      t.after(() => gw.close());
      await within(gw.uplink.waitUntilUp(FLOW_MS), 'uplink up over TLS', FLOW_MS);
      assert.equal(gw.uplink.hub!.tls, true);
      const up = uniqueSubject('tls.up');
      const got: string[] = [];
      const sub = hub.svc.subscribe(up, { callback: (m) => got.push(m.string()) });
      t.after(() => sub.unsubscribe());
      await untilFlows(
        () => gw.nc.publish(up, sc.encode('over tls')),
        () => got.includes('over tls'),
        'gateway → hub over TLS',
      );
      const down = uniqueSubject('tls.down');
      const gotDown = collect(gw.nc.subscribe(down));
      await gw.nc.flush();
      await untilFlows(
        () => hub.svc.publish(down, 'back'),
        () => gotDown.includes('back'),
        'hub → gateway over TLS',
      );
      const link = await hub.link();
      assert.ok(link !== undefined && link.in_msgs > 0 && link.out_msgs > 0, 'the hub counts the TLS link');
    });
  }

  it('without a client certificate, or with one from another CA, the uplink never comes up and says why', async (t) => {
    const cases = [
      ['no client certificate', loadClientTlsOptions({ root_ca_path: caPath })],
      [
        'a certificate from another CA',
        loadClientTlsOptions({ cert_path: foreignCert.cert, key_path: foreignCert.key, root_ca_path: caPath }),
      ],
    ] as const;
    // Both at once: each waits out its 2.5 s of staying down.
    const refusedUplink = async ([what, tlsOpts]: (typeof cases)[number]) => {
      const gw = await startGateway(`nats://${HOST}:${hub.leafPort}`, { tls: tlsOpts, handshakeTimeoutMs: 1000 });
      t.after(() => gw.close());
      await assert.rejects(
        gw.uplink.waitUntilUp(2500),
        (e: unknown) => e instanceof UplinkError && ['EUPLINK_HANDSHAKE', 'EUPLINK_CLOSED'].includes(e.code),
        what,
      );
      assert.equal(gw.uplink.up, false, what);
      assert.ok(gw.uplink.counters.failures >= 1, `${what}: attempts failed`);
      assert.equal(await hub.link(), undefined, `${what}: the hub lists no link`);
    };
    await Promise.all(cases.map(refusedUplink));
  });

  it('[leafnodes.tls] makes the link TLS with a required client certificate while the client port stays plain', async (t) => {
    const ca = await createCertificateAuthority({ commonName: 'leaf port CA' });
    const caFile = write('leaf-ca', ca).cert;
    const leafServer = write('leaf-server', await createServerCertificate(ca));
    const leafClient = write('leaf-client', await createClientCertificate(ca, 'gateway-upstream'));
    const own = await ourHub({
      tls: { cert_path: leafServer.cert, key_path: leafServer.key, root_ca_path: caFile },
      leafTlsOnly: true,
    });
    await own.start();
    t.after(() => own.dispose());
    // The client port: plain NATS, no TLS asked for.
    const plain = await connect({ servers: `${HOST}:${own.clientPort}`, reconnect: false });
    t.after(() => plain.close());
    assert.equal(plain.info?.tls_required, undefined);
    const refused = await startGateway(`nats://${HOST}:${own.leafPort}`, {
      tls: loadClientTlsOptions({ root_ca_path: caFile }),
      handshakeTimeoutMs: 1000,
    });
    t.after(() => refused.close());
    await assert.rejects(
      refused.uplink.waitUntilUp(2000),
      (e: unknown) => e instanceof UplinkError,
      'no client certificate: no link',
    );
    const gw = await startGateway(`tls://localhost:${own.leafPort}`, {
      tls: loadClientTlsOptions({ cert_path: leafClient.cert, key_path: leafClient.key, root_ca_path: caFile }),
    });
    t.after(() => gw.close());
    await within(gw.uplink.waitUntilUp(FLOW_MS), 'uplink up over [leafnodes.tls]', FLOW_MS);
    assert.equal(gw.uplink.hub!.tls, true);
    const subject = uniqueSubject('leaftls');
    const got = collect(plain.subscribe(subject));
    await plain.flush();
    await untilFlows(
      () => gw.nc.publish(subject, sc.encode('x')),
      () => got.includes('x'),
      'gateway → plain client over the TLS link',
    );
  });

  it('a plaintext uplink to the TLS listener upgrades because the hub says tls_required, and the hub still wants a certificate', async (t) => {
    const gw = await startGateway(`nats://${HOST}:${hub.leafPort}`, { handshakeTimeoutMs: 1000 });
    t.after(() => gw.close());
    // No options: Node's bundled roots do not know the dev CA, so the handshake fails on the hub's certificate.
    await assert.rejects(
      gw.uplink.waitUntilUp(2000),
      (e: unknown) => e instanceof UplinkError && /TLS|certificate/i.test(e.message),
    );
  });
});
