/*
 * check_chan.c - channels: errors, round trips, moving ownership, closing
 * and freeing in every order, per-sender order, timeouts, plain OS threads
 * as senders (before any runtime, while the worker sleeps idle, while it
 * is busy), and many threads at once.
 *
 * Only lower bounds on elapsed time are checked: the machines running this
 * are shared and noisy, so an upper bound would fail at random.
 *
 * A lost wake-up shows as a hang: in the ping-pong tests the sender waits
 * for the receiver to take each message before it goes on (a close would
 * wake the receiver too), so the test hangs until Check's timeout fails it.
 *
 * Leaks are found by valgrind.  Natively, this program also wraps malloc
 * (see below) to count the heap blocks in use before and after a test,
 * and to make chosen allocations fail.
 *
 * The runtimes are made from the defaults, so SMARM_THREADS sets their
 * workers: with two or more, actors run in parallel, and what they share
 * is atomic.  The tests about a worker kept busy (a timeout or a plain
 * thread's send must still reach an actor while another actor hogs its
 * worker) pin the actors involved to one worker.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <valgrind/valgrind.h>

/* ---- helpers ------------------------------------------------------------ */

static void send_u64(smarm_tx *tx, uint64_t v)
{
	ck_assert_int_eq(smarm_send(tx, &v), 0);
}

static uint64_t recv_u64(smarm_rx *rx)
{
	uint64_t v = 0;

	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
	return v;
}

/*
 * Live heap blocks.  This program wraps malloc and friends (glibc lets a
 * program replace them, and routes the library's and libc's own calls to
 * the replacement) to count the blocks allocated and not yet freed, so
 * that the tests on one thread can see the channel's memory come and go.
 * mallinfo2 cannot: blocks in glibc's per-thread cache count as in use.
 * A sanitizer's runtime replaces them itself (and allocates through its
 * own allocator in its interceptors, strdup and the like): there the
 * blocks are counted by its malloc and free hooks instead, and no
 * allocation is made to fail.
 */
#if SANITIZED
/* The sanitizers' common interface (gcc installs no header for it). */
int __sanitizer_install_malloc_and_free_hooks(
	void (*malloc_hook)(const volatile void *, size_t),
	void (*free_hook)(const volatile void *));

static atomic_long live_blocks;
static int fail_countdown;

static void count_malloc(const volatile void *p, size_t size)
{
	(void)p;
	(void)size;
	atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
}

static void count_free(const volatile void *p)
{
	(void)p;
	atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
}

static __attribute__((constructor)) void count_blocks(void)
{
	__sanitizer_install_malloc_and_free_hooks(count_malloc, count_free);
}
#else
extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t nmemb, size_t size);
extern void *__libc_realloc(void *ptr, size_t size);
extern void __libc_free(void *ptr);
extern void *__libc_memalign(size_t alignment, size_t size);

static atomic_long live_blocks;

/* When set to n > 0, the n-th allocation from now on this thread fails
 * (ENOMEM).  Not under valgrind, whose allocator replaces these. */
static __thread int fail_countdown;

static int inject_failure(void)
{
	if (fail_countdown > 0 && --fail_countdown == 0) {
		errno = ENOMEM;
		return 1;
	}
	return 0;
}

void *malloc(size_t size)
{
	void *p = inject_failure() ? NULL : __libc_malloc(size);

	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}

void *calloc(size_t nmemb, size_t size)
{
	void *p = inject_failure() ? NULL : __libc_calloc(nmemb, size);

	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}

void *realloc(void *ptr, size_t size)
{
	void *p = inject_failure() ? NULL : __libc_realloc(ptr, size);

	if (ptr == NULL && p != NULL)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	else if (ptr != NULL && size == 0 && p == NULL) /* glibc freed it */
		atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}

void *aligned_alloc(size_t alignment, size_t size)
{
	void *p = inject_failure() ? NULL : __libc_memalign(alignment, size);

	if (p)
		atomic_fetch_add_explicit(&live_blocks, 1, memory_order_relaxed);
	return p;
}

void free(void *ptr)
{
	if (ptr)
		atomic_fetch_sub_explicit(&live_blocks, 1, memory_order_relaxed);
	__libc_free(ptr);
}
#endif

static long heap_used(void)
{
	return atomic_load(&live_blocks);
}

static void *nothing(void *arg)
{
	return arg;
}

/* Free channels and clones' end records the library keeps for reuse
 * (chanend.c). */
size_t smarm__chan_pooled(void);
size_t smarm__chan_ends_pooled(void);
static size_t pool_base, ends_base;

/* Make one-time allocations (stdio, anything lazy in the library or in a
 * first run) before a baseline is taken; the channel it leaves in the
 * pool is the next one made. */
static long heap_baseline(void)
{
	smarm_tx *tx;
	smarm_rx *rx;

	run_in_actor(nothing, NULL);
	chan_ok(&tx, &rx, 8);
	send_u64(tx, 1);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	pool_base = smarm__chan_pooled();
	ck_assert_uint_gt(pool_base, 0);
	ends_base = smarm__chan_ends_pooled();
	return heap_used();
}

/* Native and under AddressSanitizer only: under valgrind its leak check
 * does this job; ThreadSanitizer's hooks miss blocks that its runtime
 * allocates for the program and the program frees, so the count drifts.
 * Clones' end records kept in their pool since the baseline are not a
 * leak. */
#define ASSERT_HEAP_EQ(base) do { \
	long kept_ = (long)(smarm__chan_ends_pooled() - ends_base); \
	if (!RUNNING_ON_VALGRIND && !TSAN_BUILD) \
		ck_assert_msg(heap_used() - kept_ == (base), \
			      "%ld heap blocks in use, %ld before: a leak", \
			      heap_used() - kept_, (long)(base)); \
} while (0)
/* The one channel made since the baseline is not freed yet (it is out of
 * the pool); the baseline's heap count is for the final check only. */
#define ASSERT_CHAN_LIVE(base) do { \
	(void)(base); \
	ck_assert_msg(smarm__chan_pooled() < pool_base, \
		      "the channel went back to the pool too early"); \
} while (0)

/*
 * A sender: a plain thread or an actor with its own handle (a clone),
 * sending n messages (id << 32 | seq), then closing the handle.
 */
struct sender {
	pthread_t th;
	smarm_pid pid;
	smarm_tx *tx;
	uint32_t id;
	uint32_t n;
	unsigned yield_every; /* actors: yield after every k sends, 0 never */
	unsigned nap_first_us; /* threads: nap before the first send */
	int err;              /* first failing send, else the close's result */
};

static void *thread_sender(void *p)
{
	struct sender *s = p;
	uint64_t v;
	uint32_t i;
	int err = 0;

	if (s->nap_first_us)
		nap_us(s->nap_first_us);
	for (i = 0; i < s->n && err == 0; i++) {
		v = (uint64_t)s->id << 32 | i;
		err = smarm_send(s->tx, &v);
	}
	if (err == 0)
		err = smarm_tx_close(s->tx);
	else
		smarm_tx_close(s->tx);
	s->err = err;
	return NULL;
}

static void *actor_sender(void *p)
{
	struct sender *s = p;
	uint64_t v;
	uint32_t i;
	int err = 0;

	for (i = 0; i < s->n && err == 0; i++) {
		v = (uint64_t)s->id << 32 | i;
		err = smarm_send(s->tx, &v);
		if (s->yield_every && (i + 1) % s->yield_every == 0 &&
		    smarm_yield() != 0)
			err = -1;
	}
	if (err == 0)
		err = smarm_tx_close(s->tx);
	else
		smarm_tx_close(s->tx);
	s->err = err;
	return NULL;
}

/*
 * Receive until EPIPE from nsenders senders of per_sender messages each:
 * every message arrives exactly once and each sender's in order.
 */
static void receive_all(smarm_rx *rx, uint32_t nsenders, uint32_t per_sender)
{
	uint32_t *next = calloc(nsenders, sizeof(*next));
	uint64_t v = 0, total = 0;
	uint32_t id, seq, i;
	int err;

	ck_assert_ptr_nonnull(next);
	while ((err = smarm_recv(rx, &v, SMARM_FOREVER)) == 0) {
		id = (uint32_t)(v >> 32);
		seq = (uint32_t)v;
		if (id >= nsenders)
			ck_abort_msg("message %#llx from no sender",
				     (unsigned long long)v);
		if (seq != next[id])
			ck_abort_msg("sender %u: got #%u, expected #%u (after "
				     "%llu messages)", id, seq, next[id],
				     (unsigned long long)total);
		next[id]++;
		total++;
	}
	ck_assert_int_eq(err, EPIPE);
	for (i = 0; i < nsenders; i++)
		ck_assert_msg(next[i] == per_sender, "sender %u: %u of %u "
			      "messages arrived", i, next[i], per_sender);
	ck_assert_uint_eq(total, (uint64_t)nsenders * per_sender);
	free(next);
}

/* ---- errors --------------------------------------------------------------- */

