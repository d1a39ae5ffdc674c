// A service with leafnode remotes answers credit in a queue group (event-service-credit, the same on every instance:
// issue 13); a gateway attached to it must still see the service answering, or it never asks for credit and its
// clients' events and subscriptions go uncounted at event_limit and listener_limit.
import { test } from 'node:test';
import path from 'node:path';
import { startNatsServer, natsServerSkip } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { devPki, startService, startTestGateway } from './helpers/bridge.js';

test(
  'a gateway attached to a service with leafnode remotes sees it answer event and listener credit (its queue group)',
  { skip: natsServerSkip() },
  async (t) => {
    const pki = await devPki(t);
    const hubLeafPort = await freePort();
    await startNatsServer(t, [`leafnodes { listen: "127.0.0.1:${hubLeafPort}" }`]);
    const service = await startService(t, pki, {
      config: {
        store: { path: path.join(tmpDir(t, 'credit-remotes-'), 'events.db') },
        leafnodes: { remotes: [{ urls: [`nats://127.0.0.1:${hubLeafPort}`] }] },
      },
    });
    await until(() => service.remotes().every((r) => r.state === 'up'), 'the service linked to the hub');
    const gateway = await startTestGateway(t, pki, `tls://127.0.0.1:${service.leafnodePort}`);
    await until(() => gateway.listenerQuota.stats().active, 'the gateway sees the service answer listener credit');
    await until(() => gateway.eventCredit.stats().active, 'the gateway sees the service answer event credit');
  },
);
