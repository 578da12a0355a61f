/*
 * middleware: the application's hooks on what clients do, and their
 * decisions, which may come at once or later from any thread.
 *
 *   worker: fill s->act, call the hook --returns--> arrivals += 1 --+
 *   decider (any thread, once): set decision --> arrivals += 1 -----+
 *   whoever makes it 2 acts: the worker at once (decided in the hook), or
 *   the decider, which queues the socket on its worker's `resumed` queue;
 *   the worker then acts (socket__resume) and goes on with the socket's
 *   waiting packets, in order.
 *
 * While a decision is pending the socket is `held`: its worker takes no
 * more of its messages (worker_ops.hold), so they wait in the inbound ring
 * and the reactor's back-pressure applies to that client alone.
 *
 * Threads: mw__ask, mw__resume_all on the socket's worker; the
 * sluice_action_* decisions on any thread; accessors until the decision.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "broker.h"
#include "frame.h"
#include "http.h"

int sluice_middleware(struct sluice_server *srv, unsigned kinds, sluice_middleware_fn *fn,
		      void *ctx)
{
	if (srv->started || kinds == 0 || kinds >= (1u << MW_KINDS))
		return -EINVAL;
	for (int i = 0; i < MW_KINDS; i++) {
		if (!(kinds & (1u << i)))
			continue;
		srv->mw[i] = fn;
		srv->mw_ctx[i] = ctx;
		if (fn)
			srv->mw_mask |= 1u << i;
		else
			srv->mw_mask &= ~(1u << i);
	}
	return 0;
}

static int mw__index(enum sluice_mw kind)
{
	return __builtin_ctz((unsigned)kind);
}

bool mw__ask(struct sluice_socket *s, struct io_msg *m)
{
	struct sluice_action *a = &s->act;
	int i = mw__index(a->kind);

	a->s = s;
	a->decision = ACT_PENDING;
	/* relaxed: nobody else sees a until the hook is called below */
	atomic_store_explicit(&a->arrivals, 0, memory_order_relaxed);
	a->m = m;
	if (m)
		io_msg_hold(m, 1);
	s->srv->mw[i](a, s->srv->mw_ctx[i]);
	/* acq_rel: a decision made already is visible; ours is published */
	if (atomic_fetch_add_explicit(&a->arrivals, 1, memory_order_acq_rel) == 1)
		return true;
	s->held = true;
	return false;
}

/* The decider's arrival: the second one acts. */
static void mw__decided(struct sluice_action *a)
{
	struct sluice_socket *s = a->s;

	/* acq_rel: the decision above is published to the worker */
	if (atomic_fetch_add_explicit(&a->arrivals, 1, memory_order_acq_rel) == 0)
		return; /* the hook has not returned: its worker acts when it does */
	if (a->sync_only) {
		/* a publish-out decision after its hook returned: nothing holds it */
		fprintf(stderr, "sluice: a publish-out hook decided after returning; ignored\n");
		return;
	}
	while (!mpsc_push(&s->w->resumed, s))
		; /* sized for every socket, each held at most once: never full */
	io_inbox_wake(s->w->in);
}

void mw__resume_all(struct bworker *w)
{
	struct sluice_socket *s;

	while ((s = mpsc_pop(&w->resumed)))
		socket__resume(s);
}


/* The action's contents forgotten (not freed): empty, reusable. */
static void mw__empty(struct sluice_action *a)
{
	a->err = a->tdata = a->names = a->payload = NULL;
	a->m = NULL;
	a->event = a->channel = NULL;
	a->data = NULL;
	a->dlen = a->tlen = a->plen = 0;
	a->close_code = 0;
	a->stage = 0;
	a->raw = false;
}

void mw__clear(struct sluice_action *a)
{
	free(a->err);
	free(a->tdata);
	free(a->names);
	free(a->payload);
	io_msg_free(a->m);
	mw__empty(a);
}

void mw__take(struct sluice_socket *s, struct sluice_action *d)
{
	*d = s->act;
	mw__empty(&s->act);
}

