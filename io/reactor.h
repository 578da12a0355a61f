/*
 * reactor: the private structures of io/ shared by reactor.c (the event
 * loop, sockets), conn.c (bytes to messages, frames out) and handoff.c (the
 * worker side). Not part of any public API.
 *
 * Threads: a struct reactor and its connections' socket state belong to one
 * reactor thread. The fields of struct io_conn marked [w] belong to its
 * worker; [a] are atomics either side may read.
 */
#ifndef SLUICE_IO_REACTOR_H
#define SLUICE_IO_REACTOR_H

#include <liburing.h>
#include <pthread.h>

#include "http.h"
#include "io.h"
#include "mpsc.h"
#include "pool.h"
#include "spsc.h"
#include "ws.h"

enum conn_state {
	CONN_FREE = 0,
	CONN_HTTP,    /* reading the request head */
	CONN_WS,      /* upgraded */
	CONN_CLOSING, /* close frame or error response queued; no more input */
	CONN_DEAD,    /* fd closed; waiting for in-flight requests and the worker */
};

struct io_conn {
	/* reactor's */
	struct reactor *r;
	uint32_t slot;
	uint32_t gen;
	int fd;
	enum conn_state state;
	bool recv_armed;     /* a multishot recv is in flight */
	bool send_inflight;  /* a sendmsg is in flight */
	_Atomic int paused;  /* [a] inbound ring full: recv stopped until the worker drains */
	bool worker_seen;    /* the worker has this connection (must release it) */
	bool close_after_send;
	int close_when_sent;         /* the worker's close code, once its frames are out */
	bool rearm;          /* recv must be armed again at the end of this loop turn */
	uint32_t rearm_next; /* slot + 1 of the next connection to re-arm; 0 ends */
	uint64_t deadline_ms;        /* of the HTTP request, or of the close */
	uint64_t send_ms;            /* when the send in flight started or last made progress */
	uint8_t *in;                 /* HTTP head, or a WebSocket frame header, in pieces */
	uint32_t in_len;
	struct ws_msg_state ws;
	struct ws_header hdr;        /* of the frame being read */
	struct io_msg *cur;          /* message being assembled */
	uint8_t ctl[WS_MAX_CONTROL_LEN];
	uint32_t ctl_len;
	struct io_msg *overflow;     /* whole messages waiting for room in inq */
	struct io_msg **overflow_tail;
	struct io_msg *local;        /* reactor's own frames (pong, close, HTTP), FIFO */
	struct io_msg **local_tail;
	struct io_msg *sending[64];  /* frames in the sendmsg in flight */
	struct iovec iov[128];
	struct msghdr mh;
	int nsending;
	uint32_t send_skip;          /* bytes of sending[0] already sent */

	/* the two rings and their atomics */
	struct spsc inq;             /* reactor -> worker */
	struct mpsc outq;            /* workers (any thread) -> reactor */
	struct io_inbox *wi;         /* the worker's inbox */
	_Atomic int in_notified;     /* [a] c is in the worker's inbox */
	_Atomic int out_notified;    /* [a] c is in the reactor's notify queue */
	_Atomic int closed;          /* [a] the reactor has closed c */
	_Atomic int released;        /* [a] the worker let go of c */
	_Atomic int kill_code;       /* [a] worker asks the reactor to close with this */
	_Atomic uint64_t out_queued; /* [a] bytes pushed by the worker */
	_Atomic uint64_t out_sent;   /* [a] bytes written by the reactor */
	_Atomic int out_wait;        /* [a] the worker waits for outbound room to read on */
	_Atomic uint64_t in_pushed;  /* [a] message bytes the reactor put in inq */
	_Atomic uint64_t in_taken;   /* [a] message bytes the worker took from inq */
	_Atomic int established;     /* [a] the worker finished the protocol's handshake */
	_Atomic int close_code;      /* [a] set by the reactor before `closed` */
	uint64_t serial;             /* set at accept, before the worker sees c */
	uint64_t rx_ms;              /* last time bytes arrived */
	uint64_t ping_ms;            /* next keep-alive ping */
	void *user;                  /* [w] */
	char *query;                 /* the upgrade's query string (malloc), or NULL */
	char kill_reason[124];       /* [w] written before kill_code is set */
#define KILL_GRACEFUL 0x10000        /* in kill_code: io_conn_close's (queued frames first) */

	/* cursors (io.h): [r] written by the reactor only, [p] by producers
	 * (fetch_add), [w] by the worker only; any thread reads them */
	_Atomic uint64_t pub_serial;    /* [r] serial while upgraded, else 0 */
	_Atomic uint64_t accept_ms;     /* [r] */
	_Atomic int pub_worker;         /* [r] index of wi, for readers */
	_Atomic uint64_t in_msgs;       /* [r] messages received */
	_Atomic uint64_t in_bytes;      /* [r] their bytes */
	_Atomic uint64_t in_taken_msgs; /* [w] messages the worker took */
	/* frames queued are outq's producer cursor (mpsc_produced); out_done is
	 * its match, never reset, so the pair stays a backlog across reuse */
	_Atomic uint64_t out_done;      /* [r] outq frames written whole or dropped */
	_Atomic uint64_t out_written;   /* [r] outq frames written whole */
	_Atomic uint64_t out_dropped;   /* [p][r] frames dropped or refused */
	_Atomic uint64_t out_dropped_bytes; /* [r] bytes of queued frames dropped */
	_Atomic uint64_t gauge[4];      /* [w] io_conn_gauge_* */
	_Atomic int shed;               /* [p] over the limits under drop-oldest: trim */
	_Atomic int kill_out;           /* [a] io_conn_kill_outbound asked */
	struct io_msg *held;            /* frames a purge took out of outq, oldest first */
	struct io_msg **held_tail;
	uint32_t nheld;
	double tokens;                  /* inbound rate bucket (inbound_rate) */
	uint64_t tokens_ms;
};

