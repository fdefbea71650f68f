/*
 * echo.c - round trips through a TCP echo server, both ends actors of one
 * runtime.
 *
 * The root listens on 127.0.0.1 (an ephemeral port, read back with
 * getsockname) with a backlog of 4,096 (the kernel takes at most
 * net.core.somaxconn).  A server actor accepts C connections with
 * smarm_accept and spawns one detached actor for each; a connection's
 * actor reads with smarm_read what there is (up to 1 KiB) and writes it
 * back with smarm_write until end of file, then smarm_closes its socket.
 *
 * The client side is C connections made by actors of the same runtime, in
 * waves of at most CONNECT_WAVE at a time: each actor of a wave makes a
 * socket, connects it (smarm_connect) and sends one message through the
 * echo before it ends, so that no more than CONNECT_WAVE connections
 * wait in the listening socket's queue at once (a full queue drops the
 * next SYN, and the kernel sends it again only a second later).  Every
 * socket has TCP_NODELAY set, as Go sets it by default.  Setting up the
 * connections is not timed.
 *
 * Then come the rounds: in each, the root spawns one actor per connection
 * and joins them all; each does M round trips of a MSG_SIZE-byte message:
 * smarm_write the whole message, smarm_read until all of it came back,
 * compare.  Every message has bytes of its own (from the connection's
 * number and its sequence number), so that an echo that crossed
 * connections or lost its place is seen.  The time from before the first
 * spawn of a round to after its last join, over the C * M round trips,
 * is the figure.  Every round is timed, the first included: it is what a
 * program meets the first time it does the work (the actors' first
 * stacks, the first waits of each socket).  At the end the root closes
 * the client sockets and the listening one; each server actor sees end of
 * file and ends, and must have echoed every byte its connection sent.
 *
 * Both ends of every connection are in this process: C connections take
 * 2 * C descriptors (plus FD_SLACK for the rest).  The soft limit on open
 * files (RLIMIT_NOFILE) is raised as far as the hard limit allows; when
 * the hard limit is too low, the program says so and how many it needs.
 *
 * Usage: echo [-t threads] [-c connections] [round-trips [rounds]]
 *   round-trips: per round, over all connections (default 20,000; each
 *   connection makes round-trips / connections of them, at least one);
 *   rounds: the first included (default 5, at most 64).
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 *   -c runs one number of connections (1 or more); without it the program
 *   runs 100 connections, then 10,000, each in a runtime of its own, and
 *   prints a line for each (skipping, with a message, a count the limit
 *   on open files is too low for; with -c that is an error).
 * Prints: bench=echo<C> threads=<n> value=<median ns per round trip>
 *   first=<ns per round trip in the first round> rate=<round trips per
 *   second in the median round> unit=ns/roundtrip
 *   (bench=echo100, bench=echo10000, ...)
 * Exits 1 when the run fails its own checks (every round trip must bring
 * back the bytes sent, every connection must be accepted and echo all it
 * got) or the limit on open files is too low for -c, 2 on bad arguments.
 */
#include <smarm.h>

#include "benchutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define DEFAULT_ROUNDTRIPS 20000ull /* per round, all connections */
#define DEFAULT_ROUNDS 5ul
#define MSG_SIZE 64u
#define SERVER_BUF 1024u
#define CONNECT_WAVE 256u   /* connections set up at once */
#define CONNECT_TIMEOUT (10ull * 1000000000ull)
#define FD_SLACK 64u        /* descriptors besides the connections' */
#define ERR_MAX 160

#define LISTEN_BACKLOG 4096 /* the kernel takes at most net.core.somaxconn */

struct bench;

/* The client end of one connection. */
struct conn {
	struct bench *b;
	uint64_t id;
	uint64_t seq;           /* messages sent on it so far */
	int fd;                 /* -1 until it is connected */
	char err[ERR_MAX];      /* why it failed */
};

/* The server end of one connection. */
struct sconn {
	struct bench *b;
	int fd;
};

struct bench {
	uint64_t conns;         /* C */
	uint64_t per;           /* round trips per connection and round (M) */
	unsigned long rounds;
	int lfd;
	struct sockaddr_in addr; /* where the server listens */
	struct conn *c;         /* C of them */
	struct sconn *s;        /* C of them, filled as they are accepted */
	smarm_pid *pids;        /* C of them */
	struct bench_rounds t;  /* ns of each round */
	unsigned long done_rounds;
	char err[ERR_MAX];      /* the root's reason to fail */
	/* The server side, counted by its actors. */
	atomic_ulong accepted;  /* connections */
	atomic_ulong served;    /* connection actors that saw end of file */
	atomic_ullong echoed;   /* bytes written back, all connections */
	atomic_int server_failed;
	char server_err[ERR_MAX]; /* the first failure of the server side */
};

