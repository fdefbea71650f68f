/*
 * blocking.h - the helper threads of smarm_block_on_io.
 *
 * Owns (blocking.c): the runtime's pool of helper threads and its queue.
 * May touch: sched.h and below.  Used by runtime.c, which stops the pool
 * at the end of a run.
 */
#ifndef SMARM_BLOCKING_H
#define SMARM_BLOCKING_H

#include "sched.h"

/* End of a run: drop queued jobs, let the helpers finish and join them. */
void smarm__pool_stop(struct smarm_runtime *rt);

#endif /* SMARM_BLOCKING_H */
