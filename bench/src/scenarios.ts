// The end-to-end scenarios of `pnpm bench`: what load each applies, which limits both servers get, and which
// figures it yields. main.ts runs them; the generators (native/loadgen.c, node-loadgen.ts) apply them. This file is
// the list and its order; the definitions are grouped by what they measure: scenarios-messaging.ts (throughput,
// latency, the gateway path), scenarios-events.ts (the durable intake and a sink), scenarios-memory.ts (RSS per
// connection, the soak), scenarios-cluster.ts (the leaf path, the intake on JetStream). Their shared pieces are in scenario-parts.ts, the types in scenario-types.ts and load-spec.ts.
//
// Adding one: a definition in its group's file and an entry here; a new generator mode when the load is new (both
// generators, same CLI: load-spec.ts).
import { eventsJsR1, eventsJsR3, eventsJsR3x2, leaf } from './scenarios-cluster.js';
import { eventsDrain, eventsDrainLight, eventsDrainPipelined } from './events-drain.js';
import { eventsIntakeScenario, eventsScenario } from './scenarios-events.js';
import { eventsHttpScenario } from './scenarios-http.js';
import { conns, idle10k, soak } from './scenarios-memory.js';
import {
  fanout,
  gateway,
  inproc,
  payload256,
  payload64k,
  pub,
  pubsub,
  queue,
  reqrep,
  subs100k,
} from './scenarios-messaging.js';
import { startup, startupDefault } from './scenarios-startup.js';
import type { Scenario } from './scenario-types.js';
import { admission, admissionW1, gatewayW1 } from './scenarios-admission.js';

/** Every scenario, in the order `--list` shows them and a run takes them. */
export const SCENARIOS: Scenario[] = [
  pub,
  pubsub,
  fanout,
  queue,
  reqrep,
  payload256,
  payload64k,
  conns,
  inproc,
  eventsScenario('events', 1),
  eventsScenario('events-batch', 100),
  eventsScenario('events-parallel', 1, 8),
  eventsIntakeScenario('events-intake'),
  eventsDrain,
  eventsDrainLight,
  eventsDrainPipelined,
  eventsScenario('events-grpc', 1, 1, 'grpc'),
  eventsScenario('events-grpc-batch', 100, 1, 'grpc'),
  eventsHttpScenario('events-http', 1),
  eventsHttpScenario('events-http-batch', 100),
  subs100k,
  gateway,
  admission,
  admissionW1,
  gatewayW1,
  leaf,
  eventsJsR1,
  eventsJsR3,
  eventsJsR3x2,
  idle10k,
  soak,
  startup,
  startupDefault,
];
