/*
 * bench_pool: the cost of an object from lockfree/pool against malloc/free
 * (jemalloc in this build), on one thread, and with frees coming back from
 * another thread (the message path: a worker allocates, a reactor frees).
 *
 *   bench_pool [items]       (default 20,000,000 per configuration)
 */
#include "bench.h"

#include <string.h>

#include "pool.h"
#include "spsc.h"

#define OBJ 256
#define WINDOW 64 /* objects in flight on the single-thread runs */

static uint64_t items;
static struct pool p;
static struct spsc ring;
static _Atomic int gate;
static int use_pool;

static void *remote_freer(void *arg)
{
	void *buf[64];
	uint64_t got = 0;

	(void)arg;
	bench_pin(1);
	bench_gate(&gate, 2);
	while (got < items) {
		uint32_t k = spsc_pop_n(&ring, buf, 64);
		for (uint32_t i = 0; i < k; i++) {
			if (use_pool)
				pool_free(buf[i]);
			else
				free(buf[i]);
		}
		got += k;
	}
	return NULL;
}

static void local_run(const char *impl)
{
	void *win[WINDOW] = {0};
	double t0 = bench_now();

	for (uint64_t i = 0; i < items; i++) {
		uint32_t slot = (uint32_t)(i % WINDOW);
		if (use_pool) {
			pool_free(win[slot]);
			win[slot] = pool_alloc(&p);
		} else {
			free(win[slot]);
			win[slot] = malloc(OBJ);
		}
		*(volatile char *)win[slot] = 1;
	}
	double secs = bench_now() - t0;
	for (int i = 0; i < WINDOW; i++)
		use_pool ? pool_free(win[i]) : free(win[i]);
	bench_report("pool", impl, "threads=1 obj=256", items, secs);
}

static void remote_run(const char *impl)
{
	pthread_t t;

	atomic_store(&gate, 0);
	spsc_init(&ring, 4096);
	pthread_create(&t, NULL, remote_freer, NULL);
	bench_pin(0);
	bench_gate(&gate, 2);
	double t0 = bench_now();
	for (uint64_t i = 0; i < items;) {
		void *o = use_pool ? pool_alloc(&p) : malloc(OBJ);
		if (!o)
			continue; /* bounded pool: wait for the freer */
		*(volatile char *)o = 1;
		while (!spsc_push(&ring, o))
			;
		i++;
	}
	pthread_join(t, NULL);
	double secs = bench_now() - t0;
	spsc_deinit(&ring);
	bench_report("pool", impl, "threads=2 obj=256 free=remote", items, secs);
}

int main(int argc, char **argv)
{
	items = bench_items(argc, argv, 20 * 1000 * 1000);
	bench_pin(0);
	pool_init(&p, OBJ, 64 * 1024);
	use_pool = 1;
	local_run("sluice_pool");
	use_pool = 0;
	local_run("malloc");
	use_pool = 1;
	remote_run("sluice_pool");
	use_pool = 0;
	remote_run("malloc");
	pool_deinit(&p);
	return 0;
}
