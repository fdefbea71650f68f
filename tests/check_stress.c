/*
 * check_stress.c - the multi-worker scheduler under load: every test runs
 * a runtime of two worker threads (smarm_config.threads = 2, set
 * explicitly; naps uses three) and pushes far more through it than the
 * feature suites do.
 *
 *  - mpsc:      100 producers, 1,000,000 messages over one channel to one
 *               consumer: each arrives once, each producer's in order.
 *  - pingpong:  10,000 actors in 5,000 pairs, 1,000,000 round trips, every
 *               reply checked.
 *  - thread:    plain OS threads feed actors that receive with a 1 ms
 *               timeout, so wake-ups from outside race timer expiries.
 *  - timers:    1,000 actors sleep, and join each other with timeouts;
 *               sleeps last at least what was asked, joins time out while
 *               they must and succeed once they can.
 *  - spinners:  actors sleeping and yielding on both workers, so that
 *               workers sleep, get woken to look for work and find some of
 *               their own: whenever an actor runs, its worker is not
 *               counted among those looking for work (or the other would
 *               not be woken for new work, and would stop stealing).
 *  - busy:      an actor spawns one and then runs without giving its
 *               worker up until the new one has run: the other worker,
 *               on its way to sleep or asleep, must take it.
 *  - naps:      300 rounds of six actors napping up to 2 ms while the root
 *               joins them: workers asleep with timers due are never taken
 *               for deadlocked, not even while one wakes and runs.
 *  - spawn:     a tree of 100,000 actors, each joined by its parent, sums
 *               checked, grown twice in one runtime (cached stacks, recycled
 *               pid slots).  Much of a tree may be alive at once: a
 *               page of stack or more per actor, up to a few hundred MB.
 *
 * Actors really run in parallel here: state two actors touch is either
 * owned by one of them (and handed over by spawn, join or a channel) or
 * accessed with __atomic builtins.
 *
 * After each run, the runtime's counters (smarm_stats_get) must be exact:
 * two worker threads, every actor spawned ended, every message counted.
 *
 * A lost wake-up shows as a hang, which Check's timeout turns into a
 * failure.  Only lower bounds on elapsed time are checked: the machines
 * running this are shared and noisy.
 *
 * SMARM_STRESS_SCALE (a positive number, default 1, e.g. 0.01 or 10)
 * scales the load: messages, round trips, sleeps and trees grow or shrink
 * with it; the number of actors alive at once only shrinks (scale below
 * 1), so memory stays bounded.  Under valgrind the scale is divided by 20,
 * so that `make check-valgrind` stays within a few minutes.
 * tests/long-test.sh runs this program many times in a row.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <pthread.h>
#include <time.h>

#include "idle.h"

/* Worker threads of every runtime here. */
#define WORKERS 2

/* The default stack of every actor: 10,000 of them are alive at once. */
#define STACK_SIZE (64u * 1024u)

/* How much slower valgrind is allowed to make the suite. */
#define VALGRIND_DIVISOR 20.0

/* ---- helpers ------------------------------------------------------------ */

/* SMARM_STRESS_SCALE, already divided under valgrind; set by main. */
static double scale = 1.0;

/* n times the scale, rounded, at least 1. */
static uint32_t scaled(uint32_t n)
{
	double v = (double)n * scale + 0.5;

	if (v < 1.0)
		return 1;
	if (v > (double)UINT32_MAX / 4)
		return UINT32_MAX / 4;
	return (uint32_t)v;
}

/* For counts of actors: scaled down with the load, never up. */
static uint32_t scaled_down(uint32_t n)
{
	return scale < 1.0 ? scaled(n) : n;
}

/* For counts of work per actor: scaled up with the load, never down. */
static uint32_t scaled_up(uint32_t n)
{
	return scale > 1.0 ? scaled(n) : n;
}

/*
 * Run root(arg) as the root actor of a fresh runtime of WORKERS workers.
 * The root returns arg when all went well.  Then the runtime's counters
 * must be exact: it had WORKERS threads, `spawned` actors (the root
 * included) all ended and none panicked, and actors received `messages`
 * channel elements.
 */
