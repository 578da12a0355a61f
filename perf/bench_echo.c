/*
 * bench_echo: a WebSocket echo load generator. It opens C connections with a
 * real HTTP/1.1 upgrade, keeps K messages in flight on each, checks every
 * echo and reports messages/s, payload MB/s and the CPU both sides burnt:
 *
 *   bench_echo --host 127.0.0.1 --port P [--path /socketcluster/]
 *              [--connections 100] [--pipeline 32] [--size 64] [--duration 5]
 *              [--warmup 1] [--threads 1] [--binary] [--label server]
 *              [--server-pid PID] [--json]
 *
 *   bench=echo target=server size=64 connections=100 pipeline=32 msgs=N secs=S
 *   msgs_per_s=X mb_per_s=Y client_cpu_pct=Z server_cpu_pct=W     (one line)
 *
 * mb_per_s counts payload bytes echoed, one direction, in 10^6 bytes. CPU
 * percentages are of one core, so T busy threads can read up to T x 100;
 * server_cpu_pct (utime + stime of the whole process from /proc) appears
 * only with --server-pid. A progress line goes to stderr each second. Exit
 * status 1 when an echo differed from what was sent, a connection failed or
 * the server closed one, with the reason on stderr; 2 for bad options.
 *
 * Threads: the main thread parses options, starts T workers, samples the
 * counters and CPU times once a second and prints the report. Each worker
 * owns C/T connections and its epoll outright (echo_client.h: how a
 * connection keeps off the CPU); what crosses threads is each worker's echo
 * counter, the stop and failed flags, and the error text, read only after
 * the worker is joined.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>

#include "echo_client.h"
#include "http.h"

#define MAX_EVENTS 256
/* Refuse a run whose send rings would not fit comfortably in memory. */
#define RING_BYTES_MAX (2ull << 30)

struct opts {
	struct echo_cfg cfg;
	const char *label;
	unsigned conns;
	unsigned threads;
	double duration;
	double warmup;
	pid_t server_pid; /* 0: no server CPU figure */
	bool json;
};

/* What the main thread and the workers share: read-only once they start,
 * apart from the two flags. */
struct run {
	const struct opts *o;
	pthread_barrier_t start;
	_Atomic bool stop;
	_Atomic bool failed;
};

struct worker {
	/* ctx.echoed as of the last loop turn, for the main thread to sample */
	_Alignas(64) _Atomic uint64_t echoed;
	_Alignas(64) struct run *run;
	pthread_t tid;
	unsigned first_id;
	unsigned nconns;
	unsigned opened; /* conns[0..opened) need echo_conn_deinit */
	struct echo_conn *conns;
	struct echo_ctx ctx;
};

static int worker_setup(struct worker *w)
{
	if (echo_ctx_init(&w->ctx, &w->run->o->cfg) < 0)
		return -1;
	w->conns = calloc(w->nconns, sizeof(*w->conns));
	if (!w->conns) {
		snprintf(w->ctx.err, sizeof(w->ctx.err), "out of memory for %u connections",
			 w->nconns);
		return -1;
	}
	for (unsigned i = 0; i < w->nconns; i++) {
		w->opened = i + 1; /* a half set up connection needs its deinit too */
		if (echo_conn_init(&w->ctx, &w->conns[i], w->first_id + i) < 0)
			return -1;
	}
	return 0;
}

