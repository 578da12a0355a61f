/*
 * bench_packet: ns per packet through broker/packet, single-threaded, for a
 * typical client publish (about 160 bytes, an object payload), the same
 * publish with a 4 KiB string payload, and a batch of 10 publishes walked
 * element by element. Each parse's result is folded into a checksum that is
 * printed, so the compiler cannot drop the work.
 *
 *   bench_packet [items]      (default 5,000,000 parses per configuration)
 *
 *   bench=packet impl=sluice shape=publish bytes=... items=... secs=... mitems_per_s=...
 * ns_per_item=...
 */
#include "bench.h"

#include <string.h>

#include "packet.h"

static const char publish[] =
    "{\"event\":\"#publish\",\"data\":{\"channel\":\"prices/EURUSD\",\"data\":{\"bid\":1.08512,"
    "\"ask\":1.08519,\"ts\":1718000000123,\"venue\":\"LMAX\",\"flags\":[\"firm\",\"live\"]}},"
    "\"cid\":4242}";

static uint64_t run_single(const uint8_t *m, size_t n, uint64_t items)
{
	uint64_t sum = 0;
	struct packet p;

	for (uint64_t i = 0; i < items; i++) {
		packet_parse(m, n, &p);
		sum += p.data.len + p.channel.off + (uint64_t)p.cid;
	}
	return sum;
}

/* One batch message: validate the whole, then walk its elements. */
static uint64_t run_batch(const uint8_t *m, size_t n, uint64_t items)
{
	uint64_t sum = 0;
	struct packet p;

	for (uint64_t i = 0; i < items; i++) {
		size_t pos = 0;

		packet_parse(m, n, &p);
		while (packet_batch_next(m, n, &pos, &p) == 1)
			sum += p.data.len + p.channel.off;
	}
	return sum;
}

static void report(const char *shape, size_t bytes, uint64_t items, uint64_t packets, double secs,
		   uint64_t sum)
{
	char params[96];

	snprintf(params, sizeof(params), "shape=%s bytes=%zu", shape, bytes);
	bench_report("packet", "sluice", params, packets, secs);
	fprintf(stderr, "checksum %llu (%llu messages)\n", (unsigned long long)sum,
		(unsigned long long)items);
}

int main(int argc, char **argv)
{
	uint64_t items = bench_items(argc, argv, 5000000);
	static char big[8192], batch[4096];
	size_t n;
	double t;
	uint64_t sum;

	bench_pin(0);

	t = bench_now();
	sum = run_single((const uint8_t *)publish, sizeof(publish) - 1, items);
	report("publish", sizeof(publish) - 1, items, items, bench_now() - t, sum);

	n = (size_t)snprintf(big, sizeof(big),
			     "{\"event\":\"#publish\",\"data\":{\"channel\":\"c\",\"data\":\"");
	memset(big + n, 'x', 4096);
	n += 4096;
	n += (size_t)snprintf(big + n, sizeof(big) - n, "\"}}");
	t = bench_now();
	sum = run_single((const uint8_t *)big, n, items / 10);
	report("publish_4k_string", n, items / 10, items / 10, bench_now() - t, sum);

	n = 0;
	batch[n++] = '[';
	for (int i = 0; i < 10; i++)
		n += (size_t)snprintf(batch + n, sizeof(batch) - n, "%s%s", i ? "," : "", publish);
	batch[n++] = ']';
	t = bench_now();
	sum = run_batch((const uint8_t *)batch, n, items / 10);
	report("batch10_publish", n, items / 10, items / 10 * 10, bench_now() - t, sum);
	return 0;
}
