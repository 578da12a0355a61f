/*
 * statcmd: the stats socket's command language, parsed (statcmd.h).
 *
 * Threads: any; nothing shared.
 */
#include "statcmd.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const statcmd_socket_cols[STATCMD_SOCKET_COLS] = {
	"worker", "backpressure", "inbound", "outbound", "outbound_bytes", "procedures",
	"msgs_in", "msgs_out", "dropped", "subs", "age_s"};
const char *const statcmd_channel_cols[STATCMD_CHANNEL_COLS] = {
	"subscribers", "published", "fanout", "delivered", "dropped", "backlog", "slowest"};

#define MAX_WORDS 16

static int statcmd__err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int statcmd__err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

/* [sort FIELD] [limit N] [json], in any order. */
static int statcmd__list(char **w, int n, const char *const *cols, size_t ncols,
			 struct statcmd *out, char *err, size_t errlen)
{
	for (int i = 0; i < n; i++) {
		if (strcmp(w[i], "json") == 0) {
			out->json = true;
		} else if (strcmp(w[i], "sort") == 0 && i + 1 < n) {
			size_t c = 0;
			while (c < ncols && strcmp(cols[c], w[i + 1]) != 0)
				c++;
			if (c == ncols) {
				char list[256] = "";
				size_t at = 0;
				for (size_t k = 0; k < ncols && at < sizeof(list); k++)
					at += (size_t)snprintf(list + at, sizeof(list) - at, " %s", cols[k]);
				/* the field is shown cut: the line may be up to 1 KiB of anything */
				return statcmd__err(err, errlen, "cannot sort by '%.64s'; fields:%s",
						    w[i + 1], list);
			}
			out->sort = (int)c;
			i++;
		} else if (strcmp(w[i], "limit") == 0 && i + 1 < n) {
			const char *v = w[++i];
			char *end;
			unsigned long long x;
			errno = 0;
			x = strtoull(v, &end, 10);
			if (*v < '0' || *v > '9' || *end || errno || x > SIZE_MAX)
				return statcmd__err(err, errlen, "limit '%.64s' is not a number", v);
			out->limit = (size_t)x;
		} else {
			return statcmd__err(err, errlen, "unexpected '%.64s' (try: help)", w[i]);
		}
	}
	return 0;
}

/* Only [json] may follow. */
static int statcmd__json_only(char **w, int n, const char *usage, struct statcmd *out, char *err,
			      size_t errlen)
{
	if (n > 1 || (n == 1 && strcmp(w[0], "json") != 0))
		return statcmd__err(err, errlen, "usage: %s", usage);
	out->json = n == 1;
	return 0;
}

int statcmd_parse(char *line, struct statcmd *out, char *err, size_t errlen)
{
	char *w[MAX_WORDS];
	int n = 0;

	*out = (struct statcmd){.verb = STATCMD_HELP, .sort = -1, .limit = STATCMD_SHOW_MAX,
				.code = 1000};
	for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t;
	     t = strtok_r(NULL, " \t\r\n", &save)) {
		if (n == MAX_WORDS)
			return statcmd__err(err, errlen, "more than %d words", MAX_WORDS);
		w[n++] = t;
	}
	if (n == 0 || (n == 1 && strcmp(w[0], "help") == 0))
		return 0;
	if (strcmp(w[0], "show") == 0 && n >= 2) {
		if (strcmp(w[1], "info") == 0) {
			out->verb = STATCMD_INFO;
			return statcmd__json_only(w + 2, n - 2, "show info [json]", out, err, errlen);
		}
		if (strcmp(w[1], "threads") == 0) {
			out->verb = STATCMD_THREADS;
			return statcmd__json_only(w + 2, n - 2, "show threads [json]", out, err,
						  errlen);
		}
		if (strcmp(w[1], "sockets") == 0) {
			out->verb = STATCMD_SOCKETS;
			out->sort = 1; /* backpressure */
			return statcmd__list(w + 2, n - 2, statcmd_socket_cols, STATCMD_SOCKET_COLS,
					     out, err, errlen);
		}
		if (strcmp(w[1], "channels") == 0) {
			out->verb = STATCMD_CHANNELS;
			out->sort = 5; /* backlog */
			return statcmd__list(w + 2, n - 2, statcmd_channel_cols, STATCMD_CHANNEL_COLS,
					     out, err, errlen);
		}
		if (strcmp(w[1], "socket") == 0 && n >= 3) {
			out->verb = STATCMD_SOCKET;
			out->arg = w[2];
			return statcmd__json_only(w + 3, n - 3, "show socket ID [json]", out, err,
						  errlen);
		}
		return statcmd__err(err, errlen,
				    "usage: show info|sockets|socket ID|channels|threads (try: help)");
	}
	if (strcmp(w[0], "disconnect") == 0) {
		if (n < 2 || n > 3)
			return statcmd__err(err, errlen, "usage: disconnect ID [CODE]");
		out->verb = STATCMD_DISCONNECT;
		out->arg = w[1];
		if (n == 3) {
			char *end;
			long code;
			errno = 0;
			code = strtol(w[2], &end, 10);
			if (*w[2] < '0' || *w[2] > '9' || *end || errno ||
			    !(code == 1000 || (code >= 3000 && code <= 4999)))
				return statcmd__err(err, errlen,
						    "code '%.64s' is not 1000 or 3000-4999", w[2]);
			out->code = (int)code;
		}
		return 0;
	}
	if ((strcmp(w[0], "kill") == 0 || strcmp(w[0], "close") == 0) && n == 3 &&
	    strcmp(w[1], "channel") == 0) {
		out->verb = w[0][0] == 'k' ? STATCMD_KILL_CHANNEL : STATCMD_CLOSE_CHANNEL;
		out->arg = w[2];
		return 0;
	}
	return statcmd__err(err, errlen, "unknown command '%.64s' (try: help)", w[0]);
}
