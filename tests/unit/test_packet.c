/*
 * Unit tests of broker/packet: every packet shape of PROTOCOL.md with its
 * field spans compared byte for byte, key orders, whitespace at every token
 * boundary, escapes and Unicode in names, duplicate keys, cid/rid number
 * rules, batches, every prefix of every valid packet, invalid JSON with the
 * error it must give, the nesting limit, and the helpers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "packet.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

static int parse_str(const char *text, struct packet *p)
{
	return packet_parse((const uint8_t *)text, strlen(text), p);
}

/* The span's bytes equal want exactly (want NULL: the span is absent). */
static void assert_span(const char *name, const char *what, const char *text, struct packet_span s,
			const char *want)
{
	if (!want) {
		cr_assert_not(packet_has(s), "%s: %s should be absent", name, what);
		return;
	}
	cr_assert(s.off + s.len <= strlen(text), "%s: %s out of bounds", name, what);
	cr_assert_eq(s.len, strlen(want), "%s: %s is '%.*s', want '%s'", name, what, (int)s.len,
		     text + s.off, want);
	cr_assert(memcmp(text + s.off, want, s.len) == 0, "%s: %s bytes", name, what);
}

/* The decoded contents of a string span equal want. */
static void assert_decoded(const char *name, const char *what, const char *text,
			   struct packet_span s, const char *want)
{
	uint8_t out[256];
	int n = packet_unescape((const uint8_t *)text, s, out, sizeof(out));

	cr_assert_geq(n, 0, "%s: %s unescape failed: %d", name, what, n);
	cr_assert_eq((size_t)n, strlen(want), "%s: %s decoded to '%.*s', want '%s'", name, what, n,
		     out, want);
	cr_assert(memcmp(out, want, (size_t)n) == 0, "%s: %s decoded bytes", name, what);
}

/* ---- shapes ----------------------------------------------------------- */

struct shape {
	const char *name;
	const char *text;
	enum packet_kind kind;
	enum packet_event ev;
	const char *event; /* decoded; NULL unless PACKET_EVENT */
	bool has_cid;
	int64_t cid;
	bool has_rid;
	int64_t rid;
	const char *data; /* exact bytes, NULL when absent */
	const char *error;
	const char *channel; /* decoded, NULL when has_channel is false */
	const char *inner;
};

