/*
 * atomic.h - a thin typed layer over libatomic_ops.
 *
 * Every atomic variable is a one-member struct, so a plain load or store of
 * it does not compile; every operation names its memory order.  Nothing
 * here is hand-written assembly: the primitives are libatomic_ops' AO_*.
 *
 * Owns: the typed atomics every other file uses.
 * May touch: libatomic_ops only.
 */
#ifndef SMARM_ATOMIC_H
#define SMARM_ATOMIC_H

#include <atomic_ops.h>

typedef struct {
	volatile AO_t v;
} smarm__atomic;

#define SMARM__ATOMIC_INIT(x) { (AO_t)(x) }

static inline AO_t smarm__atomic_load_acquire(const smarm__atomic *a)
{
	return AO_load_acquire(&a->v);
}

static inline AO_t smarm__atomic_load_relaxed(const smarm__atomic *a)
{
	return AO_load(&a->v);
}

static inline void smarm__atomic_store_release(smarm__atomic *a, AO_t x)
{
	AO_store_release(&a->v, x);
}

static inline void smarm__atomic_store_relaxed(smarm__atomic *a, AO_t x)
{
	AO_store(&a->v, x);
}

/* Store, then a full barrier: no later load is done before the store is
 * visible to every thread (the StoreLoad order of Dekker-style
 * handshakes: "I announce, then I look"). */
static inline void smarm__atomic_store_full(smarm__atomic *a, AO_t x)
{
	AO_store_full(&a->v, x);
}

/* Full-barrier compare-and-swap: returns nonzero when *a was old and is
 * now new. */
static inline int smarm__atomic_cas_full(smarm__atomic *a, AO_t old, AO_t new)
{
	return AO_compare_and_swap_full(&a->v, old, new);
}

/* Full-barrier compare-and-swap returning the value found. */
static inline AO_t smarm__atomic_fetch_cas_full(smarm__atomic *a, AO_t old,
						AO_t new)
{
	return AO_fetch_compare_and_swap_full(&a->v, old, new);
}

/* Full-barrier fetch-and-add; returns the old value. */
static inline AO_t smarm__atomic_fetch_add_full(smarm__atomic *a, AO_t d)
{
	return AO_fetch_and_add_full(&a->v, d);
}

/* A full barrier on its own (StoreLoad included). */
static inline void smarm__atomic_fence_full(void)
{
	AO_nop_full();
}

/* A 32-bit atomic, for futex words and counts read by other threads. */
typedef struct {
	volatile unsigned int v;
} smarm__atomic_u32;

static inline unsigned int smarm__atomic_u32_load_acquire(
	const smarm__atomic_u32 *a)
{
	return AO_int_load_acquire(&a->v);
}

static inline unsigned int smarm__atomic_u32_load_relaxed(
	const smarm__atomic_u32 *a)
{
	return AO_int_load(&a->v);
}

static inline void smarm__atomic_u32_store_release(smarm__atomic_u32 *a,
						   unsigned int x)
{
	AO_int_store_release(&a->v, x);
}

static inline void smarm__atomic_u32_store_relaxed(smarm__atomic_u32 *a,
						   unsigned int x)
{
	AO_int_store(&a->v, x);
}

static inline unsigned int smarm__atomic_u32_fetch_add_full(
	smarm__atomic_u32 *a, unsigned int d)
{
	return AO_int_fetch_and_add_full(&a->v, d);
}

#endif /* SMARM_ATOMIC_H */
