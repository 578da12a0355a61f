/*
 * sc_bench_rpc: the rpc scenario of sluice-bench.
 *
 * C connections each keep K invokes of the procedure `echo` in flight
 * (K = 1: strictly serial) and time every round trip, from the turn that
 * sent the request (one clock read per batch, before the send) to the recv
 * that brought its reply, into a log-linear histogram (sc_bench_hist.h).
 * The reply's data must be the request's payload, whose marks carry the cid
 * and the connection.
 *
 *   {"event":"echo","data":"<payload>","cid":N}   ->   {"rid":N,"data":"<payload>"}
 *
 * In-flight requests of a connection sit in a FIFO of K slots in send order.
 * A server answers a socket's requests in order, so a reply is nearly always
 * the oldest's; one that is not is found by a scan (K at most) and its slot
 * freed once the ones before it are answered.
 *
 * Threads: the run's one thread (sc_bench.h).
 */
#include "bench.h"

#include "sc_bench.h"
#include "sc_bench_hist.h"

#include <string.h>

#define ANSWERED (-1) /* a slot's cid once answered out of order */

struct req {
	int64_t cid;
	double t; /* when it went out */
};

struct client {
	struct req *ring; /* K slots */
	unsigned head, len;
};

struct rpc {
	struct client *clients;
	struct req *slots;
	struct scb_hist *hist;
	uint64_t issued, replied;
};

static const char pre[] = "{\"event\":\"echo\",\"data\":\"";
static const char mid[] = "\",\"cid\":";

static unsigned rpc_nconns(const struct scb_opts *o)
{
	return o->conns;
}

static int rpc_init(struct scb *b)
{
	struct rpc *r = calloc(1, sizeof(*r));
	const unsigned k = b->o->inflight;

	b->state = r;
	if (!r || !(r->clients = calloc(b->nconns, sizeof(*r->clients))) ||
	    !(r->slots = calloc((size_t)b->nconns * k, sizeof(*r->slots))) ||
	    !(r->hist = scb_hist_create())) {
		fprintf(stderr, "sluice-bench: out of memory\n");
		return -1;
	}
	for (unsigned i = 0; i < b->nconns; i++) {
		r->clients[i].ring = r->slots + (size_t)i * k;
		b->conns[i].user = &r->clients[i];
	}
	return 0;
}

static void rpc_deinit(struct scb *b)
{
	struct rpc *r = b->state;

	if (!r)
		return;
	scb_hist_destroy(r->hist);
	free(r->slots);
	free(r->clients);
	free(r);
	b->state = NULL;
}

static int send_echo(struct scb *b, struct scb_conn *c, int64_t cid)
{
	const size_t size = b->o->size;
	char digits[24];
	int nd = snprintf(digits, sizeof(digits), "%lld", (long long)cid);
	size_t len = sizeof(pre) - 1 + size + sizeof(mid) - 1 + (size_t)nd + 1;
	uint8_t *p = scb_conn_text_begin(&b->loop, c, len), *q;

	if (!p)
		return -1;
	memcpy(p, pre, sizeof(pre) - 1);
	q = p + sizeof(pre) - 1;
	memcpy(q, b->payload, size);
	scb_payload_mark(q, size, (uint64_t)cid, c->id);
	q += size;
	memcpy(q, mid, sizeof(mid) - 1);
	q += sizeof(mid) - 1;
	memcpy(q, digits, (size_t)nd);
	q[nd] = '}';
	scb_conn_text_end(c);
	return 0;
}

static int rpc_pump(struct scb *b, struct scb_conn *c)
{
	struct rpc *r = b->state;
	struct client *cl = c->user;
	const unsigned k = b->o->inflight;
	const uint64_t count = b->o->count;
	double now;

	if (b->phase != SCB_RUN || cl->len == k || (count && r->issued >= count))
		return 0;
	now = bench_now();
	while (cl->len < k && scb_conn_pending(c) < SCB_OUT_SOFT && (!count || r->issued < count)) {
		int64_t cid = scb_conn_cid(c);

		if (send_echo(b, c, cid) < 0)
			return -1;
		cl->ring[(cl->head + cl->len) % k] = (struct req){.cid = cid, .t = now};
		cl->len++;
		r->issued++;
	}
	/* replies mark the connection again */
	return 0;
}

