/*
 * fuzz_api.c - smarm's public API driven by a byte string (libFuzzer).
 *
 * Each input is a small program run in a fresh runtime.  Its layout:
 *
 *   byte 0   bit 0: 1 or 2 workers; bits 1-3: 1 to 8 main actors;
 *            bit 4: main actors empty their mailboxes before they end
 *            (otherwise what is left goes to the dead-letter function);
 *            bits 5-7: k, when not 0, starts a plain OS thread that sends
 *            k elements and k mailbox messages (the "outsider")
 *   byte 1   the four channels, 2 bits each: 0 unbounded, k bounded with
 *            capacity k
 *   then     pairs (a, b), at most MAXOPS: main actor (a & 7) mod n runs
 *            op (a >> 3) mod NOPS with argument b
 *
 * The root actor makes the channels, gives every main actor a sending
 * handle of each, spawns them and joins them.  Channel c is received on by
 * main actor c mod n only, so every use is valid (misuse is tested
 * elsewhere).  Children ("kids") run a fixed behaviour chosen by the op.
 *
 * No wait can last for ever: every wait in the ops has a timeout of 0 or
 * a few hundred microseconds, except those that are sure to end: a kid's
 * send on a bounded channel (its receiver drains every channel before it
 * ends, and the kid's parent cancels it), a receive for which a kid was
 * spawned to send, the sleep of a kid that its parent or group cancels,
 * and the joins and drains of a main actor's end (every sending handle is
 * closed by then, every kid cancelled).
 *
 * Invariants, abort() on violation:
 *  - every call returns 0 or an error its man page documents for the
 *    situation (ECANCELED only after a cancel, EPIPE only once the other
 *    end is closed, ...);
 *  - every element and message carries a unique id, and the ledger moves
 *    each id once: sent, then received or handed to the dead-letter
 *    function, or given back to the sender on an error; at the end
 *    nothing is left in flight (but what a channel closed early may have
 *    discarded);
 *  - a mutex is held by one actor at a time, and EOWNERDEAD comes only
 *    after an owner ended holding it;
 *  - every actor spawned has ended and was joined, detached or collected
 *    by its group; joins return the actor's own result;
 *  - the run returns 0 and the root's result; leaks are LeakSanitizer's
 *    (or valgrind's, for the replay in make check).
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <smarm.h>

#include "fuzz_api.h"

#define NMAIN 8
#define NCHAN 4
#define NHANDLE 3    /* sending handles a main actor holds per channel */
#define NKID 4       /* kids a main actor keeps unjoined at once */
#define NGKID 8      /* members of a main actor's group at once */
#define NKIDREC 64   /* kids per input */
#define NMUTEX 2
#define NIDS 1024
#define MAXOPS 96
#define NOPS 24
#define MAILBOX NCHAN /* where an id travels: a channel, or a mailbox */
#define US 1000ULL
#define ELEM_MAGIC 0x5eed000000000000ULL
#define MSG_MAGIC 0x6d736721u
#define ROOT_TAG ((void *)&F)

#define LOAD(p) __atomic_load_n((p), __ATOMIC_SEQ_CST)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_SEQ_CST)
#define ADD(p, v) __atomic_add_fetch((p), (v), __ATOMIC_SEQ_CST)

enum { ID_FREE, ID_SENT, ID_UNSENT, ID_GOT, ID_DEAD };
enum { FATE_NONE, FATE_JOINED, FATE_DETACHED, FATE_GROUP };
enum { K_RETURN, K_SLEEP, K_PANIC, K_SEND, K_RECEIVE, K_LOCK, K_WAIT,
       K_YIELD, K_NBEHAVIOUR };

struct chan {
	smarm_tx *tx0;  /* the root's handle */
	smarm_rx *rx;
	size_t cap;     /* 0: unbounded */
	int open;       /* handles not closed yet; counted down before the
			   close, so EPIPE implies 0 */
	int rx_closed;  /* set before the owner's early smarm_rx_close */
	int eof;        /* the owner saw EPIPE */
	int owner;      /* the main actor that receives */
};

struct kid {
	int idx, behaviour, param, parent;
	smarm_pid pid;
	smarm_tx *tx;   /* K_SEND: its own handle */
	int ch;
	int ended;      /* set by the kid right before it ends */
	int fate;
	int deadline;   /* spawned with a deadline */
	int cancelled;  /* a cancel was asked for it */
	int grouped;
};

struct actor {
	int idx;
	uint64_t pidw;  /* its smarm_pid's id, once spawned */
	int done;       /* set right before it returns */
	int cancelled;  /* someone asked to cancel it */
	smarm_tx *tx[NCHAN][NHANDLE];
	int ntx[NCHAN];
	struct kid *kids[NKID];
	int nkids;
	smarm_group *group;
	struct kid *gkids[NGKID];
	int ngkids;
	int held[NMUTEX];
};

struct msg {
	uint32_t magic, id;
	int outsider;   /* sent by the plain thread */
};

