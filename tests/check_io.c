/*
 * check_io.c - the I/O calls: smarm_wait_readable, smarm_wait_writable,
 * smarm_read, smarm_write, smarm_accept, smarm_connect, smarm_close,
 * smarm_block_on_io, smarm_signal_wait and smarm_shutdown, over real
 * descriptors: TCP on 127.0.0.1, socketpair(AF_UNIX) and pipes.
 *
 *  - readiness: wait_readable/wait_writable return once data (or room)
 *               comes, sent by another actor after a sleep or by a plain
 *               thread; end of file and hang-up count as ready; regular
 *               files are always ready; timeout 0 only asks; the fd's
 *               flags are left alone.
 *  - timeout:   timeouts that fire (ETIMEDOUT, never early: wait_readable,
 *               wait_writable, read, write, accept) and ones that do not
 *               (data well before a long timeout: no stray timer, no stray
 *               readiness wake of a later sleep).
 *  - read:      partial data (*done >= 1, never more than len), end of
 *               file (*done == 0) after the peer shuts down or closes, also
 *               while waiting; len 0; a TCP reset (SO_LINGER 0) is
 *               ECONNRESET; sockets' flags untouched, pipes left
 *               O_NONBLOCK; a reader wakes on one worker while another
 *               actor yields without end.
 *  - write:     a write far larger than the socket (or pipe) buffers with a
 *               short timeout while nobody reads: ETIMEDOUT with
 *               0 < *done < len; then, a reader draining, a full write
 *               (*done == len), every byte of the stream checked; EPIPE and
 *               no SIGPIPE on sockets whose peer closed; a pipe whose
 *               reader is gone raises SIGPIPE on whichever worker (EPIPE
 *               when ignored); one reader and one writer actor on each end
 *               of a socket at once.
 *  - accept:    ETIMEDOUT with no client; connect to a listening port (the
 *               peer's address reported, NULL addr allowed); the new fd is
 *               O_NONBLOCK and FD_CLOEXEC, the listener and the connecting
 *               socket left O_NONBLOCK; ECONNREFUSED to a port that does
 *               not listen; ETIMEDOUT connecting to a full backlog.
 *  - cancel:    smarm_cancel of an actor waiting in wait_readable,
 *               wait_writable, read, write (full buffer), accept, connect,
 *               signal_wait and block_on_io (queued: fn never runs;
 *               running: the call returns once fn has, with its result):
 *               ECANCELED, nothing lost, the fd usable after; a cancel
 *               made before the call.
 *  - close:     smarm_close by another actor or a plain thread wakes an
 *               actor waiting on the fd with EBADF; EBADF for fds that are
 *               not open; an fd number reused after smarm_close or close(2)
 *               works.
 *  - errors:    EBUSY for a second reader (or writer) of one fd (accept
 *               counts as read, connect as write); EPERM from plain threads
 *               and with no run;
 *               EBADF for -1 and closed fds; EINVAL for NULL arguments.
 *  - block:     the job blocks a helper thread, not the worker (one worker:
 *               a sibling actor keeps running); the result comes back; jobs
 *               beyond io_threads queue, first come first served, and all
 *               complete; as many helpers as io_threads allow run when a
 *               burst of jobs comes; the default is SMARM_IO_THREADS_DEFAULT;
 *               io_threads above SMARM_IO_THREADS_MAX is EINVAL; a job may
 *               smarm_send_to; the helpers end with the run.
 *  - signal:    SIGUSR1 sent by an actor or a plain thread is taken by the
 *               actor waiting for it; ETIMEDOUT; EINVAL (NULL, empty set,
 *               SIGKILL, SIGSTOP, the synchronous signals); a signal sent
 *               before the wait is taken by the next one; an actor on a
 *               worker other than the run's caller gets it while that one
 *               idles; runtimes made one after the other wait alike; the
 *               run restores its caller's mask.
 *  - runs:      an actor alone waiting with no timeout (wait_readable,
 *               read, accept, signal_wait, block_on_io) for a plain thread
 *               is not a deadlock; one runtime run three times reading the
 *               same fd; a runtime run again after a run that abandoned
 *               actors waiting with timeouts.
 *  - shutdown:  actors waiting in recv, receive, sleep, read, accept,
 *               signal_wait and block_on_io end when cancelled: the run returns as usual;
 *               an actor that ignores ECANCELED makes the run return
 *               ETIMEDOUT after about the timeout, named on stderr; from a
 *               plain thread (0 or ETIMEDOUT); a second shutdown keeps the
 *               first deadline; ESRCH with no run.
 *
 * Every test runs in a fixture that counts the process's open fds before
 * and after: the runtime and the tests leave none behind.  SIGUSR1 and
 * SIGUSR2 are blocked in the main thread before anything else (so in every
 * thread the process makes), as smarm_signal_wait asks.  An actor that must
 * be parked in a call before the test acts on it is waited for (it counts
 * one more park) and given SETTLE more.  Waits on a full buffer use
 * socketpairs: a TCP connection nobody reads may still find room by itself.
 * Only lower bounds on elapsed time are checked; the upper bounds (seconds)
 * are there to catch hangs.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 60
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/stat.h>

/* A wait only a bug makes expire. */
#define WAIT (30000 * MS)
/* A timeout that must expire. */
#define SHORT (30 * MS)
/* Time given to an actor to park in its call. */
#define SETTLE (20 * MS)
#define SEC (1000 * MS)
/* A timeout that must not fire, however slow the run. */
#define LONG (3600 * SEC)

/* What an actor returns for a call's code: code + 1, so 0 is not NULL. */
static void *code_tok(int code)
{
	return tok((uint64_t)(code + 1));
}

/* ---- fds ------------------------------------------------------------------------ */

/* The process's open fds, their numbers listed in buf. */
static int fd_count(char *buf, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	size_t off = 0;
	int n = 0, self;

	ck_assert_ptr_nonnull(d);
	self = dirfd(d);
	buf[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.' || atoi(e->d_name) == self)
			continue;
		n++;
		if (off + 16 < size)
			off += (size_t)snprintf(buf + off, size - off, " %s",
						e->d_name);
	}
	closedir(d);
	return n;
}

static int fds_before;
static char fds_before_list[512];

static void fd_setup(void)
{
	fds_before = fd_count(fds_before_list, sizeof(fds_before_list));
}

static void fd_teardown(void)
{
	char now[512];
	int n = fd_count(now, sizeof(now));

	ck_assert_msg(n == fds_before, "open fds: %d before (%s), %d after (%s)",
		      fds_before, fds_before_list, n, now);
}

/* The OS threads of the process. */
static int task_count(void)
{
	return dir_entries("/proc/self/task");
}

/* Wait (2 s at most) until the process has n threads; how many it has.
 * (A thread that pthread_join has seen end may still be listed a
 * moment.) */
static int tasks_back_to(int n)
{
	uint64_t t0 = mono_ns();

	while (task_count() != n && mono_ns() - t0 < 2 * SEC)
		nap_us(1000);
	return task_count();
}

/* The process is back to n threads (after the runtime's helpers ended).
 * Not under ThreadSanitizer, which starts a thread of its own while a
 * test runs: there the count is one more, with nothing wrong. */
#define ASSERT_TASKS_BACK_TO(n) do { \
	int want_ = (n), got_ = tasks_back_to(want_); \
	if (!TSAN_BUILD) \
		ck_assert_int_eq(got_, want_); \
} while (0)

/* The threads of the process once those of an earlier run are gone:
 * the test's own (one, unless it started some). */
static int tasks_base(void)
{
	return tasks_back_to(1);
}

static int fl(int fd)
{
	int f = fcntl(fd, F_GETFL);

	ck_assert_int_ne(f, -1);
	return f;
}

static int is_nonblock(int fd)
{
	return (fl(fd) & O_NONBLOCK) != 0;
}

static int is_cloexec(int fd)
{
	int f = fcntl(fd, F_GETFD);

	ck_assert_int_ne(f, -1);
	return (f & FD_CLOEXEC) != 0;
}

static int is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1;
}

static int is_socket(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return S_ISSOCK(st.st_mode);
}

/* A number that is no open fd. */
static int closed_fd(void)
{
	int fd = dup(0);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(close(fd), 0);
	return fd;
}

/* ---- links: a TCP connection, a socketpair, a pipe ------------------------------ */

enum { TCP, UNIX, PIPE, NKINDS };

/* A byte stream from w to r.  Sockets are bidirectional: r and w are
 * the two ends.  Both blocking, close-on-exec. */
struct link {
	int kind;
	int r, w;
};

/* A TCP listener on 127.0.0.1, an ephemeral port (*port, network
 * order). */
static int tcp_listen(in_port_t *port, int backlog)
{
	struct sockaddr_in sa;
	socklen_t sl = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	if (backlog >= 0)
		ck_assert_int_eq(listen(fd, backlog), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sa, &sl), 0);
	*port = sa.sin_port;
	return fd;
}

static struct sockaddr_in loopback(in_port_t port)
{
	struct sockaddr_in sa;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sa.sin_port = port;
	return sa;
}

static int tcp_socket(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	ck_assert_int_ge(fd, 0);
	return fd;
}

/* A blocking connect(2) (to a listener on loopback: it does not wait
 * for an accept). */
static int tcp_dial(in_port_t port)
{
	struct sockaddr_in sa = loopback(port);
	int fd = tcp_socket();

	ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Close with close(2) whatever is open (nobody waits on it). */
static void fd_close(int *fd)
{
	if (*fd >= 0)
		ck_assert_int_eq(close(*fd), 0);
	*fd = -1;
}

/* A listener whose accept queue is full: backlog 0 takes one connection,
 * and the SYNs of the next are dropped, so that a connect to *sa waits.
 * The NBACKLOG sockets that filled it are in held[]. */
#define NBACKLOG 4

static int full_backlog(struct sockaddr_in *sa, int held[NBACKLOG])
{
	in_port_t port;
	int lfd = tcp_listen(&port, 0), i;

	*sa = loopback(port);
	for (i = 0; i < NBACKLOG; i++) {
		held[i] = socket(AF_INET,
				 SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		ck_assert_int_ge(held[i], 0);
		if (connect(held[i], (struct sockaddr *)sa, sizeof(*sa)) != 0)
			ck_assert_int_eq(errno, EINPROGRESS);
	}
	return lfd;
}

static void backlog_close(int *lfd, int held[NBACKLOG])
{
	int i;

	for (i = 0; i < NBACKLOG; i++)
		fd_close(&held[i]);
	fd_close(lfd);
}

static void link_open(struct link *l, int kind)
{
	int v[2];

	l->kind = kind;
	switch (kind) {
	case TCP: {
		in_port_t port;
		int lfd = tcp_listen(&port, 4);

		l->w = tcp_dial(port);
		l->r = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		ck_assert_int_ge(l->r, 0);
		ck_assert_int_eq(close(lfd), 0);
		break;
	}
	case UNIX:
		ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
					    0, v),
				 0);
		l->r = v[0];
		l->w = v[1];
		break;
	default:
		ck_assert_int_eq(pipe2(v, O_CLOEXEC), 0);
		l->r = v[0];
		l->w = v[1];
		break;
	}
}

/* Small buffers: tens of KiB between w and r.  (Not less on TCP: with
 * socket buffers of 4 KiB on loopback, each refill of a non-blocking
 * sender waits for the kernel's window probe, some 200 ms.) */
static void link_shrink(struct link *l)
{
	int small = 32768, page = 4096;

	if (l->kind == PIPE) {
		ck_assert_int_ge(fcntl(l->w, F_SETPIPE_SZ, page), page);
		return;
	}
	ck_assert_int_eq(setsockopt(l->w, SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)),
			 0);
	ck_assert_int_eq(setsockopt(l->w, SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)),
			 0);
	ck_assert_int_eq(setsockopt(l->r, SOL_SOCKET, SO_SNDBUF, &small,
				    sizeof(small)),
			 0);
	ck_assert_int_eq(setsockopt(l->r, SOL_SOCKET, SO_RCVBUF, &small,
				    sizeof(small)),
			 0);
}

static void link_close(struct link *l)
{
	fd_close(&l->r);
	fd_close(&l->w);
}

/* The writer's end of the stream says end of file: the socket is shut
 * down for writing, the pipe's end closed. */
static void link_end(struct link *l)
{
	if (l->kind == PIPE)
		fd_close(&l->w);
	else
		ck_assert_int_eq(shutdown(l->w, SHUT_WR), 0);
}

/* A plain write(2) of all of s. */
static void put(int fd, const char *s)
{
	size_t n = strlen(s);

	ck_assert_int_eq(write(fd, s, n), (ssize_t)n);
}

/* Fill fd's buffers with plain non-blocking writes until it is not
 * writable; the bytes written.  A pipe's flags are restored. */
static size_t fill(int fd)
{
	static const char chunk[4096];
	int sock = is_socket(fd), flags = fl(fd), i;
	size_t total = 0;

	if (!sock)
		ck_assert_int_eq(fcntl(fd, F_SETFL, flags | O_NONBLOCK), 0);
	for (i = 0; i < 1000000; i++) {
		struct pollfd p = { fd, POLLOUT, 0 };
		ssize_t n = sock ? send(fd, chunk, sizeof(chunk),
					MSG_DONTWAIT | MSG_NOSIGNAL)
				 : write(fd, chunk, sizeof(chunk));

		if (n > 0) {
			total += (size_t)n;
			continue;
		}
		ck_assert_msg(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK),
			      "fill: %s", strerror(errno));
		if (poll(&p, 1, 0) == 0)
			break;
	}
	if (!sock)
		ck_assert_int_eq(fcntl(fd, F_SETFL, flags), 0);
	ck_assert_uint_gt(total, 0);
	return total;
}

/* The stream's byte at offset k: no short period. */
static unsigned char pat(uint64_t k)
{
	k = (k + 1) * 0x9e3779b97f4a7c15ull;
	return (unsigned char)(k >> 56);
}

static unsigned char *pattern(uint64_t from, size_t len)
{
	unsigned char *b = malloc(len);
	size_t i;

	ck_assert_ptr_nonnull(b);
	for (i = 0; i < len; i++)
		b[i] = pat(from + i);
	return b;
}

/* ---- actor helpers ----------------------------------------------------------------- */

/* Wait, letting others run, until cond holds; fail after WAIT. */
#define AWAIT(cond) AWAIT_WITHIN(cond, WAIT)

/* In an actor: read exactly n bytes of fd (WAIT each); if check, each
 * must be pat(*off + i).  *off advances. */
static void read_exact(int fd, size_t n, uint64_t *off, int check)
{
	unsigned char buf[16384];

	while (n > 0) {
		size_t done = 0, i;
		int r = smarm_read(fd, buf, n < sizeof(buf) ? n : sizeof(buf),
				   &done, WAIT);

		REQUIRE_MSG(r == 0, "read at %llu: %d", (unsigned long long)*off,
			    r);
		REQUIRE_MSG(done >= 1, "end of file %zu bytes early", n);
		for (i = 0; check && i < done; i++)
			REQUIRE_MSG(buf[i] == pat(*off + i),
				    "byte %llu is %u, not %u",
				    (unsigned long long)(*off + i), buf[i],
				    pat(*off + i));
		*off += done;
		n -= done;
	}
}

/* In an actor: read fd to its end, checking the pattern from *off; the
 * bytes read. */
static uint64_t read_to_end(int fd, uint64_t *off, int check)
{
	unsigned char buf[16384];
	uint64_t start = *off;

	for (;;) {
		size_t done = 0, i;
		int r = smarm_read(fd, buf, sizeof(buf), &done, WAIT);

		REQUIRE_MSG(r == 0, "read at %llu: %d", (unsigned long long)*off,
			    r);
		if (done == 0)
			return *off - start;
		for (i = 0; check && i < done; i++)
			REQUIRE_MSG(buf[i] == pat(*off + i),
				    "byte %llu is %u, not %u",
				    (unsigned long long)(*off + i), buf[i],
				    pat(*off + i));
		*off += done;
	}
}

static void noop_dead(void *msg, smarm_pid to)
{
	(void)msg;
	(void)to;
}

/* Run fn(arg) as the root of a fresh runtime from the defaults (SMARM_THREADS
 * applies) but for threads and io_threads when not 0; messages are small
 * integers, dropped when left over.  What smarm_runtime_run returned. */
