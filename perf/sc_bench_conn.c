/*
 * sc_bench_conn: see sc_bench_conn.h for the connection's states, the out
 * buffer and the read path. This file owns the bytes: the upgrade, frame
 * encoding and parsing, keep-alive answers, the packet fast paths.
 *
 * Out buffer of one connection:
 *
 *     0          out_head              out_tail        out_cap
 *     |  sent    |  waiting for send() |  free          |
 *
 * Appending needs the free part; when it is short, the waiting bytes move
 * to the front first, and the buffer doubles only when that is not enough.
 * A send() that takes part of the waiting bytes means the socket buffer is
 * full: the connection is `blocked` until epoll reports EPOLLOUT, and is not
 * flushed again before.
 */
#include "bench.h"

#include "sc_bench_conn.h"

#include <assert.h>
#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "http.h"

#define READ_CHUNK  (256u * 1024)
#define HEAD_MAX    4096 /* the server's response to the upgrade */
#define MAX_EVENTS  256
#define OUT_INITIAL 4096

static const char handshake[] = "{\"event\":\"#handshake\",\"data\":{\"authToken\":null},\"cid\":1}";

int scb_fail(struct scb_loop *l, const struct scb_conn *c, const char *fmt, ...)
{
	va_list ap;
	int n = 0;

	if (l->err[0])
		return -1;
	if (c)
		n = snprintf(l->err, sizeof(l->err), "connection %u: ", c->id);
	va_start(ap, fmt);
	vsnprintf(l->err + n, sizeof(l->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return -1;
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

static uint32_t next_key(struct scb_conn *c)
{
	uint64_t x = c->rng;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	c->rng = x;
	return (uint32_t)(x >> 16);
}

static void base64_16(const uint8_t in[16], char out[25])
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;

	for (size_t i = 0; i < 15; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = tab[v >> 6 & 63];
		out[o++] = tab[v & 63];
	}
	out[o++] = tab[in[15] >> 2];
	out[o++] = tab[(in[15] & 3) << 4];
	out[o++] = '=';
	out[o++] = '=';
	out[o] = '\0';
}

/* ---- the loop ------------------------------------------------------------ */

int scb_loop_init(struct scb_loop *l, const struct scb_target *t, const struct scb_ops *ops,
		  void *ud)
{
	size_t carry_max = t->max_msg + WS_MAX_HEADER > HEAD_MAX ? t->max_msg + WS_MAX_HEADER
								  : HEAD_MAX;

	*l = (struct scb_loop){.ep = -1, .t = t, .ops = ops, .ud = ud, .now = bench_now()};
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (l->ep < 0)
		return scb_fail(l, NULL, "epoll_create1: %s", strerror(errno));
	l->rbuf_cap = carry_max + READ_CHUNK;
	l->rbuf = malloc(l->rbuf_cap);
	if (!l->rbuf)
		return scb_fail(l, NULL, "out of memory for the read buffer");
	return 0;
}

void scb_loop_deinit(struct scb_loop *l)
{
	if (l->ep >= 0)
		close(l->ep);
	l->ep = -1;
	free(l->rbuf);
	l->rbuf = NULL;
}

void scb_conn_mark(struct scb_loop *l, struct scb_conn *c)
{
	if (c->dirty)
		return;
	c->dirty = true;
	c->next_dirty = l->dirty;
	l->dirty = c;
}

static int conn_watch(struct scb_loop *l, struct scb_conn *c, bool out)
{
	struct epoll_event ev = {.events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c};

	if (c->out_armed == out)
		return 0;
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->out_armed = out;
	return 0;
}

/* ---- out buffer ---------------------------------------------------------- */

/* Room for n more bytes at out_tail; NULL when out of memory. */
static uint8_t *out_reserve(struct scb_loop *l, struct scb_conn *c, size_t n)
{
	size_t cap;
	uint8_t *p;

	if (c->out_cap - c->out_tail >= n)
		return c->out + c->out_tail;
	if (c->out_head) {
		memmove(c->out, c->out + c->out_head, c->out_tail - c->out_head);
		c->out_tail -= c->out_head;
		c->out_head = 0;
		if (c->out_cap - c->out_tail >= n)
			return c->out + c->out_tail;
	}
	for (cap = c->out_cap ? c->out_cap : OUT_INITIAL; cap - c->out_tail < n; cap *= 2)
		;
	p = realloc(c->out, cap);
	if (!p) {
		scb_fail(l, c, "out of memory for a %zu-byte send buffer", cap);
		return NULL;
	}
	c->out = p;
	c->out_cap = cap;
	return c->out + c->out_tail;
}

/* Opens a masked frame of len payload bytes; see scb_conn_text_begin. */
static uint8_t *frame_begin(struct scb_loop *l, struct scb_conn *c, unsigned opcode, size_t len)
{
	size_t hl = len < 126 ? 6 : len <= 0xFFFF ? 8 : 14;
	uint32_t k = next_key(c);
	uint8_t *p;

	assert(!c->open_frame); /* one frame at a time */
	p = out_reserve(l, c, hl + len);
	if (!p)
		return NULL;
	if (ws_encode_header_masked(p, true, opcode, len, (const uint8_t *)&k) != hl) {
		scb_fail(l, c, "frame header length disagrees with ws.h");
		return NULL;
	}
	c->open_at = c->out_tail + hl;
	c->open_len = len;
	c->open_frame = true;
	scb_conn_mark(l, c);
	return p + hl;
}

uint8_t *scb_conn_text_begin(struct scb_loop *l, struct scb_conn *c, size_t len)
{
	return frame_begin(l, c, WS_OP_TEXT, len);
}

/* Masks the frame frame_begin opened and commits it. */
static void frame_end(struct scb_conn *c)
{
	uint8_t *p = c->out + c->open_at;

	assert(c->open_frame);
	/* the key is the last 4 bytes of the header, just before the payload */
	ws_unmask(p, p, c->open_len, p - 4, 0);
	c->out_tail = c->open_at + c->open_len;
	c->open_frame = false;
}

void scb_conn_text_end(struct scb_conn *c)
{
	frame_end(c);
}

int scb_conn_send_text(struct scb_loop *l, struct scb_conn *c, const void *p, size_t len)
{
	uint8_t *dst = scb_conn_text_begin(l, c, len);

	if (!dst)
		return -1;
	memcpy(dst, p, len);
	scb_conn_text_end(c);
	return 0;
}

int scb_conn_send_fmt(struct scb_loop *l, struct scb_conn *c, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(buf))
		return scb_fail(l, c, "packet over %zu bytes: %.40s...", sizeof(buf), buf);
	return scb_conn_send_text(l, c, buf, (size_t)n);
}

/* One send of everything waiting. A short send means the socket buffer is
 * full: the connection is blocked, with EPOLLOUT armed, until it drains. */
static int conn_flush(struct scb_loop *l, struct scb_conn *c)
{
	size_t n = c->out_tail - c->out_head;
	ssize_t r;

	if (!n)
		return conn_watch(l, c, false);
	r = send(c->fd, c->out + c->out_head, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return scb_fail(l, c, "send: %s%s", strerror(errno),
					errno == EPIPE || errno == ECONNRESET
					    ? " (the server closed the connection)"
					    : "");
		r = 0;
	}
	c->out_head += (size_t)r;
	if (c->out_head == c->out_tail) {
		c->out_head = c->out_tail = 0;
		return conn_watch(l, c, false);
	}
	c->blocked = true;
	return conn_watch(l, c, true);
}

/* ---- connect and upgrade ------------------------------------------------- */

int scb_conn_start(struct scb_loop *l, struct scb_conn *c, unsigned id)
{
	const struct scb_target *t = l->t;
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};
	uint8_t nonce[16];
	int one = 1;

	c->fd = -1;
	c->id = id;
	c->state = SCB_CONNECTING;
	c->next_cid = 2;
	if (random_bytes(nonce, sizeof(nonce)) < 0 || random_bytes(&c->rng, sizeof(c->rng)) < 0)
		return scb_fail(l, c, "getrandom: %s", strerror(errno));
	c->rng |= 1; /* xorshift never leaves 0 */
	base64_16(nonce, c->key);

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return scb_fail(l, c, "socket: %s", strerror(errno));
	/* every flush ends in a partial segment that Nagle would hold back */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0 &&
	    errno != EINPROGRESS)
		return scb_fail(l, c, "connect %s:%u: %s", t->host, t->port, strerror(errno));
	/* the first EPOLLOUT says the connect finished, either way */
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->out_armed = true;
	return 0;
}

