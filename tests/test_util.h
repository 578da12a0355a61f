/*
 * test_util: small helpers shared by the Criterion tests: values that travel
 * through queues as pointers, and a bounded wait for a condition another
 * thread makes true (tests never synchronise by sleeping).
 */
#ifndef SLUICE_TEST_UTIL_H
#define SLUICE_TEST_UTIL_H

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>

/* Item n travels as the pointer value n + 1, so no item is NULL. */
static inline void *tu_item(uint64_t n)
{
	return (void *)(uintptr_t)(n + 1);
}

static inline uint64_t tu_value(void *p)
{
	return (uint64_t)(uintptr_t)p - 1;
}

static inline double tu_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Item count for stress tests: SLUICE_STRESS_ITEMS, else the given default. */
static inline uint64_t tu_stress_items(uint64_t dflt)
{
	const char *v = getenv("SLUICE_STRESS_ITEMS");

	return v && *v ? strtoull(v, NULL, 10) : dflt;
}

/*
 * Waiting for another thread in a stress test: yield a few times, then sleep
 * briefly. With more runnable threads than the machine's two cores, a thread
 * that only yields can keep the CPU from the thread it waits for (CFS often
 * hands a yielder straight back its core). Reset *spins after progress.
 */
static inline void tu_backoff(unsigned *spins)
{
	if (++*spins < 16) {
		sched_yield();
	} else {
		struct timespec ts = {0, 20 * 1000};
		nanosleep(&ts, NULL);
	}
}

/*
 * An observer thread for stress tests: reads gauges from outside the threads
 * under test until stopped, counting readings and the ones ok() rejects.
 */
struct tu_observer {
	pthread_t thread;
	bool (*ok)(void);
	_Atomic int stop;
	_Atomic uint64_t readings, bad;
};

static void *tu__observe(void *arg)
{
	struct tu_observer *o = arg;

	while (!atomic_load_explicit(&o->stop, memory_order_relaxed)) {
		if (!o->ok())
			atomic_fetch_add(&o->bad, 1);
		atomic_fetch_add_explicit(&o->readings, 1, memory_order_relaxed);
		sched_yield(); /* two cores: let the threads under test run */
	}
	return NULL;
}

static inline int tu_observer_start(struct tu_observer *o, bool (*ok)(void))
{
	o->ok = ok;
	atomic_store(&o->stop, 0);
	atomic_store(&o->readings, 0);
	atomic_store(&o->bad, 0);
	return pthread_create(&o->thread, NULL, tu__observe, o);
}

static inline void tu_observer_stop(struct tu_observer *o)
{
	atomic_store(&o->stop, 1);
	pthread_join(o->thread, NULL);
}

/* xorshift64: a cheap deterministic source of batch sizes. */
static inline uint64_t tu_rand(uint64_t *s)
{
	uint64_t x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *s = x;
}

#endif
