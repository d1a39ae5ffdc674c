// Hostile input against the running service over real sockets (issue 11): random and mutated frames to its client
// port (with and without a CONNECT carrying the token in front) and its leafnode port (with and without a leaf's
// CONNECT), each on a fresh connection split in random chunks. After every one the service (its CLI, a process of
// its own) must still run and a good client connected throughout must get its PONG. Fixed seed here; `pnpm fuzz`
// runs the same property with random seeds for minutes, and the gateway's port too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { plainOpener } from '@event-broker/test-support/parking';
import { goodClient, showStream, wireProperty, type WireTarget } from '@event-broker/test-support/wire-fuzz';
import { startTokenAndLeafService } from './helpers/cli.js';

const TOKEN = 's3cret-token';
const SEED = 0x11_f022;
const RUNS = 120;
/** Small limits so short streams reach them. */
const LIMITS = { maxPayload: 256, maxControlLine: 192 };
const CLIENT_CONNECT = Buffer.from(
  `CONNECT ${JSON.stringify({ verbose: false, pedantic: false, headers: true, auth_token: TOKEN })}\r\n`,
);
const LEAF_CONNECT = Buffer.from('CONNECT {"version":"2.9.10","server_id":"NFUZZ","name":"fuzz","headers":true}\r\n');

test('random and mutated frames to the client and leafnode ports never end the service, and a good client is answered after each', async (t) => {
  const { run, port, leafPort } = await startTokenAndLeafService(t, TOKEN, {
    service: [
      `max_payload = ${LIMITS.maxPayload}`,
      `max_pending = "1MB"`,
      `max_control_line = ${LIMITS.maxControlLine}`,
    ],
  });
  const alive = () => run.child.exitCode === null && run.child.signalCode === null;
  const good = await goodClient(plainOpener(port), CLIENT_CONNECT);
  t.after(() => good.close());
  const targets: WireTarget[] = [
    { name: 'client port', open: plainOpener(port), role: 'client' },
    {
      name: 'client port, after a CONNECT with the token',
      open: plainOpener(port),
      role: 'client',
      preamble: CLIENT_CONNECT,
    },
    { name: 'leafnode port', open: plainOpener(leafPort), role: 'leaf' },
    { name: 'leafnode port, after a leaf CONNECT', open: plainOpener(leafPort), role: 'leaf', preamble: LEAF_CONNECT },
  ];
  const res = await fc.check(wireProperty({ ...LIMITS, targets, alive, good }), {
    seed: SEED,
    numRuns: RUNS,
    unbiased: true,
    endOnFailure: true,
  });
  if (res.failed) {
    const [[target, stream]] = res.counterexample!;
    assert.fail(
      `${String(res.errorInstance)}\n  target: ${target.name}\n  stream: ${showStream(stream)}\n  seed ${res.seed}, path ${res.counterexamplePath}\n  stderr: ${run.stderr().slice(-2000)}`,
    );
  }
  assert.ok(alive(), 'the service is still running');
  await good.ping(2000);
  // Uncaught errors would have ended the process; errors caught and logged must not appear either.
  const errors = run
    .stdout()
    .split('\n')
    .filter((l) => /"level":(5\d|60)/.test(l));
  assert.deepEqual(errors, [], 'no error-level log lines');
});
