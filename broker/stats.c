/*
 * stats: the stats thread. It serves two things, both read-only views of
 * the cursors (plus two operator actions):
 *
 *   - the stats socket, a Unix stream socket (--stats-socket, mode
 *     --stats-socket-mode): one command line in, the whole answer out, then
 *     the connection closes (HAProxy's non-interactive runtime API). The
 *     commands are in stats__help below and in the README; sluicectl speaks
 *     them.
 *   - Prometheus text exposition at GET /metrics on --metrics-listen.
 *
 * It reads cursors only (io_server_each_conn, tallies, worker and handler
 * counters: relaxed loads) and never takes a lock on the data path; channel
 * names are read inside an epoch section of its own record. Clients are
 * served one at a time with short socket timeouts, so a stuck client
 * delays the next by a second at most and costs the broker nothing.
 *
 * Threads: stats__start/stop from the thread that starts and stops the
 * server; the rest on the stats thread.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "broker.h"
#include "channel.h"
#include "statcmd.h"

#define LOAD(x)   atomic_load_explicit(&(x), memory_order_relaxed)
#define CMD_MAX   1024

struct stats {
	struct sluice_server *srv;
	pthread_t thread;
	int unix_fd, http_fd, wake_fd;
	uint16_t metrics_port;
	struct epoch_rec *rec;
	char path[sizeof(((struct sluice_options *)0)->stats_socket)];
};

/* A growing answer. */
struct out {
	char *p;
	size_t len, cap;
	bool oom;
};

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void out_printf(struct out *o, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (o->oom)
		return;
	for (;;) {
		size_t room = o->cap - o->len;
		va_start(ap, fmt);
		n = vsnprintf(o->p ? o->p + o->len : NULL, o->p ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			o->oom = true;
			return;
		}
		if ((size_t)n < room) {
			o->len += (size_t)n;
			return;
		}
		size_t cap = o->cap ? o->cap * 2 : 4096;
		while (cap - o->len <= (size_t)n)
			cap *= 2;
		char *p = realloc(o->p, cap);
		if (!p) {
			o->oom = true;
			return;
		}
		o->p = p;
		o->cap = cap;
	}
}

/* s as a JSON string (quotes included). */
static void out_json_str(struct out *o, const char *s)
{
	out_printf(o, "\"");
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;
		if (c == '"' || c == '\\')
			out_printf(o, "\\%c", c);
		else if (c < 0x20)
			out_printf(o, "\\u%04x", c);
		else
			out_printf(o, "%c", c);
	}
	out_printf(o, "\"");
}

/* ---- rows: sockets and channels ---------------------------------------- */

enum col { C_STR, C_NUM };

struct row {
	char name[96];      /* socket id, channel name (made printable) */
	uint64_t v[12];
};

#define sock_cols  statcmd_socket_cols
#define SOCK_NCOLS STATCMD_SOCKET_COLS
#define chan_cols  statcmd_channel_cols
#define CHAN_NCOLS STATCMD_CHANNEL_COLS

struct rows {
	struct row *r;
	size_t n, cap;
	bool oom;
};

static struct row *rows_add(struct rows *rs)
{
	if (rs->n == rs->cap) {
		size_t cap = rs->cap ? rs->cap * 2 : 64;
		struct row *r = realloc(rs->r, cap * sizeof(*r));
		if (!r) {
			rs->oom = true;
			return NULL;
		}
		rs->r = r;
		rs->cap = cap;
	}
	memset(&rs->r[rs->n], 0, sizeof(rs->r[0]));
	return &rs->r[rs->n++];
}



struct sock_walk {
	struct stats *st;
	struct rows *rs;
	uint64_t only; /* a serial, or 0 for all */
	uint64_t now_ms; /* for the sockets' ages */
};

