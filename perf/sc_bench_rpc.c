/*
 * sc_bench_rpc: the rpc scenario of sluice-bench.
 *
 * C connections send requests to the procedure `echo` (SocketCluster: an
 * invoke the server answers; NATS: a PUB to subject `echo` with a reply
 * inbox, answered by a responder connection of this tool, see below) and
 * time every round trip into a log-linear histogram (sc_bench_hist.h). The
 * reply's data must be the request's payload, whose marks carry the id and
 * the connection.
 *
 * Closed loop (default): each connection keeps K requests in flight (K = 1:
 * strictly serial); a round trip runs from the turn that sent the request
 * (one clock read per batch, before the send) to the recv that brought its
 * reply. Closed loops hide a slow server's worst moments: while a reply is
 * late, no request is sent, so none is timed as late ("coordinated
 * omission").
 *
 * Fixed rate (--rate R): request n of connection i (of C) is due at
 *
 *     t_run + (n * C + i) / R
 *
 * whatever the replies do, and its round trip runs from that due time, not
 * from when it could go out: a server that stalls for 10 ms is charged
 * 10 ms for every request due during the stall (the correction of HdrHistogram
 * and wrk2). K then only bounds the requests in flight per connection; due
 * requests beyond it wait, their clock running. Requests still due when the
 * run ends are reported as `behind`.
 *
 * NATS has no procedures. One extra connection (the responder) subscribes
 * to `echo` and answers every request with its data, so a NATS round trip
 * crosses the server twice (requester -> server -> responder -> server ->
 * requester) where a SocketCluster one crosses it once to a procedure in
 * the server; the responder's own work is this tool's.
 *
 * In-flight requests of a connection sit in a FIFO of K slots in send
 * order. A server answers a connection's requests in order, so a reply is
 * nearly always the oldest's; one that is not is found by a scan (K at most)
 * and its slot freed once the ones before it are answered.
 *
 * Threads: the run's one thread (sc_bench.h).
 */
#include "bench.h"

#include "sc_bench.h"
#include "sc_bench_hist.h"

#include <math.h>
#include <string.h>

#define ANSWERED (-1) /* a slot's cid once answered out of order */

enum { ROLE_REQ, ROLE_RESP };

struct req {
	int64_t cid;
	double t; /* when it went out, or was due (--rate) */
};

struct client {
	struct req *ring; /* K slots */
	unsigned head, len;
	uint64_t sent;
	double next; /* --rate: when the next request is due */
};

struct rpc {
	struct client *clients;
	struct req *slots;
	struct scb_hist *hist;
	uint8_t *scratch; /* a payload being marked */
	unsigned nreq;	  /* requesters: conns 0..nreq-1; the responder after */
	uint64_t issued, replied;
	int64_t resp_cid; /* the responder's subscribe */
	bool resp_ready;
	uint64_t behind; /* --rate: due and not sent when RUN ended */
};

static bool has_responder(const struct scb_opts *o)
{
	return o->target.proto->respond != NULL;
}

static unsigned rpc_nconns(const struct scb_opts *o)
{
	return o->conns + has_responder(o);
}

static int rpc_init(struct scb *b)
{
	struct rpc *r = calloc(1, sizeof(*r));
	const unsigned k = b->o->inflight;

	b->state = r;
	if (!r)
		goto oom;
	r->nreq = b->o->conns;
	if (!(r->clients = calloc(r->nreq, sizeof(*r->clients))) ||
	    !(r->slots = calloc((size_t)r->nreq * k, sizeof(*r->slots))) ||
	    !(r->hist = scb_hist_create()) || !(r->scratch = malloc(b->o->size)))
		goto oom;
	memcpy(r->scratch, b->payload, b->o->size);
	for (unsigned i = 0; i < r->nreq; i++) {
		r->clients[i].ring = r->slots + (size_t)i * k;
		b->conns[i].role = ROLE_REQ;
		b->conns[i].user = &r->clients[i];
		b->conns[i].inbox = true;
	}
	if (has_responder(b->o))
		b->conns[r->nreq].role = ROLE_RESP;
	return 0;
oom:
	fprintf(stderr, "sluice-bench: out of memory\n");
	return -1;
}