/* Only the root writes the client side and the rounds, the server actors
 * the atomics (and server_err, once, behind server_failed); main() reads
 * them after smarm_runtime_run() has returned. */

static void server_fail(struct bench *b, const char *what, int err)
{
	if (atomic_exchange(&b->server_failed, 1) == 0)
		snprintf(b->server_err, sizeof(b->server_err), "%s: %s", what,
			 smarm_strerror(err));
}

/* One connection of the server: write back what comes until end of file,
 * then close the socket. */
static void *serve(void *arg)
{
	struct sconn *s = arg;
	struct bench *b = s->b;
	unsigned char buf[SERVER_BUF];
	uint64_t bytes = 0;
	size_t n, w;
	int err;

	for (;;) {
		err = smarm_read(s->fd, buf, sizeof(buf), &n, SMARM_FOREVER);
		if (err) {
			server_fail(b, "server: smarm_read", err);
			break;
		}
		if (n == 0) {
			atomic_fetch_add(&b->served, 1);
			break;
		}
		err = smarm_write(s->fd, buf, n, &w, SMARM_FOREVER);
		bytes += w;
		if (err) {
			server_fail(b, "server: smarm_write", err);
			break;
		}
	}
	atomic_fetch_add(&b->echoed, bytes);
	smarm_close(s->fd);
	return NULL;
}

static int set_nodelay(int fd)
{
	int one = 1;

	return setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) ?
		errno : 0;
}

/* Accepts the C connections, each with an actor of its own; ends early
 * when the root closes the listening socket (EBADF). */
static void *acceptor(void *arg)
{
	struct bench *b = arg;
	smarm_spawn_opts opts;
	uint64_t n;
	int fd, err;

	smarm_spawn_opts_init(&opts);
	opts.flags = SMARM_SPAWN_DETACHED;
	for (n = 0; n < b->conns; n++) {
		err = smarm_accept(b->lfd, &fd, NULL, NULL, SMARM_FOREVER);
		if (err) {
			if (err != EBADF)
				server_fail(b, "server: smarm_accept", err);
			break;
		}
		err = set_nodelay(fd);
		if (err) {
			smarm_close(fd);
			server_fail(b, "server: TCP_NODELAY", err);
			break;
		}
		b->s[n].b = b;
		b->s[n].fd = fd;
		err = smarm_spawn_opt(NULL, serve, &b->s[n], &opts);
		if (err) {
			smarm_close(fd);
			server_fail(b, "server: spawn", err);
			break;
		}
		atomic_fetch_add(&b->accepted, 1);
	}
	return NULL;
}

/* The bytes of message seq on connection id: its two numbers, then bytes
 * made from them. */
static void fill(unsigned char *m, uint64_t id, uint64_t seq)
{
	unsigned k;

	memcpy(m, &id, 8);
	memcpy(m + 8, &seq, 8);
	for (k = 16; k < MSG_SIZE; k++)
		m[k] = (unsigned char)(id * 7u + seq * 13u + k);
}

/* Records why connection c failed; returns c->err. */
static char *conn_fail(struct conn *c, const char *what, int err)
{
	snprintf(c->err, sizeof(c->err), "connection %" PRIu64
		 ", message %" PRIu64 ": %s: %s", c->id, c->seq, what,
		 smarm_strerror(err));
	return c->err;
}

/* n round trips on c's connection: NULL, or the reason it failed. */
static char *round_trips(struct conn *c, uint64_t n)
{
	unsigned char out[MSG_SIZE], in[MSG_SIZE];
	size_t got, done;
	uint64_t i;
	int err;

	for (i = 0; i < n; i++) {
		fill(out, c->id, c->seq);
		err = smarm_write(c->fd, out, MSG_SIZE, &done, SMARM_FOREVER);
		if (err)
			return conn_fail(c, "smarm_write", err);
		for (got = 0; got < MSG_SIZE; got += done) {
			err = smarm_read(c->fd, in + got, MSG_SIZE - got, &done,
					 SMARM_FOREVER);
			if (err)
				return conn_fail(c, "smarm_read", err);
			if (done == 0) {
				snprintf(c->err, sizeof(c->err),
					 "connection %" PRIu64 ", message %"
					 PRIu64 ": end of file after %zu of "
					 "%u bytes", c->id, c->seq, got,
					 MSG_SIZE);
				return c->err;
			}
		}
		if (memcmp(in, out, MSG_SIZE)) {
			snprintf(c->err, sizeof(c->err), "connection %" PRIu64
				 ", message %" PRIu64 ": the echo differs "
				 "from what was sent", c->id, c->seq);
			return c->err;
		}
		c->seq++;
	}
	return NULL;
}

/* Sets up one connection: a socket, connected, and one message through
 * the echo.  Its result is NULL, or the reason it failed. */
