// /healthz: 200 {"status":"ok"} while the server accepts clients; 503 {"status":"unavailable","error":...} before
// it listens and once it drains or shuts down, so a load balancer stops sending clients (nats-server monitor.go
// HandleHealthz and its HealthStatus JSON).
import type { MonitorSource } from './source.js';

export interface Health {
  httpStatus: 200 | 503;
  body: { status: 'ok' } | { status: 'unavailable'; error: string };
}

export function healthz(src: MonitorSource): Health {
  switch (src.state) {
    case 'running':
      return { httpStatus: 200, body: { status: 'ok' } };
    case 'starting':
      return { httpStatus: 503, body: { status: 'unavailable', error: 'not yet listening for client connections' } };
    case 'draining':
      return { httpStatus: 503, body: { status: 'unavailable', error: 'server is in lame duck mode' } };
    case 'closing':
      return { httpStatus: 503, body: { status: 'unavailable', error: 'server is shutting down' } };
    case 'closed':
      return { httpStatus: 503, body: { status: 'unavailable', error: 'server is stopped' } };
  }
}
