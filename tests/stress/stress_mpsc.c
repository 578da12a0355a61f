/*
 * Stress test of lockfree/mpsc: four producers (more threads than cores, so
 * producers are preempted mid-push), 10 million items in all, random batch
 * sizes, one consumer checking that each producer's items arrive once each
 * and in order; an observer reads the gauges throughout.
 */
#include "stress.h"
#include <pthread.h>

#include "mpsc.h"
#include "test_util.h"

#define PRODUCERS 4

static struct mpsc q;
static uint64_t per_producer;
static _Atomic uint64_t bad_readings; /* in-thread exact checks */

/* item = producer << 40 | sequence */
static void *producer(void *arg)
{
	unsigned spins = 0;
	uint64_t id = (uint64_t)(uintptr_t)arg, seed = 0x1234567ull * (id + 1), next = 0;
	void *batch[64];

	while (next < per_producer) {
		uint32_t n = (uint32_t)(tu_rand(&seed) % 16) + 1;
		if (n > per_producer - next)
			n = (uint32_t)(per_producer - next);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = tu_item(id << 40 | (next + i));
		uint32_t k = mpsc_push_n(&q, batch, n);
		next += k;
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
	return mpsc_size(&q) <= q.cap && mpsc_backpressure(&q) <= q.cap;
}

Test(stress_mpsc, ten_million_items_from_four_producers, .timeout = 600)
{
	unsigned spins = 0;
	pthread_t prod[PRODUCERS];
	struct tu_observer obs;
	uint64_t next[PRODUCERS] = {0}, got = 0, wrong = 0, seed = 7, total;
	void *batch[64];

	per_producer = tu_stress_items(10 * 1000 * 1000) / PRODUCERS;
	total = per_producer * PRODUCERS;
	cr_assert_eq(mpsc_init(&q, 1024), 0);
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		cr_assert_eq(pthread_create(&prod[i], NULL, producer, (void *)i), 0);
	cr_assert_eq(tu_observer_start(&obs, gauges_ok), 0);
	while (got < total) {
		uint32_t k = mpsc_pop_n(&q, batch, (uint32_t)(tu_rand(&seed) % 64) + 1);
		/* exact in the consumer's thread: producers cannot reserve past tail + cap */
		int64_t raw = (int64_t)(mpsc_produced(&q) - mpsc_consumed(&q));
		if (raw < 0 || raw > (int64_t)q.cap)
			atomic_fetch_add(&bad_readings, 1);
		for (uint32_t i = 0; i < k; i++) {
			uint64_t v = tu_value(batch[i]), p = v >> 40, s = v & ((1ull << 40) - 1);
			if (p >= PRODUCERS || s != next[p]) {
				wrong++;
				continue;
			}
			next[p]++;
		}
		got += k;
		if (k == 0)
			tu_backoff(&spins);
		else
			spins = 0;
	}
	for (int i = 0; i < PRODUCERS; i++)
		pthread_join(prod[i], NULL);
	tu_observer_stop(&obs);
	cr_assert_eq(wrong, 0, "%llu items lost, duplicated or out of producer order",
		     (unsigned long long)wrong);
	for (int i = 0; i < PRODUCERS; i++)
		cr_assert_eq(next[i], per_producer, "producer %d: %llu of %llu arrived", i,
			     (unsigned long long)next[i], (unsigned long long)per_producer);
	cr_assert_null(mpsc_pop(&q), "an extra item came out");
	cr_assert_eq(mpsc_size(&q), 0);
	cr_assert_gt(atomic_load(&obs.readings), 0);
	cr_assert_eq(atomic_load(&obs.bad), 0, "gauge readings out of [0, capacity]");
	cr_assert_eq(atomic_load(&bad_readings), 0, "in-thread readings out of [0, capacity]");
	mpsc_deinit(&q);
}
