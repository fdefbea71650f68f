/*
 * smarm.h - green-thread actors for C on x86-64 Linux.
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 *
 * This is the only installed header.  It needs nothing but <signal.h>,
 * <stddef.h>, <stdint.h>, <sys/socket.h> and <sys/types.h>, contains no
 * assembly, no atomics and nothing substituted at configure time, and
 * compiles as C and as C++.
 *
 * Conventions (see smarm(7)):
 *  - A call that can fail returns int: 0 on success or a positive errno
 *    value (EINVAL, ESRCH, ...), or one of the SMARM_E* codes below, which
 *    lie above the errno range.  errno is never used to report an error.
 *  - Times are uint64_t nanoseconds; timeouts are relative.  A timeout of 0
 *    never blocks; SMARM_FOREVER waits without a limit.
 *  - Calls that only make sense inside an actor return EPERM outside one.
 */
#ifndef SMARM_H
#define SMARM_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Version --------------------------------------------------------- */

#define SMARM_VERSION_MAJOR 0
#define SMARM_VERSION_MINOR 1
#define SMARM_VERSION_PATCH 0
/* (major << 16) | (minor << 8) | patch, comparable with smarm_version(). */
#define SMARM_VERSION_HEX \
	((SMARM_VERSION_MAJOR << 16) | (SMARM_VERSION_MINOR << 8) | \
	 SMARM_VERSION_PATCH)

/* ---- Attributes ------------------------------------------------------ */

/* Internal to this header: export marker and function attributes. */
#if defined(__GNUC__) || defined(__clang__)
#define SMARM_API __attribute__((visibility("default")))
#define SMARM__NORETURN __attribute__((noreturn))
#define SMARM__PANIC_ATTRS __attribute__((noreturn, format(printf, 1, 2)))
#else
#define SMARM_API
#define SMARM__NORETURN
#define SMARM__PANIC_ATTRS
#endif

/* ---- Constants -------------------------------------------------------- */

/* A timeout that never expires. */
#define SMARM_FOREVER UINT64_MAX

/* Error codes above the errno range (errno values stay below 4096). */
#define SMARM_EPANIC 10001 /* the actor ended with smarm_panic() */

/* Stack sizes, in bytes. */
#define SMARM_STACK_DEFAULT (256u * 1024u)
#define SMARM_STACK_MIN (16u * 1024u)
#define SMARM_STACK_MAX (1024u * 1024u * 1024u)

/* Preemption points an actor passes between forced yields, by default. */
#define SMARM_PREEMPT_DEFAULT 1024u

/* Longest actor name kept, including the terminating NUL. */
#define SMARM_NAME_MAX 32

/* smarm_config.stack_guard: how stacks are protected (smarm(7)). */
enum smarm_stack_guard {
	SMARM_GUARD_AUTO = 0,     /* best the kernel offers, canary near limits */
	SMARM_GUARD_MADVISE = 1,  /* MADV_GUARD_INSTALL pages inside slabs */
	SMARM_GUARD_MPROTECT = 2, /* a PROT_NONE page below every stack */
	SMARM_GUARD_CANARY = 3    /* no guard page; a canary checked on switch */
};

/* smarm_spawn_opts.flags */
#define SMARM_SPAWN_DETACHED 0x1u /* as if smarm_detach() ran at spawn */
#define SMARM_SPAWN_PINNED 0x2u   /* never migrates off its spawner's worker */

/* Most worker threads a runtime may have. */
#define SMARM_THREADS_MAX 1024u

/* Helper threads of smarm_block_on_io: the default, and the most. */
#define SMARM_IO_THREADS_DEFAULT 16u
#define SMARM_IO_THREADS_MAX 1024u

/* ---- Types ------------------------------------------------------------ */

/* An actor's identity: slot index and generation packed in 64 bits.
 * Compare with smarm_pid_eq(); the zero pid is SMARM_PID_NONE. */
typedef struct smarm_pid {
	uint64_t id;
} smarm_pid;

#ifdef __cplusplus
#define SMARM_PID_NONE (smarm_pid{0})
#else
#define SMARM_PID_NONE ((smarm_pid){0})
#endif

/* An actor's body.  Its return value is the actor's result. */
typedef void *(*smarm_fn)(void *arg);

