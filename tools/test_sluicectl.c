/*
 * Tests of tools/sluicectl, the program as an operator runs it: each test
 * starts a fake stats server on a Unix socket in a mkdtemp directory (one
 * thread: accept, read one line, answer canned text by command, close) and
 * runs the built sluicectl (SLUICECTL) with posix_spawn, its stdout and
 * stderr going to files in that directory, then checks what it printed, its
 * exit status and the lines the server received.
 *
 * Threads: the test and the fake server; they share struct fake under mu.
 * Criterion runs each test in its own process, so the one `fk` is per test.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SLUICECTL
#error "build with -DSLUICECTL=\"path/to/sluicectl\""
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))
#define MAX_LINES 16
#define LINE_CAP 1100 /* more than the spec's 1024, to see what a client sends */

extern char **environ;

struct fake {
	char dir[64];
	char path[96];         /* dir/stats.sock */
	int lfd;
	int stop[2];           /* a pipe: the test tells the server to leave */
	pthread_t thread;
	pthread_mutex_t mu;
	/* under mu */
	char lines[MAX_LINES][LINE_CAP + 1]; /* the raw command lines, "\n" included */
	int nlines;
	unsigned info_calls;
	double info_at[MAX_LINES]; /* when each show info was answered */
	bool fail_channels;    /* answer show channels with an error */
	int serve_max;         /* leave (and unlink) after this many; 0: no limit */
};

static struct fake fk;

static const char sockets_table[] =
    "id worker backpressure inbound outbound outbound_bytes procedures msgs_in msgs_out "
    "dropped subs age_s\n"
    "17    0   4096  0  12  65536  0  100  90  0  2  30\n";
static const char channels_table[] = "name subscribers published delivered dropped backlog\n"
				     "news  3  40  120  0  77\n";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* show info, msgs_in growing by 5000 a call; inbound_pauses left out */
static void info_text(char *buf, size_t size, unsigned call)
{
	snprintf(buf, size,
		 "version: 0.1.0-test\npid: 4242\nuptime_s: 93784\nconnections: 7\nchannels: 3\n"
		 "reactors: 2\nworkers: 2\nmsgs_in: %u\nbytes_in: 1000\nmsgs_out: 50\n"
		 "bytes_out: 2000\npublishes: 40\nmsgs_dropped: 0\n"
		 "slow_consumer_disconnects: 1\nslow_consumer_drops: 2\n"
		 "backpressure_disconnects: 3\nrate_limit_disconnects: 4\n"
		 "channel_backlog_kills: 5\nmetrics_port: 0\n",
		 1000 + 5000 * call);
}

/* The canned answer to one command line (its "\n" included). */
static void answer_for(const char *line, char *buf, size_t size)
{
	pthread_mutex_lock(&fk.mu);
	if (strcmp(line, "show info\n") == 0 && fk.info_calls < MAX_LINES) {
		fk.info_at[fk.info_calls] = now_s();
		info_text(buf, size, ++fk.info_calls);
	}
	else if (strncmp(line, "show sockets", 12) == 0)
		snprintf(buf, size, "%s", sockets_table);
	else if (strncmp(line, "show channels", 13) == 0 && fk.fail_channels)
		snprintf(buf, size, "error: unknown sort field\n");
	else if (strncmp(line, "show channels", 13) == 0)
		snprintf(buf, size, "%s", channels_table);
	else if (strcmp(line, "kill channel nope\n") == 0)
		snprintf(buf, size, "error: no such channel 'nope'\n");
	else
		snprintf(buf, size, "ok\n");
	pthread_mutex_unlock(&fk.mu);
}

static void serve_one(int c)
{
	struct timeval tv = {5, 0};
	char line[LINE_CAP + 1], answer[2048];
	size_t len = 0;
	ssize_t k;

	setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	while (len < LINE_CAP && !memchr(line, '\n', len) &&
	       (k = recv(c, line + len, LINE_CAP - len, 0)) > 0)
		len += (size_t)k;
	line[len] = '\0';
	pthread_mutex_lock(&fk.mu);
	if (fk.nlines < MAX_LINES)
		memcpy(fk.lines[fk.nlines++], line, len + 1);
	pthread_mutex_unlock(&fk.mu);
	answer_for(line, answer, sizeof(answer));
	send(c, answer, strlen(answer), MSG_NOSIGNAL);
}

