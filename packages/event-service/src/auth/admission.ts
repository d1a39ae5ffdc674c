// Who may use the service's client port, as nats-server 2.9 decides it (auth.go processClientOrLeafAuthentication,
// comparePasswords; client.go RegisterUser): the shared `[service] token`, or one of `[[service.users]]` with its
// permissions (shared/server/permissions.ts decides them). Passwords are compared in constant time, bcrypt hashes off
// the event loop (bcrypt.ts). After a reload, connections admitted as users are judged again as nats-server's
// reload.go reloadAuthorization does. Enforcing the verdict is the client connection's; the texts are errors.ts's.
import {
  Errors,
  PermissionRules,
  Permissions,
  parsePermissionRule,
  permissionsViolationForSubscriptionRemoved,
  type Admission,
  type AuthContext,
  type Client,
  type ClientAuthenticator,
  type Logger,
  type PermissionRule,
  type ResponsePermission,
} from '@event-broker/shared';
import type { ServiceSection, ServiceUser, UserPermissions } from '../config-types.js';
import { BcryptVerifier, isBcrypt } from './bcrypt.js';
import { checkSecret, sameSecret } from './secret.js';

/** The shared token's clients, for the events they publish (auth-context.ts): a key, no principal. */
const API_KEY_AUTH: AuthContext = Object.freeze({ authtype: 'api_key' });

/** A configured user, compiled: its rules shared by all its connections. */
interface User {
  readonly entry: ServiceUser;
  readonly rules: PermissionRules;
  readonly auth: AuthContext;
}

/** What an admitted user's connection presented, kept in memory (never logged) so a reload can judge it again. */
interface UserLogin {
  readonly user: string;
  readonly pass: string;
  /** The configured password (or hash) `pass` was last found to match. */
  verifiedAgainst: string;
  readonly permissions: Permissions;
}

type Verdict = Admission | Promise<Admission>;

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** A configured name, short, for a log line (names a client sent are never echoed: one may be a misplaced secret). */
function shown(s: string): string {
  return JSON.stringify(s.length > 64 ? `${s.slice(0, 61)}...` : s);
}

function rules(list: readonly string[] | undefined, queue: boolean): PermissionRule[] | undefined {
  // The config loader checked every entry (users-config.ts).
  return list?.map((e) => parsePermissionRule(e, { queue })!);
}

/** nats-server opts.go parseUserPermissions, as PermissionLists. */
function compile(p: UserPermissions | undefined): PermissionRules {
  if (p === undefined) return PermissionRules.ALL;
  const r = p.allow_responses;
  const response: ResponsePermission | undefined = r && {
    maxMsgs: r.max < 0 ? Infinity : r.max,
    expiresMs: r.expires < 0 ? Infinity : r.expires,
  };
  return PermissionRules.compile({
    // nats-server: allow_responses without a publish allow list turns off the blanket publish allow.
    pubAllow: rules(p.publish?.allow, false) ?? (response !== undefined ? [] : undefined),
    pubDeny: rules(p.publish?.deny, false) ?? [],
    subAllow: rules(p.subscribe?.allow, true),
    subDeny: rules(p.subscribe?.deny, true) ?? [],
    response,
  });
}

export class ClientAdmission {
  private token: string | undefined;
  private users: Map<string, User> | undefined;
  /** Bumped by each configure(): a check that spans one is decided again under the rules now in force. */
  private generation = 0;
  private readonly logins = new WeakMap<Client, UserLogin>();
  /** The token each connection admitted by it presented (kept in memory, never logged): a reload judges it again. */
  private readonly presentedTokens = new WeakMap<Client, string>();
  /** bcrypt checks waiting on a connection's behalf: aborted when it closes, so a queued check is never computed. */
  private readonly checkAborts = new WeakMap<Client, AbortController>();
  private readonly bcrypt = new BcryptVerifier();

  constructor(
    svc: ServiceSection,
    private readonly logger: Logger,
  ) {
    this.configure(svc);
  }

  /** undefined: anyone may connect. Read on use (a reload may change it). */
  get authenticator(): ClientAuthenticator | undefined {
    return this.token === undefined && this.users === undefined ? undefined : this;
  }

  /** INFO says `auth_required`. */
  get authRequired(): boolean {
    return this.authenticator !== undefined;
  }

  /** Puts `[service] token` and `users` in force for new connections; reauthorize() applies them to open ones. */
  configure(svc: ServiceSection): void {
    this.generation++;
    this.token = svc.token;
    if (svc.users === undefined) {
      this.users = undefined;
      return;
    }
    const before = this.users;
    const users = new Map<string, User>();
    for (const entry of svc.users) {
      const old = before?.get(entry.user);
      // Unchanged permissions keep their compiled rules (and decision caches).
      const same = old !== undefined && JSON.stringify(old.entry.permissions) === JSON.stringify(entry.permissions);
      users.set(entry.user, {
        entry,
        rules: same ? old.rules : compile(entry.permissions),
        auth: old?.auth ?? Object.freeze({ authtype: 'service_account', authid: entry.user }),
      });
    }
    this.users = users;
  }

  /** Starts the bcrypt worker when a password is a hash (its start-up stalls the loop ~0.1 s: not at a CONNECT). */
  warm(): void {
    if (this.users !== undefined && [...this.users.values()].some((u) => isBcrypt(u.entry.password)))
      this.bcrypt.warm();
  }

