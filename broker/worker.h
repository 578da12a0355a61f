/*
 * worker: the worker threads. Each owns one io inbox and runs a handler for
 * every message of the connections bound to it, in arrival order.
 *
 * Threads: workers_start/workers_stop from the main thread; the handler runs
 * on the worker threads.
 */
#ifndef SLUICE_WORKER_H
#define SLUICE_WORKER_H

#include "io.h"

/* Handles one message of c; owns m (send it, or free it). */
typedef void worker_handler(struct io_conn *c, struct io_msg *m, void *ctx);

struct workers;

/* Starts n workers on the inboxes of s. 0 or -errno (nothing left running). */
int workers_start(struct io_server *s, int n, worker_handler *h, void *ctx, struct workers **out);

/* Stops the workers once the server is stopped, and frees them. NULL: no-op. */
void workers_stop(struct workers *ws);

/* The echo handler: every message goes back unchanged, same opcode. */
void worker_echo(struct io_conn *c, struct io_msg *m, void *ctx);

#endif
