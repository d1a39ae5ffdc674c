// One test file, several servers: a target is either our event service (started in this process) or Debian's
// nats-server (a child process), configured alike, so the same assertions compare behaviour instead of guessing.
// Environment: TARGETS=event-service or nats-server (a comma list) runs only those; NATS_SERVER_DEBUG=1 starts
// nats-server with -D (=trace: -DV) and passes its stderr through to ours (test-support's launcher).
import { natsServerInstalled, spawnNatsServer } from '@event-broker/test-support/nats-server';
import { freePort } from '@event-broker/test-support/processes';
import { startEventService } from '../../src/index.js';

export const TARGET_NAMES = ['event-service', 'nats-server'] as const;
export type TargetName = (typeof TARGET_NAMES)[number];

export interface TargetOptions {
  token?: string;
  maxPayloadBytes?: number;
  maxConnections?: number;
  maxControlLineBytes?: number;
  maxPendingBytes?: number;
  maxSubscriptions?: number;
  /** Ours only: the service-wide subscription limit. */
  listenerLimit?: number;
  pingIntervalMs?: number;
  pingMax?: number;
  writeDeadlineMs?: number;
  authTimeoutMs?: number;
  /** A WebSocket listener; plaintext (no_tls) unless `websocketTls`. */
  websocket?: boolean;
  /** With `websocket` and `tls`: the WebSocket listener uses the same certificate (wss://). */
  websocketTls?: boolean;
  /** With `websocket`: nats-server's same_origin and allowed_origins. */
  websocketSameOrigin?: boolean;
  websocketAllowedOrigins?: string[];
  /** TLS for clients: the INFO in plaintext, then the handshake (nats-server's default before handshake_first). */
  tls?: { certPath: string; keyPath: string; caPath?: string; verify?: boolean };
}

export interface RunningTarget {
  readonly name: TargetName;
  readonly host: string;
  readonly port: number;
  readonly url: string;
  readonly wsPort?: number;
  stop(): Promise<void>;
}

export interface Target {
  readonly name: TargetName;
  start(opts?: TargetOptions): Promise<RunningTarget>;
}

const seconds = (ms: number) => `"${ms / 1000}s"`;

export const eventService: Target = {
  name: 'event-service',
  async start(opts = {}) {
    const svc = await startEventService({
      service: {
        host: '127.0.0.1',
        port: 0,
        ...(opts.token !== undefined && { token: opts.token }),
        ...(opts.maxPayloadBytes !== undefined && { max_payload: opts.maxPayloadBytes }),
        ...(opts.maxConnections !== undefined && { max_connections: opts.maxConnections }),
        ...(opts.maxControlLineBytes !== undefined && { max_control_line: opts.maxControlLineBytes }),
        ...(opts.maxPendingBytes !== undefined && { max_pending: opts.maxPendingBytes }),
        ...(opts.maxSubscriptions !== undefined && { max_subscriptions: opts.maxSubscriptions }),
        ...(opts.listenerLimit !== undefined && { listener_limit: opts.listenerLimit }),
        ...(opts.pingIntervalMs !== undefined && { ping_interval: opts.pingIntervalMs }),
        ...(opts.pingMax !== undefined && { ping_max: opts.pingMax }),
        ...(opts.writeDeadlineMs !== undefined && { write_deadline: opts.writeDeadlineMs }),
        ...(opts.authTimeoutMs !== undefined && { auth_timeout: opts.authTimeoutMs }),
      },
      ...(opts.websocket && {
        websocket: {
          host: '127.0.0.1',
          port: 0,
          no_tls: !(opts.websocketTls && opts.tls),
          ...(opts.websocketSameOrigin !== undefined && { same_origin: opts.websocketSameOrigin }),
          ...(opts.websocketAllowedOrigins !== undefined && { allowed_origins: opts.websocketAllowedOrigins }),
        },
      }),
      ...(opts.tls && {
        tls: {
          cert_path: opts.tls.certPath,
          key_path: opts.tls.keyPath,
          ...(opts.tls.caPath !== undefined && { root_ca_path: opts.tls.caPath }),
          verify: opts.tls.verify ?? false,
        },
      }),
      log: { level: 'silent' },
    });
    return {
      name: 'event-service',
      host: '127.0.0.1',
      port: svc.port,
      url: `nats://127.0.0.1:${svc.port}`,
      ...(svc.websocketPort !== undefined && { wsPort: svc.websocketPort }),
      stop: () => svc.close(),
    };
  },
};

