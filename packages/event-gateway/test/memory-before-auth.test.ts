// Issue 11, finding 7, at the gateway: what a client that never authenticates can make it hold over TLS, with and
// without a client certificate (the handshake admits both; the certificate is judged with the token, at CONNECT).
// The gateway runs as its CLI (a process of its own, so the RSS is its own) beside nats-server 2.9.10 with the same
// TLS certificate and a token, in the same test. nats-server refuses any first byte but `C` before CONNECT and
// bounds a partial line by max_control_line; the gateway must stay as flat. The figures (t.diagnostic) matter more
// than the generous bounds asserted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { requireNatsServer } from '@event-broker/test-support/nats-server';
import { measureParking } from '@event-broker/test-support/parking';
import { devPki } from './helpers/ops.js';
import {
  ATTACK_BOUND_KIB,
  COUNT,
  PARKED_BOUND_KIB,
  attack,
  openers,
  partialConnect,
  report,
  startBoth,
} from './helpers/memory-before-auth.js';

// A fresh pair of servers per case: memory freed by one case stays in the RSS and would hide the next one's cost.
// Both servers of a pair are measured at once (each figure is its own process's RSS), not one after the other.
test('100 unauthenticated TLS connections sending 1 MiB each cost the gateway what they cost nats-server, with and without a client certificate', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  const problems: string[] = [];
  for (const k of [0, 1]) {
    const s = await startBoth(t, pki);
    const [what, open] = openers(pki, s.ours.port)[k]!;
    const [theirs, ours] = await Promise.all([
      measureParking(s.theirs.pid, { count: COUNT, open: openers(pki, s.theirs.port)[k]![1], bytes: attack }),
      measureParking(s.ours.pid, { count: COUNT, open, bytes: attack }),
    ]);
    report(t, `${what}, 1 MiB INFO or PUB before CONNECT`, ours, theirs);
    if (ours.perConnectionKiB > ATTACK_BOUND_KIB)
      problems.push(`${what}: ${ours.perConnectionKiB.toFixed(1)} KiB per connection (bound ${ATTACK_BOUND_KIB})`);
    if (ours.stillOpen !== 0)
      problems.push(`${what}: ${ours.stillOpen} connections left open (nats-server: ${theirs.stillOpen})`);
  }
  assert.deepEqual(problems, []);
});

test('100 TLS connections parked on a partial CONNECT within max_control_line stay open and stay small at the gateway, as on nats-server', async (t) => {
  if (!requireNatsServer(t)) return;
  const pki = await devPki(t);
  for (const k of [0, 1]) {
    const s = await startBoth(t, pki);
    const [what, open] = openers(pki, s.ours.port)[k]!;
    const [theirs, ours] = await Promise.all([
      measureParking(s.theirs.pid, { count: COUNT, open: openers(pki, s.theirs.port)[k]![1], bytes: partialConnect }),
      measureParking(s.ours.pid, { count: COUNT, open, bytes: partialConnect }),
    ]);
    report(t, `${what}, a partial CONNECT of 4 KB`, ours, theirs);
    assert.equal(ours.stillOpen, COUNT, `${what}: a CONNECT within max_control_line may wait for auth_timeout`);
    assert.ok(
      ours.perConnectionKiB <= PARKED_BOUND_KIB,
      `${what}: ${ours.perConnectionKiB.toFixed(1)} KiB per connection (bound ${PARKED_BOUND_KIB})`,
    );
  }
});
