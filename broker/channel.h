/*
 * channel: the channel table, shared by every worker. Publishers find a
 * channel and read its subscribers without a lock, inside an epoch section;
 * subscribe and unsubscribe replace a channel's subscriber array (copy,
 * publish the new one, retire the old) under one of the table's stripe
 * locks. A channel with no subscriber left is unlinked and retired, so the
 * table holds only channels someone listens to.
 *
 *   buckets[hash & mask] -> channel -> channel -> NULL     (chains: atomic next)
 *                              |
 *                              '-> subs {n, socket[0..n)}   (immutable once published)
 *
 * Names are the channel's text (JSON-unescaped); each channel also keeps its
 * name JSON-escaped, ready for the #publish frames built for it.
 *
 * Threads: channel_find and reading ch->subs: any thread inside an epoch
 * section of its own record. channel_subscribe and channel_unsubscribe: any
 * thread with its own record (they lock the stripe, retire through rec).
 * channel_table_create/destroy: no concurrent use.
 */
#ifndef SLUICE_CHANNEL_H
#define SLUICE_CHANNEL_H

#include <stdint.h>

#include "epoch.h"
#include "io.h"

struct sluice_socket;

struct subs {
	epoch_entry_t entry;
	uint32_t n;
	/* relaxed loads suffice (the array's acquire orders them); an entry is
	 * NULL when its socket left and no smaller array could be allocated */
	struct sluice_socket *_Atomic s[];
};

struct channel {
	epoch_entry_t entry;
	struct channel *_Atomic next;
	struct subs *_Atomic subs;   /* never NULL while linked */
	struct io_tally *tally;      /* where its publishes went (NULL: no io server) */
	uint64_t hash;
	uint32_t len;                /* of name */
	uint32_t esc_len;            /* of esc, quotes included */
	char *esc;                   /* the name as a JSON string, quotes included */
	char name[];                 /* NUL-terminated */
};

struct channel_table;

/* buckets: rounded up to a power of two. 0 or -ENOMEM. */
int channel_table_create(uint32_t buckets, struct channel_table **out);

/* Gives each new channel a tally of ios (channel_table_create leaves none). */
void channel_table_tallies(struct channel_table *t, struct io_server *ios);

/* Calls fn for every channel until it returns non-zero. Inside an epoch section. */
void channel_each(struct channel_table *t, int (*fn)(struct channel *ch, void *ctx), void *ctx);

/* The largest outbound backlog (messages) of its subscribers: the slowest
 * one's lag. Inside an epoch section. */
uint64_t channel_slowest(const struct channel *ch);

/* Frees every channel; no reader or writer is left. NULL: no-op. */
void channel_table_destroy(struct channel_table *t);

uint64_t channel_hash(const char *name, size_t len);

/* The channel of this name, or NULL. Inside an epoch section. */
struct channel *channel_find(struct channel_table *t, const char *name, size_t len, uint64_t hash);

/*
 * Adds s to the subscribers of the channel of this name (created if need
 * be); *out gets the channel. Returns 0, 1 when s was subscribed already,
 * or -ENOMEM (nothing changed).
 */
int channel_subscribe(struct channel_table *t, struct epoch_rec *rec, const char *name, size_t len,
		      struct sluice_socket *s, struct channel **out);

/* Removes s from ch (which it is subscribed to); ch may be retired. */
void channel_unsubscribe(struct channel_table *t, struct epoch_rec *rec, struct channel *ch,
			 struct sluice_socket *s);

/* Channels in the table (a gauge). Any thread. */
uint64_t channel_count(const struct channel_table *t);

#endif