static void run_workers(smarm_fn root, void *arg, uint64_t spawned,
			uint64_t messages)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	smarm_stats st;
	void *res = NULL;
	int err;

	smarm_config_init(&cfg);
	cfg.threads = WORKERS;
	cfg.stack_size = STACK_SIZE;
	err = smarm_runtime_new(&rt, &cfg);
	ck_assert_msg(err == 0, "smarm_runtime_new, %u workers: %s",
		      cfg.threads, smarm_strerror(err));
	err = smarm_runtime_run(rt, root, arg, &res);
	ck_assert_msg(err == 0, "smarm_runtime_run: %s", smarm_strerror(err));
	ck_assert_ptr_eq(res, arg);
	memset(&st, 0, sizeof(st));
	ck_assert_int_eq(smarm_stats_get(&st), 0);
	ck_assert_uint_eq(st.threads, cfg.threads);
	ck_assert_uint_eq(st.spawned, spawned);
	ck_assert_uint_eq(st.exited, spawned);
	ck_assert_uint_eq(st.panicked, 0);
	ck_assert_uint_eq(st.messages, messages);
	smarm_runtime_free(rt);
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	ck_assert_ptr_nonnull(p);
	return p;
}

/* xorshift64 on caller-owned state: the generator in testutil.h is one
 * shared state, not for concurrent threads. */
static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* ---- mpsc: 100 producers, 1,000,000 messages, one consumer --------------- */

#define MPSC_PRODUCERS 100
#define MPSC_PER_PRODUCER 10000
#define MPSC_YIELD_EVERY 128

/* A producer owns its cloned handle; id and n are read-only. */
struct producer {
	smarm_tx *tx;
	uint32_t id;
	uint32_t n;
};

/* The consumer owns rx and everything it counts. */
struct consumer {
	smarm_rx *rx;
	uint32_t nproducers;
	uint32_t per;
};

/* Sends (id << 32 | seq) for seq = 1..n, then closes its handle. */
static void *producer(void *arg)
{
	struct producer *p = arg;
	uint64_t v;
	uint32_t i;
	int err;

	for (i = 1; i <= p->n; i++) {
		v = (uint64_t)p->id << 32 | i;
		REQUIRE_MSG((err = smarm_send(p->tx, &v)) == 0,
			    "smarm_send(p->tx, &v): %d, expected 0", err);
		if (i % MPSC_YIELD_EVERY == 0)
			REQUIRE_MSG((err = smarm_yield()) == 0,
				    "smarm_yield(): %d, expected 0", err);
	}
	ck_assert_int_eq(smarm_tx_close(p->tx), 0);
	return arg;
}

/* Receives until EPIPE; each producer's seq must be its last one + 1.
 * Returns how many messages arrived. */
static void *consumer(void *arg)
{
	struct consumer *c = arg;
	uint32_t *last = xcalloc(c->nproducers, sizeof(*last));
	uint64_t v = 0, total = 0;
	uint32_t id, seq, i;
	int err;

	while ((err = smarm_recv(c->rx, &v, SMARM_FOREVER)) == 0) {
		id = (uint32_t)(v >> 32);
		seq = (uint32_t)v;
		if (id >= c->nproducers)
			ck_abort_msg("message %#llx from no producer",
				     (unsigned long long)v);
		if (seq != last[id] + 1)
			ck_abort_msg("producer %u: got #%u after #%u (%llu "
				     "messages in)", id, seq, last[id],
				     (unsigned long long)total);
		last[id] = seq;
		total++;
	}
	ck_assert_msg(err == EPIPE, "recv: %s", smarm_strerror(err));
	for (i = 0; i < c->nproducers; i++)
		ck_assert_msg(last[i] == c->per, "producer %u: %u of %u "
			      "messages arrived", i, last[i], c->per);
	ck_assert_int_eq(smarm_rx_close(c->rx), 0);
	free(last);
	return (void *)(uintptr_t)total;
}

static void *mpsc_root(void *arg)
{
	uint32_t per = scaled(MPSC_PER_PRODUCER), i;
	struct producer *ps = xcalloc(MPSC_PRODUCERS, sizeof(*ps));
	smarm_pid *pids = xcalloc(MPSC_PRODUCERS, sizeof(*pids));
	struct consumer c;
	smarm_pid cpid;
	smarm_tx *tx;

	chan_ok(&tx, &c.rx, sizeof(uint64_t));
	c.nproducers = MPSC_PRODUCERS;
	c.per = per;
	spawn_ok(&cpid, consumer, &c);
	for (i = 0; i < MPSC_PRODUCERS; i++) {
		ps[i].tx = smarm_tx_clone(tx);
		ck_assert_ptr_nonnull(ps[i].tx);
		ps[i].id = i;
		ps[i].n = per;
		spawn_ok(&pids[i], producer, &ps[i]);
	}
	/* Only the producers' handles are left: EPIPE once they close. */
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	for (i = 0; i < MPSC_PRODUCERS; i++)
		ck_assert_ptr_eq(join_ok(pids[i]), &ps[i]);
	ck_assert_uint_eq((uintptr_t)join_ok(cpid),
			  (uint64_t)MPSC_PRODUCERS * per);
	free(pids);
	free(ps);
	return arg;
}

