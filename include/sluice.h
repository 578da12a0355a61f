/*
 * sluice.h: the public API of sluice, for programs that embed the broker.
 *
 * A program creates a server from options, registers its procedures,
 * receivers and listeners, starts it, and stops it. Clients connect with the
 * SocketCluster client (npm `socketcluster-client`) and publish, subscribe,
 * invoke procedures and transmit events; sluice runs the protocol, pub/sub
 * and keep-alive itself and hands the application only its own events.
 *
 *   struct sluice_options o;
 *   sluice_options_defaults(&o);
 *   o.port = 8000;
 *   struct sluice_server *srv;
 *   sluice_server_create(&o, &srv);
 *   sluice_procedure(srv, "echo", echo, NULL);     // before start
 *   sluice_server_start(srv);
 *   ...                                            // until the program quits
 *   sluice_server_stop(srv);                       // closes every socket, 1001
 *   sluice_server_destroy(srv);
 *
 *   static void echo(struct sluice_request *req, void *ctx)
 *   {
 *           size_t n;
 *           const char *data = sluice_request_data(req, &n);
 *           sluice_request_end(req, data, n);         // answer once
 *   }
 *
 * Threads. Handlers and listeners run on the worker threads. A socket is
 * bound to one worker for its whole life, so its packets are handled one at
 * a time, in the order they arrived; different sockets run in parallel.
 * Each function says which threads may call it:
 *   [any]     any thread;
 *   [worker]  the worker thread of the socket in question (that is, inside a
 *             handler or listener called for that socket);
 *   [setup]   before sluice_server_start, from the thread that created it.
 *
 * Data. Event data is JSON text, passed as (pointer, length) and never
 * parsed by sluice beyond checking the envelope: what a client sends is
 * what handlers read, byte for byte, and what a handler passes is sent as
 * is, so it must be valid JSON (NULL for "no data"). Strings handed to
 * sluice are copied before the call returns.
 *
 * Returns: 0 or a negative errno, as the declarations say.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define SLUICE_VERSION_MAJOR 0
#define SLUICE_VERSION_MINOR 2
#define SLUICE_VERSION_PATCH 0
#define SLUICE_VERSION       "0.2.0"

/* Close codes sluice itself sends (PROTOCOL.md has the client's view). */
#define SLUICE_CLOSE_GOING_AWAY       1001 /* server stopping */
#define SLUICE_CLOSE_TOO_BIG          1009 /* message over max_payload */
#define SLUICE_CLOSE_PONG_TIMEOUT     4001 /* nothing received within ping_timeout_ms */
#define SLUICE_CLOSE_AUTH_SIGN        4002 /* the server failed to sign an auth token */
#define SLUICE_CLOSE_NO_HANDSHAKE     4005 /* no #handshake within handshake_timeout_ms */
#define SLUICE_CLOSE_BAD_HANDSHAKE    4008 /* #handshake or #authenticate without a cid */
#define SLUICE_CLOSE_BEFORE_HANDSHAKE 4009 /* another message before #handshake */
#define SLUICE_CLOSE_SLOW_CONSUMER    4100 /* outbound limit or send timeout exceeded */
#define SLUICE_CLOSE_BACKPRESSURE     4101 /* backpressure_limit exceeded (any one stream) */
#define SLUICE_CLOSE_RATE_LIMIT       4102 /* more messages than inbound_rate allows */

/* The error name of an invoke no procedure is registered for. */
#define SLUICE_UNKNOWN_PROCEDURE "UnknownProcedureError"
/* The error name when an access rule (subscribe_auth_channels,
 * publish_auth_channels) needs an authenticated socket. */
#define SLUICE_AUTH_REQUIRED "AuthRequiredError"

/* What a socket's outbound limits (outbound_ring, outbound_limit) do. */
enum sluice_slow_policy {
	SLUICE_SLOW_DISCONNECT = 0, /* close it, 4100 (default; NATS's slow-consumer rule) */
	SLUICE_SLOW_DROP_OLDEST,    /* drop its oldest queued messages and count them */
};

