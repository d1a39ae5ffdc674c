// Refused admissions counted by reason, for /metrics: the verifier's and the certificate check's reasons are short
// texts for logs (auth/jwt.ts, auth/mtls.ts, admission.ts); a Prometheus label needs a small fixed set, so each text
// maps to one of AUTH_FAILURE_REASONS here. A text this table does not know counts as `other`: a new verifier
// reason shows up there instead of growing the label set.

export const AUTH_FAILURE_REASONS = [
  'no_certificate',
  'certificate_untrusted',
  'no_token',
  'token_invalid',
  'token_expired',
  'token_revoked',
  'wrong_issuer',
  'wrong_audience',
  'algorithm',
  'certificate_binding',
  'other',
] as const;

export type AuthFailureReason = (typeof AUTH_FAILURE_REASONS)[number];

// First match wins; the texts are auth/jwt.ts's, auth/mtls.ts's and admission.ts's.
const RULES: readonly (readonly [RegExp, AuthFailureReason])[] = [
  [/^no client certificate$/, 'no_certificate'],
  [/^client certificate refused/, 'certificate_untrusted'],
  [/^no token$/, 'no_token'],
  [/^token expired$/, 'token_expired'],
  [/^token id .* is revoked$/, 'token_revoked'],
  [/^token has no issuer|^wrong issuer/, 'wrong_issuer'],
  [/^token has no audience|^wrong audience/, 'wrong_audience'],
  [/^unsigned token \(alg none\)$|^algorithm /, 'algorithm'],
  [/^token is bound to|cnf/, 'certificate_binding'],
  [
    /^malformed token|^bad signature$|^no key in the key set|^token not yet valid|^invalid ".*" claim|^unsupported token|^key does not fit|^token longer than|^nats claim:|^verification failed/,
    'token_invalid',
  ],
];

/** The label for a refusal's reason text. */
export function classifyAuthFailure(reason: string): AuthFailureReason {
  for (const [re, label] of RULES) if (re.test(reason)) return label;
  return 'other';
}

/** Running totals per label, every label present from the start (so rate() has a zero to start from). */
export class AuthFailureCounts {
  private readonly counts = new Map<AuthFailureReason, number>(AUTH_FAILURE_REASONS.map((r) => [r, 0]));

  record(reason: string): AuthFailureReason {
    const label = classifyAuthFailure(reason);
    this.counts.set(label, (this.counts.get(label) ?? 0) + 1);
    return label;
  }

  get total(): number {
    let n = 0;
    for (const v of this.counts.values()) n += v;
    return n;
  }

  entries(): [AuthFailureReason, number][] {
    return [...this.counts];
  }
}
