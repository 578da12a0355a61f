/*
 * sc_bench_pubsub: the pub/sub scenarios of sluice-bench.
 *
 * ingest: P publishers transmitPublish to one channel nobody subscribes to
 *   (the cost of taking messages in), as fast as TCP flow control lets
 *   them; at the end each sends one invokePublish and waits for its reply:
 *   a server handles a socket's packets in order, so that reply says every
 *   message before it was processed.
 *
 * fanout: 1 publisher, S subscribers of one channel (each subscribe
 *   answered before RUN). The publisher keeps at most W messages published
 *   and not yet received by the slowest subscriber, so it cannot outrun the
 *   subscribers without bound and measure only the server's buffers. Every
 *   subscriber checks it gets every message, in publish order, unaltered;
 *   DRAIN waits until each has all of them. The publisher refills only once
 *   a quarter of the window is free: a server that trickles messages out
 *   one by one then still gets them in batches, not one send per delivery.
 *
 * Both send the same frame: the publish of a payload whose marks
 * (sc_bench.h) carry the message's sequence number and its publisher:
 *
 *   {"event":"#publish","data":{"channel":"<channel>","data":"<payload>"}}
 *   '---------------------- prefix -------------------------'  ^ suffix "}}
 *
 * built once per run; sending one is a copy, two marks and the masking.
 *
 * Threads: the run's one thread (sc_bench.h).
 */
#include "sc_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_PUB, ROLE_SUB };

struct pub {
	uint64_t sent;
	uint64_t quota; /* with --count: this publisher's share */
	int64_t barrier_cid;
	bool barrier_done;
};

struct sub {
	uint64_t got;
	int64_t sub_cid;
	bool subscribed;
};

struct pubsub {
	uint8_t *tpl; /* the publish text with the unmarked payload */
	size_t tpl_len;
	size_t pay_off; /* where the payload starts in tpl */
	struct pub *pubs;
	struct sub *subs;
	unsigned npubs, nsubs;
	unsigned barriers; /* ingest: barrier replies received */
	unsigned subscribed;
	uint64_t sent; /* over all publishers */
	uint64_t delivered;
};

static int build_template(struct scb *b, struct pubsub *ps)
{
	static const char pre[] = "{\"event\":\"#publish\",\"data\":{\"channel\":\"";
	static const char mid[] = "\",\"data\":\"";
	static const char suf[] = "\"}}";
	size_t chl = strlen(b->o->channel), at = 0;

	ps->tpl_len = sizeof(pre) - 1 + chl + sizeof(mid) - 1 + b->o->size + sizeof(suf) - 1;
	ps->tpl = malloc(ps->tpl_len);
	if (!ps->tpl)
		return -1;
	memcpy(ps->tpl, pre, sizeof(pre) - 1);
	at += sizeof(pre) - 1;
	memcpy(ps->tpl + at, b->o->channel, chl);
	at += chl;
	memcpy(ps->tpl + at, mid, sizeof(mid) - 1);
	at += sizeof(mid) - 1;
	ps->pay_off = at;
	memcpy(ps->tpl + at, b->payload, b->o->size);
	at += b->o->size;
	memcpy(ps->tpl + at, suf, sizeof(suf) - 1);
	return 0;
}

/* Appends message seq of publisher c. */
static int publish(struct scb *b, struct pubsub *ps, struct scb_conn *c, uint64_t seq)
{
	uint8_t *p = scb_conn_text_begin(&b->loop, c, ps->tpl_len);

	if (!p)
		return -1;
	memcpy(p, ps->tpl, ps->tpl_len);
	scb_payload_mark(p + ps->pay_off, b->o->size, seq, c->id);
	scb_conn_text_end(c);
	return 0;
}

static bool is_channel(const struct scb *b, const uint8_t *buf, const struct packet *p)
{
	size_t n = strlen(b->o->channel);

	return p->has_channel && !p->channel_esc && p->channel.len == n &&
	       memcmp(buf + p->channel.off, b->o->channel, n) == 0;
}

static int pubsub_init(struct scb *b, unsigned npubs, unsigned nsubs)
{
	struct pubsub *ps = calloc(1, sizeof(*ps));

	b->state = ps;
	if (!ps)
		goto oom;
	ps->npubs = npubs;
	ps->nsubs = nsubs;
	ps->pubs = calloc(npubs, sizeof(*ps->pubs));
	ps->subs = calloc(nsubs ? nsubs : 1, sizeof(*ps->subs));
	if (!ps->pubs || !ps->subs || build_template(b, ps) < 0)
		goto oom;
	for (unsigned i = 0; i < npubs; i++) {
		b->conns[i].role = ROLE_PUB;
		b->conns[i].user = &ps->pubs[i];
		/* --count is shared out: the first publishers take the rest */
		ps->pubs[i].quota = b->o->count / npubs + (i < b->o->count % npubs);
	}
	for (unsigned i = 0; i < nsubs; i++) {
		b->conns[npubs + i].role = ROLE_SUB;
		b->conns[npubs + i].user = &ps->subs[i];
	}
	return 0;
oom:
	fprintf(stderr, "sluice-bench: out of memory\n");
	return -1;
}

