/*
 * echo_client: one WebSocket client connection of bench_echo, from the
 * HTTP/1.1 upgrade to the check of every echo.
 *
 * Owns: the upgrade (random Sec-WebSocket-Key, 101 and Sec-WebSocket-Accept
 * checked), a send ring of prebuilt masked frames, the streaming check of
 * echoes, answers to pings.
 *
 * Threads: a connection and its echo_ctx belong to one thread, which makes
 * every call on them; an echo_cfg is read-only and shared by all threads.
 *
 * Staying out of the way: a connection's frames are built once, at setup, in
 * a ring of K slots that doubles as its write buffer.
 *
 *     +--------+--------+--------+-----+----------+
 *     | slot 0 | slot 1 | slot 2 | ... | slot K-1 |   slot = masked header + size bytes
 *     +--------+--------+--------+-----+----------+
 *          ^echoed       ^sent          ^built        (cursors modulo the ring)
 *
 *     echoed <= sent <= built <= echoed + K            (sent counts bytes)
 *
 * Message seq lives in slot seq % K. Sending it rewrites the 8 bytes at each
 * end of the payload, which carry seq, and nothing else; the bytes from sent
 * to built are contiguous modulo the ring, so one sendmsg of at most two
 * iovecs (three with a pong) per connection per loop turn sends them all. A
 * slot is rewritten only after its echo came back, hence after it was fully
 * sent. Echoes are checked as they stream through, never buffered: a thread
 * reads into one buffer, and a connection keeps only an unfinished frame
 * header (or control frame) between reads.
 *
 * Each slot keeps its mask key for the whole run. RFC 6455 wants a fresh,
 * unpredictable key per frame, against proxies that cache; a server's work
 * does not depend on the key, and a fresh key would have the client re-mask
 * every payload, as much memory traffic as the server's unmasking.
 *
 * Errors: the functions that can fail return 0 or -1; on -1, ctx->err says
 * why ("connection 7: ..."). Only the first error of a context is kept.
 */
#ifndef SLUICE_PERF_ECHO_CLIENT_H
#define SLUICE_PERF_ECHO_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "ws.h"

/* The sequence number's place: 8 hex digits at each end of the payload
 * (the tail only when the payload has room for both). */
#define ECHO_SEQ_LEN 8

/* What every connection of a run shares; the caller fills it, and it stays
 * unchanged while any context uses it. */
struct echo_cfg {
	struct sockaddr_in addr;
	const char *host; /* as given: the Host header and messages */
	const char *path;
	unsigned port;
	unsigned pipeline;     /* K, messages in flight per connection */
	size_t size;	       /* payload bytes of every message, >= ECHO_SEQ_LEN */
	const uint8_t *filler; /* size bytes of printable ASCII: valid text */
	bool binary;
};

/* One thread's side: its epoll, its read buffer, its count of echoes. */
struct echo_ctx {
	const struct echo_cfg *cfg;
	int ep;
	uint8_t opcode;	  /* WS_OP_TEXT or WS_OP_BINARY */
	size_t hdr_len;	  /* of every data frame, mask key included */
	size_t frame_len; /* hdr_len + size: one ring slot */
	uint64_t echoed;  /* echoes checked, over all its connections */
	uint8_t *rbuf;
	char err[256];
};

/* An unfinished frame header, or a whole control frame, kept between reads. */
#define ECHO_CARRY_MAX (WS_MAX_HEADER + WS_MAX_CONTROL_LEN)

struct echo_conn {
	int fd;
	unsigned id; /* 0..C-1 over the run: messages and the tail tag */
	bool out_armed;
	uint8_t *ring;	     /* K slots of frame_len bytes */
	uint64_t built;	     /* messages written into the ring: the next seq to send */
	uint64_t sent_bytes; /* ring bytes handed to the kernel since the start */
	uint64_t echoed;     /* echoes received and checked: the next seq expected */
	/* the echo being received */
	uint64_t frame_left; /* payload bytes of the current data frame still to come */
	uint64_t msg_len;    /* payload bytes of the current message so far */
	bool frame_fin;
	bool in_msg;
	uint8_t msg_opcode;
	uint8_t head[ECHO_SEQ_LEN];
	uint8_t tail[ECHO_SEQ_LEN];
	size_t carry_len;
	uint8_t carry[ECHO_CARRY_MAX];
	/* the answer to the latest ping, sent between two ring frames */
	size_t pong_len;
	size_t pong_off;
	uint8_t pong[WS_MAX_HEADER + WS_MAX_CONTROL_LEN];
};

/* Creates ctx's epoll and read buffer for connections of cfg. Returns 0, or
 * -1 with ctx->err set; echo_ctx_deinit is due either way. */
int echo_ctx_init(struct echo_ctx *ctx, const struct echo_cfg *cfg);
void echo_ctx_deinit(struct echo_ctx *ctx);

/*
 * Connects, upgrades (blocking, 5 s timeouts), builds the send ring and adds
 * the socket, now non-blocking, to ctx's epoll with c as its data.ptr.
 * Nothing is sent yet. Returns 0, or -1 with ctx->err set; echo_conn_deinit
 * is due either way.
 */
int echo_conn_init(struct echo_ctx *ctx, struct echo_conn *c, unsigned id);

/* Closes the socket and frees the ring. */
void echo_conn_deinit(struct echo_conn *c);

/* One read, and the check of every echo it completes. Call it when epoll
 * reports EPOLLIN, EPOLLERR or EPOLLHUP. Returns 0, or -1 (ctx->err) when the
 * server sent something else than the echo due, broke the framing, closed the
 * WebSocket or the connection, or the read failed. */
int echo_conn_read(struct echo_ctx *ctx, struct echo_conn *c);

/* Tops the connection up to K messages in flight and sends whatever is
 * ready in one sendmsg; EPOLLOUT is armed only while the socket buffer is
 * full. Call it once per loop turn for each connection that had an event,
 * and once to start. Returns 0, or -1 (ctx->err). */
int echo_conn_pump(struct echo_ctx *ctx, struct echo_conn *c);

#endif