static const struct shape shapes[] = {
    {.name = "handshake",
     .text = "{\"event\":\"#handshake\",\"data\":{\"authToken\":null},\"cid\":1}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_HANDSHAKE,
     .event = "#handshake",
     .has_cid = true,
     .cid = 1,
     .data = "{\"authToken\":null}"},
    {.name = "handshake with token",
     .text = "{\"event\":\"#handshake\",\"data\":{\"authToken\":\"a.b.c\"},\"cid\":1}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_HANDSHAKE,
     .event = "#handshake",
     .has_cid = true,
     .cid = 1,
     .data = "{\"authToken\":\"a.b.c\"}"},
    {.name = "handshake reply",
     .text = "{\"rid\":1,\"data\":{\"id\":\"x1\",\"pingTimeout\":30000,\"isAuthenticated\":false}}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 1,
     .data = "{\"id\":\"x1\",\"pingTimeout\":30000,\"isAuthenticated\":false}"},
    {.name = "invoke",
     .text = "{\"event\":\"getUser\",\"data\":{\"id\":42},\"cid\":7}",
     .kind = PACKET_EVENT,
     .event = "getUser",
     .has_cid = true,
     .cid = 7,
     .data = "{\"id\":42}"},
    {.name = "invoke no data",
     .text = "{\"event\":\"now\",\"cid\":8}",
     .kind = PACKET_EVENT,
     .event = "now",
     .has_cid = true,
     .cid = 8},
    {.name = "transmit",
     .text = "{\"event\":\"chat\",\"data\":\"hi there\"}",
     .kind = PACKET_EVENT,
     .event = "chat",
     .data = "\"hi there\""},
    {.name = "transmit no data",
     .text = "{\"event\":\"#removeAuthToken\"}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_REMOVE_AUTH_TOKEN,
     .event = "#removeAuthToken"},
    {.name = "transmit, string cid",
     .text = "{\"event\":\"e\",\"data\":[1,2],\"cid\":\"5\"}",
     .kind = PACKET_EVENT,
     .event = "e",
     .data = "[1,2]"},
    {.name = "transmit, null cid",
     .text = "{\"event\":\"e\",\"data\":null,\"cid\":null}",
     .kind = PACKET_EVENT,
     .event = "e",
     .data = "null"},
    {.name = "reply ok",
     .text = "{\"rid\":3,\"data\":true}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 3,
     .data = "true"},
    {.name = "reply ok no data",
     .text = "{\"rid\":4}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 4},
    {.name = "reply error object",
     .text = "{\"rid\":5,\"error\":{\"name\":\"BrokerError\",\"message\":\"no\"}}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 5,
     .error = "{\"name\":\"BrokerError\",\"message\":\"no\"}"},
    {.name = "reply error string",
     .text = "{\"rid\":6,\"error\":\"bad\"}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 6,
     .error = "\"bad\""},
    {.name = "subscribe",
     .text = "{\"event\":\"#subscribe\",\"data\":{\"channel\":\"news\"},\"cid\":2}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 2,
     .data = "{\"channel\":\"news\"}",
     .channel = "news"},
    {.name = "subscribe waitForAuth data",
     .text = "{\"event\":\"#subscribe\",\"data\":{\"channel\":\"news\",\"waitForAuth\":true,"
	     "\"data\":{\"since\":5}},\"cid\":2}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 2,
     .data = "{\"channel\":\"news\",\"waitForAuth\":true,\"data\":{\"since\":5}}",
     .channel = "news",
     .inner = "{\"since\":5}"},
    {.name = "subscribe channel not a string",
     .text = "{\"event\":\"#subscribe\",\"data\":{\"channel\":5},\"cid\":2}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 2,
     .data = "{\"channel\":5}"},
    {.name = "subscribe data a string",
     .text = "{\"event\":\"#subscribe\",\"data\":\"news\",\"cid\":2}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 2,
     .data = "\"news\""},
    {.name = "unsubscribe",
     .text = "{\"event\":\"#unsubscribe\",\"data\":\"news\"}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_UNSUBSCRIBE,
     .event = "#unsubscribe",
     .data = "\"news\"",
     .channel = "news"},
    {.name = "unsubscribe with cid",
     .text = "{\"event\":\"#unsubscribe\",\"data\":\"news\",\"cid\":9}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_UNSUBSCRIBE,
     .event = "#unsubscribe",
     .has_cid = true,
     .cid = 9,
     .data = "\"news\"",
     .channel = "news"},
    {.name = "unsubscribe object",
     .text = "{\"event\":\"#unsubscribe\",\"data\":{\"channel\":\"news\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_UNSUBSCRIBE,
     .event = "#unsubscribe",
     .data = "{\"channel\":\"news\"}"},
    {.name = "publish",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"news\",\"data\":{\"t\":\"x\",\"n\":["
	     "1,2.5]}}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"news\",\"data\":{\"t\":\"x\",\"n\":[1,2.5]}}",
     .channel = "news",
     .inner = "{\"t\":\"x\",\"n\":[1,2.5]}"},
    {.name = "publish with cid",
     .text =
	 "{\"event\":\"#publish\",\"data\":{\"channel\":\"news\",\"data\":\"hello\"},\"cid\":11}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .has_cid = true,
     .cid = 11,
     .data = "{\"channel\":\"news\",\"data\":\"hello\"}",
     .channel = "news",
     .inner = "\"hello\""},
    {.name = "publish no inner data",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"c\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"c\"}",
     .channel = "c"},
    {.name = "publish inner before channel",
     .text = "{\"event\":\"#publish\",\"data\":{\"data\":[{}],\"channel\":\"\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"data\":[{}],\"channel\":\"\"}",
     .channel = "",
     .inner = "[{}]"},
    {.name = "publish base64",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"b\",\"data\":{\"base64\":true,"
	     "\"data\":\"AAE=\"}}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"b\",\"data\":{\"base64\":true,\"data\":\"AAE=\"}}",
     .channel = "b",
     .inner = "{\"base64\":true,\"data\":\"AAE=\"}"},
    {.name = "kickOut",
     .text = "{\"event\":\"#kickOut\",\"data\":{\"channel\":\"news\",\"message\":\"bye\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_KICKOUT,
     .event = "#kickOut",
     .data = "{\"channel\":\"news\",\"message\":\"bye\"}",
     .channel = "news",
     .inner = "\"bye\""},
    {.name = "authenticate",
     .text = "{\"event\":\"#authenticate\",\"data\":\"a.b.c\",\"cid\":3}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_AUTHENTICATE,
     .event = "#authenticate",
     .has_cid = true,
     .cid = 3,
     .data = "\"a.b.c\""},
    {.name = "setAuthToken",
     .text = "{\"event\":\"#setAuthToken\",\"data\":{\"token\":\"a.b.c\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SET_AUTH_TOKEN,
     .event = "#setAuthToken",
     .data = "{\"token\":\"a.b.c\"}"},
    {.name = "escaped event name",
     .text = "{\"event\":\"#pub\\u006cish\",\"data\":{\"channel\":\"ne\\u0077s\",\"data\":1}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"ne\\u0077s\",\"data\":1}",
     .channel = "news",
     .inner = "1"},
    {.name = "escaped keys",
     .text = "{\"\\u0065vent\":\"#subscribe\",\"d\\u0061ta\":{\"ch\\u0061nnel\":\"x\"},"
	     "\"\\u0063id\":4}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 4,
     .data = "{\"ch\\u0061nnel\":\"x\"}",
     .channel = "x"},
    {.name = "escape that only looks reserved",
     .text = "{\"event\":\"\\u0023publish2\",\"data\":1}",
     .kind = PACKET_EVENT,
     .event = "#publish2",
     .data = "1"},
    {.name = "unicode channel",
     .text = "{\"event\":\"#subscribe\",\"data\":{\"channel\":"
	     "\"\xe6\x96\xb0\xe9\x97\xbb\xf0\x9f\x98\x80\"},\"cid\":2}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_SUBSCRIBE,
     .event = "#subscribe",
     .has_cid = true,
     .cid = 2,
     .data = "{\"channel\":\"\xe6\x96\xb0\xe9\x97\xbb\xf0\x9f\x98\x80\"}",
     .channel = "\xe6\x96\xb0\xe9\x97\xbb\xf0\x9f\x98\x80"},
    {.name = "surrogate pair escape",
     .text = "{\"event\":\"#unsubscribe\",\"data\":\"\\ud83d\\ude00!\"}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_UNSUBSCRIBE,
     .event = "#unsubscribe",
     .data = "\"\\ud83d\\ude00!\"",
     .channel = "\xf0\x9f\x98\x80!"},
    {.name = "lone surrogate escapes",
     .text = "{\"event\":\"#unsubscribe\",\"data\":\"a\\ud800b\\udc00\"}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_UNSUBSCRIBE,
     .event = "#unsubscribe",
     .data = "\"a\\ud800b\\udc00\"",
     .channel = "a\xef\xbf\xbd"
		"b\xef\xbf\xbd"},
    {.name = "every simple escape",
     .text = "{\"event\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"}",
     .kind = PACKET_EVENT,
     .event = "\"\\/\b\f\n\r\t"},
    {.name = "unknown keys skipped",
     .text = "{\"x\":[{\"event\":\"no\"}],\"event\":\"yes\",\"y\":{\"cid\":1},\"z\":-1.5e+3}",
     .kind = PACKET_EVENT,
     .event = "yes"},
    {.name = "event and rid: event wins",
     .text = "{\"rid\":1,\"event\":\"e\"}",
     .kind = PACKET_EVENT,
     .event = "e",
     .has_rid = true,
     .rid = 1},
    {.name = "non-string event, numeric rid",
     .text = "{\"event\":5,\"rid\":2,\"data\":0}",
     .kind = PACKET_REPLY,
     .has_rid = true,
     .rid = 2,
     .data = "0"},
    {.name = "empty event name", .text = "{\"event\":\"\"}", .kind = PACKET_EVENT, .event = ""},
    {.name = "duplicate event: last wins",
     .text = "{\"event\":\"a\",\"event\":\"b\"}",
     .kind = PACKET_EVENT,
     .event = "b"},
    {.name = "duplicate data: last wins",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"a\",\"data\":1},\"data\":{"
	     "\"channel\":\"b\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"b\"}",
     .channel = "b"},
    {.name = "duplicate channel: last wins",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"a\",\"channel\":\"b\"}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"a\",\"channel\":\"b\"}",
     .channel = "b"},
    {.name = "duplicate channel, last not a string",
     .text = "{\"event\":\"#publish\",\"data\":{\"channel\":\"a\",\"channel\":null}}",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .data = "{\"channel\":\"a\",\"channel\":null}"},
    {.name = "duplicate cid: last wins",
     .text = "{\"event\":\"e\",\"cid\":1,\"cid\":\"x\"}",
     .kind = PACKET_EVENT,
     .event = "e"},
    {.name = "cid extremes",
     .text = "{\"event\":\"e\",\"cid\":-9223372036854775808}",
     .kind = PACKET_EVENT,
     .event = "e",
     .has_cid = true,
     .cid = INT64_MIN},
    {.name = "cid max",
     .text = "{\"event\":\"e\",\"cid\":9223372036854775807}",
     .kind = PACKET_EVENT,
     .event = "e",
     .has_cid = true,
     .cid = INT64_MAX},
    {.name = "rid -0", .text = "{\"rid\":-0}", .kind = PACKET_REPLY, .has_rid = true, .rid = 0},
    {.name = "whitespace everywhere",
     .text = " \t\r\n{ \"event\" :\t\"#publish\" ,\n\"data\"\r: { \"channel\" : \"n\" , \"data\" : "
	     "[ 1 , { } ] } , \"cid\" : 12 } \n",
     .kind = PACKET_EVENT,
     .ev = PACKET_EV_PUBLISH,
     .event = "#publish",
     .has_cid = true,
     .cid = 12,
     .data = "{ \"channel\" : \"n\" , \"data\" : [ 1 , { } ] }",
     .channel = "n",
     .inner = "[ 1 , { } ]"},
    {.name = "no event, no rid: raw", .text = "{\"data\":1}", .kind = PACKET_RAW},
    {.name = "string rid: raw", .text = "{\"rid\":\"1\"}", .kind = PACKET_RAW},
    {.name = "empty object: raw", .text = "{}", .kind = PACKET_RAW},
};

