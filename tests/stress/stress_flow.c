/*
 * Stress test of io/'s backpressure cursors (io.h, "Cursors" and "Tallies"):
 * read from outside while real traffic flows through the io layer.
 *
 * The server is io/ alone (no broker channels: their ck_epoch fences are
 * invisible to TSan): 2 reactors, 2 workers whose `message` op echoes each
 * message to its sender (text) and fans a copy out to one subscriber
 * connection (binary), every copy counted in one tally. Four client threads,
 * each with its own blocking-handshake, then non-blocking WebSocket
 * connection, send batches of small masked text frames and read what comes
 * back; client 0 is the subscriber and stops reading for a while, so its
 * outbound queue fills from two workers at once.
 *
 *   client i --frames--> reactor --> worker --echo--> client i
 *                                          \--copy--> client 0 (subscriber)
 *   hammer: io_server_each_conn, io_conn_stats, io_server_totals,
 *           io_server_reactor_stats, io_inbox_size, io_tally_read
 *   killer: io_tally_kill every few ms (the reactors' purge path)
 *
 * Two runs: drop-oldest (the reactor's trim races the producers' shed and
 * refusals) and disconnect (the subscriber is closed as a slow consumer).
 *
 * The hammer checks only what holds for any snapshot taken while counters
 * move; each bound names the race it allows for (see hammer_conn). After
 * the traffic, with every connection closed and every thread joined, the
 * accounting is exact: every copy is delivered or dropped, and the clients
 * read exactly the copies the tally says the kernel took.
 *
 * Threads: main (server, waits), workers (flow_* ops), clients, hammer,
 * killer. Shared state is atomics, or `sub` under sub_lock.
 */
#define _GNU_SOURCE /* memmem */
#include "stress.h"
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http.h"
#include "io.h"
#include "test_util.h"
#include "worker.h"
#include "ws.h"

#define CLIENTS	  4
#define REACTORS  2
#define WORKERS	  2
#define MAX_CONNS 64
#define OUT_RING  64   /* frames: a power of two, so the outq holds exactly this */
#define OUT_LIMIT 3000 /* bytes: ~30 frames, so the byte trim runs too */
#define IN_RING	  64
#define LEN_MIN	  16 /* payload bytes: 16..115, one-byte length in every header */
#define LEN_SPAN  100
#define FRAME_MAX 256 /* above any frame of this test, the 101 response included */
#define LOCAL_MAX 4   /* the reactor's own frames on one connection: 101, close */
#define BATCH_MAX 32
#define SEND_MAX  64		 /* frames in one sendmsg of the reactor */
#define OUTQ_CAP  (2 * OUT_RING) /* the outq's room: drop-oldest doubles it */

#ifdef SLUICE_STRESS_STANDALONE
#define MSGS_DEFAULT 60000 /* ThreadSanitizer: several times slower */
#define PAUSE_MAX_S  3.0
#else
#define MSGS_DEFAULT 250000
#define PAUSE_MAX_S  1.0
#endif
#define DEADLINE_S 240.0

/* SLUICE_STRESS_DEADLINE (seconds) shortens the wait for the traffic */
static double flow_deadline(void)
{
	const char *v = getenv("SLUICE_STRESS_DEADLINE");

	return v && *v ? atof(v) : DEADLINE_S;
}

_Static_assert((OUT_RING & (OUT_RING - 1)) == 0, "a power of two: the outq holds exactly OUTQ_CAP");
_Static_assert(CLIENTS <= 9, "the source id travels as one digit");

enum bad {
	BAD_SERIAL,  /* a snapshot of a connection that is not a WebSocket */
	BAD_IN,	     /* in_msgs or in_backlog beyond what its client sent */
	BAD_OUT,     /* out_msgs + out_dropped beyond what was produced for it */
	BAD_BACKLOG, /* out_backlog beyond the limits plus the reads' skew */
	BAD_BYTES,   /* out_backlog_bytes likewise */
	BAD_MONO,    /* a total went backwards */
	BAD_TALLY,   /* a tally sum beyond what was published */
	BAD_REACTOR, /* reactor stats out of range */
	BAD_SUB,     /* io_conn_stats of the held subscriber */
	BAD_KINDS
};
static const char *const bad_name[BAD_KINDS] = {
    "serial/worker",	"inbound", "outbound counts", "out_backlog",	 "out_backlog_bytes",
    "monotonic totals", "tally",   "reactor stats",   "subscriber stats"};

struct client {
	int id;
	uint64_t n; /* data messages to send */
	bool subscriber;
	pthread_t thread;
	_Atomic uint64_t serial; /* the worker's, from its first message */
	_Atomic uint64_t sent;	 /* frames put in the write buffer (before write) */
	_Atomic uint64_t echoed; /* own echoes read */
	_Atomic uint64_t copies; /* fan-out copies read (subscriber) */
	_Atomic int written;	 /* all n are out */
	_Atomic int done;	 /* read to the end */
	_Atomic int server_code; /* io_conn_close_code, from the closed op */
	int close_code;		 /* in the server's close frame; -1: none */
	uint64_t errors, pauses;
	char error[160];
	double t_pause[8][2], t_written, t_end; /* since the start, for a stalled run's report */
	/* client thread only */
	uint64_t last_echo, last_copy[CLIENTS]; /* seq + 1 of the last one seen */
};

static struct flow {
	struct io_server *s;
	struct io_tally *tally;
	int policy;
	pthread_mutex_t sub_lock;
	struct io_conn *sub; /* the subscriber, until its closed op */
	struct client clients[CLIENTS];
	_Atomic int go, finish, stop;
	/* worker side */
	_Atomic uint64_t fan_tries, refused_nobufs, refused_pipe, server_errors;
	/* hammer and killer */
	_Atomic uint64_t iterations, kills, sub_reads, bad[BAD_KINDS];
	double t_start;
} F;

