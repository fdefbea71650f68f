/*
 * watch.h - a run's watcher thread: the dump on SMARM_DUMP_SIGNAL and the
 * watchdog (smarm_config.watchdog_ms), for runtime.c.
 *
 * Owns (watch.c): the watcher.  May touch: sched.h.
 */
#ifndef SMARM_WATCH_H
#define SMARM_WATCH_H

#include "sched.h"

/* Start rt's watcher when either is configured (nothing otherwise), with
 * the dump signal's handler: 0, EAGAIN, ENOMEM or EMFILE. */
int smarm__watch_start(struct smarm_runtime *rt);

/* Stop it, the signal's earlier action back; nothing when none runs. */
void smarm__watch_stop(struct smarm_runtime *rt);

#endif /* SMARM_WATCH_H */
