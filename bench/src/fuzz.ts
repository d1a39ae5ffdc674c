// `pnpm fuzz` (= scripts/bootstrap.mjs fuzz: install, build, then this file): the hostile-input fuzz of issue 11 for
// minutes, outside `npm test`, with random seeds. It starts the real event service (its CLI: client port with a token,
// a TLS leafnode port) and the real event gateway (its CLI, attached to that port), then, batch after batch, each
// with a fresh seed: the parser property for every role (in this process) and the wire property against the
// service's client and leafnode ports and the gateway's TLS port (test-support's frames, parking, wire-fuzz).
// It reports
//   crashes   a process exited, or wrote to stderr, or logged at error level;
//   hangs     a good client connected throughout did not get its PONG within --probe-ms;
//   memory    a process's RSS grew more than --max-growth-mib past its level after the first batches;
// and prints the seed (and fast-check path) of any failing batch, so it can be replayed. Exit 1 on any finding.
//
// Usage: pnpm fuzz [options]           (or, once built: node bench/dist/src/fuzz.js [options])
//   --seconds <n>        how long to fuzz (default 300)
//   --seed <n>           replay one batch with this seed (both properties, then stop)
//   --path <p>           with --seed: the fast-check path printed with it, to go straight to the counterexample
//   --phase <p>          parser | wire: run only that property (a replay names the one that failed)
//   --runs <n>           wire runs per batch (default 200; the parser property runs 5x as many per role)
//   --probe-ms <n>       a good client's PONG must come within this (default 2000)
//   --max-growth-mib <n> allowed RSS growth per process after warm-up (default 96)
//   --keep               keep the temp directory (configs, dev PKI, both logs) for a look afterwards (kept anyway on
//                        a finding)
//
// The processes under test, their targets and what counts as a crash are in fuzz-processes.ts; this file holds the
// options, the parser property and the loop of batches with its report.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import fc from 'fast-check';
import { Parser } from '@event-broker/shared';
import { chunksOf, cutsOf, type FrameRole, heldBound, hostileStream } from '@event-broker/test-support/frames';
import { readRssKiB } from '@event-broker/test-support/processes';
import { chunkParser } from '@event-broker/test-support/recorder';
import { showStream, wireProperty } from '@event-broker/test-support/wire-fuzz';
import { crashes, growthMiB, LIMITS, setUp, type Setup } from './fuzz-processes.js';

const parseChunks = chunkParser(Parser);
/**
 * The parser property's own: the processes' limits, and a server's INFO (server and leaf roles) bounded at twice
 * max_control_line rather than the default 1 MiB, so the memory bound stays tight for every role (heldBound).
 */
const PARSER_LIMITS = { ...LIMITS, maxInfoLine: 2 * LIMITS.maxControlLine };
/** RSS is sampled this often; growth is measured from the lowest sample after the first WARMUP_BATCHES. */
const SAMPLE_MS = 2000;
const WARMUP_BATCHES = 3;

interface Options {
  seconds: number;
  seed: number | undefined;
  path: string | undefined;
  phase: 'parser' | 'wire' | undefined;
  runs: number;
  probeMs: number;
  maxGrowthMiB: number;
  keep: boolean;
}

function options(): Options {
  // `pnpm fuzz -- --seed 1` hands the `--` on.
  const args = process.argv.slice(2).filter((a, i) => !(i === 0 && a === '--'));
  const { values } = parseArgs({
    args,
    options: {
      seconds: { type: 'string', default: '300' },
      seed: { type: 'string' },
      path: { type: 'string' },
      phase: { type: 'string' },
      runs: { type: 'string', default: '200' },
      'probe-ms': { type: 'string', default: '2000' },
      'max-growth-mib': { type: 'string', default: '96' },
      keep: { type: 'boolean', default: false },
    },
    strict: true,
  });
  const int = (name: string, v: string | undefined): number => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new Error(`--${name}: an integer, got ${JSON.stringify(v)}`);
    return n;
  };
  return {
    seconds: int('seconds', values.seconds),
    seed: values.seed === undefined ? undefined : int('seed', values.seed),
    path: values.path,
    phase:
      values.phase === undefined
        ? undefined
        : values.phase === 'parser' || values.phase === 'wire'
          ? values.phase
          : badPhase(values.phase),
    runs: int('runs', values.runs),
    probeMs: int('probe-ms', values['probe-ms']),
    maxGrowthMiB: int('max-growth-mib', values['max-growth-mib']),
    keep: values.keep,
  };
}

