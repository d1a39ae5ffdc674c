// Load generator for `pnpm bench`: one binary drives nats-server and our event service identically, so the two
// figures in a row differ only by the server. Native because a Node client cannot saturate nats-server on two
// cores; bench/src/node-loadgen.ts is the fallback with the same interface.
//
// Two clients, chosen with client=:
//   raw (default)  publishers write prebuilt PUB frames ~256 KiB per write(); readers count MSG frames and skip
//                  each payload by its declared size; request/reply over the same raw sockets.
//   libnats        the NATS C client: natsConnection_Publish, async subscriptions, natsConnection_Request.
// Raw is the default because on a 2-core machine every cycle the generator spends is taken from the server.
// Against nats-server 2.9.10 here (same minute, generator CPU as % of one core over the measured window):
//   publish-only 16 B  raw 9.5 M/s at 5%    libnats 8.2 M/s at 69%
//   1→1 16 B           raw 3.3 M/s at 9%    libnats 2.0 M/s at 109% (a malloc and a thread hand-off per message)
//   1→4 fan-out 128 B  raw 3.9 M/s at 20%   libnats 2.0 M/s at 122%
// With libnats the generator, not the server, set those figures.
//
//   loadgen version          prints {"libnats":"<version>"} (checks the binary runs)
//   loadgen <mode> port=<p> [size=<bytes>] [count=<n>] [warmup=<n>] [cap_ms=<ms>] [subs=<k>] [queue=0|1]
//           [conns=<n>] [sub=0|1] [subjects=<n>] [client=raw|libnats] [iobuf=<bytes, libnats>]
//           [pub_port=<p>] [tls_ca=<file> tls_cert=<file> tls_key=<file>] [token_file=<file>]
//           [subject=<s>] [body_file=<file>] [inflight=<n>] [ready=0|1]
//   modes: pub      one connection publishes `count` msgs to a subject nobody listens to
//          fanout   `subs` subscriber connections (a queue group when queue=1), one publisher, count deliveries
//          reqrep   sequential requests to a responder on another connection; latency percentiles
//          requests pipelined requests (`inflight` unanswered at most) of body_file='s content to subject=, replies
//                   to one inbox; a reply containing "error" counts as refused (bench/src/events.ts: the intake)
//          conns    raw sockets held open for an RSS reading (libnats would spend two threads per connection);
//                   sub=1 gives each one SUB of its own subject
//          subs     `subs` connections each subscribe once to each of `subjects` subjects, 3 in 10 of those
//                   SUBs with a wildcard; one publisher cycles through the subjects (see run_subs); ready=1
//                   pauses with a ready line once the connections are open and again after the SUB storm
//                   (bench/src/curves-*.ts reads the server's RSS there: memory per subscription)
//          admission `count` connections (after `warmup`), `inflight` at a time (16), each TLS + token when the
//                   tls_* and token_file= are given, CONNECT, PING, PONG, close; connects/s, p50/p99 (libnats)
// conns and subs always use raw sockets: 10,000 connections or 100,000 subscriptions are beyond libnats'
// thread-per-connection and thread-per-subscription model on 2 cores.
// fanout with pub_port=: the publisher connects there and the subscribers to port= (two servers joined by a link,
// e.g. client -> gateway -> event service -> subscriber); it first probes until a message crosses, so interest
// has propagated before the warm-up. With tls_ca= the publisher speaks TLS (INFO, then the upgrade) presenting
// tls_cert/tls_key, and token_file='s content goes in CONNECT's auth_token. The raw client has no TLS, so a TLS
// publisher is always libnats (natsOptions_SetSecure); the subscribers stay raw: the result names both.
// Output: JSON lines on stdout: {"event":"window","phase":"start"|"end"} around the measured span, and last the
// result ({"error":...} on failure, exit 1). `conns` prints {"event":"ready","phase":...} and waits for a line on
// stdin before moving on, so the caller can read the server's RSS.
// Every loop is bounded by count and by time (cap_ms, then a bounded drain; a write blocked 10 s fails).
#define _GNU_SOURCE
#include <nats/nats.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_SUBS 64
// Deliveries stop counting as "in flight" after this long without progress (the server dropped or lost them).
#define STALL_MS 2000
// Upper bound on the wait for deliveries after the publisher has finished.
#define DRAIN_MS 10000
// Handshakes (INFO, CONNECT, PING/PONG) and single replies.
#define IO_TIMEOUT_MS 5000

typedef struct {
  const char *mode;
  int port;
  int size;
  long count;
  long warmup;
  long cap_ms;
  int subs;
  int queue;
  long conns;
  int sub;       // conns: one SUB per connection
  long subjects; // subs: distinct published subjects
  int ready;     // subs: pause before and after the SUB storm (ready lines) so the caller can read the server's RSS
  int iobuf;
  bool raw; // client=raw (default) or client=libnats
  int pub_port;         // fanout: the publisher's server, when not port=
  const char *tls_ca;   // publisher over TLS, trusting this CA
  const char *tls_cert; // and presenting this client certificate
  const char *tls_key;
  char *token; // CONNECT auth_token (from token_file=)
  const char *subject;   // requests: where they go
  const char *body_file; // requests: the body, with ID_MARK replaced per request
  long inflight;         // requests: most unanswered at once
} Args;

static Args args = {.size = 16, .count = 100000, .warmup = 10000, .cap_ms = 5000, .subs = 1, .conns = 1000,
                    .subjects = 10000, .iobuf = 256 * 1024, .raw = true,
                    .subject = "bench.req", .inflight = 256};
static atomic_long async_errors;
static atomic_long disconnects;
static atomic_bool stopping;

static const char *generator(void) { return args.raw ? "c-raw" : "c-libnats"; }

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void cpu_now(double *user, double *sys) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru); // all threads of this process: readers and libnats' threads included
  *user = ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
  *sys = ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\') printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20) printf("\\u%04x", *s);
    else putchar(*s);
  }
  putchar('"');
}

static void fail(const char *what, natsStatus s) {
  char msg[512];
  const char *detail = s == NATS_OK ? strerror(errno) : nats_GetLastError(NULL);
  snprintf(msg, sizeof msg, "%s: %s", what, s != NATS_OK && !(detail && *detail) ? natsStatus_GetText(s) : detail);
  printf("{\"generator\":\"%s\",\"error\":", generator());
  json_string(msg);
  printf("}\n");
  fflush(stdout);
  exit(1);
}

static void fail_msg(const char *what, const char *detail) {
  errno = 0;
  char msg[512];
  snprintf(msg, sizeof msg, "%s: %s", what, detail);
  printf("{\"generator\":\"%s\",\"error\":", generator());
  json_string(msg);
  printf("}\n");
  fflush(stdout);
  exit(1);
}

static char *payload(int size) {
  char *p = malloc(size > 0 ? size : 1);
  if (!p) fail("malloc", NATS_OK);
  for (int i = 0; i < size; i++) p[i] = 'a' + i % 26;
  return p;
}

// Marks the measured window on stdout, so the caller can read the server's CPU time over the same span.
static void window_event(const char *phase) {
  printf("{\"event\":\"window\",\"phase\":\"%s\"}\n", phase);
  fflush(stdout);
}

