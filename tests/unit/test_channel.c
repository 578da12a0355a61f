/*
 * Unit tests of broker/channel: subscribe creates, find finds, subscriber
 * arrays copied on write and retired, the last unsubscribe unlinks, chains
 * of one bucket unlinked at the head, middle and tail, a reader standing on
 * an unlinked channel or an old array, escaped names, names with NUL bytes,
 * and the hash.
 *
 * Every test runs between setup() and finish(): finish() drains the epoch,
 * frees the table and the domain and asserts that the heap holds exactly the
 * bytes it held before setup (jemalloc's per-thread counters, or ASan's
 * allocator in the asan build), so a channel or array that is never retired,
 * or retired and never freed, fails the test that leaked it.
 */
#include <criterion/criterion.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>

#include "channel.h"
#include "epoch.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SLUICE_TEST_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define SLUICE_TEST_ASAN 1
#endif

#ifdef SLUICE_TEST_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);

static size_t live_bytes(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
#include <jemalloc/jemalloc.h>

/* bytes this thread allocated and did not free (the tests are one thread) */
static size_t live_bytes(void)
{
	uint64_t a = 0, d = 0;
	size_t sz = sizeof(uint64_t);

	cr_assert_eq(mallctl("thread.allocated", &a, &sz, NULL, 0), 0);
	sz = sizeof(uint64_t);
	cr_assert_eq(mallctl("thread.deallocated", &d, &sz, NULL, 0), 0);
	return (size_t)(a - d);
}
#endif

#define N(a) (sizeof(a) / sizeof((a)[0]))

static struct epoch dom;
static struct epoch_rec *rec;
static struct channel_table *t;
static size_t base;

/* fake sockets: channel.c never dereferences them */
static char sockets[256];
#define SOCK(i) ((struct sluice_socket *)&sockets[i])

static void make_table(uint32_t buckets)
{
	base = live_bytes();
	epoch_init(&dom);
	rec = epoch_join(&dom);
	cr_assert_not_null(rec);
	cr_assert_eq(channel_table_create(buckets, &t), 0);
	cr_assert_eq(channel_count(t), 0);
}

static void setup(void)
{
	make_table(16);
}

static void setup_one_bucket(void)
{
	make_table(1);
}

static void finish(void)
{
	epoch_barrier(rec);
	channel_table_destroy(t);
	t = NULL;
	epoch_leave(rec);
	epoch_deinit(&dom);
	size_t now = live_bytes();
	cr_assert_eq(now, base, "leaked %zd bytes", (ssize_t)(now - base));
}

static struct channel *find(const char *name, size_t len)
{
	struct channel *ch;

	epoch_enter(rec);
	ch = channel_find(t, name, len, channel_hash(name, len));
	epoch_exit(rec);
	return ch;
}

static struct channel *find_s(const char *name)
{
	return find(name, strlen(name));
}

static struct channel *sub(const char *name, size_t len, int i, int want_rc)
{
	struct channel *ch = NULL;

	cr_assert_eq(channel_subscribe(t, rec, name, len, SOCK(i), &ch), want_rc,
		     "subscribe %.*s socket %d", (int)len, name, i);
	cr_assert_not_null(ch);
	return ch;
}

static struct channel *sub_s(const char *name, int i)
{
	return sub(name, strlen(name), i, 0);
}

static struct subs *subs_of(struct channel *ch)
{
	return atomic_load_explicit(&ch->subs, memory_order_acquire);
}

/* ch's subscribers are exactly want[0, n), in that order */
static void assert_subs(struct channel *ch, const int *want, uint32_t n)
{
	struct subs *ss = subs_of(ch);

	cr_assert_not_null(ss, "%s: subs never NULL while linked", ch->name);
	cr_assert_eq(ss->n, n, "%s: %u subscribers, want %u", ch->name, ss->n, n);
	for (uint32_t i = 0; i < n; i++)
		cr_assert_eq(atomic_load(&ss->s[i]), SOCK(want[i]), "%s: subscriber %u", ch->name,
			     i);
}

/* ---- create, subscribe, find ------------------------------------------ */

Test(channel, empty_table_finds_nothing, .init = setup)
{
	channel_table_destroy(NULL); /* a no-op */
	cr_assert_null(find_s("x"));
	cr_assert_null(find("", 0));
	cr_assert_eq(channel_count(t), 0);
	finish();
}

Test(channel, subscribe_creates_and_find_finds, .init = setup)
{
	struct channel *ch = sub_s("news", 1);

	cr_assert_eq(channel_count(t), 1);
	cr_assert_eq(find_s("news"), ch);
	cr_assert_str_eq(ch->name, "news");
	cr_assert_eq(ch->len, 4);
	cr_assert_eq(ch->hash, channel_hash("news", 4));
	assert_subs(ch, (int[]){1}, 1);
	cr_assert_null(find_s("new"), "a prefix is another name");
	cr_assert_null(find_s("newsx"));
	cr_assert_null(find_s("News"));
	epoch_enter(rec);
	cr_assert_null(channel_find(t, "news", 4, channel_hash("news", 4) ^ 1),
		       "found by hash and name, not name alone");
	epoch_exit(rec);

	channel_unsubscribe(t, rec, ch, SOCK(1));
	finish();
}

Test(channel, subscribing_twice_returns_1_and_does_not_duplicate, .init = setup)
{
	struct channel *ch = sub_s("a", 1);
	struct subs *before = subs_of(ch);

	cr_assert_eq(sub("a", 1, 1, 1), ch);
	cr_assert_eq(subs_of(ch), before, "no new array for a repeat");
	assert_subs(ch, (int[]){1}, 1);
	cr_assert_eq(channel_count(t), 1);

	sub_s("a", 2);
	cr_assert_eq(sub("a", 1, 1, 1), ch, "found again among several");
	cr_assert_eq(sub("a", 1, 2, 1), ch);
	assert_subs(ch, (int[]){1, 2}, 2);

	channel_unsubscribe(t, rec, ch, SOCK(1));
	channel_unsubscribe(t, rec, ch, SOCK(2));
	cr_assert_eq(channel_count(t), 0);
	finish();
}

Test(channel, many_sockets_in_order_then_removed, .init = setup)
{
	int want[200];
	struct channel *ch = NULL;

	for (int i = 0; i < 200; i++) {
		struct channel *c = sub_s("room", i);
		if (ch)
			cr_assert_eq(c, ch, "one channel for every subscriber");
		ch = c;
		want[i] = i;
	}
	assert_subs(ch, want, 200);
	cr_assert_eq(channel_count(t), 1);

	/* the odd ones leave: the rest keep their order */
	for (int i = 1; i < 200; i += 2)
		channel_unsubscribe(t, rec, ch, SOCK(i));
	for (int i = 0; i < 100; i++)
		want[i] = 2 * i;
	assert_subs(ch, want, 100);
	cr_assert_eq(find_s("room"), ch);

	/* from the end, then from the front */
	channel_unsubscribe(t, rec, ch, SOCK(198));
	channel_unsubscribe(t, rec, ch, SOCK(0));
	assert_subs(ch, want + 1, 98);
	for (int i = 1; i < 99; i++)
		channel_unsubscribe(t, rec, ch, SOCK(2 * i));
	cr_assert_null(find_s("room"));
	cr_assert_eq(channel_count(t), 0);
	finish();
}

Test(channel, unsubscribing_a_stranger_changes_nothing, .init = setup)
{
	struct channel *ch = sub_s("c", 1);
	struct subs *before;

	sub_s("c", 2);
	before = subs_of(ch);
	channel_unsubscribe(t, rec, ch, SOCK(3));
	cr_assert_eq(subs_of(ch), before, "no copy for a socket that is not there");
	assert_subs(ch, (int[]){1, 2}, 2);
	cr_assert_eq(find_s("c"), ch);

	channel_unsubscribe(t, rec, ch, SOCK(1));
	channel_unsubscribe(t, rec, ch, SOCK(2));
	finish();
}

Test(channel, last_unsubscribe_unlinks_and_a_new_subscribe_recreates, .init = setup)
{
	struct channel *a = sub_s("a", 1), *b = sub_s("b", 1);

	cr_assert_neq(a, b);
	cr_assert_eq(channel_count(t), 2);
	channel_unsubscribe(t, rec, a, SOCK(1));
	cr_assert_null(find_s("a"));
	cr_assert_eq(find_s("b"), b, "the other channel stays");
	cr_assert_eq(channel_count(t), 1);

	epoch_barrier(rec); /* a is freed now */
	a = sub_s("a", 2);
	cr_assert_eq(find_s("a"), a);
	assert_subs(a, (int[]){2}, 1);
	cr_assert_eq(channel_count(t), 2);

	channel_unsubscribe(t, rec, a, SOCK(2));
	channel_unsubscribe(t, rec, b, SOCK(1));
	cr_assert_eq(channel_count(t), 0);
	finish();
}

Test(channel, many_channels, .init = setup)
{
	char name[32];
	static struct channel *chs[2000];

	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "channel-%d", i);
		chs[i] = sub_s(name, i % 256);
	}
	cr_assert_eq(channel_count(t), 2000);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "channel-%d", i);
		cr_assert_eq(find_s(name), chs[i], "%s", name);
		assert_subs(chs[i], (int[]){i % 256}, 1);
	}
	for (int i = 0; i < 2000; i += 2)
		channel_unsubscribe(t, rec, chs[i], SOCK(i % 256));
	cr_assert_eq(channel_count(t), 1000);
	for (int i = 0; i < 2000; i++) {
		snprintf(name, sizeof(name), "channel-%d", i);
		cr_assert_eq(find_s(name), i % 2 ? chs[i] : NULL, "%s", name);
	}
	for (int i = 1; i < 2000; i += 2)
		channel_unsubscribe(t, rec, chs[i], SOCK(i % 256));
	cr_assert_eq(channel_count(t), 0);
	finish();
}

