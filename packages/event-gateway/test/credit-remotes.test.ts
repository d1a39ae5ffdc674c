// Credit with leafnode remotes (issue 13). Credit is room reserved for one gateway's link to one instance; with
// remotes the service keeps its credit responders' interest from the hub (event-service leafnode/remotes.ts
// keptLocal). A gateway attached to an instance sees that instance answer credit, as on one machine; a gateway
// attached to a cluster node sees no credit responder, asks for none, and admits its clients' subscriptions (an
// instance reached over its remote could grant it nothing, and a quota of 0 would refuse them all).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { connect } from 'nats';
import { DEV_PKI_FILES } from '@event-broker/dev-tools';
import { startNatsServer, natsServerSkip } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { devPki, externalClient, startService, startTestGateway } from './helpers/bridge.js';

test(
  'with remotes: a gateway on an instance takes credit from it; a gateway on a cluster node asks none and its clients still subscribe',
  { skip: natsServerSkip() },
  async (t) => {
    const pki = await devPki(t);
    const hubLeafPort = await freePort();
    const F = DEV_PKI_FILES;
    // The hub's leafnode port verifies client certificates, as the service's does (the test gateway dials TLS).
    const hub = await startNatsServer(t, [
      `leafnodes { listen: "127.0.0.1:${hubLeafPort}"`,
      `  tls { cert_file: "${pki.file(F.eventService.cert)}", key_file: "${pki.file(F.eventService.key)}", ca_file: "${pki.ca}", verify: true } }`,
    ]);
    const service = await startService(t, pki, {
      config: {
        store: { path: path.join(tmpDir(t, 'credit-remotes-'), 'events.db') },
        leafnodes: {
          remotes: [
            {
              urls: [`tls://127.0.0.1:${hubLeafPort}`],
              cert_path: pki.file(F.gatewayUpstream.cert),
              key_path: pki.file(F.gatewayUpstream.key),
              root_ca_path: pki.ca,
            },
          ],
        },
      },
    });
    await until(() => service.remotes().every((r) => r.state === 'up'), 'the service linked to the hub');

    const onInstance = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
    await until(() => onInstance.listenerQuota.stats().active, 'the instance answers listener credit');
    await until(() => onInstance.eventCredit.stats().active, 'the instance answers event credit');

    // The hub never hears of the credit responders: a client of the node asking gets no responder.
    const nc = await connect({ port: hub.port });
    t.after(() => nc.close());
    await assert.rejects(nc.request('$EVENTS.CREDIT.listeners', '{"want":1}', { timeout: 2000 }), /503|no responders/i);

    const onNode = await startTestGateway(t, pki, `tls://127.0.0.1:${hubLeafPort}`);
    await until(() => onNode.uplink.state === 'up', 'the node gateway linked');
    const token = await pki.devToken('alice', { pub: { allow: ['ext.>'] }, sub: { allow: ['ext.>'] } });
    const client = await externalClient(t, pki, onNode.port, token);
    let received = 0;
    client.subscribe('ext.ping', { callback: () => received++ });
    await client.flush();
    // Published at the node until the subscription's interest has reached it through the gateway's link.
    await until(async () => {
      nc.publish('ext.ping');
      await nc.flush();
      return received > 0;
    }, "the node gateway's client subscribed and received");
    assert.equal(onNode.listenerQuota.stats().active, false, 'no credit responder seen on a node');
    assert.equal(onNode.eventCredit.stats().active, false);
  },
);
