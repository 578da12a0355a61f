/*
 * sc_bench_connect: the connection storm of sluice-bench.
 *
 * --conns N connections open as fast as the server takes them, at most
 * --connecting K at once (a new one starts as soon as one is open or
 * refused): TCP connect, the upgrade and the protocol's handshake
 * (SocketCluster: #handshake and its reply; NATS: INFO, CONNECT, PING and
 * its PONG). The measured time is the driver's CONNECT phase
 * (measure_connect), so connects/s counts whole handshakes.
 *
 * Then every connection is held, idle (keep-alive answered), for --hold
 * seconds, and with --server-pid the server's resident memory (VmRSS) is
 * read again: (after - before) / open is the server's memory per idle
 * connection, "before" read when the tool started, with no connection
 * open. A connection the server refuses or drops is counted, not fatal:
 * `held` is the most that were open at once.
 *
 * Threads: the run's one thread (sc_bench.h).
 */
#include "bench.h"

#include "sc_bench.h"

#include <stdio.h>
#include <stdlib.h>

struct storm {
	long rss_before, rss_after; /* KiB; -1 unknown */
	unsigned open_after;	    /* open when rss_after was read */
};

static unsigned connect_nconns(const struct scb_opts *o)
{
	return o->conns;
}

static int connect_init(struct scb *b)
{
	struct storm *st = calloc(1, sizeof(*st));

	b->state = st;
	if (!st) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return -1;
	}
	st->rss_before = st->rss_after = -1;
	if (b->o->server_pid)
		st->rss_before = bench_proc_rss_kib(b->o->server_pid);
	return 0;
}

static void connect_deinit(struct scb *b)
{
	free(b->state);
	b->state = NULL;
}

static int connect_on_lost(struct scb *b, struct scb_conn *c, unsigned code, const char *why)
{
	/* the first few say why; the counts say how many */
	if (b->nfailed + b->ndropped < 3)
		fprintf(stderr, "sluice-bench: connect: %s\n", why);
	return 0;
}

static int connect_pump(struct scb *b, struct scb_conn *c)
{
	return 0;
}

static int connect_on_msg(struct scb *b, struct scb_conn *c, const struct scb_msg *m)
{
	return 0; /* a server's own event: none of ours */
}

static int connect_on_reply(struct scb *b, struct scb_conn *c, const struct scb_reply *r)
{
	return scb_fail(&b->loop, c, "answer to a request never sent (id %lld)", (long long)r->id);
}

static bool connect_run_over(const struct scb *b, double now)
{
	return now - b->t_phase >= b->o->hold;
}

static int connect_drain(struct scb *b)
{
	struct storm *st = b->state;

	st->open_after = b->nopen;
	if (b->o->server_pid)
		st->rss_after = bench_proc_rss_kib(b->o->server_pid);
	return 0;
}

static int connect_drained(struct scb *b)
{
	return 1;
}

static uint64_t connect_progress(const struct scb *b)
{
	return b->nopen;
}

static void connect_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct storm *st = b->state;
	unsigned opened = b->nopen + b->ndropped;

	scb_out_u64(out, "conns", b->nconns);
	scb_out_u64(out, "connecting", b->o->connecting);
	scb_out_u64(out, "opened", opened);
	scb_out_u64(out, "failed", b->nfailed);
	scb_out_u64(out, "dropped", b->ndropped);
	scb_out_u64(out, "held", b->max_open);
	scb_out_f(out, "connects_per_s", (double)opened / secs, 0);
	scb_out_f(out, "hold_s", b->o->hold, 1);
	if (st->rss_before >= 0 && st->rss_after >= 0) {
		scb_out_u64(out, "rss_before_kib", (uint64_t)st->rss_before);
		scb_out_u64(out, "rss_after_kib", (uint64_t)st->rss_after);
		scb_out_f(out, "rss_per_conn_b",
			  st->open_after ? (double)(st->rss_after - st->rss_before) * 1024 /
					       st->open_after
					 : 0,
			  0);
	}
}

const struct scb_scenario scb_connect = {
    .name = "connect",
    .help = "  connect  Connection storm: --conns N (1000) connections open as fast as\n"
	    "           the server takes them, at most --connecting K at once, each with\n"
	    "           the protocol's handshake; then all are held idle for --hold S\n"
	    "           seconds. Reports connects/s (handshakes included), the most held\n"
	    "           at once, refused (failed) and dropped ones, and with --server-pid\n"
	    "           the server's VmRSS before and after and per connection held. A\n"
	    "           refused connection is counted, not an error. Needs N file\n"
	    "           descriptors here (and as many in the server): ulimit -n.\n",
    .nconns = connect_nconns,
    .init = connect_init,
    .deinit = connect_deinit,
    .measure_connect = true,
    .on_lost = connect_on_lost,
    .pump = connect_pump,
    .on_msg = connect_on_msg,
    .on_reply = connect_on_reply,
    .run_over = connect_run_over,
    .drain = connect_drain,
    .drained = connect_drained,
    .progress_name = "open",
    .progress = connect_progress,
    .report = connect_report,
};