enum sluice_uring_mode {
	SLUICE_URING_DEFER = 0, /* SINGLE_ISSUER | DEFER_TASKRUN */
	SLUICE_URING_COOP,      /* SINGLE_ISSUER | COOP_TASKRUN */
	SLUICE_URING_PLAIN,     /* no set-up flags */
};

/*
 * Server options. sluice_options_defaults fills in the defaults that
 * `sluiced --help` prints; sluice_options_set sets one by its command-line
 * name, sluice_options_load reads a config file of them.
 */
struct sluice_options {
	/* listening */
	char host[64];                 /* IPv4 address, "0.0.0.0" */
	uint16_t port;                 /* 8000; 0 lets the kernel pick one */
	char path[256];                /* WebSocket path, "/socketcluster/" */
	char origins[1024];            /* allowed Origins, "*:*" */
	/* threads */
	int reactors;                  /* I/O threads, one io_uring each (CPUs) */
	int workers;                   /* protocol and handler threads (CPUs) */
	/* the SocketCluster protocol */
	int protocol_version;          /* 2 ("" pings); 1 ("#1"/"#2") */
	uint32_t ping_interval_ms;     /* 8000 */
	uint32_t ping_timeout_ms;      /* 30000: sent in the handshake, and enforced */
	bool ping_timeout_disabled;    /* false: no pings, no pong deadline */
	uint32_t handshake_timeout_ms; /* 10000: HTTP request, then #handshake */
	uint32_t ack_timeout_ms;       /* 10000: server invokes fail with TimeoutError */
	bool allow_client_publish;     /* true */
	uint32_t socket_channel_limit; /* subscriptions per socket; 0 unlimited */
	bool echo;                     /* transport test mode: every message echoed */
	/* limits and buffers */
	uint32_t max_conns;            /* per reactor, 10000 */
	uint64_t max_payload;          /* bytes, 1049600; larger closes 1009 */
	uint32_t max_header;           /* bytes of HTTP request head, 8192 */
	uint64_t outbound_limit;       /* bytes queued for one socket, 8 MiB */
	uint32_t send_timeout_ms;      /* 10000 */
	uint32_t inbound_ring;         /* messages queued per socket for its worker, 256 */
	uint64_t inbound_limit;        /* bytes of those, 4 MiB */
	uint32_t outbound_ring;        /* frames queued per socket for sending, 1024 */
	uint32_t recv_buffers;         /* 16 KiB receive buffers per reactor, 1024 */
	int uring_mode;                /* enum sluice_uring_mode */
	uint32_t busy_poll_us;         /* a reactor looks for work this long before it sleeps, 50 */
	/* flow control (README: "Limits"); 0 turns a limit off */
	int slow_policy;               /* enum sluice_slow_policy, disconnect */
	uint64_t backpressure_limit;   /* messages in any one stream of a socket: 4101; 0 */
	uint32_t inbound_rate;         /* messages a second from one socket: 4102; 0 */
	uint32_t inbound_burst;        /* ... and in a burst above that rate, 1000 */
	uint64_t channel_backlog_limit; /* copies of one channel queued: killed; 0 (off) */
	/* operations */
	char stats_socket[108];        /* Unix socket of the stats commands; "" none */
	uint32_t stats_mode;           /* its permissions, 0600 */
	char metrics_listen[64];       /* "ADDR:PORT" serving GET /metrics; "" none */
	/* authentication (JWT) */
	char auth_algorithm[8];        /* "HS256" (default), "RS256" or "ES256" */
	char auth_key[512];            /* HS256 secret; empty: a random one per start */
	char auth_key_file[256];       /* or the HS256 secret read from this file */
	char auth_private_key[256];    /* RS256/ES256: PEM file to sign with (optional) */
	char auth_public_key[256];     /* RS256/ES256: PEM file to verify with */
	uint32_t auth_default_expiry_s; /* 86400: exp of tokens the server signs */
	/* access rules (no C needed): space-separated channel patterns, '*'
	 * matching any run of characters; a socket must be authenticated to
	 * subscribe to (publish on) a matching channel */
	char subscribe_auth_channels[1024];
	char publish_auth_channels[1024];
};

