/*
 * switch.S - context switch for x86-64 (System V ABI), Linux.
 *
 * A suspended context's stack holds, from its saved stack pointer upwards:
 *
 *   offset  contents
 *   +0      MXCSR (low 4 bytes) and x87 control word (bytes 4-5)
 *   +8      r15
 *   +16     r14
 *   +24     r13
 *   +32     r12
 *   +40     rbx
 *   +48     rbp
 *   +56     return address
 *
 * Only what the ABI says a callee must preserve is saved: the six
 * callee-saved general registers, the control bits of MXCSR and the x87
 * control word.  Everything else is caller-saved, so the C compiler has
 * already spilled what it needs around the call.
 *
 * The CFI below describes this frame.  After the stack pointer is
 * replaced, the new stack has the same layout, so the same rules hold and
 * a debugger can unwind at every instruction.  A fresh context starts in
 * smarm__ctx_start, which marks the return address undefined so that
 * unwinders stop there instead of walking into garbage.
 *
 * Nothing here claims CET shadow-stack compatibility: a hand-made stack
 * switch cannot keep a shadow stack consistent.
 *
 * Owns: the switch (context.h is its C side).  May touch: nothing.
 */

	.text

/* int smarm__ctx_switch(void **save, void *load): returns 0 */
	.globl	smarm__ctx_switch
	.hidden	smarm__ctx_switch
	.type	smarm__ctx_switch, @function
	.p2align 4
smarm__ctx_switch:
	.cfi_startproc
	pushq	%rbp
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbp, 0
	pushq	%rbx
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %rbx, 0
	pushq	%r12
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r12, 0
	pushq	%r13
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r13, 0
	pushq	%r14
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r14, 0
	pushq	%r15
	.cfi_adjust_cfa_offset 8
	.cfi_rel_offset %r15, 0
	subq	$8, %rsp
	.cfi_adjust_cfa_offset 8
	stmxcsr	(%rsp)
	fnstcw	4(%rsp)

	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	ldmxcsr	(%rsp)
	fldcw	4(%rsp)
	addq	$8, %rsp
	.cfi_adjust_cfa_offset -8
	popq	%r15
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r15
	popq	%r14
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r14
	popq	%r13
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r13
	popq	%r12
	.cfi_adjust_cfa_offset -8
	.cfi_restore %r12
	popq	%rbx
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbx
	popq	%rbp
	.cfi_adjust_cfa_offset -8
	.cfi_restore %rbp
	xorl	%eax, %eax
	ret
	.cfi_endproc
	.size	smarm__ctx_switch, .-smarm__ctx_switch

/*
 * First code run on a fresh stack: smarm__ctx_make leaves the entry
 * function in r13 and its argument in r12, and the stack 16-byte aligned
 * here, as a call requires.  The entry never returns.
 */
	.globl	smarm__ctx_start
	.hidden	smarm__ctx_start
	.type	smarm__ctx_start, @function
	.p2align 4
smarm__ctx_start:
	.cfi_startproc
	.cfi_undefined %rip
	movq	%r12, %rdi
	callq	*%r13
	ud2
	.cfi_endproc
	.size	smarm__ctx_start, .-smarm__ctx_start

	.section .note.GNU-stack, "", @progbits
