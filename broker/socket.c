/*
 * socket: one SocketCluster socket on its worker: the handshake, the
 * dispatch of every inbound packet (events, replies, batches), pub/sub, the
 * server's own invokes and their timeouts, batching, and the socket's end.
 *
 *   first message --> OPEN --#handshake (numeric cid)--> HANDSHAKEN
 *                       |  \--#handshake, no cid---> close 4008
 *                       |  \--anything else--------> close 4009
 *                       '--nothing in handshake_timeout--> 4005 (reactor)
 *   HANDSHAKEN: #subscribe #unsubscribe #publish #authenticate, events
 *               (invoke -> procedure, transmit -> receiver), replies
 *   closed (io_conn_recv -EPIPE): subscriptions dropped, invokes failed,
 *               disconnection listener, the connection's reference dropped
 *
 * Error replies use the names and messages of socketcluster-server 20.0.1
 * where the client may look at them (PROTOCOL.md).
 *
 * Threads: every function runs on the socket's worker, except socket__ref,
 * socket__unref and socket__send (any thread holding a reference).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "broker.h"
#include "channel.h"
#include "frame.h"
#include "packet.h"
#include "worker.h"

/* ---- references and the end of a socket ---- */

void socket__ref(struct sluice_socket *s)
{
	/* relaxed: the caller already holds a reference */
	atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
}

static void socket__free(epoch_entry_t *e)
{
	struct sluice_socket *s = (struct sluice_socket *)((char *)e -
							    offsetof(struct sluice_socket, entry));

	io_conn_release(s->c); /* on the worker: epoch callbacks run in its turn */
	for (struct io_msg *m = s->backlog, *next; m; m = next) {
		next = m->next;
		io_msg_free(m);
	}
	mw__clear(&s->act);
	auth__free(s);
	free(s->subs);
	free(s->pend);
	free(s->batch);
	free(s);
}

static void socket__retire(struct bworker *w, struct sluice_socket *s)
{
	/* other workers may be fanning a publish out to s: free it after them */
	epoch_retire(w->rec, &s->entry, socket__free);
}

void socket__unref(struct sluice_socket *s)
{
	/* acq_rel: every owner's use happens before the retirement */
	if (atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) != 1)
		return;
	if (server__this_worker() == s->w) {
		socket__retire(s->w, s);
		return;
	}
	while (!mpsc_push(&s->w->dead, s))
		; /* sized for every socket, each pushed once: never full */
	io_inbox_wake(s->w->in);
}

void socket__reap(struct bworker *w)
{
	struct sluice_socket *s;

	while ((s = mpsc_pop(&w->dead)))
		socket__retire(w, s);
}

/* ---- sending ---- */

int socket__send_msg(struct sluice_socket *s, struct io_msg *m)
{
	if (!m)
		return -ENOMEM;
	/* batching is the worker's own field: look at it only on that worker */
	if (server__this_worker() == s->w && s->batching) {
		size_t need = s->batch_len + m->len + 2;
		if (need > s->batch_cap) {
			size_t cap = s->batch_cap ? s->batch_cap * 2 : 1024;
			while (cap < need)
				cap *= 2;
			uint8_t *b = realloc(s->batch, cap);
			if (!b) {
				io_msg_free(m);
				return -ENOMEM;
			}
			s->batch = b;
			s->batch_cap = cap;
		}
		s->batch[s->batch_len] = s->batch_len == 0 ? '[' : ',';
		s->batch_len++;
		memcpy(s->batch + s->batch_len, m->data, m->len);
		s->batch_len += m->len;
		io_msg_free(m);
		return 0;
	}
	return io_conn_send(s->c, m);
}

int socket__send(struct sluice_socket *s, const uint8_t *json, size_t len)
{
	struct frame f;

	frame_begin(&f, len);
	frame_put(&f, json, len);
	return socket__send_msg(s, frame_end(&f));
}

/* {"rid":N,"error":{"name":...,"message":...}} */
static void socket__error(struct sluice_socket *s, int64_t rid, const char *name, const char *msg)
{
	struct frame f;

	frame_begin(&f, 48 + strlen(name) + strlen(msg));
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, rid);
	frame_lit(&f, ",\"error\":{\"name\":");
	frame_str(&f, name, strlen(name));
	frame_lit(&f, ",\"message\":");
	frame_str(&f, msg, strlen(msg));
	frame_lit(&f, "}}");
	socket__send_msg(s, frame_end(&f));
}

/* {"rid":N} */
static void socket__ack(struct sluice_socket *s, int64_t rid)
{
	struct frame f;

	frame_begin(&f, 32);
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, rid);
	frame_lit(&f, "}");
	socket__send_msg(s, frame_end(&f));
}

/* {"rid":N,"error":<json>} */
void socket__error_json(struct sluice_socket *s, int64_t rid, const char *json, size_t len)
{
	struct frame f;

	frame_begin(&f, 32 + len);
	frame_lit(&f, "{\"rid\":");
	frame_int(&f, rid);
	frame_lit(&f, ",\"error\":");
	frame_put(&f, json, len);
	frame_lit(&f, "}");
	socket__send_msg(s, frame_end(&f));
}

/* When a's decision blocks the packet: answers p's cid (if any) with the
 * error and returns true. */