static void *serve(void *arg)
{
	(void)arg;
	for (int served = 0;;) {
		struct pollfd p[2] = {{.fd = fk.lfd, .events = POLLIN},
				      {.fd = fk.stop[0], .events = POLLIN}};
		int c;

		if (poll(p, 2, 20000) <= 0 || p[1].revents)
			break;
		c = accept4(fk.lfd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0)
			break;
		serve_one(c);
		close(c);
		pthread_mutex_lock(&fk.mu);
		bool gone = fk.serve_max && ++served >= fk.serve_max;
		pthread_mutex_unlock(&fk.mu);
		if (gone)
			break;
	}
	/* the server is gone: nothing listens at the path any more */
	unlink(fk.path);
	return NULL;
}

static void fake_start(void)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};

	snprintf(fk.dir, sizeof(fk.dir), "/tmp/sluicectl-test-XXXXXX");
	cr_assert_not_null(mkdtemp(fk.dir));
	snprintf(fk.path, sizeof(fk.path), "%s/stats.sock", fk.dir);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fk.path);
	pthread_mutex_init(&fk.mu, NULL);
	fk.lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fk.lfd, 0);
	cr_assert_eq(bind(fk.lfd, (struct sockaddr *)&sa, sizeof(sa)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(listen(fk.lfd, 8), 0);
	cr_assert_eq(pipe2(fk.stop, O_CLOEXEC), 0);
	cr_assert_eq(pthread_create(&fk.thread, NULL, serve, NULL), 0);
}

static void fake_stop(void)
{
	cr_assert_eq(write(fk.stop[1], "x", 1), 1);
	pthread_join(fk.thread, NULL);
	close(fk.stop[0]);
	close(fk.stop[1]);
	close(fk.lfd);
	pthread_mutex_destroy(&fk.mu);
	cr_expect_eq(rmdir(fk.dir), 0, "%s left behind: %s", fk.dir, strerror(errno));
}

TestSuite(sluicectl, .init = fake_start, .fini = fake_stop, .timeout = 30);

struct run {
	int status; /* exit status; 128 + signal when killed */
	char out[16384];
	char err[4096];
};

static void slurp(const char *path, char *buf, size_t size)
{
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
	unlink(path);
}

/*
 * Runs sluicectl with args (NULL-terminated), SLUICE_STATS_SOCKET set to
 * env_socket or unset when NULL, the rest of the environment kept.
 */
static void run_ctl(struct run *r, const char *env_socket, const char *const *args)
{
	char out[128], err[128], env_entry[160];
	const char *argv[32] = {SLUICECTL};
	const char *envp[256];
	posix_spawn_file_actions_t fa;
	size_t na = 1, ne = 0;
	pid_t pid;
	int st;

	for (; args[na - 1]; na++) {
		cr_assert_lt(na, N(argv) - 1);
		argv[na] = args[na - 1];
	}
	argv[na] = NULL;
	for (char **e = environ; *e; e++)
		if (strncmp(*e, "SLUICE_STATS_SOCKET=", 20) != 0 && ne < N(envp) - 2)
			envp[ne++] = *e;
	if (env_socket) {
		snprintf(env_entry, sizeof(env_entry), "SLUICE_STATS_SOCKET=%s", env_socket);
		envp[ne++] = env_entry;
	}
	envp[ne] = NULL;

	snprintf(out, sizeof(out), "%s/out", fk.dir);
	snprintf(err, sizeof(err), "%s/err", fk.dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, err, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_eq(posix_spawn(&pid, SLUICECTL, &fa, NULL, (char *const *)argv,
				 (char *const *)envp), 0);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
}

static int nlines(void)
{
	int n;

	pthread_mutex_lock(&fk.mu);
	n = fk.nlines;
	pthread_mutex_unlock(&fk.mu);
	return n;
}

/* The i-th line the server received (after sluicectl exited: no race). */
static const char *line(int i)
{
	cr_assert_lt(i, nlines(), "the server got only %d lines", nlines());
	return fk.lines[i];
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

Test(sluicectl, one_shot_prints_the_answer_unchanged)
{
	char info[2048];
	struct run r;

	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, "show", "info", NULL});
	info_text(info, sizeof(info), 1);
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_eq(r.out, info);
	cr_assert_str_empty(r.err);
	cr_assert_str_eq(line(0), "show info\n");
}

Test(sluicectl, error_answer_goes_to_stderr_and_exits_1)
{
	struct run r;

	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, "kill", "channel", "nope", NULL});
	cr_assert_eq(r.status, 1);
	cr_assert_str_empty(r.out);
	cr_assert_str_eq(r.err, "error: no such channel 'nope'\n");
}

