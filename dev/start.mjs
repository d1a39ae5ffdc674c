#!/usr/bin/env node
// What `npm start` runs after install and build (scripts/bootstrap.mjs): makes the dev certificates on first run,
// starts the dev processes (the event service; the gateway joins the list below later), forwards SIGINT/SIGTERM to
// them and exits with their code. Each process's configuration and behaviour is its own CLI's business.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { parseArgs } from 'node:util';
import { ensureDevCerts } from './certs.mjs';
import { CERTS_DIR, ROOT } from './shared.mjs';

const USAGE = `usage: npm start [-- --patch FILE ...]      (or: node dev/start.mjs [--patch FILE]...)

Makes the dev certificates in certs/ on first run, then runs the event service with dev/event-service.toml.

  --patch FILE   a TOML patch for the event service config, merged in order (repeatable);
                 e.g. --patch dev/tls.toml turns on TLS with the dev certificates
  --help         this text`;

// The ports dev/event-service.toml sets; used to tell when the service is up and what to print.
const NATS_PORT = 10132;
const WS_PORT = 10133;
const READY_WAIT_MS = 15_000;

/**
 * The dev processes, started in order. `optional` ones are skipped while their package is not built (the gateway,
 * once added: { name: 'event-gateway', entry: 'packages/event-gateway/dist/src/cli.js', args: ['--config',
 * 'dev/event-gateway.toml'], optional: true }).
 */
function devProcesses(opts) {
  return [
    {
      name: 'event-service',
      entry: 'packages/event-service/dist/src/cli.js',
      args: ['--config', path.join('dev', 'event-service.toml'), ...opts.patches.flatMap((p) => ['--patch', p])],
      ready: [
        { kind: 'nats', host: '127.0.0.1', port: NATS_PORT },
        { kind: 'tcp', host: '127.0.0.1', port: WS_PORT },
      ],
      hints: eventServiceHints,
      optional: false,
    },
  ];
}

/** How to connect, from the INFO the service sent the readiness probe (so a TLS patch shows tls:// and its flags). */
function eventServiceHints(info) {
  const tls = info.tls_required === true;
  const url = `${tls ? 'tls' : 'nats'}://127.0.0.1:${NATS_PORT}`;
  const tlsFlags = !tls ? '' : ` --tlsca certs/ca.pem${info.tls_verify ? ' --tlscert certs/client.pem --tlskey certs/client-key.pem' : ''}`;
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
    `  tokens      node dev/mint-token.mjs --sub alice --pub 'orders.>'   (for the gateway)`,
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
 * TLS handshake timer nor looks like an attack. Resolves the INFO object (`{}` for tcp), or undefined.
 */
function probe({ kind, host, port }) {
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
    const built = fs.existsSync(path.join(ROOT, spec.entry));
    if (!built && !spec.optional) {
      console.error(`start: ${spec.entry} is missing: build first (npm start does, or: pnpm exec tsc -b)`);
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
  // signal exactly once (a second Ctrl-C is forwarded too: the service then exits at once).
  for (const signal of ['SIGINT', 'SIGTERM']) {
    process.on(signal, () => {
      stopping = true;
      stopAll(signal);
    });
  }
  // If this launcher dies of an error, do not leave the children running.
  process.on('exit', () => stopAll('SIGTERM'));

  const ended = [];
  for (const spec of specs) {
    const child = spawn(process.execPath, [spec.entry, ...spec.args], {
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
  }

  // Print how to connect once everything accepts connections, after the processes' own start-up lines.
  for (const spec of specs) {
    const results = [];
    for (const check of spec.ready) {
      results.push(await waitFor(check, READY_WAIT_MS, () => stopping || !running.has(spec.name)));
    }
    if (stopping) break;
    const missing = spec.ready.filter((_, i) => results[i] === undefined);
    if (missing.length > 0) {
      const where = missing.map((c) => `${c.host}:${c.port}`).join(', ');
      console.error(`start: ${spec.name} does not answer on ${where} after ${READY_WAIT_MS / 1000}s (a patch may have moved it)`);
      continue;
    }
    const info = results.find((r) => r && Object.keys(r).length > 0) ?? {};
    console.log(['', ...spec.hints(info), ''].join('\n'));
  }
  if (!stopping && specs.length > 0) console.log('Ctrl-C stops.');

  await Promise.all(ended);
  process.exitCode = exitCode ?? 0;
}

await main();
