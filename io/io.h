/*
 * io: the transport's interface to the rest of sluice. Reactor threads own
 * every socket (io_uring: multishot accept, multishot recv into a provided
 * buffer ring, HTTP upgrade, WebSocket framing); worker threads receive whole
 * messages and send frames back through per-connection lock-free rings.
 *
 *   reactor r  --(conn inbound SPSC: struct io_msg *)-->  worker w
 *              --(worker inbox MPSC: struct io_conn *)-->
 *   reactor r  <--(conn outbound MPSC: struct io_msg *)-- worker w, or any
 *              <--(reactor notify MPSC: struct io_conn *)-- thread that fans out
 *
 * A connection is bound to one reactor and one worker for its whole life, so
 * its messages are handled in arrival order. Its outbound queue takes frames
 * from any thread (a publish on one worker goes straight to the subscribers
 * of every other), each producer's frames in the order it sent them; an
 * outbound frame may be shared by many connections (io_msg_hold). Workers
 * never see a file descriptor.
 *
 * Keep-alive is the reactor's: it sends the configured ping every
 * ping_interval_ms, drops the configured pong without waking the worker, and
 * closes a connection that sent nothing for ping_timeout_ms, or that was not
 * marked established (io_conn_established) within handshake_timeout_ms of
 * its upgrade.
 *
 * Threads: io_server_* from the thread that runs the server (main); io_inbox_*
 * and io_conn_* (except where noted) from the worker that owns the inbox.
 */
#ifndef SLUICE_IO_H
#define SLUICE_IO_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct http_request;

struct io_config {
	const char *host;               /* bind address, default 127.0.0.1 */
	uint16_t port;                  /* 0: the kernel picks one */
	const char *path;               /* WebSocket path, default /socketcluster/ */
	const char *origins;            /* socketcluster-style, default "*:*" */
	int reactors;                   /* default: number of CPUs */
	int workers;                    /* default: number of CPUs */
	uint32_t max_conns;             /* per reactor */
	uint64_t max_payload;           /* largest message (1009 above) */
	uint32_t max_header;            /* largest HTTP request head (431 above) */
	uint32_t handshake_timeout_ms;  /* whole HTTP request deadline */
	uint64_t outbound_limit;        /* bytes queued per connection before 4100 */
	uint32_t inbound_ring;          /* messages a connection may queue for its worker */
	uint32_t outbound_ring;         /* frames a connection may queue for sending */
	int uring_mode;                 /* enum io_uring_mode */
	uint32_t recv_buffers;          /* 16 KiB receive buffers per reactor, a power of two */
	uint32_t send_timeout_ms;       /* no byte taken by a client for this long: 4100 */
	uint64_t inbound_limit;         /* bytes of messages a connection may queue for its worker */
	uint32_t ping_interval_ms;      /* 0: the reactor sends no pings */
	uint32_t ping_timeout_ms;       /* nothing received for this long: close; 0: never */
	uint16_t ping_timeout_code;     /* close code then (4001) */
	uint16_t open_timeout_code;     /* not established in time: close (4005); 0: no check */
	uint8_t ping_len, pong_len;     /* text payload of our ping and of the peer's pong */
	char ping[8], pong[8];          /* ("" and "" in protocol v2; "#1" and "#2" in v1) */
	bool drop_pongs;                /* pongs are not delivered to the worker */
	uint32_t busy_poll_us;          /* a reactor looks for work this long before sleeping */
	/* Called on the reactor thread for each WebSocket upgrade that passed the
	 * path and Origin checks: 0 accepts, an HTTP status (400-599) refuses.
	 * It must be quick and must not block. NULL accepts all. */
	int (*upgrade_hook)(const struct http_request *req, void *ctx);
	void *upgrade_ctx;
};

/* io_uring set-up flags of the reactors; perf/RESULTS.md compares them. */
enum io_uring_mode {
	IO_URING_DEFER = 0, /* SINGLE_ISSUER | DEFER_TASKRUN */
	IO_URING_COOP,      /* SINGLE_ISSUER | COOP_TASKRUN */
	IO_URING_PLAIN,     /* none */
};

/* The defaults, documented in sluiced --help. */
void io_config_defaults(struct io_config *cfg);

/* The close code sluice sends a slow consumer (outbound limit exceeded). */
#define IO_CLOSE_SLOW_CONSUMER 4100