static void print_common(const char *mode, int64_t window_ns, double cu0, double cs0) {
  double cu, cs;
  cpu_now(&cu, &cs);
  printf("{\"generator\":\"%s\",\"mode\":\"%s\",\"window_ns\":%lld,\"window_cpu_s\":%.4f,"
         "\"cpu_user_s\":%.4f,\"cpu_sys_s\":%.4f,\"async_errors\":%ld,\"disconnects\":%ld",
         generator(), mode, (long long)window_ns, (cu + cs) - (cu0 + cs0), cu, cs,
         atomic_load(&async_errors), atomic_load(&disconnects));
}

// --- libnats connections (publishers; readers with reader=libnats) ---

static void on_async_error(natsConnection *nc, natsSubscription *sub, natsStatus err, void *closure) {
  (void)nc, (void)sub, (void)err, (void)closure;
  atomic_fetch_add(&async_errors, 1);
}

static void on_disconnected(natsConnection *nc, void *closure) {
  (void)nc, (void)closure;
  if (!atomic_load(&stopping)) atomic_fetch_add(&disconnects, 1);
}

// A libnats connection to `port`; with `secure`, TLS with the tls_* files and the token (the publisher's side).
static natsConnection *connect_nc_to(int port, bool secure, bool send_asap) {
  natsOptions *o = NULL;
  natsConnection *nc = NULL;
  char url[64];
  natsStatus s = natsOptions_Create(&o);
  snprintf(url, sizeof url, "%s://127.0.0.1:%d", secure ? "tls" : "nats", port);
  if (s == NATS_OK) s = natsOptions_SetURL(o, url);
  if (secure) {
    if (s == NATS_OK) s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(o, args.tls_ca);
    if (s == NATS_OK && args.tls_cert) s = natsOptions_LoadCertificatesChain(o, args.tls_cert, args.tls_key);
    // The dev certificates name localhost and 127.0.0.1; the URL's IP would be checked against the former.
    if (s == NATS_OK) s = natsOptions_SetExpectedHostname(o, "localhost");
  }
  if (s == NATS_OK && args.token) s = natsOptions_SetToken(o, args.token);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, IO_TIMEOUT_MS);
  // No client PINGs during a run: they would only add noise.
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 10 * 60 * 1000);
  // 256 KiB instead of libnats' 32 KiB: fewer syscalls per message. A few runs against nats-server on the 2-core
  // machine: 1->1 16 B ~15% faster, publish-only within noise.
  if (s == NATS_OK) s = natsOptions_SetIOBufSize(o, args.iobuf);
  if (s == NATS_OK) s = natsOptions_SetSendAsap(o, send_asap);
  if (s == NATS_OK) s = natsOptions_SetErrorHandler(o, on_async_error, NULL);
  if (s == NATS_OK) s = natsOptions_SetDisconnectedCB(o, on_disconnected, NULL);
  if (s == NATS_OK) s = natsConnection_Connect(&nc, o);
  natsOptions_Destroy(o);
  if (s != NATS_OK) fail("connect", s);
  return nc;
}

static natsConnection *connect_nc(bool send_asap) { return connect_nc_to(args.port, false, send_asap); }

// The publisher's server and whether it needs TLS (then libnats: the raw client has none).
static int pub_port(void) { return args.pub_port ? args.pub_port : args.port; }
static bool pub_tls(void) { return args.tls_ca != NULL; }
static const char *publisher_client(void) {
  if (pub_tls()) return "libnats-tls";
  return args.raw ? "raw" : "libnats";
}

// Publishes up to n messages, stopping early at the deadline; returns how many went out.
static long publish_n(natsConnection *nc, const char *subj, const char *buf, long n, int64_t deadline) {
  // Check the clock every 1024 small messages, every message once they are large.
  long mask = args.size >= 4096 ? 0 : 1023;
  long i = 0;
  for (; i < n; i++) {
    if ((i & mask) == 0 && now_ns() > deadline) break;
    natsStatus s = natsConnection_Publish(nc, subj, buf, args.size);
    if (s != NATS_OK) fail("publish", s);
  }
  return i;
}

static void flush_nc(natsConnection *nc) {
  natsStatus s = natsConnection_FlushTimeout(nc, 20000);
  if (s != NATS_OK) fail("flush", s);
}

// --- raw connections: a frame reader that counts MSG frames and skips their payloads by size ---

static const char CONNECT_ONLY[] =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,\"name\":\"bench\",\"lang\":\"c-raw\","
    "\"version\":\"1.0.0\",\"protocol\":1,\"headers\":false,\"no_responders\":false}\r\n";

typedef struct Reader {
  int fd;
  long msgs;
  long pongs;
  size_t skip;    // payload bytes (and CRLF) still to skip
  size_t carried; // bytes of a control line split across reads
  char carry[8192];
  char err[256];
  // Called with each MSG control line (without CRLF), e.g. to answer a request.
  void (*on_msg)(struct Reader *r, const char *line, size_t len);
  // When set, called with each MSG payload (its first sizeof pl bytes) once all of it has been read.
  void (*on_payload)(struct Reader *r, const char *data, size_t len);
  size_t pl_size; // the payload being read: its declared size, and how much of it is in pl
  size_t pl_len;
  char pl[1024];
  atomic_long shared_msgs; // msgs, published for the main thread after each read
} Reader;

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) {
      if (atomic_load(&stopping)) return;
      if (errno == EAGAIN || errno == EWOULDBLOCK) fail_msg("write", "blocked 10 s: the server stopped reading");
      fail("write", NATS_OK);
    }
    p += k, n -= (size_t)k;
  }
}

// One complete control line; returns how many bytes after it belong to a payload.
static size_t on_line(Reader *r, const char *line, size_t len) {
  if (len > 0 && line[len - 1] == '\r') len--;
  if (len > 4 && line[0] == 'M') { // MSG <subject> <sid> [reply] <size>
    size_t size = 0, mul = 1, j = len;
    for (; j > 0 && line[j - 1] != ' '; j--, mul *= 10) size += (size_t)(line[j - 1] - '0') * mul;
    r->msgs++;
    if (r->on_msg) r->on_msg(r, line, len);
    r->pl_size = size, r->pl_len = 0;
    return size + 2;
  }
  if (len >= 4 && !memcmp(line, "PING", 4)) write_all(r->fd, "PONG\r\n", 6);
  else if (len >= 4 && !memcmp(line, "PONG", 4)) r->pongs++;
  else if (len > 0 && line[0] == '-' && !r->err[0]) snprintf(r->err, sizeof r->err, "%.*s", (int)len, line);
  return 0; // INFO, +OK
}

static void feed(Reader *r, const char *p, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (r->skip) {
      size_t k = r->skip < n - i ? r->skip : n - i;
      if (r->on_payload) {
        size_t at = r->pl_size + 2 - r->skip; // offset in the payload (+ CRLF) of p[i]
        for (size_t j = 0; j < k && at + j < r->pl_size && r->pl_len < sizeof r->pl; j++) r->pl[r->pl_len++] = p[i + j];
        if (r->skip == k) r->on_payload(r, r->pl, r->pl_len);
      }
      r->skip -= k, i += k;
      continue;
    }
    const char *nl = memchr(p + i, '\n', n - i);
    if (r->carried || !nl) {
      size_t take = nl ? (size_t)(nl - (p + i)) + 1 : n - i;
      if (r->carried + take > sizeof r->carry) fail_msg("read", "control line over 8 KiB");
      memcpy(r->carry + r->carried, p + i, take);
      r->carried += take, i += take;
      if (!nl) return;
      r->skip = on_line(r, r->carry, r->carried - 1);
      r->carried = 0;
      continue;
    }
    r->skip = on_line(r, p + i, (size_t)(nl - (p + i)));
    i = (size_t)(nl - p) + 1;
  }
}

