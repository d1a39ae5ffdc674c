// What the leafnode port answers a leaf's CONNECT with (link.ts asks, event-service leafnode/auth.ts answers).

/** How a leaf proved who it is (/leafz auth_method): nothing, any certificate of the CA, a listed certificate, a password, a token. */
export type LeafAuthMethod = 'none' | 'tls' | 'certificate' | 'password' | 'token';

/** Who an admitted leaf authenticated as; `user` is a name or certificate identity, never a secret. */
export interface LeafIdentity {
  readonly method: LeafAuthMethod;
  readonly user?: string;
}

/** Why a connection was refused before admission: its credentials, or the protocol (anything else). */
export type LeafRefusal = 'credentials' | 'protocol';

/** The port's answer to a CONNECT: admitted as whom, or refused and why (for the log; no secret in it). */
export type LeafAdmission =
  { readonly ok: true; readonly identity: LeafIdentity } | { readonly ok: false; readonly reason: string };
