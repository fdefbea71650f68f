/*
 * gdb_target.c - a program for tests/check_gdb.sh: stops (at
 * gdb_stop_here) with an actor parked in smarm_recv and one asleep, their
 * pids in globals for the script's commands.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "smarm.h"

uint64_t waiter_pid, sleeper_pid;

void gdb_stop_here(void);

__attribute__((noinline)) void gdb_stop_here(void)
{
	__asm__ volatile("" ::: "memory");
}

static __attribute__((noinline)) void *waiter_fn(void *arg)
{
	int v = 0;

	return (void *)(intptr_t)smarm_recv(arg, &v, SMARM_FOREVER);
}

static __attribute__((noinline)) void *sleeper_fn(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)smarm_sleep(60000000000ull);
}

static smarm_pid spawn_named(const char *name, smarm_fn fn, void *arg)
{
	smarm_spawn_opts o;
	smarm_pid pid;

	smarm_spawn_opts_init(&o);
	o.name = name;
	if (smarm_spawn_opt(&pid, fn, arg, &o) != 0)
		abort();
	return pid;
}

static void *root(void *arg)
{
	smarm_tx *tx;
	smarm_rx *rx;
	smarm_pid w, s;

	(void)arg;
	if (smarm_channel(&tx, &rx, sizeof(int)) != 0)
		abort();
	w = spawn_named("waiter", waiter_fn, rx);
	s = spawn_named("sleeper", sleeper_fn, NULL);
	smarm_sleep(20000000);
	waiter_pid = w.id;
	sleeper_pid = s.id;
	gdb_stop_here();
	smarm_tx_close(tx);
	smarm_cancel(s);
	smarm_join(w, NULL, SMARM_FOREVER);
	smarm_join(s, NULL, SMARM_FOREVER);
	smarm_rx_close(rx);
	return NULL;
}

int main(void)
{
	int err = smarm_run(root, NULL, NULL);

	if (err)
		fprintf(stderr, "smarm_run: %s\n", smarm_strerror(err));
	return err ? 1 : 0;
}