static int run_cfg(smarm_fn fn, void *arg, unsigned threads, unsigned io,
		   void **res)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int err;

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (io)
		cfg.io_threads = io;
	cfg.dead_letter = noop_dead;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	err = smarm_runtime_run(rt, fn, arg, res);
	smarm_runtime_free(rt);
	return err;
}

/* The same; the run must succeed. */
static void run(smarm_fn fn, void *arg)
{
	void *res = NULL;

	ck_assert_int_eq(run_cfg(fn, arg, 0, 0, &res), 0);
}

static void *join_wait(smarm_pid pid)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_join(pid, &res, WAIT), 0);
	return res;
}

/* In an actor: yield until *started is set (within WAIT), then until the
 * runtime has counted more than parks parks (at most a second: this only
 * gives the other actor its turn to park), then sleep SETTLE.  The caller
 * itself must not park meanwhile, so it only yields. */
static void settle(atomic_int *started, uint64_t parks)
{
	uint64_t t0 = mono_ns();

	while (!atomic_load(started)) {
		ck_assert_msg(mono_ns() - t0 < WAIT, "the actor never started");
		ck_assert_int_eq(smarm_yield(), 0);
	}
	t0 = mono_ns();
	while (stats_now().parks <= parks && mono_ns() - t0 < SEC)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(smarm_sleep(SETTLE), 0);
}

/* stderr into a temporary file while a run goes. */
struct capture {
	int saved, fd;
};

static void capture_start(struct capture *c)
{
	char path[] = "/tmp/smarm-check-io-XXXXXX";

	fflush(stderr);
	c->fd = mkostemp(path, O_CLOEXEC);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_int_eq(unlink(path), 0);
	c->saved = dup(2);
	ck_assert_int_ge(c->saved, 0);
	ck_assert_int_eq(dup2(c->fd, 2), 2);
}

/* What was written, in buf (NUL-terminated); stderr restored and the
 * text repeated there. */
static void capture_end(struct capture *c, char *buf, size_t size)
{
	ssize_t n;

	fflush(stderr);
	ck_assert_int_eq(dup2(c->saved, 2), 2);
	fd_close(&c->saved);
	n = pread(c->fd, buf, size - 1, 0);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	fd_close(&c->fd);
	fputs(buf, stderr);
}

/* ---- one call in an actor of its own ------------------------------------------------ */

enum {
	OP_READABLE,
	OP_WRITABLE,
	OP_READ,
	OP_WRITE,
	OP_ACCEPT,
	OP_CONNECT,
	OP_SIGNAL,
	OP_BLOCK,
	NOPS
};
static const char *const op_name[NOPS] = { "wait_readable", "wait_writable",
					   "read",	    "write",
					   "accept",	    "connect",
					   "signal_wait",   "block_on_io" };

struct op {
	int what;
	int fd;
	void *buf;
	size_t len;
	uint64_t timeout;
	sigset_t set;
	struct sockaddr_in addr;
	smarm_fn job;
	void *job_arg;
	/* Results: set by the actor. */
	atomic_int started; /* just before the call */
	int rc;
	size_t done;
	int newfd;
	int signo;
	void *result;
	uint64_t t0, t1; /* smarm_now() around the call */
};

static void op_init(struct op *o, int what, int fd, uint64_t timeout)
{
	memset(o, 0, sizeof(*o));
	o->what = what;
	o->fd = fd;
	o->timeout = timeout;
	o->newfd = -1;
	o->rc = -1;
	sigemptyset(&o->set);
}

static int op_call(struct op *o)
{
	switch (o->what) {
	case OP_READABLE:
		return smarm_wait_readable(o->fd, o->timeout);
	case OP_WRITABLE:
		return smarm_wait_writable(o->fd, o->timeout);
	case OP_READ:
		return smarm_read(o->fd, o->buf, o->len, &o->done, o->timeout);
	case OP_WRITE:
		return smarm_write(o->fd, o->buf, o->len, &o->done, o->timeout);
	case OP_ACCEPT:
		return smarm_accept(o->fd, &o->newfd, NULL, NULL, o->timeout);
	case OP_CONNECT:
		return smarm_connect(o->fd, (struct sockaddr *)&o->addr,
				     sizeof(o->addr), o->timeout);
	case OP_SIGNAL:
		return smarm_signal_wait(&o->set, &o->signo, o->timeout);
	default:
		return smarm_block_on_io(o->job, o->job_arg, &o->result);
	}
}

static void *op_actor(void *arg)
{
	struct op *o = arg;

	o->done = (size_t)-1;
	o->t0 = smarm_now();
	atomic_store(&o->started, 1);
	o->rc = op_call(o);
	o->t1 = smarm_now();
	return code_tok(o->rc);
}

/* In an actor: spawn an actor making o's call; return once it has most
 * likely parked in it. */
static smarm_pid op_spawn(struct op *o)
{
	uint64_t parks = stats_now().parks;
	smarm_pid pid;

	spawn_ok(&pid, op_actor, o);
	settle(&o->started, parks);
	return pid;
}

static smarm_pid pinned_spawn_ok(smarm_fn fn, void *arg)
{
	smarm_pid pid;

	spawn_pinned_ok(&pid, fn, arg);
	return pid;
}

/* Join o's actor within WAIT; its call's code. */
static int op_join(smarm_pid pid, struct op *o)
{
	join_wait(pid);
	return o->rc;
}

/* ---- readiness ----------------------------------------------------------------------- */

/* A writer: an actor that sleeps, then writes "x" on fd; or the same in a
 * plain thread. */
struct later {
	int fd;
	uint64_t delay;
	atomic_int wrote; /* set just before the write */
};

static void *later_actor(void *arg)
{
	struct later *w = arg;

	ck_assert_int_eq(smarm_sleep(w->delay), 0);
	atomic_store(&w->wrote, 1);
	put(w->fd, "x");
	return NULL;
}

static void *later_thread(void *arg)
{
	struct later *w = arg;

	nap_us((unsigned)(w->delay / 1000));
	atomic_store(&w->wrote, 1);
	put(w->fd, "x");
	return NULL;
}

struct ready_case {
	int kind;
	int by_thread;
};

static void *ready_root(void *arg)
{
	const struct ready_case *c = arg;
	struct later w = { -1, 20 * MS, 0 };
	struct link l;
	pthread_t th;
	smarm_pid pid;
	char b = 0;
	size_t done = 0;
	int flags;

	link_open(&l, c->kind);
	flags = fl(l.r);
	w.fd = l.w;
	if (c->by_thread)
		ck_assert_int_eq(pthread_create(&th, NULL, later_thread, &w), 0);
	else
		spawn_ok(&pid, later_actor, &w);
	ck_assert_int_eq(smarm_wait_readable(l.r, WAIT), 0);
	ck_assert_int_eq(atomic_load(&w.wrote), 1);
	/* Nothing consumed, flags unchanged. */
	ck_assert_int_eq(fl(l.r), flags);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), 0);
	ck_assert_int_eq(smarm_read(l.r, &b, 1, &done, 0), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(b, 'x');
	if (c->by_thread)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	else
		join_wait(pid);
	link_close(&l);
	return NULL;
}

/* wait_readable on an empty tcp connection, socketpair or pipe returns 0
 * once another actor (_i even) or a plain thread (_i odd) has written a
 * byte after 20 ms; the byte is still there, the fd's flags unchanged. */
START_TEST(test_ready_read)
{
	struct ready_case c = { _i / 2, _i % 2 };

	run(ready_root, &c);
}
END_TEST

struct drainer {
	int fd;
	size_t n;
	atomic_int reading; /* set just before the first read */
};

static void *drainer_actor(void *arg)
{
	struct drainer *d = arg;
	uint64_t off = 0;

	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	atomic_store(&d->reading, 1);
	read_exact(d->fd, d->n, &off, 0);
	return NULL;
}

static void *drainer_thread(void *arg)
{
	struct drainer *d = arg;
	char buf[4096];
	size_t left = d->n;

	nap_us(20000);
	atomic_store(&d->reading, 1);
	while (left > 0) {
		ssize_t n = read(d->fd, buf,
				 left < sizeof(buf) ? left : sizeof(buf));

		ck_assert_int_gt(n, 0);
		left -= (size_t)n;
	}
	return NULL;
}

static void *writable_root(void *arg)
{
	const struct ready_case *c = arg;
	struct drainer d = { -1, 0, 0 };
	struct link l;
	pthread_t th;
	smarm_pid pid;
	int flags;

	link_open(&l, c->kind);
	link_shrink(&l);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), 0);
	d.fd = l.r;
	d.n = fill(l.w);
	flags = fl(l.w);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), ETIMEDOUT);
	if (c->by_thread)
		ck_assert_int_eq(pthread_create(&th, NULL, drainer_thread, &d),
				 0);
	else
		spawn_ok(&pid, drainer_actor, &d);
	ck_assert_int_eq(smarm_wait_writable(l.w, WAIT), 0);
	if (c->kind == TCP && !atomic_load(&d.reading)) {
		/* A TCP connection that nobody reads may still find room by
		 * itself a while after it was filled (the receiver packs its
		 * queue and opens its window at the next probe): then it
		 * must really be writable. */
		struct pollfd p = { l.w, POLLOUT, 0 };

		ck_assert_int_eq(poll(&p, 1, 0), 1);
	} else {
		ck_assert_int_eq(atomic_load(&d.reading), 1);
	}
	ck_assert_int_eq(fl(l.w), flags);
	if (c->by_thread)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	else
		join_wait(pid);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), 0);
	link_close(&l);
	return NULL;
}

/* wait_writable on a full tcp connection, socketpair or pipe: ETIMEDOUT
 * with timeout 0; 0 once another actor (_i even) or a plain thread (_i
 * odd) drains it after 20 ms (tcp: or once it found room by itself, which
 * poll confirms); flags unchanged. */
START_TEST(test_ready_write)
{
	struct ready_case c = { _i / 2, _i % 2 };

	run(writable_root, &c);
}
END_TEST

static void *poll_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	uint64_t t0;
	char b[4];
	size_t done = 7;

	link_open(&l, kind);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, 0), ETIMEDOUT);
	ck_assert_uint_eq(done, 0);
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), 0);
	ck_assert_int_eq(smarm_write(l.w, "abc", 3, &done, 0), 0);
	ck_assert_uint_eq(done, 3);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), 0);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), 0);
	done = 0;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, 0), 0);
	ck_assert_uint_ge(done, 1);
	ck_assert_uint_le(done, 3);
	ck_assert_int_eq(memcmp(b, "abc", done), 0);
	link_close(&l);
	return NULL;
}

/* Timeout 0 only asks: on an empty fd wait_readable and read give
 * ETIMEDOUT (read *done 0) at once; an empty fd is writable, a write of
 * 3 bytes goes at once; then the other end is readable (asked twice:
 * nothing consumed), and a read with timeout 0 gets the bytes. */
START_TEST(test_poll_zero)
{
	run(poll_root, tok((uint64_t)_i));
}
END_TEST

/* A temporary regular file (unlinked), holding s. */
static int temp_file(const char *s)
{
	char path[] = "/tmp/smarm-check-io-XXXXXX";
	int fd = mkostemp(path, O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(unlink(path), 0);
	put(fd, s);
	ck_assert_int_eq(lseek(fd, 0, SEEK_SET), 0);
	return fd;
}

static void *file_root(void *arg)
{
	int fd = temp_file("hello");
	char b[16];
	size_t done = 0;
	uint64_t t0 = smarm_now();

	(void)arg;
	ck_assert_int_eq(smarm_wait_readable(fd, 0), 0);
	ck_assert_int_eq(smarm_wait_writable(fd, 0), 0);
	ck_assert_int_eq(smarm_wait_readable(fd, WAIT), 0);
	ck_assert_int_eq(smarm_wait_writable(fd, WAIT), 0);
	ck_assert_int_eq(smarm_read(fd, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 5);
	ck_assert_int_eq(memcmp(b, "hello", 5), 0);
	/* At its end: still ready, end of file. */
	ck_assert_int_eq(smarm_wait_readable(fd, WAIT), 0);
	done = 9;
	ck_assert_int_eq(smarm_read(fd, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(smarm_write(fd, " world", 6, &done, WAIT), 0);
	ck_assert_uint_eq(done, 6);
	ck_assert_int_eq(pread(fd, b, sizeof(b), 0), 11);
	ck_assert_int_eq(memcmp(b, "hello world", 11), 0);
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	ck_assert_int_eq(smarm_close(fd), 0);
	return NULL;
}

/* A regular file is always ready: wait_readable and wait_writable give 0
 * at once, with timeout 0 and with a long one, at its end too; read gets
 * its bytes, then end of file; write appends. */
START_TEST(test_regular_file)
{
	run(file_root, NULL);
}
END_TEST

static void *hangup_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;

	/* The writer gone: the reader is ready (end of file). */
	link_open(&l, kind);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	fd_close(&l.w);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), 0);
	ck_assert_int_eq(smarm_wait_readable(l.r, WAIT), 0);
	link_close(&l);
	/* The reader gone: the writer is ready (an error, or EPIPE, to
	 * come). */
	link_open(&l, kind);
	link_shrink(&l);
	fill(l.w);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), ETIMEDOUT);
	fd_close(&l.r);
	ck_assert_int_eq(smarm_wait_writable(l.w, WAIT), 0);
	link_close(&l);
	return NULL;
}

/* End of file and hang-up count as ready: a reader whose writer closed
 * is readable; a full writer whose reader closed is writable. */
START_TEST(test_hangup_ready)
{
	run(hangup_root, tok((uint64_t)_i));
}
END_TEST

/* ---- timeouts -------------------------------------------------------------------------- */

/* The link for a test of op what: a socketpair when the op waits on a
 * full buffer (a TCP connection that nobody reads may still move a few
 * bytes a while after it was filled, as the receiver packs its queue:
 * writable again), TCP otherwise. */
static int full_kind(int what)
{
	return what == OP_WRITABLE || what == OP_WRITE ? UNIX : TCP;
}

static void *fire_root(void *arg)
{
	int what = (int)untok(arg);
	struct link l;
	struct op o;
	in_port_t port;
	int lfd = -1;
	size_t len = 64 * 1024;
	unsigned char *buf = pattern(0, len);
	smarm_pid pid;

	link_open(&l, full_kind(what));
	link_shrink(&l);
	switch (what) {
	case OP_READABLE:
	case OP_READ:
		op_init(&o, what, l.r, SHORT);
		o.buf = buf;
		o.len = len;
		break;
	case OP_WRITABLE:
	case OP_WRITE:
		fill(l.w);
		op_init(&o, what, l.w, SHORT);
		o.buf = buf;
		o.len = len;
		break;
	default:
		lfd = tcp_listen(&port, 4);
		op_init(&o, OP_ACCEPT, lfd, SHORT);
		break;
	}
	spawn_ok(&pid, op_actor, &o);
	ck_assert_int_eq(op_join(pid, &o), ETIMEDOUT);
	ck_assert_msg(o.t1 - o.t0 >= SHORT, "%s: timed out after %llu us",
		      op_name[what], (unsigned long long)(o.t1 - o.t0) / 1000);
	ck_assert_uint_lt(o.t1 - o.t0, WAIT / 2);
	if (what == OP_READ)
		ck_assert_uint_eq(o.done, 0);
	if (what == OP_WRITE)
		ck_assert_uint_lt(o.done, len);
	if (what == OP_ACCEPT) {
		ck_assert_int_eq(o.newfd, -1);
		ck_assert(is_nonblock(lfd));
	}
	fd_close(&lfd);
	link_close(&l);
	free(buf);
	return NULL;
}

/* Timeouts that fire: wait_readable and read on an empty tcp connection,
 * wait_writable and write on a full socketpair, accept with no client, each
 * with 30 ms: ETIMEDOUT after at least 30 ms; read's *done is 0, write's
 * under len; accept leaves *fd alone and the listener O_NONBLOCK. */
START_TEST(test_timeout_fires)
{
	static const int ops[] = { OP_READABLE, OP_WRITABLE, OP_READ, OP_WRITE,
				   OP_ACCEPT };

	run(fire_root, tok((uint64_t)ops[_i]));
}
END_TEST

static void *late_writer(void *arg)
{
	struct later *w = arg;

	/* In the middle of the reader's sleep. */
	ck_assert_int_eq(smarm_sleep(w->delay), 0);
	put(w->fd, "y");
	atomic_store(&w->wrote, 2);
	return NULL;
}

