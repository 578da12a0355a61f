/*
 * sc_bench_conn: the client connections of sluice-bench, the epoll loop that
 * drives them, and the interface between them and the two protocols it
 * speaks (SocketCluster: sc_bench_sc.c; NATS: sc_bench_nats.c).
 *
 * Owns: non-blocking connect, the HTTP/1.1 upgrade (random key, 101 and
 * Sec-WebSocket-Accept checked), WebSocket framing both ways (masked frames
 * out, server frames parsed in place, fragments reassembled, pings answered,
 * the close frame's code), or no framing at all over plain TCP; the out
 * buffer and its flush; pausing a connection's reads. The protocol on top
 * owns its hello, its bytes and its packets; the scenario sees only the
 * protocol-neutral events of struct scb_ops.
 *
 * A connection's life; a failure ends the whole run (scb_fail), except that
 * a connection the server refused or closed (scb_lose) is handed to
 * ops->on_lost, which may carry on without it:
 *
 *   IDLE -start-> CONNECTING --EPOLLOUT--> UPGRADING --101--> HELLO -------> OPEN
 *                 (connect in progress)    (request sent)     | proto->hello  ops->on_open
 *                      |  plain TCP: no upgrade --------------'  ... scb_conn_opened
 *                      '--> CLOSED (scb_lose, on_lost said carry on; scb_conn_deinit)
 *
 * Threads: a loop and its connections belong to one thread, which makes
 * every call on them; the loop's callbacks run on that thread too.
 *
 * Staying out of the way (2 cores: every cycle here is one the server lacks):
 *
 *   - Sending: a protocol appends messages to the connection's out buffer
 *     (scb_conn_msg_begin/end) and the loop sends each connection's whole
 *     buffer with one send() per loop turn. A scenario that produces without
 *     end stops at SCB_OUT_SOFT bytes pending and is asked again next turn.
 *   - Framing: SocketCluster sends one text frame per packet, as
 *     socketcluster-client does. A byte-stream protocol over WebSocket (NATS)
 *     gets one binary frame per flush holding everything appended since the
 *     last one, as the NATS clients do: the frame's header is written into a
 *     gap reserved in front of the run when it is wrapped at flush time.
 *   - Masking: every frame gets a fresh mask key from a per-connection
 *     xorshift generator (RFC 6455 wants unpredictable keys against caching
 *     proxies; a fast generator is enough between us and a broker) and is
 *     masked in place, 8 bytes a step.
 *   - Receiving: one recv() per readable event into the loop's read buffer,
 *     after the bytes of the connection's unfinished frame or line (its
 *     carry); frames and lines are parsed where they lie.
 *
 * Nothing allocates per message: buffers grow to the largest need and stay.
 *
 * Errors: functions that can fail return 0 or -1; on -1, l->err says why
 * ("connection 7: ..."). Only the first error of a loop is kept.
 */
#ifndef SLUICE_PERF_SC_BENCH_CONN_H
#define SLUICE_PERF_SC_BENCH_CONN_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ws.h"

/* A producing scenario stops appending once this much waits to be sent. */
#define SCB_OUT_SOFT (256u * 1024)

/* Acknowledgements one connection may wait for at once (NATS PONGs). */
#define SCB_ACKS 8

struct scb_loop;
struct scb_conn;

enum scb_transport { SCB_WS, SCB_TCP };

/* A publish built once per run: copying it and marking the payload at
 * pay_off is all a publish costs. */
struct scb_tpl {
	uint8_t *buf;
	size_t len, pay_off;
};

/* A protocol: its hello, its parser and the operations scenarios use. Each
 * function returns 0 (input: bytes consumed), or -1 with l->err set. */
struct scb_proto {
	const char *name;	  /* "sc", "nats" */
	const char *default_path; /* the WebSocket path its servers use */
	bool stream;		  /* a byte stream (NATS), not one packet per message */
	/* c's transport is up (c in HELLO): start the protocol's handshake,
	 * which ends with scb_conn_opened */
	int (*hello)(struct scb_loop *l, struct scb_conn *c);
	/* bytes from the server, buf writable: for a message protocol one whole
	 * WebSocket text message (returns n); for a stream protocol the bytes
	 * so far, of which it returns how many it used (the rest comes again
	 * with more) */
	ssize_t (*input)(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t n);
	/* the publish of a size-byte payload to channel (the template of struct
	 * scb_tpl, malloc'ed) */
	int (*pub_tpl)(const char *channel, const uint8_t *payload, size_t size,
		       struct scb_tpl *t);
	/* subscribes c to channel; ops->on_reply(id) once the server has it */
	int (*subscribe)(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id);
	/* asks for ops->on_reply(id) after every message c sent before has
	 * been processed (SocketCluster: an invokePublish to channel; NATS: PING) */
	int (*barrier)(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id);
	/* the request `echo` with this payload; ops->on_reply(id, data) */
	int (*request)(struct scb_loop *l, struct scb_conn *c, int64_t id, const uint8_t *payload,
		       size_t size);
	/* answers a request delivered as a message with a reply subject; NULL
	 * when the server itself answers requests (SocketCluster procedures) */
	int (*respond)(struct scb_loop *l, struct scb_conn *c, const uint8_t *to, size_t to_len,
		       const uint8_t *data, size_t len);
};

