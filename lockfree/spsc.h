/*
 * spsc: a bounded single-producer / single-consumer ring of pointers.
 *
 * Owns: a power-of-two array of slots and the two cursors over it. Cursors are
 * 64-bit counters that only grow (they never wrap in practice: 2^64 pushes at
 * 10^9 a second take 584 years); the slot of cursor x is x & mask.
 *
 *               tail (consumer cursor)          head (producer cursor)
 *                    v                               v
 *     slots:  [ . . . | x  x  x  x  x  x  x  x  x  x | . . . . . . ]
 *                     <------ size = head - tail ---->
 *
 * Layout: the read-only fields share one cache line; head and the producer's
 * cached copy of tail live on a second; tail and the consumer's cached copy of
 * head on a third. Each side reads the other's cursor only when its cached
 * copy says the ring looks full (producer) or empty (consumer), so in steady
 * flow the two lines are not bounced on every item.
 *
 * Concurrency contract:
 *   - spsc_push, spsc_push_n, spsc_free:        the one producer thread only.
 *   - spsc_pop, spsc_pop_n, spsc_peek:          the one consumer thread only.
 *   - spsc_size, spsc_backpressure, spsc_produced, spsc_consumed, spsc_capacity:
 *                                               any thread, at any time; two
 *                                               relaxed loads, never a lock.
 *   - spsc_init, spsc_deinit:                   no concurrent use.
 * A batch call publishes its cursor once, with one release store.
 * Progress: wait-free on both sides. A full ring makes push return 0 (nothing
 * changed); an empty ring makes pop return 0.
 */
#ifndef SLUICE_SPSC_H
#define SLUICE_SPSC_H

#include <stddef.h>

#include "lf_common.h"

struct spsc {
	/* read-only after init */
	LF_ALIGNED void **slots;
	uint64_t mask;
	uint64_t cap;

	/* producer's line */
	LF_ALIGNED _Atomic uint64_t head;
	uint64_t tail_cache; /* last tail the producer saw; tail only grows */

	/* consumer's line */
	LF_ALIGNED _Atomic uint64_t tail;
	uint64_t head_cache; /* last head the consumer saw; head only grows */
};

/*
 * Allocates the slots for a ring of `capacity` items, rounded up to a power
 * of two. Returns 0, or -EINVAL (capacity 0 or above 2^31) or -ENOMEM; on an
 * error nothing is allocated.
 */
int spsc_init(struct spsc *q, uint32_t capacity);

/* Frees the slots. The items still queued are the caller's to release first. */
void spsc_deinit(struct spsc *q);

static inline uint64_t spsc_capacity(const struct spsc *q)
{
	return q->cap;
}

/*
 * Pushes up to n items, in order; returns how many went in (0 when full). The
 * cursor is published once for the whole batch. Producer thread only.
 */
static inline uint32_t spsc_push_n(struct spsc *q, void *const *items, uint32_t n)
{
	/* relaxed: head is written by this thread alone */
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
	uint64_t room = q->cap - (h - q->tail_cache);

	if (room < n) {
		/* acquire: the consumer's reads of the slots it freed happen before we reuse them */
		q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
		room = q->cap - (h - q->tail_cache);
		if (room < n)
			n = (uint32_t)room;
	}
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		q->slots[(h + i) & q->mask] = items[i];
	/* release: the slot writes above are visible before the consumer sees the new head */
	atomic_store_explicit(&q->head, h + n, memory_order_release);
	return n;
}

/* Pushes one item; returns 1, or 0 when the ring is full (nothing changed). */
static inline int spsc_push(struct spsc *q, void *item)
{
	return (int)spsc_push_n(q, &item, 1);
}

/* Room for this many more items, as the producer sees it. Producer thread only. */
static inline uint64_t spsc_free(struct spsc *q)
{
	uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed); /* own cursor */

	q->tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire); /* as in push */
	return q->cap - (h - q->tail_cache);
}

/* The number of items ready for the consumer, refreshing its view of head. */
static inline uint64_t spsc__ready(struct spsc *q, uint64_t t, uint32_t want)
{
	uint64_t ready = q->head_cache - t;

	if (ready < want) {
		/* acquire: pairs with the producer's release so the slot contents are visible */
		q->head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
		ready = q->head_cache - t;
	}
	return ready;
}

/*
 * Copies up to n of the oldest items into out without consuming them; returns
 * how many. They stay valid until spsc_pop_n consumes them. Consumer only.
 */
static inline uint32_t spsc_peek(struct spsc *q, void **out, uint32_t n)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed); /* own cursor */
	uint64_t ready = spsc__ready(q, t, n);

	if (ready < n)
		n = (uint32_t)ready;
	for (uint32_t i = 0; i < n; i++)
		out[i] = q->slots[(t + i) & q->mask];
	return n;
}

/*
 * Pops up to n items, oldest first, into out (out may be NULL to drop them);
 * returns how many (0 when empty). One cursor publication per batch.
 * Consumer thread only.
 */
static inline uint32_t spsc_pop_n(struct spsc *q, void **out, uint32_t n)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed); /* own cursor */
	uint64_t ready = spsc__ready(q, t, n);

	if (ready < n)
		n = (uint32_t)ready;
	if (n == 0)
		return 0;
	if (out)
		for (uint32_t i = 0; i < n; i++)
			out[i] = q->slots[(t + i) & q->mask];
	/* release: our slot reads finish before the producer may overwrite them */
	atomic_store_explicit(&q->tail, t + n, memory_order_release);
	return n;
}

/* Pops one item; NULL when empty. Consumer thread only. */
static inline void *spsc_pop(struct spsc *q)
{
	void *item = NULL;

	spsc_pop_n(q, &item, 1);
	return item;
}

/* Items pushed since init. Any thread. */
static inline uint64_t spsc_produced(const struct spsc *q)
{
	/* relaxed: a gauge for observers, not a synchronisation point */
	return atomic_load_explicit(&q->head, memory_order_relaxed);
}

/* Items popped since init. Any thread. */
static inline uint64_t spsc_consumed(const struct spsc *q)
{
	/* relaxed: a gauge for observers, not a synchronisation point */
	return atomic_load_explicit(&q->tail, memory_order_relaxed);
}

/*
 * Items queued right now (produced - consumed), in [0, capacity]. Any thread:
 * two relaxed loads, consumer cursor first (see lf_distance).
 */
static inline uint64_t spsc_size(const struct spsc *q)
{
	uint64_t t = spsc_consumed(q);

	return lf_distance(spsc_produced(q), t, q->cap);
}

/* The ring's backpressure: its consumer's lag, which for one consumer is its size. */
static inline uint64_t spsc_backpressure(const struct spsc *q)
{
	return spsc_size(q);
}

#endif
