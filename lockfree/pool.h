/*
 * pool: a per-thread pool (slab) of fixed-size objects, so the message path
 * never calls malloc.
 *
 * Owns: chunks of objects carved from the system allocator (jemalloc in the
 * shipped binaries), a free list that only the owner thread touches, and a
 * remote-free stack where other threads return objects they were handed.
 *
 *   chunk:  [ hdr|obj ][ hdr|obj ][ hdr|obj ] ...      hdr = the owning pool
 *
 *   owner:   alloc <- local free list <- (when empty) take the whole remote
 *            stack with one exchange <- (when empty) a new chunk, up to the limit
 *   others:  free -> push on the remote stack (one CAS; no ABA: the owner only
 *            ever takes the whole stack)
 *
 * Concurrency contract:
 *   - pool_alloc:                  the owner thread only (the thread that called
 *                                  pool_init, or the last pool_adopt).
 *   - pool_free:                   any thread; the owner's frees go to the local
 *                                  list without an atomic read-modify-write.
 *   - pool_in_use, pool_capacity:  any thread (relaxed loads).
 *   - pool_init, pool_deinit, pool_adopt: no concurrent use of the pool.
 * Progress: alloc is wait-free except when it takes a new chunk from the
 * system allocator; free is lock-free.
 */
#ifndef SLUICE_POOL_H
#define SLUICE_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "lf_common.h"

struct pool_node;

struct pool {
	/* owner's line */
	LF_ALIGNED struct pool_node *free_list;
	void *chunks;         /* singly linked list of chunks, for deinit */
	size_t stride;        /* header + object, rounded to 16 */
	size_t obj_size;
	uint32_t per_chunk;
	uint32_t max_chunks;  /* 0: unbounded */
	_Atomic uint32_t nchunks;
	_Atomic uint64_t allocs;
	_Atomic uint64_t frees; /* local frees plus collected remote frees */
	pthread_t owner;

	/* other threads' line */
	LF_ALIGNED struct pool_node *_Atomic remote;
	_Atomic uint64_t remote_frees; /* on the line the freer's CAS already owns */
};

/*
 * Sets up a pool of objects of obj_size bytes (16-byte aligned). max_objects
 * bounds the pool (0: unbounded); the calling thread becomes the owner.
 * Returns 0 or -EINVAL (obj_size 0 or above 1 MiB); allocates nothing yet.
 */
int pool_init(struct pool *p, size_t obj_size, uint32_t max_objects);

/* Frees every chunk. Objects still in use are gone with them. */
void pool_deinit(struct pool *p);

/* Makes the calling thread the owner (hand a pool to the thread that will use it). */
void pool_adopt(struct pool *p);

/*
 * An object of obj_size bytes, or NULL when the pool is
 * at max_objects and nothing has been freed, or memory is exhausted. A new
 * object is zeroed; a recycled one holds what it held when freed, except its
 * first 8 bytes (the pool's free-list link while it was free). Owner only.
 */
void *pool_alloc(struct pool *p);

/* Returns obj (from pool_alloc of any pool) to its pool. Any thread; NULL is a no-op. */
void pool_free(void *obj);

/* Objects handed out and not yet returned. Any thread; a gauge. */
uint64_t pool_in_use(const struct pool *p);

/* Objects the pool holds in chunks so far. Any thread; a gauge. */
uint64_t pool_capacity(const struct pool *p);

#endif
