// Query parameters as nats-server's monitor.go decodes them (decodeInt, decodeBool, decodeSubs), with its error
// texts: a bad parameter is answered 400 with the same words a nats-server tool would see.

/** A bad query parameter: answered 400 with nats-server's message text. */
export class MonitorRequestError extends Error {
  readonly code = 'EMONITOR_BAD_REQUEST';
}

/** nats-server monitor.go decodeInt: absent or empty is 0. */
export function queryInt(q: URLSearchParams, name: string): number {
  const raw = q.get(name);
  if (raw === null || raw === '') return 0;
  if (!/^[+-]?\d+$/.test(raw)) {
    throw new MonitorRequestError(
      `Error decoding int for '${name}': strconv.Atoi: parsing ${JSON.stringify(raw)}: invalid syntax`,
    );
  }
  return Number.parseInt(raw, 10);
}

/** nats-server decodeBool: Go's strconv.ParseBool spellings; absent or empty is false. */
export function queryBool(q: URLSearchParams, name: string): boolean {
  const raw = q.get(name);
  if (raw === null || raw === '') return false;
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(raw)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(raw)) return false;
  throw new MonitorRequestError(
    `Error decoding boolean for '${name}': strconv.ParseBool: parsing ${JSON.stringify(raw)}: invalid syntax`,
  );
}

/** nats-server decodeSubs: `detail` or a boolean. */
export function querySubs(q: URLSearchParams): 'none' | 'list' | 'detail' {
  if (q.get('subs') === 'detail') return 'detail';
  return queryBool(q, 'subs') ? 'list' : 'none';
}

/** nats-server's paging (limit 0 or less: the default; a negative offset: 0). */
export function queryPage(q: URLSearchParams, defaultLimit: number): { offset: number; limit: number } {
  let offset = queryInt(q, 'offset');
  let limit = queryInt(q, 'limit');
  if (offset < 0) offset = 0;
  if (limit <= 0) limit = defaultLimit;
  return { offset, limit };
}