/* A counter one thread writes and any thread reads: no read-modify-write. */
static inline void ctr_add(_Atomic uint64_t *c, uint64_t n)
{
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
			      memory_order_relaxed);
}

/*
 * Bytes queued for c and not yet written or dropped, from any thread. The
 * consumer's counts are read first and the difference clamped: a reader
 * racing the producers and the reactor never sees more gone than came
 * (which would read as a huge backlog and trip the outbound limit).
 */
static inline uint64_t conn_out_bytes(const struct io_conn *c)
{
	uint64_t gone = atomic_load_explicit(&c->out_sent, memory_order_relaxed) +
			atomic_load_explicit(&c->out_dropped_bytes, memory_order_relaxed);
	uint64_t queued = atomic_load_explicit(&c->out_queued, memory_order_relaxed);

	return queued > gone ? queued - gone : 0;
}

/* A tally's counters for one writer, on a cache line of their own. */
struct tally_slot {
	_Atomic uint64_t published, fanout, delivered, dropped;
} __attribute__((aligned(64)));

struct io_tally {
	_Atomic uint32_t refs;     /* a line of its own: publishers write it, reactors read gen */
	char pad[60];
	_Atomic uint32_t gen;      /* frames of an older generation were killed */
	struct io_server *s;
	int nslots;                /* reactors, then workers, then one for any other thread */
	struct tally_slot slot[];
};

struct io_inbox {
	struct mpsc ready;       /* connections with inbound work */
	int efd;                 /* wakes the worker */
	_Atomic int sleeping;
};

struct reactor {
	struct io_server *s;
	int id;
	pthread_t thread;
	struct io_uring ring;
	int listen_fd;
	int efd;                   /* workers wake the reactor */
	uint64_t efd_val;
	_Atomic int sleeping;
	_Atomic int stopping;
	struct mpsc notify;        /* connections with outbound work or a release */
	struct io_uring_buf_ring *br;
	uint8_t *bufs;
	uint32_t nbufs;
	uint32_t bufsz;
	struct io_conn **conns;    /* slot -> connection */
	uint32_t *free_slots;
	uint32_t nfree;
	uint32_t live;             /* connections not free */
	bool accept_armed;
	uint64_t accept_retry_ms;
	uint64_t now_ms;
	uint64_t next_tick_ms;
	uint64_t stop_deadline_ms;
	int next_worker;
	uint32_t rearm_head;       /* slot + 1 of the first connection to re-arm */
	uint32_t br_added;         /* buffers given back this loop turn */
	struct pool tiny;          /* inbound messages up to TINY_MSG bytes */
	struct pool msgs;          /* inbound messages up to SMALL_MSG bytes */
	/* counters (reactor writes, anyone reads) */
	_Atomic uint64_t accepts, accept_errors, enobufs, conns_closed, cq_overflows;
	_Atomic uint64_t loops, live_gauge, msgs_in, bytes_in, msgs_out, bytes_out;
	_Atomic uint64_t msgs_dropped, slow_disconnects, bp_disconnects, rate_disconnects, pauses;
	_Atomic uint64_t slow_drops;    /* producers add too (fetch_add) */
	_Atomic uint64_t refused;       /* frames io_conn_send did not queue (fetch_add) */
	_Atomic int purge;         /* a tally was killed: look through every outq */
	struct mpsc admin;         /* struct io_admin: closes asked by serial */
	uint64_t next_serial;
};

struct io_server {
	struct io_config cfg;
	uint16_t port;
	int nreactors, nworkers;
	struct reactor *reactors;
	struct io_inbox *inboxes;
	bool started;
	uint8_t ping_frame[16];    /* the keep-alive ping, framed */
	uint8_t ping_frame_len;
};

/* user_data: operation (8 bits) | generation (24 bits) | slot (32 bits) */
enum io_op {
	OP_ACCEPT = 1,
	OP_RECV,
	OP_SEND,
	OP_WAKE,
	OP_CANCEL,
};

static inline uint64_t io__ud(enum io_op op, uint32_t gen, uint32_t slot)
{
	return (uint64_t)op << 56 | (uint64_t)(gen & 0xffffff) << 32 | slot;
}

/* A close asked by serial from another thread (io_server_close_serial). */
struct io_admin {
	uint64_t serial;
	int code;
	char reason[124];
};

/* A message for reactor r: from its pool when small. NULL when out of memory. */
struct io_msg *reactor__msg_new(struct reactor *r, uint64_t cap);

/* conn.c: input and output of one connection, on its reactor */
void conn__input(struct io_conn *c, const uint8_t *p, size_t n);
void conn__close(struct io_conn *c, unsigned code, const char *why);
void conn__flush(struct io_conn *c);
void conn__sent(struct io_conn *c, int res);
void conn__drain_overflow(struct io_conn *c);
void conn__reset(struct io_conn *c);
void conn__ping(struct io_conn *c);
void conn__purge(struct io_conn *c, bool all); /* drops killed frames (all: every queued one) */
void conn__trim(struct io_conn *c);            /* drop-oldest: back under the limits */
void conn__drop(struct io_conn *c, struct io_msg *m); /* a queued frame that will not go out */
void reactor__wake(struct reactor *r);

/* reactor.c: services conn.c needs */
struct io_uring_sqe *reactor__sqe(struct reactor *r);
void reactor__notify_worker(struct io_conn *c);
void reactor__arm_recv(struct io_conn *c);
void reactor__stop_recv(struct io_conn *c);
void reactor__kill(struct io_conn *c);
void reactor__queue_rearm(struct io_conn *c);

#endif
