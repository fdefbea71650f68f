/*
 * check_limits.c - a call that runs into a system limit returns its
 * documented error and names the limit, once, on standard error
 * (lib/limit.c).
 *
 * Each limit is provoked in a child process of its own (fork), whose
 * standard error goes to a pipe: a low RLIMIT_AS, vm.max_map_count
 * nearly used up by the child's own mappings, a small pid table
 * (SMARM_MAX_ACTORS), RLIMIT_NPROC at 0, RLIMIT_NOFILE at the fds
 * already open.  The child exits with the error it got; the parent
 * checks it and the line.  vm.overcommit_memory cannot be changed by a
 * test: its line, and the choice between the memory limits, are checked
 * on made-up facts.  Under valgrind (its own address space, threads and
 * descriptors) only the made-up facts and the pid table are checked.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include "testutil.h"

#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <netinet/in.h>

#include "limit.h"

/* ---- made-up facts ------------------------------------------------------------ */

static struct smarm__limit_facts some_facts(void)
{
	struct smarm__limit_facts f = {
		.max_maps = 65530, .maps = 100, .as = ~0ul, .overcommit = 0,
		.nproc = 1000, .threads_max = 5000, .nofile = 1024,
		.pid_cap = 4096,
	};

	return f;
}

START_TEST(classify_memory)
{
	struct smarm__limit_facts f = some_facts();

	ck_assert_uint_eq(smarm__limit_classify(&f), SMARM__LIMIT_MEMORY);
	f.overcommit = 2;
	ck_assert_uint_eq(smarm__limit_classify(&f), SMARM__LIMIT_COMMIT);
	f.as = 1ul << 30;
	ck_assert_uint_eq(smarm__limit_classify(&f), SMARM__LIMIT_AS);
	f.maps = f.max_maps - 1000;
	ck_assert_uint_eq(smarm__limit_classify(&f), SMARM__LIMIT_MAPS);
}
END_TEST

/* Every line names its limit and says how to raise it. */
START_TEST(lines)
{
	static const struct {
		unsigned limit;
		const char *names, *raise;
	} want[] = {
		{ SMARM__LIMIT_MAPS, "vm.max_map_count = 65530",
		  "sysctl -w vm.max_map_count=" },
		{ SMARM__LIMIT_AS, "RLIMIT_AS = unlimited", "ulimit -v" },
		{ SMARM__LIMIT_COMMIT, "vm.overcommit_memory = 2",
		  "vm.overcommit_ratio" },
		{ SMARM__LIMIT_MEMORY, "out of memory", "memory.max" },
		{ SMARM__LIMIT_PIDS, "pid table is full (4096",
		  "SMARM_MAX_ACTORS" },
		{ SMARM__LIMIT_THREADS, "RLIMIT_NPROC = 1000", "ulimit -u" },
		{ SMARM__LIMIT_FILES, "RLIMIT_NOFILE = 1024", "ulimit -n" },
	};
	struct smarm__limit_facts f = some_facts();
	char buf[512], tiny[16];
	size_t i, n;

	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		n = smarm__limit_format(buf, sizeof(buf), want[i].limit,
					"spawn", &f);
		ck_assert_uint_eq(n, strlen(buf));
		ck_assert_msg(strncmp(buf, "smarm: spawn: ", 14) == 0, "%s", buf);
		ck_assert_msg(strstr(buf, want[i].names) != NULL, "%s", buf);
		ck_assert_msg(strstr(buf, want[i].raise) != NULL, "%s", buf);
		ck_assert_int_eq(buf[n - 1], '\n');
	}
	n = smarm__limit_format(tiny, sizeof(tiny), SMARM__LIMIT_FILES, "x", &f);
	ck_assert_uint_eq(n, sizeof(tiny) - 1);
}
END_TEST