// Reads once, waiting up to timeout_ms: 1 when data came, 0 when none, -1 when the server closed the connection.
// A -ERR from the server ends the run: it means the load itself is wrong.
static int read_some(Reader *r, char *buf, size_t cap, int timeout_ms) {
  struct pollfd pfd = {.fd = r->fd, .events = POLLIN};
  int k = poll(&pfd, 1, timeout_ms);
  if (k == 0 || (k < 0 && errno == EINTR)) return 0;
  if (k < 0) fail("poll", NATS_OK);
  ssize_t n = read(r->fd, buf, cap);
  if (n < 0 && errno == EINTR) return 0;
  if (n <= 0) {
    if (r->err[0]) fail_msg("server closed the connection", r->err);
    return -1;
  }
  feed(r, buf, (size_t)n);
  if (r->err[0]) fail_msg("server error", r->err);
  return 1;
}

static void await_pong(Reader *r, long want) {
  char buf[4096];
  int64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000LL;
  while (r->pongs < want) {
    if (now_ns() > deadline) fail_msg("handshake", "no PONG in time");
    if (read_some(r, buf, sizeof buf, 100) < 0) fail_msg("handshake", "server closed the connection");
  }
}

// A connected socket that has sent CONNECT, then `extra` (e.g. a SUB line; may be NULL), then PING, in one write:
// its first PONG means the server has processed all of it.
static int open_socket_at(int port, const char *extra) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket", NATS_OK);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) fail("connect", NATS_OK);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // A write blocked this long means the server stopped reading: fail instead of hanging the run.
  struct timeval tv = {.tv_sec = 10};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  char hello[sizeof CONNECT_ONLY + 256 + 8];
  int n = snprintf(hello, sizeof hello, "%s%sPING\r\n", CONNECT_ONLY, extra ? extra : "");
  if (n < 0 || (size_t)n >= sizeof hello) fail_msg("connect", "extra line too long");
  write_all(fd, hello, (size_t)n);
  return fd;
}

static int open_socket_with(const char *extra) { return open_socket_at(args.port, extra); }

static int open_socket(void) { return open_socket_with(NULL); }

// A raw connection with `sub_line` (e.g. "SUB x 1\r\n") registered: the PONG after it means the server has it.
static Reader *raw_subscriber(const char *sub_line) {
  Reader *r = calloc(1, sizeof *r);
  if (!r) fail("calloc", NATS_OK);
  r->fd = open_socket();
  write_all(r->fd, sub_line, strlen(sub_line));
  write_all(r->fd, "PING\r\n", 6);
  await_pong(r, 2);
  return r;
}

static void *reader_thread(void *arg) {
  Reader *r = arg;
  size_t cap = 256 * 1024;
  char *buf = malloc(cap);
  while (!atomic_load(&stopping)) {
    int k = read_some(r, buf, cap, 200);
    if (k > 0) atomic_store_explicit(&r->shared_msgs, r->msgs, memory_order_relaxed);
    if (k < 0) { // a server cutting a slow consumer: the run goes on and reports the loss
      if (!atomic_load(&stopping)) atomic_fetch_add(&disconnects, 1);
      break;
    }
  }
  free(buf);
  return NULL;
}

// --- publishers: raw (prebuilt PUB frames, written a chunk at a time) or libnats ---

typedef struct {
  natsConnection *nc;
  Reader *r;
  const char *subj;
  const char *payload;
  char *chunk; // per_chunk copies of "PUB <subj> <size>\r\n<payload>\r\n"
  size_t frame_len;
  long per_chunk;
  // subs mode: `nframes` frames to different subjects back to back in `chunk`; frame i spans off[i]..off[i+1].
  // pub_send cycles through them, `per_chunk` frames (~256 KiB) per write, from frame `pos` on.
  size_t *off;
  long nframes;
  long pos;
} Pub;

static Pub *pub_open(const char *subj, const char *payload) {
  Pub *p = calloc(1, sizeof *p);
  if (!p) fail("calloc", NATS_OK);
  p->subj = subj, p->payload = payload;
  if (!args.raw || pub_tls()) {
    p->nc = connect_nc_to(pub_port(), pub_tls(), false);
    return p;
  }
  p->r = calloc(1, sizeof *p->r);
  p->r->fd = open_socket_at(pub_port(), NULL);
  await_pong(p->r, 1);
  char head[300];
  int h = snprintf(head, sizeof head, "PUB %s %d\r\n", subj, args.size);
  p->frame_len = (size_t)h + args.size + 2;
  // ~256 KiB per write(): the kernel, not this loop, sets the pace.
  p->per_chunk = (long)(256 * 1024 / p->frame_len);
  if (p->per_chunk < 1) p->per_chunk = 1;
  p->chunk = malloc(p->frame_len * p->per_chunk);
  if (!p->chunk) fail("malloc", NATS_OK);
  for (long i = 0; i < p->per_chunk; i++) {
    char *f = p->chunk + i * p->frame_len;
    memcpy(f, head, h);
    memcpy(f + h, payload, args.size);
    memcpy(f + h + args.size, "\r\n", 2);
  }
  return p;
}

// Publishes up to n messages, stopping early at the deadline; returns how many went out.
static long pub_send(Pub *p, long n, int64_t deadline) {
  if (p->nc) return publish_n(p->nc, p->subj, p->payload, n, deadline);
  long sent = 0;
  if (p->off) {
    while (sent < n && now_ns() <= deadline) {
      long k = n - sent < p->per_chunk ? n - sent : p->per_chunk;
      if (k > p->nframes - p->pos) k = p->nframes - p->pos;
      write_all(p->r->fd, p->chunk + p->off[p->pos], p->off[p->pos + k] - p->off[p->pos]);
      sent += k;
      p->pos = (p->pos + k) % p->nframes;
    }
    return sent;
  }
  while (sent < n && now_ns() <= deadline) {
    long k = n - sent < p->per_chunk ? n - sent : p->per_chunk;
    write_all(p->r->fd, p->chunk, (size_t)k * p->frame_len);
    sent += k;
  }
  return sent;
}

// Returns once the server has read everything published so far (its PONG follows it).
static void pub_flush(Pub *p) {
  if (p->nc) {
    flush_nc(p->nc);
    return;
  }
  char buf[4096];
  long want = p->r->pongs + 1;
  write_all(p->r->fd, "PING\r\n", 6);
  int64_t deadline = now_ns() + 20000LL * 1000000LL;
  while (p->r->pongs < want) {
    if (now_ns() > deadline) fail_msg("flush", "no PONG within 20 s");
    if (read_some(p->r, buf, sizeof buf, 100) < 0) fail_msg("flush", "server closed the connection");
  }
}

static void pub_close(Pub *p) {
  if (p->nc) natsConnection_Destroy(p->nc);
  if (p->r) close(p->r->fd);
}

// --- pub ---

static int run_pub(void) {
  Pub *pub = pub_open("bench.pub", payload(args.size));
  pub_send(pub, args.warmup, now_ns() + args.cap_ms * 1000000LL);
  pub_flush(pub);
  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  long sent = pub_send(pub, args.count, t0 + args.cap_ms * 1000000LL);
  pub_flush(pub);
  int64_t t1 = now_ns();
  window_event("end");
  print_common("pub", t1 - t0, cu0, cs0);
  printf(",\"sent\":%ld,\"capped\":%s,\"size\":%d}\n", sent, sent < args.count ? "true" : "false", args.size);
  fflush(stdout);
  atomic_store(&stopping, true);
  pub_close(pub);
  return 0;
}

