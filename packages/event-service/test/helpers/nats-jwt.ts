// NATS decentralized auth for tests, made fresh in each run (no committed keys): an operator, an account and users,
// their JWTs signed with @nats-io/nkeys (header `ed25519-nkey`, the claims nats-server 2.9 reads: jwt v2), the
// nats-server lines that trust them (operator mode, memory resolver), and `.creds` files as nsc writes them.
import { createHash } from 'node:crypto';
import { createAccount, createOperator, createUser, type KeyPair } from '@nats-io/nkeys';

const text = new TextDecoder();
const b64url = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');

/** A JWT: `claims` with iat, iss (the signer's public key) and a jti, signed by `signer`. */
export function encodeJwt(claims: Record<string, unknown>, signer: KeyPair): string {
  const header = b64url({ typ: 'JWT', alg: 'ed25519-nkey' });
  const body: Record<string, unknown> = { ...claims, iat: Math.floor(Date.now() / 1000), iss: signer.getPublicKey() };
  // jwt v2 names a claim set by its hash; nats-server does not check it, any unique value would do.
  body.jti = createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 52).toUpperCase();
  const payload = b64url(body);
  const sig = Buffer.from(signer.sign(new TextEncoder().encode(`${header}.${payload}`))).toString('base64url');
  return `${header}.${payload}.${sig}`;
}

const NO_LIMITS = { subs: -1, data: -1, payload: -1, imports: -1, exports: -1, wildcards: true, conn: -1, leaf: -1 };

export interface NatsAccount {
  readonly key: KeyPair;
  readonly jwt: string;
  /** A user of this account: its JWT and seed as a `.creds` file's text. */
  user(name: string): string;
}

export interface NatsOperator {
  readonly jwt: string;
  account(name: string): NatsAccount;
  /** nats-server lines trusting this operator with `accounts` preloaded in a memory resolver. */
  serverLines(accounts: readonly NatsAccount[]): string[];
}

export function createNatsOperator(name = 'test-operator'): NatsOperator {
  const op = createOperator();
  const jwt = encodeJwt({ sub: op.getPublicKey(), name, nats: { type: 'operator', version: 2 } }, op);
  return {
    jwt,
    account(accountName) {
      const key = createAccount();
      const accountJwt = encodeJwt(
        { sub: key.getPublicKey(), name: accountName, nats: { type: 'account', version: 2, limits: NO_LIMITS } },
        op,
      );
      return {
        key,
        jwt: accountJwt,
        user(userName) {
          const u = createUser();
          const userJwt = encodeJwt(
            {
              sub: u.getPublicKey(),
              name: userName,
              nats: { type: 'user', version: 2, pub: {}, sub: {}, subs: -1, data: -1, payload: -1 },
            },
            key,
          );
          return credsText(userJwt, text.decode(u.getSeed()));
        },
      };
    },
    serverLines(accounts) {
      return [
        `operator: "${jwt}"`,
        'resolver: MEMORY',
        'resolver_preload: {',
        ...accounts.map((a) => `  ${a.key.getPublicKey()}: "${a.jwt}"`),
        '}',
      ];
    },
  };
}

/** A `.creds` file's text, framed as nsc writes it. */
export function credsText(jwt: string, seed: string): string {
  return [
    '-----BEGIN NATS USER JWT-----',
    jwt,
    '------END NATS USER JWT------',
    '',
    '************************* IMPORTANT *************************',
    'NKEY Seed printed below can be used to sign and prove identity.',
    'NKEYs are sensitive and should be treated as secrets.',
    '',
    '-----BEGIN USER NKEY SEED-----',
    seed,
    '------END USER NKEY SEED------',
    '',
    '*************************************************************',
    '',
  ].join('\n');
}
