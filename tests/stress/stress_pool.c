/*
 * Stress test of lockfree/pool: the owner allocates 10 million objects and
 * hands each to two other threads through SPSC rings; they check and free
 * them remotely while the owner keeps allocating. The pool is bounded, so it
 * must keep recycling: no object is handed out twice while in use, and memory
 * never grows past the bound.
 */
#include "stress.h"
#include <pthread.h>

#include "pool.h"
#include "spsc.h"
#include "test_util.h"

#define FREERS 2
#define LIMIT  4096

struct obj {
	uint64_t link;              /* the pool's free-list link while free */
	_Atomic uint64_t owner_seq; /* 0 while free: new objects are zeroed */
	uint64_t payload[5];
};

static struct pool p;
static struct spsc to_freer[FREERS];
static _Atomic uint64_t bad, freed_total;
static uint64_t total;

static void *freer(void *arg)
{
	unsigned spins = 0;
	struct spsc *in = arg;
	void *batch[32];

	for (;;) {
		uint32_t k = spsc_pop_n(in, batch, 32);
		for (uint32_t i = 0; i < k; i++) {
			struct obj *o = batch[i];
			if (o == NULL)
				return NULL; /* the end marker */
			uint64_t seq = atomic_load_explicit(&o->owner_seq, memory_order_relaxed);
			if (seq == 0 || o->payload[0] != seq || o->payload[4] != ~seq)
				atomic_fetch_add(&bad, 1);
			atomic_store_explicit(&o->owner_seq, 0, memory_order_relaxed);
			pool_free(o);
			atomic_fetch_add_explicit(&freed_total, 1, memory_order_relaxed);
		}
		if (k == 0)
			tu_backoff(&spins);
		else
			spins = 0;
	}
}

Test(stress_pool, ten_million_objects_freed_by_other_threads, .timeout = 600)
{
	unsigned spins = 0;
	pthread_t th[FREERS];
	uint64_t made = 0, peak_capacity = 0, exhausted = 0;

	total = tu_stress_items(10 * 1000 * 1000);
	cr_assert_eq(pool_init(&p, sizeof(struct obj), LIMIT), 0);
	for (int i = 0; i < FREERS; i++) {
		cr_assert_eq(spsc_init(&to_freer[i], 1024), 0);
		cr_assert_eq(pthread_create(&th[i], NULL, freer, &to_freer[i]), 0);
	}
	while (made < total) {
		struct obj *o = pool_alloc(&p);
		if (!o) { /* at the bound: wait for the freers */
			exhausted++;
			tu_backoff(&spins);
			continue;
		}
		uint64_t seq = made + 1;
		if (atomic_load_explicit(&o->owner_seq, memory_order_relaxed) != 0)
			atomic_fetch_add(&bad, 1); /* handed out while still in use */
		atomic_store_explicit(&o->owner_seq, seq, memory_order_relaxed);
		o->payload[0] = seq;
		o->payload[4] = ~seq;
		while (!spsc_push(&to_freer[made % FREERS], o))
			tu_backoff(&spins);
		made++;
		if (pool_capacity(&p) > peak_capacity)
			peak_capacity = pool_capacity(&p);
	}
	for (int i = 0; i < FREERS; i++) {
		while (!spsc_push(&to_freer[i], NULL))
			tu_backoff(&spins);
		pthread_join(th[i], NULL);
		spsc_deinit(&to_freer[i]);
	}
	cr_assert_eq(atomic_load(&freed_total), total);
	cr_assert_eq(atomic_load(&bad), 0, "an object was corrupted or handed out twice");
	cr_assert_leq(peak_capacity, LIMIT, "the pool grew past its bound");
	cr_assert_gt(exhausted + 1, 0);
	pool_deinit(&p);
}
