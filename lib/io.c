/*
 * io.c - the public I/O calls: waiting for an fd, read, write, accept,
 * connect, close, and waiting for a signal.
 *
 * Owns: smarm_wait_readable/writable, smarm_read, smarm_write,
 * smarm_accept, smarm_connect, smarm_close, smarm_signal_wait.
 * May touch: poll.h (waiting on an fd, the signal set), idle.h (rousing
 * the workers to block a signal set), mailbox.h (the runtime a plain
 * thread reaches), sched.h and below.
 *
 * Every call tries its system call first and waits only when the kernel
 * says EAGAIN: the fd is registered edge-triggered (poll.c), and an edge
 * comes only after the kernel ran out of what it had.  A wake is a hint:
 * the call tries again.  Sockets are read and written with MSG_DONTWAIT,
 * which leaves the fd's flags alone; any other fd is made non-blocking
 * (and left so), since read(2) and write(2) have no such flag.
 */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "smarm.h"
#include "idle.h"
#include "limit.h"
#include "mailbox.h"
#include "poll.h"
#include "sched.h"

/* The calling actor, NULL outside one. */
static smarm__actor *self_or_null(void)
{
	smarm__worker *w = smarm__worker_at_entry();

	return w ? smarm__current(w) : NULL;
}

/* The calling actor's runtime. */
static struct smarm_runtime *rt_of(void)
{
	return smarm__worker_rt(smarm__worker_self());
}

/* When a call with this timeout gives up (SMARM_FOREVER: never). */
static uint64_t end_of(uint64_t timeout)
{
	uint64_t now;

	if (timeout == SMARM_FOREVER)
		return SMARM_FOREVER;
	now = smarm_now();
	return timeout > SMARM_FOREVER - 1 - now ? SMARM_FOREVER - 1 :
		now + timeout;
}

/* Wait until fd may be ready in direction dir, or until end, saying why
 * (SMARM__WHY_READ, ...): 0 means "try again". */
static int io_wait_why(smarm__actor *self, int fd, unsigned dir,
		       uint64_t end, unsigned why)
{
	uint64_t now, left = SMARM_FOREVER;
	int r;

	smarm__why(self, why, SMARM__WHY_NUM((unsigned)fd));
	if (end != SMARM_FOREVER) {
		now = smarm_now();
		left = end > now ? end - now : 0;
	}
	r = smarm__poll_wait(self, fd, dir, left);
	return r == SMARM__POLL_ALWAYS ? 0 : r;
}

static int io_wait(smarm__actor *self, int fd, unsigned dir, uint64_t end)
{
	return io_wait_why(self, fd, dir, end, dir == SMARM__POLL_IN ?
			   SMARM__WHY_READ : SMARM__WHY_WRITE);
}

/* An errno value as a call's answer: EWOULDBLOCK is EAGAIN. */
static int err_now(void)
{
	return errno == EWOULDBLOCK ? EAGAIN : errno;
}

/* Make fd non-blocking if it is not: 0 or an errno value. */
static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return err_now();
	if ((fl & O_NONBLOCK) == 0 && fcntl(fd, F_SETFL, fl | O_NONBLOCK) != 0)
		return err_now();
	return 0;
}

/* ---- waiting for an fd ---------------------------------------------------------- */

static int wait_for(int fd, unsigned dir, uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	uint64_t end;
	struct pollfd p;
	int r;

	if (self == NULL)
		return EPERM;
	if (fd < 0)
		return EBADF;
	end = end_of(timeout);
	for (;;) {
		p.fd = fd;
		p.events = dir == SMARM__POLL_IN ? POLLIN : POLLOUT;
		p.revents = 0;
		r = poll(&p, 1, 0);
		if (r > 0)
			return p.revents & POLLNVAL ? EBADF : 0;
		if (r < 0 && errno != EINTR)
			return err_now();
		r = io_wait(self, fd, dir, end);
		if (r)
			return r;
	}
}

int smarm_wait_readable(int fd, uint64_t timeout)
{
	return wait_for(fd, SMARM__POLL_IN, timeout);
}

int smarm_wait_writable(int fd, uint64_t timeout)
{
	return wait_for(fd, SMARM__POLL_OUT, timeout);
}

/* ---- read and write ---------------------------------------------------------------- */