// --- fanout / queue ---

typedef struct {
  _Alignas(64) atomic_long n;
} Counter;

static Counter counters[MAX_SUBS];
static Reader *readers[MAX_SUBS];

static void on_count(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
  (void)nc, (void)sub;
  atomic_fetch_add_explicit(&((Counter *)closure)->n, 1, memory_order_relaxed);
  natsMsg_Destroy(m);
}

static long sub_count(int i) {
  return args.raw ? atomic_load_explicit(&readers[i]->shared_msgs, memory_order_relaxed)
                         : atomic_load_explicit(&counters[i].n, memory_order_relaxed);
}

static long delivered(void) {
  long t = 0;
  for (int i = 0; i < args.subs; i++) t += sub_count(i);
  return t;
}

// Waits until `target` deliveries arrived, progress stalls, or the drain bound passes. Returns the end of the
// measured window: when the target was reached, else the last observed progress.
static int64_t wait_delivered(long target) {
  int64_t start = now_ns(), last_change = start;
  long last = delivered();
  while (last < target) {
    int64_t t = now_ns();
    if (t - last_change > STALL_MS * 1000000LL || t - start > DRAIN_MS * 1000000LL) break;
    usleep(200);
    long d = delivered();
    if (d != last) last = d, last_change = now_ns();
  }
  return last >= target ? now_ns() : last_change;
}

// pub_port=: the subscribers' interest has to cross a link (leafnode) before a publish reaches them, and nothing
// tells the publisher when it has. Probe: one message at a time until one arrives (10 s at most), then a pause for
// probes still in flight, so the warm-up starts from a settled count. Returns the deliveries so far.
static long await_interest(Pub *p) {
  int64_t deadline = now_ns() + 10000LL * 1000000LL;
  while (delivered() == 0) {
    if (now_ns() > deadline) fail_msg("probe", "no message crossed to the subscribers within 10 s");
    pub_send(p, 1, INT64_MAX);
    pub_flush(p);
    for (int i = 0; i < 50 && delivered() == 0; i++) usleep(1000);
  }
  usleep(200 * 1000);
  return delivered();
}

static int run_fanout(void) {
  if (args.subs < 1 || args.subs > MAX_SUBS) fail_msg("subs", "out of range");
  natsConnection *subs[MAX_SUBS];
  natsSubscription *ss[MAX_SUBS];
  pthread_t threads[MAX_SUBS];
  const char *subj = args.queue ? "bench.queue" : "bench.fanout";
  for (int i = 0; i < args.subs; i++) {
    if (args.raw) {
      char line[128];
      snprintf(line, sizeof line, args.queue ? "SUB %s workers 1\r\n" : "SUB %s 1\r\n", subj);
      readers[i] = raw_subscriber(line);
      if (pthread_create(&threads[i], NULL, reader_thread, readers[i]) != 0) fail("pthread_create", NATS_OK);
      continue;
    }
    subs[i] = connect_nc(false);
    natsStatus s = args.queue ? natsConnection_QueueSubscribe(&ss[i], subs[i], subj, "workers", on_count, &counters[i])
                              : natsConnection_Subscribe(&ss[i], subs[i], subj, on_count, &counters[i]);
    if (s != NATS_OK) fail("subscribe", s);
    // Unlimited client-side pending: a drop here would be charged to the server as a loss.
    s = natsSubscription_SetPendingLimits(ss[i], -1, -1);
    if (s != NATS_OK) fail("pending limits", s);
    flush_nc(subs[i]); // the server has the SUB once the PONG is back
  }
  Pub *pub = pub_open(subj, payload(args.size));
  long per_msg = args.queue ? 1 : args.subs;
  long base0 = args.pub_port ? await_interest(pub) : 0;

  long warm = pub_send(pub, args.warmup, now_ns() + args.cap_ms * 1000000LL);
  pub_flush(pub);
  wait_delivered(base0 + warm * per_msg);
  long base = delivered();

  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  long sent = pub_send(pub, args.count, t0 + args.cap_ms * 1000000LL);
  pub_flush(pub);
  long expected = sent * per_msg;
  int64_t t1 = wait_delivered(base + expected);
  window_event("end");
  long got = delivered() - base;
  long min = -1, max = 0;
  for (int i = 0; i < args.subs; i++) {
    long n = sub_count(i);
    if (min < 0 || n < min) min = n;
    if (n > max) max = n;
  }
  print_common("fanout", t1 - t0, cu0, cs0);
  printf(",\"sent\":%ld,\"received\":%ld,\"expected\":%ld,\"lost\":%ld,\"capped\":%s,\"size\":%d,\"subs\":%d,"
         "\"queue\":%s,\"per_sub_min\":%ld,\"per_sub_max\":%ld,\"warmup_lost\":%ld,\"publisher\":\"%s\"}\n",
         sent, got, expected, expected - got, sent < args.count ? "true" : "false", args.size, args.subs,
         args.queue ? "true" : "false", min, max, base0 + warm * per_msg - base, publisher_client());
  fflush(stdout);
  atomic_store(&stopping, true);
  pub_close(pub);
  for (int i = 0; i < args.subs; i++) {
    if (args.raw) {
      shutdown(readers[i]->fd, SHUT_RDWR);
      pthread_join(threads[i], NULL);
      close(readers[i]->fd);
    } else {
      natsSubscription_Destroy(ss[i]);
      natsConnection_Destroy(subs[i]);
    }
  }
  return 0;
}

// --- reqrep ---

static char *reply_buf; // "PUB <reply> <size>\r\n" + payload + CRLF, rebuilt per request

static void on_request(natsConnection *nc, natsSubscription *sub, natsMsg *m, void *closure) {
  (void)sub, (void)closure;
  const char *reply = natsMsg_GetReply(m);
  if (reply) natsConnection_Publish(nc, reply, natsMsg_GetData(m), natsMsg_GetDataLength(m));
  natsMsg_Destroy(m);
}

// Raw responder: MSG bench.req <sid> <reply> <size> → PUB <reply> <size> with a payload of the same size.
static void on_raw_request(Reader *r, const char *line, size_t len) {
  const char *tok[5];
  size_t tl[5];
  int n = 0;
  for (size_t i = 0; i < len && n < 5;) {
    while (i < len && line[i] == ' ') i++;
    size_t s = i;
    while (i < len && line[i] != ' ') i++;
    if (i > s) tok[n] = line + s, tl[n++] = i - s;
  }
  if (n != 5) return;
  int h = snprintf(reply_buf, 300, "PUB %.*s %d\r\n", (int)tl[3], tok[3], args.size);
  memset(reply_buf + h, 'r', args.size);
  memcpy(reply_buf + h + args.size, "\r\n", 2);
  write_all(r->fd, reply_buf, (size_t)h + args.size + 2);
}

static int cmp_i64(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return x < y ? -1 : x > y;
}

// One request over the raw requester: true when its reply came within the timeout.
static bool raw_request(Reader *r, const char *req, size_t req_len, char *buf, size_t cap) {
  long want = r->msgs + 1;
  write_all(r->fd, req, req_len);
  int64_t deadline = now_ns() + IO_TIMEOUT_MS * 1000000LL;
  while (r->msgs < want || r->skip) { // the whole frame, payload included
    if (now_ns() > deadline) return false;
    if (read_some(r, buf, cap, 100) < 0) fail_msg("request", "server closed the connection");
  }
  return true;
}

