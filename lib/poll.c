/*
 * poll.c - the runtime's poller: its epoll instance, the fd table, and
 * the signals blocked for smarm_signal_wait (see poll.h).
 *
 * Owns: struct smarm__poller, the fd records, rt->io_* fields.
 * May touch: sched.h (park, wake, cancellation) and below.
 *
 * Who polls.  No thread is set aside for it.  A worker about to sleep
 * while some fd is registered takes the poller's turn (rt->io_owner) and
 * sleeps in epoll_wait instead of on its futex word, until the nearest
 * deadline it would have slept to; the others sleep as usual.  A waker
 * finds it "in the kernel" as 2 (worker.h) and writes the eventfd, which
 * is in the epoll set.  A busy worker looks without waiting every
 * IO_BUSY_NS at most (rt->io_busy, from its scheduling decisions), so
 * fds are served while every worker runs actors.  The actors an event
 * wakes go to the polling worker's queues, from where idle workers take
 * them as they take any work.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#endif

#include "smarm.h"
#include "poll.h"
#include "sched.h"

/* The fd table: chunks of PD_CHUNK records, made on first use and kept
 * until the runtime is freed, so a canceller's stale look is harmless. */
#define PD_BITS 10
#define PD_CHUNK (1u << PD_BITS)
#define PD_CHUNKS 4096u

/* Events taken per epoll_wait. */
#define POLL_EVENTS 128
/* A busy worker looks at the epoll set at most this often. */
#define IO_BUSY_NS 50000u
/* How often the fds actors wait on are checked for a close(2) that
 * smarm_close did not see. */
#define SWEEP_NS 1000000000u
/* epoll's key of the eventfd; fds are small non-negative numbers. */
#define EFD_KEY UINT64_MAX
/* An fd's word: an edge came while nobody waited. */
#define POLL_READY ((AO_t)1)

typedef struct smarm__pollfd {
	smarm__waitable wt;           /* first: a canceller's kick */
	smarm__atomic word[2];        /* 0, POLL_READY or the waiting actor */
	smarm__atomic gen;            /* bumped by smarm_close */
	smarm__atomic armed;          /* gen + 1 when registered in that gen */
	smarm__atomic stream;         /* gen + 1: a stream socket, so made */
	smarm__atomic drained;        /* gen + 1: a read found it emptied */
	smarm__atomic ended;          /* gen + 1: a hang-up or error came */
} smarm__pollfd;

struct smarm__poller {
	int epfd;
	smarm__lock grow;             /* adding a chunk */
	pthread_t thread0;            /* the thread that called the run */
	/* The signals smarm_signal_wait waits for in this run: the set
	 * grows under siglock, sig_gen counts its changes, sig_done0 is the
	 * change thread 0 has made its own. */
	smarm__lock siglock;
	sigset_t sigs;
	smarm__atomic sig_gen, sig_done0;
	uint64_t next_sweep;          /* the turn's */
	smarm__atomic chunk[PD_CHUNKS];
};

/* Set when the kernel (or valgrind, which does not know it) lacks
 * epoll_pwait2: then whole milliseconds. */
static smarm__atomic no_pwait2;

/* Changes of any runtime's signal set are numbered from one counter, so
 * that a thread's record of what it blocked (sig_seen) never matches a
 * change of another runtime. */
static smarm__atomic sig_changes;

/* The change of the signal set the calling thread blocked last. */
static __thread AO_t sig_seen;

static void pd_kick(smarm__waitable *obj, smarm__actor *a)
{
	smarm__pollfd *pd = (smarm__pollfd *)(void *)obj;
	unsigned d;

	for (d = 0; d < 2; d++)
		if (smarm__atomic_cas_full(&pd->word[d], (AO_t)a, 0)) {
			smarm__wake(a);
			return;
		}
}

/* fd's record, made if need be (alloc); NULL when out of range or out of
 * memory. */
static smarm__pollfd *pd_get(struct smarm__poller *p, int fd, int alloc)
{
	unsigned c = (unsigned)fd >> PD_BITS, i;
	AO_t v;

	if (fd < 0 || c >= PD_CHUNKS)
		return NULL;
	v = smarm__atomic_load_acquire(&p->chunk[c]);
	if (v == 0 && alloc) {
		smarm__lock_take(&p->grow);
		v = smarm__atomic_load_relaxed(&p->chunk[c]);
		if (v == 0) {
			smarm__pollfd *n = calloc(PD_CHUNK, sizeof(*n));

			for (i = 0; n && i < PD_CHUNK; i++)
				n[i].wt.kick = pd_kick;
			v = (AO_t)n;
			smarm__atomic_store_release(&p->chunk[c], v);
		}
		smarm__lock_drop(&p->grow);
	}
	return v ? &((smarm__pollfd *)v)[fd & (PD_CHUNK - 1)] : NULL;
}

