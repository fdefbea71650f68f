/*
 * check_bounded.c - bounded channels (smarm_channel_bounded),
 * smarm_send_timed, smarm_select, and the one-receiver rule.
 *
 *  - errors:       EINVAL for capacity 0, NULL handles, elem_size 0 and
 *                  NULL arguments; ENOMEM for an element too large to
 *                  allocate; smarm_select's EINVAL, and EPERM outside an
 *                  actor (before any runtime and from a plain thread).
 *  - backpressure: a producer, an actor or a plain thread, is never more
 *                  than capacity elements ahead of its consumer, gets
 *                  exactly that far when the consumer stops, and stays
 *                  there; order kept (capacities 1, 4 and 64; 10,000
 *                  elements).
 *  - send_timed:   ETIMEDOUT on a full channel (timeout 0 and a short one;
 *                  an actor and a plain thread), nothing queued; an
 *                  unbounded channel never waits; a timeout that does not
 *                  fire leaves no timer behind; ECANCELED for a sender
 *                  cancelled while waiting (at the head or the tail of the
 *                  queue), nothing queued, delivered once; a pending cancel
 *                  with room, or with timeout 0, stays pending; waiting
 *                  senders served first come first served, one that gives
 *                  up leaving the others in order; nothing lost or doubled
 *                  when timeouts and cancels race the receiver.
 *  - threads:      a plain thread blocked on a full channel sleeps (no CPU
 *                  time) and is woken with EPIPE by smarm_rx_close.
 *  - close:        smarm_rx_close under waiting senders (actors, a timed
 *                  one, a plain thread): each gets EPIPE.
 *  - receiver:     while one actor waits in smarm_recv or smarm_select on a
 *                  channel, another's smarm_recv, smarm_try_recv and
 *                  smarm_select on it return EBUSY at once, and the waiting
 *                  one still gets the next element; four actors receiving
 *                  on one channel: one waits, three get EBUSY, nobody hangs;
 *                  four actors sharing a channel (recv, try_recv, select,
 *                  timed recv) get every element once and all end.
 *  - select:       every element of 8 channels (bounded and not, 16
 *                  senders, two of them plain threads, closing at
 *                  different times) and every message of the mailbox entry
 *                  received exactly once, in each sender's order, an ended
 *                  channel dropped by swapping in an idle one or by
 *                  rebuilding the array; fairness: with one channel always
 *                  ready, another (or the mailbox) that gets something is
 *                  served within n selects; woken by an actor's and a
 *                  thread's send, a message, the last sender's close;
 *                  nothing received by select itself; ETIMEDOUT (0 and
 *                  short) leaving no record behind; ECANCELED once, a
 *                  pending cancel left pending; 100 entries (past the 64
 *                  kept on the stack).
 *
 * To know that a sender waits in a channel's queue, or that a receiver is
 * registered on it, the tests look into the channel (chan.h) under its
 * lock, rather than guess from time.  Every wait for something that must
 * happen is bounded by WAIT, so that a bug fails a test with a line number
 * rather than hanging it.  Only lower bounds on elapsed time are checked,
 * except that a plain thread blocked for 200 ms must have used well under
 * that much CPU time (not checked under valgrind).
 *
 * The runtimes come from the defaults, so SMARM_THREADS sets their workers;
 * every test gives the same result with one worker or several.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <stdatomic.h>

#include "chan.h"

/* A wait only a bug makes expire. */
#define WAIT (30000 * MS)
/* A timeout that must expire. */
#define SHORT (20 * MS)
#define SEC (1000 * MS)
/* A timeout that must not fire, however slow the run. */
#define LONG (3600 * SEC)
#define US (1000ull)

/* ---- helpers ---------------------------------------------------------------- */

/* Under the channel's lock: senders waiting for room in its queue. */
static size_t senders_waiting(void *end)
{
	smarm__chan *c = smarm__chan_of(end);
	struct smarm__send_wait *sw;
	size_t n = 0;

	smarm__lock_take(&c->lock);
	for (sw = c->sq_head; sw != NULL; sw = sw->next)
		n++;
	smarm__lock_drop(&c->lock);
	return n;
}

/* Under the channel's lock: elements queued. */
static size_t queued(void *end)
{
	smarm__chan *c = smarm__chan_of(end);
	size_t n;

	smarm__lock_take(&c->lock);
	n = c->len;
	smarm__lock_drop(&c->lock);
	return n;
}

/* Under the channel's lock: is an actor registered as its receiver (in
 * smarm_recv or smarm_select)? */
static int receiver_waits(void *end)
{
	smarm__chan *c = smarm__chan_of(end);
	int r;

	smarm__lock_take(&c->lock);
	r = c->waiter != NULL;
	smarm__lock_drop(&c->lock);
	return r;
}

/* Wait, letting others run, until cond holds; fail after WAIT. */
#define AWAIT(cond) AWAIT_WITHIN(cond, WAIT)

static void noop_dead(void *msg, smarm_pid to)
{
	(void)msg;
	(void)to;
}

/* Run fn(arg) as the root of a fresh runtime from the defaults, with a
 * dead-letter function that frees nothing (the tests that use the mailbox
 * send small integers as messages). */
static void run_noop(smarm_fn fn, void *arg)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res = NULL;

	smarm_config_init(&cfg);
	cfg.dead_letter = noop_dead;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_int_eq(smarm_runtime_run(rt, fn, arg, &res), 0);
	smarm_runtime_free(rt);
}

/* A bounded channel of uint64_t. */
static void bounded_ok(smarm_tx **tx, smarm_rx **rx, size_t cap)
{
	*tx = NULL;
	*rx = NULL;
	ck_assert_int_eq(smarm_channel_bounded(tx, rx, sizeof(uint64_t), cap),
			 0);
	ck_assert_ptr_nonnull(*tx);
	ck_assert_ptr_nonnull(*rx);
}

static void send_u64(smarm_tx *tx, uint64_t v)
{
	ck_assert_int_eq(smarm_send(tx, &v), 0);
}

/* Receive what must come; check it is v. */
static void expect_u64(smarm_rx *rx, uint64_t v)
{
	uint64_t got = ~0ull;

	ck_assert_int_eq(smarm_recv(rx, &got, WAIT), 0);
	ck_assert_uint_eq(got, v);
}

/* Nothing is queued: try_recv says EAGAIN. */
static void expect_empty(smarm_rx *rx)
{
	uint64_t got = 0x5a5a;

	ck_assert_int_eq(smarm_try_recv(rx, &got), EAGAIN);
	ck_assert_uint_eq(got, 0x5a5a);
}

/* Join pid within WAIT; its result. */
static void *join_wait(smarm_pid pid)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_join(pid, &res, WAIT), 0);
	return res;
}

/* A small generator for one thread or actor (the one in testutil.h is
 * shared). */
static uint64_t xrand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/*
 * One send by an actor or a plain thread: smarm_send (timeout
 * SMARM_FOREVER) or smarm_send_timed.  An actor may cancel itself first,
 * and may then sleep for `then` ns (0: no sleep), recording what the sleep
 * returned: 0 once a cancel was delivered, ECANCELED while one is pending.
 */
struct snd {
	smarm_tx *tx;
	uint64_t v;
	uint64_t timeout;
	int self_cancel;
	uint64_t then;
	int err;           /* what the send returned */
	int after;         /* what the sleep returned */
	uint64_t took;     /* ns the send took */
	atomic_int done;
};

static void snd_init(struct snd *s, smarm_tx *tx, uint64_t v,
		     uint64_t timeout)
{
	memset(s, 0, sizeof(*s));
	s->tx = tx;
	s->v = v;
	s->timeout = timeout;
	s->err = -1;
	s->after = -1;
	atomic_init(&s->done, 0);
}

static void snd_do(struct snd *s)
{
	uint64_t t0 = mono_ns();

	s->err = s->timeout == SMARM_FOREVER ? smarm_send(s->tx, &s->v) :
		smarm_send_timed(s->tx, &s->v, s->timeout);
	s->took = mono_ns() - t0;
}

static void *snd_actor(void *p)
{
	struct snd *s = p;

	if (s->self_cancel)
		ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	snd_do(s);
	if (s->then)
		s->after = smarm_sleep(s->then);
	atomic_store(&s->done, 1);
	return NULL;
}

static void *snd_thread(void *p)
{
	struct snd *s = p;

	snd_do(s);
	atomic_store(&s->done, 1);
	return NULL;
}

/* ---- errors ----------------------------------------------------------------- */

/* smarm_select(rxs, 1, ...) from a plain thread while a runtime runs. */
static void *select_thread(void *p)
{
	smarm_rx **rxs = p;
	size_t ready;

	return (void *)(intptr_t)smarm_select(rxs, 1, &ready, 0);
}

static void *errors_root(void *arg)
{
	smarm_rx *rxs[1] = { arg };
	size_t ready;
	pthread_t th;
	void *res = NULL;

	ck_assert_int_eq(smarm_select(NULL, 1, &ready, 0), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 0, &ready, 0), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 1, NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_select(NULL, 0, NULL, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 1, &ready, 0), ETIMEDOUT);
	ck_assert_int_eq(pthread_create(&th, NULL, select_thread, rxs), 0);
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_int_eq((int)(intptr_t)res, EPERM);
	return NULL;
}

/* smarm_channel_bounded: EINVAL for capacity 0, a NULL handle pointer or
 * elem_size 0, ENOMEM for an element no allocation can hold, the handles
 * untouched on failure; smarm_send and smarm_send_timed: EINVAL for NULL,
 * nothing queued; smarm_select: EINVAL for rxs or ready NULL or n 0, in an
 * actor or not, EPERM from the main thread before any runtime and from a
 * plain thread while one runs. */
