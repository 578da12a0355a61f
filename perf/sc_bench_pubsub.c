/*
 * sc_bench_pubsub: the pub/sub scenarios of sluice-bench.
 *
 * Channels: with --channels C the publishers spread over C channels
 * (<channel>.0 .. <channel>.C-1; just <channel> when C is 1), and subscriber
 * s subscribes to channel s % C. With C <= P publisher p publishes to
 * channel p % C alone; with C > P it publishes to channels p, p + P,
 * p + 2P, ... in turn (each channel then has one publisher). Sequence
 * numbers count a publisher's messages to one channel, so every subscriber
 * sees each of its publishers' numbers without a gap.
 *
 * ingest: P publishers publish (transmitPublish; NATS PUB) to channels
 *   nobody subscribes to (the cost of taking messages in), as fast as TCP
 *   flow control lets them; at the end each sends one barrier and waits for
 *   its answer (SocketCluster: an invokePublish; NATS: PING): a server
 *   handles a connection's messages in order, so the answer says every
 *   message before it was processed.
 *
 * fanout: P publishers, S subscribers (each subscribe answered before RUN).
 *   Each publisher keeps at most W messages published and not yet received
 *   by the slowest subscriber of its channel, so it cannot outrun the
 *   subscribers without bound and measure only the server's buffers. Every
 *   subscriber checks it gets every message of every publisher of its
 *   channel, in each publisher's order, unaltered; DRAIN waits until each
 *   has all of them. A publisher refills only once a quarter of its window
 *   is free: a server that trickles messages out one by one then still gets
 *   them in batches, not one send per delivery.
 *
 * slow: fanout from 1 publisher to S subscribers plus one more that
 *   subscribes and then stops reading (its socket leaves the epoll set at
 *   the start of RUN). The window counts only the S, so the figure is what
 *   they keep getting while the stalled one's queue grows on the server.
 *   In DRAIN, once the S have everything, the stalled one reads again: what
 *   the server kept for it (checked like the rest), then either everything
 *   (it was never cut off) or the end of its connection: the WebSocket close
 *   code (sluice: 4100) or none (EOF, NATS: -ERR).
 *
 * Every publish is one template per channel (struct scb_tpl) copied and
 * marked with its sequence number and publisher (sc_bench.h).
 *
 * Threads: the run's one thread (sc_bench.h).
 */
#include "bench.h"

#include "sc_bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { ROLE_PUB, ROLE_SUB, ROLE_STALLED };

struct pub {
	uint64_t sent;	/* to all its channels */
	uint64_t quota; /* with --count: this publisher's share */
	unsigned ch;	/* its first channel */
	unsigned nch;	/* its channels: ch, ch + P, ... (C > P), else ch alone */
	int64_t barrier_cid;
	bool barrier_done;
};

struct sub {
	unsigned ch;
	uint64_t *got; /* per publisher of its channel, at pub_index */
	uint64_t total;
	int64_t sub_cid;
	bool subscribed;
};

struct pubsub {
	unsigned npubs, nsubs, nch;
	unsigned per_ch; /* the most publishers of one channel */
	unsigned window;
	bool stalled;	 /* slow: subs[nsubs] is the stalled one */
	char **names;	 /* of the channels */
	size_t *name_lens;
	struct scb_tpl *tpls;
	struct pub *pubs;
	struct sub *subs;
	uint64_t *gots;
	unsigned barriers; /* ingest: barrier answers received */
	unsigned subscribed;
	uint64_t sent;	    /* over all publishers */
	uint64_t delivered; /* to the subscribers (not the stalled one) */
	uint64_t due;	    /* DRAIN: deliveries to wait for */
	/* slow */
	double t_subs_done; /* when the S had everything */
	bool resumed, cut, stalled_done;
	unsigned close_code;
	char close_why[128];
};