static void check_shape(const struct shape *c, const char *text, const struct packet *p)
{
	cr_assert_eq(p->kind, c->kind, "%s: kind %s", c->name, packet_kind_name(p->kind));
	cr_assert_eq(p->err, 0, "%s: err %s", c->name, packet_strerror(p->err));
	if (c->kind == PACKET_RAW)
		return;
	cr_assert_eq(p->ev, c->ev, "%s: ev %d", c->name, p->ev);
	if (c->event)
		assert_decoded(c->name, "event", text, p->event, c->event);
	cr_assert_eq(p->has_cid, c->has_cid, "%s: has_cid", c->name);
	if (c->has_cid)
		cr_assert_eq(p->cid, c->cid, "%s: cid %lld", c->name, (long long)p->cid);
	cr_assert_eq(p->has_rid, c->has_rid, "%s: has_rid", c->name);
	if (c->has_rid)
		cr_assert_eq(p->rid, c->rid, "%s: rid", c->name);
	assert_span(c->name, "data", text, p->data, c->data);
	assert_span(c->name, "error", text, p->error, c->error);
	assert_span(c->name, "inner", text, p->inner, c->inner);
	cr_assert_eq(p->has_channel, c->channel != NULL, "%s: has_channel", c->name);
	if (c->channel)
		assert_decoded(c->name, "channel", text, p->channel, c->channel);
	/* the spans the broker forwards must be JSON on their own */
	if (packet_has(p->data))
		cr_assert_eq(packet_validate((const uint8_t *)text + p->data.off, p->data.len), 0,
			     "%s: data alone is not JSON", c->name);
	if (packet_has(p->inner))
		cr_assert_eq(packet_validate((const uint8_t *)text + p->inner.off, p->inner.len), 0,
			     "%s: inner alone is not JSON", c->name);
	cr_assert(p->span.len >= 2 && p->span.off + p->span.len <= strlen(text) &&
		      text[p->span.off] == '{' && text[p->span.off + p->span.len - 1] == '}',
		  "%s: span is not the object", c->name);
}

Test(packet, shapes)
{
	for (size_t i = 0; i < N(shapes); i++) {
		struct packet p;

		cr_assert_eq(parse_str(shapes[i].text, &p), 0, "%s", shapes[i].name);
		check_shape(&shapes[i], shapes[i].text, &p);
	}
}

/* The unescaped fast path and the flag: no escapes means the span is the
 * name itself. */
Test(packet, escape_flags)
{
	struct packet p;
	const char *t = "{\"event\":\"#publish\",\"data\":{\"channel\":\"ne\\u0077s\"}}";

	cr_assert_eq(parse_str(t, &p), 0);
	cr_assert_not(p.event_esc);
	cr_assert(p.channel_esc);
	assert_span("flags", "event", t, p.event, "#publish");
	assert_span("flags", "channel", t, p.channel, "ne\\u0077s");
}

static bool in_token(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '.' || c == '+' || c == '-';
}

/* Where span s of a text with one byte inserted at `at` was before. */
static void unshift(struct packet_span *s, size_t at)
{
	if (!packet_has(*s))
		return;
	if (at < s->off)
		s->off--;
	else if (at < s->off + s->len)
		s->len--;
}