/* One try at moving bytes: recv/send on a socket, read/write on
 * anything else (*sock turns 0 on the first ENOTSOCK, and the fd is made
 * non-blocking then).  The byte count, or -1 with errno set. */
static ssize_t try_io(int fd, void *buf, size_t len, unsigned dir, int *sock)
{
	ssize_t n;
	int e;

	if (*sock) {
		n = dir == SMARM__POLL_IN ?
			recv(fd, buf, len, MSG_DONTWAIT) :
			send(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		*sock = 0;
		e = set_nonblock(fd);
		if (e) {
			errno = e;
			return -1;
		}
	}
	return dir == SMARM__POLL_IN ? read(fd, buf, len) :
		write(fd, buf, len);
}

/* Check what read and write share; 0 or the error. */
static int io_args(smarm__actor *self, int fd, const void *buf, size_t len,
		   size_t *done)
{
	if (done)
		*done = 0;
	if (self == NULL)
		return EPERM;
	if (done == NULL || (buf == NULL && len > 0))
		return EINVAL;
	return fd < 0 ? EBADF : 0;
}

int smarm_read(int fd, void *buf, size_t len, size_t *done, uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	int r = io_args(self, fd, buf, len, done), sock = 1;
	uint64_t end;
	ssize_t n;

	if (r || len == 0)
		return r;
	end = end_of(timeout);
	/* Emptied by the last read, no edge since: wait before trying. */
	if (timeout != 0 && smarm__poll_is_drained(rt_of(), fd)) {
		r = io_wait(self, fd, SMARM__POLL_IN, end);
		if (r)
			return r;
	}
	for (;;) {
		n = try_io(fd, buf, len, SMARM__POLL_IN, &sock);
		if (n >= 0) {
			if ((size_t)n < len && n > 0 && sock)
				smarm__poll_drained(rt_of(), fd);
			*done = (size_t)n;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_now();
		r = io_wait(self, fd, SMARM__POLL_IN, end);
		if (r)
			return r;
	}
}

int smarm_write(int fd, const void *buf, size_t len, size_t *done,
		uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	int r = io_args(self, fd, buf, len, done), sock = 1;
	size_t off = 0;
	uint64_t end;
	ssize_t n;

	if (r)
		return r;
	end = end_of(timeout);
	while (off < len) {
		n = try_io(fd, (char *)(uintptr_t)buf + off, len - off,
			   SMARM__POLL_OUT, &sock);
		if (n >= 0) {
			off += (size_t)n;
			*done = off;
			continue;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_now();
		r = io_wait(self, fd, SMARM__POLL_OUT, end);
		if (r)
			return r;
	}
	return 0;
}

/* ---- sockets ------------------------------------------------------------------------ */

int smarm_accept(int lfd, int *fd, struct sockaddr *addr, socklen_t *addrlen,
		 uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	uint64_t end;
	int s, r;

	if (self == NULL)
		return EPERM;
	if (fd == NULL)
		return EINVAL;
	if (lfd < 0)
		return EBADF;
	r = set_nonblock(lfd);
	if (r)
		return r;
	end = end_of(timeout);
	for (;;) {
		s = accept4(lfd, addr, addrlen, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s >= 0) {
			smarm__poll_fresh(rt_of(), s, 1);
			*fd = s;
			return 0;
		}
		/* A connection reset while queued: take the next one. */
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE)
			smarm__limit_hit(&rt_of()->limits_said,
					 SMARM__LIMIT_FILES, "smarm_accept", 0);
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return err_now();
		r = io_wait(self, lfd, SMARM__POLL_IN, end);
		if (r)
			return r;
	}
}

/* After a non-blocking connect: 0 once connected, EINPROGRESS while it
 * goes on, or the connection's error. */
static int connect_state(int fd)
{
	struct sockaddr_storage peer;
	socklen_t len = sizeof(int), plen = sizeof(peer);
	int err = 0;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		return err_now();
	if (err)
		return err;
	if (getpeername(fd, (struct sockaddr *)&peer, &plen) == 0)
		return 0;
	return errno == ENOTCONN ? EINPROGRESS : err_now();
}

int smarm_connect(int fd, const struct sockaddr *addr, socklen_t addrlen,
		  uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	uint64_t end;
	int r;

	if (self == NULL)
		return EPERM;
	if (addr == NULL)
		return EINVAL;
	if (fd < 0)
		return EBADF;
	r = set_nonblock(fd);
	if (r)
		return r;
	smarm__poll_fresh(rt_of(), fd, 0);
	end = end_of(timeout);
	/* A full backlog of a local socket says EAGAIN, and no event tells
	 * when it has room: ask again every millisecond. */
	while (connect(fd, addr, addrlen) != 0) {
		if (errno == EINTR || errno == EINPROGRESS) {
			do {
				r = io_wait(self, fd, SMARM__POLL_OUT, end);
				if (r == 0)
					r = connect_state(fd);
			} while (r == EINPROGRESS);
			return r;
		}
		if (errno != EAGAIN)
			return err_now();
		if (end != SMARM_FOREVER && smarm_now() >= end)
			return ETIMEDOUT;
		r = smarm_sleep(1000000);
		if (r)
			return r;
	}
	return 0;
}

int smarm_close(int fd)
{
	smarm__worker *w = smarm__worker_at_entry();
	struct smarm_runtime *rt;

	if (fd < 0)
		return EBADF;
	rt = w ? smarm__worker_rt(w) : smarm__reach_take();
	if (rt && rt->poller)
		smarm__poll_forget(rt, fd);
	if (w == NULL)
		smarm__reach_drop();
	/* Linux closes the fd even when close(2) says EINTR. */
	if (close(fd) != 0 && errno != EINTR)
		return err_now();
	return 0;
}

/* ---- signals -------------------------------------------------------------------------- */

/* A set smarm_signal_wait takes: not empty, and only signals the
 * runtime's threads block (not the synchronous ones), SIGKILL and
 * SIGSTOP excepted, which cannot be blocked. */
static int sigset_ok(const sigset_t *set)
{
	sigset_t async;
	int sig;

	if (sigisemptyset(set) || sigismember(set, SIGKILL) == 1 ||
	    sigismember(set, SIGSTOP) == 1)
		return 0;
	smarm__sigset_async(&async);
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(set, sig) == 1 && sigismember(&async, sig) != 1)
			return 0;
	return 1;
}

/* Have every thread of the runtime block set before anything waits for
 * it, whatever the timeout: a signal that came meanwhile to the thread
 * that called the run, unblocked there, would take its default action.
 * That thread blocks it at its next scheduling decision or wake. */
static int block_everywhere(const sigset_t *set)
{
	struct smarm_runtime *rt = smarm__worker_rt(smarm__worker_at_entry());
	AO_t gen = smarm__poll_sigadd(rt, set);
	int r;

	if (smarm__poll_sigdone(rt, gen))
		return 0;
	smarm__idle_rouse_all(rt);
	while (!smarm__poll_sigdone(rt, gen)) {
		r = smarm_sleep(50000);
		if (r)
			return r;
		smarm__poll_sigsync(rt_of());
	}
	return 0;
}

int smarm_signal_wait(const sigset_t *set, int *signo, uint64_t timeout)
{
	smarm__actor *self = self_or_null();
	struct signalfd_siginfo si;
	uint64_t end;
	ssize_t n;
	int sfd, r;

	if (self == NULL)
		return EPERM;
	if (set == NULL || signo == NULL || !sigset_ok(set))
		return EINVAL;
	end = end_of(timeout);
	r = block_everywhere(set);
	if (r)
		return r;
	sfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0) {
		if (errno == EMFILE || errno == ENFILE)
			smarm__limit_hit(&rt_of()->limits_said,
					 SMARM__LIMIT_FILES, "smarm_signal_wait", 0);
		return err_now();
	}
	smarm__poll_fresh(rt_of(), sfd, 1);
	for (;;) {
		n = read(sfd, &si, sizeof(si));
		if (n == (ssize_t)sizeof(si)) {
			*signo = (int)si.ssi_signo;
			r = 0;
			break;
		}
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			r = err_now();
			break;
		}
		r = io_wait_why(self, sfd, SMARM__POLL_IN, end,
				SMARM__WHY_SIGNAL);
		if (r)
			break;
	}
	smarm__poll_forget(rt_of(), sfd);
	close(sfd);
	return r;
}
