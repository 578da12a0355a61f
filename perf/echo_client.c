/*
 * echo_client: see echo_client.h for the send ring and the threads. This
 * file owns the bytes of one connection: the upgrade, the payload's sequence
 * marks, the ring cursors and the inbound frame state. The only syscalls of
 * the steady state are one recv per readable event and one sendmsg per loop
 * turn; nothing allocates after echo_conn_init.
 */
#define _GNU_SOURCE
#include "echo_client.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"

#define READ_BUF      (256 * 1024)
#define HANDSHAKE_MAX 4096

/* Keeps the first error of ctx, prefixed with the connection's id. Returns
 * -1 so callers can `return fail(...)`. */
__attribute__((format(printf, 3, 4))) static int
fail(struct echo_ctx *ctx, const struct echo_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (ctx->err[0])
		return -1;
	if (c)
		n = snprintf(ctx->err, sizeof(ctx->err), "connection %u: ", c->id);
	va_start(ap, fmt);
	vsnprintf(ctx->err + n, sizeof(ctx->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- payload: what each message carries ------------------------------ */

static void hex8(uint32_t v, uint8_t out[ECHO_SEQ_LEN])
{
	static const char digits[] = "0123456789abcdef";

	for (int i = ECHO_SEQ_LEN - 1; i >= 0; i--, v >>= 4)
		out[i] = (uint8_t)digits[v & 15];
}

/* The head names the message; the tail also names the connection, so an
 * echo sent back on the wrong connection or cut and spliced does not pass. */
static void seq_head(uint64_t seq, uint8_t out[ECHO_SEQ_LEN])
{
	hex8((uint32_t)seq, out);
}

static void seq_tail(uint64_t seq, unsigned conn_id, uint8_t out[ECHO_SEQ_LEN])
{
	hex8((uint32_t)seq * 0x9E3779B1u ^ (conn_id * 0x85EBCA77u), out);
}

static int random_bytes(void *p, size_t n)
{
	for (size_t got = 0; got < n;) {
		ssize_t r = getrandom((uint8_t *)p + got, n - got, 0);

		if (r < 0 && errno != EINTR)
			return -errno;
		if (r > 0)
			got += (size_t)r;
	}
	return 0;
}

/* ---- setup: connect, upgrade, build the ring --------------------------- */

int echo_ctx_init(struct echo_ctx *ctx, const struct echo_cfg *cfg)
{
	*ctx = (struct echo_ctx){.cfg = cfg, .ep = -1};
	ctx->opcode = cfg->binary ? WS_OP_BINARY : WS_OP_TEXT;
	ctx->hdr_len = cfg->size < 126 ? 6 : cfg->size <= 0xFFFF ? 8 : 14;
	ctx->frame_len = ctx->hdr_len + cfg->size;
	ctx->ep = epoll_create1(EPOLL_CLOEXEC);
	if (ctx->ep < 0)
		return fail(ctx, NULL, "epoll_create1: %s", strerror(errno));
	ctx->rbuf = malloc(READ_BUF);
	if (!ctx->rbuf)
		return fail(ctx, NULL, "out of memory for the read buffer");
	return 0;
}

void echo_ctx_deinit(struct echo_ctx *ctx)
{
	if (ctx->ep >= 0)
		close(ctx->ep);
	ctx->ep = -1;
	free(ctx->rbuf);
	ctx->rbuf = NULL;
}

/* The server's answer to the upgrade: status 101 and the
 * Sec-WebSocket-Accept that matches our key (io/http.h checks it). */
static int check_upgrade(struct echo_ctx *ctx, const struct echo_conn *c, const char *head,
			 size_t head_len, const char *key)
{
	const char *why, *detail;
	int n;

	if (http_check_upgrade_response(head, head_len, key, &why, &detail, &n) < 0)
		return fail(ctx, c, "%s: %.*s", why, n, detail);
	return 0;
}

/* Blocking connect and handshake under a timeout, then non-blocking for the
 * run. Bytes the server sent after its 101 stay in c->carry. */
static int conn_upgrade(struct echo_ctx *ctx, struct echo_conn *c)
{
	const struct echo_cfg *cfg = ctx->cfg;
	struct timeval tv = {.tv_sec = 5};
	uint8_t nonce[16];
	char key[25], buf[HANDSHAKE_MAX];
	const char *eoh = NULL;
	size_t len = 0;
	int one = 1, n;

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return fail(ctx, c, "socket: %s", strerror(errno));
	/* every batch ends in a partial segment that Nagle would hold back */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(c->fd, (const struct sockaddr *)&cfg->addr, sizeof(cfg->addr)) < 0)
		return fail(ctx, c, "connect %s:%u: %s", cfg->host, cfg->port, strerror(errno));

	if (random_bytes(nonce, sizeof(nonce)) < 0)
		return fail(ctx, c, "getrandom: %s", strerror(errno));
	http_ws_client_key(nonce, key);
	n = snprintf(buf, sizeof(buf),
		     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     cfg->path, cfg->host, cfg->port, key);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return fail(ctx, c, "upgrade request too long");
	if (send(c->fd, buf, (size_t)n, MSG_NOSIGNAL) != n)
		return fail(ctx, c, "sending the upgrade: %s", strerror(errno));

	while (!eoh) {
		ssize_t r = recv(c->fd, buf + len, sizeof(buf) - 1 - len, 0);

		if (r <= 0)
			return fail(ctx, c, "reading the upgrade response: %s",
				    r == 0 ? "connection closed" : strerror(errno));
		len += (size_t)r;
		eoh = memmem(buf, len, "\r\n\r\n", 4);
		if (!eoh && len == sizeof(buf) - 1)
			return fail(ctx, c, "upgrade response head over %d bytes", HANDSHAKE_MAX);
	}
	if (check_upgrade(ctx, c, buf, (size_t)(eoh + 2 - buf), key) < 0)
		return -1;
	c->carry_len = len - (size_t)(eoh + 4 - buf);
	if (c->carry_len > sizeof(c->carry))
		return fail(ctx, c, "server sent %zu bytes before any message", c->carry_len);
	memcpy(c->carry, eoh + 4, c->carry_len);
	if (fcntl(c->fd, F_SETFL, O_NONBLOCK) < 0)
		return fail(ctx, c, "fcntl: %s", strerror(errno));
	return 0;
}

/* Every slot gets its own mask key, its header and the masked filler; only
 * the sequence marks change afterwards. */
static int conn_build_ring(struct echo_ctx *ctx, struct echo_conn *c)
{
	const struct echo_cfg *cfg = ctx->cfg;

	c->ring = malloc((size_t)cfg->pipeline * ctx->frame_len);
	if (!c->ring)
		return fail(ctx, c, "out of memory for the send ring");
	for (unsigned s = 0; s < cfg->pipeline; s++) {
		uint8_t *slot = c->ring + (size_t)s * ctx->frame_len, hdr[WS_MAX_HEADER], key[4];

		if (random_bytes(key, sizeof(key)) < 0)
			return fail(ctx, c, "getrandom: %s", strerror(errno));
		if (ws_encode_header_masked(hdr, true, ctx->opcode, cfg->size, key) != ctx->hdr_len)
			return fail(ctx, c, "frame header length disagrees with ws.h");
		memcpy(slot, hdr, ctx->hdr_len);
		ws_unmask(slot + ctx->hdr_len, cfg->filler, cfg->size, key, 0);
	}
	return 0;
}

int echo_conn_init(struct echo_ctx *ctx, struct echo_conn *c, unsigned id)
{
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};

	*c = (struct echo_conn){.fd = -1, .id = id};
	if (conn_upgrade(ctx, c) < 0 || conn_build_ring(ctx, c) < 0)
		return -1;
	if (epoll_ctl(ctx->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return fail(ctx, c, "epoll_ctl: %s", strerror(errno));
	return 0;
}

void echo_conn_deinit(struct echo_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->ring);
	c->ring = NULL;
}

/* ---- sending ------------------------------------------------------------ */

/* Writes the next messages into free slots until K are in flight. */
static void conn_fill(struct echo_ctx *ctx, struct echo_conn *c)
{
	const size_t size = ctx->cfg->size;
	const unsigned k = ctx->cfg->pipeline;
	uint8_t mark[ECHO_SEQ_LEN];

	for (; c->built - c->echoed < k; c->built++) {
		uint8_t *payload = c->ring + (size_t)(c->built % k) * ctx->frame_len + ctx->hdr_len;
		const uint8_t *key = payload - 4;

		seq_head(c->built, mark);
		ws_unmask(payload, mark, ECHO_SEQ_LEN, key, 0);
		if (size >= 2 * ECHO_SEQ_LEN) {
			seq_tail(c->built, c->id, mark);
			ws_unmask(payload + size - ECHO_SEQ_LEN, mark, ECHO_SEQ_LEN, key,
				  size - ECHO_SEQ_LEN);
		}
	}
}

static int conn_arm_out(struct echo_ctx *ctx, struct echo_conn *c, bool on)
{
	struct epoll_event ev = {.events = EPOLLIN | (on ? EPOLLOUT : 0), .data.ptr = c};

	if (c->out_armed == on)
		return 0;
	if (epoll_ctl(ctx->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return fail(ctx, c, "epoll_ctl: %s", strerror(errno));
	c->out_armed = on;
	return 0;
}

/* One sendmsg: a pending pong, which may only start between two ring
 * frames, then the ring from sent to built. */
static int conn_flush(struct echo_ctx *ctx, struct echo_conn *c)
{
	const size_t ring_len = (size_t)ctx->cfg->pipeline * ctx->frame_len;
	const uint64_t pending = c->built * ctx->frame_len - c->sent_bytes;
	size_t pong_left = c->pong_len - c->pong_off;
	struct iovec iov[3];
	struct msghdr mh = {.msg_iov = iov};
	ssize_t r;

	if (pong_left && c->pong_off == 0 && c->sent_bytes % ctx->frame_len != 0)
		pong_left = 0;
	if (pong_left)
		iov[mh.msg_iovlen++] = (struct iovec){c->pong + c->pong_off, pong_left};
	if (pending) {
		size_t at = (size_t)(c->sent_bytes % ring_len);

		if (pending > ring_len - at) {
			iov[mh.msg_iovlen++] = (struct iovec){c->ring + at, ring_len - at};
			iov[mh.msg_iovlen++] = (struct iovec){c->ring, pending - (ring_len - at)};
		} else {
			iov[mh.msg_iovlen++] = (struct iovec){c->ring + at, (size_t)pending};
		}
	}
	if (mh.msg_iovlen == 0)
		return conn_arm_out(ctx, c, false);

	r = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return conn_arm_out(ctx, c, true);
		return fail(ctx, c, "send: %s", strerror(errno));
	}
	if ((size_t)r < pong_left) {
		c->pong_off += (size_t)r;
		return conn_arm_out(ctx, c, true);
	}
	if (pong_left)
		c->pong_len = c->pong_off = 0;
	c->sent_bytes += (uint64_t)r - pong_left;
	return conn_arm_out(ctx, c, c->pong_len != 0 || c->sent_bytes != c->built * ctx->frame_len);
}

int echo_conn_pump(struct echo_ctx *ctx, struct echo_conn *c)
{
	conn_fill(ctx, c);
	return conn_flush(ctx, c);
}

/* ---- receiving ---------------------------------------------------------- */

/* A whole echo arrived: it must be the next seq sent, of the same length
 * and opcode, with the marks we put at each end. */
static int conn_check_echo(struct echo_ctx *ctx, struct echo_conn *c)
{
	const size_t size = ctx->cfg->size;
	const unsigned long long seq = c->echoed;
	uint8_t want[ECHO_SEQ_LEN];

	c->in_msg = false;
	if (c->echoed >= c->built)
		return fail(ctx, c, "a message we never sent (%llu sent)",
			    (unsigned long long)c->built);
	if (c->msg_opcode != ctx->opcode)
		return fail(ctx, c, "echo of message %llu has opcode %u, sent %u", seq,
			    c->msg_opcode, ctx->opcode);
	if (c->msg_len != size)
		return fail(ctx, c, "echo of message %llu is %llu bytes, sent %zu", seq,
			    (unsigned long long)c->msg_len, size);
	seq_head(c->echoed, want);
	if (memcmp(c->head, want, ECHO_SEQ_LEN) != 0)
		return fail(ctx, c, "echo out of order or altered: expected head %.8s, got %.8s",
			    (const char *)want, (const char *)c->head);
	if (size >= 2 * ECHO_SEQ_LEN) {
		seq_tail(c->echoed, c->id, want);
		if (memcmp(c->tail, want, ECHO_SEQ_LEN) != 0)
			return fail(ctx, c, "echo of message %llu altered at its end", seq);
	}
	c->echoed++;
	ctx->echoed++;
	return 0;
}

/* Payload bytes of a data frame going by: keep the message's first and
 * last ECHO_SEQ_LEN. */
static void conn_capture(struct echo_conn *c, const uint8_t *p, size_t n)
{
	if (c->msg_len < ECHO_SEQ_LEN)
		memcpy(c->head + c->msg_len, p,
		       n < ECHO_SEQ_LEN - c->msg_len ? n : ECHO_SEQ_LEN - c->msg_len);
	if (n >= ECHO_SEQ_LEN) {
		memcpy(c->tail, p + n - ECHO_SEQ_LEN, ECHO_SEQ_LEN);
	} else {
		memmove(c->tail, c->tail + n, ECHO_SEQ_LEN - n);
		memcpy(c->tail + ECHO_SEQ_LEN - n, p, n);
	}
	c->msg_len += n;
}

static int conn_control(struct echo_ctx *ctx, struct echo_conn *c, const struct ws_header *h,
			const uint8_t *payload)
{
	uint16_t code = 0;
	const uint8_t *reason = NULL;
	size_t reason_len = 0;
	uint8_t key[4];

	switch (h->opcode) {
	case WS_OP_PING:
		/* RFC 6455 5.5.3: answering the latest ping is enough, so a newer
		 * one replaces a pong not yet started */
		if (c->pong_off)
			return 0;
		if (random_bytes(key, sizeof(key)) < 0)
			return fail(ctx, c, "getrandom: %s", strerror(errno));
		c->pong_len = ws_encode_header_masked(c->pong, true, WS_OP_PONG, h->len, key);
		ws_unmask(c->pong + c->pong_len, payload, (size_t)h->len, key, 0);
		c->pong_len += (size_t)h->len;
		return 0;
	case WS_OP_CLOSE:
		ws_parse_close_payload(payload, (size_t)h->len, &code, &reason, &reason_len);
		return fail(ctx, c, "server closed the WebSocket: %u %.*s", code, (int)reason_len,
			    reason ? (const char *)reason : "");
	default:
		return 0; /* an unsolicited pong is allowed and means nothing */
	}
}

/* Streams data payloads through conn_capture; keeps an unfinished header
 * or control frame in c->carry for the next read. */
static int conn_parse(struct echo_ctx *ctx, struct echo_conn *c, const uint8_t *p, size_t len)
{
	const size_t size = ctx->cfg->size;
	size_t off = 0;

	while (off < len) {
		struct ws_header h;
		int hl;

		if (c->frame_left) {
			size_t n = len - off < c->frame_left ? len - off : (size_t)c->frame_left;

			conn_capture(c, p + off, n);
			off += n;
			c->frame_left -= n;
			if (!c->frame_left && c->frame_fin && conn_check_echo(ctx, c) < 0)
				return -1;
			continue;
		}
		hl = ws_parse_header_client(p + off, len - off, &h);
		if (hl < 0)
			return fail(ctx, c, "bad frame from server: %s", ws_strerror(hl));
		if (hl == 0)
			break;
		if (ws_opcode_is_control(h.opcode)) {
			if (len - off < (size_t)hl + h.len)
				break;
			if (conn_control(ctx, c, &h, p + off + hl) < 0)
				return -1;
			off += (size_t)hl + (size_t)h.len;
			continue;
		}
		if ((h.opcode == WS_OP_CONT) != c->in_msg)
			return fail(ctx, c, "bad fragmentation from server (opcode %u)", h.opcode);
		if (!c->in_msg) {
			c->in_msg = true;
			c->msg_opcode = h.opcode;
			c->msg_len = 0;
		}
		if (h.len > size - c->msg_len)
			return fail(ctx, c, "echo of message %llu longer than the %zu bytes sent",
				    (unsigned long long)c->echoed, size);
		off += (size_t)hl;
		c->frame_left = h.len;
		c->frame_fin = h.fin;
		if (!h.len && h.fin && conn_check_echo(ctx, c) < 0)
			return -1;
	}
	/* what is left is under a header, or under a whole control frame */
	c->carry_len = len - off;
	assert(c->carry_len <= sizeof(c->carry));
	memcpy(c->carry, p + off, c->carry_len);
	return 0;
}

int echo_conn_read(struct echo_ctx *ctx, struct echo_conn *c)
{
	ssize_t r;

	memcpy(ctx->rbuf, c->carry, c->carry_len);
	r = recv(c->fd, ctx->rbuf + c->carry_len, READ_BUF - c->carry_len, MSG_DONTWAIT);
	if (r == 0)
		return fail(ctx, c, "server closed the connection");
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return fail(ctx, c, "recv: %s", strerror(errno));
	}
	return conn_parse(ctx, c, ctx->rbuf, c->carry_len + (size_t)r);
}
