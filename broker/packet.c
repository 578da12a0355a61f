/*
 * packet: the SocketCluster packet parser and the strict JSON scanner under
 * it. See packet.h for the classification and the choices made.
 *
 * Threads: pure; no state outside the caller's buffer and struct.
 *
 * One recursive-descent scanner validates every byte once. The envelope and
 * the `data` object of pub/sub events are walked with the same member
 * iterator (obj_next) that skip_value uses for everything else, so there is
 * one JSON grammar here, not one per field. Recursion is bounded by
 * PACKET_MAX_DEPTH. Offsets are 32-bit: packet_parse refuses 4 GiB and more.
 *
 * On an error, s->i is left at the byte that broke the grammar (the end of
 * the text for PACKET_ERR_TRUNCATED), which packet_parse reports as err_off.
 * Every proper prefix of valid JSON fails with PACKET_ERR_TRUNCATED, never
 * with another error: partial escapes, numbers, literals and UTF-8
 * sequences are checked as far as they go and then reported as cut short.
 */
#include "packet.h"

#include <errno.h>
#include <string.h>

struct scan {
	const uint8_t *b;
	uint32_t n; /* end of the text being scanned */
	uint32_t i; /* next byte */
};

/* A string seen by the scanner: its contents, without quotes. */
struct str {
	uint32_t off, len;
	bool esc;
};

static inline struct packet_span span_of(uint32_t from, uint32_t to)
{
	return (struct packet_span){from, to - from};
}

static inline bool is_digit(uint8_t c)
{
	return c >= '0' && c <= '9';
}

static inline void skip_ws(struct scan *s)
{
	while (s->i < s->n) {
		uint8_t c = s->b[s->i];

		if (c != ' ' && c != '\n' && c != '\r' && c != '\t')
			break;
		s->i++;
	}
}

static int truncated(struct scan *s)
{
	s->i = s->n;
	return PACKET_ERR_TRUNCATED;
}

/* True when none of the 8 bytes ends or escapes a string or needs a check:
 * no '"', no '\\', nothing below 0x20, nothing from 0x80. Each test is the
 * exact "some byte is zero / less than n" bit trick, so a false answer only
 * sends the bytes through the careful loop. */
static inline bool plain8(uint64_t v)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t q = v ^ (ones * '"'), bs = v ^ (ones * '\\');
	uint64_t hit = ((q - ones) & ~q) | ((bs - ones) & ~bs) | (v - ones * 0x20) | v;

	return (hit & high) == 0;
}

static inline int hex_val(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c |= 0x20;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Length of the UTF-8 character whose lead byte (>= 0x80) is b[i]: 2-4, 0
 * when the bytes are not UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), -1 when the text ends inside a valid prefix. */
static int utf8_len(const uint8_t *b, uint32_t i, uint32_t n)
{
	uint8_t c = b[i], lo = 0x80, hi = 0xBF;
	uint32_t len;

	if (c >= 0xC2 && c <= 0xDF) {
		len = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		len = 3;
		if (c == 0xE0)
			lo = 0xA0; /* overlong */
		else if (c == 0xED)
			hi = 0x9F; /* UTF-16 surrogates */
	} else if (c >= 0xF0 && c <= 0xF4) {
		len = 4;
		if (c == 0xF0)
			lo = 0x90; /* overlong */
		else if (c == 0xF4)
			hi = 0x8F; /* above U+10FFFF */
	} else {
		return 0;
	}
	for (uint32_t k = 1; k < len; k++) {
		if (k >= n - i)
			return -1;
		if (b[i + k] < lo || b[i + k] > hi)
			return 0;
		lo = 0x80;
		hi = 0xBF;
	}
	return (int)len;
}