Test(sluicectl, words_arrive_joined_by_single_spaces_and_a_newline)
{
	struct run r;

	run_ctl(&r, NULL,
		(const char *[]){"-s", fk.path, "show", "sockets", "sort", "outbound_bytes", "limit",
				 "5", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(nlines(), 1);
	cr_assert_str_eq(line(0), "show sockets sort outbound_bytes limit 5\n");
	cr_assert_str_eq(r.out, sockets_table);
}

Test(sluicectl, a_line_of_1024_bytes_is_sent_one_more_is_refused)
{
	char word[1025];
	struct run r;

	memset(word, 'w', 1023);
	word[1023] = '\0';
	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, word, NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_eq(strlen(line(0)), 1024);

	word[1023] = 'w';
	word[1024] = '\0';
	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, word, NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_eq(nlines(), 1, "the long line reached the server");
}

Test(sluicectl, unreachable_socket_exits_2_naming_the_path)
{
	char absent[128];
	struct run r;

	snprintf(absent, sizeof(absent), "%s/absent.sock", fk.dir);
	run_ctl(&r, NULL, (const char *[]){"-s", absent, "show", "info", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_str_empty(r.out);
	cr_assert_not_null(strstr(r.err, absent), "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.err, strerror(ENOENT)), "stderr: %s", r.err);

	/* top too, when the server was never there */
	run_ctl(&r, NULL, (const char *[]){"-s", absent, "top", "-n", "1", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, absent), "stderr: %s", r.err);
}

Test(sluicectl, s_and_environment_choose_the_socket)
{
	char absent[128];
	struct run r;

	snprintf(absent, sizeof(absent), "%s/absent.sock", fk.dir);

	run_ctl(&r, fk.path, (const char *[]){"show", "info", NULL});
	cr_assert_eq(r.status, 0, "SLUICE_STATS_SOCKET not used: %s", r.err);
	cr_assert_eq(nlines(), 1);

	run_ctl(&r, absent, (const char *[]){"-s", fk.path, "show", "info", NULL});
	cr_assert_eq(r.status, 0, "-s does not win over the environment: %s", r.err);
	cr_assert_eq(nlines(), 2);

	run_ctl(&r, absent, (const char *[]){"show", "info", NULL});
	cr_assert_eq(r.status, 2);
	cr_assert_not_null(strstr(r.err, absent), "stderr: %s", r.err);

	/* neither: the default, unless a real sluiced listens there */
	if (access("/tmp/sluiced.sock", F_OK) != 0) {
		run_ctl(&r, NULL, (const char *[]){"show", "info", NULL});
		cr_assert_eq(r.status, 2);
		cr_assert_not_null(strstr(r.err, "/tmp/sluiced.sock"), "stderr: %s", r.err);
	}
}

Test(sluicectl, top_prints_totals_rates_and_both_tables)
{
	char want[256];
	const char *second, *eol;
	double rate, want_rate;
	char unit;
	struct run r;

	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, "top", "-n", "2", "-i", "0.2", "-k", "3", NULL});
	cr_assert_eq(r.status, 0, "stderr: %s", r.err);
	cr_assert_str_empty(r.err);
	cr_assert_null(strstr(r.out, "\033["), "not a terminal: no screen clearing");

	cr_assert_eq(count(r.out, "sluiced 0.1.0-test  up 1d 02:03:04  connections 7  channels 3\n"), 2,
		     "%s", r.out);
	cr_assert_not_null(strstr(r.out, "  msgs_in 6000\n"), "first refresh: no rate\n%s", r.out);
	cr_assert_eq(count(r.out, "  msgs_out 50 (+0.0/s)\n"), 1, "%s", r.out);
	cr_assert_eq(count(r.out, "  inbound_pauses -\n"), 2, "missing key prints -\n%s", r.out);
	cr_assert_eq(count(r.out, "  channel_backlog_kills 5\n"), 2, "%s", r.out);

	second = strstr(r.out, "  msgs_in 11000 (+");
	cr_assert_not_null(second, "%s", r.out);
	eol = strchr(second, '\n');
	cr_assert_not_null(eol);
	cr_assert_eq(strncmp(eol - 3, "/s)", 3), 0, "%.*s", (int)(eol - second), second);
	/* 5000 more msgs_in over the time between the answers, as the server saw it */
	cr_assert_eq(sscanf(second, "  msgs_in 11000 (+%lf%c", &rate, &unit), 2);
	cr_assert_eq(unit, 'k', "%.*s", (int)(eol - second), second);
	want_rate = 5.0 / (fk.info_at[1] - fk.info_at[0]);
	cr_assert(rate > want_rate / 2 && rate < want_rate * 2, "%.*s, want about %.1fk/s",
		  (int)(eol - second), second, want_rate);

	snprintf(want, sizeof(want), "most congested sockets\n%s", sockets_table);
	cr_assert_eq(count(r.out, want), 2, "%s", r.out);
	snprintf(want, sizeof(want), "most congested channels\n%s", channels_table);
	cr_assert_eq(count(r.out, want), 2, "%s", r.out);

	cr_assert_eq(nlines(), 6);
	for (int i = 0; i < 6; i += 3) {
		cr_assert_str_eq(line(i), "show info\n");
		cr_assert_str_eq(line(i + 1), "show sockets sort backpressure limit 3\n");
		cr_assert_str_eq(line(i + 2), "show channels sort backlog limit 3\n");
	}
}

Test(sluicectl, top_stops_with_1_on_an_error_answer)
{
	struct run r;

	fk.fail_channels = true; /* before any connection: no race */
	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, "top", "-n", "3", "-i", "0.01", NULL});
	cr_assert_eq(r.status, 1);
	cr_assert_str_eq(r.err, "error: unknown sort field\n");
	cr_assert_null(strstr(r.out, "most congested"), "%s", r.out);
	cr_assert_eq(nlines(), 3);
}

Test(sluicectl, top_stops_with_1_when_the_server_goes)
{
	struct run r;

	fk.serve_max = 3; /* one refresh, then nothing listens */
	run_ctl(&r, NULL, (const char *[]){"-s", fk.path, "top", "-n", "5", "-i", "0.01", NULL});
	cr_assert_eq(r.status, 1, "stderr: %s", r.err);
	cr_assert_not_null(strstr(r.err, fk.path), "stderr: %s", r.err);
	cr_assert_eq(count(r.out, "most congested channels\n"), 1, "%s", r.out);
}

Test(sluicectl, help_names_every_command_and_option)
{
	static const char *const words[] = {
	    "help",         "show info",    "show sockets", "show socket ", "show channels",
	    "show threads", "disconnect",   "kill channel", "top",          "json",
	    "sort",         "limit",        "-s",           "--socket",     "SLUICE_STATS_SOCKET",
	    "-i SECONDS",   "-n ITERATIONS", "-k N",        "--help",       "--version",
	};
	struct run r, h;

	run_ctl(&r, NULL, (const char *[]){"--help", NULL});
	cr_assert_eq(r.status, 0);
	for (size_t i = 0; i < N(words); i++)
		cr_assert_not_null(strstr(r.out, words[i]), "--help lacks '%s'", words[i]);
	run_ctl(&h, NULL, (const char *[]){"-h", NULL});
	cr_assert_str_eq(h.out, r.out);
	cr_assert_eq(nlines(), 0);
}

Test(sluicectl, version)
{
	struct run r;

	run_ctl(&r, NULL, (const char *[]){"--version", NULL});
	cr_assert_eq(r.status, 0);
	cr_assert_str_eq(r.out, "sluicectl 0.2.0\n");
}

Test(sluicectl, usage_errors_exit_2_and_send_nothing)
{
	static const char *const cases[][6] = {
	    {NULL},
	    {"-s", NULL},         /* -s path -s */
	    {"--bogus", "show", "info", NULL},
	    {"-x", "show", "info", NULL},
	    {"show", "", NULL},
	    {"show", "in\nfo", NULL},
	    {"top", "-i", "0", NULL},
	    {"top", "-i", "abc", NULL},
	    {"top", "-n", "0", NULL},
	    {"top", "-k", "x", NULL},
	    {"top", "-k", NULL},
	    {"top", "now", NULL},
	};
	struct run r;

	for (size_t i = 0; i < N(cases); i++) {
		const char *args[8] = {"-s", fk.path};

		memcpy(args + 2, cases[i], sizeof(cases[i]));
		run_ctl(&r, NULL, args);
		cr_assert_eq(r.status, 2, "case %zu: status %d, stderr: %s", i, r.status, r.err);
		cr_assert_str_empty(r.out, "case %zu", i);
		cr_assert_not_null(strstr(r.err, "sluicectl: "), "case %zu: %s", i, r.err);
	}
	cr_assert_eq(nlines(), 0);
}
