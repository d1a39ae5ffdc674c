#!/usr/bin/env node
// What `npm start` runs after install and build (scripts/bootstrap.mjs): makes the dev certificates on first run,
// starts the dev processes one after another (the event service, then the gateway once the service answers),
// forwards SIGINT/SIGTERM to them, stops the rest when one ends, and exits with their code. Each process's
// configuration and behaviour is its own CLI's business.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { ensureDevCerts } from './certs.mjs';
import { CERTS_DIR, ROOT } from './shared.mjs';

const USAGE = `usage: npm start [-- --patch FILE ...]      (or: node dev/start.mjs [--patch FILE]...)

Makes the dev certificates in certs/ on first run, then runs the event service with dev/event-service.toml and,
once it answers, the event gateway with dev/event-gateway.toml (linked to the service's leafnode port).

  --patch FILE   a TOML patch for the event service config, merged in order (repeatable);
                 e.g. --patch dev/tls.toml turns on TLS on the client port with the dev certificates
                 (the gateway's link to the service's leafnode port is TLS either way: [leafnodes.tls])
  --help         this text`;

// The ports dev/event-service.toml and dev/event-gateway.toml set; used to tell when each is up and what to print.
const NATS_PORT = 10132;
const WS_PORT = 10133;
const GATEWAY_PORT = 10136;
const GATEWAY_WS_PORT = 10137;
const GATEWAY_MONITOR_PORT = 10138;
const READY_WAIT_MS = 15_000;

/**
 * The dev processes, started in order, each after the one before it answers (or gave up answering). `args` sees
 * what the earlier ones' readiness checks returned, by name. `optional` ones are skipped while their package is not
 * built.
 */
function devProcesses(opts) {
  return [
    {
      name: 'event-service',
      // The bin runs scripts/bundle.mjs's bundle of the CLI (fast start), or tsc's files when it is missing or stale.
      entry: 'packages/event-service/bin/event-service.mjs',
      built: 'packages/event-service/dist/src/cli.js',
      args: () => ['--config', path.join('dev', 'event-service.toml'), ...opts.patches.flatMap((p) => ['--patch', p])],
      ready: [
        { kind: 'nats', host: '127.0.0.1', port: NATS_PORT },
        { kind: 'tcp', host: '127.0.0.1', port: WS_PORT },
      ],
      hints: eventServiceHints,
      optional: false,
    },
    {
      name: 'event-gateway',
      // Likewise the gateway's bin: its bundle, or tsc's files (its workers run the same entry again).
      entry: 'packages/event-gateway/bin/event-gateway.mjs',
      built: 'packages/event-gateway/dist/src/cli.js',
      // Dials the service's leafnode port over TLS with certs/gateway-upstream.pem, the one subject that port
      // admits ([leafnodes.tls] verify_and_map there); certs/client.pem is refused on it.
      args: () => ['--config', path.join('dev', 'event-gateway.toml')],
      // 200 only once a request has made the round trip through the link to the service and back.
      ready: [{ kind: 'health', host: '127.0.0.1', port: GATEWAY_MONITOR_PORT }],
      hints: gatewayHints,
      optional: true,
    },
  ];
}

/** How to connect, from the INFO the service sent the readiness probe (so a TLS patch shows tls:// and its flags). */
function eventServiceHints(info) {
  const tls = info.tls_required === true;
  const url = `${tls ? 'tls' : 'nats'}://127.0.0.1:${NATS_PORT}`;
  const tlsFlags = !tls
    ? ''
    : ` --tlsca certs/ca.pem${info.tls_verify ? ' --tlscert certs/client.pem --tlskey certs/client-key.pem' : ''}`;
  const nodeTls = !tls
    ? ''
    : `, tls: { ca: readFileSync('certs/ca.pem')${info.tls_verify ? ", cert: readFileSync('certs/client.pem'), key: readFileSync('certs/client-key.pem')" : ''} }`;
  return [
    `event service ready (${info.server_name ?? 'event-service'}, dev/event-service.toml)`,
    `  NATS        ${url}${tls ? (info.tls_verify ? '  (TLS, client certificate required)' : '  (TLS)') : ''}`,
    `  WebSocket   ws://127.0.0.1:${WS_PORT}`,
    `  nats CLI    nats --server ${url}${tlsFlags} sub '>'`,
    `              nats --server ${url}${tlsFlags} pub greet.hello hi`,
    `  Node        import { connect, StringCodec } from 'nats';${tls ? " import { readFileSync } from 'node:fs';" : ''}`,
    `              const nc = await connect({ servers: '${url}'${nodeTls} });`,
    `              nc.publish('greet.hello', StringCodec().encode('hi'));`,
    `  certs       certs/ holds the dev CA, certificates and JWT key${tls ? '' : '; TLS: npm start -- --patch dev/tls.toml'}`,
  ];
}

