// The uplink's hub URLs and its redial backoff, without a socket: which URL spellings parse (and to what, the
// credentials kept out of what is displayed), which are refused, and the backoff's bounds under each jitter. The
// link itself, against a raw hub, is leafnode-uplink-session/-outage/-faults.test.ts's.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { UplinkError, backoffDelayMs, parseHubUrl } from '../src/index.js';

describe('uplink URLs and backoff', () => {
  it('parses nats://, tls://, nats-leaf:// and bare host:port, port 7422 by default, credentials kept out of display', () => {
    assert.deepEqual(parseHubUrl('nats://127.0.0.1:7000'), {
      host: '127.0.0.1',
      port: 7000,
      tls: false,
      display: 'nats://127.0.0.1:7000',
    });
    assert.deepEqual(parseHubUrl('tls://hub.example'), {
      host: 'hub.example',
      port: 7422,
      tls: true,
      display: 'tls://hub.example:7422',
    });
    assert.deepEqual(parseHubUrl('localhost:7001'), {
      host: 'localhost',
      port: 7001,
      tls: false,
      display: 'nats://localhost:7001',
    });
    assert.deepEqual(parseHubUrl('nats-leaf://[::1]:7002'), {
      host: '::1',
      port: 7002,
      tls: false,
      display: 'nats-leaf://[::1]:7002',
    });
    const creds = parseHubUrl('nats://leaf:s3cret@10.0.0.1:7422');
    assert.equal(creds.user, 'leaf');
    assert.equal(creds.pass, 's3cret');
    assert.doesNotMatch(creds.display, /s3cret/);
    assert.throws(
      () => parseHubUrl('http://x:1'),
      (e: unknown) => e instanceof UplinkError && e.code === 'EUPLINK_URL' && /http/.test(e.message),
    );
    assert.throws(
      () => parseHubUrl('nats://u:topsecret@:1'),
      (e: unknown) => e instanceof UplinkError && !e.message.includes('topsecret'),
    );
  });

  it('backoff doubles from the base, never exceeds the cap, and is at least half of its step (half jitter), anywhere below it (full), or the step (none)', () => {
    for (let attempt = 1; attempt <= 40; attempt++) {
      const step = Math.min(10_000, 1000 * 2 ** (attempt - 1));
      for (let k = 0; k < 20; k++) {
        const d = backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000, jitter: 'half' });
        assert.ok(d >= step / 2 && d <= step, `attempt ${attempt}: ${d} within [${step / 2}, ${step}]`);
        const f = backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000 });
        assert.ok(f >= 0 && f < step, `attempt ${attempt}: ${f} within [0, ${step})`);
      }
      assert.equal(backoffDelayMs(attempt, { baseMs: 1000, capMs: 10_000, jitter: 'none' }), step);
    }
    assert.equal(
      backoffDelayMs(2 ** 40, { baseMs: 1000, capMs: 10_000, jitter: 'none' }),
      10_000,
      'a huge attempt count is the cap',
    );
  });
});
