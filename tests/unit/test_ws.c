/*
 * Unit tests of io/ws: header rules with their close codes, length
 * boundaries, every-byte splits, unmask against a naive reference, UTF-8,
 * fragmentation sequences fed in chunks of every size, close payloads and
 * the encoders through the parser.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "test_util.h"
#include "ws.h"

#define BYTES(...) (const uint8_t[]){__VA_ARGS__}, sizeof((const uint8_t[]){__VA_ARGS__})
#define K	   0x11, 0x22, 0x33, 0x44 /* a mask key */

/* ---- header parsing --------------------------------------------------- */

struct hdr_case {
	const char *name;
	const uint8_t *buf;
	size_t len;
	int want;      /* header length, or a WS_ERR_* */
	unsigned code; /* close code of the error, 0 when ok */
	uint8_t opcode;
	bool fin;
	uint64_t plen;
};

/* every header rule breaks with close code 1002 */
#define HDR_ERR(name, err, ...)                                                                    \
	{                                                                                          \
		name, BYTES(__VA_ARGS__), err, 1002, 0, false, 0                                   \
	}

static const struct hdr_case hdr_cases[] = {
    {"text len 0", BYTES(0x81, 0x80, K), 6, 0, WS_OP_TEXT, true, 0},
    {"text len 125", BYTES(0x81, 0xFD, K), 6, 0, WS_OP_TEXT, true, 125},
    {"len 126 in 16 bits", BYTES(0x81, 0xFE, 0x00, 0x7E, K), 8, 0, WS_OP_TEXT, true, 126},
    {"len 65535 in 16 bits", BYTES(0x82, 0xFE, 0xFF, 0xFF, K), 8, 0, WS_OP_BINARY, true, 65535},
    {"len 65536 in 64 bits", BYTES(0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, K), 14, 0, WS_OP_BINARY,
     true, 65536},
    {"len 2^63-1", BYTES(0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, K), 14, 0,
     WS_OP_BINARY, true, 0x7FFFFFFFFFFFFFFFull},
    {"text FIN=0", BYTES(0x01, 0x85, K), 6, 0, WS_OP_TEXT, false, 5},
    {"continuation", BYTES(0x00, 0x83, K), 6, 0, WS_OP_CONT, false, 3},
    {"ping empty", BYTES(0x89, 0x80, K), 6, 0, WS_OP_PING, true, 0},
    {"pong 125", BYTES(0x8A, 0xFD, K), 6, 0, WS_OP_PONG, true, 125},
    {"close 2", BYTES(0x88, 0x82, K), 6, 0, WS_OP_CLOSE, true, 2},
    HDR_ERR("RSV1", WS_ERR_RSV, 0xC1, 0x80, K),
    HDR_ERR("RSV2", WS_ERR_RSV, 0xA1, 0x80, K),
    HDR_ERR("RSV3", WS_ERR_RSV, 0x91, 0x80, K),
    HDR_ERR("opcode 3", WS_ERR_OPCODE, 0x83, 0x80, K),
    HDR_ERR("opcode 7", WS_ERR_OPCODE, 0x87, 0x80, K),
    HDR_ERR("opcode B", WS_ERR_OPCODE, 0x8B, 0x80, K),
    HDR_ERR("opcode F", WS_ERR_OPCODE, 0x8F, 0x80, K),
    HDR_ERR("unmasked", WS_ERR_UNMASKED, 0x81, 0x05, 'h', 'e', 'l', 'l', 'o'),
    HDR_ERR("ping FIN=0", WS_ERR_CONTROL_FRAG, 0x09, 0x80, K),
    HDR_ERR("close FIN=0", WS_ERR_CONTROL_FRAG, 0x08, 0x80, K),
    HDR_ERR("ping 126", WS_ERR_CONTROL_LEN, 0x89, 0xFE, 0x00, 0x7E, K),
    HDR_ERR("close 64-bit", WS_ERR_CONTROL_LEN, 0x88, 0xFF, 0, 0, 0, 0, 0, 0, 0, 2, K),
    HDR_ERR("16-bit len 125", WS_ERR_LENGTH, 0x82, 0xFE, 0x00, 0x7D, K),
    HDR_ERR("16-bit len 0", WS_ERR_LENGTH, 0x82, 0xFE, 0x00, 0x00, K),
    HDR_ERR("64-bit len 65535", WS_ERR_LENGTH, 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, K),
    HDR_ERR("64-bit len 5", WS_ERR_LENGTH, 0x82, 0xFF, 0, 0, 0, 0, 0, 0, 0, 5, K),
    HDR_ERR("64-bit top bit", WS_ERR_LENGTH, 0x82, 0xFF, 0x80, 0, 0, 0, 0, 1, 0, 0, K),
};