/* Whitespace inserted at every token boundary must change nothing but the
 * offsets (inside a string it would change the string, inside a number or
 * literal split it). */
Test(packet, whitespace_at_every_boundary)
{
	static const char ws[] = " \t\n\r";

	for (size_t i = 0; i < N(shapes); i++) {
		const char *t = shapes[i].text;
		size_t len = strlen(t);
		bool in_str = false, esc = false;

		for (size_t at = 0; at <= len; at++) {
			if (!in_str &&
			    !(at > 0 && at < len && in_token(t[at - 1]) && in_token(t[at]))) {
				char buf[1024];
				struct packet p;

				cr_assert_lt(len + 1, sizeof(buf));
				memcpy(buf, t, at);
				buf[at] = ws[at % 4];
				memcpy(buf + at + 1, t + at, len - at + 1);
				cr_assert_eq(parse_str(buf, &p), 0);
				struct packet_span *spans[] = {&p.span,	 &p.event,   &p.data,
							       &p.error, &p.channel, &p.inner};
				for (size_t k = 0; k < N(spans); k++)
					unshift(spans[k], at);
				check_shape(&shapes[i], t, &p);
			}
			if (at == len)
				break;
			if (esc)
				esc = false;
			else if (in_str && t[at] == '\\')
				esc = true;
			else if (t[at] == '"')
				in_str = !in_str;
		}
	}
}

/* All 6 orders of the members of an invoke, all 6 of a publish's data. */
Test(packet, key_orders)
{
	static const char *const env[3] = {"\"event\":\"#publish\"", "\"cid\":5",
					   "\"data\":{DATA}"};
	static const char *const dat[3] = {"\"channel\":\"c\"", "\"data\":[true]",
					   "\"waitForAuth\":false"};
	static const int perm[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2},
				       {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};

	for (int a = 0; a < 6; a++) {
		for (int d = 0; d < 6; d++) {
			char inner[128], text[256];
			struct packet p;

			snprintf(inner, sizeof(inner), "{%s,%s,%s}", dat[perm[d][0]],
				 dat[perm[d][1]], dat[perm[d][2]]);
			int n = 0;
			n += snprintf(text + n, sizeof(text) - (size_t)n, "{");
			for (int k = 0; k < 3; k++) {
				const char *m = env[perm[a][k]];

				if (k)
					n += snprintf(text + n, sizeof(text) - (size_t)n, ",");
				if (strstr(m, "{DATA}"))
					n += snprintf(text + n, sizeof(text) - (size_t)n,
						      "\"data\":%s", inner);
				else
					n += snprintf(text + n, sizeof(text) - (size_t)n, "%s", m);
			}
			snprintf(text + n, sizeof(text) - (size_t)n, "}");

			cr_assert_eq(parse_str(text, &p), 0, "%s", text);
			cr_assert_eq(p.kind, PACKET_EVENT, "%s", text);
			cr_assert_eq(p.ev, PACKET_EV_PUBLISH, "%s", text);
			cr_assert(p.has_cid && p.cid == 5, "%s", text);
			assert_span(text, "data", text, p.data, inner);
			assert_span(text, "channel", text, p.channel, "c");
			assert_span(text, "inner", text, p.inner, "[true]");
		}
	}
}

/* ---- cid and rid numbers ---------------------------------------------- */

struct id_case {
	const char *num;
	bool has; /* an int64 integer */
	int64_t val;
	bool other; /* another JSON number */
};

static const struct id_case id_cases[] = {
    {"0", true, 0, false},
    {"1", true, 1, false},
    {"-1", true, -1, false},
    {"9223372036854775807", true, INT64_MAX, false},
    {"-9223372036854775808", true, INT64_MIN, false},
    {"9223372036854775808", false, 0, true},
    {"-9223372036854775809", false, 0, true},
    {"18446744073709551616", false, 0, true},
    {"123456789012345678901234567890", false, 0, true},
    {"1.0", false, 0, true},
    {"1.5", false, 0, true},
    {"1e3", false, 0, true},
    {"1E+3", false, 0, true},
    {"2e-1", false, 0, true},
    {"\"1\"", false, 0, false},
    {"null", false, 0, false},
    {"true", false, 0, false},
    {"[1]", false, 0, false},
    {"{\"n\":1}", false, 0, false},
};

Test(packet, cid_numbers)
{
	for (size_t i = 0; i < N(id_cases); i++) {
		const struct id_case *c = &id_cases[i];
		char text[128];
		struct packet p;

		snprintf(text, sizeof(text), "{\"event\":\"e\",\"cid\":%s}", c->num);
		cr_assert_eq(parse_str(text, &p), 0, "%s", text);
		cr_assert_eq(p.kind, PACKET_EVENT, "%s", text);
		cr_assert_eq(p.has_cid, c->has, "%s: has_cid", text);
		cr_assert_eq(p.cid_other, c->other, "%s: cid_other", text);
		if (c->has)
			cr_assert_eq(p.cid, c->val, "%s: value", text);
	}
}

Test(packet, rid_numbers)
{
	for (size_t i = 0; i < N(id_cases); i++) {
		const struct id_case *c = &id_cases[i];
		char text[128];
		struct packet p;

		snprintf(text, sizeof(text), "{\"rid\":%s,\"data\":1}", c->num);
		cr_assert_eq(parse_str(text, &p), 0, "%s", text);
		/* any JSON number makes a reply, as in the reference */
		cr_assert_eq(p.kind, c->has || c->other ? PACKET_REPLY : PACKET_RAW, "%s", text);
		cr_assert_eq(p.has_rid, c->has, "%s: has_rid", text);
		if (c->has)
			cr_assert_eq(p.rid, c->val, "%s: value", text);
		if (p.kind == PACKET_REPLY) {
			cr_assert_eq(p.rid_other, c->other, "%s: rid_other", text);
			assert_span(text, "data", text, p.data, "1");
		}
	}
}

