/*
 * Stress test of broker/channel: three writers subscribe and unsubscribe
 * their own sockets on a few channels (four hot ones that empty out, get
 * unlinked and come back all the time, four with long subscriber arrays),
 * in a table of four buckets so that chains are shared, while two readers
 * find every channel and walk its subscribers inside epoch sections.
 *
 * Readers count anything a subscriber array must never show: a socket
 * outside the valid set or outside the channel's own set, a NULL, a
 * duplicate, a name that does not match. Each writer owns distinct sockets,
 * so it knows its own subscriptions exactly; at the end the table must hold
 * exactly the union of the writers' models. Retired arrays and channels are
 * freed by the writers' polls; under ASan a reader that touched one after
 * its free would stop the test (ck_epoch's fences are invisible to TSan, so
 * like stress_epoch this test belongs to the ASan build, not the TSan one).
 */
#include "stress.h"
#include <pthread.h>
#include <stdbool.h>
#include <string.h>

#include "channel.h"
#include "epoch.h"
#include "test_util.h"

#define WRITERS	  3
#define READERS	  2
#define CHANNELS  8
#define SOCKS	  16 /* per writer; hot channels use only the first HOT_SOCKS */
#define HOT	  4  /* channels 0..HOT-1 are hot */
#define HOT_SOCKS 2
#define BUCKETS	  4

static const char *const names[CHANNELS] = {"hot-0",  "hot-1\n\"x\"", "hot-2",	"hot-3",
					    "long-4", "long-5",	      "long-6", "long-7 \xc3\xa9"};
static size_t lens[CHANNELS], esc_lens[CHANNELS];
static uint64_t hashes[CHANNELS];

static struct epoch dom;
static struct channel_table *table;
static char sockets[WRITERS * SOCKS]; /* never dereferenced: identities only */
static _Atomic int done;

static uint32_t socks_of(int c)
{
	return c < HOT ? HOT_SOCKS : SOCKS;
}

static struct sluice_socket *sock(int w, uint32_t k)
{
	return (struct sluice_socket *)&sockets[w * SOCKS + (int)k];
}

struct writer {
	pthread_t thread;
	int id;
	uint64_t ops, seed;
	bool sub[CHANNELS][SOCKS];
	struct channel *ch[CHANNELS][SOCKS];
	uint64_t subscribed, unsubscribed, repeats, bad;
};

struct reader {
	pthread_t thread;
	uint64_t sweeps, found, entries, bad;
};

static void *writer_main(void *arg)
{
	struct writer *w = arg;
	struct epoch_rec *rec = epoch_join(&dom);

	if (!rec) {
		w->bad++;
		return NULL;
	}
	for (uint64_t op = 0; op < w->ops; op++) {
		uint64_t r = tu_rand(&w->seed);
		int c = (int)(r % CHANNELS);
		uint32_t k = (uint32_t)(r >> 8) % socks_of(c);
		unsigned dice = (unsigned)(r >> 24) % 8;
		struct sluice_socket *s = sock(w->id, k);
		bool in = w->sub[c][k];
		struct channel *ch = NULL;

		if (!in && dice < 2) {
			/* 1 in 4: the hot channels empty out and are unlinked often */
			int rc = channel_subscribe(table, rec, names[c], lens[c], s, &ch);
			if (rc != 0 || ch->len != lens[c] ||
			    memcmp(ch->name, names[c], lens[c]) != 0)
				w->bad++;
			w->sub[c][k] = true;
			w->ch[c][k] = ch;
			w->subscribed++;
		} else if (in && dice == 0) {
			/* again: 1, the same channel, nothing added */
			int rc = channel_subscribe(table, rec, names[c], lens[c], s, &ch);
			if (rc != 1 || ch != w->ch[c][k])
				w->bad++;
			w->repeats++;
		} else if (in && dice < 5) {
			channel_unsubscribe(table, rec, w->ch[c][k], s);
			w->sub[c][k] = false;
			w->ch[c][k] = NULL;
			w->unsubscribed++;
		}
		if ((op & 63) == 0)
			epoch_poll(rec);
	}
	epoch_leave(rec); /* runs what this writer retired, after the readers moved on */
	return NULL;
}

/* Checks one channel's array inside the caller's section; returns faults. */
static uint64_t check_subs(int c, struct channel *ch, uint64_t *entries)
{
	struct subs *ss = epoch_load((void *_Atomic *)&ch->subs);
	uint64_t seen = 0, bad = 0;

	if (ch->len != lens[c] || memcmp(ch->name, names[c], lens[c]) != 0 ||
	    ch->esc_len != esc_lens[c] || ch->hash != hashes[c])
		bad++;
	if (!ss)
		return bad + 1;
	if (ss->n > WRITERS * socks_of(c))
		bad++;
	for (uint32_t i = 0; i < ss->n; i++) {
		/* relaxed: the array's acquire load above orders its entries */
		uintptr_t p = (uintptr_t)atomic_load_explicit(&ss->s[i], memory_order_relaxed);
		if (p < (uintptr_t)sockets || p >= (uintptr_t)sockets + sizeof(sockets)) {
			bad++; /* NULL included */
			continue;
		}
		int idx = (int)(p - (uintptr_t)sockets);
		if ((uint32_t)(idx % SOCKS) >= socks_of(c) || (seen >> idx) & 1)
			bad++; /* another channel's socket, or twice */
		seen |= 1ull << idx;
	}
	*entries += ss->n;
	return bad;
}

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	struct epoch_rec *rec = epoch_join(&dom);

	if (!rec) {
		rd->bad++;
		return NULL;
	}
	while (!atomic_load_explicit(&done, memory_order_relaxed)) {
		epoch_enter(rec);
		for (int c = 0; c < CHANNELS; c++) {
			struct channel *ch = channel_find(table, names[c], lens[c], hashes[c]);
			if (!ch)
				continue;
			rd->found++;
			rd->bad += check_subs(c, ch, &rd->entries);
		}
		epoch_exit(rec);
		if ((++rd->sweeps & 15) == 0)
			epoch_poll(rec); /* helps the epoch along; readers retire nothing */
	}
	epoch_leave(rec);
	return NULL;
}