static void check_fields(const struct hdr_case *c, const struct ws_header *h)
{
	cr_assert_eq(h->opcode, c->opcode, "%s: opcode", c->name);
	cr_assert_eq(h->fin, c->fin, "%s: fin", c->name);
	cr_assert(h->masked, "%s: masked", c->name);
	cr_assert_eq(h->len, c->plen, "%s: len", c->name);
	cr_assert_arr_eq(h->key, ((uint8_t[]){K}), 4, "%s: key", c->name);
}

Test(ws, header_table)
{
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		struct ws_header h;
		int r = ws_parse_header(c->buf, c->len, &h);

		cr_assert_eq(r, c->want, "%s: got %d want %d", c->name, r, c->want);
		if (r > 0) {
			check_fields(c, &h);
			cr_assert_eq(ws_error_close_code(r), 0, "%s", c->name);
		} else {
			cr_assert_eq(ws_error_close_code(r), c->code, "%s: close code", c->name);
		}
	}
}

/* A header split anywhere: each prefix is "need more" until the rule or the
 * header is complete, then the same answer as for the whole buffer. */
Test(ws, header_every_prefix)
{
	for (size_t i = 0; i < sizeof(hdr_cases) / sizeof(hdr_cases[0]); i++) {
		const struct hdr_case *c = &hdr_cases[i];
		bool decided = false;

		for (size_t n = 0; n <= c->len; n++) {
			struct ws_header h;
			int r = ws_parse_header(c->buf, n, &h);

			if (r == 0) {
				cr_assert_not(decided, "%s: prefix %zu undecided again", c->name,
					      n);
				if (c->want > 0)
					cr_assert_lt(n, (size_t)c->want, "%s: prefix %zu", c->name,
						     n);
				continue;
			}
			decided = true;
			cr_assert_eq(r, c->want, "%s: prefix %zu gave %d", c->name, n, r);
			if (r > 0) {
				cr_assert_geq(n, (size_t)c->want, "%s", c->name);
				check_fields(c, &h);
			}
		}
		cr_assert(decided, "%s: never decided", c->name);
	}
}

Test(ws, header_client_role)
{
	struct ws_header h;

	cr_assert_eq(ws_parse_header_client(BYTES(0x81, 0x02, 'h', 'i'), &h), 2);
	cr_assert_eq(h.len, 2);
	cr_assert_not(h.masked);
	cr_assert_arr_eq(h.key, ((uint8_t[]){0, 0, 0, 0}), 4);
	cr_assert_eq(ws_parse_header_client(BYTES(0x81, 0x82, K, 'h', 'i'), &h), WS_ERR_MASKED);
	cr_assert_eq(ws_error_close_code(WS_ERR_MASKED), 1002);
	cr_assert_eq(ws_parse_header_client(BYTES(0x81), &h), 0);
}

/* ---- encoders --------------------------------------------------------- */

struct enc_case {
	uint64_t len;
	const uint8_t *bytes; /* expected server header for a FIN text frame */
	size_t n;
};

static const struct enc_case enc_cases[] = {
    {0, BYTES(0x81, 0x00)},
    {125, BYTES(0x81, 0x7D)},
    {126, BYTES(0x81, 0x7E, 0x00, 0x7E)},
    {65535, BYTES(0x81, 0x7E, 0xFF, 0xFF)},
    {65536, BYTES(0x81, 0x7F, 0, 0, 0, 0, 0, 1, 0, 0)},
    {0x0102030405060708ull, BYTES(0x81, 0x7F, 1, 2, 3, 4, 5, 6, 7, 8)},
};

Test(ws, encode_header_exact_and_minimal)
{
	for (size_t i = 0; i < sizeof(enc_cases) / sizeof(enc_cases[0]); i++) {
		const struct enc_case *c = &enc_cases[i];
		uint8_t out[WS_MAX_HEADER];
		struct ws_header h;
		size_t n = ws_encode_header(out, true, WS_OP_TEXT, c->len);

		cr_assert_eq(n, c->n, "len %llu", (unsigned long long)c->len);
		cr_assert_arr_eq(out, c->bytes, n, "len %llu", (unsigned long long)c->len);
		cr_assert_eq(ws_parse_header_client(out, n, &h), (int)n);
		cr_assert_eq(h.len, c->len);

		n = ws_encode_header_masked(out, true, WS_OP_TEXT, c->len, (uint8_t[]){K});
		cr_assert_eq(n, c->n + 4);
		cr_assert_eq(out[1], c->bytes[1] | 0x80);
		cr_assert_eq(ws_parse_header(out, n, &h), (int)n);
		cr_assert_eq(h.len, c->len);
	}
	uint8_t out[WS_MAX_HEADER];
	cr_assert_eq(ws_encode_header(out, false, WS_OP_BINARY, 3), 2);
	cr_assert_eq(out[0], 0x02);
	cr_assert_eq(ws_encode_header(out, true, WS_OP_PONG, 3), 2);
	cr_assert_eq(out[0], 0x8A);
}

