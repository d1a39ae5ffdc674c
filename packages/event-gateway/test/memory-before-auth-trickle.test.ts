// Issue 11, finding 7, at the gateway, the trickle case (a file of its own: one TLS record per byte keeps a core busy
// for tens of seconds, and apart from memory-before-auth.test.ts the two run side by side). What it checks and why the
// bound: memory-before-auth.test.ts and helpers/memory-before-auth.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireNatsServer } from '@event-broker/test-support/nats-server';
import { measureParking } from '@event-broker/test-support/parking';
import { devPki } from './helpers/ops.js';
import { COUNT, TRICKLE_BOUND_KIB, openers, partialConnect, report, startBoth } from './helpers/memory-before-auth.js';

test('100 TLS connections trickling a partial CONNECT one byte per write stay open and stay small at the gateway, as on nats-server', async (t) => {
  // One byte per TLS record, so the gateway decrypts and reads each on its own (a buffer per read cost ~1.3 MiB for
  // a 4 KB line: review of issue 11, 1a). No client certificate: what anyone reaching the port can do.
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const s = await startBoth(t, pki);
  const [what, open] = openers(pki, s.ours.port)[1]!;
  const [theirs, ours] = await Promise.all([
    measureParking(s.theirs.pid, {
      count: COUNT,
      open: openers(pki, s.theirs.port)[1]![1],
      bytes: partialConnect,
      trickle: true,
    }),
    measureParking(s.ours.pid, { count: COUNT, open, bytes: partialConnect, trickle: true }),
  ]);
  report(t, `${what}, a partial CONNECT of 4 KB one byte per write`, ours, theirs);
  assert.equal(ours.stillOpen, COUNT, `${what}: a CONNECT within max_control_line may wait for auth_timeout`);
  assert.ok(
    ours.perConnectionKiB <= TRICKLE_BOUND_KIB,
    `${what}: ${ours.perConnectionKiB.toFixed(1)} KiB per connection (bound ${TRICKLE_BOUND_KIB})`,
  );
});