  admit(connect: Readonly<Record<string, unknown>>, client: Client): Verdict {
    const users = this.users;
    if (users === undefined) {
      const presented = str(connect.auth_token);
      if (presented === undefined) return refuse('no token');
      if (this.token === undefined || !sameSecret(this.token, presented)) return refuse('wrong token');
      this.presentedTokens.set(client, presented);
      return { ok: true, auth: API_KEY_AUTH };
    }
    const name = str(connect.user);
    if (name === undefined) return refuse('no user');
    const user = users.get(name);
    if (user === undefined) return refuse('unknown user');
    const pass = str(connect.pass);
    if (pass === undefined) return refuse(`no password for user ${shown(user.entry.user)}`);
    const generation = this.generation;
    const decide = (ok: boolean): Verdict => {
      if (!ok) return refuse(`wrong password for user ${shown(user.entry.user)}`);
      // A reload while the hash was checked: judged again under the users now in force.
      if (generation !== this.generation) return this.admit(connect, client);
      return this.admitted(client, user, pass);
    };
    const ok = this.check(client, user.entry.password, pass);
    return typeof ok === 'boolean' ? decide(ok) : ok.then(decide);
  }

  /**
   * After configure() with a reloaded configuration: each connection admitted as a user is judged again, as
   * nats-server 2.9's reload does (observed, and reload.go reloadAuthorization): a user no longer listed is closed
   * without an -ERR (clientHasMovedToDifferentAccount, ClientClosed); one whose password no longer matches gets
   * `Authorization Violation` and is closed (isClientAuthorized, authViolation); the others get their user's new
   * permissions at once, and each subscription those no longer allow is removed with `Permissions Violation for
   * Subscription to "<subject>" (sid "<sid>")` (client.go processSubsOnConfigReload). A connection admitted by the
   * token, or without credentials, gets `Authorization Violation` and is closed when what it presented no longer
   * admits it (a changed token, a token or users added; observed from nats-server 2.9.10).
   */
  reauthorize(clients: Iterable<Client>): void {
    const generation = this.generation;
    for (const client of clients) {
      if (client.isClosed) continue;
      const login = this.logins.get(client);
      if (login === undefined) {
        this.judgeAgain(client);
        continue;
      }
      const user = this.users?.get(login.user);
      if (user === undefined) {
        this.logger.warn({ cid: client.cid, who: login.user }, 'user no longer configured, closing');
        this.logins.delete(client);
        client.close('Client Closed');
        continue;
      }
      // In force at once; the subscriptions are pruned once the password is known to still match.
      login.permissions.replaceRules(user.rules);
      const settle = (ok: boolean): void => {
        if (client.isClosed || generation !== this.generation) return;
        if (!ok) {
          this.logins.delete(client);
          client.fail(Errors.authorizationViolation, `password of user ${shown(login.user)} changed`);
          return;
        }
        login.verifiedAgainst = user.entry.password;
        for (const sub of [...client.subs.values()]) {
          if (!login.permissions.canSubscribe(sub.subject, sub.queue))
            client.dropSubscription(sub.sid, permissionsViolationForSubscriptionRemoved(sub.subject, sub.sid));
        }
      };
      const ok =
        user.entry.password === login.verifiedAgainst ? true : this.check(client, user.entry.password, login.pass);
      if (typeof ok === 'boolean') settle(ok);
      else void ok.then(settle);
    }
  }

  /** A connection not admitted as a user: does its token (or none) still admit it? */
  private judgeAgain(client: Client): void {
    // Not admitted yet: its CONNECT is judged under the rules now in force. Nothing required now: it stays.
    if (!client.isAdmitted || this.authenticator === undefined) return;
    const presented = this.presentedTokens.get(client);
    if (
      this.users === undefined &&
      this.token !== undefined &&
      presented !== undefined &&
      sameSecret(this.token, presented)
    )
      return;
    this.presentedTokens.delete(client);
    client.fail(
      Errors.authorizationViolation,
      presented === undefined ? 'credentials now required' : 'token no longer accepted',
    );
  }

  /** A connection left: its queued bcrypt check, if any, is dropped. */
  clientClosed(client: Client): void {
    this.checkAborts.get(client)?.abort();
    this.checkAborts.delete(client);
    this.logins.delete(client);
    this.presentedTokens.delete(client);
  }

  close(): Promise<void> {
    return this.bcrypt.close();
  }

  private admitted(client: Client, user: User, pass: string): Admission {
    const permissions = new Permissions(user.rules);
    this.logins.set(client, { user: user.entry.user, pass, verifiedAgainst: user.entry.password, permissions });
    return { ok: true, permissions, identity: user.entry.user, auth: user.auth };
  }

  /** `checkSecret`, with a bcrypt check dropped unstarted when the connection leaves first. */
  private check(client: Client, configured: string, given: string): boolean | Promise<boolean> {
    if (!isBcrypt(configured)) return checkSecret(configured, given, { bcrypt: this.bcrypt });
    let gone = this.checkAborts.get(client);
    if (gone === undefined) {
      gone = new AbortController();
      this.checkAborts.set(client, gone);
    }
    return checkSecret(configured, given, { bcrypt: this.bcrypt, gone: gone.signal });
  }
}

function refuse(reason: string): Admission {
  return { ok: false, reason };
}
