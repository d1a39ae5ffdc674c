// Where a server is in its life, and what /healthz says for it: 200 {"status":"ok"} while it accepts clients, 503
// {"status":"unavailable","error":...} before it listens and once it drains or shuts down, so a load balancer stops
// sending clients (nats-server monitor.go HandleHealthz and its HealthStatus JSON). A process may ask more of
// "running" (the gateway's round trip through its upstream link) before answering 200.

/** starting → running → [draining (lame duck)] → closing → closed. */
export type ServerState = 'starting' | 'running' | 'draining' | 'closing' | 'closed';

export interface Health {
  httpStatus: 200 | 503;
  body: { status: 'ok' } | { status: 'unavailable'; error: string };
}

export function healthz(state: ServerState): Health {
  switch (state) {
    case 'running':
      return { httpStatus: 200, body: { status: 'ok' } };
    case 'starting':
      return unavailable('not yet listening for client connections');
    case 'draining':
      return unavailable('server is in lame duck mode');
    case 'closing':
      return unavailable('server is shutting down');
    case 'closed':
      return unavailable('server is stopped');
  }
}

export function unavailable(error: string): Health {
  return { httpStatus: 503, body: { status: 'unavailable', error } };
}
