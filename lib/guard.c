/*
 * guard.c - a stack overflow ends the actor, not the process.
 *
 * An actor that runs into its stack's guard page faults with its stack
 * exhausted, so the fault is taken on the worker thread's alternate
 * signal stack.  When the fault address lies in the guard page of the
 * stack of the actor that this thread runs, the handler makes the
 * interrupted context resume in overflowed(), on the worker's spare stack
 * (sched.h): there the actor panics like any other ("stack overflow
 * (actor N 'name')"), its end is published and its stack goes back to
 * the cache, and the worker runs on.  A stack guarded by a canary only
 * has no guard page: whatever the overflow hit below it is already
 * overwritten, so the process stops with a message that names the actor.
 * Any other fault goes to the handler installed before ours, or gets the
 * default action.
 *
 * Owns: the SIGSEGV and SIGBUS handlers, the alternate signal stacks.
 * May touch: sched.h, stack.h, fiber.h, the public calls.
 */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <ucontext.h>
#include <unistd.h>

#include "smarm.h"
#include "guard.h"
#include "sched.h"
#include "stack.h"

#define PAGE 4096u
/* An alternate stack: the handler needs little, but libc's signal frame
 * with AVX-512 state takes several KiB. */
#define ALTSTACK_SIZE (64u * 1024u)
/* How far below a canary stack a fault still counts as its overflow. */
#define CANARY_REACH (64u * 1024u)

static struct sigaction old_segv, old_bus;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static int init_err;

/* Runs on the worker's spare stack in place of the faulting frame. */
static __attribute__((noreturn, used)) void overflowed(void)
{
	char name[SMARM_NAME_MAX] = "";
	smarm_pid me = smarm_self();

	(void)smarm_name(me, name, sizeof(name));
	smarm_panic("stack overflow (actor %llu '%s')",
		    (unsigned long long)me.id, name);
}

/* Write s to standard error with write(2): a signal handler's means. */
static void say(const char *s)
{
	ssize_t n = write(2, s, strlen(s));

	(void)n;
}

/* The canary case: report the actor and abort (async-signal-safe). */
static __attribute__((noreturn)) void canary_abort(smarm__actor *a)
{
	char num[24], *p = num + sizeof(num) - 1;
	uint64_t id = smarm__slot_pid(a->slot).id;

	*p = '\0';
	do {
		*--p = (char)('0' + id % 10);
		id /= 10;
	} while (id);
	say("smarm: actor ");
	say(p);
	say(" '");
	say(a->slot->name);
	say("' overflowed its stack; aborting\n"
	    "smarm: (stack overflow past a stack guarded by a canary, with "
	    "no guard page)\n");
	abort();
}

/* Not ours: the handler before ours, or the default action. */
static void chain(int sig, siginfo_t *si, void *ctx)
{
	const struct sigaction *old = sig == SIGSEGV ? &old_segv : &old_bus;
	struct sigaction dfl;

	if ((old->sa_flags & SA_SIGINFO) && old->sa_sigaction) {
		old->sa_sigaction(sig, si, ctx);
		return;
	}
	if (old->sa_handler != SIG_DFL && old->sa_handler != SIG_IGN) {
		old->sa_handler(sig);
		return;
	}
	/* Back to the default: the fault happens again on return and takes
	 * its course; a signal sent by someone is sent again. */
	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigaction(sig, &dfl, NULL);
	if (si->si_code <= 0)
		raise(sig);
}

static void handler(int sig, siginfo_t *si, void *ctx)
{
	ucontext_t *uc = ctx;
	smarm__worker *w = smarm__tls_worker;
	smarm__actor *a = w ? smarm__current(w) : NULL;
	const char *addr = si->si_addr;
	const smarm__stack *spare;

	if (a != NULL && a->stack != NULL && si->si_code > 0) {
		const smarm__stack *st = a->stack;

		if (st->guard != SMARM_GUARD_CANARY &&
		    addr >= st->lo - PAGE && addr < st->lo &&
		    (spare = smarm__sched_spare(w, st)) != NULL) {
			/* Resume as if overflowed() had been called there
			 * (and tell a sanitizer that the actor's code moved
			 * to the spare stack, whose shadow starts clean). */
			smarm__fiber_clean(spare->lo,
					   (size_t)(spare->top - spare->lo));
			smarm__fiber_moved(spare->lo,
					   (size_t)(spare->top - spare->lo));
			uc->uc_mcontext.gregs[REG_RSP] = (greg_t)
				(((uintptr_t)spare->top & ~(uintptr_t)15) - 8);
			uc->uc_mcontext.gregs[REG_RIP] = (greg_t)overflowed;
			return;
		}
		if (st->guard == SMARM_GUARD_CANARY && addr < st->lo &&
		    addr >= st->lo - CANARY_REACH)
			canary_abort(a);
	}
	chain(sig, si, ctx);
}

static void install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGSEGV, &sa, &old_segv) != 0 ||
	    sigaction(SIGBUS, &sa, &old_bus) != 0)
		init_err = errno;
}

int smarm__guard_init(void)
{
	pthread_once(&once, install);
	return init_err;
}

int smarm__guard_thread_begin(smarm__altstack *as)
{
	stack_t ss;

	as->mem = malloc(ALTSTACK_SIZE);
	if (as->mem == NULL)
		return ENOMEM;
	ss.ss_sp = as->mem;
	ss.ss_size = ALTSTACK_SIZE;
	ss.ss_flags = 0;
	if (sigaltstack(&ss, &as->old) != 0) {
		free(as->mem);
		as->mem = NULL;
		return ENOMEM;
	}
	return 0;
}

void smarm__guard_thread_end(smarm__altstack *as)
{
	if (as->mem == NULL)
		return;
	/* The thread's previous one back (or none). */
	if (as->old.ss_flags & SS_DISABLE) {
		stack_t off;

		memset(&off, 0, sizeof(off));
		off.ss_flags = SS_DISABLE;
		sigaltstack(&off, NULL);
	} else {
		sigaltstack(&as->old, NULL);
	}
	free(as->mem);
	as->mem = NULL;
}