/* At scale 1, 1,000,000 messages each arrive exactly once, every
 * producer's in the order sent, and EPIPE comes only after the last. */
START_TEST(test_mpsc_million)
{
	uint64_t msgs = (uint64_t)MPSC_PRODUCERS * scaled(MPSC_PER_PRODUCER);

	/* the root, the consumer, the producers */
	run_workers(mpsc_root, "mpsc", 2 + MPSC_PRODUCERS, msgs);
}
END_TEST

/* ---- pingpong: 5,000 pairs, 1,000,000 round trips ------------------------ */

#define PP_PAIRS 5000
#define PP_ROUNDS 200

/* The pinger owns ping_tx and pong_rx, the ponger ping_rx and pong_tx. */
struct pair {
	smarm_tx *ping_tx;
	smarm_rx *ping_rx;
	smarm_tx *pong_tx;
	smarm_rx *pong_rx;
	uint32_t id;
	uint32_t rounds;
};

/* Sends (id << 32 | 2r) and expects it + 1 back, rounds times; then
 * closes its end and waits for the ponger to close its own. */
static void *pinger(void *arg)
{
	struct pair *p = arg;
	uint64_t v, reply;
	uint32_t r;
	int err;

	for (r = 0; r < p->rounds; r++) {
		v = (uint64_t)p->id << 32 | 2u * r;
		REQUIRE_MSG((err = smarm_send(p->ping_tx, &v)) == 0,
			    "smarm_send(p->ping_tx, &v): %d, expected 0", err);
		reply = 0;
		REQUIRE_MSG((err = smarm_recv(p->pong_rx, &reply,
					      SMARM_FOREVER)) == 0,
			    "smarm_recv(p->pong_rx, &reply, SMARM_FOREVER): "
			    "%d, expected 0", err);
		if (reply != v + 1)
			ck_abort_msg("pair %u round %u: sent %#llx, got %#llx",
				     p->id, r, (unsigned long long)v,
				     (unsigned long long)reply);
	}
	ck_assert_int_eq(smarm_tx_close(p->ping_tx), 0);
	ck_assert_int_eq(smarm_recv(p->pong_rx, &reply, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(p->pong_rx), 0);
	return (void *)(uintptr_t)r;
}

/* Answers every ping with ping + 1 until EPIPE; returns how many. */
static void *ponger(void *arg)
{
	struct pair *p = arg;
	uint64_t v = 0, r = 0;
	int err;

	while ((err = smarm_recv(p->ping_rx, &v, SMARM_FOREVER)) == 0) {
		if (v != ((uint64_t)p->id << 32 | 2u * r))
			ck_abort_msg("pair %u: ping %#llx in round %llu", p->id,
				     (unsigned long long)v,
				     (unsigned long long)r);
		v++;
		REQUIRE_MSG((err = smarm_send(p->pong_tx, &v)) == 0,
			    "smarm_send(p->pong_tx, &v): %d, expected 0", err);
		r++;
	}
	ck_assert_msg(err == EPIPE, "recv: %s", smarm_strerror(err));
	ck_assert_int_eq(smarm_rx_close(p->ping_rx), 0);
	ck_assert_int_eq(smarm_tx_close(p->pong_tx), 0);
	return (void *)(uintptr_t)r;
}

static void *pingpong_root(void *arg)
{
	uint32_t npairs = scaled_down(PP_PAIRS);
	uint32_t rounds = scaled_up(PP_ROUNDS), i;
	struct pair *ps = xcalloc(npairs, sizeof(*ps));
	smarm_pid *pids = xcalloc(2 * (size_t)npairs, sizeof(*pids));
	uint64_t trips = 0;

	for (i = 0; i < npairs; i++) {
		ps[i].id = i;
		ps[i].rounds = rounds;
		chan_ok(&ps[i].ping_tx, &ps[i].ping_rx, sizeof(uint64_t));
		chan_ok(&ps[i].pong_tx, &ps[i].pong_rx, sizeof(uint64_t));
	}
	/* All 2 * npairs actors alive before the first pair is joined. */
	for (i = 0; i < npairs; i++) {
		spawn_ok(&pids[2 * i], ponger, &ps[i]);
		spawn_ok(&pids[2 * i + 1], pinger, &ps[i]);
	}
	for (i = 0; i < npairs; i++) {
		ck_assert_uint_eq((uintptr_t)join_ok(pids[2 * i]), rounds);
		ck_assert_uint_eq((uintptr_t)join_ok(pids[2 * i + 1]), rounds);
		trips += rounds;
	}
	ck_assert_uint_eq(trips, (uint64_t)npairs * rounds);
	free(pids);
	free(ps);
	return arg;
}

/* At scale 1, 10,000 actors make 1,000,000 round trips in pairs; every
 * reply is the right one, and nobody hangs. */
START_TEST(test_pingpong_pairs)
{
	uint64_t npairs = scaled_down(PP_PAIRS), rounds = scaled_up(PP_ROUNDS);

	run_workers(pingpong_root, "pingpong", 1 + 2 * npairs,
		    2 * npairs * rounds);
}
END_TEST

/* ---- thread: plain OS threads wake actors that time out ------------------ */

#define FEEDERS 2
#define FEED_MSGS 100000
#define FEED_SYNCS 8            /* times the thread waits for a timeout */
#define FEED_TIMEOUT (1 * MS)   /* the receiver's recv timeout */

/*
 * A plain thread sends 1..n to a receiving actor.  At FEED_SYNCS points it
 * waits until the actor has taken everything sent and then timed out once
 * more, so timeouts are certain; in between it naps at random for up to
 * 1.5 ms, so that its sends race the actor's 1 ms timer.
 */
struct feed {
	pthread_t th;
	smarm_tx *tx;           /* the thread's */
	smarm_rx *rx;           /* the receiving actor's */
	uint32_t n;
	uint32_t received;      /* atomic: messages the actor took */
	uint32_t timeouts;      /* atomic: ETIMEDOUTs the actor saw */
	uint32_t syncs;         /* the thread's; read after pthread_join */
	int err;                /* the thread's first error, or 0 */
	uint64_t seed;
};

/* Idle workers and busy workers both get woken: this actor alternates
 * bursts of yields with short sleeps until *done. */
struct ticker {
	uint32_t done;          /* atomic */
	uint64_t ticks;         /* the ticker's */
};

static void *feed_thread(void *arg)
{
	struct feed *f = arg;
	uint32_t every = f->n / (FEED_SYNCS + 1), i, t0;
	uint64_t v, x;
	int err = 0;

	for (i = 0; i < f->n && err == 0; i++) {
		if (every > 0 && i > 0 && i % every == 0 &&
		    f->syncs < FEED_SYNCS) {
			while (__atomic_load_n(&f->received,
					       __ATOMIC_ACQUIRE) != i)
				nap_us(100);
			t0 = __atomic_load_n(&f->timeouts, __ATOMIC_ACQUIRE);
			while (__atomic_load_n(&f->timeouts,
					       __ATOMIC_ACQUIRE) == t0)
				nap_us(100);
			f->syncs++;
		}
		v = (uint64_t)i + 1;
		err = smarm_send(f->tx, &v);
		x = xorshift(&f->seed);
		if (x % 256 == 0)
			nap_us(20 + (unsigned)((x >> 8) % 1500));
	}
	if (err == 0)
		err = smarm_tx_close(f->tx);
	else
		smarm_tx_close(f->tx);
	f->err = err;
	return NULL;
}

/* Receives with FEED_TIMEOUT until EPIPE: 1..n in order, each once. */
static void *feed_receiver(void *arg)
{
	struct feed *f = arg;
	uint64_t v = 0, expect = 1, t0, dt;
	int err;

	for (;;) {
		t0 = smarm_now();
		err = smarm_recv(f->rx, &v, FEED_TIMEOUT);
		if (err == 0) {
			if (v != expect)
				ck_abort_msg("got #%llu, expected #%llu",
					     (unsigned long long)v,
					     (unsigned long long)expect);
			__atomic_store_n(&f->received, (uint32_t)expect,
					 __ATOMIC_RELEASE);
			expect++;
		} else if (err == ETIMEDOUT) {
			dt = smarm_now() - t0;
			ck_assert_msg(dt >= FEED_TIMEOUT, "recv timed out "
				      "after %llu ns", (unsigned long long)dt);
			__atomic_add_fetch(&f->timeouts, 1, __ATOMIC_RELEASE);
		} else {
			break;
		}
	}
	ck_assert_msg(err == EPIPE, "recv: %s", smarm_strerror(err));
	ck_assert_uint_eq(expect - 1, f->n);
	ck_assert_int_eq(smarm_rx_close(f->rx), 0);
	return f;
}

static void *ticker(void *arg)
{
	struct ticker *t = arg;
	int i, err;

	while (!__atomic_load_n(&t->done, __ATOMIC_ACQUIRE)) {
		for (i = 0; i < 100; i++)
			REQUIRE_MSG((err = smarm_yield()) == 0,
				    "smarm_yield(): %d, expected 0", err);
		REQUIRE_MSG((err = smarm_sleep(MS / 2)) == 0,
			    "smarm_sleep(MS / 2): %d, expected 0", err);
		t->ticks++;
	}
	return t;
}

static void *thread_root(void *arg)
{
	struct feed f[FEEDERS];
	struct ticker t = { 0, 0 };
	smarm_pid pids[FEEDERS], tpid;
	int i;

	memset(f, 0, sizeof(f));
	spawn_ok(&tpid, ticker, &t);
	for (i = 0; i < FEEDERS; i++) {
		f[i].n = scaled(FEED_MSGS);
		f[i].seed = 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1);
		chan_ok(&f[i].tx, &f[i].rx, sizeof(uint64_t));
		spawn_ok(&pids[i], feed_receiver, &f[i]);
		ck_assert_int_eq(pthread_create(&f[i].th, NULL, feed_thread,
						&f[i]), 0);
	}
	for (i = 0; i < FEEDERS; i++) {
		ck_assert_ptr_eq(join_ok(pids[i]), &f[i]);
		/* It saw EPIPE: the thread has closed and is returning. */
		ck_assert_int_eq(pthread_join(f[i].th, NULL), 0);
		ck_assert_msg(f[i].err == 0, "feeder %d: %s", i,
			      smarm_strerror(f[i].err));
		ck_assert_uint_eq(f[i].received, f[i].n);
		if (f[i].n > FEED_SYNCS)
			ck_assert_uint_eq(f[i].syncs, FEED_SYNCS);
		ck_assert_uint_ge(f[i].timeouts, f[i].syncs);
	}
	__atomic_store_n(&t.done, 1, __ATOMIC_RELEASE);
	ck_assert_ptr_eq(join_ok(tpid), &t);
	return arg;
}