static int stats__sock_row(const struct io_conn_stats *c, void *ctx)
{
	struct sock_walk *sw = ctx;
	struct row *r;
	uint64_t started = c->gauge[GAUGE_REQ_STARTED], done = c->gauge[GAUGE_REQ_DONE];
	uint64_t procs = started > done ? started - done : 0;
	uint64_t bp = c->in_backlog > c->out_backlog ? c->in_backlog : c->out_backlog;

	if (sw->only && c->serial != sw->only)
		return 0;
	if (!(r = rows_add(sw->rs)))
		return 1;
	server__socket_id(sw->st->srv, c->serial, r->name, sizeof(r->name));
	uint64_t v[SOCK_NCOLS] = {(uint64_t)c->worker, bp > procs ? bp : procs, c->in_backlog,
				  c->out_backlog, c->out_backlog_bytes, procs, c->in_msgs,
				  c->out_msgs, c->out_dropped, c->gauge[GAUGE_SUBS],
				  (sw->now_ms > c->accept_ms ? sw->now_ms - c->accept_ms : 0) / 1000};
	memcpy(r->v, v, sizeof(v));
	return sw->only ? 1 : 0;
}

static int stats__chan_row(struct channel *ch, void *ctx)
{
	struct rows *rs = ctx;
	struct io_tally_sum sum;
	struct subs *sub = epoch_load((void *_Atomic *)&ch->subs);
	struct row *r;
	size_t i;

	if (!ch->tally)
		return 0;
	if (!(r = rows_add(rs)))
		return 1;
	for (i = 0; i < sizeof(r->name) - 1 && ch->name[i]; i++) {
		unsigned char c = (unsigned char)ch->name[i];
		r->name[i] = c <= ' ' || c == 0x7f ? '?' : (char)c; /* one word in a table */
	}
	r->name[i] = '\0';
	io_tally_read(ch->tally, &sum);
	uint64_t v[CHAN_NCOLS] = {sub->n,	   sum.published, sum.fanout,	      sum.delivered,
				  sum.dropped, sum.backlog,   channel_slowest(ch)};
	memcpy(r->v, v, sizeof(v));
	return 0;
}

static int sort_col;

static int stats__cmp(const void *a, const void *b)
{
	const struct row *x = a, *y = b;

	if (sort_col < 0)
		return strcmp(x->name, y->name);
	return x->v[sort_col] < y->v[sort_col] ? 1 : x->v[sort_col] > y->v[sort_col] ? -1 : 0;
}

static void stats__table(struct out *o, const char *key, const char *const *cols, size_t ncols,
			 struct rows *rs, int sort, size_t limit, bool json)
{
	sort_col = sort; /* the stats thread is the only caller */
	qsort(rs->r, rs->n, sizeof(rs->r[0]), stats__cmp);
	if (rs->n > limit)
		rs->n = limit;
	if (json) {
		out_printf(o, "[");
		for (size_t i = 0; i < rs->n; i++) {
			out_printf(o, "%s{\"%s\":", i ? "," : "", key);
			out_json_str(o, rs->r[i].name);
			for (size_t c = 0; c < ncols; c++)
				out_printf(o, ",\"%s\":%llu", cols[c], (unsigned long long)rs->r[i].v[c]);
			out_printf(o, "}");
		}
		out_printf(o, "]\n");
		return;
	}
	size_t w = strlen(key);
	for (size_t i = 0; i < rs->n; i++)
		if (strlen(rs->r[i].name) > w)
			w = strlen(rs->r[i].name);
	out_printf(o, "%-*s", (int)w, key);
	for (size_t c = 0; c < ncols; c++)
		out_printf(o, " %14s", cols[c]);
	out_printf(o, "\n");
	for (size_t i = 0; i < rs->n; i++) {
		out_printf(o, "%-*s", (int)w, rs->r[i].name);
		for (size_t c = 0; c < ncols; c++)
			out_printf(o, " %14llu", (unsigned long long)rs->r[i].v[c]);
		out_printf(o, "\n");
	}
}

/* ---- commands ----------------------------------------------------------- */

