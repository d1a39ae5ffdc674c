// The sink worker's entry (started by sink-pool.ts): the HTTP sinks (sinks/http.ts) on an event loop of their own,
// reading and marking deliveries through their own connection to the store's file, so a POST's answer is handled
// whatever the main thread (the broker) and the store writer (the intake's commits) are doing. It reports each
// sink's figures back, coalesced.
import { parentPort, workerData } from 'node:worker_threads';
import type { FromWorker, SinkReport, SinkWorkerData, ToWorker } from './sink-pool.js';
import { HttpSink } from './sinks/http.js';
import type { SinkLogger } from './sinks/options.js';
import { SqliteEventStore } from './store.js';

/**
 * Figures that changed are reported at most this often; a resolved delivery (room under event_limit) at once.
 * At full intake a sink changes its counters on every POST answer: one message each would cost the main thread
 * more than the reports are worth.
 */
const REPORT_MS = 10;

const port = parentPort!;
const data = workerData as SinkWorkerData;
// The file the service opened, never a new one (a store removed since fails here, naming it: the pool's health).
const store = new SqliteEventStore(data.file, { heldCounter: data.heldCounter, create: false });
const sinks = new Map<number, HttpSink>();
const changed = new Set<number>();
let resolved = false;
let reportTimer: NodeJS.Timeout | undefined;

const post = (m: FromWorker): void => port.postMessage(m);
// The service's logger lives on the main thread (its level, redaction, destination): lines go there.
const logger: SinkLogger = {
  error: (obj, msg) => post({ t: 'log', level: 'error', obj, msg }),
  warn: (obj, msg) => post({ t: 'log', level: 'warn', obj, msg }),
};

function report(): void {
  clearTimeout(reportTimer);
  reportTimer = undefined;
  const out: SinkReport[] = [];
  for (const id of changed) {
    const s = sinks.get(id);
    if (s !== undefined)
      out.push({
        id,
        state: s.state,
        stats: { ...s.stats },
        lastError: s.lastError,
        lastDeliveredAt: s.lastDeliveredAt,
      });
  }
  changed.clear();
  if (out.length > 0 || resolved) post({ t: 'report', sinks: out, resolved });
  resolved = false;
}

function add(id: number, settings: Extract<ToWorker, { t: 'add' }>['settings']): void {
  // The pool sends each sink once per worker; were one sent twice, the first instance would go on delivering the
  // same events beside the second (its timers and sockets live on): it stops first.
  sinks.get(id)?.close();
  const sink = new HttpSink(store, {
    ...settings,
    logger,
    onChange: () => {
      changed.add(id);
      reportTimer ??= setTimeout(report, REPORT_MS);
    },
    onResolved: () => {
      changed.add(id);
      resolved = true;
      report();
    },
  });
  sinks.set(id, sink);
  // It starts with what the store already has pending for it (from before, or left by its predecessor).
  sink.wake();
}

function close(): void {
  for (const s of sinks.values()) s.close();
  report();
  sinks.clear();
  store.close();
  // Posted before the port closes, so the pool receives it (sink-pool.ts close waits for it).
  post({ t: 'closed' });
  port.close();
}

// Running: the pool's health clears what an earlier worker's exit reported.
post({ t: 'ready' });

port.on('message', (m: ToWorker) => {
  switch (m.t) {
    case 'add':
      return add(m.id, m.settings);
    case 'remove': {
      const s = sinks.get(m.id);
      sinks.delete(m.id);
      s?.close();
      return;
    }
    case 'wake':
      for (const s of sinks.values()) s.wake();
      return;
    case 'recheck':
      for (const s of sinks.values()) s.recheck();
      return;
    case 'resume':
      return sinks.get(m.id)?.resume();
    case 'close':
      return close();
  }
});