/* Frees the slot of request rid into *out; false when rid is not in flight. */
static bool take(struct client *cl, unsigned k, int64_t rid, struct req *out)
{
	struct req *front = &cl->ring[cl->head];

	if (rid < 2) /* our cids start at 2; ANSWERED is no cid */
		return false;
	if (cl->len && front->cid == rid) {
		*out = *front;
	} else {
		unsigned i;

		for (i = 1; i < cl->len; i++)
			if (cl->ring[(cl->head + i) % k].cid == rid)
				break;
		if (i >= cl->len)
			return false;
		*out = cl->ring[(cl->head + i) % k];
		cl->ring[(cl->head + i) % k].cid = ANSWERED;
		return true;
	}
	/* the oldest went: so do the answered ones right after it */
	do {
		cl->head = (cl->head + 1) % k;
		cl->len--;
	} while (cl->len && cl->ring[cl->head].cid == ANSWERED);
	return true;
}

static int rpc_on_packet(struct scb *b, struct scb_conn *c, const uint8_t *buf,
			 const struct packet *p)
{
	struct rpc *r = b->state;
	struct client *cl = c->user;
	struct req q;
	char why[160];
	double rtt;

	if (p->kind != PACKET_REPLY)
		return 0; /* an event the server pushes: none of ours */
	if (!p->has_rid || !take(cl, b->o->inflight, p->rid, &q))
		return scb_fail(&b->loop, c, "reply to no request in flight: %.*s",
				SCB_SPAN(buf, p->span));
	if (packet_has(p->error))
		return scb_fail(&b->loop, c, "echo failed: %.*s", SCB_SPAN(buf, p->error));
	if (!packet_has(p->data))
		return scb_fail(&b->loop, c, "echo reply without data: %.*s",
				SCB_SPAN(buf, p->span));
	if (scb_payload_check(buf + p->data.off, p->data.len, b->o->size, (uint64_t)q.cid, c->id,
			      why, sizeof(why)) < 0)
		return scb_fail(&b->loop, c, "echo reply %lld: %s", (long long)q.cid, why);
	rtt = b->loop.now - q.t;
	scb_hist_record(r->hist, rtt > 0 ? (uint64_t)(rtt * 1e9) : 0);
	r->replied++;
	scb_conn_mark(&b->loop, c);
	return 0;
}

static bool rpc_run_done(const struct scb *b)
{
	const struct rpc *r = b->state;

	return r->issued >= b->o->count;
}

static bool rpc_drained(const struct scb *b)
{
	const struct rpc *r = b->state;

	return r->replied == r->issued;
}

static uint64_t rpc_progress(const struct scb *b)
{
	const struct rpc *r = b->state;

	return r->replied;
}

static void rpc_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct rpc *r = b->state;

	scb_out_u64(out, "conns", b->nconns);
	scb_out_u64(out, "inflight", b->o->inflight);
	scb_out_u64(out, "requests", r->replied);
	scb_out_f(out, "requests_per_s", (double)r->replied / secs, 0);
	scb_out_f(out, "p50_us", (double)scb_hist_quantile(r->hist, 0.50) / 1e3, 1);
	scb_out_f(out, "p90_us", (double)scb_hist_quantile(r->hist, 0.90) / 1e3, 1);
	scb_out_f(out, "p99_us", (double)scb_hist_quantile(r->hist, 0.99) / 1e3, 1);
	scb_out_f(out, "p999_us", (double)scb_hist_quantile(r->hist, 0.999) / 1e3, 1);
	scb_out_f(out, "max_us", (double)r->hist->max / 1e3, 1);
}

const struct scb_scenario scb_rpc = {
    .name = "rpc",
    .help = "  rpc      --conns C connections each keep --inflight K invokes of the\n"
	    "           procedure `echo` in flight (K = 1: serial) and time each round\n"
	    "           trip; every reply must carry its request's payload. Reports\n"
	    "           requests/s and latency p50, p90, p99, p99.9, max in us.\n",
    .nconns = rpc_nconns,
    .init = rpc_init,
    .deinit = rpc_deinit,
    .pump = rpc_pump,
    .on_packet = rpc_on_packet,
    .run_done = rpc_run_done,
    .drained = rpc_drained,
    .progress_name = "replies",
    .progress = rpc_progress,
    .stall_hint = "; does the server have the procedure `echo`?",
    .report = rpc_report,
};