extern const struct scb_proto scb_proto_sc, scb_proto_nats;

/* Where every connection of a run goes; read-only while the loop runs. */
struct scb_target {
	struct sockaddr_in addr;
	const char *host; /* as given, for the Host header and messages */
	const char *path;
	unsigned port;
	size_t max_msg; /* largest message accepted from the server */
	unsigned sources; /* a loopback target: source addresses 127.0.0.1..N */
	enum scb_transport transport;
	const struct scb_proto *proto;
};

enum scb_state {
	SCB_IDLE,
	SCB_CONNECTING,
	SCB_UPGRADING,
	SCB_HELLO,
	SCB_OPEN,
	SCB_CLOSED,
};

/* A publish delivered to a subscriber; spans into the read buffer. */
struct scb_msg {
	const uint8_t *channel;
	size_t channel_len;
	const uint8_t *data; /* the payload (SocketCluster: the string's contents) */
	size_t len;
	const uint8_t *reply; /* NATS: the reply subject; len 0 when none */
	size_t reply_len;
};

/* The answer to a subscribe, barrier or request. */
struct scb_reply {
	int64_t id;
	bool has_data;
	const uint8_t *data; /* a string's contents (SocketCluster), the payload (NATS) */
	size_t len;
	const uint8_t *error; /* NULL: none */
	size_t error_len;
};

struct scb_conn {
	int fd;
	unsigned id;	/* 0..n-1 over the run: messages, payload marks */
	unsigned role;	/* the scenario's */
	void *user;	/* the scenario's per-connection state */
	uint8_t state;	/* enum scb_state */
	uint8_t pstate; /* the protocol's */
	bool out_armed; /* EPOLLOUT is in the epoll set */
	bool blocked;	/* the socket buffer was full: wait for EPOLLOUT to flush */
	bool dirty;	/* on the loop's list of connections to pump and flush */
	bool paused;	/* out of the epoll set: nothing is read or flushed */
	bool inbox;	/* NATS: subscribe to its own inbox in the hello (requests) */
	struct scb_conn *next_dirty;
	int64_t next_cid; /* the next id of an invoke; the SocketCluster handshake took 1 */
	uint64_t rng;	  /* xorshift64 state of the mask keys */
	/* out buffer: bytes [out_head, out_tail) wait to be sent */
	uint8_t *out;
	size_t out_head, out_tail, out_cap;
	size_t open_at; /* of the message between msg_begin and msg_end */
	size_t open_len;
	bool open_msg;
	bool open_frame; /* the open message is a text frame (else raw bytes) */
	bool ws;	 /* over WebSocket (else plain TCP) */
	bool in_run;   /* a binary frame's bytes start at run_at, not yet wrapped */
	size_t run_at; /* after a gap of WS_MAX_HEADER bytes for the header */
	/* inbound: an unfinished frame (or response head, or line) between reads */
	uint8_t *carry;
	size_t carry_len, carry_cap;
	/* a fragmented message being put together */
	uint8_t *frag;
	size_t frag_len, frag_cap;
	uint8_t frag_opcode;
	bool in_frag;
	/* a stream protocol over WebSocket: bytes of frames not yet used, and
	 * the payload bytes of the current data frame still to come */
	uint64_t frame_left;
	uint8_t *sbuf;
	size_t sbuf_len, sbuf_cap;
	/* acknowledgements awaited in order (NATS PONGs), ids */
	int64_t acks[SCB_ACKS];
	uint8_t ack_head, ack_len;
	char key[25]; /* Sec-WebSocket-Key */
};

/* What the loop calls back; each returns 0, or -1 with the error set by
 * scb_fail, which ends the run. */
struct scb_ops {
	/* the protocol's handshake is done: c is OPEN */
	int (*on_open)(void *ud, struct scb_conn *c);
	/* a publish delivered to c */
	int (*on_msg)(void *ud, struct scb_conn *c, const struct scb_msg *m);
	/* the answer to one of c's subscribes, barriers or requests */
	int (*on_reply)(void *ud, struct scb_conn *c, const struct scb_reply *r);
	/* c is OPEN and on the dirty list: append what it has to send. Returns
	 * 1 to be asked again next turn (more to send once there is room), 0
	 * when done for now, -1 on error. */
	int (*pump)(void *ud, struct scb_conn *c);
	/* the server refused or closed c (close_code: of its WebSocket close
	 * frame, 0 when none; why: the message). 0: carry on, the loop closes c;
	 * -1: end the run with that message. NULL: always end the run. */
	int (*on_lost)(void *ud, struct scb_conn *c, unsigned close_code, const char *why);
};

