/*
 * Unit tests of broker/frame: JSON string escaping (a table, then every byte
 * value against the rule), frame_str_len against what frame_str writes, the
 * escapes read back by the packet parser, integers at the int64 limits,
 * growth past the first capacity, the WebSocket header frame_end writes at
 * the length-encoding boundaries, and the out-of-memory state.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "packet.h"
#include "ws.h"

#define N(a)	(sizeof(a) / sizeof((a)[0]))
#define NAME(s) s, sizeof(s) - 1

/* The payload of f's message so far equals want[0, n). */
static void assert_payload(const struct frame *f, const char *want, size_t n, const char *what)
{
	cr_assert_not(f->oom, "%s: oom", what);
	cr_assert_not_null(f->m, "%s: message", what);
	cr_assert_eq(f->m->len, n, "%s: %llu bytes '%.*s', want %zu '%.*s'", what,
		     (unsigned long long)f->m->len, (int)f->m->len, (const char *)f->m->data, n,
		     (int)n, want);
	cr_assert(memcmp(f->m->data, want, n) == 0, "%s: '%.*s', want '%.*s'", what, (int)f->m->len,
		  (const char *)f->m->data, (int)n, want);
	cr_assert_leq(f->m->len, f->m->cap, "%s: within capacity", what);
}

/* ---- strings ---------------------------------------------------------- */

struct str_case {
	const char *what;
	const char *in;
	size_t len;
	const char *out;
};

static const struct str_case str_cases[] = {
    {"empty", NAME(""), "\"\""},
    {"plain", NAME("hello world"), "\"hello world\""},
    {"quote", NAME("\""), "\"\\\"\""},
    {"backslash", NAME("\\"), "\"\\\\\""},
    {"newline", NAME("\n"), "\"\\n\""},
    {"carriage return", NAME("\r"), "\"\\r\""},
    {"tab", NAME("\t"), "\"\\t\""},
    {"NUL", NAME("\0"), "\"\\u0000\""},
    {"0x01", NAME("\x01"), "\"\\u0001\""},
    {"backspace as \\u", NAME("\b"), "\"\\u0008\""},
    {"form feed as \\u", NAME("\f"), "\"\\u000c\""},
    {"vertical tab", NAME("\v"), "\"\\u000b\""},
    {"0x1f lower-case hex", NAME("\x1f"), "\"\\u001f\""},
    {"0x1a", NAME("\x1a"), "\"\\u001a\""},
    {"space passes", NAME(" "), "\" \""},
    {"slash passes", NAME("/"), "\"/\""},
    {"DEL passes", NAME("\x7f"), "\"\x7f\""},
    {"2-byte UTF-8", NAME("\xc3\xa9"), "\"\xc3\xa9\""},
    {"3-byte UTF-8", NAME("\xe2\x82\xac"), "\"\xe2\x82\xac\""},
    {"4-byte UTF-8", NAME("\xf0\x9f\x98\x80"), "\"\xf0\x9f\x98\x80\""},
    {"escape first", NAME("\"abc"), "\"\\\"abc\""},
    {"escape last", NAME("abc\n"), "\"abc\\n\""},
    {"escapes in a row", NAME("\"\"\\\\"), "\"\\\"\\\"\\\\\\\\\""},
    {"runs between escapes", NAME("a\tbb\ncc\001d"), "\"a\\tbb\\ncc\\u0001d\""},
    {"mixed", NAME("k\xc3\xa9y \"v\"\r\n\\"), "\"k\xc3\xa9y \\\"v\\\"\\r\\n\\\\\""},
};

Test(frame, str_table)
{
	for (size_t i = 0; i < N(str_cases); i++) {
		const struct str_case *c = &str_cases[i];
		struct frame f;

		frame_begin(&f, 0);
		frame_str(&f, c->in, c->len);
		assert_payload(&f, c->out, strlen(c->out), c->what);
		cr_assert_eq(frame_str_len(c->in, c->len), strlen(c->out), "%s: frame_str_len",
			     c->what);
		io_msg_free(f.m);
	}
}

/* What one byte becomes inside a JSON string, by RFC 8259's rule. */
static size_t expected_escape(uint8_t b, char *out)
{
	switch (b) {
	case '"':
		return (size_t)sprintf(out, "\\\"");
	case '\\':
		return (size_t)sprintf(out, "\\\\");
	case '\n':
		return (size_t)sprintf(out, "\\n");
	case '\r':
		return (size_t)sprintf(out, "\\r");
	case '\t':
		return (size_t)sprintf(out, "\\t");
	default:
		if (b < 0x20)
			return (size_t)sprintf(out, "\\u%04x", b);
		out[0] = (char)b;
		return 1;
	}
}