/* The connect finished: check how, and send the upgrade request. */
static int conn_connected(struct scb_loop *l, struct scb_conn *c)
{
	const struct scb_target *t = l->t;
	int err = 0, n;
	socklen_t len = sizeof(err);
	uint8_t *p;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return scb_fail(l, c, "connect %s:%u: %s", t->host, t->port, strerror(err));
	p = out_reserve(l, c, HEAD_MAX);
	if (!p)
		return -1;
	n = snprintf((char *)p, HEAD_MAX,
		     "GET %s HTTP/1.1\r\nHost: %s:%u\r\nUpgrade: websocket\r\n"
		     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		     "Sec-WebSocket-Version: 13\r\n\r\n",
		     t->path, t->host, t->port, c->key);
	if (n < 0 || n >= HEAD_MAX)
		return scb_fail(l, c, "upgrade request over %d bytes", HEAD_MAX);
	c->out_tail += (size_t)n;
	c->state = SCB_UPGRADING;
	return conn_flush(l, c);
}

/* The server's answer to the upgrade: status 101 and the
 * Sec-WebSocket-Accept that matches our key (io/http.h checks it). */
static int check_upgrade(struct scb_loop *l, const struct scb_conn *c, const char *head,
			 size_t head_len)
{
	const char *why, *detail;
	int n;

	if (http_check_upgrade_response(head, head_len, c->key, &why, &detail, &n) < 0)
		return scb_fail(l, c, "%s: %.*s", why, n, detail);
	return 0;
}

