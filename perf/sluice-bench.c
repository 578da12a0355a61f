/*
 * sluice-bench: the load generator of sluice. It speaks SocketCluster (as
 * socketcluster-client does, over WebSocket) to any SocketCluster server
 * (sluice, socketcluster-server), and NATS (its text protocol, over TCP or
 * over WebSocket) to nats-server; drives one scenario (ingest, fanout, slow,
 * rpc, connect); checks that every message and reply adds up; and prints
 * one line of figures (or one JSON object) with its own CPU time next to the
 * server's:
 *
 *   bench=sluice-bench scenario=rpc protocol=sc transport=ws target=server
 *   size=64 conns=4 inflight=8 requests=N requests_per_s=X p50_us=.. ...
 *   secs=S client_cpu_pct=Y server_cpu_pct=Z                     (one line)
 *
 * This file owns the options, the driver that steps a run through its
 * phases (sc_bench.h), the CPU samples and the report. The connections and
 * their loop are sc_bench_conn.c, the protocols sc_bench_sc.c and
 * sc_bench_nats.c, the scenarios sc_bench_pubsub.c, sc_bench_rpc.c and
 * sc_bench_connect.c.
 *
 * Threads: one. The machines have 2 cores and the server needs them more:
 * one thread that batches (one send per connection per loop turn, one recv
 * per readable event) is cheaper than several that would contend with it.
 */
#include "bench.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#include "sc_bench.h"

#define MSG_MIN (64u * 1024)