/* Plain threads wake actors on both workers, racing 1 ms recv timeouts:
 * every message arrives once and in order, no timeout comes early and
 * none swallows a message. */
START_TEST(test_thread_wakeups)
{
	/* the root, the ticker, the receivers */
	run_workers(thread_root, "thread", 2 + FEEDERS,
		    (uint64_t)FEEDERS * scaled(FEED_MSGS));
}
END_TEST

/* ---- timers: sleeps and timed joins across workers ----------------------- */

#define TIMER_ACTORS 1000
#define TIMER_ROUNDS 10

/*
 * Actor i sleeps TIMER_ROUNDS times, and after each sleep tries to join
 * actor i - 1 with a short timeout: that join must time out, because
 * actor i - 1 cannot end before actor i sends it a go.  Then actor i sends
 * the go, joins i - 1 for good (with a timeout, retried), and waits for its
 * own go, from actor i + 1 (the root, for the last actor).
 */
struct sleeper {
	smarm_pid pred;         /* actor i - 1, or none */
	smarm_tx *go_pred;      /* its go channel, or NULL */
	smarm_rx *go;           /* this actor's go channel */
	uint32_t id;
	uint32_t rounds;
	uint32_t join_timeouts; /* the actor's; read after its join */
};

static uint64_t sleeper_nap(uint32_t id, uint32_t r)
{
	return (1 + (id + r) % 4) * MS;
}

