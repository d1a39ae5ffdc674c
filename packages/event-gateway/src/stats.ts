// The gateway's live figures (EventGateway.stats()): what /varz and /metrics show beside nats-server's fields.
import type { AuthFailureReason } from './auth-failures.js';
import type { EventCreditStats } from './event-credit.js';
import type { ListenerQuotaStats } from './listener-quota.js';

export interface GatewayStats {
  connections: number;
  total_connections: number;
  in_msgs: number;
  in_bytes: number;
  out_msgs: number;
  out_bytes: number;
  slow_consumers: number;
  /** Clients refused at admission, by reason (auth-failures.ts). */
  auth_failures: Record<AuthFailureReason, number>;
  /** Publishes and subscriptions refused by a token's permissions. */
  permission_violations: { publish: number; subscribe: number };
  upstream: {
    up: boolean;
    in_msgs: number;
    out_msgs: number;
    buffered_msgs: number;
    buffered_bytes: number;
    reconnects: number;
    paused_publishers: number;
    /** Messages not sent: over the upstream's max_payload. */
    dropped_too_large: number;
    /** Messages from the upstream over what the gateway accepts, dropped. */
    in_dropped_too_large: number;
  };
  /** Room under the service's event_limit reserved for clients' plain events (event-credit.ts). */
  event_credit: EventCreditStats;
  /** Room under the service's listener_limit reserved for clients' subscriptions (listener-quota.ts). */
  listener_quota: ListenerQuotaStats;
}