static int pubsub_init(struct scb *b, unsigned npubs, unsigned nsubs, bool stalled)
{
	const struct scb_opts *o = b->o;
	struct pubsub *ps = calloc(1, sizeof(*ps));
	unsigned nch = o->channels, all = nsubs + stalled;
	size_t name_len = strlen(o->channel) + 12;

	b->state = ps;
	if (!ps)
		goto oom;
	if (nsubs && nch > nsubs) {
		fprintf(stderr, "sluice-bench: %s: --channels %u needs as many subscribers\n",
			b->sc->name, nch);
		return -1;
	}
	if (npubs + all > SCB_STREAM_LIMIT) {
		fprintf(stderr, "sluice-bench: too many connections\n");
		return -1;
	}
	ps->npubs = npubs;
	ps->nsubs = nsubs;
	ps->nch = nch;
	ps->per_ch = (npubs + nch - 1) / nch;
	ps->stalled = stalled;
	if (o->window) {
		ps->window = o->window;
	} else if (nsubs) {
		/* as much in flight as the servers take without calling a
		 * subscriber slow: 1000 messages per subscriber (sluiced cuts one
		 * off at 1024 queued frames), 1 MiB per subscriber, 256 MiB in
		 * all; a subscriber's share comes from all its channel's publishers */
		uint64_t msg = o->size + 64;
		uint64_t per = (uint64_t)(npubs > nch ? npubs : nch) * ((nsubs + nch - 1) / nch);
		uint64_t w = 1000 / ps->per_ch;

		if (w > (1u << 20) / msg / ps->per_ch)
			w = (1u << 20) / msg / ps->per_ch;
		if (w > (256ull << 20) / (msg * per))
			w = (256ull << 20) / (msg * per);
		ps->window = w < 16 ? 16 : (unsigned)w;
	}
	ps->names = calloc(nch, sizeof(*ps->names));
	ps->name_lens = calloc(nch, sizeof(*ps->name_lens));
	ps->tpls = calloc(nch, sizeof(*ps->tpls));
	ps->pubs = calloc(npubs, sizeof(*ps->pubs));
	ps->subs = calloc(all ? all : 1, sizeof(*ps->subs));
	ps->gots = calloc((size_t)(all ? all : 1) * ps->per_ch, sizeof(*ps->gots));
	if (!ps->names || !ps->name_lens || !ps->tpls || !ps->pubs || !ps->subs || !ps->gots)
		goto oom;
	for (unsigned i = 0; i < nch; i++) {
		ps->names[i] = malloc(name_len);
		if (!ps->names[i])
			goto oom;
		if (nch == 1)
			snprintf(ps->names[i], name_len, "%s", o->channel);
		else
			snprintf(ps->names[i], name_len, "%s.%u", o->channel, i);
		ps->name_lens[i] = strlen(ps->names[i]);
		if (b->proto->pub_tpl(ps->names[i], b->payload, o->size, &ps->tpls[i]) < 0)
			goto oom;
	}
	for (unsigned i = 0; i < npubs; i++) {
		b->conns[i].role = ROLE_PUB;
		b->conns[i].user = &ps->pubs[i];
		ps->pubs[i].ch = i % nch;
		ps->pubs[i].nch = nch > npubs ? (nch - i + npubs - 1) / npubs : 1;
		/* --count is shared out: the first publishers take the rest */
		ps->pubs[i].quota = o->count / npubs + (i < o->count % npubs);
	}
	for (unsigned i = 0; i < all; i++) {
		b->conns[npubs + i].role = i < nsubs ? ROLE_SUB : ROLE_STALLED;
		b->conns[npubs + i].user = &ps->subs[i];
		ps->subs[i].ch = i % nch;
		ps->subs[i].got = ps->gots + (size_t)i * ps->per_ch;
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
	for (unsigned i = 0; ps->names && i < ps->nch; i++)
		free(ps->names[i]);
	for (unsigned i = 0; ps->tpls && i < ps->nch; i++)
		free(ps->tpls[i].buf);
	free(ps->names);
	free(ps->name_lens);
	free(ps->tpls);
	free(ps->pubs);
	free(ps->subs);
	free(ps->gots);
	free(ps);
	b->state = NULL;
}

/* The channel of message n of publisher p, and its sequence number there. */
static unsigned pub_channel(const struct pubsub *ps, const struct pub *p, uint64_t n,
			    uint64_t *seq)
{
	*seq = n / p->nch;
	return p->ch + (unsigned)(n % p->nch) * ps->npubs;
}

/* Messages publisher p sent to its j-th channel. */
static uint64_t sent_to(const struct pub *p, unsigned j)
{
	return (p->sent + p->nch - 1 - j) / p->nch;
}

/* Where publisher `from` is among the publishers of channel ch (the index
 * of a subscriber's got[]); false when it does not publish there. */
static bool pub_index(const struct pubsub *ps, unsigned ch, unsigned from, unsigned *k)
{
	if (from >= ps->npubs)
		return false;
	if (ps->nch > ps->npubs) {
		*k = 0;
		return from == ch % ps->npubs;
	}
	*k = from / ps->nch;
	return from % ps->nch == ch;
}

/* Appends publishes of c while there is room: at most n, and until its
 * quota with --count. Returns how many, or -1. */
static int64_t publish_some(struct scb *b, struct scb_conn *c, uint64_t n)
{
	struct pubsub *ps = b->state;
	struct pub *p = c->user;
	const bool counted = b->o->count != 0;
	uint64_t done = 0;

	for (; done < n && scb_conn_pending(c) < SCB_OUT_SOFT && (!counted || p->sent < p->quota);
	     done++) {
		uint64_t seq;
		unsigned ch = pub_channel(ps, p, p->sent, &seq);

		if (scb_publish(b, c, &ps->tpls[ch], seq) < 0)
			return -1;
		p->sent++;
		ps->sent++;
	}
	return (int64_t)done;
}

static bool pubs_done(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->sent >= b->o->count;
}

/* ---- ingest -------------------------------------------------------------- */

static unsigned ingest_nconns(const struct scb_opts *o)
{
	return o->publishers;
}

static int ingest_init(struct scb *b)
{
	return pubsub_init(b, b->o->publishers, 0, false);
}

static int ingest_pump(struct scb *b, struct scb_conn *c)
{
	struct pub *p = c->user;

	if (b->phase != SCB_RUN)
		return 0;
	if (publish_some(b, c, UINT64_MAX) < 0)
		return -1;
	return !b->o->count || p->sent < p->quota;
}

static int ingest_on_msg(struct scb *b, struct scb_conn *c, const struct scb_msg *m)
{
	return 0; /* nobody subscribed: a server's own event, none of ours */
}

static int ingest_on_reply(struct scb *b, struct scb_conn *c, const struct scb_reply *r)
{
	struct pubsub *ps = b->state;
	struct pub *pub = c->user;

	if (r->id != pub->barrier_cid || pub->barrier_done)
		return scb_fail(&b->loop, c, "answer to a request never sent (id %lld)",
				(long long)r->id);
	if (r->error)
		return scb_fail(&b->loop, c, "barrier refused: %.*s", (int)r->error_len,
				(const char *)r->error);
	pub->barrier_done = true;
	ps->barriers++;
	return 0;
}

/* A barrier on every publisher: its answer comes after all the rest. */
static int ingest_drain(struct scb *b)
{
	struct pubsub *ps = b->state;

	for (unsigned i = 0; i < ps->npubs; i++) {
		struct scb_conn *c = &b->conns[i];
		struct pub *p = c->user;

		p->barrier_cid = scb_conn_cid(c);
		if (scb_barrier(b, c, ps->names[p->ch], p->barrier_cid) < 0)
			return -1;
	}
	return 0;
}

static int ingest_drained(struct scb *b)
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
	scb_out_u64(out, "channels", ps->nch);
	scb_out_u64(out, "msgs", ps->sent);
	scb_out_f(out, "msgs_per_s", (double)ps->sent / secs, 0);
	scb_out_f(out, "mb_per_s", (double)ps->sent * (double)b->o->size / secs / 1e6, 2);
}