/* s->i at '"'. On success s->i is past the closing quote. */
static int scan_string(struct scan *s, struct str *out)
{
	const uint8_t *b = s->b;
	uint32_t n = s->n, i = s->i + 1;
	bool esc = false;

	out->off = i;
	for (;;) {
		while (n - i >= 8) {
			uint64_t v;

			memcpy(&v, b + i, 8);
			if (!plain8(v))
				break;
			i += 8;
		}
		if (i >= n)
			return truncated(s);
		uint8_t c = b[i];
		if (c == '"')
			break;
		if (c == '\\') {
			esc = true;
			if (n - i < 2)
				return truncated(s);
			switch (b[i + 1]) {
			case '"':
			case '\\':
			case '/':
			case 'b':
			case 'f':
			case 'n':
			case 'r':
			case 't':
				i += 2;
				continue;
			case 'u':
				for (uint32_t k = 2; k < 6; k++) {
					if (k >= n - i)
						return truncated(s);
					if (hex_val(b[i + k]) < 0) {
						s->i = i + k;
						return PACKET_ERR_STRING;
					}
				}
				i += 6;
				continue;
			default:
				s->i = i + 1;
				return PACKET_ERR_STRING;
			}
		}
		if (c < 0x20) {
			s->i = i;
			return PACKET_ERR_STRING;
		}
		if (c < 0x80) {
			i++;
			continue;
		}
		int len = utf8_len(b, i, n);
		if (len < 0)
			return truncated(s);
		if (len == 0) {
			s->i = i;
			return PACKET_ERR_UTF8;
		}
		i += (uint32_t)len;
	}
	out->len = i - out->off;
	out->esc = esc;
	s->i = i + 1;
	return 0;
}

/* s->i at '-' or a digit. *is_int tells whether the number is an integer
 * written without fraction or exponent that fits int64 (then in *val). */
