/*
 * fuzz_ws: libFuzzer target for io/ws. Pure and single-threaded.
 *
 * Input: byte 0 picks the message size limit, bytes 1-2 seed the sizes of
 * the pieces in which the rest (a client byte stream) "arrives". The stream
 * goes through ws_parse_header, the assembler and ws_parse_close_payload as
 * a reactor would drive them; along the way it checks properties that must
 * hold for every input, and traps when one does not:
 *   - a header parsed from a prefix agrees with the header parsed from all
 *     the bytes, and re-encodes to exactly the same bytes (minimal lengths);
 *   - the assembler never accepts more than the limit;
 *   - ws_unmask and the UTF-8 validator agree with naive references.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "ws.h"


static const uint64_t limits[16] = {
    0,		1,     5,     16,    125,     126,	  127,
    1000,	65535, 65536, 65537, 1 << 20, 1ull << 32, 0x7FFFFFFFFFFFFFFFull,
    UINT64_MAX, 64,
};

/* RFC 3629 by the book: decode each character, then check its range. */
static bool naive_utf8(const uint8_t *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint32_t cp;
		unsigned extra;

		if (p[i] < 0x80) {
			i++;
			continue;
		} else if ((p[i] & 0xE0) == 0xC0) {
			cp = p[i] & 0x1F;
			extra = 1;
		} else if ((p[i] & 0xF0) == 0xE0) {
			cp = p[i] & 0x0F;
			extra = 2;
		} else if ((p[i] & 0xF8) == 0xF0) {
			cp = p[i] & 0x07;
			extra = 3;
		} else {
			return false;
		}
		if (n - i <= extra)
			return false;
		for (unsigned j = 1; j <= extra; j++) {
			if ((p[i + j] & 0xC0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3F);
		}
		static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
		if (cp < min_cp[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += extra + 1;
	}
	return true;
}

static void check_helpers(const uint8_t *p, size_t n)
{
	uint8_t *a = malloc(n + 1), *b = malloc(n + 1);
	uint8_t key[4] = {0x5A, 0, 0xFF, 0x13};
	size_t off = n ? p[0] & 3 : 0;
	struct ws_utf8 u = {0};
	size_t split = n ? p[n - 1] % (n + 1) : 0;
	bool ok;

	CHECK(a && b);
	if (n >= 4)
		memcpy(key, p, 4);
	ws_unmask(a, p, n, key, off);
	for (size_t i = 0; i < n; i++)
		b[i] = p[i] ^ key[(off + i) & 3];
	CHECK(n == 0 || memcmp(a, b, n) == 0);

	ok = naive_utf8(p, n);
	CHECK(ws_utf8_valid(p, n) == ok);
	ok = ws_utf8_feed(&u, p, split) == 0 && ws_utf8_feed(&u, p + split, n - split) == 0 &&
	     ws_utf8_complete(&u);
	CHECK(ws_utf8_valid(p, n) == ok);

	/* a close frame we build must parse back to what we put in */
	uint8_t frame[WS_MAX_CONTROL_LEN + 2];
	uint16_t code = n >= 2 ? (uint16_t)(p[0] << 8 | p[1]) : 1000;
	int r = ws_encode_close(frame, sizeof(frame), code, (const char *)p, n < 200 ? n : 200);
	if (r > 0) {
		struct ws_header h;
		uint16_t c2;
		const uint8_t *reason;
		size_t rlen;

		CHECK(ws_parse_header_client(frame, (size_t)r, &h) == 2);
		CHECK(ws_parse_close_payload(frame + 2, h.len, &c2, &reason, &rlen) == 0);
		CHECK(code == 0 ? c2 == WS_CLOSE_NO_STATUS : c2 == code);
		CHECK(rlen == 0 || memcmp(reason, p, rlen) == 0);
	}
	free(a);
	free(b);
}

static size_t next_chunk(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	/* mostly small pieces, sometimes large ones */
	return (*s & 0x100) ? 1 + (*s & 0x3FF) : 1 + (*s & 7);
}

/* Parse the header at s[0..avail) and cross-check it against all bytes. */
static int parse_checked(const uint8_t *s, size_t avail, size_t total, struct ws_header *h)
{
	struct ws_header full;
	uint8_t re[WS_MAX_HEADER];
	int r = ws_parse_header(s, avail, h);
	int rf = ws_parse_header(s, total, &full);

	CHECK(r == 0 || r == rf);
	if (r > 0) {
		CHECK(r <= WS_MAX_HEADER && (size_t)r <= avail);
		CHECK(h->len == full.len && h->opcode == full.opcode && h->fin == full.fin);
		CHECK(ws_encode_header_masked(re, h->fin, h->opcode, h->len, h->key) == (size_t)r);
		CHECK(memcmp(re, s, (size_t)r) == 0);
	} else if (r < 0) {
		CHECK(ws_error_close_code(r) == 1002);
	}
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ws_msg_state st;
	uint8_t ctl[WS_MAX_CONTROL_LEN];
	size_t total, avail = 0, pos = 0, ctl_len = 0;
	uint32_t seed;
	uint8_t *s;
	bool in_frame = false;

	if (size < 3)
		return 0;
	ws_msg_init(&st, limits[data[0] & 15]);
	seed = (uint32_t)data[1] << 8 | data[2] | 1;
	total = size - 3;
	/* an exact-size copy: ASan sees any read past the end, and the
	 * assembler unmasks in place */
	s = malloc(total ? total : 1);
	CHECK(s);
	memcpy(s, data + 3, total);
	check_helpers(s, total);

	for (;;) {
		int r;

		if (!in_frame) {
			struct ws_header h;

			r = parse_checked(s + pos, avail - pos, total - pos, &h);
			if (r < 0)
				break;
			if (r == 0) {
				if (avail == total)
					break;
				avail += next_chunk(&seed);
				avail = avail < total ? avail : total;
				continue;
			}
			pos += (size_t)r;
			r = ws_msg_frame_begin(&st, &h);
			if (r < 0) {
				CHECK(ws_error_close_code(r) == 1002 ||
				      ws_error_close_code(r) == 1009);
				break;
			}
			CHECK(st.msg_len <= st.max_payload);
			in_frame = true;
			ctl_len = 0;
		}
		size_t n = avail - pos;
		if (n > st.frame_left)
			n = (size_t)st.frame_left;
		r = ws_msg_frame_data(&st, s + pos, n);
		if (r < 0) {
			CHECK(r == WS_ERR_UTF8);
			break;
		}
		if (ws_opcode_is_control(st.frame_opcode)) {
			CHECK(ctl_len + n <= sizeof(ctl));
			memcpy(ctl + ctl_len, s + pos, n);
			ctl_len += n;
		}
		pos += n;
		if (st.frame_left) {
			if (avail == total)
				break;
			avail += next_chunk(&seed);
			avail = avail < total ? avail : total;
			continue;
		}
		r = ws_msg_frame_end(&st);
		if (r < 0) {
			CHECK(r == WS_ERR_UTF8);
			break;
		}
		in_frame = false;
		if (r == WS_FRAME_CONTROL && st.frame_opcode == WS_OP_CLOSE) {
			uint16_t code;
			const uint8_t *reason;
			size_t rlen;

			r = ws_parse_close_payload(ctl, ctl_len, &code, &reason, &rlen);
			CHECK(r == 0 || ws_error_close_code(r) != 0);
			CHECK(r != 0 || code == WS_CLOSE_NO_STATUS || ws_close_code_valid(code));
			break; /* nothing is read after a close */
		}
	}
	free(s);
	return 0;
}
