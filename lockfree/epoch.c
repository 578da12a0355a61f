/*
 * epoch: the records of a domain; the rest is inline in epoch.h.
 * Threads: epoch_join from any thread (the record list is pushed with a CAS),
 * epoch_leave on the record's owner, init and deinit with no thread joined.
 */
#include "epoch.h"

#include <stdlib.h>

void epoch_init(struct epoch *e)
{
	ck_epoch_init(&e->ck);
	atomic_init(&e->recs, NULL);
}

void epoch_deinit(struct epoch *e)
{
	/* relaxed: no thread is joined any more */
	struct epoch_rec *r = atomic_exchange_explicit(&e->recs, NULL, memory_order_relaxed);

	while (r) {
		struct epoch_rec *next = r->next;
		free(r);
		r = next;
	}
}

struct epoch_rec *epoch_join(struct epoch *e)
{
	ck_epoch_record_t *ck = ck_epoch_recycle(&e->ck, NULL);
	struct epoch_rec *r;

	if (ck)
		return (struct epoch_rec *)ck; /* ck is the first member */
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	ck_epoch_register(&e->ck, &r->ck, NULL);
	/* relaxed: the list is read only by deinit, after every thread is gone */
	r->next = atomic_load_explicit(&e->recs, memory_order_relaxed);
	while (!atomic_compare_exchange_weak_explicit(&e->recs, &r->next, r, memory_order_relaxed,
						      memory_order_relaxed))
		;
	return r;
}

void epoch_leave(struct epoch_rec *rec)
{
	ck_epoch_barrier(&rec->ck);
	ck_epoch_unregister(&rec->ck);
}