static uint64_t sleeper_patience(uint32_t id)
{
	return (1 + id % 3) * MS;
}

/* Join pid with timeout; check that an ETIMEDOUT took long enough. */
static int timed_join(smarm_pid pid, void **res, uint64_t timeout)
{
	uint64_t t0 = smarm_now(), dt;
	int err = smarm_join(pid, res, timeout);

	if (err == ETIMEDOUT) {
		dt = smarm_now() - t0;
		ck_assert_msg(dt >= timeout, "join(%llu ns) timed out after "
			      "%llu ns", (unsigned long long)timeout,
			      (unsigned long long)dt);
	}
	return err;
}

/* Release an actor parked waiting for its go, then join it. */
static void *release_and_join(smarm_pid pid, smarm_tx *go, uint32_t from,
			      uint64_t patience, uint32_t *timeouts)
{
	uint64_t v = from;
	void *res = NULL;
	int err;

	ck_assert_int_eq(smarm_send(go, &v), 0);
	ck_assert_int_eq(smarm_tx_close(go), 0);
	while ((err = timed_join(pid, &res, patience)) == ETIMEDOUT)
		(*timeouts)++;
	ck_assert_msg(err == 0, "join: %s", smarm_strerror(err));
	return res;
}

static void *sleeper(void *arg)
{
	struct sleeper *s = arg;
	uint64_t patience = sleeper_patience(s->id), ns, t0, dt, v = 0;
	uint32_t r;
	int err;

	for (r = 0; r < s->rounds; r++) {
		ns = sleeper_nap(s->id, r);
		t0 = smarm_now();
		ck_assert_int_eq(smarm_sleep(ns), 0);
		dt = smarm_now() - t0;
		ck_assert_msg(dt >= ns, "actor %u: sleep(%llu ns) returned "
			      "after %llu ns", s->id, (unsigned long long)ns,
			      (unsigned long long)dt);
		if (s->go_pred) {
			err = timed_join(s->pred, NULL, patience);
			ck_assert_msg(err == ETIMEDOUT, "actor %u joined %u "
				      "before releasing it: %s", s->id,
				      s->id - 1, smarm_strerror(err));
			s->join_timeouts++;
		}
	}
	if (s->go_pred)
		ck_assert_ptr_eq(release_and_join(s->pred, s->go_pred, s->id,
						  patience, &s->join_timeouts),
				 s - 1);
	/* The go comes from the successor; recv times out meanwhile. */
	for (;;) {
		t0 = smarm_now();
		err = smarm_recv(s->go, &v, patience);
		if (err != ETIMEDOUT)
			break;
		dt = smarm_now() - t0;
		ck_assert_msg(dt >= patience, "actor %u: recv(%llu ns) timed "
			      "out after %llu ns", s->id,
			      (unsigned long long)patience,
			      (unsigned long long)dt);
	}
	ck_assert_msg(err == 0, "actor %u: recv go: %s", s->id,
		      smarm_strerror(err));
	ck_assert_uint_eq(v, s->id + 1);
	ck_assert_int_eq(smarm_recv(s->go, &v, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(s->go), 0);
	return s;
}

static void *timers_root(void *arg)
{
	uint32_t n = scaled_down(TIMER_ACTORS);
	uint32_t rounds = scaled_up(TIMER_ROUNDS), i;
	struct sleeper *s = xcalloc(n, sizeof(*s));
	smarm_tx *go_last = NULL;
	uint32_t root_timeouts = 0;
	uint64_t timeouts = 0;
	smarm_pid last = SMARM_PID_NONE;
	int err;

	for (i = 0; i < n; i++) {
		s[i].id = i;
		s[i].rounds = rounds;
		s[i].pred = last;
		s[i].go_pred = go_last;
		chan_ok(&go_last, &s[i].go, sizeof(uint64_t));
		spawn_ok(&last, sleeper, &s[i]);
	}
	/* The root is the last actor's successor. */
	err = timed_join(last, NULL, 2 * MS);
	ck_assert_msg(err == ETIMEDOUT, "joined the last actor before "
		      "releasing it: %s", smarm_strerror(err));
	ck_assert_ptr_eq(release_and_join(last, go_last, n, 2 * MS,
					  &root_timeouts), &s[n - 1]);
	/* Every actor was joined by its successor, after the rounds of
	 * timed-out joins that successor made. */
	for (i = 0; i < n; i++)
		timeouts += s[i].join_timeouts;
	ck_assert_uint_ge(timeouts, (uint64_t)(n - 1) * rounds);
	free(s);
	return arg;
}

/* At scale 1, 1,000 actors sleep 10 times 1-4 ms each, and join each
 * other with 1-3 ms timeouts that must expire, then must not. */
START_TEST(test_timers_many)
{
	uint64_t n = scaled_down(TIMER_ACTORS);

	/* one go message each */
	run_workers(timers_root, "timers", 1 + n, n);
}
END_TEST

/* ---- spinners: a worker that runs an actor is not looking for work ------ */

#define SPIN_ROUNDS 40
#define SPIN_ACTORS 16
#define SPIN_STEPS 100

/* A worker wakes up as a spinner when another hands it work; if it then
 * runs an actor of its own (a timer expired meanwhile), it must stop
 * counting as one. */
static void spin_check(void)
{
	if (smarm__worker_spinning_self())
		ck_abort_msg("worker %u runs an actor while counted as "
			     "looking for work",
			     smarm__worker_id_self());
}

static void *spin_child(void *arg)
{
	int i, err;

	(void)arg;
	for (i = 0; i < SPIN_STEPS; i++) {
		spin_check();
		if (i % 10 == 0)
			REQUIRE_MSG((err = smarm_sleep(MS)) == 0,
				    "smarm_sleep(MS): %d, expected 0", err);
		else
			REQUIRE_MSG((err = smarm_yield()) == 0,
				    "smarm_yield(): %d, expected 0", err);
	}
	spin_check();
	return NULL;
}

static void *spin_root(void *arg)
{
	uint32_t rounds = scaled(SPIN_ROUNDS), r;
	smarm_pid pids[SPIN_ACTORS];
	int i;

	for (r = 0; r < rounds; r++) {
		for (i = 0; i < SPIN_ACTORS; i++)
			spawn_ok(&pids[i], spin_child, NULL);
		for (i = 0; i < SPIN_ACTORS; i++) {
			join_ok(pids[i]);
			spin_check();
		}
	}
	return arg;
}

/* At scale 1, 40 rounds of 16 actors that sleep 1 ms every tenth step and
 * yield at the others. */
START_TEST(test_spinners)
{
	run_workers(spin_root, "spinners",
		    1 + (uint64_t)scaled(SPIN_ROUNDS) * SPIN_ACTORS, 0);
}
END_TEST

/* ---- busy: a spawner that keeps its worker ------------------------------- */

#define BUSY_ROUNDS 2000
#define BUSY_WAIT_S 10 /* the longest the spawner waits for its child */

static void *busy_child(void *arg)
{
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *busy_root(void *arg)
{
	uint32_t rounds = scaled(BUSY_ROUNDS), r;
	uint64_t rng = 88172645463325252ull, until;
	smarm_pid pid;
	int ran;

	for (r = 0; r < rounds; r++) {
		ran = 0;
		spawn_ok(&pid, busy_child, &ran);
		/* No smarm call until the child has run: only the other
		 * worker can run it.  (Under valgrind, which runs one thread
		 * at a time, sched_yield lets the other worker's in.) */
		until = mono_ns() + BUSY_WAIT_S * 1000000000ull;
		while (!__atomic_load_n(&ran, __ATOMIC_ACQUIRE)) {
			if (mono_ns() > until)
				ck_abort_msg("round %u: the child did not run "
					     "in %d s while its spawner kept "
					     "its worker",
					     r, BUSY_WAIT_S);
			if (RUNNING_ON_VALGRIND)
				sched_yield();
			else
				__builtin_ia32_pause();
		}
		join_ok(pid);
		/* Catch the other worker at any point on its way to sleep:
		 * spinning, announcing, in the kernel. */
		rng ^= rng << 13;
		rng ^= rng >> 7;
		rng ^= rng << 17;
		until = mono_ns() + rng % 60000;
		while (mono_ns() < until)
			;
	}
	return arg;
}

/* At scale 1, 2,000 rounds. */
START_TEST(test_busy_spawner)
{
	run_workers(busy_root, "busy", 1 + (uint64_t)scaled(BUSY_ROUNDS), 0);
}
END_TEST

/* ---- spawn: a tree of 100,000 actors ------------------------------------- */

#define TREE_NODES 100000
#define TREE_FANOUT 8
#define TREE_RUNS 2

/* One bit per node, set by the node itself (atomically); the root
 * clears it between runs, while no node is alive. */
static uint64_t *tree_seen;

/* lo + (lo + 1) + ... + (lo + n - 1) */
static uint64_t range_sum(uint64_t lo, uint64_t n)
{
	return n * lo + n * (n - 1) / 2;
}

static void *tree_arg(uint32_t lo, uint32_t n)
{
	return (void *)((uintptr_t)lo << 32 | n);
}

/*
 * The node numbered lo, at the top of a subtree of n nodes numbered lo to
 * lo + n - 1.  It splits the other n - 1 among up to TREE_FANOUT children,
 * spawns them all, joins them all, and returns the sum of its numbers.
 */
static void *tree_node(void *arg)
{
	uint32_t lo = (uint32_t)((uintptr_t)arg >> 32);
	uint32_t n = (uint32_t)(uintptr_t)arg;
	uint32_t rest = n - 1, nkids, next = lo + 1, size, c;
	uint64_t bit = 1ull << (lo % 64), sum = lo, old, got;
	smarm_pid kids[TREE_FANOUT];
	uint64_t want[TREE_FANOUT];

	old = __atomic_fetch_or(&tree_seen[lo / 64], bit, __ATOMIC_RELAXED);
	if (old & bit)
		ck_abort_msg("node %u ran twice", lo);
	nkids = rest < TREE_FANOUT ? rest : TREE_FANOUT;
	for (c = 0; c < nkids; c++) {
		size = rest / nkids + (c < rest % nkids);
		spawn_ok(&kids[c], tree_node, tree_arg(next, size));
		want[c] = range_sum(next, size);
		next += size;
	}
	ck_assert_uint_eq(next, lo + n);
	for (c = 0; c < nkids; c++) {
		got = (uintptr_t)join_ok(kids[c]);
		if (got != want[c])
			ck_abort_msg("node %u, child %u: sum %llu, expected "
				     "%llu", lo, c, (unsigned long long)got,
				     (unsigned long long)want[c]);
		sum += got;
	}
	return (void *)(uintptr_t)sum;
}

static void *spawn_root(void *arg)
{
	uint32_t n = scaled_down(TREE_NODES), runs = scaled_up(TREE_RUNS);
	uint32_t words = (n + 63) / 64, i, run;
	uint64_t seen;
	smarm_pid top;

	tree_seen = xcalloc(words, sizeof(*tree_seen));
	for (run = 0; run < runs; run++) {
		memset(tree_seen, 0, words * sizeof(*tree_seen));
		spawn_ok(&top, tree_node, tree_arg(0, n));
		ck_assert_uint_eq((uintptr_t)join_ok(top), range_sum(0, n));
		seen = 0;
		for (i = 0; i < words; i++)
			seen += (uint64_t)__builtin_popcountll(tree_seen[i]);
		ck_assert_uint_eq(seen, n);
	}
	free(tree_seen);
	tree_seen = NULL;
	return arg;
}

/* At scale 1, two trees of 100,000 actors, one after the other in one
 * runtime: every node runs exactly once and every parent gets its
 * children's sums. */
START_TEST(test_spawn_tree)
{
	run_workers(spawn_root, "spawn",
		    1 + (uint64_t)scaled_up(TREE_RUNS) * scaled_down(TREE_NODES),
		    0);
}
END_TEST

/* ---- naps: no false deadlock -------------------------------------------------- */

#define NAP_ROUNDS 300
#define NAP_ACTORS 6

static void *nap_child(void *arg)
{
	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg), 0);
	return arg;
}