typedef struct smarm_runtime smarm_runtime;

/* The two ends of a channel.  A channel has one receiving end and any
 * number of sending handles (smarm_tx_clone); each is closed once. */
typedef struct smarm_tx smarm_tx;
typedef struct smarm_rx smarm_rx;

/* Runtime settings.  Always fill with smarm_config_init() first. */
typedef struct smarm_config {
	unsigned threads;       /* worker threads; default: usable CPUs, or
				   SMARM_THREADS from the environment */
	int stack_guard;        /* enum smarm_stack_guard */
	size_t stack_size;      /* default actor stack size in bytes */
	unsigned preempt_budget; /* preemption points between forced yields;
				    0 = never yield at one */
	/* Called with each message still in an actor's mailbox when it
	 * ends, and the actor's pid; NULL (the default): free(3). */
	void (*dead_letter)(void *msg, smarm_pid to);
	unsigned io_threads;    /* most helper threads of smarm_block_on_io;
				   0 = SMARM_IO_THREADS_DEFAULT */
	unsigned watchdog_ms;   /* warn of a worker stuck in one actor this
				   long; 0 = off (default: SMARM_WATCHDOG_MS
				   from the environment, else 0) */
	unsigned reserved_u;    /* keep zero */
	uintptr_t reserved[9];  /* keep zero */
} smarm_config;

/* Per-spawn options.  Always fill with smarm_spawn_opts_init() first. */
typedef struct smarm_spawn_opts {
	size_t stack_size; /* 0 = the runtime's default */
	const char *name;  /* copied; NULL = no name */
	unsigned flags;    /* SMARM_SPAWN_* */
	smarm_pid supervisor; /* gets the end as a signal; SMARM_PID_NONE */
	uint64_t deadline; /* ns from the spawn, after which the actor is
			      cancelled; 0 or SMARM_FOREVER = none */
	uintptr_t reserved[11]; /* keep zero */
} smarm_spawn_opts;

/* Counters of a runtime (smarm_stats_get), cumulative over its runs. */
typedef struct smarm_stats {
	uint64_t spawned;       /* actors spawned, the root included */
	uint64_t exited;        /* actors ended (returned, exited, panicked) */
	uint64_t panicked;      /* of those, ended by smarm_panic() */
	uint64_t switches;      /* context switches into actors */
	uint64_t steals;        /* actors taken from another worker's queue */
	uint64_t parks;         /* times an actor blocked */
	uint64_t wakeups;       /* times a blocked actor was made runnable */
	uint64_t messages;      /* channel elements and mailbox messages
				   received by actors */
	uint64_t canary_stacks; /* stacks in use guarded by a canary only */
	uint64_t threads;       /* worker threads of the runtime */
	uint64_t reserved[6];   /* zero */
} smarm_stats;

/* ---- Runtime ------------------------------------------------------------ */

SMARM_API void smarm_config_init(smarm_config *cfg);
SMARM_API int smarm_runtime_new(smarm_runtime **rt, const smarm_config *cfg);
SMARM_API int smarm_runtime_run(smarm_runtime *rt, smarm_fn fn, void *arg,
				void **result);
SMARM_API void smarm_runtime_free(smarm_runtime *rt);
SMARM_API int smarm_run(smarm_fn fn, void *arg, void **result);
SMARM_API int smarm_stats_get(smarm_stats *out);
/* Every worker and live actor of the running runtime, as text on fd: 0,
 * EBADF, EIO, ESRCH (no run), EBUSY.  Async-signal-safe; a racy snapshot
 * (smarm_dump(3)). */
SMARM_API int smarm_dump(int fd);

/* ---- Actors ------------------------------------------------------------- */

SMARM_API int smarm_spawn(smarm_pid *pid, smarm_fn fn, void *arg);
SMARM_API void smarm_spawn_opts_init(smarm_spawn_opts *opts);
SMARM_API int smarm_spawn_opt(smarm_pid *pid, smarm_fn fn, void *arg,
			      const smarm_spawn_opts *opts);
