// What a client keeps of a publish a gate parked (client.ts), until the gate lets it go.

/** A publish parked by a gate: `buf[start, end)` is its header block and payload (the parser's read, kept). */
export interface ParkedPub {
  readonly subject: string;
  readonly reply: string | undefined;
  readonly hdrLen: number;
  readonly buf: Buffer;
  readonly start: number;
  readonly end: number;
}
