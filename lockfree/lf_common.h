/*
 * lf_common: the few definitions every lock-free module shares.
 *
 * Owns: the cache-line size, the alignment helpers and the cursor distance
 * clamp. Pure definitions; no state, so any thread may use them.
 */
#ifndef SLUICE_LF_COMMON_H
#define SLUICE_LF_COMMON_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

/* x86-64 and most arm64 parts; the adjacent-line prefetcher pairs lines, but
 * one line apart is what measurably matters for the ping-pong of two cursors. */
#define LF_CACHELINE 64
#define LF_ALIGNED   alignas(LF_CACHELINE)

#define lf_likely(x)   __builtin_expect(!!(x), 1)
#define lf_unlikely(x) __builtin_expect(!!(x), 0)

/*
 * The distance between two cursors read at slightly different moments, kept
 * inside [0, cap]. Callers load the consumer cursor first and the producer
 * cursor second, so the difference is never negative on a machine that does
 * not reorder loads (x86); it can overshoot cap when both cursors move between
 * the two loads, and the clamp bounds that (and any weakly ordered machine).
 * The exact invariant 0 <= produced - consumed <= cap holds in the producer's
 * and the consumer's own threads; the stress tests check it there.
 */
static inline uint64_t lf_distance(uint64_t produced, uint64_t consumed, uint64_t cap)
{
	int64_t d = (int64_t)(produced - consumed);

	if (d < 0)
		return 0;
	if ((uint64_t)d > cap)
		return cap;
	return (uint64_t)d;
}

/* Smallest power of two >= v, for v in [1, 2^31]; 0 when v is out of range. */
static inline uint32_t lf_pow2(uint32_t v)
{
	if (v == 0 || v > (1u << 31))
		return 0;
	v--;
	v |= v >> 1;
	v |= v >> 2;
	v |= v >> 4;
	v |= v >> 8;
	v |= v >> 16;
	return v + 1;
}

/*
 * n elements of size bytes on their own cache lines (NULL when out of memory).
 * aligned_alloc wants a multiple of the alignment; small arrays get one line.
 */
static inline void *lf_alloc_lines(size_t n, size_t size)
{
	size_t bytes = (n * size + LF_CACHELINE - 1) & ~(size_t)(LF_CACHELINE - 1);

	return aligned_alloc(LF_CACHELINE, bytes ? bytes : LF_CACHELINE);
}

#endif