/* Keeps buf[0, n) for the next read. */
static int conn_keep(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf, size_t n)
{
	if (n > c->carry_cap) {
		size_t cap = c->carry_cap ? c->carry_cap : 256;
		uint8_t *p;

		while (cap < n)
			cap *= 2;
		p = realloc(c->carry, cap);
		if (!p)
			return scb_fail(l, c, "out of memory for %zu bytes of a frame", n);
		c->carry = p;
		c->carry_cap = cap;
	}
	if (n)
		memcpy(c->carry, buf, n);
	c->carry_len = n;
	return 0;
}

static int conn_frames(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len);

static int conn_response(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len)
{
	const uint8_t *eoh = memmem(buf, len, "\r\n\r\n", 4);
	size_t used;

	if (!eoh) {
		if (len >= HEAD_MAX)
			return scb_fail(l, c, "upgrade response head over %d bytes", HEAD_MAX);
		return conn_keep(l, c, buf, len);
	}
	used = (size_t)(eoh + 4 - buf);
	if (check_upgrade(l, c, (const char *)buf, used - 2) < 0)
		return -1;
	c->state = SCB_HANDSHAKING;
	if (scb_conn_send_text(l, c, handshake, sizeof(handshake) - 1) < 0)
		return -1;
	return conn_frames(l, c, buf + used, len - used);
}

/* ---- packets ------------------------------------------------------------- */

/* A JSON string without escapes: p[0] and p[n-1] are its quotes. */
static bool plain_string(const uint8_t *p, size_t n)
{
	return n >= 2 && p[0] == '"' && p[n - 1] == '"' && !memchr(p + 1, '"', n - 2) &&
	       !memchr(p + 1, '\\', n - 2);
}

/* {"event":"#publish","data":{"channel":"<plain>","data":"<plain>"}}, the
 * delivery of a string, as the reference server and sluice write it. */
static bool fast_publish(const uint8_t *p, size_t n, struct packet *pk)
{
	static const char pre[] = "{\"event\":\"#publish\",\"data\":{\"channel\":\"";
	static const char mid[] = ",\"data\":";
	const size_t pl = sizeof(pre) - 1, ml = sizeof(mid) - 1;
	const uint8_t *q;
	size_t ch_end, at;

	if (n < pl + 1 + ml + 2 + 2 || memcmp(p, pre, pl) != 0)
		return false;
	q = memchr(p + pl, '"', n - pl);
	if (!q || memchr(p + pl, '\\', (size_t)(q - p) - pl))
		return false;
	ch_end = (size_t)(q - p);
	at = ch_end + 1;
	if (n - at < ml + 2 + 2 || memcmp(p + at, mid, ml) != 0)
		return false;
	at += ml;
	if (p[n - 2] != '}' || p[n - 1] != '}' || !plain_string(p + at, n - 2 - at))
		return false;
	*pk = (struct packet){.kind = PACKET_EVENT, .ev = PACKET_EV_PUBLISH, .has_channel = true};
	pk->span = (struct packet_span){0, (uint32_t)n};
	pk->event = (struct packet_span){10, 8};				/* #publish */
	pk->data = (struct packet_span){27, (uint32_t)(n - 1 - 27)};		/* {"channel"... } */
	pk->channel = (struct packet_span){(uint32_t)pl, (uint32_t)(ch_end - pl)};
	pk->inner = (struct packet_span){(uint32_t)at, (uint32_t)(n - 2 - at)};
	return true;
}

