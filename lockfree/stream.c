/*
 * stream: one producer, up to STREAM_MAX_CONSUMERS consumers, a cursor each.
 *
 * Threads: the producer pushes, adds consumers and releases items; each
 * consumer moves only its own cursor and busy flag; any thread may kill or
 * close a consumer (state, end) and read lags.
 *
 * The one delicate race is kill/close against a consumer in the middle of a
 * peek: the producer must not release the items it is holding. The consumer
 * raises `busy` before it looks at its state and end, and the producer looks
 * at state and end before `busy`; all four are sequentially consistent, so
 * either the producer sees busy (and keeps the consumer's items), or the
 * consumer sees the kill or the end (and reads no slot). Shown in
 * tests/stress/stress_stream.c.
 */
#include "stream.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define SC memory_order_seq_cst

int stream_init(struct stream *s, uint32_t capacity, stream_release_fn *release, void *ctx)
{
	uint32_t cap = lf_pow2(capacity);

	if (cap == 0)
		return -EINVAL;
	memset(s, 0, sizeof(*s));
	s->slots = lf_alloc_lines(cap, sizeof(void *));
	if (!s->slots)
		return -ENOMEM;
	s->cap = cap;
	s->mask = cap - 1;
	s->release = release;
	s->ctx = ctx;
	return 0;
}

static void stream__release_upto(struct stream *s, uint64_t upto)
{
	if (s->release)
		for (uint64_t p = s->reclaimed; p < upto; p++)
			s->release(atomic_load_explicit(&s->slots[p & s->mask],
							memory_order_relaxed), /* own writes */
				   s->ctx);
	s->reclaimed = upto;
}

void stream_deinit(struct stream *s)
{
	if (!s->slots)
		return;
	stream__release_upto(s, atomic_load_explicit(&s->head, memory_order_relaxed));
	free((void *)s->slots);
	s->slots = NULL;
}

int stream_consumer_add(struct stream *s)
{
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_relaxed); /* own field */
	uint32_t i;

	if (atomic_load_explicit(&s->closed, memory_order_relaxed)) /* own field */
		return -EPIPE;
	for (i = 0; i < STREAM_MAX_CONSUMERS; i++)
		if (atomic_load_explicit(&s->consumers[i].state, SC) == STREAM_FREE)
			break;
	if (i == STREAM_MAX_CONSUMERS)
		return -ENOSPC;

	struct stream_consumer *c = &s->consumers[i];
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed); /* own cursor */

	/* relaxed: the state store below (seq_cst) publishes them */
	atomic_store_explicit(&c->cursor, h, memory_order_relaxed);
	atomic_store_explicit(&c->end, UINT64_MAX, memory_order_relaxed);
	atomic_store_explicit(&c->busy, 0, memory_order_relaxed);
	atomic_store_explicit(&c->state, STREAM_ACTIVE, SC);
	if (i >= n)
		/* release: observers that see the new count see an initialised slot */
		atomic_store_explicit(&s->nslots, i + 1, memory_order_release);
	return (int)i;
}

uint32_t stream_reclaim(struct stream *s)
{
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed); /* own cursor */
	uint64_t low = h;
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_relaxed); /* own field */
	uint64_t before = s->reclaimed;

	for (uint32_t i = 0; i < n; i++) {
		struct stream_consumer *c = &s->consumers[i];
		/* state and end before busy: see the race note at the top */
		uint32_t st = atomic_load_explicit(&c->state, SC);
		if (st == STREAM_FREE)
			continue;
		uint64_t end = atomic_load_explicit(&c->end, SC);
		uint32_t busy = atomic_load_explicit(&c->busy, SC);
		/* acquire: the consumer's slot reads happen before we release past them */
		uint64_t cur = atomic_load_explicit(&c->cursor, memory_order_acquire);

		if (!busy && (st == STREAM_KILLED || cur >= end))
			continue; /* it will read no slot again */
		if (cur < low)
			low = cur;
	}
	if (low > s->reclaimed)
		stream__release_upto(s, low);
	return (uint32_t)(s->reclaimed - before);
}

uint32_t stream_push_n(struct stream *s, void *const *items, uint32_t n)
{
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed); /* own cursor */
	uint64_t room = s->cap - (h - s->reclaimed);

	if (atomic_load_explicit(&s->closed, memory_order_relaxed)) /* own field */
		return 0;
	if (room < n) {
		stream_reclaim(s);
		room = s->cap - (h - s->reclaimed);
		if (room < n)
			n = (uint32_t)room;
	}
	if (n == 0)
		return 0;
	for (uint32_t i = 0; i < n; i++)
		/* relaxed: head's release store below publishes the slot */
		atomic_store_explicit(&s->slots[(h + i) & s->mask], items[i],
				      memory_order_relaxed);
	/* release: the slots are visible before any consumer sees the new head */
	atomic_store_explicit(&s->head, h + n, memory_order_release);
	return n;
}

static bool stream__valid_id(int id)
{
	return id >= 0 && id < STREAM_MAX_CONSUMERS;
}

