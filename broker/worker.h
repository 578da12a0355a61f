/*
 * worker: the worker threads. Each owns one io inbox: it takes the
 * connections with messages, drains each one's inbound ring in batches and
 * hands every message to its ops, in arrival order; a connection the reactor
 * closed goes to ops->closed once its ring is empty.
 *
 * Threads: workers_start/workers_stop from the main thread; every op runs on
 * the worker thread it was called for.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include "io.h"

struct worker_ops {
	/* On the new thread, before anything else: its local state (may be NULL). */
	void *(*begin)(void *ctx, int index);
	/* One message of c; owns m (send it, or free it). */
	void (*message)(void *local, struct io_conn *c, struct io_msg *m);
	/* c is closed and drained; the op calls io_conn_release(c), now or later,
	 * on this thread. NULL: released at once. */
	void (*closed)(void *local, struct io_conn *c);
	/* True while c's messages must wait (its socket waits for a decision):
	 * the worker takes none of them. NULL: never. */
	bool (*hold)(void *local, struct io_conn *c);
	/* Once per loop turn: timers, deferred work. Returns how long the worker
	 * may sleep (ms) when nothing arrives. NULL: 100. */
	int (*turn)(void *local);
	/* On the thread, after the last turn. */
	void (*end)(void *local);
	void *ctx;
};

struct workers;

/* Starts n workers on the inboxes of s. 0 or -errno (nothing left running). */
int workers_start(struct io_server *s, int n, const struct worker_ops *ops, struct workers **out);

/* Stops the workers once the server is stopped, and frees them. NULL: no-op. */
void workers_stop(struct workers *ws);

/* Takes up to WORKER_QUANTUM of c's messages to ops (until ops->hold says
 * stop), queues c again when it may have more, and hands c to ops->closed
 * once it is closed and drained. Worker thread of c. */
/* Messages of one connection handled per turn; a connection with more goes
 * to the back of its worker's inbox (round robin between busy clients). */
#define WORKER_QUANTUM 64
void worker_drain(const struct worker_ops *ops, void *local, struct io_conn *c);

/* The echo ops: every message goes back unchanged, same opcode. */
extern const struct worker_ops worker_echo_ops;

#endif
