// The uplink against a raw-protocol hub (helpers/raw-hub.ts) that misbehaves or goes quiet: a stale link (PINGs
// unanswered), no PONG to the handshake, our loop subject coming back, a hub's -ERR (logged once however often),
// subjects that are not UTF-8, and a port that is not a leafnode port. Each ends in lastError's code and, where the
// uplink should, a redial. Buffering during an outage is leafnode-uplink-outage.test.ts's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UplinkError, createLogger } from '../src/index.js';
import { quietFor, WAIT_MS, within } from '@event-broker/test-support/wait';
import { LIMITS, startFront, startHub, startUplink } from './helpers/raw-hub.js';

describe('uplink against a raw hub', () => {
  it('PINGs the hub every ping_interval and drops it as stale once ping_max go unanswered, then redials; the handshake PONG gives the first rtt', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { limits: { ...LIMITS, ping_interval: 100, ping_max: 2 } });
    const first = await hub.peer(1);
    await first.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    assert.ok(up.rttMs > 0, `the handshake's round trip is measured (${up.rttMs} ms)`);
    // The hub answers nothing more: two PINGs (ping_max), then the link is stale at the third tick.
    await within(first.closed, 'the stale link closes');
    assert.equal(up.lastError?.code, 'EUPLINK_STALE');
    assert.match(up.lastError!.message, /2 PINGs unanswered/);
    assert.equal(first.input.match(/PING\r\n/g)?.length, 2, 'ping_max PINGs after the handshake, then the close');
    await hub.peer(2, 'redial after the stale link');
  });

  it("a hub that never answers our CONNECT's PING is dropped after handshakeTimeoutMs (EUPLINK_HANDSHAKE) and redialled", async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub, { handshakeTimeoutMs: 500 });
    const first = await hub.peer(1);
    await first.expect(/PING\r\n/, 'CONNECT, interest and PING');
    await within(first.closed, 'the link closes at the handshake timeout');
    assert.equal(up.lastError?.code, 'EUPLINK_HANDSHAKE');
    assert.match(up.lastError!.message, /no PONG to our CONNECT within 500 ms/);
    assert.equal(up.up, false);
    await hub.peer(2, 'redialled');
  });

  it('our loop-detection subject coming back ends the link with the loop -ERR and waits before redialling', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const up = startUplink(t, front, hub);
    const peer = await hub.peer(1);
    await peer.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    peer.send(`LS+ ${up.loopSubject}\r\n`);
    await peer.expect(
      /^-ERR 'Loop detected for leafnode account="\$G"\. Delaying attempt to reconnect for 30s'\r\n/,
      'the loop -ERR',
    );
    await within(peer.closed, 'the link closes');
    assert.equal(up.lastError?.code, 'EUPLINK_LOOP');
    // The point: no redial comes for a while.
    await quietFor(300);
    assert.equal(hub.peers.length, 1, 'no redial within the loop delay');
  });

  it("a hub's -ERR becomes lastError and the uplink redials; each distinct failure is logged once", async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const lines: string[] = [];
    const recording = createLogger({
      level: 'debug',
      format: 'json',
      destination: { write: (s: string) => void lines.push(s) } as unknown as NodeJS.WritableStream,
    });
    const up = startUplink(t, front, hub, { logger: recording, handshakeTimeoutMs: 1000 });
    for (let n = 1; n <= 3; n++) {
      const peer = await hub.peer(n);
      await peer.expect(/PING\r\n/, 'handshake');
      peer.send("-ERR 'Authorization Violation'\r\n");
      peer.socket.end();
    }
    await hub.peer(4, 'a fourth attempt');
    assert.equal(up.up, false);
    assert.equal(up.lastError?.code, 'EUPLINK_HUB_ERROR');
    assert.match(up.lastError!.message, /Authorization Violation/);
    const warned = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40 && l.msg === 'uplink attempt failed');
    assert.equal(warned.length, 1, 'the repeated failure is logged at warn once');
    await assert.rejects(
      up.waitUntilUp(200),
      (e: unknown) => e instanceof UplinkError && /Authorization Violation/.test(e.message),
    );
  });

  it('LS+ and LMSG from the hub with a subject that is not UTF-8 are counted and logged (rate-limited); the link stays up', async (t) => {
    const front = await startFront(t);
    const hub = await startHub(t);
    const lines: string[] = [];
    const recording = createLogger({
      level: 'info',
      format: 'json',
      destination: { write: (s: string) => void lines.push(s) } as unknown as NodeJS.WritableStream,
    });
    const up = startUplink(t, front, hub, { logger: recording });
    const peer = await hub.peer(1);
    await peer.handshake();
    await within(up.waitUntilUp(WAIT_MS), 'up');
    const bad = '\xff\xfe';
    for (let i = 0; i < 20; i++) peer.socket.write(Buffer.from(`LS+ a.${bad}\r\nLMSG b.${bad} 2\r\nhi\r\n`, 'latin1'));
    peer.send('PING\r\n');
    await peer.expect(/PONG\r\n/, 'the link answers after them');
    assert.equal(up.counters.inRefused, 40, 'every refused LS+ and LMSG counted');
    const warned = lines
      .map((l) => JSON.parse(l) as { level: number; msg: string })
      .filter((l) => l.level === 40 && /UTF-8/.test(l.msg));
    assert.ok(warned.length >= 1 && warned.length <= 2, `logged, rate-limited: ${warned.length} warn lines for 40`);
    assert.equal(up.up, true);
  });

  it('a port whose INFO is not a leafnode port is refused at the handshake', async (t) => {
    const front = await startFront(t);
    const clientPort = await startHub(t, (lid) => ({
      server_id: 'NCLIENTPORT',
      version: '2.9.10',
      proto: 1,
      headers: true,
      max_payload: 1048576,
      client_id: lid,
    }));
    const up = startUplink(t, front, clientPort);
    await assert.rejects(
      up.waitUntilUp(1000),
      (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_HANDSHAKE' && /leafnode port/.test(e.message),
    );
    assert.equal(clientPort.peers[0]!.input, '', 'nothing is sent to a port that is not a leafnode port');
  });
});