static const struct scb_scenario *const scenarios[] = {&scb_ingest, &scb_fanout, &scb_slow,
							&scb_rpc, &scb_connect};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-bench --scenario NAME --port P [options]\n"
		"\n"
		"Load generator for message brokers. --protocol sc (default) speaks\n"
		"SocketCluster over WebSocket to sluice or socketcluster-server: HTTP\n"
		"upgrade on --path, #handshake (cid 1) and its reply, server pings\n"
		"answered (\"\" for \"\", #2 for #1, pong for ping), one text frame per\n"
		"packet, every frame masked. --protocol nats speaks the NATS text protocol\n"
		"to nats-server, over TCP (--transport tcp, the server's client port) or\n"
		"over WebSocket (--transport ws, its websocket { no_tls: true } port; one\n"
		"binary frame per flush): CONNECT with verbose false, PUB, SUB, MSG, and\n"
		"PING/PONG as the barrier. One thread; writes are batched, one send per\n"
		"connection per loop turn. Every message is checked: none missing, none\n"
		"out of order, none altered (payloads carry sequence marks).\n"
		"\n"
		"scenarios:\n");
	for (size_t i = 0; i < NSCENARIOS; i++)
		fputs(scenarios[i]->help, f);
	fprintf(f,
		"\n"
		"options (default in parentheses):\n"
		"  --scenario NAME    ingest, fanout, slow, rpc or connect (required)\n"
		"  --protocol NAME    sc (SocketCluster) or nats (sc)\n"
		"  --transport NAME   ws (WebSocket) or tcp (plain TCP: nats only) (ws)\n"
		"  --host IPV4        server address (127.0.0.1); a server on 127.x is reached\n"
		"                     from source addresses 127.0.0.1..N, 4000 connections\n"
		"                     each (connect() slows down once most of the ephemeral\n"
		"                     ports of one address are taken)\n"
		"  --port P           server port (required)\n"
		"  --path PATH        WebSocket path (sc: /socketcluster/, nats: /)\n"
		"  --size BYTES       payload bytes per message, %d to 16 MiB; SocketCluster\n"
		"                     sends them as a JSON string (64)\n"
		"  --duration S       seconds of load (5); the drain that follows counts in\n"
		"                     the rates\n"
		"  --count N          N messages (ingest, fanout, slow: published in all) or\n"
		"                     N requests (rpc) instead of --duration (0: off)\n"
		"  --timeout S        limit on subscribing and draining, on any stretch of\n"
		"                     connecting or running without progress (10)\n"
		"  --channel NAME     the channel (NATS: subject) of ingest, fanout and slow;\n"
		"                     with --channels C > 1, NAME.0 .. NAME.C-1 (bench)\n"
		"  --channels C       ingest, fanout: channels the publishers spread over (1)\n"
		"  --publishers P     ingest: publisher connections (4); fanout: (1)\n"
		"  --subscribers S    fanout: subscriber connections in all; slow: besides\n"
		"                     the stalled one (1)\n"
		"  --window W         fanout, slow: most messages a publisher has published\n"
		"                     and not yet received by the slowest subscriber of its\n"
		"                     channel (1000 per subscriber, shared by the publishers\n"
		"                     of its channel, at most 1 MiB of messages per subscriber\n"
		"                     and 256 MiB in all, at least 16: 1000 for 1 publisher\n"
		"                     of 64 B, 63 for 16 KiB; sluiced cuts off a subscriber\n"
		"                     with 1024 messages queued)\n"
		"  --conns C          rpc: requester connections (1); connect: connections (1000)\n"
		"  --inflight K       rpc: requests in flight per connection (1; 64 with --rate)\n"
		"  --rate R           rpc: R requests/s in all on a fixed schedule, latency\n"
		"                     from each one's due time (0: closed loop)\n"
		"  --hold S           connect: seconds to hold the connections open (1)\n"
		"  --connecting K     connections being opened at once, in every scenario (256)\n"
		"  --server-pid PID   also report that process's CPU (/proc/PID/stat) and,\n"
		"                     for connect, its memory (/proc/PID/status VmRSS)\n"
		"  --label NAME       the target's name in the report (server)\n"
		"  --json             one JSON object on stdout instead of the key=value line\n"
		"  --help             this text\n"
		"\n"
		"Output: one line on stdout, key=value pairs (or --json), e.g.\n"
		"  bench=sluice-bench scenario=ingest protocol=sc transport=ws target=server\n"
		"  size=64 publishers=4 channels=1 msgs=N msgs_per_s=X mb_per_s=Y secs=S\n"
		"  client_cpu_pct=C server_cpu_pct=D\n"
		"Rates and CPU cover the run and its drain (every message counted was\n"
		"processed); for connect, the connecting. CPU percentages are of one core;\n"
		"server_cpu_pct (utime + stime of the whole process) only with --server-pid.\n"
		"A progress line goes to stderr each second. The soft limit of open files\n"
		"is raised to the hard one. Exit status 0; 1 when the run failed (refused\n"
		"or closed connection, a message missing, out of order or altered, a\n"
		"timeout), with the reason on stderr; 2 for bad options.\n",
		SCB_SEQ_LEN);
}

/* ---- options ------------------------------------------------------------- */

/* Strict unsigned option: the whole string, within [lo, hi]. */
static bool parse_uint(const char *s, unsigned long long lo, unsigned long long hi,
		       unsigned long long *out)
{
	char *end;

	errno = 0;
	*out = strtoull(s, &end, 10);
	return s[0] >= '0' && s[0] <= '9' && !*end && !errno && *out >= lo && *out <= hi;
}

static bool parse_secs(const char *s, double *out)
{
	char *end;

	*out = strtod(s, &end);
	return end != s && !*end && isfinite(*out) && *out > 0 && *out <= 86400;
}

/* A name that goes into JSON strings, key=value lines and NATS subjects
 * unescaped. */
static bool plain_name(const char *s)
{
	if (!*s || strlen(s) > 100)
		return false;
	for (; *s; s++)
		if (*s <= ' ' || *s == '"' || *s == '\\' || *s == '=' || *s == 0x7f)
			return false;
	return true;
}

static const char *opt_name(const struct option *longs, int val)
{
	for (; longs->name; longs++)
		if (longs->val == val)
			return longs->name;
	return "?";
}