Test(frame, every_byte_alone_and_between_text)
{
	for (int b = 0; b < 256; b++) {
		char in[3] = {'x', (char)b, 'y'}, want[16], esc[8], what[32];
		size_t n = expected_escape((uint8_t)b, esc);
		struct frame f;

		snprintf(what, sizeof(what), "byte 0x%02x", b);
		snprintf(want, sizeof(want), "\"%.*s\"", (int)n, esc);
		frame_begin(&f, 0);
		frame_str(&f, in + 1, 1);
		assert_payload(&f, want, n + 2, what);
		cr_assert_eq(frame_str_len(in + 1, 1), n + 2, "%s: frame_str_len", what);
		io_msg_free(f.m);

		snprintf(want, sizeof(want), "\"x%.*sy\"", (int)n, esc);
		frame_begin(&f, 0);
		frame_str(&f, in, 3);
		assert_payload(&f, want, n + 4, what);
		cr_assert_eq(frame_str_len(in, 3), n + 4, "%s: frame_str_len in text", what);
		io_msg_free(f.m);
	}
}

/* What frame_str writes is a JSON string that decodes to the input. */
static void assert_round_trip(const char *in, size_t len, const char *what)
{
	struct frame f;
	char *out = malloc(len + 1);

	frame_begin(&f, 0);
	frame_str(&f, in, len);
	cr_assert_not(f.oom);
	cr_assert_eq(packet_validate(f.m->data, f.m->len), 0, "%s: valid JSON", what);
	int n = packet_unescape(f.m->data, (struct packet_span){1, (uint32_t)f.m->len - 2},
				(uint8_t *)out, len + 1);
	cr_assert_eq(n, (int)len, "%s: decoded %d bytes, want %zu", what, n, len);
	cr_assert(memcmp(out, in, len) == 0, "%s: decoded bytes", what);
	free(out);
	io_msg_free(f.m);
}

Test(frame, escapes_decode_back)
{
	char ascii[128];

	for (int b = 0; b < 128; b++)
		ascii[b] = (char)b;
	assert_round_trip(ascii, sizeof(ascii), "every ASCII byte");
	for (size_t i = 0; i < N(str_cases); i++)
		assert_round_trip(str_cases[i].in, str_cases[i].len, str_cases[i].what);
}

Test(frame, str_len_agrees_on_long_mixed_text)
{
	/* a long text with escapes at varied distances, across several growths */
	static const char pieces[][8] = {"abc",	     "\"",   "\\",   "\n", "\x01",
					 "\xc3\xa9", "xyzw", "\t\r", ""};
	char *text = malloc(20000);
	size_t len = 0;
	uint64_t x = 88172645463325252ull;

	while (len < 19990) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		const char *p = pieces[x % N(pieces)];
		memcpy(text + len, p, strlen(p));
		len += strlen(p);
	}
	struct frame f;
	frame_begin(&f, 0);
	frame_str(&f, text, len);
	cr_assert_not(f.oom);
	cr_assert_eq(f.m->len, frame_str_len(text, len));
	cr_assert_gt(f.m->len, len, "escapes add bytes");
	io_msg_free(f.m);
	assert_round_trip(text, len, "long mixed text");
	free(text);
}

/* ---- integers --------------------------------------------------------- */

Test(frame, int_table)
{
	static const struct {
		int64_t v;
		const char *out;
	} cases[] = {
	    {0, "0"},
	    {1, "1"},
	    {-1, "-1"},
	    {9, "9"},
	    {10, "10"},
	    {-10, "-10"},
	    {1234567890, "1234567890"},
	    {-987654321, "-987654321"},
	    {1000000000000000000ll, "1000000000000000000"},
	    {INT64_MAX, "9223372036854775807"},
	    {INT64_MIN, "-9223372036854775808"},
	    {INT64_MIN + 1, "-9223372036854775807"},
	    {INT64_MAX - 1, "9223372036854775806"},
	};

	for (size_t i = 0; i < N(cases); i++) {
		struct frame f;
		char what[32];

		snprintf(what, sizeof(what), "%" PRId64, cases[i].v);
		frame_begin(&f, 0);
		frame_int(&f, cases[i].v);
		assert_payload(&f, cases[i].out, strlen(cases[i].out), what);
		io_msg_free(f.m);
	}
}

Test(frame, ints_and_strings_compose)
{
	struct frame f;
	const char *want = "{\"event\":\"#publish\",\"data\":{\"channel\":\"a\\\"b\"},\"cid\":-42}";

	frame_begin(&f, 8);
	frame_lit(&f, "{\"event\":");
	frame_str(&f, "#publish", 8);
	frame_lit(&f, ",\"data\":{\"channel\":");
	frame_str(&f, "a\"b", 3);
	frame_lit(&f, "},\"cid\":");
	frame_int(&f, -42);
	frame_put(&f, "}", 1);
	assert_payload(&f, want, strlen(want), "packet");
	cr_assert_eq(packet_validate(f.m->data, f.m->len), 0);
	io_msg_free(f.m);
}

/* ---- growth ----------------------------------------------------------- */