static void *not_fired_root(void *arg)
{
	struct later w = { -1, 10 * MS, 0 };
	struct link l;
	struct op o;
	smarm_msg m;
	smarm_pid pid;
	uint64_t t0 = smarm_now(), t;
	in_port_t port;
	int lfd, cfd;
	char b[4];
	size_t done = 0;

	(void)arg;
	link_open(&l, TCP);
	/* wait_readable: data after 10 ms, timeout an hour. */
	w.fd = l.w;
	spawn_ok(&pid, later_actor, &w);
	ck_assert_int_eq(smarm_wait_readable(l.r, LONG), 0);
	join_wait(pid);
	ck_assert_int_eq(smarm_read(l.r, b, 1, &done, LONG), 0);
	ck_assert_uint_eq(done, 1);
	/* read: the same. */
	atomic_store(&w.wrote, 0);
	spawn_ok(&pid, later_actor, &w);
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, LONG), 0);
	ck_assert_uint_eq(done, 1);
	join_wait(pid);
	/* accept: a client after 10 ms. */
	lfd = tcp_listen(&port, 4);
	op_init(&o, OP_ACCEPT, lfd, LONG);
	spawn_ok(&pid, op_actor, &o);
	ck_assert_int_eq(smarm_sleep(10 * MS), 0);
	cfd = tcp_dial(port);
	ck_assert_int_eq(op_join(pid, &o), 0);
	fd_close(&o.newfd);
	fd_close(&cfd);
	fd_close(&lfd);
	/* No stray timer and no stray readiness: a sleep lasts its time,
	 * though the fd waited on gets data in the middle of it; a receive
	 * times out after its own time. */
	w.delay = SHORT / 2;
	spawn_ok(&pid, late_writer, &w);
	t = smarm_now();
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	ck_assert_uint_ge(smarm_now() - t, SHORT);
	join_wait(pid);
	t = smarm_now();
	ck_assert_int_eq(smarm_receive(&m, SHORT), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t, SHORT);
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, LONG), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(b[0], 'y');
	link_close(&l);
	/* The hour-long timers kept nothing waiting. */
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	return NULL;
}

/* Timeouts that do not fire: wait_readable, read and accept with a timeout
 * of an hour return when the data or the client comes, 10 ms later; then
 * a 30 ms sleep lasts 30 ms though the fd gets data in its middle, and a
 * 30 ms receive times out after 30 ms; the run ends long before an hour. */
START_TEST(test_timeout_not_fired)
{
	uint64_t t0 = mono_ns();

	run(not_fired_root, NULL);
	ck_assert_uint_lt(mono_ns() - t0, WAIT / 2);
}
END_TEST

/* ---- read -------------------------------------------------------------------------- */

static void *partial_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	char b[64];
	size_t done, got;

	link_open(&l, kind);
	/* 3 bytes there, 64 asked: between 1 and 3. */
	put(l.w, "abc");
	for (got = 0; got < 3; got += done) {
		done = 0;
		ck_assert_int_eq(smarm_read(l.r, b + got, sizeof(b) - got, &done,
					    WAIT),
				 0);
		ck_assert_uint_ge(done, 1);
		ck_assert_uint_le(got + done, 3);
	}
	ck_assert_int_eq(memcmp(b, "abc", 3), 0);
	/* 10 there, 4 asked at a time: never more than 4. */
	put(l.w, "0123456789");
	for (got = 0; got < 10; got += done) {
		done = 0;
		ck_assert_int_eq(smarm_read(l.r, b + got, 4, &done, WAIT), 0);
		ck_assert_uint_ge(done, 1);
		ck_assert_uint_le(done, 4);
	}
	ck_assert_uint_eq(got, 10);
	ck_assert_int_eq(memcmp(b, "0123456789", 10), 0);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	link_close(&l);
	return NULL;
}

/* smarm_read returns what is there: 3 bytes written, 64 asked, *done
 * between 1 and 3 until all 3 came; 10 written, 4 asked at a time, never
 * more than 4; the bytes in order, nothing left over. */
START_TEST(test_read_partial)
{
	run(partial_root, tok((uint64_t)_i));
}
END_TEST

static void *closer_later(void *arg)
{
	struct link *l = arg;

	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	put(l->w, "z");
	if (l->kind == PIPE)
		fd_close(&l->w);
	else
		ck_assert_int_eq(close(l->w), 0);
	return NULL;
}

static void *eof_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	smarm_pid pid;
	char b[8];
	size_t done;

	/* Shut down (a pipe: closed) before the read. */
	link_open(&l, kind);
	put(l.w, "ab");
	link_end(&l);
	done = 0;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 2);
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, 0), 0);
	ck_assert_uint_eq(done, 0);
	link_close(&l);
	/* Closed while the reader waits: a byte, then end of file. */
	link_open(&l, kind);
	spawn_ok(&pid, closer_later, &l);
	done = 0;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(b[0], 'z');
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	join_wait(pid);
	l.w = -1;
	link_close(&l);
	return NULL;
}

/* End of file: after the peer's shutdown (a pipe's writer closed) the
 * data, then *done == 0 (with timeout 0 too); a reader waiting while the
 * peer writes a byte and closes gets the byte, then *done == 0. */
START_TEST(test_read_eof)
{
	run(eof_root, tok((uint64_t)_i));
}
END_TEST

static void *len0_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	char b[4] = { 0 };
	size_t done = 5;
	int r;

	link_open(&l, kind);
	/* Nothing there, timeout 0: nothing read whatever it says. */
	r = smarm_read(l.r, b, 0, &done, 0);
	ck_assert_msg(r == 0 || r == ETIMEDOUT, "read of 0 bytes: %d", r);
	ck_assert_uint_eq(done, 0);
	put(l.w, "q");
	done = 5;
	ck_assert_int_eq(smarm_read(l.r, b, 0, &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	done = 5;
	ck_assert_int_eq(smarm_read(l.r, NULL, 0, &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	/* The byte is still there. */
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(b[0], 'q');
	/* write of 0 bytes. */
	done = 5;
	ck_assert_int_eq(smarm_write(l.w, b, 0, &done, WAIT), 0);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	link_close(&l);
	return NULL;
}

/* len 0: a read with data there returns 0 with *done == 0 (buf NULL
 * allowed) and takes nothing; on an empty fd with timeout 0 it reads
 * nothing either; a write of 0 bytes returns 0, *done == 0. */
START_TEST(test_read_len0)
{
	run(len0_root, tok((uint64_t)_i));
}
END_TEST

/* Close fd so that its peer gets a reset: SO_LINGER with 0. */
static void tcp_reset(int *fd)
{
	struct linger lg = { 1, 0 };

	ck_assert_int_eq(setsockopt(*fd, SOL_SOCKET, SO_LINGER, &lg,
				    sizeof(lg)),
			 0);
	fd_close(fd);
}

static void *resetter(void *arg)
{
	struct link *l = arg;

	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	tcp_reset(&l->w);
	return NULL;
}

static void *reset_root(void *arg)
{
	struct link l;
	smarm_pid pid;
	char b[8];
	size_t done;

	(void)arg;
	/* Reset before the read. */
	link_open(&l, TCP);
	tcp_reset(&l.w);
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT),
			 ECONNRESET);
	ck_assert_uint_eq(done, 0);
	link_close(&l);
	/* Reset while the reader waits. */
	link_open(&l, TCP);
	spawn_ok(&pid, resetter, &l);
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT),
			 ECONNRESET);
	ck_assert_uint_eq(done, 0);
	join_wait(pid);
	link_close(&l);
	return NULL;
}

/* A TCP peer that closes with SO_LINGER {1, 0} resets the connection:
 * smarm_read returns ECONNRESET, *done 0, whether the reset came before
 * the read or while it waited. */
START_TEST(test_read_reset)
{
	run(reset_root, NULL);
}
END_TEST

static void *flags_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	char b[4];
	size_t done;

	link_open(&l, kind);
	ck_assert(!is_nonblock(l.r));
	ck_assert(!is_nonblock(l.w));
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	ck_assert_int_eq(smarm_wait_writable(l.w, 0), 0);
	ck_assert(!is_nonblock(l.r));
	ck_assert(!is_nonblock(l.w));
	ck_assert_int_eq(smarm_write(l.w, "ab", 2, &done, WAIT), 0);
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	/* Sockets: left alone; pipes: O_NONBLOCK, left set. */
	ck_assert_int_eq(is_nonblock(l.r), kind == PIPE);
	ck_assert_int_eq(is_nonblock(l.w), kind == PIPE);
	ck_assert(is_cloexec(l.r));
	ck_assert(is_cloexec(l.w));
	link_close(&l);
	return NULL;
}

/* The fd's flags: wait_readable and wait_writable never change them;
 * read and write leave a socket's alone and set O_NONBLOCK on a pipe's
 * ends (left set); FD_CLOEXEC untouched. */
START_TEST(test_fd_flags)
{
	run(flags_root, tok((uint64_t)_i));
}
END_TEST

struct busy {
	struct link l;
	atomic_int reader_done;
	int gave_up;
	atomic_ullong spins;
	uint64_t spins_at_write;
	int rc;
	size_t done;
};

/* Yields until the reader is done (or 5 s passed: the reader was never
 * woken while this one kept its worker busy). */
static void *yielder(void *arg)
{
	struct busy *b = arg;
	uint64_t t0 = mono_ns();

	while (!atomic_load(&b->reader_done)) {
		if (mono_ns() - t0 > 5 * SEC) {
			b->gave_up = 1;
			break;
		}
		atomic_fetch_add(&b->spins, 1);
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
	}
	return NULL;
}

static void *busy_writer(void *arg)
{
	struct busy *b = arg;
	int waited;

	/* 20 ms, and more while the yielder has not run yet (a loaded
	 * machine); after 10 s the check below fails. */
	nap_us(20000);
	for (waited = 0; atomic_load(&b->spins) == 0 && waited < 10000;
	     waited++)
		nap_us(1000);
	b->spins_at_write = atomic_load(&b->spins);
	put(b->l.w, "w");
	return NULL;
}

static void *busy_reader(void *arg)
{
	struct busy *b = arg;
	char c;

	b->rc = smarm_read(b->l.r, &c, 1, &b->done, WAIT);
	atomic_store(&b->reader_done, 1);
	return NULL;
}

static void *busy_root(void *arg)
{
	struct busy *b = arg;
	smarm_pid rd, y;
	pthread_t th;

	link_open(&b->l, b->l.kind);
	spawn_pinned_ok(&rd, busy_reader, b);
	spawn_pinned_ok(&y, yielder, b);
	ck_assert_int_eq(pthread_create(&th, NULL, busy_writer, b), 0);
	join_wait(rd);
	join_wait(y);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(!b->gave_up, "the reader was not woken while the other "
				   "actor yielded");
	ck_assert_int_eq(b->rc, 0);
	ck_assert_uint_eq(b->done, 1);
	ck_assert_uint_gt(b->spins_at_write, 0);
	link_close(&b->l);
	return NULL;
}

/* One worker: an actor waits in smarm_read while another yields in a
 * loop until the read is over, and a plain thread writes after 20 ms.
 * The yielding actor ran while the reader waited, and the reader is woken
 * though its worker never runs out of work. */
START_TEST(test_read_while_busy)
{
	struct busy b;
	void *res;

	memset(&b, 0, sizeof(b));
	b.l.kind = _i;
	ck_assert_int_eq(run_cfg(pinned_call_root,
				 &(struct pinned_call){ busy_root, &b, NULL },
				 1, 0, &res),
			 0);
}
END_TEST

/* ---- write ------------------------------------------------------------------------- */

#define BIG (1024 * 1024)

struct reader {
	int fd;
	uint64_t off;   /* pattern offset of the next byte */
	uint64_t total; /* read to the end */
};

static void *reader_actor(void *arg)
{
	struct reader *r = arg;

	r->total = read_to_end(r->fd, &r->off, 1);
	return NULL;
}

static void *short_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	struct reader rd = { -1, 0, 0 };
	unsigned char *buf = pattern(0, BIG), *buf2;
	smarm_pid pid;
	size_t done = 0, done2 = 0;
	uint64_t t0, t;

	link_open(&l, kind);
	link_shrink(&l);
	/* Nobody reads: a short write. */
	t0 = smarm_now();
	ck_assert_int_eq(smarm_write(l.w, buf, BIG, &done, SHORT), ETIMEDOUT);
	t = smarm_now() - t0;
	ck_assert_msg(t >= SHORT, "timed out after %llu us",
		      (unsigned long long)t / 1000);
	ck_assert_uint_gt(done, 0);
	ck_assert_uint_lt(done, BIG);
	ck_assert_uint_lt(t, WAIT / 2);
	ck_assert_int_eq(is_nonblock(l.w), kind == PIPE);
	/* A reader drains; the rest of the stream is written in full. */
	rd.fd = l.r;
	spawn_ok(&pid, reader_actor, &rd);
	buf2 = pattern(done, BIG);
	ck_assert_int_eq(smarm_write(l.w, buf2, BIG, &done2, WAIT), 0);
	ck_assert_uint_eq(done2, BIG);
	link_end(&l);
	join_wait(pid);
	ck_assert_uint_eq(rd.total, done + BIG);
	link_close(&l);
	free(buf);
	free(buf2);
	return NULL;
}

/* A write of 1 MiB into a tcp connection, socketpair or pipe with
 * buffers of a few tens of KiB and a 30 ms timeout, nobody reading: ETIMEDOUT
 * after at least 30 ms, 0 < *done < len.  Then a reader drains while a
 * second write of 1 MiB completes: 0, *done == len; the reader gets
 * exactly the bytes of both, in order, each checked. */
START_TEST(test_write_short)
{
	run(short_root, tok((uint64_t)_i));
}
END_TEST

static void *epipe_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	size_t done = 7;
	int r, i;

	ck_assert(signal(SIGPIPE, SIG_DFL) == SIG_DFL);
	link_open(&l, kind);
	fd_close(&l.r);
	if (kind == UNIX) {
		ck_assert_int_eq(smarm_wait_writable(l.w, WAIT), 0);
		ck_assert_int_eq(smarm_write(l.w, "abc", 3, &done, WAIT), EPIPE);
		ck_assert_uint_eq(done, 0);
	} else {
		/* TCP: the first write may still go (the peer answers it with
		 * a reset), the next gives ECONNRESET or EPIPE, then EPIPE. */
		for (i = 0, r = 0; i < 100 && r != EPIPE; i++) {
			r = smarm_write(l.w, "abc", 3, &done, WAIT);
			ck_assert_msg(r == 0 || r == ECONNRESET || r == EPIPE,
				      "write %d: %d", i, r);
			ck_assert_uint_eq(done, r == 0 ? 3 : 0);
			if (r == 0)
				ck_assert_int_eq(smarm_sleep(1 * MS), 0);
		}
		ck_assert_int_eq(r, EPIPE);
	}
	/* Shut down for writing here: EPIPE too. */
	link_close(&l);
	link_open(&l, kind);
	ck_assert_int_eq(shutdown(l.w, SHUT_WR), 0);
	ck_assert_int_eq(smarm_write(l.w, "abc", 3, &done, WAIT), EPIPE);
	ck_assert_uint_eq(done, 0);
	link_close(&l);
	return NULL;
}

/* A socket whose peer closed (socketpair: at once; tcp: after the reset
 * the first write draws), or that was shut down for writing: EPIPE,
 * *done 0, and no SIGPIPE (left at its default action, it would end the
 * process). */
START_TEST(test_write_epipe)
{
	run(epipe_root, tok((uint64_t)_i));
}
END_TEST

static volatile sig_atomic_t sigpipes;

static void on_sigpipe(int sig)
{
	(void)sig;
	sigpipes++;
}

/* In an actor: one write to a pipe whose reader is gone; EPIPE, *done 0;
 * the SIGPIPEs handled meanwhile. */
static int broken_pipe_write(void)
{
	struct link l;
	size_t done = 7;
	int n;

	link_open(&l, PIPE);
	fd_close(&l.r);
	sigpipes = 0;
	ck_assert_int_eq(smarm_write(l.w, "abc", 3, &done, WAIT), EPIPE);
	n = sigpipes;
	ck_assert_uint_eq(done, 0);
	link_close(&l);
	return n;
}

struct elsewhere {
	pthread_t not_on;  /* the worker it must not run on */
	atomic_int started; /* 1 on that worker, 2 on another */
	int handled;
};