static int scan_number(struct scan *s, int64_t *val, bool *is_int)
{
	const uint8_t *b = s->b;
	uint32_t n = s->n, i = s->i;
	bool neg = false, integer = true, fits = true;
	uint64_t mag = 0;

	if (b[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= n)
		return truncated(s);
	if (b[i] == '0') {
		i++;
		if (i < n && is_digit(b[i])) {
			s->i = i;
			return PACKET_ERR_NUMBER;
		}
	} else if (is_digit(b[i])) {
		for (; i < n && is_digit(b[i]); i++) {
			unsigned d = b[i] - '0';

			if (mag > (UINT64_MAX - d) / 10)
				fits = false;
			else
				mag = mag * 10 + d;
		}
	} else {
		s->i = i;
		return PACKET_ERR_NUMBER;
	}
	if (i < n && b[i] == '.') {
		integer = false;
		if (++i >= n)
			return truncated(s);
		if (!is_digit(b[i])) {
			s->i = i;
			return PACKET_ERR_NUMBER;
		}
		while (i < n && is_digit(b[i]))
			i++;
	}
	if (i < n && (b[i] == 'e' || b[i] == 'E')) {
		integer = false;
		if (++i < n && (b[i] == '+' || b[i] == '-'))
			i++;
		if (i >= n)
			return truncated(s);
		if (!is_digit(b[i])) {
			s->i = i;
			return PACKET_ERR_NUMBER;
		}
		while (i < n && is_digit(b[i]))
			i++;
	}
	s->i = i;
	*is_int = integer && fits && mag <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
	if (*is_int)
		*val = !neg ? (int64_t)mag : mag > (uint64_t)INT64_MAX ? INT64_MIN : -(int64_t)mag;
	return 0;
}

static int scan_literal(struct scan *s, const char *lit, uint32_t len)
{
	uint32_t avail = s->n - s->i;
	uint32_t k = avail < len ? avail : len;

	for (uint32_t j = 0; j < k; j++) {
		if (s->b[s->i + j] != (uint8_t)lit[j]) {
			s->i += j;
			return PACKET_ERR_SYNTAX;
		}
	}
	if (k < len)
		return truncated(s);
	s->i += len;
	return 0;
}

/* s->i at '{' or '['; depth counts the containers already open around it. */
static int enter(struct scan *s, unsigned depth)
{
	if (depth >= PACKET_MAX_DEPTH)
		return PACKET_ERR_DEPTH;
	s->i++;
	return 0;
}

/* Skips blanks; 0, or the truncation error when the input ends there. */
static int ws_more(struct scan *s)
{
	skip_ws(s);
	return s->i < s->n ? 0 : truncated(s);
}

/*
 * What obj_next and arr_next share: at `close` the container ends (0);
 * otherwise, after the first member, a ',' must come first. Returns 1 at
 * the next member, 0, or an error.
 */
static int member_next(struct scan *s, bool *first, uint8_t close)
{
	int r = ws_more(s);

	if (r)
		return r;
	if (s->b[s->i] == close) {
		s->i++;
		return 0;
	}
	if (!*first) {
		if (s->b[s->i] != ',')
			return PACKET_ERR_SYNTAX;
		s->i++;
		r = ws_more(s);
		if (r)
			return r;
	}
	*first = false;
	return 1;
}

/*
 * The member iterator of an object that enter() opened, *first set. Returns
 * 1 with the key in *k and s->i at the member's value, 0 once the closing
 * '}' is consumed, or an error. The caller consumes each value before the
 * next call.
 */
static int obj_next(struct scan *s, bool *first, struct str *k)
{
	/* '}' may close after '{' or after a value; right after ',' it is
	 * caught below, where a key must follow the comma */
	int r = member_next(s, first, '}');

	if (r <= 0)
		return r;
	if (s->b[s->i] != '"')
		return PACKET_ERR_SYNTAX;
	r = scan_string(s, k);
	if (r == 0)
		r = ws_more(s);
	if (r)
		return r;
	if (s->b[s->i] != ':')
		return PACKET_ERR_SYNTAX;
	s->i++;
	r = ws_more(s);
	return r ? r : 1;
}

/* The element iterator of an array, as obj_next. A ']' after ',' reaches
 * skip_value, which rejects it: no trailing commas. */
static int arr_next(struct scan *s, bool *first)
{
	return member_next(s, first, ']');
}

static int skip_value(struct scan *s, unsigned depth);

static int skip_array(struct scan *s, unsigned depth, uint32_t *count)
{
	bool first = true;
	int r = enter(s, depth);

	*count = 0;
	while (r == 0 && (r = arr_next(s, &first)) == 1) {
		r = skip_value(s, depth + 1);
		(*count)++;
	}
	return r;
}

/* Validate one value at s->i, depth containers around it. */
static int skip_value(struct scan *s, unsigned depth)
{
	if (s->i >= s->n)
		return truncated(s);
	switch (s->b[s->i]) {
	case '{': {
		bool first = true;
		struct str k;
		int r = enter(s, depth);

		while (r == 0 && (r = obj_next(s, &first, &k)) == 1)
			r = skip_value(s, depth + 1);
		return r;
	}
	case '[': {
		uint32_t count;

		return skip_array(s, depth, &count);
	}
	case '"': {
		struct str str;

		return scan_string(s, &str);
	}
	case '-':
	case '0' ... '9': {
		int64_t v;
		bool is_int;

		return scan_number(s, &v, &is_int);
	}
	case 't':
		return scan_literal(s, "true", 4);
	case 'f':
		return scan_literal(s, "false", 5);
	case 'n':
		return scan_literal(s, "null", 4);
	default:
		return PACKET_ERR_SYNTAX;
	}
}

/* ---- string contents -------------------------------------------------- */

static void put_utf8(uint32_t cp, uint8_t u[4], int *n)
{
	if (cp < 0x80) {
		u[0] = (uint8_t)cp;
		*n = 1;
	} else if (cp < 0x800) {
		u[0] = (uint8_t)(0xC0 | cp >> 6);
		u[1] = (uint8_t)(0x80 | (cp & 0x3F));
		*n = 2;
	} else if (cp < 0x10000) {
		u[0] = (uint8_t)(0xE0 | cp >> 12);
		u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp & 0x3F));
		*n = 3;
	} else {
		u[0] = (uint8_t)(0xF0 | cp >> 18);
		u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
		u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		u[3] = (uint8_t)(0x80 | (cp & 0x3F));
		*n = 4;
	}
}