static int run_reqrep(void) {
  natsConnection *rnc = NULL, *nc = NULL;
  natsSubscription *rsub = NULL;
  Reader *responder = NULL, *requester = NULL;
  pthread_t rthread;
  char *buf = payload(args.size);
  char *req = NULL, rbuf[64 * 1024];
  size_t req_len = 0;
  if (args.raw) {
    reply_buf = malloc(300 + (size_t)args.size + 2);
    responder = raw_subscriber("SUB bench.req 1\r\n");
    responder->on_msg = on_raw_request;
    if (pthread_create(&rthread, NULL, reader_thread, responder) != 0) fail("pthread_create", NATS_OK);
    char inbox[64], line[128];
    snprintf(inbox, sizeof inbox, "_INBOX.bench.%d", (int)getpid());
    snprintf(line, sizeof line, "SUB %s 1\r\n", inbox);
    requester = raw_subscriber(line);
    req = malloc(300 + (size_t)args.size + 2);
    int h = snprintf(req, 300, "PUB bench.req %s %d\r\n", inbox, args.size);
    memcpy(req + h, buf, args.size);
    memcpy(req + h + args.size, "\r\n", 2);
    req_len = (size_t)h + args.size + 2;
  } else {
    // The responder sends each reply at once instead of waiting for libnats' flusher; requests always do.
    rnc = connect_nc(true);
    natsStatus s = natsConnection_Subscribe(&rsub, rnc, "bench.req", on_request, NULL);
    if (s != NATS_OK) fail("subscribe", s);
    flush_nc(rnc);
    nc = connect_nc(true);
  }
  int64_t *lat = malloc(sizeof(int64_t) * (args.count > 0 ? args.count : 1));
  if (!lat) fail("malloc", NATS_OK);
  long timeouts = 0;
  // One request; its latency in ns, or -1 on timeout.
#define REQUEST_ONCE(out_ns)                                                                        \
  do {                                                                                              \
    int64_t a_ = now_ns();                                                                          \
    bool ok_;                                                                                       \
    if (args.raw) ok_ = raw_request(requester, req, req_len, rbuf, sizeof rbuf);             \
    else {                                                                                          \
      natsMsg *m_ = NULL;                                                                           \
      natsStatus s_ = natsConnection_Request(&m_, nc, "bench.req", buf, args.size, IO_TIMEOUT_MS); \
      if (s_ != NATS_OK && s_ != NATS_TIMEOUT) fail("request", s_);                                 \
      ok_ = s_ == NATS_OK;                                                                          \
      natsMsg_Destroy(m_);                                                                          \
    }                                                                                               \
    (out_ns) = ok_ ? now_ns() - a_ : -1;                                                            \
  } while (0)

  int64_t deadline = now_ns() + args.cap_ms * 1000000LL, ns;
  for (long i = 0; i < args.warmup && now_ns() < deadline; i++) {
    REQUEST_ONCE(ns);
    if (ns < 0) timeouts++;
  }
  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  deadline = t0 + args.cap_ms * 1000000LL;
  long n = 0;
  while (n < args.count && now_ns() < deadline) {
    REQUEST_ONCE(ns);
    if (ns < 0) timeouts++;
    else lat[n++] = ns;
  }
  int64_t t1 = now_ns();
  window_event("end");
  if (n == 0) fail_msg("reqrep", "no request completed");
  qsort(lat, n, sizeof lat[0], cmp_i64);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += lat[i];
  print_common("reqrep", t1 - t0, cu0, cs0);
  printf(",\"requests\":%ld,\"timeouts\":%ld,\"capped\":%s,\"size\":%d,\"p50_us\":%.1f,\"p90_us\":%.1f,"
         "\"p99_us\":%.1f,\"p999_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n",
         n, timeouts, n < args.count ? "true" : "false", args.size, lat[(n - 1) * 50 / 100] / 1e3,
         lat[(n - 1) * 90 / 100] / 1e3, lat[(n - 1) * 99 / 100] / 1e3, lat[(n - 1) * 999 / 1000] / 1e3,
         lat[n - 1] / 1e3, sum / n / 1e3);
  fflush(stdout);
  atomic_store(&stopping, true);
  if (args.raw) {
    shutdown(responder->fd, SHUT_RDWR);
    pthread_join(rthread, NULL);
    close(requester->fd);
  } else {
    natsSubscription_Destroy(rsub);
    natsConnection_Destroy(nc);
    natsConnection_Destroy(rnc);
  }
  return 0;
}

// --- requests: pipelined requests with a body template, e.g. events to the event service's intake ---

#define ID_MARK "##########" // in body_file=: replaced in each request by its number, zero-padded

static long replies_ok, replies_refused;

// A reply naming an "error" (the intake's {"error":{...}}) is a refusal; anything else an acknowledgement.
static void on_reply(Reader *r, const char *data, size_t len) {
  (void)r;
  if (memmem(data, len, "\"error\"", 7)) replies_refused++;
  else replies_ok++;
}

static char *read_file_all(const char *file, size_t *len) {
  FILE *f = fopen(file, "r");
  if (!f) fail_msg("body_file", strerror(errno));
  static char buf[1 << 20];
  *len = fread(buf, 1, sizeof buf - 1, f);
  if (!feof(f)) fail_msg("body_file", "over 1 MiB");
  fclose(f);
  while (*len > 0 && (buf[*len - 1] == '\n' || buf[*len - 1] == '\r')) (*len)--;
  buf[*len] = 0;
  return buf;
}

// Sends requests numbered [from, from + n) with at most `inflight` unanswered, until all are answered or the
// deadline; then waits up to DRAIN_MS for the stragglers. Returns how many were sent.
static long pipeline(Reader *r, const char *head, size_t head_len, const char *body, size_t body_len, long mark_at,
                     long from, long n, int64_t deadline) {
  size_t frame = head_len + body_len + 2;
  long per_write = (long)(64 * 1024 / frame) + 1;
  char *out = malloc(frame * per_write), buf[64 * 1024];
  if (!out) fail("malloc", NATS_OK);
  long sent = 0, answered0 = replies_ok + replies_refused;
  int64_t last_progress = now_ns();
  long last_answered = 0;
  while (now_ns() < deadline) {
    long answered = replies_ok + replies_refused - answered0;
    if (answered >= n) break;
    // Everything the window has room for, ~64 KiB per write().
    for (long room = args.inflight - (sent - answered); room > 0 && sent < n;) {
      long k = 0;
      while (k < room && k < per_write && sent + k < n) {
        char *f = out + k * frame;
        memcpy(f, head, head_len);
        memcpy(f + head_len, body, body_len);
        if (mark_at >= 0) {
          char id[16];
          snprintf(id, sizeof id, "%010ld", (from + sent + k) % 10000000000L);
          memcpy(f + head_len + mark_at, id, 10);
        }
        memcpy(f + head_len + body_len, "\r\n", 2);
        k++;
      }
      write_all(r->fd, out, (size_t)k * frame);
      sent += k, room -= k;
    }
    if (read_some(r, buf, sizeof buf, 100) < 0) fail_msg("requests", "server closed the connection");
    if (answered != last_answered) last_answered = answered, last_progress = now_ns();
    else if (now_ns() - last_progress > IO_TIMEOUT_MS * 2000000LL) break; // 10 s without a reply: give up
  }
  int64_t drain = now_ns() + DRAIN_MS * 1000000LL;
  while (replies_ok + replies_refused - answered0 < sent && now_ns() < drain) read_some(r, buf, sizeof buf, 100);
  free(out);
  return sent;
}

