/*
 * bench_epoch: the cost of a lock-free read of an epoch-protected table
 * (enter, load, exit) on CPU 1 while a writer on CPU 0 replaces and retires
 * the table 100,000 times a second; and the same read with no writer.
 *
 *   bench_epoch [reads]      (default 50,000,000 per configuration)
 */
#include "bench.h"

#include "epoch.h"

struct table {
	epoch_entry_t entry;
	uint64_t value;
};

static struct epoch dom;
static void *_Atomic current;
static _Atomic int stop;

static void destroy(epoch_entry_t *e)
{
	free(e);
}

static void *writer(void *arg)
{
	struct epoch_rec *rec;
	uint64_t v = 0;

	(void)arg;
	bench_pin(0);
	rec = epoch_join(&dom);
	while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
		struct table *t = malloc(sizeof(*t));
		t->value = ++v;
		struct table *old = epoch_publish(&current, t);
		epoch_retire(rec, &old->entry, destroy);
		epoch_poll(rec);
		struct timespec ts = {0, 10 * 1000};
		nanosleep(&ts, NULL);
	}
	epoch_leave(rec);
	return NULL;
}

static void reads(uint64_t n, const char *params)
{
	struct epoch_rec *rec;
	uint64_t sum = 0;

	rec = epoch_join(&dom);
	double t0 = bench_now();
	for (uint64_t i = 0; i < n; i++) {
		epoch_enter(rec);
		sum += ((struct table *)epoch_load(&current))->value;
		epoch_exit(rec);
	}
	double secs = bench_now() - t0;
	epoch_leave(rec);
	bench_report("epoch_read", "ck_epoch", params, n, secs);
	if (sum == 0)
		fprintf(stderr, "(sum %llu)\n", (unsigned long long)sum);
}

int main(int argc, char **argv)
{
	uint64_t n = bench_items(argc, argv, 50 * 1000 * 1000);
	struct table *t = malloc(sizeof(*t));
	pthread_t w;

	t->value = 1;
	epoch_init(&dom);
	atomic_store(&current, t);
	bench_pin(1);
	reads(n, "writer=none");
	pthread_create(&w, NULL, writer, NULL);
	reads(n, "writer=replacing");
	atomic_store(&stop, 1);
	pthread_join(w, NULL);
	free(atomic_load(&current));
	epoch_deinit(&dom);
	return 0;
}