static void *naps_root(void *arg)
{
	smarm_pid pids[NAP_ACTORS];
	uint32_t round, rounds = scaled(NAP_ROUNDS);
	void *res;
	int i;

	for (round = 0; round < rounds; round++) {
		for (i = 0; i < NAP_ACTORS; i++)
			spawn_ok(&pids[i], nap_child,
				 (void *)(uintptr_t)(rng() % (2 * MS)));
		for (i = 0; i < NAP_ACTORS; i++) {
			ck_assert_int_eq(smarm_join(pids[i], &res,
						    SMARM_FOREVER), 0);
		}
	}
	return arg;
}

/* Three workers that keep falling asleep and waking on timers while the
 * root waits in joins and the others nap: every worker asleep with a
 * timer due is not a deadlock, even as one of them wakes, fires the
 * timer and runs its actor while another looks. */
START_TEST(test_naps)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int err;

	smarm_config_init(&cfg);
	cfg.threads = 3;
	cfg.stack_size = STACK_SIZE;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	err = smarm_runtime_run(rt, naps_root, "naps", NULL);
	ck_assert_msg(err == 0, "smarm_runtime_run: %s", smarm_strerror(err));
	smarm_runtime_free(rt);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *stress_suite(void)
{
	Suite *s = suite_create("stress");
	TCase *tc;

	tc = tcase_add(s, "mpsc");
	tcase_add_test(tc, test_mpsc_million);

	tc = tcase_add(s, "pingpong");
	tcase_add_test(tc, test_pingpong_pairs);

	tc = tcase_add(s, "thread");
	tcase_add_test(tc, test_thread_wakeups);

	tc = tcase_add(s, "timers");
	tcase_add_test(tc, test_timers_many);

	tc = tcase_add(s, "spinners");
	tcase_add_test(tc, test_spinners);

	tc = tcase_add(s, "busy");
	tcase_add_test(tc, test_busy_spawner);

	tc = tcase_add(s, "naps");
	tcase_add_test(tc, test_naps);
	tc = tcase_add(s, "spawn");
	tcase_add_test(tc, test_spawn_tree);

	return s;
}

int main(void)
{
	const char *env = getenv("SMARM_STRESS_SCALE");
	char *end;

	if (env && *env) {
		scale = strtod(env, &end);
		if (*end != '\0' || !(scale > 0.0) || scale > 1000.0) {
			fprintf(stderr, "check_stress: SMARM_STRESS_SCALE=%s: "
				"want a number above 0, at most 1000\n", env);
			return EXIT_FAILURE;
		}
	}
	if (RUNNING_ON_VALGRIND)
		scale /= VALGRIND_DIVISOR;
	return run_suite(stress_suite());
}