static bool socket__blocked(struct sluice_socket *s, const struct packet *p,
			    const struct sluice_action *a)
{
	size_t n;
	const char *err;

	if (!a || (a->decision != ACT_BLOCK && a->decision != ACT_SILENT))
		return false;
	err = mw__error(a, &n);
	if (p->has_cid)
		socket__error_json(s, p->cid, err, n);
	return true;
}

/* ---- names ---- */

/*
 * The text of a JSON string span: buf itself when it has no escapes, else
 * unescaped into tmp (cap bytes) or, when longer, a malloc'd copy that the
 * caller frees (*heap). Returns the length, or -1 (bad escape, no memory).
 */
static long socket__text(const uint8_t *buf, struct packet_span sp, bool esc, char *tmp, size_t cap,
			 const char **out, char **heap)
{
	*heap = NULL;
	if (!esc) {
		*out = (const char *)buf + sp.off;
		return sp.len;
	}
	/* unescaping never lengthens a string */
	char *dst = tmp;
	if (sp.len > cap) {
		dst = *heap = malloc(sp.len ? sp.len : 1);
		if (!dst)
			return -1;
	}
	int n = packet_unescape(buf, sp, (uint8_t *)dst, sp.len > cap ? sp.len : cap);
	if (n < 0) {
		free(*heap);
		*heap = NULL;
		return -1;
	}
	*out = dst;
	return n;
}

/* ---- the handshake ---- */

void socket__handshaken(struct sluice_socket *s)
{
	struct sluice_server *srv = s->srv;

	if (s->handshaken)
		return; /* a second #handshake is answered, never registered twice */
	s->handshaken = true;
	io_conn_established(s->c);
	s->connected_event = true;
	if (srv->on_connection)
		srv->on_connection(s, srv->on_connection_ctx);
}

/* ---- pub/sub ---- */

static int socket__find_sub(const struct sluice_socket *s, const char *name, size_t len)
{
	for (uint32_t i = 0; i < s->nsubs; i++)
		if (s->subs[i]->len == len && memcmp(s->subs[i]->name, name, len) == 0)
			return (int)i;
	return -1;
}

static void socket__drop_sub(struct sluice_socket *s, uint32_t i)
{
	struct sluice_server *srv = s->srv;
	struct channel *ch = s->subs[i];

	if (srv->on_unsubscription)
		srv->on_unsubscription(s, ch->name, srv->on_unsubscription_ctx);
	channel_unsubscribe(srv->channels, s->w->rec, ch, s);
	s->subs[i] = s->subs[--s->nsubs];
	io_conn_gauge_set(s->c, GAUGE_SUBS, s->nsubs);
}

/*
 * Fills s->act for a hook of kind about packet p of m: the event or channel
 * text (copied, NUL-terminated) and the data span. False when out of memory.
 */
static bool socket__act(struct sluice_socket *s, enum sluice_mw kind, struct io_msg *m,
			const struct packet *p, const char *event, size_t elen, const char *channel,
			size_t clen, const uint8_t *data, size_t dlen)
{
	struct sluice_action *a = &s->act;
	char *names = malloc(elen + clen + 2);

	if (!names)
		return false;
	a->kind = kind;
	a->p = *p;
	a->in_batch = false;
	a->sync_only = false;
	a->names = names;
	a->event = event ? names : NULL;
	if (event)
		memcpy(names, event, elen);
	names[elen] = '\0';
	a->channel = channel ? names + elen + 1 : NULL;
	if (channel)
		memcpy(names + elen + 1, channel, clen);
	names[elen + 1 + clen] = '\0';
	a->data = (const char *)data;
	a->dlen = data ? dlen : 0;
	(void)m;
	return true;
}

/* Does name match one of the space-separated patterns ('*': any run)? */
static bool socket__match(const char *name, size_t len, const char *patterns)
{
	for (const char *p = patterns; *p;) {
		while (*p == ' ')
			p++;
		const char *e = p;
		while (*e && *e != ' ')
			e++;
		if (e > p) {
			/* glob with '*' only, iterative with one backtrack point */
			size_t i = 0;
			const char *q = p, *star = NULL;
			size_t at = 0;
			while (i < len || (q < e && *q == '*')) {
				if (q < e && *q == '*') {
					star = q++;
					at = i;
				} else if (i < len && q < e && *q == name[i]) {
					q++;
					i++;
				} else if (star) {
					q = star + 1;
					i = ++at;
				} else {
					break;
				}
			}
			while (q < e && *q == '*')
				q++;
			if (i == len && q == e)
				return true;
		}
		p = e;
	}
	return false;
}

/* An access rule of the options refuses this unauthenticated socket. */
static bool socket__needs_auth(const struct sluice_socket *s, const char *rules, const char *name,
			       size_t len)
{
	return rules[0] && !atomic_load_explicit(&s->auth, memory_order_relaxed) &&
	       socket__match(name, len, rules);
}

