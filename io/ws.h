/*
 * ws: RFC 6455 WebSocket framing as pure functions over bytes.
 *
 * Owns: the frame header parser (both roles), the message assembler that
 * enforces the rules spanning frames (fragmentation, size limit, incremental
 * UTF-8 of text messages), close payload checks, the encoders of server and
 * client frames, the fast unmask and the UTF-8 validator.
 *
 * Threads: none of its own and no global state; every function works on the
 * bytes and the struct it is given, so any thread may call any function on
 * data it owns. Nothing here allocates or reads past the length it is given.
 *
 * The path of one inbound frame on a reactor:
 *
 *   bytes --> ws_parse_header --> ws_msg_frame_begin --> ws_msg_frame_data * --> ws_msg_frame_end
 *             0: need more        sequence and size      unmask in place,       WS_FRAME_PART,
 *             <0: close with      checked before any     UTF-8 of text as       WS_FRAME_MESSAGE,
 *             ws_error_close_code payload is buffered    it arrives             WS_FRAME_CONTROL
 *
 * The assembler's states; control frames may come in either and change none:
 *
 *                     TEXT/BINARY, FIN=0
 *    +--> IDLE ------------------------------> OPEN --+ CONT, FIN=0
 *    |     |   <------------------------------  ^ <---+
 *    |     |             CONT, FIN=1
 *    +-----+ TEXT/BINARY, FIN=1
 *
 *    1002: CONT in IDLE, TEXT/BINARY in OPEN.
 *    1009: the declared lengths of a message's frames add up to over max_payload.
 *    1007: a text message that is not UTF-8, found at the first bad byte.
 *
 * Errors are negative numbers in [-(WS_ERR_BASE + 63), -WS_ERR_BASE], a range
 * no errno reaches, so they travel in the same int as -errno values.
 */
#ifndef SLUICE_WS_H
#define SLUICE_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

/* Close codes sluice sends or maps errors to (RFC 6455 section 7.4.1). */
enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005, /* never on the wire: an empty close payload */
	WS_CLOSE_ABNORMAL = 1006,  /* never on the wire: the connection ended without one */
	WS_CLOSE_INVALID_DATA = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
};

#define WS_ERR_BASE 4096
/* Close 1002: the peer broke the framing rules. */
#define WS_ERR_RSV	       (-(WS_ERR_BASE + 1))  /* RSV1-3 set, no extension agreed */
#define WS_ERR_OPCODE	       (-(WS_ERR_BASE + 2))  /* reserved opcode 3-7 or 0xB-0xF */
#define WS_ERR_UNMASKED	       (-(WS_ERR_BASE + 3))  /* client frame without mask */
#define WS_ERR_MASKED	       (-(WS_ERR_BASE + 4))  /* server frame with mask */
#define WS_ERR_LENGTH	       (-(WS_ERR_BASE + 5))  /* non-minimal length or top bit set */
#define WS_ERR_CONTROL_LEN     (-(WS_ERR_BASE + 6))  /* control payload over 125 bytes */
#define WS_ERR_CONTROL_FRAG    (-(WS_ERR_BASE + 7))  /* control frame with FIN=0 */
#define WS_ERR_CONT_UNEXPECTED (-(WS_ERR_BASE + 8))  /* CONT with no message open */
#define WS_ERR_MSG_INTERRUPTED (-(WS_ERR_BASE + 9))  /* TEXT/BINARY while one is open */
#define WS_ERR_CLOSE_LEN       (-(WS_ERR_BASE + 10)) /* close payload of 1 byte */
#define WS_ERR_CLOSE_CODE      (-(WS_ERR_BASE + 11)) /* close code not valid on the wire */
/* Close 1007: a text message or close reason that is not UTF-8. */
#define WS_ERR_UTF8 (-(WS_ERR_BASE + 12))
/* Close 1009: a frame or message over the configured limit. */
#define WS_ERR_TOO_BIG (-(WS_ERR_BASE + 13))

