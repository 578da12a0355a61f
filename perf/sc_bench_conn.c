/*
 * sc_bench_conn: see sc_bench_conn.h for the connection's states, the out
 * buffer and the read path. This file owns the bytes below the protocol:
 * connect, the upgrade, frame encoding and parsing, keep-alive answers of
 * WebSocket, lost connections.
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
 *
 * A binary frame of a stream protocol, being filled and then wrapped:
 *
 *     ... frames | gap (14) | bytes appended since the last flush |
 *                           ^ run_at                              ^ out_tail
 *     ... frames | header | masked bytes |       (after run_wrap: the header
 *                                                 fills the gap's end, the
 *                                                 bytes move up by the rest)
 */
#include "bench.h"

#include "sc_bench_conn.h"

#include <assert.h>
#include <errno.h>
#include <arpa/inet.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>

#include "http.h"

#define READ_CHUNK  (256u * 1024)
#define HEAD_MAX    4096 /* the server's response to the upgrade */
#define LINE_MAX_B  4096 /* a stream protocol's control line (NATS INFO) */
#define MAX_EVENTS  256
#define OUT_INITIAL 4096
#define RUN_MAX	    (1u << 20) /* a binary frame is wrapped before it passes this */

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

int scb_lose(struct scb_loop *l, struct scb_conn *c, unsigned code, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (l->err[0])
		return -1;
	n = snprintf(l->err, sizeof(l->err), "connection %u: ", c->id);
	va_start(ap, fmt);
	vsnprintf(l->err + n, sizeof(l->err) - (size_t)n, fmt, ap);
	va_end(ap);
	l->lost = c;
	l->lost_code = code;
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

/* ---- the loop ------------------------------------------------------------ */

int scb_loop_init(struct scb_loop *l, const struct scb_target *t, const struct scb_ops *ops,
		  void *ud)
{
	size_t carry_max = t->max_msg + LINE_MAX_B + WS_MAX_HEADER;

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

	if (c->out_armed == out || c->paused)
		return 0;
	if (epoll_ctl(l->ep, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->out_armed = out;
	return 0;
}

int scb_conn_pause(struct scb_loop *l, struct scb_conn *c)
{
	if (c->paused || c->fd < 0)
		return 0;
	if (epoll_ctl(l->ep, EPOLL_CTL_DEL, c->fd, NULL) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->paused = true;
	c->out_armed = false;
	return 0;
}

int scb_conn_resume(struct scb_loop *l, struct scb_conn *c)
{
	struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT, .data.ptr = c};

	if (!c->paused || c->fd < 0)
		return 0;
	/* EPOLLOUT once: whatever waits is flushed at the next turn */
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->paused = false;
	c->out_armed = true;
	c->blocked = false;
	scb_conn_mark(l, c);
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
		if (c->in_run)
			c->run_at -= c->out_head;
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

/* Turns the bytes appended since run_at into one masked binary frame. */
static void run_wrap(struct scb_conn *c)
{
	size_t len = c->out_tail - c->run_at, gap_at = c->run_at - WS_MAX_HEADER, hl;
	uint8_t hdr[WS_MAX_HEADER];
	uint32_t k;

	if (!c->in_run)
		return;
	c->in_run = false;
	if (!len) {
		c->out_tail = gap_at;
		return;
	}
	k = next_key(c);
	hl = ws_encode_header_masked(hdr, true, WS_OP_BINARY, len, (const uint8_t *)&k);
	if (hl < WS_MAX_HEADER)
		memmove(c->out + gap_at + hl, c->out + c->run_at, len);
	memcpy(c->out + gap_at, hdr, hl);
	ws_unmask(c->out + gap_at + hl, c->out + gap_at + hl, len, hdr + hl - 4, 0);
	c->out_tail = gap_at + hl + len;
}

/* Opens a masked frame of len payload bytes (a text message or a control
 * frame); see scb_conn_msg_begin. */
static uint8_t *frame_begin(struct scb_loop *l, struct scb_conn *c, unsigned opcode, size_t len)
{
	size_t hl = len < 126 ? 6 : len <= 0xFFFF ? 8 : 14;
	uint32_t k = next_key(c);
	uint8_t *p;

	assert(!c->open_msg); /* one message at a time */
	run_wrap(c);
	p = out_reserve(l, c, hl + len);
	if (!p)
		return NULL;
	if (ws_encode_header_masked(p, true, opcode, len, (const uint8_t *)&k) != hl) {
		scb_fail(l, c, "frame header length disagrees with ws.h");
		return NULL;
	}
	c->open_at = c->out_tail + hl;
	c->open_len = len;
	c->open_msg = true;
	c->open_frame = true;
	scb_conn_mark(l, c);
	return p + hl;
}

/* Masks the frame frame_begin opened and commits it. */
static void frame_end(struct scb_conn *c)
{
	uint8_t *p = c->out + c->open_at;

	assert(c->open_msg);
	/* the key is the last 4 bytes of the header, just before the payload */
	ws_unmask(p, p, c->open_len, p - 4, 0);
	c->out_tail = c->open_at + c->open_len;
	c->open_msg = false;
	c->open_frame = false;
}

/* Opens len raw bytes: plain TCP, or the binary frame of a stream over
 * WebSocket (opened with a gap for its header when none is open). */
static uint8_t *raw_begin(struct scb_loop *l, struct scb_conn *c, size_t len)
{
	bool ws = c->ws;
	uint8_t *p;

	assert(!c->open_msg);
	if (ws && c->in_run && c->out_tail - c->run_at + len > RUN_MAX)
		run_wrap(c);
	p = out_reserve(l, c, len + (ws && !c->in_run ? WS_MAX_HEADER : 0));
	if (!p)
		return NULL;
	if (ws && !c->in_run) {
		c->out_tail += WS_MAX_HEADER;
		c->run_at = c->out_tail;
		c->in_run = true;
		p += WS_MAX_HEADER;
	}
	c->open_at = c->out_tail;
	c->open_len = len;
	c->open_msg = true;
	c->open_frame = false;
	scb_conn_mark(l, c);
	return p;
}

uint8_t *scb_conn_msg_begin(struct scb_loop *l, struct scb_conn *c, size_t len)
{
	if (l->t->transport == SCB_WS && !l->t->proto->stream)
		return frame_begin(l, c, WS_OP_TEXT, len);
	return raw_begin(l, c, len);
}

void scb_conn_msg_end(struct scb_conn *c)
{
	if (c->open_frame)
		frame_end(c);
	else
		c->out_tail = c->open_at + c->open_len;
	c->open_msg = false;
}

int scb_conn_send(struct scb_loop *l, struct scb_conn *c, const void *p, size_t len)
{
	uint8_t *dst = scb_conn_msg_begin(l, c, len);

	if (!dst)
		return -1;
	memcpy(dst, p, len);
	scb_conn_msg_end(c);
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
		return scb_fail(l, c, "message over %zu bytes: %.40s...", sizeof(buf), buf);
	return scb_conn_send(l, c, buf, (size_t)n);
}

/* One send of everything waiting. A short send means the socket buffer is
 * full: the connection is blocked, with EPOLLOUT armed, until it drains. */
static int conn_flush(struct scb_loop *l, struct scb_conn *c)
{
	size_t n;
	ssize_t r;

	run_wrap(c);
	n = c->out_tail - c->out_head;
	if (!n)
		return conn_watch(l, c, false);
	r = send(c->fd, c->out + c->out_head, n, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (r < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return scb_lose(l, c, 0, "send: %s%s", strerror(errno),
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

/* ---- acknowledgements ---------------------------------------------------- */

int scb_conn_ack_push(struct scb_loop *l, struct scb_conn *c, int64_t id)
{
	if (c->ack_len == SCB_ACKS)
		return scb_fail(l, c, "%d acknowledgements awaited at once", SCB_ACKS);
	c->acks[(c->ack_head + c->ack_len) % SCB_ACKS] = id;
	c->ack_len++;
	return 0;
}

bool scb_conn_ack_pop(struct scb_conn *c, int64_t *id)
{
	if (!c->ack_len)
		return false;
	*id = c->acks[c->ack_head];
	c->ack_head = (uint8_t)((c->ack_head + 1) % SCB_ACKS);
	c->ack_len--;
	return true;
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
	c->ws = t->transport == SCB_WS;
	c->next_cid = 2;
	if (random_bytes(nonce, sizeof(nonce)) < 0 || random_bytes(&c->rng, sizeof(c->rng)) < 0)
		return scb_fail(l, c, "getrandom: %s", strerror(errno));
	c->rng |= 1; /* xorshift never leaves 0 */
	http_ws_client_key(nonce, c->key);

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return scb_fail(l, c, "socket: %s%s", strerror(errno),
				errno == EMFILE ? " (raise the limit: ulimit -n)" : "");
	/* every flush ends in a partial segment that Nagle would hold back */
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (t->sources > 1) {
		/* the port is picked at connect, unique per (source, destination) */
		struct sockaddr_in src = {.sin_family = AF_INET};

		src.sin_addr.s_addr = htonl(INADDR_LOOPBACK + id % t->sources);
		setsockopt(c->fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(c->fd, (const struct sockaddr *)&src, sizeof(src)) < 0)
			return scb_fail(l, c, "bind 127.0.0.%u: %s", 1 + id % t->sources,
					strerror(errno));
	}
	if (connect(c->fd, (const struct sockaddr *)&t->addr, sizeof(t->addr)) < 0 &&
	    errno != EINPROGRESS) {
		if (errno == EADDRNOTAVAIL)
			return scb_fail(l, c, "connect %s:%u: %s (out of local ports)", t->host,
					t->port, strerror(errno));
		return scb_lose(l, c, 0, "connect %s:%u: %s", t->host, t->port, strerror(errno));
	}
	/* the first EPOLLOUT says the connect finished, either way */
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, c->fd, &ev) < 0)
		return scb_fail(l, c, "epoll_ctl: %s", strerror(errno));
	c->out_armed = true;
	return 0;
}

int scb_conn_opened(struct scb_loop *l, struct scb_conn *c)
{
	c->state = SCB_OPEN;
	return l->ops->on_open ? l->ops->on_open(l->ud, c) : 0;
}

static int conn_hello(struct scb_loop *l, struct scb_conn *c)
{
	c->state = SCB_HELLO;
	return l->t->proto->hello(l, c);
}

/* The connect finished: check how, and send the upgrade request (or start
 * the protocol at once over plain TCP). */
static int conn_connected(struct scb_loop *l, struct scb_conn *c)
{
	const struct scb_target *t = l->t;
	int err = 0, n;
	socklen_t len = sizeof(err);
	uint8_t *p;

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err)
		return scb_lose(l, c, 0, "connect %s:%u: %s", t->host, t->port, strerror(err));
	if (t->transport == SCB_TCP) {
		if (conn_hello(l, c) < 0)
			return -1;
		return conn_flush(l, c);
	}
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
		memmove(c->carry, buf, n);
	c->carry_len = n;
	return 0;
}

static int conn_frames(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len);

static int conn_response(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len)
{
	const uint8_t *eoh = memmem(buf, len, "\r\n\r\n", 4);
	const char *why, *detail;
	size_t used;
	int n;

	if (!eoh) {
		if (len >= HEAD_MAX)
			return scb_fail(l, c, "upgrade response head over %d bytes", HEAD_MAX);
		return conn_keep(l, c, buf, len);
	}
	used = (size_t)(eoh + 4 - buf);
	/* status 101 and the Sec-WebSocket-Accept that matches our key */
	if (http_check_upgrade_response((const char *)buf, used - 2, c->key, &why, &detail, &n) <
	    0)
		return scb_lose(l, c, 0, "%s: %.*s", why, n, detail);
	if (conn_hello(l, c) < 0)
		return -1;
	return conn_frames(l, c, buf + used, len - used);
}

/* ---- inbound bytes to the protocol --------------------------------------- */

/* Bytes of a stream protocol: what it leaves waits in keep (carry or sbuf). */
static ssize_t stream_feed(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t n)
{
	ssize_t used = n ? l->t->proto->input(l, c, buf, n) : 0;

	if (used >= 0 && n - (size_t)used > l->t->max_msg + LINE_MAX_B)
		return scb_fail(l, c, "a message of over %zu bytes from the server",
				l->t->max_msg + LINE_MAX_B);
	return used;
}

/* The payload of a data frame of a stream protocol over WebSocket: parsed in
 * place when nothing waits, else after what waits. */
static int stream_frame(struct scb_loop *l, struct scb_conn *c, uint8_t *p, size_t n)
{
	ssize_t used;

	if (!c->sbuf_len) {
		used = stream_feed(l, c, p, n);
		if (used < 0)
			return -1;
		p += used;
		n -= (size_t)used;
		if (!n)
			return 0;
	}
	if (c->sbuf_len + n > c->sbuf_cap) {
		size_t cap = c->sbuf_cap ? c->sbuf_cap : 4096;
		uint8_t *q;

		while (cap < c->sbuf_len + n)
			cap *= 2;
		q = realloc(c->sbuf, cap);
		if (!q)
			return scb_fail(l, c, "out of memory for a stream of %zu bytes", cap);
		c->sbuf = q;
		c->sbuf_cap = cap;
	}
	memcpy(c->sbuf + c->sbuf_len, p, n);
	c->sbuf_len += n;
	if (c->sbuf_len == n) /* all of it was just left over: nothing new to parse */
		return 0;
	used = stream_feed(l, c, c->sbuf, c->sbuf_len);
	if (used < 0)
		return -1;
	memmove(c->sbuf, c->sbuf + used, c->sbuf_len - (size_t)used);
	c->sbuf_len -= (size_t)used;
	return 0;
}

/* One whole data message of a message protocol. */
static int conn_data(struct scb_loop *l, struct scb_conn *c, unsigned opcode, uint8_t *p,
		     size_t n)
{
	if (opcode != WS_OP_TEXT)
		return scb_fail(l, c, "server sent a binary message");
	return l->t->proto->input(l, c, p, n) < 0 ? -1 : 0;
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
		return scb_lose(l, c, code, "server closed the WebSocket: %u %.*s", code,
				(int)reason_len, reason ? (const char *)reason : "");
	default:
		return 0; /* an unsolicited pong is allowed and means nothing */
	}
}

/* Appends a fragment; the message is delivered after its last one. */
static int conn_fragment(struct scb_loop *l, struct scb_conn *c, const struct ws_header *h,
			 uint8_t *payload)
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
	return conn_data(l, c, c->frag_opcode, c->frag, c->frag_len);
}

/* A data frame of a stream protocol: its payload goes to the protocol as it
 * arrives (nats-server puts many messages in one frame, of any size), so
 * only control frames and headers wait to be whole. Returns the bytes of
 * buf[0, n) taken: the frame's header and as much payload as there is. */
static ssize_t stream_data_frame(struct scb_loop *l, struct scb_conn *c, const struct ws_header *h,
				 int hl, uint8_t *buf, size_t n)
{
	size_t avail = n - (size_t)hl < h->len ? n - (size_t)hl : (size_t)h->len;

	if ((h->opcode == WS_OP_CONT) != c->in_frag)
		return scb_fail(l, c, "bad fragmentation from the server (opcode %u)", h->opcode);
	c->in_frag = !h->fin;
	c->frame_left = h->len - avail;
	if (avail && stream_frame(l, c, buf + hl, avail) < 0)
		return -1;
	return (ssize_t)((size_t)hl + avail);
}

/* Handles every whole frame in buf and keeps the unfinished rest. */
static int conn_frames(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (off < len && c->state != SCB_CLOSED) {
		struct ws_header h;
		uint8_t *payload;
		int hl;

		if (c->frame_left) { /* the rest of a stream's data frame */
			size_t m = len - off < c->frame_left ? len - off : (size_t)c->frame_left;

			c->frame_left -= m;
			if (stream_frame(l, c, buf + off, m) < 0)
				return -1;
			off += m;
			continue;
		}
		hl = ws_parse_header_client(buf + off, len - off, &h);
		if (hl < 0)
			return scb_fail(l, c, "bad frame from the server: %s", ws_strerror(hl));
		if (hl == 0)
			break;
		if (l->t->proto->stream && !ws_opcode_is_control(h.opcode)) {
			ssize_t used = stream_data_frame(l, c, &h, hl, buf + off, len - off);

			if (used < 0)
				return -1;
			off += (size_t)used;
			continue;
		}
		if (h.len > l->t->max_msg + LINE_MAX_B)
			return scb_fail(l, c, "frame of %llu bytes from the server, over the %zu "
					      "taken",
					(unsigned long long)h.len, l->t->max_msg + LINE_MAX_B);
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
		if (conn_data(l, c, h.opcode, payload, (size_t)h.len) < 0)
			return -1;
	}
	return conn_keep(l, c, buf + off, len - off);
}

/* One recv after the carry, and whatever it completes. */
static int conn_read(struct scb_loop *l, struct scb_conn *c)
{
	size_t carry = c->carry_len;
	ssize_t r, used;

	if (carry)
		memcpy(l->rbuf, c->carry, carry);
	r = recv(c->fd, l->rbuf + carry, READ_CHUNK, MSG_DONTWAIT);
	if (r == 0)
		return scb_lose(l, c, 0, "server closed the connection%s",
				c->state == SCB_UPGRADING ? " instead of answering the upgrade"
				: c->state == SCB_HELLO	  ? " during the handshake"
							  : "");
	if (r < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return 0;
		return scb_lose(l, c, 0, "recv: %s", strerror(errno));
	}
	l->now = bench_now();
	if (c->state == SCB_UPGRADING)
		return conn_response(l, c, l->rbuf, carry + (size_t)r);
	if (l->t->transport == SCB_WS)
		return conn_frames(l, c, l->rbuf, carry + (size_t)r);
	used = stream_feed(l, c, l->rbuf, carry + (size_t)r);
	if (used < 0)
		return -1;
	return conn_keep(l, c, l->rbuf + used, carry + (size_t)r - (size_t)used);
}

/* ---- the turn ------------------------------------------------------------ */

int scb_conn_lost(struct scb_loop *l, struct scb_conn *c)
{
	char why[sizeof(l->err)];
	unsigned code = l->lost_code;

	if (l->lost != c || !l->ops->on_lost)
		return -1;
	memcpy(why, l->err, sizeof(why));
	l->err[0] = '\0';
	l->lost = NULL;
	if (l->ops->on_lost(l->ud, c, code, why) < 0) {
		if (!l->err[0])
			memcpy(l->err, why, sizeof(why));
		return -1;
	}
	c->state = SCB_CLOSED; /* no polite close on a connection already gone */
	scb_conn_deinit(c);
	return 0;
}

int scb_loop_turn(struct scb_loop *l, double timeout)
{
	struct epoll_event evs[MAX_EVENTS];
	struct scb_conn *list = l->dirty;
	struct timespec ts;
	int n;

	l->dirty = NULL;
	l->turns++;
	while (list) {
		struct scb_conn *c = list;
		int more = 0;

		list = c->next_dirty;
		c->next_dirty = NULL;
		c->dirty = false;
		if (c->state == SCB_CLOSED || c->paused)
			continue;
		if (c->state == SCB_OPEN && l->ops->pump) {
			more = l->ops->pump(l->ud, c);
			if (more < 0)
				return -1;
		}
		/* a full socket is flushed again only after its EPOLLOUT; one
		 * still connecting keeps EPOLLOUT armed for the connect */
		if (c->blocked || c->state == SCB_CONNECTING)
			continue;
		if (conn_flush(l, c) < 0) {
			if (scb_conn_lost(l, c) < 0)
				return -1;
			continue;
		}
		if (more && !c->blocked)
			scb_conn_mark(l, c);
	}

	if (l->dirty || timeout <= 0) {
		ts = (struct timespec){0};
	} else {
		ts.tv_sec = (time_t)timeout;
		ts.tv_nsec = (long)((timeout - (double)ts.tv_sec) * 1e9);
	}
	n = epoll_pwait2(l->ep, evs, MAX_EVENTS, &ts, NULL);
	if (n < 0) {
		if (errno == EINTR)
			return 0;
		return scb_fail(l, NULL, "epoll_pwait2: %s", strerror(errno));
	}
	l->now = bench_now();
	for (int i = 0; i < n; i++) {
		struct scb_conn *c = evs[i].data.ptr;
		uint32_t e = evs[i].events;
		int r = 0;

		if (c->state == SCB_CLOSED || c->paused)
			continue;
		if (c->state == SCB_CONNECTING) {
			r = conn_connected(l, c);
		} else {
			if (e & (EPOLLIN | EPOLLERR | EPOLLHUP))
				r = conn_read(l, c);
			if (!r && (e & EPOLLOUT) && c->blocked) {
				/* flushed at the next turn, which disarms EPOLLOUT if
				 * it all goes */
				c->blocked = false;
				scb_conn_mark(l, c);
			}
		}
		if (r < 0 && scb_conn_lost(l, c) < 0)
			return -1;
	}
	return 0;
}

void scb_conn_deinit(struct scb_conn *c)
{
	if (c->fd >= 0) {
		/* a polite close, unless it would cut into a frame still waiting */
		if ((c->state == SCB_OPEN || c->state == SCB_HELLO) && c->ws && !c->in_run &&
		    c->out_tail == c->out_head) {
			uint8_t f[WS_MAX_HEADER + 2], key[4] = {0x5a, 0x17, 0xc3, 0x99},
						      code[2] = {0x03, 0xe8};
			size_t hl = ws_encode_header_masked(f, true, WS_OP_CLOSE, 2, key);

			ws_unmask(f + hl, code, 2, key, 0);
			(void)!send(c->fd, f, hl + 2, MSG_NOSIGNAL | MSG_DONTWAIT);
		}
		close(c->fd);
	}
	c->fd = -1;
	c->state = SCB_CLOSED;
	c->paused = false;
	c->in_run = false;
	free(c->out);
	free(c->carry);
	free(c->frag);
	free(c->sbuf);
	c->out = c->carry = c->frag = c->sbuf = NULL;
	c->out_cap = c->carry_cap = c->frag_cap = c->sbuf_cap = 0;
	c->out_head = c->out_tail = c->carry_len = c->frag_len = c->sbuf_len = 0;
	c->frame_left = 0;
}