#define BOGUS_TX ((smarm_tx *)(uintptr_t)0x7e7e)
#define BOGUS_RX ((smarm_rx *)(uintptr_t)0x7f7f)

START_TEST(test_channel_einval)
{
	smarm_tx *tx = BOGUS_TX;
	smarm_rx *rx = BOGUS_RX;

	ck_assert_int_eq(smarm_channel(NULL, &rx, 8), EINVAL);
	ck_assert_ptr_eq(rx, BOGUS_RX);
	ck_assert_int_eq(smarm_channel(&tx, NULL, 8), EINVAL);
	ck_assert_ptr_eq(tx, BOGUS_TX);
	ck_assert_int_eq(smarm_channel(NULL, NULL, 8), EINVAL);
	ck_assert_int_eq(smarm_channel(&tx, &rx, 0), EINVAL);
	ck_assert_ptr_eq(tx, BOGUS_TX);
	ck_assert_ptr_eq(rx, BOGUS_RX);
	ck_assert_int_eq(smarm_channel(NULL, &rx, 0), EINVAL);
	ck_assert_int_eq(smarm_channel(&tx, NULL, 0), EINVAL);
	ck_assert_ptr_eq(tx, BOGUS_TX);
	ck_assert_ptr_eq(rx, BOGUS_RX);

	/* and a good one after all that */
	ck_assert_int_eq(smarm_channel(&tx, &rx, 1), 0);
	ck_assert_ptr_ne(tx, BOGUS_TX);
	ck_assert_ptr_ne(rx, BOGUS_RX);
	ck_assert_ptr_nonnull(tx);
	ck_assert_ptr_nonnull(rx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
}
END_TEST

/* NULL handles and buffers: EINVAL from every call, and NULL from clone. */
static void null_args_anywhere(void)
{
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v = 5;

	chan_ok(&tx, &rx, sizeof(v));
	ck_assert_int_eq(smarm_send(NULL, &v), EINVAL);
	ck_assert_int_eq(smarm_send(tx, NULL), EINVAL);
	ck_assert_int_eq(smarm_send(NULL, NULL), EINVAL);
	ck_assert_ptr_null(smarm_tx_clone(NULL));
	ck_assert_int_eq(smarm_tx_close(NULL), EINVAL);
	ck_assert_int_eq(smarm_rx_close(NULL), EINVAL);
	/* the failed calls did not disturb the channel */
	send_u64(tx, 6);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
}

static void *null_args_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v = 0;

	(void)arg;
	null_args_anywhere();

	chan_ok(&tx, &rx, sizeof(v));
	send_u64(tx, 77);
	ck_assert_int_eq(smarm_recv(NULL, &v, 0), EINVAL);
	ck_assert_int_eq(smarm_recv(NULL, &v, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_recv(rx, NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_recv(rx, NULL, SMARM_FOREVER), EINVAL);
	ck_assert_int_eq(smarm_recv(NULL, NULL, 10 * MS), EINVAL);
	ck_assert_int_eq(smarm_try_recv(NULL, &v), EINVAL);
	ck_assert_int_eq(smarm_try_recv(rx, NULL), EINVAL);
	ck_assert_int_eq(smarm_try_recv(NULL, NULL), EINVAL);
	/* nothing was taken */
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 77);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_null_args)
{
	null_args_anywhere();
	run_in_actor(null_args_root, NULL);
}
END_TEST

/* recv and try_recv from a plain thread, with no runtime anywhere. */
struct eperm_ctx {
	smarm_tx *tx;
	smarm_rx *rx;
};

static void *eperm_root(void *arg)
{
	struct eperm_ctx *c = arg;

	/* the element sent before is still there */
	ck_assert_uint_eq(recv_u64(c->rx), 99);
	ck_assert_int_eq(smarm_try_recv(c->rx, &(uint64_t){0}), EAGAIN);
	return NULL;
}

START_TEST(test_eperm_no_runtime)
{
	struct eperm_ctx c;
	uint64_t v = 0;

	chan_ok(&c.tx, &c.rx, sizeof(v));
	ck_assert_int_eq(smarm_recv(c.rx, &v, 0), EPERM);
	ck_assert_int_eq(smarm_try_recv(c.rx, &v), EPERM);
	send_u64(c.tx, 99);
	/* EPERM, not a wait, even with a timeout or forever */
	ck_assert_int_eq(smarm_recv(c.rx, &v, 0), EPERM);
	ck_assert_int_eq(smarm_recv(c.rx, &v, 50 * MS), EPERM);
	ck_assert_int_eq(smarm_recv(c.rx, &v, SMARM_FOREVER), EPERM);
	ck_assert_int_eq(smarm_try_recv(c.rx, &v), EPERM);
	ck_assert_uint_eq(v, 0);
	run_in_actor(eperm_root, &c);
	/* outside again after the run */
	ck_assert_int_eq(smarm_recv(c.rx, &v, SMARM_FOREVER), EPERM);
	ck_assert_int_eq(smarm_try_recv(c.rx, &v), EPERM);
	ck_assert_int_eq(smarm_tx_close(c.tx), 0);
	/* EPERM even when the answer would be EPIPE */
	ck_assert_int_eq(smarm_recv(c.rx, &v, SMARM_FOREVER), EPERM);
	ck_assert_int_eq(smarm_try_recv(c.rx, &v), EPERM);
	ck_assert_int_eq(smarm_rx_close(c.rx), 0);
}
END_TEST

/* recv and try_recv from a plain thread while a runtime runs. */
static int eperm_thread_rc[4];

static void *eperm_thread(void *arg)
{
	smarm_rx *rx = arg;
	uint64_t v = 0;

	eperm_thread_rc[0] = smarm_recv(rx, &v, 0);
	eperm_thread_rc[1] = smarm_recv(rx, &v, SMARM_FOREVER);
	eperm_thread_rc[2] = smarm_try_recv(rx, &v);
	eperm_thread_rc[3] = (int)v;
	return NULL;
}

static void *eperm_running_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	pthread_t th;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	send_u64(tx, 123);
	ck_assert_int_eq(pthread_create(&th, NULL, eperm_thread, rx), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(eperm_thread_rc[0], EPERM);
	ck_assert_int_eq(eperm_thread_rc[1], EPERM);
	ck_assert_int_eq(eperm_thread_rc[2], EPERM);
	ck_assert_int_eq(eperm_thread_rc[3], 0);
	ck_assert_uint_eq(recv_u64(rx), 123);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_eperm_plain_thread)
{
	run_in_actor(eperm_running_root, NULL);
}
END_TEST

static void *eagain_root(void *arg)
{
	smarm_tx *tx, *c;
	smarm_rx *rx;
	uint64_t v = 0;
	int i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	send_u64(tx, 1);
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	/* a closed clone leaves a sender: still EAGAIN, not EPIPE */
	c = smarm_tx_clone(tx);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_eagain)
{
	run_in_actor(eagain_root, NULL);
}
END_TEST

static void *etimedout0_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v = 0;
	int i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(smarm_recv(rx, &v, 0), ETIMEDOUT);
	send_u64(tx, 8);
	ck_assert_int_eq(smarm_recv(rx, &v, 0), 0);
	ck_assert_uint_eq(v, 8);
	ck_assert_int_eq(smarm_recv(rx, &v, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_etimedout_zero)
{
	run_in_actor(etimedout0_root, NULL);
}
END_TEST

/* EPIPE on the receiving side: every sender closed, queue empty. */
static void *epipe_recv_root(void *arg)
{
	smarm_tx *tx, *c;
	smarm_rx *rx;
	uint64_t v = 0;
	int i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	c = smarm_tx_clone(tx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
		ck_assert_int_eq(smarm_recv(rx, &v, 0), EPIPE);
		ck_assert_int_eq(smarm_recv(rx, &v, 10 * MS), EPIPE);
		ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), EPIPE);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_epipe_recv)
{
	run_in_actor(epipe_recv_root, NULL);
}
END_TEST

/* EPIPE on the sending side: the receiving end closed. */
struct epipe_send_ctx {
	smarm_tx *tx;
	smarm_tx *clone;
};

static void *epipe_send_root(void *arg)
{
	struct epipe_send_ctx *c = arg;
	uint64_t v = 1;

	ck_assert_int_eq(smarm_send(c->tx, &v), EPIPE);
	ck_assert_int_eq(smarm_send(c->clone, &v), EPIPE);
	ck_assert_int_eq(smarm_tx_close(c->clone), 0);
	return NULL;
}

START_TEST(test_epipe_send)
{
	struct epipe_send_ctx c;
	smarm_rx *rx;
	uint64_t v = 1;
	long base = heap_baseline();

	chan_ok(&c.tx, &rx, sizeof(v));
	c.clone = smarm_tx_clone(c.tx);
	ck_assert_ptr_nonnull(c.clone);
	ck_assert_ptr_ne(c.clone, c.tx); /* a handle of its own */
	send_u64(c.tx, 1);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	/* from a plain thread, twice, through both handles */
	ck_assert_int_eq(smarm_send(c.tx, &v), EPIPE);
	ck_assert_int_eq(smarm_send(c.tx, &v), EPIPE);
	ck_assert_int_eq(smarm_send(c.clone, &v), EPIPE);
	/* from an actor (which also closes the clone) */
	run_in_actor(epipe_send_root, &c);
	ck_assert_int_eq(smarm_send(c.tx, &v), EPIPE);
	ck_assert_int_eq(smarm_tx_close(c.tx), 0);
	ASSERT_HEAP_EQ(base);
}
END_TEST

/*
 * ENOMEM from failed allocations (injected natively, see malloc above):
 * whichever allocation of smarm_channel fails, it returns ENOMEM, leaves
 * the handles untouched and leaks nothing; a send whose allocation fails
 * returns ENOMEM and queues nothing.
 */
static void *enomem_injected_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	unsigned char out[16];
	int k, err, failed = 0;

	smarm_tx *ptx[64];
	smarm_rx *prx[64];
	size_t np = 0;

	(void)arg;
	/* Empty the pool of free channels, so that smarm_channel must
	 * allocate. */
	while (smarm__chan_pooled() > 0) {
		ck_assert_uint_lt(np, 64);
		chan_ok(&ptx[np], &prx[np], 8);
		np++;
	}
	for (k = 1; k <= 8; k++) {
		tx = BOGUS_TX;
		rx = BOGUS_RX;
		fail_countdown = k;
		err = smarm_channel(&tx, &rx, 16);
		fail_countdown = 0;
		if (err == 0) /* only k - 1 allocations to fail */
			break;
		ck_assert_int_eq(err, ENOMEM);
		ck_assert_ptr_eq(tx, BOGUS_TX);
		ck_assert_ptr_eq(rx, BOGUS_RX);
	}
	ck_assert_int_gt(k, 1); /* smarm_channel allocates something */
	ck_assert_int_le(k, 8);

	/* a fresh channel: the send must allocate (or fail) */
	for (k = 1; k <= 8; k++) {
		unsigned char e[16];

		memset(e, k, sizeof(e));
		fail_countdown = k;
		err = smarm_send(tx, e);
		fail_countdown = 0;
		if (err == 0)
			break;
		ck_assert_int_eq(err, ENOMEM);
		failed++;
		ck_assert_int_eq(smarm_try_recv(rx, e), EAGAIN);
	}
	ck_assert_msg(failed > 0, "a send on a fresh channel allocated nothing");
	ck_assert_int_eq(smarm_try_recv(rx, out), 0);
	ck_assert_uint_eq(out[0], (unsigned)k);
	ck_assert_int_eq(smarm_try_recv(rx, out), EAGAIN);

	/* a clone needs a record of its own: with none pooled and no
	 * memory, NULL, and the channel's senders stay as they were */
	if (smarm__chan_ends_pooled() == 0) {
		fail_countdown = 1;
		ck_assert_ptr_null(smarm_tx_clone(tx));
		fail_countdown = 0;
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_try_recv(rx, out), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	while (np > 0) {
		np--;
		ck_assert_int_eq(smarm_tx_close(ptx[np]), 0);
		ck_assert_int_eq(smarm_rx_close(prx[np]), 0);
	}
	return NULL;
}

START_TEST(test_enomem_injected)
{
	long base;

	if (RUNNING_ON_VALGRIND || SANITIZED)
		return;
	base = heap_baseline();
	run_in_actor(enomem_injected_root, NULL);
	/* The channel it had to allocate is in the pool now. */
	ASSERT_HEAP_EQ(base + (long)(smarm__chan_pooled() - pool_base));
}
END_TEST

/*
 * ENOMEM: an element too large to allocate.  Either smarm_channel refuses
 * the size (ENOMEM, handles untouched) or the channel exists and each send
 * fails with ENOMEM, queueing nothing.  Sizes near SIZE_MAX must not wrap
 * around in the size computation.
 */
static smarm_rx *enomem_rx[3];

static void *enomem_root(void *arg)
{
	int i;
	unsigned char buf[64];

	(void)arg;
	for (i = 0; i < 3; i++) {
		if (enomem_rx[i] == NULL)
			continue;
		ck_assert_int_eq(smarm_try_recv(enomem_rx[i], buf), EPIPE);
		ck_assert_int_eq(smarm_recv(enomem_rx[i], buf, 0), EPIPE);
	}
	return NULL;
}

START_TEST(test_enomem)
{
	static const size_t sizes[3] = {
		(size_t)1 << 50, SIZE_MAX - 64, SIZE_MAX
	};
	unsigned char buf[64];
	smarm_tx *tx;
	smarm_rx *rx;
	int i, err;

	memset(buf, 1, sizeof(buf));
	for (i = 0; i < 3; i++) {
		/* valgrind flags malloc sizes above SSIZE_MAX as errors, even
		 * though refusing them is the right outcome */
		if (RUNNING_ON_VALGRIND && sizes[i] > SIZE_MAX / 2)
			continue;
		tx = BOGUS_TX;
		rx = BOGUS_RX;
		err = smarm_channel(&tx, &rx, sizes[i]);
		if (err == ENOMEM) {
			ck_assert_ptr_eq(tx, BOGUS_TX);
			ck_assert_ptr_eq(rx, BOGUS_RX);
			continue;
		}
		ck_assert_msg(err == 0, "smarm_channel(elem_size %zu) "
			      "returned %d (%s); chan.md allows 0 or ENOMEM",
			      sizes[i], err, smarm_strerror(err));
		ck_assert_int_eq(smarm_send(tx, buf), ENOMEM);
		ck_assert_int_eq(smarm_send(tx, buf), ENOMEM);
		ck_assert_int_eq(smarm_tx_close(tx), 0);
		enomem_rx[i] = rx;
	}
	/* nothing was queued by the failed sends */
	run_in_actor(enomem_root, NULL);
	for (i = 0; i < 3; i++)
		if (enomem_rx[i])
			ck_assert_int_eq(smarm_rx_close(enomem_rx[i]), 0);
}
END_TEST

/* ---- round trips -------------------------------------------------------- */

#define GUARD 64

static void fill_pattern(unsigned char *p, size_t n, unsigned k)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 31u + k * 7u + n);
}