static const char stats__help[] =
	"help                                        this list\n"
	"show info [json]                            uptime, connections, totals, limit hits\n"
	"show sockets [sort FIELD] [limit N] [json]  the most congested sockets (backpressure, 20)\n"
	"show socket ID [json]                       one socket's streams\n"
	"show channels [sort FIELD] [limit N] [json] the channels with the largest backlog (20)\n"
	"show threads [json]                         each reactor's and worker's loop and queue\n"
	"disconnect ID [CODE]                        close a socket (CODE 1000 or 3000-4999; 1000)\n"
	"kill channel NAME                           drop a channel's backlog now\n"
	"close channel NAME                          kick every subscriber out, after its queue\n";

struct info_kv {
	const char *key;
	uint64_t v;
};

static void stats__info(struct stats *st, struct out *o, bool json)
{
	struct sluice_totals t;

	sluice_server_totals(st->srv, &t);
	const struct info_kv kv[] = {
		{"pid", (uint64_t)getpid()},
		{"uptime_s", t.uptime_ms / 1000},
		{"connections", t.connections},
		{"channels", t.channels},
		{"reactors", (uint64_t)st->srv->io.reactors},
		{"workers", (uint64_t)st->srv->nworkers},
		{"msgs_in", t.msgs_in},
		{"bytes_in", t.bytes_in},
		{"msgs_out", t.msgs_out},
		{"bytes_out", t.bytes_out},
		{"publishes", t.publishes},
		{"msgs_dropped", t.msgs_dropped},
		{"slow_consumer_disconnects", t.slow_consumer_disconnects},
		{"slow_consumer_drops", t.slow_consumer_drops},
		{"backpressure_disconnects", t.backpressure_disconnects},
		{"rate_limit_disconnects", t.rate_limit_disconnects},
		{"channel_backlog_kills", t.channel_backlog_kills},
		{"inbound_pauses", t.inbound_pauses},
		{"port", sluice_server_port(st->srv)},
		{"metrics_port", st->metrics_port},
	};
	const char *fmt = json ? ",\"%s\":%llu" : "%s: %llu\n";
	char key[48];

	if (json)
		out_printf(o, "{\"version\":\"%s\"", SLUICE_VERSION);
	else
		out_printf(o, "version: %s\n", SLUICE_VERSION);
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		out_printf(o, fmt, kv[i].key, (unsigned long long)kv[i].v);
	/* per thread: loop turns and what waits for it (show threads has the table) */
	for (int i = 0;; i++) {
		struct io_reactor_stats r;
		if (io_server_reactor_stats(st->srv->ios, i, &r) < 0)
			break;
		snprintf(key, sizeof(key), "reactor%d_loops", i);
		out_printf(o, fmt, key, (unsigned long long)r.loops);
		snprintf(key, sizeof(key), "reactor%d_queue", i);
		out_printf(o, fmt, key, (unsigned long long)r.queue);
	}
	for (int i = 0; i < st->srv->nworkers; i++) {
		snprintf(key, sizeof(key), "worker%d_loops", i);
		out_printf(o, fmt, key, (unsigned long long)LOAD(st->srv->bw[i]->loops));
		snprintf(key, sizeof(key), "worker%d_queue", i);
		out_printf(o, fmt, key, (unsigned long long)io_inbox_size(st->srv->ios, i));
	}
	if (json)
		out_printf(o, "}\n");
}

static void stats__threads(struct stats *st, struct out *o, bool json)
{
	struct sluice_server *srv = st->srv;
	struct rows rs = {0};
	static const char *const cols[] = {"loops", "queue", "conns", "msgs"};

	for (int i = 0;; i++) {
		struct io_reactor_stats r;
		struct row *x;
		if (io_server_reactor_stats(srv->ios, i, &r) < 0 || !(x = rows_add(&rs)))
			break;
		snprintf(x->name, sizeof(x->name), "reactor-%d", i);
		uint64_t v[] = {r.loops, r.queue, r.conns, r.msgs};
		memcpy(x->v, v, sizeof(v));
	}
	for (int i = 0; i < srv->nworkers; i++) {
		struct row *x = rows_add(&rs);
		if (!x)
			break;
		snprintf(x->name, sizeof(x->name), "worker-%d", i);
		uint64_t v[] = {LOAD(srv->bw[i]->loops), io_inbox_size(srv->ios, i), 0,
				LOAD(srv->bw[i]->msgs)};
		memcpy(x->v, v, sizeof(v));
	}
	stats__table(o, "thread", cols, 4, &rs, -1, rs.n, json);
	free(rs.r);
}