static void rpc_deinit(struct scb *b)
{
	struct rpc *r = b->state;

	if (!r)
		return;
	scb_hist_destroy(r->hist);
	free(r->scratch);
	free(r->slots);
	free(r->clients);
	free(r);
	b->state = NULL;
}

static int rpc_prepare(struct scb *b)
{
	struct rpc *r = b->state;
	struct scb_conn *c = &b->conns[r->nreq];

	if (!has_responder(b->o))
		return 0;
	r->resp_cid = scb_conn_cid(c);
	return scb_subscribe(b, c, "echo", r->resp_cid);
}

static bool rpc_prepared(const struct scb *b)
{
	const struct rpc *r = b->state;

	return !has_responder(b->o) || r->resp_ready;
}

/* --rate: when request n of requester i is due */
static double due(const struct scb *b, unsigned i, uint64_t n)
{
	const struct rpc *r = b->state;

	return b->t_run + ((double)n * r->nreq + i) / b->o->rate;
}

static int rpc_start(struct scb *b)
{
	struct rpc *r = b->state;

	for (unsigned i = 0; i < r->nreq; i++)
		r->clients[i].next = due(b, i, 0);
	return 0;
}

static int send_one(struct scb *b, struct scb_conn *c, double t)
{
	struct rpc *r = b->state;
	struct client *cl = c->user;
	const unsigned k = b->o->inflight;
	int64_t cid = scb_conn_cid(c);

	scb_payload_mark(r->scratch, b->o->size, (uint64_t)cid, c->id);
	if (scb_request(b, c, cid, r->scratch, b->o->size) < 0)
		return -1;
	cl->ring[(cl->head + cl->len) % k] = (struct req){.cid = cid, .t = t};
	cl->len++;
	cl->sent++;
	r->issued++;
	return 0;
}

static int rpc_pump(struct scb *b, struct scb_conn *c)
{
	struct rpc *r = b->state;
	struct client *cl = c->user;
	const unsigned k = b->o->inflight;
	const uint64_t count = b->o->count;
	double now;

	if (b->phase != SCB_RUN || c->role != ROLE_REQ || cl->len == k ||
	    (count && r->issued >= count))
		return 0;
	now = bench_now();
	if (b->o->rate) {
		while (cl->len < k && cl->next <= now && scb_conn_pending(c) < SCB_OUT_SOFT &&
		       (!count || r->issued < count)) {
			if (send_one(b, c, cl->next) < 0)
				return -1;
			cl->next = due(b, c->id, cl->sent);
		}
		return 0; /* tick marks it when the next is due */
	}
	while (cl->len < k && scb_conn_pending(c) < SCB_OUT_SOFT && (!count || r->issued < count))
		if (send_one(b, c, now) < 0)
			return -1;
	/* replies mark the connection again */
	return 0;
}

