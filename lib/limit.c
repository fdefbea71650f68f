/*
 * limit.c - the line that names a limit a call ran into (limit.h).
 *
 * Owns: the facts read at a failure, their classification, the lines
 * and the once-per-runtime word.
 * May touch: atomic.h.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "limit.h"

/* Set once any ENOMEM of a runtime was looked into. */
#define LOOKED 0x80000000u

static unsigned long read_ulong(const char *path, unsigned long dflt)
{
	FILE *f = fopen(path, "re");
	unsigned long v;

	if (f == NULL)
		return dflt;
	if (fscanf(f, "%lu", &v) != 1)
		v = dflt;
	fclose(f);
	return v;
}

static unsigned long count_maps(void)
{
	FILE *f = fopen("/proc/self/maps", "re");
	unsigned long n = 0;
	int c;

	if (f == NULL)
		return 0;
	while ((c = getc(f)) != EOF)
		n += c == '\n';
	fclose(f);
	return n;
}

static unsigned long rlim(int which)
{
	struct rlimit r;

	if (getrlimit(which, &r) != 0 || r.rlim_cur == RLIM_INFINITY)
		return ~0ul;
	return (unsigned long)r.rlim_cur;
}

void smarm__limit_facts_read(struct smarm__limit_facts *f, int maps_too)
{
	memset(f, 0, sizeof(*f));
	f->max_maps = read_ulong("/proc/sys/vm/max_map_count", 65530);
	f->maps = maps_too ? count_maps() : 0;
	f->as = rlim(RLIMIT_AS);
	f->overcommit = (int)read_ulong("/proc/sys/vm/overcommit_memory", 0);
	f->nproc = rlim(RLIMIT_NPROC);
	f->threads_max = read_ulong("/proc/sys/kernel/threads-max", 0);
	f->nofile = rlim(RLIMIT_NOFILE);
}

unsigned smarm__limit_classify(const struct smarm__limit_facts *f)
{
	if (f->max_maps && f->maps + SMARM__LIMIT_MAPS_SLACK >= f->max_maps)
		return SMARM__LIMIT_MAPS;
	if (f->as != ~0ul)
		return SMARM__LIMIT_AS;
	if (f->overcommit == 2)
		return SMARM__LIMIT_COMMIT;
	return SMARM__LIMIT_MEMORY;
}

/* An rlimit's value as the line shows it. */
static const char *shown(char *buf, size_t size, unsigned long v)
{
	if (v == ~0ul)
		return "unlimited";
	snprintf(buf, size, "%lu", v);
	return buf;
}

/* The line of a memory limit (MAPS, AS, COMMIT, MEMORY): snprintf's. */
static int memory_line(char *buf, size_t size, unsigned limit,
		       const char *what, const struct smarm__limit_facts *f)
{
	char v[32];
	int n;

	switch (limit) {
	case SMARM__LIMIT_MAPS:
		n = snprintf(buf, size,
			     "smarm: %s: out of kernel memory mappings "
			     "(vm.max_map_count = %lu, %lu in use); raise it with "
			     "sysctl -w vm.max_map_count=N, or use the madvise stack "
			     "guard (SMARM_STACK_GUARD=madvise, one mapping per 64 MiB "
			     "of stacks)\n",
			     what, f->max_maps, f->maps);
		break;
	case SMARM__LIMIT_AS:
		n = snprintf(buf, size,
			     "smarm: %s: out of address space (RLIMIT_AS = %s bytes; "
			     "each 256 KiB stack reserves its size); raise it with "
			     "ulimit -v or setrlimit(RLIMIT_AS), or use smaller stacks "
			     "(smarm_config.stack_size)\n",
			     what, shown(v, sizeof(v), f->as));
		break;
	case SMARM__LIMIT_COMMIT:
		n = snprintf(buf, size,
			     "smarm: %s: out of memory the kernel will commit "
			     "(vm.overcommit_memory = 2 counts every stack at its full "
			     "size); raise vm.overcommit_ratio or vm.overcommit_kbytes, "
			     "or set vm.overcommit_memory=0 with sysctl -w\n",
			     what);
		break;
	default: /* SMARM__LIMIT_MEMORY */
		n = snprintf(buf, size,
			     "smarm: %s: out of memory; free some, add swap, or "
			     "raise the memory limit of the process (its cgroup's "
			     "memory.max)\n",
			     what);
	}
	return n;
}

size_t smarm__limit_format(char *buf, size_t size, unsigned limit,
			   const char *what, const struct smarm__limit_facts *f)
{
	char v[32];
	int n;

	switch (limit) {
	case SMARM__LIMIT_PIDS:
		n = snprintf(buf, size,
			     "smarm: %s: the pid table is full (%lu actors live or not "
			     "yet joined); join or detach ended actors, or raise "
			     "SMARM_MAX_ACTORS (at most 268435456)\n",
			     what, f->pid_cap);
		break;
	case SMARM__LIMIT_THREADS:
		n = snprintf(buf, size,
			     "smarm: %s: cannot start a thread (RLIMIT_NPROC = %s, "
			     "kernel.threads-max = %lu); raise them with ulimit -u N or "
			     "sysctl -w kernel.threads-max=N (or the cgroup's "
			     "pids.max), or use fewer threads\n",
			     what, shown(v, sizeof(v), f->nproc), f->threads_max);
		break;
	case SMARM__LIMIT_FILES:
		n = snprintf(buf, size,
			     "smarm: %s: out of file descriptors (RLIMIT_NOFILE = %s); "
			     "raise it with ulimit -n N or setrlimit(RLIMIT_NOFILE) "
			     "(the system's own limit is fs.file-max)\n",
			     what, shown(v, sizeof(v), f->nofile));
		break;
	default:
		n = memory_line(buf, size, limit, what, f);
	}
	if (n < 0)
		return 0;
	return (size_t)n < size ? (size_t)n : size - 1;
}

static int quiet(void)
{
	const char *e = getenv("SMARM_QUIET_LIMITS");

	return e != NULL && *e != '\0' && strcmp(e, "0") != 0;
}

/* Mark bits in *said: nonzero when `limit` was not marked before. */
static int first(smarm__atomic *said, AO_t bits, AO_t limit)
{
	AO_t old;

	do {
		old = smarm__atomic_load_acquire(said);
		if (old & limit)
			return 0;
	} while (!smarm__atomic_cas_full(said, old, old | bits));
	return 1;
}

static void say(unsigned limit, const char *what,
		const struct smarm__limit_facts *f)
{
	char line[512];
	size_t n = smarm__limit_format(line, sizeof(line), limit, what, f);

	/* One write: the line is not cut by another thread's. */
	if (write(STDERR_FILENO, line, n) < 0)
		return;
}

void smarm__limit_hit(smarm__atomic *said, unsigned limit, const char *what,
		      unsigned long pid_cap)
{
	struct smarm__limit_facts f;

	if (said == NULL || !first(said, limit, limit) || quiet())
		return;
	smarm__limit_facts_read(&f, limit == SMARM__LIMIT_MAPS);
	f.pid_cap = pid_cap;
	say(limit, what, &f);
}

void smarm__limit_nomem(smarm__atomic *said, const char *what)
{
	struct smarm__limit_facts f;
	unsigned limit;

	if (said == NULL || !first(said, LOOKED, LOOKED) || quiet())
		return;
	smarm__limit_facts_read(&f, 1);
	limit = smarm__limit_classify(&f);
	if (first(said, limit, limit))
		say(limit, what, &f);
}