SMARM_API int smarm_join(smarm_pid pid, void **result, uint64_t timeout);
SMARM_API int smarm_detach(smarm_pid pid);
SMARM_API int smarm_pid_eq(smarm_pid a, smarm_pid b);
SMARM_API smarm_pid smarm_self(void);
SMARM_API int smarm_name(smarm_pid pid, char *buf, size_t size);
SMARM_API int smarm_yield(void);
SMARM_API void smarm_exit(void *result) SMARM__NORETURN;
SMARM_API void smarm_panic(const char *fmt, ...) SMARM__PANIC_ATTRS;
SMARM_API int smarm_cancel(smarm_pid pid);
SMARM_API int smarm_cancelled(void);

/* ---- Channels ------------------------------------------------------------- */

SMARM_API int smarm_channel(smarm_tx **tx, smarm_rx **rx, size_t elem_size);
SMARM_API int smarm_channel_bounded(smarm_tx **tx, smarm_rx **rx,
				    size_t elem_size, size_t capacity);
SMARM_API int smarm_send(smarm_tx *tx, const void *elem);
SMARM_API int smarm_send_timed(smarm_tx *tx, const void *elem,
			       uint64_t timeout);
SMARM_API int smarm_recv(smarm_rx *rx, void *out, uint64_t timeout);
SMARM_API int smarm_try_recv(smarm_rx *rx, void *out);
SMARM_API int smarm_select(smarm_rx **rxs, size_t n, size_t *ready,
			   uint64_t timeout);
SMARM_API smarm_tx *smarm_tx_clone(smarm_tx *tx);
SMARM_API int smarm_tx_close(smarm_tx *tx);
SMARM_API int smarm_rx_close(smarm_rx *rx);

/* ---- Mailboxes ------------------------------------------------------------ */

/* smarm_msg.kind: a message sent with smarm_send_to, or a signal: how a
 * supervised or monitored actor ended. */
#define SMARM_MSG 0
#define SMARM_SIG_EXIT 1    /* it returned or called smarm_exit */
#define SMARM_SIG_PANIC 2   /* it panicked; reason says why */
#define SMARM_SIG_TIMEOUT 3 /* it ran past its deadline, however it ended */
#define SMARM_REASON_MAX 128

/* What smarm_receive fills. */
typedef struct smarm_msg {
	int kind;                      /* SMARM_MSG or SMARM_SIG_* */
	smarm_pid from;                /* the sender (SMARM_PID_NONE for a
					  plain OS thread), or the actor
					  whose end is signalled */
	void *data;                    /* the pointer that was sent, or the
					  result of an actor that exited */
	char reason[SMARM_REASON_MAX]; /* a panic's reason; "" otherwise */
} smarm_msg;

SMARM_API int smarm_send_to(smarm_pid to, void *msg);
SMARM_API int smarm_receive(smarm_msg *out, uint64_t timeout);
SMARM_API int smarm_monitor(smarm_pid pid);

/* ---- Mutexes ----------------------------------------------------------------- */

/* A mutex that parks the actors waiting for it, first come first served.
 * Storage of a fixed size, to embed; all zero is an unlocked mutex. */
typedef struct smarm_mutex {
	uint64_t opaque[8];
} smarm_mutex;

#ifdef __cplusplus
#define SMARM_MUTEX_INIT (smarm_mutex{})
#else
#define SMARM_MUTEX_INIT ((smarm_mutex){ { 0 } })
#endif

SMARM_API int smarm_mutex_init(smarm_mutex *m);
SMARM_API int smarm_mutex_destroy(smarm_mutex *m);
SMARM_API int smarm_mutex_lock(smarm_mutex *m, uint64_t timeout);
SMARM_API int smarm_mutex_trylock(smarm_mutex *m);
SMARM_API int smarm_mutex_unlock(smarm_mutex *m);

/* ---- Supervisors ------------------------------------------------------------ */

/* smarm_sup_spec.strategy: what a child's end restarts. */
#define SMARM_ONE_FOR_ONE 0  /* that child */
#define SMARM_ONE_FOR_ALL 1  /* every child */
#define SMARM_REST_FOR_ONE 2 /* that child and those after it in the spec */

/* smarm_child_spec.restart: which ends restart a child. */
#define SMARM_PERMANENT 0 /* every end */
#define SMARM_TRANSIENT 1 /* a panic or a timeout */
#define SMARM_TEMPORARY 2 /* none */

