// Conformance with the official NATS clients: the same tests, run with `nats` (v2) and `@nats-io/transport-node`
// (v3), against our event service and against Debian's nats-server, so a difference is a bug in one of them.
// Wire-level details (exact -ERR texts, malformed input) live in the raw-protocol tests; here the question is
// whether an unmodified client application behaves the same on both servers.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { uniqueSubject } from '@event-broker/test-support/flow';
import { drainAll, until, within } from '@event-broker/test-support/wait';
import { targets, type RunningTarget } from './helpers/targets.js';
import { clientKits, connections, record, requestFailure, type Msg } from './helpers/clients.js';

const SEMVER = /^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?(?:\+[0-9A-Za-z.-]+)?$/;
const DEFAULT_MAX_PAYLOAD = 1024 * 1024;
const SMALL_MAX_PAYLOAD = 64 * 1024;

for (const target of targets()) {
  describe(target.name, () => {
    let server: RunningTarget;
    before(async () => {
      server = await target.start();
    });
    after(async () => {
      await server?.stop();
    });

    for (const kit of clientKits) {
      describe(kit.name, () => {
        const connect = connections(kit, () => server.url);

        it('exposes the INFO fields clients rely on: server_id, semver version, headers, max_payload, proto 1', async () => {
          const c = await connect();
          const info = c.info;
          assert.ok(info, 'the client has the server INFO');
          assert.equal(typeof info.server_id, 'string');
          assert.ok(info.server_id.length > 0, 'server_id is not empty');
          assert.match(info.version, SEMVER);
          assert.equal(info.headers, true);
          assert.equal(info.max_payload, DEFAULT_MAX_PAYLOAD);
          assert.equal(info.proto, 1);
          assert.equal(typeof info.server_name, 'string');
          assert.equal(typeof info.client_id, 'number');
          assert.equal(info.client_ip, '127.0.0.1');
        });

        it('delivers a published message to a subscriber on another connection, with its reply subject', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('pubsub');
          const r = record(subc, subject);
          await subc.flush();
          pub.publish(subject, 'hello');
          pub.publish(subject, new Uint8Array([0, 1, 2, 255]), { reply: `${subject}.answer` });
          pub.publish(subject);
          await until(
            () => r.msgs.length >= 3,
            'three messages',
            undefined,
            () => `${r.msgs.length} received`,
          );
          const [first, second, third] = r.msgs as [Msg, Msg, Msg];
          assert.equal(first.subject, subject);
          assert.equal(first.string(), 'hello');
          assert.equal(first.reply || undefined, undefined, 'no reply subject when none was published');
          assert.deepEqual([...second.data], [0, 1, 2, 255]);
          assert.equal(second.reply, `${subject}.answer`);
          assert.equal(third.data.length, 0, 'an empty payload arrives empty');
          assert.deepEqual(r.errors, []);
        });

        it('`*` matches exactly one token, anywhere in the subject', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const p = uniqueSubject('star');
          const tail = record(subc, `${p}.*`);
          const middle = record(subc, `${p}.*.end`);
          await subc.flush();
          for (const s of [`${p}.a`, `${p}.a.b`, p, `${p}.b`, `${p}.x.end`, `${p}.x.y.end`, `${p}x.a`, `${p}.done`]) {
            pub.publish(s, s);
          }
          pub.publish(`${p}.y.end`, 'done');
          await until(() => tail.msgs.some((m) => m.subject === `${p}.done`), 'tail sentinel');
          await until(() => middle.msgs.some((m) => m.string() === 'done'), 'middle sentinel');
          assert.deepEqual(
            tail.msgs.map((m) => m.subject),
            [`${p}.a`, `${p}.b`, `${p}.done`],
          );
          assert.deepEqual(
            middle.msgs.map((m) => m.subject),
            [`${p}.x.end`, `${p}.y.end`],
          );
        });

        it('`>` matches one or more trailing tokens but not the bare prefix', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const p = uniqueSubject('gt');
          const r = record(subc, `${p}.>`);
          const mixed = record(subc, `${p}.*.>`);
          await subc.flush();
          for (const s of [p, `${p}.a`, `${p}.a.b.c`, `${p}x.a`, `${p}.b`]) pub.publish(s, s);
          pub.publish(`${p}.done.now`);
          await until(() => r.msgs.some((m) => m.subject === `${p}.done.now`), '> sentinel');
          await until(() => mixed.msgs.some((m) => m.subject === `${p}.done.now`), '*.> sentinel');
          assert.deepEqual(
            r.msgs.map((m) => m.subject),
            [`${p}.a`, `${p}.a.b.c`, `${p}.b`, `${p}.done.now`],
          );
          assert.deepEqual(
            mixed.msgs.map((m) => m.subject),
            [`${p}.a.b.c`, `${p}.done.now`],
          );
        });

        it('a queue group delivers each message to exactly one member, plain subscribers each get a copy', async () => {
          const total = 300;
          const subject = uniqueSubject('queue');
          const pub = await connect();
          const groups = await Promise.all(
            ['workers', 'auditors'].map(async (queue) => {
              const members = await Promise.all([0, 1, 2].map(() => connect()));
              const recs = members.map((m) => record(m, subject, { queue }));
              await Promise.all(members.map((m) => m.flush()));
              return { queue, members, recs };
            }),
          );
          const plainConns = await Promise.all([connect(), connect()]);
          const plains = plainConns.map((c) => record(c, subject));
          await Promise.all(plainConns.map((c) => c.flush()));

          for (let i = 0; i < total; i++) pub.publish(subject, String(i));
          await pub.flush();

          const counts = () =>
            groups.map((g) => `${g.queue}: ${g.recs.map((r) => r.msgs.length).join('+')}`).join(', ') +
            `; plain: ${plains.map((p) => p.msgs.length).join(', ')}`;
          const groupSum = (g: (typeof groups)[number]) => g.recs.reduce((n, r) => n + r.msgs.length, 0);
          await until(
            () => groups.every((g) => groupSum(g) >= total) && plains.every((p) => p.msgs.length >= total),
            'every group and plain subscriber reach 300',
            5000,
            counts,
          );
          // Anything extra (a duplicate) would have been written before the members' PONG.
          await Promise.all([...groups.flatMap((g) => g.members), ...plainConns].map((c) => c.flush()));

          for (const g of groups) {
            assert.equal(groupSum(g), total, `group ${g.queue} gets each message once (${counts()})`);
            const seen = new Set(g.recs.flatMap((r) => r.strings()));
            assert.equal(seen.size, total, `group ${g.queue} got every message`);
            for (const [i, r] of g.recs.entries()) {
              assert.ok(r.msgs.length > 0, `member ${i} of ${g.queue} got some of the 300 (${counts()})`);
            }
          }
          for (const p of plains) {
            assert.deepEqual(
              p.strings(),
              Array.from({ length: total }, (_, i) => String(i)),
            );
          }
        });

        it('carries headers: several values for one name, names with their case, header-only messages', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('headers');
          const r = record(subc, subject);
          await subc.flush();
          const h = kit.headers();
          h.append('X-Multi', 'one');
          h.append('X-Multi', 'two');
          h.append('X-Multi', 'three, with comma');
          h.set('X-Mixed-Case', 'Value With  Spaces');
          h.set('lowercase-name', 'v');
          pub.publish(subject, 'body', { headers: h });
          const only = kit.headers();
          only.set('X-Only', 'no payload');
          pub.publish(subject, undefined, { headers: only });
          await until(() => r.msgs.length >= 2, 'two messages with headers');
          const [withBody, headerOnly] = r.msgs as [Msg, Msg];
          assert.equal(withBody.string(), 'body');
          assert.ok(withBody.headers, 'headers arrived');
          assert.deepEqual(withBody.headers.values('X-Multi'), ['one', 'two', 'three, with comma']);
          assert.equal(withBody.headers.get('X-Mixed-Case'), 'Value With  Spaces');
          assert.equal(withBody.headers.get('lowercase-name'), 'v');
          assert.deepEqual(withBody.headers.keys().sort(), ['X-Mixed-Case', 'X-Multi', 'lowercase-name']);
          assert.equal(headerOnly.data.length, 0);
          assert.equal(headerOnly.headers?.get('X-Only'), 'no payload');
        });

        it('answers a request through the responder, headers both ways, many requests in flight at once', async () => {
          const [requester, responder] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('svc');
          responder.subscribe(subject, {
            callback: (err, msg) => {
              if (err) return;
              const h = kit.headers();
              h.set('X-Seen', msg.headers?.get('X-Req') ?? 'none');
              msg.respond(`echo:${msg.string()}`, { headers: h });
            },
          });
          await responder.flush();
          const h = kit.headers();
          h.set('X-Req', 'abc');
          const reply = await within(requester.request(subject, 'hi', { timeout: 2000, headers: h }), 'reply');
          assert.equal(reply.string(), 'echo:hi');
          assert.equal(reply.headers?.get('X-Seen'), 'abc');

          const replies = await within(
            Promise.all(Array.from({ length: 50 }, (_, i) => requester.request(subject, String(i), { timeout: 2000 }))),
            '50 concurrent replies',
          );
          assert.deepEqual(
            replies.map((m) => m.string()),
            Array.from({ length: 50 }, (_, i) => `echo:${i}`),
          );
        });

        it('rejects a request at once with no responders (503) when nobody subscribes', async () => {
          const c = await connect();
          const subject = uniqueSubject('nobody');
          const err = await requestFailure(c, subject, 'no-responders rejection');
          assert.ok(kit.isNoResponders(err), `expected a no-responders error, got ${String(err)}`);
          // The connection is still usable.
          await within(c.flush(), 'flush after no responders');
        });

        it('auto-unsubscribes after `max` messages', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('max');
          const r = record(subc, subject, { max: 3 });
          await subc.flush();
          for (let i = 0; i < 6; i++) pub.publish(subject, String(i));
          await pub.flush();
          await within(r.sub.closed, 'subscription closes after 3');
          await subc.flush();
          assert.deepEqual(r.strings(), ['0', '1', '2']);
          assert.equal(r.sub.getProcessed(), 3);
        });

        it('the server drops a subscription once its max is reached: the next request finds no responders', async () => {
          // The client also discards messages past max, so only the server's interest table tells them apart.
          const [requester, responder] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('max-server');
          const r = record(responder, subject, { max: 2 });
          await responder.flush();
          for (let i = 0; i < 2; i++) {
            r.msgs.length = 0;
            const pending = requester.request(subject, String(i), { timeout: 2000 });
            await until(() => r.msgs.length === 1, `request ${i} reaches the responder`);
            r.msgs[0]!.respond('ok');
            assert.equal((await within(pending, `reply ${i}`)).string(), 'ok');
          }
          const err = await requestFailure(requester, subject, 'third request: no responders');
          assert.ok(kit.isNoResponders(err), `expected no responders, got ${String(err)}`);
        });

        it('`unsubscribe(n)` after some deliveries stops at n in total', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('unsub-n');
          const r = record(subc, subject);
          await subc.flush();
          pub.publish(subject, '0');
          pub.publish(subject, '1');
          await until(() => r.msgs.length === 2, 'first two');
          r.sub.unsubscribe(5);
          await subc.flush();
          for (let i = 2; i < 10; i++) pub.publish(subject, String(i));
          await pub.flush();
          await within(r.sub.closed, 'subscription closes after 5 in total');
          await subc.flush();
          assert.deepEqual(r.strings(), ['0', '1', '2', '3', '4']);
        });

        it('with echo off a connection does not get its own messages; another connection does', async () => {
          const [quiet, other] = await Promise.all([connect({ noEcho: true }), connect()]);
          const subject = uniqueSubject('echo');
          const mine = record(quiet, subject);
          const theirs = record(other, subject);
          await Promise.all([quiet.flush(), other.flush()]);
          for (let i = 0; i < 3; i++) quiet.publish(subject, `quiet-${i}`);
          await quiet.flush();
          other.publish(subject, 'from-other');
          await until(
            () => mine.msgs.length >= 1 && theirs.msgs.length >= 4,
            'deliveries',
            undefined,
            () => `quiet got ${mine.strings().join(',')}; other got ${theirs.strings().join(',')}`,
          );
          await Promise.all([quiet.flush(), other.flush()]);
          assert.deepEqual(mine.strings(), ['from-other']);
          assert.deepEqual(theirs.strings(), ['quiet-0', 'quiet-1', 'quiet-2', 'from-other']);
        });

        it('with echo on (the default) a connection gets its own messages before its flush resolves', async () => {
          const c = await connect();
          const subject = uniqueSubject('flush');
          const r = record(c, subject);
          for (let i = 0; i < 100; i++) c.publish(subject, String(i));
          await within(c.flush(), 'flush');
          // The server writes the echoed messages before the PONG that resolves flush.
          assert.equal(r.msgs.length, 100);
        });

        it('draining a subscription delivers what is pending, then ends it', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('drain-sub');
          const sub = subc.subscribe(subject);
          await subc.flush();
          for (let i = 0; i < 100; i++) pub.publish(subject, String(i));
          await pub.flush();
          const drained = sub.drain();
          const got = await drainAll(sub, 'iterating a draining subscription');
          await within(drained, 'sub.drain()');
          assert.equal(got.length, 100);
          assert.deepEqual(
            got.map((m) => m.string()),
            Array.from({ length: 100 }, (_, i) => String(i)),
          );
          assert.ok(sub.isClosed());
          // The server forgot it: a request to the subject now finds no responders.
          const err = await requestFailure(pub, subject, 'request after drain: no responders');
          assert.ok(kit.isNoResponders(err), `expected no responders, got ${String(err)}`);
        });

        it('draining a connection delivers pending messages to it and flushes its publishes, then closes', async () => {
          const [a, b] = await Promise.all([connect(), connect()]);
          const toA = uniqueSubject('drain-in');
          const toB = uniqueSubject('drain-out');
          const inbound = record(a, toA);
          const outbound = record(b, toB);
          await Promise.all([a.flush(), b.flush()]);
          for (let i = 0; i < 100; i++) b.publish(toA, String(i));
          await b.flush();
          for (let i = 0; i < 100; i++) a.publish(toB, String(i));
          await within(a.drain(), 'connection drain');
          assert.equal(await within(a.closed(), 'closed after drain'), undefined, 'closed without an error');
          assert.ok(a.isClosed());
          assert.equal(inbound.msgs.length, 100, 'messages pending for the draining connection were delivered');
          await until(
            () => outbound.msgs.length === 100,
            "the draining connection's publishes arrive",
            undefined,
            () => `${outbound.msgs.length} arrived`,
          );
        });

        it('keeps the order of 10,000 messages from one publisher to one subscriber', async () => {
          const [pub, subc] = await Promise.all([connect(), connect()]);
          const subject = uniqueSubject('order');
          const n = 10_000;
          let next = 0;
          let firstGap: string | undefined;
          subc.subscribe(subject, {
            callback: (err, msg) => {
              if (err) return;
              const v = Number(msg.string());
              if (v !== next && firstGap === undefined) firstGap = `expected ${next}, got ${v}`;
              next = v + 1;
            },
          });
          await subc.flush();
          for (let i = 0; i < n; i++) pub.publish(subject, String(i));
          await pub.flush();
          await until(
            () => next >= n || firstGap !== undefined,
            `${n} messages`,
            10_000,
            () => `at ${next}`,
          );
          assert.equal(firstGap, undefined);
          assert.equal(next, n);
        });
      });
    }

    describe('max_payload', () => {
      let small: RunningTarget;
      before(async () => {
        small = await target.start({ maxPayloadBytes: SMALL_MAX_PAYLOAD });
      });
      after(async () => {
        await small?.stop();
      });

      for (const kit of clientKits) {
        describe(kit.name, () => {
          const connect = connections(kit, () => small.url);

          it('advertises the configured max_payload', async () => {
            const c = await connect();
            assert.equal(c.info?.max_payload, SMALL_MAX_PAYLOAD);
          });

          it('delivers a message of exactly max_payload bytes intact', async () => {
            const [pub, subc] = await Promise.all([connect(), connect()]);
            const subject = uniqueSubject('big');
            const r = record(subc, subject);
            await subc.flush();
            const payload = randomBytes(SMALL_MAX_PAYLOAD);
            pub.publish(subject, payload);
            await until(() => r.msgs.length === 1, 'the max_payload message');
            assert.equal(Buffer.compare(Buffer.from(r.msgs[0]!.data), payload), 0);
          });

          it('the client refuses a publish over max_payload and the connection stays usable', async () => {
            const c = await connect();
            const subject = uniqueSubject('too-big');
            assert.throws(
              () => c.publish(subject, new Uint8Array(SMALL_MAX_PAYLOAD + 1)),
              (err: unknown) => kit.isMaxPayload(err),
            );
            await within(c.flush(), 'flush after a refused publish');
            assert.ok(!c.isClosed());
          });

          it("the server closes a connection whose publish exceeds max_payload ('Maximum Payload Violation')", async (t) => {
            const [pub, subc] = await Promise.all([connect(), connect()]);
            const subject = uniqueSubject('over');
            const r = record(subc, subject);
            await subc.flush();
            kit.raiseClientMaxPayload(pub, 10 * SMALL_MAX_PAYLOAD);
            pub.publish(subject, new Uint8Array(SMALL_MAX_PAYLOAD + 1));
            const err = await within(pub.closed(), 'the server closes the connection');
            assert.ok(err instanceof Error, `closed() reports an error (got ${String(err)})`);
            // nats-server writes the -ERR and closes with the rest of the publish unread, so the kernel resets the
            // connection and the client often loses the -ERR: either is what a client of nats-server sees.
            assert.match(err.message, /maximum payload violation|ECONNRESET|EPIPE/i);
            t.diagnostic(`closed with: ${err.message}`);
            // The subscriber's PONG comes after anything the server had queued for it: the flush is the fence.
            await subc.flush();
            assert.equal(r.msgs.length, 0, 'the oversized message was not delivered');
          });
        });
      }
    });
  });
}
