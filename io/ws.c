/*
 * ws: RFC 6455 framing. Pure functions over the caller's bytes and structs;
 * no global mutable state, no allocation, so any thread may call them.
 * The contracts are on the declarations in ws.h.
 */
#include "ws.h"

#include <errno.h>
#include <string.h>

/* ---- frame headers ---------------------------------------------------- */

static bool opcode_known(unsigned op)
{
	return op <= WS_OP_BINARY || (op >= WS_OP_CLOSE && op <= WS_OP_PONG);
}

static uint64_t load_be(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;

	for (unsigned i = 0; i < n; i++)
		v = v << 8 | p[i];
	return v;
}

/*
 * Each rule is checked as soon as the byte that carries it is in, so a
 * stream of garbage is refused at its first byte rather than after we wait
 * for a header that will never make sense.
 */
static int parse_header(const uint8_t *b, size_t len, struct ws_header *h, bool want_mask)
{
	unsigned op, len7, ext;
	uint64_t plen;
	size_t hlen;
	bool fin, masked;

	if (len < 1)
		return 0;
	if (b[0] & 0x70)
		return WS_ERR_RSV;
	op = b[0] & 0x0F;
	fin = (b[0] & 0x80) != 0;
	if (!opcode_known(op))
		return WS_ERR_OPCODE;
	if (ws_opcode_is_control(op) && !fin)
		return WS_ERR_CONTROL_FRAG;
	if (len < 2)
		return 0;
	masked = (b[1] & 0x80) != 0;
	if (masked != want_mask)
		return want_mask ? WS_ERR_UNMASKED : WS_ERR_MASKED;
	len7 = b[1] & 0x7F;
	if (ws_opcode_is_control(op) && len7 > WS_MAX_CONTROL_LEN)
		return WS_ERR_CONTROL_LEN;

	ext = len7 == 126 ? 2 : len7 == 127 ? 8 : 0;
	hlen = 2 + ext + (masked ? 4 : 0);
	if (len7 == 127 && len >= 3 && (b[2] & 0x80))
		return WS_ERR_LENGTH; /* RFC 6455 5.2: the top bit MUST be 0 */
	if (len < 2 + ext)
		return 0;
	plen = ext ? load_be(b + 2, ext) : len7;
	/* RFC 6455 5.2: the minimal number of bytes MUST be used */
	if ((ext == 2 && plen < 126) || (ext == 8 && plen <= 0xFFFF))
		return WS_ERR_LENGTH;
	if (len < hlen)
		return 0;

	h->len = plen;
	h->opcode = (uint8_t)op;
	h->fin = fin;
	h->masked = masked;
	if (masked)
		memcpy(h->key, b + 2 + ext, 4);
	else
		memset(h->key, 0, 4);
	return (int)hlen;
}

int ws_parse_header(const uint8_t *buf, size_t len, struct ws_header *h)
{
	return parse_header(buf, len, h, true);
}

int ws_parse_header_client(const uint8_t *buf, size_t len, struct ws_header *h)
{
	return parse_header(buf, len, h, false);
}