/* The subscription itself, once allowed (a: the hook's decision, or NULL). */
static void socket__subscribe_do(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
				 const struct sluice_action *a)
{
	struct sluice_server *srv = s->srv;
	const uint8_t *buf = m->data;
	char tmp[512], *heap;
	const char *name;
	long len;

	if (socket__blocked(s, p, a))
		return;
	len = socket__text(buf, p->channel, p->channel_esc, tmp, sizeof(tmp), &name, &heap);
	if (len < 0) {
		if (p->has_cid)
			socket__error(s, p->cid, "BrokerError", "Failed to subscribe");
		return;
	}
	if (socket__find_sub(s, name, (size_t)len) >= 0)
		goto ok; /* subscribing twice is not an error */
	if (srv->o.socket_channel_limit && s->nsubs >= srv->o.socket_channel_limit) {
		if (p->has_cid) {
			char msg[600];
			snprintf(msg, sizeof(msg),
				 "Failed to subscribe socket to the %.*s channel - InvalidActionError: "
				 "Socket %s tried to exceed the channel subscription limit of %u",
				 len > 256 ? 256 : (int)len, name, s->id, srv->o.socket_channel_limit);
			socket__error(s, p->cid, "BrokerError", msg);
		}
		goto out;
	}
	if (s->nsubs == s->subs_cap) {
		uint32_t cap = s->subs_cap ? s->subs_cap * 2 : 4;
		struct channel **arr = realloc(s->subs, cap * sizeof(*arr));
		if (!arr)
			goto fail;
		s->subs = arr;
		s->subs_cap = cap;
	}
	struct channel *ch;
	if (channel_subscribe(srv->channels, s->w->rec, name, (size_t)len, s, &ch) < 0)
		goto fail;
	s->subs[s->nsubs++] = ch;
	io_conn_gauge_set(s->c, GAUGE_SUBS, s->nsubs);
	if (srv->on_subscription)
		srv->on_subscription(s, ch->name, srv->on_subscription_ctx);
ok:
	if (p->has_cid)
		socket__ack(s, p->cid);
	goto out;
fail:
	if (p->has_cid)
		socket__error(s, p->cid, "BrokerError", "Failed to subscribe: out of memory");
out:
	free(heap);
}

typedef void socket__do_fn(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
			   const struct sluice_action *a);

/*
 * What stands between a #subscribe or #publish (whose channel is there) and
 * its doing: the access rule of the options (an unauthenticated socket on a
 * matching channel gets AuthRequiredError), then the hook of kind, which
 * sees data. Without either, straight to act.
 */
static void socket__channel_gate(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
				 enum sluice_mw kind, const char *rules, const char *refusal,
				 struct packet_span data, socket__do_fn *act)
{
	const uint8_t *buf = m->data;
	char tmp[512], *heap;
	const char *name;
	long len;

	if (!rules[0] && !mw__hooked(s->srv, kind)) {
		act(s, m, p, NULL);
		return;
	}
	len = socket__text(buf, p->channel, p->channel_esc, tmp, sizeof(tmp), &name, &heap);
	if (len >= 0 && socket__needs_auth(s, rules, name, (size_t)len)) {
		if (p->has_cid)
			socket__error(s, p->cid, SLUICE_AUTH_REQUIRED, refusal);
	} else if (len < 0 || !mw__hooked(s->srv, kind)) {
		act(s, m, p, NULL);
	} else if (!socket__act(s, kind, m, p, NULL, 0, name, (size_t)len,
				packet_has(data) ? buf + data.off : NULL, data.len)) {
		if (p->has_cid)
			socket__error(s, p->cid, "BrokerError", "out of memory");
	} else if (mw__ask(s, m)) {
		struct sluice_action d;
		mw__take(s, &d);
		act(s, m, p, &d);
		mw__clear(&d);
	}
	free(heap);
}

static void socket__subscribe(struct sluice_socket *s, struct io_msg *m, const struct packet *p)
{
	if (!p->has_channel) {
		if (p->has_cid)
			socket__error(s, p->cid, "InvalidActionError",
				      "Subscribe channel name was malformatted");
		return;
	}
	socket__channel_gate(s, m, p, SLUICE_MW_SUBSCRIBE, s->srv->o.subscribe_auth_channels,
			     "The channel needs an authenticated socket to subscribe", p->data,
			     socket__subscribe_do);
}

static void socket__unsubscribe(struct sluice_socket *s, const uint8_t *buf,
				const struct packet *p)
{
	char tmp[512], *heap;
	const char *name;
	long len;
	int i;

	if (!p->has_channel) {
		if (p->has_cid)
			socket__error(s, p->cid, "InvalidActionError",
				      "Unsubscribe channel name was malformatted");
		return;
	}
	len = socket__text(buf, p->channel, p->channel_esc, tmp, sizeof(tmp), &name, &heap);
	i = len < 0 ? -1 : socket__find_sub(s, name, (size_t)len);
	if (i >= 0)
		socket__drop_sub(s, (uint32_t)i);
	if (p->has_cid && i >= 0) {
		socket__ack(s, p->cid);
	} else if (p->has_cid) {
		char msg[600];
		snprintf(msg, sizeof(msg),
			 "Failed to unsubscribe socket from the %.*s channel - InvalidActionError: "
			 "Socket %s tried to unsubscribe from a channel which it is not subscribed to",
			 len > 256 ? 256 : (int)(len < 0 ? 0 : len), len < 0 ? "" : name, s->id);
		socket__error(s, p->cid, "BrokerError", msg);
	}
	free(heap);
}

/*
 * Fans a publish out: the frame {"event":"#publish","data":{"channel":C,
 * "data":D}} is built once, with the channel's own escaped name, and the
 * same bytes are queued for every subscriber, on whichever reactor.
 * Returns the number of subscribers, or -ENOMEM.
 */
