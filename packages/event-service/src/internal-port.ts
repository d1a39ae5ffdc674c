// The service's way in for its own NATS clients: the `nats` npm client (the JetStream backend's, which must reach
// the cluster through this broker and its leaf remotes) only dials sockets, so the service opens a second client
// port for itself. It binds 127.0.0.1 on an ephemeral port and admits only a CONNECT presenting a random token made
// for this process (compared in constant time, never logged): whoever else reaches the port is refused like any
// client with a wrong token. Admitted connections are the service's own machinery: no user permissions, their
// subscriptions are not listeners (listener_limit), and they are not counted against max_connections or shown in
// /connz (the public port's table). The protocol, flushing and admission are the shared ClientFrontend's.
import { randomBytes } from 'node:crypto';
import {
  ClientFrontend,
  type Admission,
  type Broker,
  type ClientAuthenticator,
  type ClientLimits,
  type FrontendHost,
  type Logger,
} from '@event-broker/shared';
import { sameSecret } from './auth/secret.js';

/** The few connections the service makes to itself (one per backend); a few more while one reconnects. */
const MAX_INTERNAL_CONNECTIONS = 16;
const HOST = '127.0.0.1';

/** What the internal port reads of the service (every field on use: reloads). */
export interface InternalPortHost {
  readonly broker: Broker;
  readonly limits: ClientLimits;
  readonly logger: Logger;
  serverInfo(): Record<string, unknown>;
}

export interface InternalPortOptions {
  /** The JetStream server's version as the hub announced it (leaf INFO), when known. */
  jetStreamVersion?: () => string | undefined;
}

/**
 * The `version` the internal port announces when the hub's is not known: the nats-server release the service is
 * tested against as a hub. nats.js enables its JetStream APIs by the INFO's version (a 2.9.4 minimum for
 * `js.consumers`), and what they need is the hub's JetStream, not this broker: our own version would disable them.
 */
export const ASSUMED_JETSTREAM_VERSION = '2.9.10';

export class InternalPort implements FrontendHost {
  readonly systemClients = true;
  readonly maxConnections = MAX_INTERNAL_CONNECTIONS;
  readonly logger: Logger;
  /** 256 random bits, made per process: nothing outside it can know it. */
  private readonly token = randomBytes(32).toString('base64url');
  private readonly frontend: ClientFrontend;
  readonly authenticator: ClientAuthenticator;
  private closed = false;

  constructor(
    private readonly host: InternalPortHost,
    private readonly opts: InternalPortOptions = {},
  ) {
    // Not `port`: the listening line's own `port` (the number bound) would repeat the key.
    this.logger = host.logger.child({ listener: 'internal' });
    const token = this.token;
    this.authenticator = {
      admit(connect): Admission {
        const given = connect.auth_token;
        return typeof given === 'string' && sameSecret(token, given)
          ? { ok: true, identity: 'the service itself' }
          : { ok: false, reason: 'internal port: not the service' };
      },
    };
    this.frontend = new ClientFrontend(this, { host: HOST, port: 0 });
  }

  get broker(): Broker {
    return this.host.broker;
  }
  get limits(): ClientLimits {
    return this.host.limits;
  }
  /** Until closed, lame duck included: the store finishes what the drain still sends it. */
  accepting(): boolean {
    return !this.closed;
  }
  serverInfo(): Record<string, unknown> {
    // Plain TCP on loopback (the service's [tls] is for its public port), always with a token.
    const { tls_required: _t, tls_verify: _v, ...info } = this.host.serverInfo();
    const version = this.opts.jetStreamVersion?.() ?? ASSUMED_JETSTREAM_VERSION;
    return { ...info, host: HOST, auth_required: true, version };
  }

  /** The bound port (0 before listen). */
  get port(): number {
    return this.frontend.port;
  }

  async listen(): Promise<void> {
    await this.frontend.listen();
  }

  /** What `nats`' connect() needs to reach the service as itself. Never log it: it holds the token. */
  connectOptions(): { servers: string; token: string } {
    return { servers: `${HOST}:${this.frontend.port}`, token: this.token };
  }

  close(): Promise<void> {
    this.closed = true;
    return this.frontend.close('Server Shutdown');
  }
}
