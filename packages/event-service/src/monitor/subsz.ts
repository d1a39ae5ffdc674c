// /subsz: the subscription index's figures (Sublist.stats(), already in nats-server's SublistStats spelling) and,
// with `subs=1`, a page of the subscriptions themselves, optionally only those a `test` subject would reach.
// As nats-server 2.9 does, the paging fields and server_id appear only when the list is asked for.
import { isValidPublishSubject, subjectMatches } from '@event-broker/shared';
import { CONNZ_DEFAULT_LIMIT } from './connz.js';
import { MonitorRequestError, queryBool, queryInt, rfc3339, type MonitorSource } from './source.js';

export function subsz(src: MonitorSource, q: URLSearchParams): Record<string, unknown> {
  const stats = src.broker.sublist.stats();
  const wantList = queryBool(q, 'subs');
  const test = q.get('test') ?? '';
  if (test !== '' && !isValidPublishSubject(test)) throw new MonitorRequestError(`invalid publish subject for test: ${test}`);
  if (!wantList) return { ...stats };
  let offset = queryInt(q, 'offset');
  let limit = queryInt(q, 'limit');
  if (offset < 0) offset = 0;
  if (limit <= 0) limit = CONNZ_DEFAULT_LIMIT;
  // Network clients' subscriptions; in-process (embedded) ones are counted in the figures but not listed.
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
