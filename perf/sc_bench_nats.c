/*
 * sc_bench_nats: the NATS client protocol (its text protocol, as
 * nats-server 2.x speaks it) for sluice-bench (struct scb_proto), over plain
 * TCP or over WebSocket (nats-server's `websocket { }` listener; binary
 * frames, the commands of one flush in one frame).
 *
 * Owns: the hello, the parser of what the server sends, the commands a
 * scenario sends, and the mapping of both onto the events of struct scb_ops.
 *
 *   server                                     client
 *   INFO {...}                  ------>
 *                               <------        CONNECT {"verbose":false,...}
 *                                              [SUB _INBOX.<conn>.* 1]   (requesters)
 *                                              PING
 *   PONG                        ------>        (the hello is over: OPEN)
 *
 * `verbose: false`: no +OK per command. The server answers PINGs in order,
 * so a PING is the barrier: its PONG says every command before it was
 * processed. The ids waiting for PONGs sit in the connection's ack FIFO.
 *
 *   publish    PUB <ch> <size>\r\n<payload>\r\n
 *   subscribe  SUB <ch> <id>\r\nPING\r\n                 -> PONG  (on_reply id)
 *   barrier    PING\r\n                                  -> PONG  (on_reply id)
 *   request    PUB echo _INBOX.<conn>.<id> <size>\r\n<payload>\r\n
 *                -> (responder) MSG echo <sid> _INBOX.<conn>.<id> <size>
 *                <- (responder) PUB _INBOX.<conn>.<id> <size>\r\n<payload>\r\n
 *                -> MSG _INBOX.<conn>.<id> 1 <size>          (on_reply id, payload)
 *
 * nats-server has no procedures: a request needs a responder, a client
 * connection that subscribes to `echo` and answers (the rpc scenario runs
 * one inside sluice-bench). The server's PING is answered with PONG, its
 * -ERR ends the connection (scb_lose: the server closes it after one).
 *
 * Threads: the loop's (sc_bench_conn.h).
 */
#define _GNU_SOURCE /* memrchr */
#include "sc_bench_conn.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINE_MAX_B 4096

enum { NATS_INFO, NATS_PONG }; /* c->pstate during the hello */

static const char connect_cmd[] =
    "CONNECT {\"verbose\":false,\"pedantic\":false,\"tls_required\":false,"
    "\"name\":\"sluice-bench\",\"lang\":\"c\",\"version\":\"0.1.0\",\"protocol\":1,"
    "\"echo\":true,\"headers\":false,\"no_responders\":false}\r\n";

static int nats_hello(struct scb_loop *l, struct scb_conn *c)
{
	c->pstate = NATS_INFO; /* the server speaks first */
	return 0;
}

/* INFO arrived: CONNECT, the inbox, PING. */
static int nats_connect(struct scb_loop *l, struct scb_conn *c)
{
	if (scb_conn_send(l, c, connect_cmd, sizeof(connect_cmd) - 1) < 0)
		return -1;
	if (c->inbox && scb_conn_send_fmt(l, c, "SUB _INBOX.%u.* 1\r\n", c->id) < 0)
		return -1;
	c->pstate = NATS_PONG;
	return scb_conn_send(l, c, "PING\r\n", 6);
}

/* ---- what the server sends ----------------------------------------------- */

/* The next space-separated token of [*p, end); false when none. */
static bool token(const uint8_t **p, const uint8_t *end, const uint8_t **t, size_t *n)
{
	const uint8_t *q = *p;

	while (q < end && (*q == ' ' || *q == '\t'))
		q++;
	*t = q;
	while (q < end && *q != ' ' && *q != '\t')
		q++;
	*n = (size_t)(q - *t);
	*p = q;
	return *n > 0;
}

static bool number(const uint8_t *t, size_t n, uint64_t *v)
{
	*v = 0;
	if (!n || n > 18)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < '0' || t[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(t[i] - '0');
	}
	return true;
}

