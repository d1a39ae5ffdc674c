// The leaf scenario (issue 13's "Measure", the leaf path): a client of a nats-server node publishes, and a
// subscriber receives on a leaf of that node.
//   ours:        publisher ─▶ nats-server hub ─leafnode (dialled by the leaf)─▶ event service ([[leafnodes.remotes]]) ─▶ subscriber
//   nats-server: publisher ─▶ nats-server hub ─leafnode (dialled by the leaf)─▶ nats-server leaf (leafnodes.remotes) ─▶ subscriber
// The hub is the same nats-server on both sides, plain TCP everywhere (the gateway scenario measures TLS), the same
// limits on every server, the same generator (`fanout` with pub_port: it waits for the subscriber's interest to
// cross the link before the warm-up). Server CPU is the hub's and the leaf's summed.
import { freePort } from '@event-broker/test-support/processes';
import type { Generator } from './generators.js';
import type { GenSpec, Limits } from './load-spec.js';
import type { GenResult } from './scenario-types.js';
import { serverCpuWindow } from './server-cpu.js';
import { startNatsServer, startOurs, type RunningServer, type TargetName } from './servers.js';

export interface LeafRunOptions {
  target: TargetName;
  generator: Generator;
  limits: Limits;
  /** Both processes' CPU seconds over the measured window, summed. */
  onServerCpu?: (seconds: number) => void;
}

/** The leaf in our service's place: a nats-server with one remote, or our service with one [[leafnodes.remotes]]. */
function startLeaf(target: TargetName, limits: Limits, hubLeafPort: number): Promise<RunningServer> {
  const url = `nats://127.0.0.1:${hubLeafPort}`;
  return target === 'ours'
    ? startOurs(limits, {}, { leafnodes: { remotes: [{ urls: [url] }] } })
    : startNatsServer(limits, [
        'server_name: bench-leaf',
        `leafnodes { remotes: [ { url: ${JSON.stringify(url)} } ] }`,
      ]);
}

/** One run against one side; the servers are fresh and stopped before it returns. */
export async function runLeaf(spec: GenSpec, o: LeafRunOptions): Promise<GenResult> {
  const servers: Array<[string, RunningServer]> = [];
  try {
    const hubLeafPort = await freePort();
    const hub = await startNatsServer(o.limits, [
      'server_name: bench-hub',
      `leafnodes { listen: "127.0.0.1:${hubLeafPort}" }`,
    ]);
    servers.push(['hub', hub]);
    const leaf = await startLeaf(o.target, o.limits, hubLeafPort);
    servers.push([o.target === 'ours' ? 'event service' : 'leaf', leaf]);
    const cpu = serverCpuWindow(servers, o.onServerCpu);
    const r = await o.generator.run({ ...spec, pubPort: hub.port }, leaf.port, { onWindow: cpu.onWindow });
    r.server_cpu_parts = cpu.parts();
    return r;
  } finally {
    for (const [, s] of servers.reverse()) await s.stop().catch(() => {});
  }
}
