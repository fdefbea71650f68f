/*
 * fault_api.c - a program of the fault sweep (tests/check_faults.sh): it
 * makes, through the public API only, every call that can allocate or
 * create something, while tests/faultinject.c fails one of the library's
 * system or allocation calls (SMARM_FAULT).
 *
 * Every call must succeed or return an error its page documents; a call
 * that fails so is made again (the injected failure happens once, so the
 * second try succeeds), and the work goes on.  At the end every message
 * sent must have arrived, once and in order, and every actor's work must
 * be done.  Exit status 0 when all held; 1 otherwise, with a line on
 * standard error for each thing that did not.  Documented failures seen
 * are printed on standard output ("tolerated CALL ERR").
 *
 * Phases: a runtime made and run (smarm_runtime_new, smarm_runtime_run)
 * whose root actor runs channels, a bounded channel, select (over 2 and
 * over 65 channels), mailboxes and a monitor, a plain thread's sends, a
 * pinned actor, the smarm_malloc family, a mutex, a group, a supervisor,
 * spawns with options (name, big stack, deadline), sleeps and timed
 * waits, I/O (a socketpair, TCP accept and connect), smarm_block_on_io
 * (one job, then three at once) and smarm_signal_wait; then smarm_run;
 * then a runtime of 3 workers stopped by smarm_shutdown.
 *
 * Two documented outcomes are met by trying again: a supervisor that
 * cannot restart its child panics (smarm_supervisor_run(3)), and an actor,
 * the root included, that gets no stack at its first run ends as a panic
 * before its body runs (smarm(7), "Stacks").
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define _GNU_SOURCE
#include <smarm.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SEC 1000000000ull
#define LONG (20 * SEC) /* a timeout that only a bug reaches */

static int bad;

static void fail(const char *what, int err)
{
	fprintf(stderr, "fault_api: %s: %d (%s)\n", what, err,
		smarm_strerror(err));
	bad++;
}

/* The errors an injected failure causes (and that a second try may not). */
static int is_fault_error(int err)
{
	return err == ENOMEM || err == EAGAIN || err == EMFILE ||
	       err == ENFILE || err == ENOSPC;
}

/* err, not 0, is one of ok (0-terminated), the errors the call documents
 * and the caller expects: say so if it is a failure; anything else
 * fails. */
static int documented(const char *what, int err, const int *ok)
{
	for (; *ok; ok++)
		if (err == *ok) {
			if (is_fault_error(err))
				printf("tolerated %s %s\n", what,
				       smarm_strerror(err));
			return 1;
		}
	fail(what, err);
	return 0;
}

#define ALLOW(...) ((const int[]){ __VA_ARGS__, 0 })

/* r = expr, made again while it fails with a documented error that a
 * failure causes (at most 4 times: one injected failure passes at the
 * second); other errors listed are answers for the caller to look at. */
