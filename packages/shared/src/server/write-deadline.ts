// nats-server's write deadline for one connection: a reader that accepts nothing for write_deadline is cut. Progress
// is any write completed by the OS, so a busy but healthy reader keeps its connection. The connection writes and
// closes; this keeps the count of completed writes and the timer, armed only while bytes wait in the socket.
import type { Transport } from './transport.js';

export class WriteDeadline {
  /** Writes the OS completed; the check compares it to see progress. */
  private sent = 0;
  private timer: NodeJS.Timeout | undefined;

  /** `stuck` runs once write_deadline (`deadlineMs()`, read on each arming) passes without progress. */
  constructor(
    private readonly transport: Transport,
    private readonly opts: { deadlineMs(): number; stuck(): void },
  ) {}

  /** Pass as a write's completion callback. */
  readonly onSent = (): void => {
    this.sent++;
  };

  /** After a write: arms the deadline when bytes are left waiting in the socket. */
  wrote(): void {
    if (this.timer === undefined && this.transport.bufferedBytes() > 0) this.arm();
  }

  /** Everything written was handed to the OS (or the connection closed): nothing to watch. */
  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(): void {
    const sentAtArm = this.sent;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.transport.bufferedBytes() === 0) return;
      if (this.sent === sentAtArm) this.opts.stuck();
      else this.arm();
    }, this.opts.deadlineMs());
    this.timer.unref?.();
  }
}