/* ---- one bucket: chains ------------------------------------------------- */

static struct channel *next_of(struct channel *ch)
{
	return atomic_load_explicit(&ch->next, memory_order_acquire);
}

Test(channel, table_sizes_round_up, .init = setup)
{
	/* every size works; 0 and 1 give one bucket: two names share a chain */
	static const uint32_t sizes[] = {0, 1, 2, 3, 5, 1000, 1u << 16};

	for (size_t i = 0; i < N(sizes); i++) {
		struct channel_table *x;
		struct channel *a = NULL, *b = NULL;
		cr_assert_eq(channel_table_create(sizes[i], &x), 0, "%u buckets", sizes[i]);
		cr_assert_eq(channel_subscribe(x, rec, "a", 1, SOCK(1), &a), 0);
		cr_assert_eq(channel_subscribe(x, rec, "b", 1, SOCK(1), &b), 0);
		if (sizes[i] <= 1)
			cr_assert_eq(next_of(b), a, "%u buckets: one chain", sizes[i]);
		epoch_enter(rec);
		cr_assert_eq(channel_find(x, "a", 1, channel_hash("a", 1)), a);
		cr_assert_eq(channel_find(x, "b", 1, channel_hash("b", 1)), b);
		epoch_exit(rec);
		cr_assert_eq(channel_count(x), 2);
		channel_table_destroy(x); /* frees linked channels with their arrays */
	}
	finish();
}

