/*
 * sluicectl: the operator's client of sluiced's stats socket (the spec shared
 * with broker/stats.c). It owns the client side of the exchange: connect,
 * write one command line, read the whole answer until the server closes;
 * connect, send and answer share one 5 s budget. Which commands exist is
 * the server's business: sluicectl sends the words it is given and the
 * server answers "error: ..." to what it does not know.
 *
 *   sluicectl show info        one exchange, the answer printed unchanged
 *   sluicectl top              per refresh: show info, show sockets, show
 *                              channels (three connections), one screen
 *
 * Exit status: 0 ok; 1 the answer was "error: ..." or the exchange failed
 * after connecting (a top refresh after the first included); 2 usage, or the
 * socket could not be reached.
 *
 * Threads: main only. The SIGINT handler of `top` sets stop_requested, the
 * one global, read by the loops that wait (recv, connect, the sleep).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define CTL_VERSION "0.2.0"
#define CTL_DEFAULT_SOCKET "/tmp/sluiced.sock"
#define CTL_TIMEOUT_S 5.0  /* connect + send + the whole answer */
#define CTL_LINE_MAX 1024  /* spec: a command line, its "\n" included */
#define CTL_INFO_MAX 64    /* show info keys kept by top; more are ignored */
#define CTL_READ_CHUNK 4096

#define N(a) (sizeof(a) / sizeof((a)[0]))

enum { EXIT_ANSWER = 1, EXIT_USAGE = 2 };

/* A signal handler can only say so through a global. */
static volatile sig_atomic_t stop_requested;

/* A whole answer, NUL-terminated (len does not count the NUL). */
struct answer {
	char *p;
	size_t len, cap;
};

enum ask_step { ASK_CONNECT, ASK_SEND, ASK_READ };

static void usage(FILE *f)
{
	fputs("usage: sluicectl [-s PATH] COMMAND [WORD...]\n"
	      "       sluicectl [-s PATH] top [-i SECONDS] [-n ITERATIONS] [-k N]\n"
	      "       sluicectl --help | --version\n"
	      "\n"
	      "Sends one command to sluiced's stats socket (the words joined by single\n"
	      "spaces) and prints the answer unchanged.\n"
	      "\n"
	      "commands, answered by sluiced:\n"
	      "  help                                        the server's own list\n"
	      "  show info [json]                            versions, counters, limits\n"
	      "  show sockets [sort FIELD] [limit N] [json]  a table, sorted descending by\n"
	      "                                              FIELD (backpressure), N rows (20)\n"
	      "  show socket ID [json]                       one socket\n"
	      "  show channels [sort FIELD] [limit N] [json] a table, by FIELD (backlog), N rows (20)\n"
	      "  show threads [json]                         reactors and workers\n"
	      "  disconnect ID [CODE]                        close a socket\n"
	      "  kill channel NAME                           drop a channel's backlog now\n"
	      "  close channel NAME                          kick its subscribers out after their queues\n"
	      "\n"
	      "command of sluicectl:\n"
	      "  top [-i SECONDS] [-n ITERATIONS] [-k N]     live view of show info and the N (10)\n"
	      "                                              most congested sockets and channels,\n"
	      "                                              every SECONDS (1, may be fractional),\n"
	      "                                              until ^C or ITERATIONS refreshes\n"
	      "\n"
	      "options:\n"
	      "  -s, --socket PATH   the stats socket; default $SLUICE_STATS_SOCKET,\n"
	      "                      else " CTL_DEFAULT_SOCKET "\n"
	      "  -h, --help          this text\n"
	      "      --version       print the version\n"
	      "\n"
	      "exit status: 0 ok; 1 the answer was \"error: ...\" (printed to stderr) or the\n"
	      "server failed mid-way; 2 usage error or the socket could not be reached.\n"
	      "Each exchange must finish within 5 s.\n",
	      f);
}