/* The defaults that depend on the scenario or the protocol, and the checks
 * across options. */
static int settle_opts(struct scb_opts *o, const struct scb_scenario *sc, const char *path)
{
	if (!o->publishers)
		o->publishers = sc == &scb_ingest ? 4 : 1;
	if (!o->conns)
		o->conns = sc == &scb_connect ? 1000 : 1;
	if (!o->inflight)
		o->inflight = o->rate ? 64 : 1;
	if (o->target.transport == SCB_TCP && o->target.proto != &scb_proto_nats) {
		fprintf(stderr, "sluice-bench: --transport tcp is for --protocol nats\n");
		return -EINVAL;
	}
	if (o->rate && sc != &scb_rpc) {
		fprintf(stderr, "sluice-bench: --rate is for the rpc scenario\n");
		return -EINVAL;
	}
	if (o->channels > 1 && sc != &scb_ingest && sc != &scb_fanout) {
		fprintf(stderr, "sluice-bench: --channels is for ingest and fanout\n");
		return -EINVAL;
	}
	o->target.path = path ? path : o->target.proto->default_path;
	/* connect() finds a free ephemeral port slowly once most of one source
	 * address's are taken (about 14,000 here): a loopback target gets its
	 * connections from 127.0.0.1..N, 4,000 each */
	if ((ntohl(o->target.addr.sin_addr.s_addr) >> 24) == 127)
		o->target.sources = (sc->nconns(o) + 3999) / 4000;
	/* a reply echoes a payload; leave room for its envelope and a batch */
	o->target.max_msg = 2 * o->size + 4096 > MSG_MIN ? 2 * o->size + 4096 : MSG_MIN;
	return 0;
}

