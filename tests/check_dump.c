/*
 * check_dump.c - seeing inside a run: smarm_dump (what it says of each
 * kind of wait, its errors, from a plain thread), the dump on
 * SMARM_DUMP_SIGNAL, and the watchdog's warning.
 */
#include "testutil.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "mailbox.h"

/* Dump into a memory file and return its text (static buffer). */
static char text[1 << 16];

static const char *read_all(int fd)
{
	ssize_t n = pread(fd, text, sizeof(text) - 1, 0);

	text[n > 0 ? n : 0] = '\0';
	return text;
}

static const char *dump_text(int fd, int *err)
{
	ck_assert_int_eq(ftruncate(fd, 0), 0);
	ck_assert_int_eq((int)lseek(fd, 0, SEEK_SET), 0);
	*err = smarm_dump(fd);
	return read_all(fd);
}

static int has(const char *hay, const char *fmt, unsigned long long v)
{
	char want[128];

	snprintf(want, sizeof(want), fmt, v);
	return strstr(hay, want) != NULL;
}

/* ---- one actor in each kind of wait ------------------------------------- */

struct zoo {
	smarm_tx *tx, *btx, *stx1, *stx2;
	smarm_rx *rx, *brx, *srx1, *srx2;
	smarm_mutex mx;
	int pfd[2], jfd[2];
	smarm_pid sleeper;
};

static void *in_recv(void *p)
{
	struct zoo *z = p;
	int v;

	return (void *)(intptr_t)smarm_recv(z->rx, &v, SMARM_FOREVER);
}

static void *in_send(void *p)
{
	struct zoo *z = p;
	int v = 1;

	/* The channel holds one: the second send waits for room. */
	if (smarm_send(z->btx, &v) != 0)
		return (void *)1;
	return (void *)(intptr_t)smarm_send(z->btx, &v);
}

static void *in_receive(void *p)
{
	smarm_msg m;

	(void)p;
	return (void *)(intptr_t)smarm_receive(&m, SMARM_FOREVER);
}

static void *in_sleep(void *p)
{
	(void)p;
	return (void *)(intptr_t)smarm_sleep(60000 * MS);
}

static void *in_join(void *p)
{
	struct zoo *z = p;

	return (void *)(intptr_t)smarm_join(z->sleeper, NULL, SMARM_FOREVER);
}

static void *in_lock(void *p)
{
	struct zoo *z = p;

	return (void *)(intptr_t)smarm_mutex_lock(&z->mx, 600000 * MS);
}

static void *in_read(void *p)
{
	struct zoo *z = p;
	size_t got = 0;
	char c;

	return (void *)(intptr_t)smarm_read(z->pfd[0], &c, 1, &got,
					    SMARM_FOREVER);
}

static void *in_select(void *p)
{
	struct zoo *z = p;
	smarm_rx *rxs[2] = { z->srx1, z->srx2 };
	size_t which = 0;

	return (void *)(intptr_t)smarm_select(rxs, 2, &which, SMARM_FOREVER);
}

/* A helper thread's job: wait for a byte. */
static void *job(void *p)
{
	struct zoo *z = p;
	char c;

	return (void *)(intptr_t)read(z->jfd[0], &c, 1);
}

static void *in_blocking(void *p)
{
	void *res = NULL;

	return (void *)(intptr_t)smarm_block_on_io(job, p, &res);
}

static void *in_signal(void *p)
{
	sigset_t set;
	int sig = 0;

	(void)p;
	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	return (void *)(intptr_t)smarm_signal_wait(&set, &sig, 600000 * MS);
}

/* Every wait the zoo's actors are in, as the dump says it. */
static int zoo_seen(const char *t, struct zoo *z)
{
	return strstr(t, "'rx': parked on worker ") &&
		has(t, ": channel recv 0x%llx\n", (uintptr_t)z->rx) &&
		has(t, ": channel send 0x%llx\n", (uintptr_t)z->brx) &&
		strstr(t, "'mbox': parked on worker ") &&
		strstr(t, ": mailbox receive\n") &&
		strstr(t, "'sleeper': parked on worker ") &&
		strstr(t, ": sleep, ") && strstr(t, " ms left\n") &&
		has(t, ": join of actor %llu\n", z->sleeper.id) &&
		has(t, ": mutex 0x%llx, timeout in ", (uintptr_t)&z->mx) &&
		has(t, ": fd read %llu\n", (unsigned)z->pfd[0]) &&
		strstr(t, ": select over 2 channels\n") &&
		strstr(t, "'blocker': parked on worker ") &&
		strstr(t, ": block_on_io\n") &&
		strstr(t, ": signal wait, timeout in ") &&
		strstr(t, "'zoo': running on worker ") &&
		strstr(t, "worker 0: ") && strstr(t, " switches, ") &&
		strstr(t, "smarm: end of dump, 12 live actors\n");
}