/* ---- pings and raw text ----------------------------------------------- */

struct raw_case {
	const char *text;
	size_t len; /* 0: strlen */
	enum packet_kind kind;
	uint8_t ping_v1;
	int err; /* p.err of a raw message */
};

static const struct raw_case raw_cases[] = {
    {"", 0, PACKET_PING, 0, 0},
    {"#1", 0, PACKET_PING, 1, 0},
    {"#2", 0, PACKET_PING, 2, 0},
    {"#3", 0, PACKET_RAW, 0, 0},
    {" #1", 0, PACKET_RAW, 0, 0},
    {"#1 ", 0, PACKET_RAW, 0, 0},
    {"#", 0, PACKET_RAW, 0, 0},
    {"\"\"", 0, PACKET_RAW, 0, 0}, /* a JSON string, not the empty frame */
    {" ", 0, PACKET_RAW, 0, 0},
    {"hello", 0, PACKET_RAW, 0, 0},
    {"123", 0, PACKET_RAW, 0, 0},
    {"null", 0, PACKET_RAW, 0, 0},
    {"\xef\xbb\xbf{\"event\":\"e\"}", 0, PACKET_RAW, 0, 0}, /* a BOM is no whitespace */
    {"\v{\"event\":\"e\"}", 0, PACKET_RAW, 0, 0},
    {"{\"event\":\"e\"", 0, PACKET_RAW, 0, PACKET_ERR_TRUNCATED},
    {"{\"event\":\"e\"} x", 0, PACKET_RAW, 0, PACKET_ERR_TRAILING},
    {"{\"event\":\"e\"}{}", 0, PACKET_RAW, 0, PACKET_ERR_TRAILING},
    {"{\"event\":\"e\"}\0", 14, PACKET_RAW, 0, PACKET_ERR_TRAILING},
    {"{\"event\":\"e\0\"}", 14, PACKET_RAW, 0, PACKET_ERR_STRING},
    {"[{\"event\":\"e\"},]", 0, PACKET_RAW, 0, PACKET_ERR_SYNTAX},
};

Test(packet, pings_and_raw)
{
	for (size_t i = 0; i < N(raw_cases); i++) {
		const struct raw_case *c = &raw_cases[i];
		size_t len = c->len ? c->len : strlen(c->text);
		struct packet p;

		cr_assert_eq(packet_parse((const uint8_t *)c->text, len, &p), 0, "case %zu", i);
		cr_assert_eq(p.kind, c->kind, "case %zu: kind %s", i, packet_kind_name(p.kind));
		cr_assert_eq(p.ping_v1, c->ping_v1, "case %zu: ping_v1", i);
		cr_assert_eq(p.err, c->err, "case %zu: err %s", i, packet_strerror(p.err));
		cr_assert_not(packet_has(p.data), "case %zu: data", i);
		cr_assert_not(packet_has(p.event), "case %zu: event", i);
	}
}

/* ---- invalid JSON ----------------------------------------------------- */

struct bad_case {
	const char *name;
	const char *value; /* put in as the data of a transmit */
	int err;
};

static const struct bad_case bad_cases[] = {
    {"trailing comma object", "{\"a\":1,}", PACKET_ERR_SYNTAX},
    {"trailing comma array", "[1,]", PACKET_ERR_SYNTAX},
    {"leading comma array", "[,1]", PACKET_ERR_SYNTAX},
    {"double comma", "[1,,2]", PACKET_ERR_SYNTAX},
    {"missing comma", "[1 2]", PACKET_ERR_SYNTAX},
    {"missing colon", "{\"a\" 1}", PACKET_ERR_SYNTAX},
    {"unquoted key", "{a:1}", PACKET_ERR_SYNTAX},
    {"single quotes", "'x'", PACKET_ERR_SYNTAX},
    {"single-quoted key", "{'a':1}", PACKET_ERR_SYNTAX},
    {"NaN", "NaN", PACKET_ERR_SYNTAX},
    {"Infinity", "Infinity", PACKET_ERR_SYNTAX},
    {"-Infinity", "-Infinity", PACKET_ERR_NUMBER},
    {"undefined", "undefined", PACKET_ERR_SYNTAX},
    {"True", "True", PACKET_ERR_SYNTAX},
    {"nul", "nul}", PACKET_ERR_SYNTAX},
    {"truex", "truex", PACKET_ERR_SYNTAX},
    {"comment", "/*c*/1", PACKET_ERR_SYNTAX},
    {"leading zero", "01", PACKET_ERR_NUMBER},
    {"negative leading zero", "-01", PACKET_ERR_NUMBER},
    {"plus sign", "+1", PACKET_ERR_SYNTAX},
    {"bare dot", ".5", PACKET_ERR_SYNTAX},
    {"no fraction digits", "1.", PACKET_ERR_NUMBER},
    {"fraction then e", "1.e5", PACKET_ERR_NUMBER},
    {"no exponent digits", "1e", PACKET_ERR_NUMBER},
    {"exponent sign only", "1e+", PACKET_ERR_NUMBER},
    {"minus only", "-", PACKET_ERR_NUMBER},
    {"hex number", "0x1F", PACKET_ERR_SYNTAX},
    {"raw tab in string", "\"a\tb\"", PACKET_ERR_STRING},
    {"raw newline in string", "\"a\nb\"", PACKET_ERR_STRING},
    {"control 0x1f in string", "\"\x1f\"", PACKET_ERR_STRING},
    {"bad escape", "\"\\x41\"", PACKET_ERR_STRING},
    {"escaped single quote", "\"\\'\"", PACKET_ERR_STRING},
    {"short unicode escape", "\"\\u12\"", PACKET_ERR_STRING},
    {"non-hex unicode escape", "\"\\u12G4\"", PACKET_ERR_STRING},
    {"overlong 2-byte", "\"\xc0\x80\"", PACKET_ERR_UTF8},
    {"overlong 3-byte", "\"\xe0\x80\x80\"", PACKET_ERR_UTF8},
    {"utf-16 surrogate as utf-8", "\"\xed\xa0\x80\"", PACKET_ERR_UTF8},
    {"above U+10FFFF", "\"\xf4\x90\x80\x80\"", PACKET_ERR_UTF8},
    {"lead byte F5", "\"\xf5\x80\x80\x80\"", PACKET_ERR_UTF8},
    {"lone continuation", "\"\x80\"", PACKET_ERR_UTF8},
    {"cut sequence", "\"\xe6\x96\"", PACKET_ERR_UTF8},
    {"latin-1 byte", "\"caf\xe9\"", PACKET_ERR_UTF8},
    {"bad utf-8 outside string", "\xc3\xa9", PACKET_ERR_SYNTAX},
    {"unclosed array", "[1", PACKET_ERR_SYNTAX}, /* the envelope's '}' follows */
    {"close mismatch", "[1}", PACKET_ERR_SYNTAX},
    {"empty value", "", PACKET_ERR_SYNTAX},
};