static void *connector(void *arg)
{
	struct conn *c = arg;
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return conn_fail(c, "socket", errno);
	err = set_nodelay(fd);
	if (err) {
		close(fd);
		return conn_fail(c, "TCP_NODELAY", err);
	}
	err = smarm_connect(fd, (const struct sockaddr *)&c->b->addr,
			    sizeof(c->b->addr), CONNECT_TIMEOUT);
	if (err) {
		smarm_close(fd);
		return conn_fail(c, "smarm_connect", err);
	}
	c->fd = fd;
	return round_trips(c, 1);
}

/* One round's client: M round trips. */
static void *client(void *arg)
{
	struct conn *c = arg;

	return round_trips(c, c->b->per);
}

/* Spawns fn on connections [from, to) and joins them: 0, or -1 with
 * b->err set (every actor spawned is joined all the same). */
static int spawn_join(struct bench *b, smarm_fn fn, uint64_t from,
		      uint64_t to)
{
	uint64_t k, spawned;
	void *res;
	int err, failed = 0;

	for (k = from; k < to; k++) {
		err = smarm_spawn(&b->pids[k], fn, &b->c[k]);
		if (err) {
			snprintf(b->err, sizeof(b->err), "spawn for "
				 "connection %" PRIu64 ": %s", k,
				 smarm_strerror(err));
			failed = 1;
			break;
		}
	}
	spawned = k;
	for (k = from; k < spawned; k++) {
		res = NULL;
		err = smarm_join(b->pids[k], &res, SMARM_FOREVER);
		if (failed)
			continue;
		if (err) {
			snprintf(b->err, sizeof(b->err), "join for "
				 "connection %" PRIu64 ": %s%s%s", k,
				 smarm_strerror(err), res ? ": " : "",
				 res && err == SMARM_EPANIC ? (char *)res : "");
			failed = 1;
		} else if (res) {
			snprintf(b->err, sizeof(b->err), "%s", (char *)res);
			failed = 1;
		}
	}
	return failed ? -1 : 0;
}

static int listen_here(struct bench *b)
{
	socklen_t len = sizeof(b->addr);
	int fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(b->err, sizeof(b->err), "socket: %s", strerror(errno));
		return -1;
	}
	memset(&b->addr, 0, sizeof(b->addr));
	b->addr.sin_family = AF_INET;
	b->addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	b->addr.sin_port = 0;
	if (bind(fd, (struct sockaddr *)&b->addr, sizeof(b->addr)) ||
	    listen(fd, LISTEN_BACKLOG) ||
	    getsockname(fd, (struct sockaddr *)&b->addr, &len)) {
		snprintf(b->err, sizeof(b->err), "listen on 127.0.0.1: %s",
			 strerror(errno));
		close(fd);
		return -1;
	}
	b->lfd = fd;
	return 0;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_pid acc;
	uint64_t k, t0;
	unsigned long r;
	int err, failed = 0;

	if (listen_here(b))
		smarm_panic("%s", b->err);
	err = smarm_spawn(&acc, acceptor, b);
	if (err) {
		close(b->lfd);
		smarm_panic("spawn the server: %s", smarm_strerror(err));
	}
	for (k = 0; k < b->conns && !failed; k += CONNECT_WAVE)
		failed = spawn_join(b, connector, k,
				    b->conns - k < CONNECT_WAVE ? b->conns :
				    k + CONNECT_WAVE);
	for (r = 0; r < b->rounds && !failed; r++) {
		t0 = smarm_now();
		failed = spawn_join(b, client, 0, b->conns);
		if (!failed) {
			bench_round(&b->t, smarm_now() - t0);
			b->done_rounds++;
		}
	}
	/* The end: every server actor sees end of file, the acceptor (when
	 * it still waits) EBADF. */
	for (k = 0; k < b->conns; k++)
		if (b->c[k].fd >= 0) {
			smarm_close(b->c[k].fd);
			b->c[k].fd = -1;
		}
	smarm_close(b->lfd);
	bench_join(acc, "the server");
	if (failed)
		smarm_panic("%s", b->err);
	return NULL;
}

/* Raises the soft limit on open files to the hard one when it is below
 * need: 0, or -1 after saying on stderr why it cannot be done (and, when
 * then, that the run is skipped). */