static int hex4(const uint8_t *p)
{
	int v = 0;

	for (int k = 0; k < 4; k++) {
		int h = hex_val(p[k]);

		if (h < 0)
			return -1;
		v = v << 4 | h;
	}
	return v;
}

/* Decode one unit of string contents at b[*i] (*i < end) into u: a plain
 * byte as itself (multi-byte characters pass byte by byte), an escape as
 * the UTF-8 of its character. Returns the byte count or PACKET_ERR_STRING.
 * Escapes are checked again here because callers may pass any span. */
static int decode_unit(const uint8_t *b, uint32_t *i, uint32_t end, uint8_t u[4])
{
	uint32_t at = *i;
	int cp, n;

	if (b[at] != '\\') {
		u[0] = b[at];
		*i = at + 1;
		return 1;
	}
	if (end - at < 2)
		return PACKET_ERR_STRING;
	switch (b[at + 1]) {
	case '"':
	case '\\':
	case '/':
		cp = b[at + 1];
		break;
	case 'b':
		cp = '\b';
		break;
	case 'f':
		cp = '\f';
		break;
	case 'n':
		cp = '\n';
		break;
	case 'r':
		cp = '\r';
		break;
	case 't':
		cp = '\t';
		break;
	case 'u':
		if (end - at < 6 || (cp = hex4(b + at + 2)) < 0)
			return PACKET_ERR_STRING;
		at += 4;
		if (cp >= 0xD800 && cp <= 0xDBFF && end - at - 2 >= 6 && b[at + 2] == '\\' &&
		    b[at + 3] == 'u') {
			int lo = hex4(b + at + 4);

			if (lo >= 0xDC00 && lo <= 0xDFFF) {
				cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
				at += 6;
			}
		}
		if (cp >= 0xD800 && cp <= 0xDFFF)
			cp = 0xFFFD; /* lone surrogate: what Node's UTF-8 encoder writes */
		break;
	default:
		return PACKET_ERR_STRING;
	}
	*i = at + 2;
	put_utf8((uint32_t)cp, u, &n);
	return n;
}

/* Do the contents of k, unescaped, equal name[0, len)? */
static bool str_eq(const uint8_t *b, const struct str *k, const char *name, size_t len)
{
	uint32_t i = k->off, end = k->off + k->len;
	size_t o = 0;

	if (!k->esc)
		return k->len == len && memcmp(b + k->off, name, len) == 0;
	while (i < end) {
		uint8_t u[4];
		int n = decode_unit(b, &i, end, u);

		if (n < 0 || len - o < (size_t)n || memcmp(name + o, u, (size_t)n) != 0)
			return false;
		o += (size_t)n;
	}
	return o == len;
}

struct name {
	const char *s;
	uint8_t len;
};

#define NAME(lit) {lit, sizeof(lit) - 1}

/* 1 + the index of k in names, or 0. An unescaped key (nearly all of them)
 * is told apart by its length and first byte before any memcmp. */
static unsigned str_index(const uint8_t *b, const struct str *k, const struct name *names,
			  unsigned count)
{
	for (unsigned j = 0; j < count; j++) {
		if (!k->esc && (k->len != names[j].len || (k->len && b[k->off] != names[j].s[0])))
			continue;
		if (str_eq(b, k, names[j].s, names[j].len))
			return j + 1;
	}
	return 0;
}

/* ---- packets ---------------------------------------------------------- */

enum { K_EVENT = 1, K_CID, K_RID, K_DATA, K_ERROR };
static const struct name envelope_keys[] = {NAME("event"), NAME("cid"), NAME("rid"), NAME("data"),
					     NAME("error")};

