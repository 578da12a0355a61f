/*
 * fuzz_http: libFuzzer target for io/http. Pure and single-threaded.
 *
 * Input: byte 0 picks max_header_bytes, byte 1 a split point, byte 2 the
 * `origins` option; the rest is the request. It goes through the parser
 * (whole and as a prefix), the checks and the response builders, trapping
 * when a property that must hold for every input does not:
 *   - a prefix gives "need more" or the answer the whole input gives;
 *   - every slice lies inside the input;
 *   - every builder's result is its exact length and ends its head in CRLFCRLF.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "http.h"


static const size_t max_bytes[8] = {0,	     1, 16, 64, 200, 1024, HTTP_DEFAULT_MAX_HEADER_BYTES,
				    SIZE_MAX};

static const char *const origin_opts[8] = {
    "*:*",
    "",
    "good.example:80",
    "good.example:* *:443",
    "::1:3000, null:*",
    "*:80",
    "a:1 b:2 c:3",
    "GOOD.example:80,x:*",
};

static void check_slice(struct http_slice sl, const uint8_t *buf, size_t consumed)
{
	if (!sl.p) {
		CHECK(sl.n == 0);
		return;
	}
	CHECK((const uint8_t *)sl.p >= buf && (const uint8_t *)sl.p + sl.n <= buf + consumed);
}

static void check_response(const char *out, int n)
{
	CHECK(n > 0 && (size_t)n == strlen(out));
	CHECK(memcmp(out, "HTTP/1.1 ", 9) == 0);
	CHECK(strstr(out, "\r\n\r\n") != NULL);
}

static void check_request(const struct http_request *req, const uint8_t *buf, int consumed,
			  const char *origins)
{
	char out[1024];
	int kind, n;

	check_slice(req->method, buf, (size_t)consumed);
	check_slice(req->target, buf, (size_t)consumed);
	check_slice(req->path, buf, (size_t)consumed);
	check_slice(req->query, buf, (size_t)consumed);
	check_slice(req->host, buf, (size_t)consumed);
	check_slice(req->origin, buf, (size_t)consumed);
	check_slice(req->ws_key, buf, (size_t)consumed);
	check_slice(req->ws_version, buf, (size_t)consumed);
	check_slice(req->ws_protocol, buf, (size_t)consumed);
	check_slice(req->ws_extensions, buf, (size_t)consumed);
	CHECK(req->nheaders <= HTTP_MAX_HEADERS);
	for (size_t i = 0; i < req->nheaders; i++) {
		check_slice(req->headers[i].name, buf, (size_t)consumed);
		check_slice(req->headers[i].value, buf, (size_t)consumed);
	}
	CHECK(memcmp(buf + consumed - 4, "\r\n\r\n", 4) == 0);

	kind = http_classify(req);
	CHECK(kind == HTTP_KIND_WEBSOCKET || kind == HTTP_KIND_PLAIN ||
	      http_error_status(kind) != 500);
	n = http_check_path(req, HTTP_DEFAULT_WS_PATH);
	CHECK(n == 0 || n == HTTP_ERR_PATH);
	n = http_check_origin(req, origins);
	CHECK(n == 0 || n == HTTP_ERR_ORIGIN);
	CHECK(http_check_origin(req, "*:*") == 0);

	if (kind == HTTP_KIND_WEBSOCKET) {
		n = http_upgrade_response(out, sizeof(out), req);
		check_response(out, n);
		CHECK(n == 129);
		CHECK(http_upgrade_response(out, (size_t)n, req) == -ENOSPC);
	} else {
		int status = kind == HTTP_KIND_PLAIN ? 200 : http_error_status(kind);

		n = http_error_response(out, sizeof(out), status, NULL);
		check_response(out, n);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct http_request req, req2;
	size_t len, max, split;
	const char *origins;
	uint8_t *buf;
	int r, rp;

	if (size < 3)
		return 0;
	max = max_bytes[data[0] & 7];
	origins = origin_opts[data[2] & 7];
	len = size - 3;
	split = len ? (size_t)data[1] * len / 255 : 0;
	/* exact-size copy so ASan sees any read past the end */
	buf = malloc(len ? len : 1);
	CHECK(buf);
	memcpy(buf, data + 3, len);

	r = http_parse_request(buf, len, max, &req);
	CHECK(r <= (int)len);
	if (r > 0)
		check_request(&req, buf, r, origins);
	else if (r < 0)
		CHECK(http_error_status(r) != 500);

	rp = http_parse_request(buf, split, max, &req2);
	if (r > 0)
		CHECK(rp == ((size_t)r <= split ? r : 0));
	else
		CHECK(rp == 0 || rp == r);

	if (len <= 128) {
		char acc[HTTP_WS_ACCEPT_LEN + 1];

		CHECK(http_ws_accept((const char *)buf, len, acc) == 0);
		CHECK(strlen(acc) == HTTP_WS_ACCEPT_LEN);
	}
	free(buf);
	return 0;
}
