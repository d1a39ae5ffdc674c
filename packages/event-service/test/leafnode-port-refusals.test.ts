// What the [leafnodes] port answers a peer that is not a leaf or breaks the protocol, on the raw wire, as
// nats-server 2.9.10 does: a client CONNECT is told it reached the leaf node port, anything before CONNECT is an
// Authorization Violation, and our own loop-detection subject coming back closes the link. The refused leaves'
// logs and counters are leaf-refusals.test.ts.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startEventService, type EventService } from '../src/index.js';
import { until, within } from '@event-broker/test-support/wait';

describe('leafnode port refusals (raw protocol)', () => {
  let svc: EventService;
  before(async () => {
    svc = await startEventService({
      service: { host: '127.0.0.1', port: 0 },
      leafnodes: { host: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
    });
  });
  after(() => svc.close());

  async function exchange(send: string): Promise<string> {
    const s = net.connect(svc.leafnodePort!, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.on('error', () => {});
    await within(new Promise((r) => s.once('connect', r)), 'connect');
    s.write(send);
    await within(closed, `the link closes after ${JSON.stringify(send)}`).catch(() => {});
    s.destroy();
    return got;
  }

  it("a client CONNECT on the leaf port gets nats-server's refusal", async () => {
    const got = await exchange('CONNECT {"lang":"node","version":"2.29.3"}\r\nPING\r\n');
    assert.match(got, /^INFO \{.*\} \r\n-ERR 'attempted to connect to leaf node port'\r\n$/);
  });

  it('anything before CONNECT is an Authorization Violation', async () => {
    const got = await exchange('LS+ foo\r\n');
    assert.match(got, /-ERR 'Authorization Violation'\r\n$/);
  });

  it('our own loop-detection subject coming back closes the link', async () => {
    const s = net.connect(svc.leafnodePort!, '127.0.0.1');
    let got = '';
    s.on('data', (d: Buffer) => (got += d.toString('latin1')));
    s.on('error', () => {});
    const closed = new Promise<void>((r) => s.once('close', () => r()));
    s.write('CONNECT {"version":"2.9.10","server_id":"NTEST","name":"raw","headers":true}\r\n');
    await until(() => /LS\+ \$LDS\.\S+\r\n/.test(got), 'our $LDS interest');
    const lds = /LS\+ (\$LDS\.\S+)\r\n/.exec(got)![1]!;
    s.write(`LS+ ${lds}\r\n`);
    await within(closed, 'the link closes');
    assert.match(got, /-ERR 'Loop detected for leafnode account="\$G"\. Delaying attempt to reconnect for 30s'\r\n$/);
  });
});