static int usage_error(const char *fmt, ...)
{
	va_list ap;

	fputs("sluicectl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputs("\nTry 'sluicectl --help'.\n", stderr);
	return EXIT_USAGE;
}

/* For getopt's ':' (missing value) and '?' (unknown option). */
static int bad_option(int c, char **argv)
{
	if (c == ':')
		return usage_error("option %s needs a value", argv[optind - 1]);
	if (optopt)
		return usage_error("unknown option -%c", optopt);
	return usage_error("unknown option %s", argv[optind - 1]);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Interrupted by SIGINT: give up. By anything else (SIGSTOP/SIGCONT): again. */
static bool retry(int err)
{
	return err == EINTR && !stop_requested;
}

/*
 * Arms SO_SNDTIMEO or SO_RCVTIMEO with the time left until deadline.
 * Returns 0, -ETIMEDOUT when none is left, or setsockopt's -errno.
 */
static int arm_timeout(int fd, int opt, double deadline)
{
	double left = deadline - now_s();
	struct timeval tv;

	if (left <= 0)
		return -ETIMEDOUT;
	tv.tv_sec = (time_t)left;
	tv.tv_usec = (suseconds_t)((left - (double)tv.tv_sec) * 1e6);
	if (tv.tv_sec == 0 && tv.tv_usec == 0)
		tv.tv_usec = 1; /* zero would mean no timeout at all */
	return setsockopt(fd, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

/* Room for at least CTL_READ_CHUNK more bytes and the NUL. 0 or -ENOMEM. */
static int answer_reserve(struct answer *a)
{
	size_t cap = a->cap ? a->cap : 2 * CTL_READ_CHUNK;
	char *p;

	if (a->cap - a->len > CTL_READ_CHUNK)
		return 0;
	while (cap - a->len <= CTL_READ_CHUNK)
		cap *= 2;
	p = realloc(a->p, cap);
	if (!p)
		return -ENOMEM;
	a->p = p;
	a->cap = cap;
	return 0;
}

static bool answer_is_error(const struct answer *a)
{
	return a->len >= 7 && memcmp(a->p, "error: ", 7) == 0;
}

static int connect_path(int fd, const char *path, double deadline)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	size_t n = strlen(path);
	int err;

	if (n >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, n + 1);
	do {
		err = arm_timeout(fd, SO_SNDTIMEO, deadline);
		if (err)
			return err;
		err = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) ? -errno : 0;
	} while (err && retry(-err));
	return err;
}

static int send_all(int fd, const char *p, size_t n, double deadline)
{
	while (n) {
		ssize_t k;
		int err = arm_timeout(fd, SO_SNDTIMEO, deadline);

		if (err)
			return err;
		k = send(fd, p, n, MSG_NOSIGNAL);
		if (k < 0 && retry(errno))
			continue;
		if (k < 0)
			return -errno;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* Reads until the server closes. An empty answer is -ENODATA. */
static int read_all(int fd, struct answer *a, double deadline)
{
	for (;;) {
		ssize_t k;
		int err = answer_reserve(a);

		if (!err)
			err = arm_timeout(fd, SO_RCVTIMEO, deadline);
		if (err)
			return err;
		k = recv(fd, a->p + a->len, a->cap - a->len - 1, 0);
		if (k < 0 && retry(errno))
			continue;
		if (k < 0)
			return -errno;
		if (k == 0)
			break;
		a->len += (size_t)k;
	}
	a->p[a->len] = '\0';
	return a->len ? 0 : -ENODATA;
}

/*
 * One exchange: sends line (which ends in "\n") to the stats socket at path
 * and reads the whole answer into a, replacing what a held.
 * Returns 0, or -errno with *step naming the step that failed: -ETIMEDOUT
 * when the 5 s ran out, -EINTR only when stop_requested, -ENODATA when the
 * server closed without a word.
 */
static int ask(const char *path, const char *line, struct answer *a, enum ask_step *step)
{
	double deadline = now_s() + CTL_TIMEOUT_S;
	int fd, err;

	a->len = 0;
	*step = ASK_CONNECT;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	err = connect_path(fd, path, deadline);
	if (!err) {
		*step = ASK_SEND;
		err = send_all(fd, line, strlen(line), deadline);
	}
	if (!err) {
		*step = ASK_READ;
		err = read_all(fd, a, deadline);
	}
	close(fd);
	/* a timed-out socket call says EAGAIN */
	return err == -EAGAIN || err == -EWOULDBLOCK ? -ETIMEDOUT : err;
}

/* Says what failed, once; returns the exit status it deserves. */
static int ask_failed(const char *path, enum ask_step step, int err)
{
	static const char *const what[] = {
	    [ASK_CONNECT] = "cannot connect to",
	    [ASK_SEND] = "cannot send to",
	    [ASK_READ] = "no answer from",
	};

	fprintf(stderr, "sluicectl: %s %s: %s\n", what[step], path, strerror(-err));
	return step == ASK_CONNECT ? EXIT_USAGE : EXIT_ANSWER;
}

/*
 * Joins words with single spaces and a final "\n" into line (CTL_LINE_MAX + 1
 * bytes). Returns 0 or the usage error's exit status, after saying why.
 */
static int join_words(char *line, int argc, char **argv)
{
	size_t len = 0;

	for (int i = 0; i < argc; i++) {
		size_t n = strlen(argv[i]);

		if (n == 0)
			return usage_error("command word %d is empty", i + 1);
		for (size_t j = 0; j < n; j++)
			if ((unsigned char)argv[i][j] < 0x20 || argv[i][j] == 0x7f)
				return usage_error("command word %d holds a control character", i + 1);
		if (len + (i > 0) + n + 1 > CTL_LINE_MAX)
			return usage_error("command longer than %d bytes", CTL_LINE_MAX - 1);
		if (i > 0)
			line[len++] = ' ';
		memcpy(line + len, argv[i], n);
		len += n;
	}
	memcpy(line + len, "\n", 2);
	return 0;
}

static int flush_stdout(void)
{
	if (fflush(stdout) == 0)
		return 0;
	fprintf(stderr, "sluicectl: writing the answer: %s\n", strerror(errno));
	return EXIT_ANSWER;
}

static int run_command(const char *path, int argc, char **argv)
{
	char line[CTL_LINE_MAX + 1];
	struct answer a = {0};
	enum ask_step step;
	int rc = join_words(line, argc, argv);

	if (rc)
		return rc;
	rc = ask(path, line, &a, &step);
	if (rc) {
		rc = ask_failed(path, step, rc);
	} else if (answer_is_error(&a)) {
		fwrite(a.p, 1, a.len, stderr);
		rc = EXIT_ANSWER;
	} else {
		fwrite(a.p, 1, a.len, stdout);
		rc = flush_stdout();
	}
	free(a.p);
	return rc;
}

/* ---- top ---------------------------------------------------------------- */

struct top_opts {
	double interval;       /* seconds between refreshes */
	uint64_t iterations;   /* 0: until ^C */
	unsigned k;            /* rows per table */
};

/* "key: value" lines of show info; pointers into the answer, cut in place. */
struct info {
	int n;
	const char *key[CTL_INFO_MAX];
	const char *val[CTL_INFO_MAX];
};

static const char *const totals[] = {
    "msgs_in", "msgs_out", "bytes_in", "bytes_out", "msgs_dropped", "publishes",
};

static const char *const limit_counters[] = {
    "slow_consumer_disconnects", "slow_consumer_drops",   "backpressure_disconnects",
    "rate_limit_disconnects",    "channel_backlog_kills", "inbound_pauses",
};

struct top_state {
	struct answer info, sockets, channels;
	uint64_t refreshes;
	double prev_t;                     /* when the last show info came back */
	uint64_t prev[N(totals)];
	bool have_prev[N(totals)];
};

static bool parse_u64(const char *s, uint64_t *v)
{
	char *end;
	unsigned long long x;

	if (*s < '0' || *s > '9')
		return false;
	errno = 0;
	x = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*v = x;
	return true;
}

static void info_parse(struct info *in, char *text)
{
	in->n = 0;
	while (*text && in->n < CTL_INFO_MAX) {
		char *nl = strchr(text, '\n');
		char *next = nl ? nl + 1 : text + strlen(text);
		char *colon;

		if (nl)
			*nl = '\0';
		colon = strchr(text, ':');
		if (colon && colon != text) {
			*colon = '\0';
			in->key[in->n] = text;
			in->val[in->n] = colon + 1 + strspn(colon + 1, " ");
			in->n++;
		}
		text = next;
	}
}

/* The value of key, or "-" when show info did not say; never NULL. */
static const char *info_get(const struct info *in, const char *key)
{
	for (int i = 0; i < in->n; i++)
		if (strcmp(in->key[i], key) == 0)
			return in->val[i];
	return "-";
}

/* 4234.5 -> "4.2k"; below 1000 one decimal, no suffix. */
static void format_rate(char *buf, size_t size, double r)
{
	static const char suffix[] = {'k', 'M', 'G'};
	int i = -1;

	while (r >= 1000 && i + 1 < (int)N(suffix)) {
		r /= 1000;
		i++;
	}
	if (i < 0)
		snprintf(buf, size, "%.1f", r);
	else
		snprintf(buf, size, "%.1f%c", r, suffix[i]);
}

static void format_uptime(char *buf, size_t size, const char *v)
{
	uint64_t s;

	if (!parse_u64(v, &s))
		snprintf(buf, size, "%s", v);
	else if (s >= 86400)
		snprintf(buf, size, "%llud %02u:%02u:%02u", (unsigned long long)(s / 86400),
			 (unsigned)(s / 3600 % 24), (unsigned)(s / 60 % 60), (unsigned)(s % 60));
	else
		snprintf(buf, size, "%02u:%02u:%02u", (unsigned)(s / 3600), (unsigned)(s / 60 % 60),
			 (unsigned)(s % 60));
}

/* The totals with their rates since the previous refresh; remembers these. */
static void print_totals(struct top_state *st, const struct info *in, double t)
{
	double dt = t - st->prev_t;

	puts("\ntotals");
	for (size_t i = 0; i < N(totals); i++) {
		const char *v = info_get(in, totals[i]);
		uint64_t x = 0;
		bool have = parse_u64(v, &x);

		printf("  %s %s", totals[i], v);
		if (have && st->have_prev[i] && x >= st->prev[i] && dt > 0) {
			char rate[32];

			format_rate(rate, sizeof(rate), (double)(x - st->prev[i]) / dt);
			printf(" (+%s/s)", rate);
		}
		putchar('\n');
		st->prev[i] = x;
		st->have_prev[i] = have;
	}
	st->prev_t = t;
}

static void print_screen(struct top_state *st, const struct info *in, double t, bool tty)
{
	char up[48];

	if (tty)
		fputs("\033[H\033[2J", stdout);
	else if (st->refreshes > 0)
		putchar('\n');
	format_uptime(up, sizeof(up), info_get(in, "uptime_s"));
	printf("sluiced %s  up %s  connections %s  channels %s\n", info_get(in, "version"), up,
	       info_get(in, "connections"), info_get(in, "channels"));
	print_totals(st, in, t);
	puts("\nlimits");
	for (size_t i = 0; i < N(limit_counters); i++)
		printf("  %s %s\n", limit_counters[i], info_get(in, limit_counters[i]));
	puts("\nmost congested sockets");
	fwrite(st->sockets.p, 1, st->sockets.len, stdout);
	puts("\nmost congested channels");
	fwrite(st->channels.p, 1, st->channels.len, stdout);
}

/*
 * One refresh: three exchanges, then one screen. Returns 0, or the exit
 * status after saying what failed; 0 as well when ^C cut it short.
 */
static int top_refresh(const char *path, const struct top_opts *o, struct top_state *st, bool tty)
{
	char q_sockets[64], q_channels[64];
	struct {
		const char *line;
		struct answer *a;
	} q[] = {
	    {"show info\n", &st->info},
	    {q_sockets, &st->sockets},
	    {q_channels, &st->channels},
	};
	struct info in;
	double t = 0;

	snprintf(q_sockets, sizeof(q_sockets), "show sockets sort backpressure limit %u\n", o->k);
	snprintf(q_channels, sizeof(q_channels), "show channels sort backlog limit %u\n", o->k);
	for (size_t i = 0; i < N(q); i++) {
		enum ask_step step;
		int err = ask(path, q[i].line, q[i].a, &step);

		if (err == -EINTR && stop_requested)
			return 0;
		if (err) {
			int rc = ask_failed(path, step, err);
			/* a server that was never there is unreachable; one that left, failed */
			return st->refreshes == 0 ? rc : EXIT_ANSWER;
		}
		if (answer_is_error(q[i].a)) {
			fwrite(q[i].a->p, 1, q[i].a->len, stderr);
			return EXIT_ANSWER;
		}
		if (i == 0)
			t = now_s();
	}
	info_parse(&in, st->info.p);
	print_screen(st, &in, t, tty);
	st->refreshes++;
	return flush_stdout();
}

static void on_sigint(int sig)
{
	(void)sig;
	stop_requested = 1;
}

/* Sleeps until t (CLOCK_MONOTONIC seconds) or ^C. A ^C that lands just
 * before the sleep starts is seen one interval late. */
static void sleep_until(double t)
{
	struct timespec ts = {.tv_sec = (time_t)t};

	ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
	while (!stop_requested &&
	       clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Returns 0 or the exit status after saying why. */
static int top_parse(int argc, char **argv, struct top_opts *o)
{
	int c;

	*o = (struct top_opts){.interval = 1.0, .iterations = 0, .k = 10};
	optind = 0; /* glibc: start afresh on this argv */
	while ((c = getopt(argc, argv, "+:hi:n:k:")) != -1) {
		char *end;
		uint64_t v;

		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'i':
			errno = 0;
			o->interval = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->interval >= 0.01 && o->interval <= 86400))
				return usage_error("top -i wants seconds from 0.01 to 86400, not '%s'", optarg);
			break;
		case 'n':
			if (!parse_u64(optarg, &v) || v == 0)
				return usage_error("top -n wants a positive count, not '%s'", optarg);
			o->iterations = v;
			break;
		case 'k':
			if (!parse_u64(optarg, &v) || v == 0 || v > 100000)
				return usage_error("top -k wants rows from 1 to 100000, not '%s'", optarg);
			o->k = (unsigned)v;
			break;
		default:
			return bad_option(c, argv);
		}
	}
	if (optind < argc)
		return usage_error("top takes options only, not '%s'", argv[optind]);
	return 0;
}

static int top_main(const char *path, int argc, char **argv)
{
	struct sigaction sa = {.sa_handler = on_sigint}; /* no SA_RESTART: ^C ends a wait */
	struct top_state st = {0};
	struct top_opts o;
	bool tty = isatty(STDOUT_FILENO);
	int rc = top_parse(argc, argv, &o);

	if (rc)
		return rc;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	setvbuf(stdout, NULL, _IOFBF, 1 << 16); /* one write per screen: no flicker */
	while (!stop_requested) {
		double start = now_s();

		rc = top_refresh(path, &o, &st, tty);
		if (rc || (o.iterations && st.refreshes >= o.iterations))
			break;
		sleep_until(start + o.interval);
	}
	free(st.info.p);
	free(st.sockets.p);
	free(st.channels.p);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {"socket", required_argument, NULL, 's'},
	    {0},
	};
	const char *path = getenv("SLUICE_STATS_SOCKET");
	int c;

	if (!path || !*path)
		path = CTL_DEFAULT_SOCKET;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:hs:", longopts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			puts("sluicectl " CTL_VERSION);
			return 0;
		case 's':
			path = optarg;
			break;
		default:
			return bad_option(c, argv);
		}
	}
	if (!*path)
		return usage_error("-s wants a path");
	if (optind == argc)
		return usage_error("no command");
	if (strcmp(argv[optind], "top") == 0)
		return top_main(path, argc - optind, argv + optind);
	return run_command(path, argc - optind, argv + optind);
}