START_TEST(test_errors)
{
	smarm_tx *tx = (smarm_tx *)tok(1), *tx2;
	smarm_rx *rx = (smarm_rx *)tok(2), *rx2, *rxs[1];
	size_t ready;
	uint64_t v = 1;

	ck_assert_int_eq(smarm_channel_bounded(&tx, &rx, 8, 0), EINVAL);
	ck_assert_int_eq(smarm_channel_bounded(NULL, &rx, 8, 4), EINVAL);
	ck_assert_int_eq(smarm_channel_bounded(&tx, NULL, 8, 4), EINVAL);
	ck_assert_int_eq(smarm_channel_bounded(&tx, &rx, 0, 4), EINVAL);
	ck_assert_int_eq(smarm_channel_bounded(&tx, &rx, 0, 0), EINVAL);
	ck_assert_int_eq(smarm_channel_bounded(&tx, &rx, SIZE_MAX, 4), ENOMEM);
	ck_assert_ptr_eq(tx, tok(1));
	ck_assert_ptr_eq(rx, tok(2));

	bounded_ok(&tx2, &rx2, 1);
	ck_assert_int_eq(smarm_send_timed(NULL, &v, 0), EINVAL);
	ck_assert_int_eq(smarm_send_timed(NULL, &v, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_send_timed(tx2, NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_send_timed(tx2, NULL, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_send(NULL, &v), EINVAL);
	ck_assert_int_eq(smarm_send(tx2, NULL), EINVAL);
	ck_assert_uint_eq(queued(tx2), 0);

	rxs[0] = rx2;
	ck_assert_int_eq(smarm_select(NULL, 1, &ready, 0), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 0, &ready, 0), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 1, NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_select(rxs, 1, &ready, 0), EPERM);
	ck_assert_int_eq(smarm_select(rxs, 1, &ready, SMARM_FOREVER), EPERM);

	run_in_actor(errors_root, rx2);
	ck_assert_int_eq(smarm_tx_close(tx2), 0);
	ck_assert_int_eq(smarm_rx_close(rx2), 0);
}
END_TEST

/* ---- backpressure ------------------------------------------------------------ */

struct bp_case {
	size_t cap;
	int thread; /* the producer is a plain thread */
};

static const struct bp_case bp_cases[] = {
	{ 1, 0 }, { 64, 0 }, { 1, 1 }, { 4, 1 }, { 64, 1 },
};

struct bp {
	smarm_tx *tx;
	uint64_t n;
	atomic_uint_fast64_t sent; /* sends that returned 0 */
	int err;                   /* the first error, or 0 */
};

/* Send 0, 1, ..., n - 1, counting each send once it has returned. */
static void *bp_produce(void *p)
{
	struct bp *b = p;
	uint64_t i;
	int err = 0;

	for (i = 0; i < b->n && err == 0; i++) {
		err = smarm_send(b->tx, &i);
		if (err == 0)
			atomic_store(&b->sent, i + 1);
	}
	b->err = err;
	smarm_tx_close(b->tx);
	return NULL;
}

static void *bp_root(void *arg)
{
	const struct bp_case *bc = arg;
	uint64_t n = RUNNING_ON_VALGRIND ? 2000 : 10000;
	uint64_t every = n / 25, k, v, s;
	struct bp b;
	smarm_rx *rx;
	smarm_pid pid;
	pthread_t th;
	int err;

	memset(&b, 0, sizeof(b));
	atomic_init(&b.sent, 0);
	b.n = n;
	bounded_ok(&b.tx, &rx, bc->cap);
	if (bc->thread)
		ck_assert_int_eq(pthread_create(&th, NULL, bp_produce, &b), 0);
	else
		spawn_ok(&pid, bp_produce, &b);

	for (k = 1; k <= n; k++) {
		v = ~0ull;
		err = smarm_recv(rx, &v, WAIT);
		REQUIRE_MSG(err == 0 && v == k - 1,
			    "receive %llu: error %d, value %llu",
			    (unsigned long long)k, err, (unsigned long long)v);
		/*
		 * k received; of the sends that returned, the ones not
		 * received are queued, and at most cap are.  (The count lags
		 * the sends, which only makes it smaller.)
		 */
		s = atomic_load(&b.sent);
		REQUIRE_MSG(s <= k + bc->cap,
			    "%llu sent when %llu were received: more than "
			    "%zu ahead", (unsigned long long)s,
			    (unsigned long long)k, bc->cap);
		REQUIRE_MSG(queued(rx) <= bc->cap, "%zu queued, capacity %zu",
			    queued(rx), bc->cap);
		if (k % every != 0 || k + bc->cap >= n)
			continue;
		/* The consumer pauses: the producer gets exactly cap ahead,
		 * its next send waits, and it stays there. */
		AWAIT(atomic_load(&b.sent) >= k + bc->cap &&
		      senders_waiting(rx) == 1);
		ck_assert_uint_eq(atomic_load(&b.sent), k + bc->cap);
		ck_assert_uint_eq(queued(rx), bc->cap);
		ck_assert_int_eq(smarm_sleep(2 * MS), 0);
		ck_assert_uint_eq(atomic_load(&b.sent), k + bc->cap);
		ck_assert_uint_eq(queued(rx), bc->cap);
		ck_assert_uint_eq(senders_waiting(rx), 1);
	}
	ck_assert_int_eq(smarm_recv(rx, &v, WAIT), EPIPE);
	if (bc->thread)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	else
		join_wait(pid);
	ck_assert_int_eq(b.err, 0);
	ck_assert_uint_eq(atomic_load(&b.sent), n);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* A producer (an actor, or a plain thread) sends 10,000 elements through a
 * channel of capacity 1, 4 or 64: each is received in order; when an
 * element is received, the producer's count of completed sends is at most
 * capacity above the count received, and nothing more than capacity is
 * queued; when the consumer pauses, the producer gets exactly capacity
 * ahead, its next send waits, and it is still there 2 ms later. */
START_TEST(test_backpressure)
{
	run_in_actor(bp_root, (void *)&bp_cases[_i]);
}
END_TEST

/* ---- smarm_send_timed --------------------------------------------------------- */

/* tx's channel has capacity 2 and holds 2 elements: sends that time out
 * (timeout 0, and SHORT, which they wait out) queue nothing.  From an
 * actor or a plain thread. */
static void expire_on_full(smarm_tx *tx)
{
	uint64_t v = 3, t0;

	ck_assert_int_eq(smarm_send_timed(tx, &v, 0), ETIMEDOUT);
	t0 = mono_ns();
	ck_assert_int_eq(smarm_send_timed(tx, &v, SHORT), ETIMEDOUT);
	ck_assert_uint_ge(mono_ns() - t0, SHORT);
	ck_assert_int_eq(smarm_send_timed(tx, &v, 0), ETIMEDOUT);
	ck_assert_uint_eq(senders_waiting(tx), 0);
	ck_assert_uint_eq(queued(tx), 2);
}

static void *expire_root(void *arg)
{
	smarm_rx *rx = arg, *urx;
	smarm_tx *tx, *utx;
	uint64_t v;
	int i;

	/* From the main thread: 1 and 2 are queued, nothing more (its
	 * only sender has closed). */
	expect_u64(rx, 1);
	expect_u64(rx, 2);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* From an actor. */
	bounded_ok(&tx, &rx, 2);
	send_u64(tx, 1);
	send_u64(tx, 2);
	expire_on_full(tx);
	expect_u64(rx, 1);
	expect_u64(rx, 2);
	expect_empty(rx);
	/* Room again: neither waits. */
	v = 4;
	ck_assert_int_eq(smarm_send_timed(tx, &v, 0), 0);
	v = 5;
	ck_assert_int_eq(smarm_send_timed(tx, &v, SHORT), 0);
	expect_u64(rx, 4);
	expect_u64(rx, 5);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* An unbounded channel never waits. */
	chan_ok(&utx, &urx, sizeof(uint64_t));
	for (i = 0; i < 1000; i++) {
		v = (uint64_t)i;
		ck_assert_int_eq(smarm_send_timed(utx, &v, i % 2 ? SHORT : 0),
				 0);
	}
	for (i = 0; i < 1000; i++)
		expect_u64(urx, (uint64_t)i);
	ck_assert_int_eq(smarm_tx_close(utx), 0);
	ck_assert_int_eq(smarm_rx_close(urx), 0);
	return NULL;
}

/* smarm_send_timed on a full channel returns ETIMEDOUT, at once for
 * timeout 0, after the timeout otherwise, from the main thread (no
 * runtime) and from an actor, and queues nothing; with room it sends; on
 * an unbounded channel it never waits. */
START_TEST(test_send_timed_expires)
{
	smarm_tx *tx;
	smarm_rx *rx;

	bounded_ok(&tx, &rx, 2);
	send_u64(tx, 1);
	send_u64(tx, 2);
	expire_on_full(tx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	run_in_actor(expire_root, rx);
}
END_TEST

/* Sleeps for arg nanoseconds. */
static void *sleeper(void *arg)
{
	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg), 0);
	return arg;
}

/* Sends v with a 200 ms timeout on a full channel, which the root makes
 * room in well before; then its timer must be gone: it cuts short neither
 * a join without timeout nor a sleep. */
static void *timed_sender(void *p)
{
	struct snd *s = p;
	smarm_pid pid;
	void *res = NULL;
	uint64_t t0;

	snd_do(s);
	ck_assert_int_eq(s->err, 0);
	t0 = smarm_now();
	spawn_ok(&pid, sleeper, (void *)(uintptr_t)(300 * MS));
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)(uintptr_t)(300 * MS));
	ck_assert_uint_ge(smarm_now() - t0, 300 * MS);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_sleep(50 * MS), 0);
	ck_assert_uint_ge(smarm_now() - t0, 50 * MS);
	return NULL;
}