function badPhase(v: string): never {
  throw new Error(`--phase: parser or wire, got ${JSON.stringify(v)}`);
}

type ParserCase = [FrameRole, boolean, Buffer, number[]];

/** The parser property for every role, in this process (a throw here is a parser crash). */
function parserProperty(): fc.IProperty<[ParserCase]> {
  const role = fc.constantFrom<FrameRole>('client', 'server', 'leaf');
  return fc.property(
    role.chain((r) =>
      fc.tuple(fc.constant(r), fc.boolean(), hostileStream(r, LIMITS), fc.array(fc.nat(), { maxLength: 8 })),
    ),
    ([r, expectConnect, stream, raw]: ParserCase) => {
      const opts = { ...PARSER_LIMITS, expectConnect: expectConnect && r !== 'server' };
      const whole = parseChunks([stream], r, opts);
      const split = parseChunks(chunksOf(stream, cutsOf(stream.length, raw)), r, opts);
      const bytewise = parseChunks(
        [...stream].map((b) => Buffer.from([b])),
        r,
        opts,
      );
      // Memory, not bytes: a line fed byte by byte must cost about its bytes, as one whole (Parser#retainedBytes).
      const bound = heldBound(r, stream, PARSER_LIMITS);
      if (JSON.stringify(split.events) !== JSON.stringify(whole.events)) throw new Error('split differs from whole');
      if (JSON.stringify(bytewise.events) !== JSON.stringify(whole.events))
        throw new Error('byte by byte differs from whole');
      for (const p of [whole, split, bytewise])
        if (p.maxHeld > bound) throw new Error(`held ${p.maxHeld} bytes (bound ${bound})`);
    },
  );
}

function reportFailure<T>(phase: 'parser' | 'wire', res: fc.RunDetails<T>, show: (ce: T) => string): string {
  return [
    `${phase} property failed: ${String(res.errorInstance)}`,
    `  counterexample: ${res.counterexample ? show(res.counterexample) : '(none)'}`,
    `  replay: pnpm fuzz --phase ${phase} --seed ${res.seed} --path ${JSON.stringify(res.counterexamplePath ?? '')}`,
  ].join('\n');
}

