/* Unit tests of lockfree/stream: joining, lags, backpressure, release, kill and close. */
#include <criterion/criterion.h>
#include <errno.h>

#include "stream.h"
#include "test_util.h"

static struct stream s;
static uint64_t released;      /* how many items the release callback saw */
static uint64_t next_released; /* items are released in push order */

static void on_release(void *item, void *ctx)
{
	(void)ctx;
	cr_assert_eq(tu_value(item), next_released, "released %llu, expected %llu",
		     (unsigned long long)tu_value(item), (unsigned long long)next_released);
	next_released++;
	released++;
}

static void setup8(void)
{
	released = next_released = 0;
	cr_assert_eq(stream_init(&s, 8, on_release, NULL), 0);
}

static void teardown(void)
{
	stream_deinit(&s);
}

static void push_range(uint64_t from, uint64_t to)
{
	for (uint64_t i = from; i < to; i++)
		cr_assert_eq(stream_push(&s, tu_item(i)), 1, "push %llu", (unsigned long long)i);
}

Test(stream, init_rejects_bad_capacity)
{
	struct stream t;

	cr_assert_eq(stream_init(&t, 0, NULL, NULL), -EINVAL);
}

Test(stream, without_consumers_items_are_released, .init = setup8, .fini = teardown)
{
	push_range(0, 20); /* more than the capacity: the room comes from releasing */
	cr_assert_eq(stream_backpressure(&s), 0);
	stream_reclaim(&s);
	cr_assert_eq(released, 20);
}

Test(stream, consumer_sees_only_items_after_it_joined, .init = setup8, .fini = teardown)
{
	void *out[8];

	push_range(0, 3);
	int id = stream_consumer_add(&s);
	cr_assert_geq(id, 0);
	push_range(3, 5);
	cr_assert_eq(stream_consumer_lag(&s, id), 2);
	cr_assert_eq(stream_pop_n(&s, id, out, 8), 2);
	cr_assert_eq(tu_value(out[0]), 3);
	cr_assert_eq(tu_value(out[1]), 4);
	cr_assert_eq(stream_pop_n(&s, id, out, 8), 0);
	cr_assert_eq(stream_consumer_lag(&s, id), 0);
}

Test(stream, backpressure_is_the_largest_lag, .init = setup8, .fini = teardown)
{
	void *out[8];
	int fast = stream_consumer_add(&s), slow = stream_consumer_add(&s);

	cr_assert_neq(fast, slow);
	push_range(0, 5);
	cr_assert_eq(stream_pop_n(&s, fast, out, 8), 5);
	cr_assert_eq(stream_pop_n(&s, slow, out, 1), 1);
	cr_assert_eq(stream_consumer_lag(&s, fast), 0);
	cr_assert_eq(stream_consumer_lag(&s, slow), 4);
	cr_assert_eq(stream_backpressure(&s), 4);
	cr_assert_eq(stream_consumers(&s), 2);
}

Test(stream, slowest_consumer_bounds_the_producer, .init = setup8, .fini = teardown)
{
	void *out[8];
	int fast = stream_consumer_add(&s), slow = stream_consumer_add(&s);

	push_range(0, 8);
	cr_assert_eq(stream_pop_n(&s, fast, out, 8), 8);
	cr_assert_eq(stream_push(&s, tu_item(8)), 0, "full while the slow one lags by 8");
	cr_assert_eq(stream_backpressure(&s), 8);
	cr_assert_eq(released, 0);
	cr_assert_eq(stream_pop_n(&s, slow, out, 3), 3);
	push_range(8, 11); /* exactly the room the slow one freed */
	cr_assert_eq(released, 3, "entries are freed when the slowest cursor passes them");
	cr_assert_eq(stream_push(&s, tu_item(11)), 0);
}

Test(stream, peeked_items_are_held_until_commit, .init = setup8, .fini = teardown)
{
	void *out[8];
	int id = stream_consumer_add(&s);

	push_range(0, 4);
	cr_assert_eq(stream_peek(&s, id, out, 8), 4);
	stream_reclaim(&s);
	cr_assert_eq(released, 0);
	cr_assert_eq(stream_consumer_lag(&s, id), 4);
	stream_commit(&s, id, 2);
	stream_reclaim(&s);
	cr_assert_eq(released, 2);
	cr_assert_eq(stream_consumer_lag(&s, id), 2);
}

Test(stream, kill_drops_the_backlog_at_once, .init = setup8, .fini = teardown)
{
	void *out[8];
	int slow = stream_consumer_add(&s), other = stream_consumer_add(&s);

	push_range(0, 6);
	cr_assert_eq(stream_pop_n(&s, other, out, 8), 6);
	cr_assert_eq(stream_backpressure(&s), 6);
	cr_assert_eq(stream_consumer_kill(&s, slow), 0);
	cr_assert_eq(stream_consumer_lag(&s, slow), 0, "lag 0 right after kill");
	cr_assert_eq(stream_backpressure(&s), 0);
	cr_assert_eq(stream_consumers(&s), 1);
	stream_reclaim(&s);
	cr_assert_eq(released, 6, "the killed consumer no longer holds its backlog");
	cr_assert_eq(stream_consumer_kill(&s, slow), -ENOENT);
	cr_assert_eq(stream_peek(&s, slow, out, 8), -EPIPE);
	/* its slot is free again */
	cr_assert_eq(stream_consumer_add(&s), slow);
}