static int parse_opts(int argc, char **argv, struct scb_opts *o, const struct scb_scenario **sc)
{
	static const struct option longs[] = {
	    {"scenario", required_argument, NULL, 'S'},
	    {"protocol", required_argument, NULL, 'o'},
	    {"transport", required_argument, NULL, 't'},
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"path", required_argument, NULL, 'P'},
	    {"size", required_argument, NULL, 's'},
	    {"duration", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"channel", required_argument, NULL, 'c'},
	    {"channels", required_argument, NULL, 'a'},
	    {"publishers", required_argument, NULL, 'u'},
	    {"subscribers", required_argument, NULL, 'b'},
	    {"window", required_argument, NULL, 'w'},
	    {"conns", required_argument, NULL, 'C'},
	    {"inflight", required_argument, NULL, 'k'},
	    {"rate", required_argument, NULL, 'r'},
	    {"hold", required_argument, NULL, 'H' + 256},
	    {"connecting", required_argument, NULL, 'g'},
	    {"server-pid", required_argument, NULL, 'i'},
	    {"label", required_argument, NULL, 'l'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'H'},
	    {0},
	};
	unsigned long long v = 0;
	const char *path = NULL;
	int opt;

	*o = (struct scb_opts){
	    .label = "server",
	    .channel = "bench",
	    .target = {.host = "127.0.0.1", .transport = SCB_WS, .proto = &scb_proto_sc},
	    .size = 64,
	    .duration = 5,
	    .timeout = 10,
	    .channels = 1,
	    .subscribers = 1,
	    .hold = 1,
	    .connecting = 256,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'S':
			o->scenario = optarg;
			break;
		case 'o':
			ok = !strcmp(optarg, "sc") || !strcmp(optarg, "nats");
			o->target.proto = !strcmp(optarg, "nats") ? &scb_proto_nats : &scb_proto_sc;
			break;
		case 't':
			ok = !strcmp(optarg, "ws") || !strcmp(optarg, "tcp");
			o->target.transport = !strcmp(optarg, "tcp") ? SCB_TCP : SCB_WS;
			break;
		case 'h':
			o->target.host = optarg;
			break;
		case 'p':
			ok = parse_uint(optarg, 1, 65535, &v);
			o->target.port = (unsigned)v;
			break;
		case 'P':
			path = optarg;
			ok = optarg[0] == '/' && strlen(optarg) < 1024 && !strpbrk(optarg, " \r\n");
			break;
		case 's':
			ok = parse_uint(optarg, SCB_SEQ_LEN, 16u << 20, &v);
			o->size = (size_t)v;
			break;
		case 'd':
			ok = parse_secs(optarg, &o->duration);
			break;
		case 'n':
			ok = parse_uint(optarg, 0, 1ull << 39, &v);
			o->count = v;
			break;
		case 'T':
			ok = parse_secs(optarg, &o->timeout);
			break;
		case 'c':
			o->channel = optarg;
			ok = plain_name(optarg);
			break;
		case 'a':
			ok = parse_uint(optarg, 1, 100000, &v);
			o->channels = (unsigned)v;
			break;
		case 'u':
			ok = parse_uint(optarg, 1, 100000, &v);
			o->publishers = (unsigned)v;
			break;
		case 'b':
			ok = parse_uint(optarg, 1, 1000000, &v);
			o->subscribers = (unsigned)v;
			break;
		case 'w':
			ok = parse_uint(optarg, 1, 1u << 24, &v);
			o->window = (unsigned)v;
			break;
		case 'C':
			ok = parse_uint(optarg, 1, 1000000, &v);
			o->conns = (unsigned)v;
			break;
		case 'k':
			ok = parse_uint(optarg, 1, 65536, &v);
			o->inflight = (unsigned)v;
			break;
		case 'r':
			ok = parse_secs(optarg, &o->rate) && o->rate <= 1e8;
			break;
		case 'H' + 256:
			ok = parse_secs(optarg, &o->hold);
			break;
		case 'g':
			ok = parse_uint(optarg, 1, 1000000, &v);
			o->connecting = (unsigned)v;
			break;
		case 'i':
			ok = parse_uint(optarg, 1, 1u << 30, &v);
			o->server_pid = (pid_t)v;
			break;
		case 'l':
			o->label = optarg;
			ok = plain_name(optarg);
			break;
		case 'j':
			o->json = true;
			break;
		case 'H':
			usage(stdout);
			exit(0);
		default:
			fprintf(stderr, "sluice-bench: unknown option or missing value: %s\n",
				argv[optind - 1]);
			return -EINVAL;
		}
		if (!ok) {
			fprintf(stderr, "sluice-bench: bad value for --%s: %s\n",
				opt_name(longs, opt), optarg);
			return -EINVAL;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "sluice-bench: unexpected argument: %s\n", argv[optind]);
		return -EINVAL;
	}
	if (!o->scenario || !o->target.port) {
		fprintf(stderr, "sluice-bench: --scenario and --port are required\n");
		return -EINVAL;
	}
	*sc = NULL;
	for (size_t i = 0; i < NSCENARIOS; i++)
		if (strcmp(scenarios[i]->name, o->scenario) == 0)
			*sc = scenarios[i];
	if (!*sc) {
		fprintf(stderr, "sluice-bench: no scenario named %s\n", o->scenario);
		return -EINVAL;
	}
	o->target.addr.sin_family = AF_INET;
	o->target.addr.sin_port = htons((uint16_t)o->target.port);
	if (inet_pton(AF_INET, o->target.host, &o->target.addr.sin_addr) != 1) {
		fprintf(stderr, "sluice-bench: --host must be an IPv4 address: %s\n",
			o->target.host);
		return -EINVAL;
	}
	return settle_opts(o, *sc, path);
}

/* The soft limit of open files up to the hard one; -1 when n connections
 * (and a few more descriptors) still do not fit. */