enum { D_CHANNEL = 1, D_DATA, D_MESSAGE };
static const struct name data_keys[] = {NAME("channel"), NAME("data"), NAME("message")};

/* Indexed by enum packet_event. */
static const struct name event_names[] = {
    NAME("#handshake"),	   NAME("#publish"),	  NAME("#subscribe"),
    NAME("#unsubscribe"),  NAME("#kickOut"),	  NAME("#authenticate"),
    NAME("#setAuthToken"), NAME("#removeAuthToken"),
};
/* A member whose value matters only as a string: scans it when it is one
 * (*is_str set, *out filled), else skips (validates) it. */
static int scan_string_or_skip(struct scan *s, unsigned depth, bool *is_str, struct str *out)
{
	*is_str = s->b[s->i] == '"';
	return *is_str ? scan_string(s, out) : skip_value(s, depth);
}

/* Skips (validates) the value at s->i and records its exact bytes in *out. */
static int skip_to_span(struct scan *s, unsigned depth, struct packet_span *out)
{
	uint32_t v = s->i;
	int r = skip_value(s, depth);

	*out = span_of(v, s->i);
	return r;
}

/* The members of `data` that pub/sub events use, read whatever the event
 * is, because `data` may come before `event`. */
struct pubsub {
	bool has_channel;
	bool data_is_str; /* data itself is a string (#unsubscribe) */
	struct str channel;
	struct str str;
	struct packet_span inner_data, inner_message;
};

static int scan_data_object(struct scan *s, unsigned depth, struct pubsub *ps)
{
	bool first = true;
	struct str k;
	int r = enter(s, depth);

	while (r == 0 && (r = obj_next(s, &first, &k)) == 1) {
		switch (str_index(s->b, &k, data_keys, 3)) {
		case D_CHANNEL:
			r = scan_string_or_skip(s, depth + 1, &ps->has_channel, &ps->channel);
			break;
		case D_DATA:
			r = skip_to_span(s, depth + 1, &ps->inner_data);
			break;
		case D_MESSAGE:
			r = skip_to_span(s, depth + 1, &ps->inner_message);
			break;
		default:
			r = skip_value(s, depth + 1);
		}
	}
	return r;
}

/* cid or rid: has when an int64 integer, other when another number. */
static int scan_id(struct scan *s, unsigned depth, bool *has, bool *other, int64_t *val)
{
	uint8_t c = s->b[s->i];
	int r;

	if (c != '-' && !is_digit(c)) {
		*has = *other = false;
		return skip_value(s, depth);
	}
	r = scan_number(s, val, has);
	*other = !*has;
	if (!*has)
		*val = 0;
	return r;
}

/* The object at s->i is one packet; depth containers around it. Fills *p
 * (cleared by the caller) on success. */