static void *sigpipe_elsewhere(void *arg)
{
	struct elsewhere *e = arg;

	atomic_store(&e->started,
		     1 + !pthread_equal(os_thread(), e->not_on));
	e->handled = broken_pipe_write();
	return NULL;
}

static void *pipe_epipe_root(void *arg)
{
	struct sigaction sa, old;
	struct elsewhere e;
	smarm_pid pid;
	uint64_t t0;

	(void)arg;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigpipe;
	sigemptyset(&sa.sa_mask);
	ck_assert_int_eq(sigaction(SIGPIPE, &sa, &old), 0);
	/* On this worker: the handler has run when the write returns, as
	 * after write(2). */
	ck_assert_msg(broken_pipe_write() == 1,
		      "a write on the root's worker raised no SIGPIPE");
	/* On the other worker, if any: this one is kept busy (no switch)
	 * until the actor has started there. */
	if (stats_now().threads >= 2) {
		memset(&e, 0, sizeof(e));
		e.not_on = os_thread();
		spawn_ok(&pid, sigpipe_elsewhere, &e);
		t0 = mono_ns();
		while (atomic_load(&e.started) == 0) {
			ck_assert_msg(mono_ns() - t0 < WAIT,
				      "the other worker never ran the actor");
			nap_us(50);
		}
		ck_assert_int_eq(atomic_load(&e.started), 2);
		join_wait(pid);
		ck_assert_msg(e.handled == 1,
			      "a write on the other worker raised no SIGPIPE "
			      "(%d handled)", e.handled);
	}
	/* Ignored: EPIPE alone. */
	ck_assert(signal(SIGPIPE, SIG_IGN) == on_sigpipe);
	ck_assert_int_eq(broken_pipe_write(), 0);
	ck_assert_int_eq(sigaction(SIGPIPE, &old, NULL), 0);
	return NULL;
}

/* A pipe whose reader is gone: the write raises SIGPIPE, as write(2)
 * does (a handler has counted one when the write returns), and returns
 * EPIPE, *done 0 -- from an actor on the worker the root runs on and, with
 * two workers or more, from one on another worker; with SIGPIPE ignored,
 * EPIPE alone. */
START_TEST(test_write_pipe_sigpipe)
{
	run(pipe_epipe_root, NULL);
}
END_TEST

struct duplex_end {
	int fd;
	size_t n;
	int rc;
	size_t done;
	uint64_t off, total;
};

static void *duplex_writer(void *arg)
{
	struct duplex_end *e = arg;
	unsigned char *buf = pattern(0, e->n);

	e->rc = smarm_write(e->fd, buf, e->n, &e->done, WAIT);
	free(buf);
	if (e->rc == 0)
		ck_assert_int_eq(shutdown(e->fd, SHUT_WR), 0);
	return NULL;
}

static void *duplex_reader(void *arg)
{
	struct duplex_end *e = arg;

	e->total = read_to_end(e->fd, &e->off, 1);
	return NULL;
}

static void *duplex_root(void *arg)
{
	int kind = (int)untok(arg);
	struct link l;
	struct duplex_end w[2], r[2];
	smarm_pid pids[4];
	int i;

	link_open(&l, kind);
	link_shrink(&l);
	memset(w, 0, sizeof(w));
	memset(r, 0, sizeof(r));
	w[0].fd = r[1].fd = l.w;
	w[1].fd = r[0].fd = l.r;
	w[0].n = BIG;
	w[1].n = BIG / 2;
	/* Writers first: each fills its way before any reader runs. */
	spawn_ok(&pids[0], duplex_writer, &w[0]);
	spawn_ok(&pids[1], duplex_writer, &w[1]);
	spawn_ok(&pids[2], duplex_reader, &r[0]);
	spawn_ok(&pids[3], duplex_reader, &r[1]);
	for (i = 0; i < 4; i++)
		join_wait(pids[i]);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(w[i].rc, 0);
		ck_assert_uint_eq(w[i].done, w[i].n);
		ck_assert_uint_eq(r[i].total, w[i].n);
	}
	link_close(&l);
	return NULL;
}

/* Both ends of a tcp connection or socketpair with small buffers, each
 * with a writer actor (1 MiB one way, 512 KiB the other) and a reader
 * actor at once: one reader and one writer per fd, every byte arrives,
 * in order. */
START_TEST(test_duplex)
{
	run(duplex_root, tok((uint64_t)_i));
}
END_TEST

/* ---- accept and connect ----------------------------------------------------------------- */

struct dialer {
	in_port_t port;
	int fd;
	int rc;
	struct sockaddr_in local;
};

static void *dialer_actor(void *arg)
{
	struct dialer *d = arg;
	struct sockaddr_in sa = loopback(d->port);
	socklen_t sl = sizeof(d->local);

	d->fd = tcp_socket();
	ck_assert_int_eq(smarm_sleep(10 * MS), 0);
	d->rc = smarm_connect(d->fd, (struct sockaddr *)&sa, sizeof(sa), WAIT);
	ck_assert_int_eq(getsockname(d->fd, (struct sockaddr *)&d->local, &sl),
			 0);
	return NULL;
}

static void *accept_root(void *arg)
{
	struct dialer d;
	struct sockaddr_in peer;
	socklen_t pl;
	in_port_t port;
	smarm_pid pid;
	int lfd, fd = -1;
	char b[8];
	size_t done;

	(void)arg;
	lfd = tcp_listen(&port, 4);
	ck_assert(!is_nonblock(lfd));
	/* With addr: the client's address and port. */
	memset(&d, 0, sizeof(d));
	d.port = port;
	spawn_ok(&pid, dialer_actor, &d);
	memset(&peer, 0, sizeof(peer));
	pl = sizeof(peer);
	ck_assert_int_eq(smarm_accept(lfd, &fd, (struct sockaddr *)&peer, &pl,
				      WAIT),
			 0);
	join_wait(pid);
	ck_assert_int_eq(d.rc, 0);
	ck_assert(is_nonblock(lfd));
	ck_assert_int_ge(fd, 0);
	ck_assert(is_nonblock(fd));
	ck_assert(is_cloexec(fd));
	ck_assert(is_nonblock(d.fd));
	ck_assert_uint_eq(pl, sizeof(peer));
	ck_assert_int_eq(peer.sin_family, AF_INET);
	ck_assert_uint_eq(peer.sin_addr.s_addr, htonl(INADDR_LOOPBACK));
	ck_assert_uint_eq(peer.sin_port, d.local.sin_port);
	/* The two talk. */
	ck_assert_int_eq(smarm_write(d.fd, "hi", 2, &done, WAIT), 0);
	ck_assert_int_eq(smarm_read(fd, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_ge(done, 1);
	ck_assert_int_eq(b[0], 'h');
	fd_close(&fd);
	fd_close(&d.fd);
	/* NULL addr and addrlen. */
	memset(&d, 0, sizeof(d));
	d.port = port;
	spawn_ok(&pid, dialer_actor, &d);
	ck_assert_int_eq(smarm_accept(lfd, &fd, NULL, NULL, WAIT), 0);
	join_wait(pid);
	ck_assert_int_eq(d.rc, 0);
	ck_assert(is_nonblock(fd));
	ck_assert(is_cloexec(fd));
	fd_close(&fd);
	fd_close(&d.fd);
	/* A client already queued: accept with timeout 0. */
	d.fd = tcp_dial(port);
	ck_assert_int_eq(smarm_wait_readable(lfd, WAIT), 0);
	ck_assert_int_eq(smarm_accept(lfd, &fd, NULL, NULL, 0), 0);
	ck_assert(is_cloexec(fd));
	fd_close(&fd);
	fd_close(&d.fd);
	ck_assert_int_eq(smarm_accept(lfd, &fd, NULL, NULL, 0), ETIMEDOUT);
	fd_close(&lfd);
	return NULL;
}

/* An actor connects (smarm_connect, after 10 ms) to a port on which the
 * root waits in smarm_accept: both 0; the new fd is O_NONBLOCK and
 * FD_CLOEXEC, the listener and the client left O_NONBLOCK; the peer
 * address is the client's (127.0.0.1, its port); the two talk.  Again with
 * addr and addrlen NULL; a client already queued is accepted with timeout
 * 0, and with none, timeout 0 is ETIMEDOUT. */
START_TEST(test_accept_connect)
{
	run(accept_root, NULL);
}
END_TEST

static void *refused_root(void *arg)
{
	struct sockaddr_in sa;
	in_port_t port;
	int bound, fd;

	(void)arg;
	/* Bound, not listening: a SYN to it draws a reset. */
	bound = tcp_listen(&port, -1);
	sa = loopback(port);
	fd = tcp_socket();
	ck_assert_int_eq(smarm_connect(fd, (struct sockaddr *)&sa, sizeof(sa),
				       WAIT),
			 ECONNREFUSED);
	fd_close(&fd);
	fd_close(&bound);
	return NULL;
}

/* smarm_connect to a port of 127.0.0.1 on which nothing listens:
 * ECONNREFUSED. */
START_TEST(test_connect_refused)
{
	run(refused_root, NULL);
}
END_TEST

static void *connect_timeout_root(void *arg)
{
	struct sockaddr_in sa;
	int lfd, held[NBACKLOG], fd;
	uint64_t t0;

	(void)arg;
	lfd = full_backlog(&sa, held);
	fd = tcp_socket();
	t0 = smarm_now();
	ck_assert_int_eq(smarm_connect(fd, (struct sockaddr *)&sa, sizeof(sa),
				       SHORT),
			 ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, SHORT);
	fd_close(&fd);
	backlog_close(&lfd, held);
	return NULL;
}

/* smarm_connect to a listener whose backlog is full, timeout 30 ms:
 * ETIMEDOUT after at least 30 ms. */
START_TEST(test_connect_timeout)
{
	run(connect_timeout_root, NULL);
}
END_TEST

/* ---- cancel ------------------------------------------------------------------------ */

static void *cancel_root(void *arg)
{
	int what = (int)untok(arg);
	struct link l;
	struct op o;
	struct sockaddr_in sa;
	smarm_pid pid;
	in_port_t port;
	int lfd = -1, cfd = -1, held[NBACKLOG];
	unsigned char *buf = pattern(0, BIG);
	uint64_t t, off = 0;

	link_open(&l, full_kind(what));
	link_shrink(&l);
	switch (what) {
	case OP_READABLE:
	case OP_READ:
		op_init(&o, what, l.r, WAIT);
		o.buf = buf;
		o.len = 64;
		break;
	case OP_WRITABLE:
		fill(l.w);
		op_init(&o, what, l.w, WAIT);
		break;
	case OP_WRITE:
		op_init(&o, what, l.w, WAIT);
		o.buf = buf;
		o.len = BIG;
		break;
	case OP_ACCEPT:
		lfd = tcp_listen(&port, 4);
		op_init(&o, what, lfd, WAIT);
		break;
	default: /* OP_CONNECT, to a full backlog */
		lfd = full_backlog(&sa, held);
		cfd = tcp_socket();
		op_init(&o, what, cfd, WAIT);
		o.addr = sa;
		break;
	}
	pid = op_spawn(&o);
	t = smarm_now();
	ck_assert_int_eq(smarm_cancel(pid), 0);
	ck_assert_int_eq(op_join(pid, &o), ECANCELED);
	ck_assert_uint_lt(smarm_now() - t, WAIT / 2);
	/* Nothing lost; the fd can be waited on again. */
	switch (what) {
	case OP_READABLE:
	case OP_READ:
		if (what == OP_READ)
			ck_assert_uint_eq(o.done, 0);
		put(l.w, "r");
		op_init(&o, OP_READ, l.r, WAIT);
		o.buf = buf;
		o.len = 64;
		spawn_ok(&pid, op_actor, &o);
		ck_assert_int_eq(op_join(pid, &o), 0);
		ck_assert_uint_eq(o.done, 1);
		ck_assert_int_eq(buf[0], 'r');
		break;
	case OP_WRITABLE:
		ck_assert_int_eq(smarm_wait_writable(l.w, 0), ETIMEDOUT);
		break;
	case OP_WRITE:
		/* What went is what the reader gets. */
		ck_assert_uint_gt(o.done, 0);
		ck_assert_uint_lt(o.done, BIG);
		link_end(&l);
		ck_assert_uint_eq(read_to_end(l.r, &off, 1), o.done);
		break;
	case OP_ACCEPT:
		cfd = tcp_dial(port);
		op_init(&o, OP_ACCEPT, lfd, WAIT);
		spawn_ok(&pid, op_actor, &o);
		ck_assert_int_eq(op_join(pid, &o), 0);
		fd_close(&o.newfd);
		break;
	default:
		backlog_close(&lfd, held);
		break;
	}
	fd_close(&cfd);
	fd_close(&lfd);
	link_close(&l);
	free(buf);
	return NULL;
}

/* An actor waiting with a 30 s timeout in wait_readable, wait_writable (a
 * full socketpair), read, write (1 MiB, small buffers), accept or
 * connect (to a full backlog), cancelled by the root: ECANCELED at once.
 * Nothing lost: read's *done is 0 and the next reader gets the next byte;
 * write's 0 < *done < len and the reader gets exactly *done bytes; the
 * listener accepts the next client. */
START_TEST(test_cancel_io)
{
	static const int ops[] = { OP_READABLE, OP_WRITABLE, OP_READ,
				   OP_WRITE,	OP_ACCEPT,   OP_CONNECT };

	run(cancel_root, tok((uint64_t)ops[_i]));
}
END_TEST

static void *cancel_pending_root(void *arg)
{
	struct link l;
	uint64_t t0;
	size_t done = 9;
	char b[4];

	(void)arg;
	link_open(&l, UNIX);
	/* Nothing there: the wait returns ECANCELED at once. */
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_wait_readable(l.r, WAIT), ECANCELED);
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	ck_assert_int_ne(smarm_cancelled(), 0);
	/* Delivered once: the next wait waits (and times out). */
	t0 = smarm_now();
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, SHORT),
			 ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, SHORT);
	/* The same with read. */
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	done = 9;
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), ECANCELED);
	ck_assert_uint_eq(done, 0);
	/* A call that need not wait completes; the cancel stays pending. */
	put(l.w, "p");
	ck_assert_int_eq(smarm_cancel(smarm_self()), 0);
	ck_assert_int_eq(smarm_wait_readable(l.r, WAIT), 0);
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	link_close(&l);
	return NULL;
}

/* A cancel made before the call: wait_readable or read on an empty fd
 * returns ECANCELED at once, delivered once (the next read waits its
 * timeout); on a ready fd they complete and leave it pending for the
 * next call that waits. */
START_TEST(test_cancel_pending)
{
	run(cancel_pending_root, NULL);
}
END_TEST

static void *cancel_signal_root(void *arg)
{
	struct op o;
	smarm_pid pid;
	sigset_t pend;

	(void)arg;
	op_init(&o, OP_SIGNAL, -1, WAIT);
	sigaddset(&o.set, SIGUSR2);
	pid = op_spawn(&o);
	ck_assert_int_eq(smarm_cancel(pid), 0);
	ck_assert_int_eq(op_join(pid, &o), ECANCELED);
	ck_assert_uint_lt(o.t1 - o.t0, WAIT / 2);
	ck_assert_int_eq(sigpending(&pend), 0);
	ck_assert(!sigismember(&pend, SIGUSR2));
	return NULL;
}

/* An actor waiting in smarm_signal_wait (SIGUSR2, 30 s), cancelled:
 * ECANCELED at once. */
START_TEST(test_cancel_signal)
{
	run(cancel_signal_root, NULL);
}
END_TEST

/* Jobs for block_on_io that wait for a gate the test opens. */
struct gate {
	atomic_int open;
	atomic_int running, max, ran;
	atomic_int norder;
	int order[64];
};

struct gjob {
	struct gate *g;
	int idx;
};

static void *gate_job(void *arg)
{
	struct gjob *j = arg;
	struct gate *g = j->g;
	int now = atomic_fetch_add(&g->running, 1) + 1, m, k;
	uint64_t t0 = mono_ns();

	m = atomic_load(&g->max);
	while (now > m && !atomic_compare_exchange_weak(&g->max, &m, now))
		;
	k = atomic_fetch_add(&g->norder, 1);
	if (k < 64)
		g->order[k] = j->idx;
	while (!atomic_load(&g->open) && mono_ns() - t0 < WAIT)
		nap_us(200);
	atomic_fetch_sub(&g->running, 1);
	atomic_fetch_add(&g->ran, 1);
	return tok((uint64_t)j->idx + 100);
}