/* {"rid":N} or {"rid":N,"data":"<plain>"}: the replies of a benchmark. */
static bool fast_reply(const uint8_t *p, size_t n, struct packet *pk)
{
	static const char pre[] = "{\"rid\":";
	static const char mid[] = ",\"data\":";
	const size_t pl = sizeof(pre) - 1, ml = sizeof(mid) - 1;
	size_t at = pl;
	int64_t rid = 0;

	if (n < pl + 2 || memcmp(p, pre, pl) != 0)
		return false;
	while (at < n && at < pl + 18 && p[at] >= '0' && p[at] <= '9')
		rid = rid * 10 + (p[at++] - '0');
	if (at == pl || (p[pl] == '0' && at > pl + 1) || at == n)
		return false;
	*pk = (struct packet){.kind = PACKET_REPLY, .has_rid = true, .rid = rid};
	pk->span = (struct packet_span){0, (uint32_t)n};
	if (p[at] == '}' && at == n - 1)
		return true;
	if (n - at < ml + 2 + 1 || memcmp(p + at, mid, ml) != 0 || p[n - 1] != '}' ||
	    !plain_string(p + at + ml, n - 1 - at - ml))
		return false;
	pk->data = (struct packet_span){(uint32_t)(at + ml), (uint32_t)(n - 1 - at - ml)};
	return true;
}

/* The handshake reply, or a packet that came before it (ignored: the
 * server may push events before answering). */
static int conn_handshake_reply(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf,
				const struct packet *p)
{
	struct packet_span v;

	if (p->kind != PACKET_REPLY || !p->has_rid || p->rid != 1)
		return 0;
	if (packet_has(p->error))
		return scb_fail(l, c, "handshake rejected: %.*s", SCB_SPAN(buf, p->error));
	if (packet_member(buf, p->data, "pingTimeout", 11, &v) != 0)
		return scb_fail(l, c, "handshake reply without data.pingTimeout: %.*s",
				SCB_SPAN(buf, p->span));
	c->state = SCB_OPEN;
	return l->ops->on_open ? l->ops->on_open(l->ud, c) : 0;
}

static int conn_packet(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf,
		       const struct packet *p)
{
	if (p->kind == PACKET_RAW)
		return scb_fail(l, c, "server sent a message that is not a packet: %.*s",
				SCB_SPAN(buf, p->span));
	if (p->kind == PACKET_PING)
		return 0; /* "#2" in a batch: not ours to answer */
	if (c->state == SCB_HANDSHAKING)
		return conn_handshake_reply(l, c, buf, p);
	return l->ops->on_packet(l->ud, c, buf, p);
}

#ifndef NDEBUG
/* Debug builds check every fast-path packet against the parser. */
static void check_fast(const uint8_t *buf, size_t n, const struct packet *fast)
{
	struct packet p;

	assert(packet_parse(buf, n, &p) == 0);
	assert(p.kind == fast->kind && p.ev == fast->ev && p.has_rid == fast->has_rid &&
	       p.rid == fast->rid && p.has_channel == fast->has_channel);
	assert(p.channel.off == fast->channel.off && p.channel.len == fast->channel.len);
	assert(p.inner.off == fast->inner.off && p.inner.len == fast->inner.len);
	assert(p.data.off == fast->data.off && p.data.len == fast->data.len);
}
#else
#define check_fast(buf, n, fast) ((void)0)
#endif

