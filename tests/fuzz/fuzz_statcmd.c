/*
 * fuzz_statcmd: the stats socket's command parser (broker/statcmd.c) on any
 * line of up to 1 KiB, as the stats thread reads it. Invariants: it returns
 * 0 or -EINVAL and nothing else; the error message is NUL-terminated within
 * its buffer; an accepted command's argument points into the line, its sort
 * is a column of its table, its code 1000 or 3000-4999; parsing the same
 * bytes twice gives the same answer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "statcmd.h"

static int parse_copy(const uint8_t *data, size_t size, struct statcmd *cmd, char *line,
		      char *err, size_t errlen)
{
	memcpy(line, data, size);
	line[size] = '\0';
	return statcmd_parse(line, cmd, err, errlen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char line[1025], again[1025], err[96], err2[96];
	struct statcmd a, b;
	int rc, rc2;

	if (size > 1024)
		return 0;
	memset(err, 0x55, sizeof(err));
	rc = parse_copy(data, size, &a, line, err, sizeof(err));
	CHECK(rc == 0 || rc == -EINVAL);
	if (rc < 0)
		CHECK(memchr(err, '\0', sizeof(err)) != NULL);
	rc2 = parse_copy(data, size, &b, again, err2, sizeof(err2));
	CHECK(rc2 == rc);
	if (rc == 0) {
		CHECK(a.verb == b.verb && a.json == b.json && a.sort == b.sort && a.limit == b.limit &&
		      a.code == b.code);
		CHECK(a.code == 1000 || (a.code >= 3000 && a.code <= 4999));
		if (a.verb == STATCMD_SOCKETS)
			CHECK(a.sort >= 0 && a.sort < STATCMD_SOCKET_COLS);
		if (a.verb == STATCMD_CHANNELS)
			CHECK(a.sort >= 0 && a.sort < STATCMD_CHANNEL_COLS);
		if (a.arg) {
			CHECK(a.arg >= line && a.arg < line + size);
			CHECK(strlen(a.arg) > 0);
			CHECK(strcmp(a.arg, b.arg) == 0);
		}
		bool needs_arg = a.verb == STATCMD_SOCKET || a.verb == STATCMD_DISCONNECT ||
				 a.verb == STATCMD_KILL_CHANNEL || a.verb == STATCMD_CLOSE_CHANNEL;
		CHECK(needs_arg == (a.arg != NULL));
	}
	return 0;
}
