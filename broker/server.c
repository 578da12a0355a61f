/*
 * server: a sluice server's lifecycle (create, start, stop, destroy), the
 * registry of procedures, receivers and listeners (written before start,
 * read-only after), and the broker's worker ops: each worker keeps an epoch
 * record, a queue of sockets to retire, and the timers of its sockets'
 * invokes.
 *
 * Threads: create/register/start/stop/destroy from the application's thread;
 * the worker ops on the worker threads; server__this_worker on any.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "broker.h"
#include "channel.h"
#include "worker.h"

static _Thread_local struct bworker *this_worker;

struct bworker *server__this_worker(void)
{
	return this_worker;
}

uint64_t server__now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint32_t server__hash(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static const char base36[] = "0123456789abcdefghijklmnopqrstuvwxyz";

void server__socket_id(const struct sluice_server *srv, uint64_t serial, char *out, size_t cap)
{
	char tail[16];
	int k = 0;
	size_t at;

	for (uint64_t v = serial; k == 0 || v; v /= 36)
		tail[k++] = base36[v % 36];
	at = (size_t)snprintf(out, cap, "%s", srv->id_prefix);
	for (int i = k - 1; i >= 0 && at + 1 < cap; i--)
		out[at++] = tail[i];
	out[at < cap ? at : cap - 1] = '\0';
}

uint64_t server__socket_serial(const struct sluice_server *srv, const char *id)
{
	size_t pl = strlen(srv->id_prefix);
	uint64_t v = 0;

	if (strncmp(id, srv->id_prefix, pl) != 0 || !id[pl])
		return 0;
	for (const char *p = id + pl; *p; p++) {
		const char *d = strchr(base36, *p);
		if (!d || v > UINT64_MAX / 36)
			return 0;
		v = v * 36 + (uint64_t)(d - base36);
	}
	return v;
}

const struct handler *server__handler(const struct sluice_server *srv, const uint8_t *name,
				      size_t len)
{
	uint32_t h = server__hash(name, len);

	for (const struct handler *x = srv->handlers[h % HANDLER_BUCKETS]; x; x = x->next)
		if (x->hash == h && x->len == len && memcmp(x->name, name, len) == 0)
			return x;
	return NULL;
}

static int server__register(struct sluice_server *srv, const char *event,
			    sluice_procedure_fn *proc, sluice_receiver_fn *recv, void *ctx)
{
	size_t len = event ? strlen(event) : 0;
	uint32_t h = server__hash((const uint8_t *)event, len);
	struct handler *x;

	if (!event || !*event || event[0] == '#' || srv->started)
		return -EINVAL;
	x = (struct handler *)server__handler(srv, (const uint8_t *)event, len);
	if (x) {
		if ((proc && x->proc) || (recv && x->recv))
			return -EEXIST;
		if (proc)
			x->proc = proc;
		else
			x->recv = recv;
		x->ctx = ctx; /* one name, both kinds: they share the context */
		return 0;
	}
	x = calloc(1, sizeof(*x) + len + 1);
	if (!x)
		return -ENOMEM;
	x->stats = aligned_alloc(64, (size_t)srv->nworkers * sizeof(struct hstat));
	if (!x->stats) {
		free(x);
		return -ENOMEM;
	}
	memset(x->stats, 0, (size_t)srv->nworkers * sizeof(struct hstat));
	x->proc = proc;
	x->recv = recv;
	x->ctx = ctx;
	x->hash = h;
	x->len = (uint32_t)len;
	memcpy(x->name, event, len);
	x->next = srv->handlers[h % HANDLER_BUCKETS];
	srv->handlers[h % HANDLER_BUCKETS] = x;
	return 0;
}

int sluice_procedure(struct sluice_server *srv, const char *event, sluice_procedure_fn *fn,
		     void *ctx)
{
	return fn ? server__register(srv, event, fn, NULL, ctx) : -EINVAL;
}

int sluice_receiver(struct sluice_server *srv, const char *event, sluice_receiver_fn *fn,
		    void *ctx)
{
	return fn ? server__register(srv, event, NULL, fn, ctx) : -EINVAL;
}

void sluice_on_connection(struct sluice_server *srv, sluice_socket_fn *fn, void *ctx)
{
	srv->on_connection = fn;
	srv->on_connection_ctx = ctx;
}

void sluice_on_disconnection(struct sluice_server *srv, sluice_close_fn *fn, void *ctx)
{
	srv->on_disconnection = fn;
	srv->on_disconnection_ctx = ctx;
}

void sluice_on_subscription(struct sluice_server *srv, sluice_channel_fn *fn, void *ctx)
{
	srv->on_subscription = fn;
	srv->on_subscription_ctx = ctx;
}