static void *cancel_block_root(void *arg)
{
	int running = arg != NULL;
	struct gate g;
	struct gjob j[2] = { { &g, 0 }, { &g, 1 } };
	struct op first, o;
	smarm_pid p1, pid;
	uint64_t t;

	memset(&g, 0, sizeof(g));
	/* One helper (io_threads 1), busy with the first job. */
	op_init(&first, OP_BLOCK, -1, 0);
	first.job = gate_job;
	first.job_arg = &j[0];
	p1 = op_spawn(&first);
	AWAIT(atomic_load(&g.running) == 1);
	if (running) {
		/* Cancel the caller of the running job: the call returns once
		 * the job has, ECANCELED, its result given. */
		ck_assert_int_eq(smarm_cancel(p1), 0);
		ck_assert_int_eq(smarm_sleep(SHORT), 0);
		ck_assert_int_eq(smarm_join(p1, NULL, 0), ETIMEDOUT);
		ck_assert_int_eq(atomic_load(&g.ran), 0);
		atomic_store(&g.open, 1);
		ck_assert_int_eq(op_join(p1, &first), ECANCELED);
		ck_assert_int_eq(atomic_load(&g.ran), 1);
		ck_assert_ptr_eq(first.result, tok(100));
		return NULL;
	}
	/* Cancel a queued one: ECANCELED at once, its job never runs. */
	op_init(&o, OP_BLOCK, -1, 0);
	o.job = gate_job;
	o.job_arg = &j[1];
	pid = op_spawn(&o);
	t = smarm_now();
	ck_assert_int_eq(smarm_cancel(pid), 0);
	ck_assert_int_eq(op_join(pid, &o), ECANCELED);
	ck_assert_uint_lt(smarm_now() - t, WAIT / 2);
	ck_assert_int_eq(atomic_load(&g.running), 1);
	atomic_store(&g.open, 1);
	ck_assert_int_eq(op_join(p1, &first), 0);
	ck_assert_ptr_eq(first.result, tok(100));
	/* Only the first job ran, the helper is free again. */
	ck_assert_int_eq(atomic_load(&g.ran), 1);
	ck_assert_int_eq(atomic_load(&g.norder), 1);
	op_init(&o, OP_BLOCK, -1, 0);
	o.job = gate_job;
	o.job_arg = &j[1];
	spawn_ok(&pid, op_actor, &o);
	ck_assert_int_eq(op_join(pid, &o), 0);
	ck_assert_ptr_eq(o.result, tok(101));
	return NULL;
}

/* block_on_io with one helper thread: an actor whose job is queued behind
 * a running one, cancelled, returns ECANCELED at once and its job never
 * runs (the next job does); (_i 1) the caller of the running job,
 * cancelled, returns only when the job has ended (opened 30 ms later):
 * ECANCELED, and *result is the job's result. */
START_TEST(test_cancel_block)
{
	void *res;

	ck_assert_int_eq(run_cfg(cancel_block_root, _i ? tok(1) : NULL, 0, 1,
				 &res),
			 0);
}
END_TEST

/* ---- close ------------------------------------------------------------------------- */

struct closer {
	int fd;
	int rc;
};

static void *closer_thread(void *arg)
{
	struct closer *c = arg;

	c->rc = smarm_close(c->fd);
	return NULL;
}

static void *close_root(void *arg)
{
	int what = (int)untok(arg) >> 1, by_thread = (int)untok(arg) & 1;
	struct link l;
	struct op o;
	struct closer c;
	smarm_pid pid;
	pthread_t th;
	in_port_t port;
	int lfd = -1, *victim;
	unsigned char *buf = pattern(0, BIG);
	uint64_t t;

	link_open(&l, full_kind(what));
	link_shrink(&l);
	switch (what) {
	case OP_READABLE:
	case OP_READ:
		op_init(&o, what, l.r, WAIT);
		o.buf = buf;
		o.len = 64;
		victim = &l.r;
		break;
	case OP_WRITABLE:
		fill(l.w);
		op_init(&o, what, l.w, WAIT);
		victim = &l.w;
		break;
	case OP_WRITE:
		op_init(&o, what, l.w, WAIT);
		o.buf = buf;
		o.len = BIG;
		victim = &l.w;
		break;
	default:
		lfd = tcp_listen(&port, 4);
		op_init(&o, OP_ACCEPT, lfd, WAIT);
		victim = &lfd;
		break;
	}
	pid = op_spawn(&o);
	c.fd = *victim;
	c.rc = -1;
	t = smarm_now();
	if (by_thread) {
		ck_assert_int_eq(pthread_create(&th, NULL, closer_thread, &c),
				 0);
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	} else {
		c.rc = smarm_close(c.fd);
	}
	ck_assert_int_eq(c.rc, 0);
	ck_assert(!is_open(c.fd));
	*victim = -1;
	ck_assert_int_eq(op_join(pid, &o), EBADF);
	ck_assert_uint_lt(smarm_now() - t, WAIT / 2);
	if (what == OP_READ)
		ck_assert_uint_eq(o.done, 0);
	if (what == OP_ACCEPT)
		ck_assert_int_eq(o.newfd, -1);
	fd_close(&lfd);
	link_close(&l);
	free(buf);
	return NULL;
}

/* An actor waiting (30 s) in wait_readable, read (tcp), wait_writable
 * (full), write (1 MiB, small buffers; a socketpair) or accept, its fd closed with smarm_close
 * by the root (_i even) or a plain thread (_i odd): smarm_close returns 0
 * and the fd is closed; the waiter gets EBADF at once (read: *done 0). */
START_TEST(test_close_waiter)
{
	static const int ops[] = { OP_READABLE, OP_WRITABLE, OP_READ, OP_WRITE,
				   OP_ACCEPT };

	run(close_root, tok(((uint64_t)ops[_i / 2] << 1) | (uint64_t)(_i % 2)));
}
END_TEST

static void *close_errors_root(void *arg)
{
	struct link l;
	int fd;

	(void)arg;
	ck_assert_int_eq(smarm_close(-1), EBADF);
	ck_assert_int_eq(smarm_close(closed_fd()), EBADF);
	/* Never waited on: just closed. */
	link_open(&l, UNIX);
	fd = l.r;
	ck_assert_int_eq(smarm_close(fd), 0);
	ck_assert(!is_open(fd));
	ck_assert_int_eq(smarm_close(fd), EBADF);
	l.r = -1;
	link_close(&l);
	return NULL;
}

/* smarm_close of -1 or of a number that is no open fd: EBADF; of an fd
 * nobody waits on: 0, closed, and a second close is EBADF.  With no run:
 * the same. */
START_TEST(test_close_errors)
{
	struct link l;

	run(close_errors_root, NULL);
	ck_assert_int_eq(smarm_close(-1), EBADF);
	ck_assert_int_eq(smarm_close(closed_fd()), EBADF);
	link_open(&l, PIPE);
	ck_assert_int_eq(smarm_close(l.r), 0);
	ck_assert(!is_open(l.r));
	l.r = -1;
	link_close(&l);
}
END_TEST

/* How test_close_reuse's first fd is made and closed. */
enum { REUSE_SMARM_CLOSE, REUSE_CLOSE, REUSE_ACCEPTED, NREUSE };

