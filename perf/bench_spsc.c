/*
 * bench_spsc: items/s through lockfree/spsc and through ck_ring's SPSC, the
 * producer pinned to CPU 0 and the consumer to CPU 1, batch sizes 1, 16, 64;
 * then the cost of one backpressure read taken while the ring is busy.
 *
 *   bench_spsc [items]      (default 50,000,000 per configuration)
 */
#include "bench.h"

#include <ck_ring.h>

#include "spsc.h"

#define CAP 4096

static uint64_t items;
static uint32_t batch;
static _Atomic int gate;
static struct spsc q;
static ck_ring_t ck;
static ck_ring_buffer_t *ckbuf;
static _Atomic int stop_reader;

static void *sluice_producer(void *arg)
{
	void *buf[64];
	uint64_t i = 0;

	(void)arg;
	bench_pin(0);
	bench_gate(&gate, 2);
	while (i < items) {
		uint32_t n = batch;
		if (n > items - i)
			n = (uint32_t)(items - i);
		for (uint32_t k = 0; k < n; k++)
			buf[k] = (void *)(uintptr_t)(i + k + 1);
		i += spsc_push_n(&q, buf, n);
	}
	return NULL;
}

static void *ck_producer(void *arg)
{
	(void)arg;
	bench_pin(0);
	bench_gate(&gate, 2);
	for (uint64_t i = 0; i < items;)
		if (ck_ring_enqueue_spsc(&ck, ckbuf, (void *)(uintptr_t)(i + 1)))
			i++;
	return NULL;
}

static uint64_t sluice_consume(void)
{
	void *buf[64];
	uint64_t got = 0, sum = 0;

	while (got < items) {
		uint32_t k = spsc_pop_n(&q, buf, batch);
		for (uint32_t j = 0; j < k; j++)
			sum += (uintptr_t)buf[j];
		got += k;
	}
	return sum;
}

static uint64_t ck_consume(void)
{
	uint64_t got = 0, sum = 0;
	void *p;

	while (got < items)
		if (ck_ring_dequeue_spsc(&ck, ckbuf, &p)) {
			sum += (uintptr_t)p;
			got++;
		}
	return sum;
}

static void run(const char *impl, void *(*producer)(void *), uint64_t (*consume)(void))
{
	pthread_t t;
	char params[96];

	atomic_store(&gate, 0);
	pthread_create(&t, NULL, producer, NULL);
	bench_pin(1);
	bench_gate(&gate, 2);
	double t0 = bench_now();
	uint64_t sum = consume();
	double secs = bench_now() - t0;
	pthread_join(t, NULL);
	if (sum != items * (items + 1) / 2) {
		fprintf(stderr, "bench_spsc: %s lost or corrupted items\n", impl);
		exit(1);
	}
	snprintf(params, sizeof(params), "batch=%u producers=1 consumers=1 capacity=%u", batch,
		 CAP);
	bench_report("spsc", impl, params, items, secs);
}

static void *busy_reader(void *arg)
{
	uint64_t *reads = arg, n = 0, acc = 0;

	bench_pin(0);
	while (!atomic_load_explicit(&stop_reader, memory_order_relaxed)) {
		for (int i = 0; i < 1024; i++)
			acc += spsc_backpressure(&q);
		n += 1024;
	}
	*reads = n + (acc & 0);
	return NULL;
}

int main(int argc, char **argv)
{
	static const uint32_t batches[] = {1, 16, 64};

	items = bench_items(argc, argv, 50 * 1000 * 1000);
	if (spsc_init(&q, CAP) < 0)
		return 1;
	ckbuf = aligned_alloc(64, sizeof(*ckbuf) * CAP);
	for (int b = 0; b < 3; b++) {
		batch = batches[b];
		spsc_deinit(&q);
		spsc_init(&q, CAP);
		run("sluice", sluice_producer, sluice_consume);
		ck_ring_init(&ck, CAP);
		run("ck_ring", ck_producer, ck_consume);
	}

	/* backpressure read: another thread reads the gauge while this one pushes and pops */
	pthread_t t;
	uint64_t reads = 0;
	void *buf[16] = {0};
	atomic_store(&stop_reader, 0);
	pthread_create(&t, NULL, busy_reader, &reads);
	bench_pin(1);
	double t0 = bench_now();
	while (bench_now() - t0 < 0.5)
		for (int i = 0; i < 1000; i++) {
			spsc_push_n(&q, buf, 16);
			spsc_pop_n(&q, buf, 16);
		}
	atomic_store(&stop_reader, 1);
	pthread_join(t, NULL);
	double secs = bench_now() - t0;
	bench_report("spsc_backpressure_read", "sluice", "loads=2 while_busy=1", reads, secs);
	spsc_deinit(&q);
	free(ckbuf);
	return 0;
}
