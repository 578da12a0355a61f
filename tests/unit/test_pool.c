/* Unit tests of lockfree/pool: alignment, reuse, the limit, frees from other threads. */
#include <criterion/criterion.h>
#include <errno.h>
#include <pthread.h>
#include <string.h>

#include "pool.h"

static struct pool p;

static void teardown(void)
{
	pool_deinit(&p);
}

Test(pool, init_rejects_bad_sizes)
{
	cr_assert_eq(pool_init(&p, 0, 0), -EINVAL);
	cr_assert_eq(pool_init(&p, (1u << 20) + 1, 0), -EINVAL);
}

Test(pool, objects_are_distinct_aligned_and_writable, .fini = teardown)
{
	enum { N = 5000 };
	static unsigned char *objs[N];

	cr_assert_eq(pool_init(&p, 24, 0), 0);
	for (int i = 0; i < N; i++) {
		objs[i] = pool_alloc(&p);
		cr_assert_not_null(objs[i]);
		cr_assert_eq((uintptr_t)objs[i] % 16, 0);
		memset(objs[i], i & 0xff, 24);
	}
	for (int i = 0; i < N; i++) {
		unsigned char want[24];
		memset(want, i & 0xff, sizeof(want));
		cr_assert_eq(memcmp(objs[i], want, sizeof(want)), 0, "object %d was overwritten", i);
	}
	cr_assert_eq(pool_in_use(&p), N);
	cr_assert_geq(pool_capacity(&p), N);
	for (int i = 0; i < N; i++)
		pool_free(objs[i]);
	cr_assert_eq(pool_in_use(&p), 0);
}

Test(pool, freed_objects_are_reused_before_growing, .fini = teardown)
{
	cr_assert_eq(pool_init(&p, 64, 0), 0);
	void *a = pool_alloc(&p);
	uint64_t cap = pool_capacity(&p);

	pool_free(a);
	cr_assert_eq(pool_alloc(&p), a);
	cr_assert_eq(pool_capacity(&p), cap);
	pool_free(NULL); /* a no-op */
}

Test(pool, limit_bounds_the_pool, .fini = teardown)
{
	void *objs[10];

	cr_assert_eq(pool_init(&p, 100, 10), 0);
	for (int i = 0; i < 10; i++)
		cr_assert_not_null(objs[i] = pool_alloc(&p));
	cr_assert_null(pool_alloc(&p), "the eleventh object must be refused");
	cr_assert_eq(pool_capacity(&p), 10);
	pool_free(objs[3]);
	cr_assert_eq(pool_alloc(&p), objs[3]);
	for (int i = 0; i < 10; i++)
		pool_free(objs[i]);
}

static void *free_all(void *arg)
{
	void **objs = arg;

	for (int i = 0; i < 100; i++)
		pool_free(objs[i]);
	return NULL;
}

Test(pool, frees_from_another_thread_come_back, .fini = teardown, .timeout = 30)
{
	void *objs[100];
	pthread_t t;

	cr_assert_eq(pool_init(&p, 32, 100), 0);
	for (int i = 0; i < 100; i++)
		cr_assert_not_null(objs[i] = pool_alloc(&p));
	cr_assert_null(pool_alloc(&p));
	cr_assert_eq(pthread_create(&t, NULL, free_all, objs), 0);
	cr_assert_eq(pthread_join(t, NULL), 0);
	/* the owner collects the remote frees when its local list runs dry */
	for (int i = 0; i < 100; i++)
		cr_assert_not_null(pool_alloc(&p), "object %d did not come back", i);
	cr_assert_null(pool_alloc(&p));
	cr_assert_eq(pool_in_use(&p), 100);
}

Test(pool, large_objects, .fini = teardown)
{
	cr_assert_eq(pool_init(&p, 200000, 0), 0);
	unsigned char *a = pool_alloc(&p), *b = pool_alloc(&p);

	cr_assert_not_null(a);
	cr_assert_not_null(b);
	memset(a, 1, 200000);
	memset(b, 2, 200000);
	cr_assert_eq(a[199999], 1);
	pool_free(a);
	pool_free(b);
}