static void *zoo_root(void *p)
{
	struct zoo z;
	smarm_pid pids[10];
	int fd = memfd_create("dump", 0), err = 0, seen = 0, i;
	uint64_t end = now_ms() + 20000;
	const char *t = "";

	(void)p;
	ck_assert_int_ge(fd, 0);
	memset(&z, 0, sizeof(z));
	chan_ok(&z.tx, &z.rx, sizeof(int));
	ck_assert_int_eq(smarm_channel_bounded(&z.btx, &z.brx, sizeof(int), 1),
			 0);
	chan_ok(&z.stx1, &z.srx1, sizeof(int));
	chan_ok(&z.stx2, &z.srx2, sizeof(int));
	ck_assert_int_eq(smarm_mutex_init(&z.mx), 0);
	ck_assert_int_eq(smarm_mutex_trylock(&z.mx), 0);
	ck_assert_int_eq(pipe(z.pfd), 0);
	ck_assert_int_eq(pipe(z.jfd), 0);
	z.sleeper = pids[0] = spawn_named("sleeper", in_sleep, &z);
	pids[1] = spawn_named("rx", in_recv, &z);
	pids[2] = spawn_named("tx", in_send, &z);
	pids[3] = spawn_named("mbox", in_receive, &z);
	pids[4] = spawn_named("joiner", in_join, &z);
	pids[5] = spawn_named("locker", in_lock, &z);
	pids[6] = spawn_named("reader", in_read, &z);
	pids[7] = spawn_named("sel", in_select, &z);
	pids[8] = spawn_named("blocker", in_blocking, &z);
	pids[9] = spawn_named("signal", in_signal, &z);
	while (!seen && now_ms() < end) {
		smarm_sleep(MS);
		t = dump_text(fd, &err);
		ck_assert_int_eq(err, 0);
		seen = zoo_seen(t, &z);
	}
	ck_assert_msg(seen, "the dump missed a wait:\n%s", t);
	/* The joiner ends first, so that the sleeper is still ours. */
	ck_assert_int_eq(smarm_cancel(pids[4]), 0);
	ck_assert_int_eq(smarm_join(pids[4], NULL, SMARM_FOREVER), 0);
	for (i = 0; i < 10; i++)
		if (i != 4)
			ck_assert_int_eq(smarm_cancel(pids[i]), 0);
	ck_assert_int_eq(smarm_mutex_unlock(&z.mx), 0);
	/* The helper's job ends when it gets its byte. */
	ck_assert_int_eq(write(z.jfd[1], "x", 1), 1);
	for (i = 0; i < 10; i++)
		if (i != 4)
			ck_assert_int_eq(smarm_join(pids[i], NULL,
						    SMARM_FOREVER), 0);
	smarm_tx_close(z.tx);
	smarm_rx_close(z.rx);
	smarm_tx_close(z.btx);
	smarm_rx_close(z.brx);
	smarm_tx_close(z.stx1);
	smarm_rx_close(z.srx1);
	smarm_tx_close(z.stx2);
	smarm_rx_close(z.srx2);
	smarm_mutex_destroy(&z.mx);
	close(z.pfd[0]);
	close(z.pfd[1]);
	close(z.jfd[0]);
	close(z.jfd[1]);
	close(fd);
	return NULL;
}

static void *zoo_outer(void *p)
{
	join_ok(spawn_named("zoo", zoo_root, p));
	return NULL;
}

START_TEST(test_dump_kinds)
{
	run_in_actor(zoo_outer, NULL);
}
END_TEST

/* ---- errors ---------------------------------------------------------------- */

static void *bad_fds(void *p)
{
	int pfd[2], full;

	(void)p;
	ck_assert_int_eq(smarm_dump(-1), EBADF);
	ck_assert_int_eq(pipe(pfd), 0);
	/* Open for reading only. */
	ck_assert_int_eq(smarm_dump(pfd[0]), EBADF);
	close(pfd[0]);
	close(pfd[1]);
	/* Closed. */
	ck_assert_int_eq(smarm_dump(pfd[1]), EBADF);
	/* A write that fails. */
	full = open("/dev/full", O_WRONLY);
	if (full >= 0) {
		ck_assert_int_eq(smarm_dump(full), EIO);
		close(full);
	}
	return NULL;
}

