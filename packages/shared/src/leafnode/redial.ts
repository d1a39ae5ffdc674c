// The uplink's redial loop: which hub the next attempt dials (each URL in turn), how long it waits first (shared
// util/backoff.ts, half jitter; 30 s after a loop, as nats-server waits), the dial (dial.ts), whose result is
// handed over only while it is still wanted, and the failures' log lines. What the link says once dialled, and what counts as a failure, are
// the session's and the uplink's (uplink-session.ts, uplink.ts).
import type tls from 'node:tls';
import type { Logger } from '../log.js';
import { backoffDelayMs } from '../util/backoff.js';
import { dialHub, UplinkError, type DialedHub, type HubUrl } from './dial.js';

/** nats-server leafnode.go leafNodeReconnectDelayAfterLoopDetected. */
const LOOP_DELAY_MS = 30_000;

export interface RedialOptions {
  readonly urls: readonly HubUrl[];
  /** UplinkOptions.tls: given, TLS whatever the URL. */
  readonly tls: tls.ConnectionOptions | undefined;
  /** Bounds the dial (TCP, INFO, TLS). */
  readonly timeoutMs: number;
  /** The first wait, doubled per failure in a row up to maxDelayMs. */
  readonly delayMs: number;
  readonly maxDelayMs: number;
  readonly logger: Logger;
  /** The hub's INFO is read (and TLS done). */
  connected(url: HubUrl, dialed: DialedHub): void;
  failed(url: HubUrl, err: UplinkError): void;
}

export class Redial {
  /** The hub of the current (or last) attempt. */
  url: HubUrl | undefined;
  /** Failures since the link was last up: the backoff's attempt number. */
  failuresInRow = 0;
  private next = 0;
  /** The current attempt; a dial of an older one is dropped when it completes. */
  private attempt = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  /** Failure texts already logged at warn since the last state change: a flapping hub logs each once. */
  private readonly logged = new Set<string>();

  constructor(private readonly opts: RedialOptions) {}

  /** Dials the next hub now. */
  dial(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const attempt = ++this.attempt;
    const { urls, tls, timeoutMs } = this.opts;
    const url = urls[this.next++ % urls.length]!;
    this.url = url;
    this.opts.logger.debug({ upstream: url.display }, 'uplink dialling');
    dialHub(url, { tls, forceTls: url.tls || tls !== undefined, timeoutMs }).then(
      (d) => {
        if (attempt !== this.attempt) d.socket.destroy();
        else this.opts.connected(url, d);
      },
      (err: unknown) => {
        if (attempt !== this.attempt) return;
        this.opts.failed(
          url,
          err instanceof UplinkError
            ? err
            : new UplinkError('EUPLINK_CONNECT', `${url.display}: ${String(err)}`, { cause: err }),
        );
      },
    );
  }

  /**
   * An attempt or a link failed with `err`: counted and logged (a link that was up, with `down`'s fields), and the
   * next dial waits its backoff (30 s after a loop).
   */
  retry(err: UplinkError, down?: Record<string, unknown>): void {
    if (this.stopped) return;
    this.failuresInRow++;
    const { delayMs, maxDelayMs, logger } = this.opts;
    const log = { upstream: this.url?.display, code: err.code, err: err.message, attempt: this.failuresInRow };
    if (down !== undefined) {
      this.logged.clear();
      this.logged.add(err.message);
      logger.warn({ ...log, ...down }, 'uplink down; holding messages for the upstream');
    } else if (!this.logged.has(err.message)) {
      this.logged.add(err.message);
      logger.warn(log, 'uplink attempt failed');
    } else {
      logger.debug(log, 'uplink attempt failed');
    }
    // The hub found a loop (leafnode.go leafProcessErr), or we did (handleLeafNodeLoop): it waits 30 s, so do we.
    const delay =
      err.code === 'EUPLINK_LOOP'
        ? LOOP_DELAY_MS
        : backoffDelayMs(this.failuresInRow, { baseMs: delayMs, capMs: maxDelayMs, jitter: 'half' });
    this.timer = setTimeout(() => this.dial(), delay);
    this.timer.unref?.();
  }

  /** The link came up: the next failure starts the backoff afresh. */
  succeeded(): void {
    this.failuresInRow = 0;
    this.logged.clear();
  }

  /** No more dials; one in progress is dropped when it completes. */
  stop(): void {
    this.stopped = true;
    this.attempt++;
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
