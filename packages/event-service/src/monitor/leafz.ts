// The service's /leafz: the leaf links attached to its [leafnodes] port (is_spoke false) and the hubs it dialled
// as a leaf ([[leafnodes.remotes]], is_spoke true, listed while up, as a nats-server leaf lists its remotes), in
// nats-server's shape (shared's leafz builder), so tools reading a hub's /leafz read ours. The links themselves are
// leafnode/'s.
import { leafInfoOfLink, leafInfoOfUplink, leafz, type Leafz, type LeafzInfo } from '@event-broker/shared';
import type { MonitorSource } from './source.js';

export function serviceLeafz(src: MonitorSource, q: URLSearchParams): Leafz {
  return leafz(
    {
      serverId: src.serverId,
      leafs: (subs, auth) =>
        [
          ...[...(src.leafnodes?.links.values() ?? [])].map((l) => leafInfoOfLink(l, subs, auth)),
          ...(src.leafRemotes?.uplinks ?? []).map((u) => leafInfoOfUplink(u, subs)),
        ].filter((l): l is LeafzInfo => l !== undefined),
    },
    q,
  );
}
