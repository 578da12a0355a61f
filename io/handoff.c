/*
 * handoff: the worker's side of a connection, and messages.
 *
 * A reactor pushes a whole message into c->inq, then queues c in its
 * worker's inbox unless it is queued already (c->in_notified). The worker
 * clears that flag before it drains the ring, so a message pushed after the
 * drain queues c again and none is left behind. The way back is the same:
 * frames into c->outq, c into the reactor's notify queue (c->out_notified).
 * Either side sleeps on an eventfd only after saying so (`sleeping`), and the
 * other writes the eventfd only when it finds that flag set: one system call
 * per sleep, none while both are busy.
 *
 * Threads: io_inbox_wait, io_conn_recv, io_conn_send and io_conn_release run
 * on the worker that owns the inbox; io_msg_* on any thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <sched.h>
#include <stdlib.h>
#include <unistd.h>

#include "reactor.h"

struct io_msg *io_msg_new(uint64_t cap)
{
	struct io_msg *m = malloc(sizeof(*m) + cap);

	if (!m)
		return NULL;
	m->next = NULL;
	m->len = 0;
	m->cap = cap;
	m->opcode = WS_OP_BINARY;
	m->hlen = 0;
	m->pooled = 0;
	m->local = 0;
	m->tally = NULL;
	atomic_init(&m->refs, 1);
	return m;
}

void io_msg_free(struct io_msg *m)
{
	if (!m)
		return;
	/* acquire (either way): every other owner's use of m happens before the free.
	 * A sole owner skips the read-modify-write: nobody else can add a reference. */
	if (atomic_load_explicit(&m->refs, memory_order_acquire) != 1 &&
	    atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (m->tally)
		io_tally_put(m->tally);
	if (m->pooled)
		pool_free(m);
	else
		free(m);
}

void io_msg_frame(struct io_msg *m)
{
	m->hlen = (uint8_t)ws_encode_header(m->hdr, true, m->opcode, m->len);
}

int io_inbox_wait(struct io_inbox *in, struct io_conn **conns, int max, int timeout_ms)
{
	for (int round = 0;; round++) {
		uint32_t n = mpsc_pop_n(&in->ready, (void **)conns, (uint32_t)max);
		if (n) {
			for (uint32_t i = 0; i < n; i++)
				/* seq_cst: cleared before draining; see the top of the file */
				atomic_store(&conns[i]->in_notified, 0);
			return (int)n;
		}
		if (round < 64) { /* a cross-thread wake costs ~20 us: look again first */
			sched_yield();
			continue;
		}
		if (round > 64)
			return 0; /* slept once: the caller checks for shutdown and calls again */
		/* seq_cst: a reactor that pushes after this load sees sleeping and wakes us */
		atomic_store(&in->sleeping, 1);
		if (mpsc_size(&in->ready)) {
			atomic_store(&in->sleeping, 0);
			continue;
		}
		struct pollfd pfd = {.fd = in->efd, .events = POLLIN};
		if (poll(&pfd, 1, timeout_ms) > 0) {
			uint64_t v;
			(void)!read(in->efd, &v, sizeof(v));
		}
		atomic_store(&in->sleeping, 0);
	}
}

void io_inbox_wake(struct io_inbox *in)
{
	uint64_t one = 1;

	(void)!write(in->efd, &one, sizeof(one));
}

static void conn__notify_reactor(struct io_conn *c)
{
	struct reactor *r = c->r;

	/* seq_cst exchange: pairs with the reactor clearing it before it looks at c */
	if (atomic_exchange(&c->out_notified, 1))
		return;
	while (!mpsc_push(&r->notify, c))
		; /* sized for every connection, each queued at most once: never full */
	if (atomic_exchange(&r->sleeping, 0)) {
		uint64_t one = 1;
		(void)!write(r->efd, &one, sizeof(one));
	}
}

/*
 * How many of the next messages of c (peeked into msgs) the worker may take
 * now: as many as the outbound side has room for, so that a client that
 * pipelines requests faster than it takes the answers is slowed down
 * (inbound ring full, reading paused, TCP window closed) instead of being
 * cut off as a slow consumer. Room is up to half the outbound byte limit and
 * the free frames of the outbound ring; one message always fits an empty
 * queue, so a large one still makes progress.
 */