/* [any] The defaults. */
void sluice_options_defaults(struct sluice_options *o);

/*
 * [any] Sets the option `name` (its command-line name without "--", such as
 * "ping-interval") from text. Booleans take true/false/yes/no/on/off/1/0.
 * Returns 0; -ENOENT for an unknown name; -EINVAL for a bad value, with a
 * message in err (nothing changed either way).
 */
int sluice_options_set(struct sluice_options *o, const char *name, const char *value, char *err,
		       size_t errlen);

/*
 * [any] Reads a config file: one `name = value` per line (names as on the
 * command line, without "--"), `#` starts a comment, blank lines are
 * skipped; a value may be quoted with "..." to keep spaces. Returns 0, or
 * -errno (file) or -EINVAL (a line; err says which and why).
 */
int sluice_options_load(struct sluice_options *o, const char *path, char *err, size_t errlen);

/*
 * [any] Applies a command line: `--name value` or `--name=value` for every
 * option, a boolean also as a bare `--name`, and `--config FILE` (applied
 * where it appears, so later options override the file). Stops at the first
 * argument it does not know and returns its index in *stop (argc when all
 * were used; --help and --version are left to the caller this way).
 * Returns 0 or -EINVAL with err filled.
 */
int sluice_options_parse(struct sluice_options *o, int argc, char **argv, int *stop, char *err,
			 size_t errlen);

/* [any] Describes every option and its default, as `sluiced --help` does. */
void sluice_options_usage(FILE *out);

struct sluice_server;
struct sluice_socket;
struct sluice_request;

/* Handlers. ctx is the pointer given at registration. */
typedef void sluice_procedure_fn(struct sluice_request *req, void *ctx);
typedef void sluice_receiver_fn(struct sluice_socket *s, const char *data, size_t len,
				void *ctx);
typedef void sluice_socket_fn(struct sluice_socket *s, void *ctx);
typedef void sluice_close_fn(struct sluice_socket *s, int code, void *ctx);
typedef void sluice_channel_fn(struct sluice_socket *s, const char *channel, void *ctx);
/* The answer to a server invoke: error is NULL on success (data, len the
 * client's data, NULL when it sent none); else error is the error JSON
 * (the client's, or {"name":"TimeoutError",...} after ack_timeout_ms, or
 * {"name":"BadConnectionError",...} when the socket closed first). */
typedef void sluice_reply_fn(struct sluice_socket *s, const char *error, size_t elen,
			     const char *data, size_t len, void *ctx);

/*
 * [any] Creates a server: binds the listeners (a port 0 is resolved when
 * this returns) but runs nothing yet. Returns 0, -EINVAL (options), or the
 * -errno of a failed bind or allocation, with nothing left behind.
 */
int sluice_server_create(const struct sluice_options *o, struct sluice_server **out);

/* [any] The port the server listens on. */
uint16_t sluice_server_port(const struct sluice_server *srv);

/*
 * [setup] Registers the procedure (an event clients invoke) or receiver (an
 * event clients transmit) of this name; one handler per name. Returns 0,
 * -EEXIST, -EINVAL (a name starting with '#' is the protocol's) or -ENOMEM.
 */
int sluice_procedure(struct sluice_server *srv, const char *event, sluice_procedure_fn *fn,
		     void *ctx);
int sluice_receiver(struct sluice_server *srv, const char *event, sluice_receiver_fn *fn,
		    void *ctx);

/* [setup] Listeners, called on the socket's worker: connection (after the
 * handshake was answered), disconnection (with the close code, once per
 * connection), subscription and unsubscription (kick-outs and the drop at
 * disconnection included). NULL removes one. */
void sluice_on_connection(struct sluice_server *srv, sluice_socket_fn *fn, void *ctx);
void sluice_on_disconnection(struct sluice_server *srv, sluice_close_fn *fn, void *ctx);
void sluice_on_subscription(struct sluice_server *srv, sluice_channel_fn *fn, void *ctx);
void sluice_on_unsubscription(struct sluice_server *srv, sluice_channel_fn *fn, void *ctx);