/* {"event":"#publish","data":{"channel":C,"data":D}}, or NULL. */
static struct io_msg *socket__publish_frame(const struct channel *ch, const uint8_t *data,
					    size_t dlen)
{
	struct frame f;

	frame_begin(&f, 48 + ch->esc_len + dlen);
	frame_lit(&f, "{\"event\":\"#publish\",\"data\":{\"channel\":");
	frame_put(&f, ch->esc, ch->esc_len);
	if (data) {
		frame_lit(&f, ",\"data\":");
		frame_put(&f, data, dlen);
	}
	frame_lit(&f, "}}");
	return frame_end(&f);
}

/* One recipient's publish-out decision, taken before the hook returns.
 * Returns the frame to send it (shared, or its own), or NULL to skip it. */
static struct io_msg *socket__outbound(struct sluice_server *srv, struct sluice_socket *t,
				       const struct channel *ch, const uint8_t *data, size_t dlen,
				       struct io_msg *shared)
{
	struct sluice_action a = {.s = t, .kind = SLUICE_MW_PUBLISH_OUT, .sync_only = true};
	int i = __builtin_ctz(SLUICE_MW_PUBLISH_OUT);
	struct io_msg *m = NULL;

	a.channel = ch->name;
	a.data = (const char *)data;
	a.dlen = data ? dlen : 0;
	srv->mw[i](&a, srv->mw_ctx[i]);
	/* acq_rel: pairs with the decision's own arrival */
	if (atomic_fetch_add_explicit(&a.arrivals, 1, memory_order_acq_rel) == 0)
		a.decision = ACT_ALLOW; /* undecided at return: documented as allowed */
	if (a.decision == ACT_ALLOW) {
		io_msg_hold(shared, 1);
		m = shared;
	} else if (a.decision == ACT_TRANSFORM) {
		m = socket__publish_frame(ch, (const uint8_t *)a.tdata, a.tlen);
	}
	mw__clear(&a);
	return m;
}

/*
 * Counts a publish in the channel's tally and, every 64th publish of this
 * writer, holds the channel to --channel-backlog-limit: past it, its
 * backlog is killed (every subscriber's queued copies dropped, counted).
 */
static void socket__channel_limit(struct sluice_server *srv, struct channel *ch, int writer,
				  uint64_t queued, uint64_t refused)
{
	uint64_t limit = srv->o.channel_backlog_limit;
	uint64_t k = io_tally_publish(ch->tally, writer, queued, refused);
	struct io_tally_sum sum;

	if (!limit || k % 64)
		return;
	io_tally_read(ch->tally, &sum);
	if (sum.backlog > limit) {
		io_tally_kill(ch->tally);
		atomic_fetch_add_explicit(&srv->channel_kills, 1, memory_order_relaxed);
	}
}

/*
 * Fans a publish out: the frame {"event":"#publish","data":{"channel":C,
 * "data":D}} is built once, with the channel's own escaped name, and the
 * same bytes are queued for every subscriber, on whichever reactor (a
 * publish-out hook may skip a recipient or give it other bytes).
 * Returns the number of subscribers it was queued for, or -ENOMEM.
 */
static int socket__fanout(struct sluice_server *srv, struct epoch_rec *rec, int writer,
			  const char *name, size_t len, const uint8_t *data, size_t dlen)
{
	uint64_t hash = channel_hash(name, len);
	bool hooked = mw__hooked(srv, SLUICE_MW_PUBLISH_OUT);
	_Atomic uint64_t *count = writer < srv->nworkers ? &srv->bw[writer]->publishes
							 : &srv->foreign_publishes;
	struct channel *ch;
	struct subs *sub;
	int n = 0;

	/* one writer per counter: its worker, or foreign_lock's holder */
	atomic_store_explicit(count, atomic_load_explicit(count, memory_order_relaxed) + 1,
			      memory_order_relaxed);

	epoch_enter(rec);
	ch = channel_find(srv->channels, name, len, hash);
	sub = ch ? epoch_load((void *_Atomic *)&ch->subs) : NULL;
	if (sub && sub->n) {
		struct io_msg *m = socket__publish_frame(ch, data, dlen);
		uint32_t refused = 0;
		if (m && ch->tally)
			io_msg_tally(m, ch->tally);
		if (!m) {
			n = -ENOMEM;
		} else if (!hooked) {
			io_msg_hold(m, sub->n); /* one per send; ours is dropped below */
			for (uint32_t i = 0; i < sub->n; i++) {
				/* relaxed: the array's acquire load ordered its entries */
				struct sluice_socket *t =
					atomic_load_explicit(&sub->s[i], memory_order_relaxed);
				if (t && io_conn_send(t->c, m) == 0)
					n++;
				else if (!t)
					io_msg_free(m);
				else
					refused++;
			}
		} else {
			for (uint32_t i = 0; i < sub->n; i++) {
				struct sluice_socket *t =
					atomic_load_explicit(&sub->s[i], memory_order_relaxed);
				struct io_msg *x = t ? socket__outbound(srv, t, ch, data, dlen, m) : NULL;
				if (x && x != m && ch->tally)
					io_msg_tally(x, ch->tally);
				if (x && io_conn_send(t->c, x) == 0)
					n++;
				else if (x)
					refused++;
			}
		}
		io_msg_free(m);
		if (m && ch->tally)
			socket__channel_limit(srv, ch, writer, (uint64_t)n, refused);
	}
	epoch_exit(rec);
	return n;
}

