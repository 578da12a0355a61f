/*
 * http: the WebSocket opening handshake. Pure functions over the caller's
 * bytes and structs, no global mutable state, so any thread may call them.
 * The contracts are on the declarations in http.h.
 */
#define _GNU_SOURCE /* memmem */
#include "http.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/* ---- characters (RFC 9110 5.6.2 and 5.5) ------------------------------ */

static bool is_tchar(unsigned c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
		return true;
	return c && strchr("!#$%&'*+-.^_`|~", (int)c) != NULL;
}

/* field-value characters: visible ASCII, obs-text, and blanks inside */
static bool is_field_char(unsigned c)
{
	return c == ' ' || c == '\t' || (c > 0x20 && c != 0x7F);
}

static bool is_blank(unsigned c)
{
	return c == ' ' || c == '\t';
}

static unsigned lower(unsigned c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static bool slice_ieq(const char *p, size_t n, const char *lc)
{
	size_t i;

	for (i = 0; i < n && lc[i]; i++)
		if (lower((unsigned char)p[i]) != (unsigned char)lc[i])
			return false;
	return i == n && lc[i] == '\0';
}

bool http_name_is(struct http_slice n, const char *lc)
{
	return slice_ieq(n.p, n.n, lc);
}

/* True when the comma-separated list v has an element equal to lc. */
static bool list_has(struct http_slice v, const char *lc)
{
	size_t i = 0;

	while (i < v.n) {
		size_t s, e;

		while (i < v.n && (is_blank((unsigned char)v.p[i]) || v.p[i] == ','))
			i++;
		s = i;
		while (i < v.n && v.p[i] != ',')
			i++;
		e = i;
		while (e > s && is_blank((unsigned char)v.p[e - 1]))
			e--;
		if (e > s && slice_ieq(v.p + s, e - s, lc))
			return true;
	}
	return false;
}

/* ---- request parser --------------------------------------------------- */

static int set_once(struct http_slice *dst, struct http_slice v)
{
	if (dst->p)
		return HTTP_ERR_DUPLICATE;
	*dst = v;
	return 0;
}

static int note_header(struct http_request *req, struct http_slice name, struct http_slice v)
{
	if (req->nheaders == HTTP_MAX_HEADERS)
		return HTTP_ERR_TOO_MANY;
	req->headers[req->nheaders++] = (struct http_header){name, v};

	/* single-valued fields: a second copy is an attempt to confuse
	 * whoever reads the first, so refuse it */
	if (http_name_is(name, "host"))
		return set_once(&req->host, v);
	if (http_name_is(name, "origin"))
		return set_once(&req->origin, v);
	if (http_name_is(name, "sec-websocket-key"))
		return set_once(&req->ws_key, v);
	if (http_name_is(name, "sec-websocket-version"))
		return set_once(&req->ws_version, v);
	if (http_name_is(name, "upgrade")) {
		if (list_has(v, "websocket"))
			req->flags |= HTTP_F_UPGRADE_WS;
	} else if (http_name_is(name, "connection")) {
		if (list_has(v, "upgrade"))
			req->flags |= HTTP_F_CONN_UPGRADE;
	} else if (http_name_is(name, "sec-websocket-protocol")) {
		if (!req->ws_protocol.p)
			req->ws_protocol = v;
	} else if (http_name_is(name, "sec-websocket-extensions")) {
		if (!req->ws_extensions.p)
			req->ws_extensions = v;
	}
	return 0;
}

/* Parse the request line at b[0..lim); returns its length with CRLF, 0 for
 * need more, or an error. */
static int parse_request_line(const uint8_t *b, size_t lim, struct http_request *req)
{
	static const char http_prefix[] = "HTTP/";
	size_t i = 0, s;

	while (i < lim && is_tchar(b[i]))
		i++;
	if (i == lim)
		return 0;
	if (i == 0 || b[i] != ' ')
		return HTTP_ERR_MALFORMED;
	req->method = (struct http_slice){(const char *)b, i};

	s = ++i;
	while (i < lim && b[i] > 0x20 && b[i] < 0x7F)
		i++;
	if (i == lim)
		return 0;
	if (i == s || b[i] != ' ')
		return HTTP_ERR_MALFORMED;
	req->target = (struct http_slice){(const char *)b + s, i - s};
	i++;

	/* "HTTP/" DIGIT "." DIGIT CRLF, checked byte by byte as it arrives */
	for (size_t j = 0; j < 10; j++, i++) {
		unsigned c;

		if (i == lim)
			return 0;
		c = b[i];
		if (j < 5 && c != (unsigned char)http_prefix[j])
			return HTTP_ERR_MALFORMED;
		if ((j == 5 || j == 7) && (c < '0' || c > '9'))
			return HTTP_ERR_MALFORMED;
		if ((j == 6 && c != '.') || (j == 8 && c != '\r') || (j == 9 && c != '\n'))
			return HTTP_ERR_MALFORMED;
		if (j == 5 && c != '1')
			return HTTP_ERR_VERSION;
		if (j == 7)
			req->version_minor = c - '0';
	}
	return (int)i;
}

/* Parse one header line at b[0..lim); returns its length with CRLF, 0 for
 * need more, or an error. */
static int parse_header_line(const uint8_t *b, size_t lim, struct http_request *req)
{
	struct http_slice name;
	size_t i = 0, s, e;
	int r;

	if (is_blank(b[0]))
		return HTTP_ERR_MALFORMED; /* obs-fold (RFC 9112 5.2) */
	while (i < lim && is_tchar(b[i]))
		i++;
	if (i == lim)
		return 0;
	if (i == 0 || b[i] != ':')
		return HTTP_ERR_MALFORMED;
	name = (struct http_slice){(const char *)b, i};

	i++;
	while (i < lim && is_blank(b[i]))
		i++;
	s = i;
	while (i < lim && is_field_char(b[i]))
		i++;
	if (i == lim)
		return 0;
	if (b[i] != '\r')
		return HTTP_ERR_MALFORMED;
	if (i + 1 == lim)
		return 0;
	if (b[i + 1] != '\n')
		return HTTP_ERR_MALFORMED;
	for (e = i; e > s && is_blank(b[e - 1]); e--)
		;
	r = note_header(req, name, (struct http_slice){(const char *)b + s, e - s});
	return r < 0 ? r : (int)(i + 2);
}

/* Split the target into path and query once the head is complete. */
static void split_target(struct http_request *req)
{
	const char *q = memchr(req->target.p, '?', req->target.n);

	req->path = req->target;
	if (q) {
		req->path.n = (size_t)(q - req->target.p);
		req->query = (struct http_slice){q + 1, req->target.n - req->path.n - 1};
	}
}

int http_parse_request(const uint8_t *buf, size_t len, size_t max_header_bytes,
		       struct http_request *req)
{
	size_t lim, i;
	int r;

	if (max_header_bytes > INT_MAX)
		max_header_bytes = INT_MAX;
	lim = len < max_header_bytes ? len : max_header_bytes;
	/* the header array is filled as it grows; only the rest needs clearing */
	memset(req, 0, offsetof(struct http_request, headers));

	r = parse_request_line(buf, lim, req);
	for (i = r > 0 ? (size_t)r : 0; r > 0; i += (size_t)r) {
		if (i + 2 <= lim && buf[i] == '\r') {
			if (buf[i + 1] != '\n')
				return HTTP_ERR_MALFORMED;
			split_target(req);
			return (int)(i + 2);
		}
		r = i + 1 < lim ? parse_header_line(buf + i, lim - i, req) : 0;
	}
	if (r == 0 && len >= max_header_bytes)
		return HTTP_ERR_TOO_LARGE;
	return r;
}

/* ---- what the request asks for ---------------------------------------- */

/* RFC 6455 4.1: base64 of 16 bytes: 22 alphabet characters and "==" (the
 * npm ws server checks the same shape). */
static bool ws_key_ok(struct http_slice k)
{
	if (k.n != 24 || k.p[22] != '=' || k.p[23] != '=')
		return false;
	for (size_t i = 0; i < 22; i++) {
		unsigned c = (unsigned char)k.p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		      c == '+' || c == '/'))
			return false;
	}
	return true;
}