static int run_requests(void) {
  if (!args.body_file) fail_msg("arguments", "requests needs body_file=");
  size_t body_len;
  const char *body = read_file_all(args.body_file, &body_len);
  const char *mark = strstr(body, ID_MARK);
  long mark_at = mark ? (long)(mark - body) : -1;
  char inbox[64], line[128], head[300];
  snprintf(inbox, sizeof inbox, "_INBOX.lg.%d", (int)getpid());
  snprintf(line, sizeof line, "SUB %s 1\r\n", inbox);
  Reader *r = raw_subscriber(line);
  r->on_payload = on_reply;
  int head_len = snprintf(head, sizeof head, "PUB %s %s %zu\r\n", args.subject, inbox, body_len);
  if (head_len < 0 || (size_t)head_len >= sizeof head) fail_msg("arguments", "subject= too long");
  int64_t deadline = now_ns() + args.cap_ms * 1000000LL;
  pipeline(r, head, (size_t)head_len, body, body_len, mark_at, 0, args.warmup, deadline);
  long ok0 = replies_ok, refused0 = replies_refused;
  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  long sent = pipeline(r, head, (size_t)head_len, body, body_len, mark_at, args.warmup, args.count,
                       t0 + args.cap_ms * 1000000LL);
  int64_t t1 = now_ns();
  window_event("end");
  long ok = replies_ok - ok0, refused = replies_refused - refused0;
  print_common("requests", t1 - t0, cu0, cs0);
  printf(",\"requests\":%ld,\"acked\":%ld,\"refused\":%ld,\"timeouts\":%ld,\"capped\":%s,\"size\":%zu,"
         "\"warmup_acked\":%ld}\n", sent, ok, refused, sent - ok - refused, sent < args.count ? "true" : "false", body_len, ok0);
  fflush(stdout);
  close(r->fd);
  return 0;
}

// --- conns: raw sockets, so 10,000 of them cost 10,000 descriptors and no threads ---

static void wait_stdin_line(void) {
  char line[64];
  if (!fgets(line, sizeof line, stdin)) return; // EOF: the caller went away; carry on and exit
}

// Reads each socket until its PONG (INFO comes first; verbose is off so there is no +OK).
static void await_pongs(int *fds, long n) {
  struct pollfd *p = calloc(n, sizeof *p);
  char *seen = calloc(n, 1);
  char buf[4096];
  long left = n;
  int64_t deadline = now_ns() + 20000LL * 1000000LL;
  for (long i = 0; i < n; i++) p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
  while (left > 0) {
    if (now_ns() > deadline) fail_msg("conns", "timed out waiting for PONG");
    int r = poll(p, n, 1000);
    if (r < 0 && errno != EINTR) fail("poll", NATS_OK);
    for (long i = 0; i < n && r > 0; i++) {
      if (!p[i].revents) continue;
      ssize_t k = read(p[i].fd, buf, sizeof buf - 1);
      if (k <= 0) fail_msg("conns", "server closed a connection during the handshake");
      buf[k] = 0;
      if (strstr(buf, "-ERR")) fail_msg("conns", buf);
      if (!seen[i] && strstr(buf, "PONG")) seen[i] = 1, left--, p[i].fd = -1;
    }
  }
  free(p);
  free(seen);
}

// Connection i of `conns`; with sub=1 it subscribes to a subject of its own (no message is ever published there).
static int idle_socket(long i) {
  if (!args.sub) return open_socket();
  char line[64];
  snprintf(line, sizeof line, "SUB bench.idle.%ld 1\r\n", i);
  return open_socket_with(line);
}

static int run_conns(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
    // Each connection holds a descriptor here and one in the server: both need the limit above conns.
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)args.conns + 64) {
    char msg[160];
    snprintf(msg, sizeof msg, "%ld connections need ulimit -n >= %ld (have %ld; raise the hard limit)", args.conns,
             args.conns + 64, (long)rl.rlim_cur);
    fail_msg("conns", msg);
  }
  int *fds = calloc(args.conns + 1, sizeof(int));
  // One connection first, so the baseline is a server that has served a client (and, with sub=1, holds a SUB).
  fds[0] = idle_socket(0);
  await_pongs(fds, 1);
  printf("{\"event\":\"ready\",\"phase\":\"base\",\"conns\":1}\n");
  fflush(stdout);
  wait_stdin_line();
  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns(), deadline = t0 + args.cap_ms * 1000000LL;
  long opened = 0;
  // Batches of 100, each handshake complete before the next: a backlog overflow would add 1 s SYN retries.
  while (opened < args.conns && now_ns() < deadline) {
    long b = args.conns - opened < 100 ? args.conns - opened : 100;
    for (long i = 0; i < b; i++) fds[1 + opened + i] = idle_socket(1 + opened + i);
    await_pongs(fds + 1 + opened, b);
    opened += b;
  }
  int64_t t1 = now_ns();
  window_event("end");
  printf("{\"event\":\"ready\",\"phase\":\"full\",\"conns\":%ld}\n", opened + 1);
  fflush(stdout);
  wait_stdin_line();
  // Still connected? A server that dropped idle clients would otherwise look frugal.
  long closed = 0;
  for (long i = 0; i <= opened; i++) {
    struct pollfd p = {.fd = fds[i], .events = POLLIN};
    char buf[512];
    if (poll(&p, 1, 0) == 1 && recv(fds[i], buf, sizeof buf, MSG_DONTWAIT) == 0) closed++;
  }
  print_common("conns", t1 - t0, cu0, cs0);
  printf(",\"opened\":%ld,\"requested\":%ld,\"closed_by_server\":%ld,\"capped\":%s,\"subscriptions\":%ld}\n", opened,
         args.conns, closed, opened < args.conns ? "true" : "false", args.sub ? opened + 1 : 0);
  fflush(stdout);
  for (long i = 0; i <= opened; i++) close(fds[i]);
  return 0;
}

// --- subs: a large interest graph, publishes spread over all of it ---
//
// Published subjects: sub.<s/100>.<s%100>.ev for s < subjects (10,000 by default). Each of the `subs` connections
// subscribes once to each subject, in one of four forms chosen by (s + connection) % 10:
//   0: sub.A.B.*    1: sub.A.B.>    2: *.A.B.ev    3-9: sub.A.B.ev
// so 30% of the subscriptions carry a wildcard, every form reaches exactly one published subject, and every
// publish is delivered exactly `subs` times: a loss is visible, and the per-message work stays a 1→subs fan-out
// while the index (literal, `*` and `>` branches at several levels) is large. The publisher cycles through the
// subjects in a fixed shuffled order (the same for both servers): with 10,000 subjects the servers' 1,024-entry
// match caches miss almost always, which is the case the index exists for.

static void subs_pattern(long s, int c, char *out, size_t cap) {
  long a = s / 100, b = s % 100;
  switch ((s + c) % 10) {
  case 0: snprintf(out, cap, "sub.%ld.%ld.*", a, b); break;
  case 1: snprintf(out, cap, "sub.%ld.%ld.>", a, b); break;
  case 2: snprintf(out, cap, "*.%ld.%ld.ev", a, b); break;
  default: snprintf(out, cap, "sub.%ld.%ld.ev", a, b); break;
  }
}