/* [setup] Starts the reactor and worker threads. 0 or -errno. */
int sluice_server_start(struct sluice_server *srv);

/*
 * [any but a worker] Stops accepting, closes every socket with 1001, waits
 * for the disconnection listeners and the threads to finish.
 */
void sluice_server_stop(struct sluice_server *srv);

/* [any] Frees a stopped (or never started) server. NULL: no-op. */
void sluice_server_destroy(struct sluice_server *srv);

/*
 * [any] Publishes data (JSON, NULL for none) on channel to every subscriber.
 * The frame is built once and shared. Returns the number of subscribers it
 * was queued for, or -ENOMEM.
 */
int sluice_publish(struct sluice_server *srv, const char *channel, const char *data, size_t len);

/* [any] The request's socket, its event name (NUL-terminated), its data
 * (NULL with *len 0 when the client sent none). Valid until answered. */
struct sluice_socket *sluice_request_socket(const struct sluice_request *req);
const char *sluice_request_event(const struct sluice_request *req);
const char *sluice_request_data(const struct sluice_request *req, size_t *len);

/*
 * [any] Answers the request, once: with data (JSON, NULL for none), or with
 * an error {"name":name,"message":message,<extra>} where extra is more JSON
 * members without braces ("\"code\":1234") or NULL, or with an error given
 * whole as JSON (an object or a string). The request is freed by the call;
 * answering from another thread, later, is fine. Returns 0, or -EPIPE when
 * the socket closed meanwhile (the answer is dropped, the request freed
 * all the same).
 */
int sluice_request_end(struct sluice_request *req, const char *data, size_t len);
int sluice_request_error(struct sluice_request *req, const char *name, const char *message,
			 const char *extra);
int sluice_request_error_json(struct sluice_request *req, const char *error, size_t len);

/* [any] The socket's id, as the client received it in the handshake. */
const char *sluice_socket_id(const struct sluice_socket *s);

/* [any] The socket's server. */
struct sluice_server *sluice_socket_server(const struct sluice_socket *s);

/* [worker] The application's pointer for this socket (NULL at first). Free
 * what it points to in the disconnection listener. */
void *sluice_socket_user(const struct sluice_socket *s);
void sluice_socket_set_user(struct sluice_socket *s, void *user);

/*
 * [worker] Keeps the socket for use from another thread (transmit,
 * disconnect) after the handler returns; [any] gives it back. A kept
 * socket that has closed only drops what is sent to it.
 */
void sluice_socket_keep(struct sluice_socket *s);
void sluice_socket_unkeep(struct sluice_socket *s);

/*
 * [any, on a socket handed to this thread by a handler or kept] Sends
 * {"event":event,"data":data}. Returns 0, -EPIPE (closed) or -ENOBUFS (the
 * socket's outbound limit: it is being disconnected as a slow consumer).
 */
int sluice_socket_transmit(struct sluice_socket *s, const char *event, const char *data,
			   size_t len);

/*
 * [worker] Invokes the client's procedure `event`; fn(ctx) is called once on
 * this worker with the answer, a TimeoutError after ack_timeout_ms, or a
 * BadConnectionError when the socket closes first. Returns 0 (fn will be
 * called) or -EPIPE/-ENOBUFS/-ENOMEM (it will not).
 */
int sluice_socket_invoke(struct sluice_socket *s, const char *event, const char *data, size_t len,
			 sluice_reply_fn *fn, void *ctx);

/*
 * [worker] Frames sent to this socket from its worker between start and
 * flush (transmits, invokes, replies) leave as one WebSocket frame holding
 * a JSON array, which the client unpacks in order. flush returns 0 or the
 * send's error.
 */
void sluice_socket_start_batch(struct sluice_socket *s);
int sluice_socket_flush_batch(struct sluice_socket *s);

/*
 * [worker] Sends {"event":"#kickOut","data":{"channel":...,"message":...}}
 * and drops the subscription. Returns 0 or -ENOENT (not subscribed).
 */
int sluice_socket_kick_out(struct sluice_socket *s, const char *channel, const char *message);