static void *reuse_root(void *arg)
{
	int how = (int)untok(arg);
	struct link a, b;
	struct later w = { -1, 10 * MS, 0 };
	smarm_pid pid;
	in_port_t port;
	char c;
	size_t done;
	int num, lfd;

	/* An fd waited on and read, then closed. */
	if (how == REUSE_ACCEPTED) {
		a.kind = TCP;
		lfd = tcp_listen(&port, 4);
		a.w = tcp_dial(port);
		ck_assert_int_eq(smarm_accept(lfd, &a.r, NULL, NULL, WAIT), 0);
		fd_close(&lfd);
	} else {
		link_open(&a, UNIX);
	}
	w.fd = a.w;
	spawn_ok(&pid, later_actor, &w);
	ck_assert_int_eq(smarm_read(a.r, &c, 1, &done, WAIT), 0);
	join_wait(pid);
	num = a.r;
	if (how == REUSE_SMARM_CLOSE)
		ck_assert_int_eq(smarm_close(a.r), 0);
	else
		fd_close(&a.r);
	a.r = -1;
	/* Its number given to a new socket: waits on it work. */
	link_open(&b, UNIX);
	if (b.w == num) {
		/* A socketpair's ends are alike. */
		b.w = b.r;
		b.r = num;
	} else if (b.r != num) {
		/* Make it so. */
		ck_assert_int_eq(dup2(b.r, num), num);
		fd_close(&b.r);
		b.r = num;
	}
	ck_assert_int_eq(smarm_wait_readable(b.r, 0), ETIMEDOUT);
	atomic_store(&w.wrote, 0);
	w.fd = b.w;
	spawn_ok(&pid, later_actor, &w);
	ck_assert_int_eq(smarm_wait_readable(b.r, WAIT), 0);
	ck_assert_int_eq(atomic_load(&w.wrote), 1);
	ck_assert_int_eq(smarm_read(b.r, &c, 1, &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	join_wait(pid);
	ck_assert_int_eq(smarm_read(b.r, &c, 1, &done, SHORT), ETIMEDOUT);
	link_close(&a);
	link_close(&b);
	return NULL;
}

/* An fd read with smarm_read, then closed with smarm_close (_i 0) or
 * close(2) (_i 1, allowed: nobody waits on it), or a socket from
 * smarm_accept closed with close(2) (_i 2): a new socket with the same
 * number is not ready at first, then ready when data comes, read, then
 * not ready again. */
START_TEST(test_close_reuse)
{
	run(reuse_root, tok((uint64_t)_i));
}
END_TEST

/* ---- errors ------------------------------------------------------------------------ */

static void *ebusy_root(void *arg)
{
	struct link l;
	struct op a, b2;
	struct sockaddr_in sa;
	smarm_pid pa, pb;
	in_port_t port;
	int lfd, cfd, nfd = -1, held[NBACKLOG], r;
	char c[4];
	size_t done = 7;
	unsigned char *buf = pattern(0, BIG);

	(void)arg;
	link_open(&l, TCP);
	link_shrink(&l);
	/* A reader waits: other readers get EBUSY at once; a writer of the
	 * same fd does not. */
	op_init(&a, OP_READABLE, l.r, WAIT);
	pa = op_spawn(&a);
	ck_assert_int_eq(smarm_wait_readable(l.r, SEC), EBUSY);
	ck_assert_int_eq(smarm_read(l.r, c, sizeof(c), &done, SEC), EBUSY);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(smarm_wait_writable(l.r, WAIT), 0);
	ck_assert_int_eq(smarm_write(l.r, "b", 1, &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	/* The same with a reader in smarm_read. */
	put(l.w, "a");
	ck_assert_int_eq(op_join(pa, &a), 0);
	ck_assert_int_eq(smarm_read(l.r, c, sizeof(c), &done, WAIT), 0);
	op_init(&a, OP_READ, l.r, WAIT);
	a.buf = c;
	a.len = sizeof(c);
	pa = op_spawn(&a);
	ck_assert_int_eq(smarm_wait_readable(l.r, SEC), EBUSY);
	ck_assert_int_eq(smarm_read(l.r, c, sizeof(c), &done, SEC), EBUSY);
	ck_assert_int_eq(smarm_cancel(pa), 0);
	ck_assert_int_eq(op_join(pa, &a), ECANCELED);
	/* Free again. */
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	/* A writer waits on a full buffer: other writers get EBUSY; a reader
	 * of that fd does not. */
	op_init(&b2, OP_WRITE, l.w, WAIT);
	b2.buf = buf;
	b2.len = BIG;
	pb = op_spawn(&b2);
	ck_assert_int_eq(smarm_wait_writable(l.w, SEC), EBUSY);
	ck_assert_int_eq(smarm_write(l.w, "x", 1, &done, SEC), EBUSY);
	ck_assert_uint_eq(done, 0);
	ck_assert_int_eq(smarm_read(l.w, c, sizeof(c), &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(c[0], 'b');
	ck_assert_int_eq(smarm_cancel(pb), 0);
	ck_assert_int_eq(op_join(pb, &b2), ECANCELED);
	link_close(&l);
	/* accept counts as a read. */
	lfd = tcp_listen(&port, 4);
	op_init(&a, OP_ACCEPT, lfd, WAIT);
	pa = op_spawn(&a);
	ck_assert_int_eq(smarm_accept(lfd, &nfd, NULL, NULL, SEC), EBUSY);
	ck_assert_int_eq(nfd, -1);
	ck_assert_int_eq(smarm_wait_readable(lfd, SEC), EBUSY);
	ck_assert_int_eq(smarm_cancel(pa), 0);
	ck_assert_int_eq(op_join(pa, &a), ECANCELED);
	fd_close(&lfd);
	/* connect counts as a write. */
	lfd = full_backlog(&sa, held);
	cfd = tcp_socket();
	op_init(&a, OP_CONNECT, cfd, WAIT);
	a.addr = sa;
	pa = op_spawn(&a);
	ck_assert_int_eq(smarm_wait_writable(cfd, SEC), EBUSY);
	/* (connect(2) itself may say EALREADY first.) */
	r = smarm_connect(cfd, (struct sockaddr *)&sa, sizeof(sa), SEC);
	ck_assert_msg(r == EBUSY || r == EALREADY, "second connect: %d", r);
	ck_assert_int_eq(smarm_cancel(pa), 0);
	ck_assert_int_eq(op_join(pa, &a), ECANCELED);
	fd_close(&cfd);
	backlog_close(&lfd, held);
	free(buf);
	return NULL;
}

/* One reader and one writer actor per fd: while an actor waits in
 * wait_readable or read on a socket, another's wait_readable and read on
 * it return EBUSY at once (*done 0), and its wait_writable and write work;
 * while one waits in write on a full buffer, another's wait_writable and
 * write return EBUSY, its read works; while one waits in accept, another's
 * accept and wait_readable of the listener return EBUSY; while one waits
 * in connect, another's wait_writable of that socket does, and its
 * connect returns EBUSY or EALREADY (connect(2)'s word for it).  Once the waiter
 * is done (woken or cancelled), the fd is free again. */
START_TEST(test_ebusy)
{
	run(ebusy_root, NULL);
}
END_TEST

static void *nop_job(void *arg)
{
	return arg;
}

/* Every waiting call from the calling thread, with valid arguments: each
 * code in r[]. */
struct calls {
	int fd, lfd, cfd;
	in_port_t port;
	int r[8];
};

static void all_calls(struct calls *c)
{
	struct sockaddr_in sa = loopback(c->port);
	sigset_t set;
	char b[4];
	size_t done = 0;
	int fd = -1, signo = 0;
	void *res = NULL;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	c->r[0] = smarm_wait_readable(c->fd, 0);
	c->r[1] = smarm_wait_writable(c->fd, 0);
	c->r[2] = smarm_read(c->fd, b, sizeof(b), &done, 0);
	c->r[3] = smarm_write(c->fd, "e", 1, &done, 0);
	c->r[4] = smarm_accept(c->lfd, &fd, NULL, NULL, 0);
	c->r[5] = smarm_connect(c->cfd, (struct sockaddr *)&sa, sizeof(sa), 0);
	c->r[6] = smarm_signal_wait(&set, &signo, 0);
	c->r[7] = smarm_block_on_io(nop_job, NULL, &res);
}

static void *calls_thread(void *arg)
{
	all_calls(arg);
	return NULL;
}

static void calls_open(struct calls *c, struct link *l)
{
	link_open(l, UNIX);
	c->fd = l->r;
	c->lfd = tcp_listen(&c->port, 4);
	c->cfd = tcp_socket();
	memset(c->r, 0xff, sizeof(c->r));
}

static void calls_expect(struct calls *c, struct link *l, int code)
{
	int i;

	for (i = 0; i < 8; i++)
		ck_assert_msg(c->r[i] == code, "call %d gave %d, not %d", i,
			      c->r[i], code);
	/* Nothing done: no byte written, no flag set. */
	ck_assert_int_eq(smarm_wait_readable(l->w, 0), ETIMEDOUT);
	ck_assert(!is_nonblock(c->fd));
	ck_assert(!is_nonblock(c->lfd));
	fd_close(&c->lfd);
	fd_close(&c->cfd);
	link_close(l);
}

static void *eperm_root(void *arg)
{
	struct calls c;
	struct link l;
	pthread_t th;

	(void)arg;
	calls_open(&c, &l);
	ck_assert_int_eq(pthread_create(&th, NULL, calls_thread, &c), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	calls_expect(&c, &l, EPERM);
	return NULL;
}

/* EPERM outside an actor: every waiting call (wait_readable,
 * wait_writable, read, write, accept, connect, signal_wait, block_on_io)
 * from a plain thread while a run goes, and from main with no run; none
 * of them did anything. */
START_TEST(test_eperm)
{
	struct calls c;
	struct link l;

	calls_open(&c, &l);
	all_calls(&c);
	/* (No runtime to ask wait_readable: look with poll.) */
	for (int i = 0; i < 8; i++)
		ck_assert_msg(c.r[i] == EPERM, "call %d gave %d, not EPERM", i,
			      c.r[i]);
	{
		struct pollfd p = { l.w, POLLIN, 0 };

		ck_assert_int_eq(poll(&p, 1, 0), 0);
	}
	ck_assert(!is_nonblock(c.fd));
	ck_assert(!is_nonblock(c.lfd));
	fd_close(&c.lfd);
	fd_close(&c.cfd);
	link_close(&l);
	run(eperm_root, NULL);
}
END_TEST

static void *ebadf_root(void *arg)
{
	struct sockaddr_in sa = loopback(htons(9));
	char b[4];
	size_t done = 7;
	int fds[2] = { -1, closed_fd() }, i, nfd = -1;

	(void)arg;
	for (i = 0; i < 2; i++) {
		int fd = fds[i];

		ck_assert_int_eq(smarm_wait_readable(fd, 0), EBADF);
		ck_assert_int_eq(smarm_wait_readable(fd, WAIT), EBADF);
		ck_assert_int_eq(smarm_wait_writable(fd, WAIT), EBADF);
		ck_assert_int_eq(smarm_read(fd, b, sizeof(b), &done, WAIT),
				 EBADF);
		ck_assert_uint_eq(done, 0);
		done = 7;
		ck_assert_int_eq(smarm_write(fd, "x", 1, &done, WAIT), EBADF);
		ck_assert_uint_eq(done, 0);
		ck_assert_int_eq(smarm_accept(fd, &nfd, NULL, NULL, WAIT),
				 EBADF);
		ck_assert_int_eq(nfd, -1);
		ck_assert_int_eq(smarm_connect(fd, (struct sockaddr *)&sa,
					       sizeof(sa), WAIT),
				 EBADF);
	}
	return NULL;
}

/* EBADF for fd -1 and for a number that is no open fd, at once, from
 * wait_readable, wait_writable, read and write (*done 0), accept (*fd
 * untouched) and connect. */
START_TEST(test_ebadf)
{
	run(ebadf_root, NULL);
}
END_TEST

static void *einval_root(void *arg)
{
	struct link l;
	struct sockaddr_in sa;
	in_port_t port;
	int lfd, cfd;
	char b[4];
	size_t done = 7;

	(void)arg;
	link_open(&l, UNIX);
	put(l.w, "v");
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), NULL, WAIT), EINVAL);
	ck_assert_int_eq(smarm_read(l.r, NULL, 4, &done, WAIT), EINVAL);
	ck_assert_int_eq(smarm_write(l.w, "x", 1, NULL, WAIT), EINVAL);
	/* Nothing read, nothing written. */
	ck_assert_int_eq(smarm_read(l.r, b, sizeof(b), &done, WAIT), 0);
	ck_assert_uint_eq(done, 1);
	ck_assert_int_eq(smarm_wait_readable(l.r, 0), ETIMEDOUT);
	link_close(&l);
	lfd = tcp_listen(&port, 4);
	ck_assert_int_eq(smarm_accept(lfd, NULL, NULL, NULL, WAIT), EINVAL);
	cfd = tcp_socket();
	ck_assert_int_eq(smarm_connect(cfd, NULL, sizeof(sa), WAIT), EINVAL);
	/* The connection was not made: nothing to accept. */
	ck_assert_int_eq(smarm_wait_readable(lfd, 0), ETIMEDOUT);
	fd_close(&cfd);
	fd_close(&lfd);
	ck_assert_int_eq(smarm_block_on_io(NULL, NULL, NULL), EINVAL);
	return NULL;
}

/* EINVAL: read with done NULL or buf NULL and len > 0, write with done
 * NULL, accept with fd NULL, connect with addr NULL, block_on_io with fn
 * NULL; none of them did anything. */
START_TEST(test_einval)
{
	run(einval_root, NULL);
}
END_TEST

/* ---- block_on_io ------------------------------------------------------------------- */

struct progress {
	atomic_ullong count;
	atomic_int stop;
	uint64_t at_start, at_end;
	smarm_pid caller;
};

static void *sleep_job(void *arg)
{
	struct progress *p = arg;

	p->at_start = atomic_load(&p->count);
	usleep(100 * 1000);
	p->at_end = atomic_load(&p->count);
	return tok(42);
}

static void *counter(void *arg)
{
	struct progress *p = arg;
	uint64_t t0 = mono_ns();

	while (!atomic_load(&p->stop) && mono_ns() - t0 < 5 * SEC) {
		atomic_fetch_add(&p->count, 1);
		REQUIRE_MSG(smarm_yield() == 0, "yield failed");
	}
	return NULL;
}

static void *progress_root(void *arg)
{
	struct progress *p = arg;
	smarm_pid c;
	void *res = NULL;
	uint64_t t0;

	spawn_pinned_ok(&c, counter, p);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_block_on_io(sleep_job, p, &res), 0);
	ck_assert_uint_ge(smarm_now() - t0, 100 * MS);
	/* Back before the counter gave up (5 s). */
	ck_assert_uint_lt(smarm_now() - t0, 5 * SEC);
	atomic_store(&p->stop, 1);
	join_wait(c);
	ck_assert_ptr_eq(res, tok(42));
	ck_assert_msg(p->at_end > p->at_start,
		      "the counter stood still while the job slept (%llu)",
		      (unsigned long long)p->at_start);
	/* result may be NULL. */
	ck_assert_int_eq(smarm_block_on_io(nop_job, tok(3), NULL), 0);
	return NULL;
}

/* block_on_io(a job that sleeps 100 ms with usleep) parks only its caller:
 * an actor pinned to the same worker counts yields meanwhile (the count
 * moves during the job), with one worker (_i 0) and with the default
 * (_i 1); the job's result comes back, after at least 100 ms; result may
 * be NULL. */
START_TEST(test_block_progress)
{
	struct progress p;
	void *res;

	memset(&p, 0, sizeof(p));
	ck_assert_int_eq(run_cfg(pinned_call_root,
				 &(struct pinned_call){ progress_root, &p,
							NULL },
				 _i == 0 ? 1 : 0, 0, &res),
			 0);
}
END_TEST

struct queue_case {
	unsigned io;    /* io_threads (0: the default) */
	int limit;      /* helpers expected */
	int njobs;
	int warm;       /* jobs run one by one before, leaving helpers idle */
	int tasks_max;  /* OS threads seen while the jobs ran */
};

static void *queue_root(void *arg)
{
	struct queue_case *q = arg;
	struct gate g;
	struct gjob j[64];
	struct op o[64];
	smarm_pid pids[64];
	int i;

	uint64_t t0;
	int running;

	memset(&g, 0, sizeof(g));
	for (i = 0; i < q->warm; i++) {
		ck_assert_int_eq(smarm_block_on_io(nop_job, NULL, NULL), 0);
		ck_assert_int_eq(smarm_sleep(SETTLE), 0);
	}
	for (i = 0; i < q->njobs; i++) {
		j[i].g = &g;
		j[i].idx = i;
		op_init(&o[i], OP_BLOCK, -1, 0);
		o[i].job = gate_job;
		o[i].job_arg = &j[i];
		spawn_ok(&pids[i], op_actor, &o[i]);
	}
	/* As many run as there are helpers (within 2 s), and no more. */
	t0 = mono_ns();
	while (atomic_load(&g.running) < q->limit && mono_ns() - t0 < 2 * SEC)
		breathe();
	running = atomic_load(&g.running);
	if (running != q->limit) {
		atomic_store(&g.open, 1);
		for (i = 0; i < q->njobs; i++)
			op_join(pids[i], &o[i]);
		ck_abort_msg("%d of %d jobs ran at once, io_threads %u allowing "
			     "%d", running, q->njobs, q->io, q->limit);
	}
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	ck_assert_int_eq(atomic_load(&g.running), q->limit);
	q->tasks_max = task_count();
	atomic_store(&g.open, 1);
	for (i = 0; i < q->njobs; i++) {
		ck_assert_int_eq(op_join(pids[i], &o[i]), 0);
		ck_assert_ptr_eq(o[i].result, tok((uint64_t)i + 100));
	}
	ck_assert_int_eq(atomic_load(&g.ran), q->njobs);
	ck_assert_int_eq(atomic_load(&g.max), q->limit);
	return NULL;
}

/* More block_on_io jobs than helpers: with io_threads 2, 8 jobs that wait
 * for a gate: 2 run, the others queue (still 2 after 30 ms); with the
 * default (io_threads 0), 20 jobs: 16 run (SMARM_IO_THREADS_DEFAULT);
 * with io_threads 4, after one job that left one helper idle, 6 jobs at
 * once: 4 run (five runs of it: whether the idle helper has woken for the
 * first job before the next ones come is a matter of timing).  Once the
 * gate opens all complete, each caller getting its job's result.  The helpers end with the run: the process's threads are
 * back to what they were (within 2 s). */
static const struct queue_case queue_cases[] = {
	{ 2, 2, 8, 0, 0 },
	{ 0, (int)SMARM_IO_THREADS_DEFAULT, 20, 0, 0 },
	{ 4, 4, 6, 1, 0 },
};

START_TEST(test_block_queue)
{
	struct queue_case q = queue_cases[_i];
	int before = tasks_base(), k;
	void *res;

	for (k = 0; k < (q.warm ? 5 : 1); k++) {
		ck_assert_int_eq(run_cfg(queue_root, &q, 0, q.io, &res), 0);
		ck_assert_int_ge(q.tasks_max, before + q.limit);
		ASSERT_TASKS_BACK_TO(before);
	}
}
END_TEST

static void *fifo_root(void *arg)
{
	struct gate g;
	struct gjob j[6];
	struct op o[6];
	smarm_pid pids[6];
	int i;

	(void)arg;
	memset(&g, 0, sizeof(g));
	for (i = 0; i < 6; i++) {
		j[i].g = &g;
		j[i].idx = i;
		op_init(&o[i], OP_BLOCK, -1, 0);
		o[i].job = gate_job;
		o[i].job_arg = &j[i];
		/* Each queued before the next comes. */
		pids[i] = op_spawn(&o[i]);
		if (i == 0)
			AWAIT(atomic_load(&g.running) == 1);
	}
	atomic_store(&g.open, 1);
	for (i = 0; i < 6; i++)
		ck_assert_int_eq(op_join(pids[i], &o[i]), 0);
	ck_assert_int_eq(atomic_load(&g.norder), 6);
	for (i = 0; i < 6; i++)
		ck_assert_msg(g.order[i] == i, "job %d ran %dth", g.order[i],
			      i + 1);
	return NULL;
}

/* One helper (io_threads 1): jobs queued one after the other behind a
 * running one run in the order they came. */
START_TEST(test_block_fifo)
{
	void *res;

	ck_assert_int_eq(run_cfg(fifo_root, NULL, 0, 1, &res), 0);
}
END_TEST

static void *send_job(void *arg)
{
	smarm_pid *to = arg;

	return tok((uint64_t)smarm_send_to(*to, tok(5)) + 1);
}

static void *send_root(void *arg)
{
	smarm_pid me = smarm_self();
	smarm_msg m;
	void *res = NULL;

	(void)arg;
	ck_assert_int_eq(smarm_block_on_io(send_job, &me, &res), 0);
	ck_assert_ptr_eq(res, tok(1));
	ck_assert_int_eq(smarm_receive(&m, WAIT), 0);
	ck_assert_int_eq(m.kind, SMARM_MSG);
	ck_assert_ptr_eq(m.data, tok(5));
	ck_assert(smarm_pid_eq(m.from, SMARM_PID_NONE));
	return NULL;
}

/* A job may make the calls of plain threads: it sends its caller a
 * message with smarm_send_to (0), which the caller receives after the
 * call, from SMARM_PID_NONE. */
START_TEST(test_block_send)
{
	run(send_root, NULL);
}
END_TEST

/* smarm_config.io_threads: above SMARM_IO_THREADS_MAX is EINVAL;
 * SMARM_IO_THREADS_MAX is accepted, and a run with it
 * starts helpers only as jobs come. */
static void *max_root(void *arg)
{
	int *tasks = arg;
	void *res = NULL;

	ck_assert_int_eq(smarm_block_on_io(nop_job, tok(8), &res), 0);
	ck_assert_ptr_eq(res, tok(8));
	*tasks = task_count();
	return NULL;
}

START_TEST(test_block_config)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	int tasks = 0;
	void *res;

	smarm_config_init(&cfg);
	ck_assert_uint_le(cfg.io_threads, SMARM_IO_THREADS_MAX);
	cfg.io_threads = SMARM_IO_THREADS_MAX + 1;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.io_threads = ~0u;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), EINVAL);
	cfg.io_threads = SMARM_IO_THREADS_MAX;
	rt = NULL;
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	ck_assert_ptr_nonnull(rt);
	smarm_runtime_free(rt);
	ck_assert_int_eq(run_cfg(max_root, &tasks, 0, SMARM_IO_THREADS_MAX,
				 &res),
			 0);
	ck_assert_int_lt(tasks, 64);
}
END_TEST

/* ---- signal_wait ------------------------------------------------------------------- */

static void sigset_one(sigset_t *s, int sig)
{
	sigemptyset(s);
	sigaddset(s, sig);
}

/* Neither SIGUSR1 nor SIGUSR2 is pending for the process. */
static void no_pending(void)
{
	sigset_t p;

	ck_assert_int_eq(sigpending(&p), 0);
	ck_assert(!sigismember(&p, SIGUSR1));
	ck_assert(!sigismember(&p, SIGUSR2));
}

struct kill_later {
	int sig;
	uint64_t delay;
	atomic_int sent;
};

static void *kill_actor(void *arg)
{
	struct kill_later *k = arg;

	ck_assert_int_eq(smarm_sleep(k->delay), 0);
	atomic_store(&k->sent, 1);
	ck_assert_int_eq(kill(getpid(), k->sig), 0);
	return NULL;
}

static void *kill_thread(void *arg)
{
	struct kill_later *k = arg;

	nap_us((unsigned)(k->delay / 1000));
	atomic_store(&k->sent, 1);
	ck_assert_int_eq(kill(getpid(), k->sig), 0);
	return NULL;
}

static void *signal_root(void *arg)
{
	int by_thread = arg != NULL;
	struct kill_later k = { SIGUSR1, 20 * MS, 0 };
	sigset_t set;
	smarm_pid pid;
	pthread_t th;
	int signo = 0;

	no_pending();
	sigset_one(&set, SIGUSR1);
	if (by_thread)
		ck_assert_int_eq(pthread_create(&th, NULL, kill_thread, &k), 0);
	else
		spawn_ok(&pid, kill_actor, &k);
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, WAIT), 0);
	ck_assert_int_eq(signo, SIGUSR1);
	ck_assert_int_eq(atomic_load(&k.sent), 1);
	if (by_thread)
		ck_assert_int_eq(pthread_join(th, NULL), 0);
	else
		join_wait(pid);
	/* Taken: nothing left. */
	no_pending();
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, 0), ETIMEDOUT);
	/* Two in the set: the one sent is reported. */
	sigaddset(&set, SIGUSR2);
	k.sig = SIGUSR2;
	atomic_store(&k.sent, 0);
	spawn_ok(&pid, kill_actor, &k);
	signo = 0;
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, WAIT), 0);
	ck_assert_int_eq(signo, SIGUSR2);
	join_wait(pid);
	no_pending();
	return NULL;
}

/* An actor waits for SIGUSR1; another actor (_i 0) or a plain thread (_i
 * 1) sends it to the process with kill after 20 ms: *signo is SIGUSR1 and
 * nothing stays pending.  A set of SIGUSR1 and SIGUSR2 with SIGUSR2 sent:
 * *signo is SIGUSR2. */
