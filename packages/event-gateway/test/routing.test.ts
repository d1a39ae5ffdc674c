// What crosses the leafnode link between the gateway and the event service: queue groups spanning both sides
// deliver each message to exactly one member wherever it was published, and only what someone on the other side
// subscribed to crosses at all (the uplink's counters and the service's /leafz count the link's messages).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { NatsConnection } from 'nats';
import { quietFor, until } from '@event-broker/test-support/wait';
import { gatewayWants, record, startBridge, type Bridge } from './helpers/bridge.js';

type Recorded = ReturnType<typeof record>;

const gatewayHas = (b: Bridge, subject: string, queue?: string) => gatewayWants(b.gateway, subject, queue);

async function serviceHas(b: Bridge, subject: string): Promise<boolean> {
  return ((await b.leaf())?.subscriptions_list ?? []).includes(subject);
}

/** Publishes `n` numbered messages and waits until `members` together hold `n`; then checks each exactly once. */
async function sendAndCheck(
  pub: NatsConnection,
  subject: string,
  prefix: string,
  n: number,
  members: Recorded[],
  watch?: Recorded,
): Promise<number[]> {
  const before = members.map((m) => m.msgs.length);
  const watchBefore = watch?.msgs.length ?? 0;
  for (let i = 0; i < n; i++) pub.publish(subject, `${prefix}-${i}`);
  await pub.flush();
  const got = () => members.flatMap((m) => m.data()).filter((d) => d.startsWith(`${prefix}-`));
  await until(
    () => got().length >= n,
    `${n} ${prefix} messages delivered to the group`,
    5000,
    () => `${got().length} arrived`,
  );
  if (watch)
    await until(() => watch.msgs.length - watchBefore >= n, `the plain subscriber gets all ${n} ${prefix} messages`);
  // A duplicate would arrive right behind: one more round trip through the link and the service. The members are
  // on several connections, so no one marker fences them all: that none comes for a while is the check.
  await pub.flush();
  await quietFor(100);
  const all = got();
  assert.equal(all.length, n, `each ${prefix} message went to exactly one member`);
  assert.deepEqual(new Set(all), new Set(Array.from({ length: n }, (_, i) => `${prefix}-${i}`)));
  return members.map((m, i) => m.msgs.length - before[i]!);
}

test('a queue group spanning the bridge gets each message once, wherever it is published and wherever its members are', async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('worker', { pub: { allow: ['jobs.>'] }, sub: { allow: ['jobs.>'] } });
  const [e1, e2, ePub] = await Promise.all([b.external(token), b.external(token), b.external(token)]);
  const [i1, i2, iPub, iWatch] = await Promise.all([b.internal(), b.internal(), b.internal(), b.internal()]);
  const q = { queue: 'workers' };
  const E1 = record(e1, 'jobs.run', q);
  const E2 = record(e2, 'jobs.run', q);
  let I1 = record(i1, 'jobs.run', q);
  let I2 = record(i2, 'jobs.run', q);
  const watch = record(iWatch, 'jobs.run'); // not in the group: sees every message
  await Promise.all([e1, e2, i1, i2, iWatch].map((c) => c.flush()));
  await until(() => serviceHas(b, 'jobs.run'), 'the external queue interest reaches the service');
  await until(() => gatewayHas(b, 'jobs.run', 'workers'), 'the internal queue interest reaches the gateway');

  const fromInside = await sendAndCheck(iPub, 'jobs.run', 'in', 200, [E1, E2, I1, I2], watch);
  const fromOutside = await sendAndCheck(ePub, 'jobs.run', 'out', 200, [E1, E2, I1, I2], watch);
  t.diagnostic(`split [E1, E2, I1, I2]: published inside ${fromInside.join('/')}, outside ${fromOutside.join('/')}`);

  // Only external members left: everything published inside crosses to them, still once each.
  I1.sub.unsubscribe();
  I2.sub.unsubscribe();
  await Promise.all([i1.flush(), i2.flush()]);
  await until(() => !gatewayHas(b, 'jobs.run', 'workers'), 'the internal queue interest is withdrawn at the gateway');
  const toOutside = await sendAndCheck(iPub, 'jobs.run', 'in2', 100, [E1, E2]);
  assert.equal(toOutside[0]! + toOutside[1]!, 100);

  // Only internal members: everything published outside crosses to them.
  I1 = record(i1, 'jobs.run', q);
  I2 = record(i2, 'jobs.run', q);
  await Promise.all([i1.flush(), i2.flush()]);
  E1.sub.unsubscribe();
  E2.sub.unsubscribe();
  await Promise.all([e1.flush(), e2.flush()]);
  await until(() => gatewayHas(b, 'jobs.run', 'workers'), 'the internal queue interest is back at the gateway');
  await until(
    async () => !(await serviceHas(b, 'jobs.run')),
    'the external queue interest is withdrawn at the service',
  );
  const toInside = await sendAndCheck(ePub, 'jobs.run', 'out2', 100, [I1, I2]);
  t.diagnostic(`only external members: ${toOutside.join('/')}; only internal members: ${toInside.join('/')}`);
});

