/*
 * ring.c - cost of one hop of a token around a ring of actors.
 *
 * ACTORS actors stand in a ring, each with a channel of its own and the
 * sending handle of the next one's.  The root puts a token, the integer 0,
 * into the first actor's channel; each hop an actor receives the token
 * from its own channel, adds 1 and sends it on to the next actor.  The
 * actor that makes the token equal to HOPS has done the last hop: it sends
 * the token to the root instead, and closes its handle on the next actor's
 * channel.  That actor's receive then fails with EPIPE, so it closes its
 * own handle in turn, and so on around the ring until every actor has
 * ended.  Each actor returns the number of hops it made.
 *
 * Only one actor holds the token at a time, so more worker threads add
 * no parallelism here, only hand-offs between threads.
 *
 * Usage: ring [-t threads] [actors [hops]]   (default 1,000 actors,
 *                                             1,000,000 hops)
 *   -t sets the number of worker threads; by default smarm_config_init()
 *   picks it (SMARM_THREADS from the environment, see smarm_config_init(3)).
 * Prints: bench=ring threads=<n> value=<ns per hop> unit=ns/hop
 * Exits 1 when the run fails its own checks: the hops made must add up to
 * HOPS, and the token must come back to the root as HOPS.
 */
#include <smarm.h>

#include "benchutil.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ACTORS 1000ul
#define DEFAULT_HOPS 1000000ul

struct bench;

/* One actor of the ring: the handles it owns, each closed by it once. */
struct member {
	struct bench *b;
	unsigned long index;
	smarm_rx *rx;		/* its own channel */
	smarm_tx *next;		/* the next actor's channel */
	smarm_tx *ready;	/* "started", to the root */
	smarm_tx *end;		/* the token after the last hop, to the root */
};

struct bench {
	unsigned long n;	/* actors */
	uint64_t hops;		/* hops in all */
	struct member *m;	/* n of them */
	smarm_pid *pid;		/* n of them */
	int failed;		/* an actor panicked */
	uint64_t t0, t1;
	uint64_t token;		/* as it came back to the root */
	uint64_t done;		/* hops the actors report */
};

/*
 * Only the root writes the fields of struct bench after the start, and
 * main() reads them after smarm_runtime_run() has returned; the root
 * fills in each struct member before the actor that owns it is spawned.
 * Everything else travels over channels.
 */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* An actor closes every handle it still holds, so that the others see
 * EPIPE instead of waiting for ever, whether it ends or fails. */
static void close_all(struct member *m)
{
	if (m->next)
		smarm_tx_close(m->next);
	smarm_tx_close(m->end);
	smarm_rx_close(m->rx);
}

static void *member(void *arg)
{
	struct member *m = arg;
	uint64_t hops = m->b->hops, done = 0, v;
	unsigned char one = 1;
	int err;

	/* Start barrier: the root starts the clock once every actor has
	 * said it runs, so no spawn and no first switch into a fresh stack
	 * is timed. */
	err = smarm_send(m->ready, &one);
	smarm_tx_close(m->ready);
	if (err) {
		close_all(m);
		smarm_panic("actor %lu: ready: %s", m->index,
			    smarm_strerror(err));
	}

	while ((err = smarm_recv(m->rx, &v, SMARM_FOREVER)) == 0) {
		done++;
		if (m->next == NULL || v >= hops) {
			close_all(m);
			smarm_panic("actor %lu: got the token as %" PRIu64
				    " after the last hop (%" PRIu64 ")",
				    m->index, v, hops);
		}
		if (++v == hops) {
			/* The last hop: the token leaves the ring, which
			 * then closes behind it. */
			err = smarm_send(m->end, &v);
			smarm_tx_close(m->next);
			m->next = NULL;
		} else {
			err = smarm_send(m->next, &v);
		}
		if (err) {
			close_all(m);
			smarm_panic("actor %lu: hop %" PRIu64 ": send: %s",
				    m->index, v, smarm_strerror(err));
		}
	}
	close_all(m);
	if (err != EPIPE)
		smarm_panic("actor %lu: recv: %s", m->index,
			    smarm_strerror(err));
	return (void *)(uintptr_t)done;
}