int stream_consumer_close(struct stream *s, int id)
{
	if (!stream__valid_id(id))
		return -ENOENT;

	struct stream_consumer *c = &s->consumers[id];
	/* acquire: pairs with the producer's head store; any value is a valid end */
	uint64_t h = atomic_load_explicit(&s->head, memory_order_acquire);
	uint64_t e = atomic_load_explicit(&c->end, SC);

	if (atomic_load_explicit(&c->state, SC) != STREAM_ACTIVE)
		return -ENOENT;
	/* the earliest end wins if two threads close at once */
	while (h < e && !atomic_compare_exchange_weak_explicit(&c->end, &e, h, SC, SC))
		;
	return 0;
}

void stream_close(struct stream *s)
{
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_relaxed); /* own field */

	/* relaxed: only the producer reads it, and it is the producer */
	atomic_store_explicit(&s->closed, 1, memory_order_relaxed);
	for (uint32_t i = 0; i < n; i++)
		stream_consumer_close(s, (int)i);
}

int stream_consumer_kill(struct stream *s, int id)
{
	uint32_t st = STREAM_ACTIVE;

	if (!stream__valid_id(id))
		return -ENOENT;
	if (!atomic_compare_exchange_strong_explicit(&s->consumers[id].state, &st, STREAM_KILLED,
						     SC, SC))
		return -ENOENT;
	return 0;
}

void stream_kill(struct stream *s)
{
	/* acquire: pairs with consumer_add's release of the count */
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_acquire);

	for (uint32_t i = 0; i < n; i++)
		stream_consumer_kill(s, (int)i);
}

static int stream__leave(struct stream_consumer *c)
{
	/* release: our slot reads are done before the producer reuses the id */
	atomic_store_explicit(&c->busy, 0, memory_order_release);
	atomic_store_explicit(&c->state, STREAM_FREE, SC);
	return -EPIPE;
}

int stream_peek(struct stream *s, int id, void **out, uint32_t n)
{
	struct stream_consumer *c = &s->consumers[id];

	/* busy before state and end: see the race note at the top */
	atomic_store_explicit(&c->busy, 1, SC);
	if (atomic_load_explicit(&c->state, SC) != STREAM_ACTIVE)
		return stream__leave(c);

	uint64_t end = atomic_load_explicit(&c->end, SC);
	uint64_t cur = atomic_load_explicit(&c->cursor, memory_order_relaxed); /* own cursor */
	/* acquire: pairs with the producer's release so the slots are visible */
	uint64_t h = atomic_load_explicit(&s->head, memory_order_acquire);
	uint64_t lim = h < end ? h : end;

	if (cur >= end)
		return stream__leave(c);
	if (lim - cur < n)
		n = (uint32_t)(lim - cur);
	for (uint32_t i = 0; i < n; i++)
		/* relaxed: ordered by the head acquire above */
		out[i] = atomic_load_explicit(&s->slots[(cur + i) & s->mask],
					      memory_order_relaxed);
	if (n == 0)
		/* release: nothing held */
		atomic_store_explicit(&c->busy, 0, memory_order_release);
	return (int)n;
}

void stream_commit(struct stream *s, int id, uint32_t k)
{
	struct stream_consumer *c = &s->consumers[id];
	uint64_t cur = atomic_load_explicit(&c->cursor, memory_order_relaxed); /* own cursor */

	/* release: our use of the items happens before the producer releases them */
	atomic_store_explicit(&c->cursor, cur + k, memory_order_release);
	atomic_store_explicit(&c->busy, 0, memory_order_release);
}

int stream_pop_n(struct stream *s, int id, void **out, uint32_t n)
{
	int k = stream_peek(s, id, out, n);

	if (k > 0)
		stream_commit(s, id, (uint32_t)k);
	return k;
}

uint64_t stream_consumer_lag(const struct stream *s, int id)
{
	if (!stream__valid_id(id))
		return 0;

	const struct stream_consumer *c = &s->consumers[id];

	/* relaxed loads throughout: a gauge, read without a lock or a fence */
	if (atomic_load_explicit(&c->state, memory_order_relaxed) != STREAM_ACTIVE)
		return 0;
	uint64_t cur = atomic_load_explicit(&c->cursor, memory_order_relaxed);
	uint64_t end = atomic_load_explicit(&c->end, memory_order_relaxed);
	uint64_t h = atomic_load_explicit(&s->head, memory_order_relaxed);

	return lf_distance(h < end ? h : end, cur, s->cap);
}

uint64_t stream_backpressure(const struct stream *s)
{
	/* relaxed: a gauge; a slot not yet initialised reads as FREE (lag 0) */
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_relaxed);
	uint64_t max = 0;

	for (uint32_t i = 0; i < n; i++) {
		uint64_t lag = stream_consumer_lag(s, (int)i);
		if (lag > max)
			max = lag;
	}
	return max;
}

uint32_t stream_consumers(const struct stream *s)
{
	uint32_t n = atomic_load_explicit(&s->nslots, memory_order_relaxed); /* a gauge */
	uint32_t live = 0;

	for (uint32_t i = 0; i < n; i++)
		live += atomic_load_explicit(&s->consumers[i].state, memory_order_relaxed) ==
			STREAM_ACTIVE;
	return live;
}