Test(packet, invalid_json)
{
	for (size_t i = 0; i < N(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char text[256];
		struct packet p;

		snprintf(text, sizeof(text), "{\"event\":\"e\",\"data\":%s}", c->value);
		cr_assert_eq(parse_str(text, &p), 0, "%s", c->name);
		cr_assert_eq(p.kind, PACKET_RAW, "%s: kind %s", c->name, packet_kind_name(p.kind));
		cr_assert_eq(p.err, c->err, "%s: err %d (%s)", c->name, p.err,
			     packet_strerror(p.err));
		cr_assert_lt(p.err_off, strlen(text), "%s: err_off", c->name);
		cr_assert_not(packet_has(p.event) || packet_has(p.data) || p.has_cid, "%s",
			      c->name);
		/* the same value alone, as packet_validate sees it */
		if (c->value[0])
			cr_assert_lt(packet_validate((const uint8_t *)c->value, strlen(c->value)),
				     0, "%s: validate", c->name);
	}
}

/* Values JSON.parse takes that a careless scanner might refuse. */
Test(packet, valid_json_values)
{
	static const char *const ok[] = {
	    "0",
	    "-0",
	    "0.0",
	    "-0.5e-0",
	    "1E5",
	    "1e+5",
	    "123456789012345678901234567890.5e999",
	    "\"\"",
	    "\"\\ud800\"",
	    "\"\\udfff\\ud800\"",
	    "\"\\/\"",
	    "\"\\u00e9\\u00E9\"",
	    "\"\xf4\x8f\xbf\xbf\"",
	    "\"\xef\xbf\xbf\"",
	    "\"\x7f\"",
	    "[]",
	    "{}",
	    "[[],{},[{}]]",
	    "{\"\":\"\"}",
	    " \t\n\r1 \t\n\r",
	    "true",
	    "false",
	    "null",
	    "{\"a\":1,\"a\":2}",
	};

	for (size_t i = 0; i < N(ok); i++) {
		char text[256];
		struct packet p;

		cr_assert_eq(packet_validate((const uint8_t *)ok[i], strlen(ok[i])), 0, "%s",
			     ok[i]);
		snprintf(text, sizeof(text), "{\"event\":\"e\",\"data\":%s}", ok[i]);
		cr_assert_eq(parse_str(text, &p), 0, "%s", ok[i]);
		cr_assert_eq(p.kind, PACKET_EVENT, "%s: err %s", ok[i], packet_strerror(p.err));
		cr_assert_eq(packet_validate((const uint8_t *)text + p.data.off, p.data.len), 0,
			     "%s", ok[i]);
	}
	cr_assert_eq(packet_validate((const uint8_t *)"", 0), PACKET_ERR_TRUNCATED);
	cr_assert_eq(packet_validate((const uint8_t *)"1 2", 3), PACKET_ERR_TRAILING);
}

/* ---- truncation ------------------------------------------------------- */

/* Every proper prefix of a valid packet is PACKET_TRUNCATED raw (or a ping
 * when empty, or plain raw before the '{'), never a packet. */
static void check_prefixes(const char *name, const char *t)
{
	size_t len = strlen(t), open = strcspn(t, "{[");

	while (len > 0 && strchr(" \t\r\n", t[len - 1]))
		len--; /* trailing whitespace completes nothing */
	for (size_t n = 0; n < len; n++) {
		uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
		struct packet p;

		cr_assert_not_null(copy);
		memcpy(copy, t, n);
		cr_assert_eq(packet_parse(copy, n, &p), 0, "%s: prefix %zu", name, n);
		if (n == 0) {
			cr_assert_eq(p.kind, PACKET_PING, "%s", name);
		} else {
			cr_assert_eq(p.kind, PACKET_RAW, "%s: prefix %zu is %s", name, n,
				     packet_kind_name(p.kind));
			cr_assert_eq(p.err, n <= open ? 0 : PACKET_ERR_TRUNCATED,
				     "%s: prefix %zu err %s", name, n, packet_strerror(p.err));
			if (n > open)
				cr_assert_eq(p.err_off, n, "%s: prefix %zu err_off", name, n);
		}
		free(copy);
	}
}

Test(packet, every_prefix)
{
	for (size_t i = 0; i < N(shapes); i++)
		check_prefixes(shapes[i].name, shapes[i].text);
	check_prefixes("batch",
		       "[{\"event\":\"a\",\"data\":[1,-2.5e+3,true,false,null]},{\"rid\":1}]");
	check_prefixes("escapes",
		       "{\"event\":\"\\u00e9\\n\\ud83d\\ude00\xe6\x96\xb0\xf0\x9f\x98\x80\"}");
}

/* ---- batches ---------------------------------------------------------- */

struct batch_elem {
	enum packet_kind kind;
	const char *span; /* exact bytes of the element */
};

struct batch_case {
	const char *name;
	const char *text;
	uint32_t count;
	struct batch_elem elems[4];
};

static const struct batch_case batch_cases[] = {
    {"empty", "[]", 0, {{0}}},
    {"empty, spaced", " [ \n ] ", 0, {{0}}},
    {"two packets",
     "[{\"event\":\"a\",\"cid\":1},{\"rid\":2,\"data\":{}}]",
     2,
     {{PACKET_EVENT, "{\"event\":\"a\",\"cid\":1}"}, {PACKET_REPLY, "{\"rid\":2,\"data\":{}}"}}},
    {"spaced",
     " [ {\"event\":\"a\"} ,\n{\"event\":\"b\"} ] ",
     2,
     {{PACKET_EVENT, "{\"event\":\"a\"}"}, {PACKET_EVENT, "{\"event\":\"b\"}"}}},
    {"nested array element",
     "[[{\"event\":\"a\"}],{\"event\":\"b\"}]",
     2,
     {{PACKET_RAW, "[{\"event\":\"a\"}]"}, {PACKET_EVENT, "{\"event\":\"b\"}"}}},
    {"scalars",
     "[1,\"\",null,{}]",
     4,
     {{PACKET_RAW, "1"}, {PACKET_RAW, "\"\""}, {PACKET_RAW, "null"}, {PACKET_RAW, "{}"}}},
};

Test(packet, batches)
{
	for (size_t i = 0; i < N(batch_cases); i++) {
		const struct batch_case *c = &batch_cases[i];
		const uint8_t *buf = (const uint8_t *)c->text;
		size_t len = strlen(c->text), pos = 0;
		struct packet p;
		uint32_t k = 0;
		int r;

		cr_assert_eq(packet_parse(buf, len, &p), 0, "%s", c->name);
		cr_assert_eq(p.kind, PACKET_BATCH, "%s: kind %s", c->name,
			     packet_kind_name(p.kind));
		cr_assert_eq(p.count, c->count, "%s: count %u", c->name, p.count);
		while ((r = packet_batch_next(buf, len, &pos, &p)) == 1) {
			cr_assert_lt(k, c->count, "%s: too many elements", c->name);
			cr_assert_eq(p.kind, c->elems[k].kind, "%s: element %u kind %s", c->name, k,
				     packet_kind_name(p.kind));
			assert_span(c->name, "element", c->text, p.span, c->elems[k].span);
			k++;
		}
		cr_assert_eq(r, 0, "%s: iterator error %d", c->name, r);
		cr_assert_eq(k, c->count, "%s: %u elements", c->name, k);
		cr_assert_eq(packet_batch_next(buf, len, &pos, &p), 0, "%s: end is sticky",
			     c->name);
	}
}

/* A batch's elements carry the same fields as single packets. */
Test(packet, batch_of_shapes)
{
	static char text[16384];
	size_t n = 0, pos = 0, k = 0;
	struct packet p;
	int r;

	text[n++] = '[';
	for (size_t i = 0; i < N(shapes); i++)
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%s%s", i ? "," : "",
				      shapes[i].text);
	text[n++] = ']';
	text[n] = 0;
	cr_assert_eq(parse_str(text, &p), 0);
	cr_assert_eq(p.kind, PACKET_BATCH);
	cr_assert_eq(p.count, N(shapes));
	while ((r = packet_batch_next((const uint8_t *)text, n, &pos, &p)) == 1) {
		cr_assert_lt(k, N(shapes));
		check_shape(&shapes[k], text, &p);
		k++;
	}
	cr_assert_eq(r, 0);
	cr_assert_eq(k, N(shapes));
}