/* A supervised child.  All zero (but fn) is a valid default. */
typedef struct smarm_child_spec {
	const char *name;  /* copied at each start; NULL = no name */
	smarm_fn fn;
	void *arg;
	int restart;       /* SMARM_PERMANENT, ... */
	size_t stack_size; /* 0 = the runtime's default */
	uint64_t deadline; /* of each start, as smarm_spawn_opts.deadline */
	uintptr_t reserved[4]; /* keep zero */
} smarm_child_spec;

/* A supervisor.  All zero (but the children) is a valid default. */
typedef struct smarm_sup_spec {
	int strategy;      /* SMARM_ONE_FOR_ONE, ... */
	unsigned intensity; /* restarts allowed within period; 0 = 3 */
	uint64_t period;   /* ns; 0 = 5 s */
	const smarm_child_spec *children;
	size_t nchildren;
	uintptr_t reserved[4]; /* keep zero */
} smarm_sup_spec;

SMARM_API int smarm_supervisor_run(const smarm_sup_spec *spec);

/* ---- Groups ----------------------------------------------------------------- */

/* Actors joined and cancelled together.  Used by one actor at a time. */
typedef struct smarm_group smarm_group;

SMARM_API int smarm_group_new(smarm_group **g);
SMARM_API int smarm_group_spawn(smarm_group *g, smarm_pid *pid, smarm_fn fn,
				void *arg);
SMARM_API int smarm_group_join(smarm_group *g, uint64_t timeout);
SMARM_API int smarm_group_cancel(smarm_group *g);
SMARM_API void smarm_group_free(smarm_group *g);

/* ---- I/O ------------------------------------------------------------------- */

/* Each parks only the calling actor, until the fd is ready, the timeout
 * passes (ETIMEDOUT), the actor is cancelled (ECANCELED) or the fd is
 * closed with smarm_close (EBADF).  See smarm(7), I/O. */
SMARM_API int smarm_wait_readable(int fd, uint64_t timeout);
SMARM_API int smarm_wait_writable(int fd, uint64_t timeout);
SMARM_API int smarm_read(int fd, void *buf, size_t len, size_t *done,
			 uint64_t timeout);
SMARM_API int smarm_write(int fd, const void *buf, size_t len, size_t *done,
			  uint64_t timeout);
SMARM_API int smarm_accept(int lfd, int *fd, struct sockaddr *addr,
			   socklen_t *addrlen, uint64_t timeout);
SMARM_API int smarm_connect(int fd, const struct sockaddr *addr,
			    socklen_t addrlen, uint64_t timeout);
SMARM_API int smarm_close(int fd);

/* Run fn(arg) on a helper thread while the calling actor parks. */
SMARM_API int smarm_block_on_io(smarm_fn fn, void *arg, void **result);

/* Wait for one of the signals in set; *signo says which came. */
SMARM_API int smarm_signal_wait(const sigset_t *set, int *signo,
				uint64_t timeout);

/* Cancel every actor, give them timeout to end, and end the run. */
SMARM_API int smarm_shutdown(uint64_t timeout);

/* ---- Preemption points ----------------------------------------------------- */

/* Counts one preemption point; yields when the actor's budget is spent.
 * A no-op outside an actor.  SMARM_CHECK() is the statement form. */
SMARM_API void smarm_check(void);
#define SMARM_CHECK() smarm_check()

/* malloc(3) and friends, each also a preemption point. */
SMARM_API void *smarm_malloc(size_t size);
SMARM_API void *smarm_calloc(size_t nmemb, size_t size);
SMARM_API void *smarm_realloc(void *ptr, size_t size);
SMARM_API void smarm_free(void *ptr);

/* ---- Time ----------------------------------------------------------------- */

SMARM_API int smarm_sleep(uint64_t ns);
SMARM_API uint64_t smarm_now(void);

/* ---- Errors and version ----------------------------------------------------- */

SMARM_API const char *smarm_strerror(int err);
SMARM_API unsigned smarm_version(void);
SMARM_API const char *smarm_version_string(void);

#ifdef __cplusplus
}
#endif

#endif /* SMARM_H */
