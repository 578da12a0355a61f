/*
 * fuzz_packet: libFuzzer target for broker/packet. Pure and single-threaded.
 *
 * Each input goes through packet_parse as a whole message, then (wrapped)
 * as the data of a #publish, and any message is also fed to the batch
 * iterator. Properties that must hold for every input, trapping when one
 * does not:
 *   - every span lies within the input, and inside the packet's own span;
 *   - parse is deterministic;
 *   - packet_parse and packet_validate agree on JSON-looking text: the same
 *     error, or both accept;
 *   - a packet's data, error and inner spans are valid JSON on their own,
 *     and its event and channel spans are string contents that unescape;
 *   - a batch yields exactly its count of elements, in order, each inside
 *     the array, then ends for good; on any other input the iterator stops;
 *   - a value that validates, put in as a publish's data, comes back as
 *     exactly its own bytes. (The converse does not hold: `1,"x":2` is no
 *     value, yet completes the object around it.)
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "../../broker/packet.h"

static bool span_in(struct packet_span s, struct packet_span outer)
{
	return !packet_has(s) ||
	       (s.off >= outer.off && (uint64_t)s.off + s.len <= (uint64_t)outer.off + outer.len);
}

static bool same(const struct packet *a, const struct packet *b)
{
	return a->kind == b->kind && a->err == b->err && a->err_off == b->err_off &&
	       a->ping_v1 == b->ping_v1 && a->count == b->count &&
	       !memcmp(&a->span, &b->span, sizeof(a->span)) &&
	       !memcmp(&a->event, &b->event, sizeof(a->event)) && a->event_esc == b->event_esc &&
	       a->ev == b->ev && a->has_cid == b->has_cid && a->cid_other == b->cid_other &&
	       a->cid == b->cid && a->has_rid == b->has_rid && a->rid_other == b->rid_other &&
	       a->rid == b->rid && !memcmp(&a->data, &b->data, sizeof(a->data)) &&
	       !memcmp(&a->error, &b->error, sizeof(a->error)) &&
	       a->has_channel == b->has_channel && a->channel_esc == b->channel_esc &&
	       !memcmp(&a->channel, &b->channel, sizeof(a->channel)) &&
	       !memcmp(&a->inner, &b->inner, sizeof(a->inner));
}

static void check_json_span(const uint8_t *buf, struct packet_span s)
{
	if (packet_has(s))
		CHECK(packet_validate(buf + s.off, s.len) == 0);
}

/* A string's contents: quotes around it, and it unescapes to no more bytes
 * than it has. */
static void check_string_span(const uint8_t *buf, size_t len, struct packet_span s, bool esc)
{
	uint8_t *out;
	int n;

	CHECK(s.off >= 1 && (uint64_t)s.off + s.len < len);
	CHECK(buf[s.off - 1] == '"' && buf[s.off + s.len] == '"');
	out = malloc(s.len ? s.len : 1);
	CHECK(out);
	n = packet_unescape(buf, s, out, s.len);
	CHECK(n >= 0 && (uint32_t)n <= s.len);
	CHECK(esc || ((uint32_t)n == s.len && (n == 0 || memcmp(out, buf + s.off, s.len) == 0)));
	free(out);
}

/* What holds for one packet (a message or a batch element) within [0, len). */
static void check_packet(const uint8_t *buf, size_t len, const struct packet *p)
{
	struct packet_span all = {0, (uint32_t)len};

	CHECK(span_in(p->span, all));
	switch (p->kind) {
	case PACKET_EVENT:
		check_string_span(buf, len, p->event, p->event_esc);
		CHECK(span_in(p->event, p->span));
		CHECK(!(p->has_cid && p->cid_other));
		/* fall through */
	case PACKET_REPLY:
		CHECK(p->kind == PACKET_EVENT || p->has_rid || p->rid_other);
		CHECK(p->span.len >= 2 && buf[p->span.off] == '{');
		CHECK(buf[p->span.off + p->span.len - 1] == '}');
		CHECK(span_in(p->data, p->span) && span_in(p->error, p->span));
		CHECK(span_in(p->inner, p->data) && span_in(p->channel, p->span));
		check_json_span(buf, p->data);
		check_json_span(buf, p->error);
		check_json_span(buf, p->inner);
		if (p->has_channel) {
			CHECK(span_in(p->channel, p->data));
			check_string_span(buf, len, p->channel, p->channel_esc);
		}
		if (packet_has(p->data) && buf[p->data.off] == '{') {
			struct packet_span v;
			int r = packet_member(buf, p->data, "channel", 7, &v);

			CHECK(r == 0 || r == -ENOENT);
			CHECK(r != 0 || span_in(v, p->data));
		}
		break;
	case PACKET_RAW:
		CHECK(!packet_has(p->data) && !packet_has(p->event) && !p->has_cid);
		break;
	default:
		break;
	}
}