/* Invalid anywhere makes the whole batch raw, as JSON.parse fails whole. */
Test(packet, batch_invalid_is_raw)
{
	static const char *const bad[] = {
	    "[{\"event\":\"a\"},{\"event\":\"b\"]",
	    "[{\"event\":\"a\"}",
	    "[{\"event\":\"a\"},",
	    "[{\"event\":\"a\"}]]",
	    "[{\"event\":\"a\"} {\"event\":\"b\"}]",
	    "[{\"event\":\"a\"},{\"event\":'b'}]",
	};

	for (size_t i = 0; i < N(bad); i++) {
		struct packet p;

		cr_assert_eq(parse_str(bad[i], &p), 0, "%s", bad[i]);
		cr_assert_eq(p.kind, PACKET_RAW, "%s", bad[i]);
		cr_assert_lt(p.err, 0, "%s", bad[i]);
	}
	/* the iterator stops at the broken element when called regardless */
	const char *t = "[{\"event\":\"a\"},{\"event\":x}]";
	size_t pos = 0;
	struct packet p;

	cr_assert_eq(packet_batch_next((const uint8_t *)t, strlen(t), &pos, &p), 1);
	cr_assert_eq(p.kind, PACKET_EVENT);
	size_t before = pos;
	cr_assert_eq(packet_batch_next((const uint8_t *)t, strlen(t), &pos, &p), PACKET_ERR_SYNTAX);
	cr_assert_eq(pos, before, "nothing changed on error");
	pos = 0;
	cr_assert_eq(packet_batch_next((const uint8_t *)"{}", 2, &pos, &p), PACKET_ERR_SYNTAX);
}

/* ---- nesting ---------------------------------------------------------- */

/* depth arrays around 0 as the data of a packet, inside `batch` arrays. */
static int parse_nested(unsigned depth, bool batch, struct packet *p)
{
	static char text[120000];
	size_t n = 0;

	if (batch)
		text[n++] = '[';
	n += (size_t)sprintf(text + n, "{\"event\":\"e\",\"data\":");
	for (unsigned i = 0; i < depth; i++)
		text[n++] = '[';
	text[n++] = '0';
	for (unsigned i = 0; i < depth; i++)
		text[n++] = ']';
	text[n++] = '}';
	if (batch)
		text[n++] = ']';
	return packet_parse((const uint8_t *)text, n, p);
}