static int raise_nofile(const char *name, uint64_t conns, uint64_t need,
			const char *then)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl)) {
		fprintf(stderr, "%s: getrlimit(RLIMIT_NOFILE): %s\n", name,
			strerror(errno));
		return -1;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "%s: the limit on open files is too low: %"
			PRIu64 " connections with both ends in this process "
			"need %" PRIu64 " descriptors, the hard limit "
			"(RLIMIT_NOFILE) is %llu; raise it (as root: ulimit "
			"-Hn %" PRIu64 ", prlimit --nofile, LimitNOFILE= of a "
			"systemd unit)%s\n", name, conns, need,
			(unsigned long long)rl.rlim_max, need, then);
		return -1;
	}
	rl.rlim_cur = rl.rlim_max == RLIM_INFINITY ? need : rl.rlim_max;
	if (setrlimit(RLIMIT_NOFILE, &rl)) {
		fprintf(stderr, "%s: setrlimit(RLIMIT_NOFILE, %llu): %s\n",
			name, (unsigned long long)rl.rlim_cur,
			strerror(errno));
		return -1;
	}
	return 0;
}

/* One run with conns connections: 0, or 1 after a message on stderr.
 * A limit on open files too low for them is an error when strict, and
 * otherwise skips the run (after the message). */
static int run_one(const smarm_config *cfg, uint64_t conns, uint64_t total,
		   unsigned long rounds, int strict)
{
	struct bench *b;
	uint64_t k, expected;
	double med, first;
	char name[32];
	int rc = 1;

	snprintf(name, sizeof(name), "echo%" PRIu64, conns);
	if (raise_nofile(name, conns, 2 * conns + FD_SLACK,
			 strict ? "" : "; skipped"))
		return strict ? 1 : 0;
	b = calloc(1, sizeof(*b));
	if (!b || !(b->c = calloc(conns, sizeof(*b->c))) ||
	    !(b->s = calloc(conns, sizeof(*b->s))) ||
	    !(b->pids = calloc(conns, sizeof(*b->pids)))) {
		fprintf(stderr, "%s: out of memory\n", name);
		goto out;
	}
	b->conns = conns;
	b->per = total / conns ? total / conns : 1;
	b->rounds = rounds;
	b->lfd = -1;
	for (k = 0; k < conns; k++) {
		b->c[k].b = b;
		b->c[k].id = k;
		b->c[k].fd = -1;
	}
	if (bench_run(name, cfg, root, b)) {
		if (atomic_load(&b->server_failed))
			fprintf(stderr, "%s: %s\n", name, b->server_err);
		goto out;
	}
	expected = conns * MSG_SIZE * (1 + rounds * b->per);
	if (atomic_load(&b->server_failed)) {
		fprintf(stderr, "%s: %s\n", name, b->server_err);
		goto out;
	}
	if (b->done_rounds != rounds || atomic_load(&b->accepted) != conns ||
	    atomic_load(&b->served) != conns ||
	    atomic_load(&b->echoed) != expected) {
		fprintf(stderr, "%s: %lu of %lu rounds, %lu connections "
			"accepted, %lu saw their end, %llu bytes echoed; "
			"expected %" PRIu64 " connections and %" PRIu64
			" bytes\n", name, b->done_rounds, rounds,
			atomic_load(&b->accepted), atomic_load(&b->served),
			atomic_load(&b->echoed), conns, expected);
		goto out;
	}
	med = bench_median(&b->t) / (double)(conns * b->per);
	first = (double)b->t.t[0] / (double)(conns * b->per);
	printf("bench=%s threads=%u value=%.2f first=%.2f rate=%.0f "
	       "unit=ns/roundtrip\n", name, cfg->threads, med, first,
	       1e9 / med);
	fflush(stdout);
	rc = 0;
out:
	if (b) {
		free(b->c);
		free(b->s);
		free(b->pids);
	}
	free(b);
	return rc;
}

static int usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [-c connections >= 1] "
		"[round-trips >= 1 [rounds 1-%u]]\n", prog, BENCH_MAX_ROUNDS);
	return 2;
}

int main(int argc, char **argv)
{
	uint64_t total = DEFAULT_ROUNDTRIPS, rounds = DEFAULT_ROUNDS;
	uint64_t conns = 0, v;
	smarm_config cfg;
	unsigned threads = 0;
	int c;

	while ((c = getopt(argc, argv, "t:c:")) != -1) {
		if (c == 't' && bench_num(optarg, 1, SMARM_THREADS_MAX, &v) == 0)
			threads = (unsigned)v;
		else if (c == 'c' &&
			 bench_num(optarg, 1, 1000000, &conns) == 0)
			;
		else
			return usage(argv[0]);
	}
	if (argc - optind > 2 ||
	    (argc - optind >= 1 &&
	     bench_num(argv[optind], 1, UINT32_MAX, &total)) ||
	    (argc - optind == 2 &&
	     bench_num(argv[optind + 1], 1, BENCH_MAX_ROUNDS, &rounds)))
		return usage(argv[0]);
	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	if (conns)
		return run_one(&cfg, conns, total, (unsigned long)rounds, 1);
	if (run_one(&cfg, 100, total, (unsigned long)rounds, 0) ||
	    run_one(&cfg, 10000, total, (unsigned long)rounds, 0))
		return 1;
	return 0;
}