static double rpc_tick(struct scb *b, double now)
{
	struct rpc *r = b->state;
	double next = 0;

	if (!b->o->rate)
		return 0;
	for (unsigned i = 0; i < r->nreq; i++) {
		struct client *cl = &r->clients[i];

		if (cl->len == b->o->inflight)
			continue; /* a reply marks it */
		if (cl->next <= now)
			scb_conn_mark(&b->loop, &b->conns[i]);
		else if (!next || cl->next < next)
			next = cl->next;
	}
	return next;
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

static int rpc_on_reply(struct scb *b, struct scb_conn *c, const struct scb_reply *rp)
{
	struct rpc *r = b->state;
	struct client *cl = c->user;
	struct req q;
	char why[160];
	double rtt;

	if (c->role == ROLE_RESP) {
		if (rp->id != r->resp_cid || r->resp_ready)
			return scb_fail(&b->loop, c, "answer to a request never sent (id %lld)",
					(long long)rp->id);
		r->resp_ready = true;
		return 0;
	}
	if (!take(cl, b->o->inflight, rp->id, &q))
		return scb_fail(&b->loop, c, "reply to no request in flight (id %lld)",
				(long long)rp->id);
	if (rp->error)
		return scb_fail(&b->loop, c, "echo failed: %.*s", (int)rp->error_len,
				(const char *)rp->error);
	if (!rp->has_data)
		return scb_fail(&b->loop, c, "echo reply %lld without data", (long long)rp->id);
	if (scb_payload_check(rp->data, rp->len, b->o->size, (uint64_t)q.cid, c->id, why,
			      sizeof(why)) < 0)
		return scb_fail(&b->loop, c, "echo reply %lld: %s", (long long)q.cid, why);
	rtt = b->loop.now - q.t;
	scb_hist_record(r->hist, rtt > 0 ? (uint64_t)(rtt * 1e9) : 0);
	r->replied++;
	scb_conn_mark(&b->loop, c);
	return 0;
}

/* The responder: every request on `echo` answered with its own data. */
static int rpc_on_msg(struct scb *b, struct scb_conn *c, const struct scb_msg *m)
{
	if (c->role != ROLE_RESP)
		return 0; /* a server's own event: none of ours */
	if (!m->reply_len)
		return scb_fail(&b->loop, c, "a request without a reply subject");
	return b->proto->respond(&b->loop, c, m->reply, m->reply_len, m->data, m->len);
}

static bool rpc_run_done(const struct scb *b)
{
	const struct rpc *r = b->state;

	return r->issued >= b->o->count;
}

static int rpc_drain(struct scb *b)
{
	struct rpc *r = b->state;

	if (!b->o->rate)
		return 0;
	for (unsigned i = 0; i < r->nreq; i++) {
		const struct client *cl = &r->clients[i];
		double x = ((b->t_phase - b->t_run) * b->o->rate - i) / r->nreq;
		double n = x < 0 ? 0 : floor(x) + 1; /* requests due by the end of RUN */

		if (n > (double)cl->sent)
			r->behind += (uint64_t)(n - (double)cl->sent);
	}
	return 0;
}

static int rpc_drained(struct scb *b)
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

	scb_out_u64(out, "conns", r->nreq);
	scb_out_u64(out, "inflight", b->o->inflight);
	if (b->o->rate) {
		scb_out_f(out, "rate", b->o->rate, 0);
		scb_out_u64(out, "behind", r->behind);
	}
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
    .help = "  rpc      --conns C connections send requests to the procedure `echo`\n"
	    "           (NATS: subject `echo`, answered by a responder connection this\n"
	    "           tool adds) and time each round trip; every reply must carry its\n"
	    "           request's payload. Closed loop: --inflight K per connection (K =\n"
	    "           1: serial). --rate R: R requests/s in all on a fixed schedule,\n"
	    "           latency from each request's due time (no coordinated omission),\n"
	    "           K (64) bounds those in flight. Reports requests/s and latency\n"
	    "           p50, p90, p99, p99.9, max in us.\n",
    .nconns = rpc_nconns,
    .init = rpc_init,
    .deinit = rpc_deinit,
    .prepare = rpc_prepare,
    .prepared = rpc_prepared,
    .start = rpc_start,
    .pump = rpc_pump,
    .on_msg = rpc_on_msg,
    .on_reply = rpc_on_reply,
    .tick = rpc_tick,
    .run_done = rpc_run_done,
    .drain = rpc_drain,
    .drained = rpc_drained,
    .progress_name = "replies",
    .progress = rpc_progress,
    .stall_hint = "; does the server have the procedure `echo`?",
    .report = rpc_report,
};
