/*
 * reactor: the io_uring event loop of one reactor thread, its listener, its
 * provided buffer ring and its connection slots; and the server that starts
 * and stops the reactors.
 *
 * Each reactor has its own SO_REUSEPORT listener (the kernel spreads new
 * connections), a multishot accept on it, and a multishot recv per
 * connection into the reactor's buffer ring. Every buffer is copied out and
 * given back within the loop turn that received it; a recv that ran out of
 * buffers (-ENOBUFS) is armed again once they are back, so no byte is lost.
 *
 * user_data = op | generation | slot (reactor.h): a completion for a slot
 * that has since been reused carries an old generation and is dropped.
 * A connection is freed only when no request of it is in flight and its
 * worker has let go of it.
 *
 * Threads: everything here runs on the reactor's thread, except
 * io_server_create/start/stop/destroy (main thread) and the notify queue and
 * eventfd, which workers feed (handoff.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "reactor.h"

#define RING_ENTRIES 4096
#define BUF_SIZE     (16 * 1024)
#define TICK_MS      50
/* two size classes: most packets fit the first, and a small object keeps a
 * burst of them within the caches; larger ones take 2 KiB, the rest malloc */
#define TINY_MSG     (256 - 16 - sizeof(struct io_msg)) /* 16: the pool's header */
#define SMALL_MSG    (2048 - 16 - sizeof(struct io_msg))

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

void io_config_defaults(struct io_config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	*cfg = (struct io_config){
		.host = "0.0.0.0",
		.port = 8000,
		.path = "/socketcluster/",
		.origins = "*:*",
		.reactors = n > 0 ? (int)n : 1,
		.workers = n > 0 ? (int)n : 1,
		.max_conns = 10000,
		.max_payload = 1024 * 1024 + 1024,
		.max_header = 8192,
		.handshake_timeout_ms = 10000,
		.outbound_limit = 8 * 1024 * 1024,
		.inbound_ring = 256,
		.outbound_ring = 1024,
		.recv_buffers = 1024, /* 16 MiB per reactor */
		.send_timeout_ms = 10000,
		.inbound_limit = 4 * 1024 * 1024,
		.busy_poll_us = 50,
	};
}

struct io_msg *reactor__msg_new(struct reactor *r, uint64_t cap)
{
	if (cap <= SMALL_MSG) {
		bool tiny = cap <= TINY_MSG;
		struct io_msg *m = pool_alloc(tiny ? &r->tiny : &r->msgs);
		if (m) {
			m->cap = tiny ? TINY_MSG : SMALL_MSG;
			m->len = 0;
			m->hlen = 0;
			m->pooled = 1;
			m->local = 0;
			m->tally = NULL;
			atomic_init(&m->refs, 1);
			return m;
		}
	}
	return io_msg_new(cap);
}

struct io_uring_sqe *reactor__sqe(struct reactor *r)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(&r->ring);

	if (!sqe) { /* the SQ is full: hand it to the kernel and take a fresh one */
		io_uring_submit(&r->ring);
		sqe = io_uring_get_sqe(&r->ring);
	}
	return sqe;
}

void reactor__arm_recv(struct io_conn *c)
{
	struct io_uring_sqe *sqe;

	if (c->recv_armed || c->fd < 0 || atomic_load_explicit(&c->paused, memory_order_relaxed))
		return;
	sqe = reactor__sqe(c->r);
	io_uring_prep_recv_multishot(sqe, c->fd, NULL, 0, 0);
	sqe->flags |= IOSQE_BUFFER_SELECT;
	sqe->buf_group = 0;
	io_uring_sqe_set_data64(sqe, io__ud(OP_RECV, c->gen, c->slot));
	c->recv_armed = true;
}

void reactor__stop_recv(struct io_conn *c)
{
	struct io_uring_sqe *sqe;

	if (!c->recv_armed)
		return;
	/* the recv completes with -ECANCELED; bytes already received still arrive first */
	sqe = reactor__sqe(c->r);
	io_uring_prep_cancel64(sqe, io__ud(OP_RECV, c->gen, c->slot), 0);
	io_uring_sqe_set_data64(sqe, io__ud(OP_CANCEL, c->gen, c->slot));
}