static int files_for(unsigned n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (rlim_t)n + 16 > rl.rlim_cur) {
		fprintf(stderr,
			"sluice-bench: %u connections need %u open files; the limit is %llu "
			"(ulimit -n, hard limit included)\n",
			n, n + 16, (unsigned long long)rl.rlim_cur);
		return -1;
	}
	return 0;
}

/* ---- CPU ----------------------------------------------------------------- */

struct cpu {
	double client, server; /* seconds; server negative when unknown */
};

static void cpu_sample(const struct scb_opts *o, struct cpu *s)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	s->client = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec * 1e-6 +
		    (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec * 1e-6;
	s->server = o->server_pid ? bench_proc_cpu(o->server_pid) : -1;
}

/* ---- the driver ---------------------------------------------------------- */

struct driver {
	struct scb b;
	struct cpu c0, c1;
	double t_moved; /* CONNECT: when a connection last opened or failed */
};

static int ops_on_open(void *ud, struct scb_conn *c)
{
	struct driver *d = ud;
	struct scb *b = &d->b;

	b->nopen++;
	if (b->nopen > b->max_open)
		b->max_open = b->nopen;
	d->t_moved = b->loop.now;
	return b->sc->on_open ? b->sc->on_open(b, c) : 0;
}

static int ops_on_msg(void *ud, struct scb_conn *c, const struct scb_msg *m)
{
	struct scb *b = &((struct driver *)ud)->b;

	return b->sc->on_msg(b, c, m);
}

static int ops_on_reply(void *ud, struct scb_conn *c, const struct scb_reply *r)
{
	struct scb *b = &((struct driver *)ud)->b;

	return b->sc->on_reply(b, c, r);
}

static int ops_pump(void *ud, struct scb_conn *c)
{
	struct scb *b = &((struct driver *)ud)->b;

	return b->sc->pump(b, c);
}

static int ops_on_lost(void *ud, struct scb_conn *c, unsigned code, const char *why)
{
	struct driver *d = ud;
	struct scb *b = &d->b;

	if (!b->sc->on_lost || b->sc->on_lost(b, c, code, why) < 0)
		return -1;
	if (c->state == SCB_OPEN) {
		b->nopen--;
		b->ndropped++;
	} else {
		b->nfailed++;
	}
	d->t_moved = b->loop.now;
	return 0;
}

static const struct scb_ops ops = {
    .on_open = ops_on_open,
    .on_msg = ops_on_msg,
    .on_reply = ops_on_reply,
    .pump = ops_pump,
    .on_lost = ops_on_lost,
};

static void enter(struct scb *b, enum scb_phase ph, double now)
{
	b->phase = ph;
	b->t_phase = now;
}

/* Connections started and neither open nor lost. */
static unsigned connecting(const struct scb *b)
{
	return b->nstarted - b->nopen - b->nfailed - b->ndropped;
}

/* CONNECT: starts connections up to --connecting at once. */
static int top_up(struct scb *b)
{
	while (b->nstarted < b->nconns && connecting(b) < b->o->connecting) {
		struct scb_conn *c = &b->conns[b->nstarted];

		b->nstarted++;
		if (scb_conn_start(&b->loop, c, b->nstarted - 1) < 0 &&
		    scb_conn_lost(&b->loop, c) < 0)
			return -1;
	}
	return 0;
}

/* Moves the run on as far as it can go at `now`. Returns 0, or -1 with
 * the loop's error set. */