static void socket__publish_do(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
			       const struct sluice_action *a)
{
	const uint8_t *buf = m->data;
	char tmp[512], *heap;
	const char *name;
	long len;

	if (socket__blocked(s, p, a))
		return;
	len = socket__text(buf, p->channel, p->channel_esc, tmp, sizeof(tmp), &name, &heap);
	if (len >= 0) {
		const uint8_t *data = packet_has(p->inner) ? buf + p->inner.off : NULL;
		size_t dlen = p->inner.len;
		if (a && a->decision == ACT_TRANSFORM) {
			data = (const uint8_t *)a->tdata;
			dlen = a->tlen;
		}
		socket__fanout(s->srv, s->w->rec, s->w->index, name, (size_t)len, data, dlen);
	}
	free(heap);
	if (p->has_cid)
		socket__ack(s, p->cid);
}

static void socket__publish(struct sluice_socket *s, struct io_msg *m, const struct packet *p)
{
	if (!s->srv->o.allow_client_publish) {
		if (p->has_cid)
			socket__error(s, p->cid, "InvalidActionError",
				      "Client publish feature is disabled");
		return;
	}
	if (!p->has_channel) {
		if (p->has_cid)
			socket__error(s, p->cid, "InvalidActionError",
				      "Publish channel name was malformatted");
		return;
	}
	socket__channel_gate(s, m, p, SLUICE_MW_PUBLISH_IN, s->srv->o.publish_auth_channels,
			     "The channel needs an authenticated socket to publish", p->inner,
			     socket__publish_do);
}

int sluice_publish(struct sluice_server *srv, const char *channel, const char *data, size_t len)
{
	struct bworker *w = server__this_worker();
	int n;

	if (w && w->srv == srv)
		return socket__fanout(srv, w->rec, w->index, channel, strlen(channel),
				      (const uint8_t *)data, len);
	pthread_mutex_lock(&srv->foreign_lock);
	n = socket__fanout(srv, srv->foreign, srv->nworkers, channel, strlen(channel),
			   (const uint8_t *)data, len);
	pthread_mutex_unlock(&srv->foreign_lock);
	return n;
}

int sluice_socket_kick_out(struct sluice_socket *s, const char *channel, const char *message)
{
	int i = socket__find_sub(s, channel, strlen(channel));
	struct frame f;

	if (i < 0)
		return -ENOENT;
	frame_begin(&f, 64 + 2 * strlen(channel) + (message ? 2 * strlen(message) : 0));
	frame_lit(&f, "{\"event\":\"#kickOut\",\"data\":{\"channel\":");
	frame_str(&f, channel, strlen(channel));
	if (message) {
		frame_lit(&f, ",\"message\":");
		frame_str(&f, message, strlen(message));
	}
	frame_lit(&f, "}}");
	socket__send_msg(s, frame_end(&f));
	socket__drop_sub(s, (uint32_t)i);
	return 0;
}

/* ---- the server's invokes ---- */

struct sproc *socket__req_started(struct sluice_socket *s, const struct handler *h)
{
	uint64_t limit = s->srv->o.backpressure_limit;
	struct sproc *p = NULL;

	io_conn_gauge_set(s->c, GAUGE_REQ_STARTED, ++s->req_started);
	if (limit && s->req_started - io_conn_gauge(s->c, GAUGE_REQ_DONE) > limit)
		io_conn_close(s->c, SLUICE_CLOSE_BACKPRESSURE, "backpressure limit");
	for (int i = 0; i < SOCKET_PROCS && !p; i++) {
		/* relaxed: the worker is the only writer of h */
		const struct handler *x = atomic_load_explicit(&s->procs[i].h, memory_order_relaxed);
		if (x == h) {
			p = &s->procs[i];
		} else if (!x) {
			/* release: a reader that sees h sees the counts' zeroes before it */
			atomic_store_explicit(&s->procs[i].h, h, memory_order_release);
			p = &s->procs[i];
		}
	}
	if (p)
		atomic_store_explicit(&p->started,
				      atomic_load_explicit(&p->started, memory_order_relaxed) + 1,
				      memory_order_relaxed);
	return p; /* NULL past SOCKET_PROCS procedures: counted in the totals only */
}

void socket__watch(struct sluice_socket *s, uint64_t deadline_ms)
{
	struct bworker *w = s->w;

	if (deadline_ms < w->next_timer_ms)
		w->next_timer_ms = deadline_ms;

	for (uint32_t i = 0; i < w->ntimed; i++)
		if (w->timed[i] == s)
			return;
	if (w->ntimed == w->timed_cap) {
		uint32_t cap = w->timed_cap ? w->timed_cap * 2 : 16;
		struct sluice_socket **a = realloc(w->timed, cap * sizeof(*a));
		if (!a)
			return; /* its invokes then time out only when the socket closes */
		w->timed = a;
		w->timed_cap = cap;
	}
	socket__ref(s);
	w->timed[w->ntimed++] = s;
}