const struct scb_scenario scb_ingest = {
    .name = "ingest",
    .help = "  ingest   --publishers P connections publish (SocketCluster: transmitPublish,\n"
	    "           no cid; NATS: PUB) to --channels C channels with no subscriber,\n"
	    "           as fast as TCP lets them, for --duration or --count messages in\n"
	    "           all; then each sends a barrier (invokePublish; NATS: PING) and\n"
	    "           waits for its answer, so every message counted was processed.\n"
	    "           Reports msgs/s (and payload MB/s).\n",
    .nconns = ingest_nconns,
    .init = ingest_init,
    .deinit = pubsub_deinit,
    .pump = ingest_pump,
    .on_msg = ingest_on_msg,
    .on_reply = ingest_on_reply,
    .run_done = pubs_done,
    .drain = ingest_drain,
    .drained = ingest_drained,
    .progress_name = "published",
    .progress = ingest_progress,
    .report = ingest_report,
};

/* ---- fanout -------------------------------------------------------------- */

static unsigned fanout_nconns(const struct scb_opts *o)
{
	return o->publishers + o->subscribers;
}

static int fanout_init(struct scb *b)
{
	return pubsub_init(b, b->o->publishers, b->o->subscribers, false);
}

static int fanout_prepare(struct scb *b)
{
	struct pubsub *ps = b->state;

	for (unsigned i = ps->npubs; i < b->nconns; i++) {
		struct scb_conn *c = &b->conns[i];
		struct sub *s = c->user;

		s->sub_cid = scb_conn_cid(c);
		if (scb_subscribe(b, c, ps->names[s->ch], s->sub_cid) < 0)
			return -1;
	}
	return 0;
}

