/*
 * limit.h - saying which system limit a call ran into, and how to raise
 * it: one line on standard error per limit per runtime.
 *
 * A call that fails on a limit still returns its documented error
 * (ENOMEM, EAGAIN, EMFILE); the line only says why, once: the runtime
 * keeps a word of the limits it already named (`said`, a bit per limit),
 * and a NULL word (a pool or table used on its own) says nothing.
 * SMARM_QUIET_LIMITS in the environment (any value but "0" or empty)
 * silences every line.  The facts (the limits' values) are read when a
 * line is said, never on a path that succeeds.
 *
 * Owns: the limit lines (limit.c).  May touch: atomic.h.
 */
#ifndef SMARM_LIMIT_H
#define SMARM_LIMIT_H

#include <stddef.h>

#include "atomic.h"

/* The limits, a bit each in a `said` word. */
#define SMARM__LIMIT_MAPS 0x1u    /* vm.max_map_count */
#define SMARM__LIMIT_AS 0x2u      /* RLIMIT_AS */
#define SMARM__LIMIT_COMMIT 0x4u  /* vm.overcommit_memory = 2 */
#define SMARM__LIMIT_MEMORY 0x8u  /* memory itself (a cgroup's memory.max) */
#define SMARM__LIMIT_PIDS 0x10u   /* the pid table (SMARM_MAX_ACTORS) */
#define SMARM__LIMIT_THREADS 0x20u /* RLIMIT_NPROC, kernel.threads-max */
#define SMARM__LIMIT_FILES 0x40u  /* RLIMIT_NOFILE */

/* What a line says, read at the time of the failure (or made up by a
 * test).  An rlimit of ~0ul is unlimited; 0 where unknown. */
struct smarm__limit_facts {
	unsigned long max_maps;   /* vm.max_map_count */
	unsigned long maps;       /* mappings of the process */
	unsigned long as;         /* RLIMIT_AS, bytes */
	int overcommit;           /* vm.overcommit_memory */
	unsigned long nproc;      /* RLIMIT_NPROC */
	unsigned long threads_max; /* kernel.threads-max */
	unsigned long nofile;     /* RLIMIT_NOFILE */
	unsigned long pid_cap;    /* the pid table's slots */
};

/* Mappings closer than this to vm.max_map_count count as the limit
 * (stack.c leaves as many to the rest of the process). */
#define SMARM__LIMIT_MAPS_SLACK 2048u

/* Read the facts of the running process (cheap ones only when
 * `maps_too` is 0: the mapping count reads /proc/self/maps). */
void smarm__limit_facts_read(struct smarm__limit_facts *f, int maps_too);

/* Which limit an ENOMEM from mmap, mprotect, madvise or malloc most
 * likely met: MAPS, AS, COMMIT or MEMORY. */
unsigned smarm__limit_classify(const struct smarm__limit_facts *f);

/* The line for `limit`, "smarm: <what>: ...\n", in buf: its length
 * (truncated to size - 1). */
size_t smarm__limit_format(char *buf, size_t size, unsigned limit,
			   const char *what,
			   const struct smarm__limit_facts *f);

/* `what` ran into `limit` (pid_cap: the pid table's slots, for PIDS):
 * say so unless this runtime did already. */
void smarm__limit_hit(smarm__atomic *said, unsigned limit, const char *what,
		      unsigned long pid_cap);

/* `what` failed with ENOMEM (a mapping, a protection or an allocation):
 * name the limit it most likely met.  Only the first such failure of a
 * runtime is looked into (the count of mappings is not cheap). */
void smarm__limit_nomem(smarm__atomic *said, const char *what);

#endif /* SMARM_LIMIT_H */
