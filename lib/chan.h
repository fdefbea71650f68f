/*
 * chan.h - channels (chan.c) as the rest of the library and the tests
 * see them: the public calls are in smarm.h; here is what is internal.
 *
 * Owns: nothing but these declarations.  May touch: nothing.
 */
#ifndef SMARM_CHAN_H
#define SMARM_CHAN_H

#include <stddef.h>

/* Free channels kept for reuse (their memory is never given back while
 * the library is loaded: see chan.c).  For tests. */
size_t smarm__chan_pooled(void);

#endif /* SMARM_CHAN_H */
