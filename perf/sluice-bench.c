/*
 * sluice-bench: the SocketCluster load generator. It speaks the protocol of
 * socketcluster-client over WebSocket to any SocketCluster server (sluice,
 * socketcluster-server), drives one scenario (ingest, fanout, rpc), checks
 * that every message and reply adds up, and prints one line of figures (or
 * one JSON object) with its own CPU time next to the server's:
 *
 *   bench=sc scenario=rpc target=server size=64 conns=4 inflight=8 requests=N
 *   requests_per_s=X p50_us=.. p90_us=.. p99_us=.. p999_us=.. max_us=..
 *   secs=S client_cpu_pct=Y server_cpu_pct=Z                     (one line)
 *
 * This file owns the options, the driver that steps a run through its
 * phases (sc_bench.h), the CPU samples and the report. The connections and
 * their loop are sc_bench_conn.c; the scenarios sc_bench_pubsub.c and
 * sc_bench_rpc.c.
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
#include <sys/resource.h>

#include "http.h"
#include "sc_bench.h"

#define MSG_MIN (64u * 1024)

static const struct scb_scenario *const scenarios[] = {&scb_ingest, &scb_fanout, &scb_rpc};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void usage(FILE *f)
{
	fprintf(f,
		"usage: sluice-bench --scenario NAME --port P [options]\n"
		"\n"
		"Load generator for SocketCluster servers (sluice, socketcluster-server). It\n"
		"speaks the protocol over WebSocket: HTTP upgrade on --path, #handshake (cid\n"
		"1) and its reply, server pings answered (\"\" for \"\", #2 for #1, pong for\n"
		"ping), every frame masked. One thread; frames are batched, one send per\n"
		"connection per loop turn. Every message is checked: none missing, none\n"
		"out of order, none altered (payloads carry sequence marks).\n"
		"\n"
		"scenarios:\n");
	for (size_t i = 0; i < NSCENARIOS; i++)
		fputs(scenarios[i]->help, f);
	fprintf(f,
		"\n"
		"options (default in parentheses):\n"
		"  --scenario NAME    ingest, fanout or rpc (required)\n"
		"  --host IPV4        server address (127.0.0.1)\n"
		"  --port P           server port (required)\n"
		"  --path PATH        WebSocket path (" HTTP_DEFAULT_WS_PATH ")\n"
		"  --size BYTES       payload bytes per message, the JSON string's contents,\n"
		"                     at least %d (64)\n"
		"  --duration S       seconds of load (5); the drain that follows counts in\n"
		"                     the rates\n"
		"  --count N          N messages (ingest: in all; fanout: published) or N\n"
		"                     requests (rpc) instead of --duration (0: off)\n"
		"  --timeout S        limit on connecting, subscribing and draining, and on\n"
		"                     any stretch of the run without progress (10)\n"
		"  --channel NAME     the channel of ingest and fanout (bench)\n"
		"  --publishers P     ingest: publisher connections (4)\n"
		"  --subscribers S    fanout: subscriber connections (1)\n"
		"  --window W         fanout: most messages published and not yet received\n"
		"                     by the slowest subscriber (32768/S within 16..1024:\n"
		"                     1024 for 1 subscriber, 327 for 100)\n"
		"  --conns C          rpc: connections (1)\n"
		"  --inflight K       rpc: requests in flight per connection (1)\n"
		"  --server-pid PID   also report that process's CPU, from /proc/PID/stat\n"
		"  --label NAME       the target's name in the report (server)\n"
		"  --json             one JSON object on stdout instead of the key=value line\n"
		"  --help             this text\n"
		"\n"
		"Output: one line on stdout, key=value pairs (or --json), e.g.\n"
		"  bench=sc scenario=ingest target=server size=64 publishers=4 msgs=N\n"
		"  msgs_per_s=X mb_per_s=Y secs=S client_cpu_pct=C server_cpu_pct=D\n"
		"Rates and CPU cover the run and its drain (every message counted was\n"
		"processed). CPU percentages are of one core; server_cpu_pct (utime +\n"
		"stime of the whole process) only with --server-pid. A progress line goes\n"
		"to stderr each second. Exit status 0; 1 when the run failed (refused or\n"
		"closed connection, a message missing, out of order or altered, a\n"
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

/* A name that goes into JSON strings and key=value lines unescaped. */
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

