/*
 * faultinject.c - failures injected into the system and C library calls
 * that libsmarm itself makes, for the fault sweep (tests/check_faults.sh).
 *
 * Owns: the counters of the library's calls and the injected failures.
 * May touch: nothing of the library; it is linked into a test-only copy
 * of it, tests/libsmarm-fault.la.
 *
 * How: that copy is linked from the library's objects with
 * -Wl,--wrap=NAME for every call below, so the library's references to
 * NAME go to __wrap_NAME here and __real_NAME is the C library's.  Calls
 * made by the test program, by the C library itself (a thread's stack,
 * stdio's buffers) or by valgrind are not wrapped and not counted.
 *
 * Environment:
 *   SMARM_FAULT=call:N[:ERRNO][,call:N[:ERRNO]...]
 *       the Nth call (from 1) of that kind fails, once, with the errno
 *       value named (ENOMEM, EAGAIN, EMFILE, ENOSPC, ENFILE) or its
 *       default below; "call:N+" fails the Nth and every later one.
 *   SMARM_FAULT_REPORT=FILE
 *       at exit, one line per kind "count CALL N" (calls made), and
 *       "fired CALL N ERRNO" for each failure injected; "-" is stderr.
 *   SMARM_FAULT_TRACE=1
 *       a backtrace on standard error at each failure injected.
 *
 * epoll_ctl counts EPOLL_CTL_ADD only: the library's MOD is its probe
 * whether a file is still open, and DEL its clean-up; neither allocates.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <execinfo.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

enum {
	F_MMAP, F_MPROTECT, F_MADVISE, F_MALLOC, F_CALLOC, F_REALLOC,
	F_POSIX_MEMALIGN, F_ALIGNED_ALLOC, F_PTHREAD_CREATE, F_EPOLL_CREATE1,
	F_EPOLL_CTL, F_EVENTFD, F_SIGNALFD, F_ACCEPT4, F_NKINDS
};

static const struct {
	const char *name;
	int err; /* the default errno of an injected failure */
} kinds[F_NKINDS] = {
	{ "mmap", ENOMEM },	      { "mprotect", ENOMEM },
	{ "madvise", ENOMEM },	      { "malloc", ENOMEM },
	{ "calloc", ENOMEM },	      { "realloc", ENOMEM },
	{ "posix_memalign", ENOMEM }, { "aligned_alloc", ENOMEM },
	{ "pthread_create", EAGAIN }, { "epoll_create1", EMFILE },
	{ "epoll_ctl", ENOMEM },      { "eventfd", EMFILE },
	{ "signalfd", EMFILE },	      { "accept4", EMFILE },
};

static const struct {
	const char *name;
	int err;
} errnames[] = {
	{ "ENOMEM", ENOMEM }, { "EAGAIN", EAGAIN }, { "EMFILE", EMFILE },
	{ "ENFILE", ENFILE }, { "ENOSPC", ENOSPC },
};

#define MAX_SPECS 8

static struct {
	int kind;
	unsigned long n;
	int err;
	int sticky; /* fail the Nth and every later call */
} specs[MAX_SPECS];
static int nspecs;
static unsigned long counts[F_NKINDS];
static unsigned long fired[F_NKINDS];
static int fired_err[F_NKINDS];
static unsigned long fired_at[F_NKINDS];
static int trace;

static void show(int k, unsigned long n)
{
	void *pcs[32];

	fprintf(stderr, "faultinject: %s call %lu fails here:\n",
		kinds[k].name, n);
	backtrace_symbols_fd(pcs, backtrace(pcs, 32), 2);
}

static int err_of(const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (strcmp(s, errnames[i].name) == 0)
			return errnames[i].err;
	return atoi(s);
}

/* One "call:N[+][:ERRNO]" of SMARM_FAULT. */
static void parse_one(char *item)
{
	char *n = strchr(item, ':'), *e, *end;
	int k;

	if (n == NULL || nspecs == MAX_SPECS)
		goto bad;
	*n++ = '\0';
	e = strchr(n, ':');
	if (e != NULL)
		*e++ = '\0';
	for (k = 0; k < F_NKINDS; k++)
		if (strcmp(item, kinds[k].name) == 0)
			break;
	if (k == F_NKINDS)
		goto bad;
	specs[nspecs].kind = k;
	specs[nspecs].n = strtoul(n, &end, 10);
	specs[nspecs].sticky = *end == '+';
	specs[nspecs].err = e != NULL ? err_of(e) : kinds[k].err;
	if (specs[nspecs].n == 0 || specs[nspecs].err <= 0)
		goto bad;
	nspecs++;
	return;
bad:
	fprintf(stderr, "faultinject: bad SMARM_FAULT item '%s'\n", item);
	abort();
}

__attribute__((constructor)) static void fault_init(void)
{
	const char *env = getenv("SMARM_FAULT");
	char buf[256], *item, *save;

	trace = getenv("SMARM_FAULT_TRACE") != NULL;
	if (env == NULL || *env == '\0')
		return;
	snprintf(buf, sizeof(buf), "%s", env);
	for (item = strtok_r(buf, ",", &save); item != NULL;
	     item = strtok_r(NULL, ",", &save))
		parse_one(item);
}