/* the chain is exactly names[order[0]] -> names[order[1]] -> ... -> NULL */
static void assert_chain(struct channel **chs, const int *order, int n)
{
	for (int i = 0; i < n; i++)
		cr_assert_eq(next_of(chs[order[i]]), i + 1 < n ? chs[order[i + 1]] : NULL,
			     "link after c%d", order[i]);
	cr_assert_eq(channel_count(t), (uint64_t)n);
}

Test(channel, one_bucket_unlinks_middle_first_and_last, .init = setup_one_bucket)
{
	static const char *names[] = {"c0", "c1", "c2", "c3", "c4"};
	struct channel *chs[5];

	for (int i = 0; i < 5; i++)
		chs[i] = sub_s(names[i], i);
	assert_chain(chs, (int[]){4, 3, 2, 1, 0}, 5); /* new channels go first */

	channel_unsubscribe(t, rec, chs[2], SOCK(2)); /* middle */
	cr_assert_null(find_s("c2"));
	assert_chain(chs, (int[]){4, 3, 1, 0}, 4);

	channel_unsubscribe(t, rec, chs[4], SOCK(4)); /* first */
	cr_assert_null(find_s("c4"));
	assert_chain(chs, (int[]){3, 1, 0}, 3);

	channel_unsubscribe(t, rec, chs[0], SOCK(0)); /* last */
	cr_assert_null(find_s("c0"));
	assert_chain(chs, (int[]){3, 1}, 2);

	cr_assert_eq(find_s("c3"), chs[3]);
	cr_assert_eq(find_s("c1"), chs[1]);
	channel_unsubscribe(t, rec, chs[3], SOCK(3));
	channel_unsubscribe(t, rec, chs[1], SOCK(1));
	cr_assert_eq(channel_count(t), 0);
	cr_assert_null(find_s("c1"));
	finish();
}