static void stats__sockets(struct stats *st, struct out *o, const struct statcmd *cmd)
{
	struct rows rs = {0};
	struct sock_walk sw = {st, &rs, 0, server__now_ms()};

	io_server_each_conn(st->srv->ios, stats__sock_row, &sw);
	stats__table(o, "id", sock_cols, SOCK_NCOLS, &rs, cmd->sort, cmd->limit, cmd->json);
	free(rs.r);
}

static void stats__socket(struct stats *st, struct out *o, const struct statcmd *cmd)
{
	struct rows rs = {0};
	struct sock_walk sw = {st, &rs, server__socket_serial(st->srv, cmd->arg), server__now_ms()};

	if (sw.only)
		io_server_each_conn(st->srv->ios, stats__sock_row, &sw);
	if (rs.n == 0) {
		out_printf(o, "error: no socket '%.96s'\n", cmd->arg);
	} else if (cmd->json) {
		out_printf(o, "{\"id\":");
		out_json_str(o, rs.r[0].name);
		for (size_t c = 0; c < SOCK_NCOLS; c++)
			out_printf(o, ",\"%s\":%llu", sock_cols[c], (unsigned long long)rs.r[0].v[c]);
		out_printf(o, "}\n");
	} else {
		out_printf(o, "id: %s\n", rs.r[0].name);
		for (size_t c = 0; c < SOCK_NCOLS; c++)
			out_printf(o, "%s: %llu\n", sock_cols[c], (unsigned long long)rs.r[0].v[c]);
	}
	free(rs.r);
}

static void stats__channels(struct stats *st, struct out *o, const struct statcmd *cmd)
{
	struct rows rs = {0};

	epoch_enter(st->rec);
	channel_each(st->srv->channels, stats__chan_row, &rs);
	epoch_exit(st->rec);
	stats__table(o, "name", chan_cols, CHAN_NCOLS, &rs, cmd->sort, cmd->limit, cmd->json);
	free(rs.r);
}

static void stats__disconnect(struct stats *st, struct out *o, const struct statcmd *cmd)
{
	uint64_t serial = server__socket_serial(st->srv, cmd->arg);
	int rc = io_server_close_serial(st->srv->ios, serial, cmd->code,
					"disconnected by the operator");

	if (rc == -ENOENT)
		out_printf(o, "error: no socket '%.96s'\n", cmd->arg);
	else if (rc < 0)
		out_printf(o, "error: %s\n", strerror(-rc));
	else
		out_printf(o, "ok\n");
}

static void stats__kill_channel(struct stats *st, struct out *o, const char *name)
{
	int64_t n = sluice_channel_kill(st->srv, name);

	if (n < 0)
		out_printf(o, "error: no channel '%.96s'\n", name);
	else
		out_printf(o, "ok: dropped %lld\n", (long long)n);
}

