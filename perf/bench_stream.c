/*
 * bench_stream: items/s through lockfree/stream with 1, 2 and 4 consumers
 * (every consumer reads every item), batch sizes 1, 16, 64; the producer on
 * CPU 0 and the consumers on CPU 1 (sharing it, so an idle consumer yields
 * to the others). items/s counts items pushed; deliveries are items x
 * consumers.
 *
 *   bench_stream [items]     (default 20,000,000 per configuration)
 */
#include "bench.h"

#include "stream.h"

#define CAP 4096
#define MAXC 4

static uint64_t items;
static uint32_t batch, consumers;
static _Atomic int gate;
static struct stream s;
static uint64_t sums[MAXC];

static void *consumer(void *arg)
{
	int id = (int)(uintptr_t)arg;
	void *buf[64];
	uint64_t got = 0, sum = 0;

	bench_pin(1);
	bench_gate(&gate, (int)consumers + 1);
	while (got < items) {
		int k = stream_peek(&s, id, buf, batch);
		for (int j = 0; j < k; j++)
			sum += (uintptr_t)buf[j];
		if (k > 0) {
			stream_commit(&s, id, (uint32_t)k);
			got += (uint64_t)k;
		} else if (consumers > 1) {
			sched_yield(); /* consumers share CPU 1: let the next one read */
		}
	}
	sums[id] = sum;
	return NULL;
}

int main(int argc, char **argv)
{
	static const uint32_t batches[] = {1, 16, 64};
	static const uint32_t ncons[] = {1, 2, 4};

	items = bench_items(argc, argv, 20 * 1000 * 1000);
	bench_pin(0);
	for (int c = 0; c < 3; c++)
		for (int b = 0; b < 3; b++) {
			pthread_t t[MAXC];
			void *buf[64];
			char params[96];

			consumers = ncons[c];
			batch = batches[b];
			atomic_store(&gate, 0);
			stream_init(&s, CAP, NULL, NULL);
			for (uint32_t i = 0; i < consumers; i++)
				stream_consumer_add(&s);
			for (uintptr_t i = 0; i < consumers; i++)
				pthread_create(&t[i], NULL, consumer, (void *)i);
			bench_gate(&gate, (int)consumers + 1);
			double t0 = bench_now();
			for (uint64_t i = 0; i < items;) {
				uint32_t n = batch;
				if (n > items - i)
					n = (uint32_t)(items - i);
				for (uint32_t k = 0; k < n; k++)
					buf[k] = (void *)(uintptr_t)(i + k + 1);
				uint32_t k = stream_push_n(&s, buf, n);
				i += k;
				if (k == 0 && consumers > 1)
					sched_yield();
			}
			for (uint32_t i = 0; i < consumers; i++)
				pthread_join(t[i], NULL);
			double secs = bench_now() - t0;
			for (uint32_t i = 0; i < consumers; i++)
				if (sums[i] != items * (items + 1) / 2) {
					fprintf(stderr, "bench_stream: consumer %u lost items\n", i);
					return 1;
				}
			stream_deinit(&s);
			snprintf(params, sizeof(params), "batch=%u producers=1 consumers=%u capacity=%u",
				 batch, consumers, CAP);
			bench_report("stream", "sluice", params, items, secs);
		}
	return 0;
}
