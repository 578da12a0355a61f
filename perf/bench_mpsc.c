/*
 * bench_mpsc: items/s through lockfree/mpsc against ck_ring's MPSC and MPMC
 * rings, with 1, 2 and 4 producers on CPU 0 (so producers are preempted in
 * the middle of a push, as on a loaded server) and the consumer on CPU 1.
 * Batch sizes 1, 16, 64 for ours (ck_ring has no batch enqueue; it runs once).
 *
 *   bench_mpsc [items]      (default 20,000,000 per configuration)
 *
 * A configuration that has not finished after 10 s stops there and reports
 * what got through (capped=1): with several producers on one core, ck_ring's
 * producers wait for a preempted predecessor to commit.
 */
#include "bench.h"

#include <ck_ring.h>

#include "mpsc.h"

#define CAP 4096
#define MAXP 4

enum impl { SLUICE, CK_MPSC, CK_MPMC };

static uint64_t per_producer;
static uint32_t batch, producers;
static enum impl impl;
static _Atomic int gate;
static struct mpsc q;
static ck_ring_t ck;
static ck_ring_buffer_t *ckbuf;
static _Atomic int stop;

#define CAP_SECS 10.0

static void *producer(void *arg)
{
	void *buf[64];
	uint64_t base = (uint64_t)(uintptr_t)arg * per_producer;

	bench_pin(0);
	bench_gate(&gate, (int)producers + 1);
	for (uint64_t i = 0; i < per_producer;) {
		if (atomic_load_explicit(&stop, memory_order_relaxed))
			break;
		switch (impl) {
		case SLUICE: {
			uint32_t n = batch;
			if (n > per_producer - i)
				n = (uint32_t)(per_producer - i);
			for (uint32_t k = 0; k < n; k++)
				buf[k] = (void *)(uintptr_t)(base + i + k + 1);
			i += mpsc_push_n(&q, buf, n);
			break;
		}
		case CK_MPSC:
			i += ck_ring_enqueue_mpsc(&ck, ckbuf, (void *)(uintptr_t)(base + i + 1));
			break;
		case CK_MPMC:
			i += ck_ring_enqueue_mpmc(&ck, ckbuf, (void *)(uintptr_t)(base + i + 1));
			break;
		}
	}
	return NULL;
}

static uint64_t consume(uint64_t total, uint64_t *consumed, double t0)
{
	void *buf[64];
	uint64_t got = 0, sum = 0, polls = 0;

	while (got < total) {
		if ((++polls & 0xffff) == 0 && bench_now() - t0 > CAP_SECS) {
			atomic_store(&stop, 1);
			break;
		}
		if (impl == SLUICE) {
			uint32_t k = mpsc_pop_n(&q, buf, batch);
			for (uint32_t j = 0; j < k; j++)
				sum += (uintptr_t)buf[j];
			got += k;
		} else {
			void *p;
			bool ok = impl == CK_MPSC ? ck_ring_dequeue_mpsc(&ck, ckbuf, &p)
						  : ck_ring_dequeue_mpmc(&ck, ckbuf, &p);
			if (ok) {
				sum += (uintptr_t)p;
				got++;
			}
		}
	}
	*consumed = got;
	return sum;
}

static void run(const char *name)
{
	pthread_t t[MAXP];
	char params[96];
	uint64_t total = per_producer * producers;

	atomic_store(&gate, 0);
	atomic_store(&stop, 0);
	if (impl == SLUICE) {
		mpsc_init(&q, CAP);
	} else {
		ck_ring_init(&ck, CAP);
	}
	for (uintptr_t i = 0; i < producers; i++)
		pthread_create(&t[i], NULL, producer, (void *)i);
	bench_pin(1);
	bench_gate(&gate, (int)producers + 1);
	double t0 = bench_now();
	uint64_t got;
	uint64_t sum = consume(total, &got, t0);
	double secs = bench_now() - t0;
	int capped = atomic_load(&stop);
	if (capped) { /* let producers blocked on a full ring out */
		void *p;
		while (impl == SLUICE ? mpsc_pop(&q) != NULL
				      : ck_ring_dequeue_mpmc(&ck, ckbuf, &p))
			;
	}
	for (uint32_t i = 0; i < producers; i++)
		pthread_join(t[i], NULL);
	if (impl == SLUICE)
		mpsc_deinit(&q);
	if (!capped && sum != total * (total + 1) / 2) {
		fprintf(stderr, "bench_mpsc: %s lost or corrupted items\n", name);
		exit(1);
	}
	snprintf(params, sizeof(params), "batch=%u producers=%u consumers=1 capacity=%u capped=%d",
		 batch, producers, CAP, capped);
	bench_report("mpsc", name, params, got, secs);
}

int main(int argc, char **argv)
{
	static const uint32_t batches[] = {1, 16, 64};
	static const uint32_t nprod[] = {1, 2, 4};
	uint64_t items = bench_items(argc, argv, 20 * 1000 * 1000);

	ckbuf = aligned_alloc(64, sizeof(*ckbuf) * CAP);
	for (int p = 0; p < 3; p++) {
		producers = nprod[p];
		per_producer = items / producers;
		impl = SLUICE;
		for (int b = 0; b < 3; b++) {
			batch = batches[b];
			run("sluice");
		}
		batch = 1;
		impl = CK_MPSC;
		run("ck_ring_mpsc");
		impl = CK_MPMC;
		run("ck_ring_mpmc");
	}
	free(ckbuf);
	return 0;
}
