/*
 * watch.c - a run's watcher: the dump on a signal (SMARM_DUMP_SIGNAL)
 * and the watchdog (smarm_config.watchdog_ms).
 *
 * Owns: the watcher thread of a run, the dump signal's handler, the
 * watchdog's samples.
 * May touch: dump.h (the dump's text), idle.h (what a worker shows),
 * poll.h (the set of asynchronous signals), sched.h, pid.h, timer.h.
 *
 * One thread per run, started only when either is configured.  It waits
 * in poll(2) on an eventfd, with the watchdog's slice as timeout.
 *
 * The signal.  Its handler only writes to the eventfd (async-signal-safe,
 * takes nothing); the watcher wakes and writes the dump to stderr, from
 * a thread that holds no lock of the runtime's and that the workers never
 * wait for, so a dump cannot deadlock whatever the workers were doing
 * when the signal came.  The process goes on.  The watcher blocks every
 * asynchronous signal, like workers 1..n: the signal is taken by the
 * run's caller (worker 0) or a thread of the program's.  The eventfd is
 * made once and kept for the life of the process, so that a handler that
 * runs late never writes to a closed (or reused) fd number.
 *
 * The watchdog.  Every slice the watcher reads each worker's switch
 * counter and current actor (plain loads: the workers pay nothing, and
 * read no clock for it).  A worker that runs an actor and whose counter
 * has not moved for longer than a slice is stuck in that actor: one
 * warning on stderr, then nothing more until its counter moves again.
 */
#include "config.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "smarm.h"
#include "dump.h"
#include "idle.h"
#include "pid.h"
#include "poll.h"
#include "sched.h"
#include "timer.h"
#include "watch.h"

/* The process's watcher eventfd, made once (see above). */
static int wfd = -1;
static pthread_once_t wfd_once = PTHREAD_ONCE_INIT;

/* The run being watched: one run at a time in a process (runtime.c). */
static struct {
	pthread_t id;
	int started;
	int sig;                      /* the dump signal, 0 = none */
	struct sigaction old;         /* its action before the run */
	unsigned ms;                  /* the watchdog's slice, 0 = off */
	struct smarm_runtime *rt;
	smarm__atomic stop;
	uint64_t *last, *since;       /* per worker: switches, seen since */
	unsigned char *warned;        /* per worker: this episode's warned */
} W;

static void make_wfd(void)
{
	wfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
}

static void poke(void)
{
	static const uint64_t one = 1;

	/* Cannot fail but when the counter is full: a wake is due anyway. */
	(void)!write(wfd, &one, sizeof(one));
}

static void on_signal(int sig)
{
	int e = errno;

	(void)sig;
	poke();
	errno = e;
}

/* ---- SMARM_DUMP_SIGNAL ------------------------------------------------------- */