/* A message: to the scenario, or a reply to one of our requests. */
static int deliver(struct scb_loop *l, struct scb_conn *c, const struct scb_msg *m)
{
	static const char inbox[] = "_INBOX.";
	const size_t il = sizeof(inbox) - 1;
	struct scb_reply r = {.has_data = true, .data = m->data, .len = m->len};
	const uint8_t *dot;
	uint64_t id;

	if (!c->inbox || m->channel_len <= il || memcmp(m->channel, inbox, il) != 0)
		return l->ops->on_msg(l->ud, c, m);
	dot = memrchr(m->channel, '.', m->channel_len);
	if (!number(dot + 1, m->channel_len - (size_t)(dot + 1 - m->channel), &id))
		return scb_fail(l, c, "reply on an inbox subject of no request: %.*s",
				(int)m->channel_len, (const char *)m->channel);
	r.id = (int64_t)id;
	return l->ops->on_reply(l->ud, c, &r);
}

/* "MSG <subject> <sid> [reply-to] <#bytes>" at line[0, n): the message when
 * its payload is all in buf[at, end); returns the bytes it took, 0 when more
 * must come, -1 on error. */
static ssize_t msg(struct scb_loop *l, struct scb_conn *c, const uint8_t *line, size_t n,
		   const uint8_t *end)
{
	const uint8_t *p = line + 4, *le = line + n, *t[5];
	size_t tn[5], k = 0, total;
	uint64_t size;
	struct scb_msg m = {0};

	while (k < 5 && token(&p, le, &t[k], &tn[k]))
		k++;
	if ((k != 3 && k != 4) || !number(t[k - 1], tn[k - 1], &size))
		return scb_fail(l, c, "bad MSG line from the server: %.*s", (int)n,
				(const char *)line);
	if (size > l->t->max_msg)
		return scb_fail(l, c, "MSG of %llu bytes, over the %zu taken",
				(unsigned long long)size, l->t->max_msg);
	total = n + 2 + (size_t)size + 2;
	if ((size_t)(end - line) < total)
		return 0;
	if (line[n + 2 + size] != '\r' || line[n + 3 + size] != '\n')
		return scb_fail(l, c, "MSG payload not followed by CRLF");
	m.channel = t[0];
	m.channel_len = tn[0];
	if (k == 4) {
		m.reply = t[2];
		m.reply_len = tn[2];
	}
	m.data = line + n + 2;
	m.len = (size_t)size;
	return deliver(l, c, &m) < 0 ? -1 : (ssize_t)total;
}

static int pong(struct scb_loop *l, struct scb_conn *c)
{
	struct scb_reply r = {0};

	if (c->state == SCB_HELLO) {
		if (c->pstate != NATS_PONG)
			return scb_fail(l, c, "PONG before INFO");
		return scb_conn_opened(l, c);
	}
	if (!scb_conn_ack_pop(c, &r.id))
		return scb_fail(l, c, "PONG to no PING");
	return l->ops->on_reply(l->ud, c, &r);
}

static bool is(const uint8_t *line, size_t n, const char *op)
{
	size_t k = strlen(op);

	return n >= k && memcmp(line, op, k) == 0 && (n == k || line[k] == ' ' || line[k] == '\t');
}

