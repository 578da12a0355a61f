/* Unit tests of lockfree/mpsc: empty, full, wrap-around, batch edges, gauges. */
#include <criterion/criterion.h>
#include <errno.h>

#include "mpsc.h"
#include "test_util.h"

static struct mpsc q;

static void setup8(void)
{
	cr_assert_eq(mpsc_init(&q, 8), 0);
}

static void teardown(void)
{
	mpsc_deinit(&q);
}

Test(mpsc, init_rejects_bad_capacity)
{
	struct mpsc r;

	cr_assert_eq(mpsc_init(&r, 0), -EINVAL);
	cr_assert_eq(mpsc_init(&r, 3), 0);
	cr_assert_eq(r.cap, 4);
	mpsc_deinit(&r);
}

Test(mpsc, empty, .init = setup8, .fini = teardown)
{
	void *out[4];

	cr_assert_null(mpsc_pop(&q));
	cr_assert_eq(mpsc_pop_n(&q, out, 4), 0);
	cr_assert_eq(mpsc_size(&q), 0);
}

Test(mpsc, full_refuses_and_changes_nothing, .init = setup8, .fini = teardown)
{
	for (int i = 0; i < 8; i++)
		cr_assert_eq(mpsc_push(&q, tu_item(i)), 1);
	cr_assert_eq(mpsc_backpressure(&q), 8);
	cr_assert_eq(mpsc_push(&q, tu_item(8)), 0);
	cr_assert_eq(mpsc_produced(&q), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tu_value(mpsc_pop(&q)), (uint64_t)i);
	cr_assert_null(mpsc_pop(&q));
	cr_assert_eq(mpsc_consumed(&q), 8);
}

Test(mpsc, wraps_around_many_laps_in_order, .init = setup8, .fini = teardown)
{
	uint64_t in = 0, out = 0;

	for (int round = 0; round < 1000; round++) {
		for (int i = 0; i < 7; i++)
			if (mpsc_push(&q, tu_item(in)))
				in++;
		for (int i = 0; i < 5; i++) {
			void *p = mpsc_pop(&q);
			if (!p)
				break;
			cr_assert_eq(tu_value(p), out++);
		}
		cr_assert_eq(mpsc_size(&q), in - out);
	}
	cr_assert_gt(in, 4000);
}

Test(mpsc, batch_push_takes_what_fits, .init = setup8, .fini = teardown)
{
	void *in[16], *out[16];

	for (int i = 0; i < 16; i++)
		in[i] = tu_item(i);
	cr_assert_eq(mpsc_push_n(&q, in, 6), 6);
	cr_assert_eq(mpsc_push_n(&q, in + 6, 10), 2);
	cr_assert_eq(mpsc_push_n(&q, in, 1), 0);
	cr_assert_eq(mpsc_pop_n(&q, out, 3), 3);
	/* three freed cells, one batch of five asks: three go in, straddling the end */
	cr_assert_eq(mpsc_push_n(&q, in + 8, 5), 3);
	cr_assert_eq(mpsc_pop_n(&q, out, 16), 8);
	for (int i = 0; i < 8; i++)
		cr_assert_eq(tu_value(out[i]), (uint64_t)i + 3);
	cr_assert_eq(mpsc_push_n(&q, in, 0), 0);
}

Test(mpsc, pop_stops_at_an_unpublished_cell, .init = setup8, .fini = teardown)
{
	void *out[8];

	/* reserve position 0 by hand as a stalled producer would, then publish 1 */
	atomic_store(&q.head, 2);
	q.cells[1].item = tu_item(1);
	atomic_store(&q.cells[1].seq, 2);
	cr_assert_eq(mpsc_pop_n(&q, out, 8), 0);
	q.cells[0].item = tu_item(0);
	atomic_store(&q.cells[0].seq, 1);
	cr_assert_eq(mpsc_pop_n(&q, out, 8), 2);
	cr_assert_eq(tu_value(out[1]), 1);
}
