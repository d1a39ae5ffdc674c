// The JetStream backend's connection made through the service's own broker (internal-port.ts), its JetStream API
// requests crossing the service's [[leafnodes.remotes]] link to a nats-server hub that runs JetStream in its own
// domain: the path the backend takes in a deployment. (A JetStream server on the service's leafnode port is not a
// way: the store's subjects are reserved from that port's peers, jetstream-reserved.test.ts.)
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { AckPolicy, connect } from 'nats';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { resolveServiceConfig } from '../src/config.js';
import { openJetStreamBackend } from '../src/handlers/jetstream/backend.js';
import { streamLayout } from '../src/handlers/jetstream/layout.js';
import { jetStreamStoreConfig } from '../src/handlers/jetstream/store-config.js';
import { EventServer } from '../src/server.js';
import { event, quiet } from './helpers/jetstream.js';
import { cleanup, startHub } from './helpers/leaf-hub.js';

const skip = natsServerSkip();
const layout = streamLayout();

test(
  'appends and reads through the internal port and a leaf link reach JetStream in its domain',
  { skip },
  async (t) => {
    const hub = await startHub(t, {
      extra: [`jetstream { store_dir: ${JSON.stringify(tmpDir(t, 'jetstream-'))}, domain: EDGE }`],
    });
    const config = resolveServiceConfig({
      service: { host: '127.0.0.1', port: 0 },
      leafnodes: { remotes: [{ urls: [hub.leafUrl] }] },
      store: { backend: 'jetstream', domain: 'EDGE' },
      log: { level: 'silent' },
    });
    const server = new EventServer(config, quiet, { handlers: false });
    await server.listen();
    cleanup(t, () => server.close());
    await until(() => server.remotes().every((r) => r.state === 'up'), 'the remote link is up');
    const backend = await openJetStreamBackend({
      nc: () => connect({ ...server.internalPort!.connectOptions(), name: 'event-service jetstream' }),
      config: jetStreamStoreConfig(config.store),
      hubDomain: () => undefined,
      hubJetStream: () => true,
      logger: quiet,
    });
    cleanup(t, () => backend.close());
    const [r] = await backend.append([event('via-service')]);
    assert.deepEqual([r!.seq, r!.duplicate], [1, false]);
    assert.equal((await backend.get('via-service'))?.seq, 1);
    assert.deepEqual(
      (await backend.feed({ limit: 5 })).events.map((e) => e.id),
      ['via-service'],
    );
    // A sink's durable consumer through the same path: the delivery is shown with its stream subject (the leaf link
    // carries it after an '@' in the reply), and its ack reaches JetStream.
    const nc = await connect(server.internalPort!.connectOptions());
    cleanup(t, () => nc.close());
    const jsm = await nc.jetstreamManager({ domain: 'EDGE' });
    await jsm.consumers.add(layout.stream, {
      durable_name: layout.durable('hook'),
      filter_subject: layout.eventFilter,
      ack_policy: AckPolicy.Explicit,
    });
    const consumer = await nc.jetstream({ domain: 'EDGE' }).consumers.get(layout.stream, layout.durable('hook'));
    for await (const m of await consumer.fetch({ max_messages: 1, expires: 5_000 })) {
      assert.equal(m.subject, layout.event('via-service', []));
      assert.equal(m.seq, 1);
      await m.ackAck();
      break;
    }
    const ci = await jsm.consumers.info(layout.stream, layout.durable('hook'));
    assert.deepEqual([ci.num_pending, ci.num_ack_pending, ci.ack_floor.stream_seq], [0, 0, 1]);
    // The backend's connection is the service's own: no listener counted, no client in /connz's table.
    assert.equal(server.broker.listenerCount, 0);
    assert.equal(server.clients.size, 0);
  },
);
