/*
 * json: the public JSON helpers of sluice.h, thin wrappers over the packet
 * parser's scanner, so that there is one JSON reader in sluice.
 *
 * Threads: any; pure functions.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "packet.h"
#include "sluice.h"

/* JSON's whitespace (RFC 8259), and nothing else: not NUL. */
static bool json__space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The span of json[0, len) without the whitespace around it. */
static struct packet_span json__trim(const char *json, size_t len)
{
	size_t a = 0, b = len;

	while (a < b && json__space(json[a]))
		a++;
	while (b > a && json__space(json[b - 1]))
		b--;
	return (struct packet_span){(uint32_t)a, (uint32_t)(b - a)};
}

int sluice_json_member(const char *json, size_t len, const char *key, const char **val,
		       size_t *vlen)
{
	struct packet_span obj, v;
	int rc;

	if (!json || len > UINT32_MAX)
		return -EINVAL;
	obj = json__trim(json, len);
	if (obj.len == 0)
		return -ENOENT; /* no value at all: no member either */
	/* the whole text, as one value: packet_member trusts what it is given */
	if (packet_validate((const uint8_t *)json, len) != 0)
		return -EINVAL;
	if (json[obj.off] != '{')
		return -ENOENT;
	rc = packet_member((const uint8_t *)json, obj, key, strlen(key), &v);
	if (rc == -ENOENT)
		return rc;
	if (rc < 0)
		return -EINVAL;
	*val = json + v.off;
	*vlen = v.len;
	return 0;
}

int sluice_json_int(const char *json, size_t len, int64_t *out)
{
	struct packet_span s;
	uint64_t v = 0;
	size_t i;
	bool neg;

	if (!json)
		return -EINVAL;
	s = json__trim(json, len);
	i = s.off;
	neg = i < (size_t)s.off + s.len && json[i] == '-';
	i += neg;
	if (i == (size_t)s.off + s.len)
		return -EINVAL;
	if (json[i] == '0' && i + 1 < (size_t)s.off + s.len)
		return -EINVAL; /* a leading zero, as JSON forbids */
	for (; i < (size_t)s.off + s.len; i++) {
		if (json[i] < '0' || json[i] > '9' || v > (UINT64_C(1) << 63) / 10)
			return -EINVAL;
		v = v * 10 + (uint64_t)(json[i] - '0');
	}
	if (v > (uint64_t)INT64_MAX + neg)
		return -EINVAL;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

long sluice_json_string(const char *json, size_t len, char *out, size_t cap)
{
	struct packet_span s;
	int n;

	if (!json)
		return -EINVAL;
	if (cap == 0)
		return -ENOSPC;
	s = json__trim(json, len);
	if (s.len < 2 || json[s.off] != '"' || json[s.off + s.len - 1] != '"' ||
	    packet_validate((const uint8_t *)json + s.off, s.len) != 0)
		return -EINVAL;
	n = packet_unescape((const uint8_t *)json, (struct packet_span){s.off + 1, s.len - 2},
			    (uint8_t *)out, cap - 1);
	if (n < 0)
		return n == PACKET_ERR_SPACE ? -ENOSPC : -EINVAL;
	out[n] = '\0';
	return n;
}