int sluice_socket_invoke(struct sluice_socket *s, const char *event, const char *data, size_t len,
			 sluice_reply_fn *fn, void *ctx)
{
	struct frame f;
	int rc;

	if (atomic_load_explicit(&s->closed, memory_order_relaxed)) /* relaxed: own field */
		return -EPIPE;
	if (s->npend == s->pend_cap) {
		uint32_t cap = s->pend_cap ? s->pend_cap * 2 : 4;
		struct pending *a = realloc(s->pend, cap * sizeof(*a));
		if (!a)
			return -ENOMEM;
		s->pend = a;
		s->pend_cap = cap;
	}
	int64_t cid = ++s->next_cid;
	frame_begin(&f, 40 + 2 * strlen(event) + len);
	frame_lit(&f, "{\"event\":");
	frame_str(&f, event, strlen(event));
	if (data) {
		frame_lit(&f, ",\"data\":");
		frame_put(&f, data, len);
	}
	frame_lit(&f, ",\"cid\":");
	frame_int(&f, cid);
	frame_lit(&f, "}");
	rc = socket__send_msg(s, frame_end(&f));
	if (rc < 0)
		return rc;
	struct pending *pd = &s->pend[s->npend++];
	pd->cid = cid;
	pd->deadline_ms = server__now_ms() + s->srv->o.ack_timeout_ms;
	pd->fn = fn;
	pd->ctx = ctx;
	snprintf(pd->event, sizeof(pd->event), "%s", event);
	for (char *e = pd->event; *e; e++) /* it goes into error JSON as is */
		if (*e == '"' || *e == '\\' || (unsigned char)*e < 0x20)
			*e = '_';
	socket__watch(s, pd->deadline_ms);
	return 0;
}

/* Takes pending i out of s and calls it with the answer or error given. */
static void socket__answer(struct sluice_socket *s, uint32_t i, const char *err, size_t elen,
			   const char *data, size_t dlen)
{
	struct pending pd = s->pend[i];

	s->pend[i] = s->pend[--s->npend];
	pd.fn(s, err, elen, data, dlen, pd.ctx);
}

static void socket__fail_pending(struct sluice_socket *s, uint32_t i, bool timeout)
{
	char err[256];
	int n = timeout ? snprintf(err, sizeof(err),
				   "{\"name\":\"TimeoutError\",\"message\":"
				   "\"Event response for %s event timed out\"}",
				   s->pend[i].event)
			: snprintf(err, sizeof(err),
				   "{\"name\":\"BadConnectionError\",\"message\":"
				   "\"Event '%s' was aborted due to a bad connection\","
				   "\"type\":\"disconnect\"}",
				   s->pend[i].event);

	socket__answer(s, i, err, n < (int)sizeof(err) ? (size_t)n : sizeof(err) - 1, NULL, 0);
}

void socket__timers(struct bworker *w)
{
	uint64_t now = w->now_ms, next = UINT64_MAX;

	for (uint32_t k = 0; k < w->ntimed;) {
		struct sluice_socket *s = w->timed[k];
		for (uint32_t i = 0; i < s->npend;) {
			if (s->pend[i].deadline_ms <= now) {
				socket__fail_pending(s, i, true);
				continue;
			}
			if (s->pend[i].deadline_ms < next)
				next = s->pend[i].deadline_ms;
			i++;
		}
		if (s->auth_deadline_ms && s->auth_deadline_ms <= now) {
			s->auth_deadline_ms = 0;
			auth__drop(s, true); /* the token expired: the client hears so */
		}
		if (s->auth_deadline_ms && s->auth_deadline_ms < next)
			next = s->auth_deadline_ms;
		if (s->npend == 0 && !s->auth_deadline_ms) {
			w->timed[k] = w->timed[--w->ntimed];
			socket__unref(s);
			continue;
		}
		k++;
	}
	w->next_timer_ms = next;
}

static void socket__reply(struct sluice_socket *s, const uint8_t *buf, const struct packet *p)
{
	if (!p->has_rid)
		return;
	for (uint32_t i = 0; i < s->npend; i++) {
		if (s->pend[i].cid != p->rid)
			continue;
		if (packet_has(p->error))
			socket__answer(s, i, (const char *)buf + p->error.off, p->error.len, NULL, 0);
		else
			socket__answer(s, i, NULL, 0,
				       packet_has(p->data) ? (const char *)buf + p->data.off : NULL,
				       p->data.len);
		return;
	}
	/* a reply to an unknown rid is ignored, as the reference does */
}

void sluice_socket_start_batch(struct sluice_socket *s)
{
	s->batching = true;
}

int sluice_socket_flush_batch(struct sluice_socket *s)
{
	struct frame f;

	s->batching = false;
	if (!s->batch_len)
		return 0;
	frame_begin(&f, s->batch_len + 1);
	frame_put(&f, s->batch, s->batch_len);
	frame_put(&f, "]", 1);
	s->batch_len = 0;
	return socket__send_msg(s, frame_end(&f));
}

/* ---- events ---- */

/* A transmit or invoke of the application's, once allowed (a: the hook's
 * decision, or NULL). */