static int parse_object(struct scan *s, unsigned depth, struct packet *p)
{
	const uint8_t *b = s->b;
	uint32_t start = s->i;
	bool first = true, ev_is_str = false;
	struct str k, ev = {0};
	struct pubsub ps = {0};
	int r = enter(s, depth);

	while (r == 0 && (r = obj_next(s, &first, &k)) == 1) {
		uint32_t v = s->i;

		switch (str_index(b, &k, envelope_keys, 5)) {
		case K_EVENT:
			r = scan_string_or_skip(s, depth + 1, &ev_is_str, &ev);
			break;
		case K_CID:
			r = scan_id(s, depth + 1, &p->has_cid, &p->cid_other, &p->cid);
			break;
		case K_RID:
			r = scan_id(s, depth + 1, &p->has_rid, &p->rid_other, &p->rid);
			break;
		case K_DATA:
			ps = (struct pubsub){0}; /* a later "data" replaces all of it */
			if (b[v] == '{') {
				r = scan_data_object(s, depth + 1, &ps);
			} else if (b[v] == '"') {
				r = scan_string(s, &ps.str);
				ps.data_is_str = true;
			} else {
				r = skip_value(s, depth + 1);
			}
			p->data = span_of(v, s->i);
			break;
		case K_ERROR:
			r = skip_to_span(s, depth + 1, &p->error);
			break;
		default:
			r = skip_value(s, depth + 1);
		}
	}
	if (r < 0)
		return r;

	struct packet_span whole = span_of(start, s->i);
	if (!ev_is_str) {
		if (p->has_rid || p->rid_other) {
			p->kind = PACKET_REPLY;
			p->span = whole;
		} else {
			*p = (struct packet){.kind = PACKET_RAW, .span = whole};
		}
		return 0;
	}
	p->kind = PACKET_EVENT;
	p->span = whole;
	p->event = (struct packet_span){ev.off, ev.len};
	p->event_esc = ev.esc;
	if (ev.esc || (ev.len > 0 && b[ev.off] == '#'))
		p->ev = (enum packet_event)str_index(b, &ev, event_names, 8);

	const struct str *ch = NULL;
	switch (p->ev) {
	case PACKET_EV_PUBLISH:
	case PACKET_EV_SUBSCRIBE:
		ch = ps.has_channel ? &ps.channel : NULL;
		p->inner = ps.inner_data;
		break;
	case PACKET_EV_KICKOUT:
		ch = ps.has_channel ? &ps.channel : NULL;
		p->inner = ps.inner_message;
		break;
	case PACKET_EV_UNSUBSCRIBE:
		ch = ps.data_is_str ? &ps.str : NULL;
		break;
	default:
		break;
	}
	if (ch) {
		p->has_channel = true;
		p->channel_esc = ch->esc;
		p->channel = (struct packet_span){ch->off, ch->len};
	}
	return 0;
}

int packet_parse(const uint8_t *buf, size_t len, struct packet *p)
{
	struct scan s;
	int r;

	*p = (struct packet){0};
	if (len > UINT32_MAX) {
		p->err = PACKET_ERR_TOO_BIG;
		return PACKET_ERR_TOO_BIG;
	}
	if (len == 0) {
		p->kind = PACKET_PING;
		return 0;
	}
	if (len == 2 && buf[0] == '#' && (buf[1] == '1' || buf[1] == '2')) {
		p->kind = PACKET_PING;
		p->ping_v1 = (uint8_t)(buf[1] - '0');
		return 0;
	}
	s = (struct scan){buf, (uint32_t)len, 0};
	skip_ws(&s);
	if (s.i >= s.n || (buf[s.i] != '{' && buf[s.i] != '[')) {
		p->kind = PACKET_RAW;
		return 0;
	}
	if (buf[s.i] == '{') {
		r = parse_object(&s, 0, p);
	} else {
		uint32_t start = s.i, count;

		r = skip_array(&s, 0, &count);
		if (r == 0) {
			p->kind = PACKET_BATCH;
			p->count = count;
			p->span = span_of(start, s.i);
		}
	}
	if (r == 0) {
		skip_ws(&s);
		if (s.i == s.n)
			return 0;
		r = PACKET_ERR_TRAILING;
	}
	*p = (struct packet){.err = r, .err_off = s.i};
	if (r == PACKET_ERR_DEPTH)
		return r;
	p->kind = PACKET_RAW;
	return 0;
}

