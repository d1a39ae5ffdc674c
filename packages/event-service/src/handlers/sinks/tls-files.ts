// A sink's mutual-TLS files (ca_path, cert_path, key_path), reloadable: a renewed certificate, key or CA written in
// place is used without a restart. The transports ask for the files' contents on each delivery (https: each POST, a
// changed set making a new connection pool; grpcs: each call, a changed set making a new channel); the files are stat'ed at most once per
// CHECK_EVERY_MS, and read again only when one's mtime, size or inode changed. A set that does not make a TLS
// context (a certificate half written, a key that does not match it) is not used: the previous one stays until the
// files are whole again, or, with none before it, the delivery fails and is retried.
import fs from 'node:fs';
import tls from 'node:tls';
import type { SinkLogger } from './options.js';

/** How often the files are stat'ed at most: a renewal is used within this long of being written. */
export const CHECK_EVERY_MS = 1000;

/** The largest TLS file read: a CA bundle as large as the system's (~200 KiB) fits several times. */
export const MAX_TLS_FILE_BYTES = 1024 * 1024;

export interface TlsPaths {
  caPath?: string;
  certPath?: string;
  keyPath?: string;
}

/** The files' contents; `version` grows each time they change. */
export interface TlsMaterial {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  version: number;
}

export class TlsFiles {
  private material: TlsMaterial | undefined;
  private stamp = '';
  private checkedAt = -Infinity;
  /** The problem with the files as they are now (a failed read or an unusable set); the previous set stays. */
  problem: string | undefined;

  constructor(
    private readonly paths: TlsPaths,
    /** Told once per new problem (the sink's name with it), never the files' contents. */
    private readonly report?: { logger: SinkLogger; sink: string },
    private readonly now: () => number = Date.now,
  ) {}

  /** The files' contents, read again if they changed; throws when no usable set has been read yet. */
  current(): TlsMaterial {
    const now = this.now();
    if (this.material === undefined || now - this.checkedAt >= CHECK_EVERY_MS) {
      this.checkedAt = now;
      this.reload();
    }
    if (this.material === undefined) throw new Error(`TLS files: ${this.problem ?? 'not read'}`);
    return this.material;
  }

  private reload(): void {
    const files = [this.paths.caPath, this.paths.certPath, this.paths.keyPath];
    let stamp: string;
    try {
      stamp = files
        .map((f) => {
          if (f === undefined) return '-';
          const s = fs.statSync(f);
          // Checked before reading: a device or a FIFO would never end the (synchronous) read, a huge file be
          // read whole each time it changes.
          if (!s.isFile()) throw new Error(`${f} is not a regular file`);
          if (s.size > MAX_TLS_FILE_BYTES)
            throw new Error(`${f} is ${s.size} bytes, more than a PEM file's ${MAX_TLS_FILE_BYTES}`);
          return `${s.mtimeMs}:${s.size}:${s.ino}`;
        })
        .join('|');
    } catch (err) {
      this.failed(err as Error);
      return;
    }
    if (stamp === this.stamp && this.material !== undefined) return;
    try {
      const [ca, cert, key] = files.map((f) => (f === undefined ? undefined : fs.readFileSync(f)));
      // Refuses a half-written or mismatched set here rather than on every connection.
      tls.createSecureContext({ ca, cert, key });
      this.material = { ca, cert, key, version: (this.material?.version ?? 0) + 1 };
      this.stamp = stamp;
      this.problem = undefined;
    } catch (err) {
      this.failed(err as Error);
    }
  }

  private failed(err: Error): void {
    if (err.message !== this.problem) {
      const kept = this.material !== undefined ? 'the previous ones stay in use' : 'deliveries fail until they load';
      this.report?.logger.warn({ sink: this.report.sink, err: err.message }, `sink TLS files not loaded: ${kept}`);
    }
    this.problem = err.message;
  }
}