/* Client frames encoded, masked, parsed and assembled give back the payload. */
Test(ws, encode_masked_round_trip)
{
	static const uint64_t lens[] = {0, 1, 7, 125, 126, 127, 65535, 65536, 70001};
	static const uint8_t ops[] = {WS_OP_TEXT, WS_OP_BINARY};
	uint64_t seed = 42;

	for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
		for (size_t oi = 0; oi < 2; oi++) {
			size_t n = (size_t)lens[li];
			uint8_t *payload = malloc(n + 1), *frame = malloc(n + WS_MAX_HEADER);
			uint8_t key[4];
			struct ws_header h;
			struct ws_msg_state st;
			size_t hl;

			for (size_t j = 0; j < n; j++) /* ASCII, so text is valid UTF-8 */
				payload[j] = (uint8_t)(0x20 + tu_rand(&seed) % 0x5F);
			for (size_t j = 0; j < 4; j++)
				key[j] = (uint8_t)tu_rand(&seed);
			hl = ws_encode_header_masked(frame, true, ops[oi], n, key);
			ws_unmask(frame + hl, payload, n, key, 0);
			if (n > 8)
				cr_assert(memcmp(frame + hl, payload, n) != 0,
					  "masking changed bytes");

			cr_assert_eq(ws_parse_header(frame, hl + n, &h), (int)hl);
			cr_assert_eq(h.len, n);
			cr_assert_eq(h.opcode, ops[oi]);
			ws_msg_init(&st, 1 << 20);
			cr_assert_eq(ws_msg_frame(&st, &h, frame + hl), WS_FRAME_MESSAGE, "len %zu",
				     n);
			cr_assert_eq(st.msg_opcode, ops[oi]);
			cr_assert_arr_eq(frame + hl, payload, n, "len %zu", n);
			free(payload);
			free(frame);
		}
	}
}

Test(ws, encode_control_and_close)
{
	uint8_t out[200];
	struct ws_header h;
	uint16_t code;
	const uint8_t *reason;
	size_t rlen;
	char long_reason[124];

	cr_assert_eq(ws_encode_close(out, sizeof(out), 1000, "", 0), 4);
	cr_assert_arr_eq(out, ((uint8_t[]){0x88, 0x02, 0x03, 0xE8}), 4);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 0, NULL, 0), 2);
	cr_assert_arr_eq(out, ((uint8_t[]){0x88, 0x00}), 2);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 4001, "pong timeout", 12), 16);
	cr_assert_eq(ws_parse_header_client(out, 16, &h), 2);
	cr_assert_eq(h.opcode, WS_OP_CLOSE);
	cr_assert_eq(ws_parse_close_payload(out + 2, h.len, &code, &reason, &rlen), 0);
	cr_assert_eq(code, 4001);
	cr_assert_eq(rlen, 12);
	cr_assert_arr_eq(reason, "pong timeout", 12);

	memset(long_reason, 'x', sizeof(long_reason));
	cr_assert_eq(ws_encode_close(out, sizeof(out), 1000, long_reason, 123), 127);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 1000, long_reason, 124), -EINVAL);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 1005, NULL, 0), -EINVAL);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 1006, NULL, 0), -EINVAL);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 0, "x", 1), -EINVAL);
	cr_assert_eq(ws_encode_close(out, sizeof(out), 1000, "\xFF", 1), -EINVAL);
	cr_assert_eq(ws_encode_close(out, 3, 1000, NULL, 0), -ENOSPC);

	cr_assert_eq(ws_encode_control(out, sizeof(out), WS_OP_PONG, (const uint8_t *)"abc", 3), 5);
	cr_assert_arr_eq(out, ((uint8_t[]){0x8A, 0x03, 'a', 'b', 'c'}), 5);
	cr_assert_eq(ws_encode_control(out, sizeof(out), WS_OP_PING, NULL, 0), 2);
	cr_assert_arr_eq(out, ((uint8_t[]){0x89, 0x00}), 2);
	cr_assert_eq(ws_encode_control(out, sizeof(out), WS_OP_PONG, out, 126), -EINVAL);
	cr_assert_eq(ws_encode_control(out, sizeof(out), WS_OP_TEXT, out, 1), -EINVAL);
	cr_assert_eq(ws_encode_control(out, sizeof(out), 0xB, out, 1), -EINVAL);
	cr_assert_eq(ws_encode_control(out, 4, WS_OP_PONG, (const uint8_t *)"abc", 3), -ENOSPC);
}