static uint32_t conn__room(struct io_conn *c, struct io_msg **msgs, uint32_t n)
{
	const struct io_config *cfg = &c->r->s->cfg;
	/* relaxed: gauges; the handshake below covers the one race that matters */
	uint64_t queued = conn_out_bytes(c);
	uint64_t used = mpsc_size(&c->outq);
	/* the message limit, not the ring's size (drop-oldest makes it larger) */
	uint64_t frames = used < cfg->outbound_ring ? cfg->outbound_ring - used : 0;
	uint64_t budget = cfg->outbound_limit / 2;
	uint32_t k = 0;

	while (k < n && k < frames) {
		uint64_t size = msgs[k]->len + WS_MAX_HEADER;
		if (queued + size > budget && !(queued == 0 && k == 0))
			break;
		queued += size;
		k++;
	}
	return k;
}

int io_conn_recv(struct io_conn *c, struct io_msg **msgs, int max)
{
	/* closed before the ring: the reactor sets it after its last push */
	int closed = atomic_load(&c->closed);
	uint32_t n = spsc_peek(&c->inq, (void **)msgs, (uint32_t)max);

	if (n && !closed) {
		uint32_t k = conn__room(c, msgs, n);
		if (k == 0) {
			/* wait for room: say so, then look again (pairs with conn__flush) */
			atomic_store(&c->out_wait, 1);
			atomic_thread_fence(memory_order_seq_cst);
			k = conn__room(c, msgs, n);
			if (k == 0)
				return 0; /* the reactor queues c again once it has sent */
			atomic_store(&c->out_wait, 0);
		}
		n = k;
	}
	spsc_pop_n(&c->inq, NULL, n);
	if (n) {
		uint64_t bytes = 0;
		for (uint32_t i = 0; i < n; i++)
			bytes += msgs[i]->len;
		/* relaxed: ordered for the reactor by the fence below */
		atomic_fetch_add_explicit(&c->in_taken, bytes, memory_order_relaxed);
		ctr_add(&c->in_taken_msgs, n);
		/* the pop before the look at paused: pairs with conn__drain_overflow */
		atomic_thread_fence(memory_order_seq_cst);
		if (atomic_load(&c->paused))
			conn__notify_reactor(c); /* room again: let the reactor read on */
	}
	/* closed and drained; but when c is queued in the inbox again (the
	 * reactor's last notification), the end is told there, once */
	if (n == 0 && closed)
		return atomic_load(&c->in_notified) ? 0 : -EPIPE;
	return (int)n;
}

/* Asks the reactor to close c with code (a limit), unless a close is asked already. */
static void conn__limit(struct io_conn *c, int code)
{
	int none = 0;

	if (atomic_compare_exchange_strong(&c->kill_code, &none, code))
		conn__notify_reactor(c);
}

/* A frame that will not be queued: counted as dropped, freed. */
static void conn__refuse(struct io_conn *c, struct io_msg *m)
{
	/* fetch_add: producers of every thread share these two */
	atomic_fetch_add_explicit(&c->out_dropped, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&c->r->refused, 1, memory_order_relaxed);
	io_msg_free(m);
}

int io_conn_send(struct io_conn *c, struct io_msg *m)
{
	const struct io_config *cfg = &c->r->s->cfg;
	uint64_t size = m->hlen + m->len;
	/* relaxed: gauges; being a frame late in noticing a limit is harmless */
	uint64_t bytes = conn_out_bytes(c);
	/* the message limit counts the ring: frames the reactor took for a
	 * send in flight no longer wait there */
	uint64_t frames = mpsc_size(&c->outq);
	bool over = bytes + size > cfg->outbound_limit || frames + 1 > cfg->outbound_ring;

	if (atomic_load_explicit(&c->closed, memory_order_relaxed)) {
		conn__refuse(c, m);
		return -EPIPE;
	}
	if (cfg->backpressure_limit && frames + 1 > cfg->backpressure_limit) {
		conn__refuse(c, m);
		conn__limit(c, IO_CLOSE_BACKPRESSURE);
		return -ENOBUFS;
	}
	if (over && cfg->slow_policy == IO_SLOW_DISCONNECT) {
		conn__refuse(c, m);
		conn__limit(c, IO_CLOSE_SLOW_CONSUMER);
		return -ENOBUFS;
	}
	/* drop-oldest: queue it anyway and let the reactor trim the oldest (the
	 * ring has room for twice outbound_ring); only a ring the reactor has
	 * not trimmed yet refuses the newest. Counted before the push: the
	 * reactor may write it before we return. */
	atomic_fetch_add_explicit(&c->out_queued, size, memory_order_relaxed);
	bool queued = mpsc_push(&c->outq, m);
	if (!queued && cfg->slow_policy == IO_SLOW_DROP_OLDEST) {
		/* the reactor trims the oldest within its turn: give it that turn
		 * (a wait on our own reactor, bounded, never on the client) */
		atomic_store_explicit(&c->shed, 1, memory_order_relaxed);
		conn__notify_reactor(c);
		for (int i = 0; i < 256 && !queued; i++) {
			sched_yield();
			queued = mpsc_push(&c->outq, m);
		}
	}
	if (!queued) {
		atomic_fetch_sub_explicit(&c->out_queued, size, memory_order_relaxed);
		conn__refuse(c, m);
		if (cfg->slow_policy == IO_SLOW_DISCONNECT) {
			conn__limit(c, IO_CLOSE_SLOW_CONSUMER);
		} else {
			atomic_fetch_add_explicit(&c->r->slow_drops, 1, memory_order_relaxed);
			atomic_store_explicit(&c->shed, 1, memory_order_relaxed);
			conn__notify_reactor(c);
		}
		return -ENOBUFS;
	}
	if (over)
		atomic_store_explicit(&c->shed, 1, memory_order_relaxed);
	conn__notify_reactor(c);
	return 0;
}

