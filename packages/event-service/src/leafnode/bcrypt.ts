// bcrypt checks for leaf credentials, off the event loop: bcryptjs (pure JS, no native build) in one worker thread,
// so a CONNECT with a wrong password against a $2a$ hash (≈130 ms of CPU at nats-server's cost 11) stalls neither
// clients nor links. Requests queue in the worker; the listener's max_unauthenticated bounds how many can wait.
import { Worker } from 'node:worker_threads';

/** nats-server auth.go validBcryptPrefix: `$2a$`, `$2b$`, `$2x$` or `$2y$` and a two-digit cost. */
const BCRYPT = /^\$2[abxy]\$\d{2}\$/;

export function isBcrypt(secret: string): boolean {
  return BCRYPT.test(secret);
}

/** What the worker is sent and answers (bcrypt-worker.ts). */
export interface BcryptRequest {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
}
export interface BcryptReply {
  readonly id: number;
  readonly ok: boolean;
}

export class BcryptVerifier {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly waiting = new Map<number, (ok: boolean) => void>();

  /** Resolves true when `password` matches `hash`; false on a mismatch, a malformed hash or a dead worker. */
  verify(password: string, hash: string): Promise<boolean> {
    const worker = this.start();
    const id = this.nextId++;
    return new Promise<boolean>((resolve) => {
      this.waiting.set(id, resolve);
      if (this.waiting.size === 1) worker.ref();
      worker.postMessage({ id, password, hash } satisfies BcryptRequest);
    });
  }

  /** Checks queued or running in the worker now (/handlerz). */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** Starts the worker now (at listen), so the first CONNECT does not pay for its start-up on the event loop. */
  warm(): void {
    this.start();
  }

  /** Ends the worker; checks still waiting resolve false. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.settleAll(false);
    if (w === undefined) return;
    // An unref'd worker would let the process's event loop end before the terminate promise settles.
    w.ref();
    await w.terminate();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    // Idle, it must not keep the process alive; it is ref'd while a check waits.
    w.unref();
    w.on('message', (m: BcryptReply) => {
      const done = this.waiting.get(m.id);
      if (done === undefined) return;
      this.waiting.delete(m.id);
      if (this.waiting.size === 0) w.unref();
      done(m.ok);
    });
    const lost = () => {
      if (this.worker === w) this.worker = undefined;
      this.settleAll(false);
    };
    w.on('error', lost);
    w.on('exit', lost);
    this.worker = w;
    return w;
  }

  private settleAll(ok: boolean): void {
    const all = [...this.waiting.values()];
    this.waiting.clear();
    for (const done of all) done(ok);
  }
}