static size_t encode_header(uint8_t *out, bool fin, unsigned opcode, uint64_t len, uint8_t mask)
{
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
	if (len < 126) {
		out[1] = (uint8_t)(mask | len);
		return 2;
	}
	if (len <= 0xFFFF) {
		out[1] = mask | 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = mask | 127;
	for (unsigned i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

size_t ws_encode_header(uint8_t out[WS_MAX_HEADER], bool fin, unsigned opcode, uint64_t len)
{
	return encode_header(out, fin, opcode, len, 0);
}

size_t ws_encode_header_masked(uint8_t out[WS_MAX_HEADER], bool fin, unsigned opcode, uint64_t len,
			       const uint8_t key[4])
{
	size_t n = encode_header(out, fin, opcode, len, 0x80);

	memcpy(out + n, key, 4);
	return n + 4;
}

int ws_encode_control(uint8_t *out, size_t cap, unsigned opcode, const uint8_t *payload, size_t n)
{
	size_t hlen;

	if (!ws_opcode_is_control(opcode) || !opcode_known(opcode) || n > WS_MAX_CONTROL_LEN)
		return -EINVAL;
	if (cap < 2 + n)
		return -ENOSPC;
	hlen = encode_header(out, true, opcode, n, 0);
	if (n)
		memcpy(out + hlen, payload, n);
	return (int)(hlen + n);
}

int ws_encode_close(uint8_t *out, size_t cap, uint16_t code, const char *reason, size_t reason_len)
{
	uint8_t payload[WS_MAX_CONTROL_LEN];

	if (code == 0)
		return reason_len ? -EINVAL : ws_encode_control(out, cap, WS_OP_CLOSE, NULL, 0);
	if (!ws_close_code_valid(code) || reason_len > WS_MAX_CONTROL_LEN - 2 ||
	    !ws_utf8_valid((const uint8_t *)reason, reason_len))
		return -EINVAL;
	payload[0] = (uint8_t)(code >> 8);
	payload[1] = (uint8_t)code;
	if (reason_len)
		memcpy(payload + 2, reason, reason_len);
	return ws_encode_control(out, cap, WS_OP_CLOSE, payload, 2 + reason_len);
}

/* ---- unmasking -------------------------------------------------------- */

void ws_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t key_offset)
{
	uint8_t k[8];
	uint64_t k64, w;
	size_t i = 0;

	/* rotate the key so k[j] applies to src[j]; 8 is a multiple of 4, so
	 * the same 8-byte pattern applies at every 8-byte step */
	for (unsigned j = 0; j < 8; j++)
		k[j] = key[(key_offset + j) & 3];
	memcpy(&k64, k, 8);

	/* memcpy loads and stores: any alignment, no aliasing UB, and the
	 * compiler turns them into plain 64-bit moves */
	for (; n - i >= 32; i += 32) {
		for (unsigned j = 0; j < 32; j += 8) {
			memcpy(&w, src + i + j, 8);
			w ^= k64;
			memcpy(dst + i + j, &w, 8);
		}
	}
	for (; n - i >= 8; i += 8) {
		memcpy(&w, src + i, 8);
		w ^= k64;
		memcpy(dst + i, &w, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k[i & 7];
}

/* ---- UTF-8 ------------------------------------------------------------ */

#define ASCII_MASK 0x8080808080808080ull

int ws_utf8_feed(struct ws_utf8 *u, const uint8_t *p, size_t n)
{
	unsigned need = u->need, lo = u->lo, hi = u->hi;
	size_t i = 0;

	while (i < n) {
		unsigned c = p[i];

		if (need) {
			if (c < lo || c > hi)
				return WS_ERR_UTF8;
			need--;
			lo = 0x80;
			hi = 0xBF;
			i++;
			continue;
		}
		if (c < 0x80) {
			/* JSON is mostly ASCII: skip it eight bytes at a time */
			uint64_t w;

			for (i++; n - i >= 8; i += 8) {
				memcpy(&w, p + i, 8);
				if (w & ASCII_MASK)
					break;
			}
			continue;
		}
		/* the first continuation byte's range is what excludes
		 * overlongs (E0, F0), surrogates (ED) and > U+10FFFF (F4) */
		lo = 0x80;
		hi = 0xBF;
		if (c >= 0xC2 && c <= 0xDF) {
			need = 1;
		} else if (c >= 0xE0 && c <= 0xEF) {
			need = 2;
			if (c == 0xE0)
				lo = 0xA0;
			else if (c == 0xED)
				hi = 0x9F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			need = 3;
			if (c == 0xF0)
				lo = 0x90;
			else if (c == 0xF4)
				hi = 0x8F;
		} else {
			return WS_ERR_UTF8; /* 80-BF stray, C0-C1 overlong, F5-FF */
		}
		i++;
	}
	u->need = (uint8_t)need;
	u->lo = (uint8_t)lo;
	u->hi = (uint8_t)hi;
	return 0;
}

bool ws_utf8_valid(const uint8_t *p, size_t n)
{
	struct ws_utf8 u = {0};

	return ws_utf8_feed(&u, p, n) == 0 && ws_utf8_complete(&u);
}

/* ---- close frames and errors ------------------------------------------ */

bool ws_close_code_valid(unsigned code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1011) ||
	       (code >= 3000 && code <= 4999);
}

int ws_parse_close_payload(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
			   size_t *reason_len)
{
	uint16_t c;

	if (n == 0) {
		*code = WS_CLOSE_NO_STATUS;
		*reason = p;
		*reason_len = 0;
		return 0;
	}
	if (n == 1)
		return WS_ERR_CLOSE_LEN;
	c = (uint16_t)(p[0] << 8 | p[1]);
	if (!ws_close_code_valid(c))
		return WS_ERR_CLOSE_CODE;
	if (!ws_utf8_valid(p + 2, n - 2))
		return WS_ERR_UTF8;
	*code = c;
	*reason = p + 2;
	*reason_len = n - 2;
	return 0;
}

unsigned ws_error_close_code(int err)
{
	switch (err) {
	case WS_ERR_RSV:
	case WS_ERR_OPCODE:
	case WS_ERR_UNMASKED:
	case WS_ERR_MASKED:
	case WS_ERR_LENGTH:
	case WS_ERR_CONTROL_LEN:
	case WS_ERR_CONTROL_FRAG:
	case WS_ERR_CONT_UNEXPECTED:
	case WS_ERR_MSG_INTERRUPTED:
	case WS_ERR_CLOSE_LEN:
	case WS_ERR_CLOSE_CODE:
		return WS_CLOSE_PROTOCOL;
	case WS_ERR_UTF8:
		return WS_CLOSE_INVALID_DATA;
	case WS_ERR_TOO_BIG:
		return WS_CLOSE_TOO_BIG;
	default:
		return 0;
	}
}

const char *ws_strerror(int err)
{
	switch (err) {
	case WS_ERR_RSV:
		return "reserved bits set";
	case WS_ERR_OPCODE:
		return "reserved opcode";
	case WS_ERR_UNMASKED:
		return "client frame not masked";
	case WS_ERR_MASKED:
		return "server frame masked";
	case WS_ERR_LENGTH:
		return "bad payload length encoding";
	case WS_ERR_CONTROL_LEN:
		return "control frame too long";
	case WS_ERR_CONTROL_FRAG:
		return "fragmented control frame";
	case WS_ERR_CONT_UNEXPECTED:
		return "continuation without a message";
	case WS_ERR_MSG_INTERRUPTED:
		return "new message inside a fragmented one";
	case WS_ERR_CLOSE_LEN:
		return "close payload of one byte";
	case WS_ERR_CLOSE_CODE:
		return "invalid close code";
	case WS_ERR_UTF8:
		return "invalid UTF-8";
	case WS_ERR_TOO_BIG:
		return "message too big";
	default:
		return "not a WebSocket error";
	}
}

/* ---- message assembler ------------------------------------------------ */

void ws_msg_init(struct ws_msg_state *st, uint64_t max_payload)
{
	*st = (struct ws_msg_state){.max_payload = max_payload};
}

int ws_msg_frame_begin(struct ws_msg_state *st, const struct ws_header *h)
{
	bool control = ws_opcode_is_control(h->opcode);

	if (st->in_frame)
		return -EINVAL;
	if (!control) {
		uint64_t before = 0;

		if (h->opcode == WS_OP_CONT) {
			if (!st->msg_open)
				return WS_ERR_CONT_UNEXPECTED;
			before = st->msg_len;
		} else if (st->msg_open) {
			return WS_ERR_MSG_INTERRUPTED;
		}
		/* checked on the declared length, before any payload is kept */
		if (h->len > st->max_payload - before)
			return WS_ERR_TOO_BIG;
		if (h->opcode != WS_OP_CONT) {
			st->msg_opcode = h->opcode;
			st->msg_open = true;
			st->msg_len = 0;
			ws_utf8_init(&st->utf8);
		}
		st->msg_len += h->len;
	}
	st->frame_opcode = h->opcode;
	st->frame_fin = h->fin;
	st->frame_left = h->len;
	st->frame_off = 0;
	memcpy(st->key, h->key, 4);
	st->in_frame = true;
	return 0;
}

int ws_msg_frame_data(struct ws_msg_state *st, uint8_t *p, size_t n)
{
	static const uint8_t zero_key[4];

	if (!st->in_frame || n > st->frame_left)
		return -EINVAL;
	if (memcmp(st->key, zero_key, 4) != 0)
		ws_unmask(p, p, n, st->key, (size_t)(st->frame_off & 3));
	st->frame_left -= n;
	st->frame_off += n;
	if (!ws_opcode_is_control(st->frame_opcode) && st->msg_opcode == WS_OP_TEXT)
		return ws_utf8_feed(&st->utf8, p, n);
	return 0;
}

int ws_msg_frame_end(struct ws_msg_state *st)
{
	if (!st->in_frame || st->frame_left)
		return -EINVAL;
	st->in_frame = false;
	if (ws_opcode_is_control(st->frame_opcode))
		return WS_FRAME_CONTROL;
	if (!st->frame_fin)
		return WS_FRAME_PART;
	st->msg_open = false;
	if (st->msg_opcode == WS_OP_TEXT && !ws_utf8_complete(&st->utf8))
		return WS_ERR_UTF8; /* the message ends inside a character */
	return WS_FRAME_MESSAGE;
}

int ws_msg_frame(struct ws_msg_state *st, const struct ws_header *h, uint8_t *payload)
{
	int r = ws_msg_frame_begin(st, h);

	if (r == 0)
		r = ws_msg_frame_data(st, payload, (size_t)h->len);
	if (r == 0)
		r = ws_msg_frame_end(st);
	return r;
}