/* ---- payloads: "<src><kind><seq:10 digits><filler>", all ASCII ---- */

static size_t payload(uint8_t *p, int src, char kind, uint64_t seq)
{
	size_t len = LEN_MIN + (size_t)((seq * 7 + (uint64_t)src * 13) % LEN_SPAN);
	uint64_t v = seq;

	p[0] = (uint8_t)('0' + src);
	p[1] = (uint8_t)kind;
	for (int i = 11; i >= 2; i--, v /= 10)
		p[i] = (uint8_t)('0' + v % 10);
	for (size_t i = 12; i < len; i++)
		p[i] = (uint8_t)('a' + (seq + i) % 26);
	return len;
}

/* Source and seq of a payload that payload() made, byte for byte; false otherwise. */
static bool payload_check(const uint8_t *p, size_t len, int *src, char *kind, uint64_t *seq)
{
	uint8_t want[LEN_MIN + LEN_SPAN];
	uint64_t v = 0;

	if (len < 12 || len > sizeof(want) || p[0] < '0' || p[0] >= '0' + CLIENTS)
		return false;
	for (int i = 2; i < 12; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (uint64_t)(p[i] - '0');
	}
	*src = p[0] - '0';
	*kind = (char)p[1];
	*seq = v;
	return payload(want, *src, *kind, v) == len && memcmp(want, p, len) == 0;
}

/* ---- the server side: worker ops ---- */

static int worker_index[WORKERS];

static void *flow_begin(void *ctx, int index)
{
	(void)ctx;
	worker_index[index] = index;
	return &worker_index[index];
}

/* One copy of m to c, counted in the tally; *queued or *refused grows. */
static void flow_copy(struct io_conn *c, const struct io_msg *m, uint8_t opcode, uint64_t *queued,
		      uint64_t *refused)
{
	struct io_msg *e = io_msg_new(m->len);
	int rc;

	if (!e) {
		atomic_fetch_add(&F.server_errors, 1);
		return;
	}
	memcpy(e->data, m->data, m->len);
	e->len = m->len;
	e->opcode = opcode;
	io_msg_frame(e);
	io_msg_tally(e, F.tally);
	rc = io_conn_send(c, e);
	if (rc == 0) {
		++*queued;
		return;
	}
	++*refused;
	atomic_fetch_add_explicit(rc == -EPIPE ? &F.refused_pipe : &F.refused_nobufs, 1,
				  memory_order_relaxed);
	if (rc != -EPIPE && rc != -ENOBUFS)
		atomic_fetch_add(&F.server_errors, 1);
}

static void flow_message(void *local, struct io_conn *c, struct io_msg *m)
{
	int writer = *(int *)local, src;
	uint64_t seq, queued = 0, refused = 0;
	char kind;

	if (!payload_check(m->data, m->len, &src, &kind, &seq) || m->opcode != WS_OP_TEXT) {
		atomic_fetch_add(&F.server_errors, 1); /* a torn or misrouted message */
		io_msg_free(m);
		return;
	}
	if (!io_conn_user(c)) {
		io_conn_set_user(c, &F.clients[src]);
		atomic_store(&F.clients[src].serial, io_conn_serial(c));
	} else if (io_conn_user(c) != &F.clients[src]) {
		atomic_fetch_add(&F.server_errors, 1);
	}
	if (kind == 'S') {
		pthread_mutex_lock(&F.sub_lock);
		F.sub = c;
		pthread_mutex_unlock(&F.sub_lock);
		io_msg_free(m);
		return;
	}
	flow_copy(c, m, WS_OP_TEXT, &queued, &refused);
	/* the lock keeps sub unreleased while we send to it (io_conn_send's contract) */
	pthread_mutex_lock(&F.sub_lock);
	if (F.sub) {
		flow_copy(F.sub, m, WS_OP_BINARY, &queued, &refused);
		atomic_fetch_add_explicit(&F.fan_tries, 1, memory_order_relaxed);
	}
	pthread_mutex_unlock(&F.sub_lock);
	io_tally_publish(F.tally, writer, queued, refused);
	io_msg_free(m);
}

static void flow_closed(void *local, struct io_conn *c)
{
	struct client *cl = io_conn_user(c);

	(void)local;
	pthread_mutex_lock(&F.sub_lock);
	if (F.sub == c)
		F.sub = NULL;
	pthread_mutex_unlock(&F.sub_lock);
	if (cl)
		atomic_store(&cl->server_code, io_conn_close_code(c));
	io_conn_release(c);
}

static const struct worker_ops flow_ops = {
    .begin = flow_begin,
    .message = flow_message,
    .closed = flow_closed,
};

/* ---- the clients ---- */

struct conn {
	int fd;
	uint64_t rng;
	uint8_t wbuf[BATCH_MAX * (WS_MAX_HEADER + LEN_MIN + LEN_SPAN) + 64];
	size_t wlen, woff;
	uint8_t rbuf[256 * 1024];
	size_t rlen;
	uint64_t next; /* seq of the next data message */
	bool eof, closing;
};

static void client_fail(struct client *cl, const char *what, uint64_t a, uint64_t b)
{
	if (cl->errors++ == 0)
		snprintf(cl->error, sizeof(cl->error), "client %d: %s (%llu, %llu)", cl->id, what,
			 (unsigned long long)a, (unsigned long long)b);
}

