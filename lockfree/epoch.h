/*
 * epoch: a thin wrapper over concurrencykit's ck_epoch, for read-mostly
 * tables (the channel table) that workers read without locks.
 *
 * Owns: the records of a domain. An epoch domain (struct epoch) has one record
 * (struct epoch_rec) per thread that reads or retires, taken with epoch_join
 * and given back with epoch_leave; ck_epoch keeps every record it has seen on
 * a list for the domain's whole life, so records are allocated (or recycled)
 * here and freed only by epoch_deinit, never on a thread's stack. A reader brackets its
 * lookups with epoch_enter/epoch_exit; a writer unlinks an object, then
 * epoch_retire()s it, and the object's destructor runs once no reader that
 * could have seen it is still inside a section (at a later epoch_poll or
 * epoch_barrier on the retiring thread).
 *
 *     writer: unlink(x) -> epoch_retire(rec, &x->entry, destroy)
 *     reader: epoch_enter(rec) ... epoch_load(&table->slot) ... epoch_exit(rec)
 *     writer: epoch_poll(rec)   runs destroy(x) when every reader has moved on
 *
 * Concurrency contract:
 *   - epoch_init, epoch_deinit: no thread joined.
 *   - epoch_join: any thread; epoch_leave: the record's owner.
 *   - epoch_enter, epoch_exit, epoch_retire, epoch_poll, epoch_barrier:
 *     the record's owner thread only.
 *   - epoch_load, epoch_publish: any thread.
 * Progress: enter/exit are wait-free; retire is wait-free; poll is lock-free
 * (it only runs what is safe); barrier blocks until every reader has left the
 * sections that could see the retired objects.
 *
 * ThreadSanitizer cannot see ck_pr's inline-assembly fences, so the epoch
 * stress test runs under AddressSanitizer (use-after-free is what it guards
 * against), not TSan; see tests/CMakeLists.txt.
 */
#ifndef SLUICE_EPOCH_H
#define SLUICE_EPOCH_H

#include <ck_epoch.h>
#include <stdatomic.h>
#include <stdbool.h>

struct epoch_rec {
	ck_epoch_record_t ck;       /* first: ck hands back its own pointer on recycle */
	ck_epoch_section_t section; /* sections do not nest */
	struct epoch_rec *next;     /* every record the domain allocated, for deinit */
};

struct epoch {
	ck_epoch_t ck;
	struct epoch_rec *_Atomic recs;
};

/* Embed one in every object that is retired through the domain. */
typedef ck_epoch_entry_t epoch_entry_t;
typedef void epoch_destroy_fn(epoch_entry_t *entry);

void epoch_init(struct epoch *e);

/* Frees every record. All threads have left; nothing is pending. */
void epoch_deinit(struct epoch *e);

/*
 * A record for the calling thread: one that a thread left earlier, or a new
 * one. NULL when out of memory. The calling thread owns it until epoch_leave.
 */
struct epoch_rec *epoch_join(struct epoch *e);

/* Runs every pending destructor of rec (waiting for readers), then gives it back. */
void epoch_leave(struct epoch_rec *rec);

static inline void epoch_enter(struct epoch_rec *rec)
{
	ck_epoch_begin(&rec->ck, &rec->section);
}

static inline void epoch_exit(struct epoch_rec *rec)
{
	ck_epoch_end(&rec->ck, &rec->section);
}

/* Schedules destroy(entry) for when no reader can still see the object. */
static inline void epoch_retire(struct epoch_rec *rec, epoch_entry_t *entry,
				epoch_destroy_fn *destroy)
{
	ck_epoch_call(&rec->ck, entry, destroy);
}

/* Runs the destructors that are safe now; true if the epoch advanced or something ran. */
static inline bool epoch_poll(struct epoch_rec *rec)
{
	return ck_epoch_poll(&rec->ck);
}

/* Waits for every reader section open now to end, and runs all of rec's destructors. */
static inline void epoch_barrier(struct epoch_rec *rec)
{
	ck_epoch_barrier(&rec->ck);
}

/* Reads a pointer that a writer publishes; use inside an epoch section. */
static inline void *epoch_load(void *_Atomic const *slot)
{
	/* acquire: the object's contents are visible once its pointer is */
	return atomic_load_explicit((void *_Atomic *)slot, memory_order_acquire);
}

/* Publishes a fully built object; returns the pointer it replaced (to retire). */
static inline void *epoch_publish(void *_Atomic *slot, void *obj)
{
	/* acq_rel: release publishes obj's contents; acquire orders our use of the old one */
	return atomic_exchange_explicit(slot, obj, memory_order_acq_rel);
}

#endif