static void drain_efd(int efd)
{
	uint64_t n;

	while (read(efd, &n, sizeof(n)) == (ssize_t)sizeof(n))
		;
}

int smarm__poll_init(struct smarm_runtime *rt)
{
	struct smarm__poller *p = calloc(1, sizeof(*p));
	struct epoll_event ev;

	rt->io_efd = -1;
	if (p == NULL)
		return ENOMEM;
	p->epfd = epoll_create1(EPOLL_CLOEXEC);
	rt->io_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	rt->poller = p;
	if (p->epfd < 0 || rt->io_efd < 0)
		return errno == ENOMEM ? ENOMEM : EMFILE;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN;
	ev.data.u64 = EFD_KEY;
	if (epoll_ctl(p->epfd, EPOLL_CTL_ADD, rt->io_efd, &ev) != 0)
		return ENOMEM;
	smarm__lock_init(&p->grow);
	smarm__lock_init(&p->siglock);
	sigemptyset(&p->sigs);
	rt->io_busy = smarm__poll_busy;
#ifdef HAVE_VALGRIND_VALGRIND_H
	if (RUNNING_ON_VALGRIND)
		smarm__atomic_store_relaxed(&no_pwait2, 1);
#endif
	return 0;
}

void smarm__poll_fini(struct smarm_runtime *rt)
{
	struct smarm__poller *p = rt->poller;
	unsigned c;

	if (rt->io_efd >= 0)
		close(rt->io_efd);
	rt->io_efd = -1;
	if (p == NULL)
		return;
	if (p->epfd >= 0)
		close(p->epfd);
	for (c = 0; c < PD_CHUNKS; c++)
		free((void *)smarm__atomic_load_relaxed(&p->chunk[c]));
	free(p);
	rt->poller = NULL;
}

void smarm__poll_prepare(struct smarm_runtime *rt)
{
	struct smarm__poller *p = rt->poller;
	unsigned c, i;

	for (c = 0; c < PD_CHUNKS; c++) {
		smarm__pollfd *pd =
			(smarm__pollfd *)smarm__atomic_load_relaxed(&p->chunk[c]);

		/* Actors a run abandoned may still be named here. */
		for (i = 0; pd && i < PD_CHUNK; i++) {
			smarm__atomic_store_relaxed(&pd[i].word[0], 0);
			smarm__atomic_store_relaxed(&pd[i].word[1], 0);
		}
	}
	drain_efd(rt->io_efd);
	p->thread0 = pthread_self();
	memset(&p->sigs, 0, sizeof(p->sigs));
	smarm__atomic_store_relaxed(&p->sig_done0,
				    smarm__atomic_load_relaxed(&p->sig_gen));
	smarm__atomic_store_relaxed(&rt->io_armed, 0);
	smarm__atomic_store_relaxed(&rt->io_owner, 0);
	smarm__atomic_store_relaxed(&rt->io_polled_at, 0);
	p->next_sweep = smarm_now() + SWEEP_NS;
}

/* ---- polling ---------------------------------------------------------------- */

/* An edge in direction d of pd: wake its waiter, or leave the word
 * READY for the next one.  1 when an actor was woken. */
static unsigned pd_ready(smarm__pollfd *pd, unsigned d)
{
	smarm__atomic *word = &pd->word[d];
	AO_t v;

	for (;;) {
		v = smarm__atomic_load_acquire(word);
		if (v == POLL_READY)
			return 0;
		if (v == 0) {
			if (smarm__atomic_cas_full(word, 0, POLL_READY))
				return 0;
		} else if (smarm__atomic_cas_full(word, v, 0)) {
			smarm__wake((smarm__actor *)v);
			return 1;
		}
	}
}