/* [any, as transmit] Closes the socket with code and reason (NULL: none). */
void sluice_socket_disconnect(struct sluice_socket *s, int code, const char *reason);

/* ---- backpressure (the seed's streams, read without a lock) ----
 *
 * Every queue in sluice has a producer cursor and a consumer cursor, each
 * written by one thread; backpressure = produced - consumed, read with
 * relaxed loads from any thread, never slowing the data path. Figures are
 * messages unless the name says bytes.
 *
 * Procedures and receivers run on the socket's worker as its messages come,
 * in order: what waits for them waits in the socket's inbound queue, and a
 * procedure's own backlog is the requests it took and has not answered yet
 * (an answer may come later, from any thread). Listeners run the same way,
 * so their backpressure is the inbound backpressure: sluice has no separate
 * listener queue to kill or close.
 */
struct sluice_socket_stats {
	uint64_t inbound;          /* messages received, not yet taken by the worker */
	uint64_t inbound_bytes;
	uint64_t outbound;         /* messages queued, not yet taken by the kernel */
	uint64_t outbound_bytes;   /* ... counting what sits in the write path */
	uint64_t procedures;       /* requests handed to procedures, not yet answered */
	uint64_t msgs_in, bytes_in;   /* received since the socket opened */
	uint64_t msgs_out, bytes_out; /* written since the socket opened */
	uint64_t dropped;          /* outbound messages dropped (drop-oldest, kills) */
	uint32_t subscriptions;
};

/* [worker or kept] A snapshot of the socket's streams. */
void sluice_socket_stats(const struct sluice_socket *s, struct sluice_socket_stats *out);
/* [worker or kept] The largest of inbound, outbound and procedures: the
 * figure --backpressure-limit holds (socket.getBackpressure()). */
uint64_t sluice_socket_backpressure(const struct sluice_socket *s);
uint64_t sluice_socket_inbound_backpressure(const struct sluice_socket *s);
uint64_t sluice_socket_outbound_backpressure(const struct sluice_socket *s);
uint64_t sluice_socket_procedures_backpressure(const struct sluice_socket *s);

/* [any] Kill: drops the socket's queued outbound messages now (counted as
 * dropped); those already being written go on. Close is
 * sluice_socket_disconnect, which lets them drain first. */
void sluice_socket_kill_outbound(struct sluice_socket *s);
/* [any] Kills the outbound queue, then disconnects with code. */
void sluice_socket_kill(struct sluice_socket *s, int code, const char *reason);

/* [worker or kept] Requests of this socket the procedure took and has not
 * answered (its first 8 procedures are tracked by name; the total above
 * counts all). -ENOENT: no such procedure. */
int64_t sluice_socket_procedure_backpressure(const struct sluice_socket *s, const char *event);

/* [any] Across every socket: requests the procedure took and has not
 * answered; a receiver's calls in progress. -ENOENT: no such handler. */
int64_t sluice_procedure_backpressure(struct sluice_server *srv, const char *event);
int64_t sluice_receiver_backpressure(struct sluice_server *srv, const char *event);

/* A channel's output stream: every publish is one copy per subscriber. */
struct sluice_channel_stats {
	uint64_t subscribers;
	uint64_t published;  /* publishes */
	uint64_t fanout;     /* copies meant for subscribers = delivered + dropped + backlog */
	uint64_t delivered;  /* copies the kernel took */
	uint64_t dropped;    /* copies dropped (kill, drop-oldest, refused, connection gone) */
	uint64_t backlog;    /* copies still queued: the channel's backpressure */
	uint64_t slowest;    /* the slowest subscriber's outbound backlog (all its messages) */
};

/* [any] 0, or -ENOENT when nobody is subscribed to the channel (a channel
 * exists while it has subscribers; its figures start again after). */
int sluice_channel_stats(struct sluice_server *srv, const char *channel,
			 struct sluice_channel_stats *out);
