/*
 * sc_bench_hist: a log-linear latency histogram (the HDR histogram's
 * layout) for sluice-bench, in nanoseconds.
 *
 * Owns: a fixed array of counters, the exact minimum and maximum, and the
 * percentile query. Recording is a few shifts and one increment; nothing
 * allocates after scb_hist_create.
 *
 *   values 0 .. 2^S - 1            one bucket per nanosecond (group 0)
 *   [2^(S+g-1), 2^(S+g)), g >= 1   2^(S-1) buckets of 2^g ns each (group g)
 *
 * so every bucket is narrower than 2^(1-S) of the values it holds: with
 * S = 8, a reported percentile is within 0.8% of the true one (it is the
 * bucket's highest value, as HdrHistogram reports, never below the truth).
 *
 * Threads: a histogram belongs to one thread; merge with scb_hist_add.
 */
#ifndef SLUICE_PERF_SC_BENCH_HIST_H
#define SLUICE_PERF_SC_BENCH_HIST_H

#include <stdint.h>

#define SCB_HIST_SUB_BITS 8
#define SCB_HIST_BUCKETS                                                                           \
	((1u << SCB_HIST_SUB_BITS) + (64u - SCB_HIST_SUB_BITS) * (1u << (SCB_HIST_SUB_BITS - 1)))

struct scb_hist {
	uint64_t count;
	uint64_t min, max;
	uint64_t buckets[SCB_HIST_BUCKETS];
};

/* An empty histogram (about 60 KiB), or NULL when out of memory. */
struct scb_hist *scb_hist_create(void);

/* scb_hist_destroy(NULL) is a no-op. */
void scb_hist_destroy(struct scb_hist *h);

/* Counts one value (any uint64_t). */
void scb_hist_record(struct scb_hist *h, uint64_t v);

/* Adds every count of src to dst. */
void scb_hist_add(struct scb_hist *dst, const struct scb_hist *src);

/* The value below or at which a fraction q (0..1) of the recorded values
 * lie, as the highest value of its bucket, clamped to the maximum; 0 for an
 * empty histogram. */
uint64_t scb_hist_quantile(const struct scb_hist *h, double q);

#endif