/* Once per word, and nothing for a NULL word or when silenced. */
START_TEST(once)
{
	smarm__atomic said = SMARM__ATOMIC_INIT(0);
	int fds[2], saved = dup(2);
	char buf[2048];
	ssize_t n;

	ck_assert_int_eq(pipe(fds), 0);
	dup2(fds[1], 2);
	smarm__limit_hit(&said, SMARM__LIMIT_FILES, "a", 0);
	smarm__limit_hit(&said, SMARM__LIMIT_FILES, "b", 0);
	smarm__limit_hit(NULL, SMARM__LIMIT_FILES, "c", 0);
	smarm__limit_hit(&said, SMARM__LIMIT_PIDS, "d", 7);
	setenv("SMARM_QUIET_LIMITS", "1", 1);
	smarm__limit_hit(&said, SMARM__LIMIT_THREADS, "e", 0);
	unsetenv("SMARM_QUIET_LIMITS");
	dup2(saved, 2);
	close(saved);
	close(fds[1]);
	n = read(fds[0], buf, sizeof(buf) - 1);
	close(fds[0]);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	ck_assert_msg(strstr(buf, "smarm: a: ") == buf, "%s", buf);
	ck_assert_msg(strstr(buf, "smarm: b:") == NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "smarm: c:") == NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "smarm: d: the pid table is full (7 ") != NULL,
		      "%s", buf);
	ck_assert_msg(strstr(buf, "smarm: e:") == NULL, "%s", buf);
}
END_TEST

/* ---- the limits themselves, in a child each ----------------------------------- */

/* Run fn in a child whose standard error goes to buf: the child's exit
 * status (fn's return value). */
