/*
 * Stress tests of lockfree/stream with real threads.
 *
 * 1. 10 million items, one producer, three consumers reading at different
 *    paces: each consumer sees every item once and in order, the producer
 *    releases each item once and in order, and lag readings stay in range.
 * 2. Kill churn: consumers are killed at random by a third thread while they
 *    hold heap objects between peek and commit; the producer frees objects as
 *    soon as no cursor needs them. A premature free is a use-after-free (ASan)
 *    or a race (TSan) on the object the consumer is reading.
 */
#include "stress.h"
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "stream.h"
#include "test_util.h"

#define CONSUMERS 3

static struct stream s;
static uint64_t total;
static _Atomic int done;
static _Atomic uint64_t bad_readings; /* in-thread exact checks */
static uint64_t released, release_wrong;

static void count_release(void *item, void *ctx)
{
	(void)ctx;
	release_wrong += tu_value(item) != released++;
}

struct reader {
	int id;
	uint64_t seen, wrong, pace;
};

static void *consumer(void *arg)
{
	unsigned spins = 0;
	struct reader *r = arg;
	uint64_t seed = r->pace * 977 + 1;
	void *batch[64];

	while (r->seen < total) {
		uint32_t n = (uint32_t)(tu_rand(&seed) % r->pace) + 1;
		int k = stream_pop_n(&s, r->id, batch, n);
		if (k < 0) { /* nobody kills or closes in this test */
			r->wrong++;
			break;
		}
		/* exact in the consumer's thread: the producer cannot lap its cursor */
		uint64_t c = atomic_load_explicit(&s.consumers[r->id].cursor, memory_order_relaxed);
		int64_t raw = (int64_t)(stream_produced(&s) - c);
		if (raw < 0 || raw > (int64_t)s.cap)
			atomic_fetch_add(&bad_readings, 1);
		for (int i = 0; i < k; i++)
			r->wrong += tu_value(batch[i]) != r->seen++;
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
	for (int i = 0; i < CONSUMERS; i++)
		if (stream_consumer_lag(&s, i) > s.cap)
			return false;
	return stream_backpressure(&s) <= s.cap;
}

Test(stress_stream, ten_million_items_three_consumers, .timeout = 600)
{
	unsigned spins = 0;
	struct reader r[CONSUMERS];
	pthread_t th[CONSUMERS];
	struct tu_observer obs;
	void *batch[64];
	uint64_t next = 0, seed = 3;

	total = tu_stress_items(10 * 1000 * 1000);
	cr_assert_eq(stream_init(&s, 1024, count_release, NULL), 0);
	for (int i = 0; i < CONSUMERS; i++) {
		r[i] = (struct reader){.id = stream_consumer_add(&s), .pace = 16u << i};
		cr_assert_eq(r[i].id, i);
	}
	for (int i = 0; i < CONSUMERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, consumer, &r[i]), 0);
	cr_assert_eq(tu_observer_start(&obs, gauges_ok), 0);
	while (next < total) {
		uint32_t n = (uint32_t)(tu_rand(&seed) % 64) + 1;
		if (n > total - next)
			n = (uint32_t)(total - next);
		for (uint32_t i = 0; i < n; i++)
			batch[i] = tu_item(next + i);
		uint32_t k = stream_push_n(&s, batch, n);
		next += k;
		if (k == 0)
			tu_backoff(&spins);
		else
			spins = 0;
	}
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(th[i], NULL);
	tu_observer_stop(&obs);
	for (int i = 0; i < CONSUMERS; i++) {
		cr_assert_eq(r[i].seen, total);
		cr_assert_eq(r[i].wrong, 0, "consumer %d: %llu items out of order", i,
			     (unsigned long long)r[i].wrong);
		cr_assert_eq(stream_consumer_lag(&s, r[i].id), 0);
	}
	stream_reclaim(&s);
	cr_assert_eq(released, total, "every item released once all cursors passed it");
	cr_assert_eq(release_wrong, 0);
	cr_assert_gt(atomic_load(&obs.readings), 0);
	cr_assert_eq(atomic_load(&obs.bad), 0, "gauge readings out of [0, capacity]");
	cr_assert_eq(atomic_load(&bad_readings), 0, "in-thread readings out of [0, capacity]");
	stream_deinit(&s);
	cr_assert_eq(released, total, "nothing released twice");
}

/* ---- kill churn ---- */

