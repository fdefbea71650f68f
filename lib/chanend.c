/*
 * chanend.c - the ends of a channel: making a channel, cloning and
 * closing its handles, and the memory behind both.
 *
 * Owns: smarm_channel, smarm_channel_bounded, smarm_tx_clone,
 * smarm_tx_close, smarm_rx_close; the pool of free channels and the pool
 * of free clones' end records.  May touch: chan.h (a channel's insides,
 * what closing an end does there), lock.h, freelist.h, atomic.h.
 *
 * Generation-checked handles (chan.h).  A handle names an end record and
 * carries the record's tag, a generation times two plus the end's kind;
 * the record keeps the value of its open handle.  Every call compares
 * the handle with the record's value; a close moves the record's tag on
 * by two with a compare-and-swap, so of two closes of
 * one handle exactly one succeeds and the other, like every later use,
 * gets EBADF.  The record keeps its tag when it is reused: the next
 * handle made from it carries the new generation, and the old handle's
 * stays refused.  The tag is 16 bits, so a handle closed and kept is
 * mistaken for an open one only after its record has been reused 32,768
 * times.  Nothing here returns an end record or a channel to malloc while
 * the library is loaded, so the look at a stale handle's tag always
 * reads memory that is still an end record.
 *
 * Where the records are.  A channel embeds two: its receiving end and the
 * sending handle smarm_channel makes, so a channel with one sender costs
 * one allocation, as before handles were checked.  Each smarm_tx_clone
 * takes a record of its own from a pool (or malloc), and its close gives
 * it back.
 *
 * Lifetime.  `refs` counts the receiving end plus every sending handle;
 * the last close empties the channel (smarm__chan_empty) and gives it to
 * the pool of channels.  See chan.c for why its memory must stay a
 * channel.
 */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "smarm.h"
#include "atomic.h"
#include "chan.h"
#include "freelist.h"
#include "lock.h"

typedef smarm__chan chan;
typedef smarm__end end;

/* Free channels, and free clones' records, kept for reuse. */
static smarm__fpool chans; /* all-zero: empty, unlocked */
static smarm__fpool ends;

/* Take the pool's first object, or NULL. */
static smarm__flink *pool_take(smarm__fpool *p)
{
	smarm__flink *x;

	smarm__lock_take(&p->lock);
	x = smarm__fpool_head(p);
	if (x != NULL) {
		smarm__atomic_store_relaxed(&p->head, (AO_t)x->next);
		p->n--;
	}
	smarm__lock_drop(&p->lock);
	return x;
}

static void pool_put(smarm__fpool *p, smarm__flink *x)
{
	smarm__lock_take(&p->lock);
	x->next = smarm__fpool_head(p);
	smarm__atomic_store_relaxed(&p->head, (AO_t)x);
	p->n++;
	smarm__lock_drop(&p->lock);
}

/* Memory for a record or a channel, at an address a handle can carry (on
 * x86-64 Linux every user address fits in 48 bits unless a program asks
 * mmap for more; such memory is refused, as if none were left). */
static void *fresh(size_t size)
{
	void *p = calloc(1, size);

	if (p != NULL && ((uintptr_t)p & ~SMARM__END_ADDR) != 0) {
		free(p);
		p = NULL;
	}
	return p;
}

/* A new record's first handle, with generation 0. */
static void end_init(end *e, unsigned kind)
{
	smarm__atomic_store_relaxed(&e->handle,
				    (AO_t)(uintptr_t)e |
				    (AO_t)kind << SMARM__END_SHIFT);
}

/* A channel from the pool, or a new one; NULL when memory runs out. */
static chan *chan_new(void)
{
	smarm__flink *x = pool_take(&chans);
	chan *c;

	if (x != NULL)
		return (chan *)(void *)((char *)x - offsetof(chan, free_link));
	c = fresh(sizeof(*c));
	if (c != NULL) {
		smarm__lock_init(&c->lock);
		c->site.kick = smarm__chan_kick;
		c->rx_end.chan = c;
		c->tx_end.chan = c;
		end_init(&c->rx_end, SMARM__END_RX);
		end_init(&c->tx_end, SMARM__END_TX);
	}
	return c;
}

/* A record for a clone, or NULL when memory runs out. */
static end *end_new(void)
{
	smarm__flink *x = pool_take(&ends);
	end *e;

	if (x != NULL)
		return (end *)(void *)((char *)x - offsetof(end, free_link));
	e = fresh(sizeof(*e));
	if (e != NULL)
		end_init(e, SMARM__END_TX);
	return e;
}

/* Free channels in the pool (for tests). */
size_t smarm__chan_pooled(void)
{
	size_t n;

	smarm__lock_take(&chans.lock);
	n = chans.n;
	smarm__lock_drop(&chans.lock);
	return n;
}