static void pubsub_deinit(struct scb *b)
{
	struct pubsub *ps = b->state;

	if (!ps)
		return;
	free(ps->tpl);
	free(ps->pubs);
	free(ps->subs);
	free(ps);
	b->state = NULL;
}

/* ---- ingest -------------------------------------------------------------- */

static unsigned ingest_nconns(const struct scb_opts *o)
{
	return o->publishers;
}

static int ingest_init(struct scb *b)
{
	return pubsub_init(b, b->o->publishers, 0);
}

static int ingest_pump(struct scb *b, struct scb_conn *c)
{
	struct pubsub *ps = b->state;
	struct pub *p = c->user;
	const bool counted = b->o->count != 0;

	if (b->phase != SCB_RUN)
		return 0;
	while (scb_conn_pending(c) < SCB_OUT_SOFT && (!counted || p->sent < p->quota)) {
		if (publish(b, ps, c, p->sent) < 0)
			return -1;
		p->sent++;
		ps->sent++;
	}
	return !counted || p->sent < p->quota;
}

static int ingest_on_packet(struct scb *b, struct scb_conn *c, const uint8_t *buf,
			    const struct packet *p)
{
	struct pubsub *ps = b->state;
	struct pub *pub = c->user;

	if (p->kind != PACKET_REPLY)
		return 0; /* an event the server pushes: none of ours */
	if (!p->has_rid || p->rid != pub->barrier_cid || pub->barrier_done)
		return scb_fail(&b->loop, c, "reply to a request never sent: %.*s",
				SCB_SPAN(buf, p->span));
	if (packet_has(p->error))
		return scb_fail(&b->loop, c, "invokePublish refused: %.*s",
				SCB_SPAN(buf, p->error));
	pub->barrier_done = true;
	ps->barriers++;
	return 0;
}

static bool ingest_run_done(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->sent >= b->o->count;
}

/* invokePublish on every publisher: its reply comes after all the rest. */
static int ingest_drain(struct scb *b)
{
	for (unsigned i = 0; i < b->nconns; i++) {
		struct scb_conn *c = &b->conns[i];
		struct pub *p = c->user;

		p->barrier_cid = scb_conn_cid(c);
		if (scb_conn_send_fmt(&b->loop, c,
				      "{\"event\":\"#publish\",\"data\":{\"channel\":\"%s\","
				      "\"data\":\"barrier\"},\"cid\":%lld}",
				      b->o->channel, (long long)p->barrier_cid) < 0)
			return -1;
	}
	return 0;
}

static bool ingest_drained(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->barriers == ps->npubs;
}

static uint64_t ingest_progress(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->sent;
}

static void ingest_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct pubsub *ps = b->state;

	scb_out_u64(out, "publishers", ps->npubs);
	scb_out_u64(out, "msgs", ps->sent);
	scb_out_f(out, "msgs_per_s", (double)ps->sent / secs, 0);
	scb_out_f(out, "mb_per_s", (double)ps->sent * (double)b->o->size / secs / 1e6, 2);
}

const struct scb_scenario scb_ingest = {
    .name = "ingest",
    .help = "  ingest   --publishers P connections send transmitPublish (no cid) to one\n"
	    "           channel with no subscriber, as fast as TCP lets them, for\n"
	    "           --duration or --count messages in all; then each sends one\n"
	    "           invokePublish and waits for its reply, so every message counted\n"
	    "           was processed. Reports msgs/s (and payload MB/s).\n",
    .nconns = ingest_nconns,
    .init = ingest_init,
    .deinit = pubsub_deinit,
    .pump = ingest_pump,
    .on_packet = ingest_on_packet,
    .run_done = ingest_run_done,
    .drain = ingest_drain,
    .drained = ingest_drained,
    .progress_name = "published",
    .progress = ingest_progress,
    .report = ingest_report,
};

/* ---- fanout -------------------------------------------------------------- */

static unsigned fanout_nconns(const struct scb_opts *o)
{
	return 1 + o->subscribers;
}

static int fanout_init(struct scb *b)
{
	return pubsub_init(b, 1, b->o->subscribers);
}

static int fanout_prepare(struct scb *b)
{
	for (unsigned i = 1; i < b->nconns; i++) {
		struct scb_conn *c = &b->conns[i];
		struct sub *s = c->user;

		s->sub_cid = scb_conn_cid(c);
		if (scb_conn_send_fmt(&b->loop, c,
				      "{\"event\":\"#subscribe\",\"data\":{\"channel\":\"%s\"},"
				      "\"cid\":%lld}",
				      b->o->channel, (long long)s->sub_cid) < 0)
			return -1;
	}
	return 0;
}