/* Runs one command line (statcmd.h has the language). */
static void stats__command(struct stats *st, char *line, struct out *o)
{
	struct statcmd cmd;
	char err[512];
	int64_t n;

	if (statcmd_parse(line, &cmd, err, sizeof(err)) < 0) {
		out_printf(o, "error: %s\n", err);
		return;
	}
	switch (cmd.verb) {
	case STATCMD_HELP: out_printf(o, "%s", stats__help); break;
	case STATCMD_INFO: stats__info(st, o, cmd.json); break;
	case STATCMD_SOCKETS: stats__sockets(st, o, &cmd); break;
	case STATCMD_SOCKET: stats__socket(st, o, &cmd); break;
	case STATCMD_CHANNELS: stats__channels(st, o, &cmd); break;
	case STATCMD_THREADS: stats__threads(st, o, cmd.json); break;
	case STATCMD_DISCONNECT: stats__disconnect(st, o, &cmd); break;
	case STATCMD_KILL_CHANNEL: stats__kill_channel(st, o, cmd.arg); break;
	case STATCMD_CLOSE_CHANNEL:
		n = sluice_channel_close(st->srv, cmd.arg);
		if (n < 0)
			out_printf(o, "error: no channel '%.96s'\n", cmd.arg);
		else
			out_printf(o, "ok: closing for %lld subscribers\n", (long long)n);
		break;
	}
}

/* ---- Prometheus ------------------------------------------------------------ */

static void metric(struct out *o, const char *name, const char *type, const char *help,
		   uint64_t v)
{
	out_printf(o, "# HELP %s %s\n# TYPE %s %s\n%s %llu\n", name, help, name, type, name,
		   (unsigned long long)v);
}

struct backlog_sum {
	uint64_t in, in_bytes, out, out_bytes, max;
};

static int stats__sum_conn(const struct io_conn_stats *c, void *ctx)
{
	struct backlog_sum *b = ctx;
	uint64_t bp = c->in_backlog > c->out_backlog ? c->in_backlog : c->out_backlog;

	b->in += c->in_backlog;
	b->in_bytes += c->in_backlog_bytes;
	b->out += c->out_backlog;
	b->out_bytes += c->out_backlog_bytes;
	if (bp > b->max)
		b->max = bp;
	return 0;
}

static void stats__metrics(struct stats *st, struct out *o)
{
	struct sluice_server *srv = st->srv;
	struct sluice_totals t;
	struct backlog_sum b = {0};

	sluice_server_totals(srv, &t);
	io_server_each_conn(srv->ios, stats__sum_conn, &b);
	out_printf(o, "# HELP sluice_build_info sluice's version.\n# TYPE sluice_build_info gauge\n"
		      "sluice_build_info{version=\"%s\"} 1\n",
		   SLUICE_VERSION);
	metric(o, "sluice_uptime_seconds", "gauge", "Seconds since the server was created.",
	       t.uptime_ms / 1000);
	metric(o, "sluice_connections", "gauge", "Connections open.", t.connections);
	metric(o, "sluice_channels", "gauge", "Channels with at least one subscriber.", t.channels);
	metric(o, "sluice_received_messages_total", "counter", "WebSocket messages received.",
	       t.msgs_in);
	metric(o, "sluice_received_bytes_total", "counter", "Payload bytes of messages received.",
	       t.bytes_in);
	metric(o, "sluice_sent_messages_total", "counter", "Frames the kernel took.", t.msgs_out);
	metric(o, "sluice_sent_bytes_total", "counter", "Bytes the kernel took.", t.bytes_out);
	metric(o, "sluice_publishes_total", "counter", "Publishes (client and server).",
	       t.publishes);
	metric(o, "sluice_dropped_messages_total", "counter",
	       "Outbound frames dropped before sending, for any reason.", t.msgs_dropped);
	metric(o, "sluice_inbound_pauses_total", "counter",
	       "Times a socket's reading stopped because its worker was behind.", t.inbound_pauses);
	out_printf(o, "# HELP sluice_limit_hits_total Times a limit acted, by limit and action.\n"
		      "# TYPE sluice_limit_hits_total counter\n");
	const struct info_kv hits[] = {
		{"slow_consumer_disconnect", t.slow_consumer_disconnects},
		{"slow_consumer_drop", t.slow_consumer_drops},
		{"backpressure_disconnect", t.backpressure_disconnects},
		{"rate_limit_disconnect", t.rate_limit_disconnects},
		{"channel_backlog_kill", t.channel_backlog_kills},
	};
	for (size_t i = 0; i < sizeof(hits) / sizeof(hits[0]); i++)
		out_printf(o, "sluice_limit_hits_total{limit=\"%s\"} %llu\n", hits[i].key,
			   (unsigned long long)hits[i].v);
	metric(o, "sluice_inbound_backlog_messages", "gauge",
	       "Messages received and not yet taken by a worker, all sockets.", b.in);
	metric(o, "sluice_inbound_backlog_bytes", "gauge", "Bytes of those.", b.in_bytes);
	metric(o, "sluice_outbound_backlog_messages", "gauge",
	       "Frames queued and not yet taken by the kernel, all sockets.", b.out);
	metric(o, "sluice_outbound_backlog_bytes", "gauge", "Bytes of those.", b.out_bytes);
	metric(o, "sluice_socket_backpressure_max_messages", "gauge",
	       "The largest backpressure of any socket.", b.max);
	out_printf(o, "# HELP sluice_reactor_loops_total Event loop turns per reactor thread.\n"
		      "# TYPE sluice_reactor_loops_total counter\n");
	for (int i = 0;; i++) {
		struct io_reactor_stats r;
		if (io_server_reactor_stats(srv->ios, i, &r) < 0)
			break;
		out_printf(o, "sluice_reactor_loops_total{reactor=\"%d\"} %llu\n", i,
			   (unsigned long long)r.loops);
	}
	out_printf(o, "# HELP sluice_worker_messages_total Messages each worker handled.\n"
		      "# TYPE sluice_worker_messages_total counter\n");
	for (int i = 0; i < srv->nworkers; i++)
		out_printf(o, "sluice_worker_messages_total{worker=\"%d\"} %llu\n", i,
			   (unsigned long long)LOAD(srv->bw[i]->msgs));
}

