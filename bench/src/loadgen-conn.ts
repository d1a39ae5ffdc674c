// The node generator's raw NATS connection: plain or TLS handshake, CONNECT, PING/PONG flushes, and a MSG counter
// that skips payloads by their declared size without parsing subjects. What goes over it and what is measured is
// left to loadgen-publish.ts, loadgen-measure.ts and the modes.
import fs from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';

export const GENERATOR = 'node-raw';
const CONNECT =
  'CONNECT {"verbose":false,"pedantic":false,"tls_required":false,"name":"bench","lang":"node-raw",' +
  '"version":"1.0.0","protocol":1,"headers":false,"no_responders":false}\r\n';

/** A raw NATS connection: handshake, PING/PONG flushes, and a MSG counter that skips payloads by size. */
export class RawConn {
  /** Sockets closed, over all connections: a result's `disconnects` (until it prints, only a server closes one). */
  static disconnects = 0;
  msgs = 0;
  error: string | undefined;
  private skip = 0;
  private partial: Buffer | undefined;
  private pongs: Array<() => void> = [];
  onMsg: ((line: string) => void) | undefined;

  private constructor(readonly sock: net.Socket) {
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => this.feed(d));
    sock.on('close', () => {
      RawConn.disconnects++;
      for (const p of this.pongs.splice(0)) p();
    });
    sock.on('error', (e) => {
      this.error ??= e.message;
    });
  }

  static async open(port: number): Promise<RawConn> {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', resolve);
      sock.once('error', reject);
    });
    const c = new RawConn(sock);
    sock.write(CONNECT);
    await c.flush();
    if (c.error) throw new Error(c.error);
    return c;
  }

  /** As nats-server 2.9 clients do: the plaintext INFO line, then the TLS upgrade, then CONNECT with the token. */
  static async openTls(port: number, t: { ca: string; cert?: string; key?: string; token?: string }): Promise<RawConn> {
    const plain = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      let info = '';
      plain.once('error', reject);
      plain.on('data', function onInfo(d: Buffer) {
        info += d.toString('latin1');
        if (!info.includes('\r\n')) return;
        plain.off('data', onInfo);
        resolve();
      });
    });
    const sock = tls.connect({
      socket: plain,
      ca: fs.readFileSync(t.ca),
      ...(t.cert !== undefined && { cert: fs.readFileSync(t.cert) }),
      ...(t.key !== undefined && { key: fs.readFileSync(t.key) }),
      servername: 'localhost',
    });
    await new Promise<void>((resolve, reject) => {
      sock.once('secureConnect', resolve);
      sock.once('error', reject);
    });
    const c = new RawConn(sock);
    const connect = {
      verbose: false,
      pedantic: false,
      tls_required: true,
      name: 'bench',
      lang: GENERATOR,
      version: '1.0.0',
      protocol: 1,
      headers: false,
      no_responders: false,
      ...(t.token !== undefined && { auth_token: t.token }),
    };
    sock.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
    await c.flush();
    if (c.error) throw new Error(c.error);
    return c;
  }

  /** PING, resolved by the PONG: everything sent before it has been processed. */
  flush(): Promise<void> {
    return new Promise((resolve) => {
      this.pongs.push(resolve);
      this.sock.write('PING\r\n');
    });
  }

  write(b: Buffer | string): Promise<void> {
    if (this.sock.write(b)) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        this.sock.off('close', done);
        this.sock.off('drain', done);
        resolve();
      };
      this.sock.once('drain', done);
      this.sock.once('close', done);
    });
  }

  private feed(chunk: Buffer): void {
    let buf = chunk;
    let i = 0;
    if (this.skip > 0) {
      if (this.skip >= buf.length) {
        this.skip -= buf.length;
        return;
      }
      i = this.skip;
      this.skip = 0;
    }
    if (this.partial) {
      buf = Buffer.concat([this.partial, buf.subarray(i)]);
      this.partial = undefined;
      i = 0;
    }
    const len = buf.length;
    while (i < len) {
      const eol = buf.indexOf(10, i);
      if (eol < 0) {
        this.partial = buf.subarray(i);
        return;
      }
      if (buf[i] === 77 /* M: MSG <subject> <sid> [reply] <size>\r\n */) {
        let j = eol - 2;
        let size = 0;
        for (let mul = 1; buf[j] !== 32; j--, mul *= 10) size += (buf[j]! - 48) * mul;
        this.msgs++;
        if (this.onMsg) this.onMsg(buf.toString('latin1', i, eol - 1));
        const next = eol + 1 + size + 2;
        if (next > len) {
          this.skip = next - len;
          return;
        }
        i = next;
      } else {
        this.control(buf, i, eol);
        i = eol + 1;
      }
    }
  }

  private control(buf: Buffer, i: number, eol: number): void {
    const c0 = buf[i];
    const c1 = buf[i + 1];
    if (c0 === 80 && c1 === 73)
      this.sock.write('PONG\r\n'); // PING
    else if (c0 === 80 && c1 === 79)
      this.pongs.shift()?.(); // PONG
    else if (c0 === 45) this.error ??= buf.toString('latin1', i, eol - 1); // -ERR
    // INFO and +OK: nothing to do.
  }
}
