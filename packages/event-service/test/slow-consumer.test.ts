// A subscriber that stops reading must not hold up anyone else: with a small max_pending, the server cuts it off
// while a fast subscriber on the same subject gets every message and the publisher keeps going. Checked against
// every target; the loops are bounded both in message count and in time.
//
// Observed from nats-server 2.9.10 (max_pending 256 KiB): it does not let pending pass max_pending. It stops reading
// from the publisher instead ("Timed out of fast producer stall (100ms)", in steps of 100–300 ms) until its write to
// the stalled reader has blocked for write_deadline; then it closes the reader ("Slow Consumer (Write Deadline)")
// without any -ERR. So nats-server's publisher waits about write_deadline once. Ours closes the reader as soon as its
// pending bytes pass max_pending and does not hold the publisher. Common to both, and asserted for both: the slow
// reader is closed, having received fewer than all messages and no -ERR; the fast reader gets every message in
// order; the publisher's writes never wait longer than write_deadline plus a margin. Ours only: with a 30 s
// write_deadline the slow reader is still closed, and the publisher never waits anywhere near the deadline.
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { type RawConn, RawPool } from '@event-broker/test-support/raw';
import { until } from '@event-broker/test-support/wait';
import { targets, type RunningTarget } from './helpers/targets.js';

const QUIET = { verbose: false, pedantic: false };
const MAX_PENDING = 256 * 1024;
const PAYLOAD = 4096;
const MESSAGES = 5000; // 20 MB in all: far more than loopback socket buffers plus max_pending absorb
const BATCH = 64;
const PUBLISH_WITHIN_MS = 10_000;
const WRITE_DEADLINE_MS = 500;
/** nats-server holds the publisher for one write_deadline; the margin absorbs scheduling on a loaded machine. */
const MAX_WRITE_WAIT_MS = WRITE_DEADLINE_MS + 1_500;