void reactor__queue_rearm(struct io_conn *c)
{
	if (c->rearm)
		return;
	c->rearm = true;
	c->rearm_next = c->r->rearm_head;
	c->r->rearm_head = c->slot + 1;
}

static void reactor__push_worker(struct io_conn *c);

static void reactor__try_free(struct io_conn *c)
{
	struct reactor *r = c->r;

	if (c->state != CONN_DEAD || c->recv_armed || c->send_inflight)
		return;
	/* seq_cst: pairs with io_conn_release; the worker is done with c once it is 1 */
	if (c->worker_seen && !atomic_load(&c->released))
		return;
	conn__reset(c);
	c->state = CONN_FREE;
	c->gen = (c->gen + 1) & 0xffffff;
	r->free_slots[r->nfree++] = c->slot;
	r->live--;
	atomic_store_explicit(&r->live_gauge, r->live, memory_order_relaxed);
	/* relaxed: a statistic */
	atomic_fetch_add_explicit(&r->conns_closed, 1, memory_order_relaxed);
}

void reactor__kill(struct io_conn *c)
{
	if (c->state == CONN_DEAD || c->state == CONN_FREE)
		return;
	c->state = CONN_DEAD;
	atomic_store_explicit(&c->pub_serial, 0, memory_order_relaxed); /* readers skip it now */
	reactor__stop_recv(c);
	/* the kernel keeps the file alive for the requests still in flight */
	shutdown(c->fd, SHUT_RDWR);
	close(c->fd);
	c->fd = -1;
	int none = 0;
	/* relaxed: published by the store of `closed` below */
	atomic_compare_exchange_strong_explicit(&c->close_code, &none, WS_CLOSE_ABNORMAL,
						memory_order_relaxed, memory_order_relaxed);
	/* the flag before `closed`: a worker that sees closed and the flag clear
	 * knows no notification of c is queued or coming (io_conn_recv) */
	bool push = c->worker_seen && !atomic_exchange(&c->in_notified, 1);
	/* seq_cst: after every message pushed; the worker reads closed, then the ring */
	atomic_store(&c->closed, 1);
	if (push)
		reactor__push_worker(c);
	reactor__try_free(c);
}

void reactor__notify_worker(struct io_conn *c)
{
	c->worker_seen = true;
	/* seq_cst exchange: pairs with the worker clearing the flag before it drains */
	if (atomic_exchange(&c->in_notified, 1))
		return;
	reactor__push_worker(c);
}

static void reactor__push_worker(struct io_conn *c)
{
	struct io_inbox *in = c->wi;

	while (!mpsc_push(&in->ready, c))
		; /* sized for every connection, which is queued at most once: never full */
	if (atomic_exchange(&in->sleeping, 0)) {
		uint64_t one = 1;
		(void)!write(in->efd, &one, sizeof(one));
	}
}

static struct io_conn *reactor__conn_new(struct reactor *r, uint32_t slot)
{
	const struct io_config *cfg = &r->s->cfg;
	struct io_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->in = malloc(cfg->max_header > WS_MAX_HEADER ? cfg->max_header : WS_MAX_HEADER);
	if (!c->in || spsc_init(&c->inq, cfg->inbound_ring) < 0 ||
	    /* drop-oldest lets producers run ahead of the reactor's trim */
	    mpsc_init(&c->outq, cfg->outbound_ring * (cfg->slow_policy == IO_SLOW_DROP_OLDEST ? 2 : 1)) <
		    0) {
		free(c->in);
		spsc_deinit(&c->inq);
		free(c);
		return NULL;
	}
	c->r = r;
	c->slot = slot;
	c->fd = -1;
	c->overflow_tail = &c->overflow;
	c->local_tail = &c->local;
	c->held_tail = &c->held;
	return c;
}

