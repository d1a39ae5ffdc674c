// Debian's nats-server as a child process for side-by-side checks: started from a config text on a free loopback
// port, stopped in t.after. Absent, the test is skipped locally and fails under CI (.ci/run installs it). The
// process handling is shared/test/support/processes.ts's, which every package's tests use.
import net from 'node:net';
import type { TestContext } from 'node:test';
import { freePort, startNatsServer as startNatsServerWith } from '@event-broker/shared/testing/processes';

export { natsServerInstalled, requireNatsServer } from '@event-broker/shared/testing/processes';

/** Starts nats-server with `conf` (without a listen line) and returns its client port once it accepts. */
export async function startNatsServer(t: TestContext, conf: string): Promise<number> {
  const port = await freePort();
  await startNatsServerWith(t, [`listen: "127.0.0.1:${port}"`, conf], port);
  return port;
}

/**
 * Sends `lines` after CONNECT on a raw socket, then PING, and returns every line received before the PONG
 * (bounded by `timeoutMs`).
 */
export async function exchange(port: number, connect: Record<string, unknown>, lines: string[], timeoutMs = 5000): Promise<string[]> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  try {
    return await new Promise<string[]>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no PONG within ${timeoutMs} ms; got ${JSON.stringify(buf)}`)), timeoutMs);
      sock.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
      sock.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        const got = buf.split('\r\n');
        const pong = got.indexOf('PONG');
        if (pong >= 0) {
          clearTimeout(timer);
          resolve(got.slice(1, pong)); // the INFO line first
        }
      });
      const body = JSON.stringify({ verbose: false, pedantic: false, ...connect });
      sock.write(`CONNECT ${body}\r\n${lines.map((l) => `${l}\r\n`).join('')}PING\r\n`, 'latin1');
    });
  } finally {
    sock.destroy();
  }
}

/**
 * Sends `lines` after CONNECT on a raw socket and returns everything received after the INFO line until the server
 * closes the connection (bounded by `timeoutMs`): for the refusals that end a connection.
 */
export async function exchangeToClose(port: number, connect: Record<string, unknown>, lines: string[], timeoutMs = 5000): Promise<string> {
  const sock = net.connect(port, '127.0.0.1');
  let buf = '';
  try {
    return await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not closed within ${timeoutMs} ms; got ${JSON.stringify(buf)}`)), timeoutMs);
      sock.on('error', () => {}); // a reset after the -ERR is the close; 'close' reports it
      sock.on('data', (d: Buffer) => (buf += d.toString('latin1')));
      sock.on('close', () => {
        clearTimeout(timer);
        resolve(buf.slice(buf.indexOf('\r\n') + 2));
      });
      const body = JSON.stringify({ verbose: false, pedantic: false, ...connect });
      sock.write(`CONNECT ${body}\r\n${lines.map((l) => `${l}\r\n`).join('')}`, 'latin1');
    });
  } finally {
    sock.destroy();
  }
}