/* One whole text message from the server. */
static int conn_message(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf, size_t n)
{
	struct packet p;
	size_t pos = 0;
	int r;

	if (n == 0) /* SocketCluster v2 ping */
		return scb_conn_send_text(l, c, "", 0);
	if (n == 2 && buf[0] == '#' && buf[1] == '1') /* v1 ping */
		return scb_conn_send_text(l, c, "#2", 2);
	if (c->state == SCB_OPEN && (fast_publish(buf, n, &p) || fast_reply(buf, n, &p))) {
		check_fast(buf, n, &p);
		return l->ops->on_packet(l->ud, c, buf, &p);
	}
	r = packet_parse(buf, n, &p);
	if (r < 0)
		return scb_fail(l, c, "server sent a message sluice-bench cannot take (%s): %.60s",
				packet_strerror(r), (const char *)buf);
	if (p.kind == PACKET_RAW && p.err)
		return scb_fail(l, c, "server sent invalid JSON (%s at byte %u): %.*s",
				packet_strerror(p.err), p.err_off, (int)(n < 80 ? n : 80), buf);
	if (p.kind != PACKET_BATCH)
		return conn_packet(l, c, buf, &p);
	while ((r = packet_batch_next(buf, n, &pos, &p)) == 1)
		if (conn_packet(l, c, buf, &p) < 0)
			return -1;
	return r < 0 ? scb_fail(l, c, "bad batch from the server: %s", packet_strerror(r)) : 0;
}

/* ---- frames -------------------------------------------------------------- */

static int conn_control(struct scb_loop *l, struct scb_conn *c, const struct ws_header *h,
			const uint8_t *payload)
{
	uint16_t code = 0;
	const uint8_t *reason = NULL;
	size_t reason_len = 0;
	uint8_t *p;

	switch (h->opcode) {
	case WS_OP_PING:
		p = frame_begin(l, c, WS_OP_PONG, (size_t)h->len);
		if (!p)
			return -1;
		memcpy(p, payload, (size_t)h->len);
		frame_end(c);
		return 0;
	case WS_OP_CLOSE:
		ws_parse_close_payload(payload, (size_t)h->len, &code, &reason, &reason_len);
		return scb_fail(l, c, "server closed the WebSocket: %u %.*s", code, (int)reason_len,
				reason ? (const char *)reason : "");
	default:
		return 0; /* an unsolicited pong is allowed and means nothing */
	}
}

/* Appends a fragment; the message is delivered after its last one. */
static int conn_fragment(struct scb_loop *l, struct scb_conn *c, const struct ws_header *h,
			 const uint8_t *payload)
{
	size_t need = c->frag_len + (size_t)h->len;

	if (need > l->t->max_msg)
		return scb_fail(l, c, "fragmented message over %zu bytes", l->t->max_msg);
	if (need > c->frag_cap) {
		size_t cap = c->frag_cap ? c->frag_cap : 1024;
		uint8_t *p;

		while (cap < need)
			cap *= 2;
		p = realloc(c->frag, cap);
		if (!p)
			return scb_fail(l, c, "out of memory for a fragmented message");
		c->frag = p;
		c->frag_cap = cap;
	}
	memcpy(c->frag + c->frag_len, payload, (size_t)h->len);
	c->frag_len = need;
	if (!h->fin)
		return 0;
	c->in_frag = false;
	if (c->frag_opcode != WS_OP_TEXT)
		return scb_fail(l, c, "server sent a binary message");
	return conn_message(l, c, c->frag, c->frag_len);
}

/* Handles every whole frame in buf and keeps the unfinished rest. */
static int conn_frames(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len) {
		struct ws_header h;
		const uint8_t *payload;
		int hl = ws_parse_header_client(buf + off, len - off, &h);

		if (hl < 0)
			return scb_fail(l, c, "bad frame from the server: %s", ws_strerror(hl));
		if (hl == 0)
			break;
		if (h.len > l->t->max_msg)
			return scb_fail(l, c, "frame of %llu bytes from the server, over the %zu "
					      "taken",
					(unsigned long long)h.len, l->t->max_msg);
		if (len - off - (size_t)hl < h.len)
			break;
		payload = buf + off + hl;
		off += (size_t)hl + (size_t)h.len;
		if (ws_opcode_is_control(h.opcode)) {
			if (conn_control(l, c, &h, payload) < 0)
				return -1;
			continue;
		}
		if ((h.opcode == WS_OP_CONT) != c->in_frag)
			return scb_fail(l, c, "bad fragmentation from the server (opcode %u)",
					h.opcode);
		if (h.opcode != WS_OP_CONT && !h.fin) {
			c->in_frag = true;
			c->frag_opcode = h.opcode;
			c->frag_len = 0;
		}
		if (c->in_frag || h.opcode == WS_OP_CONT) {
			if (conn_fragment(l, c, &h, payload) < 0)
				return -1;
			continue;
		}
		if (h.opcode != WS_OP_TEXT)
			return scb_fail(l, c, "server sent a binary message");
		if (conn_message(l, c, payload, (size_t)h.len) < 0)
			return -1;
	}
	return conn_keep(l, c, buf + off, len - off);
}

