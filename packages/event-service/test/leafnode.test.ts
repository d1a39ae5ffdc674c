// The [leafnodes] listener against a real leaf: Debian's nats-server 2.9 dials our service as its hub, and the
// official `nats` client on both sides checks that messages, requests and queue groups cross, that interest is
// what decides it (nothing crosses after an unsubscribe, measured on the leaf's /leafz), and that a restarted leaf
// gets our interest again. The port's refusals on the raw wire are leafnode-port-refusals.test.ts, TLS is
// leafnode-tls.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { connect, headers, StringCodec, type NatsConnection } from 'nats';
import { startEventService, type EventService } from '../src/index.js';
import { collect, fence, uniqueSubject, untilFlows } from '@event-broker/test-support/flow';
import { type NatsLeaf, natsLeafLinks, natsServerSkip, startNatsLeaf } from '@event-broker/test-support/nats-server';
import { until, within } from '@event-broker/test-support/wait';

const sc = StringCodec();

/** What these tests read of a link on the leaf's /leafz. */
interface LeafzLink {
  in_msgs: number;
  out_msgs: number;
  subscriptions: number;
}

/** The leaf's view of its link to us (nats-server /leafz). */
async function leafz(leaf: NatsLeaf): Promise<LeafzLink> {
  const link = (await natsLeafLinks(leaf))[0];
  if (link === undefined) throw new Error('the leaf has no link');
  return link as unknown as LeafzLink;
}

/** Whether `subject` is among the interest a side holds for the other: the leaf's link (its /leafz) or ours. */
async function linkWants(monitorPort: number, subject: string): Promise<boolean> {
  const res = await within(fetch(`http://127.0.0.1:${monitorPort}/leafz?subs=1`), 'GET /leafz?subs=1');
  const body = (await res.json()) as { leafs?: Array<{ subscriptions_list?: string[] }> };
  return (body.leafs ?? []).some((l) => (l.subscriptions_list ?? []).includes(subject));
}

