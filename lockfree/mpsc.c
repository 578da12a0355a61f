/*
 * mpsc: allocation of the queue's cells. The hot paths are inline in mpsc.h.
 * Threads: init and deinit run before and after the queue is shared.
 */
#include "mpsc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int mpsc_init(struct mpsc *q, uint32_t capacity)
{
	uint32_t cap = lf_pow2(capacity);

	if (cap == 0)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->cells = lf_alloc_lines(cap, sizeof(struct mpsc_cell));
	if (!q->cells)
		return -ENOMEM;
	for (uint32_t i = 0; i < cap; i++) {
		/* relaxed: nobody else sees the queue before init returns */
		atomic_store_explicit(&q->cells[i].seq, i, memory_order_relaxed);
		q->cells[i].item = NULL;
	}
	q->cap = cap;
	q->mask = cap - 1;
	return 0;
}

void mpsc_deinit(struct mpsc *q)
{
	free(q->cells);
	q->cells = NULL;
}