Test(frame, begin_gives_at_least_64_bytes_of_text)
{
	static const size_t caps[] = {0, 1, 63, 64, 65, 1000};

	for (size_t i = 0; i < N(caps); i++) {
		struct frame f;
		frame_begin(&f, caps[i]);
		cr_assert_not(f.oom);
		cr_assert_eq(f.m->len, 0);
		cr_assert_eq(f.m->cap, caps[i] < 64 ? 64 : caps[i], "cap %zu", caps[i]);
		cr_assert_eq(f.m->opcode, WS_OP_TEXT);
		io_msg_free(f.m);
	}
}

Test(frame, growth_keeps_the_content)
{
	struct frame f;
	char pattern[5000], want[5000];
	size_t n = 0;

	for (size_t i = 0; i < sizeof(pattern); i++)
		pattern[i] = (char)('a' + i % 26);
	frame_begin(&f, 0);
	/* fill exactly: no growth */
	frame_put(&f, pattern, 64);
	memcpy(want, pattern, 64);
	n = 64;
	cr_assert_eq(f.m->cap, 64, "an exact fit does not grow");
	assert_payload(&f, want, n, "exact fit");
	/* one byte more: doubles */
	frame_put(&f, "!", 1);
	want[n++] = '!';
	cr_assert_eq(f.m->cap, 128);
	assert_payload(&f, want, n, "doubled");
	/* more than double at once: grows to what is needed */
	frame_put(&f, pattern, 1000);
	memcpy(want + n, pattern, 1000);
	n += 1000;
	cr_assert_eq(f.m->cap, n);
	assert_payload(&f, want, n, "grown to fit");
	/* many small pieces through several doublings */
	for (int i = 0; i < 300; i++) {
		frame_int(&f, i);
		n += (size_t)sprintf(want + n, "%d", i);
	}
	assert_payload(&f, want, n, "many pieces");
	cr_assert_lt(f.m->cap, 2 * n + 64, "doubling, not per-piece growth");

	struct io_msg *m = frame_end(&f);
	cr_assert_eq(m, f.m);
	cr_assert_eq(m->len, n);
	cr_assert(memcmp(m->data, want, n) == 0, "content kept through frame_end");
	io_msg_free(m);
}

/* ---- the WebSocket header --------------------------------------------- */

Test(frame, end_writes_a_text_frame_header)
{
	static const struct {
		uint64_t len;
		uint8_t hlen;
	} cases[] = {
	    {0, 2}, {1, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4}, {65536, 10}, {70000, 10},
	};
	char *payload = malloc(70000);

	memset(payload, 'p', 70000);
	for (size_t i = 0; i < N(cases); i++) {
		struct frame f;
		struct ws_header h;
		uint64_t len = cases[i].len;

		frame_begin(&f, 0);
		frame_put(&f, payload, len);
		struct io_msg *m = frame_end(&f);
		cr_assert_not_null(m, "len %llu", (unsigned long long)len);
		cr_assert_eq(m->hlen, cases[i].hlen, "len %llu: header of %u bytes, want %u",
			     (unsigned long long)len, m->hlen, cases[i].hlen);
		cr_assert_eq(m->hdr[0], 0x81, "len %llu: FIN | text", (unsigned long long)len);
		cr_assert_eq(ws_parse_header_client(m->hdr, m->hlen, &h), (int)m->hlen,
			     "len %llu: a valid server header", (unsigned long long)len);
		cr_assert(h.fin);
		cr_assert_not(h.masked);
		cr_assert_eq(h.opcode, WS_OP_TEXT);
		cr_assert_eq(h.len, len, "len %llu: declared %llu", (unsigned long long)len,
			     (unsigned long long)h.len);
		cr_assert_eq(m->len, len);
		/* the header is the minimal one the encoder writes */
		uint8_t want[WS_MAX_HEADER];
		size_t wn = ws_encode_header(want, true, WS_OP_TEXT, len);
		cr_assert_eq(wn, m->hlen);
		cr_assert(memcmp(want, m->hdr, wn) == 0);
		io_msg_free(m);
	}
	free(payload);
}

Test(frame, end_of_a_string_frame)
{
	struct frame f;

	frame_begin(&f, 0);
	frame_str(&f, "hi", 2);
	struct io_msg *m = frame_end(&f);
	cr_assert_not_null(m);
	cr_assert_eq(m->hlen, 2);
	cr_assert_eq(m->hdr[0], 0x81);
	cr_assert_eq(m->hdr[1], 4, "unmasked, length 4");
	cr_assert(memcmp(m->data, "\"hi\"", 4) == 0);
	io_msg_free(m);
}

/* ---- out of memory ------------------------------------------------------ */

Test(frame, after_oom_nothing_is_written_and_end_gives_null)
{
	/* the state frame_put leaves when a realloc fails: message freed */
	struct frame f = {.m = NULL, .oom = true};

	frame_put(&f, "x", 1);
	frame_lit(&f, "abc");
	frame_str(&f, "a\"b", 3);
	frame_int(&f, INT64_MIN);
	cr_assert_null(f.m, "nothing allocated after oom");
	cr_assert(f.oom);
	cr_assert_null(frame_end(&f));
}
