// nats-server with JetStream for the JetStream backend's tests: a store directory that outlives a restart (removed
// in t.after), a connection of the official client, and the backend opened on it with test-sized settings.
import fs from 'node:fs';
import { connect, type NatsConnection } from 'nats';
import { createLogger, type Logger } from '@event-broker/shared';
import { startNatsServer, type NatsServer } from '@event-broker/test-support/nats-server';
import { freePort, HOST } from '@event-broker/test-support/processes';
import { untrackedTmpDir, type AfterHook } from '@event-broker/test-support/tmp';
import type { EventBackend } from '../../src/handlers/event-backend.js';
import { openJetStreamBackend } from '../../src/handlers/jetstream/backend.js';
import { jetStreamStoreConfig, type StoreSettings } from '../../src/handlers/jetstream/store-config.js';

export const quiet: Logger = createLogger({ format: 'text', level: 'silent', name: 'test' });

export interface JetStreamServer {
  server: NatsServer;
  port: number;
  storeDir: string;
  /** SIGKILL, then the same config, port and store directory again. */
  restart(): Promise<void>;
}

/** nats-server on a free loopback port with JetStream storing under a tmp dir; `lines` add to its config. */
export async function startJetStream(t: AfterHook, lines: readonly string[] = []): Promise<JetStreamServer> {
  // Not tmpDir: its removal would be the first after-hook, run while the server still writes there (ENOTEMPTY, and
  // the hooks after it skipped: a hung file). Removed by the hook below, once the server in use is stopped.
  const storeDir = untrackedTmpDir('jetstream-');
  const port = await freePort();
  const config = [`listen: "${HOST}:${port}"`, `jetstream { store_dir: ${JSON.stringify(storeDir)} }`, ...lines];
  let server: NatsServer;
  try {
    server = await startNatsServer(t, config, port);
  } catch (err) {
    fs.rmSync(storeDir, { recursive: true, force: true });
    throw err;
  }
  const s: JetStreamServer = {
    server,
    port,
    storeDir,
    async restart() {
      await s.server.stop('SIGKILL');
      s.server = await startNatsServer(t, config, port);
    },
  };
  // After the first server's own hook; a restarted one's hook comes later, so the server in use is stopped here.
  t.after(async () => {
    await s.server.stop('SIGKILL');
    fs.rmSync(storeDir, { recursive: true, force: true });
  });
  return s;
}

export async function connectTo(t: AfterHook, port: number): Promise<NatsConnection> {
  const nc = await connect({ servers: `${HOST}:${port}`, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  t.after(() => nc.close().catch(() => undefined));
  return nc;
}

export interface OpenOptions {
  store?: Omit<StoreSettings, 'path' | 'backend'>;
  hubDomain?: string;
  hubJetStream?: boolean;
}

export async function openBackend(t: AfterHook, nc: NatsConnection, opts: OpenOptions = {}): Promise<EventBackend> {
  const backend = await openJetStreamBackend({
    nc,
    config: jetStreamStoreConfig(opts.store),
    hubDomain: () => opts.hubDomain,
    hubJetStream: () => opts.hubJetStream,
    logger: quiet,
  });
  t.after(() => backend.close());
  return backend;
}

/** An event for `append`: the body is a small envelope the feed's filters read. */
export function event(id: string, type = 'order:created', sinks: string[] = [], extra: object = {}) {
  return { id, type, sinks, body: JSON.stringify({ id, type, producer: { id: 'p1' }, ...extra }) };
}