/* [any] The channel's backlog (its output backpressure), or -ENOENT. */
int64_t sluice_channel_backpressure(struct sluice_server *srv, const char *channel);
/* [any] Kills the channel's backlog: every subscriber's queued copies are
 * dropped within a reactor turn (counted); subscribers stay subscribed.
 * Returns the backlog it dropped, or -ENOENT. */
int64_t sluice_channel_kill(struct sluice_server *srv, const char *channel);
/* [any] Closes the channel: every subscriber gets what is queued for it,
 * then #kickOut (message "The channel was closed") and is unsubscribed, on
 * its own worker; the channel goes with its last subscriber. Returns how
 * many subscribers were told, or -ENOENT. */
int64_t sluice_channel_close(struct sluice_server *srv, const char *channel);

/* [any] Server-wide totals, as `show info` prints them. */
struct sluice_totals {
	uint64_t uptime_ms, connections, channels;
	uint64_t msgs_in, bytes_in, msgs_out, bytes_out, publishes, msgs_dropped;
	uint64_t slow_consumer_disconnects; /* 4100 */
	uint64_t slow_consumer_drops;       /* messages drop-oldest dropped */
	uint64_t backpressure_disconnects;  /* 4101 */
	uint64_t rate_limit_disconnects;    /* 4102 */
	uint64_t channel_backlog_kills;     /* channel_backlog_limit fired */
	uint64_t inbound_pauses;            /* a socket's reading stopped: its worker was behind */
};
void sluice_server_totals(struct sluice_server *srv, struct sluice_totals *out);
/* [any] The port serving /metrics (--metrics-listen), or 0. */
uint16_t sluice_server_metrics_port(const struct sluice_server *srv);

/* ---- authentication ---- */

/*
 * [worker] Signs a token with the server's key for this payload (a JSON
 * object; "iat" is added unless it has one, and "exp" = iat +
 * auth_default_expiry_s unless it has its own, as jsonwebtoken does), sends
 * it to the client (#setAuthToken) and marks the socket authenticated with
 * it. With fn, the client's confirmation is
 * awaited as for sluice_socket_invoke; without, it is a transmit. Returns
 * 0, -EINVAL (payload not an object), -EPIPE, or -EKEYREJECTED when signing
 * failed (the socket is then closed with 4002, as socketcluster does).
 */
int sluice_socket_set_auth_token(struct sluice_socket *s, const char *payload, size_t len,
				 sluice_reply_fn *fn, void *ctx);

/* [worker] Drops the socket's token and tells the client (#removeAuthToken). */
void sluice_socket_deauthenticate(struct sluice_socket *s);

/* [worker] The payload of the socket's token (JSON, *len set), or NULL when
 * it is not authenticated. Valid until the token changes. */
const char *sluice_socket_auth_token(const struct sluice_socket *s, size_t *len);

/* ---- middleware ---- */

/*
 * Middleware sees what clients do before sluice acts on it, and decides:
 * allow, block with an error, block silently (the client gets
 * SilentMiddlewareBlockedError with the action's "type"), or allow with
 * other data (transform). One hook per kind; a kind without a hook costs
 * nothing. Kinds and what the hook sees (sluice_action_*):
 *
 *   SLUICE_MW_HANDSHAKE     #handshake: data = its data; block answers the
 *                           error and closes with close_code (4008 if 0)
 *   SLUICE_MW_RAW           every inbound message before parsing: data = its
 *                           bytes; block drops it; transform replaces it
 *   SLUICE_MW_TRANSMIT      event, data (block: nothing is answered)
 *   SLUICE_MW_INVOKE        event, data (block: the error is the answer)
 *   SLUICE_MW_SUBSCRIBE     channel, data = the subscribe's data
 *   SLUICE_MW_PUBLISH_IN    channel, data (block: error if the client asked
 *                           for an answer)
 *   SLUICE_MW_AUTHENTICATE  data = the payload of a token that verified
 *                           (#authenticate, and a token in #handshake)
 *   SLUICE_MW_PUBLISH_OUT   once per recipient of a publish: socket = the
 *                           recipient, channel, data; block skips it,
 *                           transform sends it other bytes
 *
 * The hook runs on the socket's worker. It may decide before it returns or
 * later, from any thread, exactly once; until it has, that socket's later
 * packets wait (they are still handled strictly in order) while every other
 * socket goes on. SLUICE_MW_PUBLISH_OUT alone must decide before its hook
 * returns (it runs on the publisher's worker, once per recipient).
 */
