/*
 * statcmd: the stats socket's command language, parsed. One pure function
 * over one line of text (fuzzed: tests/fuzz/fuzz_statcmd.c); broker/stats.c
 * runs what it returns. The grammar (README, "Watching it"):
 *
 *   help
 *   show info [json]
 *   show sockets [sort FIELD] [limit N] [json]     FIELD: statcmd_socket_cols
 *   show socket ID [json]
 *   show channels [sort FIELD] [limit N] [json]    FIELD: statcmd_channel_cols
 *   show threads [json]
 *   disconnect ID [CODE]                           CODE: 1000 or 3000-4999
 *   kill channel NAME
 *   close channel NAME
 *
 * Words are separated by spaces or tabs; an empty line is help.
 *
 * Threads: any; nothing shared.
 */
#ifndef SLUICE_STATCMD_H
#define SLUICE_STATCMD_H

#include <stdbool.h>
#include <stddef.h>

enum statcmd_verb {
	STATCMD_HELP,
	STATCMD_INFO,
	STATCMD_SOCKETS,
	STATCMD_SOCKET,
	STATCMD_CHANNELS,
	STATCMD_THREADS,
	STATCMD_DISCONNECT,
	STATCMD_KILL_CHANNEL,
	STATCMD_CLOSE_CHANNEL,
};

#define STATCMD_SOCKET_COLS  11
#define STATCMD_CHANNEL_COLS 7
#define STATCMD_SHOW_MAX     20 /* rows of show sockets/channels without a limit */

/* The numeric columns of `show sockets` (after id) and `show channels` (after name). */
extern const char *const statcmd_socket_cols[STATCMD_SOCKET_COLS];
extern const char *const statcmd_channel_cols[STATCMD_CHANNEL_COLS];

struct statcmd {
	enum statcmd_verb verb;
	bool json;
	int sort;           /* a column index (sockets: backpressure, channels: backlog) */
	size_t limit;       /* rows (STATCMD_SHOW_MAX) */
	const char *arg;    /* ID or NAME, inside the line; NULL when none */
	int code;           /* disconnect: 1000 unless given */
};

/*
 * Parses one command line, which it modifies (words are NUL-terminated in
 * place; out->arg points into it). Returns 0, or -EINVAL with a message in
 * err (without the "error: " the answer starts with).
 */
int statcmd_parse(char *line, struct statcmd *out, char *err, size_t errlen);

#endif
