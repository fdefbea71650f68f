/*
 * check_fdleak.c - a runtime that does socket I/O gives every descriptor
 * back: the connections' own, and the runtime's (its poller and whatever
 * else it opens) once it is freed.
 *
 *  - cycles:     1,000 connect / echo / close cycles in one run, one after
 *                the other, against an echo server of actors in the same
 *                process (one detached actor per connection, as in
 *                examples/echo_server.c); every echoed byte is checked.
 *                /proc/self/fd counts the same after the first cycle and
 *                after the last (each server actor has closed its socket),
 *                and the same before the runtime was made and after it was
 *                freed.  smarm_close on the listening socket wakes the
 *                acceptor with EBADF.
 *  - concurrent: the same 1,000 cycles from 50 client actors at once.
 *  - shutdown:   100 connections open, their server actors parked in
 *                smarm_read and the acceptor in smarm_accept; an actor
 *                calls smarm_shutdown: each of them gets ECANCELED and
 *                closes its socket, the run ends at once and returns 0,
 *                and once the test has closed its client ends the count
 *                is back where it started.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

/* A wait only a bug makes expire. */
#define WAIT (30000 * MS)

#define CYCLES 1000
#define CLIENTS 50
#define OPEN 100
#define MSG_LEN 100

/* ---- helpers ---------------------------------------------------------------- */

/* Descriptors open in this process (the directory's own not counted). */
static int count_fds(void)
{
	return dir_entries("/proc/self/fd") - 1;
}

/* The server: its listening socket and what its actors report. */
struct server {
	int lfd;
	struct sockaddr_in sa;
	atomic_int open;	/* connections accepted and not yet closed */
	atomic_int cancelled;	/* server actors that saw ECANCELED */
	atomic_int errors;	/* ... or another error */
	atomic_int stopped;	/* the error that ended the acceptor */
};

/* A listening socket on 127.0.0.1, any port. */
static void server_init(struct server *s)
{
	socklen_t len = sizeof(s->sa);

	memset(s, 0, sizeof(*s));
	s->sa.sin_family = AF_INET;
	s->sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(s->lfd, 0);
	ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&s->sa,
			      sizeof(s->sa)), 0);
	ck_assert_int_eq(listen(s->lfd, 1024), 0);
	ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&s->sa, &len),
			 0);
}

struct conn {
	struct server *s;
	int fd;
};

/* One server connection: echo until end of file or an error. */
static void *server_conn(void *arg)
{
	struct conn *c = arg;
	struct server *s = c->s;
	int fd = c->fd, err;
	char buf[512];
	size_t got, sent;

	free(c);
	for (;;) {
		err = smarm_read(fd, buf, sizeof(buf), &got, WAIT);
		if (err || got == 0)
			break;
		err = smarm_write(fd, buf, got, &sent, WAIT);
		if (err)
			break;
	}
	if (err == ECANCELED)
		atomic_fetch_add(&s->cancelled, 1);
	else if (err)
		atomic_fetch_add(&s->errors, 1);
	ck_assert_int_eq(smarm_close(fd), 0);
	atomic_fetch_sub(&s->open, 1);
	return NULL;
}

/* Accepts until an error, spawning a detached server_conn for each
 * connection; returns the error. */
static void *acceptor(void *arg)
{
	struct server *s = arg;
	smarm_spawn_opts o;
	smarm_pid pid;
	struct conn *c;
	int fd, err;

	smarm_spawn_opts_init(&o);
	o.flags = SMARM_SPAWN_DETACHED;
	for (;;) {
		err = smarm_accept(s->lfd, &fd, NULL, NULL, SMARM_FOREVER);
		if (err) {
			atomic_store(&s->stopped, err);
			return (void *)(intptr_t)err;
		}
		/* smarm_accept(3): non-blocking, close-on-exec. */
		REQUIRE_MSG(fcntl(fd, F_GETFL) & O_NONBLOCK, "blocking fd");
		REQUIRE_MSG(fcntl(fd, F_GETFD) & FD_CLOEXEC, "no FD_CLOEXEC");
		c = malloc(sizeof(*c));
		ck_assert_ptr_nonnull(c);
		c->s = s;
		c->fd = fd;
		atomic_fetch_add(&s->open, 1);
		ck_assert_int_eq(smarm_spawn_opt(&pid, server_conn, c, &o), 0);
	}
}