// Frames "PUB sub.A.B.ev <size>\r\n<payload>\r\n" for every subject once, in a shuffled order, back to back.
static Pub *subs_publisher(const char *data) {
  Pub *p = calloc(1, sizeof *p);
  if (!p) fail("calloc", NATS_OK);
  p->r = calloc(1, sizeof *p->r);
  p->r->fd = open_socket();
  await_pong(p->r, 1);
  long n = args.subjects;
  long *order = malloc(sizeof(long) * n);
  p->off = malloc(sizeof(size_t) * (n + 1));
  p->chunk = malloc((size_t)n * (40 + (size_t)args.size));
  if (!order || !p->off || !p->chunk) fail("malloc", NATS_OK);
  for (long i = 0; i < n; i++) order[i] = i;
  uint64_t x = 0x9e3779b97f4a7c15ULL; // xorshift64, fixed seed: the same order for both servers
  for (long i = n - 1; i > 0; i--) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    long j = (long)(x % (uint64_t)(i + 1)), t = order[i];
    order[i] = order[j], order[j] = t;
  }
  size_t at = 0, max_frame = 0;
  for (long i = 0; i < n; i++) {
    p->off[i] = at;
    int h = sprintf(p->chunk + at, "PUB sub.%ld.%ld.ev %d\r\n", order[i] / 100, order[i] % 100, args.size);
    memcpy(p->chunk + at + h, data, args.size);
    memcpy(p->chunk + at + h + args.size, "\r\n", 2);
    at += (size_t)h + args.size + 2;
    if ((size_t)h + args.size + 2 > max_frame) max_frame = (size_t)h + args.size + 2;
  }
  p->off[n] = at;
  p->nframes = n;
  p->per_chunk = (long)(256 * 1024 / max_frame);
  if (p->per_chunk < 1) p->per_chunk = 1;
  free(order);
  return p;
}

static int run_subs(void) {
  if (args.subs < 1 || args.subs > MAX_SUBS) fail_msg("subs", "out of range");
  if (args.subjects < 1) fail_msg("subjects", "out of range");
  pthread_t threads[MAX_SUBS];
  long wild = 0;
  // The SUB storm: every connection writes its SUB lines and a PING; the last PONG means all are registered.
  char *lines = malloc((size_t)args.subjects * 48 + 8);
  if (!lines) fail("malloc", NATS_OK);
  int64_t s0 = now_ns();
  for (int c = 0; c < args.subs; c++) {
    readers[c] = calloc(1, sizeof *readers[c]);
    if (!readers[c]) fail("calloc", NATS_OK);
    readers[c]->fd = open_socket();
  }
  if (args.ready) { // the baseline: every connection open (CONNECT answered), no subscription yet
    for (int c = 0; c < args.subs; c++) await_pong(readers[c], 1);
    printf("{\"event\":\"ready\",\"phase\":\"base\",\"conns\":%d}\n", args.subs);
    fflush(stdout);
    wait_stdin_line();
    s0 = now_ns();
  }
  for (int c = 0; c < args.subs; c++) {
    Reader *r = readers[c];
    size_t at = 0;
    for (long s = 0; s < args.subjects; s++) {
      char pat[40];
      subs_pattern(s, c, pat, sizeof pat);
      if ((s + c) % 10 < 3) wild++;
      at += (size_t)sprintf(lines + at, "SUB %s %ld\r\n", pat, s + 1);
    }
    memcpy(lines + at, "PING\r\n", 6);
    write_all(r->fd, lines, at + 6);
  }
  char buf[4096];
  for (int c = 0; c < args.subs; c++) { // CONNECT's PONG, then the one after the SUBs
    int64_t deadline = now_ns() + 30000LL * 1000000LL;
    while (readers[c]->pongs < 2) {
      if (now_ns() > deadline) fail_msg("subs", "no PONG within 30 s of the SUB storm");
      if (read_some(readers[c], buf, sizeof buf, 100) < 0) fail_msg("subs", "server closed the connection");
    }
  }
  int64_t setup_ns = now_ns() - s0;
  free(lines);
  if (args.ready) {
    printf("{\"event\":\"ready\",\"phase\":\"full\",\"subscriptions\":%ld}\n", args.subjects * args.subs);
    fflush(stdout);
    wait_stdin_line();
  }
  for (int c = 0; c < args.subs; c++)
    if (pthread_create(&threads[c], NULL, reader_thread, readers[c]) != 0) fail("pthread_create", NATS_OK);

  Pub *pub = subs_publisher(payload(args.size));
  long per_msg = args.subs;
  long warm = pub_send(pub, args.warmup, now_ns() + args.cap_ms * 1000000LL);
  pub_flush(pub);
  wait_delivered(warm * per_msg);
  long base = delivered();

  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  long sent = pub_send(pub, args.count, t0 + args.cap_ms * 1000000LL);
  pub_flush(pub);
  long expected = sent * per_msg;
  int64_t t1 = wait_delivered(base + expected);
  window_event("end");
  long got = delivered() - base;
  print_common("subs", t1 - t0, cu0, cs0);
  printf(",\"sent\":%ld,\"received\":%ld,\"expected\":%ld,\"lost\":%ld,\"capped\":%s,\"size\":%d,\"subs\":%d,"
         "\"subjects\":%ld,\"subscriptions\":%ld,\"wildcard_subscriptions\":%ld,\"setup_ns\":%lld,"
         "\"warmup_lost\":%ld}\n",
         sent, got, expected, expected - got, sent < args.count ? "true" : "false", args.size, args.subs,
         args.subjects, args.subjects * args.subs, wild, (long long)setup_ns, warm * per_msg - base);
  fflush(stdout);
  atomic_store(&stopping, true);
  pub_close(pub);
  for (int c = 0; c < args.subs; c++) {
    shutdown(readers[c]->fd, SHUT_RDWR);
    pthread_join(threads[c], NULL);
    close(readers[c]->fd);
  }
  return 0;
}

// --- admission: `count` connections made `inflight` at a time, each TLS (client certificate) + token, CONNECT,
// PING, PONG, close; connects/s and per-connect latency. libnats' natsConnection_Connect sends CONNECT and PING and
// returns on the PONG, so one call is one admission; each thread reuses one natsOptions (one SSL_CTX: the CA and
// the client certificate are loaded once), and OpenSSL resumes no session, so every connect is a full handshake.
typedef struct {
  natsOptions *o;
  int64_t *lat; // per connect, ns; -1 when refused
  atomic_long *next;
  long last; // this phase hands out indexes up to here (exclusive)
  int64_t deadline;
} AdmWorker;

static natsOptions *admission_options(void) {
  natsOptions *o = NULL;
  char url[64];
  snprintf(url, sizeof url, "%s://127.0.0.1:%d", pub_tls() ? "tls" : "nats", pub_port());
  natsStatus s = natsOptions_Create(&o);
  if (s == NATS_OK) s = natsOptions_SetURL(o, url);
  if (pub_tls()) {
    if (s == NATS_OK) s = natsOptions_SetSecure(o, true);
    if (s == NATS_OK) s = natsOptions_LoadCATrustedCertificates(o, args.tls_ca);
    if (s == NATS_OK && args.tls_cert) s = natsOptions_LoadCertificatesChain(o, args.tls_cert, args.tls_key);
    if (s == NATS_OK) s = natsOptions_SetExpectedHostname(o, "localhost");
  }
  if (s == NATS_OK && args.token) s = natsOptions_SetToken(o, args.token);
  if (s == NATS_OK) s = natsOptions_SetAllowReconnect(o, false);
  if (s == NATS_OK) s = natsOptions_SetTimeout(o, IO_TIMEOUT_MS);
  if (s == NATS_OK) s = natsOptions_SetPingInterval(o, 10 * 60 * 1000);
  if (s != NATS_OK) fail("admission options", s);
  return o;
}

