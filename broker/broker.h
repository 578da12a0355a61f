/*
 * broker: the private structures of the SocketCluster broker, shared by
 * server.c (lifecycle, registry, worker loop), socket.c (a socket's packets:
 * handshake, events, replies, pub/sub), request.c (procedure requests and
 * their answers), channel.c (the channel table) and frame.c (encoding).
 * Not part of any public API: include/sluice.h is.
 *
 * Lifetimes:
 *   - A socket (struct sluice_socket) is created by its worker at the
 *     connection's first message and holds the io_conn. References: one
 *     for the open connection, one per pending request or keep. The last
 *     unref (any thread) hands the socket to its worker, which retires it
 *     through the epoch domain: other workers may still be fanning a publish
 *     out to it, so the io_conn is released and the socket freed only after
 *     every reader section that could see it has ended.
 *   - Channels and subscriber arrays are replaced under the table's stripe
 *     locks and retired the same way; publishers read them without locks.
 *
 * Threads: fields marked [w] belong to the socket's worker; [a] atomics.
 */
#ifndef SLUICE_BROKER_H
#define SLUICE_BROKER_H

#include <pthread.h>
#include <stdatomic.h>

#include "epoch.h"
#include "io.h"
#include "mpsc.h"
#include "packet.h"
#include "sluice.h"
#include "worker.h"

struct bworker;
struct channel;
struct worker_ops;
struct token_keys;
struct channel_table;

/* A handler's cursors on one worker: items handed to it, and finished
 * (procedures: answered, from any thread). started: that worker only. */
struct hstat {
	_Atomic uint64_t started, done;
} __attribute__((aligned(64)));

/* One procedure's requests on one socket: started by its worker, answered
 * by any thread. A socket tracks its first SOCKET_PROCS procedures by name. */
#define SOCKET_PROCS 8
struct sproc {
	const struct handler *_Atomic h; /* set once by the worker; NULL: free */
	_Atomic uint64_t started, done;
};

/* The gauges a socket's worker keeps in its io_conn for other threads. */
enum { GAUGE_REQ_STARTED = 0, GAUGE_REQ_DONE = 1, GAUGE_SUBS = 2 };

/* A registered procedure or receiver. */
struct handler {
	struct handler *next;
	struct hstat *stats;            /* per worker (nworkers) */
	sluice_procedure_fn *proc;
	sluice_receiver_fn *recv;
	void *ctx;
	uint32_t hash;
	uint32_t len;
	char name[];
};

#define HANDLER_BUCKETS 256
#define MW_KINDS 8 /* bits of enum sluice_mw */

enum act_decision { ACT_PENDING = 0, ACT_ALLOW, ACT_BLOCK, ACT_SILENT, ACT_TRANSFORM };

/*
 * A middleware decision in the making. Inbound ones live in their socket
 * (one at a time: the socket waits while one is pending); publish-out ones
 * on the publisher's stack. The hook's return and the decision each add 1
 * to `arrivals`; the second to arrive acts (the worker at once, or the
 * decider by queueing the socket for its worker).
 */
struct sluice_action {
	struct sluice_socket *s;
	enum sluice_mw kind;
	_Atomic int arrivals;
	int decision;            /* enum act_decision */
	char *err;               /* ACT_BLOCK: the error JSON (malloc) */
	int close_code;
	char *tdata;             /* ACT_TRANSFORM: the new data (malloc) */
	size_t tlen;
	const char *event;       /* NUL-terminated, or NULL */
	const char *channel;     /* NUL-terminated, or NULL */
	const char *data;
	size_t dlen;
	/* what the worker resumes with */
	struct io_msg *m;        /* a reference, while pending */
	struct packet p;
	size_t pos;              /* in a batch: where the next packet starts */
	bool in_batch;
	bool sync_only;          /* publish-out: decided before the hook returned */
	bool raw;                /* SLUICE_MW_RAW: the whole message waits */
	int stage;               /* a packet with two decisions (#handshake): the next one */
	char *names;             /* event and channel text (malloc) */
	char *payload;           /* authenticate: the verified token's payload (malloc) */
	size_t plen;
	int64_t exp;
};

