// The uplink's state events (up, down, closed) to whoever observes them (the gateway's credit channel, health, tests),
// and the wait for the link to come up built on them. When each event happens is uplink.ts's.
import type { Logger } from '../log.js';
import { UplinkError } from './dial.js';
import type { UplinkEvent, UplinkState } from './uplink-options.js';

export type UplinkObserver = (event: UplinkEvent) => void;

export class UplinkEvents {
  private readonly observers = new Set<UplinkObserver>();

  constructor(private readonly logger: Logger) {}

  /** Calls `observer` on every event; returns a function that stops it. */
  observe(observer: UplinkObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Tells every observer; one that throws is logged and the others are still told. */
  emit(event: UplinkEvent): void {
    for (const l of [...this.observers]) {
      try {
        l(event);
      } catch (err) {
        this.logger.error({ err, event: event.type }, 'uplink state listener threw');
      }
    }
  }

  /** After the close: nobody is told anything any more. */
  clear(): void {
    this.observers.clear();
  }

  /**
   * Resolves once the link is up (at once if `state` says it is); rejects after `timeoutMs` with the latest failure
   * (`lastError()`), or when closed first.
   */
  waitUntilUp(state: UplinkState, lastError: () => UplinkError | undefined, timeoutMs: number): Promise<void> {
    if (state === 'up') return Promise.resolve();
    if (state === 'closed') return Promise.reject(new UplinkError('EUPLINK_CLOSED', 'the uplink is closed'));
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        const last = lastError();
        reject(
          new UplinkError(
            last?.code ?? 'EUPLINK_CONNECT',
            `not up within ${timeoutMs} ms${last ? `: ${last.message}` : ''}`,
            { cause: last },
          ),
        );
      }, timeoutMs);
      const off = this.observe((e) => {
        if (e.type === 'down') return;
        clearTimeout(timer);
        off();
        if (e.type === 'up') resolve();
        else reject(new UplinkError('EUPLINK_CLOSED', 'the uplink closed before it came up'));
      });
    });
  }
}