/* In an actor: a socket connected to the server. */
static int connect_to(struct server *s)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int err;

	ck_assert_int_ge(fd, 0);
	err = smarm_connect(fd, (struct sockaddr *)&s->sa, sizeof(s->sa), WAIT);
	REQUIRE_MSG(err == 0, "connect: %s", smarm_strerror(err));
	return fd;
}

/* In an actor: send MSG_LEN bytes made from tag, check the echo. */
static void echo_once(int fd, unsigned tag)
{
	unsigned char out[MSG_LEN], in[MSG_LEN];
	size_t have, got, sent;
	int k, err;

	for (k = 0; k < MSG_LEN; k++)
		out[k] = (unsigned char)(tag * 31u + (unsigned)k);
	err = smarm_write(fd, out, sizeof(out), &sent, WAIT);
	REQUIRE_MSG(err == 0 && sent == sizeof(out), "write: %s, %zu sent",
		    smarm_strerror(err), sent);
	for (have = 0; have < sizeof(in); have += got) {
		err = smarm_read(fd, in + have, sizeof(in) - have, &got, WAIT);
		REQUIRE_MSG(err == 0, "read: %s", smarm_strerror(err));
		REQUIRE_MSG(got > 0, "end of file after %zu bytes", have);
	}
	REQUIRE_MSG(memcmp(in, out, sizeof(in)) == 0, "echo %u differs", tag);
}

/* In an actor: connect, echo, close. */
static void cycle(struct server *s, unsigned tag)
{
	int fd = connect_to(s);

	echo_once(fd, tag);
	ck_assert_int_eq(smarm_close(fd), 0);
}

/* In an actor: sleep until no server connection is open. */
static void wait_closed(struct server *s)
{
	uint64_t t0 = smarm_now();

	while (atomic_load(&s->open) > 0) {
		REQUIRE_MSG(smarm_now() - t0 < WAIT,
			    "%d server connections still open",
			    atomic_load(&s->open));
		ck_assert_int_eq(smarm_sleep(MS), 0);
	}
}

/* ---- cycles ----------------------------------------------------------------- */

static struct server srv;
static int first, last;

/* Open the server's socket and run fn as the root of a fresh runtime
 * (SMARM_THREADS applies), which closes it; the run must succeed and give
 * back every descriptor it took. */
static void run_counted(smarm_fn fn)
{
	int before = count_fds(), after;

	server_init(&srv);
	run_in_actor(fn, NULL);
	after = count_fds();
	ck_assert_msg(after == before,
		      "%d descriptors open before the runtime, %d after", before,
		      after);
}

/* Stop the acceptor by closing its socket under it: EBADF. */
static void stop_acceptor(smarm_pid acc)
{
	void *res = NULL;

	ck_assert_int_eq(smarm_close(srv.lfd), 0);
	ck_assert_int_eq(smarm_join(acc, &res, WAIT), 0);
	ck_assert_int_eq((int)(intptr_t)res, EBADF);
	ck_assert_int_eq(atomic_load(&srv.errors), 0);
	ck_assert_int_eq(atomic_load(&srv.cancelled), 0);
}

static void *cycles_root(void *arg)
{
	smarm_pid acc;
	unsigned i;

	(void)arg;
	spawn_ok(&acc, acceptor, &srv);
	cycle(&srv, 0);
	wait_closed(&srv);
	first = count_fds();
	for (i = 1; i < CYCLES; i++)
		cycle(&srv, i);
	wait_closed(&srv);
	last = count_fds();
	stop_acceptor(acc);
	return NULL;
}

