// The frame of a per-target raw-protocol suite, shared by the files that split one: the target started before the
// enclosing describe's tests and stopped after them, and a RawPool whose connections are closed after each test.
// The tests (and which targets they run against) are the file's.
import { after, afterEach, before } from 'node:test';
import { RawPool, type Endpoint } from '@event-broker/test-support/raw';
import type { RunningTarget, Target, TargetOptions } from './targets.js';

export interface RawSuite {
  /** The started target's address: read it in a test or hook (it is there once the suite's `before` has run). */
  readonly server: Endpoint;
  readonly pool: RawPool;
}

/** Registers the hooks in the describe it is called from. */
export function rawSuite(target: Target, opts?: TargetOptions): RawSuite {
  let running: RunningTarget | undefined;
  const pool = new RawPool();
  before(async () => {
    running = await target.start(opts);
  });
  afterEach(() => pool.closeAll());
  after(async () => {
    pool.closeAll();
    await running?.stop();
  });
  const started = (): RunningTarget => {
    if (running === undefined) throw new Error(`${target.name} is not started: read the server in a test or hook`);
    return running;
  };
  return {
    server: {
      get host() {
        return started().host;
      },
      get port() {
        return started().port;
      },
    },
    pool,
  };
}