/* Largest header: 2 + 8 (64-bit length) + 4 (mask key). */
#define WS_MAX_HEADER	   14
#define WS_MAX_CONTROL_LEN 125

struct ws_header {
	uint64_t len;	/* payload length as declared */
	uint8_t key[4]; /* mask key; zero when not masked */
	uint8_t opcode; /* enum ws_opcode */
	bool fin;
	bool masked;
};

static inline bool ws_opcode_is_control(unsigned opcode)
{
	return (opcode & 0x8) != 0;
}

/*
 * Parse a frame header sent by a client (the server's side): the frame must
 * be masked. Rules that one byte already breaks are reported as soon as that
 * byte is in, so a prefix returns 0 or the error the whole frame returns.
 * Returns the header length (2..14, *h filled), 0 when buf holds only part of
 * the header (*h unspecified), or a WS_ERR_* of close code 1002.
 * The declared length is not checked against any limit here; the assembler
 * does it in ws_msg_frame_begin before the caller buffers any payload.
 */
int ws_parse_header(const uint8_t *buf, size_t len, struct ws_header *h);

/* The same for frames a server sent (a client's side, for tools and tests):
 * the frame must not be masked (WS_ERR_MASKED). */
int ws_parse_header_client(const uint8_t *buf, size_t len, struct ws_header *h);

/*
 * Write a server frame header: never masked, minimal length encoding.
 * Returns its length (2, 4 or 10). opcode is an enum ws_opcode; the caller
 * keeps control frames at FIN=1 and at most 125 bytes.
 */
size_t ws_encode_header(uint8_t out[WS_MAX_HEADER], bool fin, unsigned opcode, uint64_t len);

/* Write a client frame header with mask key `key` (6, 8 or 14 bytes); the
 * caller masks the payload with ws_unmask(dst, src, n, key, 0). */
size_t ws_encode_header_masked(uint8_t out[WS_MAX_HEADER], bool fin, unsigned opcode, uint64_t len,
			       const uint8_t key[4]);

/*
 * Write a whole server control frame (ping, pong or close) with the given
 * payload, e.g. a pong echoing a ping's payload.
 * Returns its length, -EINVAL when opcode is not a control opcode or n > 125,
 * -ENOSPC when it does not fit in cap; nothing written on error.
 */
int ws_encode_control(uint8_t *out, size_t cap, unsigned opcode, const uint8_t *payload, size_t n);

/*
 * Write a whole server close frame: status code then reason. code 0 sends
 * an empty payload (no status). Returns its length, -EINVAL when code is not
 * valid on the wire, the reason is over 123 bytes or not UTF-8, -ENOSPC when
 * it does not fit in cap; nothing written on error.
 */
int ws_encode_close(uint8_t *out, size_t cap, uint16_t code, const char *reason, size_t reason_len);

/*
 * dst[i] = src[i] ^ key[(key_offset + i) % 4] for i < n. dst may equal src
 * (not otherwise overlap). key_offset is the position in the payload of
 * src[0], so a payload can be unmasked piece by piece as it arrives.
 * Eight bytes per step; any alignment.
 */
void ws_unmask(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4], size_t key_offset);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing
 * above U+10FFFF). Zero-initialise, or use ws_utf8_init. */
struct ws_utf8 {
	uint8_t need; /* continuation bytes still expected */
	uint8_t lo;   /* valid range of the next continuation byte */
	uint8_t hi;
};

static inline void ws_utf8_init(struct ws_utf8 *u)
{
	*u = (struct ws_utf8){0};
}

/* Feed n more bytes. Returns 0, or WS_ERR_UTF8 as soon as the bytes can no
 * longer be a prefix of valid UTF-8 (*u then unspecified). */
int ws_utf8_feed(struct ws_utf8 *u, const uint8_t *p, size_t n);

/* True when the bytes fed so far end on a character boundary. */
static inline bool ws_utf8_complete(const struct ws_utf8 *u)
{
	return u->need == 0;
}

