/*
 * packet: the SocketCluster packet parser, a pure function over the bytes of
 * one text message.
 *
 * Owns: the classification of a message (ping, raw, packet, batch), the spans
 * of a packet's fields (`event`, `cid`, `rid`, `data`, `error`, and for the
 * pub/sub events the channel and the inner payload), the batch iterator, and
 * the strict JSON scanner under them (RFC 8259: strings with their escapes
 * and UTF-8, numbers, literals, nesting up to PACKET_MAX_DEPTH).
 *
 * Threads: no state of its own and no allocation; any thread may call any
 * function on bytes it owns. Nothing reads past the length it is given, and
 * every span points into the caller's buffer, which must outlive it.
 *
 * Nothing builds a tree of the application's payload or re-serialises it:
 * `data` is the exact bytes that arrived, validated (a peer forwards them to
 * other clients, so they must be valid JSON) but otherwise untouched.
 *
 * Classification follows the reference server (socketcluster-server 20.0.1,
 * sc-formatter's decode and AGServerSocket._processInboundPacket):
 *
 *   message bytes
 *     |-- empty ---------------------------------------> PACKET_PING (v2)
 *     |-- exactly "#1" or "#2" ------------------------> PACKET_PING (v1)
 *     |-- not '{' or '[' after [ \t\n\r]* -------------> PACKET_RAW, err 0
 *     |-- not valid JSON ------------------------------> PACKET_RAW, err = why
 *     |-- '[': valid array ----------------------------> PACKET_BATCH, walk it
 *     |                                                   with packet_batch_next
 *     '-- '{': "event" is a string --------------------> PACKET_EVENT
 *              else "rid" is a number -----------------> PACKET_REPLY
 *              else -----------------------------------> PACKET_RAW, err 0
 *
 * JSON.parse semantics where they matter: duplicate keys, the last one wins
 * (for every field here, including the members of `data` read for pub/sub);
 * unknown keys are skipped but validated; keys are matched after unescaping
 * ("\u0065vent" is "event"); lone surrogate escapes ("\ud800") are accepted,
 * as JSON.parse accepts them.
 *
 * Where sluice is narrower than the reference, on purpose:
 *   - cid and rid count only as JSON integers within int64, written without
 *     fraction or exponent. Any other number (1.5, 1e3, 2^63) leaves has_cid
 *     (has_rid) false and sets cid_other (rid_other), so the broker can tell
 *     "no cid" (a transmit) from "a cid we do not take". A reply's kind
 *     depends only on rid being a number, as in the reference.
 *   - nesting deeper than PACKET_MAX_DEPTH arrays and objects (the envelope
 *     and a batch's array included) and messages of 4 GiB or more are refused
 *     with an error, although JSON.parse would take them.
 *   - bytes that are not UTF-8 make the text invalid JSON, hence raw (Node
 *     would replace them with U+FFFD in a binary frame and parse on).
 *
 * Errors are negative numbers in [-(PACKET_ERR_BASE + 63), -PACKET_ERR_BASE],
 * apart from every errno and from the WS_ERR_* and HTTP_ERR_* ranges.
 */
#ifndef SLUICE_PACKET_H
#define SLUICE_PACKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PACKET_ERR_BASE 12288
/* Why JSON-looking text is not JSON: packet_parse reports these in p->err of
 * a PACKET_RAW message (the protocol delivers such text as raw), the batch
 * iterator and the helpers return them. */
#define PACKET_ERR_SYNTAX    (-(PACKET_ERR_BASE + 1)) /* unexpected byte: ', NaN, trailing comma */
#define PACKET_ERR_TRUNCATED (-(PACKET_ERR_BASE + 2)) /* the text ends inside a value */
#define PACKET_ERR_STRING    (-(PACKET_ERR_BASE + 3)) /* control byte or bad escape in a string */
#define PACKET_ERR_UTF8	     (-(PACKET_ERR_BASE + 4)) /* bytes that are not UTF-8 (RFC 3629) */
#define PACKET_ERR_NUMBER    (-(PACKET_ERR_BASE + 5)) /* leading zero, digits missing */
#define PACKET_ERR_TRAILING  (-(PACKET_ERR_BASE + 6)) /* more than whitespace after the value */
/* Valid JSON that sluice refuses (packet_parse returns these). */
#define PACKET_ERR_DEPTH   (-(PACKET_ERR_BASE + 7)) /* nesting over PACKET_MAX_DEPTH */
#define PACKET_ERR_TOO_BIG (-(PACKET_ERR_BASE + 8)) /* 4 GiB or more: spans are 32-bit */
/* packet_unescape: the output buffer is too small. */
#define PACKET_ERR_SPACE (-(PACKET_ERR_BASE + 9))

/* Arrays and objects open at once, the envelope and a batch's array counted:
 * a client's packet needs 3 or 4; 64 leaves applications room while bounding
 * the scanner's recursion (a few hundred bytes of stack per level). */
#define PACKET_MAX_DEPTH 64

/* A piece of the message: bytes [off, off + len). Every present span starts
 * after the opening '{' or '[', so off 0 with len 0 means absent, even for
 * an empty string's contents. */
struct packet_span {
	uint32_t off, len;
};

static inline bool packet_has(struct packet_span s)
{
	return s.off != 0 || s.len != 0;
}

