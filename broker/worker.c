/*
 * worker: worker threads draining their inbox. A worker takes the
 * connections that have messages, drains each one's inbound ring in batches
 * and calls the handler; a connection the reactor closed is released once
 * its ring is empty.
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
	pthread_t thread;
};

struct workers {
	int n;
	worker_handler *handler;
	void *ctx;
	_Atomic int stop;
	struct worker w[];
};

static void *worker__run(void *arg)
{
	struct worker *w = arg;
	struct workers *ws = w->ws;
	struct io_conn *conns[64];
	struct io_msg *msgs[64];

	/* relaxed: stop is only a request to finish; the inbox wait bounds the delay */
	while (!atomic_load_explicit(&ws->stop, memory_order_relaxed)) {
		int n = io_inbox_wait(w->in, conns, 64, 100);
		for (int i = 0; i < n; i++) {
			struct io_conn *c = conns[i];
			int k;
			while ((k = io_conn_recv(c, msgs, 64)) > 0)
				for (int j = 0; j < k; j++)
					ws->handler(c, msgs[j], ws->ctx);
			if (k == -EPIPE)
				io_conn_release(c);
		}
	}
	return NULL;
}

int workers_start(struct io_server *s, int n, worker_handler *h, void *ctx, struct workers **out)
{
	struct workers *ws = calloc(1, sizeof(*ws) + (size_t)n * sizeof(struct worker));

	if (!ws)
		return -ENOMEM;
	ws->n = n;
	ws->handler = h;
	ws->ctx = ctx;
	for (int i = 0; i < n; i++) {
		ws->w[i].ws = ws;
		ws->w[i].in = io_server_inbox(s, i);
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

void worker_echo(struct io_conn *c, struct io_msg *m, void *ctx)
{
	(void)ctx;
	io_msg_frame(m); /* same opcode and payload, now a server frame */
	io_conn_send(c, m);
}