START_TEST(test_dump_bad_fd)
{
	run_in_actor(bad_fds, NULL);
}
END_TEST

START_TEST(test_dump_no_run)
{
	int fd = memfd_create("dump", 0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(smarm_dump(fd), ESRCH);
	ck_assert_int_eq(smarm_dump(-1), EBADF);
	/* The registry held, as by a thread a signal interrupted: the dump
	 * gives up instead of waiting. */
	smarm__reach_take();
	ck_assert_int_eq(smarm_dump(fd), EBUSY);
	smarm__reach_drop();
	ck_assert_int_eq(smarm_dump(fd), ESRCH);
	close(fd);
}
END_TEST

/* ---- from a plain thread ---------------------------------------------------- */

struct from_thread {
	int fd;
	int err;
	int in_handler;       /* dump from a signal handler of the thread's */
	volatile int done;
};

static struct from_thread *handler_job;
static volatile sig_atomic_t handled;

static void dump_handler(int sig)
{
	(void)sig;
	handler_job->err = smarm_dump(handler_job->fd);
	handled = 1;
}

static void *dumper(void *p)
{
	struct from_thread *f = p;
	struct sigaction sa;

	if (f->in_handler) {
		/* raise() in this thread runs the handler here (at once, or
		 * soon under valgrind).  A thread made by an actor starts
		 * with its worker's mask, which may block every signal. */
		uint64_t end = now_ms() + 20000;
		sigset_t usr2;

		sigemptyset(&usr2);
		sigaddset(&usr2, SIGUSR2);
		pthread_sigmask(SIG_UNBLOCK, &usr2, NULL);
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = dump_handler;
		sigemptyset(&sa.sa_mask);
		handler_job = f;
		handled = 0;
		sigaction(SIGUSR2, &sa, NULL);
		raise(SIGUSR2);
		while (!handled && now_ms() < end)
			nap_us(1000);
	} else {
		f->err = smarm_dump(f->fd);
	}
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *thread_root(void *p)
{
	struct from_thread *f = p;
	smarm_pid pid = spawn_named("napper", in_sleep, NULL);
	pthread_t th;

	smarm_sleep(MS);
	ck_assert_int_eq(pthread_create(&th, NULL, dumper, f), 0);
	AWAIT_WITHIN(__atomic_load_n(&f->done, __ATOMIC_ACQUIRE), 20000 * MS);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(smarm_cancel(pid), 0);
	ck_assert_int_eq(smarm_join(pid, NULL, SMARM_FOREVER), 0);
	return NULL;
}

START_TEST(test_dump_from_thread)
{
	struct from_thread f = { memfd_create("dump", 0), -1, _i, 0 };
	const char *t;

	ck_assert_int_ge(f.fd, 0);
	run_in_actor(thread_root, &f);
	ck_assert_int_eq(f.err, 0);
	t = read_all(f.fd);
	ck_assert_msg(strstr(t, "smarm: dump, a racy snapshot: ") &&
		      strstr(t, "'napper': ") &&
		      strstr(t, "smarm: end of dump, 2 live actors\n"),
		      "from a thread:\n%s", t);
	close(f.fd);
}
END_TEST

/* ---- the dump signal, in a child process ------------------------------------ */

static int err_fd;

static void *signal_root(void *p)
{
	smarm_pid pid = spawn_named("waiter", in_receive, NULL);
	uint64_t end = now_ms() + 20000;
	const char *t = "";

	(void)p;
	smarm_sleep(MS);
	kill(getpid(), SIGUSR1);
	while (now_ms() < end) {
		t = read_all(err_fd);
		if (strstr(t, "smarm: end of dump"))
			break;
		smarm_sleep(MS);
	}
	smarm_cancel(pid);
	smarm_join(pid, NULL, SMARM_FOREVER);
	return (void *)(intptr_t)(strstr(t, "smarm: dump (signal 10), ") &&
				  strstr(t, "'waiter': parked on worker ") &&
				  strstr(t, ": mailbox receive\n"));
}

START_TEST(test_dump_signal)
{
	pid_t child;
	int status = -1;

	fflush(stderr);
	child = fork();
	ck_assert_int_ge(child, 0);
	if (child == 0) {
		void *res = NULL;

		err_fd = memfd_create("stderr", 0);
		if (err_fd < 0 || dup2(err_fd, 2) != 2)
			_exit(3);
		setenv("SMARM_DUMP_SIGNAL", "SIGUSR1", 1);
		if (run_default(signal_root, NULL, &res) != 0)
			_exit(2);
		/* The process went on after the dump, and still does. */
		_exit(res ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(child, &status, 0), child);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child status %d", status);
}
END_TEST

/* A name that is no signal is refused with a warning; the run goes on. */
static void *quiet(void *p)
{
	(void)p;
	return NULL;
}

START_TEST(test_dump_signal_bad_name)
{
	int fd = memfd_create("stderr", 0), saved = dup(2);

	ck_assert_int_ge(fd, 0);
	setenv("SMARM_DUMP_SIGNAL", "NOSUCH", 1);
	fflush(stderr);
	ck_assert_int_eq(dup2(fd, 2), 2);
	run_in_actor(quiet, NULL);
	dup2(saved, 2);
	close(saved);
	unsetenv("SMARM_DUMP_SIGNAL");
	ck_assert_ptr_nonnull(strstr(read_all(fd),
		"smarm: SMARM_DUMP_SIGNAL=NOSUCH is not a signal"));
	close(fd);
}
END_TEST

/* ---- the watchdog -------------------------------------------------------------- */

/* Spin without a preemption point until the watchdog names this actor
 * (or a generous time passes): 1 when it did. */
static void *spinner(void *p)
{
	uint64_t end = mono_ns() + 20000 * MS;
	const char *t;

	(void)p;
	while (mono_ns() < end) {
		t = read_all(err_fd);
		if (strstr(t, "smarm: watchdog: worker ") &&
		    strstr(t, " 'spinner' for over "))
			return (void *)1;
		spin(1000);
	}
	return NULL;
}

static void *watch_root(void *p)
{
	(void)p;
	return join_ok(spawn_named("spinner", spinner, NULL));
}

START_TEST(test_watchdog)
{
	smarm_config cfg;
	smarm_runtime *rt;
	void *res = NULL;
	int saved = dup(2), once;
	const char *t;

	err_fd = memfd_create("stderr", 0);
	ck_assert_int_ge(err_fd, 0);
	smarm_config_init(&cfg);
	cfg.watchdog_ms = 50;
	cfg.preempt_budget = 0;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	fflush(stderr);
	ck_assert_int_eq(dup2(err_fd, 2), 2);
	ck_assert_int_eq(smarm_runtime_run(rt, watch_root, NULL, &res), 0);
	dup2(saved, 2);
	close(saved);
	smarm_runtime_free(rt);
	t = read_all(err_fd);
	ck_assert_msg(res == (void *)1, "no warning:\n%s", t);
	/* Once per stuck episode. */
	for (once = 0; (t = strstr(t, "smarm: watchdog: ")) != NULL; t++)
		once++;
	ck_assert_msg(once == 1, "%d warnings:\n%s", once, text);
	close(err_fd);
}
END_TEST

START_TEST(test_watchdog_config)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;

	setenv("SMARM_WATCHDOG_MS", "123", 1);
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.watchdog_ms, 123);
	setenv("SMARM_WATCHDOG_MS", "12x", 1);
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.watchdog_ms, 0);
	unsetenv("SMARM_WATCHDOG_MS");
	smarm_config_init(&cfg);
	ck_assert_uint_eq(cfg.watchdog_ms, 0);
	cfg.reserved_u = 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.reserved_u = 0;
	cfg.watchdog_ms = 0x80000000u;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	ck_assert_ptr_null(rt);
}
END_TEST

static Suite *dump_suite(void)
{
	Suite *s = suite_create("dump");
	TCase *tc;

	tc = tcase_add(s, "dump");
	tcase_add_test(tc, test_dump_kinds);
	tcase_add_test(tc, test_dump_bad_fd);
	tcase_add_test(tc, test_dump_no_run);
	/* From a plain thread, then from its signal handler. */
	tcase_add_loop_test(tc, test_dump_from_thread, 0, 2);

	tc = tcase_add(s, "signal");
	tcase_add_test(tc, test_dump_signal);
	tcase_add_test(tc, test_dump_signal_bad_name);

	tc = tcase_add(s, "watchdog");
	tcase_add_test(tc, test_watchdog);
	tcase_add_test(tc, test_watchdog_config);

	return s;
}

int main(void)
{
	return run_suite(dump_suite());
}