struct sluice_server {
	struct sluice_options o;
	struct io_config io;
	struct io_server *ios;
	struct workers *ws;
	struct bworker **bw;          /* per worker, set by each worker at begin */
	int nworkers;
	_Atomic int ready;            /* workers that finished begin */
	struct handler *handlers[HANDLER_BUCKETS]; /* read-only after start */
	sluice_socket_fn *on_connection;
	sluice_close_fn *on_disconnection;
	sluice_channel_fn *on_subscription, *on_unsubscription;
	sluice_middleware_fn *mw[MW_KINDS];
	void *mw_ctx[MW_KINDS];
	unsigned mw_mask;             /* kinds with a hook */
	sluice_upgrade_fn *on_upgrade;
	void *on_upgrade_ctx;
	void *on_connection_ctx, *on_disconnection_ctx;
	void *on_subscription_ctx, *on_unsubscription_ctx;
	struct epoch epoch;
	struct channel_table *channels;
	pthread_mutex_t foreign_lock;  /* threads that are not workers share one record */
	struct epoch_rec *foreign;
	char id_prefix[8];
	bool started;
	struct token_keys *keys;      /* auth: read-only after create */
	struct worker_ops wops;       /* the workers' ops (worker.h) */
	_Atomic uint64_t channel_kills; /* channel backlogs killed by channel_backlog_limit */
	_Atomic uint64_t foreign_publishes; /* sluice_publish off the workers (under foreign_lock) */
	struct stats *stats;          /* the stats thread, or NULL */
	uint64_t started_ms;
};

/* A server invoke waiting for the client's answer. */
struct pending {
	int64_t cid;
	uint64_t deadline_ms;
	sluice_reply_fn *fn;
	void *ctx;
	char event[48];
};

struct sluice_socket {
	epoch_entry_t entry;          /* retirement */
	struct sluice_server *srv;
	struct io_conn *c;
	struct bworker *w;
	_Atomic uint32_t refs;        /* [a] */
	_Atomic int closed;           /* [a] the connection is gone */
	bool handshaken;              /* [w] */
	bool connected_event;         /* [w] the connection listener ran */
	void *user;                   /* [w] */
	struct channel **subs;        /* [w] channels subscribed to */
	uint32_t nsubs, subs_cap;     /* [w] */
	struct pending *pend;         /* [w] server invokes in flight */
	uint32_t npend, pend_cap;     /* [w] */
	int64_t next_cid;             /* [w] */
	uint8_t *batch;               /* [w] packets gathered while batching, "[p,p" */
	size_t batch_len, batch_cap;  /* [w] */
	bool batching;                /* [w] */
	struct sluice_socket *dead_next; /* the worker's retire list */
	struct sluice_action act;     /* [w] the pending inbound decision */
	uint64_t req_started;         /* [w] requests handed to procedures */
	struct sproc procs[SOCKET_PROCS]; /* [w] claims, [a] counts: per procedure */
	bool held;                    /* [w] waiting for act: packets wait too */
	uint64_t auth_deadline_ms;    /* [w] when the token expires (monotonic), or 0 */
	struct io_msg *backlog;       /* [w] messages taken while held, in order */
	struct io_msg **backlog_tail;
	struct auth *_Atomic auth;    /* [w] writes; epoch readers (publish-out) */
	char id[24];
};

/* A socket's verified token: its payload, replaced whole, retired by epoch. */
struct auth {
	epoch_entry_t entry;
	int64_t exp;                  /* seconds; 0: none */
	size_t len;
	char payload[];               /* NUL-terminated JSON */
};

/* A worker's broker state. */
struct bworker {
	struct sluice_server *srv;
	int index;
	struct epoch_rec *rec;
	struct mpsc dead;             /* sockets whose last reference dropped elsewhere */
	struct io_inbox *in;
	uint64_t now_ms;
	uint64_t next_timer_ms;       /* earliest pending invoke deadline (or ~0) */
	struct sluice_socket **timed; /* sockets with pending invokes */
	uint32_t ntimed, timed_cap;
	struct mpsc resumed;          /* held sockets whose decision came from elsewhere */
	const struct worker_ops *ops; /* to drain a resumed socket's connection */
	/* cursors: this worker writes them, any thread reads (stats) */
	_Atomic uint64_t loops, msgs, publishes;
	struct mpsc closing;          /* struct close_task: channel closes for its sockets */
};