/* epoll_wait until deadline (see smarm__poll_run). */
static int wait_events(int epfd, struct epoll_event *ev, uint64_t deadline)
{
	struct timespec ts;
	uint64_t now, d;
	int n;

	if (deadline == 0)
		return epoll_wait(epfd, ev, POLL_EVENTS, 0);
	if (deadline == UINT64_MAX)
		return epoll_wait(epfd, ev, POLL_EVENTS, -1);
	now = smarm_now();
	if (deadline <= now)
		return epoll_wait(epfd, ev, POLL_EVENTS, 0);
	d = deadline - now;
#ifdef HAVE_EPOLL_PWAIT2
	if (!smarm__atomic_load_relaxed(&no_pwait2)) {
		ts.tv_sec = (time_t)(d / 1000000000u);
		ts.tv_nsec = (long)(d % 1000000000u);
		n = epoll_pwait2(epfd, ev, POLL_EVENTS, &ts, NULL);
		if (n >= 0 || errno != ENOSYS)
			return n;
		smarm__atomic_store_relaxed(&no_pwait2, 1);
	}
#else
	(void)ts;
#endif
	/* Whole milliseconds, rounded up: never early. */
	d = (d + 999999u) / 1000000u;
	n = epoll_wait(epfd, ev, POLL_EVENTS, d > INT32_MAX ? INT32_MAX : (int)d);
	return n;
}

/* pd's fd is closed: its waiters wake and answer EBADF.  How many. */
static unsigned pd_evict(smarm__pollfd *pd)
{
	unsigned d, woken = 0;
	AO_t v;

	smarm__atomic_fetch_add_full(&pd->gen, 1);
	for (d = 0; d < 2; d++) {
		v = smarm__atomic_load_acquire(&pd->word[d]);
		if (v != 0 && smarm__atomic_cas_full(&pd->word[d], v, 0) &&
		    v != POLL_READY) {
			smarm__wake((smarm__actor *)v);
			woken++;
		}
	}
	return woken;
}

/* An fd closed with close(2) while an actor waits on it leaves the epoll
 * set without a word: every SWEEP_NS the turn asks the kernel about each
 * fd someone waits on.  EPOLL_CTL_MOD fails once the registered file is
 * gone: EBADF when the number is closed (its waiters answer EBADF), ENOENT
 * when another file took the number (it is registered, and its waiters
 * look again). */
static unsigned sweep(struct smarm__poller *p)
{
	struct epoll_event ev;
	unsigned c, i, woken = 0;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	for (c = 0; c < PD_CHUNKS; c++) {
		smarm__pollfd *pd =
			(smarm__pollfd *)smarm__atomic_load_acquire(&p->chunk[c]);

		for (i = 0; pd && i < PD_CHUNK; i++) {
			int fd = (int)(c * PD_CHUNK + i);

			if (smarm__atomic_load_relaxed(&pd[i].word[0]) <=
			    POLL_READY &&
			    smarm__atomic_load_relaxed(&pd[i].word[1]) <=
			    POLL_READY)
				continue;
			ev.data.u64 = (uint64_t)fd;
			if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, fd, &ev) == 0)
				continue;
			if (errno == EBADF) {
				woken += pd_evict(&pd[i]);
			} else if (errno == ENOENT &&
				   epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd,
					     &ev) == 0) {
				/* A new file under the number: registered
				 * now, its waiters look again. */
				woken += pd_ready(&pd[i], SMARM__POLL_IN);
				woken += pd_ready(&pd[i], SMARM__POLL_OUT);
			}
		}
	}
	return woken;
}

unsigned smarm__poll_run(struct smarm_runtime *rt, uint64_t deadline)
{
	struct smarm__poller *p = rt->poller;
	struct epoll_event ev[POLL_EVENTS];
	unsigned woken = 0;
	uint64_t now;
	int n, i;

	if (deadline > p->next_sweep)
		deadline = p->next_sweep;
	n = wait_events(p->epfd, ev, deadline);
	now = smarm_now();
	smarm__atomic_store_relaxed(&rt->io_polled_at, now);
	if (now >= p->next_sweep) {
		woken += sweep(p);
		p->next_sweep = now + SWEEP_NS;
	}
	for (i = 0; i < n; i++) {
		uint32_t e = ev[i].events;
		smarm__pollfd *pd;

		if (ev[i].data.u64 == EFD_KEY) {
			drain_efd(rt->io_efd);
			continue;
		}
		pd = pd_get(p, (int)ev[i].data.u64, 0);
		if (pd == NULL)
			continue;
		/* An end of file or an error stays readable without an
		 * edge: a read that comes back short does not empty it. */
		if (e & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
			smarm__atomic_store_release(
				&pd->ended,
				smarm__atomic_load_relaxed(&pd->gen) + 1);
		if (e & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR | EPOLLPRI))
			woken += pd_ready(pd, SMARM__POLL_IN);
		if (e & (EPOLLOUT | EPOLLHUP | EPOLLERR))
			woken += pd_ready(pd, SMARM__POLL_OUT);
	}
	return woken;
}