int http_classify(const struct http_request *req)
{
	if (req->version_minor >= 1 && !req->host.p)
		return HTTP_ERR_NO_HOST; /* RFC 9112 3.2: MUST answer 400 */
	/* an HTTP/1.0 client cannot be upgraded (RFC 6455 4.1 wants 1.1) */
	if (!(req->flags & HTTP_F_UPGRADE_WS) || req->version_minor == 0)
		return HTTP_KIND_PLAIN;
	if (req->method.n != 3 || memcmp(req->method.p, "GET", 3) != 0)
		return HTTP_ERR_METHOD; /* methods are case-sensitive */
	if (!(req->flags & HTTP_F_CONN_UPGRADE))
		return HTTP_ERR_NO_CONN_UPGRADE;
	if (!ws_key_ok(req->ws_key))
		return HTTP_ERR_BAD_KEY;
	if (req->ws_version.n != 2 || memcmp(req->ws_version.p, "13", 2) != 0)
		return HTTP_ERR_WS_VERSION;
	return HTTP_KIND_WEBSOCKET;
}

int http_check_path(const struct http_request *req, const char *path)
{
	size_t n = strlen(path);

	if (req->path.n == n && memcmp(req->path.p, path, n) == 0)
		return 0;
	return HTTP_ERR_PATH;
}

