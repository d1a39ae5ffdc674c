// The gateway's end-to-end health check: a request from inside the gateway's broker, over the leafnode link, to
// the event service's `$EVENTS.HEALTH` responder and back. It passes only when that reply arrives, so /healthz
// says "ok" only when a client's message would really reach the service. A hub that has no such responder (a
// plain nats-server) never announces interest in the subject; there the check falls back to the link's own
// PING/PONG round trip and says so.
import { randomBytes } from 'node:crypto';
import { HEALTH_SUBJECT, SystemConn, type Broker, type Uplink } from '@event-broker/shared';

const EMPTY = Buffer.alloc(0);

/**
 * The first token of the probe's reply subjects (`_GWH.<random>.N`). The gateway's own: no client reaches a subject
 * under it, whatever its token grants (permissions.ts, Gateway subjects), so none can read a reply or forge one.
 */
export const HEALTH_INBOX_ROOT = '_GWH';

export type HealthVerdict =
  | { ok: true; check: 'round-trip'; rtt_ms: number; upstream_server_id?: string }
  | { ok: true; check: 'leaf-link'; note: string }
  | { ok: false; reason: string };

export class HealthProbe extends SystemConn {
  private readonly inbox: string;
  private readonly waiting = new Map<string, (reply: Buffer | undefined) => void>();
  private next = 0;

  constructor(
    broker: Broker,
    private readonly uplink: Uplink,
    inbox = `${HEALTH_INBOX_ROOT}.${randomBytes(16).toString('base64url')}`,
  ) {
    // Our interest in the replies goes upstream like any client's, so the service's answer finds its way back. The
    // inbox is random, not the server id a client reads in INFO; and whatever a client saw of it (the request's
    // reply subject), it may neither read nor publish there (permissions.ts): a healthy reply comes from upstream.
    super(broker, `${inbox}.*`, 'health');
    this.inbox = inbox;
  }

  deliver(_sub: unknown, subject: string, _reply: string | undefined, hdrLen: number, msg: Buffer): void {
    const done = this.waiting.get(subject);
    if (done === undefined) return;
    this.waiting.delete(subject);
    done(msg.subarray(hdrLen));
  }

  /** One check, bounded by `timeoutMs`. */
  async check(timeoutMs: number): Promise<HealthVerdict> {
    if (!this.uplink.up) return { ok: false, reason: `upstream link ${this.uplink.state}` };
    if (!this.broker.sublist.match(HEALTH_SUBJECT).psubs.some((s) => s.conn === this.uplink)) {
      return {
        ok: true,
        check: 'leaf-link',
        note: `the upstream has no ${HEALTH_SUBJECT} responder: only the link is known to be up`,
      };
    }
    const reply = `${this.inbox}.${++this.next}`;
    const started = performance.now();
    const answer = new Promise<Buffer | undefined>((resolve) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reply);
        resolve(undefined);
      }, timeoutMs);
      this.waiting.set(reply, (b) => {
        clearTimeout(timer);
        resolve(b);
      });
    });
    this.broker.publish(this, HEALTH_SUBJECT, reply, 0, EMPTY);
    const got = await answer;
    if (got === undefined)
      return { ok: false, reason: `no reply from the upstream's ${HEALTH_SUBJECT} within ${timeoutMs} ms` };
    let upstream: string | undefined;
    try {
      upstream = (JSON.parse(got.toString('utf8')) as { server_id?: string }).server_id;
    } catch {
      upstream = undefined;
    }
    return {
      ok: true,
      check: 'round-trip',
      rtt_ms: Math.round((performance.now() - started) * 1000) / 1000,
      ...(upstream !== undefined && { upstream_server_id: upstream }),
    };
  }

  override close(): void {
    super.close();
    for (const done of this.waiting.values()) done(undefined);
    this.waiting.clear();
  }
}
