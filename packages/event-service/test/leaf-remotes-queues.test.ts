// Several event service instances as leaves of one nats-server 2.9 hub share the work: queue groups across (each
// message taken by one member of the cluster), and with remotes the intake on `events.>` is such a group, so each
// event published anywhere is stored by exactly one instance and its request answered by the instance that took it.
import { describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { StringCodec } from 'nats';
import { collect, fence, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { natsServerSkip } from '@event-broker/test-support/nats-server';
import { tmpDir } from '@event-broker/test-support/tmp';
import { until } from '@event-broker/test-support/wait';
import { client, HOST, LINK_MS, remotesUp, startHub, startLeafService } from './helpers/leaf-hub.js';

const sc = StringCodec();

const event = (id: string) => ({
  specversion: '1.0',
  id,
  source: '/test',
  type: 'profileUpdate',
  producer: { id: 'p1', name: 'tester', type: 'service' },
  data: { n: 1 },
});

describe('several instances as leaves of one hub', { skip: natsServerSkip() }, () => {
  it('a queue group across two instances takes each of 1,000 hub messages once', async (t: TestContext) => {
    const hub = await startHub(t);
    const one = await startLeafService(t, [{ urls: [hub.leafUrl] }]);
    const two = await startLeafService(t, [{ urls: [hub.leafUrl] }]);
    await Promise.all([remotesUp(one), remotesUp(two)]);
    const subject = uniqueSubject('work');
    const taken: string[][] = [[], []];
    [one, two].forEach((svc, i) =>
      svc.subscribe(subject, { queue: 'workers', callback: (m) => void taken[i]!.push(sc.decode(m.data)) }),
    );
    const nc = await client(t, hub.clientPort);
    // A plain subscriber on the hub too: it gets every message, the group still one copy of each.
    const plain = collect(nc.subscribe(subject));
    // Until both instances' group interest has reached the hub: each has taken a probe.
    await untilFlows(
      () => nc.publish(subject, sc.encode('probe')),
      () => taken.every((l) => l.includes('probe')),
      'both instances take from the group',
      LINK_MS,
    );
    for (const l of taken) l.length = 0;
    plain.length = 0;
    for (let i = 0; i < 1000; i++) nc.publish(subject, sc.encode(`m${i}`));
    // Each message to one member: wait until all 1,000 are taken, then check none came twice.
    await until(() => taken[0]!.length + taken[1]!.length >= 1000, '1,000 messages taken', LINK_MS);
    await fence((m) => nc.publish(subject, sc.encode(m)), [plain], 'the plain subscriber has them all');
    const all = [...taken[0]!, ...taken[1]!].filter((m) => m.startsWith('m'));
    assert.equal(all.length, 1000);
    assert.equal(new Set(all).size, 1000);
    assert.ok(taken[0]!.length > 0 && taken[1]!.length > 0, `both took some: ${taken[0]!.length}/${taken[1]!.length}`);
    assert.equal(plain.filter((m) => m.startsWith('m')).length, 1000);
  });

  it('events published through the hub and through each instance are each stored by exactly one instance', async (t: TestContext) => {
    const hub = await startHub(t);
    const files = [path.join(tmpDir(t), 'one.db'), path.join(tmpDir(t), 'two.db')];
    const svcs = await Promise.all(
      files.map((file) => startLeafService(t, [{ urls: [hub.leafUrl] }], { store: { path: file } })),
    );
    await Promise.all(svcs.map((s) => remotesUp(s)));
    const nc = await client(t, hub.clientPort);
    // A plain subscriber on events.> at the hub: a message an instance took locally still reaches it, and must not
    // reach the other instance's intake as well.
    const watcher = collect(nc.subscribe('events.>'));
    const viaInstance = await Promise.all(svcs.map((s) => client(t, s.port)));
    const ask = async (via: (typeof viaInstance)[number], id: string) =>
      JSON.parse(
        sc.decode(
          (await via.request('events.profileUpdate', sc.encode(JSON.stringify(event(id))), { timeout: 5000 })).data,
        ),
      ) as Record<string, unknown>;
    // Whether an instance stored an event: its event feed over HTTP (GET /events/{id}).
    const stored = async (i: number, id: string) =>
      (await fetch(`http://${HOST}:${svcs[i]!.monitorPort}/events/${id}`).then((r) => (r.body?.cancel(), r.status))) ===
      200;
    // The intake's group interest of both instances has reached the hub once each has stored a probe.
    const probes: string[] = [];
    await until(
      async () => {
        probes.push(`probe-${probes.length}`);
        await ask(nc, probes.at(-1)!);
        const got = await Promise.all(
          [0, 1].map(async (i) => (await Promise.all(probes.map((p) => stored(i, p)))).some(Boolean)),
        );
        return got.every(Boolean);
      },
      'both intakes take events from the hub',
      LINK_MS,
    );
    const ids: string[] = [];
    const replies = await Promise.all(
      Array.from({ length: 300 }, (_, i) => {
        const id = `ev-${i}`;
        ids.push(id);
        // A third through the hub, a third through each instance's own client port.
        return ask(i % 3 === 0 ? nc : viaInstance[i % 3 === 1 ? 0 : 1]!, id);
      }),
    );
    replies.forEach((r, i) => assert.deepEqual(r, { id: ids[i] }));
    await until(
      () => watcher.filter((m) => m.includes('"ev-')).length >= 300,
      'the hub watcher saw every event',
      LINK_MS,
    );
    // One at a time: the monitoring port answers 503 past its max_connections.
    const where: boolean[][] = [];
    for (const id of ids) where.push([await stored(0, id), await stored(1, id)]);
    const twice = ids.filter((_, i) => where[i]!.every(Boolean));
    const never = ids.filter((_, i) => !where[i]!.some(Boolean));
    assert.deepEqual(twice, [], 'stored by both instances');
    assert.deepEqual(never, [], 'stored by neither');
    // The $EVENTS responders are groups too: each request from the hub gets one answer (not a 503: both instances
    // announced them), not one per instance.
    for (const [subject, answered] of [
      ['$EVENTS.FEED.QUERY', /"events":\[/],
      ['$EVENTS.HEALTH', /"server_id":"N[A-Z0-9]+","ok":true/],
    ] as const) {
      const inbox = uniqueSubject('inbox');
      const answers = collect(nc.subscribe(inbox));
      await nc.flush();
      for (let i = 0; i < 20; i++) nc.publish(subject, sc.encode('{"limit":1}'), { reply: inbox });
      await until(() => answers.length >= 20, `20 answers on ${subject}`, LINK_MS);
      // A second answer to any of them would have come with the first (same hub, same two links): fence on both.
      await fence((m) => nc.publish(inbox, sc.encode(m)), [answers], 'the inbox');
      assert.equal(answers.length, 20, subject);
      for (const a of answers) assert.match(a, answered, subject);
    }
    // Events requested through an instance are taken by its own intake (a local member is preferred).
    for (let i = 0; i < 300; i++) {
      if (i % 3 === 1) assert.ok(where[i]![0], `${ids[i]} via instance one stored there`);
      if (i % 3 === 2) assert.ok(where[i]![1], `${ids[i]} via instance two stored there`);
    }
  });
});