START_TEST(test_signal_wait)
{
	run(signal_root, _i ? tok(1) : NULL);
}
END_TEST

static void *signal_misc_root(void *arg)
{
	sigset_t set, empty;
	int signo = 0, i;
	static const int bad[] = { SIGKILL, SIGSTOP, SIGSEGV, SIGBUS,
				   SIGFPE,  SIGILL,  SIGTRAP, SIGABRT };
	uint64_t t0;

	(void)arg;
	sigset_one(&set, SIGUSR2);
	/* ETIMEDOUT: 0 and a short timeout. */
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, 0), ETIMEDOUT);
	t0 = smarm_now();
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, SHORT), ETIMEDOUT);
	ck_assert_uint_ge(smarm_now() - t0, SHORT);
	/* EINVAL. */
	sigemptyset(&empty);
	ck_assert_int_eq(smarm_signal_wait(NULL, &signo, 0), EINVAL);
	ck_assert_int_eq(smarm_signal_wait(&set, NULL, 0), EINVAL);
	ck_assert_int_eq(smarm_signal_wait(&empty, &signo, WAIT), EINVAL);
	for (i = 0; i < (int)(sizeof(bad) / sizeof(bad[0])); i++) {
		sigset_one(&set, SIGUSR2);
		sigaddset(&set, bad[i]);
		ck_assert_msg(smarm_signal_wait(&set, &signo, WAIT) == EINVAL,
			      "a set with signal %d", bad[i]);
	}
	/* Sent before the wait: taken by it at once. */
	ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
	sigset_one(&set, SIGUSR2);
	signo = 0;
	t0 = smarm_now();
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, WAIT), 0);
	ck_assert_int_eq(signo, SIGUSR2);
	ck_assert_uint_lt(smarm_now() - t0, WAIT / 2);
	/* Sent between two waits, nobody waiting: taken by the next. */
	ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	signo = 0;
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, 0), 0);
	ck_assert_int_eq(signo, SIGUSR2);
	no_pending();
	return NULL;
}

/* signal_wait: ETIMEDOUT with timeout 0 and after at least 30 ms; EINVAL
 * for a NULL set or signo, an empty set, a set with SIGKILL, SIGSTOP or a
 * synchronous signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT);
 * a signal sent before the wait (or between two
 * waits, nobody waiting) is taken by the next wait. */
START_TEST(test_signal_misc)
{
	run(signal_misc_root, NULL);
}
END_TEST

/* The thread that calls smarm_runtime_run in the test (worker 0). */
static pthread_t main_thread;

struct other_wait {
	atomic_int started;
	int on_other; /* the waiter ran on a worker other than main_thread */
	int rc, signo;
	uint64_t t;
};

static void *other_waiter(void *arg)
{
	struct other_wait *w = arg;
	struct kill_later k = { SIGUSR1, 50 * MS, 0 };
	sigset_t set;
	pthread_t th;
	uint64_t t0 = smarm_now();

	w->on_other = !pthread_equal(os_thread(), main_thread);
	sigset_one(&set, SIGUSR1);
	ck_assert_int_eq(pthread_create(&th, NULL, kill_thread, &k), 0);
	w->rc = smarm_signal_wait(&set, &w->signo, 2 * SEC);
	w->t = smarm_now() - t0;
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	if (w->rc != 0) {
		/* Take the signal, so that nothing is left pending. */
		ck_assert_int_eq(sigwaitinfo(&set, NULL), SIGUSR1);
	}
	return NULL;
}

/* On the other worker: the waiter, pinned there. */
static void *other_launcher(void *arg)
{
	struct other_wait *w = arg;

	atomic_store(&w->started, 1);
	join_wait(pinned_spawn_ok(other_waiter, w));
	return NULL;
}

static void *other_root(void *arg)
{
	struct other_wait *w = arg;
	smarm_pid pid;
	uint64_t t0;

	if (!pthread_equal(os_thread(), main_thread))
		return other_launcher(w);
	/* Keep worker 0 (no switch) until the other worker has taken the
	 * launcher, then leave it idle. */
	spawn_ok(&pid, other_launcher, w);
	t0 = mono_ns();
	while (atomic_load(&w->started) == 0) {
		ck_assert_msg(mono_ns() - t0 < WAIT,
			      "the other worker never ran the actor");
		nap_us(50);
	}
	join_wait(pid);
	return NULL;
}

/* Two workers: an actor pinned to the worker that did not call
 * smarm_runtime_run waits (2 s) for SIGUSR1 while worker 0 has nothing to
 * run; a plain thread sends it after 50 ms: *signo is SIGUSR1, well before
 * the timeout. */
START_TEST(test_signal_other_worker)
{
	struct other_wait w;
	void *res;

	memset(&w, 0, sizeof(w));
	main_thread = pthread_self();
	ck_assert_int_eq(run_cfg(other_root, &w, 2, 0, &res), 0);
	ck_assert(w.on_other);
	ck_assert_msg(w.rc == 0, "signal_wait: %d after %llu ms", w.rc,
		      (unsigned long long)(w.t / MS));
	ck_assert_int_eq(w.signo, SIGUSR1);
	no_pending();
}
END_TEST

/* Cancels root unless done is set within 2 s: a wait that ignores its
 * timeout fails the test instead of hanging it. */
struct watchdog {
	smarm_pid root;
	atomic_int done;
};

static void *watchdog_thread(void *arg)
{
	struct watchdog *w = arg;
	uint64_t t0 = mono_ns();

	while (!atomic_load(&w->done) && mono_ns() - t0 < 2 * SEC)
		nap_us(1000);
	if (!atomic_load(&w->done))
		ck_assert_int_eq(smarm_cancel(w->root), 0);
	return NULL;
}

static void *twice_signal_root(void *arg)
{
	struct watchdog w = { smarm_self(), 0 };
	sigset_t set;
	pthread_t th;
	int signo = 0, r;

	(void)arg;
	ck_assert_int_eq(pthread_create(&th, NULL, watchdog_thread, &w), 0);
	sigset_one(&set, SIGUSR1);
	ck_assert_int_eq(kill(getpid(), SIGUSR1), 0);
	r = smarm_signal_wait(&set, &signo, WAIT);
	atomic_store(&w.done, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	if (r != 0) /* take it, so that nothing stays pending */
		ck_assert_int_eq(sigwaitinfo(&set, NULL), SIGUSR1);
	ck_assert_msg(r == 0, "signal_wait of a pending SIGUSR1: %d", r);
	ck_assert_int_eq(signo, SIGUSR1);
	return NULL;
}

/* Three runtimes one after the other in one thread (one worker, _i 0; the
 * default, _i 1), each making one wait for a SIGUSR1 sent just before:
 * taken at once each time.  (A wait still going after 2 s is
 * cancelled.) */
START_TEST(test_signal_runtimes)
{
	void *res;
	int i;

	for (i = 0; i < 3; i++)
		ck_assert_int_eq(run_cfg(twice_signal_root, NULL, _i ? 0 : 1, 0,
					 &res),
				 0);
	no_pending();
}
END_TEST

static void *unmasked_root(void *arg)
{
	struct kill_later k = { SIGUSR2, 20 * MS, 0 };
	sigset_t set;
	smarm_pid pid;
	int signo = 0;

	(void)arg;
	sigset_one(&set, SIGUSR2);
	spawn_ok(&pid, kill_actor, &k);
	ck_assert_int_eq(smarm_signal_wait(&set, &signo, WAIT), 0);
	ck_assert_int_eq(signo, SIGUSR2);
	join_wait(pid);
	no_pending();
	return NULL;
}

/* The thread that runs the runtime has SIGUSR2 unblocked: a wait for
 * SIGUSR2 takes the signal sent by another actor (the runtime blocked it
 * in its workers), and once the run has ended the thread's mask is as
 * it was. */
START_TEST(test_signal_mask_restored)
{
	sigset_t usr2, before, after;

	sigset_one(&usr2, SIGUSR2);
	ck_assert_int_eq(pthread_sigmask(SIG_UNBLOCK, &usr2, NULL), 0);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &before), 0);
	ck_assert(!sigismember(&before, SIGUSR2));
	run(unmasked_root, NULL);
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, NULL, &after), 0);
	ck_assert(!sigismember(&after, SIGUSR2));
	ck_assert(sigismember(&after, SIGUSR1));
	ck_assert_int_eq(pthread_sigmask(SIG_BLOCK, &usr2, NULL), 0);
}
END_TEST

/* ---- runs ------------------------------------------------------------------------- */

struct forever {
	int what;
	int fd;        /* where the thread writes */
	in_port_t port; /* where it connects */
	int dialed;    /* its client socket */
	smarm_pid root;
	atomic_int finished; /* the root's call returned */
};

/* After 50 ms: the byte, the client or the signal the root waits for.
 * Then, should the root still wait 5 s later, it cancels it, so that the
 * test fails rather than hangs. */
static void *forever_thread(void *arg)
{
	struct forever *f = arg;
	uint64_t t0;

	nap_us(50000);
	switch (f->what) {
	case OP_READABLE:
	case OP_READ:
		put(f->fd, "f");
		break;
	case OP_ACCEPT:
		f->dialed = tcp_dial(f->port);
		break;
	case OP_SIGNAL:
		ck_assert_int_eq(kill(getpid(), SIGUSR2), 0);
		break;
	default:
		break;
	}
	t0 = mono_ns();
	while (!atomic_load(&f->finished) && mono_ns() - t0 < 5 * SEC)
		nap_us(1000);
	if (!atomic_load(&f->finished))
		ck_assert_int_eq(smarm_cancel(f->root), 0);
	return NULL;
}

static void *sleep50_job(void *arg)
{
	usleep(50 * 1000);
	return arg;
}

static void *forever_root(void *arg)
{
	int what = (int)untok(arg), lfd = -1;
	struct forever f = { what, -1, 0, -1, smarm_self(), 0 };
	struct link l = { PIPE, -1, -1 };
	struct op o;
	pthread_t th;
	char b[4];

	switch (what) {
	case OP_READABLE:
	case OP_READ:
		link_open(&l, what == OP_READ ? UNIX : PIPE);
		f.fd = l.w;
		op_init(&o, what, l.r, SMARM_FOREVER);
		o.buf = b;
		o.len = sizeof(b);
		break;
	case OP_ACCEPT:
		lfd = tcp_listen(&f.port, 4);
		op_init(&o, what, lfd, SMARM_FOREVER);
		break;
	case OP_SIGNAL:
		op_init(&o, what, -1, SMARM_FOREVER);
		sigaddset(&o.set, SIGUSR2);
		break;
	default:
		op_init(&o, OP_BLOCK, -1, 0);
		o.job = sleep50_job;
		o.job_arg = tok(9);
		break;
	}
	ck_assert_int_eq(pthread_create(&th, NULL, forever_thread, &f), 0);
	/* The call, made by the root itself: the only actor. */
	op_actor(&o);
	atomic_store(&f.finished, 1);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_msg(o.rc == 0, "%s: %d", op_name[what], o.rc);
	switch (what) {
	case OP_READ:
		ck_assert_uint_eq(o.done, 1);
		break;
	case OP_ACCEPT:
		ck_assert_int_ge(o.newfd, 0);
		fd_close(&o.newfd);
		fd_close(&f.dialed);
		break;
	case OP_SIGNAL:
		ck_assert_int_eq(o.signo, SIGUSR2);
		no_pending();
		break;
	case OP_BLOCK:
		ck_assert_ptr_eq(o.result, tok(9));
		break;
	default:
		break;
	}
	fd_close(&lfd);
	link_close(&l);
	return NULL;
}

/* The root, the only actor, waits with no timeout in wait_readable (a
 * pipe), read (a socketpair), accept, signal_wait (SIGUSR2) or
 * block_on_io (a 50 ms job) for what a plain thread does 50 ms later: no
 * deadlock (the run is not over while an actor waits for an fd, a signal
 * or a job), the call returns 0 (not ECANCELED: the thread cancels a root
 * still waiting 5 s later), the run 0. */
START_TEST(test_forever)
{
	static const int ops[] = { OP_READABLE, OP_READ, OP_ACCEPT, OP_SIGNAL,
				   OP_BLOCK };

	run(forever_root, tok((uint64_t)ops[_i]));
}
END_TEST

static void *stubborn(void *arg);

static struct link again, fresh;

/* A byte from another actor, read (data in 10 ms; 2 s allowed); a job's
 * result; nothing left. */
static void read_one(struct link *l)
{
	struct later w = { l->w, 10 * MS, 0 };
	smarm_pid pid;
	char c;
	size_t done = 0;
	int r;

	spawn_ok(&pid, later_actor, &w);
	r = smarm_read(l->r, &c, 1, &done, 2 * SEC);
	ck_assert_msg(r == 0, "read: %d", r);
	ck_assert_uint_eq(done, 1);
	join_wait(pid);
	ck_assert_int_eq(smarm_wait_readable(l->r, 0), ETIMEDOUT);
}

static void *again_root(void *arg)
{
	void *res = NULL;

	(void)arg;
	read_one(&again);
	ck_assert_int_eq(smarm_block_on_io(nop_job, tok(4), &res), 0);
	ck_assert_ptr_eq(res, tok(4));
	return NULL;
}

/* One runtime, three runs, each reading one socketpair (a byte another
 * actor writes 10 ms later) and running a block_on_io job: the fd and the
 * helpers work in each run; the process's threads are back to what they
 * were after each. */
START_TEST(test_runs_again)
{
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res;
	int before = tasks_base(), i;

	link_open(&again, UNIX);
	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(smarm_runtime_run(rt, again_root, NULL, &res),
				 0);
		ASSERT_TASKS_BACK_TO(before);
	}
	smarm_runtime_free(rt);
	link_close(&again);
}
END_TEST

/* Reads again.r, 5 ms at a time, whatever it is told. */
static void *stubborn_reader(void *arg)
{
	char c;
	size_t done;

	(void)arg;
	for (;;)
		smarm_read(again.r, &c, 1, &done, 5 * MS);
	return NULL;
}

static void *abandon_root(void *arg)
{
	(void)arg;
	spawn_named("reader", stubborn_reader, NULL);
	spawn_named("sleeper", stubborn, NULL);
	ck_assert_int_eq(smarm_sleep(SETTLE), 0);
	ck_assert_int_eq(smarm_shutdown(100 * MS), 0);
	return NULL;
}

static void *after_root(void *arg)
{
	uint64_t t0 = smarm_now();

	(void)arg;
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	ck_assert_uint_ge(smarm_now() - t0, SHORT);
	read_one(&fresh);
	return NULL;
}

/* One runtime: a run that ends with ETIMEDOUT, abandoning (and naming)
 * an actor that sleeps 5 ms at a time and one that reads a socketpair
 * with a 5 ms timeout, both ignoring ECANCELED; then a second run sleeps
 * 30 ms and reads another socketpair: it works, as after a run that
 * ended well (smarm_runtime_run(3): the runtime may be run again). */
START_TEST(test_run_after_abandon)
{
	struct capture c;
	char out[4096];
	smarm_config cfg;
	smarm_runtime *rt = NULL;
	void *res;
	int before = tasks_base();

	link_open(&again, UNIX);
	link_open(&fresh, UNIX);
	smarm_config_init(&cfg);
	ck_assert_int_eq(smarm_runtime_new(&rt, &cfg), 0);
	capture_start(&c);
	ck_assert_int_eq(smarm_runtime_run(rt, abandon_root, NULL, &res),
			 ETIMEDOUT);
	capture_end(&c, out, sizeof(out));
	ck_assert_msg(strstr(out, "'reader'") != NULL &&
			      strstr(out, "'sleeper'") != NULL,
		      "stderr: \"%s\"", out);
	ASSERT_TASKS_BACK_TO(before);
	ck_assert_int_eq(smarm_runtime_run(rt, after_root, NULL, &res), 0);
	ASSERT_TASKS_BACK_TO(before);
	smarm_runtime_free(rt);
	link_close(&again);
	link_close(&fresh);
}
END_TEST

/* ---- shutdown ---------------------------------------------------------------------- */

/* The shutdown tests' state: the blockers' fds and channel, the code
 * each blocker's call returned, and how the test goes. */
