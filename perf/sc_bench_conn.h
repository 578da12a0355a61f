/*
 * sc_bench_conn: the SocketCluster client connections of sluice-bench and
 * the epoll loop that drives them.
 *
 * Owns: non-blocking connect, the HTTP/1.1 upgrade (random key, 101 and
 * Sec-WebSocket-Accept checked), the `#handshake` invoke and its reply,
 * keep-alive (WebSocket pings, SocketCluster v2 "" and v1 "#1" pings), the
 * masked text frames a scenario sends, the frames the server sends (parsed
 * in place, fragments reassembled), and the classification of every message
 * into packets for the scenario.
 *
 * A connection's life; any failure ends the whole run (scb_fail):
 *
 *   CONNECTING --EPOLLOUT--> UPGRADING --101--> HANDSHAKING --{"rid":1}--> OPEN
 *   (connect in progress)    (request sent)     (#handshake cid 1 sent)   ops->on_open
 *
 * Threads: a loop and its connections belong to one thread, which makes
 * every call on them; the loop's callbacks run on that thread too.
 *
 * Staying out of the way (2 cores: every cycle here is one the server lacks):
 *
 *   - Sending: a scenario appends frames to the connection's out buffer
 *     (scb_conn_text_begin/end) and the loop sends each connection's whole
 *     buffer with one send() per loop turn. A scenario that produces without
 *     end stops at SCB_OUT_SOFT bytes pending and is asked again next turn.
 *   - Masking: every frame gets a fresh mask key from a per-connection
 *     xorshift generator (RFC 6455 wants unpredictable keys against caching
 *     proxies; a fast generator is enough between us and a broker) and is
 *     masked in place, 8 bytes a step.
 *   - Receiving: one recv() per readable event into the loop's read buffer,
 *     after the bytes of the connection's unfinished frame (its carry);
 *     frames are parsed where they lie. The two packets that a benchmark
 *     receives by the million, a `#publish` delivery of a plain string and a
 *     reply `{"rid":N}` or `{"rid":N,"data":"..."}`, are recognised by their
 *     exact bytes; anything else goes through packet_parse (broker/packet.h),
 *     batches included. Both ways yield the same struct packet.
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

#include "packet.h"
#include "ws.h"

/* A producing scenario stops appending once this much waits to be sent. */
#define SCB_OUT_SOFT (256u * 1024)

/* Where every connection of a run goes; read-only while the loop runs. */
struct scb_target {
	struct sockaddr_in addr;
	const char *host; /* as given, for the Host header and messages */
	const char *path;
	unsigned port;
	size_t max_msg; /* largest message accepted from the server */
};

enum scb_state {
	SCB_CONNECTING,
	SCB_UPGRADING,
	SCB_HANDSHAKING,
	SCB_OPEN,
};

struct scb_conn {
	int fd;
	unsigned id;	/* 0..n-1 over the run: messages, payload marks */
	unsigned role;	/* the scenario's */
	void *user;	/* the scenario's per-connection state */
	uint8_t state;	/* enum scb_state */
	bool out_armed; /* EPOLLOUT is in the epoll set */
	bool blocked;	/* the socket buffer was full: wait for EPOLLOUT to flush */
	bool dirty;	/* on the loop's list of connections to pump and flush */
	struct scb_conn *next_dirty;
	int64_t next_cid; /* the cid of the next invoke; the handshake took 1 */
	uint64_t rng;	  /* xorshift64 state of the mask keys */
	/* out buffer: bytes [out_head, out_tail) wait to be sent */
	uint8_t *out;
	size_t out_head, out_tail, out_cap;
	size_t open_at; /* of the frame between text_begin and text_end */
	size_t open_len;
	bool open_frame;
	/* inbound: an unfinished frame (or response head) between reads */
	uint8_t *carry;
	size_t carry_len, carry_cap;
	/* a fragmented message being put together */
	uint8_t *frag;
	size_t frag_len, frag_cap;
	uint8_t frag_opcode;
	bool in_frag;
	char key[25]; /* Sec-WebSocket-Key */
};

struct scb_loop;

/* What the loop calls back; each returns 0, or -1 with the error set by
 * scb_fail, which ends the run. */
struct scb_ops {
	/* the handshake reply arrived: c is OPEN */
	int (*on_open)(void *ud, struct scb_conn *c);
	/* a packet (event or reply) on an OPEN connection; spans are into buf */
	int (*on_packet)(void *ud, struct scb_conn *c, const uint8_t *buf, const struct packet *p);
	/* c is OPEN and on the dirty list: append what it has to send. Returns
	 * 1 to be asked again next turn (more to send once there is room), 0
	 * when done for now, -1 on error. */
	int (*pump)(void *ud, struct scb_conn *c);
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
 * timeout_ms), then handles them: one recv per readable connection, whose
 * packets reach ops->on_packet, and connect/upgrade/handshake progress.
 * Returns 0, or -1 with l->err set.
 */
int scb_loop_turn(struct scb_loop *l, int timeout_ms);

/* Keeps the first error of the loop, prefixed with c's id when c is not
 * NULL. Returns -1. */
__attribute__((format(printf, 3, 4))) int scb_fail(struct scb_loop *l, const struct scb_conn *c,
						    const char *fmt, ...);

/* Starts a non-blocking connect; the loop takes the connection through the
 * upgrade and the handshake. Returns 0, or -1; scb_conn_deinit is due either
 * way. */
int scb_conn_start(struct scb_loop *l, struct scb_conn *c, unsigned id);

/* Sends a close frame (1000) if the buffer has room, without waiting, and
 * closes the socket; frees the buffers. Safe on a zeroed connection with
 * fd -1 and on one that failed to start. */
void scb_conn_deinit(struct scb_conn *c);

/* Puts c on the dirty list: it is pumped (when OPEN) and flushed at the
 * start of the next turn. */
void scb_conn_mark(struct scb_loop *l, struct scb_conn *c);

/* Bytes appended and not yet taken by the kernel. */
static inline size_t scb_conn_pending(const struct scb_conn *c)
{
	return c->out_tail - c->out_head;
}

/*
 * Opens a text frame of exactly len payload bytes at the end of c's out
 * buffer (growing it when needed) and returns where the caller writes them,
 * unmasked; scb_conn_text_end masks and commits the frame. Marks c dirty.
 * Returns NULL (l->err set) only when out of memory. One frame at a time.
 */
uint8_t *scb_conn_text_begin(struct scb_loop *l, struct scb_conn *c, size_t len);
void scb_conn_text_end(struct scb_conn *c);

/* text_begin, a copy of p[0, len), text_end. Returns 0 or -1. */
int scb_conn_send_text(struct scb_loop *l, struct scb_conn *c, const void *p, size_t len);

/* The same for a printf-formatted packet of at most 1 KiB. */
__attribute__((format(printf, 3, 4))) int scb_conn_send_fmt(struct scb_loop *l, struct scb_conn *c,
							     const char *fmt, ...);

/* The cid of a new invoke on c: 2, 3, ... */
static inline int64_t scb_conn_cid(struct scb_conn *c)
{
	return c->next_cid++;
}

/* The text of a span of buf, for messages. */
#define SCB_SPAN(buf, s) (int)(s).len, (const char *)(buf) + (s).off

#endif
