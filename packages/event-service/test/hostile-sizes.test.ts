// Issue 11, finding 1: one line must not end the process. The service runs as its CLI (a crash ends the child, not
// the test runner) beside nats-server 2.9.10 configured alike, and every size field of every operation a peer may
// send it (PUB, HPUB on the client port; LMSG and the leaf HMSG on the leafnode port, sizes and header sizes) is
// tried with numbers too large to allocate, too long to parse, over max_payload and inconsistent. nats-server's
// answer is the expectation where it has one (parser.go: sizes of more than 9 digits are malformed, closed without
// -ERR; a PUB over max_payload is 'Maximum Payload Violation'). Where it has none (it reads a leaf message of any
// 9-digit size), ours reads past a leaf message over max_payload up to what any server may allow (64 MiB), holding
// none of it, and closes with 'Maximum Payload Violation' beyond. After every line the service still serves.
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { type Run } from '@event-broker/test-support/child';
import { requireNatsServer, startNatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { connectAndHandshake, connectRaw, type RawConn } from '@event-broker/test-support/raw';
import { startTokenAndLeafService } from './helpers/cli.js';

const TOKEN = 's3cret-token';
const AUTH = { verbose: false, pedantic: false, auth_token: TOKEN };
/** A leaf's CONNECT as nats-server 2.9 sends it (no `lang`). */
const LEAF_CONNECT = 'CONNECT {"version":"2.9.10","server_id":"NHOSTILE","name":"hostile","headers":true}\r\n';

interface Ports {
  port: number;
  leafPort: number;
}

interface Ours extends Ports {
  run: Run;
}

function startOurs(t: TestContext): Promise<Ours> {
  return startTokenAndLeafService(t, TOKEN);
}

async function startTheirs(t: TestContext): Promise<Ports> {
  const [port, leafPort] = [await freePort(), await freePort()];
  await startNatsServer(
    t,
    [`listen: "${HOST}:${port}"`, `authorization { token: "${TOKEN}" }`, `leafnodes { listen: "${HOST}:${leafPort}" }`],
    port,
  );
  return { port, leafPort };
}

/** What a server does with `line` sent after `preamble`: the text it answers, and whether it closed. */
interface Outcome {
  answer: string;
  closed: boolean;
}

/** The -ERR lines of what came back (a leaf link also gets the server's PINGs, LS+ and INFO updates). */
function errors(text: string): string {
  return (text.match(/-ERR [^\r]*\r\n/g) ?? []).join('');
}

/** Sends preamble + line; waits for the close, or gives the server `openMs` to show it keeps the connection. */
async function outcome(port: number, preamble: string, line: string, openMs = 300): Promise<Outcome> {
  const conn = await connectRaw({ host: HOST, port });
  try {
    if (preamble !== '') {
      conn.send(`${preamble}PING\r\n`);
      await conn.expect(/PONG\r\n/);
    }
    conn.send(line);
    const closed = await conn.expectClosed(openMs).then(
      (c) => c.rest,
      () => undefined,
    );
    return { answer: errors(closed ?? conn.buffered), closed: closed !== undefined };
  } finally {
    conn.close();
  }
}

/** The service still answers a good client, and its leafnode port still greets. */
async function stillServing(ours: Ours, after: string): Promise<void> {
  assert.equal(ours.run.child.exitCode, null, `the service exited after ${after}: ${ours.run.stderr()}`);
  const good: RawConn = await connectAndHandshake({ host: HOST, port: ours.port }, AUTH);
  good.close();
  (await connectRaw({ host: HOST, port: ours.leafPort })).close();
}

const HUGE = '999999999999999'; // 15 digits: Buffer.allocUnsafe threw ERR_OUT_OF_RANGE on it

test('an LMSG with a 15-digit size before CONNECT on the leafnode port is an Authorization Violation and the service stays up, as nats-server', async (t) => {
  if (!requireNatsServer(t)) return;
  const [ours, theirs] = [await startOurs(t), await startTheirs(t)];
  const line = `LMSG foo ${HUGE}\r\n`;
  const expected = await outcome(theirs.leafPort, '', line);
  assert.deepEqual(expected, { answer: "-ERR 'Authorization Violation'\r\n", closed: true }, 'nats-server 2.9.10');
  assert.deepEqual(await outcome(ours.leafPort, '', line), expected);
  await stillServing(ours, line);
});

test("every size field is bounded before anything is allocated: the answers are nats-server's, and the service stays up", async (t) => {
  if (!requireNatsServer(t)) return;
  const [ours, theirs] = [await startOurs(t), await startTheirs(t)];
  const client = `CONNECT ${JSON.stringify({ ...AUTH, headers: true })}\r\n`;
  // [port, preamble, line]: the same bytes to both servers, nats-server's outcome expected of ours.
  const cases: ['port' | 'leafPort', string, string][] = [
    ['port', client, `PUB x ${HUGE}\r\n`],
    ['port', client, 'PUB x 1234567890\r\n'],
    ['port', client, 'PUB x 999999999\r\n'],
    ['port', client, 'PUB x r 1048577\r\n'],
    ['port', client, 'PUB x -1\r\n'],
    ['port', client, `HPUB x ${HUGE} ${HUGE}\r\n`],
    ['port', client, `HPUB x 12 ${HUGE}\r\n`],
    ['port', client, 'HPUB x 12 999999999\r\n'],
    ['port', client, 'HPUB x 999999999 12\r\n'],
    ['port', '', `PUB x ${HUGE}\r\n`],
    ['port', '', `HPUB x 12 ${HUGE}\r\n`],
    ['leafPort', '', `HMSG foo ${HUGE} ${HUGE}\r\n`],
    ['leafPort', '', `LMSG foo + r q ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `LMSG foo ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `LMSG foo reply ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `LMSG foo + reply q1 q2 ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `LMSG foo | q1 ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `HMSG foo ${HUGE} ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, `HMSG foo 12 ${HUGE}\r\n`],
    ['leafPort', LEAF_CONNECT, 'HMSG foo 999999999 12\r\n'],
    ['leafPort', LEAF_CONNECT, 'LMSG foo -5\r\n'],
  ];
  const differences: string[] = [];
  for (const [port, preamble, line] of cases) {
    const want = await outcome(theirs[port], preamble, line);
    const got = await outcome(ours[port], preamble, line);
    if (JSON.stringify(got) !== JSON.stringify(want)) {
      differences.push(
        `${port} ${JSON.stringify(line)}: ours ${JSON.stringify(got)}, nats-server ${JSON.stringify(want)}`,
      );
    }
    await stillServing(ours, line);
  }
  assert.deepEqual(differences, []);
});

test('a leaf message over what any server allows (64 MiB) is refused with Maximum Payload Violation before its payload is read; one within it is read past, the link kept', async (t) => {
  const ours = await startOurs(t);
  for (const line of [
    'LMSG foo 67108865\r\n',
    'LMSG foo + r q 999999999\r\n',
    'HMSG foo 12 67108865\r\n',
    'HMSG foo r 999999999 999999999\r\n',
  ]) {
    assert.deepEqual(
      await outcome(ours.leafPort, LEAF_CONNECT, line),
      { answer: "-ERR 'Maximum Payload Violation'\r\n", closed: true },
      line,
    );
    await stillServing(ours, line);
  }
  // Over max_payload (1 MiB) but within the ceiling: no -ERR, the link stays, and a PING after the payload is answered.
  for (const size of [1048577, 4 * 1048576]) {
    const conn = await connectRaw({ host: HOST, port: ours.leafPort });
    try {
      conn.send(`${LEAF_CONNECT}PING\r\n`);
      await conn.expect(/PONG\r\n/);
      conn.send(`LMSG foo ${size}\r\n`);
      conn.send(Buffer.concat([Buffer.alloc(size, 0x61), Buffer.from('\r\nPING\r\n')]));
      await conn.expect(/PONG\r\n/, 5000);
      assert.equal(errors(conn.buffered), '', `${size}: no -ERR`);
      assert.equal(conn.closed, false, `${size}: the link stays`);
    } finally {
      conn.close();
    }
    await stillServing(ours, `LMSG foo ${size}`);
  }
});