/* An origin as the reference server sees it: host (brackets of an IPv6
 * literal removed) and port, defaulted from the scheme. */
struct origin_parts {
	struct http_slice host;
	unsigned long port;
};

static bool parse_port(const char *p, size_t n, unsigned long *port)
{
	unsigned long v = 0;

	if (n == 0 || n > 5)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned long)(p[i] - '0');
	}
	*port = v;
	return v <= 65535;
}

static bool parse_origin(struct http_slice o, struct origin_parts *op)
{
	const char *sep = NULL;
	size_t i, rest, hend;

	for (i = 0; i + 3 <= o.n; i++) {
		if (memcmp(o.p + i, "://", 3) == 0) {
			sep = o.p + i;
			break;
		}
	}
	if (!sep) {
		op->host = (struct http_slice){"null", 4};
		op->port = 80;
		return true;
	}
	op->port = slice_ieq(o.p, i, "https") || slice_ieq(o.p, i, "wss") ? 443 : 80;
	rest = i + 3;
	/* authority ends at a path, if a client sent one */
	for (hend = rest; hend < o.n && o.p[hend] != '/'; hend++)
		;
	if (rest < hend && o.p[rest] == '[') {
		const char *rb = memchr(o.p + rest, ']', hend - rest);

		if (!rb)
			return false;
		op->host = (struct http_slice){o.p + rest + 1, (size_t)(rb - o.p) - rest - 1};
		i = (size_t)(rb - o.p) + 1;
	} else {
		for (i = rest; i < hend && o.p[i] != ':'; i++)
			;
		op->host = (struct http_slice){o.p + rest, i - rest};
	}
	if (op->host.n == 0)
		return false;
	if (i == hend)
		return true;
	if (o.p[i] != ':')
		return false;
	return parse_port(o.p + i + 1, hend - i - 1, &op->port);
}

/* Does one "host:port" entry of the origins option admit op? */
static bool origin_entry_matches(const char *e, size_t n, const struct origin_parts *op)
{
	const char *colon = NULL;
	size_t hn, pn;
	unsigned long port;

	for (size_t i = n; i > 0; i--) {
		if (e[i - 1] == ':') {
			colon = e + i - 1;
			break;
		}
	}
	if (!colon)
		return false;
	hn = (size_t)(colon - e);
	pn = n - hn - 1;
	if (!(hn == 1 && e[0] == '*')) {
		if (hn != op->host.n)
			return false;
		for (size_t i = 0; i < hn; i++)
			if (lower((unsigned char)e[i]) != lower((unsigned char)op->host.p[i]))
				return false;
	}
	if (pn == 1 && colon[1] == '*')
		return true;
	return parse_port(colon + 1, pn, &port) && port == op->port;
}

int http_check_origin(const struct http_request *req, const char *origins)
{
	struct origin_parts op;
	bool parsed = false;
	const char *e = origins;

	if (!req->origin.p)
		return 0;
	while (*e) {
		size_t n;

		while (*e == ' ' || *e == ',' || *e == '\t')
			e++;
		n = strcspn(e, " ,\t");
		if (n == 0)
			break;
		if (n == 3 && memcmp(e, "*:*", 3) == 0)
			return 0;
		if (!parsed) {
			if (!parse_origin(req->origin, &op))
				return HTTP_ERR_ORIGIN;
			parsed = true;
		}
		if (origin_entry_matches(e, n, &op))
			return 0;
		e += n;
	}
	return HTTP_ERR_ORIGIN;
}

/* ---- responses -------------------------------------------------------- */

int http_ws_accept(const char *key, size_t key_len, char out[HTTP_WS_ACCEPT_LEN + 1])
{
	uint8_t in[128 + sizeof(ws_guid)];
	uint8_t md[SHA_DIGEST_LENGTH];

	if (key_len > 128)
		return -EINVAL;
	memcpy(in, key, key_len);
	memcpy(in + key_len, ws_guid, sizeof(ws_guid) - 1);
	if (!SHA1(in, key_len + sizeof(ws_guid) - 1, md))
		return -ENOMEM;
	EVP_EncodeBlock((unsigned char *)out, md, SHA_DIGEST_LENGTH);
	return 0;
}

