/* Unit tests of lockfree/spsc: empty, full, wrap-around, batch edges, gauges. */
#include <criterion/criterion.h>
#include <errno.h>

#include "spsc.h"
#include "test_util.h"

static struct spsc q;

static void setup8(void)
{
	cr_assert_eq(spsc_init(&q, 8), 0);
}

static void teardown(void)
{
	spsc_deinit(&q);
}

Test(spsc, init_rejects_bad_capacity)
{
	struct spsc r;

	cr_assert_eq(spsc_init(&r, 0), -EINVAL);
	cr_assert_eq(spsc_init(&r, (1u << 31) + 1), -EINVAL);
}

Test(spsc, capacity_rounds_up_to_power_of_two)
{
	struct spsc r;

	cr_assert_eq(spsc_init(&r, 5), 0);
	cr_assert_eq(spsc_capacity(&r), 8);
	spsc_deinit(&r);
	cr_assert_eq(spsc_init(&r, 1), 0);
	cr_assert_eq(spsc_capacity(&r), 1);
	cr_assert_eq(spsc_push(&r, tu_item(0)), 1);
	cr_assert_eq(spsc_push(&r, tu_item(1)), 0);
	cr_assert_eq(tu_value(spsc_pop(&r)), 0);
	spsc_deinit(&r);
}

Test(spsc, empty, .init = setup8, .fini = teardown)
{
	void *out[4];

	cr_assert_null(spsc_pop(&q));
	cr_assert_eq(spsc_pop_n(&q, out, 4), 0);
	cr_assert_eq(spsc_peek(&q, out, 4), 0);
	cr_assert_eq(spsc_size(&q), 0);
	cr_assert_eq(spsc_backpressure(&q), 0);
	cr_assert_eq(spsc_free(&q), 8);
}

Test(spsc, full_refuses_and_changes_nothing, .init = setup8, .fini = teardown)
{
	for (int i = 0; i < 8; i++)
		cr_assert_eq(spsc_push(&q, tu_item(i)), 1);
	cr_assert_eq(spsc_size(&q), 8);
	cr_assert_eq(spsc_backpressure(&q), 8);
	cr_assert_eq(spsc_push(&q, tu_item(99)), 0);
	cr_assert_eq(spsc_produced(&q), 8);
	cr_assert_eq(spsc_free(&q), 0);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tu_value(spsc_pop(&q)), (uint64_t)i);
	cr_assert_null(spsc_pop(&q));
}

Test(spsc, wraps_around_many_laps_in_order, .init = setup8, .fini = teardown)
{
	uint64_t next_in = 0, next_out = 0;

	/* 5 in, 3 out, over and over: the cursors cross the slot boundary at every phase */
	for (int round = 0; round < 1000; round++) {
		for (int i = 0; i < 5 && spsc_size(&q) < 8; i++)
			cr_assert_eq(spsc_push(&q, tu_item(next_in++)), 1);
		for (int i = 0; i < 3; i++) {
			void *p = spsc_pop(&q);
			if (!p)
				break;
			cr_assert_eq(tu_value(p), next_out++);
		}
		cr_assert_eq(spsc_size(&q), next_in - next_out);
	}
	cr_assert_gt(next_in, 2000);
	cr_assert_eq(spsc_consumed(&q), next_out);
}

Test(spsc, batch_push_is_partial_when_short_of_room, .init = setup8, .fini = teardown)
{
	void *in[16], *out[16];

	for (int i = 0; i < 16; i++)
		in[i] = tu_item(i);
	cr_assert_eq(spsc_push_n(&q, in, 5), 5);
	cr_assert_eq(spsc_push_n(&q, in + 5, 11), 3); /* only 3 slots left */
	cr_assert_eq(spsc_push_n(&q, in + 8, 1), 0);
	cr_assert_eq(spsc_pop_n(&q, out, 16), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tu_value(out[i]), (uint64_t)i);
}

Test(spsc, batch_of_zero_and_exact_fit, .init = setup8, .fini = teardown)
{
	void *in[8], *out[8];

	for (int i = 0; i < 8; i++)
		in[i] = tu_item(i);
	cr_assert_eq(spsc_push_n(&q, in, 0), 0);
	cr_assert_eq(spsc_produced(&q), 0);
	cr_assert_eq(spsc_push_n(&q, in, 8), 8);
	cr_assert_eq(spsc_pop_n(&q, out, 0), 0);
	cr_assert_eq(spsc_pop_n(&q, out, 8), 8);
	cr_assert_eq(tu_value(out[7]), 7);
	/* a batch that straddles the end of the slot array */
	cr_assert_eq(spsc_push_n(&q, in, 3), 3);
	cr_assert_eq(spsc_pop_n(&q, out, 3), 3);
	cr_assert_eq(spsc_push_n(&q, in, 8), 8);
	cr_assert_eq(spsc_pop_n(&q, out, 8), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tu_value(out[i]), (uint64_t)i);
}

Test(spsc, peek_does_not_consume, .init = setup8, .fini = teardown)
{
	void *out[4];

	spsc_push(&q, tu_item(1));
	spsc_push(&q, tu_item(2));
	cr_assert_eq(spsc_peek(&q, out, 4), 2);
	cr_assert_eq(tu_value(out[0]), 1);
	cr_assert_eq(spsc_size(&q), 2);
	cr_assert_eq(spsc_pop_n(&q, NULL, 1), 1); /* drop one */
	cr_assert_eq(tu_value(spsc_pop(&q)), 2);
}

Test(spsc, cursors_sit_on_separate_cache_lines)
{
	cr_assert_geq(offsetof(struct spsc, head) - offsetof(struct spsc, slots), LF_CACHELINE);
	cr_assert_geq(offsetof(struct spsc, tail) - offsetof(struct spsc, head), LF_CACHELINE);
}
