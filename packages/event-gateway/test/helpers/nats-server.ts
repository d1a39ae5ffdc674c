// Debian's nats-server as a child process for side-by-side checks: started from a config text on a free loopback
// port, stopped in t.after. Absent, the test is skipped locally and fails under CI (.ci/run installs it).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';

export function natsServerInstalled(): boolean {
  return spawnSync('nats-server', ['--version'], { encoding: 'utf8' }).status === 0;
}

/** Skips the test (locally) or throws (CI) when nats-server is missing; true when it can run. */
export function requireNatsServer(t: TestContext): boolean {
  if (natsServerInstalled()) return true;
  if (process.env['CI']) throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
  t.skip('nats-server is not installed');
  return false;
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Starts nats-server with `conf` (without a listen line) and returns its client port once it accepts. */
export async function startNatsServer(t: TestContext, conf: string, timeoutMs = 5000): Promise<number> {
  const port = await freePort();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-server-'));
  const file = path.join(dir, 'server.conf');
  fs.writeFileSync(file, `listen: "127.0.0.1:${port}"\n${conf}\n`);
  const child = spawn('nats-server', ['-c', file], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  t.after(async () => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nats-server exited with ${child.exitCode}: ${stderr}`);
    const up = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (up) return port;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nats-server did not listen on ${port} within ${timeoutMs} ms: ${stderr}`);
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
