/* Unit tests of lockfree/epoch: retire, poll, barrier, and a reader holding a grace period. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>

#include "epoch.h"

struct obj {
	epoch_entry_t entry;
	int value;
};

static _Atomic int destroyed;

static void destroy(epoch_entry_t *e)
{
	struct obj *o = (struct obj *)((char *)e - offsetof(struct obj, entry));

	free(o);
	atomic_fetch_add(&destroyed, 1);
}

static struct epoch dom;

Test(epoch, retire_then_barrier_runs_the_destructor)
{
	struct epoch_rec *rec;
	struct obj *o = malloc(sizeof(*o));

	atomic_store(&destroyed, 0);
	epoch_init(&dom);
	rec = epoch_join(&dom);
	epoch_retire(rec, &o->entry, destroy);
	cr_assert_eq(atomic_load(&destroyed), 0);
	epoch_barrier(rec);
	cr_assert_eq(atomic_load(&destroyed), 1);
	epoch_leave(rec);
	epoch_deinit(&dom);
}

Test(epoch, a_left_record_is_recycled)
{
	epoch_init(&dom);
	struct epoch_rec *a = epoch_join(&dom);
	struct epoch_rec *b = epoch_join(&dom);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	cr_assert_neq(a, b);
	epoch_leave(a);
	cr_assert_eq(epoch_join(&dom), a, "a record given back is taken again before a new one");
	epoch_leave(a);
	epoch_leave(b);
	epoch_deinit(&dom); /* frees both; LeakSanitizer checks that nothing is left */
}

Test(epoch, publish_and_load_swap_pointers)
{
	int a = 1, b = 2;
	void *_Atomic slot = &a;

	cr_assert_eq(epoch_load(&slot), &a);
	cr_assert_eq(epoch_publish(&slot, &b), &a);
	cr_assert_eq(epoch_load(&slot), &b);
}

/* A reader inside a section keeps a retired object alive. */
static _Atomic int reader_in, reader_go;
static struct epoch_rec *rrec;

static void *reader(void *arg)
{
	(void)arg;
	rrec = epoch_join(&dom);
	epoch_enter(rrec);
	atomic_store(&reader_in, 1);
	while (!atomic_load(&reader_go))
		sched_yield();
	epoch_exit(rrec);
	epoch_leave(rrec);
	return NULL;
}

Test(epoch, reader_in_section_delays_reclamation, .timeout = 30)
{
	struct epoch_rec *wrec;
	pthread_t t;

	atomic_store(&destroyed, 0);
	atomic_store(&reader_in, 0);
	atomic_store(&reader_go, 0);
	epoch_init(&dom);
	wrec = epoch_join(&dom);
	cr_assert_eq(pthread_create(&t, NULL, reader, NULL), 0);
	while (!atomic_load(&reader_in))
		sched_yield();

	struct obj *o = malloc(sizeof(*o));
	epoch_retire(wrec, &o->entry, destroy);
	for (int i = 0; i < 1000; i++)
		epoch_poll(wrec);
	cr_assert_eq(atomic_load(&destroyed), 0, "freed while a reader could see it");

	atomic_store(&reader_go, 1);
	pthread_join(t, NULL);
	epoch_barrier(wrec);
	cr_assert_eq(atomic_load(&destroyed), 1);
	epoch_leave(wrec);
	epoch_deinit(&dom);
}
