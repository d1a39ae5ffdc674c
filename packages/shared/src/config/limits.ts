// Upper bounds on settings both services share (the event service's [service] and the gateway's [gateway]), kept
// once so the two schemas cannot drift apart.

const MiB = 1024 * 1024;

/** nats-server refuses a larger max_payload (server/opts.go MAX_PAYLOAD_MAX_SIZE). */
export const MAX_PAYLOAD_CAP = 64 * MiB;

/**
 * max_control_line is what a connection may make us hold of one protocol line before it has authenticated (the
 * parser keeps a line until its end or the bound; a WebSocket message before admission is bounded by it too). A
 * subject, reply and queue, or a CONNECT with a JWT, take a few KiB; nats-server takes up to 2^31-1 (opts.go "value
 * is too big"), which would let each unauthenticated socket park a gigabyte. 1 MiB, the default max_payload, is far
 * above any real line and keeps 100 parked connections under ~100 MB.
 */
export const MAX_CONTROL_LINE_CAP = MiB;
