/*
 * flow: the backpressure getters and kill calls of the public API
 * (include/sluice.h, "backpressure"), and the server's totals.
 *
 * Everything here reads cursors (io_conn_stats, tallies, handler and
 * worker counters) with relaxed loads; nothing takes a lock on the data
 * path. Finding a channel by name needs an epoch section: a worker uses its
 * own record, any other thread the server's shared one under foreign_lock.
 *
 * Threads: any, as sluice.h says for each function.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "broker.h"
#include "channel.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

void sluice_socket_stats(const struct sluice_socket *s, struct sluice_socket_stats *out)
{
	struct io_conn_stats st;
	uint64_t started, done;

	io_conn_stats(s->c, &st);
	done = st.gauge[GAUGE_REQ_DONE]; /* the answer's count first: never above started */
	started = io_conn_gauge(s->c, GAUGE_REQ_STARTED);
	*out = (struct sluice_socket_stats){
		.inbound = st.in_backlog,
		.inbound_bytes = st.in_backlog_bytes,
		.outbound = st.out_backlog,
		.outbound_bytes = st.out_backlog_bytes,
		.procedures = started > done ? started - done : 0,
		.msgs_in = st.in_msgs,
		.bytes_in = st.in_bytes,
		.msgs_out = st.out_msgs,
		.bytes_out = st.out_bytes,
		.dropped = st.out_dropped,
		.subscriptions = (uint32_t)st.gauge[GAUGE_SUBS],
	};
}

uint64_t sluice_socket_backpressure(const struct sluice_socket *s)
{
	struct sluice_socket_stats st;
	uint64_t max;

	sluice_socket_stats(s, &st);
	max = st.inbound > st.outbound ? st.inbound : st.outbound;
	return max > st.procedures ? max : st.procedures;
}

uint64_t sluice_socket_inbound_backpressure(const struct sluice_socket *s)
{
	struct sluice_socket_stats st;

	sluice_socket_stats(s, &st);
	return st.inbound;
}

uint64_t sluice_socket_outbound_backpressure(const struct sluice_socket *s)
{
	struct sluice_socket_stats st;

	sluice_socket_stats(s, &st);
	return st.outbound;
}

uint64_t sluice_socket_procedures_backpressure(const struct sluice_socket *s)
{
	struct sluice_socket_stats st;

	sluice_socket_stats(s, &st);
	return st.procedures;
}

void sluice_socket_kill_outbound(struct sluice_socket *s)
{
	io_conn_kill_outbound(s->c);
}

void sluice_socket_kill(struct sluice_socket *s, int code, const char *reason)
{
	io_conn_kill_outbound(s->c); /* the reactor purges before it acts on the close */
	io_conn_close(s->c, code, reason);
}

static int64_t flow__handler(struct sluice_server *srv, const char *event, bool proc)
{
	const struct handler *h;
	uint64_t started = 0, done = 0;

	if (!event)
		return -ENOENT;
	h = server__handler(srv, (const uint8_t *)event, strlen(event));
	if (!h || (proc ? !h->proc : !h->recv))
		return -ENOENT;
	for (int i = 0; i < srv->nworkers; i++) {
		done += LOAD(h->stats[i].done); /* finished first: never above started */
		started += LOAD(h->stats[i].started);
	}
	return started > done ? (int64_t)(started - done) : 0;
}

int64_t sluice_socket_procedure_backpressure(const struct sluice_socket *s, const char *event)
{
	const struct handler *h = event ? server__handler(s->srv, (const uint8_t *)event,
							  strlen(event))
					: NULL;

	if (!h || !h->proc)
		return -ENOENT;
	for (int i = 0; i < SOCKET_PROCS; i++) {
		/* acquire: pairs with the worker's claim */
		if (atomic_load_explicit(&s->procs[i].h, memory_order_acquire) != h)
			continue;
		uint64_t done = LOAD(s->procs[i].done), started = LOAD(s->procs[i].started);
		return started > done ? (int64_t)(started - done) : 0;
	}
	return 0; /* never invoked on this socket (or past its first SOCKET_PROCS) */
}

int64_t sluice_procedure_backpressure(struct sluice_server *srv, const char *event)
{
	return flow__handler(srv, event, true);
}

int64_t sluice_receiver_backpressure(struct sluice_server *srv, const char *event)
{
	return flow__handler(srv, event, false);
}

/* Runs fn on the channel of this name inside an epoch section of this thread. */
static int flow__channel(struct sluice_server *srv, const char *name,
			 void (*fn)(struct channel *ch, void *ctx), void *ctx)
{
	struct bworker *w = server__this_worker();
	struct epoch_rec *rec = w && w->srv == srv ? w->rec : NULL;
	size_t len = strlen(name);
	struct channel *ch;

	if (!rec) {
		pthread_mutex_lock(&srv->foreign_lock);
		rec = srv->foreign;
	}
	epoch_enter(rec);
	ch = channel_find(srv->channels, name, len, channel_hash(name, len));
	if (ch && ch->tally)
		fn(ch, ctx);
	epoch_exit(rec);
	if (rec == srv->foreign)
		pthread_mutex_unlock(&srv->foreign_lock);
	return ch && ch->tally ? 0 : -ENOENT;
}