/* ---- unmask ----------------------------------------------------------- */

static void naive_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
			 size_t off)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] ^ key[(off + i) % 4];
}

Test(ws, unmask_matches_naive)
{
	uint8_t src[80], want[80], got[88], inplace[88];
	const uint8_t key[4] = {0xA5, 0x3C, 0x0F, 0xF0};
	uint64_t seed = 7;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)tu_rand(&seed);
	for (size_t n = 0; n <= 70; n++) {
		for (size_t off = 0; off < 4; off++) {
			naive_unmask(want, src, n, key, off);
			/* misaligned destinations and sources */
			for (size_t a = 0; a < 8; a++) {
				memset(got, 0xEE, sizeof(got));
				ws_unmask(got + a, src, n, key, off);
				cr_assert_arr_eq(got + a, want, n, "n %zu off %zu a %zu", n, off,
						 a);
				if (a + n < sizeof(got))
					cr_assert_eq(got[a + n], 0xEE, "wrote past n %zu", n);
				memcpy(inplace + a, src, n);
				ws_unmask(inplace + a, inplace + a, n, key, off + 4 * a);
				cr_assert_arr_eq(inplace + a, want, n, "in place n %zu off %zu", n,
						 off);
			}
		}
	}
}

/* Unmasking a payload in pieces as it arrives equals unmasking it at once. */
Test(ws, unmask_in_pieces)
{
	uint8_t src[70], want[70], got[70];
	const uint8_t key[4] = {1, 2, 4, 8};

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (uint8_t)(i * 37);
	naive_unmask(want, src, sizeof(src), key, 0);
	for (size_t piece = 1; piece <= 13; piece++) {
		for (size_t i = 0; i < sizeof(src); i += piece) {
			size_t n = sizeof(src) - i < piece ? sizeof(src) - i : piece;
			ws_unmask(got + i, src + i, n, key, i);
		}
		cr_assert_arr_eq(got, want, sizeof(src), "piece %zu", piece);
	}
}

/* ---- UTF-8 ------------------------------------------------------------ */

struct utf8_case {
	const char *name;
	const char *s;
	size_t n;
	bool valid;
};

#define STR(x) x, sizeof(x) - 1

static const struct utf8_case utf8_cases[] = {
    {"empty", STR(""), true},
    {"ascii", STR("hello, {\"event\":\"#handshake\"}"), true},
    {"U+0080", STR("\xC2\x80"), true},
    {"U+07FF", STR("\xDF\xBF"), true},
    {"U+0800", STR("\xE0\xA0\x80"), true},
    {"U+D7FF", STR("\xED\x9F\xBF"), true},
    {"U+E000", STR("\xEE\x80\x80"), true},
    {"U+FFFF", STR("\xEF\xBF\xBF"), true},
    {"U+10000", STR("\xF0\x90\x80\x80"), true},
    {"U+10FFFF", STR("\xF4\x8F\xBF\xBF"), true},
    {"greek", STR("\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5"), true},
    {"ascii run then euro", STR("abcdefghijklmnopqrstuvwxyz0123456789\xE2\x82\xAC!"), true},
    {"stray continuation", STR("\x80"), false},
    {"stray BF", STR("\xBF"), false},
    {"overlong NUL", STR("\xC0\x80"), false},
    {"overlong C1", STR("\xC1\xBF"), false},
    {"overlong 3-byte", STR("\xE0\x80\x80"), false},
    {"overlong U+07FF", STR("\xE0\x9F\xBF"), false},
    {"overlong 4-byte", STR("\xF0\x80\x80\x80"), false},
    {"overlong U+FFFF", STR("\xF0\x8F\xBF\xBF"), false},
    {"surrogate D800", STR("\xED\xA0\x80"), false},
    {"surrogate DFFF", STR("\xED\xBF\xBF"), false},
    {"U+110000", STR("\xF4\x90\x80\x80"), false},
    {"F5 lead", STR("\xF5\x80\x80\x80"), false},
    {"FE", STR("\xFE"), false},
    {"FF", STR("\xFF"), false},
    {"truncated 2", STR("\xC2"), false},
    {"truncated 3", STR("\xE0\xA0"), false},
    {"truncated 4", STR("\xF0\x90\x80"), false},
    {"truncated after ascii", STR("abc\xE2\x82"), false},
    {"ascii where continuation due", STR("\xC2\x41"), false},
    {"late bad byte in ascii run", STR("abcdefghijklmnopq\x80rstuvwxyz"), false},
    {"cesu surrogate pair", STR("\xED\xA0\x81\xED\xB0\x80"), false},
};

