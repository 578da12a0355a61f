/*
 * http: the HTTP/1.1 request that opens a WebSocket (RFC 6455 section 4,
 * RFC 9112 message syntax), and the few responses sluice sends before the
 * connection switches to frames or closes.
 *
 * Owns: a bounded, copy-free request parser, the checks that turn a parsed
 * request into "WebSocket", "plain request" or an HTTP status, the path and
 * origin checks, and the response builders.
 *
 * Threads: no state of its own; any thread may call any function on data it
 * owns. Nothing allocates; every slice in struct http_request points into
 * the caller's buffer, which must outlive the request.
 *
 * Strict on syntax, because only two kinds of client talk to us (browsers
 * and the npm `ws` stack) and both send clean requests: lines end in CRLF
 * (a bare LF or CR is 400), no obsolete line folding (400), no whitespace
 * between a field name and its colon (400), no empty lines before the
 * request line.
 *
 * Errors are negative numbers in [-(HTTP_ERR_BASE + 63), -HTTP_ERR_BASE],
 * apart from every errno and from the WS_ERR_* range; http_error_status maps
 * each to the status to answer with.
 */
#ifndef SLUICE_HTTP_H
#define SLUICE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_ERR_BASE		 8192
#define HTTP_ERR_MALFORMED	 (-(HTTP_ERR_BASE + 1)) /* 400: syntax */
#define HTTP_ERR_TOO_LARGE	 (-(HTTP_ERR_BASE + 2)) /* 431: header block over the limit */
#define HTTP_ERR_TOO_MANY	 (-(HTTP_ERR_BASE + 3)) /* 431: more than HTTP_MAX_HEADERS */
#define HTTP_ERR_VERSION	 (-(HTTP_ERR_BASE + 4)) /* 505: not HTTP/1.x */
#define HTTP_ERR_DUPLICATE	 (-(HTTP_ERR_BASE + 5)) /* 400: a single-valued field twice */
#define HTTP_ERR_NO_HOST	 (-(HTTP_ERR_BASE + 6)) /* 400: HTTP/1.1 without Host */
#define HTTP_ERR_METHOD		 (-(HTTP_ERR_BASE + 7)) /* 400: upgrade with a method other than GET */
#define HTTP_ERR_NO_CONN_UPGRADE (-(HTTP_ERR_BASE + 8)) /* 400: Connection lacks "upgrade" */
#define HTTP_ERR_BAD_KEY	 (-(HTTP_ERR_BASE + 9)) /* 400: Sec-WebSocket-Key missing/invalid */
#define HTTP_ERR_WS_VERSION	 (-(HTTP_ERR_BASE + 10)) /* 426: Sec-WebSocket-Version not 13 */
#define HTTP_ERR_PATH		 (-(HTTP_ERR_BASE + 11)) /* 400: not the WebSocket path */
#define HTTP_ERR_ORIGIN		 (-(HTTP_ERR_BASE + 12)) /* 403: origin not allowed */

#define HTTP_MAX_HEADERS 64
/* A sensible max_header_bytes; browsers send well under 2 KiB. */
#define HTTP_DEFAULT_MAX_HEADER_BYTES 8192
#define HTTP_DEFAULT_WS_PATH	      "/socketcluster/"
/* 28 characters of base64(SHA-1) and a NUL. */
#define HTTP_WS_ACCEPT_LEN 28

/* A piece of the caller's buffer; p is NULL (and n 0) when absent. */
struct http_slice {
	const char *p;
	size_t n;
};

struct http_header {
	struct http_slice name;	 /* as sent; compare case-insensitively */
	struct http_slice value; /* without leading and trailing blanks */
};

/* Properties of the fields that matter to the handshake. */
enum {
	HTTP_F_UPGRADE_WS = 1u << 0,   /* Upgrade lists "websocket" */
	HTTP_F_CONN_UPGRADE = 1u << 1, /* Connection lists "upgrade" */
};

struct http_request {
	struct http_slice method;
	struct http_slice target; /* request-target as sent, query included */
	struct http_slice path;	  /* target up to '?' */
	struct http_slice query;  /* after '?', without it; absent when no '?' */
	unsigned version_minor;	  /* HTTP/1.<minor>: 0 or 1 */
	unsigned flags;		  /* HTTP_F_* */
	struct http_slice host;
	struct http_slice origin;
	struct http_slice ws_key;
	struct http_slice ws_version;
	struct http_slice ws_protocol;	 /* noted; sluice speaks no subprotocol */
	struct http_slice ws_extensions; /* noted; declined by not answering */
	size_t nheaders;
	struct http_header headers[HTTP_MAX_HEADERS];
};