/* ---- the thread ------------------------------------------------------------ */

static void stats__write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
		if (k <= 0)
			return; /* gone, or its 1 s timeout: it gets what it got */
		p += k;
		n -= (size_t)k;
	}
}

/* Reads up to the end of the first line (or of the HTTP head). -1: nothing usable. */
static int stats__read(int fd, char *buf, size_t cap, const char *end)
{
	size_t len = 0;

	while (len + 1 < cap) {
		ssize_t k = recv(fd, buf + len, cap - 1 - len, 0);
		if (k <= 0)
			break;
		len += (size_t)k;
		buf[len] = '\0';
		if (strstr(buf, end))
			return (int)len;
	}
	buf[len] = '\0';
	return len ? (int)len : -1;
}

static void stats__serve(struct stats *st, int lfd, bool http)
{
	struct timeval tv = {.tv_sec = 1};
	char buf[CMD_MAX + 1];
	struct out o = {0};
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0)
		return;
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (stats__read(fd, buf, sizeof(buf), http ? "\r\n\r\n" : "\n") < 0) {
		close(fd);
		return;
	}
	if (!http) {
		char *nl = strchr(buf, '\n');
		if (nl)
			*nl = '\0';
		stats__command(st, buf, &o);
		if (o.oom)
			stats__write_all(fd, "error: out of memory\n", 21);
		else
			stats__write_all(fd, o.p, o.len);
	} else {
		bool found = strncmp(buf, "GET /metrics ", 13) == 0 ||
			     strncmp(buf, "GET /metrics?", 13) == 0;
		char head[256];
		if (found)
			stats__metrics(st, &o);
		int hl = snprintf(head, sizeof(head),
				  "HTTP/1.1 %s\r\nContent-Type: text/plain; version=0.0.4; "
				  "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n",
				  o.oom ? "500 Internal Server Error"
				  : found ? "200 OK"
					  : "404 Not Found",
				  found && !o.oom ? o.len : 0);
		stats__write_all(fd, head, (size_t)hl);
		if (found && !o.oom)
			stats__write_all(fd, o.p, o.len);
	}
	free(o.p);
	close(fd);
}

