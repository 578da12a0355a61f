/*
 * Unit tests of io/http: real client requests, every rejection with its
 * status, requests split at every byte, the size limits, path and origin
 * checks, and the exact bytes of every response.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "http.h"

#define CRLF "\r\n"

/* What socketcluster-client 20.0.2 (npm ws underneath) sent, captured with
 * /work/shared/reference/sc-probes/cap5.js. */
static const char node_client[] =
    "GET /socketcluster/?authKey=abc&poolIndex=0&t=1795626824256 HTTP/1.1" CRLF
    "Sec-WebSocket-Version: 13" CRLF "Sec-WebSocket-Key: 2i70t0IIK1mTudT8W0kDPA==" CRLF
    "Connection: Upgrade" CRLF "Upgrade: websocket" CRLF
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" CRLF
    "Host: 127.0.0.1:44459" CRLF CRLF;

static const char chrome[] =
    "GET /socketcluster/ HTTP/1.1" CRLF "Host: example.com" CRLF "Connection: Upgrade" CRLF
    "Pragma: no-cache" CRLF "Cache-Control: no-cache" CRLF
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36" CRLF "Upgrade: websocket" CRLF
    "Origin: https://example.com" CRLF "Sec-WebSocket-Version: 13" CRLF
    "Accept-Encoding: gzip, deflate, br" CRLF "Accept-Language: en-US,en;q=0.9" CRLF
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" CRLF
    "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits" CRLF CRLF;

#define WS_HEAD(target, extra)                                                                     \
	"GET " target " HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF                    \
	"Connection: Upgrade" CRLF "Sec-WebSocket-Version: 13" CRLF extra CRLF
#define KEY "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==" CRLF

struct req_case {
	const char *name;
	const char *text;
	int parse; /* 1: consumes the whole head; else the HTTP_ERR_* of parsing */
	int kind;  /* http_classify's result when parsed */
};