static int in_child(int (*fn)(void), char *buf, size_t size)
{
	int fds[2], status;
	size_t got = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	fflush(NULL);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], 2);
		close(fds[1]);
		_exit(fn());
	}
	close(fds[1]);
	while (got + 1 < size &&
	       (n = read(fds[0], buf + got, size - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(fds[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status), "child died: %d", status);
	return WEXITSTATUS(status);
}

/* The error of a run of fn on `threads` workers, with guard. */
static int run_with(smarm_fn fn, unsigned threads, int guard)
{
	smarm_config cfg;
	smarm_runtime *rt;
	int err;

	smarm_config_init(&cfg);
	cfg.threads = threads;
	cfg.stack_guard = guard;
	err = smarm_runtime_new(&rt, &cfg);
	if (err)
		return err;
	err = smarm_runtime_run(rt, fn, NULL, NULL);
	smarm_runtime_free(rt);
	return err;
}

static void *nothing(void *arg)
{
	return arg;
}

/* Keeps its stack until the root has spawned all it could (with two
 * workers, one that ended at once would give its mapping back while the
 * root still spawns, and the limit might never be met). */
static int big_go;

static void *big_wait(void *arg)
{
	while (!__atomic_load_n(&big_go, __ATOMIC_ACQUIRE))
		smarm_sleep(MS);
	return arg;
}

/* Spawn actors with 16 MiB stacks (mapped at the spawn) until a spawn
 * fails; join those spawned; its error is the root's result. */
static void *spawn_big(void *arg)
{
	static smarm_pid pids[256];
	smarm_spawn_opts o;
	int err = 0, i, n;

	(void)arg;
	smarm_spawn_opts_init(&o);
	o.stack_size = 16u << 20;
	for (n = 0; n < 256; n++) {
		err = smarm_spawn_opt(&pids[n], big_wait, NULL, &o);
		if (err)
			break;
	}
	__atomic_store_n(&big_go, 1, __ATOMIC_RELEASE);
	for (i = 0; i < n; i++)
		smarm_join(pids[i], NULL, SMARM_FOREVER);
	smarm_exit((void *)(intptr_t)err);
}

static int address_space(void)
{
	struct rlimit r = { 768u << 20, 768u << 20 };
	smarm_runtime *rt;
	void *res = NULL;
	int err;

	/* 768 MiB: the runtime and a slab fit, 256 big stacks do not. */
	if (setrlimit(RLIMIT_AS, &r) != 0)
		return 100;
	err = smarm_runtime_new(&rt, NULL);
	if (err)
		return 101;
	err = smarm_runtime_run(rt, spawn_big, NULL, &res);
	smarm_runtime_free(rt);
	return err ? 102 : (int)(intptr_t)res;
}

START_TEST(rlimit_as)
{
	char buf[4096];

	/* valgrind's own mappings count against RLIMIT_AS, and a sanitizer
	 * reserves terabytes of shadow memory at start-up. */
	if (RUNNING_ON_VALGRIND || SANITIZED)
		return;
	ck_assert_int_eq(in_child(address_space, buf, sizeof(buf)), ENOMEM);
	ck_assert_msg(strstr(buf, "smarm: spawn: out of address space "
			     "(RLIMIT_AS = ") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "ulimit -v") != NULL, "%s", buf);
}
END_TEST

/* Use up the process's mappings but for a few: mappings of one page,
 * their protections alternating so that none merge. */
static void eat_maps(void)
{
	static void *m[70000];
	int n = 0, i;

	while (n < 70000) {
		m[n] = mmap(NULL, 4096, n % 2 ? PROT_READ : PROT_NONE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m[n] == MAP_FAILED)
			break;
		n++;
	}
	/* Room for the runtime's own, well below the 2,048 the mprotect
	 * guard leaves to the rest of the process. */
	for (i = 0; i < 200 && n > 0; i++)
		munmap(m[--n], 4096);
}

static int map_count(void)
{
	eat_maps();
	return run_with(nothing, 1, SMARM_GUARD_MPROTECT);
}

START_TEST(max_map_count)
{
	char buf[4096];

	if (RUNNING_ON_VALGRIND)
		return;
	ck_assert_int_eq(in_child(map_count, buf, sizeof(buf)), ENOMEM);
	ck_assert_msg(strstr(buf, "smarm: spawn: out of kernel memory "
			     "mappings (vm.max_map_count = ") != NULL,
		      "%s", buf);
	ck_assert_msg(strstr(buf, "sysctl -w vm.max_map_count=") != NULL,
		      "%s", buf);
}
END_TEST

/* Spawn until the table is full: the error; every actor joined. */
static void *fill_table(void *arg)
{
	static smarm_pid pids[5000];
	int err = 0, i, n;

	(void)arg;
	for (n = 0; n < 5000; n++) {
		err = smarm_spawn(&pids[n], nothing, NULL);
		if (err)
			break;
	}
	for (i = 0; i < n; i++)
		smarm_join(pids[i], NULL, SMARM_FOREVER);
	/* Room again once they are joined. */
	if (err == EAGAIN && smarm_spawn(&pids[0], nothing, NULL) == 0)
		smarm_join(pids[0], NULL, SMARM_FOREVER);
	else
		err = 0;
	/* The full table, for the table's own count: 4096 slots. */
	smarm_exit((void *)(intptr_t)(err == EAGAIN && n >= 4000 &&
				      n < 4096 ? EAGAIN : 0));
}

static int pid_table(void)
{
	void *res = NULL;
	int err;

	setenv("SMARM_MAX_ACTORS", "100", 1);
	err = smarm_run(fill_table, NULL, &res);
	return err ? 100 : (int)(intptr_t)res;
}

START_TEST(pid_capacity)
{
	char buf[4096];

	ck_assert_int_eq(in_child(pid_table, buf, sizeof(buf)), EAGAIN);
	ck_assert_msg(strstr(buf, "smarm: spawn: the pid table is full "
			     "(4096 ") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "SMARM_MAX_ACTORS") != NULL, "%s", buf);
	/* One line, however many spawns failed. */
	ck_assert_ptr_eq(strchr(buf, '\n'), buf + strlen(buf) - 1);
}
END_TEST

/* No new thread for this process's user; root becomes nobody first,
 * for whom the limit counts. */
static int no_threads(void)
{
	struct rlimit r = { 0, 0 };

	if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
		return 100;
	return setrlimit(RLIMIT_NPROC, &r) != 0 ? 101 : 0;
}

static int workers(void)
{
	int e = no_threads();

	return e ? e : run_with(nothing, 2, SMARM_GUARD_AUTO);
}

START_TEST(nproc_workers)
{
	char buf[4096];

	if (RUNNING_ON_VALGRIND)
		return;
	ck_assert_int_eq(in_child(workers, buf, sizeof(buf)), EAGAIN);
	ck_assert_msg(strstr(buf, "smarm: smarm_runtime_run: cannot start a "
			     "thread (RLIMIT_NPROC = 0, ") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "ulimit -u") != NULL, "%s", buf);
}
END_TEST

static void *block(void *arg)
{
	return arg;
}

static void *one_job(void *arg)
{
	(void)arg;
	smarm_exit((void *)(intptr_t)smarm_block_on_io(block, NULL, NULL));
}