static void check_batch(const uint8_t *buf, size_t len, const struct packet *b)
{
	size_t pos = 0;
	uint32_t k = 0, prev_end = b->span.off;
	struct packet e;
	int r;

	while ((r = packet_batch_next(buf, len, &pos, &e)) == 1) {
		CHECK(k < b->count);
		CHECK(e.kind == PACKET_EVENT || e.kind == PACKET_REPLY || e.kind == PACKET_RAW);
		CHECK(e.span.off > prev_end && span_in(e.span, b->span));
		check_packet(buf, len, &e);
		check_json_span(buf, e.span);
		prev_end = e.span.off + e.span.len;
		k++;
	}
	CHECK(r == 0 && k == b->count);
	CHECK(packet_batch_next(buf, len, &pos, &e) == 0);
}

/* The iterator on anything: it stops, moving forward on each element. */
static void check_iterator_any(const uint8_t *buf, size_t len)
{
	size_t pos = 0, steps = 0;
	struct packet e;
	int r;

	for (;;) {
		size_t before = pos;

		r = packet_batch_next(buf, len, &pos, &e);
		if (r != 1)
			break;
		CHECK(pos > before && pos <= len);
		CHECK(++steps <= len);
		check_packet(buf, len, &e);
	}
	CHECK(r == 0 || (r <= -PACKET_ERR_BASE && r > -(PACKET_ERR_BASE + 64)));
}

static bool json_looking(const uint8_t *buf, size_t len)
{
	size_t i = 0;

	while (i < len && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
		i++;
	return i < len && (buf[i] == '{' || buf[i] == '[');
}

static void check_message(const uint8_t *buf, size_t len)
{
	struct packet p, q;
	int r = packet_parse(buf, len, &p);

	CHECK(r == 0 || r == PACKET_ERR_DEPTH);
	CHECK(packet_parse(buf, len, &q) == r && same(&p, &q));
	if (r == 0)
		CHECK(p.kind >= PACKET_RAW && p.kind <= PACKET_BATCH);
	CHECK(p.err_off <= len);
	if (json_looking(buf, len))
		CHECK(packet_validate(buf, len) == (r ? r : p.err));
	else
		CHECK(r == 0 && (p.kind == PACKET_RAW || p.kind == PACKET_PING) && p.err == 0);
	if (r)
		return;
	check_packet(buf, len, &p);
	if (p.kind == PACKET_BATCH)
		check_batch(buf, len, &p);
	check_iterator_any(buf, len);
}

/* The input as the data of a publish: when it validates alone, the packet
 * must carry exactly its bytes (whitespace around it excepted). */
static void check_as_data(const uint8_t *data, size_t size)
{
	static const char head[] = "{\"event\":\"#publish\",\"data\":";
	size_t hl = sizeof(head) - 1, len = hl + size + 1;
	uint8_t *buf = malloc(len);
	struct packet p;
	int v = packet_validate(data, size);

	CHECK(buf);
	memcpy(buf, head, hl);
	memcpy(buf + hl, data, size);
	buf[len - 1] = '}';
	int r = packet_parse(buf, len, &p);
	check_message(buf, len);
	if (v == 0 && r == 0) {
		size_t a = 0, b = size;

		while (a < b &&
		       (data[a] == ' ' || data[a] == '\t' || data[a] == '\n' || data[a] == '\r'))
			a++;
		while (b > a && (data[b - 1] == ' ' || data[b - 1] == '\t' || data[b - 1] == '\n' ||
				 data[b - 1] == '\r'))
			b--;
		CHECK(p.kind == PACKET_EVENT && p.ev == PACKET_EV_PUBLISH);
		CHECK(p.data.off == hl + a && p.data.len == b - a);
	}
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* an exact-size copy, so ASan sees any read past the end */
	uint8_t *buf = malloc(size ? size : 1);

	CHECK(buf);
	memcpy(buf, data, size);
	check_message(buf, size);
	check_as_data(buf, size);
	free(buf);
	return 0;
}