export const natsServer: Target = {
  name: 'nats-server',
  async start(opts = {}) {
    const port = await freePort();
    const lines = [`listen: "127.0.0.1:${port}"`];
    if (opts.maxPayloadBytes !== undefined) lines.push(`max_payload: ${opts.maxPayloadBytes}`);
    if (opts.maxConnections !== undefined) lines.push(`max_connections: ${opts.maxConnections}`);
    if (opts.maxControlLineBytes !== undefined) lines.push(`max_control_line: ${opts.maxControlLineBytes}`);
    if (opts.maxPendingBytes !== undefined) lines.push(`max_pending: ${opts.maxPendingBytes}`);
    if (opts.maxSubscriptions !== undefined) lines.push(`max_subscriptions: ${opts.maxSubscriptions}`);
    if (opts.pingIntervalMs !== undefined) lines.push(`ping_interval: ${seconds(opts.pingIntervalMs)}`);
    if (opts.pingMax !== undefined) lines.push(`ping_max: ${opts.pingMax}`);
    if (opts.writeDeadlineMs !== undefined) lines.push(`write_deadline: ${seconds(opts.writeDeadlineMs)}`);
    if (opts.token !== undefined || opts.authTimeoutMs !== undefined) {
      const auth = [];
      if (opts.token !== undefined) auth.push(`token: ${JSON.stringify(opts.token)}`);
      if (opts.authTimeoutMs !== undefined) auth.push(`timeout: ${opts.authTimeoutMs / 1000}`);
      lines.push(`authorization { ${auth.join(', ')} }`);
    }
    let tlsBlock: string | undefined;
    if (opts.tls) {
      const t = opts.tls;
      const parts = [`cert_file: ${JSON.stringify(t.certPath)}`, `key_file: ${JSON.stringify(t.keyPath)}`];
      if (t.caPath) parts.push(`ca_file: ${JSON.stringify(t.caPath)}`);
      if (t.verify) parts.push('verify: true');
      tlsBlock = `tls { ${parts.join(', ')} }`;
      lines.push(tlsBlock);
    }
    let wsPort: number | undefined;
    if (opts.websocket) {
      wsPort = await freePort();
      // nats-server refuses a websocket block with neither TLS nor no_tls (server/websocket.go validateWebsocketOptions).
      const wsSecurity = opts.websocketTls && tlsBlock !== undefined ? tlsBlock : 'no_tls: true';
      const origins = [];
      if (opts.websocketSameOrigin !== undefined) origins.push(`, same_origin: ${opts.websocketSameOrigin}`);
      if (opts.websocketAllowedOrigins !== undefined)
        origins.push(`, allowed_origins: ${JSON.stringify(opts.websocketAllowedOrigins)}`);
      lines.push(`websocket { listen: "127.0.0.1:${wsPort}", ${wsSecurity}${origins.join('')} }`);
    }
    const server = await spawnNatsServer(lines, { port });
    return {
      name: 'nats-server',
      host: '127.0.0.1',
      port,
      url: `nats://127.0.0.1:${port}`,
      ...(wsPort !== undefined && { wsPort }),
      stop: () => server.stop(),
    };
  },
};

/**
 * The targets TARGETS names (`nats-server`, `event-service`, or both comma-separated); all when unset or empty.
 * An unknown name throws rather than silently running nothing.
 */
export function selectedTargetNames(env: NodeJS.ProcessEnv = process.env): TargetName[] {
  const raw = (env.TARGETS ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  if (raw.length === 0) return [...TARGET_NAMES];
  for (const n of raw) {
    if (!(TARGET_NAMES as readonly string[]).includes(n)) {
      throw new Error(`TARGETS: unknown target ${JSON.stringify(n)}; known: ${TARGET_NAMES.join(', ')}`);
    }
  }
  return TARGET_NAMES.filter((n) => raw.includes(n));
}

/**
 * Our service and nats-server, as TARGETS selects. nats-server runs when its binary is installed; missing, it is
 * skipped locally but throws under CI (.ci/run installs it, so a missing binary there is a broken CI) and when
 * TARGETS names it explicitly.
 */
export function targets(env: NodeJS.ProcessEnv = process.env): Target[] {
  const names = selectedTargetNames(env);
  const out: Target[] = [];
  if (names.includes('event-service')) out.push(eventService);
  if (names.includes('nats-server')) {
    if (natsServerInstalled()) out.push(natsServer);
    else if (env.CI || (env.TARGETS ?? '').includes('nats-server')) {
      throw new Error('nats-server is not installed (apt-get install nats-server; .ci/run installs it)');
    }
  }
  return out;
}