void smarm__poll_busy(struct smarm_runtime *rt)
{
	uint64_t now = smarm_now();

	smarm__poll_sigsync(rt);
	if (now - smarm__atomic_load_relaxed(&rt->io_polled_at) < IO_BUSY_NS ||
	    !smarm__poll_own(rt))
		return;
	smarm__poll_run(rt, 0);
	smarm__poll_disown(rt);
}

/* ---- waiting ------------------------------------------------------------------ */

/* Register fd for both directions, edge-triggered: 0, EEXIST (it was),
 * or an errno value. */
static int add(struct smarm_runtime *rt, int fd)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.u64 = (uint64_t)fd;
	return epoll_ctl(rt->poller->epfd, EPOLL_CTL_ADD, fd, &ev) == 0 ? 0 :
		errno;
}

/* An fd is registered in this run (maybe in an earlier one, same epoll
 * set): from now on idle workers poll. */
static void armed_run(struct smarm_runtime *rt)
{
	if (!smarm__poll_armed(rt))
		smarm__atomic_store_full(&rt->io_armed, 1);
}

/* See that fd is registered.  An fd that an accept or a connect made (or
 * a signal wait's signalfd) was registered then, for its generation
 * (smarm__poll_fresh): not asked again until smarm_close.  Any other fd
 * is asked at every wait, one system call that also catches a number
 * closed with close(2) and opened again for a new file. */
static int arm(struct smarm_runtime *rt, smarm__pollfd *pd, int fd, AO_t gen)
{
	int e;

	if (smarm__atomic_load_relaxed(&pd->armed) == gen + 1) {
		armed_run(rt);
		return 0;
	}
	e = add(rt, fd);
	switch (e) {
	case 0:
	case EEXIST:
		armed_run(rt);
		return 0;
	case EPERM:
		return SMARM__POLL_ALWAYS;
	case ENOSPC:
		return ENOMEM;
	default:
		return e;
	}
}

/* Take an edge left for the next waiter: nonzero when there was one. */
static int take_ready(smarm__atomic *word)
{
	return smarm__atomic_load_relaxed(word) == POLL_READY &&
		smarm__atomic_cas_full(word, POLL_READY, 0);
}

int smarm__poll_wait(smarm__actor *self, int fd, unsigned dir,
		     uint64_t timeout)
{
	struct smarm_runtime *rt = smarm__worker_rt(smarm__worker_at_entry());
	smarm__pollfd *pd = pd_get(rt->poller, fd, 1);
	smarm__atomic *word;
	AO_t gen;
	int r;

	if (pd == NULL)
		return fd < 0 ? EBADF : fd >= (int)(PD_CHUNK * PD_CHUNKS) ?
			EMFILE : ENOMEM;
	word = &pd->word[dir];
	gen = smarm__atomic_load_acquire(&pd->gen);
	if (dir == SMARM__POLL_IN)
		smarm__atomic_store_relaxed(&pd->drained, 0);
	r = arm(rt, pd, fd, gen);
	if (r != 0)
		return r;
	if (take_ready(word))
		return 0;
	if (timeout == 0)
		return smarm__atomic_load_relaxed(word) > POLL_READY ? EBUSY :
			ETIMEDOUT;
	smarm__wait_on(self, pd, SMARM__WAIT_OBJ);
	if (!smarm__atomic_cas_full(word, 0, (AO_t)self))
		return take_ready(word) ? 0 : EBUSY;
	/* Announced: a closer or a canceller from now on finds us. */
	if (smarm__atomic_load_acquire(&pd->gen) != gen)
		r = EBADF;
	else if (smarm__cancel_take(self))
		r = ECANCELED;
	else
		r = smarm__park(self, timeout, SMARM__PARK_OPEN);
	if (r != 0)
		smarm__waiter_cancel(word, self, SMARM__PARK_OPEN);
	if (smarm__atomic_load_acquire(&pd->gen) != gen)
		return EBADF;
	if (r == 0 && smarm__cancel_take(self))
		return ECANCELED;
	return r;
}

