// The uplink while its hub is gone, against a raw-protocol hub (helpers/raw-hub.ts): what it buffers (only what the
// hub wanted, including interest withdrawn just before the drop), the order it sends it in after the redial's
// interest burst, the publisher paused while the buffer is full and resumed once drained, and what close() discards
// and releases. How the link fails and redials is leafnode-uplink-faults.test.ts's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UplinkError } from '../src/index.js';
import { quietFor, until, WAIT_MS, within } from '@event-broker/test-support/wait';
import { lmsgPayloads, natsClient, sc, startFront, startHub, startUplink } from './helpers/raw-hub.js';

describe('uplink against a raw hub', () => {
  it('holds what the hub wanted while it is gone and sends it in order after the interest burst; stale interest goes at the PONG', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { interestWaitMs: 300 });
    const downs: string[] = [];
    up.onStateChange((e) => e.type !== 'up' && downs.push(e.type));
    const nc = await natsClient(t, front);
    nc.subscribe('local.interest');
    await nc.flush();
    const first = await hub.peer(1);
    await first.handshake('LS+ keep.x\r\nLS+ gone.x\r\nLS+ keep.q g 1\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    assert.deepEqual([...up.subs.keys()].sort(), ['gone.x', 'keep.q g', 'keep.x']);

    first.socket.destroy();
    await until(() => !up.up, 'the uplink sees the link gone');
    assert.deepEqual(downs, ['down']);
    assert.equal(up.lastError?.code, 'EUPLINK_CLOSED');
    // The hub's interest is kept: what matches it is held, in order; what does not is not held at all.
    nc.publish('keep.x', sc.encode('k0'));
    nc.publish('gone.x', sc.encode('g0'));
    nc.publish('keep.x', sc.encode('k1'));
    nc.publish('keep.q', sc.encode('q0'));
    nc.publish('unrelated', sc.encode('u'));
    nc.publish('keep.x', sc.encode('k2'));
    await nc.flush();
    await until(
      () => up.counters.bufferedMsgs === 5,
      'five messages held',
      WAIT_MS,
      () => JSON.stringify(up.counters),
    );

    const second = await hub.peer(2, 'the uplink redials');
    const hs = await second.handshake('LS+ keep.x\r\nLS+ keep.q g 3\r\n');
    assert.ok(hs.burst.includes('LS+ local.interest'), 'local interest re-sent');
    await within(up.waitUntilUp(WAIT_MS), 'up again');
    // keep.x messages cross at once up to gone.x, which waits interestWaitMs for interest that never comes.
    await second.expect(/^LMSG keep\.x 2\r\nk0\r\n/, 'k0 first');
    // The point: nothing more comes for a while (well inside interestWaitMs).
    await quietFor(100);
    assert.doesNotMatch(second.input, /k1/, 'k1 waits behind g0: order is kept');
    await until(
      () => up.counters.bufferedMsgs === 0,
      'the held messages drained',
      WAIT_MS,
      () => JSON.stringify(up.counters),
    );
    await second.expect(
      /^LMSG keep\.x 2\r\nk1\r\nLMSG keep\.q \| g 2\r\nq0\r\nLMSG keep\.x 2\r\nk2\r\n/,
      'the rest in order, the queue name kept',
    );
    assert.equal(up.counters.droppedNoInterest, 1, 'g0: the hub no longer wants gone.x');
    assert.deepEqual([...up.subs.keys()].sort(), ['keep.q g', 'keep.x'], 'gone.x was not re-announced: dropped');
    assert.equal(up.counters.reconnects, 1);
    // Live traffic flows directly again.
    nc.publish('keep.x', sc.encode('k3'));
    await second.expect(/^LMSG keep\.x 2\r\nk3\r\n/, 'live after the drain');
  });

  it('interest the hub withdrew just before the link dropped (a hub shutting down) is held for too; older withdrawals are not', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { withdrawnInterestMs: 500, interestWaitMs: 200 });
    const nc = await natsClient(t, front);
    const first = await hub.peer(1);
    await first.handshake('LS+ late.x\r\nLS+ early.x\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    first.send('LS- early.x\r\n');
    await until(() => !up.subs.has('early.x'), 'early.x withdrawn');
    // The early withdrawal must be older than withdrawnInterestMs (500) when the link drops.
    const earlyAt = Date.now();
    await until(() => Date.now() >= earlyAt + 700, 'the early withdrawal is 700 ms old');
    // As nats-server's shutdown may do: its clients' interest withdrawn, then the link closed.
    first.send('LS- late.x\r\n');
    await until(() => !up.subs.has('late.x'), 'late.x withdrawn');
    first.socket.destroy();
    await until(() => !up.up, 'link gone');
    assert.deepEqual([...up.subs.keys()], ['late.x'], 'the interest withdrawn a moment before the drop is back');
    nc.publish('late.x', sc.encode('kept'));
    nc.publish('early.x', sc.encode('not held'));
    await nc.flush();
    await until(() => up.counters.bufferedMsgs === 1, 'one message held');
    const second = await hub.peer(2);
    await second.handshake('LS+ late.x\r\n');
    await second.expect(/^LMSG late\.x 4\r\nkept\r\n/, 'the held message once the hub wants it again');
  });

  it('a full buffer pauses the publisher (its flush waits) until the link is back and drained; nothing is lost', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { bufferBytes: 4096 });
    const nc = await natsClient(t, front);
    const first = await hub.peer(1);
    await first.handshake('LS+ bulk\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    first.socket.destroy();
    await until(() => !up.up, 'link gone');
    await hub.stop();

    const N = 400;
    const pad = 'x'.repeat(500);
    for (let i = 0; i < N; i++) nc.publish('bulk', sc.encode(`${String(i).padStart(4, '0')}${pad}`));
    let flushed = false;
    const flush = nc.flush().then(() => (flushed = true));
    await until(() => up.counters.pausedPublishers === 1, 'the publisher paused');
    // The point: its flush stays pending for a while.
    await quietFor(300);
    assert.equal(flushed, false, "the publisher's flush waits while it is paused");
    const heldWhilePaused = up.counters.bufferedMsgs;
    assert.ok(heldWhilePaused < N, `only part of the burst was read (${heldWhilePaused} of ${N})`);

    await hub.listen(hub.port);
    const second = await hub.peer(2, 'redial to the restarted hub');
    await second.handshake('LS+ bulk\r\n');
    await within(flush, 'the flush completes once the buffer drained');
    await until(
      () => lmsgPayloads(second.input, 'bulk').length === N,
      'every message at the hub',
      WAIT_MS,
      () => `${lmsgPayloads(second.input, 'bulk').length} of ${N}`,
    );
    const got = lmsgPayloads(second.input, 'bulk').map((p) => Number(p.slice(0, 4)));
    assert.deepEqual(
      got,
      Array.from({ length: N }, (_, i) => i),
      'all of them, in order',
    );
    assert.equal(up.counters.pausedPublishers, 0);
    assert.equal(up.counters.droppedNoInterest, 0);
  });

  it('close() removes the hub interest from the local broker, resumes paused publishers and counts what it discards', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { bufferBytes: 1024 });
    const nc = await natsClient(t, front);
    const peer = await hub.peer(1);
    await peer.handshake('LS+ held.x\r\n');
    await within(up.waitUntilUp(WAIT_MS), 'up');
    const before = front.broker.sublist.count;
    await hub.stop();
    await until(() => !up.up, 'link gone');
    for (let i = 0; i < 50; i++) nc.publish('held.x', sc.encode('y'.repeat(100)));
    const flush = nc.flush();
    await until(() => up.counters.pausedPublishers === 1, 'paused');
    const events: string[] = [];
    up.onStateChange((e) => events.push(e.type));
    const held = up.counters.bufferedMsgs;
    await within(up.close(), 'close');
    await within(flush, 'the publisher runs again after close');
    assert.equal(front.broker.sublist.count, before - 1, "the hub's interest left the local broker");
    assert.equal(up.counters.droppedOnClose, held);
    assert.deepEqual(events, ['closed']);
    assert.equal(up.state, 'closed');
    await assert.rejects(up.waitUntilUp(100), (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_CLOSED');
    // The local side is unaffected.
    const got: string[] = [];
    nc.subscribe('after.close', { callback: (_e, m) => got.push(sc.decode(m.data)) });
    nc.publish('after.close', sc.encode('ok'));
    await until(() => got.length === 1, 'local delivery after close');
  });
});
