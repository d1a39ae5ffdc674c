#!/usr/bin/env node
// The dead-letter CLI: lists and replays dead letters straight from the store file, with or without the service
// running (SQLite WAL lets both open it; a running service picks a replay up within its housekeeping interval).
// The running service's own HTTP API (POST /deadletters/{sink}/replay) delivers at once; this works without it.
//
//   node packages/event-service/dist/src/deadletters-cli.js --store PATH list   [--sink S]
//   node packages/event-service/dist/src/deadletters-cli.js --store PATH replay [--sink S] [--id ID]...
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { DeliveryRecord } from './handlers/event-store.js';
import { SqliteEventStore } from './handlers/store.js';

const USAGE = `usage: deadletters-cli --store PATH list [--sink S]
       deadletters-cli --store PATH replay [--sink S] [--id ID]...
  list     one JSON object per dead letter (sink, seq, id, type, attempts, last_error), oldest first
  replay   makes dead letters pending again for their sink (all sinks without --sink; only the given events with --id)`;

/** Exit codes: 0 done, 1 the store could not be used, 2 bad arguments. */
export function runDeadLettersCli(
  argv: readonly string[],
  out: (line: string) => void,
  err: (line: string) => void,
): number {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: {
        store: { type: 'string' },
        sink: { type: 'string' },
        id: { type: 'string', multiple: true },
        help: { type: 'boolean', short: 'h' },
      },
      allowPositionals: true,
    });
  } catch (e) {
    err(`deadletters-cli: ${(e as Error).message}\n${USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const command = positionals[0];
  if (positionals.length !== 1 || (command !== 'list' && command !== 'replay')) {
    err(
      `deadletters-cli: expected one command, list or replay, got ${JSON.stringify(positionals.join(' '))}\n${USAGE}`,
    );
    return 2;
  }
  if (values.store === undefined) {
    err(`deadletters-cli: --store PATH is required (the service's [store] path)\n${USAGE}`);
    return 2;
  }
  if (values.id !== undefined && values.sink === undefined) {
    err('deadletters-cli: --id needs --sink (an event can be dead for several sinks)');
    return 2;
  }
  // Never create a store: a mistyped path should fail, not list an empty new file.
  if (!fs.existsSync(values.store)) {
    err(`deadletters-cli: no store at ${values.store}`);
    return 1;
  }
  let store: SqliteEventStore;
  try {
    // Its errors name the flag and the file (store-file.ts); never a new store where the flag points.
    store = new SqliteEventStore(values.store, { key: '--store', create: false });
  } catch (e) {
    err(`deadletters-cli: cannot open the store: ${(e as Error).message}`);
    return 1;
  }
  try {
    const all = (sink?: string): DeliveryRecord[] => {
      const rows: DeliveryRecord[] = [];
      // Paged per sink by sequence, so sinks sharing an event are never cut between pages.
      const sinks =
        sink !== undefined
          ? [sink]
          : [...new Set(store.deadLetters({ limit: Number.MAX_SAFE_INTEGER }).map((d) => d.sink))];
      for (const s of sinks) {
        for (let after = 0; ;) {
          const page = store.deadLetters({ sink: s, after, limit: 1000 });
          rows.push(...page);
          if (page.length < 1000) break;
          after = page.at(-1)!.seq;
        }
      }
      return rows.sort((a, b) => a.seq - b.seq || a.sink.localeCompare(b.sink));
    };
    if (command === 'list') {
      for (const d of all(values.sink)) {
        out(
          JSON.stringify({
            sink: d.sink,
            seq: d.seq,
            id: d.id,
            type: d.type,
            attempts: d.attempts,
            last_error: d.lastError ?? null,
          }),
        );
      }
      return 0;
    }
    const sinks = values.sink !== undefined ? [values.sink] : [...new Set(all().map((d) => d.sink))];
    for (const sink of sinks) {
      let seqs: number[] | undefined;
      if (values.id !== undefined) {
        seqs = [];
        for (const id of values.id) {
          const e = store.get(id);
          if (e === undefined) err(`deadletters-cli: no event ${JSON.stringify(id)}`);
          else seqs.push(e.seq);
        }
      }
      out(`${sink}: replayed ${store.replay(sink, seqs)}`);
    }
    return 0;
  } catch (e) {
    err(`deadletters-cli: ${(e as Error).message}`);
    return 1;
  } finally {
    store.close();
  }
}

// Run as a program (not when imported by a test).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href) {
  process.exitCode = runDeadLettersCli(
    process.argv.slice(2),
    (l) => process.stdout.write(`${l}\n`),
    (l) => process.stderr.write(`${l}\n`),
  );
}
