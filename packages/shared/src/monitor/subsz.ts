// /subsz: the subscription index's figures (Sublist.stats(), already in nats-server's SublistStats spelling) and,
// with `subs=1`, a page of the network clients' subscriptions, optionally only those a `test` subject would reach.
// As nats-server 2.9 does, the paging fields and server_id appear only when the list is asked for.
import type { Broker } from '../server/broker.js';
import type { Client } from '../server/client.js';
import { isValidPublishSubject, subjectMatches } from '../subjects/index.js';
import { CONNZ_DEFAULT_LIMIT } from './connz.js';
import { rfc3339 } from './format.js';
import { MonitorRequestError, queryBool, queryPage } from './query.js';

export interface SubszSource {
  readonly serverId: string;
  readonly broker: Broker;
  readonly clients: ReadonlyMap<number, Client>;
}

export function subsz(src: SubszSource, q: URLSearchParams): Record<string, unknown> {
  const stats = src.broker.sublist.stats();
  const wantList = queryBool(q, 'subs');
  const test = q.get('test') ?? '';
  if (test !== '' && !isValidPublishSubject(test))
    throw new MonitorRequestError(`invalid publish subject for test: ${test}`);
  if (!wantList) return { ...stats };
  const { offset, limit } = queryPage(q, CONNZ_DEFAULT_LIMIT);
  // Network clients' subscriptions; in-process ones and a leaf link's mirrored interest are counted in the
  // figures but not listed.
  const list: Record<string, unknown>[] = [];
  for (const c of src.clients.values()) {
    for (const s of c.subs.values()) {
      if (test !== '' && !subjectMatches(s.subject, test)) continue;
      list.push({
        account: '$G',
        subject: s.subject,
        ...(s.queue !== undefined && { qgroup: s.queue }),
        sid: s.sid,
        msgs: s.delivered,
        cid: c.cid,
      });
    }
  }
  return {
    server_id: src.serverId,
    now: rfc3339(Date.now()),
    ...stats,
    total: list.length,
    offset,
    limit,
    subscriptions_list: list.slice(offset, offset + limit),
  };
}