/* Free clones' records in the pool (for tests). */
size_t smarm__chan_ends_pooled(void)
{
	size_t n;

	smarm__lock_take(&ends.lock);
	n = ends.n;
	smarm__lock_drop(&ends.lock);
	return n;
}

static void pool_free(smarm__fpool *p, size_t offset)
{
	smarm__flink *x = smarm__fpool_head(p), *next;

	for (; x != NULL; x = next) {
		next = x->next;
		free((char *)x - offset);
	}
	smarm__atomic_store_relaxed(&p->head, 0);
}

/* The library is unloaded: give the pools' memory back. */
static __attribute__((destructor)) void pools_fini(void)
{
	pool_free(&chans, offsetof(chan, free_link));
	pool_free(&ends, offsetof(end, free_link));
}

static int channel(smarm_tx **tx, smarm_rx **rx, size_t elem_size,
		   size_t cap)
{
	chan *c;

	if (tx == NULL || rx == NULL || elem_size == 0)
		return EINVAL;
	if (elem_size > SIZE_MAX - sizeof(smarm__node))
		return ENOMEM;
	c = chan_new();
	if (c == NULL)
		return ENOMEM;
	c->elem_size = elem_size;
	c->cap = cap;
	__atomic_store_n(&c->senders, 1, __ATOMIC_RELEASE);
	smarm__atomic_store_relaxed(&c->refs, 2);
	/* Handing the handles to another thread (through whatever the
	 * program uses) orders these stores before that thread's use. */
	*tx = (smarm_tx *)smarm__atomic_load_relaxed(&c->tx_end.handle);
	*rx = (smarm_rx *)smarm__atomic_load_relaxed(&c->rx_end.handle);
	return 0;
}

int smarm_channel(smarm_tx **tx, smarm_rx **rx, size_t elem_size)
{
	return channel(tx, rx, elem_size, 0);
}

int smarm_channel_bounded(smarm_tx **tx, smarm_rx **rx, size_t elem_size,
			  size_t capacity)
{
	if (capacity == 0)
		return EINVAL;
	return channel(tx, rx, elem_size, capacity);
}

static void unref(chan *c)
{
	/* Full barrier: every use of the channel by this handle happens
	 * before the last one frees it. */
	if (smarm__atomic_fetch_add_full(&c->refs, (AO_t)-1) == 1) {
		smarm__chan_empty(c);
		pool_put(&chans, &c->free_link);
	}
}

smarm_tx *smarm_tx_clone(smarm_tx *tx)
{
	chan *c = tx != NULL ? smarm__end_chan(tx, SMARM__END_TX) : NULL;
	end *e;

	if (c == NULL)
		return NULL;
	e = end_new();
	if (e == NULL)
		return NULL;
	e->chan = c;
	smarm__lock_take(&c->lock);
	__atomic_store_n(&c->senders, c->senders + 1, __ATOMIC_RELEASE);
	smarm__lock_drop(&c->lock);
	smarm__atomic_fetch_add_full(&c->refs, 1);
	return (smarm_tx *)smarm__atomic_load_relaxed(&e->handle);
}

/* Close the handle h of the given kind: its channel, or NULL when it was
 * not open (closed already, stale, of the other kind).  Of two closes of
 * one handle, the compare-and-swap lets one through. */
static chan *end_close(const void *h, unsigned kind)
{
	end *e = smarm__end_of(h);
	AO_t t = smarm__end_tag(h), next;
	chan *c;

	if ((t & 1) != kind)
		return NULL;
	next = (AO_t)(uintptr_t)e |
		((t + 2) & SMARM__END_TAG_MASK) << SMARM__END_SHIFT;
	/* Read before the tag moves on: afterwards the record may be a
	 * clone of another channel.  Stable while the handle is open. */
	c = e->chan;
	if (!smarm__atomic_cas_full(&e->handle, (AO_t)h, next))
		return NULL;
	if (e != &c->tx_end && e != &c->rx_end)
		pool_put(&ends, &e->free_link);
	return c;
}

int smarm_tx_close(smarm_tx *tx)
{
	chan *c;

	if (tx == NULL)
		return EINVAL;
	c = end_close(tx, SMARM__END_TX);
	if (c == NULL)
		return EBADF;
	smarm__chan_tx_gone(c);
	unref(c);
	return 0;
}

int smarm_rx_close(smarm_rx *rx)
{
	chan *c;

	if (rx == NULL)
		return EINVAL;
	c = end_close(rx, SMARM__END_RX);
	if (c == NULL)
		return EBADF;
	smarm__chan_rx_gone(c);
	unref(c);
	return 0;
}