describe('leafnode listener with nats-server 2.9 as the leaf', { skip: natsServerSkip() }, () => {
  let svc: EventService;
  let leaf: NatsLeaf;
  let ours: NatsConnection; // a network client of our service
  let theirs: NatsConnection; // a client of the leaf nats-server

  before(async () => {
    svc = await startEventService({
      service: { host: '127.0.0.1', port: 0 },
      leafnodes: { host: '127.0.0.1', port: 0 },
      monitor: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    });
    assert.ok(svc.leafnodePort, 'the leafnode port is bound');
    leaf = await startNatsLeaf(svc.leafnodePort);
    ours = await connect({ servers: `127.0.0.1:${svc.port}` });
    theirs = await connect({
      servers: `127.0.0.1:${leaf.clientPort}`,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 100,
    });
  });

  after(async () => {
    await ours?.close();
    await theirs?.close();
    await leaf?.stop();
    await svc?.close();
  });

  it("a leaf client's publish reaches our network and in-process subscribers, headers included", async () => {
    const subject = uniqueSubject('up');
    const net1 = collect(ours.subscribe(subject));
    const inproc: { data: string; hdr: string | undefined }[] = [];
    const sub = svc.subscribe(subject, {
      callback: (m) =>
        inproc.push({ data: m.string(), hdr: (m.headers?.['X-Test'] as string | undefined) ?? undefined }),
    });
    await ours.flush();
    await untilFlows(
      () => theirs.publish(subject, sc.encode('probe')),
      () => net1.length > 0 && inproc.length > 0,
      'leaf → hub interest',
    );
    await fence((m) => theirs.publish(subject, sc.encode(m)), net1, 'the probes in flight land');
    net1.length = 0;
    inproc.length = 0;
    const h = headers();
    h.set('X-Test', 'yes');
    theirs.publish(subject, sc.encode('one'));
    theirs.publish(subject, sc.encode('two'), { headers: h });
    await theirs.flush();
    await until(() => net1.length === 2 && inproc.length === 2, 'both messages on both subscribers');
    assert.deepEqual(net1, ['one', 'two']);
    assert.deepEqual(inproc, [
      { data: 'one', hdr: undefined },
      { data: 'two', hdr: 'yes' },
    ]);
    sub.unsubscribe();
  });

  it("our publish reaches the leaf's subscriber once, even when several of its subscriptions match", async () => {
    const base = uniqueSubject('down');
    const got = collect(theirs.subscribe(`${base}.>`));
    const exact = collect(theirs.subscribe(`${base}.x`));
    await theirs.flush();
    await untilFlows(
      () => svc.publish(`${base}.x`, 'probe'),
      () => got.length > 0 && exact.length > 0,
      'hub → leaf interest',
    );
    await fence((m) => svc.publish(`${base}.x`, m), [got, exact], 'the probes in flight land');
    const before = (await leafz(leaf)).in_msgs;
    got.length = 0;
    exact.length = 0;
    for (let i = 0; i < 5; i++) svc.publish(`${base}.x`, `in-process ${i}`);
    for (let i = 0; i < 5; i++) ours.publish(`${base}.x`, sc.encode(`network ${i}`));
    await ours.flush();
    await until(() => got.length === 10 && exact.length === 10, 'ten messages on each leaf subscription');
    // A copy of any of them would come before a marker from each publisher (taken out of the lists again).
    await fence((m) => svc.publish(`${base}.x`, m), [got, exact], 'the in-process publishes land');
    await fence((m) => ours.publish(`${base}.x`, sc.encode(m)), [got, exact], 'the network publishes land');
    assert.equal(got.length, 10);
    // Two matching interests on the link, yet each message crossed once (and each of the two markers).
    assert.equal((await leafz(leaf)).in_msgs - before, 10 + 2);
  });

  it('request/reply works both ways', async () => {
    const ourService = uniqueSubject('svc.ours');
    const theirService = uniqueSubject('svc.theirs');
    svc.subscribe(ourService, { callback: (m) => m.respond(`ours:${m.string()}`) });
    theirs.subscribe(theirService, { callback: (_e, m) => m.respond(sc.encode(`theirs:${sc.decode(m.data)}`)) });
    await theirs.flush();
    // Interest crosses asynchronously: retry short requests until one finds its responder.
    let reply: string | undefined;
    await untilFlows(
      () =>
        void theirs.request(ourService, sc.encode('q'), { timeout: 200 }).then(
          (m) => (reply = sc.decode(m.data)),
          () => {},
        ),
      () => reply !== undefined,
      'leaf → hub request',
    );
    assert.equal(reply, 'ours:q');
    let back: string | undefined;
    await untilFlows(
      () =>
        void ours.request(theirService, sc.encode('r'), { timeout: 200 }).then(
          (m) => (back = sc.decode(m.data)),
          () => {},
        ),
      () => back !== undefined,
      'hub → leaf request',
    );
    assert.equal(back, 'theirs:r');
    const m = await within(
      svc.request(theirService, 'embedded', { timeoutMs: 2000 }),
      'in-process request to the leaf',
    );
    assert.equal(m.string(), 'theirs:embedded');
    const h = headers();
    h.set('X-Req', 'h');
    const hm = await within(
      theirs.request(ourService, sc.encode('with headers'), { timeout: 2000, headers: h }),
      'request with headers',
    );
    assert.equal(sc.decode(hm.data), 'ours:with headers');
  });

  it('a queue group spanning both sides gets each message once', async () => {
    const subject = uniqueSubject('work');
    const seen: string[] = [];
    const record = (who: string) => (data: string) => seen.push(`${who}:${data}`);
    const oursNet = record('ours-net');
    ours.subscribe(subject, { queue: 'workers', callback: (_e, m) => oursNet(sc.decode(m.data)) });
    const oursIn = record('ours-in');
    svc.subscribe(subject, { queue: 'workers', callback: (m) => oursIn(m.string()) });
    for (const who of ['leaf-a', 'leaf-b']) {
      const r = record(who);
      theirs.subscribe(subject, { queue: 'workers', callback: (_e, m) => r(sc.decode(m.data)) });
    }
    // A plain subscriber on each side sees everything.
    const plainOurs = collect(ours.subscribe(subject));
    const plainTheirs = collect(theirs.subscribe(subject));
    await ours.flush();
    await theirs.flush();
    await untilFlows(
      () => ours.publish(subject, sc.encode('probe')),
      () => plainTheirs.length > 0,
      'hub → leaf plain interest',
    );
    await untilFlows(
      () => theirs.publish(subject, sc.encode('probe')),
      () => plainOurs.includes('probe') && plainOurs.length > plainTheirs.length - 1,
      'leaf → hub plain interest',
    );
    const landed = async (what: string) => {
      await fence((m) => ours.publish(subject, sc.encode(m)), [seen, plainOurs, plainTheirs], `${what} from our side`);
      await fence(
        (m) => theirs.publish(subject, sc.encode(m)),
        [seen, plainOurs, plainTheirs],
        `${what} from the leaf`,
      );
    };
    await landed('the probes in flight land');
    seen.length = 0;
    plainOurs.length = 0;
    plainTheirs.length = 0;
    for (let i = 0; i < 40; i++) ours.publish(subject, sc.encode(`h${i}`));
    for (let i = 0; i < 40; i++) theirs.publish(subject, sc.encode(`l${i}`));
    await ours.flush();
    await theirs.flush();
    await until(
      () => seen.length >= 80 && plainOurs.length === 80 && plainTheirs.length === 80,
      'eighty deliveries',
      undefined,
      () => `${seen.length} queue, ${plainOurs.length}/${plainTheirs.length} plain`,
    );
    // A second delivery of any of them would come before the markers.
    await landed('every delivery lands');
    const payloads = seen.map((s) => s.split(':')[1]!).sort();
    const expected = [
      ...Array.from({ length: 40 }, (_, i) => `h${i}`),
      ...Array.from({ length: 40 }, (_, i) => `l${i}`),
    ].sort();
    assert.deepEqual(payloads, expected, 'every message reached exactly one member of the group');
  });

  it('a queue group only on the other side gets each message once, through the link', async () => {
    const down = uniqueSubject('qdown');
    const up = uniqueSubject('qup');
    const leafGot: string[] = [];
    for (let k = 0; k < 2; k++)
      theirs.subscribe(down, { queue: 'far', callback: (_e, m) => leafGot.push(sc.decode(m.data)) });
    const oursGot: string[] = [];
    for (let k = 0; k < 2; k++)
      ours.subscribe(up, { queue: 'far', callback: (_e, m) => oursGot.push(sc.decode(m.data)) });
    await theirs.flush();
    await ours.flush();
    await untilFlows(
      () => svc.publish(down, 'probe'),
      () => leafGot.length > 0,
      'hub → leaf queue interest',
    );
    await untilFlows(
      () => theirs.publish(up, sc.encode('probe')),
      () => oursGot.length > 0,
      'leaf → hub queue interest',
    );
    const landed = async (what: string) => {
      await fence((m) => svc.publish(down, m), leafGot, `${what} at the leaf`);
      await fence((m) => theirs.publish(up, sc.encode(m)), oursGot, `${what} at our side`);
    };
    await landed('the probes in flight land');
    leafGot.length = 0;
    oursGot.length = 0;
    for (let i = 0; i < 20; i++) svc.publish(down, `d${i}`);
    for (let i = 0; i < 20; i++) theirs.publish(up, sc.encode(`u${i}`));
    await theirs.flush();
    await until(() => leafGot.length >= 20 && oursGot.length >= 20, 'twenty each way');
    // A second delivery of any of them would come before the markers.
    await landed('every delivery lands');
    assert.deepEqual([...leafGot].sort(), Array.from({ length: 20 }, (_, i) => `d${i}`).sort());
    assert.deepEqual([...oursGot].sort(), Array.from({ length: 20 }, (_, i) => `u${i}`).sort());
  });

  it('after an unsubscribe nothing crosses the link for that subject', async () => {
    // Lanes that stay wanted, one each way: a marker sent on one after a burst arrives behind whatever of the burst
    // the same publisher's side sent over the link, so what has not crossed by then was not sent.
    const laneDown = uniqueSubject('lane.down');
    const downGot = collect(theirs.subscribe(laneDown));
    const laneUp = uniqueSubject('lane.up');
    const upGot: string[] = [];
    const lane = svc.subscribe(laneUp, { callback: (m) => upGot.push(m.string()) });
    await theirs.flush();
    await untilFlows(
      () => svc.publish(laneDown, 'probe'),
      () => downGot.length > 0,
      'hub → leaf lane',
    );
    await untilFlows(
      () => theirs.publish(laneUp, sc.encode('probe')),
      () => upGot.length > 0,
      'leaf → hub lane',
    );

    const subject = uniqueSubject('gone');
    const got = collect(theirs.subscribe(subject, { max: 1 }));
    await theirs.flush();
    await untilFlows(
      () => svc.publish(subject, 'probe'),
      () => got.length > 0,
      'hub → leaf interest',
    );
    // The auto-unsubscribe reaches us as LS-; then nothing for this subject may cross.
    await until(async () => !(await linkWants(svc.monitorPort!, subject)), "our side drops the leaf's interest (LS-)");
    await fence((m) => svc.publish(laneDown, m), downGot, 'the probes in flight land');
    const before = (await leafz(leaf)).in_msgs;
    for (let i = 0; i < 20; i++) svc.publish(subject, 'nobody wants this');
    await fence((m) => svc.publish(laneDown, m), downGot, 'the unwanted publishes are behind us');
    assert.equal((await leafz(leaf)).in_msgs, before + 1, 'only the marker crossed');

    const upSubject = uniqueSubject('gone.up');
    const inproc: string[] = [];
    const sub = svc.subscribe(upSubject, { callback: (m) => inproc.push(m.string()) });
    await untilFlows(
      () => theirs.publish(upSubject, sc.encode('probe')),
      () => inproc.length > 0,
      'leaf → hub interest',
    );
    sub.unsubscribe();
    await until(async () => !(await linkWants(leaf.httpPort, upSubject)), 'the leaf drops our interest (LS-)');
    await fence((m) => theirs.publish(laneUp, sc.encode(m)), upGot, 'the probes in flight land');
    const out = (await leafz(leaf)).out_msgs;
    for (let i = 0; i < 20; i++) theirs.publish(upSubject, sc.encode('nobody wants this'));
    await theirs.flush();
    await fence((m) => theirs.publish(laneUp, sc.encode(m)), upGot, 'the unwanted publishes are behind us');
    assert.equal((await leafz(leaf)).out_msgs, out + 1, 'only the marker crossed');
    lane.unsubscribe();
  });

  it('a restarted leaf gets our interest again and re-sends its own', async () => {
    const up = uniqueSubject('restart.up');
    const down = uniqueSubject('restart.down');
    const inproc: string[] = [];
    svc.subscribe(up, { callback: (m) => inproc.push(m.string()) });
    const leafGot = collect(theirs.subscribe(down));
    await theirs.flush();
    await untilFlows(
      () => theirs.publish(up, sc.encode('before')),
      () => inproc.length > 0,
      'leaf → hub before the restart',
    );
    await untilFlows(
      () => svc.publish(down, 'before'),
      () => leafGot.length > 0,
      'hub → leaf before the restart',
    );

    const ports = { clientPort: leaf.clientPort, httpPort: leaf.httpPort };
    await leaf.stop();
    leaf = await startNatsLeaf(svc.leafnodePort!, { ports });
    inproc.length = 0;
    leafGot.length = 0;
    // The leaf's client reconnects and re-subscribes; the new leaf server sends its LS+, we send ours.
    await untilFlows(
      () => theirs.publish(up, sc.encode('after')),
      () => inproc.includes('after'),
      'leaf → hub after the restart',
    );
    await untilFlows(
      () => svc.publish(down, 'after'),
      () => leafGot.includes('after'),
      'hub → leaf after the restart',
    );
  });
});