Test(channel, one_bucket_subscribers_stay_with_their_channel, .init = setup_one_bucket)
{
	struct channel *a = sub_s("a", 1), *b = sub_s("b", 2), *c = sub_s("c", 3);

	cr_assert_eq(sub_s("b", 4), b);
	channel_unsubscribe(t, rec, a, SOCK(1));
	channel_unsubscribe(t, rec, b, SOCK(2));
	assert_subs(b, (int[]){4}, 1);
	assert_subs(c, (int[]){3}, 1);
	cr_assert_eq(find_s("b"), b);
	cr_assert_eq(next_of(c), b);
	cr_assert_null(next_of(b));
	channel_unsubscribe(t, rec, b, SOCK(4));
	channel_unsubscribe(t, rec, c, SOCK(3));
	finish();
}

/* ---- readers and retirement --------------------------------------------- */

/*
 * A reader that found a channel before it was unlinked still stands on it
 * until its section ends: the name and the link to the rest of the chain
 * are intact (under ASan, a free before the barrier is reported here).
 */
Test(channel, reader_on_an_unlinked_channel_walks_on, .init = setup_one_bucket)
{
	struct epoch_rec *r = epoch_join(&dom);
	struct channel *a = sub_s("a", 1), *b = sub_s("b", 2), *c = sub_s("c", 3);

	epoch_enter(r);
	struct channel *seen = channel_find(t, "b", 1, channel_hash("b", 1));
	cr_assert_eq(seen, b);
	channel_unsubscribe(t, rec, b, SOCK(2));
	epoch_poll(rec); /* must not free b: r is inside */
	cr_assert_eq(next_of(c), a, "unlinked from the chain");
	cr_assert_str_eq(seen->name, "b");
	cr_assert_eq(next_of(seen), a, "a reader on b still reaches a");
	cr_assert_eq(channel_find(t, "a", 1, channel_hash("a", 1)), a);
	cr_assert_null(channel_find(t, "b", 1, channel_hash("b", 1)));
	struct subs *ss = epoch_load((void *_Atomic *)&seen->subs);
	cr_assert_eq(ss->n, 1, "the last array stays with the channel");
	cr_assert_eq(atomic_load(&ss->s[0]), SOCK(2));
	epoch_exit(r);
	epoch_leave(r);

	channel_unsubscribe(t, rec, a, SOCK(1));
	channel_unsubscribe(t, rec, c, SOCK(3));
	finish();
}

/* An array a reader loaded is never changed, only replaced and retired. */
Test(channel, reader_keeps_its_array_while_writers_replace_it, .init = setup)
{
	struct epoch_rec *r = epoch_join(&dom);
	struct channel *ch = sub_s("x", 1);

	epoch_enter(r);
	struct subs *old = epoch_load((void *_Atomic *)&ch->subs);
	sub_s("x", 2);
	sub_s("x", 3);
	channel_unsubscribe(t, rec, ch, SOCK(1));
	epoch_poll(rec);
	cr_assert_neq(subs_of(ch), old, "replaced, not changed in place");
	cr_assert_eq(old->n, 1);
	cr_assert_eq(atomic_load(&old->s[0]), SOCK(1));
	epoch_exit(r);
	epoch_leave(r);
	assert_subs(ch, (int[]){2, 3}, 2);

	channel_unsubscribe(t, rec, ch, SOCK(2));
	channel_unsubscribe(t, rec, ch, SOCK(3));
	finish();
}

Test(channel, destroy_frees_linked_channels, .init = setup)
{
	/* left subscribed on purpose: finish() destroys the table with them */
	for (int i = 0; i < 50; i++) {
		char name[32];
		snprintf(name, sizeof(name), "left-%d", i);
		for (int k = 0; k < 5; k++)
			sub_s(name, k);
	}
	cr_assert_eq(channel_count(t), 50);
	finish();
}

/* ---- names ---------------------------------------------------------------- */

struct esc_case {
	const char *what;
	const char *name;
	size_t len;
	const char *esc; /* quotes included */
};

#define NAME(s) s, sizeof(s) - 1

