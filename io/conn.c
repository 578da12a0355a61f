/*
 * conn: one connection's bytes in and frames out, on its reactor thread.
 *
 * Input: the HTTP request head is gathered in c->in (bounded by max_header)
 * and answered; after the upgrade, frame headers are gathered in c->in (at
 * most 14 bytes) and payloads are copied once, from the provided buffer
 * straight into the message being assembled, and unmasked in place there.
 * A whole message goes to the worker through c->inq; when that ring is full
 * the message waits in c->overflow and reading stops (TCP then pushes back on
 * this client alone) until the worker drains.
 *
 *   HTTP --101--> WS --close/error--> CLOSING --sent or deadline--> DEAD
 *     \--error response---------------^
 *
 * Output: the reactor's own frames (HTTP answers, pong, close) wait in
 * c->local; the worker's in c->outq. conn__flush gathers both into one
 * sendmsg (corking); a short send resumes where it stopped.
 *
 * Threads: the reactor that owns the connection, only.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "reactor.h"

static void conn__queue_local(struct io_conn *c, struct io_msg *m)
{
	m->next = NULL;
	*c->local_tail = m;
	c->local_tail = &m->next;
	/* relaxed: a gauge of bytes queued; the worker adds its own with fetch_add */
	atomic_fetch_add_explicit(&c->out_queued, m->hlen + m->len, memory_order_relaxed);
	m->local = 1;
}

void conn__drop(struct io_conn *c, struct io_msg *m)
{
	struct reactor *r = c->r;

	if (m->local) { /* the reactor's own (a close never sent): not a message */
		io_msg_free(m);
		return;
	}
	ctr_add(&c->out_done, 1);
	atomic_fetch_add_explicit(&c->out_dropped, 1, memory_order_relaxed); /* producers add too */
	ctr_add(&c->out_dropped_bytes, m->hlen + m->len);
	ctr_add(&r->msgs_dropped, 1);
	if (m->tally)
		ctr_add(&m->tally->slot[r->id].dropped, 1);
	io_msg_free(m);
}

/* Was m's stream killed since m was queued? */
static inline bool conn__stale(const struct io_msg *m)
{
	/* relaxed: a kill seen a frame late lets that frame out, as if it came first */
	return m->tally && m->tally_gen != atomic_load_explicit(&m->tally->gen, memory_order_relaxed);
}

/* The next queued frame of the worker side (held first, then outq), or NULL. */
static struct io_msg *conn__next_out(struct io_conn *c)
{
	struct io_msg *m = c->held;

	if (m) {
		c->held = m->next;
		c->nheld--;
		if (!c->held)
			c->held_tail = &c->held;
		return m;
	}
	return mpsc_pop(&c->outq);
}

void conn__purge(struct io_conn *c, bool all)
{
	struct io_msg *keep = NULL, **tail = &keep, *m;
	uint32_t n = 0;

	while ((m = conn__next_out(c))) {
		if (all || conn__stale(m)) {
			conn__drop(c, m);
			continue;
		}
		m->next = NULL;
		*tail = m;
		tail = &m->next;
		n++;
	}
	c->held = keep;
	c->held_tail = keep ? tail : &c->held;
	c->nheld = n;
}

void conn__trim(struct io_conn *c)
{
	const struct io_config *cfg = &c->r->s->cfg;
	struct io_msg *m;

	while ((c->nheld + mpsc_size(&c->outq) > cfg->outbound_ring ||
		conn_out_bytes(c) > cfg->outbound_limit) &&
	       (m = conn__next_out(c))) {
		conn__drop(c, m);
		atomic_fetch_add_explicit(&c->r->slow_drops, 1, memory_order_relaxed);
	}
}

/* Queues raw bytes (an HTTP answer or a whole control frame) for sending. */
static int conn__queue_raw(struct io_conn *c, const void *p, size_t n)
{
	struct io_msg *m = reactor__msg_new(c->r, n);

	if (!m)
		return -ENOMEM;
	memcpy(m->data, p, n);
	m->len = n;
	m->hlen = 0;
	conn__queue_local(c, m);
	return 0;
}

