/*
 * pid.h - the slot table behind smarm_pid.
 *
 * A pid packs a slot index (low 32 bits, stored +1 so that the zero pid
 * is never valid) and the slot's generation (high 32 bits).  A slot's
 * generation changes every time it is freed, so a pid that outlived its
 * actor no longer matches and lookups answer "no such actor" instead of
 * finding whoever uses the slot now.  A slot would have to be reused 2^32
 * times for an old pid to match again.  Each table's slots start at a
 * generation 65,536 past the previous table's (pid.c), so a pid kept from
 * an earlier runtime names no actor of a later one either, unless a slot
 * of the later one was reused 65,536 times or 65,536 runtimes were made
 * in between.
 *
 * Slots live in fixed chunks that never move, reached through a directory
 * allocated once, so a slot pointer stays valid while the slot is in use.
 * The slot also carries the actor's lifecycle: it outlives the actor's
 * stack until the actor is joined (or at once when detached).
 *
 * Threads.  The free list (free_head, next_free, used, growing) belongs to
 * whoever holds the table's lock; the scheduler keeps a few free slots
 * per worker so that most spawns and exits do not take it.  A slot's own
 * fields (gen, state, flags, the pointers, the name) are guarded by the
 * slot's lock once it can be named by a pid: a lookup from any worker
 * locks the slot, checks the generation and reads under the lock.
 *
 * Owns: the slot table (pid.c).  May touch: lock.h, atomic.h.
 */
#ifndef SMARM_PID_H
#define SMARM_PID_H

#include <stdint.h>

#include "smarm.h"
#include "atomic.h"
#include "lock.h"

#define SMARM__CHUNK_BITS 12
#define SMARM__CHUNK_SLOTS (1u << SMARM__CHUNK_BITS)
#define SMARM__MAX_CHUNKS (1u << 16)

struct smarm__actor;

/* Slot states. */
enum { SMARM__SLOT_FREE, SMARM__SLOT_LIVE, SMARM__SLOT_ENDED };

/* Slot flags. */
#define SMARM__SLOT_DETACHED 0x1u
#define SMARM__SLOT_JOINING 0x2u  /* an actor (or the runtime) waits on it */
#define SMARM__SLOT_PANICKED 0x4u

typedef struct smarm__slot {
	smarm__lock lock;              /* guards the fields below */
	uint32_t gen;
	uint8_t state;
	uint8_t flags;
	uint32_t index;                /* own index in the table */
	uint32_t next_free;            /* index + 1 of the next free slot */
	struct smarm__actor *actor;    /* while live */
	smarm__atomic joiner;          /* the actor parked in its join, or 0 */
	void *result;                  /* once ended: result or panic reason */
	void *told;                    /* who monitors it (mailbox.c's) */
	char name[SMARM_NAME_MAX];
} smarm__slot;

typedef struct smarm__pidtab {
	smarm__lock lock;      /* the free list, used and growth */
	smarm__slot **dir;     /* SMARM__MAX_CHUNKS chunk pointers */
	smarm__atomic_u32 nchunks; /* written under the lock, read by anyone */
	uint32_t free_head;    /* index + 1 of the first free slot, 0 = none */
	uint32_t used;         /* slots in use */
	uint32_t gen_base;     /* the first generation of its slots */
	uint32_t max_chunks;   /* chunks it may grow to (SMARM__MAX_CHUNKS) */
	smarm__atomic *said;   /* limits named (limit.h); NULL: say nothing */
} smarm__pidtab;

int smarm__pidtab_init(smarm__pidtab *t);
void smarm__pidtab_fini(smarm__pidtab *t);

static inline smarm__slot *smarm__slot_at(const smarm__pidtab *t, uint32_t i)
{
	return &t->dir[i >> SMARM__CHUNK_BITS][i & (SMARM__CHUNK_SLOTS - 1)];
}

/* Call fn for every live slot, under its lock: how many there were. */
unsigned smarm__pidtab_each_live(smarm__pidtab *t,
				 void (*fn)(smarm__slot *s, void *arg), void *arg);

/* Name every live actor on stderr ("smarm: why: actor N 'name' did not
 * end in time"): how many there were. */
unsigned smarm__pidtab_report_live(smarm__pidtab *t, const char *why);

/* Add a chunk of free slots: 0, EAGAIN (table full) or ENOMEM. */
int smarm__pidtab_grow(smarm__pidtab *t);

/* Take a slot off the free list, fields untouched (state FREE): NULL when
 * the table is full (*err = EAGAIN) or memory runs out (ENOMEM).  The
 * caller holds the table's lock when other threads use the table. */