async function main(): Promise<number> {
  const o = options();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'event-broker-fuzz-'));
  let setup: Setup | undefined;
  const findings: string[] = [];
  let sampler: NodeJS.Timeout | undefined;
  let keep = o.keep;
  try {
    setup = await setUp(dir);
    const s = setup;
    const children = [s.service, s.gateway];
    sampler = setInterval(() => {
      for (const c of children) if (c.alive()) c.rss.push(readRssKiB(c.proc.pid!));
    }, SAMPLE_MS);
    console.log(
      `fuzz: service pid ${s.service.proc.pid}, gateway pid ${s.gateway.proc.pid}, ${o.seed === undefined ? `${o.seconds} s of random seeds` : `seed ${o.seed}`}; temp ${dir}`,
    );
    const deadline = Date.now() + o.seconds * 1000;
    let batches = 0;
    let wireRuns = 0;
    let parserRuns = 0;
    let warmupSamples = 0;
    let lastReport = Date.now();
    while (findings.length === 0) {
      const seed = o.seed ?? Math.floor(Math.random() * 0x7fff_ffff);
      const replay = o.path === undefined ? {} : { path: o.path };
      if (o.phase !== 'wire') {
        const parser = fc.check(parserProperty(), {
          seed,
          numRuns: o.runs * 5,
          unbiased: true,
          endOnFailure: true,
          ...replay,
        });
        parserRuns += parser.numRuns;
        if (parser.failed) {
          findings.push(
            reportFailure(
              'parser',
              parser,
              ([[role, expectConnect, stream]]) =>
                `role ${role}${expectConnect ? ' expecting CONNECT' : ''}, stream ${showStream(stream)}`,
            ),
          );
          break;
        }
      }
      const good = s.good;
      const wire =
        o.phase === 'parser'
          ? undefined
          : await fc.check(
              wireProperty({
                ...LIMITS,
                targets: s.targets,
                alive: () => children.every((c) => c.alive()),
                // Both good clients, the service's and the gateway's, must be answered after every stream.
                good: {
                  ping: async (ms) => void (await Promise.all(good.map((g) => g.ping(ms)))),
                  close: () => good.forEach((g) => g.close()),
                },
                probeMs: o.probeMs,
              }),
              { seed, numRuns: o.runs, unbiased: true, endOnFailure: true, ...replay },
            );
      wireRuns += wire?.numRuns ?? 0;
      if (wire?.failed)
        findings.push(reportFailure('wire', wire, ([[target, stream]]) => `${target.name}: ${showStream(stream)}`));
      for (const c of children) findings.push(...crashes(c));
      batches++;
      if (batches === WARMUP_BATCHES) warmupSamples = Math.min(...children.map((c) => c.rss.length));
      if (batches > WARMUP_BATCHES) {
        for (const c of children) {
          const g = growthMiB(c, warmupSamples);
          if (g > o.maxGrowthMiB)
            findings.push(
              `memory: ${c.name} RSS grew ${g.toFixed(1)} MiB since warm-up (bound ${o.maxGrowthMiB}); samples (MiB): ${c.rss
                .slice(warmupSamples)
                .map((k) => (k / 1024).toFixed(0))
                .join(' ')}`,
            );
        }
      }
      if (findings.length > 0 && !findings.some((f) => f.includes('replay:')))
        findings.push(`  (in the batch of seed ${seed}: pnpm fuzz --seed ${seed})`);
      if (Date.now() - lastReport > 10_000 || o.seed !== undefined) {
        lastReport = Date.now();
        const rss = children.map((c) => `${c.name} ${((c.rss.at(-1) ?? 0) / 1024).toFixed(0)} MiB`).join(', ');
        console.log(`fuzz: ${batches} batches, ${parserRuns} parser runs, ${wireRuns} wire runs; RSS ${rss}`);
      }
      if (o.seed !== undefined || Date.now() > deadline) break;
    }
    if (findings.length === 0) {
      console.log(`fuzz: no finding in ${batches} batches (${parserRuns} parser runs, ${wireRuns} wire runs)`);
      return 0;
    }
    keep = true;
    console.log(`fuzz: FINDINGS\n${findings.join('\n')}\nfuzz: configs and both processes' logs are in ${dir}`);
    return 1;
  } finally {
    clearInterval(sampler);
    for (const c of [setup?.service, setup?.gateway]) {
      if (c !== undefined && keep)
        writeFileSync(path.join(dir, `${c.name.replace(/ /g, '-')}.log`), `${c.stdout}\n--- stderr ---\n${c.stderr}`);
    }
    for (const g of setup?.good ?? []) g.close();
    for (const c of [setup?.gateway, setup?.service]) {
      if (c?.alive()) {
        const exited = new Promise((r) => c.proc.once('exit', r));
        c.proc.kill('SIGINT');
        const timer = setTimeout(() => c.proc.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
    }
    if (!keep) rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  (code) => process.exit(code),
  (err: Error) => {
    console.error(`fuzz: ${err.stack ?? err.message}`);
    process.exit(2);
  },
);