static void client_frame(struct conn *k, uint8_t opcode, const uint8_t *p, size_t len)
{
	uint8_t key[4];
	uint64_t r = tu_rand(&k->rng);

	memcpy(key, &r, 4);
	k->wlen += ws_encode_header_masked(k->wbuf + k->wlen, true, opcode, len, key);
	ws_unmask(k->wbuf + k->wlen, p, len, key, 0); /* masking is the same xor */
	k->wlen += len;
}

static void client_fill(struct client *cl, struct conn *k)
{
	uint8_t p[LEN_MIN + LEN_SPAN];
	uint32_t n = (uint32_t)(tu_rand(&k->rng) % BATCH_MAX) + 1, i;

	k->wlen = k->woff = 0;
	for (i = 0; i < n && k->next < cl->n; i++, k->next++)
		client_frame(k, WS_OP_TEXT, p, payload(p, cl->id, 'm', k->next));
	/* counted before the write: the server can never have seen more */
	atomic_fetch_add_explicit(&cl->sent, i, memory_order_relaxed);
}

static int client_connect(struct client *cl, struct conn *k)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons(io_server_port(F.s)),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t nonce[16];
	char key[25], req[512];
	const char *why, *detail;
	int one = 1, dlen, n;
	size_t got = 0;

	for (int i = 0; i < 16; i++)
		nonce[i] = (uint8_t)tu_rand(&k->rng);
	http_ws_client_key(nonce, key);
	k->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (k->fd < 0)
		return -errno;
	setsockopt(k->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	/* no small SO_RCVBUF for the subscriber: on loopback (MSS 64 KiB) a tiny
	 * window leaves the server's socket on TCP's persist timer, trickling
	 * for longer than send_timeout_ms, and the reactor rightly closes it */
	if (connect(k->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -errno;
	n = snprintf(
	    req, sizeof(req),
	    "GET /socketcluster/ HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: websocket\r\n"
	    "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
	    (unsigned)io_server_port(F.s), key);
	if (send(k->fd, req, (size_t)n, MSG_NOSIGNAL) != n)
		return -EIO;
	for (;;) { /* blocking: the head, and maybe the first frames after it */
		ssize_t r = recv(k->fd, k->rbuf + got, sizeof(k->rbuf) - got, 0);
		if (r <= 0)
			return -EIO;
		got += (size_t)r;
		uint8_t *end = memmem(k->rbuf, got, "\r\n\r\n", 4);
		if (!end)
			continue;
		size_t head = (size_t)(end - k->rbuf) + 4;
		if (http_check_upgrade_response((const char *)k->rbuf, head, key, &why, &detail,
						&dlen) < 0) {
			client_fail(cl, why, head, 0);
			return -EPROTO;
		}
		memmove(k->rbuf, k->rbuf + head, got - head);
		k->rlen = got - head;
		break;
	}
	return fcntl(k->fd, F_SETFL, O_NONBLOCK) < 0 ? -errno : 0;
}

/* One whole server frame. */
static void client_got(struct client *cl, struct conn *k, const struct ws_header *h,
		       const uint8_t *p)
{
	int src;
	char kind;
	uint64_t seq;
	bool ok = (h->opcode == WS_OP_TEXT || h->opcode == WS_OP_BINARY) && h->fin &&
		  payload_check(p, h->len, &src, &kind, &seq) && kind == 'm';

	if (h->opcode == WS_OP_CLOSE) {
		cl->close_code = h->len >= 2 ? p[0] << 8 | p[1] : 1005;
		if (!k->closing && !(F.policy == IO_SLOW_DISCONNECT && cl->subscriber))
			client_fail(cl, "closed by the server during traffic",
				    (uint64_t)cl->close_code, 0);
		return;
	}
	if (!ok) {
		client_fail(cl, "a frame that is not one of ours", h->opcode, h->len);
		return;
	}
	if (h->opcode == WS_OP_TEXT) {
		/* own echoes: one worker, one queue, so in order; drops only make gaps */
		if (src != cl->id || seq < cl->last_echo || seq >= atomic_load(&cl->sent))
			client_fail(cl, "echo out of order, duplicated or not ours", seq,
				    cl->last_echo);
		cl->last_echo = seq + 1;
		atomic_fetch_add_explicit(&cl->echoed, 1, memory_order_relaxed);
	} else {
		/* copies: each source's in its order (one worker per source) */
		if (!cl->subscriber || seq < cl->last_copy[src])
			client_fail(cl, "copy out of order, duplicated or misrouted", seq,
				    cl->last_copy[src]);
		cl->last_copy[src] = seq + 1;
		atomic_fetch_add_explicit(&cl->copies, 1, memory_order_relaxed);
	}
}

/* Reads what is there and takes every whole frame out of the buffer. */
static void client_read(struct client *cl, struct conn *k)
{
	size_t pos = 0;
	ssize_t r = -1;

	while (k->rlen < sizeof(k->rbuf) &&
	       (r = recv(k->fd, k->rbuf + k->rlen, sizeof(k->rbuf) - k->rlen, 0)) != 0) {
		if (r < 0) {
			if (errno != EAGAIN && errno != EINTR)
				k->eof = true; /* reset: the server cut it off */
			break;
		}
		k->rlen += (size_t)r;
	}
	if (r == 0)
		k->eof = true;
	for (;;) {
		struct ws_header h;
		int hl = ws_parse_header_client(k->rbuf + pos, k->rlen - pos, &h);
		if (hl < 0) {
			client_fail(cl, "a bad frame header", (uint64_t)-hl, pos);
			k->eof = true;
			break;
		}
		if (hl == 0 || k->rlen - pos < (size_t)hl + h.len)
			break;
		client_got(cl, k, &h, k->rbuf + pos + hl);
		pos += (size_t)hl + h.len;
	}
	memmove(k->rbuf, k->rbuf + pos, k->rlen - pos);
	k->rlen -= pos;
}

static uint64_t slow_events(void)
{
	struct io_totals t;

	io_server_totals(F.s, &t);
	return F.policy == IO_SLOW_DROP_OLDEST ? t.slow_consumer_drops
					       : t.slow_consumer_disconnects;
}

static void *client_run(void *arg)
{
	struct client *cl = arg;
	struct conn *k = calloc(1, sizeof(*k));
	uint64_t next_pause = cl->n / 8, pause_base = 0;
	double pause_end = 0, deadline;
	unsigned spins = 0;
	/* a pause ends once the server acted on it: some trims, or the disconnect */
	uint64_t pause_enough = F.policy == IO_SLOW_DROP_OLDEST ? 64 : 1;

	k->rng = 0x9e3779b97f4a7c15ull * (uint64_t)(cl->id + 1);
	if (client_connect(cl, k) < 0) {
		client_fail(cl, "cannot connect", (uint64_t)cl->id, 0);
		goto out;
	}
	if (cl->subscriber) {
		uint8_t p[LEN_MIN + LEN_SPAN];
		client_frame(k, WS_OP_TEXT, p, payload(p, cl->id, 'S', 0));
		atomic_fetch_add(&cl->sent, 1);
		if (cl->n == 0) { /* a pure subscriber: stop reading at once */
			pause_base = slow_events();
			pause_end = tu_now() + 20.0;
			cl->pauses++;
		}
	} else {
		while (!atomic_load(&F.go)) /* the subscriber first: every copy is fanned out */
			tu_backoff(&spins);
	}
	deadline = tu_now() + DEADLINE_S;
	while (!k->eof && tu_now() < deadline) {
		bool reading = pause_end == 0;
		struct pollfd pfd = {.fd = k->fd, .events = reading ? POLLIN : 0};

		if (k->woff == k->wlen && k->next < cl->n)
			client_fill(cl, k);
		if (k->woff == k->wlen && k->next == cl->n && !atomic_load(&cl->written)) {
			cl->t_written = tu_now() - F.t_start;
			atomic_store(&cl->written, 1);
		}
		if (k->woff == k->wlen && !k->closing && atomic_load(&F.finish)) {
			static const uint8_t bye[2] = {1000 >> 8, 1000 & 0xff};
			k->wlen = k->woff = 0;
			client_frame(k, WS_OP_CLOSE, bye, sizeof(bye));
			k->closing = true;
			deadline = tu_now() + 30.0;
			pause_end = 0;
		}
		if (k->woff < k->wlen)
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, 5) < 0 && errno != EINTR)
			break;
		if (pfd.revents & POLLOUT) {
			ssize_t w = send(k->fd, k->wbuf + k->woff, k->wlen - k->woff,
					 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (w > 0)
				k->woff += (size_t)w;
			else if (w < 0 && errno != EAGAIN && errno != EINTR)
				k->eof = true;
		}
		if (reading && (pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			client_read(cl, k);
		if (!reading &&
		    (slow_events() >= pause_base + pause_enough || tu_now() >= pause_end)) {
			pause_end = 0; /* the backlog did its work, or long enough */
			if (cl->pauses <= 8)
				cl->t_pause[cl->pauses - 1][1] = tu_now() - F.t_start;
		} else if (cl->subscriber && reading && cl->n && k->next >= next_pause &&
			   next_pause < cl->n && !k->closing) {
			next_pause += cl->n / 4;
			pause_base = slow_events();
			pause_end = tu_now() + PAUSE_MAX_S;
			if (++cl->pauses <= 8)
				cl->t_pause[cl->pauses - 1][0] = tu_now() - F.t_start;
		}
	}
	if (!k->eof)
		client_fail(cl, "no end of stream before the deadline", k->next, cl->n);
	close(k->fd);
	cl->t_end = tu_now() - F.t_start;
out:
	free(k);
	atomic_store(&cl->written, 1);
	atomic_store(&cl->done, 1);
	return NULL;
}

/* ---- the hammer ---- */

struct walk {
	int n;
	struct io_conn_stats st[REACTORS * MAX_CONNS];
};

static int walk_one(const struct io_conn_stats *st, void *ctx)
{
	struct walk *w = ctx;

	if (w->n < (int)(sizeof(w->st) / sizeof(w->st[0])))
		w->st[w->n++] = *st;
	return 0;
}

static void bad(enum bad kind, const char *what, uint64_t a, uint64_t b)
{
	if (atomic_fetch_add(&F.bad[kind], 1) < 3)
		fprintf(stderr, "stress_flow: bad %s reading: %s (%llu > %llu)\n", bad_name[kind],
			what, (unsigned long long)a, (unsigned long long)b);
}

static struct client *client_of(uint64_t serial)
{
	for (int i = 0; i < CLIENTS; i++)
		if (atomic_load(&F.clients[i].serial) == serial)
			return &F.clients[i];
	return NULL;
}

/*
 * One snapshot of one connection. Each field was read at its own moment
 * between t0 and t1 (consumer counters first), so the bounds are:
 *  - in: the server cannot have received more than the client had written
 *    by t1 (sent1), and cannot hold more untaken than that minus the echoes
 *    the client had read by t0 (echo0): each echo followed a take.
 *  - out counts (outq frames only): each is an echo of one of c's messages,
 *    or, for the subscriber, a copy of anyone's.
 *  - out_backlog_bytes: drop-oldest trims the frames set aside by a purge
 *    (held) and the outq back to OUT_LIMIT bytes after each shed, except
 *    the frames of the send in flight (SEND_MAX); until that trim the outq
 *    (2 * OUT_RING under drop-oldest) can fill twice, as a purge may move
 *    its frames aside in between; the reactor's own frames (101, close:
 *    LOCAL_MAX) count in bytes too. The reader's skew: bytes sent or dropped
 *    between its loads are at most what the totals moved meanwhile
 *    (bytes_moved), plus one sendmsg's.
 *  - out_backlog (frames: outq's producer cursor - out_done): the same, a
 *    trim leaving at most OUT_RING in the outq and OUT_LIMIT bytes of
 *    frames of at least 2 + LEN_MIN bytes aside; skew: frames done between
 *    the loads (done_moved), plus one sendmsg's batch.
 */
static void hammer_conn(const struct io_conn_stats *st, const uint64_t *sent1,
			const uint64_t *echo0, uint64_t sent_all, uint64_t done_moved,
			uint64_t bytes_moved)
{
	struct client *cl = client_of(st->serial);
	uint64_t max_backlog =
	    SEND_MAX + OUT_RING + OUT_LIMIT / (2 + LEN_MIN) + 2 * OUTQ_CAP + done_moved + SEND_MAX;
	uint64_t max_bytes = OUT_LIMIT + (SEND_MAX + 2 * OUTQ_CAP + LOCAL_MAX) * FRAME_MAX +
			     bytes_moved + SEND_MAX * FRAME_MAX;

	if (!st->serial || st->worker < 0 || st->worker >= WORKERS)
		bad(BAD_SERIAL, "serial 0 or worker out of range", (uint64_t)st->worker, WORKERS);
	/* accepted during the test (both CLOCK_MONOTONIC), and not in the future */
	if ((double)st->accept_ms + 1000 < F.t_start * 1000 || (double)st->accept_ms > tu_now() * 1000 + 1000)
		bad(BAD_SERIAL, "accept_ms outside the test", st->accept_ms, (uint64_t)(F.t_start * 1000));
	if (st->out_backlog > max_backlog)
		bad(BAD_BACKLOG, "out_backlog", st->out_backlog, max_backlog);
	if (st->out_backlog_bytes > max_bytes)
		bad(BAD_BYTES, "out_backlog_bytes", st->out_backlog_bytes, max_bytes);
	if (!cl) /* its first message is not taken yet: no client to compare with */
		return;
	uint64_t i = (uint64_t)cl->id, produced = sent1[i] + (cl->subscriber ? sent_all : 0);
	if (st->in_msgs > sent1[i])
		bad(BAD_IN, "in_msgs above what the client sent", st->in_msgs, sent1[i]);
	if (st->in_backlog > sent1[i] - echo0[i])
		bad(BAD_IN, "in_backlog above the client's unanswered", st->in_backlog,
		    sent1[i] - echo0[i]);
	if (st->in_bytes > sent1[i] * (LEN_MIN + LEN_SPAN))
		bad(BAD_IN, "in_bytes above what the client sent", st->in_bytes, sent1[i]);
	if (st->out_msgs + st->out_dropped > produced)
		bad(BAD_OUT, "out_msgs + out_dropped above the frames made for it",
		    st->out_msgs + st->out_dropped, produced);
}

static void *hammer_run(void *arg)
{
	struct walk *w = calloc(1, sizeof(*w));
	struct io_totals t0, t1, last = {0};
	struct io_tally_sum sum, after, last_sum = {0};
	struct io_reactor_stats rs, last_rs[REACTORS] = {{0}};
	uint64_t sent1[CLIENTS], echo0[CLIENTS], sent_all;

	(void)arg;
	while (!atomic_load_explicit(&F.stop, memory_order_relaxed)) {
		struct io_conn_stats sst;
		uint64_t sub_serial = 0;

		io_server_totals(F.s, &t0);
		for (int i = 0; i < CLIENTS; i++)
			echo0[i] = atomic_load(&F.clients[i].echoed);
		w->n = 0;
		io_server_each_conn(F.s, walk_one, w);
		pthread_mutex_lock(&F.sub_lock);
		if (F.sub) { /* held: the lock keeps the worker from releasing it */
			io_conn_stats(F.sub, &sst);
			sub_serial = io_conn_serial(F.sub);
		}
		pthread_mutex_unlock(&F.sub_lock);
		io_tally_read(F.tally, &sum);
		io_server_totals(F.s, &t1);
		sent_all = 0;
		for (int i = 0; i < CLIENTS; i++)
			sent_all += sent1[i] = atomic_load(&F.clients[i].sent);

		uint64_t moved = t1.msgs_out + t1.msgs_dropped - t0.msgs_out - t0.msgs_dropped;
		uint64_t bytes_moved = t1.bytes_out - t0.bytes_out + moved * FRAME_MAX;
		/* (msgs_dropped counts refusals too: an over-estimate, never under) */
		for (int i = 0; i < w->n; i++)
			hammer_conn(&w->st[i], sent1, echo0, sent_all, moved, bytes_moved);
		if (sub_serial) {
			/* killed but not yet released reads 0: the reactor hid it */
			if (sst.serial != sub_serial && sst.serial != 0)
				bad(BAD_SUB, "serial of the held subscriber", sst.serial,
				    sub_serial);
			if (sst.serial)
				hammer_conn(&sst, sent1, echo0, sent_all, moved, bytes_moved);
			atomic_fetch_add_explicit(&F.sub_reads, 1, memory_order_relaxed);
		}

		/* totals: sums of counters that only grow, so each reading >= the last */
		if (t0.msgs_in < last.msgs_in || t0.msgs_out < last.msgs_out ||
		    t0.msgs_dropped < last.msgs_dropped ||
		    t0.slow_consumer_drops < last.slow_consumer_drops ||
		    t0.accepts < last.accepts || t0.bytes_in < last.bytes_in)
			bad(BAD_MONO, "a total went down", last.msgs_in, t0.msgs_in);
		if (t1.msgs_in > sent_all || t1.accepts > CLIENTS || t1.conns > CLIENTS)
			bad(BAD_MONO, "more received or accepted than the clients made", t1.msgs_in,
			    sent_all);
		last = t1;

		/* the tally: each sum's slots are read one after another, so compare a
		 * sum with a later reading (after) of what bounds it. At any instant a
		 * writer's fanout <= 2 * its published (counted first); and the
		 * reactors' done <= the copies sent, which are at most one message's
		 * two per worker ahead of what the publishers have counted. */
		io_tally_read(F.tally, &after);
		if (sum.published > t1.msgs_in)
			bad(BAD_TALLY, "published above msgs_in", sum.published, t1.msgs_in);
		if (sum.fanout > 2 * after.published)
			bad(BAD_TALLY, "fanout above 2 copies a publish", sum.fanout,
			    after.published);
		if (sum.delivered + sum.dropped > after.fanout + 2 * WORKERS)
			bad(BAD_TALLY, "delivered + dropped above fanout",
			    sum.delivered + sum.dropped, after.fanout);
		if (sum.backlog > sum.fanout)
			bad(BAD_TALLY, "backlog above fanout", sum.backlog, sum.fanout);
		if (sum.published < last_sum.published || sum.fanout < last_sum.fanout ||
		    sum.delivered < last_sum.delivered || sum.dropped < last_sum.dropped)
			bad(BAD_TALLY, "a tally sum went down", last_sum.fanout, sum.fanout);
		last_sum = sum;

		for (int i = 0; i < REACTORS; i++) {
			if (io_server_reactor_stats(F.s, i, &rs) != 0 ||
			    rs.loops < last_rs[i].loops || rs.msgs < last_rs[i].msgs ||
			    rs.conns > CLIENTS || rs.queue > (uint64_t)REACTORS * MAX_CONNS)
				bad(BAD_REACTOR, "reactor stats", rs.loops, last_rs[i].loops);
			last_rs[i] = rs;
		}
		if (io_server_reactor_stats(F.s, REACTORS, &rs) != -ENOENT)
			bad(BAD_REACTOR, "a reactor past the last", REACTORS, 0);
		for (int i = 0; i < WORKERS; i++)
			if (io_inbox_size(F.s, i) > (uint64_t)REACTORS * MAX_CONNS)
				bad(BAD_REACTOR, "inbox size", io_inbox_size(F.s, i), MAX_CONNS);
		if (io_inbox_size(F.s, WORKERS) != 0)
			bad(BAD_REACTOR, "an inbox past the last", WORKERS, 0);
		atomic_fetch_add_explicit(&F.iterations, 1, memory_order_relaxed);
		sched_yield(); /* two cores: let the traffic run */
	}
	free(w);
	return NULL;
}

/* ---- the killer ---- */

static void *killer_run(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&F.stop, memory_order_relaxed)) {
		struct io_tally_sum sum;
		uint64_t seen = io_tally_kill(F.tally);

		io_tally_read(F.tally, &sum);
		if (seen > sum.fanout) /* backlog of a reading before this one */
			bad(BAD_TALLY, "kill saw more than was fanned out", seen, sum.fanout);
		atomic_fetch_add_explicit(&F.kills, 1, memory_order_relaxed);
		struct timespec ts = {0, 2 * 1000 * 1000}; /* pacing, not synchronisation */
		nanosleep(&ts, NULL);
	}
	return NULL;
}

/* ---- the test ---- */

/* Waits for cond() with a deadline; false when it passed. */
static bool wait_for(bool (*cond)(void), double seconds)
{
	double end = tu_now() + seconds;
	unsigned spins = 0;

	while (!cond()) {
		if (tu_now() > end)
			return false;
		tu_backoff(&spins);
	}
	return true;
}

static bool sub_registered(void)
{
	bool yes;

	pthread_mutex_lock(&F.sub_lock);
	yes = F.sub != NULL;
	pthread_mutex_unlock(&F.sub_lock);
	return yes;
}

static uint64_t expected_msgs(void)
{
	uint64_t n = 0;

	for (int i = 0; i < CLIENTS; i++)
		n += F.clients[i].n;
	return n;
}

static bool traffic_done(void)
{
	struct io_tally_sum sum;

	for (int i = 0; i < CLIENTS; i++)
		if (!atomic_load(&F.clients[i].written))
			return false;
	io_tally_read(F.tally, &sum);
	return sum.published >= expected_msgs();
}

static bool all_closed(void)
{
	struct io_totals t;

	io_server_totals(F.s, &t);
	return t.conns == 0;
}

/*
 * Once the traffic is done and every queue is empty, the connections'
 * cursors add up to the totals: out_msgs to msgs_out, out_dropped (refused,
 * trimmed or purged) to msgs_dropped. Read until the relaxed stores have all
 * landed.
 */
static uint64_t quiet_sums[4];

static int quiet_one(const struct io_conn_stats *st, void *ctx)
{
	uint64_t *q = ctx;

	q[0] += st->out_msgs;
	q[1] += st->out_dropped;
	q[2] += st->out_backlog + st->in_backlog + st->out_backlog_bytes;
	q[3]++;
	return 0;
}

static bool quiet_and_summed(void)
{
	struct io_totals t;
	uint64_t q[4] = {0};

	io_server_each_conn(F.s, quiet_one, q);
	io_server_totals(F.s, &t);
	memcpy(quiet_sums, q, sizeof(q));
	return q[2] == 0 && q[3] == CLIENTS && q[0] == t.msgs_out && q[1] == t.msgs_dropped;
}

static int dump_one(const struct io_conn_stats *st, void *ctx)
{
	(void)ctx;
	fprintf(
	    stderr,
	    "  conn %llu worker %d paused %d: in %llu backlog %llu (%llu B); out %llu dropped %llu "
	    "backlog %llu (%llu B)\n",
	    (unsigned long long)st->serial, st->worker, st->paused, (unsigned long long)st->in_msgs,
	    (unsigned long long)st->in_backlog, (unsigned long long)st->in_backlog_bytes,
	    (unsigned long long)st->out_msgs, (unsigned long long)st->out_dropped,
	    (unsigned long long)st->out_backlog, (unsigned long long)st->out_backlog_bytes);
	return 0;
}

/* What a stalled run looks like, for the report of a failed wait. */
static void dump_state(const char *why)
{
	struct io_totals t;
	struct io_tally_sum sum;
	struct io_reactor_stats rs;

	io_server_totals(F.s, &t);
	io_tally_read(F.tally, &sum);
	fprintf(stderr, "stress_flow: %s: msgs_in %llu, published %llu, pauses %llu\n", why,
		(unsigned long long)t.msgs_in, (unsigned long long)sum.published,
		(unsigned long long)t.inbound_pauses);
	for (int i = 0; i < CLIENTS; i++) {
		struct client *cl = &F.clients[i];
		fprintf(stderr,
			"  client %d serial %llu: sent %llu of %llu, written %d, echoed %llu, "
			"copies %llu, done %d\n",
			i, (unsigned long long)atomic_load(&cl->serial),
			(unsigned long long)atomic_load(&cl->sent), (unsigned long long)cl->n,
			atomic_load(&cl->written), (unsigned long long)atomic_load(&cl->echoed),
			(unsigned long long)atomic_load(&cl->copies), atomic_load(&cl->done));
		if (atomic_load(&cl->done)) /* its thread wrote these before done */
		{
			fprintf(
			    stderr,
			    "    ended: close frame %d, server's code %d, %s; written at %.2fs, "
			    "ended at %.2fs, pauses",
			    cl->close_code, atomic_load(&cl->server_code),
			    cl->errors ? cl->error : "no error", cl->t_written, cl->t_end);
			for (uint64_t p = 0; p < cl->pauses && p < 8; p++)
				fprintf(stderr, " %.2f-%.2f", cl->t_pause[p][0], cl->t_pause[p][1]);
			fprintf(stderr, "\n");
		}
	}
	io_server_each_conn(F.s, dump_one, NULL);
	for (int i = 0; io_server_reactor_stats(F.s, i, &rs) == 0; i++)
		fprintf(stderr, "  reactor %d: loops %llu, conns %llu, notify queue %llu\n", i,
			(unsigned long long)rs.loops, (unsigned long long)rs.conns,
			(unsigned long long)rs.queue);
	for (int i = 0; i < WORKERS; i++)
		fprintf(stderr, "  inbox %d: %llu\n", i, (unsigned long long)io_inbox_size(F.s, i));
}

/* wait_for, and the state of the server when it did not come */
static bool wait_or_dump(bool (*cond)(void), double seconds, const char *what)
{
	if (wait_for(cond, seconds))
		return true;
	dump_state(what);
	sleep(2);
	dump_state(what); /* what still moves */
	return false;
}

static void run_flow(int policy)
{
	struct io_config cfg;
	struct workers *ws = NULL;
	pthread_t hammer, killer;
	struct io_totals t;
	struct io_tally_sum sum;
	uint64_t per_client = tu_stress_items(MSGS_DEFAULT), read_all = 0, echoed = 0;
	double t0 = tu_now();

	memset(&F, 0, sizeof(F));
	F.policy = policy;
	F.t_start = t0;
	pthread_mutex_init(&F.sub_lock, NULL);
	io_config_defaults(&cfg);
	cfg.host = "127.0.0.1";
	cfg.port = 0;
	cfg.reactors = REACTORS;
	cfg.workers = WORKERS;
	cfg.max_conns = MAX_CONNS;
	cfg.recv_buffers = 256;
	cfg.inbound_ring = IN_RING;
	cfg.outbound_ring = OUT_RING;
	cfg.outbound_limit = OUT_LIMIT;
	cfg.slow_policy = policy;
	for (int i = 0; i < CLIENTS; i++) {
		F.clients[i].id = i;
		F.clients[i].subscriber = i == 0;
		/* under disconnect the subscriber only listens: its close then loses nothing */
		F.clients[i].n = i == 0 && policy == IO_SLOW_DISCONNECT ? 0 : per_client;
		F.clients[i].close_code = -1;
	}
	cr_assert_eq(io_server_create(&cfg, &F.s), 0);
	cr_assert_eq(io_tally_new(F.s, &F.tally), 0);
	cr_assert_eq(workers_start(F.s, WORKERS, &flow_ops, &ws), 0);
	cr_assert_eq(io_server_start(F.s), 0);
	cr_assert_eq(pthread_create(&hammer, NULL, hammer_run, NULL), 0);
	cr_assert_eq(pthread_create(&killer, NULL, killer_run, NULL), 0);
	for (int i = 0; i < CLIENTS; i++)
		cr_assert_eq(pthread_create(&F.clients[i].thread, NULL, client_run, &F.clients[i]),
			     0);

	cr_assert(wait_or_dump(sub_registered, 30, "no subscriber"),
		  "the subscriber never registered");
	atomic_store(&F.go, 1);
	cr_assert(wait_or_dump(traffic_done, flow_deadline(), "traffic stalled"),
		  "the traffic did not finish in time");
	if (policy == IO_SLOW_DROP_OLDEST) /* (under disconnect one connection is gone) */
		cr_assert(wait_or_dump(quiet_and_summed, 30, "not quiet"),
			  "queues not empty, or cursors not adding up to the totals");
	atomic_store(&F.finish, 1); /* each client sends a close and reads to the end */
	for (int i = 0; i < CLIENTS; i++)
		pthread_join(F.clients[i].thread, NULL);
	cr_assert(wait_or_dump(all_closed, 30, "not closed"),
		  "connections still open after their clients left");
	atomic_store(&F.stop, 1);
	pthread_join(hammer, NULL);
	pthread_join(killer, NULL);
	io_server_stop(F.s);
	workers_stop(ws);

	/* everyone is joined: every figure below is exact */
	for (int i = 0; i < CLIENTS; i++) {
		struct client *cl = &F.clients[i];
		if (cl->errors)
			fprintf(stderr, "stress_flow: %s\n", cl->error);
		cr_assert_eq(cl->errors, 0, "%s", cl->error);
		read_all += atomic_load(&cl->echoed) + atomic_load(&cl->copies);
		echoed += atomic_load(&cl->echoed);
	}
	io_server_totals(F.s, &t);
	io_tally_read(F.tally, &sum);
	fprintf(
	    stderr,
	    "stress_flow: %s: %.2fs, %llu msgs in, tally fanout %llu = delivered %llu + dropped "
	    "%llu, refused %llu+%llu, slow drops %llu, slow disconnects %llu, msgs_dropped %llu, "
	    "msgs_out %llu, pauses %llu, hammer %llu (%llu of the subscriber), kills %llu\n",
	    policy == IO_SLOW_DROP_OLDEST ? "drop-oldest" : "disconnect", tu_now() - t0,
	    (unsigned long long)t.msgs_in, (unsigned long long)sum.fanout,
	    (unsigned long long)sum.delivered, (unsigned long long)sum.dropped,
	    (unsigned long long)F.refused_nobufs, (unsigned long long)F.refused_pipe,
	    (unsigned long long)t.slow_consumer_drops,
	    (unsigned long long)t.slow_consumer_disconnects, (unsigned long long)t.msgs_dropped,
	    (unsigned long long)t.msgs_out, (unsigned long long)F.clients[0].pauses,
	    (unsigned long long)F.iterations, (unsigned long long)F.sub_reads,
	    (unsigned long long)F.kills);
	for (int k = 0; k < BAD_KINDS; k++)
		cr_assert_eq(atomic_load(&F.bad[k]), 0, "bad %s readings", bad_name[k]);
	cr_assert_eq(atomic_load(&F.server_errors), 0,
		     "the workers saw torn or misrouted messages");

	/* the tally: every copy delivered or dropped, none left */
	cr_assert_eq(sum.published, expected_msgs());
	cr_assert_eq(sum.fanout, sum.published + atomic_load(&F.fan_tries));
	cr_assert_eq(sum.fanout, sum.delivered + sum.dropped);
	cr_assert_eq(sum.backlog, 0);
	/* ... and what the kernel took is exactly what the clients read */
	cr_assert_eq(read_all, sum.delivered);
	cr_assert_leq(echoed, sum.published);

	/* the totals: every message in (and the subscribe), each frame written or dropped */
	cr_assert_eq(t.msgs_in, expected_msgs() + 1);
	cr_assert_eq(t.accepts, CLIENTS);
	cr_assert_eq(t.conns, 0);
	/* every frame of ours is tallied; the reactor's own (101, close) count nowhere */
	cr_assert_eq(t.msgs_out, sum.delivered);
	/* every frame of ours is tallied, so the totals drop exactly what the tally
	 * does: refused by io_conn_send, trimmed, purged, or lost at a close */
	cr_assert_eq(t.msgs_dropped, sum.dropped);
	cr_assert_geq(t.msgs_dropped, t.slow_consumer_drops);
	cr_assert_geq(sum.dropped, F.refused_nobufs + F.refused_pipe);

	if (policy == IO_SLOW_DROP_OLDEST) {
		cr_assert_gt(t.slow_consumer_drops, 0, "the subscriber's queue was never trimmed");
		/* (under disconnect the subscriber may be gone before the hammer looks) */
		cr_assert_gt(atomic_load(&F.sub_reads), 0);
		cr_assert_eq(t.slow_consumer_disconnects, 0);
		for (int i = 0; i < CLIENTS; i++) {
			cr_assert_eq(F.clients[i].close_code, 1000);
			cr_assert_eq(atomic_load(&F.clients[i].server_code), 1000);
		}
	} else {
		cr_assert_eq(t.slow_consumer_disconnects, 1, "only the subscriber is slow");
		cr_assert_eq(F.clients[0].close_code, IO_CLOSE_SLOW_CONSUMER);
		cr_assert_eq(atomic_load(&F.clients[0].server_code), IO_CLOSE_SLOW_CONSUMER);
		for (int i = 1; i < CLIENTS; i++)
			cr_assert_eq(F.clients[i].close_code, 1000);
	}
	cr_assert_gt(F.clients[0].pauses, 0);
	cr_assert_gt(atomic_load(&F.iterations), 1000, "the hammer ran too few times");
	cr_assert_gt(atomic_load(&F.kills), 10);

	io_server_destroy(F.s);
	io_tally_put(F.tally); /* after the frames that hold it are gone */
	pthread_mutex_destroy(&F.sub_lock);
}

Test(stress_flow, cursors_under_drop_oldest, .timeout = 600)
{
	run_flow(IO_SLOW_DROP_OLDEST);
}

Test(stress_flow, cursors_under_disconnect, .timeout = 600)
{
	run_flow(IO_SLOW_DISCONNECT);
}