static bool fanout_prepared(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->subscribed == ps->nsubs + ps->stalled;
}

/* The most any subscriber of p's channels (the stalled one aside) lags
 * behind p: published and not yet received. */
static uint64_t fanout_lag(const struct pubsub *ps, unsigned p)
{
	const struct pub *pub = &ps->pubs[p];
	uint64_t most = 0;

	for (unsigned j = 0; j < pub->nch; j++) {
		unsigned ch = pub->ch + j * ps->npubs, k = 0;
		uint64_t sent = sent_to(pub, j), slowest = sent;

		pub_index(ps, ch, p, &k);
		for (unsigned s = ch; s < ps->nsubs; s += ps->nch)
			if (ps->subs[s].got[k] < slowest)
				slowest = ps->subs[s].got[k];
		if (sent - slowest > most)
			most = sent - slowest;
	}
	return most;
}

static int fanout_pump(struct scb *b, struct scb_conn *c)
{
	struct pubsub *ps = b->state;
	struct pub *p = c->user;
	uint64_t lag, room;
	int64_t n;

	if (b->phase != SCB_RUN || c->role != ROLE_PUB)
		return 0;
	lag = fanout_lag(ps, c->id);
	room = lag < ps->window ? ps->window - lag : 0;
	/* refill by a quarter of the window at least: fewer, fuller sends than
	 * one per delivery when the server trickles messages out one by one */
	if (room < (ps->window + 3) / 4)
		return 0;
	n = publish_some(b, c, room);
	if (n < 0)
		return -1;
	/* a full window opens again on a delivery, which marks the publisher */
	return (uint64_t)n < room && (!b->o->count || p->sent < p->quota) &&
	       scb_conn_pending(c) >= SCB_OUT_SOFT;
}

static int fanout_on_reply(struct scb *b, struct scb_conn *c, const struct scb_reply *r)
{
	struct pubsub *ps = b->state;
	struct sub *s = c->user;

	if (c->role == ROLE_PUB || r->id != s->sub_cid || s->subscribed)
		return scb_fail(&b->loop, c, "answer to a request never sent (id %lld)",
				(long long)r->id);
	if (r->error)
		return scb_fail(&b->loop, c, "subscribe refused: %.*s", (int)r->error_len,
				(const char *)r->error);
	s->subscribed = true;
	ps->subscribed++;
	return 0;
}

