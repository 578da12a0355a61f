/*
 * sc_bench_hist: see sc_bench_hist.h for the bucket layout.
 */
#include "sc_bench_hist.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

#define S    SCB_HIST_SUB_BITS
#define HALF (1ull << (S - 1))

static unsigned bucket_of(uint64_t v)
{
	unsigned m, g;

	if (v < (1ull << S))
		return (unsigned)v;
	m = 63u - (unsigned)__builtin_clzll(v); /* S..63 */
	g = m - S + 1;				/* 1..64-S */
	return (1u << S) + (g - 1) * (unsigned)HALF + (unsigned)((v >> g) - HALF);
}

/* The highest value that falls in bucket i. */
static uint64_t bucket_top(unsigned i)
{
	unsigned g, sub;

	if (i < (1u << S))
		return i;
	g = (i - (1u << S)) / (unsigned)HALF + 1;
	sub = (i - (1u << S)) % (unsigned)HALF;
	/* the top group's last bucket ends exactly at 2^64 - 1 */
	return ((HALF + sub) << g) + ((1ull << g) - 1);
}

struct scb_hist *scb_hist_create(void)
{
	struct scb_hist *h = calloc(1, sizeof(*h));

	if (h)
		h->min = UINT64_MAX;
	return h;
}

void scb_hist_destroy(struct scb_hist *h)
{
	free(h);
}

void scb_hist_record(struct scb_hist *h, uint64_t v)
{
	unsigned i = bucket_of(v);

	assert(i < SCB_HIST_BUCKETS);
	h->buckets[i]++;
	h->count++;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void scb_hist_add(struct scb_hist *dst, const struct scb_hist *src)
{
	for (unsigned i = 0; i < SCB_HIST_BUCKETS; i++)
		dst->buckets[i] += src->buckets[i];
	dst->count += src->count;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t scb_hist_quantile(const struct scb_hist *h, double q)
{
	uint64_t rank, seen = 0;

	if (!h->count)
		return 0;
	if (q <= 0)
		return h->min;
	rank = q >= 1 ? h->count : (uint64_t)ceil(q * (double)h->count);
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < SCB_HIST_BUCKETS; i++) {
		seen += h->buckets[i];
		if (seen >= rank) {
			uint64_t top = bucket_top(i);

			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}