static struct fz {
	const uint8_t *ops;
	size_t nops;
	int nmain, threads, empty_mailbox, nout;
	smarm_tx *out_tx[NCHAN]; /* the outsider's handles */
	pthread_t out_thr;
	int out_started;
	struct chan ch[NCHAN];
	struct actor act[NMAIN];
	struct kid kid[NKIDREC];
	int nkid;
	smarm_mutex mu[NMUTEX];
	int mowner[NMUTEX]; /* 0, a main actor's idx + 1, or 100 + kid idx */
	uint8_t id_state[NIDS];
	uint8_t id_where[NIDS];
	unsigned next_id;
} F;

static void fail(const char *what, int err)
{
	fprintf(stderr, "fuzz_api: %s (%d: %s)\n", what, err,
		smarm_strerror(err));
	abort();
}

#define EXPECT(cond, what, err)                 \
	do {                                    \
		if (!(cond))                    \
			fail(what, err);        \
	} while (0)

static uint64_t small(unsigned b)
{
	return (uint64_t)(1 + (b & 7)) * 50 * US;
}

/* ---- The ledger ------------------------------------------------------- */

static int id_new(int where)
{
	unsigned id = ADD(&F.next_id, 1);

	if (id >= NIDS)
		return -1;
	F.id_where[id] = (uint8_t)where;
	STORE(&F.id_state[id], ID_SENT);
	return (int)id;
}

