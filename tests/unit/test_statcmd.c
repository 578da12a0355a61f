/*
 * Unit tests of broker/statcmd (the stats socket's command language),
 * table-driven: every command with its options in any order, the defaults
 * (sort backpressure / backlog, limit 20, code 1000), every refusal with a
 * message that names what was wrong, words separated by runs of spaces and
 * tabs, and the word limit.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "statcmd.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

struct ok_case {
	const char *line;
	enum statcmd_verb verb;
	bool json;
	int sort;
	size_t limit;
	const char *arg;
	int code;
};

static const struct ok_case ok_cases[] = {
    {"", STATCMD_HELP, false, -1, 20, NULL, 1000},
    {"  \t ", STATCMD_HELP, false, -1, 20, NULL, 1000},
    {"help", STATCMD_HELP, false, -1, 20, NULL, 1000},
    {"help\r\n", STATCMD_HELP, false, -1, 20, NULL, 1000},
    {"show info", STATCMD_INFO, false, -1, 20, NULL, 1000},
    {"show info json", STATCMD_INFO, true, -1, 20, NULL, 1000},
    {"  show \t info   json ", STATCMD_INFO, true, -1, 20, NULL, 1000},
    {"show threads", STATCMD_THREADS, false, -1, 20, NULL, 1000},
    {"show threads json", STATCMD_THREADS, true, -1, 20, NULL, 1000},
    {"show sockets", STATCMD_SOCKETS, false, 1, 20, NULL, 1000},
    {"show sockets json", STATCMD_SOCKETS, true, 1, 20, NULL, 1000},
    {"show sockets sort outbound_bytes", STATCMD_SOCKETS, false, 4, 20, NULL, 1000},
    {"show sockets sort worker limit 0", STATCMD_SOCKETS, false, 0, 0, NULL, 1000},
    {"show sockets limit 5 json sort age_s", STATCMD_SOCKETS, true, 10, 5, NULL, 1000},
    {"show sockets limit 18446744073709551615", STATCMD_SOCKETS, false, 1, SIZE_MAX, NULL, 1000},
    {"show channels", STATCMD_CHANNELS, false, 5, 20, NULL, 1000},
    {"show channels sort subscribers limit 3", STATCMD_CHANNELS, false, 0, 3, NULL, 1000},
    {"show channels json sort slowest", STATCMD_CHANNELS, true, 6, 20, NULL, 1000},
    {"show socket AbCd-1x", STATCMD_SOCKET, false, -1, 20, "AbCd-1x", 1000},
    {"show socket AbCd-1x json", STATCMD_SOCKET, true, -1, 20, "AbCd-1x", 1000},
    {"disconnect AbCd-1x", STATCMD_DISCONNECT, false, -1, 20, "AbCd-1x", 1000},
    {"disconnect AbCd-1x 1000", STATCMD_DISCONNECT, false, -1, 20, "AbCd-1x", 1000},
    {"disconnect AbCd-1x 3000", STATCMD_DISCONNECT, false, -1, 20, "AbCd-1x", 3000},
    {"disconnect AbCd-1x 4999", STATCMD_DISCONNECT, false, -1, 20, "AbCd-1x", 4999},
    {"kill channel news", STATCMD_KILL_CHANNEL, false, -1, 20, "news", 1000},
    {"close channel a/b:c", STATCMD_CLOSE_CHANNEL, false, -1, 20, "a/b:c", 1000},
};

Test(statcmd, accepted)
{
	for (size_t i = 0; i < N(ok_cases); i++) {
		const struct ok_case *c = &ok_cases[i];
		char line[256], err[128] = "";
		struct statcmd cmd;
		snprintf(line, sizeof(line), "%s", c->line);
		cr_assert_eq(statcmd_parse(line, &cmd, err, sizeof(err)), 0, "'%s': %s", c->line, err);
		cr_assert_eq(cmd.verb, c->verb, "'%s' verb", c->line);
		cr_assert_eq(cmd.json, c->json, "'%s' json", c->line);
		cr_assert_eq(cmd.sort, c->sort, "'%s' sort %d", c->line, cmd.sort);
		cr_assert_eq(cmd.limit, c->limit, "'%s' limit", c->line);
		cr_assert_eq(cmd.code, c->code, "'%s' code", c->line);
		if (c->arg)
			cr_assert_str_eq(cmd.arg, c->arg, "'%s' arg", c->line);
		else
			cr_assert_null(cmd.arg, "'%s' arg", c->line);
	}
}

struct bad_case {
	const char *line;
	const char *says; /* in the message */
};

