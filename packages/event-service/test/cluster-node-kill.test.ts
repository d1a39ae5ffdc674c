// Durability end to end, a nats-server node killed: a three-node nats-server 2.9 cluster with JetStream whose nodes
// map $G to the default domain (`default_js_domain: {"$G": ""}`: the service uses plain $JS.API), two event service
// instances (CLI child processes), instance 1 a leaf of node 1 and instance 2 of node 2, each listing every node, an
// R3 stream and two HTTP sinks shared by both. 10,000 events are requested round-robin through clients of the three
// nodes, and node 1 is SIGKILLed once 3,000 are acknowledged: instance 1 redials another node; requests refused while
// JetStream elects new leaders are allowed; every acknowledged event is stored once and delivered to each sink it is
// routed to, duplicates only under the same webhook-id.
import { it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { eventually } from '@event-broker/test-support/wait';
import { check, diagnosticOf, runLoad } from './helpers/cluster-check.js';
import type { LoadResult } from './helpers/cluster-load.js';
import { setUp } from './helpers/cluster-setup.js';
import { healthz } from './helpers/cluster.js';

it(
  '10,000 events, a nats-server node SIGKILLed in the middle (default_js_domain on the hub): every acknowledged event stored once and delivered',
  { skip: natsServerSkip() },
  async (t: TestContext) => {
    const s = await setUp(t, 'default domain');
    let result: LoadResult | undefined;
    const diagnostic = diagnosticOf(s, () => result);
    result = await runLoad(s, () => s.cluster.kill(0));
    assert.equal(s.cluster.nodes[0]!.alive(), false);
    await check(t, s, result, diagnostic);
    // Instance 1 has redialled another node and is healthy again; both still run.
    await eventually(
      () => healthz(s.one.monitorPort),
      (h) => h.status === 200,
      'instance 1 healthy after redialling',
      30_000,
    );
    assert.equal(s.one.run.child.exitCode, null);
    assert.equal(s.two.run.child.exitCode, null);
  },
);
