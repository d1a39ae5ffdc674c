// DNS rebinding: a page from the attacker's domain, whose DNS answer then changes to 127.0.0.1, reads a loopback
// port as if it were its own origin; only the Host header still says which name the browser used. An HTTP
// port that serves data (monitoring, the event feed) answers only names that cannot be rebound from outside:
// IP literals (a page's origin is then the address itself), loopback names, the port's own configured host and
// this machine's name, and what the operator lists (`allowed_hosts`; `.example.com` covers its subdomains).
import os from 'node:os';
import net from 'node:net';
import { hostAndPort } from './origin.js';

export interface HostCheckOptions {
  /** The port's configured host (a name there is the operator's own). */
  readonly listenHost: string;
  /** Extra names: exact (case-insensitive), or `.example.com` for it and every subdomain. */
  readonly allowedHosts: readonly string[];
}

/**
 * Whether a request's Host header may be answered. A request without one (HTTP/1.0, a raw tool) is answered: every
 * browser sends it, so its absence is not a page.
 */
export function hostAllowed(header: string | undefined, opts: HostCheckOptions): boolean {
  if (header === undefined || header === '') return true;
  const parsed = hostAndPort(header, false);
  if (parsed === undefined) return false;
  const name = parsed.host.replace(/\.$/, '');
  if (net.isIP(name) !== 0) return true;
  if (name === 'localhost' || name.endsWith('.localhost')) return true;
  if (name === opts.listenHost.toLowerCase() || name === os.hostname().toLowerCase()) return true;
  for (const entry of opts.allowedHosts) {
    const e = entry.toLowerCase();
    if (e.startsWith('.') ? name === e.slice(1) || name.endsWith(e) : name === e) return true;
  }
  return false;
}

/** Why an allowed_hosts entry cannot be used, or undefined (config validation). */
export function hostEntryProblem(text: string): string | undefined {
  const name = text.startsWith('.') ? text.slice(1) : text;
  // A DNS name: labels of letters, digits, hyphens and underscores; no port, scheme or wildcard.
  if (!/^[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_]([a-z0-9_-]{0,62}))*\.?$/i.test(name)) {
    return `must be a host name such as "monitor.example.com" or ".example.com" (no scheme, port or wildcard), got ${JSON.stringify(text)}`;
  }
  return undefined;
}