void conn__close(struct io_conn *c, unsigned code, const char *why)
{
	uint8_t frame[WS_MAX_CONTROL_LEN + 2];

	if (c->state == CONN_DEAD || c->state == CONN_CLOSING)
		return;
	if (c->state == CONN_WS) {
		struct reactor *r = c->r;
		if (code == IO_CLOSE_SLOW_CONSUMER)
			ctr_add(&r->slow_disconnects, 1);
		else if (code == IO_CLOSE_BACKPRESSURE)
			ctr_add(&r->bp_disconnects, 1);
		else if (code == IO_CLOSE_RATE_LIMIT)
			ctr_add(&r->rate_disconnects, 1);
	}
	if (c->state == CONN_WS && code) {
		int none = 0;
		/* relaxed: published by the seq_cst store of `closed` */
		atomic_compare_exchange_strong_explicit(&c->close_code, &none, (int)code,
							memory_order_relaxed, memory_order_relaxed);
		size_t wl = why ? strlen(why) : 0;
		int n = ws_encode_close(frame, sizeof(frame), (uint16_t)code, why, wl > 120 ? 120 : wl);
		if (n < 0)
			n = ws_encode_close(frame, sizeof(frame), (uint16_t)code, NULL, 0);
		if (n > 0 && conn__queue_raw(c, frame, (size_t)n) == 0) {
			c->state = CONN_CLOSING;
			c->close_after_send = true;
			c->deadline_ms = c->r->now_ms + 2000; /* a peer that never reads is cut off */
			reactor__stop_recv(c);
			conn__flush(c);
			return;
		}
	}
	reactor__kill(c);
}

void conn__ping(struct io_conn *c)
{
	const struct io_server *s = c->r->s;

	if (conn__queue_raw(c, s->ping_frame, s->ping_frame_len) == 0)
		conn__flush(c);
}

static void conn__http_answer(struct io_conn *c, int status)
{
	char out[512];
	int n = http_error_response(out, sizeof(out), status, NULL);

	reactor__stop_recv(c);
	if (n > 0 && conn__queue_raw(c, out, (size_t)n) == 0) {
		c->state = CONN_CLOSING;
		c->close_after_send = true;
		c->deadline_ms = c->r->now_ms + 2000;
		conn__flush(c);
		return;
	}
	reactor__kill(c);
}

/* Returns how many bytes of p went into the request head. */
static size_t conn__http_input(struct io_conn *c, const uint8_t *p, size_t n)
{
	const struct io_config *cfg = &c->r->s->cfg;
	struct http_request req;
	size_t room = cfg->max_header - c->in_len;
	size_t take = n < room ? n : room;
	int head, kind, rc;

	memcpy(c->in + c->in_len, p, take);
	c->in_len += (uint32_t)take;
	head = http_parse_request(c->in, c->in_len, cfg->max_header, &req);
	if (head == 0 && c->in_len == cfg->max_header)
		head = HTTP_ERR_TOO_LARGE;
	if (head == 0)
		return take;
	if (head < 0) {
		conn__http_answer(c, http_error_status(head));
		return take;
	}
	kind = http_classify(&req);
	if (kind == HTTP_KIND_PLAIN) {
		static const char health[] = "/health";
		bool is_health = req.path.n == sizeof(health) - 1 &&
				 memcmp(req.path.p, health, req.path.n) == 0;
		conn__http_answer(c, is_health ? 200 : 404);
		return take;
	}
	rc = kind < 0 ? kind : http_check_path(&req, cfg->path);
	if (rc == 0)
		rc = http_check_origin(&req, cfg->origins);
	if (rc < 0) {
		conn__http_answer(c, http_error_status(rc));
		return take;
	}
	if (cfg->upgrade_hook) {
		int status = cfg->upgrade_hook(&req, cfg->upgrade_ctx);
		if (status) {
			conn__http_answer(c, status >= 400 && status <= 599 ? status : 403);
			return take;
		}
	}
	if (req.query.n) {
		c->query = malloc(req.query.n + 1);
		if (!c->query) {
			conn__http_answer(c, 500);
			return take;
		}
		memcpy(c->query, req.query.p, req.query.n);
		c->query[req.query.n] = '\0';
	}

	char out[512];
	int len = http_upgrade_response(out, sizeof(out), &req);
	if (len < 0 || conn__queue_raw(c, out, (size_t)len) < 0) {
		conn__http_answer(c, 500);
		return take;
	}
	c->state = CONN_WS;
	c->tokens = cfg->inbound_burst;
	c->tokens_ms = c->r->now_ms;
	atomic_store_explicit(&c->pub_serial, c->serial, memory_order_relaxed);
	ws_msg_init(&c->ws, cfg->max_payload);
	/* now the protocol's handshake has handshake_timeout_ms (open_timeout_code) */
	c->deadline_ms = c->r->now_ms + cfg->handshake_timeout_ms;
	c->ping_ms = c->r->now_ms + cfg->ping_interval_ms;
	conn__flush(c);

	/* bytes after the head are the first frames (a client may pipeline them);
	 * c->in now gathers frame headers, so move them out first */
	uint32_t extra = c->in_len - (uint32_t)head;
	if (extra) {
		uint8_t *early = malloc(extra);
		if (!early) {
			reactor__kill(c);
			return take;
		}
		memcpy(early, c->in + head, extra);
		c->in_len = 0;
		conn__input(c, early, extra);
		free(early);
		return take;
	}
	c->in_len = 0;
	return take;
}