static int worker_loop(struct worker *w)
{
	struct epoll_event evs[MAX_EVENTS];

	for (unsigned i = 0; i < w->nconns; i++)
		if (echo_conn_pump(&w->ctx, &w->conns[i]) < 0)
			return -1;
	/* relaxed: the flag only ends the loop; nothing is published with it */
	while (!atomic_load_explicit(&w->run->stop, memory_order_relaxed)) {
		int n = epoll_wait(w->ctx.ep, evs, MAX_EVENTS, 100);

		if (n < 0 && errno != EINTR) {
			snprintf(w->ctx.err, sizeof(w->ctx.err), "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			struct echo_conn *c = evs[i].data.ptr;

			if ((evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) &&
			    echo_conn_read(&w->ctx, c) < 0)
				return -1;
			if (echo_conn_pump(&w->ctx, c) < 0)
				return -1;
		}
		/* relaxed: a statistic the main thread samples; it guards no data */
		atomic_store_explicit(&w->echoed, w->ctx.echoed, memory_order_relaxed);
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int r = worker_setup(w);

	/* relaxed: the main thread polls the flag; it reads the error text
	 * after pthread_join, which orders it */
	if (r < 0)
		atomic_store_explicit(&w->run->failed, true, memory_order_relaxed);
	/* every worker arrives, set up or failed, so the main thread can decide */
	pthread_barrier_wait(&w->run->start);
	if (r == 0 && !atomic_load_explicit(&w->run->stop, memory_order_relaxed) &&
	    worker_loop(w) < 0)
		atomic_store_explicit(&w->run->failed, true, memory_order_relaxed);
	for (unsigned i = 0; i < w->opened; i++)
		echo_conn_deinit(&w->conns[i]);
	free(w->conns);
	echo_ctx_deinit(&w->ctx);
	return NULL;
}

/* ---- the main thread: options, sampling, report ------------------------ */

struct sample {
	double t;
	uint64_t echoed;
	double client_cpu; /* seconds */
	double server_cpu; /* seconds; negative when unknown */
};

static void take_sample(const struct opts *o, struct worker *ws, struct sample *s)
{
	struct rusage ru;

	s->t = bench_now();
	s->echoed = 0;
	for (unsigned i = 0; i < o->threads; i++)
		s->echoed += atomic_load_explicit(&ws[i].echoed, memory_order_relaxed);
	getrusage(RUSAGE_SELF, &ru);
	s->client_cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
			(double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	s->server_cpu = o->server_pid ? bench_proc_cpu(o->server_pid) : -1;
}

/* Sleeps until `until` (CLOCK_MONOTONIC seconds). Returns false if a worker
 * failed; it is looked at every 100 ms. */
static bool wait_until(struct run *run, double until)
{
	for (;;) {
		double left = until - bench_now();
		struct timespec ts;

		if (atomic_load_explicit(&run->failed, memory_order_relaxed))
			return false;
		if (left <= 0)
			return true;
		if (left > 0.1)
			left = 0.1;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)(left * 1e9);
		nanosleep(&ts, NULL);
	}
}

static void report(const struct opts *o, const struct sample *a, const struct sample *b)
{
	double secs = b->t - a->t;
	uint64_t msgs = b->echoed - a->echoed;
	double rate = (double)msgs / secs, mb = (double)msgs * (double)o->cfg.size / secs / 1e6;
	double ccpu = (b->client_cpu - a->client_cpu) / secs * 100;
	double scpu = (b->server_cpu - a->server_cpu) / secs * 100;
	bool have_server = a->server_cpu >= 0 && b->server_cpu >= 0;

	/* a pid of a wrapper (a shell, npm) that forked the server reads 0 */
	if (have_server && b->server_cpu == a->server_cpu)
		fprintf(stderr,
			"bench_echo: --server-pid %d used no CPU while echoing; is it the "
			"server itself and not a wrapper that started it?\n",
			(int)o->server_pid);

	if (o->json) {
		printf("{\"bench\":\"echo\",\"target\":\"%s\",\"size\":%zu,\"connections\":%u,"
		       "\"pipeline\":%u,\"msgs\":%llu,\"secs\":%.3f,\"msgs_per_s\":%.0f,"
		       "\"mb_per_s\":%.2f,\"client_cpu_pct\":%.1f",
		       o->label, o->cfg.size, o->conns, o->cfg.pipeline, (unsigned long long)msgs,
		       secs, rate, mb, ccpu);
		if (have_server)
			printf(",\"server_cpu_pct\":%.1f", scpu);
		printf("}\n");
	} else {
		printf(
		    "bench=echo target=%s size=%zu connections=%u pipeline=%u msgs=%llu secs=%.3f "
		    "msgs_per_s=%.0f mb_per_s=%.2f client_cpu_pct=%.1f",
		    o->label, o->cfg.size, o->conns, o->cfg.pipeline, (unsigned long long)msgs,
		    secs, rate, mb, ccpu);
		if (have_server)
			printf(" server_cpu_pct=%.1f", scpu);
		printf("\n");
	}
	fflush(stdout);
}

static void usage(FILE *f)
{
	fprintf(f, "usage: bench_echo --host IPV4 --port P [--path /socketcluster/]\n"
		   "                  [--connections 100] [--pipeline 32] [--size 64]\n"
		   "                  [--duration 5] [--warmup 1] [--threads 1] [--binary]\n"
		   "                  [--label server] [--server-pid PID] [--json]\n");
}

/* Strict unsigned option: the whole string, within [lo, hi]. */
static bool parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		       unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && !*end && !errno && *out >= lo && *out <= hi;
}

static const char *opt_name(const struct option *longs, int val)
{
	for (; longs->name; longs++)
		if (longs->val == val)
			return longs->name;
	return "?";
}

static int parse_opts(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"path", required_argument, NULL, 'P'},
	    {"connections", required_argument, NULL, 'c'},
	    {"pipeline", required_argument, NULL, 'k'},
	    {"size", required_argument, NULL, 's'},
	    {"duration", required_argument, NULL, 'd'},
	    {"warmup", required_argument, NULL, 'W'},
	    {"threads", required_argument, NULL, 't'},
	    {"binary", no_argument, NULL, 'b'},
	    {"label", required_argument, NULL, 'l'},
	    {"server-pid", required_argument, NULL, 'S'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'H'},
	    {0},
	};
	unsigned long long v;
	char *end;
	int opt;

	*o = (struct opts){.cfg = {.path = HTTP_DEFAULT_WS_PATH, .pipeline = 32, .size = 64},
			   .label = "server",
			   .conns = 100,
			   .threads = 1,
			   .duration = 5,
			   .warmup = 1};
	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'h':
			o->cfg.host = optarg;
			break;
		case 'p':
			ok = parse_uint(optarg, 1, 65535, &v);
			o->cfg.port = (unsigned)v;
			break;
		case 'P':
			o->cfg.path = optarg;
			ok = optarg[0] == '/' && !strpbrk(optarg, " \r\n");
			break;
		case 'c':
			ok = parse_uint(optarg, 1, 100000, &v);
			o->conns = (unsigned)v;
			break;
		case 'k':
			ok = parse_uint(optarg, 1, 65536, &v);
			o->cfg.pipeline = (unsigned)v;
			break;
		case 's':
			ok = parse_uint(optarg, ECHO_SEQ_LEN, 1ull << 30, &v);
			o->cfg.size = (size_t)v;
			break;
		case 't':
			ok = parse_uint(optarg, 1, 1024, &v);
			o->threads = (unsigned)v;
			break;
		case 'S':
			ok = parse_uint(optarg, 1, 1u << 30, &v);
			o->server_pid = (pid_t)v;
			break;
		case 'b':
			o->cfg.binary = true;
			break;
		case 'j':
			o->json = true;
			break;
		case 'l':
			o->label = optarg;
			/* one token in the line format and a plain JSON string */
			ok = optarg[0] && !strpbrk(optarg, " \t\r\n\"\\=");
			break;
		case 'd':
			o->duration = strtod(optarg, &end);
			ok = *end == '\0' && end != optarg && o->duration > 0;
			break;
		case 'W':
			o->warmup = strtod(optarg, &end);
			ok = *end == '\0' && end != optarg && o->warmup >= 0;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			return -EINVAL;
		}
		if (!ok) {
			fprintf(stderr, "bench_echo: bad value for --%s: %s\n",
				opt_name(longs, opt), optarg);
			return -EINVAL;
		}
	}
	if (optind != argc || !o->cfg.host || !o->cfg.port) {
		fprintf(stderr, "bench_echo: --host and --port are required\n");
		return -EINVAL;
	}
	o->cfg.addr.sin_family = AF_INET;
	o->cfg.addr.sin_port = htons((uint16_t)o->cfg.port);
	if (inet_pton(AF_INET, o->cfg.host, &o->cfg.addr.sin_addr) != 1) {
		fprintf(stderr, "bench_echo: --host must be an IPv4 address: %s\n", o->cfg.host);
		return -EINVAL;
	}
	if (o->threads > o->conns) {
		fprintf(stderr, "bench_echo: more threads (%u) than connections (%u)\n", o->threads,
			o->conns);
		return -EINVAL;
	}
	if ((unsigned long long)o->conns * o->cfg.pipeline * (o->cfg.size + WS_MAX_HEADER) >
	    RING_BYTES_MAX) {
		fprintf(stderr,
			"bench_echo: connections x pipeline x size is over %llu MiB of send "
			"rings; lower one of them\n",
			RING_BYTES_MAX >> 20);
		return -EINVAL;
	}
	if (o->server_pid && bench_proc_cpu(o->server_pid) < 0) {
		fprintf(stderr, "bench_echo: cannot read /proc/%d/stat\n", (int)o->server_pid);
		return -EINVAL;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct opts o;
	struct run run = {.o = &o};
	struct worker *ws = NULL;
	struct sample first = {0}, prev = {0}, now;
	uint8_t *filler = NULL;
	unsigned next_id = 0;
	int status = 1;

	if (parse_opts(argc, argv, &o) < 0) {
		usage(stderr);
		return 2;
	}
	filler = malloc(o.cfg.size);
	ws = calloc(o.threads, sizeof(*ws));
	if (!filler || !ws) {
		fprintf(stderr, "bench_echo: out of memory\n");
		goto out;
	}
	/* printable ASCII, so the same payload is a valid text message */
	for (size_t i = 0; i < o.cfg.size; i++)
		filler[i] = (uint8_t)('a' + i % 26);
	o.cfg.filler = filler;
	pthread_barrier_init(&run.start, NULL, o.threads + 1);

	for (unsigned i = 0; i < o.threads; i++) {
		ws[i].run = &run;
		ws[i].first_id = next_id;
		ws[i].nconns = o.conns / o.threads + (i < o.conns % o.threads);
		next_id += ws[i].nconns;
		if (pthread_create(&ws[i].tid, NULL, worker_main, &ws[i]) != 0) {
			/* the workers already started wait at a barrier that counts the
			 * missing ones too; leaving the process is what ends them */
			fprintf(stderr, "bench_echo: cannot start thread %u\n", i);
			exit(1);
		}
	}
	pthread_barrier_wait(&run.start);
	/* relaxed, both: the barrier orders them against the workers */
	if (atomic_load_explicit(&run.failed, memory_order_relaxed)) {
		atomic_store_explicit(&run.stop, true, memory_order_relaxed);
		goto join;
	}

	if (!wait_until(&run, bench_now() + o.warmup))
		goto stop;
	take_sample(&o, ws, &first);
	prev = first;
	for (double end = first.t + o.duration, tick = first.t + 1; prev.t < end; tick += 1) {
		if (!wait_until(&run, tick < end ? tick : end))
			goto stop;
		take_sample(&o, ws, &now);
		fprintf(stderr, "bench_echo: t=%.0fs msgs_per_s=%.0f mb_per_s=%.2f\n",
			now.t - first.t, (double)(now.echoed - prev.echoed) / (now.t - prev.t),
			(double)(now.echoed - prev.echoed) * (double)o.cfg.size / (now.t - prev.t) /
			    1e6);
		prev = now;
	}
	status = 0;
stop:
	/* relaxed: the workers only need to see it eventually; join orders the rest */
	atomic_store_explicit(&run.stop, true, memory_order_relaxed);
join:
	for (unsigned i = 0; i < o.threads; i++)
		pthread_join(ws[i].tid, NULL);
	for (unsigned i = 0; i < o.threads; i++)
		if (ws[i].ctx.err[0]) {
			fprintf(stderr, "bench_echo: %s\n", ws[i].ctx.err);
			status = 1;
		}
	if (status == 0) {
		if (prev.echoed == first.echoed) {
			fprintf(stderr, "bench_echo: no echo came back during the measurement\n");
			status = 1;
		} else {
			report(&o, &first, &prev);
		}
	}
	pthread_barrier_destroy(&run.start);
out:
	free(ws);
	free(filler);
	return status;
}