static void check_pattern(const unsigned char *p, size_t n, unsigned k)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (p[i] != (unsigned char)(i * 31u + k * 7u + n))
			ck_abort_msg("element %u of size %zu: byte %zu is "
				     "0x%02x", k, n, i, p[i]);
	for (i = n; i < n + GUARD; i++)
		if (p[i] != 0x5a)
			ck_abort_msg("element %u of size %zu: recv wrote past "
				     "the element, at byte %zu", k, n, i);
}

static void roundtrip(size_t size)
{
	smarm_tx *tx;
	smarm_rx *rx;
	unsigned char *in = malloc(size), *out = malloc(size + GUARD);
	unsigned k;

	ck_assert_ptr_nonnull(in);
	ck_assert_ptr_nonnull(out);
	chan_ok(&tx, &rx, size);

	/* ten queued, then taken by recv and try_recv in turn */
	for (k = 0; k < 10; k++) {
		fill_pattern(in, size, k);
		ck_assert_int_eq(smarm_send(tx, in), 0);
		memset(in, 0xee, size); /* send copied it */
	}
	for (k = 0; k < 10; k++) {
		memset(out, 0x5a, size + GUARD);
		if (k % 2)
			ck_assert_int_eq(smarm_try_recv(rx, out), 0);
		else
			ck_assert_int_eq(smarm_recv(rx, out, SMARM_FOREVER), 0);
		check_pattern(out, size, k);
	}
	ck_assert_int_eq(smarm_try_recv(rx, out), EAGAIN);

	/* one at a time */
	for (k = 10; k < 60; k++) {
		fill_pattern(in, size, k);
		ck_assert_int_eq(smarm_send(tx, in), 0);
		memset(out, 0x5a, size + GUARD);
		ck_assert_int_eq(smarm_recv(rx, out, 0), 0);
		check_pattern(out, size, k);
	}

	/* the last ones before a close still arrive */
	fill_pattern(in, size, 99);
	ck_assert_int_eq(smarm_send(tx, in), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	memset(out, 0x5a, size + GUARD);
	ck_assert_int_eq(smarm_recv(rx, out, SMARM_FOREVER), 0);
	check_pattern(out, size, 99);
	ck_assert_int_eq(smarm_recv(rx, out, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	free(in);
	free(out);
}

static const size_t rt_sizes[] = { 1, 3, 8, 24, 4096, 65536 };
#define N_RT_SIZES (sizeof(rt_sizes) / sizeof(rt_sizes[0]))

static void *roundtrip_root(void *arg)
{
	size_t i;

	(void)arg;
	for (i = 0; i < N_RT_SIZES; i++)
		roundtrip(rt_sizes[i]);
	return NULL;
}

START_TEST(test_roundtrip_sizes)
{
	run_in_actor(roundtrip_root, NULL);
}
END_TEST

/* Elements of every size sent by another actor that yields in between. */
struct sized_ctx {
	smarm_tx *tx;
	size_t size;
};

static void *sized_sender(void *arg)
{
	struct sized_ctx *c = arg;
	unsigned char *in = malloc(c->size);
	unsigned k;

	ck_assert_ptr_nonnull(in);
	for (k = 0; k < 20; k++) {
		fill_pattern(in, c->size, k);
		ck_assert_int_eq(smarm_send(c->tx, in), 0);
		ck_assert_int_eq(smarm_yield(), 0);
	}
	free(in);
	ck_assert_int_eq(smarm_tx_close(c->tx), 0);
	return NULL;
}

static void *sized_root(void *arg)
{
	struct sized_ctx c;
	smarm_rx *rx;
	smarm_pid pid;
	unsigned char *out;
	unsigned k;
	size_t i;

	(void)arg;
	for (i = 0; i < N_RT_SIZES; i++) {
		c.size = rt_sizes[i];
		out = malloc(c.size + GUARD);
		ck_assert_ptr_nonnull(out);
		chan_ok(&c.tx, &rx, c.size);
		spawn_ok(&pid, sized_sender, &c);
		for (k = 0; k < 20; k++) {
			memset(out, 0x5a, c.size + GUARD);
			ck_assert_int_eq(smarm_recv(rx, out, SMARM_FOREVER), 0);
			check_pattern(out, c.size, k);
		}
		ck_assert_int_eq(smarm_recv(rx, out, SMARM_FOREVER), EPIPE);
		join_ok(pid);
		ck_assert_int_eq(smarm_rx_close(rx), 0);
		free(out);
	}
	return NULL;
}

START_TEST(test_roundtrip_between_actors)
{
	run_in_actor(sized_root, NULL);
}
END_TEST

/* One sender: FIFO. */
static void *fifo_root(void *arg)
{
	struct sender s = { .id = 0, .n = 10000, .yield_every = 100 };
	smarm_rx *rx;

	(void)arg;
	chan_ok(&s.tx, &rx, sizeof(uint64_t));
	spawn_ok(&s.pid, actor_sender, &s);
	receive_all(rx, 1, s.n);
	join_ok(s.pid);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_fifo_one_sender)
{
	run_in_actor(fifo_root, NULL);
}
END_TEST

/* ---- moving ownership ----------------------------------------------------- */

struct owned {
	uint32_t seq;
	char text[44];
};

#define N_OWNED 1000

static void *owner_sender(void *arg)
{
	smarm_tx *tx = arg;
	struct owned *m;
	uint32_t i;

	for (i = 0; i < N_OWNED; i++) {
		m = malloc(sizeof(*m));
		ck_assert_ptr_nonnull(m);
		m->seq = i;
		snprintf(m->text, sizeof(m->text), "message %u", i);
		ck_assert_int_eq(smarm_send(tx, &m), 0);
		/* m is the receiver's now */
		if (i % 10 == 0)
			ck_assert_int_eq(smarm_yield(), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	return NULL;
}

static void check_owned(struct owned *m, uint32_t i)
{
	char want[44];

	ck_assert_ptr_nonnull(m);
	ck_assert_uint_eq(m->seq, i);
	snprintf(want, sizeof(want), "message %u", i);
	ck_assert_str_eq(m->text, want);
}

static void *move_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	struct owned *m = NULL;
	uint32_t i;
	int err;

	(void)arg;
	/* all of them received and freed by the receiver */
	chan_ok(&tx, &rx, sizeof(struct owned *));
	spawn_ok(&pid, owner_sender, tx);
	for (i = 0; (err = smarm_recv(rx, &m, SMARM_FOREVER)) == 0; i++) {
		check_owned(m, i);
		free(m);
	}
	ck_assert_int_eq(err, EPIPE);
	ck_assert_uint_eq(i, N_OWNED);
	join_ok(pid);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* half received, the rest drained with try_recv before rx_close */
	chan_ok(&tx, &rx, sizeof(struct owned *));
	spawn_ok(&pid, owner_sender, tx);
	join_ok(pid); /* everything is queued and the sender closed */
	for (i = 0; i < N_OWNED / 2; i++) {
		ck_assert_int_eq(smarm_recv(rx, &m, 0), 0);
		check_owned(m, i);
		free(m);
	}
	while ((err = smarm_try_recv(rx, &m)) == 0) {
		check_owned(m, i++);
		free(m);
	}
	ck_assert_int_eq(err, EPIPE);
	ck_assert_uint_eq(i, N_OWNED);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_move_pointers)
{
	long base = heap_baseline();

	run_in_actor(move_root, NULL);
	ASSERT_HEAP_EQ(base);
}
END_TEST

/* Pointers sent by plain threads, freed by the actor. */
struct owner_thread {
	pthread_t th;
	smarm_tx *tx;
	int err;
};

static void *owner_thread_fn(void *arg)
{
	struct owner_thread *o = arg;
	struct owned *m;
	uint32_t i;

	for (i = 0; i < N_OWNED && o->err == 0; i++) {
		m = malloc(sizeof(*m));
		if (m == NULL) {
			o->err = ENOMEM;
			break;
		}
		m->seq = i;
		snprintf(m->text, sizeof(m->text), "message %u", i);
		o->err = smarm_send(o->tx, &m);
		if (o->err)
			free(m);
	}
	smarm_tx_close(o->tx);
	return NULL;
}

static void *move_threads_root(void *arg)
{
	struct owner_thread o[4];
	smarm_tx *tx;
	smarm_rx *rx;
	struct owned *m = NULL;
	uint32_t n = 0;
	int err, i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(struct owned *));
	for (i = 0; i < 4; i++) {
		o[i].tx = smarm_tx_clone(tx);
		o[i].err = 0;
		ck_assert_int_eq(pthread_create(&o[i].th, NULL,
						owner_thread_fn, &o[i]), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	while ((err = smarm_recv(rx, &m, SMARM_FOREVER)) == 0) {
		ck_assert_ptr_nonnull(m);
		ck_assert_uint_lt(m->seq, N_OWNED);
		free(m);
		n++;
	}
	ck_assert_int_eq(err, EPIPE);
	ck_assert_uint_eq(n, 4 * N_OWNED);
	for (i = 0; i < 4; i++) {
		ck_assert_int_eq(pthread_join(o[i].th, NULL), 0);
		ck_assert_int_eq(o[i].err, 0);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_move_pointers_threads)
{
	run_in_actor(move_threads_root, NULL);
}
END_TEST

/* ---- closing: drain, clones, freeing ---------------------------------------- */

static void *drain_root(void *arg)
{
	struct sender s[3];
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t i;
	int k;

	(void)arg;
	/* queued by the receiver itself, then closed */
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < 500; i++)
		send_u64(tx, i);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	for (i = 0; i < 500; i++)
		ck_assert_uint_eq(recv_u64(rx), i);
	ck_assert_int_eq(smarm_recv(rx, &i, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* three senders that send everything and close without yielding,
	 * while the receiver is parked in recv */
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (k = 0; k < 3; k++) {
		s[k] = (struct sender){ .tx = smarm_tx_clone(tx), .id = (uint32_t)k,
					.n = 100 };
		spawn_ok(&s[k].pid, actor_sender, &s[k]);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	receive_all(rx, 3, 100);
	for (k = 0; k < 3; k++) {
		join_ok(s[k].pid);
		ck_assert_int_eq(s[k].err, 0);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_drain_before_epipe)
{
	run_in_actor(drain_root, NULL);
}
END_TEST

static void *clone_root(void *arg)
{
	smarm_tx *tx, *c1, *c2, *many[10];
	smarm_rx *rx;
	uint64_t v = 0;
	int i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(v));
	c1 = smarm_tx_clone(tx);
	ck_assert_ptr_nonnull(c1);
	ck_assert_ptr_ne(c1, tx);
	c2 = smarm_tx_clone(c1); /* a clone of a clone */
	ck_assert_ptr_nonnull(c2);
	ck_assert_ptr_ne(c2, tx);
	ck_assert_ptr_ne(c2, c1);

	/* closing the original leaves two senders */
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	send_u64(c1, 1);
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 1);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	ck_assert_int_eq(smarm_tx_close(c1), 0);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	ck_assert_int_eq(smarm_recv(rx, &v, 0), ETIMEDOUT);
	send_u64(c2, 2);
	ck_assert_int_eq(smarm_tx_close(c2), 0);
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 2);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* ten clones: eleven closes, EPIPE only after the last */
	chan_ok(&tx, &rx, sizeof(v));
	for (i = 0; i < 10; i++) {
		many[i] = smarm_tx_clone(tx);
		ck_assert_ptr_nonnull(many[i]);
	}
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(smarm_tx_close(many[i]), 0);
		ck_assert_int_eq(smarm_try_recv(rx, &v), EAGAIN);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_try_recv(rx, &v), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_tx_clone)
{
	run_in_actor(clone_root, NULL);
}
END_TEST

/* A 24-byte element, so that discarded elements are real allocations. */
struct elem24 {
	uint64_t a, b, c;
};

static void send_elems(smarm_tx *tx, unsigned n)
{
	struct elem24 e;
	unsigned i;

	for (i = 0; i < n; i++) {
		e.a = i;
		e.b = ~(uint64_t)i;
		e.c = i * 3ull;
		ck_assert_int_eq(smarm_send(tx, &e), 0);
	}
}

/* The receiving end first, then every sender. */
START_TEST(test_free_rx_first)
{
	long base = heap_baseline(), queued;
	struct elem24 e = { 0, 0, 0 };
	smarm_tx *tx, *c;
	smarm_rx *rx;

	chan_ok(&tx, &rx, sizeof(e));
	send_elems(tx, 100);
	c = smarm_tx_clone(tx);
	queued = heap_used();
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	/* the queued elements are discarded now, not at the last close */
	if (!RUNNING_ON_VALGRIND)
		ck_assert_msg(heap_used() < queued, "rx_close freed nothing "
			      "of 100 queued elements");
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_send(tx, &e), EPIPE);
	ck_assert_int_eq(smarm_send(c, &e), EPIPE);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_send(c, &e), EPIPE);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	ASSERT_HEAP_EQ(base);
}
END_TEST

/* Every sender first, then the receiving end (elements still queued). */
START_TEST(test_free_tx_first)
{
	long base = heap_baseline();
	smarm_tx *tx, *c;
	smarm_rx *rx;

	chan_ok(&tx, &rx, sizeof(struct elem24));
	c = smarm_tx_clone(tx);
	send_elems(tx, 100);
	send_elems(c, 100);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ASSERT_HEAP_EQ(base);

	/* and with an empty queue */
	chan_ok(&tx, &rx, sizeof(struct elem24));
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ASSERT_HEAP_EQ(base);
}
END_TEST

/* Mixed: a sender, the receiving end, the other senders. */
START_TEST(test_free_interleaved)
{
	long base = heap_baseline();
	smarm_tx *tx, *c1, *c2;
	smarm_rx *rx;

	chan_ok(&tx, &rx, sizeof(struct elem24));
	c1 = smarm_tx_clone(tx);
	c2 = smarm_tx_clone(tx);
	send_elems(c2, 10);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_tx_close(c2), 0);
	ASSERT_CHAN_LIVE(base);
	ck_assert_int_eq(smarm_tx_close(c1), 0);
	ASSERT_HEAP_EQ(base);
}
END_TEST

/* Both orders again with the receiver in an actor and senders in a plain
 * thread and in actors. */
static void *free_orders_root(void *arg)
{
	smarm_tx *tx, *c;
	smarm_rx *rx;
	struct elem24 e;
	pthread_t th;
	struct sender s = { .id = 0, .n = 50 };

	(void)arg;
	/* rx closed by the actor first, the last sender closed later by a
	 * thread (that sees EPIPE first) */
	chan_ok(&tx, &rx, sizeof(uint64_t));
	s.tx = smarm_tx_clone(tx);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, thread_sender, &s), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(s.err, EPIPE);

	/* every sender (thread and actor) closed first, the actor closes
	 * rx with elements queued */
	chan_ok(&tx, &rx, sizeof(struct elem24));
	c = smarm_tx_clone(tx);
	send_elems(c, 10);
	ck_assert_int_eq(smarm_tx_close(c), 0);
	s = (struct sender){ .tx = tx, .id = 0, .n = 0 };
	ck_assert_int_eq(pthread_create(&th, NULL, thread_sender, &s), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(s.err, 0);
	ck_assert_int_eq(smarm_try_recv(rx, &e), 0);
	ck_assert_uint_eq(e.a, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_free_orders_runtime)
{
	run_in_actor(free_orders_root, NULL);
}
END_TEST

/*
 * rx_close discards what is queued; later sends get EPIPE.  A sender
 * actor is still sending when the receiver closes: pinned to the
 * receiver's worker and yielding after every send, it has sent about ten
 * of its million then; unpinned, on another worker, it may run far ahead
 * (or behind), so it sends until it gets EPIPE, with no other limit.
 */
static void *rx_close_root(void *arg)
{
	int pinned = arg != NULL;
	struct sender s = { .id = 0, .n = pinned ? 1000000 : UINT32_MAX,
			    .yield_every = 1 };
	smarm_rx *rx;
	uint64_t v;
	int i;

	chan_ok(&s.tx, &rx, sizeof(uint64_t));
	if (pinned)
		ck_assert_int_eq(spawn_pinned(&s.pid, actor_sender, &s), 0);
	else
		spawn_ok(&s.pid, actor_sender, &s);
	for (i = 0; i < 10; i++) {
		ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
		ck_assert_uint_eq(v, (uint64_t)i);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	join_ok(s.pid);
	ck_assert_int_eq(s.err, EPIPE);
	return NULL;
}

START_TEST(test_rx_close_discards)
{
	long base = heap_baseline();
	struct elem24 e = { 1, 2, 3 };
	smarm_tx *tx;
	smarm_rx *rx;

	chan_ok(&tx, &rx, sizeof(e));
	send_elems(tx, 1000);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	ck_assert_int_eq(smarm_send(tx, &e), EPIPE);
	ck_assert_int_eq(smarm_send(tx, &e), EPIPE);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ASSERT_HEAP_EQ(base);

	run_pinned(rx_close_root, (void *)1);
	run_in_actor(rx_close_root, NULL);
}
END_TEST

/* ---- per-sender order with many actors --------------------------------------- */

#define ORDER_ACTORS 50
#define ORDER_MSGS 2000

static void *order_root(void *arg)
{
	struct sender *s = calloc(ORDER_ACTORS, sizeof(*s));
	smarm_tx *tx;
	smarm_rx *rx;
	uint32_t i;

	(void)arg;
	ck_assert_ptr_nonnull(s);
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < ORDER_ACTORS; i++) {
		s[i].tx = smarm_tx_clone(tx);
		s[i].id = i;
		s[i].n = ORDER_MSGS;
		s[i].yield_every = 1 + i % 3;
		spawn_ok(&s[i].pid, actor_sender, &s[i]);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	receive_all(rx, ORDER_ACTORS, ORDER_MSGS);
	for (i = 0; i < ORDER_ACTORS; i++) {
		join_ok(s[i].pid);
		ck_assert_int_eq(s[i].err, 0);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	free(s);
	return NULL;
}

START_TEST(test_order_many_actors)
{
	run_in_actor(order_root, NULL);
}
END_TEST

/* ---- timeouts ------------------------------------------------------------ */

static atomic_int busy_stop;

static void *busy_yielder(void *arg)
{
	(void)arg;
	while (!atomic_load(&busy_stop))
		ck_assert_int_eq(smarm_yield(), 0);
	return NULL;
}

static void expect_timeout(smarm_rx *rx, uint64_t ns)
{
	uint64_t v = 0, t0 = smarm_now(), dt;

	ck_assert_int_eq(smarm_recv(rx, &v, ns), ETIMEDOUT);
	dt = smarm_now() - t0;
	ck_assert_msg(dt >= ns, "recv timed out after %llu ns of %llu",
		      (unsigned long long)dt, (unsigned long long)ns);
}

/*
 * Sleeps, sends, and so on for each value, then closes its handle.  With
 * wait_ack it waits after each send until the receiver has acknowledged
 * that value: only the send itself can wake a receiver parked without a
 * timeout then, so a lost wake-up hangs the test until Check's timeout.
 */
struct late_ctx {
	smarm_tx *tx;
	uint64_t delay[3];
	uint64_t v[3];            /* 0 ends the list */
	int wait_ack;
	atomic_uint acked;        /* set by the receiver */
};

static void *late_sender(void *arg)
{
	struct late_ctx *c = arg;
	unsigned i;

	for (i = 0; i < 3 && c->v[i] != 0; i++) {
		ck_assert_int_eq(smarm_sleep(c->delay[i]), 0);
		send_u64(c->tx, c->v[i]);
		while (c->wait_ack && atomic_load(&c->acked) <= i)
			ck_assert_int_eq(smarm_sleep(1 * MS), 0);
	}
	ck_assert_int_eq(smarm_tx_close(c->tx), 0);
	return NULL;
}

struct closer_ctx {
	smarm_tx *tx;
	uint64_t delay;
	unsigned nsend; /* elements sent just before the close */
};

static void *closer_actor(void *arg)
{
	struct closer_ctx *c = arg;
	unsigned i;

	ck_assert_int_eq(smarm_sleep(c->delay), 0);
	for (i = 0; i < c->nsend; i++)
		send_u64(c->tx, i);
	ck_assert_int_eq(smarm_tx_close(c->tx), 0);
	return NULL;
}

static void *closer_thread(void *arg)
{
	struct closer_ctx *c = arg;
	unsigned i;
	int err = 0;

	nap_us((unsigned)(c->delay / 1000));
	for (i = 0; i < c->nsend && err == 0; i++) {
		uint64_t v = i;

		err = smarm_send(c->tx, &v);
	}
	if (err == 0)
		err = smarm_tx_close(c->tx);
	return (void *)(intptr_t)err;
}

static void *timeout_fires_root(void *arg)
{
	/* sends at 20 ms, ends at 220 ms */
	struct late_ctx c = { .delay = { 20 * MS, 200 * MS }, .v = { 77, 1 } };
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	uint64_t t0, v = 0;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	/* alone: the worker sleeps until the deadline */
	expect_timeout(rx, 30 * MS);
	expect_timeout(rx, 1);
	expect_timeout(rx, 1 * MS);
	/* with a busy sibling on our worker (we are pinned, and so is it) */
	ck_assert_int_eq(spawn_pinned(&pid, busy_yielder, NULL), 0);
	expect_timeout(rx, 30 * MS);
	atomic_store(&busy_stop, 1);
	join_ok(pid);

	/* after the timeout this actor no longer waits on the channel: a
	 * later send must not cut short its sleep, nor its join */
	c.tx = smarm_tx_clone(tx);
	/* Before the spawn: another worker may start the sender at once. */
	t0 = smarm_now();
	spawn_ok(&pid, late_sender, &c);
	ck_assert_int_eq(smarm_sleep(100 * MS), 0);
	ck_assert_uint_ge(smarm_now() - t0, 100 * MS);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	ck_assert_uint_ge(smarm_now() - t0, 220 * MS);
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 77);
	ck_assert_int_eq(smarm_try_recv(rx, &v), 0);
	ck_assert_uint_eq(v, 1);

	/* the channel still works */
	send_u64(tx, 78);
	ck_assert_uint_eq(recv_u64(rx), 78);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_recv(rx, &v, 30 * MS), EPIPE);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_recv_timeout_fires)
{
	run_pinned(timeout_fires_root, NULL);
}
END_TEST

/* Sleeps for arg nanoseconds. */
static void *sleeper(void *arg)
{
	ck_assert_int_eq(smarm_sleep((uint64_t)(uintptr_t)arg), 0);
	return arg;
}

/*
 * Called right after a recv with a 200 ms timeout returned early with a
 * message: its timer must be gone, so that it cuts short neither a join
 * without timeout (which would return ETIMEDOUT) nor a sleep.
 */
static void no_stale_timer(void)
{
	smarm_pid pid;
	void *res = NULL;
	uint64_t t0 = smarm_now();

	spawn_ok(&pid, sleeper, (void *)(uintptr_t)(300 * MS));
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_ptr_eq(res, (void *)(uintptr_t)(300 * MS));
	ck_assert_uint_ge(smarm_now() - t0, 300 * MS);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_sleep(50 * MS), 0);
	ck_assert_uint_ge(smarm_now() - t0, 50 * MS);
}

static void *timeout_not_fired_root(void *arg)
{
	/* messages at 30 ms, 400 ms and 420 ms, each sent once the one
	 * before was received */
	struct late_ctx c = { .delay = { 30 * MS, 370 * MS, 20 * MS },
			      .v = { 42, 43, 44 }, .wait_ack = 1 };
	struct closer_ctx closer;
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	pthread_t th;
	void *tres = (void *)-1;
	uint64_t t0, v = 0;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	c.tx = tx;
	/* Before the spawn: with two workers the sender may start its
	 * sleep on the other one before the spawn returns. */
	t0 = smarm_now();
	spawn_ok(&pid, late_sender, &c);
	ck_assert_int_eq(smarm_recv(rx, &v, 200 * MS), 0);
	ck_assert_uint_eq(v, 42);
	ck_assert_uint_ge(smarm_now() - t0, 30 * MS);
	atomic_store(&c.acked, 1);
	no_stale_timer();
	/* only the send at 400 ms ends this one */
	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
	ck_assert_uint_eq(v, 43);
	ck_assert_uint_ge(smarm_now() - t0, 400 * MS);
	atomic_store(&c.acked, 2);
	/* a send, not the (hour-long) timer, ends a timed recv */
	ck_assert_int_eq(smarm_recv(rx, &v, 3600000 * MS), 0);
	ck_assert_uint_eq(v, 44);
	ck_assert_uint_ge(smarm_now() - t0, 420 * MS);
	atomic_store(&c.acked, 3);
	ck_assert_int_eq(smarm_recv(rx, &v, 5000 * MS), EPIPE);
	join_ok(pid);
	ck_assert_int_eq(smarm_rx_close(rx), 0);

	/* the same with a plain thread's send (another wake-up path) */
	chan_ok(&closer.tx, &rx, sizeof(uint64_t));
	closer.delay = 20 * MS;
	closer.nsend = 1;
	t0 = smarm_now();
	ck_assert_int_eq(pthread_create(&th, NULL, closer_thread, &closer), 0);
	ck_assert_int_eq(smarm_recv(rx, &v, 200 * MS), 0);
	ck_assert_uint_eq(v, 0);
	ck_assert_uint_ge(smarm_now() - t0, 20 * MS);
	no_stale_timer();
	ck_assert_int_eq(smarm_recv(rx, &v, 200 * MS), EPIPE);
	ck_assert_int_eq(pthread_join(th, &tres), 0);
	ck_assert_ptr_null(tres);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_recv_timeout_not_fired)
{
	run_in_actor(timeout_not_fired_root, NULL);
}
END_TEST

/* ---- closing wakes a parked receiver ------------------------------------------ */

/* Receive what was sent before the close, then EPIPE; at least 30 ms. */
static void expect_close(smarm_rx *rx, uint64_t timeout, unsigned nsend,
			 uint64_t t0)
{
	uint64_t v = 99;
	unsigned i;

	for (i = 0; i < nsend; i++) {
		ck_assert_int_eq(smarm_recv(rx, &v, timeout), 0);
		ck_assert_uint_eq(v, i);
	}
	ck_assert_int_eq(smarm_recv(rx, &v, timeout), EPIPE);
	ck_assert_uint_ge(smarm_now() - t0, 30 * MS);
}

static void *close_wakes_root(void *arg)
{
	static const uint64_t timeouts[2] = { SMARM_FOREVER, 10000 * MS };
	struct closer_ctx c;
	smarm_rx *rx;
	smarm_pid pid;
	pthread_t th;
	void *tres;
	uint64_t t0;
	int i;
	unsigned nsend;

	(void)arg;
	for (i = 0; i < 2; i++) {
		for (nsend = 0; nsend <= 3; nsend += 3) {
			/* closed by an actor */
			c.delay = 30 * MS;
			c.nsend = nsend;
			chan_ok(&c.tx, &rx, sizeof(uint64_t));
			/* before the spawn: on another worker, the closer's
			 * sleep may start before the spawn returns */
			t0 = smarm_now();
			spawn_ok(&pid, closer_actor, &c);
			expect_close(rx, timeouts[i], nsend, t0);
			join_ok(pid);
			ck_assert_int_eq(smarm_rx_close(rx), 0);

			/* closed by a plain thread while the worker is idle */
			chan_ok(&c.tx, &rx, sizeof(uint64_t));
			t0 = smarm_now();
			ck_assert_int_eq(pthread_create(&th, NULL, closer_thread,
							&c), 0);
			expect_close(rx, timeouts[i], nsend, t0);
			ck_assert_int_eq(pthread_join(th, &tres), 0);
			ck_assert_ptr_null(tres);
			ck_assert_int_eq(smarm_rx_close(rx), 0);
		}
	}
	return NULL;
}

START_TEST(test_close_wakes_receiver)
{
	run_in_actor(close_wakes_root, NULL);
}
END_TEST

/* ---- plain threads ----------------------------------------------------------- */

/* Created, sent on and closed before any runtime exists. */
struct pre_ctx {
	smarm_rx *rx;   /* closed senders: 6 elements then EPIPE */
	smarm_tx *tx2;  /* still open */
	smarm_rx *rx2;
	unsigned round;
};

static void *pre_root(void *arg)
{
	struct pre_ctx *c = arg;
	unsigned char out[24 + GUARD];
	uint64_t v = 0;
	unsigned k;

	if (c->round == 0) {
		for (k = 0; k < 6; k++) {
			memset(out, 0x5a, sizeof(out));
			ck_assert_int_eq(smarm_recv(c->rx, out, SMARM_FOREVER),
					 0);
			check_pattern(out, 24, k);
		}
		ck_assert_int_eq(smarm_recv(c->rx, out, SMARM_FOREVER), EPIPE);
		ck_assert_int_eq(smarm_rx_close(c->rx), 0);
		for (k = 0; k < 3; k++)
			ck_assert_uint_eq(recv_u64(c->rx2), 100 + k);
		ck_assert_int_eq(smarm_try_recv(c->rx2, &v), EAGAIN);
	} else {
		/* a later run receives what was sent between the runs */
		ck_assert_uint_eq(recv_u64(c->rx2), 200);
		ck_assert_int_eq(smarm_recv(c->rx2, &v, SMARM_FOREVER), EPIPE);
	}
	return NULL;
}

START_TEST(test_before_runtime)
{
	struct pre_ctx c = { 0 };
	unsigned char in[24];
	smarm_tx *tx, *clone;
	unsigned k;

	chan_ok(&tx, &c.rx, sizeof(in));
	clone = smarm_tx_clone(tx);
	for (k = 0; k < 6; k++) {
		fill_pattern(in, sizeof(in), k);
		ck_assert_int_eq(smarm_send(k < 3 ? tx : clone, in), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	ck_assert_int_eq(smarm_tx_close(clone), 0);
	chan_ok(&c.tx2, &c.rx2, sizeof(uint64_t));
	for (k = 0; k < 3; k++)
		send_u64(c.tx2, 100 + k);

	run_in_actor(pre_root, &c);

	send_u64(c.tx2, 200);
	ck_assert_int_eq(smarm_tx_close(c.tx2), 0);
	c.round = 1;
	run_in_actor(pre_root, &c);
	ck_assert_int_eq(smarm_rx_close(c.rx2), 0);
}
END_TEST

/*
 * Ping-pong: the sender sends, then waits until the actor has taken the
 * message before it sends the next one (or closes).  The actor parks in
 * recv without a timeout, so only the send can wake it: a lost wake-up
 * hangs the test until Check's timeout fails it.
 */
struct pingpong {
	smarm_tx *tx;
	unsigned rounds;
	unsigned first_nap_us; /* threads: nap before the first send */
	unsigned nap_every;    /* threads: nap before every k-th send */
	unsigned nap_len_us;
	atomic_uint acked;     /* messages the actor has taken */
	int err;
};

static void *pingpong_thread(void *arg)
{
	struct pingpong *p = arg;
	uint64_t v;
	unsigned i;
	int err = 0;

	for (i = 0; i < p->rounds && err == 0; i++) {
		if (i == 0 && p->first_nap_us)
			nap_us(p->first_nap_us);
		else if (p->nap_every && i % p->nap_every == 0)
			nap_us(p->nap_len_us);
		v = i;
		err = smarm_send(p->tx, &v);
		while (err == 0 && atomic_load(&p->acked) <= i)
			sched_yield();
	}
	if (err == 0)
		err = smarm_tx_close(p->tx);
	else
		smarm_tx_close(p->tx);
	p->err = err;
	return NULL;
}

static void *pingpong_actor(void *arg)
{
	struct pingpong *p = arg;
	uint64_t v;
	unsigned i;
	int err = 0;

	for (i = 0; i < p->rounds && err == 0; i++) {
		v = i;
		err = smarm_send(p->tx, &v);
		while (err == 0 && atomic_load(&p->acked) <= i)
			if (i % 2)
				err = smarm_yield();
			else
				err = smarm_sleep(1000);
	}
	if (err == 0)
		err = smarm_tx_close(p->tx);
	else
		smarm_tx_close(p->tx);
	p->err = err;
	return NULL;
}

static void pingpong_receive(smarm_rx *rx, struct pingpong *p)
{
	uint64_t v = 0;
	unsigned i;
	int err;

	for (i = 0; i < p->rounds; i++) {
		err = smarm_recv(rx, &v, SMARM_FOREVER);
		if (err != 0 || v != i)
			ck_abort_msg("ping-pong round %u: recv %d, value %llu",
				     i, err, (unsigned long long)v);
		atomic_store(&p->acked, i + 1);
	}
	ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), EPIPE);
}

/* A plain thread wakes the only actor, parked in recv: the worker sleeps
 * in the kernel meanwhile (50 ms before the first send, 0.5 ms before
 * each of the others). */
static void *idle_wake_root(void *arg)
{
	struct pingpong p = { .rounds = 101, .first_nap_us = 50000,
			      .nap_every = 1, .nap_len_us = 500 };
	smarm_rx *rx;
	pthread_t th;
	uint64_t t0;
	unsigned i;

	(void)arg;
	chan_ok(&p.tx, &rx, sizeof(uint64_t));
	t0 = smarm_now();
	ck_assert_int_eq(pthread_create(&th, NULL, pingpong_thread, &p), 0);
	ck_assert_uint_eq(recv_u64(rx), 0);
	ck_assert_uint_ge(smarm_now() - t0, 50 * MS);
	atomic_store(&p.acked, 1);
	for (i = 1; i < p.rounds; i++) {
		ck_assert_uint_eq(recv_u64(rx), i);
		atomic_store(&p.acked, i + 1);
	}
	ck_assert_int_eq(smarm_recv(rx, &t0, SMARM_FOREVER), EPIPE);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(p.err, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_thread_wakes_idle_worker)
{
	run_in_actor(idle_wake_root, NULL);
}
END_TEST

/*
 * Many quick round trips with a plain thread, mostly without a pause, so
 * that sends land while the actor is about to park, parking, or parked
 * with the worker going to sleep.  20,000 rounds; 300 under valgrind.
 */
static void *pingpong_thread_root(void *arg)
{
	struct pingpong p = { .rounds = (unsigned)(uintptr_t)arg,
			      .nap_every = 97, .nap_len_us = 100 };
	smarm_rx *rx;
	pthread_t th;

	chan_ok(&p.tx, &rx, sizeof(uint64_t));
	ck_assert_int_eq(pthread_create(&th, NULL, pingpong_thread, &p), 0);
	pingpong_receive(rx, &p);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(p.err, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_thread_ping_pong)
{
	unsigned rounds = RUNNING_ON_VALGRIND ? 300 : 20000;

	run_in_actor(pingpong_thread_root, (void *)(uintptr_t)rounds);
}
END_TEST

/* The same between two actors: a send wakes the parked receiver. */
static void *pingpong_actor_root(void *arg)
{
	struct pingpong p = { .rounds = 1000 };
	smarm_rx *rx;
	smarm_pid pid;

	(void)arg;
	chan_ok(&p.tx, &rx, sizeof(uint64_t));
	spawn_ok(&pid, pingpong_actor, &p);
	pingpong_receive(rx, &p);
	join_ok(pid);
	ck_assert_int_eq(p.err, 0);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_actor_ping_pong)
{
	run_in_actor(pingpong_actor_root, NULL);
}
END_TEST

/*
 * A plain thread wakes the actor parked in recv while its worker is busy
 * with a spinner that only passes preemption points (both pinned to that
 * worker).  The spinner gives up after 20 s (failing the test instead of
 * hanging); the thread waits for the actor to take its message, or for
 * the spinner to give up, before it closes (a close would wake the actor
 * too).
 */
static atomic_int busy_got;
static atomic_int busy_gave_up;

static void *check_spinner(void *arg)
{
	uint64_t limit = smarm_now() + 20000 * MS;
	unsigned long n = 0;

	(void)arg;
	while (!atomic_load(&busy_got)) {
		SMARM_CHECK();
		if ((++n & 1023) == 0 && smarm_now() > limit) {
			atomic_store(&busy_gave_up, 1);
			return (void *)1;
		}
	}
	return NULL;
}

static void *busy_wake_thread(void *arg)
{
	smarm_tx *tx = arg;
	uint64_t v = 5;
	int err;

	nap_us(20000);
	err = smarm_send(tx, &v);
	while (err == 0 && !atomic_load(&busy_got) &&
	       !atomic_load(&busy_gave_up))
		nap_us(1000);
	if (err == 0)
		err = smarm_tx_close(tx);
	return (void *)(intptr_t)err;
}

static void *busy_wake_root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid pid;
	pthread_t th;
	void *res = (void *)-1;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	ck_assert_int_eq(spawn_pinned(&pid, check_spinner, NULL), 0);
	ck_assert_int_eq(pthread_create(&th, NULL, busy_wake_thread, tx), 0);
	ck_assert_uint_eq(recv_u64(rx), 5);
	atomic_store(&busy_got, 1);
	ck_assert_int_eq(smarm_join(pid, &res, SMARM_FOREVER), 0);
	ck_assert_msg(res == NULL, "the send did not wake the receiver in "
		      "20 s of the spinner's preemption points");
	ck_assert_int_eq(pthread_join(th, &res), 0);
	ck_assert_ptr_null(res);
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	return NULL;
}

START_TEST(test_thread_wakes_busy_worker)
{
	run_pinned(busy_wake_root, NULL);
}
END_TEST

/* The run waits for a plain thread's send instead of returning EDEADLK:
 * the root is the only actor and parks in recv. */
struct wait_ctx {
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t t0;
};

static void *wait_thread(void *arg)
{
	struct wait_ctx *c = arg;
	uint64_t v = 4242;
	int err;

	nap_us(100000);
	err = smarm_send(c->tx, &v);
	nap_us(50000);
	if (err == 0)
		err = smarm_tx_close(c->tx);
	return (void *)(intptr_t)err;
}

static void *wait_root(void *arg)
{
	struct wait_ctx *c = arg;
	uint64_t v = 0;

	ck_assert_uint_eq(recv_u64(c->rx), 4242);
	ck_assert_uint_ge(smarm_now() - c->t0, 100 * MS);
	/* the close, 50 ms later, is waited for too */
	ck_assert_int_eq(smarm_recv(c->rx, &v, SMARM_FOREVER), EPIPE);
	ck_assert_uint_ge(smarm_now() - c->t0, 150 * MS);
	ck_assert_int_eq(smarm_rx_close(c->rx), 0);
	return (void *)0x600d;
}

START_TEST(test_run_waits_for_thread)
{
	struct wait_ctx c;
	pthread_t th;
	void *res = NULL, *tres = (void *)-1;

	chan_ok(&c.tx, &c.rx, sizeof(uint64_t));
	c.t0 = smarm_now();
	ck_assert_int_eq(pthread_create(&th, NULL, wait_thread, &c), 0);
	ck_assert_int_eq(smarm_run(wait_root, &c, &res), 0);
	ck_assert_ptr_eq(res, (void *)0x600d);
	ck_assert_int_eq(pthread_join(th, &tres), 0);
	ck_assert_ptr_null(tres);
}
END_TEST

/*
 * rx_close races with threads that keep sending: each sees EPIPE in the
 * end, and the last close (by a thread) frees the channel.  The senders
 * keep at most RACE_WINDOW messages ahead of the receiver, so that they
 * are sending while it closes without flooding the heap (valgrind runs
 * one thread at a time and would let one sender run far ahead).
 */
#define RACERS 4
#define RACE_WINDOW 500
#define RACE_CAP 10000000u

static atomic_ulong race_received;
static atomic_int race_closed;

static void *race_thread(void *arg)
{
	struct sender *s = arg;
	uint64_t v;
	uint32_t i;
	int err = 0;

	for (i = 0; i < RACE_CAP && err == 0; i++) {
		while (i >= atomic_load(&race_received) + RACE_WINDOW &&
		       !atomic_load(&race_closed))
			sched_yield();
		v = (uint64_t)s->id << 32 | i;
		err = smarm_send(s->tx, &v);
	}
	s->n = i;
	s->err = err;
	if (smarm_tx_close(s->tx) != 0)
		s->err = -1;
	return NULL;
}

static void *race_root(void *arg)
{
	struct sender s[RACERS];
	smarm_tx *tx;
	smarm_rx *rx;
	uint64_t v;
	int i;

	(void)arg;
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < RACERS; i++) {
		s[i] = (struct sender){ .tx = smarm_tx_clone(tx),
					.id = (uint32_t)i };
		ck_assert_int_eq(pthread_create(&s[i].th, NULL, race_thread,
						&s[i]), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	for (i = 0; i < 2000; i++) {
		ck_assert_int_eq(smarm_recv(rx, &v, SMARM_FOREVER), 0);
		atomic_fetch_add(&race_received, 1);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	atomic_store(&race_closed, 1);
	for (i = 0; i < RACERS; i++) {
		ck_assert_int_eq(pthread_join(s[i].th, NULL), 0);
		ck_assert_int_eq(s[i].err, EPIPE);
		ck_assert_uint_lt(s[i].n, RACE_CAP);
	}
	return NULL;
}

START_TEST(test_rx_close_races_senders)
{
	run_in_actor(race_root, NULL);
}
END_TEST

/* ---- many threads ---------------------------------------------------------- */

/*
 * 100 plain threads send 100,000 messages each to one actor (10 million
 * in all): every one arrives exactly once, each thread's in order.  Under
 * valgrind, which runs the threads one at a time, 100 threads send 1,000
 * each.
 */
#define STRESS_THREADS 100
#define STRESS_MSGS 100000u
#define STRESS_MSGS_VALGRIND 1000u

static void *stress_root(void *arg)
{
	uint32_t per = (uint32_t)(uintptr_t)arg, i;
	struct sender *s = calloc(STRESS_THREADS, sizeof(*s));
	smarm_tx *tx;
	smarm_rx *rx;

	ck_assert_ptr_nonnull(s);
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < STRESS_THREADS; i++) {
		s[i].tx = smarm_tx_clone(tx);
		s[i].id = i;
		s[i].n = per;
		ck_assert_int_eq(pthread_create(&s[i].th, NULL, thread_sender,
						&s[i]), 0);
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	receive_all(rx, STRESS_THREADS, per);
	for (i = 0; i < STRESS_THREADS; i++) {
		ck_assert_int_eq(pthread_join(s[i].th, NULL), 0);
		ck_assert_int_eq(s[i].err, 0);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	free(s);
	return NULL;
}

START_TEST(test_many_threads)
{
	uint32_t per = RUNNING_ON_VALGRIND ? STRESS_MSGS_VALGRIND : STRESS_MSGS;

	run_in_actor(stress_root, (void *)(uintptr_t)per);
}
END_TEST

/*
 * Mixed: 20 actors (yielding every few sends) and 20 plain threads
 * (the first few starting late, while the receiver may be parked) send
 * 20,000 messages each; under valgrind 1,000 each.
 */
#define MIXED_ACTORS 20
#define MIXED_THREADS 20
#define MIXED_MSGS 20000u
#define MIXED_MSGS_VALGRIND 1000u

static void *mixed_root(void *arg)
{
	uint32_t per = (uint32_t)(uintptr_t)arg, i;
	uint32_t n = MIXED_ACTORS + MIXED_THREADS;
	struct sender *s = calloc(n, sizeof(*s));
	smarm_tx *tx;
	smarm_rx *rx;

	ck_assert_ptr_nonnull(s);
	chan_ok(&tx, &rx, sizeof(uint64_t));
	for (i = 0; i < n; i++) {
		s[i].tx = smarm_tx_clone(tx);
		s[i].id = i;
		s[i].n = per;
		if (i < MIXED_ACTORS) {
			s[i].yield_every = 1 + i % 5;
			spawn_ok(&s[i].pid, actor_sender, &s[i]);
		} else {
			s[i].nap_first_us = i % 4 == 0 ? 20000 : 0;
			ck_assert_int_eq(pthread_create(&s[i].th, NULL,
							thread_sender, &s[i]),
					 0);
		}
	}
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	receive_all(rx, n, per);
	for (i = 0; i < n; i++) {
		if (i < MIXED_ACTORS)
			join_ok(s[i].pid);
		else
			ck_assert_int_eq(pthread_join(s[i].th, NULL), 0);
		ck_assert_int_eq(s[i].err, 0);
	}
	ck_assert_int_eq(smarm_rx_close(rx), 0);
	free(s);
	return NULL;
}

START_TEST(test_mixed_senders)
{
	uint32_t per = RUNNING_ON_VALGRIND ? MIXED_MSGS_VALGRIND : MIXED_MSGS;

	run_in_actor(mixed_root, (void *)(uintptr_t)per);
}
END_TEST

/* ---- suite ---------------------------------------------------------------- */

static Suite *chan_suite(void)
{
	Suite *s = suite_create("chan");
	TCase *tc;

	tc = tcase_add(s, "errors");
	tcase_add_test(tc, test_channel_einval);
	tcase_add_test(tc, test_null_args);
	tcase_add_test(tc, test_eperm_no_runtime);
	tcase_add_test(tc, test_eperm_plain_thread);
	tcase_add_test(tc, test_eagain);
	tcase_add_test(tc, test_etimedout_zero);
	tcase_add_test(tc, test_epipe_recv);
	tcase_add_test(tc, test_epipe_send);
	tcase_add_test(tc, test_enomem_injected);
	tcase_add_test(tc, test_enomem);

	tc = tcase_add(s, "roundtrip");
	tcase_add_test(tc, test_roundtrip_sizes);
	tcase_add_test(tc, test_roundtrip_between_actors);
	tcase_add_test(tc, test_fifo_one_sender);

	tc = tcase_add(s, "ownership");
	tcase_add_test(tc, test_move_pointers);
	tcase_add_test(tc, test_move_pointers_threads);

	tc = tcase_add(s, "close");
	tcase_add_test(tc, test_drain_before_epipe);
	tcase_add_test(tc, test_tx_clone);
	tcase_add_test(tc, test_free_rx_first);
	tcase_add_test(tc, test_free_tx_first);
	tcase_add_test(tc, test_free_interleaved);
	tcase_add_test(tc, test_free_orders_runtime);
	tcase_add_test(tc, test_rx_close_discards);

	tc = tcase_add(s, "order");
	tcase_add_test(tc, test_order_many_actors);

	tc = tcase_add(s, "timeout");
	tcase_add_test(tc, test_recv_timeout_fires);
	tcase_add_test(tc, test_recv_timeout_not_fired);
	tcase_add_test(tc, test_close_wakes_receiver);

	tc = tcase_add(s, "threads");
	tcase_add_test(tc, test_before_runtime);
	tcase_add_test(tc, test_thread_wakes_idle_worker);
	tcase_add_test(tc, test_thread_wakes_busy_worker);
	tcase_add_test(tc, test_thread_ping_pong);
	tcase_add_test(tc, test_actor_ping_pong);
	tcase_add_test(tc, test_run_waits_for_thread);
	tcase_add_test(tc, test_rx_close_races_senders);

	tc = tcase_add(s, "stress");
	tcase_add_test(tc, test_many_threads);
	tcase_add_test(tc, test_mixed_senders);

	return s;
}

int main(void)
{
	return run_suite(chan_suite());
}
