/*
 * sc_bench: the helpers sc_bench.h declares for the driver and every
 * scenario: payload marks and their check, the publish, report fields.
 */
#include "sc_bench.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* ---- payload marks ------------------------------------------------------- */

static const char hexdig[] = "0123456789abcdef";

static void hex(uint64_t v, uint8_t *out, int digits)
{
	for (int i = digits - 1; i >= 0; i--, v >>= 4)
		out[i] = (uint8_t)hexdig[v & 15];
}

/* 1 + the value of a lowercase hex digit; 0 for anything else */
static const uint8_t hexval[256] = {
    ['0'] = 1,	['1'] = 2,  ['2'] = 3,	['3'] = 4,  ['4'] = 5,	['5'] = 6,  ['6'] = 7,  ['7'] = 8,
    ['8'] = 9,	['9'] = 10, ['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
};

static bool unhex(const uint8_t *p, int digits, uint64_t *v)
{
	uint64_t x = 0;
	unsigned bad = 0;

	for (int i = 0; i < digits; i++) {
		unsigned d = hexval[p[i]] - 1u; /* not a digit: wraps to all ones */

		bad |= d;
		x = x << 4 | (d & 15);
	}
	*v = x;
	return bad < 16;
}

/* The tail also names the stream, so a message of another publisher or an
 * echo on the wrong connection does not pass for ours. */
static uint32_t tag(uint64_t seq, uint32_t stream)
{
	return (uint32_t)seq * 0x9E3779B1u ^ (uint32_t)(seq >> 32) ^ stream * 0x85EBCA77u;
}

void scb_payload_mark(uint8_t *p, size_t size, uint64_t seq, uint32_t stream)
{
	hex((uint64_t)stream << SCB_SEQ_BITS | (seq & ((1ull << SCB_SEQ_BITS) - 1)), p, SCB_SEQ_LEN);
	if (size >= SCB_SEQ_LEN + 2 * SCB_TAG_LEN)
		hex(tag(seq, stream), p + size - SCB_TAG_LEN, SCB_TAG_LEN);
}

int scb_payload_read(const uint8_t *p, size_t n, size_t size, uint64_t *seq, uint32_t *stream,
		     char *why, size_t why_len)
{
	uint64_t mark, t;

	if (n != size) {
		snprintf(why, why_len, "a %zu-byte payload where %zu were due: %.*s", n, size,
			 (int)(n < 40 ? n : 40), (const char *)p);
		return -1;
	}
	if (!unhex(p, SCB_SEQ_LEN, &mark)) {
		snprintf(why, why_len, "payload without a sequence mark: %.16s", (const char *)p);
		return -1;
	}
	*seq = mark & ((1ull << SCB_SEQ_BITS) - 1);
	*stream = (uint32_t)(mark >> SCB_SEQ_BITS);
	if (size >= SCB_SEQ_LEN + 2 * SCB_TAG_LEN &&
	    (!unhex(p + size - SCB_TAG_LEN, SCB_TAG_LEN, &t) || t != tag(*seq, *stream))) {
		snprintf(why, why_len, "message %llu of stream %u altered at its end",
			 (unsigned long long)*seq, *stream);
		return -1;
	}
	return 0;
}

int scb_payload_check(const uint8_t *p, size_t n, size_t size, uint64_t seq, uint32_t stream,
		      char *why, size_t why_len)
{
	uint64_t got;
	uint32_t from;

	if (scb_payload_read(p, n, size, &got, &from, why, why_len) < 0)
		return -1;
	if (from != stream) {
		snprintf(why, why_len, "message %llu of stream %u where stream %u was due",
			 (unsigned long long)got, from, stream);
		return -1;
	}
	if (got != seq) {
		snprintf(why, why_len, "message %llu where %llu was due", (unsigned long long)got,
			 (unsigned long long)seq);
		return -1;
	}
	return 0;
}

int scb_publish(struct scb *b, struct scb_conn *c, const struct scb_tpl *t, uint64_t seq)
{
	uint8_t *p = scb_conn_msg_begin(&b->loop, c, t->len);

	if (!p)
		return -1;
	memcpy(p, t->buf, t->len);
	scb_payload_mark(p + t->pay_off, b->o->size, seq, c->id);
	scb_conn_msg_end(c);
	return 0;
}

/* ---- report fields ------------------------------------------------------- */

__attribute__((format(printf, 3, 4))) static void out_add(struct scb_out *out, const char *key,
							  const char *fmt, ...)
{
	size_t room = sizeof(out->buf) - out->len;
	va_list ap;
	int n;

	if (out->json)
		n = snprintf(out->buf + out->len, room, "%s\"%s\":", out->len ? "," : "{", key);
	else
		n = snprintf(out->buf + out->len, room, "%s%s=", out->len ? " " : "", key);
	if (n < 0 || (size_t)n >= room)
		return;
	out->len += (size_t)n;
	room -= (size_t)n;
	va_start(ap, fmt);
	n = vsnprintf(out->buf + out->len, room, fmt, ap);
	va_end(ap);
	if (n > 0 && (size_t)n < room)
		out->len += (size_t)n;
}

void scb_out_str(struct scb_out *out, const char *key, const char *val)
{
	/* values are names the options checked: no quotes, spaces or '=' */
	out_add(out, key, out->json ? "\"%s\"" : "%s", val);
}

void scb_out_u64(struct scb_out *out, const char *key, uint64_t val)
{
	out_add(out, key, "%llu", (unsigned long long)val);
}

void scb_out_f(struct scb_out *out, const char *key, double val, int prec)
{
	out_add(out, key, "%.*f", prec, val);
}

void scb_mark_all(struct scb *b)
{
	for (unsigned i = 0; i < b->nconns; i++)
		if (b->conns[i].state == SCB_OPEN)
			scb_conn_mark(&b->loop, &b->conns[i]);
}
