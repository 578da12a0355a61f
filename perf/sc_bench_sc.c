/*
 * sc_bench_sc: SocketCluster, as socketcluster-client speaks it, for
 * sluice-bench (struct scb_proto; the connection below is sc_bench_conn.c).
 *
 * Owns: the `#handshake` invoke (cid 1) and its reply, the protocol's
 * pings (v2 "" answered with "", v1 "#1" with "#2"), the packets a scenario
 * sends, and the classification of every message from the server into the
 * events of struct scb_ops. Everything rides on WebSocket text frames, one
 * packet per frame.
 *
 * The two packets a benchmark receives by the million, a `#publish`
 * delivery of a plain string and a reply `{"rid":N}` or
 * `{"rid":N,"data":"..."}`, are recognised by their exact bytes; anything
 * else goes through packet_parse (broker/packet.h), batches included. Both
 * ways yield the same struct packet; debug builds check one against the
 * other.
 *
 *   publish   {"event":"#publish","data":{"channel":"<ch>","data":"<payload>"}}
 *   subscribe {"event":"#subscribe","data":{"channel":"<ch>"},"cid":N}
 *   barrier   {"event":"#publish","data":{"channel":"<ch>","data":"barrier"},"cid":N}
 *             (invokePublish: a server handles a socket's packets in order)
 *   request   {"event":"echo","data":"<payload>","cid":N}  ->  {"rid":N,"data":"<payload>"}
 *
 * Threads: the loop's (sc_bench_conn.h).
 */
#include "sc_bench_conn.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http.h"
#include "packet.h"

#define SPAN(buf, s) (int)(s).len, (const char *)(buf) + (s).off

static const char handshake[] = "{\"event\":\"#handshake\",\"data\":{\"authToken\":null},\"cid\":1}";

static int sc_hello(struct scb_loop *l, struct scb_conn *c)
{
	return scb_conn_send(l, c, handshake, sizeof(handshake) - 1);
}

/* ---- packets in ---------------------------------------------------------- */

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
	pk->event = (struct packet_span){10, 8};			 /* #publish */
	pk->data = (struct packet_span){27, (uint32_t)(n - 1 - 27)}; /* {"channel"... } */
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
static int handshake_reply(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf,
			   const struct packet *p)
{
	struct packet_span v;

	if (p->kind != PACKET_REPLY || !p->has_rid || p->rid != 1)
		return 0;
	if (packet_has(p->error))
		return scb_lose(l, c, 0, "handshake rejected: %.*s", SPAN(buf, p->error));
	if (packet_member(buf, p->data, "pingTimeout", 11, &v) != 0)
		return scb_fail(l, c, "handshake reply without data.pingTimeout: %.*s",
				SPAN(buf, p->span));
	return scb_conn_opened(l, c);
}

/* A string's contents, or the raw JSON value when it is not a plain string
 * (which no payload of ours is: the scenario's check then fails). */
static void value(const uint8_t *buf, struct packet_span s, const uint8_t **p, size_t *n)
{
	if (plain_string(buf + s.off, s.len)) {
		*p = buf + s.off + 1;
		*n = s.len - 2;
	} else {
		*p = buf + s.off;
		*n = s.len;
	}
}

