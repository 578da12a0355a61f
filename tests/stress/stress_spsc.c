/*
 * Stress test of lockfree/spsc with real threads: 10 million items, random
 * batch sizes on both sides, every item checked in order, and an observer
 * thread reading the gauges the whole time.
 */
#include "stress.h"
#include <pthread.h>

#include "spsc.h"
#include "test_util.h"

static struct spsc q;
static uint64_t total;
static _Atomic uint64_t bad_readings; /* in-thread exact checks */

static void *producer(void *arg)
{
	unsigned spins = 0;
	uint64_t seed = 0x9e3779b97f4a7c15ull, next = 0;
	void *batch[64];

	(void)arg;
	while (next < total) {
		uint32_t n = (uint32_t)(tu_rand(&seed) % 64) + 1;
		if (n > total - next)
			n = (uint32_t)(total - next);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = tu_item(next + i);
		uint32_t k = spsc_push_n(&q, batch, n);
		next += k;
		/* exact in the producer's thread: its own cursor is stable */
		if (spsc_produced(&q) - spsc_consumed(&q) > spsc_capacity(&q))
			atomic_fetch_add(&bad_readings, 1);
		if (k == 0)
			tu_backoff(&spins);
		else
			spins = 0;
	}
	return NULL;
}

/* a reading from outside: the public gauges stay within [0, capacity] */
static bool gauges_ok(void)
{
	return spsc_size(&q) <= spsc_capacity(&q) && spsc_backpressure(&q) <= spsc_capacity(&q);
}

Test(stress_spsc, ten_million_items_in_order, .timeout = 600)
{
	unsigned spins = 0;
	pthread_t prod;
	struct tu_observer obs;
	uint64_t seed = 42, expect = 0, wrong = 0;
	void *batch[64];

	total = tu_stress_items(10 * 1000 * 1000);
	cr_assert_eq(spsc_init(&q, 1024), 0);
	cr_assert_eq(pthread_create(&prod, NULL, producer, NULL), 0);
	cr_assert_eq(tu_observer_start(&obs, gauges_ok), 0);
	while (expect < total) {
		uint32_t n = (uint32_t)(tu_rand(&seed) % 64) + 1;
		uint32_t k = spsc_pop_n(&q, batch, n);
		/* exact in the consumer's thread: its own cursor is stable */
		int64_t raw = (int64_t)(spsc_produced(&q) - spsc_consumed(&q));
		if (raw < 0 || raw > (int64_t)spsc_capacity(&q))
			atomic_fetch_add(&bad_readings, 1);
		for (uint32_t i = 0; i < k; i++)
			wrong += tu_value(batch[i]) != expect++;
		if (k == 0)
			tu_backoff(&spins);
		else
			spins = 0;
	}
	pthread_join(prod, NULL);
	tu_observer_stop(&obs);
	cr_assert_eq(wrong, 0, "%llu items out of order or corrupted", (unsigned long long)wrong);
	cr_assert_eq(spsc_produced(&q), total);
	cr_assert_eq(spsc_consumed(&q), total);
	cr_assert_null(spsc_pop(&q), "an item that was never pushed came out");
	cr_assert_gt(atomic_load(&obs.readings), 0);
	cr_assert_eq(atomic_load(&obs.bad), 0, "gauge readings out of [0, capacity]");
	cr_assert_eq(atomic_load(&bad_readings), 0, "%llu in-thread readings out of [0, capacity]",
		     (unsigned long long)atomic_load(&bad_readings));
	spsc_deinit(&q);
}
