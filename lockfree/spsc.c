/*
 * spsc: allocation of the ring's slots. The hot paths are inline in spsc.h.
 * Threads: init and deinit run before and after the ring is shared.
 */
#include "spsc.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int spsc_init(struct spsc *q, uint32_t capacity)
{
	uint32_t cap = lf_pow2(capacity);

	if (cap == 0)
		return -EINVAL;
	memset(q, 0, sizeof(*q));
	q->slots = lf_alloc_lines(cap, sizeof(void *));
	if (!q->slots)
		return -ENOMEM;
	q->cap = cap;
	q->mask = cap - 1;
	return 0;
}

void spsc_deinit(struct spsc *q)
{
	free(q->slots);
	q->slots = NULL;
}
