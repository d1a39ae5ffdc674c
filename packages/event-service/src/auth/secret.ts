// A presented secret against a configured one, as nats-server compares passwords (auth.go comparePasswords): a
// bcrypt hash by bcrypt, off the event loop (bcrypt.ts); anything else in constant time. The leafnode port and the
// client port use it alike; nothing here logs or returns a secret.
import { createHash, timingSafeEqual } from 'node:crypto';
import { isBcrypt, type BcryptVerifier } from './bcrypt.js';

/** Constant time whatever the lengths: both sides are hashed to 32 bytes first. */
export function sameSecret(expected: string, given: string): boolean {
  const a = createHash('sha256').update(expected, 'utf8').digest();
  const b = createHash('sha256').update(given, 'utf8').digest();
  return timingSafeEqual(a, b);
}

/**
 * Does `given` match `configured` (plain, or a bcrypt hash)? At once for a plain secret; a Promise for a hash,
 * false when `gone` aborts before the worker took the check.
 */
export function checkSecret(
  configured: string,
  given: string,
  opts: { bcrypt: BcryptVerifier; gone?: AbortSignal | undefined },
): boolean | Promise<boolean> {
  if (!isBcrypt(configured)) return sameSecret(configured, given);
  return opts.bcrypt.verify(given, configured, opts.gone);
}