static bool fanout_prepared(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->subscribed == ps->nsubs;
}

/* The most any subscriber lags: published and not yet received. */
static uint64_t fanout_lag(const struct pubsub *ps)
{
	uint64_t slowest = ps->pubs[0].sent;

	for (unsigned i = 0; i < ps->nsubs; i++)
		if (ps->subs[i].got < slowest)
			slowest = ps->subs[i].got;
	return ps->pubs[0].sent - slowest;
}

static int fanout_pump(struct scb *b, struct scb_conn *c)
{
	struct pubsub *ps = b->state;
	struct pub *p = c->user;
	const bool counted = b->o->count != 0;
	uint64_t lag, room;

	if (b->phase != SCB_RUN || c->role != ROLE_PUB)
		return 0;
	lag = fanout_lag(ps);
	room = lag < b->o->window ? b->o->window - lag : 0;
	/* refill by a quarter of the window at least: fewer, fuller sends than
	 * one per delivery when the server trickles messages out one by one */
	if (room < (b->o->window + 3) / 4)
		return 0;
	for (; room && scb_conn_pending(c) < SCB_OUT_SOFT && (!counted || p->sent < b->o->count);
	     room--) {
		if (publish(b, ps, c, p->sent) < 0)
			return -1;
		p->sent++;
		ps->sent++;
	}
	/* a full window opens again on a delivery, which marks the publisher */
	return room && (!counted || p->sent < b->o->count);
}

static int fanout_on_packet(struct scb *b, struct scb_conn *c, const uint8_t *buf,
			    const struct packet *p)
{
	struct pubsub *ps = b->state;
	struct sub *s = c->user;
	char why[160];

	if (c->role == ROLE_PUB) {
		if (p->kind == PACKET_REPLY)
			return scb_fail(&b->loop, c, "reply to a request never sent: %.*s",
					SCB_SPAN(buf, p->span));
		return 0;
	}
	if (p->kind == PACKET_REPLY) {
		if (!p->has_rid || p->rid != s->sub_cid || s->subscribed)
			return scb_fail(&b->loop, c, "reply to a request never sent: %.*s",
					SCB_SPAN(buf, p->span));
		if (packet_has(p->error))
			return scb_fail(&b->loop, c, "subscribe refused: %.*s",
					SCB_SPAN(buf, p->error));
		s->subscribed = true;
		ps->subscribed++;
		return 0;
	}
	if (p->ev != PACKET_EV_PUBLISH)
		return 0;
	if (!is_channel(b, buf, p))
		return scb_fail(&b->loop, c, "publish on another channel: %.*s",
				SCB_SPAN(buf, p->span));
	if (s->got >= ps->pubs[0].sent)
		return scb_fail(&b->loop, c, "message %llu delivered, only %llu published",
				(unsigned long long)s->got, (unsigned long long)ps->pubs[0].sent);
	if (scb_payload_check(buf + p->inner.off, p->inner.len, b->o->size, s->got,
			      b->conns[0].id, why, sizeof(why)) < 0)
		return scb_fail(&b->loop, c, "subscriber got %s", why);
	s->got++;
	ps->delivered++;
	scb_conn_mark(&b->loop, &b->conns[0]);
	return 0;
}

static bool fanout_run_done(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->sent >= b->o->count;
}

static bool fanout_drained(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->delivered == ps->sent * ps->nsubs;
}

static uint64_t fanout_progress(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->delivered;
}

static void fanout_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct pubsub *ps = b->state;

	scb_out_u64(out, "subscribers", ps->nsubs);
	scb_out_u64(out, "window", b->o->window);
	scb_out_u64(out, "published", ps->sent);
	scb_out_u64(out, "delivered", ps->delivered);
	scb_out_f(out, "published_per_s", (double)ps->sent / secs, 0);
	scb_out_f(out, "delivered_per_s", (double)ps->delivered / secs, 0);
}

const struct scb_scenario scb_fanout = {
    .name = "fanout",
    .help = "  fanout   1 publisher, --subscribers S subscribed to one channel (every\n"
	    "           #subscribe answered first). The publisher sends transmitPublish\n"
	    "           at full speed but keeps at most --window W messages published\n"
	    "           and not yet received by the slowest subscriber. Each subscriber\n"
	    "           checks it gets every message in publish order; the run ends when\n"
	    "           all have all. Reports delivered msgs/s (over all subscribers)\n"
	    "           and published msgs/s.\n",
    .nconns = fanout_nconns,
    .init = fanout_init,
    .deinit = pubsub_deinit,
    .prepare = fanout_prepare,
    .prepared = fanout_prepared,
    .pump = fanout_pump,
    .on_packet = fanout_on_packet,
    .run_done = fanout_run_done,
    .drained = fanout_drained,
    .progress_name = "delivered",
    .progress = fanout_progress,
    .report = fanout_report,
};