static void id_move(unsigned id, int where, uint8_t to, const char *what)
{
	uint8_t exp = ID_SENT;

	EXPECT(id > 0 && id < NIDS, what, (int)id);
	EXPECT(F.id_where[id] == where, what, (int)id);
	if (!__atomic_compare_exchange_n(&F.id_state[id], &exp, to, 0,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		fail(what, exp);
}

static void got_elem(uint64_t e, int c)
{
	EXPECT((e & ~0xffffULL) == ELEM_MAGIC, "element corrupted", (int)(e >> 32));
	id_move((unsigned)(e & 0xffff), c, ID_GOT, "element duplicated");
}

/* A message taken from a mailbox (from: who smarm_receive said sent it),
 * or handed to the dead-letter function (from: NULL). */
static void got_msg(void *data, uint8_t to, const char *what,
		    const smarm_pid *from)
{
	struct msg *m = data;

	EXPECT(m != NULL && m->magic == MSG_MAGIC, "message corrupted", 0);
	EXPECT(from == NULL || smarm_pid_eq(*from, SMARM_PID_NONE) ==
	       m->outsider, "message: from", m->outsider);
	id_move(m->id, MAILBOX, to, what);
	free(m);
}

static void dead_letter(void *msg, smarm_pid to)
{
	(void)to;
	got_msg(msg, ID_DEAD, "dead letter duplicated", NULL);
}

/* ---- Kids --------------------------------------------------------------- */

static void *kid_result(const struct kid *k)
{
	return (void *)&F.kid[k->idx].fate;
}

static struct kid *kid_of(struct actor *a, smarm_pid pid)
{
	for (int i = 0; i < LOAD(&F.nkid) && i < NKIDREC; i++)
		if (F.kid[i].parent == a->idx && smarm_pid_eq(F.kid[i].pid, pid))
			return &F.kid[i];
	return NULL;
}

static void kid_send(struct kid *k)
{
	struct chan *ch = &F.ch[k->ch];
	int n = (k->param >> 2) % 3 + 1, err;

	for (int i = 0; i < n; i++) {
		int id = id_new(k->ch);
		uint64_t e = ELEM_MAGIC | (uint64_t)(id < 0 ? 0 : id);

		if (id < 0)
			break;
		err = smarm_send(k->tx, &e);
		if (err == 0)
			continue;
		id_move((unsigned)id, k->ch, ID_UNSENT, "failed send received");
		EXPECT(err == EPIPE || err == ECANCELED, "kid send", err);
		EXPECT(err != EPIPE || LOAD(&ch->rx_closed), "EPIPE", err);
		EXPECT(err != ECANCELED || (ch->cap && LOAD(&k->cancelled)),
		       "kid send ECANCELED", err);
		break;
	}
	ADD(&ch->open, -1);
	EXPECT(smarm_tx_close(k->tx) == 0, "kid tx_close", 0);
}

static void kid_receive(struct kid *k, uint64_t timeout)
{
	smarm_msg m;
	int err;

	while ((err = smarm_receive(&m, timeout)) == 0) {
		EXPECT(m.kind == SMARM_MSG, "kid got a signal", m.kind);
		got_msg(m.data, ID_GOT, "message duplicated", &m.from);
	}
	EXPECT(err == ETIMEDOUT || err == ECANCELED, "kid receive", err);
	EXPECT(err != ETIMEDOUT || timeout != SMARM_FOREVER, "kid receive", err);
	EXPECT(err != ECANCELED || LOAD(&k->cancelled) || k->deadline,
	       "kid receive ECANCELED", err);
}

static void kid_lock(struct kid *k)
{
	int m = k->param & 1, err = smarm_mutex_lock(&F.mu[m], small(k->param));

	if (err == ETIMEDOUT || err == ECANCELED) {
		EXPECT(err != ECANCELED || LOAD(&k->cancelled), "kid lock", err);
		return;
	}
	EXPECT(err == 0 || err == EOWNERDEAD, "kid lock", err);
	EXPECT((err == 0) == (LOAD(&F.mowner[m]) == 0), "mutex owner", err);
	STORE(&F.mowner[m], 100 + k->idx);
	smarm_yield();
	EXPECT(LOAD(&F.mowner[m]) == 100 + k->idx, "mutex shared", 0);
	if (k->param & 2) {     /* ends holding it */
		STORE(&k->ended, 1);
		smarm_exit(kid_result(k));
	}
	STORE(&F.mowner[m], 0);
	EXPECT(smarm_mutex_unlock(&F.mu[m]) == 0, "kid unlock", 0);
}

static void *kid_main(void *arg)
{
	struct kid *k = arg;
	int err;

	switch (k->behaviour) {
	case K_SLEEP:
		err = smarm_sleep(small(k->param) / 4);
		EXPECT(err == 0 || (err == ECANCELED && LOAD(&k->cancelled)),
		       "kid sleep", err);
		break;
	case K_PANIC:
		STORE(&k->ended, 1);
		smarm_panic("kid %d", k->idx);
	case K_SEND:
		kid_send(k);
		break;
	case K_RECEIVE:
		kid_receive(k, small(k->param));
		break;
	case K_LOCK:
		kid_lock(k);
		break;
	case K_WAIT:    /* until cancelled, or its deadline */
		err = smarm_sleep(SMARM_FOREVER);
		EXPECT(err == ECANCELED, "kid sleep", err);
		EXPECT(LOAD(&k->cancelled) || k->deadline, "kid woke", err);
		break;
	case K_YIELD:
		for (int i = 0; i < k->param && !smarm_cancelled(); i++)
			EXPECT(smarm_yield() == 0, "kid yield", 0);
		break;
	default:
		break;
	}
	STORE(&k->ended, 1);
	return kid_result(k);
}

static smarm_tx *first_tx(struct actor *a, int c)
{
	return a->ntx[c] ? a->tx[c][0] : NULL;
}

/* A kid record for a, or NULL when the input has used them all. */
static struct kid *kid_new(struct actor *a, int behaviour, int param)
{
	int i = ADD(&F.nkid, 1) - 1;
	struct kid *k;

	if (i >= NKIDREC)
		return NULL;
	k = &F.kid[i];
	memset(k, 0, sizeof(*k));
	k->idx = i;
	k->parent = a->idx;
	k->behaviour = behaviour % K_NBEHAVIOUR;
	k->param = param;
	if (k->behaviour == K_SEND) {
		k->ch = param & 3;
		if (first_tx(a, k->ch) == NULL) {
			k->behaviour = K_RETURN;
			return k;
		}
		ADD(&F.ch[k->ch].open, 1);
		k->tx = smarm_tx_clone(first_tx(a, k->ch));
		EXPECT(k->tx != NULL, "tx_clone", 0);
	}
	return k;
}

/* A spawn may fail only for lack of memory or of pids (smarm_spawn(3)),
 * which a run this small never meets. */
static void kid_unspawned(struct kid *k, int err)
{
	fprintf(stderr, "fuzz_api: kid %d: ", k->idx);
	fail(err == ENOMEM || err == EAGAIN ? "spawn failed in a small run"
					    : "spawn", err);
}

static struct kid *spawn_kid(struct actor *a, int behaviour, int param)
{
	smarm_spawn_opts o;
	struct kid *k;
	smarm_pid pid;
	int err;

	if (a->nkids == NKID || (k = kid_new(a, behaviour, param)) == NULL)
		return NULL;
	smarm_spawn_opts_init(&o);
	o.name = "kid";
	if (k->behaviour == K_WAIT && (param & 1)) {
		k->deadline = 1;
		o.deadline = small((unsigned)param >> 1);
	}
	if (param & 0x80)
		o.flags |= SMARM_SPAWN_PINNED;
	err = smarm_spawn_opt(&pid, kid_main, k, &o);
	if (err)
		kid_unspawned(k, err);
	k->pid = pid;
	a->kids[a->nkids++] = k;
	return k;
}

static void kid_drop(struct actor *a, int i, int fate)
{
	a->kids[i]->fate = fate;
	a->kids[i] = a->kids[--a->nkids];
}

/* Checks a join's answer; 1 when the kid was joined. */
static int joined(struct actor *a, int i, int err, void *res, uint64_t to)
{
	struct kid *k = a->kids[i];

	if (err == 0 || err == SMARM_EPANIC) {
		EXPECT(LOAD(&k->ended), "joined before its end", err);
		EXPECT((err == SMARM_EPANIC) == (k->behaviour == K_PANIC),
		       "join: panic or not", err);
		if (err == SMARM_EPANIC)
			free(res);
		else
			EXPECT(res == kid_result(k), "join: result", 0);
		kid_drop(a, i, FATE_JOINED);
		return 1;
	}
	EXPECT(err == ETIMEDOUT || err == ECANCELED, "join", err);
	EXPECT(err != ETIMEDOUT || to != SMARM_FOREVER, "join", err);
	EXPECT(err != ECANCELED || (to != 0 && LOAD(&a->cancelled)),
	       "join ECANCELED", err);
	return 0;
}

/* ---- The ops of a main actor -------------------------------------------- */

static struct chan *owned(struct actor *a, unsigned b)
{
	for (int i = 0; i < NCHAN; i++) {
		struct chan *ch = &F.ch[(b + i) % NCHAN];

		if (ch->owner == a->idx && !ch->rx_closed && !ch->eof)
			return ch;
	}
	return NULL;
}

static void op_send(struct actor *a, unsigned b)
{
	int c = b & 3, v = (b >> 2) & 3, id, err;
	struct chan *ch = &F.ch[c];
	smarm_tx *tx = first_tx(a, c);
	uint64_t to = v == 1 ? 0 : v == 2 ? small(b >> 4) : SMARM_FOREVER;
	uint64_t e;

	if (tx == NULL || (id = id_new(c)) < 0)
		return;
	if (ch->cap && to == SMARM_FOREVER)
		to = small(b >> 4);     /* a main actor never waits for ever */
	e = ELEM_MAGIC | (uint64_t)id;
	err = v == 0 && !ch->cap ? smarm_send(tx, &e)
				 : smarm_send_timed(tx, &e, to);
	if (err == 0)
		return;
	id_move((unsigned)id, c, ID_UNSENT, "failed send received");
	if (err == EPIPE)
		EXPECT(LOAD(&ch->rx_closed), "send EPIPE", err);
	else if (err == ETIMEDOUT)
		EXPECT(ch->cap && to != SMARM_FOREVER, "send ETIMEDOUT", err);
	else if (err == ECANCELED)
		EXPECT(ch->cap && to && LOAD(&a->cancelled), "send", err);
	else
		fail("send", err);
}

/* After a receive on a channel: 1 when it has ended. */
static int recv_result(struct actor *a, struct chan *ch, int err, uint64_t e,
		       uint64_t to)
{
	if (err == 0) {
		got_elem(e, (int)(ch - F.ch));
		return 0;
	}
	if (err == EPIPE) {
		EXPECT(LOAD(&ch->open) == 0, "EPIPE with a handle open", err);
		ch->eof = 1;
		return 1;
	}
	EXPECT(err == ETIMEDOUT || err == ECANCELED, "recv", err);
	EXPECT(err != ETIMEDOUT || to != SMARM_FOREVER, "recv", err);
	EXPECT(err != ECANCELED || (to && LOAD(&a->cancelled)), "recv", err);
	return 0;
}

static void op_recv(struct actor *a, unsigned b)
{
	struct chan *ch = owned(a, b);
	unsigned v = (b >> 2) & 3;
	uint64_t to = v == 0 ? 0 : small(b >> 4), e = 0;
	struct kid *k;
	int err;

	if (ch == NULL)
		return;
	/* Without a limit only when a kid is there to send. */
	if (v == 3 && (k = spawn_kid(a, K_SEND, (int)(ch - F.ch))) != NULL &&
	    k->behaviour == K_SEND)
		to = SMARM_FOREVER;
	err = smarm_recv(ch->rx, &e, to);
	recv_result(a, ch, err, e, to);
}

static void op_try_recv(struct actor *a, unsigned b)
{
	struct chan *ch = owned(a, b);
	uint64_t e = 0;
	int err;

	if (ch == NULL)
		return;
	do {
		err = smarm_try_recv(ch->rx, &e);
		if (err != EAGAIN)
			recv_result(a, ch, err, e, 0);
	} while (err == 0 && (b & 4));
}

static void op_tx_clone(struct actor *a, unsigned b)
{
	int c = b & 3;
	smarm_tx *tx = first_tx(a, c);

	if (tx == NULL || a->ntx[c] == NHANDLE)
		return;
	ADD(&F.ch[c].open, 1);
	a->tx[c][a->ntx[c]] = smarm_tx_clone(tx);
	EXPECT(a->tx[c][a->ntx[c]] != NULL, "tx_clone", 0);
	a->ntx[c]++;
}

static void op_tx_close(struct actor *a, unsigned b)
{
	int c = b & 3;

	if (a->ntx[c] == 0)
		return;
	ADD(&F.ch[c].open, -1);
	EXPECT(smarm_tx_close(a->tx[c][--a->ntx[c]]) == 0, "tx_close", 0);
}

static void op_rx_close(struct actor *a, unsigned b)
{
	struct chan *ch = owned(a, b);
	uint64_t e = 0;
	int err;

	if (ch == NULL)
		return;
	while ((err = smarm_try_recv(ch->rx, &e)) == 0)
		got_elem(e, (int)(ch - F.ch));
	EXPECT(err == EAGAIN || err == EPIPE, "try_recv", err);
	STORE(&ch->rx_closed, 2);       /* early: sends may be discarded */
	EXPECT(smarm_rx_close(ch->rx) == 0, "rx_close", 0);
}

/* The target of b: a main actor, one of a's kids, or a itself. */
static void target(struct actor *a, unsigned b, smarm_pid *pid, int **ended,
		   int **cancelled)
{
	unsigned t = b & 15;
	struct actor *m = a;

	if (t >= 8 && t < 8 + (unsigned)a->nkids) {
		pid->id = a->kids[t - 8]->pid.id;
		*ended = &a->kids[t - 8]->ended;
		*cancelled = &a->kids[t - 8]->cancelled;
		return;
	}
	if (t < 8)
		m = &F.act[t % (unsigned)F.nmain];
	pid->id = LOAD(&m->pidw);
	*ended = &m->done;
	*cancelled = &m->cancelled;
}

static void send_to(smarm_pid pid, int *ended, int outsider)
{
	struct msg *m;
	int id, err;

	if (pid.id == 0 || (id = id_new(MAILBOX)) < 0)
		return;
	m = malloc(sizeof(*m));
	EXPECT(m != NULL, "malloc", ENOMEM);
	m->magic = MSG_MAGIC;
	m->id = (uint32_t)id;
	m->outsider = outsider;
	err = smarm_send_to(pid, m);
	if (err == 0)
		return;
	EXPECT(err == ESRCH && LOAD(ended), "send_to", err);
	id_move((unsigned)id, MAILBOX, ID_UNSENT, "failed send_to received");
	free(m);
}

static void op_send_to(struct actor *a, unsigned b)
{
	smarm_pid pid;
	int *ended, *cancelled;

	target(a, b, &pid, &ended, &cancelled);
	send_to(pid, ended, 0);
}

static void on_message(struct actor *a, smarm_msg *m)
{
	struct kid *k;

	if (m->kind == SMARM_MSG) {
		got_msg(m->data, ID_GOT, "message duplicated", &m->from);
		return;
	}
	k = kid_of(a, m->from);
	EXPECT(k != NULL && LOAD(&k->ended), "signal from a stranger", m->kind);
	if (m->kind == SMARM_SIG_EXIT)
		EXPECT(m->data == kid_result(k), "exit signal", 0);
	else if (m->kind == SMARM_SIG_PANIC)
		EXPECT(k->behaviour == K_PANIC && m->data == NULL &&
		       strncmp(m->reason, "kid ", 4) == 0, "panic signal", 0);
	else
		EXPECT(m->kind == SMARM_SIG_TIMEOUT && k->deadline,
		       "timeout signal", m->kind);
}

static void op_receive(struct actor *a, unsigned b)
{
	uint64_t to = (b & 1) ? small(b >> 1) : 0;
	smarm_msg m;
	int err = smarm_receive(&m, to);

	if (err == 0)
		on_message(a, &m);
	else if (err == ECANCELED)
		EXPECT(to && LOAD(&a->cancelled), "receive", err);
	else
		EXPECT(err == ETIMEDOUT, "receive", err);
}

static void op_spawn(struct actor *a, unsigned b)
{
	spawn_kid(a, (int)(b & 7), (int)(b >> 3) | (int)(b & 0x80));
}

static void op_join(struct actor *a, unsigned b)
{
	uint64_t to = (b & 8) ? small(b >> 4) : 0;
	void *res = NULL;
	int i, err;

	if (a->nkids == 0)
		return;
	i = (int)(b % (unsigned)a->nkids);
	err = smarm_join(a->kids[i]->pid, &res, to);
	joined(a, i, err, res, to);
}

static void op_detach(struct actor *a, unsigned b)
{
	struct kid *k;
	int i;

	if (a->nkids == 0)
		return;
	i = (int)(b % (unsigned)a->nkids);
	k = a->kids[i];
	if (k->behaviour == K_WAIT && !k->deadline)
		return;         /* nobody would end it */
	EXPECT(smarm_detach(k->pid) == 0, "detach", 0);
	kid_drop(a, i, FATE_DETACHED);
}

static void op_cancel(struct actor *a, unsigned b)
{
	smarm_pid pid;
	int *ended, *cancelled, err;

	target(a, b, &pid, &ended, &cancelled);
	if (pid.id == 0)
		return;
	STORE(cancelled, 1);
	err = smarm_cancel(pid);
	EXPECT(err == 0 || (err == ESRCH && LOAD(ended)), "cancel", err);
}

static void op_yield(struct actor *a, unsigned b)
{
	(void)a;
	(void)b;
	EXPECT(smarm_yield() == 0, "yield", 0);
}

static void op_sleep(struct actor *a, unsigned b)
{
	uint64_t ns = (b & 15) * 20 * US;
	int err = smarm_sleep(ns);

	EXPECT(err == 0 || (err == ECANCELED && ns && LOAD(&a->cancelled)),
	       "sleep", err);
}

static void took(struct actor *a, int m, int err)
{
	int owner = LOAD(&F.mowner[m]);

	if (err == 0)
		EXPECT(owner == 0, "mutex taken while held", owner);
	else
		EXPECT(owner >= 100 && LOAD(&F.kid[owner - 100].ended),
		       "EOWNERDEAD without a dead owner", owner);
	STORE(&F.mowner[m], a->idx + 1);
	a->held[m] = 1;
}

static void op_lock(struct actor *a, unsigned b)
{
	int m = b & 1, err;
	uint64_t to = (b & 2) ? small(b >> 2) : 0;

	err = smarm_mutex_lock(&F.mu[m], to);
	if (a->held[m])
		EXPECT(err == EDEADLK, "relock", err);
	else if (err == 0 || err == EOWNERDEAD)
		took(a, m, err);
	else if (err == ECANCELED)
		EXPECT(to && LOAD(&a->cancelled), "lock ECANCELED", err);
	else
		EXPECT(err == ETIMEDOUT, "lock", err);
}

static void op_trylock(struct actor *a, unsigned b)
{
	int m = b & 1, err = smarm_mutex_trylock(&F.mu[m]);

	if (a->held[m])
		EXPECT(err == EBUSY, "trylock held", err);
	else if (err == 0 || err == EOWNERDEAD)
		took(a, m, err);
	else
		EXPECT(err == EBUSY, "trylock", err);
}

static void unlock(struct actor *a, int m)
{
	EXPECT(LOAD(&F.mowner[m]) == a->idx + 1, "mutex shared", 0);
	STORE(&F.mowner[m], 0);
	a->held[m] = 0;
	EXPECT(smarm_mutex_unlock(&F.mu[m]) == 0, "unlock", 0);
}

static void op_unlock(struct actor *a, unsigned b)
{
	if (a->held[b & 1])
		unlock(a, b & 1);
}

/* Takes what select found ready at rxs[r]. */
static void take_ready(struct actor *a, smarm_rx **rxs, size_t r)
{
	uint64_t e = 0;
	smarm_msg m;
	int err;

	if (rxs[r] == NULL) {
		err = smarm_receive(&m, 0);
		EXPECT(err == 0, "receive after select", err);
		on_message(a, &m);
		return;
	}
	for (int c = 0; c < NCHAN; c++) {
		if (F.ch[c].rx != rxs[r])
			continue;
		err = smarm_try_recv(rxs[r], &e);
		EXPECT(err == 0 || err == EPIPE, "try_recv after select", err);
		recv_result(a, &F.ch[c], err, e, 0);
	}
}

/* Waits on a's open channels (and its mailbox when mailbox is set). */
static int do_select(struct actor *a, int mailbox, unsigned rot, uint64_t to)
{
	smarm_rx *rxs[NCHAN + 1];
	size_t n = 0, r = 99;
	int err;

	for (unsigned i = 0; i < NCHAN; i++) {
		struct chan *ch = &F.ch[(i + rot) % NCHAN];

		if (ch->owner == a->idx && !ch->rx_closed && !ch->eof)
			rxs[n++] = ch->rx;
	}
	if (mailbox)
		rxs[n++] = NULL;
	if (n == 0)
		return -1;
	err = smarm_select(rxs, n, &r, to);
	if (err == 0) {
		EXPECT(r < n, "select: index", (int)r);
		take_ready(a, rxs, r);
	} else if (err == ECANCELED) {
		EXPECT(to && LOAD(&a->cancelled), "select ECANCELED", err);
	} else {
		EXPECT(err == ETIMEDOUT && to != SMARM_FOREVER, "select", err);
		EXPECT(r == 99, "select wrote *ready", err);
	}
	return err;
}

static void op_select(struct actor *a, unsigned b)
{
	do_select(a, b & 1, b >> 2, (b & 2) ? small(b >> 4) : 0);
}

static void op_group_spawn(struct actor *a, unsigned b)
{
	struct kid *k;
	smarm_pid pid;
	int err;

	if (a->group == NULL)
		EXPECT(smarm_group_new(&a->group) == 0, "group_new", 0);
	if (a->ngkids == NGKID || (k = kid_new(a, (int)(b & 7),
					       (int)(b >> 3))) == NULL)
		return;
	k->grouped = 1;
	err = smarm_group_spawn(a->group, &pid, kid_main, k);
	if (err)
		kid_unspawned(k, err);
	k->pid = pid;
	a->gkids[a->ngkids++] = k;
}

static void group_done(struct actor *a, int err)
{
	int panicked = 0;

	for (int i = 0; i < a->ngkids; i++) {
		EXPECT(LOAD(&a->gkids[i]->ended), "group member running", 0);
		panicked |= a->gkids[i]->behaviour == K_PANIC;
		a->gkids[i]->fate = FATE_GROUP;
	}
	if (err >= 0)
		EXPECT((err == SMARM_EPANIC) == panicked, "group_join", err);
	a->ngkids = 0;
}

static void op_group_join(struct actor *a, unsigned b)
{
	uint64_t to = (b & 1) ? small(b >> 1) : 0;
	int err;

	if (a->group == NULL)
		return;
	err = smarm_group_join(a->group, to);
	if (err == 0 || err == SMARM_EPANIC)
		group_done(a, err);
	else if (err == ECANCELED)
		EXPECT(to && LOAD(&a->cancelled), "group_join", err);
	else
		EXPECT(err == ETIMEDOUT, "group_join", err);
}

static void op_group_cancel(struct actor *a, unsigned b)
{
	(void)b;
	if (a->group == NULL)
		return;
	for (int i = 0; i < a->ngkids; i++)
		STORE(&a->gkids[i]->cancelled, 1);
	EXPECT(smarm_group_cancel(a->group) == 0, "group_cancel", 0);
}

static void op_group_free(struct actor *a, unsigned b)
{
	(void)b;
	if (a->group == NULL)
		return;
	for (int i = 0; i < a->ngkids; i++)
		STORE(&a->gkids[i]->cancelled, 1);
	smarm_group_free(a->group);
	a->group = NULL;
	group_done(a, -1);
}

static void op_monitor(struct actor *a, unsigned b)
{
	if (a->nkids)
		EXPECT(smarm_monitor(a->kids[b % (unsigned)a->nkids]->pid) == 0,
		       "monitor", 0);
}

static void (*const ops[NOPS])(struct actor *, unsigned) = {
	op_send, op_send, op_recv, op_try_recv, op_tx_clone, op_tx_close,
	op_rx_close, op_send_to, op_receive, op_spawn, op_join, op_detach,
	op_cancel, op_yield, op_sleep, op_lock, op_trylock, op_unlock,
	op_select, op_group_spawn, op_group_join, op_group_cancel,
	op_group_free, op_monitor,
};

/* ---- A main actor's life ------------------------------------------------- */

static void main_end_kids(struct actor *a)
{
	while (a->nkids) {
		struct kid *k = a->kids[0];
		void *res = NULL;
		int err;

		STORE(&k->cancelled, 1);
		err = smarm_cancel(k->pid);
		EXPECT(err == 0 || (err == ESRCH && LOAD(&k->ended)), "cancel",
		       err);
		do
			err = smarm_join(k->pid, &res, SMARM_FOREVER);
		while (!joined(a, 0, err, res, SMARM_FOREVER));
	}
	op_group_free(a, 0);
}

/* The end: let go of everything, collect the kids, drain the channels. */
static void main_end(struct actor *a)
{
	smarm_msg m;

	for (int i = 0; i < NMUTEX; i++)
		if (a->held[i])
			unlock(a, i);
	for (int c = 0; c < NCHAN; c++)
		while (a->ntx[c])
			op_tx_close(a, (unsigned)c);
	main_end_kids(a);
	while (do_select(a, 0, 0, SMARM_FOREVER) >= 0)
		;
	for (int c = 0; c < NCHAN; c++)
		if (F.ch[c].owner == a->idx && !F.ch[c].rx_closed) {
			STORE(&F.ch[c].rx_closed, 1);
			EXPECT(smarm_rx_close(F.ch[c].rx) == 0, "rx_close", 0);
		}
	while (F.empty_mailbox && smarm_receive(&m, 0) == 0)
		on_message(a, &m);
}

static void *main_actor(void *arg)
{
	struct actor *a = arg;

	for (size_t i = 0; i < F.nops; i++) {
		unsigned op = F.ops[2 * i], b = F.ops[2 * i + 1];

		if ((int)((op & 7) % (unsigned)F.nmain) == a->idx)
			ops[(op >> 3) % NOPS](a, b);
	}
	main_end(a);
	STORE(&a->done, 1);
	return a;
}

/* ---- The outsider: a plain OS thread that sends ----------------------------- */

static void outsider_send(int c, int i)
{
	struct chan *ch = &F.ch[c];
	int id = id_new(c), err;
	uint64_t e, to = (i & 1) ? small((unsigned)i) : 0;

	if (id < 0)
		return;
	e = ELEM_MAGIC | (uint64_t)id;
	err = ch->cap ? smarm_send_timed(F.out_tx[c], &e, to)
		      : smarm_send(F.out_tx[c], &e);
	if (err == 0)
		return;
	id_move((unsigned)id, c, ID_UNSENT, "failed send received");
	if (err == EPIPE)
		EXPECT(LOAD(&ch->rx_closed), "thread send EPIPE", err);
	else
		EXPECT(err == ETIMEDOUT && ch->cap, "thread send", err);
}

/* Sends F.nout elements, one channel after the other, and as many
 * messages to the main actors in turn, then closes its handles.  Its
 * waits for room are timed: nothing can cancel a thread. */
static void *outsider(void *arg)
{
	(void)arg;
	for (int i = 0; i < F.nout; i++) {
		struct actor *m = &F.act[i % F.nmain];
		smarm_pid pid = { LOAD(&m->pidw) };

		outsider_send(i % NCHAN, i);
		send_to(pid, &m->done, 1);
	}
	for (int c = 0; c < NCHAN; c++) {
		ADD(&F.ch[c].open, -1);
		EXPECT(smarm_tx_close(F.out_tx[c]) == 0, "thread tx_close", 0);
	}
	return NULL;
}

static void outsider_start(void)
{
	for (int c = 0; c < NCHAN; c++) {
		ADD(&F.ch[c].open, 1);
		F.out_tx[c] = smarm_tx_clone(F.ch[c].tx0);
		EXPECT(F.out_tx[c] != NULL, "tx_clone", 0);
	}
	EXPECT(pthread_create(&F.out_thr, NULL, outsider, NULL) == 0,
	       "pthread_create", 0);
	F.out_started = 1;
}

/* ---- The root actor and the run ------------------------------------------ */

static void make_channels(unsigned kinds)
{
	for (int c = 0; c < NCHAN; c++) {
		struct chan *ch = &F.ch[c];
		int err;

		ch->cap = (kinds >> (2 * c)) & 3;
		ch->owner = c % F.nmain;
		ch->open = 1 + F.nmain;
		err = ch->cap ? smarm_channel_bounded(&ch->tx0, &ch->rx, 8, ch->cap)
			      : smarm_channel(&ch->tx0, &ch->rx, 8);
		EXPECT(err == 0, "channel", err);
		for (int i = 0; i < F.nmain; i++) {
			F.act[i].tx[c][0] = smarm_tx_clone(ch->tx0);
			EXPECT(F.act[i].tx[c][0] != NULL, "tx_clone", 0);
			F.act[i].ntx[c] = 1;
		}
	}
}

static void *root(void *arg)
{
	smarm_pid pid[NMAIN];
	void *res;
	int err;

	make_channels(*(const unsigned *)arg);
	for (int i = 0; i < F.nmain; i++) {
		F.act[i].idx = i;
		err = smarm_spawn(&pid[i], main_actor, &F.act[i]);
		EXPECT(err == 0, "spawn", err);
		STORE(&F.act[i].pidw, pid[i].id);
	}
	if (F.nout)
		outsider_start();
	for (int c = 0; c < NCHAN; c++) {
		ADD(&F.ch[c].open, -1);
		EXPECT(smarm_tx_close(F.ch[c].tx0) == 0, "tx_close", 0);
	}
	for (int i = 0; i < F.nmain; i++) {
		err = smarm_join(pid[i], &res, SMARM_FOREVER);
		EXPECT(err == 0 && res == &F.act[i], "join a main actor", err);
	}
	return ROOT_TAG;
}

static void check_end(void)
{
	for (int i = 0; i < F.nkid && i < NKIDREC; i++)
		EXPECT(F.kid[i].ended && F.kid[i].fate != FATE_NONE,
		       "a kid not ended or not collected", i);
	for (unsigned id = 1; id < F.next_id && id < NIDS; id++) {
		int st = F.id_state[id], w = F.id_where[id];

		if (st == ID_SENT && w < NCHAN && F.ch[w].rx_closed == 2)
			continue;       /* discarded by an early close */
		EXPECT(st == ID_GOT || st == ID_DEAD || st == ID_UNSENT,
		       "an id lost", (int)id);
	}
	for (int m = 0; m < NMUTEX; m++)
		EXPECT(smarm_mutex_destroy(&F.mu[m]) == 0, "mutex_destroy", m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smarm_runtime *rt;
	smarm_config cfg;
	unsigned kinds;
	void *res = NULL;
	int err;

	if (size < 2)
		return 0;
	memset(&F, 0, sizeof(F));
	F.threads = 1 + (data[0] & 1);
	F.nmain = 1 + ((data[0] >> 1) & 7);
	F.empty_mailbox = (data[0] >> 4) & 1;
	F.nout = data[0] >> 5;
	kinds = data[1];
	F.ops = data + 2;
	F.nops = (size - 2) / 2 < MAXOPS ? (size - 2) / 2 : MAXOPS;
	for (int m = 0; m < NMUTEX; m++)
		EXPECT(smarm_mutex_init(&F.mu[m]) == 0, "mutex_init", m);
	smarm_config_init(&cfg);
	cfg.threads = (unsigned)F.threads;
	cfg.dead_letter = dead_letter;
	err = smarm_runtime_new(&rt, &cfg);
	EXPECT(err == 0, "runtime_new", err);
	err = smarm_runtime_run(rt, root, &kinds, &res);
	EXPECT(err == 0 && res == ROOT_TAG, "runtime_run", err);
	if (F.out_started)
		EXPECT(pthread_join(F.out_thr, NULL) == 0, "pthread_join", 0);
	smarm_runtime_free(rt);
	check_end();
	return 0;
}