static const struct { const char *name; int sig; } names[] = {
	{ "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT },
	{ "TRAP", SIGTRAP }, { "ABRT", SIGABRT }, { "USR1", SIGUSR1 },
	{ "USR2", SIGUSR2 }, { "PIPE", SIGPIPE }, { "ALRM", SIGALRM },
	{ "TERM", SIGTERM }, { "CHLD", SIGCHLD }, { "CONT", SIGCONT },
	{ "TSTP", SIGTSTP }, { "TTIN", SIGTTIN }, { "TTOU", SIGTTOU },
	{ "URG", SIGURG }, { "XCPU", SIGXCPU }, { "XFSZ", SIGXFSZ },
	{ "VTALRM", SIGVTALRM }, { "PROF", SIGPROF }, { "WINCH", SIGWINCH },
	{ "IO", SIGIO }, { "PWR", SIGPWR }, { "SYS", SIGSYS },
};

/* A signal a handler may be set for and that the runtime does not use
 * itself (SIGSEGV and SIGBUS are the stack guard's). */
static int usable(int sig)
{
	return sig > 0 && sig < NSIG && sig != SIGKILL && sig != SIGSTOP &&
		sig != SIGSEGV && sig != SIGBUS && sig != SIGILL &&
		sig != SIGFPE;
}

/* SMARM_DUMP_SIGNAL as a signal number: a name (QUIT or SIGQUIT) or a
 * number; 0 when unset, and when unusable, with a warning. */
static int dump_signal(void)
{
	const char *e = getenv("SMARM_DUMP_SIGNAL"), *n;
	char *end;
	long v;
	size_t i;

	if (e == NULL || *e == '\0')
		return 0;
	if (*e >= '0' && *e <= '9') {
		v = strtol(e, &end, 10);
		if (*end == '\0' && usable((int)v) && v < NSIG)
			return (int)v;
	} else {
		n = strncmp(e, "SIG", 3) == 0 ? e + 3 : e;
		for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
			if (strcmp(n, names[i].name) == 0)
				return names[i].sig;
	}
	fprintf(stderr, "smarm: SMARM_DUMP_SIGNAL=%s is not a signal smarm "
		"can take; no dump on a signal\n", e);
	return 0;
}

/* ---- the watchdog ------------------------------------------------------------- */

static void warn_stuck(unsigned i, const smarm__actor *a, uint64_t ns)
{
	const smarm__slot *s = a->slot;   /* slots are never freed in a run */
	char name[SMARM_NAME_MAX], line[256];
	size_t k;
	int n;

	for (k = 0; k + 1 < sizeof(name) && s->name[k]; k++)
		name[k] = s->name[k] >= 0x20 && s->name[k] < 0x7f ?
			s->name[k] : '?';
	name[k] = '\0';
	n = snprintf(line, sizeof(line), "smarm: watchdog: worker %u has run "
		     "actor %llu '%s' for over %llu ms without a switch\n", i,
		     (unsigned long long)smarm__slot_pid(s).id, name,
		     (unsigned long long)(ns / 1000000u));
	if (n > 0)
		(void)!write(2, line, (size_t)n < sizeof(line) ?
			     (size_t)n : sizeof(line) - 1);
}

static void sample(void)
{
	uint64_t now = smarm_now(), slice = (uint64_t)W.ms * 1000000u;
	smarm__wpeek wp;
	unsigned i;

	for (i = 0; i < W.rt->nworkers; i++) {
		smarm__idle_peek(W.rt, i, &wp);
		if (wp.current == NULL || wp.switches != W.last[i]) {
			W.last[i] = wp.switches;
			W.since[i] = now;
			W.warned[i] = 0;
		} else if (!W.warned[i] && now - W.since[i] > slice) {
			W.warned[i] = 1;
			warn_stuck(i, wp.current, now - W.since[i]);
		}
	}
}

/* ---- the watcher ------------------------------------------------------------- */

static void *watcher(void *p)
{
	struct pollfd pfd = { wfd, POLLIN, 0 };
	char why[32];
	uint64_t v;
	int r;

	(void)p;
	snprintf(why, sizeof(why), "signal %d", W.sig);
	for (;;) {
		r = poll(&pfd, 1, W.ms ? (int)W.ms : -1);
		if (smarm__atomic_load_acquire(&W.stop))
			break;
		if (r > 0 && read(wfd, &v, sizeof(v)) == (ssize_t)sizeof(v) &&
		    W.sig)
			(void)smarm__dump_rt(W.rt, 2, why);
		if (W.ms)
			sample();
	}
	return NULL;
}

static int arrays(unsigned n)
{
	W.last = calloc(n, sizeof(*W.last));
	W.since = calloc(n, sizeof(*W.since));
	W.warned = calloc(n, sizeof(*W.warned));
	return W.last && W.since && W.warned ? 0 : ENOMEM;
}

static void arrays_free(void)
{
	free(W.last);
	free(W.since);
	free(W.warned);
	W.last = W.since = NULL;
	W.warned = NULL;
}

int smarm__watch_start(struct smarm_runtime *rt)
{
	struct sigaction sa;
	sigset_t all, old;
	int err;

	W.started = 0;
	W.ms = rt->cfg.watchdog_ms;
	W.sig = dump_signal();
	if (W.ms == 0 && W.sig == 0)
		return 0;
	pthread_once(&wfd_once, make_wfd);
	if (wfd < 0)
		return EMFILE;
	W.rt = rt;
	smarm__atomic_store_relaxed(&W.stop, 0);
	if (arrays(rt->nworkers) != 0) {
		arrays_free();
		return ENOMEM;
	}
	smarm__sigset_async(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	err = pthread_create(&W.id, NULL, watcher, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		arrays_free();
		return EAGAIN;
	}
	W.started = 1;
	if (W.sig) {
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_signal;
		sa.sa_flags = SA_RESTART;
		sigemptyset(&sa.sa_mask);
		sigaction(W.sig, &sa, &W.old);
	}
	return 0;
}

void smarm__watch_stop(struct smarm_runtime *rt)
{
	(void)rt;
	if (!W.started)
		return;
	if (W.sig)
		sigaction(W.sig, &W.old, NULL);
	smarm__atomic_store_release(&W.stop, 1);
	poke();
	pthread_join(W.id, NULL);
	arrays_free();
	W.started = 0;
}