static int helpers(void)
{
	void *res = NULL;
	int e = no_threads();

	if (e)
		return e;
	e = smarm_run(one_job, NULL, &res);
	return e ? 102 : (int)(intptr_t)res;
}

START_TEST(nproc_helpers)
{
	char buf[4096];

	if (RUNNING_ON_VALGRIND)
		return;
	ck_assert_int_eq(in_child(helpers, buf, sizeof(buf)), EAGAIN);
	ck_assert_msg(strstr(buf, "smarm: smarm_block_on_io: cannot start a "
			     "thread (RLIMIT_NPROC = 0, ") != NULL, "%s", buf);
}
END_TEST

/* RLIMIT_NOFILE at the lowest free fd: no fd can be had. */
static int no_fds(void)
{
	int fd = dup(2);
	struct rlimit r;

	if (fd < 0)
		return 100;
	close(fd);
	r.rlim_cur = r.rlim_max = (rlim_t)fd;
	return setrlimit(RLIMIT_NOFILE, &r) != 0 ? 101 : 0;
}

static int runtime_fds(void)
{
	smarm_runtime *rt;
	int e = no_fds();

	return e ? e : smarm_runtime_new(&rt, NULL);
}

START_TEST(nofile_runtime)
{
	char buf[4096];

	if (RUNNING_ON_VALGRIND)
		return;
	ck_assert_int_eq(in_child(runtime_fds, buf, sizeof(buf)), EMFILE);
	ck_assert_msg(strstr(buf, "smarm: smarm_runtime_new: out of file "
			     "descriptors (RLIMIT_NOFILE = ") != NULL, "%s", buf);
	ck_assert_msg(strstr(buf, "ulimit -n") != NULL, "%s", buf);
}
END_TEST

static int listener = -1;

static void *accept_one(void *arg)
{
	int fd = -1, err;

	(void)arg;
	err = smarm_accept(listener, &fd, NULL, NULL, SMARM_FOREVER);
	if (err == 0)
		close(fd);
	smarm_exit((void *)(intptr_t)err);
}

/* A connection waits to be accepted when no fd is left for it. */
static int accept_fds(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	smarm_runtime *rt;
	void *res = NULL;
	int c, e;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	listener = socket(AF_INET, SOCK_STREAM, 0);
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (listener < 0 || c < 0 ||
	    bind(listener, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    listen(listener, 4) != 0 ||
	    getsockname(listener, (struct sockaddr *)&a, &len) != 0 ||
	    connect(c, (struct sockaddr *)&a, sizeof(a)) != 0)
		return 100;
	if (smarm_runtime_new(&rt, NULL) != 0)
		return 101;
	e = no_fds();
	if (e)
		return e;
	e = smarm_runtime_run(rt, accept_one, NULL, &res);
	smarm_runtime_free(rt);
	return e ? 102 : (int)(intptr_t)res;
}

START_TEST(nofile_accept)
{
	char buf[4096];

	if (RUNNING_ON_VALGRIND)
		return;
	ck_assert_int_eq(in_child(accept_fds, buf, sizeof(buf)), EMFILE);
	ck_assert_msg(strstr(buf, "smarm: smarm_accept: out of file "
			     "descriptors (RLIMIT_NOFILE = ") != NULL, "%s", buf);
}
END_TEST

static Suite *limits_suite(void)
{
	Suite *s = suite_create("limits");
	TCase *tc;

	tc = tcase_add(s, "lines");
	tcase_add_test(tc, classify_memory);
	tcase_add_test(tc, lines);
	tcase_add_test(tc, once);

	tc = tcase_add(s, "memory");
	tcase_add_test(tc, rlimit_as);
	tcase_add_test(tc, max_map_count);

	tc = tcase_add(s, "pids");
	tcase_add_test(tc, pid_capacity);

	tc = tcase_add(s, "threads");
	tcase_add_test(tc, nproc_workers);
	tcase_add_test(tc, nproc_helpers);

	tc = tcase_add(s, "files");
	tcase_add_test(tc, nofile_runtime);
	tcase_add_test(tc, nofile_accept);

	return s;
}

int main(void)
{
	return run_suite(limits_suite());
}
