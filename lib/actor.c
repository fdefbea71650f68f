/*
 * actor.c - how an actor ends: return, smarm_exit, smarm_panic, or an
 * overwritten stack canary.
 *
 * (Its entry, smarm__actor_main, and the common exit path,
 * smarm__actor_finish, live in sched.c beside the run queue they use.)
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "smarm.h"
#include "actor.h"
#include "sched.h"

void smarm_exit(void *result)
{
	smarm__worker *w = smarm__worker_self();

	if (w == NULL) {
		fputs("smarm: smarm_exit() called outside an actor\n", stderr);
		abort();
	}
	smarm__actor_finish(w->current, result, 0);
}

void smarm_panic(const char *fmt, ...)
{
	smarm__worker *w = smarm__worker_self();
	char *reason = NULL;
	va_list ap;

	if (fmt == NULL)
		fmt = "panic";
	va_start(ap, fmt);
	/* On failure the reason stays NULL: the joiner still learns of the
	 * panic, only its text is lost to the memory shortage. */
	if (vasprintf(&reason, fmt, ap) < 0)
		reason = NULL;
	va_end(ap);
	if (w == NULL) {
		fprintf(stderr, "smarm: smarm_panic() outside an actor: %s\n",
			reason ? reason : fmt);
		abort();
	}
	smarm__actor_finish(w->current, reason, 1);
}

void smarm__actor_overflow(smarm__actor *a)
{
	smarm_pid pid = smarm__slot_pid(a->slot);

	/* The neighbouring memory may be damaged too: no unwinding, no
	 * recovery; stop with a clear message instead of a mystery crash. */
	fprintf(stderr,
		"smarm: stack overflow in actor %llu '%s' (canary overwritten; "
		"stack of %zu bytes)\n",
		(unsigned long long)pid.id, a->slot->name,
		(size_t)(a->stack->top - a->stack->lo));
	abort();
}
