/*
 * pid.c - the (index, generation) slot table.
 */
#include "config.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "pid.h"

int smarm__pidtab_init(smarm__pidtab *t)
{
	memset(t, 0, sizeof(*t));
	/* Large enough to be mapped lazily by the allocator: pages of the
	 * directory are touched only as chunks are added. */
	t->dir = calloc(SMARM__MAX_CHUNKS, sizeof(*t->dir));
	return t->dir ? 0 : ENOMEM;
}

void smarm__pidtab_fini(smarm__pidtab *t)
{
	uint32_t c;

	if (t->dir == NULL)
		return;
	for (c = 0; c < t->nchunks; c++)
		free(t->dir[c]);
	free(t->dir);
	memset(t, 0, sizeof(*t));
}

int smarm__pidtab_grow(smarm__pidtab *t)
{
	uint32_t base = t->nchunks << SMARM__CHUNK_BITS, i;
	smarm__slot *chunk;

	if (t->nchunks == SMARM__MAX_CHUNKS)
		return EAGAIN;
	chunk = calloc(SMARM__CHUNK_SLOTS, sizeof(*chunk));
	if (chunk == NULL)
		return ENOMEM;
	/* Thread the new slots onto the free list in index order. */
	for (i = 0; i < SMARM__CHUNK_SLOTS; i++) {
		chunk[i].gen = 1;
		chunk[i].index = base + i;
		chunk[i].next_free = i + 1 < SMARM__CHUNK_SLOTS ?
			base + i + 2 : t->free_head;
	}
	t->dir[t->nchunks] = chunk;
	/* Release: the chunk's contents and pointer before the count. */
	AO_int_store_release((volatile unsigned *)&t->nchunks,
			     t->nchunks + 1);
	t->free_head = base + 1;
	return 0;
}