static void *stats__run(void *arg)
{
	struct stats *st = arg;
	struct pollfd pfd[3] = {
		{.fd = st->wake_fd, .events = POLLIN},
		{.fd = st->unix_fd, .events = POLLIN},
		{.fd = st->http_fd, .events = POLLIN},
	};

	for (;;) {
		if (poll(pfd, 3, 1000) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents)
			break;
		if (pfd[1].revents & POLLIN)
			stats__serve(st, st->unix_fd, false);
		if (pfd[2].revents & POLLIN)
			stats__serve(st, st->http_fd, true);
		epoch_poll(st->rec); /* never retires; keeps its record current */
	}
	return NULL;
}

static int stats__unix(struct stats *st, const char *path, uint32_t mode)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct stat sb;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path) + 1);
	/* a socket left by a server that died is replaced; any other file is not */
	if (lstat(path, &sb) == 0) {
		if (!S_ISSOCK(sb.st_mode))
			return -EEXIST;
		unlink(path);
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* no moment with looser permissions than asked: umask while binding */
	mode_t old = umask((mode_t)(~mode & 0777));
	int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
	umask(old);
	if (rc < 0 || chmod(path, mode) < 0 || listen(fd, 64) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	snprintf(st->path, sizeof(st->path), "%s", path);
	st->unix_fd = fd;
	return 0;
}

static int stats__http(struct stats *st, const char *listen_at)
{
	struct sockaddr_in sa = {.sin_family = AF_INET};
	socklen_t len = sizeof(sa);
	char host[64];
	const char *colon = strrchr(listen_at, ':');
	char *end;
	long port;
	int fd, one = 1;

	if (!colon || (size_t)(colon - listen_at) >= sizeof(host))
		return -EINVAL;
	memcpy(host, listen_at, (size_t)(colon - listen_at));
	host[colon - listen_at] = '\0';
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 0 || port > 65535 || colon[1] == '\0' ||
	    inet_pton(AF_INET, host[0] ? host : "0.0.0.0", &sa.sin_addr) != 1)
		return -EINVAL;
	sa.sin_port = htons((uint16_t)port);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 64) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0) {
		int rc = -errno;
		close(fd);
		return rc;
	}
	st->http_fd = fd;
	st->metrics_port = ntohs(sa.sin_port);
	return 0;
}

static void stats__free(struct stats *st)
{
	if (st->unix_fd >= 0) {
		close(st->unix_fd);
		unlink(st->path);
	}
	if (st->http_fd >= 0)
		close(st->http_fd);
	if (st->wake_fd >= 0)
		close(st->wake_fd);
	if (st->rec)
		epoch_leave(st->rec);
	free(st);
}

int stats__start(struct sluice_server *srv)
{
	const struct sluice_options *o = &srv->o;
	struct stats *st;
	int rc = 0;

	if (!o->stats_socket[0] && !o->metrics_listen[0])
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return -ENOMEM;
	st->srv = srv;
	st->unix_fd = st->http_fd = -1;
	st->wake_fd = eventfd(0, EFD_CLOEXEC);
	st->rec = epoch_join(&srv->epoch);
	if (st->wake_fd < 0 || !st->rec)
		rc = -ENOMEM;
	if (rc == 0 && o->stats_socket[0])
		rc = stats__unix(st, o->stats_socket, o->stats_mode);
	if (rc == 0 && o->metrics_listen[0])
		rc = stats__http(st, o->metrics_listen);
	if (rc == 0)
		rc = -pthread_create(&st->thread, NULL, stats__run, st);
	if (rc < 0) {
		stats__free(st);
		return rc;
	}
	srv->stats = st;
	return 0;
}

void stats__stop(struct sluice_server *srv)
{
	struct stats *st = srv->stats;
	uint64_t one = 1;

	if (!st)
		return;
	(void)!write(st->wake_fd, &one, sizeof(one));
	pthread_join(st->thread, NULL);
	stats__free(st);
	srv->stats = NULL;
}

uint16_t sluice_server_metrics_port(const struct sluice_server *srv)
{
	return srv->stats ? srv->stats->metrics_port : 0;
}