/* A whole WebSocket message (inbound), or a frame to send (outbound). */
struct io_msg {
	struct io_msg *next;   /* reactor-private lists */
	uint64_t len;          /* payload bytes */
	uint64_t cap;          /* payload capacity */
	uint8_t opcode;        /* WS_OP_TEXT or WS_OP_BINARY (or a control opcode) */
	uint8_t hlen;          /* bytes of hdr in use when outbound; 0 for raw bytes */
	uint8_t pooled;        /* from a reactor's pool (else malloc) */
	_Atomic uint32_t refs; /* owners: 1, or more once shared (io_msg_hold) */
	uint8_t hdr[14];       /* the frame header, written by io_msg_frame */
	uint8_t data[];        /* payload */
};

/* A message of cap payload bytes (one owner), or NULL. Any thread. */
struct io_msg *io_msg_new(uint64_t cap);

/* Drops one owner's reference; the last one frees m. Any thread. NULL: no-op. */
void io_msg_free(struct io_msg *m);

/* Adds n owners to m (an outbound frame about to go to n more connections;
 * each io_conn_send takes one). The caller holds a reference. Any thread. */
static inline void io_msg_hold(struct io_msg *m, uint32_t n)
{
	/* relaxed: the caller's own reference keeps m alive; the sends publish it */
	atomic_fetch_add_explicit(&m->refs, n, memory_order_relaxed);
}

/* Makes m an outbound server frame of its opcode and len (writes its header). */
void io_msg_frame(struct io_msg *m);

struct io_server;
struct io_conn;
struct io_inbox;

/*
 * Creates the reactors and inboxes and binds the listeners (so a port 0 is
 * resolved when this returns). Returns 0 or -errno with nothing left behind.
 */
int io_server_create(const struct io_config *cfg, struct io_server **out);

/* The port the listeners are bound to. */
uint16_t io_server_port(const struct io_server *s);

/* Inbox of worker i (0 <= i < cfg->workers). */
struct io_inbox *io_server_inbox(struct io_server *s, int i);

/* Starts the reactor threads. 0 or -errno. */
int io_server_start(struct io_server *s);

/*
 * Stops accepting, closes every WebSocket with 1001 and waits for the
 * reactors to finish (workers must keep draining their inboxes meanwhile).
 */
void io_server_stop(struct io_server *s);

/* Frees everything; the reactors are stopped and the workers gone. */
void io_server_destroy(struct io_server *s);

/*
 * The next connections with work for this worker, up to max; waits up to
 * timeout_ms when there are none (spinning briefly, then sleeping on an
 * eventfd). Returns how many, 0 on timeout. Worker thread only.
 */
int io_inbox_wait(struct io_inbox *in, struct io_conn **conns, int max, int timeout_ms);

/* Wakes a worker sleeping in io_inbox_wait (any thread; for shutdown). */
void io_inbox_wake(struct io_inbox *in);

/*
 * Takes up to max messages of c, oldest first; the worker owns them. Returns
 * how many, or -EPIPE once c is closed and drained: the worker then calls
 * io_conn_release(c) and never touches c again.
 */
int io_conn_recv(struct io_conn *c, struct io_msg **msgs, int max);

/*
 * Queues m (made a frame with io_msg_frame) for sending on c and takes one
 * reference. Returns 0; -EPIPE when c is closed (the reference is dropped);
 * or -ENOBUFS when c's outbound ring or byte limit is full: the reference is
 * dropped and c is closed as a slow consumer (4100).
 * Any thread, while c is held: by its worker until io_conn_release, by other
 * threads only while the worker guarantees it has not released c yet (the
 * broker defers the release past an epoch grace period).
 */
int io_conn_send(struct io_conn *c, struct io_msg *m);

/*
 * Asks c's reactor to close c with this code (and reason, up to 123 bytes,
 * may be NULL). The first request wins. Same threads as io_conn_send.
 */
void io_conn_close(struct io_conn *c, int code, const char *reason);

/* Marks c established (the protocol's handshake is done): the open deadline
 * no longer applies. Worker thread. */
void io_conn_established(struct io_conn *c);

/* The close code of c once io_conn_recv returned -EPIPE: the code sent or
 * received in the close frame, or 1006 when there was none. Worker thread. */
int io_conn_close_code(const struct io_conn *c);

/* A number no other connection of this server had or will have. Any thread. */
uint64_t io_conn_serial(const struct io_conn *c);

/* Index of the worker c is bound to (its inbox). Any thread. */
int io_conn_worker(const struct io_conn *c);

/* The query string of c's upgrade request (after '?', NUL-terminated; ""
 * when none). Worker thread, once it has a message of c. */
const char *io_conn_query(const struct io_conn *c);

/* The worker's pointer for c (NULL until set; cleared when c is reused). */
void *io_conn_user(const struct io_conn *c);
void io_conn_set_user(struct io_conn *c, void *user);

/* Hands c back after -EPIPE from io_conn_recv. */
void io_conn_release(struct io_conn *c);

#endif
