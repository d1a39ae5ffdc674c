// Durability end to end, an instance killed: a three-node nats-server 2.9 cluster with JetStream in a named domain
// (`jetstream { domain: hub }`, which the service learns from the leaf INFO: no `[store] domain`), two event service
// instances (CLI child processes) each a leaf of a different node with an R3 stream, two HTTP sinks shared by both.
// 10,000 events are requested round-robin through clients of the three nodes, and instance 1 is SIGKILLed once
// 3,000 are acknowledged: every acknowledged event is stored once and delivered to each sink it is routed to (the
// killed instance's claims again after JetStream's ack wait), duplicates only under the same webhook-id.
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { check, diagnosticOf, runLoad } from './helpers/cluster-check.js';
import type { LoadResult } from './helpers/cluster-load.js';
import { setUp } from './helpers/cluster-setup.js';
import { healthz } from './helpers/cluster.js';

it(
  '10,000 events, instance 1 SIGKILLed in the middle (a named JetStream domain): every acknowledged event stored once and delivered',
  { skip: natsServerSkip() },
  async (t: TestContext) => {
    const s = await setUp(t, 'named domain');
    let result: LoadResult | undefined;
    const diagnostic = diagnosticOf(s, () => result);
    result = await runLoad(s, () => s.one.kill());
    assert.equal(s.one.run.child.signalCode, 'SIGKILL');
    await check(t, s, result, diagnostic);
    diagnostic(); // with CLUSTER_TEST_LOGS, the instances' logs
    assert.equal((await healthz(s.two.monitorPort)).status, 200);
  },
);