static void *admission_thread(void *arg) {
  AdmWorker *w = arg;
  for (;;) {
    long i = atomic_fetch_add(w->next, 1);
    if (i >= w->last || now_ns() > w->deadline) break;
    natsConnection *nc = NULL;
    int64_t a = now_ns();
    natsStatus s = natsConnection_Connect(&nc, w->o);
    w->lat[i] = s == NATS_OK ? now_ns() - a : -1;
    if (nc) natsConnection_Destroy(nc);
  }
  return NULL;
}

// Runs indexes [first, last) over `threads` threads; returns when all have finished.
static void admission_phase(AdmWorker *ws, pthread_t *tids, int threads, atomic_long *next, long first, long last) {
  atomic_store(next, first);
  int64_t deadline = now_ns() + args.cap_ms * 1000000LL;
  for (int t = 0; t < threads; t++) {
    ws[t].next = next, ws[t].last = last, ws[t].deadline = deadline;
    if (pthread_create(&tids[t], NULL, admission_thread, &ws[t]) != 0) fail("pthread_create", NATS_OK);
  }
  for (int t = 0; t < threads; t++) pthread_join(tids[t], NULL);
}

static int run_admission(void) {
  int threads = args.inflight > 0 && args.inflight <= 256 ? (int)args.inflight : 16;
  long total = args.warmup + args.count;
  int64_t *lat = calloc((size_t)(total > 0 ? total : 1), sizeof(int64_t));
  AdmWorker *ws = calloc((size_t)threads, sizeof *ws);
  pthread_t *tids = calloc((size_t)threads, sizeof *tids);
  if (!lat || !ws || !tids) fail("malloc", NATS_OK);
  for (long i = 0; i < total; i++) lat[i] = -2; // not attempted (the cap ran out)
  for (int t = 0; t < threads; t++) ws[t].o = admission_options(), ws[t].lat = lat;
  atomic_long next;
  admission_phase(ws, tids, threads, &next, 0, args.warmup);
  double cu0, cs0;
  cpu_now(&cu0, &cs0);
  window_event("start");
  int64_t t0 = now_ns();
  admission_phase(ws, tids, threads, &next, args.warmup, total);
  int64_t t1 = now_ns();
  window_event("end");
  long n = 0, refused = 0;
  int64_t *ok = lat + args.warmup;
  for (long i = 0; i < args.count; i++) {
    if (ok[i] >= 0) ok[n++] = ok[i];
    else if (ok[i] == -1) refused++;
  }
  if (n == 0) fail_msg("admission", "no connection was admitted");
  qsort(ok, n, sizeof ok[0], cmp_i64);
  double sum = 0;
  for (long i = 0; i < n; i++) sum += ok[i];
  print_common("admission", t1 - t0, cu0, cs0);
  printf(",\"opened\":%ld,\"refused\":%ld,\"expected\":%ld,\"capped\":%s,\"inflight\":%d,\"publisher\":\"%s\","
         "\"p50_us\":%.1f,\"p90_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"mean_us\":%.1f}\n",
         n, refused, args.count, n + refused < args.count ? "true" : "false", threads,
         pub_tls() ? "libnats-tls" : "libnats", ok[(n - 1) * 50 / 100] / 1e3, ok[(n - 1) * 90 / 100] / 1e3,
         ok[(n - 1) * 99 / 100] / 1e3, ok[n - 1] / 1e3, sum / n / 1e3);
  fflush(stdout);
  return 0;
}

// A token file's content less trailing whitespace (a token in argv would show in ps).
static char *read_token(const char *file) {
  FILE *f = fopen(file, "r");
  if (!f) fail_msg("token_file", strerror(errno));
  static char buf[16384];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ')) n--;
  buf[n] = 0;
  return buf;
}

static void parse_args(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: loadgen version | loadgen pub|fanout|reqrep|requests|conns|subs port=<p> [key=value...]\n");
    exit(2);
  }
  args.mode = argv[1];
  for (int i = 2; i < argc; i++) {
    char *eq = strchr(argv[i], '=');
    if (!eq) fail_msg("bad argument (want key=value)", argv[i]);
    *eq = 0;
    const char *k = argv[i], *v = eq + 1;
    long n = strtol(v, NULL, 10);
    if (!strcmp(k, "port")) args.port = (int)n;
    else if (!strcmp(k, "size")) args.size = (int)n;
    else if (!strcmp(k, "count")) args.count = n;
    else if (!strcmp(k, "warmup")) args.warmup = n;
    else if (!strcmp(k, "cap_ms")) args.cap_ms = n;
    else if (!strcmp(k, "subs")) args.subs = (int)n;
    else if (!strcmp(k, "queue")) args.queue = (int)n;
    else if (!strcmp(k, "conns")) args.conns = n;
    else if (!strcmp(k, "sub")) args.sub = (int)n;
    else if (!strcmp(k, "subjects")) args.subjects = n;
    else if (!strcmp(k, "iobuf")) args.iobuf = (int)n;
    else if (!strcmp(k, "client")) args.raw = strcmp(v, "libnats") != 0;
    else if (!strcmp(k, "pub_port")) args.pub_port = (int)n;
    else if (!strcmp(k, "tls_ca")) args.tls_ca = v;
    else if (!strcmp(k, "tls_cert")) args.tls_cert = v;
    else if (!strcmp(k, "tls_key")) args.tls_key = v;
    else if (!strcmp(k, "token_file")) args.token = read_token(v);
    else if (!strcmp(k, "subject")) args.subject = v;
    else if (!strcmp(k, "body_file")) args.body_file = v;
    else if (!strcmp(k, "inflight")) args.inflight = n;
    else if (!strcmp(k, "ready")) args.ready = (int)n;
    else fail_msg("unknown argument", k);
  }
  if (args.port <= 0) fail_msg("arguments", "port= is required");
  if ((args.tls_cert != NULL) != (args.tls_key != NULL)) fail_msg("arguments", "tls_cert= and tls_key= go together");
  if (args.tls_cert && !args.tls_ca) fail_msg("arguments", "tls_cert= needs tls_ca=");
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "version")) { // lets the caller check the binary runs (libnats found)
    printf("{\"libnats\":\"%s\"}\n", nats_GetVersion());
    return 0;
  }
  parse_args(argc, argv);
  if (!strcmp(args.mode, "conns")) return run_conns(); // no libnats threads needed
  if (!strcmp(args.mode, "requests")) return run_requests();
  if (!strcmp(args.mode, "subs")) {
    args.raw = true; // see the header: libnats cannot hold 100,000 subscriptions here
    return run_subs();
  }
  natsStatus s = nats_Open(-1);
  if (s != NATS_OK) fail("nats_Open", s);
  int rc;
  if (!strcmp(args.mode, "pub")) rc = run_pub();
  else if (!strcmp(args.mode, "fanout")) rc = run_fanout();
  else if (!strcmp(args.mode, "reqrep")) rc = run_reqrep();
  else if (!strcmp(args.mode, "admission")) rc = run_admission();
  else fail_msg("unknown mode", args.mode), rc = 2;
  // No nats_Close(): it waits for library threads; the process exit releases everything.
  return rc;
}