/** How external clients connect through the gateway: the client certificate, a minted token, the TLS URL. */
function gatewayHints(health, { pid, started }) {
  const url = `tls://127.0.0.1:${GATEWAY_PORT}`;
  const tlsFlags = '--tlsca certs/ca.pem --tlscert certs/client.pem --tlskey certs/client-key.pem';
  const service = started.get('event-service') ?? {};
  const internal = !service.tls_required
    ? `nats://127.0.0.1:${NATS_PORT}`
    : `tls://127.0.0.1:${NATS_PORT} --tlsca certs/ca.pem${service.tls_verify ? ' --tlscert certs/client.pem --tlskey certs/client-key.pem' : ''}`;
  const check =
    health.check === 'round-trip'
      ? `a request made the round trip to the event service in ${health.rtt_ms} ms`
      : `/healthz 200${health.note ? ` (${health.note})` : ''}`;
  return [
    `event gateway ready (pid ${pid}, dev/event-gateway.toml): ${check}`,
    `  NATS        ${url}  (TLS; a client certificate from certs/ca.pem AND a token are required)`,
    `  WebSocket   wss://127.0.0.1:${GATEWAY_WS_PORT}  (same checks)`,
    `  token       export TOKEN=$(node dev/mint-token.mjs --sub alice --pub 'greet.>' --sub-allow 'greet.>' --ttl 1h)`,
    `              (it also grants alice's private reply prefix _INBOX.alice.>: connect with that inbox prefix)`,
    `  nats CLI    nats --server ${url} ${tlsFlags} --token "$TOKEN" --inbox-prefix _INBOX.alice pub greet.hello hi`,
    `              (an internal subscriber on the service sees it: nats --server ${internal} sub 'greet.>')`,
    `  Node        import { connect, StringCodec } from 'nats';`,
    `              const nc = await connect({ servers: '${url}', token: process.env.TOKEN, inboxPrefix: '_INBOX.alice',`,
    `                tls: { caFile: 'certs/ca.pem', certFile: 'certs/client.pem', keyFile: 'certs/client-key.pem' } });`,
    `              nc.publish('greet.hello', StringCodec().encode('hi'));`,
    `  health      http://127.0.0.1:${GATEWAY_MONITOR_PORT}/healthz  (also /varz, /connz)`,
    `  upstream    the service's leafnode port 127.0.0.1:10135, TLS with certs/gateway-upstream.pem`,
    `              (CN=event-gateway-upstream, the only leaf it admits; certs/client.pem is no leaf)`,
    `  reload      kill -HUP ${pid}   (after editing [auth] in dev/event-gateway.toml, e.g. revoked = ["<jti>"])`,
  ];
}

function parse(argv) {
  try {
    const { values } = parseArgs({
      args: argv,
      options: { patch: { type: 'string', multiple: true }, help: { type: 'boolean', short: 'h' } },
      strict: true,
    });
    // `npm start` runs us from the repository root; resolve a patch against where the developer typed it.
    const base = process.env.INIT_CWD ?? process.cwd();
    return { help: values.help ?? false, patches: (values.patch ?? []).map((p) => path.resolve(base, p)) };
  } catch (err) {
    console.error(`start: ${err.message}\n\n${USAGE}`);
    process.exit(2);
  }
}

/**
 * One readiness check. `tcp`: the port accepts a connection. `nats`: the server sends INFO, and when INFO asks for
 * TLS the handshake succeeds with the dev CA (and dev client certificate), so a probe neither stalls the server's
 * TLS handshake timer nor looks like an attack. `health`: GET /healthz answers 200. Resolves the INFO object (`{}`
 * for tcp, the /healthz body for health), or undefined.
 */
function probe(check) {
  return check.kind === 'health' ? probeHealth(check) : probeSocket(check);
}

function probeHealth({ host, port }) {
  return new Promise((resolve) => {
    // The gateway's check itself waits up to 2 s for the service's reply; allow for that.
    const req = http.get({ host, port, path: '/healthz', timeout: 3000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => {
        if (res.statusCode !== 200) return resolve(undefined);
        try {
          resolve(JSON.parse(body));
        } catch {
          resolve({});
        }
      });
      res.on('error', () => resolve(undefined));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(undefined));
  });
}