struct sd {
	int lfd;
	struct link l;
	smarm_rx *rx;
	int codes[8];
	int stubborn;        /* one actor ignores ECANCELED */
	uint64_t timeout;    /* of the shutdown */
	uint64_t t_shutdown; /* mono_ns() at the (first) shutdown */
	int from_thread;     /* a plain thread calls it, once go is set */
	atomic_int go;
	atomic_int shut;     /* set just before the (first) shutdown */
};

static struct sd sd;

static void *b_recv(void *arg)
{
	uint64_t v;

	(void)arg;
	sd.codes[0] = smarm_recv(sd.rx, &v, SMARM_FOREVER);
	ck_assert_int_eq(smarm_rx_close(sd.rx), 0);
	return NULL;
}

static void *b_receive(void *arg)
{
	smarm_msg m;

	(void)arg;
	sd.codes[1] = smarm_receive(&m, SMARM_FOREVER);
	return NULL;
}

static void *b_sleep(void *arg)
{
	(void)arg;
	sd.codes[2] = smarm_sleep(SMARM_FOREVER);
	return NULL;
}

static void *b_read(void *arg)
{
	char b[4];
	size_t done;

	(void)arg;
	sd.codes[3] = smarm_read(sd.l.r, b, sizeof(b), &done, SMARM_FOREVER);
	return NULL;
}

static void *b_accept(void *arg)
{
	int fd = -1;

	(void)arg;
	sd.codes[4] = smarm_accept(sd.lfd, &fd, NULL, NULL, SMARM_FOREVER);
	return NULL;
}

static void *b_signal(void *arg)
{
	sigset_t set;
	int signo;

	(void)arg;
	sigset_one(&set, SIGUSR2);
	sd.codes[5] = smarm_signal_wait(&set, &signo, SMARM_FOREVER);
	return NULL;
}

/* A job that runs until 20 ms after the shutdown was called. */
static void *shut_job(void *arg)
{
	uint64_t t0 = mono_ns();

	while (!atomic_load(&sd.shut) && mono_ns() - t0 < WAIT)
		nap_us(500);
	nap_us(20000);
	return arg;
}

static void *b_block(void *arg)
{
	void *res = NULL;

	(void)arg;
	/* Cancelled while its job runs, the call returns once the job has,
	 * with its result; while it is queued, the job is dropped. */
	sd.codes[6] = smarm_block_on_io(shut_job, tok(42), &res);
	ck_assert(res == tok(42) || res == NULL);
	return NULL;
}

/* Ignores every cancel: sleeps 5 ms at a time until the run gives up on
 * it. */
static void *stubborn(void *arg)
{
	(void)arg;
	for (;;)
		smarm_sleep(5 * MS);
	return NULL;
}

static const smarm_fn blockers[] = { b_recv,   b_receive, b_sleep, b_read,
				     b_accept, b_signal,  b_block };
#define NBLOCKERS 7

static void *shutdown_root(void *arg)
{
	smarm_tx *tx;
	smarm_pid pids[NBLOCKERS];
	in_port_t port;
	uint64_t parks, t0;
	int i, r;

	(void)arg;
	chan_ok(&tx, &sd.rx, sizeof(uint64_t));
	link_open(&sd.l, UNIX);
	sd.lfd = tcp_listen(&port, 4);
	parks = stats_now().parks;
	for (i = 0; i < NBLOCKERS; i++)
		pids[i] = spawn_named("blocker", blockers[i], NULL);
	if (sd.stubborn)
		spawn_named("stubborn", stubborn, NULL);
	/* All parked (or at worst about to: a cancel before the wait is
	 * delivered by it all the same). */
	t0 = mono_ns();
	while (stats_now().parks < parks + NBLOCKERS && mono_ns() - t0 < SEC)
		ck_assert_int_eq(smarm_yield(), 0);
	ck_assert_int_eq(smarm_sleep(SETTLE), 0);
	if (sd.from_thread) {
		smarm_msg m;

		/* The plain thread's shutdown cancels this receive. */
		atomic_store(&sd.go, 1);
		ck_assert_int_eq(smarm_receive(&m, WAIT), ECANCELED);
	} else {
		sd.t_shutdown = mono_ns();
		atomic_store(&sd.shut, 1);
		ck_assert_int_eq(smarm_shutdown(sd.timeout), 0);
		ck_assert_int_ne(smarm_cancelled(), 0);
		/* The caller is cancelled too. */
		ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	}
	for (i = 0; i < NBLOCKERS; i++) {
		r = smarm_join(pids[i], NULL, WAIT);
		ck_assert_msg(r == 0, "join of blocker %d: %d", i, r);
	}
	for (i = 0; i < NBLOCKERS; i++)
		ck_assert_msg(sd.codes[i] == ECANCELED, "blocker %d got %d", i,
			      sd.codes[i]);
	ck_assert_int_eq(smarm_tx_close(tx), 0);
	return tok(7);
}

static void *shutdown_thread(void *arg)
{
	int *rc = arg;
	uint64_t t0 = mono_ns();

	while (!atomic_load(&sd.go) && mono_ns() - t0 < WAIT)
		nap_us(500);
	sd.t_shutdown = mono_ns();
	atomic_store(&sd.shut, 1);
	*rc = smarm_shutdown(sd.timeout);
	return NULL;
}

static void sd_reset(int stubborn_one, uint64_t timeout, int from_thread)
{
	memset(&sd, 0, sizeof(sd));
	memset(sd.codes, 0xff, sizeof(sd.codes));
	sd.lfd = -1;
	sd.l.r = sd.l.w = -1;
	sd.stubborn = stubborn_one;
	sd.timeout = timeout;
	sd.from_thread = from_thread;
}

static void sd_close(void)
{
	fd_close(&sd.lfd);
	link_close(&sd.l);
}

/* Actors waiting in recv, receive, sleep, read, accept, signal_wait and
 * block_on_io (a job that ends 20 ms after the shutdown), all with no
 * timeout; the root calls smarm_shutdown(30 s): it returns 0 at once and
 * the root's next wait returns ECANCELED; every waiter gets ECANCELED and
 * ends; the run returns 0 with the root's result, long before the
 * timeout. */
START_TEST(test_shutdown_clean)
{
	void *res = NULL;

	sd_reset(0, WAIT, 0);
	ck_assert_int_eq(run_cfg(shutdown_root, NULL, 0, 0, &res), 0);
	ck_assert_ptr_eq(res, tok(7));
	ck_assert_uint_lt(mono_ns() - sd.t_shutdown, WAIT / 2);
	sd_close();
}
END_TEST

/* The same with an actor named 'stubborn' that ignores ECANCELED and
 * sleeps on, and a 200 ms timeout: smarm_runtime_run returns ETIMEDOUT,
 * at least 200 ms after the shutdown, and stderr names the actor. */
START_TEST(test_shutdown_stubborn)
{
	struct capture c;
	char out[4096];
	void *res = NULL;
	uint64_t t;
	int r;

	sd_reset(1, 200 * MS, 0);
	capture_start(&c);
	r = run_cfg(shutdown_root, NULL, 0, 0, &res);
	t = mono_ns() - sd.t_shutdown;
	capture_end(&c, out, sizeof(out));
	ck_assert_int_eq(r, ETIMEDOUT);
	ck_assert_msg(t >= 200 * MS, "the run ended %llu ms after the shutdown",
		      (unsigned long long)(t / MS));
	ck_assert_uint_lt(t, WAIT / 2);
	ck_assert_msg(strstr(out, "did not end") != NULL &&
			      strstr(out, "'stubborn'") != NULL,
		      "stderr: \"%s\"", out);
	ck_assert_msg(strstr(out, "'blocker'") == NULL, "stderr: \"%s\"", out);
	sd_close();
}
END_TEST

/* smarm_shutdown from a plain thread while the run goes (the root waits
 * in a receive): _i 0, every actor ends: the thread's call returns 0, the
 * run 0 with the root's result; _i 1, with the stubborn actor and 200 ms:
 * both return ETIMEDOUT, at least 200 ms after the call. */
START_TEST(test_shutdown_thread)
{
	struct capture c;
	char out[4096];
	pthread_t th;
	void *res = NULL;
	uint64_t t;
	int r, trc = -1;

	sd_reset(_i, _i ? 200 * MS : WAIT, 1);
	ck_assert_int_eq(pthread_create(&th, NULL, shutdown_thread, &trc), 0);
	capture_start(&c);
	r = run_cfg(shutdown_root, NULL, 0, 0, &res);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	t = mono_ns() - sd.t_shutdown;
	capture_end(&c, out, sizeof(out));
	if (_i) {
		ck_assert_int_eq(trc, ETIMEDOUT);
		ck_assert_int_eq(r, ETIMEDOUT);
		ck_assert_uint_ge(t, 200 * MS);
		ck_assert_msg(strstr(out, "'stubborn'") != NULL, "stderr: \"%s\"",
			      out);
	} else {
		ck_assert_int_eq(trc, 0);
		ck_assert_int_eq(r, 0);
		ck_assert_ptr_eq(res, tok(7));
	}
	ck_assert_uint_lt(t, WAIT / 2);
	sd_close();
}
END_TEST

/* Ends at its second cancel. */
static void *twice(void *arg)
{
	int *n = arg;

	while (*n < 2)
		if (smarm_sleep(5 * MS) == ECANCELED)
			(*n)++;
	return NULL;
}

static void *twice_root(void *arg)
{
	int *mode = arg;
	static int n;
	smarm_pid pid;

	n = 0;
	if (*mode == 0)
		spawn_ok(&pid, twice, &n);
	else
		spawn_named("stubborn", stubborn, NULL);
	ck_assert_int_eq(smarm_sleep(SETTLE), 0);
	sd.t_shutdown = mono_ns();
	ck_assert_int_eq(smarm_shutdown(*mode == 0 ? WAIT : 200 * MS), 0);
	ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	/* Delivered: a sleep sleeps again. */
	ck_assert_int_eq(smarm_sleep(SHORT), 0);
	ck_assert_int_eq(smarm_shutdown(LONG), 0);
	ck_assert_int_eq(smarm_sleep(WAIT), ECANCELED);
	if (*mode == 0) {
		join_wait(pid);
		ck_assert_int_eq(n, 2);
	}
	return NULL;
}

/* A second shutdown cancels again: an actor that ends at its second
 * ECANCELED ends, the run returns 0 (_i 0); the first deadline stays: with
 * a stubborn actor, a first shutdown of 200 ms and a second of an hour,
 * the run returns ETIMEDOUT after about 200 ms (_i 1). */
START_TEST(test_shutdown_twice)
{
	struct capture c;
	char out[4096];
	void *res = NULL;
	int mode = _i, r;
	uint64_t t;

	sd_reset(0, 0, 0);
	capture_start(&c);
	r = run_cfg(twice_root, &mode, 0, 0, &res);
	t = mono_ns() - sd.t_shutdown;
	capture_end(&c, out, sizeof(out));
	ck_assert_int_eq(r, mode == 0 ? 0 : ETIMEDOUT);
	if (mode)
		ck_assert_uint_ge(t, 200 * MS);
	ck_assert_uint_lt(t, WAIT / 2);
}
END_TEST

static void *esrch_thread(void *arg)
{
	int *rc = arg;

	*rc = smarm_shutdown(SEC);
	return NULL;
}

/* ESRCH with no run: from main before and after a run, at once, whatever
 * the timeout. */
START_TEST(test_shutdown_esrch)
{
	pthread_t th;
	uint64_t t0 = mono_ns();
	int rc = -1;

	ck_assert_int_eq(smarm_shutdown(0), ESRCH);
	ck_assert_int_eq(smarm_shutdown(WAIT), ESRCH);
	run(return_arg, NULL);
	ck_assert_int_eq(smarm_shutdown(WAIT), ESRCH);
	ck_assert_int_eq(pthread_create(&th, NULL, esrch_thread, &rc), 0);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
	ck_assert_int_eq(rc, ESRCH);
	ck_assert_uint_lt(mono_ns() - t0, WAIT / 2);
}
END_TEST

/* ---- suite ---------------------------------------------------------------------------- */

static TCase *tcase_io(Suite *s, const char *name)
{
	TCase *tc = tcase_add(s, name);

	tcase_add_checked_fixture(tc, fd_setup, fd_teardown);
	return tc;
}

static Suite *io_suite(void)
{
	Suite *s = suite_create("io");
	TCase *tc;

	tc = tcase_io(s, "readiness");
	tcase_add_loop_test(tc, test_ready_read, 0, 2 * NKINDS);
	tcase_add_loop_test(tc, test_ready_write, 0, 2 * NKINDS);
	tcase_add_loop_test(tc, test_poll_zero, 0, NKINDS);
	tcase_add_test(tc, test_regular_file);
	tcase_add_loop_test(tc, test_hangup_ready, 0, NKINDS);

	tc = tcase_io(s, "timeout");
	tcase_add_loop_test(tc, test_timeout_fires, 0, 5);
	tcase_add_test(tc, test_timeout_not_fired);

	tc = tcase_io(s, "read");
	tcase_add_loop_test(tc, test_read_partial, 0, NKINDS);
	tcase_add_loop_test(tc, test_read_eof, 0, NKINDS);
	tcase_add_loop_test(tc, test_read_len0, 0, NKINDS);
	tcase_add_test(tc, test_read_reset);
	tcase_add_loop_test(tc, test_fd_flags, 0, NKINDS);
	tcase_add_loop_test(tc, test_read_while_busy, 0, NKINDS);

	tc = tcase_io(s, "write");
	tcase_add_loop_test(tc, test_write_short, 0, NKINDS);
	tcase_add_loop_test(tc, test_write_epipe, TCP, UNIX + 1);
	tcase_add_test(tc, test_write_pipe_sigpipe);
	tcase_add_loop_test(tc, test_duplex, TCP, UNIX + 1);

	tc = tcase_io(s, "accept");
	tcase_add_test(tc, test_accept_connect);
	tcase_add_test(tc, test_connect_refused);
	tcase_add_test(tc, test_connect_timeout);

	tc = tcase_io(s, "cancel");
	tcase_add_loop_test(tc, test_cancel_io, 0, 6);
	tcase_add_test(tc, test_cancel_pending);
	tcase_add_test(tc, test_cancel_signal);
	tcase_add_loop_test(tc, test_cancel_block, 0, 2);

	tc = tcase_io(s, "close");
	tcase_add_loop_test(tc, test_close_waiter, 0, 10);
	tcase_add_test(tc, test_close_errors);
	tcase_add_loop_test(tc, test_close_reuse, 0, NREUSE);

	tc = tcase_io(s, "errors");
	tcase_add_test(tc, test_ebusy);
	tcase_add_test(tc, test_eperm);
	tcase_add_test(tc, test_ebadf);
	tcase_add_test(tc, test_einval);

	tc = tcase_io(s, "block");
	tcase_add_loop_test(tc, test_block_progress, 0, 2);
	tcase_add_loop_test(tc, test_block_queue, 0, 3);
	tcase_add_test(tc, test_block_fifo);
	tcase_add_test(tc, test_block_send);
	tcase_add_test(tc, test_block_config);

	tc = tcase_io(s, "signal");
	tcase_add_loop_test(tc, test_signal_wait, 0, 2);
	tcase_add_test(tc, test_signal_misc);
	tcase_add_test(tc, test_signal_other_worker);
	tcase_add_loop_test(tc, test_signal_runtimes, 0, 2);
	tcase_add_test(tc, test_signal_mask_restored);

	tc = tcase_io(s, "runs");
	tcase_add_loop_test(tc, test_forever, 0, 5);
	tcase_add_test(tc, test_runs_again);
	tcase_add_test(tc, test_run_after_abandon);

	tc = tcase_io(s, "shutdown");
	tcase_add_test(tc, test_shutdown_clean);
	tcase_add_test(tc, test_shutdown_stubborn);
	tcase_add_loop_test(tc, test_shutdown_thread, 0, 2);
	tcase_add_loop_test(tc, test_shutdown_twice, 0, 2);
	tcase_add_test(tc, test_shutdown_esrch);

	return s;
}

int main(void)
{
	sigset_t usr;

	/* smarm_signal_wait's rule: every thread but the runtime's blocks
	 * the signals waited for.  Blocked here, before any thread is made,
	 * they are blocked in all of them (and in Check's forked children). */
	sigemptyset(&usr);
	sigaddset(&usr, SIGUSR1);
	sigaddset(&usr, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &usr, NULL);
	return run_suite(io_suite());
}