static const struct esc_case esc_cases[] = {
    {"plain", NAME("news"), "\"news\""},
    {"empty", NAME(""), "\"\""},
    {"quote", NAME("say \"hi\""), "\"say \\\"hi\\\"\""},
    {"backslash", NAME("a\\b"), "\"a\\\\b\""},
    {"newline", NAME("a\nb"), "\"a\\nb\""},
    {"cr tab", NAME("\r\t"), "\"\\r\\t\""},
    {"control chars", NAME("\x01\x1f\b\f"), "\"\\u0001\\u001f\\u0008\\u000c\""},
    {"NUL", NAME("a\0b"), "\"a\\u0000b\""},
    {"slash and DEL pass", NAME("a/b\x7f"), "\"a/b\x7f\""},
    {"UTF-8 passes", NAME("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
     "\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\""},
    {"all at once", NAME("\"\\\n\x02\xc3\xa9"), "\"\\\"\\\\\\n\\u0002\xc3\xa9\""},
};

Test(channel, escaped_names, .init = setup)
{
	struct channel *chs[N(esc_cases)];

	for (size_t i = 0; i < N(esc_cases); i++) {
		const struct esc_case *c = &esc_cases[i];
		struct channel *ch = sub(c->name, c->len, 1, 0);
		chs[i] = ch;
		cr_assert_eq(ch->len, c->len, "%s: len", c->what);
		cr_assert(memcmp(ch->name, c->name, c->len) == 0, "%s: name bytes", c->what);
		cr_assert_eq(ch->name[c->len], '\0', "%s: name NUL-terminated", c->what);
		cr_assert_eq(ch->esc_len, strlen(c->esc), "%s: esc_len %u is '%.*s', want '%s'",
			     c->what, ch->esc_len, (int)ch->esc_len, ch->esc, c->esc);
		cr_assert(memcmp(ch->esc, c->esc, ch->esc_len) == 0, "%s: '%.*s', want '%s'",
			  c->what, (int)ch->esc_len, ch->esc, c->esc);
		cr_assert_eq(find(c->name, c->len), ch, "%s: found", c->what);
	}
	cr_assert_eq(channel_count(t), N(esc_cases), "every name is its own channel");
	for (size_t i = 0; i < N(esc_cases); i++)
		channel_unsubscribe(t, rec, chs[i], SOCK(1));
	finish();
}

Test(channel, names_with_nul_bytes_are_distinct, .init = setup)
{
	static const struct {
		const char *s;
		size_t len;
	} names[] = {{NAME("a")},  {NAME("a\0")}, {NAME("a\0b")}, {NAME("a\0c")},
		     {NAME("\0")}, {NAME("")},	  {NAME("\0\0")}, {NAME("a\0b\0")}};
	struct channel *chs[N(names)];

	for (size_t i = 0; i < N(names); i++)
		chs[i] = sub(names[i].s, names[i].len, (int)i, 0);
	cr_assert_eq(channel_count(t), N(names));
	for (size_t i = 0; i < N(names); i++) {
		cr_assert_eq(find(names[i].s, names[i].len), chs[i], "name %zu", i);
		cr_assert_eq(chs[i]->len, names[i].len);
		assert_subs(chs[i], (int[]){(int)i}, 1);
	}
	for (size_t i = 0; i < N(names); i++)
		channel_unsubscribe(t, rec, chs[i], SOCK(i));
	finish();
}

/* ---- hash ------------------------------------------------------------------ */

Test(channel, hash_is_stable)
{
	/* FNV-1a 64 with a final mix, computed independently */
	static const struct {
		const char *s;
		size_t len;
		uint64_t h;
	} pinned[] = {
	    {NAME(""), 0xecba3df2c3383c52ull},
	    {NAME("a"), 0xed8170de1919a24dull},
	    {NAME("foo"), 0x65a1ad7a7504b942ull},
	    {NAME("a\0b"), 0x234b9f53ca31740full},
	    {NAME("\xe2\x82\xac"), 0x94822b82153b9e6full},
	};

	for (size_t i = 0; i < N(pinned); i++) {
		cr_assert_eq(channel_hash(pinned[i].s, pinned[i].len), pinned[i].h,
			     "hash of case %zu is %#llx", i,
			     (unsigned long long)channel_hash(pinned[i].s, pinned[i].len));
		cr_assert_eq(channel_hash(pinned[i].s, pinned[i].len),
			     channel_hash(pinned[i].s, pinned[i].len));
	}
	cr_assert_neq(channel_hash("a", 1), channel_hash("a\0", 2), "the length counts");
}

Test(channel, hash_low_bits_use_every_byte)
{
	/* names differing in one byte only spread over the low bits (the bucket) */
	for (int pos = 0; pos < 8; pos++) {
		static bool seen[256];
		int distinct = 0;
		memset(seen, 0, sizeof(seen));
		for (int b = 0; b < 256; b++) {
			char name[8] = "channels";
			name[pos] = (char)b;
			uint8_t low = (uint8_t)channel_hash(name, sizeof(name));
			distinct += !seen[low];
			seen[low] = true;
		}
		cr_assert_geq(distinct, 128, "byte %d: only %d of 256 low bytes", pos, distinct);
	}
}