static void *not_fired_root(void *arg)
{
	struct snd s, h, t;
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	pthread_t th;

	(void)arg;
	bounded_ok(&tx, &rx, 1);
	send_u64(tx, 1);

	/* An actor with 200 ms. */
	snd_init(&s, tx, 2, 200 * MS);
	spawn_ok(&pid, timed_sender, &s);
	AWAIT(senders_waiting(rx) == 1);
	expect_u64(rx, 1);
	join_wait(pid);
	ck_assert_int_eq(s.err, 0);

	/* An actor with an hour: the room, not the timer, ends it. */
	snd_init(&h, tx, 3, LONG);
	spawn_ok(&pid, snd_actor, &h);
	AWAIT(senders_waiting(rx) == 1);
	expect_u64(rx, 2);
	join_wait(pid);
	ck_assert_int_eq(h.err, 0);

	/* A plain thread with 200 ms, room made after 20 ms. */
	snd_init(&t, tx, 4, 200 * MS);
	ck_assert_int_eq(pthread_create(&th, NULL, snd_thread, &t), 0);
	AWAIT(senders_waiting(rx) == 1);
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	expect_u64(rx, 3);
	AWAIT(atomic_load(&t.done));
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(t.err, 0);
	ck_assert_uint_ge(t.took, SHORT);

	expect_u64(rx, 4);
	expect_empty(rx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* A timed send that gets room before its timeout returns 0 and its
 * element arrives in order (an actor with 200 ms and with an hour, a plain
 * thread with 200 ms); the actor's timer is gone afterwards: a join
 * without timeout and a sleep that follow last as long as they should. */
START_TEST(test_send_timed_not_fired)
{
	run_in_actor(not_fired_root, NULL);
}
END_TEST

static void *send_cancel_root(void *arg)
{
	struct snd s, t, u;
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid ps, pt, pu;
	uint64_t timeout = arg ? LONG : SMARM_FOREVER;

	bounded_ok(&tx, &rx, 1);

	/* S at the head of the queue, T behind it: S is cancelled. */
	send_u64(tx, 1);
	snd_init(&s, tx, 2, timeout);
	s.then = MS;
	spawn_ok(&ps, snd_actor, &s);
	AWAIT(senders_waiting(rx) == 1);
	snd_init(&t, tx, 3, SMARM_FOREVER);
	spawn_ok(&pt, snd_actor, &t);
	AWAIT(senders_waiting(rx) == 2);
	ck_assert_int_eq(smarm_cancel(ps), 0);
	join_wait(ps);
	ck_assert_int_eq(s.err, ECANCELED);
	ck_assert_int_eq(s.after, 0); /* delivered once */
	ck_assert_uint_eq(senders_waiting(rx), 1);
	expect_u64(rx, 1);
	expect_u64(rx, 3);
	join_wait(pt);
	ck_assert_int_eq(t.err, 0);
	expect_empty(rx);

	/* T at the head, S at the tail: S is cancelled, then U queues. */
	send_u64(tx, 4);
	snd_init(&t, tx, 5, SMARM_FOREVER);
	spawn_ok(&pt, snd_actor, &t);
	AWAIT(senders_waiting(rx) == 1);
	snd_init(&s, tx, 6, timeout);
	s.then = MS;
	spawn_ok(&ps, snd_actor, &s);
	AWAIT(senders_waiting(rx) == 2);
	ck_assert_int_eq(smarm_cancel(ps), 0);
	join_wait(ps);
	ck_assert_int_eq(s.err, ECANCELED);
	ck_assert_int_eq(s.after, 0);
	snd_init(&u, tx, 7, timeout);
	spawn_ok(&pu, snd_actor, &u);
	AWAIT(senders_waiting(rx) == 2);
	expect_u64(rx, 4);
	expect_u64(rx, 5);
	expect_u64(rx, 7);
	join_wait(pt);
	join_wait(pu);
	ck_assert_int_eq(t.err, 0);
	ck_assert_int_eq(u.err, 0);
	expect_empty(rx);

	/* A cancel before a send that must wait: ECANCELED at once,
	 * delivered once. */
	send_u64(tx, 8);
	snd_init(&s, tx, 9, timeout);
	s.self_cancel = 1;
	s.then = MS;
	spawn_ok(&ps, snd_actor, &s);
	join_wait(ps);
	ck_assert_int_eq(s.err, ECANCELED);
	ck_assert_int_eq(s.after, 0);

	/* Timeout 0 on the full channel polls: ETIMEDOUT, the cancel stays
	 * pending for the sleep. */
	snd_init(&s, tx, 10, 0);
	s.self_cancel = 1;
	s.then = WAIT;
	spawn_ok(&ps, snd_actor, &s);
	join_wait(ps);
	ck_assert_int_eq(s.err, ETIMEDOUT);
	ck_assert_int_eq(s.after, ECANCELED);
	expect_u64(rx, 8);
	expect_empty(rx);

	/* With room, a send does not wait: 0, and the cancel stays pending
	 * for the sleep. */
	snd_init(&s, tx, 11, timeout);
	s.self_cancel = 1;
	s.then = WAIT;
	spawn_ok(&ps, snd_actor, &s);
	join_wait(ps);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(s.after, ECANCELED);
	expect_u64(rx, 11);
	expect_empty(rx);

	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* A sender cancelled while it waits for room (smarm_send, or
 * smarm_send_timed with a long timeout; at the head of the queue or at its
 * tail) returns ECANCELED, its element not queued, the senders behind it
 * (and one that queues after) served in order; the cancel is delivered
 * once; a cancel made before a send that must wait gives ECANCELED at
 * once; a send that need not wait, or has timeout 0, leaves the cancel
 * pending. */
START_TEST(test_send_cancel)
{
	run_in_actor(send_cancel_root, _i ? tok(1) : NULL);
}
END_TEST

#define FIFO_N 8

/* Senders waiting in rx's queue plus those of gone[0..ngone) that have
 * given up, is it n?  Each gives up by leaving the queue before it sets
 * its flag, so the flags are read first. */
static int queue_count_is(smarm_rx *rx, struct snd **gone, size_t ngone,
			  size_t n)
{
	size_t left = 0, i;

	for (i = 0; i < ngone; i++)
		left += (size_t)atomic_load(&gone[i]->done);
	return senders_waiting(rx) + left == n;
}

static void *fifo_root(void *arg)
{
	struct snd s[FIFO_N + 1], *gone[1] = { &s[3] };
	smarm_pid pid[FIFO_N + 1];
	smarm_tx *tx;
	smarm_rx *rx;
	pthread_t th;
	size_t i, expect = 0;

	(void)arg;
	bounded_ok(&tx, &rx, 1);
	send_u64(tx, 0);
	/*
	 * Senders 1 to FIFO_N queue one after the other: 4 is a plain
	 * thread, 5 has a long timeout, 3 a 50 ms one (it gives up in the
	 * middle of the queue), 6 a short one (it gives up at the tail,
	 * before 7 comes).
	 */
	for (i = 1; i <= FIFO_N; i++) {
		snd_init(&s[i], tx, i,
			 i == 3 ? 50 * MS :
			 i == 5 ? LONG :
			 i == 6 ? SHORT : SMARM_FOREVER);
		if (i == 4)
			ck_assert_int_eq(pthread_create(&th, NULL, snd_thread,
							&s[i]), 0);
		else
			spawn_ok(&pid[i], snd_actor, &s[i]);
		if (i == 6) {
			join_wait(pid[i]);
			ck_assert_int_eq(s[i].err, ETIMEDOUT);
			ck_assert_uint_ge(s[i].took, SHORT);
			continue;
		}
		expect++;
		AWAIT(queue_count_is(rx, gone, i >= 3, expect));
	}
	AWAIT(atomic_load(&s[3].done));
	ck_assert_int_eq(s[3].err, ETIMEDOUT);
	ck_assert_uint_ge(s[3].took, 50 * MS);
	ck_assert_uint_eq(senders_waiting(rx), FIFO_N - 2);

	expect_u64(rx, 0);
	for (i = 1; i <= FIFO_N; i++)
		if (i != 3 && i != 6)
			expect_u64(rx, i);
	expect_empty(rx);
	for (i = 1; i <= FIFO_N; i++) {
		if (i == 4) {
			AWAIT(atomic_load(&s[i].done));
			ck_assert_int_eq(pthread_join(th, NULL), 0);
		} else if (i != 6) {
			join_wait(pid[i]);
		}
		ck_assert_int_eq(s[i].err, i == 3 || i == 6 ? ETIMEDOUT : 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* Senders that wait on a full channel (capacity 1) in a known order --
 * actors, a plain thread, timed ones -- are served first come first
 * served: the receiver gets their elements in the order they queued; one
 * that gives up (in the middle of the queue, or at its tail before another
 * queues) is left out and does not disturb the others. */
START_TEST(test_send_fifo)
{
	run_in_actor(fifo_root, NULL);
}
END_TEST

/* Senders racing the receiver: timeouts or cancels end some waits just as
 * the receiver makes room. */
enum { RACE_TIMED_ACTOR, RACE_TIMED_THREAD, RACE_CANCELLED, RACE_CASES };

struct race {
	smarm_tx *tx;
	uint64_t n;
	int mode;
	uint64_t gave_up;   /* sends that returned ETIMEDOUT or ECANCELED */
	int err;            /* another error, or 0 */
	atomic_int done;
};

/*
 * Sends 0 .. n - 1.  A send that gives up (ETIMEDOUT, ECANCELED) is tried
 * again with the same value: had it been queued after all, the receiver
 * would get that value twice; had a send that returned 0 not been queued,
 * the receiver would miss a value.
 */
static void *race_sender(void *p)
{
	static const uint64_t timeouts[] = { 0, 1 * US, 10 * US, 100 * US,
					     1 * MS };
	struct race *r = p;
	uint64_t seq = 0, st = 0x9e3779b97f4a7c15ull + (uint64_t)r->mode;
	int err = 0;

	while (seq < r->n) {
		if (r->mode == RACE_CANCELLED)
			err = smarm_send(r->tx, &seq);
		else
			err = smarm_send_timed(r->tx, &seq,
					       timeouts[xrand(&st) % 5]);
		if (err == 0) {
			seq++;
		} else if (err == ETIMEDOUT || err == ECANCELED) {
			r->gave_up++;
		} else {
			r->err = err;
			break;
		}
	}
	atomic_store(&r->done, 1);
	smarm_tx_close(r->tx);
	return NULL;
}

struct canceller {
	smarm_pid target;
	atomic_int *stop;
};

/* Cancels target again and again, at random short intervals. */
static void *canceller(void *p)
{
	struct canceller *c = p;
	uint64_t st = 0x1234567;
	int err;

	while (!atomic_load(c->stop)) {
		err = smarm_cancel(c->target);
		REQUIRE_MSG(err == 0 || err == ESRCH, "smarm_cancel: %d", err);
		smarm_sleep(1 * US + xrand(&st) % 30 * US);
	}
	return NULL;
}

static void *race_root(void *arg)
{
	int mode = (int)(intptr_t)arg;
	uint64_t n = RUNNING_ON_VALGRIND ? 1000 : 5000, k, v;
	uint64_t st = 0xabcdef;
	struct race r;
	struct canceller c;
	atomic_int stop;
	smarm_rx *rx;
	smarm_pid ps, pc;
	pthread_t th;
	int err;

	memset(&r, 0, sizeof(r));
	atomic_init(&r.done, 0);
	atomic_init(&stop, 0);
	r.n = n;
	r.mode = mode;
	bounded_ok(&r.tx, &rx, 2);
	if (mode == RACE_TIMED_THREAD)
		ck_assert_int_eq(pthread_create(&th, NULL, race_sender, &r),
				 0);
	else
		spawn_ok(&ps, race_sender, &r);
	if (mode == RACE_CANCELLED) {
		c.target = ps;
		c.stop = &stop;
		spawn_ok(&pc, canceller, &c);
	}
	for (k = 0; k < n; k++) {
		v = ~0ull;
		err = smarm_recv(rx, &v, WAIT);
		REQUIRE_MSG(err == 0 && v == k,
			    "receive %llu: error %d, value %llu (%llu gave up)",
			    (unsigned long long)k, err, (unsigned long long)v,
			    (unsigned long long)r.gave_up);
		switch (xrand(&st) % 8) {
		case 0:
			smarm_sleep(xrand(&st) % 50 * US);
			break;
		case 1:
			smarm_yield();
			break;
		default:
			break;
		}
	}
	ck_assert_int_eq(smarm_recv(rx, &v, WAIT), EPIPE);
	atomic_store(&stop, 1);
	if (mode == RACE_TIMED_THREAD) {
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	} else {
		join_wait(ps);
		if (mode == RACE_CANCELLED)
			join_wait(pc);
	}
	ck_assert_int_eq(r.err, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* A sender whose timed sends (0 to 1 ms; an actor, a plain thread) or
 * untimed sends (an actor cancelled again and again) race a receiver that
 * pauses at random, retrying a send that gave up: the receiver gets every
 * value exactly once, in order -- a send that gave up queued nothing, a
 * send that returned 0 was delivered. */
START_TEST(test_send_race)
{
	run_in_actor(race_root, (void *)(intptr_t)_i);
}
END_TEST

/* ---- plain threads -------------------------------------------------------------- */

/* Sends s->v (it waits), then twice more after the close. */
static void *epipe_thread(void *p)
{
	struct snd *s = p;
	uint64_t v = 100;

	snd_do(s);
	if (smarm_send(s->tx, &v) != EPIPE ||
	    smarm_send_timed(s->tx, &v, 0) != EPIPE ||
	    smarm_send_timed(s->tx, &v, SMARM_FOREVER) != EPIPE)
		s->after = 1;
	else
		s->after = 0;
	smarm_tx_close(s->tx);
	atomic_store(&s->done, 1);
	return NULL;
}

static uint64_t thread_cpu_ns(pthread_t th)
{
	clockid_t cid;
	struct timespec ts;

	ck_assert_int_eq(pthread_getcpuclockid(th, &cid), 0);
	ck_assert_int_eq(clock_gettime(cid, &ts), 0);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void *thread_epipe_root(void *arg)
{
	struct snd s;
	smarm_tx *tx;
	smarm_rx *rx;
	pthread_t th;
	uint64_t cpu0, cpu1, i;

	(void)arg;
	bounded_ok(&tx, &rx, 4);
	for (i = 0; i < 4; i++)
		send_u64(tx, i);
	snd_init(&s, tx, 99, SMARM_FOREVER);
	ck_assert_int_eq(pthread_create(&th, NULL, epipe_thread, &s), 0);
	AWAIT(senders_waiting(rx) == 1);
	cpu0 = RUNNING_ON_VALGRIND ? 0 : thread_cpu_ns(th);
	ck_assert_int_eq(smarm_sleep(200 * MS), 0);
	cpu1 = RUNNING_ON_VALGRIND ? 0 : thread_cpu_ns(th);
	/* It sleeps in the kernel: a spinning wait would use most of the
	 * 200 ms. */
	if (!RUNNING_ON_VALGRIND)
		ck_assert_msg(cpu1 - cpu0 < 50 * MS,
			      "a blocked sender used %llu ms of CPU in 200 ms",
			      (unsigned long long)((cpu1 - cpu0) / MS));
	ck_assert_int_eq(atomic_load(&s.done), 0);
	ck_assert_uint_eq(senders_waiting(rx), 1);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	AWAIT(atomic_load(&s.done));
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(s.err, EPIPE);
	ck_assert_int_eq(s.after, 0);
	/* The thread closed the handle: a second close is refused. */
	ck_assert_int_eq(smarm_tx_close(tx), EBADF);
	return NULL;
}

/* A plain thread whose send waits on a full channel sleeps in the kernel
 * (under 50 ms of CPU time in 200 ms) until smarm_rx_close wakes it with
 * EPIPE; its later sends, timed or not, return EPIPE at once. */
START_TEST(test_thread_epipe)
{
	run_in_actor(thread_epipe_root, NULL);
}
END_TEST

/* ---- closing the receiving end under waiting senders -------------------------- */

#define CLOSE_N 5

static void *rx_close_root(void *arg)
{
	struct snd s[CLOSE_N];
	smarm_pid pid[CLOSE_N];
	smarm_tx *tx;
	smarm_rx *rx;
	pthread_t th;
	uint64_t v = 7;
	int i;

	(void)arg;
	bounded_ok(&tx, &rx, 2);
	send_u64(tx, 1);
	send_u64(tx, 2);
	/* Three actors, one with a timeout, and a plain thread; each with
	 * its own handle. */
	for (i = 0; i < CLOSE_N; i++) {
		snd_init(&s[i], smarm_tx_clone(tx), 10 + (uint64_t)i,
			 i == 3 ? LONG : SMARM_FOREVER);
		ck_assert_ptr_nonnull(s[i].tx);
		if (i == 2)
			ck_assert_int_eq(pthread_create(&th, NULL, snd_thread,
							&s[i]), 0);
		else
			spawn_ok(&pid[i], snd_actor, &s[i]);
		AWAIT(senders_waiting(rx) == (size_t)i + 1);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	for (i = 0; i < CLOSE_N; i++) {
		if (i == 2) {
			AWAIT(atomic_load(&s[i].done));
			ck_assert_int_eq(pthread_join(th, NULL), 0);
		} else {
			join_wait(pid[i]);
		}
		ck_assert_int_eq(s[i].err, EPIPE);
		ck_assert_int_eq(smarm_send(s[i].tx, &v), EPIPE);
		ck_assert_int_eq(smarm_tx_close(s[i].tx), 0);
	}
	ck_assert_int_eq(smarm_send_timed(tx, &v, 0), EPIPE);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	return NULL;
}

/* smarm_rx_close on a full channel with five senders waiting (actors, one
 * with a timeout, a plain thread) wakes each with EPIPE; later sends
 * return EPIPE, with timeout 0 too. */
START_TEST(test_rx_close_wakes_senders)
{
	run_in_actor(rx_close_root, NULL);
}
END_TEST

/* ---- one receiver ---------------------------------------------------------------- */

/* One receive by an actor: smarm_recv, or smarm_select on sel[0..nsel)
 * followed by smarm_try_recv on the entry found ready. */
struct rcv {
	smarm_rx *rx;
	smarm_rx *sel[2];
	size_t nsel;        /* 0: smarm_recv */
	uint64_t v;
	size_t ready;
	int err;
};

static void *rcv_actor(void *p)
{
	struct rcv *r = p;

	r->v = ~0ull;
	if (r->nsel == 0) {
		r->err = smarm_recv(r->rx, &r->v, WAIT);
		return NULL;
	}
	r->err = smarm_select(r->sel, r->nsel, &r->ready, WAIT);
	if (r->err == 0)
		r->err = smarm_try_recv(r->sel[r->ready], &r->v);
	return NULL;
}

/* Another actor waits to receive on rx: every way to receive on it fails
 * at once with EBUSY and takes nothing. */
static void *expect_busy(void *arg)
{
	smarm_rx *rx = arg, *one[1] = { rx }, *two[2] = { NULL, rx };
	uint64_t v = 0x5a5a;
	size_t ready;

	ck_assert_int_eq(smarm_recv(rx, &v, 0), EBUSY);
	ck_assert_int_eq(smarm_recv(rx, &v, WAIT), EBUSY);
	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), EBUSY);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EBUSY);
	ck_assert_uint_eq(v, 0x5a5a);
	ck_assert_int_eq(smarm_select(one, 1, &ready, 0), EBUSY);
	ck_assert_int_eq(smarm_select(one, 1, &ready, WAIT), EBUSY);
	ck_assert_int_eq(smarm_select(one, 1, &ready, SMARM_FOREVER), EBUSY);
	/* With an empty mailbox beside it, from either starting point. */
	ck_assert_int_eq(smarm_select(two, 2, &ready, WAIT), EBUSY);
	ck_assert_int_eq(smarm_select(two, 2, &ready, WAIT), EBUSY);
	return NULL;
}

static void *one_receiver_root(void *arg)
{
	smarm_tx *tx, *otx;
	smarm_rx *rx, *orx;
	struct rcv a;
	smarm_pid pa, pb;
	int sel = arg != NULL;

	bounded_ok(&tx, &rx, 2);
	chan_ok(&otx, &orx, sizeof(uint64_t));
	memset(&a, 0, sizeof(a));
	a.rx = rx;
	if (sel) {
		/* A selects on another channel and this one. */
		a.sel[0] = orx;
		a.sel[1] = rx;
		a.nsel = 2;
	}
	spawn_ok(&pa, rcv_actor, &a);
	AWAIT(receiver_waits(rx));

	/* The root, and another actor. */
	expect_busy(rx);
	spawn_ok(&pb, expect_busy, rx);
	join_wait(pb);
	if (sel)
		expect_busy(orx);
	/* A still waits, undisturbed, and gets the next element. */
	ck_assert(receiver_waits(rx));
	send_u64(tx, 7);
	join_wait(pa);
	ck_assert_int_eq(a.err, 0);
	ck_assert_uint_eq(a.v, 7);
	if (sel)
		ck_assert_uint_eq(a.ready, 1);

	/* A is done: the channel is free for another receiver. */
	send_u64(tx, 8);
	expect_u64(rx, 8);
	expect_empty(rx);
	expect_empty(orx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ck_assert_int_eq(smarm_tx_close(otx), 0);
	ck_assert_int_eq(smarm_rx_close(orx), 0);
	return NULL;
}

/* While actor A waits in smarm_recv on a channel (or in smarm_select on it
 * and another), other actors' smarm_recv (timeouts 0, 30 s and none),
 * smarm_try_recv and smarm_select on it (on the other too) return EBUSY at
 * once and take nothing; A still receives the next element; then another
 * actor may receive on the channel. */
START_TEST(test_one_receiver)
{
	run_noop(one_receiver_root, _i ? tok(1) : NULL);
}
END_TEST

#define FOUR 4

static void *four_root(void *arg)
{
	size_t cap = (size_t)(uintptr_t)arg;
	struct rcv r[FOUR];
	smarm_pid pid[FOUR];
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t base = stats_now().exited, v;
	int i, got = 0, busy = 0;

	if (cap)
		bounded_ok(&tx, &rx, cap);
	else
		chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < FOUR; i++) {
		memset(&r[i], 0, sizeof(r[i]));
		r[i].rx = rx;
		spawn_ok(&pid[i], rcv_actor, &r[i]);
	}
	/* One waits; the three others have ended with EBUSY. */
	AWAIT(receiver_waits(rx) && stats_now().exited >= base + FOUR - 1);
	for (v = 0; v < FOUR; v++)
		send_u64(tx, v);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	for (i = 0; i < FOUR; i++) {
		join_wait(pid[i]);
		if (r[i].err == 0) {
			ck_assert_uint_eq(r[i].v, 0);
			got++;
		} else {
			ck_assert_int_eq(r[i].err, EBUSY);
			busy++;
		}
	}
	ck_assert_int_eq(got, 1);
	ck_assert_int_eq(busy, FOUR - 1);
	for (v = 1; v < FOUR; v++)
		expect_u64(rx, v);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

/* The scenario: four actors call smarm_recv on one empty channel
 * (unbounded, and bounded with capacity 4): one waits, the three others
 * return EBUSY at once; four elements and a close later the waiting one
 * has the first element and the others are still queued.  Nobody hangs. */
START_TEST(test_four_receivers)
{
	run_in_actor(four_root, _i ? tok(4) : NULL);
}
END_TEST

#define SHARED_MAX 2000

struct shared {
	smarm_rx *rx;
	uint64_t n;
	atomic_uchar count[SHARED_MAX];
};

struct sharer {
	struct shared *sh;
	int how;            /* 0 recv, 1 try_recv, 2 select, 3 timed recv */
	uint64_t got, busy;
	int err;            /* an unexpected error, or 0 */
};

/* Receives until EPIPE, in its own way; EBUSY and EAGAIN: a short sleep
 * (no spinning) and it tries again. */
static void *sharer(void *p)
{
	struct sharer *s = p;
	smarm_rx *one[1] = { s->sh->rx };
	size_t ready;
	uint64_t v;
	int err;

	for (;;) {
		switch (s->how) {
		case 0:
			err = smarm_recv(s->sh->rx, &v, WAIT);
			break;
		case 1:
			err = smarm_try_recv(s->sh->rx, &v);
			break;
		case 2:
			err = smarm_select(one, 1, &ready, WAIT);
			if (err == 0)
				err = smarm_try_recv(s->sh->rx, &v);
			break;
		default:
			err = smarm_recv(s->sh->rx, &v, 100 * US);
			if (err == ETIMEDOUT)
				err = EAGAIN;
			break;
		}
		if (err == EPIPE)
			return NULL;
		if (err == EBUSY || err == EAGAIN) {
			s->busy += err == EBUSY;
			smarm_sleep(10 * US);
			continue;
		}
		if (err != 0 || v >= s->sh->n) {
			s->err = err ? err : -1;
			return NULL;
		}
		atomic_fetch_add(&s->sh->count[v], 1);
		s->got++;
	}
}

static void *shared_root(void *arg)
{
	static struct shared sh;
	struct sharer s[FOUR];
	smarm_pid pid[FOUR];
	smarm_tx *tx;
	uint64_t v, got = 0;
	int i;

	(void)arg;
	memset(&sh, 0, sizeof(sh));
	sh.n = RUNNING_ON_VALGRIND ? 500 : SHARED_MAX;
	bounded_ok(&tx, &sh.rx, 8);
	for (i = 0; i < FOUR; i++) {
		memset(&s[i], 0, sizeof(s[i]));
		s[i].sh = &sh;
		s[i].how = i;
		spawn_ok(&pid[i], sharer, &s[i]);
	}
	for (v = 0; v < sh.n; v++) {
		send_u64(tx, v);
		if (v % 16 == 0)
			smarm_yield();
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	for (i = 0; i < FOUR; i++) {
		join_wait(pid[i]);
		ck_assert_msg(s[i].err == 0, "receiver %d: error %d", i,
			      s[i].err);
		got += s[i].got;
	}
	ck_assert_uint_eq(got, sh.n);
	for (v = 0; v < sh.n; v++)
		REQUIRE_MSG(atomic_load(&sh.count[v]) == 1,
			    "element %llu received %d times",
			    (unsigned long long)v,
			    (int)atomic_load(&sh.count[v]));
	ck_assert_int_eq(smarm_rx_close(sh.rx), 0);
	return NULL;
}

/* Four actors share one bounded channel (capacity 8), receiving with
 * smarm_recv, smarm_try_recv, smarm_select and a timed smarm_recv, and
 * trying again after EBUSY or EAGAIN: all 2,000 elements are received
 * once each, and all four end with EPIPE once the sender closes. */
START_TEST(test_shared_receivers)
{
	run_in_actor(shared_root, NULL);
}
END_TEST

/* ---- smarm_select ------------------------------------------------------------------ */

#define SEL_CH 8
#define SEL_SENDERS 2
#define SEL_MB 150      /* messages from each of two mailbox senders */
#define SEL_MB_AT 4     /* where the mailbox entry starts */

/* Capacities of the 8 channels; 0: unbounded. */
static const size_t sel_caps[SEL_CH] = { 1, 0, 4, 1, 0, 2, 16, 0 };

struct sel_sender {
	smarm_tx *tx;       /* its own handle: channel senders */
	smarm_pid to;       /* the receiver: mailbox senders */
	uint64_t ch, id, n;
	int actor;
	int err;
};

/* Elements: channel << 48 | sender << 40 | sequence number. */
static uint64_t sel_count(uint64_t ch, uint64_t id)
{
	return 30 + 25 * ch + 40 * id;
}

static int sel_is_thread(uint64_t ch, uint64_t id)
{
	return id == 1 && (ch == 3 || ch == 6);
}

static void *sel_send(void *p)
{
	struct sel_sender *s = p;
	uint64_t i, v;
	int err = 0;

	for (i = 0; i < s->n && err == 0; i++) {
		v = s->ch << 48 | s->id << 40 | i;
		err = smarm_send(s->tx, &v);
		if (s->actor && i % (s->ch + 2) == 0)
			smarm_yield();
	}
	s->err = err;
	smarm_tx_close(s->tx);
	return NULL;
}

/* Messages: sender << 32 | sequence number, as a pointer. */
static void *sel_send_to(void *p)
{
	struct sel_sender *s = p;
	uint64_t i;
	int err = 0;

	for (i = 0; i < s->n && err == 0; i++) {
		err = smarm_send_to(s->to, tok(s->id << 32 | i));
		if (s->actor && i % 3 == 0)
			smarm_yield();
	}
	s->err = err;
	return NULL;
}

static void *select_all_root(void *arg)
{
	struct sel_sender cs[SEL_CH][SEL_SENDERS], ms[2];
	smarm_pid cpid[SEL_CH][SEL_SENDERS], mpid[2];
	pthread_t cth[SEL_CH][SEL_SENDERS], mth[2];
	smarm_rx *rxs[SEL_CH + 1];
	int ids[SEL_CH + 1];      /* each entry's channel; -1 the mailbox,
				     -2 an idle channel */
	smarm_tx *idle[SEL_CH];
	uint64_t next[SEL_CH][SEL_SENDERS], mnext[2] = { 0, 0 };
	uint64_t ch, id, seq, v, mleft = 2 * SEL_MB;
	size_t n = SEL_CH + 1, i, nidle = 0, open = SEL_CH, selects = 0;
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_msg m;
	int err;

	(void)arg;
	memset(next, 0, sizeof(next));
	for (i = 0, ch = 0; i < n; i++) {
		if (i == SEL_MB_AT) {
			rxs[i] = NULL;
			ids[i] = -1;
			continue;
		}
		if (sel_caps[ch])
			bounded_ok(&tx, &rx, sel_caps[ch]);
		else
			chan_ok(&tx, &rx, sizeof(uint64_t));
		rxs[i] = rx;
		ids[i] = (int)ch;
		for (id = 0; id < SEL_SENDERS; id++) {
			struct sel_sender *s = &cs[ch][id];

			s->tx = id == 0 ? tx : smarm_tx_clone(tx);
			s->ch = ch;
			s->id = id;
			s->n = sel_count(ch, id);
			s->actor = !sel_is_thread(ch, id);
			s->err = -1;
		}
		ch++;
	}
	for (id = 0; id < 2; id++) {
		ms[id].to = smarm_self();
		ms[id].id = id;
		ms[id].n = SEL_MB;
		ms[id].actor = id == 0;
		ms[id].err = -1;
	}
	/* Start them all. */
	for (ch = 0; ch < SEL_CH; ch++)
		for (id = 0; id < SEL_SENDERS; id++)
			if (cs[ch][id].actor)
				spawn_ok(&cpid[ch][id], sel_send, &cs[ch][id]);
			else
				ck_assert_int_eq(pthread_create(&cth[ch][id],
						NULL, sel_send, &cs[ch][id]),
						 0);
	spawn_ok(&mpid[0], sel_send_to, &ms[0]);
	ck_assert_int_eq(pthread_create(&mth[1], NULL, sel_send_to, &ms[1]),
			 0);

	while (open > 0 || mleft > 0) {
		i = n;
		err = smarm_select(rxs, n, &i, WAIT);
		selects++;
		REQUIRE_MSG(err == 0 && i < n, "select: error %d, entry %zu "
			    "of %zu", err, i, n);
		if (rxs[i] == NULL) {
			err = smarm_receive(&m, 0);
			REQUIRE_MSG(err == 0 && m.kind == SMARM_MSG,
				    "select found the mailbox ready, but "
				    "smarm_receive(&m, 0) returned %d (kind "
				    "%d): not a receive that would not wait",
				    err, err == 0 ? m.kind : -1);
			v = untok(m.data);
			id = v >> 32;
			seq = v & 0xffffffffu;
			REQUIRE_MSG(id < 2 && seq == mnext[id],
				    "message %llu/%llu, expected %llu",
				    (unsigned long long)id,
				    (unsigned long long)seq,
				    (unsigned long long)mnext[id < 2 ? id : 0]);
			mnext[id]++;
			mleft--;
			continue;
		}
		REQUIRE_MSG(ids[i] >= 0, "entry %zu, an idle channel, ready",
			    i);
		ch = (uint64_t)ids[i];
		v = ~0ull;
		err = smarm_try_recv(rxs[i], &v);
		if (err == EPIPE) {
			/* Ended: every element of its senders came. */
			for (id = 0; id < SEL_SENDERS; id++)
				REQUIRE_MSG(next[ch][id] == sel_count(ch, id),
					    "channel %llu ended, %llu of %llu "
					    "from sender %llu",
					    (unsigned long long)ch,
					    (unsigned long long)next[ch][id],
					    (unsigned long long)sel_count(ch,
								id),
					    (unsigned long long)id);
			ck_assert_int_eq(smarm_rx_close(rxs[i]), 0);
			open--;
			if (ch % 2 == 0) {
				/* Swap in a channel nobody sends on. */
				chan_ok(&idle[nidle], &rxs[i],
					sizeof(uint64_t));
				ids[i] = -2;
				nidle++;
			} else {
				/* Drop the entry. */
				memmove(&rxs[i], &rxs[i + 1],
					(n - i - 1) * sizeof(rxs[0]));
				memmove(&ids[i], &ids[i + 1],
					(n - i - 1) * sizeof(ids[0]));
				n--;
			}
			continue;
		}
		REQUIRE_MSG(err == 0, "channel %llu ready, try_recv: %d",
			    (unsigned long long)ch, err);
		id = v >> 40 & 0xff;
		seq = v & 0xffffffffffull;
		REQUIRE_MSG(v >> 48 == ch && id < SEL_SENDERS &&
			    seq == next[ch][id],
			    "channel %llu: element %#llx, expected sequence "
			    "%llu", (unsigned long long)ch,
			    (unsigned long long)v,
			    (unsigned long long)next[ch][id < SEL_SENDERS ?
							 id : 0]);
		next[ch][id]++;
	}
	/* Only idle channels and the empty mailbox are left. */
	ck_assert_uint_eq(n, SEL_CH / 2 + 1);
	ck_assert_int_eq(smarm_select(rxs, n, &i, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_select(rxs, n, &i, MS), ETIMEDOUT);

	for (ch = 0; ch < SEL_CH; ch++)
		for (id = 0; id < SEL_SENDERS; id++) {
			if (cs[ch][id].actor)
				join_wait(cpid[ch][id]);
			else
				ck_assert_int_eq(pthread_join(cth[ch][id],
							      NULL), 0);
			ck_assert_int_eq(cs[ch][id].err, 0);
		}
	join_wait(mpid[0]);
	ck_assert_int_eq(pthread_join(mth[1], NULL), 0);
	ck_assert_int_eq(ms[0].err, 0);
	ck_assert_int_eq(ms[1].err, 0);
	for (i = 0; i < nidle; i++)
		ck_assert_int_eq(smarm_tx_close(idle[i]), 0);
	for (i = 0; i < n; i++)
		if (rxs[i] != NULL)
			ck_assert_int_eq(smarm_rx_close(rxs[i]), 0);
	ck_assert_uint_ge(selects, 2 * SEL_MB + SEL_CH);
	return NULL;
}

/* smarm_select over 8 channels (capacities 1, 2, 4, 16 and unbounded),
 * each fed by two senders (two of them plain threads) that send different
 * numbers of elements and close, and the mailbox entry (NULL), fed by an
 * actor and a plain thread; after each select, one receive from the entry
 * found ready: every element and message arrives exactly once, in each
 * sender's order; a ready channel's try_recv never says EAGAIN, the
 * mailbox's receive with timeout 0 never ETIMEDOUT; an ended channel
 * (EPIPE) comes only after all its elements, and is dropped by swapping in
 * an idle channel, which is never found ready, or by rebuilding the
 * array. */
START_TEST(test_select_all_once)
{
	run_noop(select_all_root, NULL);
}
END_TEST

#define FAIR_CAP 1024
#define FAIR_ROUNDS 200

struct fair_producer {
	smarm_tx *tx;
	int err;
};

/* Keeps the busy channel full: sends FAIR_CAP, FAIR_CAP + 1, ... until
 * the receiving end is closed. */
static void *fair_produce(void *p)
{
	struct fair_producer *f = p;
	uint64_t v = FAIR_CAP;
	int err;

	while ((err = smarm_send(f->tx, &v)) == 0)
		v++;
	f->err = err;
	smarm_tx_close(f->tx);
	return NULL;
}

static void *fair_root(void *arg)
{
	struct fair_producer f;
	smarm_tx *atx, *itx, *btx;
	smarm_rx *arx, *irx, *brx, *rxs[4];
	smarm_pid pid;
	smarm_msg m;
	uint64_t anext = 0, v, r;
	size_t i, target, k;
	int err;

	(void)arg;
	bounded_ok(&atx, &arx, FAIR_CAP);
	for (v = 0; v < FAIR_CAP; v++)
		send_u64(atx, v);
	f.tx = smarm_tx_clone(atx);
	f.err = -1;
	ck_assert_int_eq(smarm_tx_close(atx), 0);
	spawn_ok(&pid, fair_produce, &f);
	chan_ok(&itx, &irx, sizeof(uint64_t));
	chan_ok(&btx, &brx, sizeof(uint64_t));
	/* The busy channel, an idle one, the other one, the mailbox. */
	rxs[0] = arx;
	rxs[1] = irx;
	rxs[2] = brx;
	rxs[3] = NULL;

	for (r = 0; r < FAIR_ROUNDS; r++) {
		if (r % 2) {
			target = 2;
			send_u64(btx, r);
		} else {
			target = 3;
			ck_assert_int_eq(smarm_send_to(smarm_self(), tok(r)),
					 0);
		}
		for (k = 1;; k++) {
			err = smarm_select(rxs, 4, &i, 0);
			REQUIRE_MSG(err == 0, "round %llu select %zu: %d",
				    (unsigned long long)r, k, err);
			if (i == 0) {
				/* The busy one: take an element. */
				err = smarm_try_recv(arx, &v);
				REQUIRE_MSG(err == 0 && v == anext,
					    "busy channel: %d, %llu, expected"
					    " %llu", err,
					    (unsigned long long)v,
					    (unsigned long long)anext);
				anext++;
			} else {
				REQUIRE_MSG(i == target,
					    "round %llu: entry %zu ready, "
					    "expected %zu or 0",
					    (unsigned long long)r, i, target);
				if (i == 2) {
					err = smarm_try_recv(brx, &v);
				} else {
					err = smarm_receive(&m, 0);
					v = untok(m.data);
				}
				REQUIRE_MSG(err == 0 && v == r,
					    "round %llu: %d, %llu",
					    (unsigned long long)r, err,
					    (unsigned long long)v);
				break;
			}
			REQUIRE_MSG(k < 4, "round %llu: entry %zu not served "
				    "in 4 selects", (unsigned long long)r,
				    target);
		}
	}
	/* The busy channel was served too. */
	ck_assert_uint_gt(anext, 0);
	ck_assert_int_eq(smarm_rx_close(arx), 0);
	join_wait(pid);
	ck_assert_int_eq(f.err, EPIPE);
	ck_assert_int_eq(smarm_tx_close(itx), 0);
	ck_assert_int_eq(smarm_rx_close(irx), 0);
	ck_assert_int_eq(smarm_tx_close(btx), 0);
	ck_assert_int_eq(smarm_rx_close(brx), 0);
	return NULL;
}

/* Fairness: select over 4 entries, one channel always full (a producer
 * waits to refill it), an idle channel, a channel and the mailbox that
 * get one element or message now and then: each time, the one that got it
 * is served within 4 selects, the busy channel in between. */
START_TEST(test_select_fair)
{
	run_noop(fair_root, NULL);
}
END_TEST

/* Something done once the selecting actor is registered on `watch`: a
 * send, a message to `to`, or closing tx. */
enum { LATE_SEND, LATE_SEND_TO, LATE_CLOSE };

struct late {
	void *watch;
	int what;
	smarm_tx *tx;
	uint64_t v;
	smarm_pid to;
	int err;
};

static void *late_act(void *p)
{
	struct late *l = p;

	AWAIT(receiver_waits(l->watch));
	switch (l->what) {
	case LATE_SEND:
		l->err = smarm_send(l->tx, &l->v);
		break;
	case LATE_SEND_TO:
		l->err = smarm_send_to(l->to, tok(l->v));
		break;
	default:
		l->err = smarm_tx_close(l->tx);
		break;
	}
	return NULL;
}

/* Run l in an actor or a plain thread while the root selects on rxs (for
 * up to WAIT); the entry found ready must be `want`. */
static void select_woken(struct late *l, int thread, smarm_rx **rxs,
			 size_t n, size_t want)
{
	smarm_pid pid;
	pthread_t th;
	size_t ready = n;

	l->err = -1;
	if (thread)
		ck_assert_int_eq(pthread_create(&th, NULL, late_act, l), 0);
	else
		spawn_ok(&pid, late_act, l);
	ck_assert_int_eq(smarm_select(rxs, n, &ready, WAIT), 0);
	ck_assert_uint_eq(ready, want);
	if (thread)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	else
		join_wait(pid);
	ck_assert_int_eq(l->err, 0);
}

static void *wakes_root(void *arg)
{
	smarm_tx *tx0, *tx1, *tx2;
	smarm_rx *rx0, *rx1, *rx2, *rxs[4];
	struct late l;
	smarm_msg m;
	uint64_t v;
	size_t ready;
	int thread;

	(void)arg;
	chan_ok(&tx0, &rx0, sizeof(uint64_t));
	bounded_ok(&tx1, &rx1, 1);
	chan_ok(&tx2, &rx2, sizeof(uint64_t));
	rxs[0] = rx0;
	rxs[1] = NULL;
	rxs[2] = rx1;
	rxs[3] = rx2;

	for (thread = 0; thread < 2; thread++) {
		/* A send to the last entry. */
		memset(&l, 0, sizeof(l));
		l.watch = rx2;
		l.what = LATE_SEND;
		l.tx = tx2;
		l.v = 20 + (uint64_t)thread;
		select_woken(&l, thread, rxs, 4, 3);
		/* select took nothing: it is still there. */
		ck_assert_int_eq(smarm_select(rxs, 4, &ready, 0), 0);
		ck_assert_uint_eq(ready, 3);
		expect_u64(rx2, 20 + (uint64_t)thread);

		/* A send to the bounded one. */
		l.watch = rx1;
		l.tx = tx1;
		l.v = 10 + (uint64_t)thread;
		select_woken(&l, thread, rxs, 4, 2);
		expect_u64(rx1, 10 + (uint64_t)thread);

		/* A message to the mailbox. */
		l.watch = rx0;
		l.what = LATE_SEND_TO;
		l.to = smarm_self();
		l.v = 30 + (uint64_t)thread;
		select_woken(&l, thread, rxs, 4, 1);
		ck_assert_int_eq(smarm_receive(&m, 0), 0);
		ck_assert_int_eq(m.kind, SMARM_MSG);
		ck_assert_ptr_eq(m.data, tok(30 + (uint64_t)thread));
	}

	/* The last sender of the first channel closes: its end is ready. */
	memset(&l, 0, sizeof(l));
	l.watch = rx0;
	l.what = LATE_CLOSE;
	l.tx = tx0;
	select_woken(&l, 0, rxs, 4, 0);
	ck_assert_int_eq(smarm_try_recv(rx0, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx0), 0);

	/* A full bounded channel is ready, with a sender waiting or not. */
	send_u64(tx1, 1);
	ck_assert_int_eq(smarm_select(rxs + 1, 3, &ready, 0), 0);
	ck_assert_uint_eq(ready, 1);
	expect_u64(rx1, 1);

	ck_assert_int_eq(smarm_select(rxs + 1, 3, &ready, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_tx_close(tx1), 0);
	ck_assert_int_eq(smarm_rx_close(rx1), 0);
	ck_assert_int_eq(smarm_tx_close(tx2), 0);
	ck_assert_int_eq(smarm_rx_close(rx2), 0);
	return NULL;
}

/* A select waiting on two unbounded channels, a bounded one and the
 * mailbox is woken, with the right entry, by an actor's and by a plain
 * thread's send, by a message from either, and by the close of a
 * channel's last sender (whose try_recv then says EPIPE); select itself
 * receives nothing. */
START_TEST(test_select_wakes)
{
	run_noop(wakes_root, NULL);
}
END_TEST

/* Another actor: every channel of the array is free (no record of a
 * select left on it) and empty. */
static void *all_free(void *p)
{
	smarm_rx **rxs = p;
	size_t i;
	uint64_t v;

	for (i = 0; rxs[i] != (smarm_rx *)tok(1); i++) {
		if (rxs[i] == NULL)
			continue;
		ck_assert_int_eq(smarm_try_recv(rxs[i], &v), EAGAIN);
		ck_assert_int_eq(smarm_recv(rxs[i], &v, 0), ETIMEDOUT);
	}
	return NULL;
}

/* Select on rxs[0..n) times out: 0 at once, and SHORT after SHORT;
 * afterwards another actor finds every channel free. */
static void expect_select_timeout(smarm_rx **rxs, size_t n)
{
	smarm_pid pid;
	size_t ready;
	uint64_t t0;

	ck_assert_int_eq(smarm_select(rxs, n, &ready, 0), ETIMEDOUT);
	t0 = mono_ns();
	ck_assert_int_eq(smarm_select(rxs, n, &ready, SHORT), ETIMEDOUT);
	ck_assert_uint_ge(mono_ns() - t0, SHORT);
	spawn_ok(&pid, all_free, rxs);
	join_wait(pid);
}

static void *select_timeout_root(void *arg)
{
	smarm_tx *tx[3];
	smarm_rx *rxs[5];
	size_t ready, i;
	uint64_t v;

	(void)arg;
	chan_ok(&tx[0], &rxs[0], sizeof(uint64_t));
	rxs[1] = NULL;
	bounded_ok(&tx[1], &rxs[2], 1);
	chan_ok(&tx[2], &rxs[3], sizeof(uint64_t));
	rxs[4] = (smarm_rx *)tok(1); /* the end, for all_free */
	expect_select_timeout(rxs, 4);
	expect_select_timeout(rxs, 1);

	/* An element: select finds it, twice, and leaves it there. */
	send_u64(tx[1], 5);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(smarm_select(rxs, 4, &ready, 0), 0);
		ck_assert_uint_eq(ready, 2);
		ck_assert_int_eq(smarm_select(rxs, 4, &ready, SHORT), 0);
		ck_assert_uint_eq(ready, 2);
	}
	ck_assert_int_eq(smarm_try_recv(rxs[2], &v), 0);
	ck_assert_uint_eq(v, 5);
	expect_select_timeout(rxs, 4);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(smarm_tx_close(tx[i]), 0);
	for (i = 0; i < 4; i++)
		if (rxs[i] != NULL)
			ck_assert_int_eq(smarm_rx_close(rxs[i]), 0);
	return NULL;
}

/* smarm_select with nothing ready returns ETIMEDOUT: at once for timeout
 * 0, after the timeout otherwise (four entries, the mailbox among them,
 * and one); it leaves nothing registered (another actor then receives on
 * each channel without EBUSY); an element is found, by polls and timed
 * selects alike, and left in place. */
START_TEST(test_select_timeout)
{
	run_noop(select_timeout_root, NULL);
}
END_TEST

/*
 * One select by an actor, cancelled by the root while it waits (when
 * self_cancel is 0) or cancelled by itself before it (1); then, as `then`
 * says, a select with timeout SHORT (0 once the cancel was delivered) or a
 * sleep of WAIT (ECANCELED while it is pending).
 */
struct csel {
	smarm_rx *rxs[2];
	size_t n;
	uint64_t timeout;
	int self_cancel;
	int then_sleep;
	int err, after;
	size_t ready;
};

static void *csel_actor(void *p)
{
	struct csel *c = p;

	if (c->self_cancel)
		ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	c->err = smarm_select(c->rxs, c->n, &c->ready, c->timeout);
	if (c->then_sleep)
		c->after = smarm_sleep(WAIT);
	else
		c->after = smarm_select(c->rxs, c->n, &c->ready, SHORT);
	return NULL;
}

static void *select_cancel_root(void *arg)
{
	smarm_tx *tx, *rtx;
	smarm_rx *rx, *rrx;
	struct csel c;
	smarm_pid pid;
	int timed;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	chan_ok(&rtx, &rrx, sizeof(uint64_t));

	/* Cancelled while it waits (no timeout; a long one): ECANCELED,
	 * once; the channel is free afterwards. */
	for (timed = 0; timed < 2; timed++) {
		memset(&c, 0, sizeof(c));
		c.rxs[0] = NULL;
		c.rxs[1] = rx;
		c.n = 2;
		c.timeout = timed ? LONG : SMARM_FOREVER;
		spawn_ok(&pid, csel_actor, &c);
		AWAIT(receiver_waits(rx));
		ck_assert_int_eq(smarm_cancel(pid), 0);
		join_wait(pid);
		ck_assert_int_eq(c.err, ECANCELED);
		ck_assert_int_eq(c.after, ETIMEDOUT);
		expect_empty(rx);
	}

	/* Cancelled before a select that must wait: ECANCELED at once. */
	memset(&c, 0, sizeof(c));
	c.rxs[0] = rx;
	c.n = 1;
	c.timeout = SMARM_FOREVER;
	c.self_cancel = 1;
	spawn_ok(&pid, csel_actor, &c);
	join_wait(pid);
	ck_assert_int_eq(c.err, ECANCELED);
	ck_assert_int_eq(c.after, ETIMEDOUT);

	/* A ready entry, or timeout 0: no wait, the cancel stays pending. */
	send_u64(rtx, 1);
	memset(&c, 0, sizeof(c));
	c.rxs[0] = rx;
	c.rxs[1] = rrx;
	c.n = 2;
	c.timeout = SMARM_FOREVER;
	c.self_cancel = 1;
	c.then_sleep = 1;
	spawn_ok(&pid, csel_actor, &c);
	join_wait(pid);
	ck_assert_int_eq(c.err, 0);
	ck_assert_uint_eq(c.ready, 1);
	ck_assert_int_eq(c.after, ECANCELED);
	expect_u64(rrx, 1);

	memset(&c, 0, sizeof(c));
	c.rxs[0] = rx;
	c.n = 1;
	c.timeout = 0;
	c.self_cancel = 1;
	c.then_sleep = 1;
	spawn_ok(&pid, csel_actor, &c);
	join_wait(pid);
	ck_assert_int_eq(c.err, ETIMEDOUT);
	ck_assert_int_eq(c.after, ECANCELED);

	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ck_assert_int_eq(smarm_tx_close(rtx), 0);
	ck_assert_int_eq(smarm_rx_close(rrx), 0);
	return NULL;
}

/* A select cancelled while it waits (without a timeout, with a long one)
 * returns ECANCELED, leaves the channel free, and the cancel is delivered
 * once (the next select times out); a cancel before a select that must
 * wait gives ECANCELED at once; a select that finds an entry ready, or
 * polls with timeout 0, leaves the cancel pending (a sleep then returns
 * ECANCELED). */
START_TEST(test_select_cancel)
{
	run_noop(select_cancel_root, NULL);
}
END_TEST

#define MANY 100
#define MANY_MB 50  /* the mailbox entry */

static void *many_root(void *arg)
{
	smarm_tx *tx[MANY];
	smarm_rx *rxs[MANY + 1];
	struct late l;
	smarm_msg m;
	size_t i, ready;
	uint64_t v;

	(void)arg;
	for (i = 0; i < MANY; i++) {
		if (i == MANY_MB) {
			tx[i] = NULL;
			rxs[i] = NULL;
		} else if (i % 3 == 0) {
			bounded_ok(&tx[i], &rxs[i], 1 + i % 5);
		} else {
			chan_ok(&tx[i], &rxs[i], sizeof(uint64_t));
		}
	}
	rxs[MANY] = (smarm_rx *)tok(1);
	expect_select_timeout(rxs, MANY);

	/* An element in the last one. */
	send_u64(tx[MANY - 1], 99);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(smarm_select(rxs, MANY, &ready,
					      i ? WAIT : 0), 0);
		ck_assert_uint_eq(ready, MANY - 1);
	}
	expect_u64(rxs[MANY - 1], 99);

	/* Woken while waiting: a send to entry 77, from an actor; a message,
	 * from a plain thread; the close of entry 64. */
	memset(&l, 0, sizeof(l));
	l.watch = rxs[MANY - 1];
	l.what = LATE_SEND;
	l.tx = tx[77];
	l.v = 77;
	select_woken(&l, 0, rxs, MANY, 77);
	expect_u64(rxs[77], 77);
	l.what = LATE_SEND_TO;
	l.to = smarm_self();
	select_woken(&l, 1, rxs, MANY, MANY_MB);
	ck_assert_int_eq(smarm_receive(&m, 0), 0);
	ck_assert_ptr_eq(m.data, tok(77));
	l.what = LATE_CLOSE;
	l.tx = tx[64];
	select_woken(&l, 0, rxs, MANY, 64);
	tx[64] = NULL;
	ck_assert_int_eq(smarm_try_recv(rxs[64], &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rxs[64]), 0);
	/* Drop it: the entries after it, and the end mark, move down. */
	memmove(&rxs[64], &rxs[65], (MANY + 1 - 65) * sizeof(rxs[0]));
	expect_select_timeout(rxs, MANY - 1);

	for (i = 0; i < MANY; i++)
		if (tx[i] != NULL)
			ck_assert_int_eq(smarm_tx_close(tx[i]), 0);
	for (i = 0; i < MANY - 1; i++)
		if (rxs[i] != NULL)
			ck_assert_int_eq(smarm_rx_close(rxs[i]), 0);
	return NULL;
}

/* smarm_select over 100 entries (more than the 64 records kept on the
 * stack; the mailbox at 50): ETIMEDOUT leaving every channel free; the
 * element in the last entry is found (polled and not); a wait is ended by
 * a send to entry 77, a plain thread's message, the close of entry 64;
 * then 99 entries time out again. */
START_TEST(test_select_many)
{
	run_noop(many_root, NULL);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------- */

static Suite *bounded_suite(void)
{
	Suite *s = suite_create("bounded");
	TCase *tc;

	tc = tcase_add(s, "errors");
	tcase_add_test(tc, test_errors);

	tc = tcase_add(s, "backpressure");
	tcase_add_loop_test(tc, test_backpressure, 0,
			    sizeof(bp_cases) / sizeof(bp_cases[0]));

	tc = tcase_add(s, "send_timed");
	tcase_add_test(tc, test_send_timed_expires);
	tcase_add_test(tc, test_send_timed_not_fired);
	tcase_add_loop_test(tc, test_send_cancel, 0, 2);
	tcase_add_test(tc, test_send_fifo);
	tcase_add_loop_test(tc, test_send_race, 0, RACE_CASES);

	tc = tcase_add(s, "threads");
	tcase_add_test(tc, test_thread_epipe);

	tc = tcase_add(s, "close");
	tcase_add_test(tc, test_rx_close_wakes_senders);

	tc = tcase_add(s, "receiver");
	tcase_add_loop_test(tc, test_one_receiver, 0, 2);
	tcase_add_loop_test(tc, test_four_receivers, 0, 2);
	tcase_add_test(tc, test_shared_receivers);

	tc = tcase_add(s, "select");
	tcase_add_test(tc, test_select_all_once);
	tcase_add_test(tc, test_select_fair);
	tcase_add_test(tc, test_select_wakes);
	tcase_add_test(tc, test_select_timeout);
	tcase_add_test(tc, test_select_cancel);
	tcase_add_test(tc, test_select_many);

	return s;
}

int main(void)
{
	return run_suite(bounded_suite());
}