struct scb_loop {
	int ep;
	const struct scb_target *t;
	const struct scb_ops *ops;
	void *ud;
	uint8_t *rbuf; /* carry + one recv */
	size_t rbuf_cap;
	struct scb_conn *dirty; /* to pump and flush at the start of the next turn */
	double now;		/* bench_now() after the latest epoll_wait or recv */
	uint64_t turns;
	/* set by scb_lose: the connection lost, and its close code */
	struct scb_conn *lost;
	unsigned lost_code;
	char err[256];
};

/* Creates l's epoll and read buffer. Returns 0, or -1 with l->err set;
 * scb_loop_deinit is due either way. */
int scb_loop_init(struct scb_loop *l, const struct scb_target *t, const struct scb_ops *ops,
		  void *ud);
void scb_loop_deinit(struct scb_loop *l);

/*
 * One turn: pumps and flushes every dirty connection (one send each), waits
 * for events (not at all when a connection stays dirty, else at most
 * timeout seconds, to the microsecond), then handles them: one recv per
 * readable connection, whose messages reach the protocol and from it the
 * ops, and connect/upgrade progress. Returns 0, or -1 with l->err set.
 */
int scb_loop_turn(struct scb_loop *l, double timeout);

/* Keeps the first error of the loop, prefixed with c's id when c is not
 * NULL. Returns -1. */
__attribute__((format(printf, 3, 4))) int scb_fail(struct scb_loop *l, const struct scb_conn *c,
						    const char *fmt, ...);

/* scb_fail for the server's doing: it refused or closed c, with WebSocket
 * close code (0: none). The loop offers c to ops->on_lost. Returns -1. */
__attribute__((format(printf, 4, 5))) int scb_lose(struct scb_loop *l, struct scb_conn *c,
						    unsigned code, const char *fmt, ...);

/* Starts a non-blocking connect; the loop takes the connection through the
 * upgrade and the protocol's hello. Returns 0, or -1 (with l->lost set when
 * the connect itself was refused); scb_conn_deinit is due either way. */
int scb_conn_start(struct scb_loop *l, struct scb_conn *c, unsigned id);

/* After a call on c failed: when the server refused or closed c (scb_lose)
 * and ops->on_lost carries on without it, closes c and returns 0 (the error
 * is cleared); else returns -1, the error kept. */
int scb_conn_lost(struct scb_loop *l, struct scb_conn *c);

/* The protocol's hello is over: c is OPEN; calls ops->on_open. */
int scb_conn_opened(struct scb_loop *l, struct scb_conn *c);

/* Sends a close frame (1000) if the buffer has room, without waiting, and
 * closes the socket; frees the buffers; c is CLOSED. Safe on a zeroed
 * connection with fd -1 and on one that failed to start. */
void scb_conn_deinit(struct scb_conn *c);

/* Puts c on the dirty list: it is pumped (when OPEN) and flushed at the
 * start of the next turn. */
void scb_conn_mark(struct scb_loop *l, struct scb_conn *c);

/* Takes c out of the epoll set: the server's bytes wait in the kernel (and
 * then in the server) until scb_conn_resume; nothing is flushed either.
 * Returns 0 or -1. */
int scb_conn_pause(struct scb_loop *l, struct scb_conn *c);
int scb_conn_resume(struct scb_loop *l, struct scb_conn *c);

/* Bytes appended and not yet taken by the kernel. */
static inline size_t scb_conn_pending(const struct scb_conn *c)
{
	return c->out_tail - c->out_head;
}

/*
 * Opens one protocol message of exactly len bytes at the end of c's out
 * buffer (growing it when needed) and returns where the caller writes them;
 * scb_conn_msg_end frames (WebSocket: masks) and commits it. Marks c dirty.
 * Returns NULL (l->err set) only when out of memory. One message at a time.
 */
uint8_t *scb_conn_msg_begin(struct scb_loop *l, struct scb_conn *c, size_t len);
void scb_conn_msg_end(struct scb_conn *c);

/* msg_begin, a copy of p[0, len), msg_end. Returns 0 or -1. */
int scb_conn_send(struct scb_loop *l, struct scb_conn *c, const void *p, size_t len);

/* The same for a printf-formatted message of at most 1 KiB. */
__attribute__((format(printf, 3, 4))) int scb_conn_send_fmt(struct scb_loop *l, struct scb_conn *c,
							     const char *fmt, ...);

/* The id of a new invoke (subscribe, barrier, request) on c: 2, 3, ... */
static inline int64_t scb_conn_cid(struct scb_conn *c)
{
	return c->next_cid++;
}

/* The acknowledgement FIFO of a protocol that answers in order without ids
 * (NATS PONG). push returns 0, or -1 (l->err set) when SCB_ACKS wait. */
int scb_conn_ack_push(struct scb_loop *l, struct scb_conn *c, int64_t id);
/* The oldest id awaited; false when none. */
bool scb_conn_ack_pop(struct scb_conn *c, int64_t *id);

#endif