void io_conn_kill_outbound(struct io_conn *c)
{
	atomic_store_explicit(&c->kill_out, 1, memory_order_relaxed);
	conn__notify_reactor(c); /* seq_cst inside: the flag is seen */
}

void io_conn_gauge_set(struct io_conn *c, int i, uint64_t v)
{
	atomic_store_explicit(&c->gauge[i & 3], v, memory_order_relaxed);
}

uint64_t io_conn_gauge(const struct io_conn *c, int i)
{
	return atomic_load_explicit(&c->gauge[i & 3], memory_order_relaxed);
}

void io_conn_gauge_add(struct io_conn *c, int i, uint64_t v)
{
	atomic_fetch_add_explicit(&c->gauge[i & 3], v, memory_order_relaxed);
}

void io_conn_close(struct io_conn *c, int code, const char *reason)
{
	int none = 0;

	if (atomic_load_explicit(&c->kill_code, memory_order_relaxed) ||
	    atomic_load_explicit(&c->closed, memory_order_relaxed))
		return;
	/* the reason is written before the code that publishes it (seq_cst CAS);
	 * two threads racing here may mix reasons, never codes */
	snprintf(c->kill_reason, sizeof(c->kill_reason), "%s", reason ? reason : "");
	/* graceful travels with the code: a limit that wins the race is not */
	if (atomic_compare_exchange_strong(&c->kill_code, &none, code | KILL_GRACEFUL))
		conn__notify_reactor(c);
}

void io_conn_established(struct io_conn *c)
{
	/* relaxed: the reactor only stops a deadline it checks every tick */
	atomic_store_explicit(&c->established, 1, memory_order_relaxed);
}

int io_conn_close_code(const struct io_conn *c)
{
	/* relaxed: the caller saw `closed` (seq_cst), which was stored after this */
	return atomic_load_explicit(&c->close_code, memory_order_relaxed);
}

uint64_t io_conn_serial(const struct io_conn *c)
{
	return c->serial;
}

int io_conn_worker(const struct io_conn *c)
{
	return (int)(c->wi - c->r->s->inboxes);
}

const char *io_conn_query(const struct io_conn *c)
{
	return c->query ? c->query : "";
}

void *io_conn_user(const struct io_conn *c)
{
	return c->user;
}

void io_conn_set_user(struct io_conn *c, void *user)
{
	c->user = user;
}

void io_conn_requeue(struct io_conn *c)
{
	struct io_inbox *in = c->wi;

	/* seq_cst exchange: as the reactor's notification; queued at most once */
	if (atomic_exchange(&c->in_notified, 1))
		return;
	while (!mpsc_push(&in->ready, c))
		; /* sized for every connection, each queued at most once: never full */
}

void io_conn_release(struct io_conn *c)
{
	struct io_msg *m;

	while (spsc_pop_n(&c->inq, (void **)&m, 1))
		io_msg_free(m);
	/* seq_cst: ordered before the notify flag, so a reactor that finds c
	 * already queued still reads released = 1 when it gets to it */
	atomic_store(&c->released, 1);
	conn__notify_reactor(c);
}