static void reactor__arm_accept(struct reactor *r)
{
	struct io_uring_sqe *sqe;

	if (r->accept_armed || r->listen_fd < 0)
		return;
	sqe = reactor__sqe(r);
	io_uring_prep_multishot_accept(sqe, r->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	io_uring_sqe_set_data64(sqe, io__ud(OP_ACCEPT, 0, 0));
	r->accept_armed = true;
}

static void reactor__accepted(struct reactor *r, int fd)
{
	struct io_conn *c;
	uint32_t slot;
	int one = 1;

	if (r->nfree == 0 || atomic_load_explicit(&r->stopping, memory_order_relaxed)) {
		close(fd); /* over max_conns: refuse rather than queue without bound */
		atomic_fetch_add_explicit(&r->accept_errors, 1, memory_order_relaxed);
		return;
	}
	slot = r->free_slots[r->nfree - 1];
	c = r->conns[slot];
	if (!c) {
		c = reactor__conn_new(r, slot);
		if (!c) {
			close(fd);
			return;
		}
		/* release: readers on other threads (io_server_each_conn) see it whole */
		__atomic_store_n(&r->conns[slot], c, __ATOMIC_RELEASE);
	}
	r->nfree--;
	r->live++;
	atomic_store_explicit(&r->live_gauge, r->live, memory_order_relaxed);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->state = CONN_HTTP;
	c->serial = ++r->next_serial * (uint64_t)r->s->nreactors + (uint64_t)r->id; /* never 0 */
	c->rx_ms = r->now_ms;
	c->deadline_ms = r->now_ms + r->s->cfg.handshake_timeout_ms;
	atomic_store_explicit(&c->accept_ms, r->now_ms, memory_order_relaxed);
	c->wi = &r->s->inboxes[(r->next_worker++) % r->s->nworkers];
	atomic_store_explicit(&c->pub_worker, (int)(c->wi - r->s->inboxes), memory_order_relaxed);
	/* relaxed: a statistic */
	atomic_fetch_add_explicit(&r->accepts, 1, memory_order_relaxed);
	reactor__arm_recv(c);
}

static void reactor__arm_wake(struct reactor *r)
{
	struct io_uring_sqe *sqe = reactor__sqe(r);

	io_uring_prep_read(sqe, r->efd, &r->efd_val, sizeof(r->efd_val), 0);
	io_uring_sqe_set_data64(sqe, io__ud(OP_WAKE, 0, 0));
}

static void reactor__recv(struct reactor *r, struct io_conn *c, struct io_uring_cqe *cqe)
{
	int res = cqe->res;

	if (!(cqe->flags & IORING_CQE_F_MORE))
		c->recv_armed = false;
	if (res > 0 && (cqe->flags & IORING_CQE_F_BUFFER)) {
		c->rx_ms = r->now_ms;
		uint32_t bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
		uint8_t *buf = r->bufs + (size_t)bid * r->bufsz;
		if (c->state != CONN_DEAD)
			conn__input(c, buf, (size_t)res);
		io_uring_buf_ring_add(r->br, buf, r->bufsz, (unsigned short)bid,
				      io_uring_buf_ring_mask(r->nbufs), (int)r->br_added++);
	} else if (res == -ENOBUFS) {
		/* every buffer is in use: they come back at the end of this turn */
		atomic_fetch_add_explicit(&r->enobufs, 1, memory_order_relaxed);
	} else if (res == 0 || (res < 0 && res != -ECANCELED)) {
		reactor__kill(c); /* end of stream, or reset mid-frame */
		return;
	}
	if (!c->recv_armed && c->state != CONN_DEAD && c->state != CONN_CLOSING &&
	    !atomic_load_explicit(&c->paused, memory_order_relaxed))
		reactor__queue_rearm(c);
	reactor__try_free(c);
}

static void reactor__completion(struct reactor *r, struct io_uring_cqe *cqe)
{
	uint64_t ud = io_uring_cqe_get_data64(cqe);
	enum io_op op = (enum io_op)(ud >> 56);
	uint32_t gen = (uint32_t)(ud >> 32) & 0xffffff, slot = (uint32_t)ud;
	struct io_conn *c = NULL;

	if (op == OP_RECV || op == OP_SEND || op == OP_CANCEL) {
		if (slot >= r->s->cfg.max_conns || !(c = r->conns[slot]) || c->gen != gen)
			return; /* a late completion for a slot since reused */
	}
	switch (op) {
	case OP_ACCEPT:
		if (!(cqe->flags & IORING_CQE_F_MORE))
			r->accept_armed = false;
		if (cqe->res >= 0) {
			reactor__accepted(r, cqe->res);
		} else if (cqe->res == -EMFILE || cqe->res == -ENFILE || cqe->res == -ENOMEM) {
			/* out of descriptors: back off instead of spinning on the error */
			atomic_fetch_add_explicit(&r->accept_errors, 1, memory_order_relaxed);
			r->accept_retry_ms = r->now_ms + 100;
		}
		break;
	case OP_RECV:
		reactor__recv(r, c, cqe);
		break;
	case OP_SEND:
		conn__sent(c, cqe->res);
		reactor__try_free(c);
		break;
	case OP_WAKE:
		reactor__arm_wake(r);
		break;
	case OP_CANCEL:
	default: /* cancellations report nothing we act on */
		break;
	}
}

/* Connections the workers sent frames for, released, or asked to close. */
static void reactor__drain_notify(struct reactor *r)
{
	struct io_conn *batch[64];
	uint32_t n;

	while ((n = mpsc_pop_n(&r->notify, (void **)batch, 64)) > 0) {
		for (uint32_t i = 0; i < n; i++) {
			struct io_conn *c = batch[i];
			/* seq_cst: cleared before we look, so a later push queues c again */
			atomic_store(&c->out_notified, 0);
			if (c->state == CONN_DEAD) {
				reactor__try_free(c);
				continue;
			}
			if (atomic_load_explicit(&c->kill_out, memory_order_relaxed) &&
			    atomic_exchange(&c->kill_out, 0))
				conn__purge(c, true);
			if (atomic_load_explicit(&c->shed, memory_order_relaxed) &&
			    atomic_exchange(&c->shed, 0))
				conn__trim(c);
			int kill = atomic_load(&c->kill_code), code = kill & 0xffff;
			bool graceful = kill & KILL_GRACEFUL;
			if (code && graceful && c->state == CONN_WS) {
				/* the worker's own close: what it sent before goes out first */
				c->close_when_sent = code;
				conn__flush(c);
				continue;
			}
			if (code) {
				conn__close(c, (unsigned)code,
					     graceful ? c->kill_reason
					     : code == IO_CLOSE_BACKPRESSURE ? "backpressure limit"
									     : "slow consumer");
				continue;
			}
			if (atomic_load_explicit(&c->paused, memory_order_relaxed))
				conn__drain_overflow(c);
			conn__flush(c);
		}
	}
}

static void reactor__tick(struct reactor *r)
{
	const struct io_config *cfg = &r->s->cfg;
	bool stopping = atomic_load_explicit(&r->stopping, memory_order_relaxed);

	if (stopping && r->listen_fd >= 0) {
		struct io_uring_sqe *sqe = reactor__sqe(r);
		io_uring_prep_cancel64(sqe, io__ud(OP_ACCEPT, 0, 0), 0);
		io_uring_sqe_set_data64(sqe, 0);
		/* the pending accept holds the socket open past close(), even past our
		 * exit while the kernel tears the ring down: stop listening now */
		shutdown(r->listen_fd, SHUT_RDWR);
		close(r->listen_fd);
		r->listen_fd = -1;
		r->stop_deadline_ms = r->now_ms + 3000;
		for (uint32_t i = 0; i < r->s->cfg.max_conns; i++) {
			struct io_conn *c = r->conns[i];
			if (!c || c->state == CONN_FREE || c->state == CONN_DEAD)
				continue;
			if (c->state == CONN_WS)
				conn__close(c, WS_CLOSE_GOING_AWAY, "server shutting down");
			else
				reactor__kill(c);
		}
	}
	if (!stopping && !r->accept_armed && r->now_ms >= r->accept_retry_ms)
		reactor__arm_accept(r);
	for (uint32_t i = 0; i < r->s->cfg.max_conns; i++) {
		struct io_conn *c = r->conns[i];
		if (!c || c->state == CONN_FREE || c->state == CONN_DEAD)
			continue;
		bool late = (c->state == CONN_HTTP || c->state == CONN_CLOSING) &&
			    r->now_ms >= c->deadline_ms;
		if (late || (stopping && r->now_ms >= r->stop_deadline_ms)) {
			reactor__kill(c); /* slow loris, or a peer that never takes its close */
			continue;
		}
		if (c->state != CONN_WS)
			continue;
		/* a client that takes no byte of what we send is a slow consumer */
		if (c->send_inflight && r->now_ms - c->send_ms >= cfg->send_timeout_ms) {
			conn__close(c, IO_CLOSE_SLOW_CONSUMER, "slow consumer");
			continue;
		}
		if (cfg->ping_timeout_ms && r->now_ms - c->rx_ms >= cfg->ping_timeout_ms) {
			conn__close(c, cfg->ping_timeout_code, "pong timed out");
			continue;
		}
		/* relaxed: a flag set once by the worker; a tick late is harmless */
		if (cfg->open_timeout_code && r->now_ms >= c->deadline_ms &&
		    !atomic_load_explicit(&c->established, memory_order_relaxed)) {
			conn__close(c, cfg->open_timeout_code, "no handshake before the timeout");
			continue;
		}
		if (cfg->ping_interval_ms && r->now_ms >= c->ping_ms) {
			c->ping_ms = r->now_ms + cfg->ping_interval_ms;
			conn__ping(c); /* busy or idle alike: the client's own timer needs it */
		}
	}
}

/* A tally was killed: its frames leave every queue now, not when reached. */
static void reactor__purge(struct reactor *r)
{
	for (uint32_t i = 0; i < r->s->cfg.max_conns; i++) {
		struct io_conn *c = r->conns[i];
		if (c && (c->state == CONN_WS || c->state == CONN_CLOSING))
			conn__purge(c, false);
	}
}

/* Closes asked by serial (io_server_close_serial), on the owner's thread. */
static void reactor__admin(struct reactor *r)
{
	struct io_admin *a;

	while ((a = mpsc_pop(&r->admin))) {
		for (uint32_t i = 0; i < r->s->cfg.max_conns; i++) {
			struct io_conn *c = r->conns[i];
			if (c && c->state == CONN_WS && c->serial == a->serial) {
				conn__close(c, (unsigned)a->code, a->reason);
				break;
			}
		}
		free(a);
	}
}

void reactor__wake(struct reactor *r)
{
	if (atomic_exchange(&r->sleeping, 0)) {
		uint64_t one = 1;
		(void)!write(r->efd, &one, sizeof(one));
	}
}

static void reactor__rearm_all(struct reactor *r)
{
	while (r->rearm_head) {
		struct io_conn *c = r->conns[r->rearm_head - 1];
		r->rearm_head = c->rearm_next;
		c->rearm = false;
		if (c->state == CONN_HTTP || c->state == CONN_WS)
			reactor__arm_recv(c);
	}
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

/*
 * Before sleeping, look for work for up to busy_poll_us: a wake-up from a
 * sleep costs tens of microseconds on these machines (more in a VM whose
 * vCPU halted), far more than a round trip takes when nobody sleeps. Each
 * look submits what is queued and runs deferred completions (one enter
 * without waiting). Returns true when there is work (completions, or
 * connections a worker queued).
 */
static bool reactor__busy_poll(struct reactor *r)
{
	uint32_t budget = r->s->cfg.busy_poll_us;
	uint64_t until;

	if (!budget)
		return false;
	until = now_us() + budget;
	do {
		if (io_uring_cq_ready(&r->ring) || mpsc_size(&r->notify))
			return true;
		io_uring_submit_and_get_events(&r->ring);
		if (io_uring_cq_ready(&r->ring))
			return true;
		sched_yield(); /* a worker on this core may be the one with our work */
	} while (now_us() < until);
	return false;
}

static void *reactor__run(void *arg)
{
	struct reactor *r = arg;
	struct io_uring_params p = {0};
	int rc;

	/* one thread submits and reaps: let the kernel skip cross-thread work */
	if (r->s->cfg.uring_mode == IO_URING_DEFER)
		p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
	else if (r->s->cfg.uring_mode == IO_URING_COOP)
		p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_COOP_TASKRUN;
	rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
	if (rc == -EINVAL) { /* an older kernel: plain rings work everywhere */
		p = (struct io_uring_params){0};
		rc = io_uring_queue_init_params(RING_ENTRIES, &r->ring, &p);
	}
	if (rc < 0) {
		fprintf(stderr, "sluice: reactor %d: io_uring_queue_init: %s\n", r->id, strerror(-rc));
		return NULL;
	}
	struct io_uring_buf_reg reg = {
		.ring_addr = (uintptr_t)r->br, .ring_entries = r->nbufs, .bgid = 0};
	rc = io_uring_register_buf_ring(&r->ring, &reg, 0);
	if (rc < 0) {
		fprintf(stderr, "sluice: reactor %d: register_buf_ring: %s\n", r->id, strerror(-rc));
		io_uring_queue_exit(&r->ring);
		return NULL;
	}
	io_uring_buf_ring_init(r->br);
	for (uint32_t i = 0; i < r->nbufs; i++)
		io_uring_buf_ring_add(r->br, r->bufs + (size_t)i * r->bufsz, r->bufsz,
				      (unsigned short)i, io_uring_buf_ring_mask(r->nbufs), (int)i);
	io_uring_buf_ring_advance(r->br, (int)r->nbufs);
	pool_adopt(&r->tiny);
	pool_adopt(&r->msgs);

	r->now_ms = now_ms();
	reactor__arm_accept(r);
	reactor__arm_wake(r);
	while (!(atomic_load_explicit(&r->stopping, memory_order_relaxed) && r->listen_fd < 0 &&
		 r->live == 0)) {
		struct io_uring_cqe *cqe;
		struct __kernel_timespec ts = {.tv_sec = 0, .tv_nsec = TICK_MS * 1000000L};
		unsigned head, seen = 0;

		ctr_add(&r->loops, 1);
		if (atomic_load_explicit(&r->purge, memory_order_relaxed) && atomic_exchange(&r->purge, 0))
			reactor__purge(r);
		if (mpsc_size(&r->admin))
			reactor__admin(r);
		reactor__drain_notify(r);
		/* resumed connections (the worker drained a paused one) read again
		 * now, not after the wait below */
		reactor__rearm_all(r);
		bool work = reactor__busy_poll(r);
		/* seq_cst: a worker that pushes after this sees sleeping and wakes us */
		if (!work)
			atomic_store(&r->sleeping, 1);
		unsigned wait = work || mpsc_size(&r->notify) || mpsc_size(&r->admin) ||
					atomic_load(&r->purge)
				? 0
				: 1;
		io_uring_submit_and_wait_timeout(&r->ring, &cqe, wait, &ts, NULL);
		atomic_store(&r->sleeping, 0);

		r->now_ms = now_ms();
		r->br_added = 0;
		/* completions the kernel parked because the CQ was full: liburing's
		 * next enter flushes them; count it, a sign the ring wants more entries */
		if (IO_URING_READ_ONCE(*r->ring.sq.kflags) & IORING_SQ_CQ_OVERFLOW)
			atomic_fetch_add_explicit(&r->cq_overflows, 1, memory_order_relaxed);
		io_uring_for_each_cqe(&r->ring, head, cqe)
		{
			reactor__completion(r, cqe);
			seen++;
		}
		io_uring_cq_advance(&r->ring, seen);
		if (r->br_added)
			io_uring_buf_ring_advance(r->br, (int)r->br_added);
		reactor__rearm_all(r);
		if (r->now_ms >= r->next_tick_ms) {
			r->next_tick_ms = r->now_ms + TICK_MS;
			reactor__tick(r);
		}
	}
	io_uring_queue_exit(&r->ring);
	return NULL;
}

static int reactor__listen(struct reactor *r, const struct io_config *cfg, uint16_t port,
			   bool reuseport)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	int one = 1, fd;

	if (inet_pton(AF_INET, cfg->host, &sa.sin_addr) != 1)
		return -EINVAL;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (reuseport) /* one listener per reactor; the kernel spreads connections */
		setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 4096) < 0) {
		int err = -errno;
		close(fd);
		return err;
	}
	r->listen_fd = fd;
	return 0;
}