void smarm__poll_fresh(struct smarm_runtime *rt, int fd, int evict)
{
	smarm__pollfd *pd = pd_get(rt->poller, fd, 1);
	int e;

	if (pd == NULL)
		return; /* the first wait will find out */
	int type = 0;
	socklen_t len = sizeof(type);

	if (evict)
		pd_evict(pd);
	e = add(rt, fd);
	if (e != 0 && e != EEXIST)
		return;
	smarm__atomic_store_relaxed(
		&pd->armed, smarm__atomic_load_relaxed(&pd->gen) + 1);
	if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 &&
	    type == SOCK_STREAM)
		smarm__atomic_store_relaxed(
			&pd->stream, smarm__atomic_load_relaxed(&pd->gen) + 1);
}

/* The record of fd if it is a stream socket registered for its current
 * generation by an accept or a connect, else NULL. */
static smarm__pollfd *stream_of(struct smarm_runtime *rt, int fd)
{
	smarm__pollfd *pd = pd_get(rt->poller, fd, 0);
	AO_t g;

	if (pd == NULL)
		return NULL;
	g = smarm__atomic_load_relaxed(&pd->gen) + 1;
	return smarm__atomic_load_relaxed(&pd->armed) == g &&
		smarm__atomic_load_relaxed(&pd->stream) == g ? pd : NULL;
}

void smarm__poll_drained(struct smarm_runtime *rt, int fd)
{
	smarm__pollfd *pd = stream_of(rt, fd);

	if (pd)
		smarm__atomic_store_relaxed(
			&pd->drained, smarm__atomic_load_relaxed(&pd->gen) + 1);
}

int smarm__poll_is_drained(struct smarm_runtime *rt, int fd)
{
	smarm__pollfd *pd = stream_of(rt, fd);
	AO_t g;

	if (pd == NULL)
		return 0;
	g = smarm__atomic_load_relaxed(&pd->gen) + 1;
	return smarm__atomic_load_relaxed(&pd->drained) == g &&
		smarm__atomic_load_acquire(&pd->ended) != g;
}

void smarm__poll_forget(struct smarm_runtime *rt, int fd)
{
	struct smarm__poller *p = rt->poller;
	smarm__pollfd *pd = pd_get(p, fd, 0);

	if (pd == NULL)
		return; /* never waited on in this runtime */
	pd_evict(pd);
	(void)epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* ---- signals ------------------------------------------------------------------- */

void smarm__poll_sigsync(struct smarm_runtime *rt)
{
	struct smarm__poller *p = rt->poller;
	AO_t gen = smarm__atomic_load_acquire(&p->sig_gen);
	sigset_t set;

	if (gen == sig_seen)
		return;
	smarm__lock_take(&p->siglock);
	set = p->sigs;
	gen = smarm__atomic_load_relaxed(&p->sig_gen);
	smarm__lock_drop(&p->siglock);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	sig_seen = gen;
	if (pthread_equal(pthread_self(), p->thread0))
		smarm__atomic_store_release(&p->sig_done0, gen);
}

AO_t smarm__poll_sigadd(struct smarm_runtime *rt, const sigset_t *set)
{
	struct smarm__poller *p = rt->poller;
	sigset_t both;
	AO_t gen;

	smarm__lock_take(&p->siglock);
	/* sigorset may fill only the words it uses: the rest compare as 0. */
	memset(&both, 0, sizeof(both));
	sigorset(&both, &p->sigs, set);
	if (memcmp(&both, &p->sigs, sizeof(both)) != 0) {
		p->sigs = both;
		smarm__atomic_store_release(
			&p->sig_gen,
			smarm__atomic_fetch_add_full(&sig_changes, 1) + 1);
	}
	gen = smarm__atomic_load_relaxed(&p->sig_gen);
	smarm__lock_drop(&p->siglock);
	/* Workers look at the set where they look at the epoll set. */
	if (!smarm__poll_armed(rt))
		smarm__atomic_store_full(&rt->io_armed, 1);
	smarm__poll_sigsync(rt);
	return gen;
}

int smarm__poll_sigdone(struct smarm_runtime *rt, AO_t gen)
{
	return smarm__atomic_load_acquire(&rt->poller->sig_done0) >= gen;
}