/* One recv after the carry, and whatever it completes. */
static int conn_read(struct scb_loop *l, struct scb_conn *c)
{
	size_t carry = c->carry_len;
	ssize_t r;

	if (carry)
		memcpy(l->rbuf, c->carry, carry);
	r = recv(c->fd, l->rbuf + carry, READ_CHUNK, MSG_DONTWAIT);
	if (r == 0)
		return scb_fail(l, c, "server closed the connection%s",
				c->state == SCB_UPGRADING ? " instead of answering the upgrade"
				: c->state == SCB_HANDSHAKING ? " during the handshake"
							      : "");
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return scb_fail(l, c, "recv: %s", strerror(errno));
	}
	l->now = bench_now();
	if (c->state == SCB_UPGRADING)
		return conn_response(l, c, l->rbuf, carry + (size_t)r);
	return conn_frames(l, c, l->rbuf, carry + (size_t)r);
}

/* ---- the turn ------------------------------------------------------------ */

int scb_loop_turn(struct scb_loop *l, int timeout_ms)
{
	struct epoll_event evs[MAX_EVENTS];
	struct scb_conn *list = l->dirty;
	int n;

	l->dirty = NULL;
	l->turns++;
	while (list) {
		struct scb_conn *c = list;
		int more = 0;

		list = c->next_dirty;
		c->next_dirty = NULL;
		c->dirty = false;
		if (c->state == SCB_OPEN && l->ops->pump) {
			more = l->ops->pump(l->ud, c);
			if (more < 0)
				return -1;
		}
		/* a full socket is flushed again only after its EPOLLOUT; one
		 * still connecting keeps EPOLLOUT armed for the connect */
		if (c->blocked || c->state == SCB_CONNECTING)
			continue;
		if (conn_flush(l, c) < 0)
			return -1;
		if (more && !c->blocked)
			scb_conn_mark(l, c);
	}

	n = epoll_wait(l->ep, evs, MAX_EVENTS, l->dirty ? 0 : timeout_ms);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return scb_fail(l, NULL, "epoll_wait: %s", strerror(errno));
	}
	l->now = bench_now();
	for (int i = 0; i < n; i++) {
		struct scb_conn *c = evs[i].data.ptr;
		uint32_t e = evs[i].events;

		if (c->state == SCB_CONNECTING) {
			if (conn_connected(l, c) < 0)
				return -1;
			continue;
		}
		if ((e & (EPOLLIN | EPOLLERR | EPOLLHUP)) && conn_read(l, c) < 0)
			return -1;
		if ((e & EPOLLOUT) && c->blocked) {
			/* flushed at the next turn, which disarms EPOLLOUT if it
			 * all goes */
			c->blocked = false;
			scb_conn_mark(l, c);
		}
	}
	return 0;
}

void scb_conn_deinit(struct scb_conn *c)
{
	if (c->fd >= 0) {
		/* a polite close, unless it would cut into a frame still waiting */
		if ((c->state == SCB_OPEN || c->state == SCB_HANDSHAKING) &&
		    c->out_tail == c->out_head) {
			uint8_t f[WS_MAX_HEADER + 2], key[4] = {0x5a, 0x17, 0xc3, 0x99}, code[2] = {0x03, 0xe8};
			size_t hl = ws_encode_header_masked(f, true, WS_OP_CLOSE, 2, key);

			ws_unmask(f + hl, code, 2, key, 0);
			(void)!send(c->fd, f, hl + 2, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		close(c->fd);
	}
	c->fd = -1;
	free(c->out);
	free(c->carry);
	free(c->frag);
	c->out = c->carry = c->frag = NULL;
	c->out_cap = c->carry_cap = c->frag_cap = 0;
	c->out_head = c->out_tail = c->carry_len = c->frag_len = 0;
}