Test(stream, kill_while_holding_keeps_the_held_items, .init = setup8, .fini = teardown)
{
	void *out[8];
	int id = stream_consumer_add(&s);

	push_range(0, 5);
	cr_assert_eq(stream_peek(&s, id, out, 3), 3);
	cr_assert_eq(stream_consumer_kill(&s, id), 0);
	cr_assert_eq(stream_consumer_lag(&s, id), 0);
	stream_reclaim(&s);
	cr_assert_eq(released, 0, "held items outlive the kill until commit");
	stream_commit(&s, id, 3);
	stream_reclaim(&s);
	cr_assert_eq(released, 5);
	cr_assert_eq(stream_peek(&s, id, out, 8), -EPIPE);
}

Test(stream, close_lets_the_consumer_drain_then_end, .init = setup8, .fini = teardown)
{
	void *out[8];
	int id = stream_consumer_add(&s), other = stream_consumer_add(&s);

	push_range(0, 3);
	cr_assert_eq(stream_consumer_close(&s, id), 0);
	push_range(3, 5); /* after the close: not for the closed consumer */
	cr_assert_eq(stream_consumer_lag(&s, id), 3);
	cr_assert_eq(stream_pop_n(&s, id, out, 2), 2);
	cr_assert_eq(stream_pop_n(&s, id, out, 8), 1);
	cr_assert_eq(tu_value(out[0]), 2);
	cr_assert_eq(stream_consumer_lag(&s, id), 0);
	cr_assert_eq(stream_peek(&s, id, out, 8), -EPIPE);
	cr_assert_eq(stream_pop_n(&s, other, out, 8), 5);
}

Test(stream, stream_close_drains_every_consumer_and_refuses_pushes, .init = setup8,
     .fini = teardown)
{
	void *out[8];
	int a = stream_consumer_add(&s), b = stream_consumer_add(&s);

	push_range(0, 4);
	stream_close(&s);
	cr_assert_eq(stream_push(&s, tu_item(4)), 0);
	cr_assert_eq(stream_consumer_add(&s), -EPIPE);
	cr_assert_eq(stream_pop_n(&s, a, out, 8), 4);
	cr_assert_eq(stream_peek(&s, a, out, 8), -EPIPE);
	cr_assert_eq(stream_backpressure(&s), 4);
	cr_assert_eq(stream_pop_n(&s, b, out, 2), 2);
	cr_assert_eq(stream_pop_n(&s, b, out, 8), 2);
	cr_assert_eq(stream_peek(&s, b, out, 8), -EPIPE);
	stream_reclaim(&s);
	cr_assert_eq(released, 4);
}

Test(stream, stream_kill_ends_everyone, .init = setup8, .fini = teardown)
{
	void *out[8];
	int a = stream_consumer_add(&s), b = stream_consumer_add(&s);

	push_range(0, 7);
	stream_kill(&s);
	cr_assert_eq(stream_backpressure(&s), 0);
	cr_assert_eq(stream_peek(&s, a, out, 8), -EPIPE);
	cr_assert_eq(stream_peek(&s, b, out, 8), -EPIPE);
	cr_assert_eq(stream_consumers(&s), 0);
}

Test(stream, out_of_range_ids_are_refused, .init = setup8, .fini = teardown)
{
	cr_assert_eq(stream_consumer_kill(&s, -1), -ENOENT);
	cr_assert_eq(stream_consumer_kill(&s, STREAM_MAX_CONSUMERS), -ENOENT);
	cr_assert_eq(stream_consumer_close(&s, STREAM_MAX_CONSUMERS + 5), -ENOENT);
	cr_assert_eq(stream_consumer_lag(&s, -3), 0);
}

Test(stream, consumer_slots_run_out, .init = setup8, .fini = teardown)
{
	for (int i = 0; i < STREAM_MAX_CONSUMERS; i++)
		cr_assert_eq(stream_consumer_add(&s), i);
	cr_assert_eq(stream_consumer_add(&s), -ENOSPC);
}

Test(stream, deinit_releases_what_is_left)
{
	released = next_released = 0;
	cr_assert_eq(stream_init(&s, 8, on_release, NULL), 0);
	int id = stream_consumer_add(&s);
	(void)id;
	push_range(0, 6);
	stream_deinit(&s);
	cr_assert_eq(released, 6);
}

Test(stream, wraps_around_many_laps, .init = setup8, .fini = teardown)
{
	void *out[8];
	int id = stream_consumer_add(&s);
	uint64_t in = 0, seen = 0;

	for (int round = 0; round < 500; round++) {
		while (stream_push(&s, tu_item(in)))
			in++;
		int k = stream_pop_n(&s, id, out, 5);
		for (int i = 0; i < k; i++)
			cr_assert_eq(tu_value(out[i]), seen++);
	}
	cr_assert_gt(seen, 2000);
	cr_assert_eq(stream_consumer_lag(&s, id), in - seen);
	stream_reclaim(&s);
	cr_assert_eq(released, seen);
}