/*
 * Moves parked messages into the inbound ring while it has room, in slots
 * and in bytes (--inbound-limit; one message always fits an empty ring, so
 * one of max_payload still goes through).
 */
static void conn__push_overflow(struct io_conn *c)
{
	/* relaxed: own counter; in_taken is the worker's, ordered by the callers' fences */
	uint64_t pushed = atomic_load_explicit(&c->in_pushed, memory_order_relaxed);
	uint64_t held = pushed - atomic_load_explicit(&c->in_taken, memory_order_relaxed);
	uint64_t limit = c->r->s->cfg.inbound_limit;
	bool moved = false;

	while (c->overflow) {
		struct io_msg *m = c->overflow, *next = m->next;
		uint64_t size = m->len;
		if (held && held + size > limit)
			break;
		/* m belongs to the worker once pushed: it may be handled and freed
		 * (its first bytes reused by a pool) before the push returns, so
		 * nothing of it is read after */
		if (!spsc_push(&c->inq, m))
			break;
		held += size;
		pushed += size;
		c->overflow = next;
		moved = true;
	}
	/* relaxed: a gauge the worker does not act on; the ring carries the messages */
	atomic_store_explicit(&c->in_pushed, pushed, memory_order_relaxed);
	if (!c->overflow)
		c->overflow_tail = &c->overflow;
	if (moved)
		reactor__notify_worker(c);
}

/* Parks a whole message for the worker; conn__input hands over everything a
 * chunk of input held at once (one ring publish, one wake-up per chunk). */
static void conn__deliver(struct io_conn *c, struct io_msg *m)
{
	const struct io_config *cfg = &c->r->s->cfg;
	struct reactor *r = c->r;

	if (cfg->inbound_rate) { /* token bucket: inbound_rate a second, inbound_burst deep */
		c->tokens += (double)(r->now_ms - c->tokens_ms) * cfg->inbound_rate / 1000.0;
		c->tokens_ms = r->now_ms;
		if (c->tokens > cfg->inbound_burst)
			c->tokens = cfg->inbound_burst;
		if (c->tokens < 1.0) {
			io_msg_free(m);
			conn__close(c, IO_CLOSE_RATE_LIMIT, "inbound rate limit");
			return;
		}
		c->tokens -= 1.0;
	}
	ctr_add(&c->in_msgs, 1);
	ctr_add(&c->in_bytes, m->len);
	ctr_add(&r->msgs_in, 1);
	ctr_add(&r->bytes_in, m->len);
	if (cfg->backpressure_limit &&
	    atomic_load_explicit(&c->in_msgs, memory_order_relaxed) -
			    atomic_load_explicit(&c->in_taken_msgs, memory_order_relaxed) >
		    cfg->backpressure_limit) {
		io_msg_free(m);
		conn__close(c, IO_CLOSE_BACKPRESSURE, "backpressure limit");
		return;
	}
	m->next = NULL;
	*c->overflow_tail = m;
	c->overflow_tail = &m->next;
}

/*
 * Pushes what is parked and pauses reading while anything stays parked; or
 * resumes reading once nothing is. Pausing is a store-then-look handshake
 * with io_conn_recv, which pops then looks at `paused`: one of the two sees
 * the other, so a worker that drained the ring just before the pause cannot
 * leave the connection paused for good.
 */