static ssize_t nats_input(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t n)
{
	const uint8_t *end = buf + n;
	size_t pos = 0;

	while (pos < n) {
		const uint8_t *line = buf + pos, *nl = memchr(line, '\n', n - pos);
		size_t ll;
		ssize_t r;

		if (!nl) {
			if (n - pos > LINE_MAX_B)
				return scb_fail(l, c, "a line of over %d bytes from the server",
						LINE_MAX_B);
			break;
		}
		if (nl == line || nl[-1] != '\r')
			return scb_fail(l, c, "a line not ended by CRLF from the server: %.*s",
					(int)(nl - line < 60 ? nl - line : 60), (const char *)line);
		ll = (size_t)(nl - 1 - line);
		if (is(line, ll, "MSG")) {
			r = msg(l, c, line, ll, end);
			if (r <= 0) {
				if (r < 0)
					return -1;
				break;
			}
			pos += (size_t)r;
			continue;
		}
		pos += ll + 2;
		if (is(line, ll, "PING")) {
			if (scb_conn_send(l, c, "PONG\r\n", 6) < 0)
				return -1;
		} else if (is(line, ll, "PONG")) {
			if (pong(l, c) < 0)
				return -1;
		} else if (is(line, ll, "+OK")) {
			continue;
		} else if (is(line, ll, "-ERR")) {
			return scb_lose(l, c, 0, "server said %.*s", (int)(ll < 120 ? ll : 120),
					(const char *)line);
		} else if (is(line, ll, "INFO")) {
			if (c->state == SCB_HELLO && c->pstate == NATS_INFO && nats_connect(l, c) < 0)
				return -1;
		} else {
			return scb_fail(l, c, "server sent what sluice-bench does not take: %.*s",
					(int)(ll < 60 ? ll : 60), (const char *)line);
		}
		if (c->state == SCB_CLOSED)
			break;
	}
	return (ssize_t)pos;
}

/* ---- commands ------------------------------------------------------------ */

static int nats_pub_tpl(const char *channel, const uint8_t *payload, size_t size,
			struct scb_tpl *t)
{
	char head[256];
	int hn = snprintf(head, sizeof(head), "PUB %s %zu\r\n", channel, size);

	if (hn < 0 || (size_t)hn >= sizeof(head))
		return -1;
	t->len = (size_t)hn + size + 2;
	t->buf = malloc(t->len);
	if (!t->buf)
		return -1;
	memcpy(t->buf, head, (size_t)hn);
	t->pay_off = (size_t)hn;
	memcpy(t->buf + hn, payload, size);
	memcpy(t->buf + hn + size, "\r\n", 2);
	return 0;
}

static int nats_subscribe(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id)
{
	if (scb_conn_ack_push(l, c, id) < 0)
		return -1;
	return scb_conn_send_fmt(l, c, "SUB %s %lld\r\nPING\r\n", channel, (long long)id);
}

static int nats_barrier(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id)
{
	if (scb_conn_ack_push(l, c, id) < 0)
		return -1;
	return scb_conn_send(l, c, "PING\r\n", 6);
}

/* PUB <to> [reply] <size>\r\n<payload>\r\n */
static int pub(struct scb_loop *l, struct scb_conn *c, const char *head, int hn,
	       const uint8_t *data, size_t len)
{
	uint8_t *p;

	if (hn < 0 || hn >= 256)
		return scb_fail(l, c, "PUB line over 256 bytes");
	p = scb_conn_msg_begin(l, c, (size_t)hn + len + 2);
	if (!p)
		return -1;
	memcpy(p, head, (size_t)hn);
	memcpy(p + hn, data, len);
	memcpy(p + hn + len, "\r\n", 2);
	scb_conn_msg_end(c);
	return 0;
}

static int nats_request(struct scb_loop *l, struct scb_conn *c, int64_t id, const uint8_t *payload,
			size_t size)
{
	char head[256];
	int hn = snprintf(head, sizeof(head), "PUB echo _INBOX.%u.%lld %zu\r\n", c->id,
			  (long long)id, size);

	return pub(l, c, head, hn, payload, size);
}

static int nats_respond(struct scb_loop *l, struct scb_conn *c, const uint8_t *to, size_t to_len,
			const uint8_t *data, size_t len)
{
	char head[256];
	int hn = snprintf(head, sizeof(head), "PUB %.*s %zu\r\n", (int)to_len, (const char *)to,
			  len);

	return pub(l, c, head, hn, data, len);
}

const struct scb_proto scb_proto_nats = {
    .name = "nats",
    .default_path = "/",
    .stream = true,
    .hello = nats_hello,
    .input = nats_input,
    .pub_tpl = nats_pub_tpl,
    .subscribe = nats_subscribe,
    .barrier = nats_barrier,
    .request = nats_request,
    .respond = nats_respond,
};