Test(packet, depth_limit)
{
	struct packet p;
	uint8_t deep[PACKET_MAX_DEPTH * 2 + 4];

	/* the envelope is one level: data may open 63 more */
	cr_assert_eq(parse_nested(PACKET_MAX_DEPTH - 1, false, &p), 0);
	cr_assert_eq(p.kind, PACKET_EVENT);
	cr_assert_eq(parse_nested(PACKET_MAX_DEPTH, false, &p), PACKET_ERR_DEPTH);
	cr_assert_eq(p.kind, 0, "cleared on error");
	cr_assert_eq(p.err, PACKET_ERR_DEPTH);
	cr_assert_eq(parse_nested(PACKET_MAX_DEPTH - 2, true, &p), 0);
	cr_assert_eq(p.kind, PACKET_BATCH);
	cr_assert_eq(parse_nested(PACKET_MAX_DEPTH - 1, true, &p), PACKET_ERR_DEPTH);
	cr_assert_eq(parse_nested(100000 / 2, false, &p), PACKET_ERR_DEPTH);

	/* a value alone may nest PACKET_MAX_DEPTH deep */
	memset(deep, '[', PACKET_MAX_DEPTH);
	memset(deep + PACKET_MAX_DEPTH, ']', PACKET_MAX_DEPTH);
	cr_assert_eq(packet_validate(deep, 2 * PACKET_MAX_DEPTH), 0);
	memset(deep, '{', 1);
	cr_assert_eq(packet_validate(deep, 2 * PACKET_MAX_DEPTH), PACKET_ERR_SYNTAX);
	memset(deep, '[', sizeof(deep));
	cr_assert_eq(packet_validate(deep, sizeof(deep)), PACKET_ERR_DEPTH);
}

/* ---- helpers ---------------------------------------------------------- */

Test(packet, member)
{
	const char *t = "{\"event\":\"#handshake\",\"data\":{\"x\":[1,{\"authToken\":0}],"
			"\"auth\\u0054oken\":\"a.b.c\",\"n\":1,\"n\":{\"m\":2}},\"cid\":1}";
	const uint8_t *b = (const uint8_t *)t;
	struct packet p;
	struct packet_span v = {7, 7};

	cr_assert_eq(parse_str(t, &p), 0);
	cr_assert_eq(packet_member(b, p.data, "authToken", 9, &v), 0);
	assert_span("member", "authToken", t, v, "\"a.b.c\"");
	cr_assert_eq(packet_member(b, p.data, "n", 1, &v), 0);
	assert_span("member", "n (last wins)", t, v, "{\"m\":2}");
	cr_assert_eq(packet_member(b, v, "m", 1, &v), 0);
	assert_span("member", "n.m", t, v, "2");
	v = (struct packet_span){7, 7};
	cr_assert_eq(packet_member(b, p.data, "missing", 7, &v), -ENOENT);
	cr_assert_eq(packet_member(b, p.data, "authTok", 7, &v), -ENOENT);
	cr_assert_eq(v.off, 7, "untouched on -ENOENT");
	cr_assert_eq(packet_member(b, p.event, "x", 1, &v), -ENOENT, "not an object");
	cr_assert_eq(packet_member(b, (struct packet_span){0}, "x", 1, &v), -ENOENT);
}

Test(packet, unescape)
{
	const char *t = "a\\u00e9\\ud83d\\ude00\\\"\\n\\ud800x";
	struct packet_span s = {0, (uint32_t)strlen(t)};
	const char want[] = "a\xc3\xa9\xf0\x9f\x98\x80\"\n\xef\xbf\xbdx";
	uint8_t out[64];
	int n = packet_unescape((const uint8_t *)t, s, out, sizeof(out));

	cr_assert_eq(n, (int)sizeof(want) - 1);
	cr_assert(memcmp(out, want, (size_t)n) == 0);
	cr_assert_eq(packet_unescape((const uint8_t *)t, s, out, (size_t)n), n, "exact fit");
	cr_assert_eq(packet_unescape((const uint8_t *)t, s, out, (size_t)n - 1), PACKET_ERR_SPACE);
	cr_assert_eq(packet_unescape((const uint8_t *)t, s, out, 0), PACKET_ERR_SPACE);
	cr_assert_eq(packet_unescape((const uint8_t *)"\\q", (struct packet_span){0, 2}, out, 8),
		     PACKET_ERR_STRING);
	cr_assert_eq(packet_unescape((const uint8_t *)"\\u12", (struct packet_span){0, 4}, out, 8),
		     PACKET_ERR_STRING);
	cr_assert_eq(packet_unescape((const uint8_t *)"x", (struct packet_span){0, 0}, out, 0), 0);
	/* a high surrogate followed by an escape that is no low surrogate */
	const char *t2 = "\\ud800\\ue000\\udbff\\u0041";
	const char want2[] = "\xef\xbf\xbd\xee\x80\x80\xef\xbf\xbd"
			     "A";
	n = packet_unescape((const uint8_t *)t2, (struct packet_span){0, (uint32_t)strlen(t2)}, out,
			    sizeof(out));
	cr_assert_eq(n, (int)sizeof(want2) - 1);
	cr_assert(memcmp(out, want2, (size_t)n) == 0);
}

Test(packet, names)
{
	static const int errs[] = {PACKET_ERR_SYNTAX, PACKET_ERR_TRUNCATED, PACKET_ERR_STRING,
				   PACKET_ERR_UTF8,   PACKET_ERR_NUMBER,    PACKET_ERR_TRAILING,
				   PACKET_ERR_DEPTH,  PACKET_ERR_TOO_BIG,   PACKET_ERR_SPACE};

	for (size_t i = 0; i < N(errs); i++) {
		cr_assert_lt(errs[i], -4095, "outside errno");
		for (size_t j = 0; j < i; j++)
			cr_assert_str_neq(packet_strerror(errs[i]), packet_strerror(errs[j]));
		cr_assert_str_neq(packet_strerror(errs[i]), packet_strerror(-1));
	}
	cr_assert_str_eq(packet_kind_name(PACKET_EVENT), "event");
	cr_assert_str_eq(packet_kind_name(PACKET_BATCH), "batch");
	cr_assert_str_eq(packet_kind_name(PACKET_RAW), "raw");
}