static void *root(void *arg)
{
	struct bench *b = arg;
	smarm_tx **tx, *ready_tx, *end_tx, *first;
	smarm_rx **rx, *ready_rx, *end_rx;
	unsigned long i, spawned, readies = 0;
	uint64_t v = 0;
	unsigned char one;
	void *res;
	int err, serr = 0, rerr;

	tx = malloc(b->n * sizeof(*tx));
	rx = malloc(b->n * sizeof(*rx));
	if (!tx || !rx) {
		free(tx);
		free(rx);
		smarm_panic("out of memory");
	}
	err = smarm_channel(&ready_tx, &ready_rx, sizeof(one));
	if (!err) {
		err = smarm_channel(&end_tx, &end_rx, sizeof(v));
		if (err) {
			smarm_tx_close(ready_tx);
			smarm_rx_close(ready_rx);
		}
	}
	for (i = 0; !err && i < b->n; i++) {
		err = smarm_channel(&tx[i], &rx[i], sizeof(v));
		if (err) {
			while (i--) {
				smarm_tx_close(tx[i]);
				smarm_rx_close(rx[i]);
			}
			smarm_tx_close(ready_tx);
			smarm_rx_close(ready_rx);
			smarm_tx_close(end_tx);
			smarm_rx_close(end_rx);
		}
	}
	if (err) {
		free(tx);
		free(rx);
		smarm_panic("smarm_channel: %s", smarm_strerror(err));
	}
	/* The root's own handle on the first channel, to put the token in. */
	first = smarm_tx_clone(tx[0]);

	for (i = 0; i < b->n; i++) {
		struct member *m = &b->m[i];

		m->b = b;
		m->index = i;
		m->rx = rx[i];
		m->next = tx[(i + 1) % b->n];
	}
	free(tx);
	free(rx);

	/* Each handle of b->m[i] belongs to actor i once it is spawned;
	 * until then, to the root. */
	for (i = 0; i < b->n; i++) {
		b->m[i].ready = smarm_tx_clone(ready_tx);
		b->m[i].end = smarm_tx_clone(end_tx);
		serr = smarm_spawn(&b->pid[i], member, &b->m[i]);
		if (serr) {
			smarm_tx_close(b->m[i].ready);
			smarm_tx_close(b->m[i].end);
			break;
		}
	}
	spawned = i;
	smarm_tx_close(ready_tx);
	smarm_tx_close(end_tx);
	/*
	 * After a failed spawn, close the handles of the actors that never
	 * ran: the first actor's channel (whose sender, the last actor, is
	 * one of them) then reports EPIPE, and the ring that does exist
	 * closes down from there.
	 */
	for (i = spawned; i < b->n; i++) {
		smarm_tx_close(b->m[i].next);
		smarm_rx_close(b->m[i].rx);
	}

	while ((rerr = smarm_recv(ready_rx, &one, SMARM_FOREVER)) == 0)
		readies++;
	smarm_rx_close(ready_rx);

	if (spawned == b->n && readies == b->n) {
		b->t0 = now_ns();
		v = 0;
		rerr = smarm_send(first, &v);
		if (rerr == 0)
			rerr = smarm_recv(end_rx, &b->token, SMARM_FOREVER);
		b->t1 = now_ns();
	}
	smarm_tx_close(first);

	for (i = 0; i < spawned; i++) {
		err = smarm_join(b->pid[i], &res, SMARM_FOREVER);
		if (err == SMARM_EPANIC) {
			fprintf(stderr, "ring: %s\n",
				res ? (char *)res : "(no reason)");
			free(res);
			b->failed = 1;
		} else if (err) {
			smarm_panic("join: %s", smarm_strerror(err));
		} else {
			b->done += (uintptr_t)res;
		}
	}
	smarm_rx_close(end_rx);

	if (spawned < b->n)
		smarm_panic("spawn actor %lu: %s", spawned,
			    smarm_strerror(serr));
	if (readies != b->n)
		smarm_panic("%lu of %lu actors started", readies, b->n);
	if (rerr && !b->failed)
		smarm_panic("token: %s", smarm_strerror(rerr));
	return NULL;
}

static void usage(const char *prog)
{
	fprintf(stderr, "usage: %s [-t threads >= 1] [actors >= 1 "
		"[hops >= 1]]\n", prog);
}

int main(int argc, char **argv)
{
	static struct bench b;
	uint64_t n = DEFAULT_ACTORS;
	smarm_config cfg;
	unsigned threads;
	int err;

	b.hops = DEFAULT_HOPS;
	if (bench_opts(argc, argv, &threads) || argc - optind > 2 ||
	    (argc - optind >= 1 &&
	     bench_num(argv[optind], 1, UINT32_MAX, &n)) ||
	    (argc - optind == 2 &&
	     bench_num(argv[optind + 1], 1, UINT64_MAX, &b.hops))) {
		usage(argv[0]);
		return 2;
	}
	b.n = (unsigned long)n;

	b.m = calloc(b.n, sizeof(*b.m));
	b.pid = calloc(b.n, sizeof(*b.pid));
	if (!b.m || !b.pid) {
		fprintf(stderr, "ring: out of memory\n");
		free(b.m);
		free(b.pid);
		return 1;
	}

	smarm_config_init(&cfg);
	if (threads)
		cfg.threads = threads;
	err = bench_run("ring", &cfg, root, &b);
	free(b.m);
	free(b.pid);
	if (err || b.failed)
		return 1;
	if (b.done != b.hops || b.token != b.hops || b.t1 < b.t0) {
		fprintf(stderr, "ring: %" PRIu64 " hops made, token came back "
			"as %" PRIu64 "; expected %" PRIu64 " and %" PRIu64
			"\n", b.done, b.token, b.hops, b.hops);
		return 1;
	}

	printf("bench=ring threads=%u value=%.2f unit=ns/hop\n", cfg.threads,
	       (double)(b.t1 - b.t0) / (double)b.hops);
	return 0;
}