const char *mw__error(const struct sluice_action *a, size_t *len)
{
	static const struct {
		enum sluice_mw kind;
		const char *json;
	} silent[] = {
		{SLUICE_MW_TRANSMIT, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
				     "\"The transmit AGAction was blocked by inbound middleware\","
				     "\"type\":\"inbound\"}"},
		{SLUICE_MW_INVOKE, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
				   "\"The invoke AGAction was blocked by inbound middleware\","
				   "\"type\":\"inbound\"}"},
		{SLUICE_MW_SUBSCRIBE, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
				      "\"The subscribe AGAction was blocked by inbound middleware\","
				      "\"type\":\"inbound\"}"},
		{SLUICE_MW_PUBLISH_IN, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
				       "\"The publishIn AGAction was blocked by inbound "
				       "middleware\",\"type\":\"inbound\"}"},
		{SLUICE_MW_AUTHENTICATE, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
					 "\"The authenticate AGAction was blocked by inbound "
					 "middleware\",\"type\":\"inbound\"}"},
		{SLUICE_MW_HANDSHAKE, "{\"name\":\"SilentMiddlewareBlockedError\",\"message\":"
				      "\"The handshakeSC AGAction was blocked by handshake "
				      "middleware\",\"type\":\"handshake\",\"statusCode\":4008}"},
	};

	if (a->decision == ACT_BLOCK && a->err) {
		*len = strlen(a->err);
		return a->err;
	}
	for (size_t i = 0; i < sizeof(silent) / sizeof(silent[0]); i++) {
		if (silent[i].kind == a->kind) {
			*len = strlen(silent[i].json);
			return silent[i].json;
		}
	}
	*len = strlen(silent[0].json);
	return silent[0].json;
}

/* ---- the application's side ---- */

enum sluice_mw sluice_action_kind(const struct sluice_action *a)
{
	return a->kind;
}

struct sluice_socket *sluice_action_socket(const struct sluice_action *a)
{
	return a->s;
}

const char *sluice_action_event(const struct sluice_action *a)
{
	return a->event;
}

const char *sluice_action_channel(const struct sluice_action *a)
{
	return a->channel;
}

const char *sluice_action_data(const struct sluice_action *a, size_t *len)
{
	*len = a->data ? a->dlen : 0;
	return a->data;
}

void sluice_action_allow(struct sluice_action *a)
{
	a->decision = ACT_ALLOW;
	mw__decided(a);
}

void sluice_action_block(struct sluice_action *a, const char *name, const char *message,
			 int close_code)
{
	struct frame f;

	name = name ? name : "MiddlewareBlockedError";
	message = message ? message : "";
	frame_begin(&f, 32 + 2 * (strlen(name) + strlen(message)));
	frame_lit(&f, "{\"name\":");
	frame_str(&f, name, strlen(name));
	frame_lit(&f, ",\"message\":");
	frame_str(&f, message, strlen(message));
	if (close_code) { /* as a socketcluster handshake error's statusCode */
		frame_lit(&f, ",\"statusCode\":");
		frame_int(&f, close_code);
	}
	frame_lit(&f, "}");
	frame_put(&f, "", 1); /* NUL: kept as a C string */
	if (!f.oom) {
		/* the payload of a scratch frame becomes the error text */
		a->err = malloc(f.m->len);
		if (a->err)
			memcpy(a->err, f.m->data, f.m->len);
		io_msg_free(f.m);
	}
	a->close_code = close_code;
	a->decision = ACT_BLOCK;
	mw__decided(a);
}

void sluice_action_block_silently(struct sluice_action *a)
{
	a->decision = ACT_SILENT;
	mw__decided(a);
}

void sluice_action_transform(struct sluice_action *a, const char *data, size_t len)
{
	a->tdata = malloc(len ? len : 1);
	if (!a->tdata) {
		a->decision = ACT_ALLOW; /* no memory for the new data: the old stands */
	} else {
		memcpy(a->tdata, data, len);
		a->tlen = len;
		a->decision = ACT_TRANSFORM;
	}
	mw__decided(a);
}

/* ---- the WebSocket stage: the reactor's hook, with the request exposed ---- */

const char *sluice_http_path(const struct sluice_http *req, size_t *len)
{
	const struct http_request *r = (const struct http_request *)req;

	*len = r->path.n;
	return r->path.p;
}

const char *sluice_http_query(const struct sluice_http *req, size_t *len)
{
	const struct http_request *r = (const struct http_request *)req;

	*len = r->query.n;
	return r->query.p;
}

const char *sluice_http_header(const struct sluice_http *req, const char *name, size_t *len)
{
	const struct http_request *r = (const struct http_request *)req;
	size_t n = strlen(name);

	for (size_t i = 0; i < r->nheaders; i++) {
		const struct http_header *h = &r->headers[i];
		if (h->name.n == n && strncasecmp(h->name.p, name, n) == 0) {
			*len = h->value.n;
			return h->value.p;
		}
	}
	*len = 0;
	return NULL;
}

void sluice_on_upgrade(struct sluice_server *srv, sluice_upgrade_fn *fn, void *ctx)
{
	srv->on_upgrade = fn;
	srv->on_upgrade_ctx = ctx;
}