static int feed_split(const uint8_t *p, size_t n, size_t k)
{
	struct ws_utf8 u;
	int r;

	ws_utf8_init(&u);
	r = ws_utf8_feed(&u, p, k);
	if (r == 0)
		r = ws_utf8_feed(&u, p + k, n - k);
	if (r == 0 && !ws_utf8_complete(&u))
		r = WS_ERR_UTF8;
	return r;
}

Test(ws, utf8_table_and_every_split)
{
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];
		const uint8_t *p = (const uint8_t *)c->s;
		int want = c->valid ? 0 : WS_ERR_UTF8;
		struct ws_utf8 u;
		int r = 0;

		cr_assert_eq(ws_utf8_valid(p, c->n), c->valid, "%s", c->name);
		for (size_t k = 0; k <= c->n; k++)
			cr_assert_eq(feed_split(p, c->n, k), want, "%s split at %zu", c->name, k);
		ws_utf8_init(&u);
		for (size_t k = 0; k < c->n && r == 0; k++)
			r = ws_utf8_feed(&u, p + k, 1);
		if (r == 0 && !ws_utf8_complete(&u))
			r = WS_ERR_UTF8;
		cr_assert_eq(r, want, "%s byte by byte", c->name);
	}
}

/* ---- message assembly over a byte stream ------------------------------ */

struct step {
	uint8_t opcode;
	bool fin;
	const char *payload;
	int want; /* enum ws_frame_result or WS_ERR_*; the sequence stops at an error */
};

struct seq_case {
	const char *name;
	uint64_t max;
	struct step steps[6];
};

#define F(op, fin, s, want)                                                                        \
	{                                                                                          \
		WS_OP_##op, fin, s, want                                                           \
	}
#define END                                                                                        \
	{                                                                                          \
		0, false, NULL, 0                                                                  \
	}