static void flow__read(struct channel *ch, void *ctx)
{
	struct sluice_channel_stats *out = ctx;
	struct io_tally_sum sum;
	struct subs *sub = epoch_load((void *_Atomic *)&ch->subs);

	io_tally_read(ch->tally, &sum);
	*out = (struct sluice_channel_stats){
		.subscribers = sub->n,
		.published = sum.published,
		.fanout = sum.fanout,
		.delivered = sum.delivered,
		.dropped = sum.dropped,
		.backlog = sum.backlog,
		.slowest = channel_slowest(ch),
	};
}

int sluice_channel_stats(struct sluice_server *srv, const char *channel,
			 struct sluice_channel_stats *out)
{
	return flow__channel(srv, channel, flow__read, out);
}

int64_t sluice_channel_backpressure(struct sluice_server *srv, const char *channel)
{
	struct sluice_channel_stats st;
	int rc = sluice_channel_stats(srv, channel, &st);

	return rc < 0 ? rc : (int64_t)st.backlog;
}

static void flow__kill(struct channel *ch, void *ctx)
{
	*(uint64_t *)ctx = io_tally_kill(ch->tally);
}

int64_t sluice_channel_kill(struct sluice_server *srv, const char *channel)
{
	uint64_t dropped = 0;
	int rc = flow__channel(srv, channel, flow__kill, &dropped);

	return rc < 0 ? rc : (int64_t)dropped;
}

struct flow_close {
	struct sluice_server *srv;
	const char *name;
	int64_t told;
};

/* A reference to s unless it is already on its way out (refs at 0). */
static bool flow__try_ref(struct sluice_socket *s)
{
	uint32_t refs = atomic_load_explicit(&s->refs, memory_order_relaxed);

	while (refs)
		if (atomic_compare_exchange_weak_explicit(&s->refs, &refs, refs + 1,
							  memory_order_acquire, memory_order_relaxed))
			return true;
	return false;
}

static void flow__close(struct channel *ch, void *ctx)
{
	struct flow_close *fc = ctx;
	struct subs *sub = epoch_load((void *_Atomic *)&ch->subs);
	size_t len = strlen(fc->name);

	for (uint32_t i = 0; i < sub->n; i++) {
		struct sluice_socket *s = atomic_load_explicit(&sub->s[i], memory_order_relaxed);
		struct close_task *t;
		if (!s || !flow__try_ref(s))
			continue;
		t = malloc(sizeof(*t) + len + 1);
		if (t) { /* whole before the push: the worker may pop it at once */
			t->s = s;
			memcpy(t->name, fc->name, len + 1);
		}
		if (!t || !mpsc_push(&s->w->closing, t)) {
			free(t);
			socket__unref(s);
			continue;
		}
		fc->told++;
	}
}

int64_t sluice_channel_close(struct sluice_server *srv, const char *channel)
{
	struct flow_close fc = {srv, channel, 0};
	int rc = flow__channel(srv, channel, flow__close, &fc);

	if (rc < 0)
		return rc;
	for (int i = 0; i < srv->nworkers; i++)
		io_inbox_wake(srv->bw[i]->in); /* they act on their next turn */
	return fc.told;
}

void flow__closing(struct bworker *w)
{
	struct close_task *t;

	while ((t = mpsc_pop(&w->closing))) {
		sluice_socket_kick_out(t->s, t->name, "The channel was closed");
		socket__unref(t->s);
		free(t);
	}
}

void sluice_server_totals(struct sluice_server *srv, struct sluice_totals *out)
{
	struct io_totals t;

	io_server_totals(srv->ios, &t);
	*out = (struct sluice_totals){
		.uptime_ms = server__now_ms() - srv->started_ms,
		.connections = t.conns,
		.channels = channel_count(srv->channels),
		.msgs_in = t.msgs_in,
		.bytes_in = t.bytes_in,
		.msgs_out = t.msgs_out,
		.bytes_out = t.bytes_out,
		.publishes = LOAD(srv->foreign_publishes),
		.msgs_dropped = t.msgs_dropped,
		.slow_consumer_disconnects = t.slow_consumer_disconnects,
		.slow_consumer_drops = t.slow_consumer_drops,
		.backpressure_disconnects = t.backpressure_disconnects,
		.rate_limit_disconnects = t.rate_limit_disconnects,
		.channel_backlog_kills = LOAD(srv->channel_kills),
		.inbound_pauses = t.inbound_pauses,
	};
	for (int i = 0; i < srv->nworkers; i++)
		out->publishes += LOAD(srv->bw[i]->publishes);
}