int packet_batch_next(const uint8_t *buf, size_t len, size_t *pos, struct packet *p)
{
	struct packet q = {0};
	struct scan s;
	bool first = *pos == 0;
	int r;

	if (len > UINT32_MAX)
		return PACKET_ERR_TOO_BIG;
	if (*pos > len)
		return PACKET_ERR_SYNTAX;
	s = (struct scan){buf, (uint32_t)len, (uint32_t)*pos};
	if (first) {
		skip_ws(&s);
		if (s.i >= s.n)
			return PACKET_ERR_TRUNCATED;
		if (buf[s.i] != '[')
			return PACKET_ERR_SYNTAX;
		s.i++;
	}
	r = arr_next(&s, &first);
	if (r == 0) {
		*pos = s.i - 1; /* at the ']', so later calls end here too */
		return 0;
	}
	if (r < 0)
		return r;
	if (buf[s.i] == '{') {
		r = parse_object(&s, 1, &q);
	} else {
		uint32_t start = s.i;

		r = skip_value(&s, 1);
		q = (struct packet){.kind = PACKET_RAW, .span = span_of(start, s.i)};
	}
	if (r < 0)
		return r;
	*p = q;
	*pos = s.i;
	return 1;
}

int packet_validate(const uint8_t *buf, size_t len)
{
	struct scan s;
	int r;

	if (len > UINT32_MAX)
		return PACKET_ERR_TOO_BIG;
	s = (struct scan){buf, (uint32_t)len, 0};
	skip_ws(&s);
	r = skip_value(&s, 0);
	if (r)
		return r;
	skip_ws(&s);
	return s.i == s.n ? 0 : PACKET_ERR_TRAILING;
}

int packet_member(const uint8_t *buf, struct packet_span obj, const char *key, size_t key_len,
		  struct packet_span *val)
{
	struct scan s = {buf, obj.off + obj.len, obj.off};
	struct packet_span found = {0};
	bool first = true, any = false;
	struct str k;
	int r;

	if (obj.len == 0 || buf[obj.off] != '{')
		return -ENOENT;
	r = enter(&s, 0);
	while (r == 0 && (r = obj_next(&s, &first, &k)) == 1) {
		uint32_t v = s.i;

		r = skip_value(&s, 1);
		if (r == 0 && str_eq(buf, &k, key, key_len)) {
			found = span_of(v, s.i);
			any = true;
		}
	}
	if (r < 0)
		return r;
	if (!any)
		return -ENOENT;
	*val = found;
	return 0;
}

int packet_unescape(const uint8_t *buf, struct packet_span s, uint8_t *out, size_t cap)
{
	uint32_t i = s.off, end = s.off + s.len;
	size_t o = 0;

	/* unescaping never lengthens (an escape of 2-12 bytes gives 1-4), so
	 * the result fits the int as long as the input does */
	if (s.len > INT32_MAX)
		return PACKET_ERR_TOO_BIG;
	while (i < end) {
		uint8_t u[4];
		int n = decode_unit(buf, &i, end, u);

		if (n < 0)
			return n;
		if (cap - o < (size_t)n)
			return PACKET_ERR_SPACE;
		memcpy(out + o, u, (size_t)n);
		o += (size_t)n;
	}
	return (int)o;
}

const char *packet_kind_name(enum packet_kind kind)
{
	switch (kind) {
	case PACKET_RAW:
		return "raw";
	case PACKET_PING:
		return "ping";
	case PACKET_EVENT:
		return "event";
	case PACKET_REPLY:
		return "reply";
	case PACKET_BATCH:
		return "batch";
	}
	return "none";
}

const char *packet_strerror(int err)
{
	switch (err) {
	case 0:
		return "ok";
	case PACKET_ERR_SYNTAX:
		return "JSON syntax error";
	case PACKET_ERR_TRUNCATED:
		return "JSON text ends inside a value";
	case PACKET_ERR_STRING:
		return "control character or bad escape in a JSON string";
	case PACKET_ERR_UTF8:
		return "invalid UTF-8";
	case PACKET_ERR_NUMBER:
		return "malformed JSON number";
	case PACKET_ERR_TRAILING:
		return "bytes after the JSON value";
	case PACKET_ERR_DEPTH:
		return "JSON nested too deeply";
	case PACKET_ERR_TOO_BIG:
		return "message too big to parse";
	case PACKET_ERR_SPACE:
		return "output buffer too small";
	}
	return "unknown packet error";
}