static const struct req_case req_cases[] = {
    {"node client", node_client, 1, HTTP_KIND_WEBSOCKET},
    {"chrome", chrome, 1, HTTP_KIND_WEBSOCKET},
    {"firefox connection list",
     "GET /socketcluster/ HTTP/1.1" CRLF "Host: h:8000" CRLF "Connection: keep-alive, Upgrade" CRLF
     "Upgrade: websocket" CRLF "Sec-WebSocket-Version: 13" CRLF KEY
     "Origin: http://h:8000" CRLF CRLF,
     1, HTTP_KIND_WEBSOCKET},
    {"upgrade list, odd case",
     "GET / HTTP/1.1" CRLF "host: h" CRLF "UPGRADE: h2c ,  WebSocket" CRLF
     "connection: UPGRADE" CRLF "sec-websocket-version: 13" CRLF
     "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==" CRLF CRLF,
     1, HTTP_KIND_WEBSOCKET},
    {"no key", WS_HEAD("/", ""), 1, HTTP_ERR_BAD_KEY},
    {"short key", WS_HEAD("/", "Sec-WebSocket-Key: dGhlIHNhbXBsZQ==" CRLF), 1, HTTP_ERR_BAD_KEY},
    {"key without ==", WS_HEAD("/", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQAA" CRLF), 1,
     HTTP_ERR_BAD_KEY},
    {"key ending =A", WS_HEAD("/", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=A" CRLF), 1,
     HTTP_ERR_BAD_KEY},
    {"key bad char", WS_HEAD("/", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub2*jZQ==" CRLF), 1,
     HTTP_ERR_BAD_KEY},
    {"version 8",
     "GET / HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF
     "Sec-WebSocket-Version: 8" CRLF KEY CRLF,
     1, HTTP_ERR_WS_VERSION},
    {"no version",
     "GET / HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF
     "Connection: Upgrade" CRLF KEY CRLF,
     1, HTTP_ERR_WS_VERSION},
    {"POST upgrade",
     "POST / HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF
     "Sec-WebSocket-Version: 13" CRLF KEY CRLF,
     1, HTTP_ERR_METHOD},
    {"no Connection: upgrade",
     "GET / HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: websocket" CRLF "Connection: keep-alive" CRLF
     "Sec-WebSocket-Version: 13" CRLF KEY CRLF,
     1, HTTP_ERR_NO_CONN_UPGRADE},
    {"health", "GET /health HTTP/1.1" CRLF "Host: localhost" CRLF CRLF, 1, HTTP_KIND_PLAIN},
    {"http/1.0 plain", "GET / HTTP/1.0" CRLF CRLF, 1, HTTP_KIND_PLAIN},
    {"http/1.0 upgrade is plain",
     "GET / HTTP/1.0" CRLF "Upgrade: websocket" CRLF "Connection: Upgrade" CRLF
     "Sec-WebSocket-Version: 13" CRLF KEY CRLF,
     1, HTTP_KIND_PLAIN},
    {"upgrade to something else",
     "GET / HTTP/1.1" CRLF "Host: h" CRLF "Upgrade: h2c" CRLF "Connection: Upgrade" CRLF CRLF, 1,
     HTTP_KIND_PLAIN},
    {"no host", "GET / HTTP/1.1" CRLF "Upgrade: websocket" CRLF CRLF, 1, HTTP_ERR_NO_HOST},
    {"empty value and blanks",
     "GET / HTTP/1.1" CRLF "Host:h" CRLF "X-Empty:" CRLF "X-Pad: \t v \t" CRLF CRLF, 1,
     HTTP_KIND_PLAIN},
    {"duplicate host", "GET / HTTP/1.1" CRLF "Host: a" CRLF "Host: b" CRLF CRLF, HTTP_ERR_DUPLICATE,
     0},
    {"duplicate key", WS_HEAD("/", KEY KEY), HTTP_ERR_DUPLICATE, 0},
    {"obs-fold", "GET / HTTP/1.1" CRLF "Host: a" CRLF "X-A: b" CRLF " c" CRLF CRLF,
     HTTP_ERR_MALFORMED, 0},
    {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", HTTP_ERR_MALFORMED, 0},
    {"bare LF in a header", "GET / HTTP/1.1" CRLF "Host: a\n" CRLF, HTTP_ERR_MALFORMED, 0},
    {"CR alone", "GET / HTTP/1.1" CRLF "Host: a\rb" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"blank before colon", "GET / HTTP/1.1" CRLF "Host : a" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"no colon", "GET / HTTP/1.1" CRLF "Host a" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"control char in value", "GET / HTTP/1.1" CRLF "Host: a\x01" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"no target", "GET  HTTP/1.1" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"no blank after method", "GET/ HTTP/1.1" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"lower-case http", "GET / http/1.1" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"http/2.0", "GET / HTTP/2.0" CRLF CRLF, HTTP_ERR_VERSION, 0},
    {"http/1.1 then junk", "GET / HTTP/1.1x" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"empty line first", CRLF "GET / HTTP/1.1" CRLF CRLF, HTTP_ERR_MALFORMED, 0},
    {"TLS client hello", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", HTTP_ERR_MALFORMED, 0},
    {"binary garbage", "\xff\xfe\x00\x01", HTTP_ERR_MALFORMED, 0},
};

static int parse_str(const char *s, size_t max, struct http_request *req)
{
	return http_parse_request((const uint8_t *)s, strlen(s), max, req);
}

Test(http, request_table)
{
	static struct http_request req;

	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		size_t len = strlen(c->text);
		int r = parse_str(c->text, HTTP_DEFAULT_MAX_HEADER_BYTES, &req);

		if (c->parse != 1) {
			cr_assert_eq(r, c->parse, "%s: parse %d", c->name, r);
			continue;
		}
		cr_assert_eq(r, (int)len, "%s: parse %d", c->name, r);
		r = http_classify(&req);
		cr_assert_eq(r, c->kind, "%s: classify %d want %d", c->name, r, c->kind);
	}
}

/* Each prefix is "need more" until an error shows or the head is complete;
 * after that the answer never changes. */
Test(http, every_prefix)
{
	static struct http_request req;

	for (size_t i = 0; i < sizeof(req_cases) / sizeof(req_cases[0]); i++) {
		const struct req_case *c = &req_cases[i];
		size_t len = strlen(c->text);
		int want = c->parse == 1 ? (int)len : c->parse;
		bool decided = false;

		for (size_t n = 0; n <= len; n++) {
			int r = http_parse_request((const uint8_t *)c->text, n,
						   HTTP_DEFAULT_MAX_HEADER_BYTES, &req);

			if (r == 0) {
				cr_assert_not(decided, "%s: prefix %zu undecided again", c->name,
					      n);
				continue;
			}
			decided = true;
			cr_assert_eq(r, want, "%s: prefix %zu gave %d", c->name, n, r);
		}
		cr_assert(decided, "%s", c->name);
		if (c->parse == 1)
			cr_assert_eq(http_classify(&req), c->kind, "%s", c->name);
	}
}

Test(http, node_client_fields)
{
	static struct http_request req;
	char resp[256];
	static const char want[] = "HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: websocket" CRLF
				   "Connection: Upgrade" CRLF
				   "Sec-WebSocket-Accept: BlsHSrQABrl+RiaKMccpSrTAdM8=" CRLF CRLF;

	cr_assert_gt(parse_str(node_client, HTTP_DEFAULT_MAX_HEADER_BYTES, &req), 0);
	cr_assert_eq(req.method.n, 3);
	cr_assert_arr_eq(req.method.p, "GET", 3);
	cr_assert_eq(req.version_minor, 1);
	cr_assert_eq(req.path.n, strlen("/socketcluster/"));
	cr_assert_arr_eq(req.path.p, "/socketcluster/", req.path.n);
	cr_assert_eq(req.query.n, strlen("authKey=abc&poolIndex=0&t=1795626824256"));
	cr_assert_arr_eq(req.query.p, "authKey=abc&poolIndex=0&t=1795626824256", req.query.n);
	cr_assert_eq(req.host.n, strlen("127.0.0.1:44459"));
	cr_assert_arr_eq(req.host.p, "127.0.0.1:44459", req.host.n);
	cr_assert_null(req.origin.p);
	cr_assert_null(req.ws_protocol.p);
	cr_assert_eq(req.ws_extensions.n, strlen("permessage-deflate; client_max_window_bits"));
	cr_assert_eq(req.nheaders, 6);
	cr_assert(http_name_is(req.headers[1].name, "sec-websocket-key"));
	cr_assert_eq(req.flags, HTTP_F_UPGRADE_WS | HTTP_F_CONN_UPGRADE);
	/* pointers into the buffer, never copies */
	cr_assert(req.target.p > node_client && req.target.p < node_client + sizeof(node_client));

	cr_assert_eq(http_check_path(&req, HTTP_DEFAULT_WS_PATH), 0);
	cr_assert_eq(http_check_origin(&req, "good.example:80"), 0, "no Origin is allowed");
	cr_assert_eq(http_upgrade_response(resp, sizeof(resp), &req), (int)strlen(want));
	cr_assert_str_eq(resp, want);
	/* no Sec-WebSocket-Extensions: permessage-deflate is declined */
	cr_assert_null(strstr(resp, "Extensions"));
}

Test(http, rfc6455_accept_example)
{
	char out[HTTP_WS_ACCEPT_LEN + 1];
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ==";
	char big[200];

	cr_assert_eq(http_ws_accept(key, strlen(key), out), 0);
	cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	memset(big, 'A', sizeof(big));
	cr_assert_eq(http_ws_accept(big, 129, out), -EINVAL);
}

Test(http, upgrade_response_bounds)
{
	static struct http_request req;
	char out[256];
	int n;

	cr_assert_gt(parse_str(chrome, HTTP_DEFAULT_MAX_HEADER_BYTES, &req), 0);
	n = http_upgrade_response(out, sizeof(out), &req);
	cr_assert_eq(n, 129);
	cr_assert_str_eq(out, "HTTP/1.1 101 Switching Protocols" CRLF "Upgrade: websocket" CRLF
			      "Connection: Upgrade" CRLF
			      "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" CRLF CRLF);
	cr_assert_eq(http_upgrade_response(out, (size_t)n + 1, &req), n);
	cr_assert_eq(http_upgrade_response(out, (size_t)n, &req), -ENOSPC);
	req.ws_key = (struct http_slice){0};
	cr_assert_eq(http_upgrade_response(out, sizeof(out), &req), -EINVAL);
}

Test(http, path_check)
{
	static const struct {
		const char *target;
		int want;
	} cases[] = {
	    {"/socketcluster/", 0},
	    {"/socketcluster/?a=1&b=2", 0},
	    {"/socketcluster/?", 0},
	    {"/socketcluster", HTTP_ERR_PATH},
	    {"/socketcluster/x", HTTP_ERR_PATH},
	    {"/SocketCluster/", HTTP_ERR_PATH},
	    {"/%73ocketcluster/", HTTP_ERR_PATH},
	    {"/", HTTP_ERR_PATH},
	    {"http://h/socketcluster/", HTTP_ERR_PATH},
	};
	static struct http_request req;
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(buf, sizeof(buf), "GET %s HTTP/1.1" CRLF "Host: h" CRLF CRLF,
			 cases[i].target);
		cr_assert_gt(parse_str(buf, 1024, &req), 0, "%s", cases[i].target);
		cr_assert_eq(http_check_path(&req, HTTP_DEFAULT_WS_PATH), cases[i].want, "%s",
			     cases[i].target);
	}
	cr_assert_eq(http_error_status(HTTP_ERR_PATH), 400);
}

Test(http, origin_check)
{
	static const struct {
		const char *origins;
		const char *origin; /* NULL: no Origin header */
		int want;
	} cases[] = {
	    {"*:*", "https://evil.example", 0},
	    {"a.example:80 *:*", "https://evil.example", 0},
	    {"good.example:80", NULL, 0},
	    {"", NULL, 0},
	    {"", "http://good.example", HTTP_ERR_ORIGIN},
	    {"good.example:80", "http://good.example", 0},
	    {"good.example:80", "http://GOOD.Example", 0},
	    {"good.example:80", "http://good.example:80", 0},
	    {"good.example:80", "https://good.example", HTTP_ERR_ORIGIN},
	    {"good.example:443", "https://good.example", 0},
	    {"good.example:80", "ws://good.example", 0},
	    {"good.example:443", "wss://good.example", 0},
	    {"good.example:*", "https://good.example:8443", 0},
	    {"*:8443", "https://other.example:8443", 0},
	    {"*:8443", "https://other.example", HTTP_ERR_ORIGIN},
	    {"xgood.example:80", "http://good.example", HTTP_ERR_ORIGIN},
	    {"good.example:80", "http://good.example.evil:80", HTTP_ERR_ORIGIN},
	    {"a.example:80 good.example:3000", "http://good.example:3000", 0},
	    {"a.example:80,good.example:3000", "http://good.example:3000", 0},
	    {"a.example:80, good.example:3000", "http://good.example:80", HTTP_ERR_ORIGIN},
	    {"::1:3000", "http://[::1]:3000", 0},
	    {"::1:3000", "http://[::1]:3001", HTTP_ERR_ORIGIN},
	    {"good.example:80", "null", HTTP_ERR_ORIGIN},
	    {"*:80", "null", 0},
	    {"null:*", "null", 0},
	    {"good.example:80", "http://good.example:99999", HTTP_ERR_ORIGIN},
	    {"good.example:80", "http://good.example:", HTTP_ERR_ORIGIN},
	    {"good.example:80", "http://", HTTP_ERR_ORIGIN},
	    {"good.example:80", "http://[::1", HTTP_ERR_ORIGIN},
	    {"good.example", "http://good.example", HTTP_ERR_ORIGIN},
	};
	static struct http_request req;
	char buf[256];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (cases[i].origin)
			snprintf(buf, sizeof(buf), "GET / HTTP/1.1" CRLF "Origin: %s" CRLF CRLF,
				 cases[i].origin);
		else
			snprintf(buf, sizeof(buf), "GET / HTTP/1.1" CRLF CRLF);
		cr_assert_gt(parse_str(buf, 1024, &req), 0, "case %zu", i);
		cr_assert_eq(http_check_origin(&req, cases[i].origins), cases[i].want,
			     "case %zu: origins \"%s\" origin \"%s\"", i, cases[i].origins,
			     cases[i].origin ? cases[i].origin : "(none)");
	}
	cr_assert_eq(http_error_status(HTTP_ERR_ORIGIN), 403);
}

Test(http, size_limits)
{
	static struct http_request req;
	static char big[4096];
	size_t len = strlen(chrome);
	size_t n;

	/* the limit counts the whole head: exactly enough passes, one less fails */
	cr_assert_eq(parse_str(chrome, len, &req), (int)len);
	cr_assert_eq(parse_str(chrome, len - 1, &req), HTTP_ERR_TOO_LARGE);
	/* incomplete below the limit waits; at the limit it is refused */
	cr_assert_eq(http_parse_request((const uint8_t *)chrome, 100, 200, &req), 0);
	cr_assert_eq(http_parse_request((const uint8_t *)chrome, 200, 200, &req),
		     HTTP_ERR_TOO_LARGE);
	cr_assert_eq(http_parse_request((const uint8_t *)chrome, len, 200, &req),
		     HTTP_ERR_TOO_LARGE);
	cr_assert_eq(http_error_status(HTTP_ERR_TOO_LARGE), 431);

	/* one long header line that never ends */
	n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1" CRLF "X-Long: ");
	memset(big + n, 'a', sizeof(big) - n - 1);
	cr_assert_eq(http_parse_request((const uint8_t *)big, sizeof(big) - 1, 1024, &req),
		     HTTP_ERR_TOO_LARGE);
	cr_assert_eq(http_parse_request((const uint8_t *)big, 1000, 1024, &req), 0);

	/* header count: 64 pass, 65 do not */
	for (int count = 64; count <= 65; count++) {
		n = (size_t)snprintf(big, sizeof(big), "GET / HTTP/1.1" CRLF);
		for (int i = 0; i < count; i++)
			n += (size_t)snprintf(big + n, sizeof(big) - n, "X-%d: v" CRLF, i);
		n += (size_t)snprintf(big + n, sizeof(big) - n, CRLF);
		cr_assert_eq(parse_str(big, sizeof(big), &req),
			     count == HTTP_MAX_HEADERS ? (int)n : HTTP_ERR_TOO_MANY, "%d headers",
			     count);
	}
	cr_assert_eq(req.nheaders, HTTP_MAX_HEADERS);
	cr_assert_eq(http_error_status(HTTP_ERR_TOO_MANY), 431);
}

/* Bytes after the head (a client that sends its first frame at once) are
 * not consumed. */
Test(http, stops_at_end_of_head)
{
	static struct http_request req;
	char buf[1024];
	size_t len = strlen(node_client);

	memcpy(buf, node_client, len);
	memcpy(buf + len, "\x81\x85rest", 7);
	cr_assert_eq(http_parse_request((const uint8_t *)buf, len + 7, 1024, &req), (int)len);
	cr_assert_eq(http_classify(&req), HTTP_KIND_WEBSOCKET);
}

Test(http, error_responses_exact)
{
	static const struct {
		int status;
		const char *body;
		const char *want;
	} cases[] = {
	    {404, NULL,
	     "HTTP/1.1 404 Not Found" CRLF "Content-Type: text/plain; charset=utf-8" CRLF
	     "Content-Length: 10" CRLF "Connection: close" CRLF CRLF "Not Found\n"},
	    {200, NULL,
	     "HTTP/1.1 200 OK" CRLF "Content-Type: text/plain; charset=utf-8" CRLF
	     "Content-Length: 3" CRLF "Connection: close" CRLF CRLF "ok\n"},
	    {426, NULL,
	     "HTTP/1.1 426 Upgrade Required" CRLF "Content-Type: text/plain; charset=utf-8" CRLF
	     "Content-Length: 17" CRLF "Sec-WebSocket-Version: 13" CRLF
	     "Connection: close" CRLF CRLF "Upgrade Required\n"},
	    {400, "bad path\n",
	     "HTTP/1.1 400 Bad Request" CRLF "Content-Type: text/plain; charset=utf-8" CRLF
	     "Content-Length: 9" CRLF "Connection: close" CRLF CRLF "bad path\n"},
	    {403, "",
	     "HTTP/1.1 403 Forbidden" CRLF "Content-Type: text/plain; charset=utf-8" CRLF
	     "Content-Length: 0" CRLF "Connection: close" CRLF CRLF},
	    {431, NULL,
	     "HTTP/1.1 431 Request Header Fields Too Large" CRLF
	     "Content-Type: text/plain; charset=utf-8" CRLF "Content-Length: 32" CRLF
	     "Connection: close" CRLF CRLF "Request Header Fields Too Large\n"},
	};
	char out[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int n = http_error_response(out, sizeof(out), cases[i].status, cases[i].body);

		cr_assert_eq(n, (int)strlen(cases[i].want), "status %d", cases[i].status);
		cr_assert_str_eq(out, cases[i].want);
		cr_assert_eq(http_error_response(out, (size_t)n, cases[i].status, cases[i].body),
			     -ENOSPC);
	}
	/* every supported status: Content-Length is the body's length */
	static const int statuses[] = {200, 400, 403, 404, 426, 431, 500, 501, 505};
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		int n = http_error_response(out, sizeof(out), statuses[i], NULL);
		const char *body = strstr(out, CRLF CRLF);
		size_t clen;

		cr_assert_gt(n, 0, "status %d", statuses[i]);
		cr_assert_not_null(body);
		cr_assert_eq(sscanf(strstr(out, "Content-Length: "), "Content-Length: %zu", &clen),
			     1);
		cr_assert_eq(clen, strlen(body + 4), "status %d", statuses[i]);
	}
	cr_assert_eq(http_error_response(out, sizeof(out), 302, NULL), -EINVAL);
}

Test(http, error_statuses)
{
	static const struct {
		int err, status;
	} cases[] = {
	    {HTTP_ERR_MALFORMED, 400},
	    {HTTP_ERR_TOO_LARGE, 431},
	    {HTTP_ERR_TOO_MANY, 431},
	    {HTTP_ERR_VERSION, 505},
	    {HTTP_ERR_DUPLICATE, 400},
	    {HTTP_ERR_NO_HOST, 400},
	    {HTTP_ERR_METHOD, 400},
	    {HTTP_ERR_NO_CONN_UPGRADE, 400},
	    {HTTP_ERR_BAD_KEY, 400},
	    {HTTP_ERR_WS_VERSION, 426},
	    {HTTP_ERR_PATH, 400},
	    {HTTP_ERR_ORIGIN, 403},
	    {-EINVAL, 500},
	};
	char out[512];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int status = http_error_status(cases[i].err);

		cr_assert_eq(status, cases[i].status, "err %d", cases[i].err);
		cr_assert_gt(http_error_response(out, sizeof(out), status, NULL), 0);
		if (cases[i].err != -EINVAL)
			cr_assert_lt(cases[i].err, -4095, "outside errno");
	}
}

