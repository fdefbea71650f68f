/*
 * hello.c - three named actors; one of them panics.
 *
 *   $ cc hello.c $(pkg-config --cflags --libs smarm) -o hello && ./hello
 *   worker-1 returned 10
 *   worker-2 returned 20
 *   worker-3 panicked: bad input 42
 */
#include <smarm.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
	int n = (int)(intptr_t)arg;

	/* Parks this actor only; the others keep running meanwhile. */
	smarm_sleep(n * 10 * 1000000ull);
	if (n == 3)
		smarm_panic("bad input %d", 42);	/* ends this actor only */
	return (void *)(intptr_t)(n * 10);
}

static void *root(void *arg)
{
	smarm_pid pids[3];
	char name[SMARM_NAME_MAX];
	void *res;
	int i, err;

	(void)arg;
	for (i = 0; i < 3; i++) {
		smarm_spawn_opts opts;

		smarm_spawn_opts_init(&opts);
		snprintf(name, sizeof(name), "worker-%d", i + 1);
		opts.name = name;	/* copied by smarm_spawn_opt() */
		err = smarm_spawn_opt(&pids[i], worker, (void *)(intptr_t)(i + 1),
				      &opts);
		if (err)
			smarm_panic("spawn: %s", smarm_strerror(err));
	}

	for (i = 0; i < 3; i++) {
		/* The name is readable until the actor is joined. */
		smarm_name(pids[i], name, sizeof(name));
		err = smarm_join(pids[i], &res, SMARM_FOREVER);
		if (err == 0) {
			printf("%s returned %d\n", name, (int)(intptr_t)res);
		} else if (err == SMARM_EPANIC) {
			printf("%s panicked: %s\n", name, (char *)res);
			free(res);	/* the reason belongs to the joiner */
		} else {
			smarm_panic("join: %s", smarm_strerror(err));
		}
	}
	return NULL;
}

int main(void)
{
	void *reason;
	int err;

	err = smarm_run(root, NULL, &reason);
	if (err == SMARM_EPANIC) {
		fprintf(stderr, "hello: %s\n", (char *)reason);
		free(reason);
	} else if (err) {
		fprintf(stderr, "hello: %s\n", smarm_strerror(err));
	}
	return err ? 1 : 0;
}