Test(stress_channel, writers_and_readers_agree_with_the_model, .timeout = 600)
{
	static struct writer writers[WRITERS];
	static struct reader readers[READERS];
	/* about a third of the operations change something; the rest are skipped by the dice */
	uint64_t ops = tu_stress_items(10 * 1000 * 1000) / WRITERS;
	struct epoch_rec *rec;

	_Static_assert(WRITERS * SOCKS <= 64, "readers track sockets in a 64-bit mask");
	for (int c = 0; c < CHANNELS; c++) {
		lens[c] = strlen(names[c]);
		hashes[c] = channel_hash(names[c], lens[c]);
		esc_lens[c] = lens[c] + 2; /* quotes; UTF-8 passes as it is */
	}
	esc_lens[1] += 3; /* \n and two \" */

	epoch_init(&dom);
	cr_assert_eq(channel_table_create(BUCKETS, &table), 0);
	atomic_store(&done, 0);
	for (int i = 0; i < READERS; i++)
		cr_assert_eq(pthread_create(&readers[i].thread, NULL, reader_main, &readers[i]), 0);
	for (int i = 0; i < WRITERS; i++) {
		writers[i].id = i;
		writers[i].ops = ops;
		writers[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		cr_assert_eq(pthread_create(&writers[i].thread, NULL, writer_main, &writers[i]), 0);
	}
	for (int i = 0; i < WRITERS; i++)
		pthread_join(writers[i].thread, NULL);
	atomic_store(&done, 1);
	for (int i = 0; i < READERS; i++)
		pthread_join(readers[i].thread, NULL);

	uint64_t wbad = 0, rbad = 0, sweeps = 0, found = 0, net = 0, repeats = 0;
	for (int i = 0; i < WRITERS; i++) {
		wbad += writers[i].bad;
		net += writers[i].subscribed - writers[i].unsubscribed;
		repeats += writers[i].repeats;
		cr_assert_gt(writers[i].unsubscribed, 0);
	}
	for (int i = 0; i < READERS; i++) {
		rbad += readers[i].bad;
		sweeps += readers[i].sweeps;
		found += readers[i].found;
	}
	cr_assert_eq(wbad, 0, "a subscribe returned what the writer's model did not expect");
	cr_assert_eq(rbad, 0, "a reader saw a socket outside the set, twice, or a torn channel");
	cr_assert_gt(sweeps, 0);
	cr_assert_gt(found, 0);
	cr_assert_gt(repeats, 0);

	/* the table is the union of the writers' models */
	rec = epoch_join(&dom);
	uint64_t live = 0, total = 0, entries = 0;
	for (int c = 0; c < CHANNELS; c++) {
		uint32_t want = 0;
		epoch_enter(rec);
		struct channel *ch = channel_find(table, names[c], lens[c], hashes[c]);
		for (int w = 0; w < WRITERS; w++) {
			for (uint32_t k = 0; k < socks_of(c); k++) {
				if (!writers[w].sub[c][k])
					continue;
				want++;
				cr_assert_eq(writers[w].ch[c][k], ch,
					     "the writer's channel is the one");
			}
		}
		if (!want) {
			cr_assert_null(ch, "an empty channel was unlinked");
		} else {
			cr_assert_neq(ch, NULL);
			struct subs *ss = epoch_load((void *_Atomic *)&ch->subs);
			cr_assert_eq(check_subs(c, ch, &entries), 0);
			cr_assert_eq(ss->n, want);
			for (int w = 0; w < WRITERS; w++) {
				for (uint32_t k = 0; k < socks_of(c); k++) {
					bool in = false;
					for (uint32_t i = 0; i < ss->n; i++)
						in |= atomic_load_explicit(&ss->s[i],
									   memory_order_relaxed) ==
						      sock(w, k);
					cr_assert_eq(in, writers[w].sub[c][k]);
				}
			}
			live++;
		}
		epoch_exit(rec);
		total += want;
	}
	cr_assert_eq(total, net, "every subscription accounted for");
	cr_assert_eq(entries, net);
	cr_assert_eq(channel_count(table), live);

	/* the rest leave: the table empties */
	for (int w = 0; w < WRITERS; w++)
		for (int c = 0; c < CHANNELS; c++)
			for (uint32_t k = 0; k < socks_of(c); k++)
				if (writers[w].sub[c][k])
					channel_unsubscribe(table, rec, writers[w].ch[c][k],
							    sock(w, k));
	cr_assert_eq(channel_count(table), 0);
	for (int c = 0; c < CHANNELS; c++) {
		epoch_enter(rec);
		cr_assert_null(channel_find(table, names[c], lens[c], hashes[c]));
		epoch_exit(rec);
	}
	epoch_barrier(rec);
	epoch_leave(rec);
	channel_table_destroy(table);
	epoch_deinit(&dom);
}