void conn__drain_overflow(struct io_conn *c)
{
	bool paused = atomic_load_explicit(&c->paused, memory_order_relaxed); /* own field */

	conn__push_overflow(c);
	if (c->overflow && !paused) {
		ctr_add(&c->r->pauses, 1);
		atomic_store(&c->paused, 1);
		atomic_thread_fence(memory_order_seq_cst); /* the store before the next look */
		conn__push_overflow(c);
		if (!c->overflow) {
			atomic_store(&c->paused, 0);
			return;
		}
		reactor__stop_recv(c);
	} else if (!c->overflow && paused && c->state == CONN_WS) {
		atomic_store(&c->paused, 0);
		reactor__queue_rearm(c);
	}
}

static void conn__control(struct io_conn *c)
{
	uint8_t frame[WS_MAX_CONTROL_LEN + 2];
	uint16_t code;
	const uint8_t *reason;
	size_t rlen;
	int n, rc;

	switch (c->ws.frame_opcode) {
	case WS_OP_PING:
		n = ws_encode_control(frame, sizeof(frame), WS_OP_PONG, c->ctl, c->ctl_len);
		if (n > 0 && conn__queue_raw(c, frame, (size_t)n) == 0)
			conn__flush(c);
		break;
	case WS_OP_CLOSE:
		rc = ws_parse_close_payload(c->ctl, c->ctl_len, &code, &reason, &rlen);
		if (rc < 0) {
			conn__close(c, ws_error_close_code(rc), ws_strerror(rc));
			break;
		}
		/* the worker hears the peer's code, 1005 included */
		atomic_store_explicit(&c->close_code, code, memory_order_relaxed);
		/* answer with the peer's code, as RFC 6455 5.5.1 suggests */
		conn__close(c, code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : code, NULL);
		break;
	default: /* pong: nothing to do */
		break;
	}
}

/* Starts a frame whose header is in c->hdr. 0, or -1 when c was closed. */
static int conn__frame_begin(struct io_conn *c)
{
	int rc = ws_msg_frame_begin(&c->ws, &c->hdr);

	if (rc < 0) {
		conn__close(c, ws_error_close_code(rc), ws_strerror(rc));
		return -1;
	}
	if (ws_opcode_is_control(c->hdr.opcode)) {
		c->ctl_len = 0;
		return 0;
	}
	uint64_t need = (c->cur ? c->cur->len : 0) + c->hdr.len;
	if (!c->cur || c->cur->cap < need) {
		/* a fragment grows the message: the assembler already bounded it */
		struct io_msg *m = reactor__msg_new(c->r, need);
		if (!m) {
			conn__close(c, WS_CLOSE_INTERNAL, "out of memory");
			return -1;
		}
		m->len = 0;
		if (c->cur) {
			memcpy(m->data, c->cur->data, c->cur->len);
			m->len = c->cur->len;
			io_msg_free(c->cur);
		}
		c->cur = m;
	}
	return 0;
}

static bool conn__is_pong(const struct io_conn *c, const struct io_msg *m)
{
	const struct io_config *cfg = &c->r->s->cfg;

	/* relaxed: before the worker marks c established, pongs reach it (a
	 * pong before the protocol's handshake is a protocol error there) */
	return cfg->drop_pongs && m->opcode == WS_OP_TEXT && m->len == cfg->pong_len &&
	       memcmp(m->data, cfg->pong, cfg->pong_len) == 0 &&
	       atomic_load_explicit(&c->established, memory_order_relaxed);
}

static void conn__ws_input(struct io_conn *c, const uint8_t *p, size_t n)
{
	while (c->state == CONN_WS) {
		if (!c->ws.in_frame) {
			if (n == 0)
				return;
			size_t take = WS_MAX_HEADER - c->in_len;
			if (take > n)
				take = n;
			memcpy(c->in + c->in_len, p, take);
			int hl = ws_parse_header(c->in, c->in_len + take, &c->hdr);
			if (hl == 0) {
				c->in_len += (uint32_t)take;
				return;
			}
			if (hl < 0) {
				conn__close(c, ws_error_close_code(hl), ws_strerror(hl));
				return;
			}
			size_t used = (size_t)hl - c->in_len;
			p += used;
			n -= used;
			c->in_len = 0;
			if (conn__frame_begin(c) < 0)
				return;
		}

		uint64_t left = c->ws.frame_left;
		size_t take = left < n ? (size_t)left : n;
		bool control = ws_opcode_is_control(c->ws.frame_opcode);
		uint8_t *dst = control ? c->ctl + c->ctl_len : c->cur->data + c->cur->len;

		memcpy(dst, p, take);
		int rc = ws_msg_frame_data(&c->ws, dst, take);
		if (rc < 0) {
			conn__close(c, ws_error_close_code(rc), ws_strerror(rc));
			return;
		}
		if (control)
			c->ctl_len += (uint32_t)take;
		else
			c->cur->len += take;
		p += take;
		n -= take;
		if (c->ws.frame_left)
			return; /* n is 0: the rest of the frame comes later */

		rc = ws_msg_frame_end(&c->ws);
		if (rc < 0) {
			conn__close(c, ws_error_close_code(rc), ws_strerror(rc));
			return;
		}
		if (rc == WS_FRAME_MESSAGE) {
			struct io_msg *m = c->cur;
			c->cur = NULL;
			m->opcode = c->ws.msg_opcode;
			if (conn__is_pong(c, m))
				io_msg_free(m); /* it did its work: c->rx_ms moved */
			else
				conn__deliver(c, m);
		} else if (rc == WS_FRAME_CONTROL) {
			conn__control(c);
		}
	}
}