#define TRY(r, what, expr, ...)                                                \
	do {                                                                   \
		int t_;                                                        \
		for (t_ = 0;; t_++) {                                          \
			(r) = (expr);                                          \
			if ((r) == 0 ||                                        \
			    !documented(what, (r), ALLOW(__VA_ARGS__)) ||      \
			    !is_fault_error(r))                                \
				break;                                         \
			if (t_ == 3) {                                         \
				fail(what " (again and again)", (r));          \
				break;                                         \
			}                                                      \
		}                                                              \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			fail("check failed: " #cond, 0);                       \
	} while (0)

/* smarm_tx_clone, made again while it answers NULL (no memory for the
 * clone's record, as its page says); NULL after the fourth time. */
static smarm_tx *clone_tx(smarm_tx *tx)
{
	smarm_tx *c = NULL;
	int t;

	for (t = 0; t < 4 && c == NULL; t++) {
		c = smarm_tx_clone(tx);
		if (c == NULL)
			printf("tolerated smarm_tx_clone NULL\n");
	}
	if (c == NULL)
		fail("smarm_tx_clone (again and again)", ENOMEM);
	return c;
}

/* ---- actors whose work must be done ---------------------------------------------- */

/* An actor's job.  An actor whose stack could not be had at its first
 * run ends as a panic before its body runs (smarm_spawn(3), smarm(7)):
 * start() waits until the body has started, and starts such an actor
 * again, so that what it was given (a channel's handle) is used. */
struct job {
	smarm_fn fn;
	void *arg;
	int started;
	int joined; /* start() joined it already, with the answer in rc */
	int rc;
	smarm_pid pid;
	void *result;
};

static void *tramp(void *arg)
{
	struct job *j = arg;

	__atomic_store_n(&j->started, 1, __ATOMIC_RELEASE);
	return j->fn(j->arg);
}

static int spawn_job(struct job *j, const smarm_spawn_opts *o)
{
	int r;

	j->started = j->joined = 0;
	if (o != NULL)
		TRY(r, "smarm_spawn_opt", smarm_spawn_opt(&j->pid, tramp, j, o),
		    ENOMEM, EAGAIN);
	else
		TRY(r, "smarm_spawn", smarm_spawn(&j->pid, tramp, j), ENOMEM,
		    EAGAIN);
	if (r != 0)
		j->pid = SMARM_PID_NONE;
	return r;
}

static void start(struct job *j, smarm_fn fn, void *arg,
		  const smarm_spawn_opts *o)
{
	int r, tries = 0;

	j->fn = fn;
	j->arg = arg;
	if (spawn_job(j, o) != 0)
		return;
	while (!__atomic_load_n(&j->started, __ATOMIC_ACQUIRE)) {
		TRY(r, "smarm_join", smarm_join(j->pid, &j->result, 0), ENOMEM,
		    ETIMEDOUT, SMARM_EPANIC);
		if (r == ETIMEDOUT) {
			TRY(r, "smarm_sleep", smarm_sleep(20000), ENOMEM);
			if (r != 0)
				smarm_yield(); /* let it run all the same */
			continue;
		}
		if (r != SMARM_EPANIC || j->started || ++tries == 4) {
			j->joined = 1;
			j->rc = r;
			return;
		}
		printf("tolerated actor-without-stack %s\n",
		       (char *)j->result);
		free(j->result);
		if (spawn_job(j, o) != 0)
			return;
	}
}

/* Join j: its answer. */
static int finish(struct job *j)
{
	int r;

	if (smarm_pid_eq(j->pid, SMARM_PID_NONE))
		return ESRCH;
	if (j->joined)
		return j->rc;
	TRY(r, "smarm_join", smarm_join(j->pid, &j->result, SMARM_FOREVER),
	    ENOMEM, SMARM_EPANIC);
	return r;
}

/* ---- channels ----------------------------------------------------------------------- */

#define NPROD 3
#define NMSG 40

struct prod {
	smarm_tx *tx;
	int id;
	int timed;
};

static void *producer(void *arg)
{
	struct prod *p = arg;
	int i, r, v;

	for (i = 0; i < NMSG; i++) {
		v = p->id * 1000 + i;
		if (p->timed)
			TRY(r, "smarm_send_timed", smarm_send_timed(p->tx, &v, LONG),
			    ENOMEM);
		else
			TRY(r, "smarm_send", smarm_send(p->tx, &v), ENOMEM);
		if (i % 8 == 0)
			smarm_yield();
	}
	CHECK(smarm_tx_close(p->tx) == 0);
	return NULL;
}

/* Receive from rx until every sender has closed: each producer's
 * elements all, in order. */
static void drain(smarm_rx *rx, int nprod)
{
	int next[NPROD] = { 0 }, v, r, i;

	for (;;) {
		TRY(r, "smarm_recv", smarm_recv(rx, &v, LONG), ENOMEM, EPIPE);
		if (r == EPIPE)
			break;
		if (r != 0)
			return;
		i = v / 1000;
		CHECK(i >= 0 && i < nprod && v % 1000 == next[i]);
		if (i >= 0 && i < nprod)
			next[i]++;
	}
	for (i = 0; i < nprod; i++)
		CHECK(next[i] == NMSG);
}

static void channels(int bounded)
{
	struct prod p[NPROD];
	struct job j[NPROD];
	smarm_tx *tx;
	smarm_rx *rx;
	int i, r;

	if (bounded)
		TRY(r, "smarm_channel_bounded",
		    smarm_channel_bounded(&tx, &rx, sizeof(int), 2), ENOMEM);
	else
		TRY(r, "smarm_channel", smarm_channel(&tx, &rx, sizeof(int)),
		    ENOMEM);
	if (r != 0)
		return;
	for (i = 0; i < NPROD; i++) {
		p[i].tx = clone_tx(tx);
		p[i].id = i;
		p[i].timed = bounded;
		start(&j[i], producer, &p[i], NULL);
	}
	CHECK(smarm_tx_close(tx) == 0);
	drain(rx, NPROD);
	for (i = 0; i < NPROD; i++)
		CHECK(finish(&j[i]) == 0);
	CHECK(smarm_rx_close(rx) == 0);
}

/* Two channels, one producer each, taken through smarm_select. */
static void selecting(void)
{
	smarm_tx *tx[2];
	smarm_rx *rx[2], *live[2];
	struct prod p[2];
	struct job j[2];
	int next[2] = { 0, 0 }, v, r, i, n = 2;
	size_t k;

	for (i = 0; i < 2; i++) {
		TRY(r, "smarm_channel", smarm_channel(&tx[i], &rx[i], sizeof(int)),
		    ENOMEM);
		if (r != 0)
			return;
		live[i] = rx[i];
	}
	for (i = 0; i < 2; i++) {
		p[i] = (struct prod){ tx[i], i, 0 };
		start(&j[i], producer, &p[i], NULL);
	}
	while (n > 0) {
		TRY(r, "smarm_select", smarm_select(live, (size_t)n, &k, LONG),
		    ENOMEM);
		if (r != 0)
			return;
		r = smarm_try_recv(live[k], &v);
		if (r == EPIPE) {
			live[k] = live[--n];
			continue;
		}
		if (r == EAGAIN)
			continue;
		CHECK(r == 0 && v / 1000 < 2 && v % 1000 == next[v / 1000]);
		if (r == 0 && v / 1000 < 2)
			next[v / 1000]++;
	}
	CHECK(next[0] == NMSG && next[1] == NMSG);
	for (i = 0; i < 2; i++) {
		CHECK(finish(&j[i]) == 0);
		CHECK(smarm_rx_close(rx[i]) == 0);
	}
}

/* smarm_select over more channels than it keeps records for on the
 * stack (it allocates them): one element on the last. */
#define WIDE 65

static void wide_select(void)
{
	smarm_tx *tx[WIDE];
	smarm_rx *rx[WIDE];
	size_t k = 0;
	int i, n, r, v = 5;

	for (n = 0; n < WIDE; n++) {
		TRY(r, "smarm_channel", smarm_channel(&tx[n], &rx[n], sizeof(int)),
		    ENOMEM);
		if (r != 0)
			break;
	}
	if (n == WIDE) {
		TRY(r, "smarm_send", smarm_send(tx[WIDE - 1], &v), ENOMEM);
		TRY(r, "smarm_select", smarm_select(rx, WIDE, &k, LONG), ENOMEM);
		CHECK(r == 0 && k == WIDE - 1);
		CHECK(smarm_try_recv(rx[WIDE - 1], &v) == 0 && v == 5);
	}
	for (i = 0; i < n; i++) {
		CHECK(smarm_tx_close(tx[i]) == 0);
		CHECK(smarm_rx_close(rx[i]) == 0);
	}
}

/* ---- mailboxes and a monitor ------------------------------------------------------------ */

static void *mail_reader(void *arg)
{
	smarm_msg m;
	uintptr_t i;
	int r;

	(void)arg;
	for (i = 1; i <= NMSG; i++) {
		TRY(r, "smarm_receive", smarm_receive(&m, i % 2 ? LONG : SMARM_FOREVER),
		    ENOMEM);
		if (r != 0)
			return NULL;
		CHECK(m.kind == SMARM_MSG && (uintptr_t)m.data == i);
	}
	return (void *)i;
}

static void mailboxes(void)
{
	struct job j;
	smarm_msg m;
	uintptr_t i;
	int r, monitored;

	start(&j, mail_reader, NULL, NULL);
	TRY(r, "smarm_monitor", smarm_monitor(j.pid), ENOMEM);
	monitored = r == 0;
	for (i = 1; i <= NMSG; i++)
		TRY(r, "smarm_send_to", smarm_send_to(j.pid, (void *)i), ENOMEM);
	CHECK(finish(&j) == 0 && (uintptr_t)j.result == NMSG + 1);
	if (!monitored)
		return;
	TRY(r, "smarm_receive", smarm_receive(&m, LONG), ENOMEM);
	CHECK(r == 0 && m.kind == SMARM_SIG_EXIT);
}

/* ---- a mutex, a group, a supervisor ------------------------------------------------------------ */

static smarm_mutex mu = SMARM_MUTEX_INIT;
static int counted;

static void *locker(void *arg)
{
	int i, r;

	for (i = 0; i < 25; i++) {
		TRY(r, "smarm_mutex_lock",
		    smarm_mutex_lock(&mu, arg ? LONG : 2 * LONG), ENOMEM);
		if (r != 0)
			continue;
		int c = counted;
		smarm_yield();
		counted = c + 1;
		CHECK(smarm_mutex_unlock(&mu) == 0);
	}
	return NULL;
}

static void mutexes(void)
{
	struct job j[4];
	int i;

	counted = 0;
	CHECK(smarm_mutex_init(&mu) == 0);
	for (i = 0; i < 4; i++)
		start(&j[i], locker, (void *)(uintptr_t)(i % 2), NULL);
	for (i = 0; i < 4; i++)
		CHECK(finish(&j[i]) == 0);
	CHECK(counted == 100);
	CHECK(smarm_mutex_destroy(&mu) == 0);
}

static int gdone[3];

static void *group_kid(void *arg)
{
	int r;

	TRY(r, "smarm_sleep", smarm_sleep(1000000), ENOMEM);
	__atomic_store_n((int *)arg, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void groups(void)
{
	smarm_group *g;
	smarm_pid pid;
	int i, r;

	memset(gdone, 0, sizeof(gdone));
	TRY(r, "smarm_group_new", smarm_group_new(&g), ENOMEM);
	if (r != 0)
		return;
	for (i = 0; i < 3; i++)
		TRY(r, "smarm_group_spawn",
		    smarm_group_spawn(g, &pid, group_kid, &gdone[i]), ENOMEM,
		    EAGAIN);
	r = smarm_group_join(g, LONG);
	if (r == SMARM_EPANIC) /* a kid without a stack: never ran */
		printf("tolerated actor-without-stack %s\n", smarm_strerror(r));
	else
		CHECK(r == 0);
	for (i = 0; i < 3; i++)
		if (!gdone[i] && r == SMARM_EPANIC)
			group_kid(&gdone[i]);
	for (i = 0; i < 3; i++)
		CHECK(gdone[i]);
	smarm_group_free(g);
}

static int sup_starts, sup_done;

static void *sup_child(void *arg)
{
	(void)arg;
	if (__atomic_fetch_add(&sup_starts, 1, __ATOMIC_RELAXED) == 0)
		smarm_panic("first start fails");
	__atomic_store_n(&sup_done, 1, __ATOMIC_RELAXED);
	return NULL;
}

static void *supervisor(void *arg)
{
	smarm_child_spec kid = { .name = "kid", .fn = sup_child,
				 .restart = SMARM_TRANSIENT };
	smarm_sup_spec spec = { .strategy = SMARM_ONE_FOR_ONE,
				.intensity = 10, .children = &kid,
				.nchildren = 1 };
	int r;

	(void)arg;
	TRY(r, "smarm_supervisor_run", smarm_supervisor_run(&spec), ENOMEM,
	    EAGAIN);
	return (void *)(intptr_t)r;
}

/* A supervisor in an actor of its own: one that cannot restart its child
 * panics (smarm_supervisor_run(3)), and is started again. */
static void supervising(void)
{
	const char *gave_up = "supervisor: cannot restart child 'kid'";
	struct job j;
	int r, tries;

	sup_starts = sup_done = 0;
	for (tries = 0; tries < 3; tries++) {
		start(&j, supervisor, NULL, NULL);
		r = finish(&j);
		if (r != SMARM_EPANIC || j.result == NULL ||
		    strncmp(j.result, gave_up, strlen(gave_up)) != 0)
			break;
		printf("tolerated supervisor-gave-up %s\n", (char *)j.result);
		free(j.result);
		sup_starts = 1; /* the child's next start returns */
	}
	CHECK(r == 0 && j.result == NULL && sup_done);
}

/* ---- spawn options, deadlines, sleeps ------------------------------------------------------------ */

static void *big_stack(void *arg)
{
	volatile char buf[4 << 20];

	buf[0] = 1;
	buf[sizeof(buf) - 1] = 2;
	return (void *)(uintptr_t)(buf[0] + buf[sizeof(buf) - 1] + (arg != 0));
}

static void *overdue(void *arg)
{
	int r;

	(void)arg;
	TRY(r, "smarm_sleep", smarm_sleep(SMARM_FOREVER), ENOMEM, ECANCELED);
	return (void *)(uintptr_t)r;
}

static void options(void)
{
	smarm_spawn_opts o;
	struct job j;
	char name[SMARM_NAME_MAX];
	int r;

	smarm_spawn_opts_init(&o);
	o.stack_size = 8u << 20;
	o.name = "big";
	start(&j, big_stack, NULL, &o);
	CHECK(smarm_name(j.pid, name, sizeof(name)) != EINVAL);
	CHECK(finish(&j) == 0 && (uintptr_t)j.result == 3);

	smarm_spawn_opts_init(&o);
	o.deadline = 2000000;
	start(&j, overdue, NULL, &o);
	r = finish(&j);
	CHECK(r == 0 && (uintptr_t)j.result == ECANCELED);
	TRY(r, "smarm_sleep", smarm_sleep(100000), ENOMEM);
}

/* ---- a plain thread, pinned and detached actors, smarm_malloc ---------------------------------- */

struct outside {
	smarm_tx *tx;
	smarm_pid to;
};

/* A plain OS thread sends on a channel and to a mailbox. */
static void *outsider(void *arg)
{
	struct outside *o = arg;
	uintptr_t i;
	int r, v;

	for (i = 1; i <= NMSG; i++) {
		v = (int)i;
		TRY(r, "smarm_send (thread)", smarm_send(o->tx, &v), ENOMEM);
		TRY(r, "smarm_send_to (thread)", smarm_send_to(o->to, (void *)i),
		    ENOMEM);
	}
	CHECK(smarm_tx_close(o->tx) == 0);
	return NULL;
}

static void *pinned(void *arg)
{
	int v = 1000, r;

	TRY(r, "smarm_send", smarm_send(arg, &v), ENOMEM);
	CHECK(smarm_tx_close(arg) == 0);
	return NULL;
}

static void outsiders(void)
{
	struct outside o;
	smarm_spawn_opts so;
	smarm_rx *rx;
	smarm_msg m;
	pthread_t t;
	struct job pj;
	int v, r, got = 0, pin = 0;
	uintptr_t next = 1;
	char *p, *q;

	TRY(r, "smarm_channel", smarm_channel(&o.tx, &rx, sizeof(int)), ENOMEM);
	if (r != 0)
		return;
	o.to = smarm_self();
	smarm_spawn_opts_init(&so);
	so.flags = SMARM_SPAWN_PINNED;
	start(&pj, pinned, clone_tx(o.tx), &so);
	if (pthread_create(&t, NULL, outsider, &o) != 0) {
		fail("pthread_create", 0);
		return;
	}
	for (;;) {
		TRY(r, "smarm_recv", smarm_recv(rx, &v, LONG), ENOMEM, EPIPE);
		if (r != 0)
			break;
		if (v == 1000)
			pin++;
		else
			CHECK(v == ++got);
	}
	CHECK(got == NMSG && pin == 1);
	while (next <= NMSG) {
		TRY(r, "smarm_receive", smarm_receive(&m, LONG), ENOMEM);
		if (r != 0)
			break;
		CHECK(m.kind == SMARM_MSG && (uintptr_t)m.data == next);
		next++;
	}
	pthread_join(t, NULL);
	CHECK(finish(&pj) == 0);
	CHECK(smarm_rx_close(rx) == 0);
	p = smarm_malloc(64);
	if (p == NULL)
		printf("tolerated smarm_malloc NULL\n");
	q = smarm_realloc(p, 128);
	if (q == NULL)
		printf("tolerated smarm_realloc NULL\n");
	smarm_free(q != NULL ? q : p);
	p = smarm_calloc(4, 16);
	if (p == NULL)
		printf("tolerated smarm_calloc NULL\n");
	smarm_free(p);
}

/* ---- I/O ------------------------------------------------------------------------------------------ */

#define NBYTES (256 * 1024)

static void *writer(void *arg)
{
	static unsigned char buf[NBYTES];
	int fd = (int)(intptr_t)arg, r;
	size_t off = 0, done, i;

	for (i = 0; i < NBYTES; i++)
		buf[i] = (unsigned char)(i * 7);
	TRY(r, "smarm_wait_writable", smarm_wait_writable(fd, LONG), ENOMEM);
	while (off < NBYTES) {
		done = 0;
		r = smarm_write(fd, buf + off, NBYTES - off, &done, LONG);
		off += done;
		if (r != 0 && !documented("smarm_write", r, ALLOW(ENOMEM)))
			break;
	}
	return NULL;
}

static void streams(void)
{
	static unsigned char buf[NBYTES];
	struct job j;
	int sv[2], r;
	size_t off = 0, done, i;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		fail("socketpair", errno);
		return;
	}
	start(&j, writer, (void *)(intptr_t)sv[0], NULL);
	TRY(r, "smarm_wait_readable", smarm_wait_readable(sv[1], LONG), ENOMEM);
	while (off < NBYTES) {
		done = 0;
		r = smarm_read(sv[1], buf + off, NBYTES - off, &done, LONG);
		off += done;
		if (r == 0 && done == 0)
			break; /* end of file */
		if (r != 0 && !documented("smarm_read", r, ALLOW(ENOMEM)))
			break;
	}
	CHECK(off == NBYTES);
	for (i = 0; i < off; i++)
		if (buf[i] != (unsigned char)(i * 7)) {
			fail("stream corrupt", 0);
			break;
		}
	CHECK(finish(&j) == 0);
	CHECK(smarm_close(sv[0]) == 0 && smarm_close(sv[1]) == 0);
}

static struct sockaddr_in where;

static void *connector(void *arg)
{
	size_t done;
	int fd, r, tries;

	(void)arg;
	for (tries = 0; tries < 4; tries++) {
		fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		r = smarm_connect(fd, (struct sockaddr *)&where, sizeof(where),
				  LONG);
		if (r == 0)
			break;
		documented("smarm_connect", r, ALLOW(ENOMEM));
		smarm_close(fd); /* its half-made connection is dropped */
	}
	if (r != 0)
		return NULL;
	r = smarm_write(fd, "ping", 4, &done, LONG);
	CHECK(r == 0 && done == 4);
	CHECK(smarm_close(fd) == 0);
	return NULL;
}

static void tcp(void)
{
	struct job j;
	socklen_t len = sizeof(where);
	char buf[8];
	size_t done;
	int lfd, fd, r;

	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&where, 0, sizeof(where));
	where.sin_family = AF_INET;
	where.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (struct sockaddr *)&where, len) != 0 || listen(lfd, 8) ||
	    getsockname(lfd, (struct sockaddr *)&where, &len) != 0) {
		fail("listen", errno);
		return;
	}
	start(&j, connector, NULL, NULL);
	for (;;) {
		TRY(r, "smarm_accept", smarm_accept(lfd, &fd, NULL, NULL, LONG),
		    ENOMEM, EMFILE);
		if (r != 0)
			break;
		TRY(r, "smarm_read", smarm_read(fd, buf, 4, &done, LONG), ENOMEM);
		smarm_close(fd);
		if (r == 0 && done == 4) { /* a dropped try reads end of file */
			CHECK(memcmp(buf, "ping", 4) == 0);
			break;
		}
	}
	CHECK(finish(&j) == 0);
	close(lfd);
}