enum packet_kind {
	PACKET_RAW = 1, /* delivered to the application as is */
	PACKET_PING,	/* keep-alive, see ping_v1 */
	PACKET_EVENT,	/* "event" is a string: invoke when has_cid, else transmit */
	PACKET_REPLY,	/* no string "event", "rid" is a number */
	PACKET_BATCH,	/* a valid JSON array: iterate with packet_batch_next */
};

/* The reserved event names; PACKET_EV_OTHER for every application event. */
enum packet_event {
	PACKET_EV_OTHER = 0,
	PACKET_EV_HANDSHAKE,	    /* #handshake */
	PACKET_EV_PUBLISH,	    /* #publish */
	PACKET_EV_SUBSCRIBE,	    /* #subscribe */
	PACKET_EV_UNSUBSCRIBE,	    /* #unsubscribe */
	PACKET_EV_KICKOUT,	    /* #kickOut */
	PACKET_EV_AUTHENTICATE,	    /* #authenticate */
	PACKET_EV_SET_AUTH_TOKEN,   /* #setAuthToken */
	PACKET_EV_REMOVE_AUTH_TOKEN /* #removeAuthToken */
};

struct packet {
	enum packet_kind kind;
	/* PACKET_RAW: 0 when the text is not JSON-looking or is valid JSON but
	 * no packet; else the PACKET_ERR_* that made it invalid, found at byte
	 * err_off. */
	int err;
	uint32_t err_off;
	/* PACKET_PING: 0 for the empty frame (v2), 1 for "#1", 2 for "#2" (v1).
	 * The reference takes only its own version's pong; "#2" on a v2 socket
	 * is a raw message, which the caller decides. */
	uint8_t ping_v1;
	/* PACKET_BATCH: number of elements. */
	uint32_t count;
	/* The whole packet: the envelope object, or a batch's raw element. */
	struct packet_span span;

	/* PACKET_EVENT: the name's contents without quotes; event_esc when it
	 * holds escapes (then compare through packet_unescape). ev is already
	 * classified after unescaping. */
	struct packet_span event;
	bool event_esc;
	enum packet_event ev;
	bool has_cid, cid_other; /* see the header comment */
	int64_t cid;
	/* rid, read in any packet; PACKET_REPLY when has_rid or rid_other. */
	bool has_rid, rid_other;
	int64_t rid;
	/* Exact bytes of the "data" and "error" values (any JSON); absent when
	 * the key is. */
	struct packet_span data;
	struct packet_span error;

	/* #publish, #subscribe, #kickOut: has_channel when data is an object
	 * with a string "channel"; channel is its contents, without quotes.
	 * #unsubscribe: has_channel when data itself is a string. Without it the
	 * reference answers InvalidActionError "... channel name was
	 * malformatted". */
	bool has_channel;
	bool channel_esc;
	struct packet_span channel;
	/* #publish and #subscribe: data.data; #kickOut: data.message (exact
	 * bytes, absent when the member is). */
	struct packet_span inner;
};

/*
 * Classify the text message buf[0, len) and fill *p (cleared first) as the
 * picture above says. A PACKET_BATCH has been validated whole, as JSON.parse
 * would, before its elements are walked.
 * Returns 0, PACKET_ERR_DEPTH or PACKET_ERR_TOO_BIG (*p then cleared, with
 * err and err_off set). Never reads past len.
 */
int packet_parse(const uint8_t *buf, size_t len, struct packet *p);

/*
 * Walk the elements of a batch that packet_parse classified PACKET_BATCH.
 * Start with *pos = 0; each call fills *p with the next element, its spans
 * relative to buf, and advances *pos. An object element is parsed as a
 * packet (PACKET_EVENT, PACKET_REPLY or PACKET_RAW); any other element (a
 * nested array, a string, null...) is PACKET_RAW with span set to it: the
 * reference emits the whole message as raw for each such element.
 * Returns 1 with *p filled, 0 after the last element (again on every later
 * call), or a PACKET_ERR_* when buf was not a valid batch (nothing changed).
 */
int packet_batch_next(const uint8_t *buf, size_t len, size_t *pos, struct packet *p);

/*
 * Validate buf[0, len) as exactly one JSON value with optional whitespace
 * around it. Returns 0 or the PACKET_ERR_* of the first fault.
 */
int packet_validate(const uint8_t *buf, size_t len);

/*
 * Find member key[0, key_len) (compared after unescaping; the last one wins)
 * of the object at span obj of buf, a span this parser produced (data,
 * error, inner). *val gets the member's exact value bytes.
 * Returns 0, -ENOENT when obj is not an object or has no such member (*val
 * untouched), or a PACKET_ERR_* when the span is not valid JSON.
 */
int packet_member(const uint8_t *buf, struct packet_span obj, const char *key, size_t key_len,
		  struct packet_span *val);

/*
 * Decode the contents of a JSON string (a span without quotes, such as event
 * or channel) into out[0, cap) as UTF-8. A surrogate pair becomes one
 * character; a lone surrogate becomes U+FFFD, as Node's UTF-8 encoder does.
 * Returns the decoded length, PACKET_ERR_SPACE when it does not fit (out
 * then holds an unspecified prefix), or PACKET_ERR_STRING for a bad escape.
 */
int packet_unescape(const uint8_t *buf, struct packet_span s, uint8_t *out, size_t cap);

/* Static names, for tests and logs. */
const char *packet_kind_name(enum packet_kind kind);
const char *packet_strerror(int err);

#endif
