/*
 * context.h - execution contexts for actors (the switch is in
 * lib/arch/<cpu>/switch.S).
 *
 * A context is nothing but a saved stack pointer: everything else a
 * suspended actor needs (callee-saved registers, MXCSR, the x87 control
 * word, the return address) is on its own stack, pushed by
 * smarm__ctx_switch.  The interface is deliberately narrow so that a port
 * to another CPU is one new .S file and smarm__ctx_make's frame layout.
 *
 * Owns: the saved context's layout (switch.S is its other half).
 * May touch: nothing else in lib/.
 */
#ifndef SMARM_CONTEXT_H
#define SMARM_CONTEXT_H

#include <stdint.h>

/* Save the callee-saved state on the current stack, store the stack
 * pointer in *save, load the stack pointer load and resume what was saved
 * there.  Returns 0 when some other context switches back to *save (the
 * value lets a caller that returns 0 end with a tail call). */
int smarm__ctx_switch(void **save, void *load);

void smarm__ctx_start(void);

/* The ABI's initial values: all exceptions masked, round to nearest;
 * x87 at extended precision. */
#define SMARM__MXCSR_DEFAULT 0x1F80u
#define SMARM__X87CW_DEFAULT 0x037Fu

/*
 * Prepare a stack whose highest usable address is top (exclusive) so that
 * switching to the returned stack pointer calls entry(arg) on it.  entry
 * must never return.  The frame is the one switch.S restores: align top
 * down to 16, keep a zeroed 16-byte pad at the very top (a null return
 * address for anything that walks past smarm__ctx_start), then the return
 * slot, placed so that rsp is 16-byte aligned after the ret into
 * smarm__ctx_start, as a call there requires.
 */
static inline void *smarm__ctx_make(void *top, void (*entry)(void *),
				    void *arg)
{
	uint64_t *sp = (uint64_t *)(((uintptr_t)top & ~(uintptr_t)15) - 80);

	sp[0] = SMARM__MXCSR_DEFAULT |
		((uint64_t)SMARM__X87CW_DEFAULT << 32);
	sp[3] = (uint64_t)(uintptr_t)entry;       /* r13 */
	sp[4] = (uint64_t)(uintptr_t)arg;         /* r12 */
	sp[6] = 0;                                /* rbp: ends frame chains */
	sp[7] = (uint64_t)(uintptr_t)smarm__ctx_start;
	sp[8] = 0;
	sp[9] = 0;
	return sp;
}

#endif /* SMARM_CONTEXT_H */