#define MAGIC 0x5ca1ab1eu

struct obj {
	uint32_t magic;
	uint64_t seq;
};

static _Atomic uint64_t freed;
static _Atomic int want_join[CONSUMERS];  /* consumer asks the producer for a new id */
static _Atomic int granted[CONSUMERS];    /* id + 1, set by the producer */
static _Atomic uint64_t kills, rejoins, bad_objects;

static void free_obj(void *item, void *ctx)
{
	struct obj *o = item;

	(void)ctx;
	o->magic = 0xdeadu; /* a reader that still had it would see this (or ASan/TSan would) */
	free(o);
	atomic_fetch_add_explicit(&freed, 1, memory_order_relaxed);
}

static void *churn_consumer(void *arg)
{
	unsigned spins = 0;
	int me = (int)(uintptr_t)arg;
	void *batch[32];
	uint64_t last = 0;

	while (!atomic_load(&done)) {
		int id = atomic_load(&granted[me]) - 1;
		if (id < 0) {
			tu_backoff(&spins);
			continue;
		}
		int k = stream_peek(&s, id, batch, 32);
		if (k == -EPIPE) { /* killed: ask to join again */
			atomic_store(&granted[me], 0);
			atomic_store(&want_join[me], 1);
			continue;
		}
		for (int i = 0; i < k; i++) {
			struct obj *o = batch[i];
			if (o->magic != MAGIC || (last && o->seq <= last))
				atomic_fetch_add(&bad_objects, 1);
			last = o->seq;
		}
		if (k > 0)
			stream_commit(&s, id, (uint32_t)k);
		else
			tu_backoff(&spins);
	}
	return NULL;
}

static void *killer(void *arg)
{
	uint64_t seed = 99;

	(void)arg;
	while (!atomic_load(&done)) {
		int victim = (int)(tu_rand(&seed) % CONSUMERS);
		int id = atomic_load(&granted[victim]) - 1;
		if (id >= 0 && stream_consumer_kill(&s, id) == 0)
			atomic_fetch_add(&kills, 1);
		for (int i = 0; i < 100; i++)
			if (stream_backpressure(&s) > s.cap)
				atomic_fetch_add(&bad_readings, 1);
		struct timespec ts = {0, 100 * 1000}; /* a kill every ~100 us */
		nanosleep(&ts, NULL);
	}
	return NULL;
}

Test(stress_stream, kill_churn_never_frees_a_held_item, .timeout = 600)
{
	unsigned spins = 0;
	pthread_t th[CONSUMERS], kt;
	uint64_t n = tu_stress_items(10 * 1000 * 1000) / 5, pushed = 0;

	atomic_store(&done, 0);
	atomic_store(&bad_readings, 0);
	cr_assert_eq(stream_init(&s, 256, free_obj, NULL), 0);
	for (int i = 0; i < CONSUMERS; i++)
		atomic_store(&want_join[i], 1);
	for (int i = 0; i < CONSUMERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, churn_consumer, (void *)(uintptr_t)i), 0);
	cr_assert_eq(pthread_create(&kt, NULL, killer, NULL), 0);

	struct obj *pending = NULL;
	while (pushed < n) {
		for (int i = 0; i < CONSUMERS; i++)
			if (atomic_load(&want_join[i])) {
				int id = stream_consumer_add(&s);
				if (id >= 0) {
					atomic_store(&want_join[i], 0);
					atomic_store(&granted[i], id + 1);
					atomic_fetch_add(&rejoins, 1);
				}
			}
		if (!pending) {
			pending = malloc(sizeof(*pending));
			pending->magic = MAGIC;
			pending->seq = pushed + 1;
		}
		if (stream_push(&s, pending)) {
			pending = NULL;
			pushed++;
		} else {
			tu_backoff(&spins);
		}
	}
	atomic_store(&done, 1);
	for (int i = 0; i < CONSUMERS; i++)
		pthread_join(th[i], NULL);
	pthread_join(kt, NULL);
	stream_deinit(&s);
	cr_assert_eq(atomic_load(&bad_objects), 0, "a consumer saw a freed or reordered object");
	cr_assert_eq(atomic_load(&freed), pushed, "every object freed exactly once");
	cr_assert_gt(atomic_load(&kills), 0, "the killer never hit a consumer");
	cr_assert_eq(atomic_load(&bad_readings), 0);
}