static inline smarm__slot *smarm__slot_take(smarm__pidtab *t, int *err)
{
	smarm__slot *s;

	if (__builtin_expect(t->free_head == 0, 0)) {
		int e = smarm__pidtab_grow(t);

		if (e) {
			*err = e;
			return NULL;
		}
	}
	s = smarm__slot_at(t, t->free_head - 1);
	t->free_head = s->next_free;
	t->used++;
	return s;
}

/* Put a retired slot (state FREE) back on the free list; the caller holds
 * the table's lock when other threads use the table. */
static inline void smarm__slot_give(smarm__pidtab *t, smarm__slot *s)
{
	s->next_free = t->free_head;
	t->free_head = s->index + 1;
	t->used--;
}

/* Make a taken slot live: state SMARM__SLOT_LIVE, flags 0, no joiner.
 * Its current generation is the one its new pid carries. */
static inline void smarm__slot_init(smarm__slot *s)
{
	s->state = SMARM__SLOT_LIVE;
	s->flags = 0;
	s->told = NULL;
	smarm__atomic_store_relaxed(&s->joiner, 0);
}

/* End a slot's use: its generation moves on, so its old pid goes stale.
 * Generation 0 is skipped on wrap-around. */
static inline void smarm__slot_retire(smarm__slot *s)
{
	s->state = SMARM__SLOT_FREE;
	s->actor = NULL;
	s->result = NULL;
	if (__builtin_expect(++s->gen == 0, 0))
		s->gen = 1;
}

/* Retire and give in one. */
static inline void smarm__slot_free(smarm__pidtab *t, smarm__slot *s)
{
	smarm__slot_retire(s);
	smarm__slot_give(t, s);
}

/*
 * A worker's cache of free slots, so that most spawns and ends do not take
 * the table's lock: refilled with half a cache at a time, and spilled by
 * half when full.
 */
#define SMARM__SLOT_CACHE 64u

typedef struct smarm__slot_cache {
	smarm__slot *s[SMARM__SLOT_CACHE];
	unsigned n;
} smarm__slot_cache;

/* Refill an empty cache from the table (under its lock): the number of
 * slots now cached; 0 with *err set (EAGAIN, ENOMEM). */
unsigned smarm__slot_cache_refill(smarm__pidtab *t, smarm__slot_cache *c,
				  int *err);
/* Give half of a full cache back to the table (under its lock). */
void smarm__slot_cache_spill(smarm__pidtab *t, smarm__slot_cache *c);
/* Give every slot of the cache back to the table (under its lock). */
void smarm__slot_cache_flush(smarm__pidtab *t, smarm__slot_cache *c);

/* A free slot (state FREE) from the cache, or NULL with *err set. */
static inline smarm__slot *smarm__slot_cache_get(smarm__pidtab *t,
						 smarm__slot_cache *c,
						 int *err)
{
	if (__builtin_expect(c->n == 0, 0) &&
	    smarm__slot_cache_refill(t, c, err) == 0)
		return NULL;
	return c->s[--c->n];
}

/* Put a retired slot in the cache. */
static inline void smarm__slot_cache_put(smarm__pidtab *t,
					 smarm__slot_cache *c, smarm__slot *s)
{
	if (__builtin_expect(c->n == SMARM__SLOT_CACHE, 0))
		smarm__slot_cache_spill(t, c);
	c->s[c->n++] = s;
}

/* Chunks in the table, from any thread: the chunk pointer is stored
 * before the count that makes it reachable (release/acquire). */
static inline uint32_t smarm__pidtab_nchunks(const smarm__pidtab *t)
{
	return smarm__atomic_u32_load_acquire(&t->nchunks);
}

/* The slot a pid's index names, or NULL when the pid is none or out of
 * range.  Its generation and state are still to be checked, under the
 * slot's lock when other threads use the table. */
static inline smarm__slot *smarm__pid_slot(const smarm__pidtab *t,
					   smarm_pid pid)
{
	uint32_t i = (uint32_t)pid.id;

	if (i == 0 || ((i - 1) >> SMARM__CHUNK_BITS) >= smarm__pidtab_nchunks(t))
		return NULL;
	return smarm__slot_at(t, i - 1);
}

/* Does the (locked) slot still belong to pid? */
static inline int smarm__pid_matches(const smarm__slot *s, smarm_pid pid)
{
	return s->gen == (uint32_t)(pid.id >> 32) &&
		s->state != SMARM__SLOT_FREE;
}

static inline smarm_pid smarm__slot_pid(const smarm__slot *s)
{
	smarm_pid p;

	p.id = ((uint64_t)s->gen << 32) | (s->index + 1);
	return p;
}

#endif /* SMARM_PID_H */
