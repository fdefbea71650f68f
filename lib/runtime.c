/*
 * runtime.c - configuration, the runtime's life cycle, the version.
 */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "smarm.h"
#include "atomic.h"
#include "sched.h"

/* One runtime runs at a time in a process: set while one does. */
static smarm__atomic running_any = SMARM__ATOMIC_INIT(0);

static int guard_from_env(void)
{
	const char *e = getenv("SMARM_STACK_GUARD");

	if (e == NULL)
		return SMARM_GUARD_AUTO;
	if (strcmp(e, "madvise") == 0)
		return SMARM_GUARD_MADVISE;
	if (strcmp(e, "mprotect") == 0)
		return SMARM_GUARD_MPROTECT;
	if (strcmp(e, "canary") == 0)
		return SMARM_GUARD_CANARY;
	return SMARM_GUARD_AUTO;
}

void smarm_config_init(smarm_config *cfg)
{
	if (cfg == NULL)
		return;
	memset(cfg, 0, sizeof(*cfg));
	cfg->threads = 1;
	cfg->stack_guard = guard_from_env();
	cfg->stack_size = SMARM_STACK_DEFAULT;
	cfg->preempt_budget = SMARM_PREEMPT_DEFAULT;
}

int smarm_runtime_new(smarm_runtime **rtp, const smarm_config *cfg)
{
	smarm_config def;
	smarm_runtime *rt;
	size_t i;
	int err;

	if (rtp == NULL)
		return EINVAL;
	if (cfg == NULL) {
		smarm_config_init(&def);
		cfg = &def;
	}
	for (i = 0; i < sizeof(cfg->reserved) / sizeof(cfg->reserved[0]); i++)
		if (cfg->reserved[i])
			return EINVAL; /* a field from a later version */
	if (cfg->threads == 0 || cfg->stack_size < SMARM_STACK_MIN ||
	    cfg->stack_size > SMARM_STACK_MAX ||
	    cfg->stack_guard < SMARM_GUARD_AUTO ||
	    cfg->stack_guard > SMARM_GUARD_CANARY)
		return EINVAL;
	if (cfg->threads != 1)
		return ENOTSUP; /* one worker until the multi-worker scheduler */
	/* Aligned as its type asks: the worker's cross-thread fields sit on
	 * their own cache line. */
	rt = aligned_alloc(_Alignof(smarm_runtime), sizeof(*rt));
	if (rt == NULL)
		return ENOMEM;
	memset(rt, 0, sizeof(*rt));
	rt->cfg = *cfg;
	err = smarm__stack_pool_init(&rt->stacks, cfg->stack_guard,
				     cfg->stack_size);
	if (err == 0)
		err = smarm__pidtab_init(&rt->pids);
	if (err) {
		smarm__pidtab_fini(&rt->pids);
		smarm__stack_pool_fini(&rt->stacks);
		free(rt);
		return err;
	}
	*rtp = rt;
	return 0;
}

int smarm_runtime_run(smarm_runtime *rt, smarm_fn fn, void *arg,
		      void **result)
{
	void *res = NULL;
	int panicked = 0, err;

	if (rt == NULL || fn == NULL)
		return EINVAL;
	if (smarm__worker_self() != NULL)
		return EPERM;
	/* Full barrier: everything the previous run wrote is visible to this
	 * thread before it touches the runtime, and ours to the next. */
	if (!smarm__atomic_cas_full(&running_any, 0, 1))
		return EBUSY;
	smarm__atomic_store_release(&rt->running, 1);
	err = smarm__sched_run(rt, fn, arg, &res, &panicked);
	smarm__atomic_store_release(&rt->running, 0);
	smarm__atomic_store_release(&running_any, 0);
	if (err)
		return err;
	if (result)
		*result = res;
	else if (panicked)
		free(res);
	return panicked ? SMARM_EPANIC : 0;
}

void smarm_runtime_free(smarm_runtime *rt)
{
	if (rt == NULL)
		return;
	if (smarm__atomic_load_acquire(&rt->running)) {
		fputs("smarm: smarm_runtime_free() on a running runtime "
		      "refused\n", stderr);
		return;
	}
	smarm__timers_fini(&rt->worker.timers);
	smarm__pidtab_fini(&rt->pids);
	smarm__stack_pool_fini(&rt->stacks);
	free(rt);
}

int smarm_run(smarm_fn fn, void *arg, void **result)
{
	smarm_config cfg;
	smarm_runtime *rt;
	int err;

	if (fn == NULL)
		return EINVAL;
	if (smarm__worker_self() != NULL)
		return EPERM;
	smarm_config_init(&cfg);
	cfg.threads = 1;
	err = smarm_runtime_new(&rt, &cfg);
	if (err)
		return err;
	err = smarm_runtime_run(rt, fn, arg, result);
	smarm_runtime_free(rt);
	return err;
}

unsigned smarm_version(void)
{
	return SMARM_VERSION_HEX;
}

#define STR_(x) #x
#define STR(x) STR_(x)

const char *smarm_version_string(void)
{
	return STR(SMARM_VERSION_MAJOR) "." STR(SMARM_VERSION_MINOR) "."
		STR(SMARM_VERSION_PATCH);
}