START_TEST(test_cycles)
{
	run_counted(cycles_root);
	ck_assert_msg(first == last,
		      "%d descriptors open after the first cycle, %d after "
		      "cycle %d", first, last, CYCLES);
}
END_TEST

static void *cycles_client(void *arg)
{
	unsigned base = (unsigned)(uintptr_t)arg, i;

	for (i = 0; i < CYCLES / CLIENTS; i++)
		cycle(&srv, base + i);
	return NULL;
}

static void *concurrent_root(void *arg)
{
	smarm_pid acc, pids[CLIENTS];
	unsigned i;

	(void)arg;
	spawn_ok(&acc, acceptor, &srv);
	cycle(&srv, 0);
	wait_closed(&srv);
	first = count_fds();
	for (i = 0; i < CLIENTS; i++)
		spawn_ok(&pids[i], cycles_client,
			 (void *)(uintptr_t)(i * CYCLES / CLIENTS));
	for (i = 0; i < CLIENTS; i++)
		ck_assert_int_eq(smarm_join(pids[i], NULL, WAIT), 0);
	wait_closed(&srv);
	last = count_fds();
	stop_acceptor(acc);
	return NULL;
}

START_TEST(test_concurrent)
{
	run_counted(concurrent_root);
	ck_assert_msg(first == last,
		      "%d descriptors open after the first cycle, %d after "
		      "%d more from %d actors", first, last, CYCLES, CLIENTS);
}
END_TEST

/* ---- shutdown --------------------------------------------------------------- */

static int client_fd[OPEN];
static uint64_t shutdown_at;

static void *shutdown_root(void *arg)
{
	smarm_pid acc;
	int i;

	(void)arg;
	/* Detached: the shutdown, not a join, must end it. */
	ck_assert_int_eq(smarm_spawn(&acc, acceptor, &srv), 0);
	ck_assert_int_eq(smarm_detach(acc), 0);
	for (i = 0; i < OPEN; i++) {
		client_fd[i] = connect_to(&srv);
		echo_once(client_fd[i], (unsigned)i);
	}
	ck_assert_int_eq(atomic_load(&srv.open), OPEN);
	/* Let every server actor park in its read again. */
	ck_assert_int_eq(smarm_sleep(20 * MS), 0);
	shutdown_at = mono_ns();
	ck_assert_int_eq(smarm_shutdown(WAIT), 0);
	ck_assert(smarm_cancelled());
	return NULL;
}

START_TEST(test_shutdown)
{
	int before = count_fds(), i;
	uint64_t took;

	server_init(&srv);
	run_in_actor(shutdown_root, NULL);
	took = mono_ns() - shutdown_at;
	ck_assert_msg(took < 5000 * MS, "the run ended %llu ms after the "
		      "shutdown", (unsigned long long)(took / MS));
	ck_assert_int_eq(atomic_load(&srv.open), 0);
	ck_assert_int_eq(atomic_load(&srv.cancelled), OPEN);
	ck_assert_int_eq(atomic_load(&srv.stopped), ECANCELED);
	ck_assert_int_eq(atomic_load(&srv.errors), 0);
	/* The acceptor closed nothing: the listening socket is the test's. */
	ck_assert_int_eq(close(srv.lfd), 0);
	for (i = 0; i < OPEN; i++)
		ck_assert_int_eq(close(client_fd[i]), 0);
	ck_assert_int_eq(count_fds(), before);
}
END_TEST

static Suite *fdleak_suite(void)
{
	Suite *s = suite_create("fdleak");
	TCase *tc;

	tc = tcase_add(s, "cycles");
	tcase_add_test(tc, test_cycles);
	tcase_add_test(tc, test_concurrent);

	tc = tcase_add(s, "shutdown");
	tcase_add_test(tc, test_shutdown);

	return s;
}

int main(void)
{
	return run_suite(fdleak_suite());
}