/* sluice_channel_close's word to one subscriber's worker: kick it out. */
struct close_task {
	struct sluice_socket *s;      /* a reference */
	char name[];
};

/* server.c */
struct bworker *server__this_worker(void); /* NULL off the worker threads */
const struct handler *server__handler(const struct sluice_server *srv, const uint8_t *name,
				      size_t len);
uint64_t server__now_ms(void);
/* A socket's id: the server's prefix and its connection's serial in base 36;
 * and back (0: not an id of this server). */
void server__socket_id(const struct sluice_server *srv, uint64_t serial, char *out, size_t cap);
uint64_t server__socket_serial(const struct sluice_server *srv, const char *id);

/* socket.c */
void socket__message(struct bworker *w, struct io_conn *c, struct io_msg *m);
void socket__closed(struct bworker *w, struct io_conn *c);
void socket__ref(struct sluice_socket *s);
void socket__unref(struct sluice_socket *s);
void socket__reap(struct bworker *w); /* retires what `dead` holds */
void socket__timers(struct bworker *w);
/* Sends one packet (whole JSON) to s: into its batch when batching on its
 * worker, else as a frame. 0, -EPIPE, -ENOBUFS, -ENOMEM. */
int socket__send(struct sluice_socket *s, const uint8_t *json, size_t len);
int socket__send_msg(struct sluice_socket *s, struct io_msg *m);
/* {"rid":rid,"error":<json>} */
void socket__error_json(struct sluice_socket *s, int64_t rid, const char *json, size_t len);

/* middleware.c */
/* Asks the hook of a->kind (a filled by the caller, a == &s->act); true when
 * decided now (act on a->decision), false when the socket now waits. */
bool mw__ask(struct sluice_socket *s, struct io_msg *m);
/* Moves s->act's decision and what it holds into *d (the caller then
 * acts and mw__clear()s d); s->act is left empty for the next ask. */
void mw__take(struct sluice_socket *s, struct sluice_action *d);
/* Frees what a decision holds, keeps the action reusable. */
void mw__clear(struct sluice_action *a);
/* The error JSON for a blocked action (a->err, or the silent one). */
const char *mw__error(const struct sluice_action *a, size_t *len);
void mw__resume_all(struct bworker *w);
static inline bool mw__hooked(const struct sluice_server *srv, enum sluice_mw kind)
{
	return srv->mw_mask & kind;
}

/* socket.c, for request.c: counts a request; over backpressure_limit closes 4101 */
struct sproc *socket__req_started(struct sluice_socket *s, const struct handler *h);

/* flow.c: the worker's side of sluice_channel_close */
void flow__closing(struct bworker *w);

/* stats.c: the stats thread (stats socket, /metrics); 0 or -errno */
int stats__start(struct sluice_server *srv);
void stats__stop(struct sluice_server *srv);

/* socket.c, for middleware.c, auth.c and server.c */
void socket__resume(struct sluice_socket *s);
bool socket__holding(struct io_conn *c);
void socket__handshaken(struct sluice_socket *s);
/* Puts s on its worker's timer list (invokes, token expiry) for deadline_ms. */
void socket__watch(struct sluice_socket *s, uint64_t deadline_ms);

/* auth.c: tokens on the socket's worker. d: the decision the packet waited
 * for (NULL the first time). */
int auth__init(struct sluice_server *srv, char *err, size_t errlen);
void auth__deinit(struct sluice_server *srv);
void auth__handshake(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
		     const struct sluice_action *d);
void auth__authenticate(struct sluice_socket *s, struct io_msg *m, const struct packet *p,
			const struct sluice_action *d);
void auth__drop(struct sluice_socket *s, bool tell); /* deauthenticate */
void auth__check_expiry(struct sluice_socket *s);
void auth__free(struct sluice_socket *s);

/* request.c */
void request__invoke(struct sluice_socket *s, struct io_msg *m, const struct handler *h,
		     const uint8_t *event, size_t elen, int64_t cid, const uint8_t *data,
		     size_t dlen);

#endif