static int fanout_on_msg(struct scb *b, struct scb_conn *c, const struct scb_msg *m)
{
	struct pubsub *ps = b->state;
	struct sub *s = c->user;
	const char *name;
	char why[160];
	uint64_t seq;
	uint32_t from;
	unsigned k;

	if (c->role == ROLE_PUB)
		return 0; /* a server's own event: none of ours */
	name = ps->names[s->ch];
	if (m->channel_len != ps->name_lens[s->ch] || memcmp(m->channel, name, m->channel_len) != 0)
		return scb_fail(&b->loop, c, "a message on %.*s, subscribed to %s",
				(int)m->channel_len, (const char *)m->channel, name);
	if (scb_payload_read(m->data, m->len, b->o->size, &seq, &from, why, sizeof(why)) < 0)
		return scb_fail(&b->loop, c, "subscriber got %s", why);
	if (!pub_index(ps, s->ch, from, &k))
		return scb_fail(&b->loop, c, "a message of connection %u, no publisher of %s",
				from, name);
	if (seq != s->got[k])
		return scb_fail(&b->loop, c, "message %llu of publisher %u where %llu was due",
				(unsigned long long)seq, from, (unsigned long long)s->got[k]);
	if (seq >= sent_to(&ps->pubs[from], (s->ch - ps->pubs[from].ch) / ps->npubs))
		return scb_fail(&b->loop, c, "message %llu of publisher %u delivered before it "
					     "was published",
				(unsigned long long)seq, from);
	s->got[k]++;
	s->total++;
	if (c->role == ROLE_SUB) {
		ps->delivered++;
		scb_conn_mark(&b->loop, &b->conns[from]);
	}
	return 0;
}

/* Deliveries due to the subscribers (not the stalled one): each gets what
 * the publishers of its channel sent. */
static uint64_t expected(const struct pubsub *ps)
{
	uint64_t sum = 0;

	for (unsigned p = 0; p < ps->npubs; p++) {
		const struct pub *pub = &ps->pubs[p];

		for (unsigned j = 0; j < pub->nch; j++) {
			unsigned ch = pub->ch + j * ps->npubs;
			unsigned subs = (ps->nsubs - ch + ps->nch - 1) / ps->nch;

			sum += sent_to(pub, j) * subs;
		}
	}
	return sum;
}

static int fanout_drain(struct scb *b)
{
	struct pubsub *ps = b->state;

	ps->due = expected(ps);
	return 0;
}

static int fanout_drained(struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->delivered == ps->due;
}

static uint64_t fanout_progress(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->delivered;
}

static void fanout_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct pubsub *ps = b->state;

	scb_out_u64(out, "publishers", ps->npubs);
	scb_out_u64(out, "subscribers", ps->nsubs);
	scb_out_u64(out, "channels", ps->nch);
	scb_out_u64(out, "window", ps->window);
	scb_out_u64(out, "published", ps->sent);
	scb_out_u64(out, "delivered", ps->delivered);
	scb_out_f(out, "published_per_s", (double)ps->sent / secs, 0);
	scb_out_f(out, "delivered_per_s", (double)ps->delivered / secs, 0);
}

const struct scb_scenario scb_fanout = {
    .name = "fanout",
    .help = "  fanout   --publishers P (1) publish to --channels C (1) channels, each\n"
	    "           subscribed by --subscribers S in all (subscriber s on channel\n"
	    "           s % C; publisher p on channel p % C when C <= P, else on p,\n"
	    "           p + P, ... in turn; every subscribe answered first): 1->1,\n"
	    "           1->1000, or N->M over many channels. Publishers go at full\n"
	    "           speed but keep at most --window W messages published and not\n"
	    "           yet received by the slowest subscriber of their channel.\n"
	    "           Each subscriber checks it gets every message of every publisher\n"
	    "           of its channel in order; the run ends when all have all.\n"
	    "           Reports delivered msgs/s (over all subscribers) and published.\n",
    .nconns = fanout_nconns,
    .init = fanout_init,
    .deinit = pubsub_deinit,
    .prepare = fanout_prepare,
    .prepared = fanout_prepared,
    .pump = fanout_pump,
    .on_msg = fanout_on_msg,
    .on_reply = fanout_on_reply,
    .run_done = pubs_done,
    .drain = fanout_drain,
    .drained = fanout_drained,
    .progress_name = "delivered",
    .progress = fanout_progress,
    .report = fanout_report,
};