/*
 * Parse a request head from buf[0..len). max_header_bytes bounds the whole
 * head, request line and final CRLF included.
 * Returns the bytes consumed through the final CRLFCRLF (*req filled; any
 * body or frames after it are the caller's), 0 when more bytes are needed,
 * HTTP_ERR_TOO_LARGE when the head cannot end within max_header_bytes, or
 * another HTTP_ERR_*. Syntax errors are found in complete lines (and in a
 * partial request line) before the head ends, so garbage is refused early.
 * Each call parses from the start: O(min(len, max_header_bytes)).
 * *req is unspecified unless the result is > 0.
 */
int http_parse_request(const uint8_t *buf, size_t len, size_t max_header_bytes,
		       struct http_request *req);

/* Results of http_classify. */
enum http_kind {
	HTTP_KIND_WEBSOCKET = 1, /* a valid RFC 6455 opening handshake */
	HTTP_KIND_PLAIN = 2,	 /* no "Upgrade: websocket", or HTTP/1.0: answer plainly */
};

/*
 * What a parsed request asks for. Returns an enum http_kind, or
 * HTTP_ERR_NO_HOST, HTTP_ERR_METHOD, HTTP_ERR_NO_CONN_UPGRADE,
 * HTTP_ERR_BAD_KEY (400) or HTTP_ERR_WS_VERSION (426) for a WebSocket
 * upgrade that cannot be honoured. Path and origin are separate checks.
 */
int http_classify(const struct http_request *req);

/* 0 when req's path (query ignored) equals path exactly, else HTTP_ERR_PATH. */
int http_check_path(const struct http_request *req, const char *path);

/*
 * Origin check with socketcluster-server's `origins` option: a list of
 * "host:port" entries separated by spaces or commas, where either side may
 * be "*"; "*:*" allows everything. The Origin's port defaults to 443 for
 * https/wss and 80 otherwise; hosts compare case-insensitively, IPv6 hosts
 * without brackets ("::1:3000"). An Origin that is not a URL (browsers send
 * "null" for opaque origins) counts as host "null", port 80, as in the
 * reference server. A request without Origin (non-browser clients) is
 * allowed. Returns 0, or HTTP_ERR_ORIGIN (403).
 */
int http_check_origin(const struct http_request *req, const char *origins);

/* The Sec-WebSocket-Accept value of a key: base64(SHA-1(key + GUID)),
 * written with a NUL to out. Returns 0, -EINVAL for a key over 128 bytes,
 * -ENOMEM when libcrypto fails. */
int http_ws_accept(const char *key, size_t key_len, char out[HTTP_WS_ACCEPT_LEN + 1]);

/*
 * Write the 101 Switching Protocols response for a request that
 * http_classify called HTTP_KIND_WEBSOCKET. No Sec-WebSocket-Extensions and
 * no Sec-WebSocket-Protocol: both are declined. Like every builder here it
 * NUL-terminates out, and cap counts that NUL. Returns its length,
 * -EINVAL without a key, -ENOSPC when it does not fit in cap (out
 * unspecified), or what http_ws_accept returns.
 */
int http_upgrade_response(char *out, size_t cap, const struct http_request *req);

/* The client side: Sec-WebSocket-Key for a 16-byte nonce (base64, 24
 * characters and a NUL). */
void http_ws_client_key(const uint8_t nonce[16], char out[25]);

/*
 * The client side of the upgrade, for load generators and tests: checks that
 * head[0, len) (the server's response head) has status 101 and a
 * Sec-WebSocket-Accept matching key. Returns 0, or -1 with *why set to a
 * static description and *detail, *detail_len to the offending bytes (the
 * status line, or the accept value; empty when none).
 */
int http_check_upgrade_response(const char *head, size_t len, const char *key, const char **why,
				const char **detail, int *detail_len);

/* The status an HTTP_ERR_* calls for (400, 403, 426, 431, 505); 500 for
 * anything else, which is a bug of the caller. */
int http_error_status(int err);

/*
 * Write a complete response that closes the connection: status line,
 * Content-Type text/plain, Content-Length, Connection: close, and for 426
 * Sec-WebSocket-Version: 13. body NULL sends the reason phrase and a newline
 * ("Not Found\n"); 200's is "ok\n". Statuses: 200, 400, 403, 404, 426, 431,
 * 500, 501, 505. Returns its length, -EINVAL for another status, -ENOSPC when
 * it does not fit in cap (out unspecified).
 */
int http_error_response(char *out, size_t cap, int status, const char *body);

/* True when header name n equals the NUL-terminated lower-case name lc,
 * ignoring case; for reading other fields out of req->headers. */
bool http_name_is(struct http_slice n, const char *lc);

#endif