static const struct seq_case seq_cases[] = {
    {"single text", 100, {F(TEXT, true, "hello", WS_FRAME_MESSAGE), END}},
    {"empty text", 100, {F(TEXT, true, "", WS_FRAME_MESSAGE), END}},
    {"three fragments",
     100,
     {F(TEXT, false, "he", WS_FRAME_PART), F(CONT, false, "ll", WS_FRAME_PART),
      F(CONT, true, "o", WS_FRAME_MESSAGE), END}},
    {"ping between fragments",
     100,
     {F(TEXT, false, "he", WS_FRAME_PART), F(PING, true, "p", WS_FRAME_CONTROL),
      F(CONT, true, "llo", WS_FRAME_MESSAGE), END}},
    {"pong and close between fragments",
     100,
     {F(BINARY, false, "\xFF", WS_FRAME_PART), F(PONG, true, "", WS_FRAME_CONTROL),
      F(CLOSE, true, "\x03\xE8", WS_FRAME_CONTROL), END}},
    {"two messages in a row",
     100,
     {F(TEXT, true, "a", WS_FRAME_MESSAGE), F(BINARY, true, "b", WS_FRAME_MESSAGE),
      F(TEXT, false, "c", WS_FRAME_PART), F(CONT, true, "d", WS_FRAME_MESSAGE), END}},
    {"continuation first", 100, {F(CONT, true, "x", WS_ERR_CONT_UNEXPECTED), END}},
    {"continuation after a finished message",
     100,
     {F(TEXT, true, "a", WS_FRAME_MESSAGE), F(CONT, true, "b", WS_ERR_CONT_UNEXPECTED), END}},
    {"text inside a fragmented message",
     100,
     {F(TEXT, false, "a", WS_FRAME_PART), F(TEXT, true, "b", WS_ERR_MSG_INTERRUPTED), END}},
    {"binary inside a fragmented message",
     100,
     {F(TEXT, false, "a", WS_FRAME_PART), F(BINARY, false, "b", WS_ERR_MSG_INTERRUPTED), END}},
    {"binary is not UTF-8 checked", 100, {F(BINARY, true, "\xC0\x80\xFF", WS_FRAME_MESSAGE), END}},
    {"invalid text", 100, {F(TEXT, true, "ok\xFF", WS_ERR_UTF8), END}},
    {"euro split over fragments",
     100,
     {F(TEXT, false, "\xE2\x82", WS_FRAME_PART), F(CONT, true, "\xAC", WS_FRAME_MESSAGE), END}},
    {"euro split around a ping",
     100,
     {F(TEXT, false, "\xE2", WS_FRAME_PART), F(PING, true, "\xFF", WS_FRAME_CONTROL),
      F(CONT, false, "\x82", WS_FRAME_PART), F(CONT, true, "\xAC", WS_FRAME_MESSAGE), END}},
    {"truncated at the final fragment",
     100,
     {F(TEXT, false, "\xE2\x82", WS_FRAME_PART), F(CONT, true, "", WS_ERR_UTF8), END}},
    {"surrogate across fragments",
     100,
     {F(TEXT, false, "\xED", WS_FRAME_PART), F(CONT, true, "\xA0\x80", WS_ERR_UTF8), END}},
    {"exactly the limit", 5, {F(TEXT, true, "12345", WS_FRAME_MESSAGE), END}},
    {"one over the limit", 5, {F(TEXT, true, "123456", WS_ERR_TOO_BIG), END}},
    {"fragments over the limit",
     5,
     {F(TEXT, false, "123", WS_FRAME_PART), F(PING, true, "pingpong", WS_FRAME_CONTROL),
      F(CONT, false, "45", WS_FRAME_PART), F(CONT, true, "6", WS_ERR_TOO_BIG), END}},
    {"limit is per message",
     5,
     {F(TEXT, true, "12345", WS_FRAME_MESSAGE), F(TEXT, false, "123", WS_FRAME_PART),
      F(CONT, true, "45", WS_FRAME_MESSAGE), END}},
    {"control frames do not count", 1, {F(PING, true, "0123456789", WS_FRAME_CONTROL), END}},
};

/* Encode the steps as one client byte stream. */
static size_t encode_steps(const struct seq_case *c, uint8_t *out, uint64_t *seed)
{
	size_t n = 0;

	for (const struct step *s = c->steps; s->payload; s++) {
		size_t len = strlen(s->payload);
		uint8_t key[4];

		for (int j = 0; j < 4; j++)
			key[j] = (uint8_t)tu_rand(seed);
		n += ws_encode_header_masked(out + n, s->fin, s->opcode, len, key);
		ws_unmask(out + n, (const uint8_t *)s->payload, len, key, 0);
		n += len;
	}
	return n;
}

/*
 * Feed the stream as a reactor would, `chunk` bytes arriving at a time:
 * header when complete, payload unmasked piece by piece as it comes.
 * Checks each step's result and each finished message's bytes.
 */
static void run_stream(const struct seq_case *c, uint8_t *s, size_t total, size_t chunk)
{
	struct ws_msg_state st;
	char msg[256], want_msg[256];
	size_t avail = 0, pos = 0, mlen = 0, wlen = 0;
	const struct step *step = c->steps;
	bool in_frame = false;

	ws_msg_init(&st, c->max);
	while (step->payload) {
		int r;

		if (!in_frame) {
			struct ws_header h;

			r = ws_parse_header(s + pos, avail - pos, &h);
			if (r == 0) {
				cr_assert_lt(avail, total, "%s chunk %zu: stream ended", c->name,
					     chunk);
				avail = avail + chunk < total ? avail + chunk : total;
				continue;
			}
			cr_assert_gt(r, 0, "%s chunk %zu: header %d", c->name, chunk, r);
			pos += (size_t)r;
			r = ws_msg_frame_begin(&st, &h);
			if (r < 0) {
				cr_assert_eq(r, step->want, "%s chunk %zu: begin %d", c->name,
					     chunk, r);
				cr_assert_null(step[1].payload, "%s: steps after an error",
					       c->name);
				return;
			}
			in_frame = true;
			if (!ws_opcode_is_control(step->opcode)) {
				if (step->opcode != WS_OP_CONT)
					mlen = wlen = 0;
				memcpy(want_msg + wlen, step->payload, strlen(step->payload));
				wlen += strlen(step->payload);
			}
		}
		size_t n = avail - pos;
		if (n > st.frame_left)
			n = (size_t)st.frame_left;
		r = ws_msg_frame_data(&st, s + pos, n);
		if (r == 0 && !ws_opcode_is_control(step->opcode)) {
			memcpy(msg + mlen, s + pos, n);
			mlen += n;
		}
		pos += n;
		if (r == 0 && st.frame_left == 0)
			r = ws_msg_frame_end(&st);
		else if (r == 0) {
			cr_assert_lt(avail, total, "%s: stream ended in a payload", c->name);
			avail = avail + chunk < total ? avail + chunk : total;
			continue;
		}
		cr_assert_eq(r, step->want, "%s chunk %zu step %td: got %d want %d", c->name, chunk,
			     step - c->steps, r, step->want);
		if (r < 0)
			return;
		if (r == WS_FRAME_MESSAGE) {
			cr_assert_eq(mlen, wlen, "%s", c->name);
			cr_assert_arr_eq(msg, want_msg, wlen, "%s chunk %zu", c->name, chunk);
		}
		if (r == WS_FRAME_CONTROL)
			cr_assert_eq(st.frame_opcode, step->opcode);
		in_frame = false;
		step++;
	}
	cr_assert_eq(pos, total, "%s: bytes left over", c->name);
}

