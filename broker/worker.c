/*
 * worker: worker threads draining their inbox. A worker takes the
 * connections that have messages, drains each one's inbound ring in batches
 * and calls its ops; a connection the reactor closed is handed to ops->closed
 * once its ring is empty. Between batches it runs ops->turn (timers,
 * deferred releases) and sleeps no longer than that asks.
 *
 * Threads: struct worker fields belong to their thread; `stop` is set by main.
 */
#include "worker.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

struct worker {
	struct workers *ws;
	struct io_inbox *in;
	int index;
	pthread_t thread;
};

struct workers {
	int n;
	struct worker_ops ops;
	_Atomic int stop;
	struct worker w[];
};

static void *worker__run(void *arg)
{
	struct worker *w = arg;
	struct workers *ws = w->ws;
	const struct worker_ops *ops = &ws->ops;
	void *local = ops->begin ? ops->begin(ops->ctx, w->index) : NULL;
	struct io_conn *conns[64];
	int wait_ms = 100;

	/* relaxed: stop is only a request to finish; the inbox wait bounds the delay */
	while (!atomic_load_explicit(&ws->stop, memory_order_relaxed)) {
		int n = io_inbox_wait(w->in, conns, 64, wait_ms);
		for (int i = 0; i < n; i++)
			worker_drain(ops, local, conns[i]);
		wait_ms = ops->turn ? ops->turn(local) : 100;
	}
	if (ops->end)
		ops->end(local);
	return NULL;
}

void worker_drain(const struct worker_ops *ops, void *local, struct io_conn *c)
{
	struct io_msg *msgs[WORKER_QUANTUM];
	int k = 0, taken = 0;

	while (taken < WORKER_QUANTUM && !(ops->hold && ops->hold(local, c)) &&
	       (k = io_conn_recv(c, msgs, WORKER_QUANTUM - taken)) > 0) {
		for (int j = 0; j < k; j++)
			ops->message(local, c, msgs[j]); /* a held socket keeps the rest */
		taken += k;
	}
	if (taken >= WORKER_QUANTUM) {
		/* its turn is over: to the back of the inbox, so that one busy
		 * client delays the others by one quantum at most */
		io_conn_requeue(c);
		return;
	}
	if (k == -EPIPE) {
		if (ops->closed)
			ops->closed(local, c);
		else
			io_conn_release(c);
	}
}

int workers_start(struct io_server *s, int n, const struct worker_ops *ops, struct workers **out)
{
	struct workers *ws = calloc(1, sizeof(*ws) + (size_t)n * sizeof(struct worker));

	if (!ws)
		return -ENOMEM;
	ws->n = n;
	ws->ops = *ops;
	for (int i = 0; i < n; i++) {
		ws->w[i].ws = ws;
		ws->w[i].in = io_server_inbox(s, i);
		ws->w[i].index = i;
		int rc = pthread_create(&ws->w[i].thread, NULL, worker__run, &ws->w[i]);
		if (rc) {
			ws->n = i;
			workers_stop(ws);
			return -rc;
		}
	}
	*out = ws;
	return 0;
}

void workers_stop(struct workers *ws)
{
	if (!ws)
		return;
	atomic_store(&ws->stop, 1);
	for (int i = 0; i < ws->n; i++)
		io_inbox_wake(ws->w[i].in);
	for (int i = 0; i < ws->n; i++)
		pthread_join(ws->w[i].thread, NULL);
	free(ws);
}

static void worker__echo(void *local, struct io_conn *c, struct io_msg *m)
{
	(void)local;
	io_msg_frame(m); /* same opcode and payload, now a server frame */
	io_conn_send(c, m);
}

const struct worker_ops worker_echo_ops = {.message = worker__echo};