/* snprintf's result as a builder's return */
static int fitted(int n, size_t cap)
{
	if (n < 0)
		return -EINVAL;
	return (size_t)n >= cap ? -ENOSPC : n;
}

int http_upgrade_response(char *out, size_t cap, const struct http_request *req)
{
	char accept[HTTP_WS_ACCEPT_LEN + 1];
	int r;

	if (!req->ws_key.p)
		return -EINVAL;
	r = http_ws_accept(req->ws_key.p, req->ws_key.n, accept);
	if (r < 0)
		return r;
	return fitted(snprintf(out, cap,
			       "HTTP/1.1 101 Switching Protocols\r\n"
			       "Upgrade: websocket\r\n"
			       "Connection: Upgrade\r\n"
			       "Sec-WebSocket-Accept: %s\r\n"
			       "\r\n",
			       accept),
		      cap);
}

int http_error_status(int err)
{
	switch (err) {
	case HTTP_ERR_MALFORMED:
	case HTTP_ERR_DUPLICATE:
	case HTTP_ERR_NO_HOST:
	case HTTP_ERR_METHOD:
	case HTTP_ERR_NO_CONN_UPGRADE:
	case HTTP_ERR_BAD_KEY:
	case HTTP_ERR_PATH:
		return 400;
	case HTTP_ERR_ORIGIN:
		return 403;
	case HTTP_ERR_WS_VERSION:
		return 426;
	case HTTP_ERR_TOO_LARGE:
	case HTTP_ERR_TOO_MANY:
		return 431;
	case HTTP_ERR_VERSION:
		return 505;
	default:
		return 500;
	}
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 426:
		return "Upgrade Required";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 505:
		return "HTTP Version Not Supported";
	case 429:
		return "Too Many Requests";
	case 503:
		return "Service Unavailable";
	default: /* any other status a handshake hook may answer with */
		return status >= 400 && status <= 599 ? "Error" : NULL;
	}
}

int http_error_response(char *out, size_t cap, int status, const char *body)
{
	const char *reason = reason_phrase(status);
	char dflt[48];

	if (!reason)
		return -EINVAL;
	if (!body) {
		snprintf(dflt, sizeof(dflt), "%s\n", status == 200 ? "ok" : reason);
		body = dflt;
	}
	return fitted(snprintf(out, cap,
			       "HTTP/1.1 %d %s\r\n"
			       "Content-Type: text/plain; charset=utf-8\r\n"
			       "Content-Length: %zu\r\n"
			       "%s"
			       "Connection: close\r\n"
			       "\r\n"
			       "%s",
			       status, reason, strlen(body),
			       status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", body),
		      cap);
}

int http_check_upgrade_response(const char *head, size_t len, const char *key, const char **why,
				const char **detail, int *detail_len)
{
	static const char name[] = "Sec-WebSocket-Accept:";
	char want[HTTP_WS_ACCEPT_LEN + 1];
	const char *line = head, *end = head + len;
	bool accepted = false;

	*detail = head;
	*detail_len = 0;
	if (len < 12 || memcmp(head, "HTTP/1.1 101", 12) != 0) {
		const char *eol = memchr(head, '\r', len);
		*detail_len = eol ? (int)(eol - head) : 0;
		*why = "upgrade refused";
		return -1;
	}
	if (http_ws_accept(key, strlen(key), want) < 0) {
		*why = "cannot compute Sec-WebSocket-Accept (libcrypto)";
		return -1;
	}
	while (line < end) {
		const char *eol = memmem(line, (size_t)(end - line), "\r\n", 2);
		size_t n = eol ? (size_t)(eol - line) : (size_t)(end - line);

		if (n > sizeof(name) - 1 && strncasecmp(line, name, sizeof(name) - 1) == 0) {
			const char *v = line + sizeof(name) - 1, *ve = line + n;

			while (v < ve && (*v == ' ' || *v == '\t'))
				v++;
			while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
				ve--;
			accepted = (size_t)(ve - v) == HTTP_WS_ACCEPT_LEN &&
				   memcmp(v, want, HTTP_WS_ACCEPT_LEN) == 0;
			if (!accepted) {
				*why = "wrong Sec-WebSocket-Accept";
				*detail = v;
				*detail_len = (int)(ve - v);
				return -1;
			}
		}
		line += n + 2;
	}
	if (!accepted) {
		*why = "101 without Sec-WebSocket-Accept";
		return -1;
	}
	return 0;
}

void http_ws_client_key(const uint8_t nonce[16], char out[25])
{
	EVP_EncodeBlock((unsigned char *)out, nonce, 16); /* 24 characters and a NUL */
}
