/*
 * mpsc: a bounded multi-producer / single-consumer queue of pointers, for the
 * places where several threads must feed one (a worker's command inbox, the
 * stats thread's requests, cross-thread frees).
 *
 * Owns: a power-of-two array of cells, each with a sequence number, and two
 * cursors. A producer reserves positions by advancing head with one CAS per
 * batch, writes its items into the cells and publishes each cell by storing
 * its sequence number; the consumer takes cells in position order while their
 * sequence says "published", then publishes tail once per batch.
 *
 *   cell at position p:  seq == p          free, waiting for the producer of p
 *                        seq == p + 1      published, ready for the consumer
 *                        seq == p + cap    consumed, free for position p + cap
 *
 *               tail (consumer)               head (next reservation)
 *                    v                            v
 *     cells:  [ . . | r  r  w  r  r  r  r  w  r | . . . . . ]   r ready, w being written
 *
 * Why this design and not ck_ring's MPSC: in ck_ring a producer that reserved
 * a slot must wait until every earlier producer has committed, so one
 * producer preempted between reserve and commit stalls all the others; with
 * per-cell sequence numbers producers never wait on each other, and the
 * consumer simply stops at the first unpublished cell. perf/bench_mpsc prints
 * both side by side; perf/RESULTS.md has the figures.
 *
 * Concurrency contract:
 *   - mpsc_push, mpsc_push_n:               any number of producer threads.
 *   - mpsc_pop, mpsc_pop_n:                 the one consumer thread only.
 *   - mpsc_size, mpsc_backpressure, mpsc_produced, mpsc_consumed:
 *                                           any thread; two relaxed loads.
 *   - mpsc_init, mpsc_deinit:               no concurrent use.
 * Per-producer order is kept: items of one producer come out in the order it
 * pushed them. Progress: producers are lock-free (a CAS fails only because
 * another producer succeeded); the consumer is wait-free and never blocks, but
 * a producer stalled between reserving and publishing holds back the items
 * behind its cell until it runs again (pop returns what is ready before it).
 */
#ifndef SLUICE_MPSC_H
#define SLUICE_MPSC_H

#include <stddef.h>

#include "lf_common.h"

struct mpsc_cell {
	_Atomic uint64_t seq;
	void *item;
};

struct mpsc {
	/* read-only after init */
	LF_ALIGNED struct mpsc_cell *cells;
	uint64_t mask;
	uint64_t cap;

	/* producers' line: the next position to reserve */
	LF_ALIGNED _Atomic uint64_t head;

	/* consumer's line: the next position to take */
	LF_ALIGNED _Atomic uint64_t tail;
};

/*
 * Allocates a queue of `capacity` items, rounded up to a power of two.
 * Returns 0, -EINVAL (0 or above 2^31) or -ENOMEM; nothing allocated on error.
 */
int mpsc_init(struct mpsc *q, uint32_t capacity);

/* Frees the cells; items still queued are the caller's to release first. */
void mpsc_deinit(struct mpsc *q);

/*
 * Pushes up to n items as one contiguous run (they come out together and in
 * order); returns how many went in, 0 when full (nothing changed). One CAS per
 * call. Any producer thread.
 */
static inline uint32_t mpsc_push_n(struct mpsc *q, void *const *items, uint32_t n)
{
	/* relaxed: the CAS below validates it, and the cells' seq order the contents */
	uint64_t pos = atomic_load_explicit(&q->head, memory_order_relaxed);

	if (n == 0)
		return 0;
	for (;;) {
		uint32_t k = n;
		/* a run fits if the cell of its last position is free: cells are freed
		 * in position order, so every cell before it is free too.
		 * acquire: the consumer's read of that cell's old item happens first */
		uint64_t seq = atomic_load_explicit(&q->cells[(pos + k - 1) & q->mask].seq,
						    memory_order_acquire);
		int64_t d = (int64_t)(seq - (pos + k - 1));

		if (d > 0) { /* another producer reserved pos: our head is stale */
			pos = atomic_load_explicit(&q->head, memory_order_relaxed);
			continue;
		}
		if (d < 0) {
			/* no room for all n: take what the consumer's published tail frees.
			 * acquire: its reads of those cells happen before our writes */
			uint64_t t = atomic_load_explicit(&q->tail, memory_order_acquire);
			int64_t used = (int64_t)(pos - t);

			if (used < 0 || (uint64_t)used >= q->cap) {
				uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
				if (h == pos && used >= 0)
					return 0; /* full */
				pos = h;
				continue;
			}
			if (q->cap - (uint64_t)used < k)
				k = (uint32_t)(q->cap - (uint64_t)used);
		}
		/* relaxed CAS: the reservation publishes nothing; each cell's release
		 * store below does */
		if (atomic_compare_exchange_weak_explicit(&q->head, &pos, pos + k,
							  memory_order_relaxed,
							  memory_order_relaxed)) {
			for (uint32_t i = 0; i < k; i++) {
				struct mpsc_cell *c = &q->cells[(pos + i) & q->mask];
				c->item = items[i];
				/* release: the item is visible before the consumer sees the cell ready */
				atomic_store_explicit(&c->seq, pos + i + 1, memory_order_release);
			}
			return k;
		}
	}
}

/* Pushes one item; returns 1, or 0 when full (nothing changed). Any producer. */
static inline int mpsc_push(struct mpsc *q, void *item)
{
	return (int)mpsc_push_n(q, &item, 1);
}

/*
 * Pops up to n published items in position order into out; returns how many.
 * Stops early at a cell whose producer has not published yet. Consumer only.
 */
static inline uint32_t mpsc_pop_n(struct mpsc *q, void **out, uint32_t n)
{
	uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed); /* own cursor */
	uint32_t i;

	for (i = 0; i < n; i++) {
		struct mpsc_cell *c = &q->cells[(t + i) & q->mask];
		/* acquire: pairs with the producer's release so c->item is visible */
		if (atomic_load_explicit(&c->seq, memory_order_acquire) != t + i + 1)
			break;
		out[i] = c->item;
		/* release: our read of c->item happens before a producer reuses the cell */
		atomic_store_explicit(&c->seq, t + i + q->cap, memory_order_release);
	}
	if (i)
		/* release: observers and producers computing room see a consistent tail */
		atomic_store_explicit(&q->tail, t + i, memory_order_release);
	return i;
}

/* Pops one item; NULL when nothing is ready. Consumer thread only. */
static inline void *mpsc_pop(struct mpsc *q)
{
	void *item = NULL;

	mpsc_pop_n(q, &item, 1);
	return item;
}

/* Positions reserved by producers since init (counts items being written). Any thread. */
static inline uint64_t mpsc_produced(const struct mpsc *q)
{
	/* relaxed: a gauge for observers */
	return atomic_load_explicit(&q->head, memory_order_relaxed);
}

/* Items popped since init. Any thread. */
static inline uint64_t mpsc_consumed(const struct mpsc *q)
{
	/* relaxed: a gauge for observers */
	return atomic_load_explicit(&q->tail, memory_order_relaxed);
}

/* Items queued (reserved or ready) right now, in [0, capacity]. Any thread. */
static inline uint64_t mpsc_size(const struct mpsc *q)
{
	uint64_t t = mpsc_consumed(q);

	return lf_distance(mpsc_produced(q), t, q->cap);
}

/* The queue's backpressure: its one consumer's lag. Any thread. */
static inline uint64_t mpsc_backpressure(const struct mpsc *q)
{
	return mpsc_size(q);
}

#endif