static void socket__app_do(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
			   const char *name, long len, const struct sluice_action *a)
{
	const uint8_t *buf = m->data;
	const struct handler *h = len < 0 ? NULL : server__handler(s->srv, (const uint8_t *)name,
								   (size_t)len);
	const uint8_t *data = packet_has(p->data) ? buf + p->data.off : NULL;
	size_t dlen = p->data.len;

	if (socket__blocked(s, p, a))
		return;
	if (a && a->decision == ACT_TRANSFORM) {
		data = (const uint8_t *)a->tdata;
		dlen = a->tlen;
	}
	if (p->has_cid) {
		if (h && h->proc) {
			request__invoke(s, m, h, (const uint8_t *)name, (size_t)len, p->cid, data, dlen);
		} else {
			char msg[200];
			snprintf(msg, sizeof(msg), "No procedure is registered for the event '%.*s'",
				 len < 120 ? (int)(len < 0 ? 0 : len) : 120, name);
			socket__error(s, p->cid, SLUICE_UNKNOWN_PROCEDURE, msg);
		}
	} else if (h && h->recv) {
		struct hstat *hs = &h->stats[s->w->index];
		atomic_store_explicit(&hs->started, atomic_load_explicit(&hs->started, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		h->recv(s, (const char *)data, dlen, h->ctx);
		atomic_fetch_add_explicit(&hs->done, 1, memory_order_relaxed);
	}
}

static void socket__app_event(struct sluice_socket *s, struct io_msg *m, const struct packet *p)
{
	enum sluice_mw kind = p->has_cid ? SLUICE_MW_INVOKE : SLUICE_MW_TRANSMIT;
	const uint8_t *buf = m->data;
	char tmp[256], *heap;
	const char *name;
	long len = socket__text(buf, p->event, p->event_esc, tmp, sizeof(tmp), &name, &heap);

	if (len < 0 || !mw__hooked(s->srv, kind)) {
		socket__app_do(s, m, p, name, len, NULL);
	} else if (!socket__act(s, kind, m, p, name, (size_t)len, NULL, 0,
				packet_has(p->data) ? buf + p->data.off : NULL, p->data.len)) {
		if (p->has_cid)
			socket__error(s, p->cid, "BrokerError", "out of memory");
	} else if (mw__ask(s, m)) {
		struct sluice_action d;
		mw__take(s, &d);
		socket__app_do(s, m, p, name, len, &d);
		mw__clear(&d);
	}
	free(heap);
}

static void socket__event(struct sluice_socket *s, struct io_msg *m, const struct packet *p)
{
	if (p->ev == PACKET_EV_HANDSHAKE) {
		auth__handshake(s, m, p, NULL);
		return;
	}
	if (!s->handshaken) {
		io_conn_close(s->c, SLUICE_CLOSE_BEFORE_HANDSHAKE, "message before #handshake");
		return;
	}
	auth__check_expiry(s);
	switch (p->ev) {
	case PACKET_EV_SUBSCRIBE:
		socket__subscribe(s, m, p);
		return;
	case PACKET_EV_UNSUBSCRIBE:
		socket__unsubscribe(s, m->data, p);
		return;
	case PACKET_EV_PUBLISH:
		socket__publish(s, m, p);
		return;
	case PACKET_EV_AUTHENTICATE:
		auth__authenticate(s, m, p, NULL);
		return;
	case PACKET_EV_REMOVE_AUTH_TOKEN:
		auth__drop(s, false); /* the client logs out: nothing to tell it */
		return;
	case PACKET_EV_SET_AUTH_TOKEN:
	case PACKET_EV_KICKOUT:
		return; /* the server's own events: nothing for the server to do */
	default:
		socket__app_event(s, m, p);
		return;
	}
}

static void socket__packet(struct sluice_socket *s, struct io_msg *m, const struct packet *p)
{
	switch (p->kind) {
	case PACKET_EVENT:
		socket__event(s, m, p);
		break;
	case PACKET_REPLY:
		if (!s->handshaken)
			io_conn_close(s->c, SLUICE_CLOSE_BEFORE_HANDSHAKE, "message before #handshake");
		else
			socket__reply(s, m->data, p);
		break;
	case PACKET_PING:
		/* a pong before the handshake is a message before it, as in the
		 * reference; after it, the reactor drops pongs, and the other
		 * version's ping or pong means nothing */
		if (!s->handshaken)
			io_conn_close(s->c, SLUICE_CLOSE_BEFORE_HANDSHAKE, "message before #handshake");
		break;
	default: /* raw */
		if (!s->handshaken)
			io_conn_close(s->c, SLUICE_CLOSE_BEFORE_HANDSHAKE, "message before #handshake");
		break;
	}
}

/* The message a raw decision leaves: NULL (blocked), a new one (transformed)
 * or d's own (a new reference). */
static struct io_msg *socket__raw_decided(const struct sluice_action *d)
{
	struct io_msg *x;

	if (d->decision == ACT_BLOCK || d->decision == ACT_SILENT)
		return NULL;
	if (d->decision != ACT_TRANSFORM) {
		io_msg_hold(d->m, 1);
		return d->m;
	}
	x = io_msg_new(d->tlen);
	if (!x)
		return NULL;
	memcpy(x->data, d->tdata, d->tlen);
	x->len = d->tlen;
	x->opcode = d->m->opcode;
	return x;
}

/*
 * The packets of m from batch position pos (0: the whole message, parsed
 * here), in order, until one leaves the socket waiting for a decision; that
 * packet's action remembers where the batch goes on.
 */
static void socket__dispatch(struct sluice_socket *s, struct io_msg *m, size_t pos)
{
	struct packet p;

	if (pos == 0) {
		if (packet_parse(m->data, m->len, &p) < 0)
			p.kind = PACKET_RAW; /* too deep or too big to be a packet: raw, as text */
		if (p.kind != PACKET_BATCH) {
			socket__packet(s, m, &p);
			return;
		}
	}
	while (!s->held && packet_batch_next(m->data, m->len, &pos, &p) == 1) {
		socket__packet(s, m, &p);
		if (s->held) {
			s->act.in_batch = true;
			s->act.pos = pos;
		}
	}
}

/* A message of s, its turn come: the raw hook first, then its packets. */
static void socket__process(struct sluice_socket *s, struct io_msg *m)
{
	if (mw__hooked(s->srv, SLUICE_MW_RAW)) {
		struct packet none = {0};
		if (!socket__act(s, SLUICE_MW_RAW, m, &none, NULL, 0, NULL, 0, m->data, m->len)) {
			io_msg_free(m);
			return;
		}
		s->act.raw = true;
		bool now = mw__ask(s, m);
		io_msg_free(m); /* the action holds it while it waits */
		if (!now)
			return;
		struct sluice_action d;
		mw__take(s, &d);
		m = socket__raw_decided(&d);
		mw__clear(&d);
		if (!m)
			return;
	}
	socket__dispatch(s, m, 0);
	io_msg_free(m);
}

static struct sluice_socket *socket__new(struct bworker *w, struct io_conn *c)
{
	struct sluice_socket *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->srv = w->srv;
	s->c = c;
	s->w = w;
	atomic_init(&s->refs, 1); /* the connection's */
	s->backlog_tail = &s->backlog;
	server__socket_id(w->srv, io_conn_serial(c), s->id, sizeof(s->id));
	io_conn_set_user(c, s);
	return s;
}

void socket__message(struct bworker *w, struct io_conn *c, struct io_msg *m)
{
	struct sluice_socket *s = io_conn_user(c);

	if (!s && !(s = socket__new(w, c))) {
		io_conn_close(c, 1011, "out of memory");
		io_msg_free(m);
		return;
	}
	if (s->held) { /* taken in the same batch as the packet that waits */
		m->next = NULL;
		*s->backlog_tail = m;
		s->backlog_tail = &m->next;
		return;
	}
	socket__process(s, m);
}

bool socket__holding(struct io_conn *c)
{
	const struct sluice_socket *s = io_conn_user(c);

	return s && s->held;
}

void socket__resume(struct sluice_socket *s)
{
	struct sluice_action d;
	struct io_msg *m;

	s->held = false;
	mw__take(s, &d);
	m = d.m;
	if (d.raw) {
		struct io_msg *x = socket__raw_decided(&d);
		if (x) {
			socket__dispatch(s, x, 0);
			io_msg_free(x);
		}
	} else {
		if (d.p.ev == PACKET_EV_HANDSHAKE)
			auth__handshake(s, m, &d.p, &d);
		else if (d.kind == SLUICE_MW_AUTHENTICATE)
			auth__authenticate(s, m, &d.p, &d);
		else if (d.kind == SLUICE_MW_SUBSCRIBE)
			socket__subscribe_do(s, m, &d.p, &d);
		else if (d.kind == SLUICE_MW_PUBLISH_IN)
			socket__publish_do(s, m, &d.p, &d);
		else
			socket__app_do(s, m, &d.p, d.event, (long)strlen(d.event), &d);
		if (d.in_batch && !s->held)
			socket__dispatch(s, m, d.pos);
	}
	mw__clear(&d);
	while (!s->held && s->backlog) {
		struct io_msg *x = s->backlog;
		s->backlog = x->next;
		if (!s->backlog)
			s->backlog_tail = &s->backlog;
		socket__process(s, x);
	}
	if (!s->held)
		worker_drain(s->w->ops, s->w, s->c); /* what came meanwhile, and a close */
}

void socket__closed(struct bworker *w, struct io_conn *c)
{
	struct sluice_socket *s = io_conn_user(c);
	struct sluice_server *srv = w->srv;

	if (!s) {
		io_conn_release(c);
		return;
	}
	/* relaxed: the worker's own field; others read it as a hint */
	if (atomic_exchange_explicit(&s->closed, 1, memory_order_relaxed))
		return; /* told once already */
	while (s->nsubs)
		socket__drop_sub(s, s->nsubs - 1);
	while (s->npend)
		socket__fail_pending(s, 0, false);
	s->auth_deadline_ms = 0;
	for (uint32_t k = 0; k < w->ntimed; k++) {
		if (w->timed[k] == s) { /* no timer of a closed socket may keep it alive */
			w->timed[k] = w->timed[--w->ntimed];
			socket__unref(s);
			break;
		}
	}
	s->batching = false;
	if (s->connected_event && srv->on_disconnection)
		srv->on_disconnection(s, io_conn_close_code(c), srv->on_disconnection_ctx);
	socket__unref(s);
}

/* ---- the socket API ---- */

const char *sluice_socket_id(const struct sluice_socket *s)
{
	return s->id;
}

struct sluice_server *sluice_socket_server(const struct sluice_socket *s)
{
	return s->srv;
}

void *sluice_socket_user(const struct sluice_socket *s)
{
	return s->user;
}

void sluice_socket_set_user(struct sluice_socket *s, void *user)
{
	s->user = user;
}

void sluice_socket_keep(struct sluice_socket *s)
{
	socket__ref(s);
}

void sluice_socket_unkeep(struct sluice_socket *s)
{
	socket__unref(s);
}

int sluice_socket_transmit(struct sluice_socket *s, const char *event, const char *data,
			   size_t len)
{
	struct frame f;

	frame_begin(&f, 32 + 2 * strlen(event) + len);
	frame_lit(&f, "{\"event\":");
	frame_str(&f, event, strlen(event));
	if (data) {
		frame_lit(&f, ",\"data\":");
		frame_put(&f, data, len);
	}
	frame_lit(&f, "}");
	return socket__send_msg(s, frame_end(&f));
}

void sluice_socket_disconnect(struct sluice_socket *s, int code, const char *reason)
{
	io_conn_close(s->c, code, reason);
}
