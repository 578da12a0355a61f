/*
 * epoch: registration and teardown of records; the rest is inline in epoch.h.
 * Threads: each function runs on the thread that owns the record.
 */
#include "epoch.h"

void epoch_init(struct epoch *e)
{
	ck_epoch_init(&e->ck);
}

void epoch_register(struct epoch *e, struct epoch_rec *rec)
{
	ck_epoch_register(&e->ck, &rec->ck, NULL);
}

void epoch_unregister(struct epoch_rec *rec)
{
	ck_epoch_barrier(&rec->ck);
	ck_epoch_unregister(&rec->ck);
}