static int step(struct driver *d, double now)
{
	struct scb *b = &d->b;
	const struct scb_opts *o = b->o;
	const struct scb_scenario *sc = b->sc;
	int r;

	for (;;) {
		enum scb_phase was = b->phase;

		switch (b->phase) {
		case SCB_CONNECT:
			if (b->nstarted == b->nconns && !connecting(b)) {
				if (sc->measure_connect) {
					b->t_end = now;
					cpu_sample(o, &d->c1);
				} else if (b->nopen != b->nconns) {
					return scb_fail(&b->loop, NULL, "%u of %u connections lost",
							b->nconns - b->nopen, b->nconns);
				}
				enter(b, SCB_PREPARE, now);
				if (sc->prepare && sc->prepare(b) < 0)
					return -1;
			} else if (now - d->t_moved > o->timeout) {
				return scb_fail(&b->loop, NULL,
						"%u of %u connections upgraded and handshaken; "
						"none more in %g s",
						b->nopen, b->nconns, o->timeout);
			}
			break;
		case SCB_PREPARE:
			if (!sc->prepared || sc->prepared(b)) {
				enter(b, SCB_RUN, now);
				if (!sc->measure_connect) {
					b->t_run = now;
					cpu_sample(o, &d->c0);
				}
				if (sc->start && sc->start(b) < 0)
					return -1;
				scb_mark_all(b);
			} else if (now - b->t_phase > o->timeout) {
				return scb_fail(&b->loop, NULL, "not ready to run after %g s",
						o->timeout);
			}
			break;
		case SCB_RUN:
			if (sc->run_over ? sc->run_over(b, now)
			    : o->count	 ? sc->run_done(b)
					 : now >= b->t_run + o->duration) {
				enter(b, SCB_DRAIN, now);
				if (sc->drain && sc->drain(b) < 0)
					return -1;
			}
			break;
		case SCB_DRAIN:
			r = sc->drained(b);
			if (r < 0)
				return -1;
			if (r) {
				enter(b, SCB_DONE, now);
				if (!sc->measure_connect) {
					b->t_end = now;
					cpu_sample(o, &d->c1);
				}
			} else if (now - b->t_phase > o->timeout) {
				return scb_fail(&b->loop, NULL,
						"drain not over after %g s (%s=%llu)", o->timeout,
						sc->progress_name,
						(unsigned long long)sc->progress(b));
			}
			break;
		case SCB_DONE:
			break;
		}
		if (b->phase == was)
			return 0;
	}
}

/* Connects everything and steps the run to DONE, with a progress line each
 * second and a watch for stalls. */
static int run(struct driver *d)
{
	struct scb *b = &d->b;
	const struct scb_opts *o = b->o;
	const struct scb_scenario *sc = b->sc;
	double next_tick = 0, t_moved = 0, prev_t = 0;
	uint64_t moved = 0, prev = 0;

	d->t_moved = bench_now();
	enter(b, SCB_CONNECT, d->t_moved);
	if (sc->measure_connect) {
		b->t_run = d->t_moved;
		cpu_sample(o, &d->c0);
	}
	while (b->phase != SCB_DONE) {
		double now = bench_now(), due = now + 0.1;
		bool measuring;

		if (b->phase == SCB_CONNECT && top_up(b) < 0)
			return -1;
		if (b->phase == SCB_RUN && !o->count && !sc->run_over &&
		    b->t_run + o->duration < due)
			due = b->t_run + o->duration;
		if (b->phase == SCB_RUN && sc->tick) {
			double next = sc->tick(b, now);

			if (next && next < due)
				due = next;
		}
		if (next_tick && next_tick < due)
			due = next_tick;
		if (scb_loop_turn(&b->loop, due - now) < 0)
			return -1;
		now = b->loop.now;
		if (step(d, now) < 0)
			return -1;
		measuring = sc->measure_connect || b->phase >= SCB_RUN;
		if (!measuring)
			continue;
		if (!next_tick) {
			next_tick = b->t_run + 1;
			prev_t = t_moved = b->t_run;
		}
		if (sc->progress(b) != moved) {
			moved = sc->progress(b);
			t_moved = now;
		} else if (b->phase == SCB_RUN && !sc->measure_connect &&
			   now - t_moved > o->timeout) {
			return scb_fail(&b->loop, NULL, "no progress for %g s (%s=%llu)%s", o->timeout,
					sc->progress_name, (unsigned long long)moved,
					sc->stall_hint ? sc->stall_hint : "");
		}
		if (now >= next_tick && b->phase != SCB_DONE) {
			static const char *const names[] = {"connecting", "preparing", "", "draining",
							    ""};

			fprintf(stderr, "sluice-bench: %s t=%.0fs %s=%llu %s_per_s=%.0f%s%s%s\n",
				sc->name, now - b->t_run, sc->progress_name,
				(unsigned long long)moved, sc->progress_name,
				(double)(moved - prev) / (now - prev_t),
				*names[b->phase] ? " (" : "", names[b->phase],
				*names[b->phase] ? ")" : "");
			prev = moved;
			prev_t = now;
			next_tick += 1;
		}
	}
	return 0;
}

