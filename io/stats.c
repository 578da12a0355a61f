/*
 * stats: the cursors of io/ read from any thread, and tallies.
 *
 * Connection slots live as long as the server, so a reader on any thread
 * (the stats thread above all) may walk them and load their cursors: each
 * is written by one side (reactor.h marks which) and read here with relaxed
 * loads. Nothing here takes a lock or writes to a connection; a figure may
 * be a frame behind, never torn. A close asked by serial goes through the
 * reactor's admin queue and is checked there, on the owner's thread, so a
 * slot reused meanwhile is never closed by mistake.
 *
 * Tallies count one stream's frames across connections: a slot per reactor
 * (delivered, dropped) and per publisher (published, fanout), each on its
 * own cache line and written by its thread alone.
 *
 * Threads: any, as each function says; tally slots as io.h says.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reactor.h"

#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)

/* produced - consumed, read consumer first: never below 0 for a reader that
 * races a reset or a producer between its two counters */
static uint64_t lag(uint64_t produced, uint64_t consumed)
{
	return produced > consumed ? produced - consumed : 0;
}

void io_conn_stats(const struct io_conn *c, struct io_conn_stats *out)
{
	uint64_t taken = LOAD(c->in_taken_msgs), done = LOAD(c->out_done);
	uint64_t taken_b = LOAD(c->in_taken);

	*out = (struct io_conn_stats){
		.serial = LOAD(c->pub_serial),
		.worker = LOAD(c->pub_worker),
		.paused = LOAD(c->paused) != 0,
		.accept_ms = LOAD(c->accept_ms),
		.in_msgs = LOAD(c->in_msgs),
		.in_bytes = LOAD(c->in_bytes),
		.out_msgs = LOAD(c->out_written),
		.out_bytes = LOAD(c->out_sent),
		.out_dropped = LOAD(c->out_dropped),
	};
	out->in_backlog = lag(out->in_msgs, taken);
	/* in_pushed counts bytes in the ring only; overflow is the rest of in_bytes */
	out->in_backlog_bytes = lag(out->in_bytes, taken_b);
	out->out_backlog = lag(mpsc_produced(&c->outq), done);
	out->out_backlog_bytes = conn_out_bytes(c);
	for (int i = 0; i < 4; i++)
		out->gauge[i] = LOAD(c->gauge[i]);
}

void io_server_each_conn(struct io_server *s, int (*fn)(const struct io_conn_stats *st, void *ctx),
			 void *ctx)
{
	for (int k = 0; k < s->nreactors; k++) {
		struct reactor *r = &s->reactors[k];
		for (uint32_t i = 0; i < s->cfg.max_conns; i++) {
			/* acquire: pairs with the reactor's release when it made the slot */
			struct io_conn *c = __atomic_load_n(&r->conns[i], __ATOMIC_ACQUIRE);
			struct io_conn_stats st;
			if (!c || !LOAD(c->pub_serial))
				continue;
			io_conn_stats(c, &st);
			if (st.serial && fn(&st, ctx))
				return;
		}
	}
}

int io_server_close_serial(struct io_server *s, uint64_t serial, int code, const char *reason)
{
	struct reactor *r;
	struct io_admin *a;
	bool open = false;

	if (!serial)
		return -ENOENT;
	r = &s->reactors[serial % (uint64_t)s->nreactors]; /* serials are reactor-striped */
	for (uint32_t i = 0; i < s->cfg.max_conns && !open; i++) {
		struct io_conn *c = __atomic_load_n(&r->conns[i], __ATOMIC_ACQUIRE);
		open = c && LOAD(c->pub_serial) == serial;
	}
	if (!open)
		return -ENOENT;
	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->serial = serial;
	a->code = code;
	snprintf(a->reason, sizeof(a->reason), "%s", reason ? reason : "");
	if (!mpsc_push(&r->admin, a)) {
		free(a);
		return -EAGAIN;
	}
	reactor__wake(r);
	return 0;
}