static const struct bad_case bad_cases[] = {
    {"frobnicate", "unknown command 'frobnicate'"},
    {"help me", "unknown command 'help'"},
    {"show", "unknown command 'show'"},
    {"show nothing", "usage: show"},
    {"show socket", "usage: show"},
    {"show info xml", "usage: show info [json]"},
    {"show info json json", "usage: show info [json]"},
    {"show threads now", "usage: show threads [json]"},
    {"show socket a b", "usage: show socket ID [json]"},
    {"show sockets sort", "unexpected 'sort'"},
    {"show sockets sort name", "cannot sort by 'name'; fields: worker backpressure"},
    {"show channels sort backpressure", "cannot sort by 'backpressure'; fields: subscribers"},
    {"show sockets limit", "unexpected 'limit'"},
    {"show sockets limit -1", "limit '-1' is not a number"},
    {"show sockets limit 1x", "limit '1x' is not a number"},
    {"show sockets limit 99999999999999999999999", "is not a number"},
    {"show sockets xml", "unexpected 'xml'"},
    {"disconnect", "usage: disconnect ID [CODE]"},
    {"disconnect a 1000 x", "usage: disconnect ID [CODE]"},
    {"disconnect a 999", "code '999' is not 1000 or 3000-4999"},
    {"disconnect a 2999", "is not 1000 or 3000-4999"},
    {"disconnect a 5000", "is not 1000 or 3000-4999"},
    {"disconnect a -4000", "is not 1000 or 3000-4999"},
    {"disconnect a 4000x", "is not 1000 or 3000-4999"},
    {"kill", "unknown command 'kill'"},
    {"kill channel", "unknown command 'kill'"},
    {"kill socket x", "unknown command 'kill'"},
    {"close channel a b", "unknown command 'close'"},
    {"a b c d e f g h i j k l m n o p q", "more than 16 words"},
};

Test(statcmd, refused)
{
	for (size_t i = 0; i < N(bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		char line[256], err[256] = "";
		struct statcmd cmd;
		snprintf(line, sizeof(line), "%s", c->line);
		cr_assert_eq(statcmd_parse(line, &cmd, err, sizeof(err)), -EINVAL, "'%s'", c->line);
		cr_assert(strstr(err, c->says), "'%s': '%s' does not say '%s'", c->line, err, c->says);
	}
}

Test(statcmd, long_words_are_cut_in_messages)
{
	char line[1100], err[512];
	struct statcmd cmd;

	memcpy(line, "show sockets sort ", 18);
	memset(line + 18, 'x', 1000);
	line[1018] = '\0';
	cr_assert_eq(statcmd_parse(line, &cmd, err, sizeof(err)), -EINVAL);
	cr_assert_lt(strlen(err), 400, "the message stays short: %zu", strlen(err));
	cr_assert_eq(statcmd_parse(line, &cmd, NULL, 0), -EINVAL, "err may be NULL");
}

Test(statcmd, columns)
{
	cr_assert_str_eq(statcmd_socket_cols[1], "backpressure");
	cr_assert_str_eq(statcmd_channel_cols[5], "backlog");
	for (size_t i = 0; i < STATCMD_SOCKET_COLS; i++)
		cr_assert_not_null(strchr("abcdefghijklmnopqrstuvwxyz", statcmd_socket_cols[i][0]));
}
