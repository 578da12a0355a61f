/*
 * pool: fixed-size object slabs with a local free list and a remote-free stack.
 * Threads: see pool.h. The owner writes free_list, chunks, allocs and frees;
 * any thread pushes on remote.
 */
#include "pool.h"

#include <errno.h>
#include <stdlib.h>

/* Each object is preceded by its pool, so pool_free needs nothing else. */
struct pool_hdr {
	struct pool *pool;
	uint64_t pad; /* keeps the object 16-byte aligned */
};

struct pool_node {
	struct pool_node *next;
};

struct pool_chunk {
	struct pool_chunk *next;
	uint64_t pad;
	unsigned char objs[];
};

#define POOL_CHUNK_BYTES (64u * 1024)
#define POOL_MAX_OBJ     (1u << 20)

int pool_init(struct pool *p, size_t obj_size, uint32_t max_objects)
{
	if (obj_size == 0 || obj_size > POOL_MAX_OBJ)
		return -EINVAL;
	*p = (struct pool){0};
	p->obj_size = obj_size;
	p->stride = (sizeof(struct pool_hdr) + obj_size + 15) & ~(size_t)15;
	p->per_chunk = (uint32_t)(POOL_CHUNK_BYTES / p->stride);
	if (p->per_chunk < 8)
		p->per_chunk = 8;
	if (max_objects) {
		if (max_objects < p->per_chunk)
			p->per_chunk = max_objects;
		p->max_chunks = (max_objects + p->per_chunk - 1) / p->per_chunk;
	}
	p->owner = pthread_self();
	return 0;
}

void pool_deinit(struct pool *p)
{
	struct pool_chunk *c = p->chunks;

	while (c) {
		struct pool_chunk *next = c->next;
		free(c);
		c = next;
	}
	p->chunks = NULL;
	p->free_list = NULL;
	atomic_store_explicit(&p->remote, NULL, memory_order_relaxed); /* no concurrent use */
	atomic_store_explicit(&p->remote_frees, 0, memory_order_relaxed);
}

void pool_adopt(struct pool *p)
{
	p->owner = pthread_self();
}

static int pool__grow(struct pool *p)
{
	uint32_t n = atomic_load_explicit(&p->nchunks, memory_order_relaxed); /* own field */
	struct pool_chunk *c;

	if (p->max_chunks && n >= p->max_chunks)
		return -ENOBUFS;
	c = calloc(1, sizeof(*c) + (size_t)p->per_chunk * p->stride);
	if (!c)
		return -ENOMEM;
	c->next = p->chunks;
	p->chunks = c;
	/* thread the new objects onto the free list, lowest address first */
	for (uint32_t i = p->per_chunk; i-- > 0;) {
		struct pool_hdr *h = (struct pool_hdr *)(c->objs + (size_t)i * p->stride);
		struct pool_node *node = (struct pool_node *)(h + 1);
		h->pool = p;
		node->next = p->free_list;
		p->free_list = node;
	}
	/* relaxed: a gauge for observers */
	atomic_store_explicit(&p->nchunks, n + 1, memory_order_relaxed);
	return 0;
}

void *pool_alloc(struct pool *p)
{
	struct pool_node *node = p->free_list;

	if (lf_unlikely(!node)) {
		/* acquire: the remote freers' last writes to the objects happen before reuse */
		node = atomic_exchange_explicit(&p->remote, NULL, memory_order_acquire);
		if (!node) {
			if (pool__grow(p) < 0)
				return NULL;
			node = p->free_list;
		}
	}
	p->free_list = node->next;
	/* relaxed: gauge, written by the owner only */
	atomic_store_explicit(&p->allocs, atomic_load_explicit(&p->allocs, memory_order_relaxed) + 1,
			      memory_order_relaxed);
	return node;
}

void pool_free(void *obj)
{
	struct pool_node *node = obj;
	struct pool *p;

	if (!obj)
		return;
	p = ((struct pool_hdr *)obj - 1)->pool;
	if (pthread_equal(p->owner, pthread_self())) {
		node->next = p->free_list;
		p->free_list = node;
		/* relaxed: gauge, written by the owner only */
		atomic_store_explicit(&p->frees,
				      atomic_load_explicit(&p->frees, memory_order_relaxed) + 1,
				      memory_order_relaxed);
		return;
	}
	/* relaxed first read: the CAS re-validates it */
	struct pool_node *top = atomic_load_explicit(&p->remote, memory_order_relaxed);
	do
		node->next = top;
	/* release: our writes to the object happen before the owner reuses it */
	while (!atomic_compare_exchange_weak_explicit(&p->remote, &top, node, memory_order_release,
						      memory_order_relaxed));
	/* relaxed: a gauge; counted here so the owner never walks the stack to count */
	atomic_fetch_add_explicit(&p->remote_frees, 1, memory_order_relaxed);
}

uint64_t pool_in_use(const struct pool *p)
{
	/* relaxed: a gauge; frees first so the difference cannot go below zero on x86 */
	uint64_t f = atomic_load_explicit(&p->frees, memory_order_relaxed) +
		     atomic_load_explicit(&p->remote_frees, memory_order_relaxed);
	uint64_t a = atomic_load_explicit(&p->allocs, memory_order_relaxed);

	return a > f ? a - f : 0;
}

uint64_t pool_capacity(const struct pool *p)
{
	/* relaxed: a gauge */
	return (uint64_t)atomic_load_explicit(&p->nchunks, memory_order_relaxed) * p->per_chunk;
}
