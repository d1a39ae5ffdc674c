// The service's /leafz: the leaf links attached to its [leafnodes] port, in nats-server's shape (shared's
// leafz builder), so tools reading a hub's /leafz read ours. The links themselves are leafnode/'s.
import { leafInfoOfLink, leafz, type Leafz, type LeafzInfo } from '@event-broker/shared';
import type { MonitorSource } from './source.js';

export function serviceLeafz(src: MonitorSource, q: URLSearchParams): Leafz {
  return leafz(
    {
      serverId: src.serverId,
      leafs: (subs, auth) =>
        [...(src.leafnodes?.links.values() ?? [])]
          .map((l) => leafInfoOfLink(l, subs, auth))
          .filter((l): l is LeafzInfo => l !== undefined),
    },
    q,
  );
}