void conn__input(struct io_conn *c, const uint8_t *p, size_t n)
{
	if (c->state == CONN_HTTP) {
		size_t used = conn__http_input(c, p, n);
		p += used;
		n -= used;
	}
	if (c->state == CONN_WS && n)
		conn__ws_input(c, p, n);
	/* CLOSING and DEAD read nothing more, but what came before goes to the worker */
	if (c->overflow && c->state != CONN_DEAD)
		conn__drain_overflow(c);
}

/* Adds the iovecs of m, skipping its first `skip` bytes. */
static int conn__iov(struct iovec *iov, struct io_msg *m, uint32_t skip)
{
	int k = 0;

	if (skip < m->hlen) {
		iov[k++] = (struct iovec){m->hdr + skip, (size_t)(m->hlen - skip)};
		skip = 0;
	} else {
		skip -= m->hlen;
	}
	if (m->len > skip)
		iov[k++] = (struct iovec){m->data + skip, (size_t)(m->len - skip)};
	return k;
}

/*
 * A worker that stopped taking c's messages for want of outbound room
 * (io_conn_recv) is queued again once frames have left the ring or bytes the
 * socket. The pop or send before the look at out_wait pairs with the worker's
 * store-then-look.
 */
static void conn__wake_writer(struct io_conn *c)
{
	atomic_thread_fence(memory_order_seq_cst);
	if (atomic_load_explicit(&c->out_wait, memory_order_relaxed) &&
	    atomic_exchange(&c->out_wait, 0))
		reactor__notify_worker(c);
}

void conn__flush(struct io_conn *c)
{
	const int max = (int)(sizeof(c->sending) / sizeof(c->sending[0]));

	if (c->send_inflight || c->fd < 0)
		return;
	/* the reactor's frames first: a pong or close must not wait behind a backlog */
	while (c->nsending < max && c->local) {
		c->sending[c->nsending++] = c->local;
		c->local = c->local->next;
	}
	if (!c->local)
		c->local_tail = &c->local;
	if (c->nsending < max && c->state != CONN_CLOSING) {
		/* frames a purge set aside first: they are older than what outq holds */
		while (c->nsending < max && c->held)
			c->sending[c->nsending++] = conn__next_out(c);
		int from = c->nsending, to = from;
		c->nsending += (int)mpsc_pop_n(&c->outq, (void **)c->sending + c->nsending,
					       (uint32_t)(max - c->nsending));
		for (int i = from; i < c->nsending; i++) { /* a killed stream's frames go no further */
			if (conn__stale(c->sending[i]))
				conn__drop(c, c->sending[i]);
			else
				c->sending[to++] = c->sending[i];
		}
		c->nsending = to;
	}
	conn__wake_writer(c);
	if (c->nsending == 0) {
		if (c->close_after_send) {
			reactor__kill(c);
		} else if (c->close_when_sent && c->state == CONN_WS) {
			int code = c->close_when_sent;
			c->close_when_sent = 0;
			conn__close(c, (unsigned)code, c->kill_reason);
		}
		return;
	}

	int niov = 0;
	for (int i = 0; i < c->nsending; i++)
		niov += conn__iov(c->iov + niov, c->sending[i], i == 0 ? c->send_skip : 0);
	c->mh = (struct msghdr){.msg_iov = c->iov, .msg_iovlen = (size_t)niov};

	struct io_uring_sqe *sqe = reactor__sqe(c->r);
	io_uring_prep_sendmsg(sqe, c->fd, &c->mh, MSG_NOSIGNAL);
	io_uring_sqe_set_data64(sqe, io__ud(OP_SEND, c->gen, c->slot));
	c->send_inflight = true;
	if (!c->send_skip) /* a resumed short send keeps the time of its last progress */
		c->send_ms = c->r->now_ms;
}