__attribute__((destructor)) static void fault_report(void)
{
	const char *path = getenv("SMARM_FAULT_REPORT");
	FILE *f;
	int k;

	if (path == NULL || *path == '\0')
		return;
	f = strcmp(path, "-") == 0 ? stderr : fopen(path, "a");
	if (f == NULL)
		return;
	for (k = 0; k < F_NKINDS; k++) {
		fprintf(f, "count %s %lu\n", kinds[k].name,
			__atomic_load_n(&counts[k], __ATOMIC_RELAXED));
		if (__atomic_load_n(&fired[k], __ATOMIC_RELAXED))
			fprintf(f, "fired %s %lu %d\n", kinds[k].name,
				fired_at[k], fired_err[k]);
	}
	if (f != stderr)
		fclose(f);
}

/* Count a call of kind k; its errno value if this one is to fail, else
 * 0. */
static int fault(int k)
{
	unsigned long n = __atomic_add_fetch(&counts[k], 1, __ATOMIC_RELAXED);
	int i;

	for (i = 0; i < nspecs; i++) {
		if (specs[i].kind != k || n < specs[i].n ||
		    (n > specs[i].n && !specs[i].sticky))
			continue;
		if (__atomic_fetch_add(&fired[k], 1, __ATOMIC_RELAXED) == 0) {
			fired_at[k] = n;
			fired_err[k] = specs[i].err;
		}
		if (trace)
			show(k, n);
		return specs[i].err;
	}
	return 0;
}

/* ---- the wrapped calls --------------------------------------------------------- */

void *__real_mmap(void *, size_t, int, int, int, off_t);
int __real_mprotect(void *, size_t, int);
int __real_madvise(void *, size_t, int);
void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
int __real_posix_memalign(void **, size_t, size_t);
void *__real_aligned_alloc(size_t, size_t);
int __real_pthread_create(pthread_t *, const pthread_attr_t *,
			  void *(*)(void *), void *);
int __real_epoll_create1(int);
int __real_epoll_ctl(int, int, int, struct epoll_event *);
int __real_eventfd(unsigned, int);
int __real_signalfd(int, const sigset_t *, int);
int __real_accept4(int, struct sockaddr *, socklen_t *, int);

void *__wrap_mmap(void *, size_t, int, int, int, off_t);
int __wrap_mprotect(void *, size_t, int);
int __wrap_madvise(void *, size_t, int);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);
int __wrap_posix_memalign(void **, size_t, size_t);
void *__wrap_aligned_alloc(size_t, size_t);
int __wrap_pthread_create(pthread_t *, const pthread_attr_t *,
			  void *(*)(void *), void *);
int __wrap_epoll_create1(int);
int __wrap_epoll_ctl(int, int, int, struct epoll_event *);
int __wrap_eventfd(unsigned, int);
int __wrap_signalfd(int, const sigset_t *, int);
int __wrap_accept4(int, struct sockaddr *, socklen_t *, int);

#define FAIL_OR(k, bad, call)                                                  \
	do {                                                                   \
		int e_ = fault(k);                                             \
		if (e_) {                                                      \
			errno = e_;                                            \
			return bad;                                            \
		}                                                              \
		return call;                                                   \
	} while (0)

void *__wrap_mmap(void *a, size_t len, int prot, int fl, int fd, off_t off)
{
	FAIL_OR(F_MMAP, MAP_FAILED, __real_mmap(a, len, prot, fl, fd, off));
}

int __wrap_mprotect(void *a, size_t len, int prot)
{
	FAIL_OR(F_MPROTECT, -1, __real_mprotect(a, len, prot));
}

int __wrap_madvise(void *a, size_t len, int advice)
{
	FAIL_OR(F_MADVISE, -1, __real_madvise(a, len, advice));
}

void *__wrap_malloc(size_t size)
{
	FAIL_OR(F_MALLOC, NULL, __real_malloc(size));
}

void *__wrap_calloc(size_t n, size_t size)
{
	FAIL_OR(F_CALLOC, NULL, __real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t size)
{
	FAIL_OR(F_REALLOC, NULL, __real_realloc(p, size));
}

int __wrap_posix_memalign(void **p, size_t align, size_t size)
{
	int e = fault(F_POSIX_MEMALIGN);

	return e ? e : __real_posix_memalign(p, align, size);
}

void *__wrap_aligned_alloc(size_t align, size_t size)
{
	FAIL_OR(F_ALIGNED_ALLOC, NULL, __real_aligned_alloc(align, size));
}

int __wrap_pthread_create(pthread_t *t, const pthread_attr_t *attr,
			  void *(*fn)(void *), void *arg)
{
	int e = fault(F_PTHREAD_CREATE);

	return e ? e : __real_pthread_create(t, attr, fn, arg);
}

int __wrap_epoll_create1(int flags)
{
	FAIL_OR(F_EPOLL_CREATE1, -1, __real_epoll_create1(flags));
}

int __wrap_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	if (op != EPOLL_CTL_ADD)
		return __real_epoll_ctl(epfd, op, fd, ev);
	FAIL_OR(F_EPOLL_CTL, -1, __real_epoll_ctl(epfd, op, fd, ev));
}

int __wrap_eventfd(unsigned init, int flags)
{
	FAIL_OR(F_EVENTFD, -1, __real_eventfd(init, flags));
}

int __wrap_signalfd(int fd, const sigset_t *set, int flags)
{
	FAIL_OR(F_SIGNALFD, -1, __real_signalfd(fd, set, flags));
}

int __wrap_accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	FAIL_OR(F_ACCEPT4, -1, __real_accept4(fd, addr, len, flags));
}
