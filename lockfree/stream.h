/*
 * stream: a bounded single-producer, multi-consumer stream with one cursor per
 * consumer: the model of the seed (writable-consumable-stream), made lock-free.
 *
 * Owns: a power-of-two ring of item pointers, the producer cursor (head), one
 * cursor per consumer, and the release of items once every consumer is past.
 *
 *      reclaimed          slowest cursor        fastest cursor        head
 *          v                    v                     v                 v
 *   ring:  [ released | . . . . x  x  x  x  x  x  x  x  x  x  x  x  x  x | free ... ]
 *                               <---- stream backpressure (largest lag) --->
 *
 * Every consumer sees every item pushed after it joined, in push order. A
 * consumer's lag is (its end or head) - its cursor; the stream's backpressure
 * is the largest lag. Items are released (the release callback) by the
 * producer when the slowest cursor has passed them, lazily: when a push needs
 * the room, or when the producer calls stream_reclaim.
 *
 * Reading: stream_peek hands out up to n items that stay valid (are not
 * released) until stream_commit advances the cursor past them; stream_pop_n
 * is peek+commit for plain values whose lifetime does not matter.
 *
 * Ending a consumer, as in the seed:
 *   - kill:  its backlog is dropped at once (its lag reads 0 from that moment,
 *            and it stops holding items back); its next peek returns -EPIPE.
 *            Items it is holding between peek and commit stay valid until it
 *            commits. Memory returns at the producer's next push or reclaim.
 *   - close: it keeps reading what was pushed before the close, then its next
 *            peek returns -EPIPE. stream_close closes every consumer and the
 *            stream itself (later pushes are refused).
 * After -EPIPE the consumer's id is free again and must not be used.
 *
 * Concurrency contract:
 *   - stream_push_n, stream_push, stream_reclaim, stream_consumer_add,
 *     stream_close:                          the one producer thread only.
 *   - stream_peek, stream_commit, stream_pop_n (for consumer id):
 *                                            that consumer's thread only.
 *   - stream_consumer_kill, stream_consumer_close, stream_kill,
 *     stream_consumer_lag, stream_backpressure, stream_consumers,
 *     stream_produced:                       any thread, at any time.
 *   - stream_init, stream_deinit:            no concurrent use.
 * Progress: wait-free for the producer and the consumers (bounded by the
 * number of consumer slots); kill and close are lock-free.
 */
#ifndef SLUICE_STREAM_H
#define SLUICE_STREAM_H

#include <stddef.h>

#include "lf_common.h"

#define STREAM_MAX_CONSUMERS 64

enum stream_state {
	STREAM_FREE = 0, /* slot unused */
	STREAM_ACTIVE,   /* reading; may have an end set by close */
	STREAM_KILLED,   /* killed; waiting for the consumer to notice */
};

struct stream_consumer {
	LF_ALIGNED _Atomic uint64_t cursor; /* next position to read; its consumer writes */
	_Atomic uint64_t end;               /* UINT64_MAX while open; position where it ends */
	_Atomic uint32_t state;             /* enum stream_state */
	_Atomic uint32_t busy;              /* 1 between peek and commit */
};

typedef void stream_release_fn(void *item, void *ctx);

struct stream {
	/* read-only after init */
	LF_ALIGNED void *_Atomic *slots; /* atomic: a killed consumer may look at a slot being reused */
	uint64_t mask;
	uint64_t cap;
	stream_release_fn *release;
	void *ctx;

	/* producer's line */
	LF_ALIGNED _Atomic uint64_t head;
	uint64_t reclaimed;          /* items below this position were released */
	_Atomic uint32_t nslots;     /* consumer slots ever used (high-water) */
	_Atomic uint32_t closed;

	struct stream_consumer consumers[STREAM_MAX_CONSUMERS];
};

/*
 * Allocates a stream of `capacity` items (rounded up to a power of two);
 * release (may be NULL) is called by the producer for each item once no
 * consumer needs it. Returns 0, -EINVAL or -ENOMEM (nothing allocated).
 */
int stream_init(struct stream *s, uint32_t capacity, stream_release_fn *release, void *ctx);

/* Releases every item not yet released and frees the ring. */
void stream_deinit(struct stream *s);

/*
 * Adds a consumer that will see every item pushed from now on. Returns its id
 * (>= 0), -ENOSPC when STREAM_MAX_CONSUMERS are in use, or -EPIPE when the
 * stream is closed. Producer thread only.
 */
int stream_consumer_add(struct stream *s);

/*
 * Pushes up to n items; returns how many went in: fewer than n when the
 * slowest consumer lags by the whole capacity, 0 after stream_close. The
 * caller still owns the items that did not go in. Producer thread only.
 */
uint32_t stream_push_n(struct stream *s, void *const *items, uint32_t n);

static inline int stream_push(struct stream *s, void *item)
{
	return (int)stream_push_n(s, &item, 1);
}

/* Releases every item all consumers are past; returns how many. Producer only. */
uint32_t stream_reclaim(struct stream *s);

/*
 * Stops accepting pushes and closes every consumer (each drains what was
 * pushed before, then ends). Producer thread only.
 */
void stream_close(struct stream *s);

/*
 * Hands out up to n of consumer id's next items, which stay valid until
 * stream_commit. Returns how many (0: nothing yet), or -EPIPE when the
 * consumer has ended (killed, or closed and drained); the id is then free.
 * A peek must be followed by a commit before the next peek. Consumer only.
 */
int stream_peek(struct stream *s, int id, void **out, uint32_t n);

/* Advances consumer id past k items it peeked (k <= what peek returned). */
void stream_commit(struct stream *s, int id, uint32_t k);

/* peek + commit: for items whose lifetime the caller does not depend on. */
int stream_pop_n(struct stream *s, int id, void **out, uint32_t n);

/* Kills consumer id (see above). Returns 0, or -ENOENT if it is not active. Any thread. */
int stream_consumer_kill(struct stream *s, int id);

/* Closes consumer id: it ends after what has been pushed so far. 0 or -ENOENT. Any thread. */
int stream_consumer_close(struct stream *s, int id);

/* Kills every consumer. Any thread. */
void stream_kill(struct stream *s);

/* Consumer id's lag: items pushed (before its end) that it has not committed. Any thread. */
uint64_t stream_consumer_lag(const struct stream *s, int id);

/* The stream's backpressure: the largest lag of its consumers. Any thread. */
uint64_t stream_backpressure(const struct stream *s);

/* Consumers active now (not killed, not ended). Any thread. */
uint32_t stream_consumers(const struct stream *s);

/* Items pushed since init. Any thread. */
static inline uint64_t stream_produced(const struct stream *s)
{
	/* relaxed: a gauge for observers */
	return atomic_load_explicit(&s->head, memory_order_relaxed);
}

static inline uint64_t stream_capacity(const struct stream *s)
{
	return s->cap;
}

#endif