static void reactor__deinit(struct reactor *r)
{
	if (r->conns) {
		for (uint32_t i = 0; i < r->s->cfg.max_conns; i++) {
			struct io_conn *c = r->conns[i];
			if (!c)
				continue;
			if (c->fd >= 0)
				close(c->fd);
			conn__reset(c);
			spsc_deinit(&c->inq);
			mpsc_deinit(&c->outq);
			free(c->in);
			free(c);
		}
	}
	free(r->conns);
	free(r->free_slots);
	if (r->br)
		munmap(r->br, r->nbufs * sizeof(struct io_uring_buf));
	free(r->bufs);
	if (r->listen_fd >= 0)
		close(r->listen_fd);
	if (r->efd >= 0)
		close(r->efd);
	mpsc_deinit(&r->notify);
	for (struct io_admin *a; r->admin.cap && (a = mpsc_pop(&r->admin));)
		free(a);
	mpsc_deinit(&r->admin);
	pool_deinit(&r->tiny);
	pool_deinit(&r->msgs);
}

static int reactor__init(struct reactor *r, struct io_server *s, int id)
{
	const struct io_config *cfg = &s->cfg;
	uint32_t total = cfg->max_conns * (uint32_t)s->nreactors;

	r->s = s;
	r->id = id;
	r->listen_fd = -1;
	r->efd = eventfd(0, EFD_CLOEXEC);
	r->nbufs = cfg->recv_buffers;
	r->bufsz = BUF_SIZE;
	r->conns = calloc(cfg->max_conns, sizeof(*r->conns));
	r->free_slots = malloc(cfg->max_conns * sizeof(*r->free_slots));
	r->bufs = aligned_alloc(4096, (size_t)r->nbufs * r->bufsz);
	r->br = mmap(NULL, r->nbufs * sizeof(struct io_uring_buf), PROT_READ | PROT_WRITE,
		     MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
	if (r->br == MAP_FAILED)
		r->br = NULL;
	if (r->efd < 0 || !r->conns || !r->free_slots || !r->bufs || !r->br ||
	    mpsc_init(&r->notify, total) < 0 || mpsc_init(&r->admin, 64) < 0 ||
	    pool_init(&r->tiny, sizeof(struct io_msg) + TINY_MSG, 0) < 0 ||
	    pool_init(&r->msgs, sizeof(struct io_msg) + SMALL_MSG, 0) < 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < cfg->max_conns; i++)
		r->free_slots[i] = cfg->max_conns - 1 - i; /* slot 0 first */
	r->nfree = cfg->max_conns;
	return 0;
}

int io_server_create(const struct io_config *cfg, struct io_server **out)
{
	struct io_server *s = calloc(1, sizeof(*s));
	int rc = -ENOMEM;

	if (!s)
		return -ENOMEM;
	s->cfg = *cfg;
	if (cfg->ping_len > sizeof(cfg->ping) || cfg->pong_len > sizeof(cfg->pong)) {
		free(s);
		return -EINVAL;
	}
	s->ping_frame_len = (uint8_t)ws_encode_header(s->ping_frame, true, WS_OP_TEXT, cfg->ping_len);
	memcpy(s->ping_frame + s->ping_frame_len, cfg->ping, cfg->ping_len);
	s->ping_frame_len += cfg->ping_len;
	s->nreactors = cfg->reactors > 0 ? cfg->reactors : 1;
	s->nworkers = cfg->workers > 0 ? cfg->workers : 1;
	s->reactors = calloc((size_t)s->nreactors, sizeof(*s->reactors));
	s->inboxes = calloc((size_t)s->nworkers, sizeof(*s->inboxes));
	if (!s->reactors || !s->inboxes)
		goto fail;
	for (int i = 0; i < s->nworkers; i++) {
		s->inboxes[i].efd = eventfd(0, EFD_CLOEXEC);
		if (s->inboxes[i].efd < 0 ||
		    mpsc_init(&s->inboxes[i].ready, cfg->max_conns * (uint32_t)s->nreactors) < 0)
			goto fail;
	}
	for (int i = 0; i < s->nreactors; i++) {
		s->reactors[i].efd = -1;
		s->reactors[i].listen_fd = -1;
	}
	s->port = cfg->port;
	if (s->port == 0) {
		/* The kernel's pick, found without SO_REUSEPORT: an ephemeral bind with
		 * it may join a port another process already shares the same way. */
		struct reactor probe = {.listen_fd = -1};
		struct sockaddr_in sa;
		socklen_t len = sizeof(sa);
		rc = reactor__listen(&probe, cfg, 0, false);
		if (rc < 0)
			goto fail;
		getsockname(probe.listen_fd, (struct sockaddr *)&sa, &len);
		s->port = ntohs(sa.sin_port);
		close(probe.listen_fd);
	}
	for (int i = 0; i < s->nreactors; i++) {
		struct reactor *r = &s->reactors[i];
		rc = reactor__init(r, s, i);
		if (rc == 0)
			rc = reactor__listen(r, cfg, s->port, true);
		if (rc < 0)
			goto fail;
	}
	*out = s;
	return 0;
fail:
	io_server_destroy(s);
	return rc;
}

uint16_t io_server_port(const struct io_server *s)
{
	return s->port;
}

struct io_inbox *io_server_inbox(struct io_server *s, int i)
{
	return &s->inboxes[i];
}

int io_server_start(struct io_server *s)
{
	for (int i = 0; i < s->nreactors; i++) {
		int rc = pthread_create(&s->reactors[i].thread, NULL, reactor__run, &s->reactors[i]);
		if (rc) {
			for (int j = 0; j < i; j++) {
				atomic_store(&s->reactors[j].stopping, 1);
				pthread_join(s->reactors[j].thread, NULL);
			}
			return -rc;
		}
	}
	s->started = true;
	return 0;
}

void io_server_stop(struct io_server *s)
{
	if (!s->started)
		return;
	for (int i = 0; i < s->nreactors; i++) {
		struct reactor *r = &s->reactors[i];
		uint64_t one = 1;
		atomic_store(&r->stopping, 1);
		(void)!write(r->efd, &one, sizeof(one));
	}
	for (int i = 0; i < s->nreactors; i++) {
		struct reactor *r = &s->reactors[i];
		pthread_join(r->thread, NULL);
		fprintf(stderr,
			"sluice: reactor %d: %llu connections, %llu refused or failed accepts, "
			"%llu recv re-arms after ENOBUFS, %llu CQ overflows\n",
			i, (unsigned long long)atomic_load(&r->accepts),
			(unsigned long long)atomic_load(&r->accept_errors),
			(unsigned long long)atomic_load(&r->enobufs),
			(unsigned long long)atomic_load(&r->cq_overflows));
	}
	s->started = false;
}

void io_server_destroy(struct io_server *s)
{
	if (!s)
		return;
	for (int i = 0; s->reactors && i < s->nreactors; i++)
		if (s->reactors[i].s)
			reactor__deinit(&s->reactors[i]);
	for (int i = 0; s->inboxes && i < s->nworkers; i++) {
		if (s->inboxes[i].efd > 0)
			close(s->inboxes[i].efd);
		mpsc_deinit(&s->inboxes[i].ready);
	}
	free(s->reactors);
	free(s->inboxes);
	free(s);
}
