// The `events-drain` rows: what one in-order HTTP sink (one event per POST, max_in_flight 1) costs our service per
// event, apart from the intake. The load is `events`' (events.ts: 1 KiB CloudEvents by request into a [store] with
// FULL fsync, one sink `event_feed`), which acknowledges far faster than one sink delivers one at a time, so a
// backlog is left when the intake ends; from then to the last delivery (the drain) the service does nothing but
// deliver: its CPU over the drain divided by the events delivered in it is the sink's own cost per event (the
// worker's pump, the POST, its answer, the delivered marks), and the drain's rate is the sink's rate with the intake
// out of the way. `events-drain` delivers to events.ts's node:http receiver, `events-drain-light` to
// light-receiver.ts's (node:net, a fixed answer: less receiver in the round trip, so more of it is ours);
// `events-drain-pipelined` to the node:http one with `pipelining = 8` (still in order, 8 POSTs on the wire).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { clientRequests, eventBody, ID_MARK, nativeRequests, startReceiver, TYPE, type Receiver } from './events.js';
import { startLightReceiver } from './light-receiver.js';
import { fmtFixed, fmtRate } from './scenario-parts.js';
import type { GenResult, RunContext, Scenario } from './scenario-types.js';
import { eventsLoad, intakeNotes } from './scenarios-events.js';
import { startOurs } from './servers.js';

async function runDrain(ctx: RunContext, light: boolean, pipelining: number): Promise<GenResult> {
  const size = ctx.spec.size ?? 1024;
  const receiver: Receiver = light ? await startLightReceiver() : await startReceiver();
  const dir = mkdtempSync(path.join(tmpdir(), 'bench-events-drain-'));
  const server = await startOurs(
    ctx.limits,
    { event_limit: 10_000_000 },
    {
      store: { path: path.join(dir, 'events.db') },
      handlers: {
        event_feed: pipelining > 1 ? { url: `127.0.0.1:${receiver.port}`, pipelining } : `127.0.0.1:${receiver.port}`,
      },
    },
  );
  try {
    // The service's CPU when the intake ends (the drain's start; the run reads the backlog in the same tick).
    let cpuAtEnd = 0;
    const onServerCpu = (s: number) => {
      cpuAtEnd = server.cpuSeconds();
      ctx.onServerCpu(s);
    };
    let r: GenResult;
    if (ctx.generator.name.startsWith('c-')) {
      const bodyFile = path.join(dir, 'body.json');
      writeFileSync(bodyFile, eventBody(ID_MARK, size));
      const spec = { ...ctx.spec, mode: 'requests' as const, subject: `events.${TYPE}`, bodyFile };
      r = await nativeRequests(ctx.generator, spec, server, receiver, onServerCpu);
    } else r = await clientRequests(ctx.spec, server, receiver, onServerCpu);
    const drainCpu = server.cpuSeconds() - cpuAtEnd;
    return {
      ...r,
      generator: light ? r.generator.replace('node:http receiver', 'light receiver') : r.generator,
      server_cpu_parts: { ...r.server_cpu_parts, drain: drainCpu },
    };
  } finally {
    await server.stop();
    await receiver.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Events delivered in the drain: the backlog when the intake ended, less any still pending at the drain bound. */
const drained = (r: GenResult) => (r.backlog_at_end ?? 0) - (r.lost ?? 0);
/** Events/s over the drain (last reply → last delivery): the sink alone. */
const drainRate = (r: GenResult) => drained(r) / ((r.drain_ns ?? NaN) / 1e9);
/** The service's CPU µs per event delivered in the drain. */
const drainCpuPerEvent = (r: GenResult) => ((r.server_cpu_parts?.['drain'] ?? NaN) * 1e6) / drained(r);

function drainScenario(name: string, light: boolean, pipelining = 1): Scenario {
  const receiver = `${light ? 'light (node:net) receiver' : 'node:http receiver'}${pipelining > 1 ? `, pipelining ${pipelining}` : ''}`;
  return {
    name,
    kind: 'custom',
    oursOnly: true,
    spec: (quick) => eventsLoad(quick, {}),
    metrics: [
      {
        label: `events delivered, 1 per POST in order, intake over (drain), ${receiver}`,
        unit: 'events/s',
        better: 'higher',
        format: fmtRate,
        value: drainRate,
      },
      {
        label: `service CPU per event delivered in the drain, ${receiver}`,
        unit: 'µs',
        better: 'lower',
        format: fmtFixed(1),
        value: drainCpuPerEvent,
      },
    ],
    check: (r) => ((r.timeouts ?? 0) > 0 ? `${r.timeouts} request(s) unanswered` : undefined),
    notes: (r) => [
      `drain: ${drained(r)} events in ${((r.drain_ns ?? 0) / 1e9).toFixed(2)} s`,
      ...((r.lost ?? 0) > 0
        ? [`${r.lost} of ${r.expected} acknowledged events still pending after the 30 s drain bound`]
        : []),
      ...intakeNotes(r),
    ],
    run: (ctx) => runDrain(ctx, light, pipelining),
  };
}

export const eventsDrain = drainScenario('events-drain', false);
export const eventsDrainLight = drainScenario('events-drain-light', true);
export const eventsDrainPipelined = drainScenario('events-drain-pipelined', false, 8);
