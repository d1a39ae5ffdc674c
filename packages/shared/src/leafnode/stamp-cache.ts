// Which stamp (auth-stamp.ts) a local client's message goes up the uplink with: built once per client, at its first
// message, and kept with it; the latest publisher's looked up without the map (clients publish in runs). Where the
// stamp is written, and what a message without one still loses (a client's own copy of the header), are uplink.ts's.
import { UNAUTHENTICATED, type AuthContext } from '../server/auth-context.js';
import type { Conn } from '../server/broker.js';
import { Client } from '../server/client.js';
import { authStamp, type AuthStamp } from './auth-stamp.js';
import type { StampAuthOptions } from './uplink-options.js';

/** A client's stamps: with its claims, and without (the same one when it has none). */
interface ClientStamps {
  readonly full: AuthStamp;
  readonly bare: AuthStamp;
}

function clientStamps(auth: AuthContext): ClientStamps {
  const full = authStamp(auth);
  if (auth.authclaims === undefined) return { full, bare: full };
  const { authclaims: _claims, ...bare } = auth;
  return { full, bare: authStamp(bare) };
}

export class StampCache {
  /** Each client's stamps, built at its first message; gone with the client. */
  private readonly byClient = new WeakMap<Client, ClientStamps>();
  private lastFrom: Conn | undefined;
  private lastStamps: ClientStamps | undefined;

  constructor(private readonly opts: StampAuthOptions) {}

  /**
   * The stamp for a local client's message on `subject`: who it was verified as, its claims only where
   * StampAuthOptions.claimsOn says; none for in-process publishers, nor outside StampAuthOptions.only.
   */
  stampFor(subject: string, from: Conn): AuthStamp | undefined {
    let stamps: ClientStamps | undefined;
    if (from === this.lastFrom) stamps = this.lastStamps;
    else {
      if (from instanceof Client) {
        stamps = this.byClient.get(from);
        if (stamps === undefined) {
          stamps = clientStamps(from.auth ?? UNAUTHENTICATED);
          this.byClient.set(from, stamps);
        }
      }
      this.lastFrom = from;
      this.lastStamps = stamps;
    }
    if (stamps === undefined) return undefined;
    const { claimsOn, only } = this.opts;
    if (only !== undefined && !subject.startsWith(only)) return undefined;
    return claimsOn === undefined || subject.startsWith(claimsOn) ? stamps.full : stamps.bare;
  }
}
