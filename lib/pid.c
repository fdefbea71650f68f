/*
 * pid.c - the (index, generation) slot table.
 *
 * Owns: the slot table and the workers' slot caches (pid.h).
 * May touch: lock.h, atomic.h, limit.h (naming the table's limit when it
 * is full).
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "limit.h"
#include "pid.h"

/* The first generation of the next table's slots, moved on by 65,536
 * for each table (see pid.h). */
static uint32_t next_base;

int smarm__pidtab_init(smarm__pidtab *t)
{
	memset(t, 0, sizeof(*t));
	t->gen_base = __atomic_add_fetch(&next_base, 0x10000u,
					 __ATOMIC_RELAXED) + 1u;
	/* Large enough to be mapped lazily by the allocator: pages of the
	 * directory are touched only as chunks are added. */
	t->dir = calloc(SMARM__MAX_CHUNKS, sizeof(*t->dir));
	t->max_chunks = SMARM__MAX_CHUNKS;
	return t->dir ? 0 : ENOMEM;
}

void smarm__pidtab_fini(smarm__pidtab *t)
{
	uint32_t c;

	if (t->dir == NULL)
		return;
	for (c = 0; c < smarm__pidtab_nchunks(t); c++)
		free(t->dir[c]);
	free(t->dir);
	memset(t, 0, sizeof(*t));
}

int smarm__pidtab_grow(smarm__pidtab *t)
{
	uint32_t n = smarm__atomic_u32_load_relaxed(&t->nchunks);
	uint32_t base = n << SMARM__CHUNK_BITS, i;
	smarm__slot *chunk;

	if (n >= t->max_chunks) {
		smarm__limit_hit(t->said, SMARM__LIMIT_PIDS, "spawn",
				 (unsigned long)n << SMARM__CHUNK_BITS);
		return EAGAIN;
	}
	chunk = calloc(SMARM__CHUNK_SLOTS, sizeof(*chunk));
	if (chunk == NULL) {
		smarm__limit_nomem(t->said, "spawn");
		return ENOMEM;
	}
	/* Thread the new slots onto the free list in index order. */
	for (i = 0; i < SMARM__CHUNK_SLOTS; i++) {
		chunk[i].gen = t->gen_base;
		chunk[i].index = base + i;
		chunk[i].next_free = i + 1 < SMARM__CHUNK_SLOTS ?
			base + i + 2 : t->free_head;
	}
	t->dir[n] = chunk;
	/* Release: the chunk's contents and pointer before the count. */
	smarm__atomic_u32_store_release(&t->nchunks, n + 1);
	t->free_head = base + 1;
	return 0;
}

unsigned smarm__slot_cache_refill(smarm__pidtab *t, smarm__slot_cache *c,
				  int *err)
{
	smarm__slot *s;

	smarm__lock_take(&t->lock);
	while (c->n < SMARM__SLOT_CACHE / 2 &&
	       (s = smarm__slot_take(t, err)) != NULL)
		c->s[c->n++] = s;
	smarm__lock_drop(&t->lock);
	return c->n;
}

/* Give back the newest n slots of the cache. */
static void give_back(smarm__pidtab *t, smarm__slot_cache *c, unsigned n)
{
	smarm__lock_take(&t->lock);
	while (n--)
		smarm__slot_give(t, c->s[--c->n]);
	smarm__lock_drop(&t->lock);
}

void smarm__slot_cache_spill(smarm__pidtab *t, smarm__slot_cache *c)
{
	give_back(t, c, SMARM__SLOT_CACHE / 2);
}

void smarm__slot_cache_flush(smarm__pidtab *t, smarm__slot_cache *c)
{
	give_back(t, c, c->n);
}

unsigned smarm__pidtab_each_live(smarm__pidtab *t,
				 void (*fn)(smarm__slot *s, void *arg), void *arg)
{
	uint32_t k, n = smarm__pidtab_nchunks(t) * SMARM__CHUNK_SLOTS;
	unsigned found = 0;

	for (k = 0; k < n; k++) {
		smarm__slot *s = smarm__slot_at(t, k);

		smarm__lock_take(&s->lock);
		if (s->state == SMARM__SLOT_LIVE) {
			fn(s, arg);
			found++;
		}
		smarm__lock_drop(&s->lock);
	}
	return found;
}

static void report(smarm__slot *s, void *why)
{
	fprintf(stderr, "smarm: %s: actor %llu '%s' did not end in time\n",
		(const char *)why, (unsigned long long)smarm__slot_pid(s).id,
		s->name);
}

unsigned smarm__pidtab_report_live(smarm__pidtab *t, const char *why)
{
	return smarm__pidtab_each_live(t, report, (void *)(uintptr_t)why);
}