enum sluice_mw {
	SLUICE_MW_HANDSHAKE = 1u << 0,
	SLUICE_MW_RAW = 1u << 1,
	SLUICE_MW_TRANSMIT = 1u << 2,
	SLUICE_MW_INVOKE = 1u << 3,
	SLUICE_MW_SUBSCRIBE = 1u << 4,
	SLUICE_MW_PUBLISH_IN = 1u << 5,
	SLUICE_MW_AUTHENTICATE = 1u << 6,
	SLUICE_MW_PUBLISH_OUT = 1u << 7,
};

struct sluice_action;
typedef void sluice_middleware_fn(struct sluice_action *a, void *ctx);

/* [setup] Sets fn as the hook of every kind in the mask (enum sluice_mw
 * bits). Returns 0 or -EINVAL. */
int sluice_middleware(struct sluice_server *srv, unsigned kinds, sluice_middleware_fn *fn,
		      void *ctx);

/* [any, until decided] What the action is about. event and channel are NULL
 * when the kind has none; data is NULL (len 0) when there is none. */
enum sluice_mw sluice_action_kind(const struct sluice_action *a);
struct sluice_socket *sluice_action_socket(const struct sluice_action *a);
const char *sluice_action_event(const struct sluice_action *a);
const char *sluice_action_channel(const struct sluice_action *a);
const char *sluice_action_data(const struct sluice_action *a, size_t *len);

/* [any] The decision, exactly once. block: the error {"name":name,
 * "message":message}; close_code is used by SLUICE_MW_HANDSHAKE only. */
void sluice_action_allow(struct sluice_action *a);
void sluice_action_block(struct sluice_action *a, const char *name, const char *message,
			 int close_code);
void sluice_action_block_silently(struct sluice_action *a);
void sluice_action_transform(struct sluice_action *a, const char *data, size_t len);

/*
 * The WebSocket stage of the handshake: fn sees each upgrade request (path,
 * query, headers) that passed the path and Origin checks, on a reactor
 * thread, and returns 0 to accept it or an HTTP status (400-599) to refuse
 * it. It must not block. [setup]
 */
struct sluice_http;
typedef int sluice_upgrade_fn(const struct sluice_http *req, void *ctx);
void sluice_on_upgrade(struct sluice_server *srv, sluice_upgrade_fn *fn, void *ctx);
/* [in the hook] The request's path, query (after '?', NULL when none) and a
 * header by name (case-insensitive; NULL when absent). Not NUL-terminated. */
const char *sluice_http_path(const struct sluice_http *req, size_t *len);
const char *sluice_http_query(const struct sluice_http *req, size_t *len);
const char *sluice_http_header(const struct sluice_http *req, const char *name, size_t *len);

/* [worker] The query string of the socket's upgrade request ("" if none). */
const char *sluice_socket_query(const struct sluice_socket *s);

/*
 * [any] Small JSON helpers for handlers, so that reading a field of the
 * data needs no JSON library. They read what the client sent in place and
 * allocate nothing.
 *
 * sluice_json_member: the value of member key of the object json[0, len)
 * (the last one when repeated), as exact bytes in *val, *vlen. Returns 0,
 * -ENOENT (not an object, or no such member) or -EINVAL (not valid JSON).
 * sluice_json_int: the integer json[0, len) (within int64, no fraction).
 * Returns 0 or -EINVAL.
 * sluice_json_string: the text of the JSON string json[0, len), unescaped
 * into out[0, cap) and NUL-terminated. Returns its length, or -EINVAL (not a
 * string) or -ENOSPC.
 */
int sluice_json_member(const char *json, size_t len, const char *key, const char **val,
		       size_t *vlen);
int sluice_json_int(const char *json, size_t len, int64_t *out);
long sluice_json_string(const char *json, size_t len, char *out, size_t cap);

#endif