/* ---- slow ---------------------------------------------------------------- */

static unsigned slow_nconns(const struct scb_opts *o)
{
	return 1 + o->subscribers + 1;
}

static int slow_init(struct scb *b)
{
	if (b->o->channels != 1 || b->o->publishers != 1) {
		fprintf(stderr, "sluice-bench: slow: one publisher and one channel\n");
		return -1;
	}
	return pubsub_init(b, 1, b->o->subscribers, true);
}

static struct scb_conn *stalled(struct scb *b)
{
	return &b->conns[b->nconns - 1];
}

static int slow_start(struct scb *b)
{
	return scb_conn_pause(&b->loop, stalled(b));
}

/* The server cut the stalled subscriber off: what slow measures. Anyone
 * else lost ends the run. */
static int slow_on_lost(struct scb *b, struct scb_conn *c, unsigned code, const char *why)
{
	struct pubsub *ps = b->state;

	if (c->role != ROLE_STALLED)
		return -1;
	ps->cut = true;
	ps->stalled_done = true;
	ps->close_code = code;
	snprintf(ps->close_why, sizeof(ps->close_why), "%s", why);
	return 0;
}

static int slow_drained(struct scb *b)
{
	struct pubsub *ps = b->state;
	const struct sub *st = &ps->subs[ps->nsubs];

	if (ps->delivered != ps->due)
		return 0;
	if (!ps->resumed) {
		ps->t_subs_done = b->loop.now;
		ps->resumed = true;
		if (scb_conn_resume(&b->loop, stalled(b)) < 0)
			return -1;
	}
	if (!ps->stalled_done && st->total == ps->sent)
		ps->stalled_done = true;
	return ps->stalled_done;
}

static uint64_t slow_progress(const struct scb *b)
{
	const struct pubsub *ps = b->state;

	return ps->delivered + ps->subs[ps->nsubs].total;
}

static void slow_report(const struct scb *b, double secs, struct scb_out *out)
{
	const struct pubsub *ps = b->state;
	double t = ps->t_subs_done - b->t_run;

	scb_out_u64(out, "subscribers", ps->nsubs);
	scb_out_u64(out, "window", ps->window);
	scb_out_u64(out, "published", ps->sent);
	scb_out_u64(out, "delivered", ps->delivered);
	scb_out_f(out, "delivered_per_s", (double)ps->delivered / t, 0);
	scb_out_u64(out, "stalled_got", ps->subs[ps->nsubs].total);
	scb_out_u64(out, "stalled_cut", ps->cut);
	scb_out_u64(out, "stalled_close", ps->close_code);
	if (ps->cut)
		fprintf(stderr, "sluice-bench: slow: the stalled subscriber was cut off: %s\n",
			ps->close_why);
}

const struct scb_scenario scb_slow = {
    .name = "slow",
    .help = "  slow     1 publisher, --subscribers S and one more subscriber that stops\n"
	    "           reading when the run starts. The window counts the S only: the\n"
	    "           figure is their delivered msgs/s while the stalled one's backlog\n"
	    "           grows on the server. Afterwards the stalled one reads again: its\n"
	    "           messages are checked too, up to everything (stalled_cut=0) or to\n"
	    "           the server's cut (stalled_cut=1, stalled_close the WebSocket\n"
	    "           close code, 0 for none). The rate is over the time the S took.\n",
    .nconns = slow_nconns,
    .init = slow_init,
    .deinit = pubsub_deinit,
    .on_lost = slow_on_lost,
    .prepare = fanout_prepare,
    .prepared = fanout_prepared,
    .start = slow_start,
    .pump = fanout_pump,
    .on_msg = fanout_on_msg,
    .on_reply = fanout_on_reply,
    .run_done = pubs_done,
    .drain = fanout_drain,
    .drained = slow_drained,
    .progress_name = "delivered",
    .progress = slow_progress,
    .report = slow_report,
};
