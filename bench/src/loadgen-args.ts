// The node generator's key=value arguments (the same as native/loadgen.c takes; scenarios build them with genArgs).
import fs from 'node:fs';
import type { GenMode } from './load-spec.js';

export interface Args {
  mode: GenMode;
  port: number;
  size: number;
  count: number;
  warmup: number;
  capMs: number;
  subs: number;
  queue: boolean;
  conns: number;
  /** conns: one SUB per connection. */
  sub: boolean;
  /** subs: distinct published subjects. */
  subjects: number;
  /** subs: pause with a ready line before and after the SUB storm (the caller reads the server's RSS). */
  ready: boolean;
  /** fanout: the publisher's server, when not `port`; TLS to it with `tlsCa` (and a client certificate). */
  pubPort: number;
  tlsCa?: string;
  tlsCert?: string;
  tlsKey?: string;
  /** CONNECT's auth_token, read from token_file= (not argv: ps shows argv). */
  token?: string;
}

export function parseArgs(argv: string[]): Args {
  const a: Args = {
    mode: argv[0] as GenMode,
    port: 0,
    size: 16,
    count: 100_000,
    warmup: 10_000,
    capMs: 5000,
    subs: 1,
    queue: false,
    conns: 1000,
    sub: false,
    subjects: 10_000,
    ready: false,
    pubPort: 0,
  };
  for (const kv of argv.slice(1)) {
    const [k, v] = kv.split('=');
    const n = Number(v);
    if (k === 'port') a.port = n;
    else if (k === 'size') a.size = n;
    else if (k === 'count') a.count = n;
    else if (k === 'warmup') a.warmup = n;
    else if (k === 'cap_ms') a.capMs = n;
    else if (k === 'subs') a.subs = n;
    else if (k === 'queue') a.queue = n === 1;
    else if (k === 'conns') a.conns = n;
    else if (k === 'sub') a.sub = n === 1;
    else if (k === 'subjects') a.subjects = n;
    else if (k === 'ready') a.ready = n === 1;
    else if (k === 'pub_port') a.pubPort = n;
    else if (k === 'tls_ca') a.tlsCa = v;
    else if (k === 'tls_cert') a.tlsCert = v;
    else if (k === 'tls_key') a.tlsKey = v;
    else if (k === 'token_file') a.token = fs.readFileSync(v ?? '', 'utf8').trimEnd();
    else throw new Error(`unknown argument ${kv}`);
  }
  if (!a.port) throw new Error('port= is required');
  return a;
}
