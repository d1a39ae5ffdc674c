// The gateway's HTTP-speaking listeners and web pages: its monitoring port answers no Host name that could be
// rebound to it and sends no CORS header unless the origin is listed; its WebSocket port refuses a page of an
// origin it does not trust with nats-server's 403 (same_origin, allowed_origins; the rules are shared with the
// service's and checked there against nats-server too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import WebSocket from 'ws';
import { within } from '@event-broker/test-support/wait';
import { startBridge } from './helpers/bridge.js';

function get(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
  return within(
    new Promise((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
      });
      req.on('error', reject);
    }),
    `GET ${path}`,
  );
}

test('the monitoring port refuses a rebindable Host and sends CORS only to a listed origin', async (t) => {
  const b = await startBridge(t, {
    config: { monitor: { host: '127.0.0.1', port: 0, allowed_origins: ['https://ops.example'] } },
  });
  const port = b.gateway.monitorPort!;
  assert.equal((await get(port, '/varz', { host: 'rebind.example' })).status, 403);
  assert.equal((await get(port, '/connz', { host: `localhost:${port}` })).status, 200);
  const foreign = await get(port, '/connz', { origin: 'https://evil.example' });
  assert.equal(foreign.headers['access-control-allow-origin'], undefined);
  const listed = await get(port, '/connz', { origin: 'https://ops.example' });
  assert.equal(listed.headers['access-control-allow-origin'], 'https://ops.example');
});

test('the WebSocket port refuses a foreign page with 403 (same_origin) and lets the same origin upgrade', async (t) => {
  const b = await startBridge(t, { config: { websocket: { host: '127.0.0.1', port: 0, same_origin: true } } });
  const port = b.gateway.websocketPort!;
  const tlsOpts = {
    ca: fs.readFileSync(b.pki.ca),
    cert: fs.readFileSync(b.pki.client.cert),
    key: fs.readFileSync(b.pki.client.key),
  };
  const outcome = (origin: string) =>
    within(
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(`wss://localhost:${port}`, { ...tlsOpts, origin });
        ws.on('open', () => {
          ws.terminate();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('error', reject);
      }),
      `upgrade from ${origin}`,
    );
  assert.equal(await outcome('https://evil.example'), 403);
  assert.equal(await outcome(`https://localhost:${port}`), 101);
});
