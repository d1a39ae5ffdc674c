// bcrypt checks for client and leaf credentials, off the event loop: bcryptjs (pure JS, no native build) in one
// worker thread, so a CONNECT with a wrong password against a $2a$ hash (≈130 ms of CPU at nats-server's cost 11)
// stalls neither clients nor links. Checks wait here, not in the worker, which is handed one at a time: a check whose
// connection is gone before its turn is dropped, never computed. How many may wait is the port's: on the leaf
// port each occupies one of max_unauthenticated slots until it settles (leafnode/port.ts authorize); on the client
// port each belongs to a connection within max_connections and auth_timeout (users.ts).
import { Worker } from 'node:worker_threads';

/** nats-server auth.go validBcryptPrefix: `$2a$`, `$2b$`, `$2x$` or `$2y$` and a two-digit cost. */
const BCRYPT = /^\$2[abxy]\$\d{2}\$/;

export function isBcrypt(secret: string): boolean {
  return BCRYPT.test(secret);
}

/**
 * A whole hash bcryptjs can check: `$2a$`, `$2b$` or `$2y$`, a cost from 04 to 31, 53 characters of salt and digest
 * (nats-server also takes `$2x$`, which bcryptjs refuses; every CONNECT would then fail).
 */
const BCRYPT_HASH = /^\$2[aby]\$(0[4-9]|[12]\d|3[01])\$[./A-Za-z0-9]{53}$/;

export function isCheckableBcrypt(secret: string): boolean {
  return BCRYPT_HASH.test(secret);
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

/** One check waiting for the worker or running in it. */
interface Check {
  readonly id: number;
  readonly password: string;
  readonly hash: string;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (ok: boolean) => void;
  readonly onAbort: () => void;
}

export class BcryptVerifier {
  private worker: Worker | undefined;
  private nextId = 1;
  /** Checks waiting for the worker, in arrival order. */
  private readonly queue: Check[] = [];
  /** The one check the worker is computing. */
  private running: Check | undefined;

  /**
   * Resolves true when `password` matches `hash`; false on a mismatch, a malformed hash or a dead worker, and at once
   * when `gone` aborts before the worker took the check (its connection left: nobody waits for the answer).
   */
  verify(password: string, hash: string, gone?: AbortSignal): Promise<boolean> {
    if (gone?.aborted === true) return Promise.resolve(false);
    this.start();
    return new Promise<boolean>((resolve) => {
      const check: Check = {
        id: this.nextId++,
        password,
        hash,
        signal: gone,
        resolve,
        onAbort: () => this.drop(check),
      };
      gone?.addEventListener('abort', check.onAbort, { once: true });
      this.queue.push(check);
      this.next();
    });
  }

  /** Checks waiting or running now (/handlerz). */
  get waitingCount(): number {
    return this.queue.length + (this.running === undefined ? 0 : 1);
  }

  /** Starts the worker now (at listen), so the first CONNECT does not pay for its start-up on the event loop. */
  warm(): void {
    this.start();
  }

  /** Ends the worker; checks still waiting resolve false. */
  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    this.settleAll();
    if (w === undefined) return;
    // An unref'd worker would let the process's event loop end before the terminate promise settles.
    w.ref();
    await w.terminate();
  }

  private start(): Worker {
    if (this.worker !== undefined) return this.worker;
    const w = new Worker(new URL('./bcrypt-worker.js', import.meta.url));
    // Idle, it must not keep the process alive; it is ref'd while a check runs.
    w.unref();
    w.on('message', (m: BcryptReply) => {
      const check = this.running;
      if (check === undefined || check.id !== m.id) return;
      this.running = undefined;
      settle(check, m.ok);
      this.next();
    });
    const lost = () => {
      if (this.worker === w) this.worker = undefined;
      this.settleAll();
    };
    w.on('error', lost);
    w.on('exit', lost);
    this.worker = w;
    return w;
  }

  /** Hands the worker the oldest waiting check when it is idle. */
  private next(): void {
    const w = this.worker;
    if (w === undefined || this.running !== undefined) return;
    const check = this.queue.shift();
    if (check === undefined) {
      w.unref();
      return;
    }
    this.running = check;
    w.ref();
    w.postMessage({ id: check.id, password: check.password, hash: check.hash } satisfies BcryptRequest);
  }

  /** A waiting check whose connection left: dropped unanswered (false). One already running finishes. */
  private drop(check: Check): void {
    const i = this.queue.indexOf(check);
    if (i < 0) return;
    this.queue.splice(i, 1);
    settle(check, false);
  }

  private settleAll(): void {
    const all = [...(this.running === undefined ? [] : [this.running]), ...this.queue.splice(0)];
    this.running = undefined;
    for (const check of all) settle(check, false);
  }
}

function settle(check: Check, ok: boolean): void {
  check.signal?.removeEventListener('abort', check.onAbort);
  check.resolve(ok);
}