function probeSocket({ kind, host, port }) {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    let upgraded;
    const done = (value) => {
      clearTimeout(timer);
      socket.removeAllListeners('data');
      // end(), not destroy(): TLS 1.3 reports secureConnect before our Finished is flushed to the server.
      if (upgraded) {
        upgraded.end();
        setTimeout(() => upgraded.destroy(), 1000).unref();
      } else socket.destroy();
      resolve(value);
    };
    const timer = setTimeout(() => done(undefined), 2000);
    socket.once('error', () => done(undefined));
    socket.once('connect', () => {
      if (kind === 'tcp') done({});
    });
    if (kind !== 'nats') return;
    let buffered = '';
    socket.on('data', (chunk) => {
      buffered += chunk.toString('latin1');
      const eol = buffered.indexOf('\r\n');
      if (eol === -1) return;
      const m = /^INFO\s+(\{.*\})\s*$/.exec(buffered.slice(0, eol));
      let info;
      try {
        info = m ? JSON.parse(m[1]) : undefined;
      } catch {
        info = undefined;
      }
      if (!info || !info.tls_required) return done(info);
      socket.removeAllListeners('data');
      const read = (f) => fs.readFileSync(path.join(CERTS_DIR, f));
      upgraded = tls.connect({
        socket,
        ca: read('ca.pem'),
        cert: read('client.pem'),
        key: read('client-key.pem'),
        servername: 'localhost',
      });
      upgraded.once('secureConnect', () => done(info));
      upgraded.once('error', () => done(undefined));
    });
  });
}

/** Polls `check` until it resolves a value, `ms` pass, or `gaveUp()` says so. */
async function waitFor(check, ms, gaveUp) {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !gaveUp()) {
    const value = await probe(check);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return undefined;
}

/** The exit code a child's end maps to: its own code, or 128 + the signal number as a shell reports it. */
function exitCodeOf(code, signal) {
  if (code !== null) return code;
  return 128 + (os.constants.signals[signal] ?? 0);
}

async function main() {
  const opts = parse(process.argv.slice(2));
  if (opts.help) {
    console.log(USAGE);
    return;
  }
  await ensureDevCerts();

  const specs = devProcesses(opts).filter((spec) => {
    const built = fs.existsSync(path.join(ROOT, spec.built ?? spec.entry));
    if (!built && !spec.optional) {
      console.error(
        `start: ${spec.built ?? spec.entry} is missing: build first (npm start does, or: pnpm exec tsc -b)`,
      );
      process.exit(1);
    }
    return built;
  });

  const running = new Map(); // name -> ChildProcess
  let stopping = false;
  let exitCode;

  const stopAll = (signal) => {
    for (const child of running.values()) child.kill(signal);
  };

  // Children run in their own process group, so a terminal's Ctrl-C reaches only us and each process gets the
  // signal exactly once (a second Ctrl-C is forwarded too: both then exit at once).
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      stopping = true;
      stopAll(signal);
    });
  }
  // If this launcher dies of an error, do not leave the children running.
  process.on('exit', () => stopAll('SIGTERM'));

  const ended = [];
  const launch = (spec, args) => {
    const child = spawn(process.execPath, [spec.entry, ...args], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      detached: process.platform !== 'win32',
    });
    running.set(spec.name, child);
    ended.push(
      new Promise((resolve) => {
        child.once('error', (err) => {
          console.error(`start: cannot run ${spec.name}: ${err.message}`);
          running.delete(spec.name);
          stopping = true;
          exitCode ??= 1;
          stopAll('SIGTERM');
          resolve();
        });
        child.once('exit', (code, signal) => {
          running.delete(spec.name);
          const mapped = exitCodeOf(code, signal);
          if (!stopping) {
            // One process ended on its own: the dev set is incomplete, so stop the rest and report it.
            console.error(`start: ${spec.name} exited (${signal ?? `code ${code}`}); stopping the others`);
            stopping = true;
            stopAll('SIGTERM');
            exitCode ??= mapped === 0 ? 1 : mapped;
          } else if (mapped !== 0) {
            exitCode ??= mapped;
          }
          resolve();
        });
      }),
    );
    return child;
  };

  // One at a time: the gateway dials the service's leafnode port, and its arguments depend on what the service's
  // INFO said. How to connect is printed once each answers, after the process's own start-up lines.
  const started = new Map(); // name -> what its readiness checks returned
  for (const spec of specs) {
    if (stopping) break;
    const args = spec.args(started);
    const child = launch(spec, args);
    const results = [];
    for (const check of spec.ready) {
      results.push(await waitFor(check, READY_WAIT_MS, () => stopping || !running.has(spec.name)));
    }
    if (stopping) break;
    const info = results.find((r) => r && Object.keys(r).length > 0) ?? {};
    started.set(spec.name, info);
    const missing = spec.ready.filter((_, i) => results[i] === undefined);
    if (missing.length > 0) {
      const where = missing.map((c) =>
        c.kind === 'health'
          ? `http://${c.host}:${c.port}/healthz (not 200: is its link to the event service up?)`
          : `${c.host}:${c.port}`,
      );
      console.error(
        `start: ${spec.name} does not answer on ${where.join(', ')} after ${READY_WAIT_MS / 1000}s (a patch may have moved it)`,
      );
      continue;
    }
    console.log(['', ...spec.hints(info, { pid: child.pid, args, started }), ''].join('\n'));
  }
  if (!stopping && specs.length > 0) console.log('Ctrl-C stops.');

  await Promise.all(ended);
  process.exitCode = exitCode ?? 0;
}

await main();
