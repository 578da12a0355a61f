/*
 * Stress test of lockfree/epoch: two readers look up a published table over
 * and over inside epoch sections while a writer replaces it a million times
 * and retires the old ones. Each destructor poisons and frees its table, so a
 * reader that saw a table after it was freed reads poison (or ASan stops it).
 */
#include "stress.h"
#include <pthread.h>
#include <stdlib.h>

#include "epoch.h"
#include "test_util.h"

#define READERS 2
#define GOOD    0x600dull

struct table {
	epoch_entry_t entry;
	uint64_t magic;
	uint64_t version;
	uint64_t check; /* version * 3 */
};

static struct epoch dom;
static void *_Atomic current;
static _Atomic int done;
static _Atomic uint64_t bad, lookups, destroyed;

static void destroy(epoch_entry_t *e)
{
	struct table *t = (struct table *)e; /* entry is the first member */

	t->magic = 0xdeadull;
	free(t);
	atomic_fetch_add_explicit(&destroyed, 1, memory_order_relaxed);
}

static void *reader(void *arg)
{
	struct epoch_rec *rec;
	uint64_t last = 0, n = 0;

	(void)arg;
	rec = epoch_join(&dom);
	while (!atomic_load_explicit(&done, memory_order_relaxed)) {
		epoch_enter(rec);
		struct table *t = epoch_load(&current);
		if (t->magic != GOOD || t->check != t->version * 3 || t->version < last)
			atomic_fetch_add(&bad, 1);
		last = t->version;
		epoch_exit(rec);
		n++;
	}
	atomic_fetch_add(&lookups, n);
	epoch_leave(rec);
	return NULL;
}

static struct table *make(uint64_t v)
{
	struct table *t = malloc(sizeof(*t));

	t->magic = GOOD;
	t->version = v;
	t->check = v * 3;
	return t;
}

Test(stress_epoch, million_replacements_under_readers, .timeout = 600)
{
	struct epoch_rec *wrec;
	pthread_t th[READERS];
	uint64_t n = tu_stress_items(10 * 1000 * 1000) / 10;

	epoch_init(&dom);
	wrec = epoch_join(&dom);
	atomic_store(&current, make(0));
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, reader, NULL), 0);
	for (uint64_t v = 1; v <= n; v++) {
		struct table *old = epoch_publish(&current, make(v));
		epoch_retire(wrec, &old->entry, destroy);
		if ((v & 63) == 0)
			epoch_poll(wrec);
	}
	atomic_store(&done, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(th[i], NULL);
	epoch_barrier(wrec);
	cr_assert_eq(atomic_load(&bad), 0, "a reader saw a freed or torn table");
	cr_assert_eq(atomic_load(&destroyed), n, "every retired table destroyed once");
	cr_assert_gt(atomic_load(&lookups), 0);
	destroy(&((struct table *)atomic_load(&current))->entry);
	epoch_leave(wrec);
	epoch_deinit(&dom);
}