/** Counts `MSG <subject> <sid> <size>` records as they arrive, checking each payload's sequence number. */
class MsgCounter {
  count = 0;
  private input = '';
  private failure: Error | undefined;
  private done: ((err?: Error) => void) | undefined;
  constructor(
    conn: RawConn,
    private readonly size: number,
  ) {
    conn.socket.on('data', (chunk: Buffer) => {
      if (this.failure) return;
      this.input += chunk.toString('latin1');
      try {
        this.consume();
      } catch (err) {
        this.failure = err as Error;
        this.done?.(this.failure);
      }
    });
  }
  private consume(): void {
    for (;;) {
      const eol = this.input.indexOf('\r\n');
      if (eol < 0) return;
      const line = this.input.slice(0, eol);
      if (line === 'PONG' || line === 'PING') {
        this.input = this.input.slice(eol + 2);
        continue;
      }
      const m = /^MSG \S+ \S+ (\d+)$/.exec(line);
      if (!m) throw new Error(`unexpected line ${JSON.stringify(line.slice(0, 80))}`);
      const size = Number(m[1]);
      if (this.input.length < eol + 2 + size + 2) return;
      const body = this.input.slice(eol + 2, eol + 2 + size);
      const seq = Number(body.slice(0, body.indexOf(';')));
      assert.equal(size, this.size);
      assert.equal(seq, this.count, 'messages arrive in publish order, none missing');
      this.count++;
      this.input = this.input.slice(eol + 2 + size + 2);
      if (this.count >= MESSAGES) this.done?.();
    }
  }
  waitForAll(timeoutMs: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.count >= MESSAGES) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`the subscriber got ${this.count} of ${MESSAGES} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.done = (err) => {
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
    });
  }
}

function message(seq: number): string {
  const head = `${seq};`;
  return `PUB feed ${PAYLOAD}\r\n${head}${'x'.repeat(PAYLOAD - head.length)}\r\n`;
}

interface Outcome {
  longestWaitMs: number;
  slowReceived: number;
}

/** One slow (paused) and one fast subscriber on `feed`; a publisher pushes MESSAGES; returns what was seen. */
async function slowAndFast(server: RunningTarget, pool: RawPool): Promise<Outcome> {
  const slow = await pool.handshake(server, QUIET);
  slow.send('SUB feed 1\r\n');
  await slow.flush();
  slow.pause();

  const fast = await pool.handshake(server, QUIET);
  fast.send('SUB feed 2\r\n');
  await fast.flush();
  const counter = new MsgCounter(fast, PAYLOAD);

  const pub = await pool.handshake(server, QUIET);
  const started = Date.now();
  let longestWaitMs = 0;
  for (let seq = 0; seq < MESSAGES; seq += BATCH) {
    // The fast reader stays within a batch (see "keeps reading"); the wait is not counted as a publisher stall.
    await until(() => counter.count >= seq - BATCH, `the fast reader caught up to ${seq - BATCH}`, 10_000);
    let batch = '';
    for (let k = seq; k < Math.min(seq + BATCH, MESSAGES); k++) batch += message(k);
    const t0 = Date.now();
    await pub.sendAndDrain(batch);
    longestWaitMs = Math.max(longestWaitMs, Date.now() - t0);
    assert.ok(!pub.closed, 'the publisher stays connected');
    assert.ok(
      Date.now() - started < PUBLISH_WITHIN_MS,
      `published ${seq} of ${MESSAGES} within ${PUBLISH_WITHIN_MS} ms`,
    );
  }
  await pub.flush(PUBLISH_WITHIN_MS);

  await counter.waitForAll(10_000);
  assert.equal(counter.count, MESSAGES);

  // Paused, the slow socket cannot see the close: read what the kernel holds, then expect the end.
  slow.socket.resume();
  const closed = await slow.expectClosed(5000);
  const slowReceived = closed.rest.split('MSG feed 1 ').length - 1;
  assert.ok(slowReceived < MESSAGES, `the slow subscriber got ${slowReceived} of ${MESSAGES} before it was closed`);
  assert.doesNotMatch(closed.rest, /-ERR/, 'no -ERR is sent to a slow consumer');
  return { longestWaitMs, slowReceived };
}

for (const target of targets()) {
  describe(`slow consumer (${target.name})`, () => {
    let server: RunningTarget;
    const pool = new RawPool();
    before(async () => {
      // nats-server refuses to start with max_payload (default 1 MiB) above max_pending.
      server = await target.start({
        maxPendingBytes: MAX_PENDING,
        maxPayloadBytes: 64 * 1024,
        writeDeadlineMs: WRITE_DEADLINE_MS,
      });
    });
    afterEach(() => pool.closeAll());
    after(async () => {
      pool.closeAll();
      await server?.stop();
    });

    it('a subscriber that stops reading is closed while a fast one gets every message and the publisher is not stalled', async () => {
      const { longestWaitMs } = await slowAndFast(server, pool);
      assert.ok(longestWaitMs < MAX_WRITE_WAIT_MS, `the longest publisher write wait was ${longestWaitMs} ms`);
    });

    it('a subscriber that keeps reading is never cut off', async () => {
      const sub = await pool.handshake(server, QUIET);
      sub.send('SUB feed 1\r\n');
      await sub.flush();
      const counter = new MsgCounter(sub, PAYLOAD);
      const pub = await pool.handshake(server, QUIET);
      for (let seq = 0; seq < MESSAGES; seq += BATCH) {
        // A reader that keeps up: never more than one batch behind. On a loaded machine this test's own reader
        // can fall further behind than max_pending, and ours then cuts it, by design (unlike nats-server's stall).
        await until(() => counter.count >= seq - BATCH, `the reader caught up to ${seq - BATCH}`, 10_000);
        let batch = '';
        for (let k = seq; k < Math.min(seq + BATCH, MESSAGES); k++) batch += message(k);
        await pub.sendAndDrain(batch);
      }
      await pub.flush(PUBLISH_WITHIN_MS);
      await counter.waitForAll(10_000);
      assert.equal(sub.closed, false);
    });
  });

  if (target.name === 'event-service') {
    describe(`slow consumer with a long write_deadline (${target.name} only)`, () => {
      let server: RunningTarget;
      const pool = new RawPool();
      const LONG_DEADLINE_MS = 30_000;
      before(async () => {
        server = await target.start({
          maxPendingBytes: MAX_PENDING,
          maxPayloadBytes: 64 * 1024,
          writeDeadlineMs: LONG_DEADLINE_MS,
        });
      });
      afterEach(() => pool.closeAll());
      after(async () => {
        pool.closeAll();
        await server?.stop();
      });

      // nats-server would hold the publisher for the whole 30 s here; ours cuts the reader on max_pending.
      it('the reader is closed once its pending bytes pass max_pending, without waiting for write_deadline', async () => {
        const { longestWaitMs } = await slowAndFast(server, pool);
        assert.ok(longestWaitMs < LONG_DEADLINE_MS / 3, `the longest publisher write wait was ${longestWaitMs} ms`);
      });
    });
  }
}