static int parse_opts(int argc, char **argv, struct scb_opts *o, const struct scb_scenario **sc)
{
	static const struct option longs[] = {
	    {"scenario", required_argument, NULL, 'S'},
	    {"host", required_argument, NULL, 'h'},
	    {"port", required_argument, NULL, 'p'},
	    {"path", required_argument, NULL, 'P'},
	    {"size", required_argument, NULL, 's'},
	    {"duration", required_argument, NULL, 'd'},
	    {"count", required_argument, NULL, 'n'},
	    {"timeout", required_argument, NULL, 'T'},
	    {"channel", required_argument, NULL, 'c'},
	    {"publishers", required_argument, NULL, 'u'},
	    {"subscribers", required_argument, NULL, 'b'},
	    {"window", required_argument, NULL, 'w'},
	    {"conns", required_argument, NULL, 'C'},
	    {"inflight", required_argument, NULL, 'k'},
	    {"server-pid", required_argument, NULL, 'i'},
	    {"label", required_argument, NULL, 'l'},
	    {"json", no_argument, NULL, 'j'},
	    {"help", no_argument, NULL, 'H'},
	    {0},
	};
	unsigned long long v = 0;
	int opt;

	*o = (struct scb_opts){
	    .label = "server",
	    .channel = "bench",
	    .target = {.host = "127.0.0.1", .path = HTTP_DEFAULT_WS_PATH},
	    .size = 64,
	    .duration = 5,
	    .timeout = 10,
	    .publishers = 4,
	    .subscribers = 1,
	    .window = 0, /* see below */
	    .conns = 1,
	    .inflight = 1,
	};
	opterr = 0;
	while ((opt = getopt_long(argc, argv, "", longs, NULL)) != -1) {
		bool ok = true;

		switch (opt) {
		case 'S':
			o->scenario = optarg;
			break;
		case 'h':
			o->target.host = optarg;
			break;
		case 'p':
			ok = parse_uint(optarg, 1, 65535, &v);
			o->target.port = (unsigned)v;
			break;
		case 'P':
			o->target.path = optarg;
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
			ok = parse_uint(optarg, 0, 1ull << 48, &v);
			o->count = v;
			break;
		case 'T':
			ok = parse_secs(optarg, &o->timeout);
			break;
		case 'c':
			o->channel = optarg;
			ok = plain_name(optarg);
			break;
		case 'u':
			ok = parse_uint(optarg, 1, 10000, &v);
			o->publishers = (unsigned)v;
			break;
		case 'b':
			ok = parse_uint(optarg, 1, 100000, &v);
			o->subscribers = (unsigned)v;
			break;
		case 'w':
			ok = parse_uint(optarg, 1, 1u << 24, &v);
			o->window = (unsigned)v;
			break;
		case 'C':
			ok = parse_uint(optarg, 1, 100000, &v);
			o->conns = (unsigned)v;
			break;
		case 'k':
			ok = parse_uint(optarg, 1, 65536, &v);
			o->inflight = (unsigned)v;
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
	/* about 32768 deliveries in flight in all: 16 to 1024 per subscriber */
	if (!o->window) {
		o->window = 32768 / o->subscribers;
		o->window = o->window < 16 ? 16 : o->window > 1024 ? 1024 : o->window;
	}
		/* a reply echoes a payload; leave room for its envelope and a batch */
	o->target.max_msg = 2 * o->size + 4096 > MSG_MIN ? 2 * o->size + 4096 : MSG_MIN;
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

static int ops_on_open(void *ud, struct scb_conn *c)
{
	struct scb *b = ud;

	b->nopen++;
	return 0;
}

static int ops_on_packet(void *ud, struct scb_conn *c, const uint8_t *buf, const struct packet *p)
{
	struct scb *b = ud;

	return b->sc->on_packet(b, c, buf, p);
}

static int ops_pump(void *ud, struct scb_conn *c)
{
	struct scb *b = ud;

	return b->sc->pump(b, c);
}

static const struct scb_ops ops = {
    .on_open = ops_on_open,
    .on_packet = ops_on_packet,
    .pump = ops_pump,
};

static void enter(struct scb *b, enum scb_phase ph, double now)
{
	b->phase = ph;
	b->t_phase = now;
}

/* Moves the run on as far as it can go at `now`. Returns 0, or -1 with
 * the loop's error set. */
static int step(struct scb *b, double now, struct cpu *c0)
{
	const struct scb_opts *o = b->o;
	const struct scb_scenario *sc = b->sc;

	for (;;) {
		enum scb_phase was = b->phase;

		switch (b->phase) {
		case SCB_CONNECT:
			if (b->nopen == b->nconns) {
				enter(b, SCB_PREPARE, now);
				if (sc->prepare && sc->prepare(b) < 0)
					return -1;
			} else if (now - b->t_phase > o->timeout) {
				return scb_fail(&b->loop, NULL,
						"%u of %u connections upgraded and handshaken "
						"in %g s",
						b->nopen, b->nconns, o->timeout);
			}
			break;
		case SCB_PREPARE:
			if (!sc->prepared || sc->prepared(b)) {
				enter(b, SCB_RUN, now);
				b->t_run = now;
				cpu_sample(o, c0);
				scb_mark_all(b);
			} else if (now - b->t_phase > o->timeout) {
				return scb_fail(&b->loop, NULL, "not ready to run after %g s",
						o->timeout);
			}
			break;
		case SCB_RUN:
			if (o->count ? sc->run_done(b) : now >= b->t_run + o->duration) {
				enter(b, SCB_DRAIN, now);
				if (sc->drain && sc->drain(b) < 0)
					return -1;
			}
			break;
		case SCB_DRAIN:
			if (sc->drained(b)) {
				enter(b, SCB_DONE, now);
				b->t_end = now;
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
static int run(struct scb *b, struct cpu *c0, struct cpu *c1)
{
	const struct scb_opts *o = b->o;
	const struct scb_scenario *sc = b->sc;
	double next_tick = 0, t_moved = 0, prev_t = 0;
	uint64_t moved = 0, prev = 0;

	enter(b, SCB_CONNECT, bench_now());
	for (unsigned i = 0; i < b->nconns; i++)
		if (scb_conn_start(&b->loop, &b->conns[i], i) < 0)
			return -1;
	while (b->phase != SCB_DONE) {
		double now = bench_now(), due = now + 0.1;
		int timeout_ms;

		if (b->phase == SCB_RUN && !o->count && b->t_run + o->duration < due)
			due = b->t_run + o->duration;
		if (next_tick && next_tick < due)
			due = next_tick;
		timeout_ms = due > now ? (int)ceil((due - now) * 1e3) : 0;
		if (scb_loop_turn(&b->loop, timeout_ms) < 0)
			return -1;
		now = b->loop.now;
		if (step(b, now, c0) < 0)
			return -1;
		if (b->phase < SCB_RUN)
			continue;
		if (!next_tick) {
			next_tick = b->t_run + 1;
			prev_t = t_moved = b->t_run;
		}
		if (sc->progress(b) != moved) {
			moved = sc->progress(b);
			t_moved = now;
		} else if (b->phase == SCB_RUN && now - t_moved > o->timeout) {
			return scb_fail(&b->loop, NULL, "no progress for %g s (%s=%llu)%s", o->timeout,
					sc->progress_name, (unsigned long long)moved,
					sc->stall_hint ? sc->stall_hint : "");
		}
		if (now >= next_tick && b->phase != SCB_DONE) {
			fprintf(stderr, "sluice-bench: %s t=%.0fs %s=%llu %s_per_s=%.0f%s\n",
				sc->name, now - b->t_run, sc->progress_name,
				(unsigned long long)moved, sc->progress_name,
				(double)(moved - prev) / (now - prev_t),
				b->phase == SCB_DRAIN ? " (draining)" : "");
			prev = moved;
			prev_t = now;
			next_tick += 1;
		}
	}
	cpu_sample(o, c1);
	return 0;
}

static void report(const struct scb *b, const struct cpu *c0, const struct cpu *c1)
{
	const struct scb_opts *o = b->o;
	double secs = b->t_end - b->t_run;
	struct scb_out out = {.json = o->json};

	scb_out_str(&out, "bench", "sc");
	scb_out_str(&out, "scenario", b->sc->name);
	scb_out_str(&out, "target", o->label);
	scb_out_u64(&out, "size", o->size);
	b->sc->report(b, secs, &out);
	scb_out_f(&out, "secs", secs, 3);
	scb_out_f(&out, "client_cpu_pct", (c1->client - c0->client) / secs * 100, 1);
	if (c0->server >= 0 && c1->server >= 0) {
		scb_out_f(&out, "server_cpu_pct", (c1->server - c0->server) / secs * 100, 1);
		/* a pid of a wrapper (a shell, npm) that forked the server reads 0 */
		if (c1->server == c0->server)
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
	struct scb b = {.o = &o, .loop.ep = -1};
	struct cpu c0 = {0}, c1 = {0};
	int status = 1;

	if (parse_opts(argc, argv, &o, &b.sc) < 0) {
		fprintf(stderr, "sluice-bench: try --help\n");
		return 2;
	}
	if (o.server_pid && bench_proc_cpu(o.server_pid) < 0) {
		fprintf(stderr, "sluice-bench: cannot read /proc/%d/stat\n", (int)o.server_pid);
		return 2;
	}
	b.nconns = b.sc->nconns(&o);
	b.conns = calloc(b.nconns, sizeof(*b.conns));
	b.payload = malloc(o.size);
	if (!b.conns || !b.payload) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		goto out;
	}
	for (unsigned i = 0; i < b.nconns; i++)
		b.conns[i].fd = -1;
	/* letters only: valid JSON string contents without escapes */
	for (size_t i = 0; i < o.size; i++)
		b.payload[i] = (uint8_t)('a' + i % 26);
	if (b.sc->init(&b) < 0)
		goto out;
	if (scb_loop_init(&b.loop, &o.target, &ops, &b) < 0 || run(&b, &c0, &c1) < 0) {
		fprintf(stderr, "sluice-bench: %s: %s\n", b.sc->name, b.loop.err);
		goto out;
	}
	report(&b, &c0, &c1);
	status = 0;
out:
	for (unsigned i = 0; b.conns && i < b.nconns; i++)
		scb_conn_deinit(&b.conns[i]);
	if (b.sc->deinit)
		b.sc->deinit(&b);
	scb_loop_deinit(&b.loop);
	free(b.conns);
	free(b.payload);
	return status;
}