test('nothing crosses the link that nobody on the other side wants', async (t) => {
  const b = await startBridge(t);
  const token = await b.pki.devToken('quiet', {
    pub: { allow: ['quiet.>', 'up.>'] },
    sub: { allow: ['wanted.>', 'down.>'] },
  });
  const outside = await b.external(token);
  const inside = await b.internal();
  const up = record(inside, 'up.marker');
  const down = record(outside, 'down.marker');
  await Promise.all([inside.flush(), outside.flush()]);
  await until(() => serviceHas(b, 'down.marker'), 'the external interest reaches the service');
  await until(() => gatewayHas(b, 'up.marker'), 'the internal interest reaches the gateway');

  // Markers: each side's publishes are handled in order, so once the marker arrived, what went before it was too.
  const markers = async (n: number) => {
    inside.publish('down.marker', String(n));
    outside.publish('up.marker', String(n));
    await until(() => down.msgs.length === n && up.msgs.length === n, `marker ${n} arrives both ways`);
  };
  const counts = async () => {
    const leaf = (await b.leaf())!;
    const u = b.gateway.uplink.counters;
    return { gatewayIn: u.inMsgs, gatewayOut: u.outMsgs, serviceIn: leaf.in_msgs, serviceOut: leaf.out_msgs };
  };
  await markers(1);
  const before = await counts();

  // Traffic nobody across wants: internal publishes to subjects no external client subscribed, external
  // publishes to subjects no internal client subscribed; a subscription its token refuses announces nothing.
  const wanted = record(outside, 'wanted.x');
  outside.subscribe('secret.>'); // refused: Permissions Violation, no interest
  await outside.flush();
  await until(() => serviceHas(b, 'wanted.x'), 'wanted.x interest reaches the service');
  wanted.sub.unsubscribe();
  await outside.flush();
  await until(async () => !(await serviceHas(b, 'wanted.x')), 'wanted.x interest is withdrawn at the service');
  for (let i = 0; i < 100; i++) {
    inside.publish('quiet.inside', 'x');
    inside.publish('wanted.x', 'x'); // wanted a moment ago, no longer
    inside.publish('secret.x', 'x');
    outside.publish('quiet.outside', 'x');
  }
  await markers(2);
  const after = await counts();
  assert.deepEqual(after, {
    gatewayIn: before.gatewayIn + 1,
    gatewayOut: before.gatewayOut + 1,
    serviceIn: before.serviceIn + 1,
    serviceOut: before.serviceOut + 1,
  });
  assert.equal(wanted.msgs.length, 0);

  // A client that goes away takes its interest with it.
  const leaving = await b.external(token);
  record(leaving, 'wanted.leaving');
  await leaving.flush();
  await until(() => serviceHas(b, 'wanted.leaving'), "a second client's interest reaches the service");
  await leaving.close();
  await until(
    async () => !(await serviceHas(b, 'wanted.leaving')),
    "a closed client's interest is withdrawn at the service",
  );

  // What the service holds for the link is exactly what the gateway's clients want, plus the link's own: the
  // health check's reply inbox and the loop-detection subject ($LDS, as nats-server leafnode.go).
  const list = (await b.leaf())!.subscriptions_list.filter((s) => !s.startsWith('_GWH.') && !s.startsWith('$LDS.'));
  assert.deepEqual(list, ['down.marker']);
});