static int sc_packet(struct scb_loop *l, struct scb_conn *c, const uint8_t *buf,
		     const struct packet *p)
{
	if (p->kind == PACKET_RAW)
		return scb_fail(l, c, "server sent a message that is not a packet: %.*s",
				SPAN(buf, p->span));
	if (p->kind == PACKET_PING)
		return 0; /* "#2" in a batch: not ours to answer */
	if (c->state == SCB_HELLO)
		return handshake_reply(l, c, buf, p);
	if (p->kind == PACKET_REPLY) {
		struct scb_reply r = {.id = p->rid};

		if (!p->has_rid)
			return scb_fail(l, c, "reply without an integer rid: %.*s",
					SPAN(buf, p->span));
		if (packet_has(p->data)) {
			r.has_data = true;
			value(buf, p->data, &r.data, &r.len);
		}
		if (packet_has(p->error)) {
			r.error = buf + p->error.off;
			r.error_len = p->error.len;
		}
		return l->ops->on_reply(l->ud, c, &r);
	}
	if (p->kind == PACKET_EVENT && p->ev == PACKET_EV_PUBLISH) {
		struct scb_msg m = {0};

		if (!p->has_channel || p->channel_esc || !packet_has(p->inner))
			return scb_fail(l, c, "publish without a plain channel or data: %.*s",
					SPAN(buf, p->span));
		m.channel = buf + p->channel.off;
		m.channel_len = p->channel.len;
		value(buf, p->inner, &m.data, &m.len);
		return l->ops->on_msg(l->ud, c, &m);
	}
	return 0; /* another event the server pushes: none of ours */
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
static ssize_t sc_input(struct scb_loop *l, struct scb_conn *c, uint8_t *buf, size_t n)
{
	struct packet p;
	size_t pos = 0;
	int r;

	if (n == 0) /* SocketCluster v2 ping */
		return scb_conn_send(l, c, "", 0) < 0 ? -1 : 0;
	if (n == 2 && buf[0] == '#' && buf[1] == '1') /* v1 ping */
		return scb_conn_send(l, c, "#2", 2) < 0 ? -1 : (ssize_t)n;
	if (c->state == SCB_OPEN && (fast_publish(buf, n, &p) || fast_reply(buf, n, &p))) {
		check_fast(buf, n, &p);
		return sc_packet(l, c, buf, &p) < 0 ? -1 : (ssize_t)n;
	}
	r = packet_parse(buf, n, &p);
	if (r < 0)
		return scb_fail(l, c, "server sent a message sluice-bench cannot take (%s): %.60s",
				packet_strerror(r), (const char *)buf);
	if (p.kind == PACKET_RAW && p.err)
		return scb_fail(l, c, "server sent invalid JSON (%s at byte %u): %.*s",
				packet_strerror(p.err), p.err_off, (int)(n < 80 ? n : 80), buf);
	if (p.kind != PACKET_BATCH)
		return sc_packet(l, c, buf, &p) < 0 ? -1 : (ssize_t)n;
	while ((r = packet_batch_next(buf, n, &pos, &p)) == 1)
		if (sc_packet(l, c, buf, &p) < 0)
			return -1;
	if (r < 0)
		return scb_fail(l, c, "bad batch from the server: %s", packet_strerror(r));
	return (ssize_t)n;
}

/* ---- packets out --------------------------------------------------------- */

static int sc_pub_tpl(const char *channel, const uint8_t *payload, size_t size, struct scb_tpl *t)
{
	static const char pre[] = "{\"event\":\"#publish\",\"data\":{\"channel\":\"";
	static const char mid[] = "\",\"data\":\"";
	static const char suf[] = "\"}}";
	size_t chl = strlen(channel), at = 0;

	t->len = sizeof(pre) - 1 + chl + sizeof(mid) - 1 + size + sizeof(suf) - 1;
	t->buf = malloc(t->len);
	if (!t->buf)
		return -1;
	memcpy(t->buf, pre, sizeof(pre) - 1);
	at += sizeof(pre) - 1;
	memcpy(t->buf + at, channel, chl);
	at += chl;
	memcpy(t->buf + at, mid, sizeof(mid) - 1);
	at += sizeof(mid) - 1;
	t->pay_off = at;
	memcpy(t->buf + at, payload, size);
	at += size;
	memcpy(t->buf + at, suf, sizeof(suf) - 1);
	return 0;
}

static int sc_subscribe(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id)
{
	return scb_conn_send_fmt(l, c,
				 "{\"event\":\"#subscribe\",\"data\":{\"channel\":\"%s\"},"
				 "\"cid\":%lld}",
				 channel, (long long)id);
}

static int sc_barrier(struct scb_loop *l, struct scb_conn *c, const char *channel, int64_t id)
{
	return scb_conn_send_fmt(l, c,
				 "{\"event\":\"#publish\",\"data\":{\"channel\":\"%s\","
				 "\"data\":\"barrier\"},\"cid\":%lld}",
				 channel, (long long)id);
}

static int sc_request(struct scb_loop *l, struct scb_conn *c, int64_t id, const uint8_t *payload,
		      size_t size)
{
	static const char pre[] = "{\"event\":\"echo\",\"data\":\"";
	static const char mid[] = "\",\"cid\":";
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%lld", (long long)id);
	size_t len = sizeof(pre) - 1 + size + sizeof(mid) - 1 + (size_t)nd + 1;
	uint8_t *p = scb_conn_msg_begin(l, c, len);

	if (!p)
		return -1;
	memcpy(p, pre, sizeof(pre) - 1);
	p += sizeof(pre) - 1;
	memcpy(p, payload, size);
	p += size;
	memcpy(p, mid, sizeof(mid) - 1);
	p += sizeof(mid) - 1;
	memcpy(p, digits, (size_t)nd);
	p[nd] = '}';
	scb_conn_msg_end(c);
	return 0;
}

const struct scb_proto scb_proto_sc = {
    .name = "sc",
    .default_path = HTTP_DEFAULT_WS_PATH,
    .stream = false,
    .hello = sc_hello,
    .input = sc_input,
    .pub_tpl = sc_pub_tpl,
    .subscribe = sc_subscribe,
    .barrier = sc_barrier,
    .request = sc_request,
    .respond = NULL,
};
