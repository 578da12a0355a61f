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
	int slow_policy;                /* enum io_slow_policy: at the outbound limits */
	uint64_t backpressure_limit;    /* messages waiting in or out of one connection: 4101; 0 off */
	uint32_t inbound_rate;          /* messages per second a connection may send (4102); 0 off */
	uint32_t inbound_burst;         /* ... in a burst above that rate */
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

/* The close codes of the limits (include/sluice.h documents them). */
#define IO_CLOSE_SLOW_CONSUMER 4100 /* outbound limit exceeded (policy disconnect) */
#define IO_CLOSE_BACKPRESSURE  4101 /* backpressure_limit exceeded */
#define IO_CLOSE_RATE_LIMIT    4102 /* inbound_rate exceeded */

/* What a connection's outbound limits (outbound_ring frames, outbound_limit
 * bytes) do when reached. */
enum io_slow_policy {
	IO_SLOW_DISCONNECT = 0, /* close it with IO_CLOSE_SLOW_CONSUMER */
	IO_SLOW_DROP_OLDEST,    /* drop its oldest queued frames, counted */
};

/* A whole WebSocket message (inbound), or a frame to send (outbound). */
struct io_msg {
	struct io_msg *next;   /* reactor-private lists */
	uint64_t len;          /* payload bytes */
	uint64_t cap;          /* payload capacity */
	uint8_t opcode;        /* WS_OP_TEXT or WS_OP_BINARY (or a control opcode) */
	uint8_t hlen;          /* bytes of hdr in use when outbound; 0 for raw bytes */
	uint8_t pooled;        /* from a reactor's pool (else malloc) */
	uint8_t local;         /* the reactor's own frame (pong, close, HTTP): not counted */
	_Atomic uint32_t refs; /* owners: 1, or more once shared (io_msg_hold) */
	uint32_t tally_gen;    /* the tally's generation when attached */
	struct io_tally *tally; /* counts where this frame went (a channel's), or NULL */
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

/* Queues c at the back of its worker's inbox again (it has more than the
 * worker took this turn). Worker thread. */
void io_conn_requeue(struct io_conn *c);

/* Hands c back after -EPIPE from io_conn_recv. */
void io_conn_release(struct io_conn *c);

/*
 * Cursors. Every queue of a connection has a producer count and a consumer
 * count, each written by one side, read by any thread with relaxed loads
 * (no lock, nothing that slows the data path): backlog = produced - consumed.
 * Outbound frames count until the kernel took their last byte or they were
 * dropped, so a reader that stalls shows its backlog here even while
 * SocketCluster's own view (its write buffer) would say 0.
 */
struct io_conn_stats {
	uint64_t serial;          /* io_conn_serial; 0: the slot is not a WebSocket */
	int worker;
	bool paused;              /* reading stopped: its worker is behind */
	uint64_t accept_ms;       /* when accepted (CLOCK_MONOTONIC, ms) */
	uint64_t in_msgs, in_bytes;            /* messages received */
	uint64_t in_backlog, in_backlog_bytes; /* received, not yet taken by the worker */
	uint64_t out_msgs, out_bytes;          /* frames (and bytes) the kernel took */
	uint64_t out_backlog, out_backlog_bytes; /* queued, not yet taken or dropped */
	uint64_t out_dropped;     /* frames dropped: drop-oldest, killed, or refused when full */
	uint64_t gauge[4];        /* the worker's own figures (io_conn_gauge) */
};

/* Snapshot of c's cursors. Same threads as io_conn_send. */
void io_conn_stats(const struct io_conn *c, struct io_conn_stats *out);

/* Four numbers the worker keeps per connection for readers on other threads
 * (the broker: requests started, answered, subscriptions). Relaxed. */
void io_conn_gauge_set(struct io_conn *c, int i, uint64_t v);
void io_conn_gauge_add(struct io_conn *c, int i, uint64_t v); /* any thread: atomic add */
uint64_t io_conn_gauge(const struct io_conn *c, int i);        /* any thread */

/* Drops every frame queued for c that is not yet being written (the
 * seed's kill of a stream), now; counted as dropped. Same threads as
 * io_conn_send. */
void io_conn_kill_outbound(struct io_conn *c);

/*
 * The WebSocket connections of the server, each read as by io_conn_stats,
 * from any thread: slots are never freed while the server exists, and a
 * reader only loads their cursors. fn returns non-zero to stop.
 */
void io_server_each_conn(struct io_server *s,
			 int (*fn)(const struct io_conn_stats *st, void *ctx), void *ctx);

/* Asks the reactor of the connection with this serial to close it (code,
 * reason). Any thread. 0, or -ENOENT when no such connection is open. */
int io_server_close_serial(struct io_server *s, uint64_t serial, int code, const char *reason);

/* Totals of every reactor, from any thread. */
struct io_totals {
	uint64_t conns;                       /* WebSocket and HTTP connections open */
	uint64_t accepts, accept_errors;
	uint64_t msgs_in, bytes_in;           /* whole messages received */
	uint64_t msgs_out, bytes_out;         /* frames and bytes the kernel took */
	uint64_t msgs_dropped;                /* frames dropped before sending, for any reason */
	uint64_t slow_consumer_disconnects;   /* 4100 */
	uint64_t slow_consumer_drops;         /* frames the drop-oldest policy dropped */
	uint64_t backpressure_disconnects;    /* 4101 */
	uint64_t rate_limit_disconnects;      /* 4102 */
	uint64_t inbound_pauses;              /* times a connection's reading stopped */
};
void io_server_totals(const struct io_server *s, struct io_totals *out);

/* One reactor's loop, from any thread. -ENOENT past the last. */
struct io_reactor_stats {
	uint64_t loops;   /* event loop turns */
	uint64_t conns;   /* connections open */
	uint64_t queue;   /* connections queued for it by the workers (notify) */
	uint64_t msgs;    /* messages received */
};
int io_server_reactor_stats(const struct io_server *s, int i, struct io_reactor_stats *out);

/* Connections queued in worker i's inbox (a gauge), from any thread. */
uint64_t io_inbox_size(const struct io_server *s, int i);

/*
 * Tallies: where the frames of one stream went, across every connection
 * and reactor (a channel's publishes). A frame carries its tally (io_msg_tally);
 * each reactor counts the copies it wrote or dropped in its own slot, each
 * publisher what it queued in its own. Readers sum the slots.
 * writer: 0..workers-1 for a worker, `workers` for any other thread (which
 * must serialise its calls).
 */
struct io_tally;
struct io_tally_sum {
	uint64_t published; /* publishes */
	uint64_t fanout;    /* copies meant for recipients (queued or refused) */
	uint64_t delivered; /* copies the kernel took */
	uint64_t dropped;   /* copies dropped: killed, drop-oldest, refused, lost with their connection */
	uint64_t backlog;   /* copies still queued */
};
int io_tally_new(struct io_server *s, struct io_tally **out);
/* Drops the creator's reference; frames hold their own. Any thread. */
void io_tally_put(struct io_tally *t);
/* Makes m count in t (takes a reference). Before m is sent. */
void io_msg_tally(struct io_msg *m, struct io_tally *t);
/* One publish: queued copies accepted by io_conn_send, refused the others.
 * Returns how many publishes this writer has counted in t. */
uint64_t io_tally_publish(struct io_tally *t, int writer, uint64_t queued, uint64_t refused);
void io_tally_read(const struct io_tally *t, struct io_tally_sum *out);
/* Kills the backlog: every copy queued and not yet being written is dropped
 * by its reactor within a loop turn. Returns the backlog it saw. Any thread. */
uint64_t io_tally_kill(struct io_tally *t);

#endif