/* The client's check of the server's answer (the load generators use it). */
Test(http, client_checks_the_upgrade_response)
{
	static const char key[] = "dGhlIHNhbXBsZSBub25jZQ=="; /* RFC 6455 1.3 */
	static const struct {
		const char *head;
		int rc;
		const char *why, *detail;
	} cases[] = {
		{"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
		 "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
		 0, NULL, NULL},
		{"HTTP/1.1 101 OK\r\nsec-websocket-accept:\t s3pPLMBiTxaQ9kYGzzhZRbK+xOo= \r\n\r\n", 0,
		 NULL, NULL},
		{"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", -1, "upgrade refused",
		 "HTTP/1.1 400 Bad Request"},
		{"HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: AAAAPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", -1,
		 "wrong Sec-WebSocket-Accept", "AAAAPLMBiTxaQ9kYGzzhZRbK+xOo="},
		{"HTTP/1.1 101 OK\r\nUpgrade: websocket\r\n\r\n", -1, "101 without Sec-WebSocket-Accept",
		 ""},
		{"HTTP/1.0 101 OK\r\n\r\n", -1, "upgrade refused", "HTTP/1.0 101 OK"},
		{"HTTP/1.1", -1, "upgrade refused", ""},
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *why = NULL, *detail = NULL;
		int n = -1;
		int rc = http_check_upgrade_response(cases[i].head, strlen(cases[i].head), key, &why,
						     &detail, &n);
		cr_assert_eq(rc, cases[i].rc, "case %zu: rc %d", i, rc);
		if (rc == 0)
			continue;
		cr_assert_str_eq(why, cases[i].why, "case %zu", i);
		cr_assert_eq((size_t)n, strlen(cases[i].detail), "case %zu: detail %.*s", i, n, detail);
		cr_assert(memcmp(detail, cases[i].detail, (size_t)n) == 0, "case %zu: %.*s", i, n,
			  detail);
	}
}

/* The client's key: RFC 6455 1.3's nonce "the sample nonce". */
Test(http, client_key_of_a_nonce)
{
	char key[25];

	http_ws_client_key((const uint8_t *)"the sample nonce", key);
	cr_assert_str_eq(key, "dGhlIHNhbXBsZSBub25jZQ==");
}