/* Whole-buffer convenience: true when p[0..n) is valid UTF-8. */
bool ws_utf8_valid(const uint8_t *p, size_t n);

/* True for codes a peer may put in a close frame: 1000-1003, 1007-1011,
 * 3000-4999. */
bool ws_close_code_valid(unsigned code);

/*
 * Check an unmasked close payload. Returns 0 with *code (WS_CLOSE_NO_STATUS
 * for an empty payload) and the reason (pointing into p, possibly empty);
 * WS_ERR_CLOSE_LEN for one byte, WS_ERR_CLOSE_CODE for an invalid code (both
 * 1002), WS_ERR_UTF8 for a reason that is not UTF-8 (1007). Outputs are
 * untouched on error.
 */
int ws_parse_close_payload(const uint8_t *p, size_t n, uint16_t *code, const uint8_t **reason,
			   size_t *reason_len);

/* The close code an error calls for: 1002, 1007 or 1009; 0 when err is not
 * a WS_ERR_*. */
unsigned ws_error_close_code(int err);

/* A short static description of a WS_ERR_*, fit for a close reason. */
const char *ws_strerror(int err);

/* Message assembler of one connection; see the state picture above. */
struct ws_msg_state {
	uint64_t max_payload; /* largest message, the sum of its fragments */
	uint64_t msg_len;     /* declared bytes of the open message so far */
	uint64_t frame_left;  /* payload bytes of the current frame not yet fed */
	uint64_t frame_off;   /* payload bytes of the current frame already fed */
	struct ws_utf8 utf8;  /* of the open text message */
	uint8_t key[4];
	uint8_t msg_opcode; /* TEXT or BINARY of the open or last message */
	uint8_t frame_opcode;
	bool msg_open;
	bool frame_fin;
	bool in_frame; /* between frame_begin and frame_end */
};

/* Results of ws_msg_frame_end (and ws_msg_frame). */
enum ws_frame_result {
	WS_FRAME_PART = 1,    /* a fragment; the message goes on */
	WS_FRAME_MESSAGE = 2, /* the last frame of a message of opcode st->msg_opcode */
	WS_FRAME_CONTROL = 3, /* a whole control frame of opcode st->frame_opcode */
};

/* An empty assembler; max_payload bounds every message (not control frames,
 * which the parser already bounds at 125). */
void ws_msg_init(struct ws_msg_state *st, uint64_t max_payload);

/*
 * Start a frame whose header ws_parse_header returned. Returns 0, or
 * WS_ERR_CONT_UNEXPECTED / WS_ERR_MSG_INTERRUPTED (1002) or WS_ERR_TOO_BIG
 * (1009) before any payload needs to be buffered. -EINVAL when a frame is
 * already in progress. The error cases change nothing.
 */
int ws_msg_frame_begin(struct ws_msg_state *st, const struct ws_header *h);

/*
 * The next n payload bytes of the current frame, unmasked in place. Text data
 * is UTF-8-checked as it comes. Returns 0, WS_ERR_UTF8 (1007), or -EINVAL
 * when n is more than the frame has left (nothing changed).
 */
int ws_msg_frame_data(struct ws_msg_state *st, uint8_t *p, size_t n);

/*
 * End the current frame once all its payload went through frame_data.
 * Returns an enum ws_frame_result; on WS_FRAME_MESSAGE, st->msg_opcode still
 * names the finished message until the next frame_begin. WS_ERR_UTF8 when
 * a text message ends inside a character; -EINVAL when no frame is in
 * progress or payload is missing (nothing changed).
 */
int ws_msg_frame_end(struct ws_msg_state *st);

/* begin + data + end for a frame whose whole payload (still masked) is in
 * memory. Returns what frame_end returns, or the first error. */
int ws_msg_frame(struct ws_msg_state *st, const struct ws_header *h, uint8_t *payload);

#endif