void sluice_on_unsubscription(struct sluice_server *srv, sluice_channel_fn *fn, void *ctx)
{
	srv->on_unsubscription = fn;
	srv->on_unsubscription_ctx = ctx;
}

/* ---- the worker ops ---- */

static void *server__begin(void *ctx, int index)
{
	struct sluice_server *srv = ctx;
	struct bworker *w = srv->bw[index];

	w->rec = epoch_join(&srv->epoch);
	if (!w->rec)
		abort(); /* a few hundred bytes at start: nothing sensible to do without */
	w->now_ms = server__now_ms();
	this_worker = w;
	return w;
}

static void server__message(void *local, struct io_conn *c, struct io_msg *m)
{
	struct bworker *w = local;

	atomic_store_explicit(&w->msgs, atomic_load_explicit(&w->msgs, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	socket__message(local, c, m);
}

static void server__closed(void *local, struct io_conn *c)
{
	socket__closed(local, c);
}

static bool server__hold(void *local, struct io_conn *c)
{
	(void)local;
	return socket__holding(c);
}

static int server__turn(void *local)
{
	struct bworker *w = local;
	uint64_t wait;

	w->now_ms = server__now_ms();
	atomic_store_explicit(&w->loops, atomic_load_explicit(&w->loops, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	mw__resume_all(w);
	flow__closing(w);
	socket__reap(w);
	if (w->now_ms >= w->next_timer_ms)
		socket__timers(w);
	epoch_poll(w->rec);
	wait = w->next_timer_ms > w->now_ms ? w->next_timer_ms - w->now_ms : 0;
	/* bounded: retired sockets are freed (and their slots reused) on a turn */
	return wait > 50 ? 50 : (int)wait;
}

static void server__end(void *local)
{
	struct bworker *w = local;

	socket__reap(w);
	while (w->ntimed)
		socket__unref(w->timed[--w->ntimed]);
	free(w->timed);
	w->timed = NULL;
	w->timed_cap = 0;
	socket__reap(w);
	epoch_barrier(w->rec);
	epoch_leave(w->rec);
	this_worker = NULL;
}

/* ---- lifecycle ---- */

/* The reactors' upgrade hook: the application's, when it set one. */
static int server__upgrade(const struct http_request *req, void *ctx)
{
	const struct sluice_server *srv = ctx;

	return srv->on_upgrade ? srv->on_upgrade((const struct sluice_http *)req, srv->on_upgrade_ctx)
			       : 0;
}

static void server__io_config(const struct sluice_options *o, struct io_config *io)
{
	io_config_defaults(io);
	io->host = o->host;
	io->port = o->port;
	io->path = o->path;
	io->origins = o->origins;
	io->reactors = o->reactors;
	io->workers = o->workers;
	io->max_conns = o->max_conns;
	io->max_payload = o->max_payload;
	io->max_header = o->max_header;
	io->handshake_timeout_ms = o->handshake_timeout_ms;
	io->outbound_limit = o->outbound_limit;
	io->send_timeout_ms = o->send_timeout_ms;
	io->inbound_ring = o->inbound_ring;
	io->inbound_limit = o->inbound_limit;
	io->outbound_ring = o->outbound_ring;
	io->recv_buffers = o->recv_buffers;
	io->uring_mode = o->uring_mode;
	io->busy_poll_us = o->busy_poll_us;
	io->slow_policy = o->slow_policy == SLUICE_SLOW_DROP_OLDEST ? IO_SLOW_DROP_OLDEST
								     : IO_SLOW_DISCONNECT;
	io->backpressure_limit = o->backpressure_limit;
	io->inbound_rate = o->inbound_rate;
	io->inbound_burst = o->inbound_burst ? o->inbound_burst : 1;
	if (o->echo)
		return; /* the transport alone: no keep-alive, no handshake deadline */
	if (!o->ping_timeout_disabled) {
		io->ping_interval_ms = o->ping_interval_ms;
		io->ping_timeout_ms = o->ping_timeout_ms;
	}
	io->ping_timeout_code = SLUICE_CLOSE_PONG_TIMEOUT;
	io->open_timeout_code = SLUICE_CLOSE_NO_HANDSHAKE;
	if (o->protocol_version == 1) {
		memcpy(io->ping, "#1", 2);
		memcpy(io->pong, "#2", 2);
		io->ping_len = io->pong_len = 2;
	}
	io->drop_pongs = true;
}

int sluice_server_create(const struct sluice_options *o, struct sluice_server **out)
{
	struct sluice_server *srv = calloc(1, sizeof(*srv));
	uint8_t rnd[4];
	int rc = -ENOMEM;

	if (!srv)
		return -ENOMEM;
	srv->o = *o;
	if (o->protocol_version != 1 && o->protocol_version != 2) {
		free(srv);
		return -EINVAL;
	}
	server__io_config(&srv->o, &srv->io);
	if (!o->echo) {
		srv->io.upgrade_hook = server__upgrade;
		srv->io.upgrade_ctx = srv;
	}
	epoch_init(&srv->epoch);
	pthread_mutex_init(&srv->foreign_lock, NULL);
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
		memset(rnd, 0, sizeof(rnd));
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	for (int i = 0; i < 4; i++)
		srv->id_prefix[i] = abc[rnd[i] & 63];
	srv->id_prefix[4] = '-';
	if (channel_table_create(1u << 16, &srv->channels) < 0)
		goto fail;
	srv->started_ms = server__now_ms();
	if (!o->echo && auth__init(srv, NULL, 0) < 0) {
		rc = -EINVAL;
		goto fail;
	}
	srv->foreign = epoch_join(&srv->epoch);
	if (!srv->foreign)
		goto fail;
	rc = io_server_create(&srv->io, &srv->ios);
	if (rc < 0)
		goto fail;
	channel_table_tallies(srv->channels, srv->ios);
	srv->nworkers = srv->io.workers > 0 ? srv->io.workers : 1;
	srv->bw = calloc((size_t)srv->nworkers, sizeof(srv->bw[0]));
	if (!srv->bw) {
		rc = -ENOMEM;
		goto fail;
	}
	for (int i = 0; i < srv->nworkers; i++) {
		struct bworker *w = srv->bw[i] = calloc(1, sizeof(*w));
		if (!w || mpsc_init(&w->dead, srv->io.max_conns * (uint32_t)srv->io.reactors) < 0 ||
		    mpsc_init(&w->resumed, srv->io.max_conns * (uint32_t)srv->io.reactors) < 0 ||
		    mpsc_init(&w->closing, srv->io.max_conns * (uint32_t)srv->io.reactors) < 0) {
			rc = -ENOMEM;
			goto fail;
		}
		w->srv = srv;
		w->index = i;
		w->in = io_server_inbox(srv->ios, i);
		w->next_timer_ms = UINT64_MAX;
	}
	*out = srv;
	return 0;
fail:
	sluice_server_destroy(srv);
	return rc;
}

uint16_t sluice_server_port(const struct sluice_server *srv)
{
	return io_server_port(srv->ios);
}

int sluice_server_start(struct sluice_server *srv)
{
	static const struct worker_ops ops = {
		.begin = server__begin,
		.message = server__message,
		.closed = server__closed,
		.hold = server__hold,
		.turn = server__turn,
		.end = server__end,
	};
	struct worker_ops wops = srv->o.echo ? worker_echo_ops : ops;
	int rc;

	if (srv->started)
		return -EALREADY;
	srv->started = true;
	wops.ctx = srv;
	srv->wops = wops;
	for (int i = 0; i < srv->nworkers; i++)
		srv->bw[i]->ops = &srv->wops; /* resumed sockets are drained with the same ops */
	rc = workers_start(srv->ios, srv->nworkers, &wops, &srv->ws);
	if (rc < 0)
		return rc;
	rc = io_server_start(srv->ios);
	if (rc == 0)
		rc = stats__start(srv);
	if (rc < 0) {
		io_server_stop(srv->ios);
		workers_stop(srv->ws);
		srv->ws = NULL;
	}
	return rc;
}

void sluice_server_stop(struct sluice_server *srv)
{
	if (!srv->started || !srv->ws)
		return;
	stats__stop(srv);
	io_server_stop(srv->ios); /* the workers drain meanwhile */
	workers_stop(srv->ws);
	srv->ws = NULL;
}

void sluice_server_destroy(struct sluice_server *srv)
{
	if (!srv)
		return;
	sluice_server_stop(srv);
	if (srv->ios)
		io_server_destroy(srv->ios);
	for (int i = 0; srv->bw && i < srv->nworkers; i++) {
		if (srv->bw[i]) {
			mpsc_deinit(&srv->bw[i]->dead);
			mpsc_deinit(&srv->bw[i]->resumed);
			/* closes asked after the workers' last turn (after stop): the
			 * sockets went with the server; only the words are freed */
			for (void *t; (t = mpsc_pop(&srv->bw[i]->closing));)
				free(t);
			mpsc_deinit(&srv->bw[i]->closing);
		}
		free(srv->bw[i]);
	}
	free(srv->bw);
	if (srv->foreign) {
		epoch_barrier(srv->foreign);
		epoch_leave(srv->foreign);
	}
	channel_table_destroy(srv->channels);
	auth__deinit(srv);
	epoch_deinit(&srv->epoch);
	pthread_mutex_destroy(&srv->foreign_lock);
	for (int i = 0; i < HANDLER_BUCKETS; i++) {
		for (struct handler *x = srv->handlers[i], *next; x; x = next) {
			next = x->next;
			free(x->stats);
			free(x);
		}
	}
	free(srv);
}