static void report(const struct driver *d)
{
	const struct scb *b = &d->b;
	const struct scb_opts *o = b->o;
	double secs = b->t_end - b->t_run;
	struct scb_out out = {.json = o->json};

	scb_out_str(&out, "bench", "sluice-bench");
	scb_out_str(&out, "scenario", b->sc->name);
	scb_out_str(&out, "protocol", o->target.proto->name);
	scb_out_str(&out, "transport", o->target.transport == SCB_TCP ? "tcp" : "ws");
	scb_out_str(&out, "target", o->label);
	scb_out_u64(&out, "size", o->size);
	b->sc->report(b, secs, &out);
	scb_out_f(&out, "secs", secs, 3);
	scb_out_f(&out, "client_cpu_pct", (d->c1.client - d->c0.client) / secs * 100, 1);
	if (d->c0.server >= 0 && d->c1.server >= 0) {
		scb_out_f(&out, "server_cpu_pct", (d->c1.server - d->c0.server) / secs * 100, 1);
		/* a pid of a wrapper (a shell, npm) that forked the server reads 0 */
		if (d->c1.server == d->c0.server)
			fprintf(stderr,
				"sluice-bench: --server-pid %d used no CPU during the run; is it "
				"the server itself and not a wrapper that started it?\n",
				(int)o->server_pid);
	}
	printf("%.*s%s\n", (int)out.len, out.buf, o->json ? "}" : "");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct scb_opts o;
	struct driver d = {.b = {.o = &o, .loop.ep = -1}};
	struct scb *b = &d.b;
	int status = 1;

	if (parse_opts(argc, argv, &o, &b->sc) < 0) {
		fprintf(stderr, "sluice-bench: try --help\n");
		return 2;
	}
	if (o.server_pid && bench_proc_cpu(o.server_pid) < 0) {
		fprintf(stderr, "sluice-bench: cannot read /proc/%d/stat\n", (int)o.server_pid);
		return 2;
	}
	b->proto = o.target.proto;
	b->nconns = b->sc->nconns(&o);
	if (files_for(b->nconns) < 0)
		return 2;
	/* --rate wakes up for each due request: sleep to the microsecond */
	prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);
	b->conns = calloc(b->nconns, sizeof(*b->conns));
	b->payload = malloc(o.size);
	if (!b->conns || !b->payload) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < b->nconns; i++)
		b->conns[i].fd = -1;
	/* letters only: valid JSON string contents without escapes */
	for (size_t i = 0; i < o.size; i++)
		b->payload[i] = (uint8_t)('a' + i % 26);
	if (b->sc->init(b) < 0)
		goto out;
	if (scb_loop_init(&b->loop, &o.target, &ops, &d) < 0 || run(&d) < 0) {
		fprintf(stderr, "sluice-bench: %s: %s\n", b->sc->name, b->loop.err);
		goto out;
	}
	report(&d);
	status = 0;
out:
	for (unsigned i = 0; b->conns && i < b->nconns; i++)
		scb_conn_deinit(&b->conns[i]);
	if (b->sc->deinit)
		b->sc->deinit(b);
	scb_loop_deinit(&b->loop);
	free(b->conns);
	free(b->payload);
	return status;
}