static void *blocking_job(void *arg)
{
	return (void *)((uintptr_t)arg + 1);
}

static void *killer(void *arg)
{
	(void)arg;
	kill(getpid(), SIGUSR1);
	return NULL;
}

/* A job that holds its helper a moment, so that the next ones need
 * helpers of their own. */
static void *slow_job(void *arg)
{
	usleep(2000);
	return (void *)((uintptr_t)arg + 1);
}

static void *blocker(void *arg)
{
	void *res = NULL;
	int r;

	TRY(r, "smarm_block_on_io", smarm_block_on_io(slow_job, arg, &res),
	    ENOMEM, EAGAIN);
	CHECK(r == 0 && res == (char *)arg + 1);
	return NULL;
}

static void helpers_and_signals(void)
{
	void *res = NULL;
	sigset_t set;
	struct job j, b[3];
	int r, i, signo = 0;

	TRY(r, "smarm_block_on_io",
	    smarm_block_on_io(blocking_job, (void *)41, &res), ENOMEM, EAGAIN);
	CHECK(r == 0 && (uintptr_t)res == 42);
	for (i = 0; i < 3; i++)
		start(&b[i], blocker, (void *)(uintptr_t)(10 * i), NULL);
	for (i = 0; i < 3; i++)
		CHECK(finish(&b[i]) == 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	start(&j, killer, NULL, NULL);
	TRY(r, "smarm_signal_wait", smarm_signal_wait(&set, &signo, LONG),
	    ENOMEM, EMFILE);
	CHECK(r == 0 && signo == SIGUSR1);
	CHECK(finish(&j) == 0);
}

/* ---- the runs ---------------------------------------------------------------------------------------- */

static void *root(void *arg)
{
	(void)arg;
	channels(0);
	channels(1);
	selecting();
	wide_select();
	mailboxes();
	outsiders();
	mutexes();
	groups();
	supervising();
	options();
	streams();
	tcp();
	helpers_and_signals();
	return (void *)7;
}

static void *small_root(void *arg)
{
	struct job j;

	start(&j, blocking_job, arg, NULL);
	CHECK(finish(&j) == 0 && (uintptr_t)j.result == 6);
	return j.result;
}

static void *stubborn(void *arg)
{
	smarm_msg m;
	int r;

	(void)arg;
	TRY(r, "smarm_receive", smarm_receive(&m, SMARM_FOREVER), ENOMEM,
	    ECANCELED);
	CHECK(r == ECANCELED);
	return NULL;
}

static void *stopping_root(void *arg)
{
	smarm_pid pid;
	int i, r;

	(void)arg;
	for (i = 0; i < 3; i++)
		TRY(r, "smarm_spawn", smarm_spawn(&pid, stubborn, NULL), ENOMEM,
		    EAGAIN);
	TRY(r, "smarm_sleep", smarm_sleep(1000000), ENOMEM);
	CHECK(smarm_shutdown(LONG) == 0);
	return NULL;
}

static void noop_dead_letter(void *msg, smarm_pid to)
{
	(void)msg;
	(void)to;
}

/* The run's root actor got no stack at its first run, and so ended as a
 * panic before its body ran (smarm(7), "Stacks"). */
static int root_without_stack(int r, const char *reason)
{
	return r == SMARM_EPANIC && reason != NULL &&
	       strcmp(reason, "no memory for the actor's stack") == 0;
}

/* A runtime made (with threads workers, 0: the default), run with fn and
 * freed; a documented failure of any of
 * that is tried again.  The run's answer. */
static int one_run(smarm_fn fn, void *arg, void **res, unsigned threads)
{
	smarm_runtime *rt;
	smarm_config cfg;
	void *got = NULL;
	int r, tries;

	smarm_config_init(&cfg);
	cfg.dead_letter = noop_dead_letter;
	if (threads)
		cfg.threads = threads;
	TRY(r, "smarm_runtime_new", smarm_runtime_new(&rt, &cfg), ENOMEM,
	    EMFILE);
	if (r != 0)
		return r;
	for (tries = 0;; tries++) {
		TRY(r, "smarm_runtime_run", smarm_runtime_run(rt, fn, arg, &got),
		    ENOMEM, EAGAIN, SMARM_EPANIC);
		if (!root_without_stack(r, got) || tries == 3)
			break;
		/* The root got no stack at its first run (smarm(7)). */
		printf("tolerated root-without-stack %s\n", (char *)got);
		free(got);
	}
	if (res != NULL)
		*res = got;
	else if (r == SMARM_EPANIC)
		free(got);
	smarm_runtime_free(rt);
	return r;
}

int main(void)
{
	sigset_t set;
	void *res = NULL;
	int r, tries;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);

	CHECK(one_run(root, NULL, &res, 0) == 0 && (uintptr_t)res == 7);
	for (tries = 0;; tries++) {
		TRY(r, "smarm_run", smarm_run(small_root, (void *)5, &res),
		    ENOMEM, EMFILE, SMARM_EPANIC);
		if (!root_without_stack(r, res) || tries == 3)
			break;
		printf("tolerated root-without-stack %s\n", (char *)res);
		free(res);
	}
	CHECK(r == 0 && (uintptr_t)res == 6);
	res = NULL;
	r = one_run(stopping_root, NULL, &res, 3);
	if (r == SMARM_EPANIC)
		fprintf(stderr, "fault_api: stopping root panicked: %s\n",
			(char *)res);
	CHECK(r == 0);
	if (bad)
		fprintf(stderr, "fault_api: %d failed\n", bad);
	return bad ? 1 : 0;
}