void conn__sent(struct io_conn *c, int res)
{
	c->send_inflight = false;
	if (res < 0) {
		reactor__kill(c); /* reset by peer, broken pipe: nothing more to say */
		return;
	}
	/* relaxed: a gauge read by the worker's limit check and the stats */
	atomic_fetch_add_explicit(&c->out_sent, (uint64_t)res, memory_order_relaxed);
	ctr_add(&c->r->bytes_out, (uint64_t)res);
	if (res > 0)
		c->send_ms = c->r->now_ms;

	uint64_t left = (uint64_t)res;
	int done = 0, msgs = 0;
	while (done < c->nsending) {
		struct io_msg *m = c->sending[done];
		uint64_t size = m->hlen + m->len - c->send_skip;
		if (left < size) {
			c->send_skip += (uint32_t)left;
			break;
		}
		left -= size;
		c->send_skip = 0;
		if (m->tally)
			ctr_add(&m->tally->slot[c->r->id].delivered, 1);
		msgs += !m->local;
		io_msg_free(m);
		done++;
	}
	if (msgs) {
		ctr_add(&c->out_done, (uint64_t)msgs);
		ctr_add(&c->out_written, (uint64_t)msgs);
		ctr_add(&c->r->msgs_out, (uint64_t)msgs);
	}
	memmove(c->sending, c->sending + done, (size_t)(c->nsending - done) * sizeof(c->sending[0]));
	c->nsending -= done;
	if (c->state != CONN_DEAD)
		conn__flush(c);
}

void conn__reset(struct io_conn *c)
{
	struct io_msg *m;

	while ((m = spsc_pop(&c->inq)))
		io_msg_free(m);
	/* frames that never went out: dropped, for their tallies' sake */
	while ((m = conn__next_out(c)))
		conn__drop(c, m);
	for (struct io_msg *x = c->overflow, *next; x; x = next) {
		next = x->next;
		io_msg_free(x);
	}
	for (struct io_msg *x = c->local, *next; x; x = next) {
		next = x->next;
		io_msg_free(x);
	}
	for (int i = 0; i < c->nsending; i++)
		conn__drop(c, c->sending[i]);
	io_msg_free(c->cur);
	c->cur = NULL;
	c->overflow = NULL;
	c->overflow_tail = &c->overflow;
	c->local = NULL;
	c->local_tail = &c->local;
	c->nsending = 0;
	c->send_skip = 0;
	c->in_len = 0;
	c->ctl_len = 0;
	c->close_after_send = false;
	c->close_when_sent = 0;
	c->recv_armed = false;
	c->send_inflight = false;
	c->worker_seen = false;
	c->rearm = false;
	/* relaxed: nobody else holds the connection now */
	atomic_store_explicit(&c->paused, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_notified, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_notified, 0, memory_order_relaxed);
	atomic_store_explicit(&c->closed, 0, memory_order_relaxed);
	atomic_store_explicit(&c->released, 0, memory_order_relaxed);
	atomic_store_explicit(&c->kill_code, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_queued, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_sent, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_wait, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_pushed, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_taken, 0, memory_order_relaxed);
	atomic_store_explicit(&c->established, 0, memory_order_relaxed);
	atomic_store_explicit(&c->close_code, 0, memory_order_relaxed);
	atomic_store_explicit(&c->pub_serial, 0, memory_order_relaxed);
	atomic_store_explicit(&c->shed, 0, memory_order_relaxed);
	atomic_store_explicit(&c->kill_out, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_msgs, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_bytes, 0, memory_order_relaxed);
	atomic_store_explicit(&c->in_taken_msgs, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_written, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_dropped, 0, memory_order_relaxed);
	atomic_store_explicit(&c->out_dropped_bytes, 0, memory_order_relaxed);
	for (int i = 0; i < 4; i++)
		atomic_store_explicit(&c->gauge[i], 0, memory_order_relaxed);
	c->user = NULL;
	free(c->query);
	c->query = NULL;
	c->kill_reason[0] = '\0';
}