Test(ws, message_sequences_every_chunk_size)
{
	uint64_t seed = 99;

	for (size_t i = 0; i < sizeof(seq_cases) / sizeof(seq_cases[0]); i++) {
		const struct seq_case *c = &seq_cases[i];
		uint8_t stream[512], copy[512];
		size_t total = encode_steps(c, stream, &seed);

		for (size_t chunk = 1; chunk <= total; chunk++) {
			memcpy(copy, stream, total);
			run_stream(c, copy, total, chunk);
		}
	}
}

/* Every UTF-8 case as a text message split into two fragments at every
 * byte: the verdict never depends on where the split falls. */
Test(ws, utf8_across_fragments)
{
	for (size_t i = 0; i < sizeof(utf8_cases) / sizeof(utf8_cases[0]); i++) {
		const struct utf8_case *c = &utf8_cases[i];

		for (size_t k = 0; k <= c->n; k++) {
			struct ws_msg_state st;
			struct ws_header h = {.opcode = WS_OP_TEXT, .len = k, .masked = false};
			uint8_t buf[64];
			int r;

			memcpy(buf, c->s, c->n);
			ws_msg_init(&st, 1000);
			r = ws_msg_frame(&st, &h, buf);
			if (r == WS_FRAME_PART) {
				h = (struct ws_header){
				    .opcode = WS_OP_CONT, .fin = true, .len = c->n - k};
				r = ws_msg_frame(&st, &h, buf + k);
			}
			cr_assert_eq(r, c->valid ? WS_FRAME_MESSAGE : WS_ERR_UTF8,
				     "%s split at %zu: %d", c->name, k, r);
		}
	}
}

Test(ws, assembler_misuse_changes_nothing)
{
	struct ws_msg_state st, before;
	struct ws_header h = {
	    .opcode = WS_OP_BINARY, .fin = true, .len = 4, .masked = true, .key = {1, 2, 3, 4}};
	uint8_t p[8] = {0};

	ws_msg_init(&st, 100);
	cr_assert_eq(ws_msg_frame_end(&st), -EINVAL);
	cr_assert_eq(ws_msg_frame_data(&st, p, 1), -EINVAL);
	cr_assert_eq(ws_msg_frame_begin(&st, &h), 0);
	before = st;
	cr_assert_eq(ws_msg_frame_begin(&st, &h), -EINVAL);
	cr_assert_eq(ws_msg_frame_data(&st, p, 5), -EINVAL);
	cr_assert_eq(ws_msg_frame_end(&st), -EINVAL);
	cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0);
	cr_assert_eq(ws_msg_frame_data(&st, p, 4), 0);
	cr_assert_arr_eq(p, ((uint8_t[]){1, 2, 3, 4}), 4, "unmasked in place");
	cr_assert_eq(ws_msg_frame_end(&st), WS_FRAME_MESSAGE);
	cr_assert_eq(st.msg_opcode, WS_OP_BINARY);

	/* an oversized declaration is refused before any payload, whatever
	 * its size */
	h.len = 0x7FFFFFFFFFFFFFFFull;
	before = st;
	cr_assert_eq(ws_msg_frame_begin(&st, &h), WS_ERR_TOO_BIG);
	cr_assert_eq(memcmp(&st, &before, sizeof(st)), 0);
	cr_assert_eq(ws_error_close_code(WS_ERR_TOO_BIG), 1009);
}

/* ---- close payloads and error mapping --------------------------------- */

