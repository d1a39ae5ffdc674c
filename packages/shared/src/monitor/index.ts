// Monitoring in nats-server's shapes for any process running the shared server core: the value formats and query
// parsing, /varz /connz /subsz /leafz /healthz builders over small source interfaces, the HTTP port skeleton and
// Prometheus helpers. Each process picks its endpoints and adds what only it knows.
export * from './format.js';
export * from './query.js';
export * from './connz.js';
export * from './subsz.js';
export * from './varz.js';
export * from './leafz.js';
export * from './healthz.js';
export * from './http.js';
export * from './metrics.js';
