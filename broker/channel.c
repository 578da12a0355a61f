/*
 * channel: the lock-free-read channel table (see channel.h).
 *
 * Writers of one bucket are serialised by its stripe lock (bucket index mod
 * STRIPES), so a chain and every subscriber array in it change one writer at
 * a time; readers never lock. Unlinking a channel stores its successor into
 * the predecessor's link, so a reader standing on the unlinked channel still
 * walks on to the rest of the chain; the channel itself is freed only after
 * the grace period.
 *
 * Threads: see channel.h.
 */
#include "channel.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "frame.h"
#include "sluice.h"

#define STRIPES 64

struct channel_table {
	struct io_server *ios;  /* tallies come from it; NULL: none */
	uint64_t mask;
	_Atomic uint64_t count;
	pthread_mutex_t locks[STRIPES];
	struct channel *_Atomic buckets[];
};

int channel_table_create(uint32_t buckets, struct channel_table **out)
{
	uint64_t n = 1;
	struct channel_table *t;

	while (n < buckets)
		n <<= 1;
	t = calloc(1, sizeof(*t) + n * sizeof(t->buckets[0]));
	if (!t)
		return -ENOMEM;
	t->mask = n - 1;
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_init(&t->locks[i], NULL);
	*out = t;
	return 0;
}

void channel_table_tallies(struct channel_table *t, struct io_server *ios)
{
	t->ios = ios;
}

void channel_each(struct channel_table *t, int (*fn)(struct channel *ch, void *ctx), void *ctx)
{
	for (uint64_t i = 0; i <= t->mask; i++)
		for (struct channel *ch = epoch_load((void *_Atomic *)&t->buckets[i]); ch;
		     ch = epoch_load((void *_Atomic *)&ch->next))
			if (fn(ch, ctx))
				return;
}

void channel_table_destroy(struct channel_table *t)
{
	if (!t)
		return;
	for (uint64_t i = 0; i <= t->mask; i++) {
		struct channel *ch = atomic_load_explicit(&t->buckets[i], memory_order_relaxed);
		while (ch) {
			struct channel *next = atomic_load_explicit(&ch->next, memory_order_relaxed);
			free(atomic_load_explicit(&ch->subs, memory_order_relaxed));
			io_tally_put(ch->tally);
			free(ch);
			ch = next;
		}
	}
	for (int i = 0; i < STRIPES; i++)
		pthread_mutex_destroy(&t->locks[i]);
	free(t);
}