struct close_case {
	const char *payload;
	size_t n;
	int want;
	unsigned code; /* parsed code when ok, close code of the error otherwise */
};

static const struct close_case close_cases[] = {
    {STR(""), 0, WS_CLOSE_NO_STATUS},
    {STR("\x03"), WS_ERR_CLOSE_LEN, 1002},
    {STR("\x03\xE8"), 0, 1000},
    {STR("\x03\xE9"), 0, 1001},
    {STR("\x03\xEA"), 0, 1002},
    {STR("\x03\xEB"), 0, 1003},
    {STR("\x03\xEC"), WS_ERR_CLOSE_CODE, 1002}, /* 1004 */
    {STR("\x03\xED"), WS_ERR_CLOSE_CODE, 1002}, /* 1005 */
    {STR("\x03\xEE"), WS_ERR_CLOSE_CODE, 1002}, /* 1006 */
    {STR("\x03\xEF"), 0, 1007},
    {STR("\x03\xF3"), 0, 1011},
    {STR("\x03\xF4"), WS_ERR_CLOSE_CODE, 1002}, /* 1012 */
    {STR("\x03\xF7"), WS_ERR_CLOSE_CODE, 1002}, /* 1015 */
    {STR("\x03\xE7"), WS_ERR_CLOSE_CODE, 1002}, /* 999 */
    {STR("\x00\x00"), WS_ERR_CLOSE_CODE, 1002},
    {STR("\x0B\xB7"), WS_ERR_CLOSE_CODE, 1002}, /* 2999 */
    {STR("\x0B\xB8"), 0, 3000},
    {STR("\x13\x87"), 0, 4999},
    {STR("\x13\x88"), WS_ERR_CLOSE_CODE, 1002}, /* 5000 */
    {STR("\x03\xE8"
	 "bye"),
     0, 1000},
    {STR("\x03\xE8"
	 "\xCE\xBA"),
     0, 1000},
    {STR("\x03\xE8"
	 "\xFF"),
     WS_ERR_UTF8, 1007},
    {STR("\x03\xE8"
	 "\xCE"),
     WS_ERR_UTF8, 1007},
};

Test(ws, close_payload_table)
{
	for (size_t i = 0; i < sizeof(close_cases) / sizeof(close_cases[0]); i++) {
		const struct close_case *c = &close_cases[i];
		uint16_t code = 7;
		const uint8_t *reason = NULL;
		size_t rlen = 99;
		int r = ws_parse_close_payload((const uint8_t *)c->payload, c->n, &code, &reason,
					       &rlen);

		cr_assert_eq(r, c->want, "case %zu: %d", i, r);
		if (r == 0) {
			cr_assert_eq(code, c->code, "case %zu", i);
			cr_assert_eq(rlen, c->n > 2 ? c->n - 2 : 0, "case %zu", i);
			cr_assert_eq(ws_close_code_valid(code), code != WS_CLOSE_NO_STATUS);
		} else {
			cr_assert_eq(ws_error_close_code(r), c->code, "case %zu", i);
			cr_assert_eq(code, 7, "outputs untouched on error");
			cr_assert_eq(rlen, 99, "outputs untouched on error");
		}
	}
}

Test(ws, error_codes_are_distinct_and_outside_errno)
{
	static const int errs[] = {
	    WS_ERR_RSV,		 WS_ERR_OPCODE,		 WS_ERR_UNMASKED,
	    WS_ERR_MASKED,	 WS_ERR_LENGTH,		 WS_ERR_CONTROL_LEN,
	    WS_ERR_CONTROL_FRAG, WS_ERR_CONT_UNEXPECTED, WS_ERR_MSG_INTERRUPTED,
	    WS_ERR_CLOSE_LEN,	 WS_ERR_CLOSE_CODE,	 WS_ERR_UTF8,
	    WS_ERR_TOO_BIG};
	size_t n = sizeof(errs) / sizeof(errs[0]);

	for (size_t i = 0; i < n; i++) {
		cr_assert_lt(errs[i], -4095, "errno values stop at -4095");
		cr_assert_neq(ws_error_close_code(errs[i]), 0);
		cr_assert_str_neq(ws_strerror(errs[i]), ws_strerror(0));
		for (size_t j = i + 1; j < n; j++)
			cr_assert_neq(errs[i], errs[j]);
	}
	cr_assert_eq(ws_error_close_code(-EINVAL), 0);
	cr_assert_eq(ws_error_close_code(0), 0);
	cr_assert_eq(ws_error_close_code(WS_FRAME_MESSAGE), 0);
}