void io_server_totals(const struct io_server *s, struct io_totals *out)
{
	*out = (struct io_totals){0};
	for (int k = 0; k < s->nreactors; k++) {
		const struct reactor *r = &s->reactors[k];
		out->conns += LOAD(r->live_gauge);
		out->accepts += LOAD(r->accepts);
		out->accept_errors += LOAD(r->accept_errors);
		out->msgs_in += LOAD(r->msgs_in);
		out->bytes_in += LOAD(r->bytes_in);
		out->msgs_out += LOAD(r->msgs_out);
		out->bytes_out += LOAD(r->bytes_out);
		out->msgs_dropped += LOAD(r->msgs_dropped) + LOAD(r->refused);
		out->slow_consumer_disconnects += LOAD(r->slow_disconnects);
		out->slow_consumer_drops += LOAD(r->slow_drops);
		out->backpressure_disconnects += LOAD(r->bp_disconnects);
		out->rate_limit_disconnects += LOAD(r->rate_disconnects);
		out->inbound_pauses += LOAD(r->pauses);
	}
}

int io_server_reactor_stats(const struct io_server *s, int i, struct io_reactor_stats *out)
{
	const struct reactor *r;

	if (i < 0 || i >= s->nreactors)
		return -ENOENT;
	r = &s->reactors[i];
	*out = (struct io_reactor_stats){
		.loops = LOAD(r->loops),
		.conns = LOAD(r->live_gauge),
		.queue = mpsc_size(&r->notify),
		.msgs = LOAD(r->msgs_in),
	};
	return 0;
}

uint64_t io_inbox_size(const struct io_server *s, int i)
{
	return i >= 0 && i < s->nworkers ? mpsc_size(&s->inboxes[i].ready) : 0;
}

int io_tally_new(struct io_server *s, struct io_tally **out)
{
	int n = s->nreactors + s->nworkers + 1;
	size_t size = sizeof(struct io_tally) + (size_t)n * sizeof(struct tally_slot);
	struct io_tally *t = aligned_alloc(64, (size + 63) & ~(size_t)63);

	if (!t)
		return -ENOMEM;
	memset(t, 0, size);
	atomic_init(&t->refs, 1);
	t->s = s;
	t->nslots = n;
	*out = t;
	return 0;
}

void io_tally_put(struct io_tally *t)
{
	/* acq_rel: every count made through a reference happens before the free */
	if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
		free(t);
}

void io_msg_tally(struct io_msg *m, struct io_tally *t)
{
	atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed); /* the caller holds one */
	m->tally = t;
	m->tally_gen = atomic_load_explicit(&t->gen, memory_order_relaxed);
}

uint64_t io_tally_publish(struct io_tally *t, int writer, uint64_t queued, uint64_t refused)
{
	struct tally_slot *x = &t->slot[t->s->nreactors + writer];

	ctr_add(&x->published, 1);
	ctr_add(&x->fanout, queued + refused);
	if (refused)
		ctr_add(&x->dropped, refused);
	return atomic_load_explicit(&x->published, memory_order_relaxed);
}

void io_tally_read(const struct io_tally *t, struct io_tally_sum *out)
{
	uint64_t done = 0, queued = 0, refused = 0;

	*out = (struct io_tally_sum){0};
	/* consumers first: a reader never sees more done than queued */
	for (int i = 0; i < t->s->nreactors; i++) {
		out->delivered += LOAD(t->slot[i].delivered);
		out->dropped += LOAD(t->slot[i].dropped);
	}
	done = out->delivered + out->dropped;
	for (int i = t->s->nreactors; i < t->nslots; i++) {
		/* refused before fanout (io_tally_publish stores them the other
		 * way round): never more refused than fanout */
		refused += LOAD(t->slot[i].dropped);
		out->published += LOAD(t->slot[i].published);
		out->fanout += LOAD(t->slot[i].fanout);
	}
	out->dropped += refused;
	queued = out->fanout - refused;
	out->backlog = lag(queued, done);
}

uint64_t io_tally_kill(struct io_tally *t)
{
	struct io_tally_sum sum;
	struct io_server *s = t->s;

	io_tally_read(t, &sum);
	atomic_fetch_add(&t->gen, 1); /* seq_cst: before the reactors look */
	for (int i = 0; i < s->nreactors; i++) {
		atomic_store(&s->reactors[i].purge, 1);
		reactor__wake(&s->reactors[i]);
	}
	return sum.backlog;
}