uint64_t channel_hash(const char *name, size_t len)
{
	/* FNV-1a, then a final mix so the low bits (the bucket) use every byte */
	uint64_t h = 0xcbf29ce484222325ull;

	for (size_t i = 0; i < len; i++) {
		h ^= (uint8_t)name[i];
		h *= 0x100000001b3ull;
	}
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

struct channel *channel_find(struct channel_table *t, const char *name, size_t len, uint64_t hash)
{
	struct channel *ch = epoch_load((void *_Atomic *)&t->buckets[hash & t->mask]);

	for (; ch; ch = epoch_load((void *_Atomic *)&ch->next))
		if (ch->hash == hash && ch->len == len && memcmp(ch->name, name, len) == 0)
			return ch;
	return NULL;
}

static void channel__free_subs(epoch_entry_t *e)
{
	free((struct subs *)((char *)e - offsetof(struct subs, entry)));
}

static void channel__free(epoch_entry_t *e)
{
	struct channel *ch = (struct channel *)((char *)e - offsetof(struct channel, entry));

	free(atomic_load_explicit(&ch->subs, memory_order_relaxed));
	io_tally_put(ch->tally); /* frames still queued hold their own */
	free(ch);
}

static struct channel *channel__new(struct channel_table *t, const char *name, size_t len,
				    uint64_t hash)
{
	size_t esc = frame_str_len(name, len);
	struct channel *ch = calloc(1, sizeof(*ch) + len + 1 + esc);
	struct subs *none = calloc(1, sizeof(*none));
	struct frame f;

	if (!ch || !none) {
		free(ch);
		free(none);
		return NULL;
	}
	memcpy(ch->name, name, len);
	ch->len = (uint32_t)len;
	ch->hash = hash;
	ch->esc = ch->name + len + 1;
	/* the escaped name, written by the frame encoder into a scratch frame */
	frame_begin(&f, esc);
	frame_str(&f, name, len);
	if (f.oom) {
		free(ch);
		free(none);
		return NULL;
	}
	memcpy(ch->esc, f.m->data, esc);
	io_msg_free(f.m);
	ch->esc_len = (uint32_t)esc;
	atomic_init(&ch->subs, none);
	if (t->ios && io_tally_new(t->ios, &ch->tally) < 0) {
		free(ch);
		free(none);
		return NULL;
	}
	return ch;
}

int channel_subscribe(struct channel_table *t, struct epoch_rec *rec, const char *name, size_t len,
		      struct sluice_socket *s, struct channel **out)
{
	uint64_t hash = channel_hash(name, len);
	uint64_t b = hash & t->mask;
	pthread_mutex_t *lock = &t->locks[b % STRIPES];
	struct channel *ch;
	int rc = 0;

	pthread_mutex_lock(lock);
	/* relaxed loads: the stripe lock orders every writer of this chain */
	for (ch = atomic_load_explicit(&t->buckets[b], memory_order_relaxed); ch;
	     ch = atomic_load_explicit(&ch->next, memory_order_relaxed))
		if (ch->hash == hash && ch->len == len && memcmp(ch->name, name, len) == 0)
			break;
	if (!ch) {
		ch = channel__new(t, name, len, hash);
		if (!ch) {
			rc = -ENOMEM;
			goto out;
		}
		atomic_init(&ch->next, atomic_load_explicit(&t->buckets[b], memory_order_relaxed));
		/* release: a reader that finds ch sees it whole */
		atomic_store_explicit(&t->buckets[b], ch, memory_order_release);
		atomic_fetch_add_explicit(&t->count, 1, memory_order_relaxed); /* a gauge */
	}
	struct subs *old = atomic_load_explicit(&ch->subs, memory_order_relaxed);
	for (uint32_t i = 0; i < old->n; i++) {
		if (atomic_load_explicit(&old->s[i], memory_order_relaxed) == s) {
			rc = 1;
			goto out;
		}
	}
	struct subs *nu = malloc(sizeof(*nu) + (old->n + 1) * sizeof(nu->s[0]));
	if (!nu) {
		rc = -ENOMEM; /* a channel created just now stays, empty, until the next unsubscribe */
		goto out;
	}
	for (uint32_t i = 0; i < old->n; i++) /* relaxed: published by the release below */
		atomic_init(&nu->s[i], atomic_load_explicit(&old->s[i], memory_order_relaxed));
	atomic_init(&nu->s[old->n], s);
	nu->n = old->n + 1;
	/* release: publishers see the array whole */
	atomic_store_explicit(&ch->subs, nu, memory_order_release);
	epoch_retire(rec, &old->entry, channel__free_subs);
out:
	pthread_mutex_unlock(lock);
	if (rc >= 0)
		*out = ch;
	return rc;
}

void channel_unsubscribe(struct channel_table *t, struct epoch_rec *rec, struct channel *ch,
			 struct sluice_socket *s)
{
	uint64_t b = ch->hash & t->mask;
	pthread_mutex_t *lock = &t->locks[b % STRIPES];

	pthread_mutex_lock(lock);
	struct subs *old = atomic_load_explicit(&ch->subs, memory_order_relaxed);
	uint32_t at = old->n;
	for (uint32_t i = 0; i < old->n; i++) /* relaxed: we are the only writer */
		if (atomic_load_explicit(&old->s[i], memory_order_relaxed) == s)
			at = i;
	if (at == old->n)
		goto out;
	if (old->n == 1) {
		/* the last one: unlink the channel; readers on it walk on via ch->next */
		struct channel *_Atomic *link = &t->buckets[b];
		struct channel *x;
		while ((x = atomic_load_explicit(link, memory_order_relaxed)) != ch)
			link = &x->next;
		/* release: pairs with readers' acquire loads of the chain */
		atomic_store_explicit(link, atomic_load_explicit(&ch->next, memory_order_relaxed),
				      memory_order_release);
		atomic_fetch_sub_explicit(&t->count, 1, memory_order_relaxed); /* a gauge */
		epoch_retire(rec, &ch->entry, channel__free);
		goto out;
	}
	struct subs *nu = malloc(sizeof(*nu) + (old->n - 1) * sizeof(nu->s[0]));
	if (!nu) {
		/* cannot shrink: blank the slot in place; publishers skip NULL, and
		 * the socket is freed only after every reader of this slot left */
		atomic_store_explicit(&old->s[at], NULL, memory_order_relaxed);
		goto out;
	}
	for (uint32_t i = 0, k = 0; i < old->n; i++) /* relaxed: published below */
		if (i != at)
			atomic_init(&nu->s[k++], atomic_load_explicit(&old->s[i], memory_order_relaxed));
	nu->n = old->n - 1;
	atomic_store_explicit(&ch->subs, nu, memory_order_release); /* release: as above */
	epoch_retire(rec, &old->entry, channel__free_subs);
out:
	pthread_mutex_unlock(lock);
}

uint64_t channel_count(const struct channel_table *t)
{
	return atomic_load_explicit(&t->count, memory_order_relaxed); /* a gauge */
}

uint64_t channel_slowest(const struct channel *ch)
{
	struct subs *sub = epoch_load((void *_Atomic *)&ch->subs);
	uint64_t max = 0;

	for (uint32_t i = 0; i < sub->n; i++) {
		struct sluice_socket *s = atomic_load_explicit(&sub->s[i], memory_order_relaxed);
		uint64_t lag = s ? sluice_socket_outbound_backpressure(s) : 0;
		if (lag > max)
			max = lag;
	}
	return max;
}
