/*
 * check_context.c - the bare context switch (lib/context.c and
 * lib/arch/x86_64/switch.S), used directly on stacks of our own, with no
 * runtime: entry and argument, round trips, the callee-saved registers,
 * stack alignment, the per-context floating-point control state, many
 * contexts, and what happens at the edges (an entry that returns, an
 * unwinder walking off the top).
 *
 * Copyright (c) 2026 The smarm authors.  MIT licence, see COPYING.
 */
#define TIMEOUT 120
#include "testutil.h"

#include <execinfo.h>
#include <fenv.h>
#include <sys/mman.h>

#include "context.h"

#ifndef HAVE_VG
#define VALGRIND_STACK_REGISTER(lo, hi) 0
#define VALGRIND_STACK_DEREGISTER(id) ((void)(id))
#endif

#define PAGE 4096u

/* First code a fresh context runs (switch.S); hidden, but linked in. */
void smarm__ctx_start(void);

/* ---- stacks of our own ------------------------------------------------- */

/* A stack mapped with mmap, a PROT_NONE page below it, registered with
 * valgrind so that it sees the switches as stack changes. */
typedef struct tstack {
	char *map;
	size_t len;
	char *lo;
	char *top;
	unsigned vg;
	int mapped;
} tstack;

static void tstack_map(tstack *s, size_t size)
{
	s->len = size + PAGE;
	s->map = mmap(NULL, s->len, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	ck_assert_ptr_ne(s->map, MAP_FAILED);
	ck_assert_int_eq(mprotect(s->map, PAGE, PROT_NONE), 0);
	s->lo = s->map + PAGE;
	s->top = s->map + s->len;
	s->mapped = 1;
	s->vg = VALGRIND_STACK_REGISTER(s->lo, s->top);
}

/* A stack from malloc; top is deliberately left unaligned. */
static void tstack_malloc(tstack *s, size_t size)
{
	s->map = malloc(size);
	ck_assert_ptr_nonnull(s->map);
	s->len = size;
	s->lo = s->map;
	s->top = s->map + size;
	s->mapped = 0;
	s->vg = VALGRIND_STACK_REGISTER(s->lo, s->top);
}

/* The contexts here are left behind with frames on their stacks, and the
 * switches are not announced to AddressSanitizer (that is the runtime's
 * job, fiber.h): clear the shadow the frames poisoned before a stack is
 * used again or unmapped, as the runtime does for its stacks. */
static void tstack_clean(tstack *s)
{
	(void)s; /* nothing to do in other builds */
	smarm__fiber_clean(s->lo, (size_t)(s->top - s->lo));
}

static void tstack_free(tstack *s)
{
	tstack_clean(s);
	VALGRIND_STACK_DEREGISTER(s->vg);
	if (s->mapped)
		munmap(s->map, s->len);
	else
		free(s->map);
	memset(s, 0, sizeof(*s));
}

static int on_stack(const tstack *s, const void *p)
{
	return (const char *)p >= s->lo && (const char *)p < s->top;
}

/* The saved stack pointer of the main (test) context. */
static void *main_sp;

/* ---- entry and argument ------------------------------------------------ */

static void *arg_seen;
static void *local_seen;
static int arg_runs;
static void *arg_sp;

static void arg_entry(void *arg)
{
	volatile int local = 0;

	arg_seen = arg;
	local_seen = (void *)&local;
	arg_runs++;
	smarm__ctx_switch(&arg_sp, main_sp);
	ck_abort_msg("a suspended context was resumed unexpectedly");
}

START_TEST(test_entry_arg)
{
	static char token;
	void *args[] = { &token, (void *)(uintptr_t)0xdeadbeefcafef00dull,
			 NULL };
	size_t i;

	for (i = 0; i < sizeof(args) / sizeof(args[0]); i++) {
		tstack s;
		void *sp;

		tstack_map(&s, 64 * 1024);
		arg_seen = (void *)1;
		local_seen = NULL;
		arg_runs = 0;
		sp = smarm__ctx_make(s.top, arg_entry, args[i]);
		/* The initial frame lies on the new stack, below its top. */
		ck_assert(on_stack(&s, sp));
		/* Making a context runs nothing. */
		ck_assert_int_eq(arg_runs, 0);
		smarm__ctx_switch(&main_sp, sp);
		ck_assert_int_eq(arg_runs, 1);
		ck_assert_ptr_eq(arg_seen, args[i]);
		/* The entry ran on the new stack, not on ours. */
		ck_assert(on_stack(&s, local_seen));
		/* It saved its context on its own stack too. */
		ck_assert(on_stack(&s, arg_sp));
		tstack_free(&s);
	}
}
END_TEST

/* The initial frame is written below top only: nothing at or above it. */
START_TEST(test_make_stays_below_top)
{
	tstack s;
	size_t off;

	tstack_map(&s, 64 * 1024);
	for (off = 0; off < 16; off++) {
		char *top = s.lo + 32 * 1024 - off;
		unsigned char *above = (unsigned char *)top;
		void *sp;
		size_t i;

		tstack_clean(&s);
		memset(above, 0x5a, 256);
		arg_runs = 0;
		sp = smarm__ctx_make(top, arg_entry, (void *)off);
		ck_assert((char *)sp < top && (char *)sp >= top - 256);
		smarm__ctx_switch(&main_sp, sp);
		ck_assert_int_eq(arg_runs, 1);
		ck_assert_ptr_eq(arg_seen, (void *)off);
		ck_assert((char *)local_seen < top);
		for (i = 0; i < 256; i++)
			if (above[i] != 0x5a)
				ck_abort_msg("byte %zu above top (offset %zu) "
					     "was overwritten", i, off);
	}
	tstack_free(&s);
}
END_TEST

/* ---- ping-pong ------------------------------------------------------------- */

#define PINGPONG 100000L

static void *pp_sp;
static volatile long pp_in, pp_out;

static void pingpong_entry(void *arg)
{
	long n = 0, mult = (long)(intptr_t)arg;

	for (;;) {
		long v = pp_in;

		if (v < 0) {
			/* Report how many rounds this context saw itself. */
			pp_out = n;
		} else {
			if (v != n)
				ck_abort_msg("round %ld: context got %ld", n,
					     v);
			pp_out = v * mult + 1;
			n++;
		}
		smarm__ctx_switch(&pp_sp, main_sp);
	}
}

START_TEST(test_pingpong)
{
	tstack s;
	long i;

	/* A malloc'd stack with an unaligned top. */
	tstack_malloc(&s, 64 * 1024 + 7);
	pp_sp = smarm__ctx_make(s.top, pingpong_entry, (void *)(intptr_t)3);
	for (i = 0; i < PINGPONG; i++) {
		pp_in = i;
		pp_out = -1;
		smarm__ctx_switch(&main_sp, pp_sp);
		if (pp_out != i * 3 + 1)
			ck_abort_msg("round %ld: got %ld back, want %ld", i,
				     (long)pp_out, i * 3 + 1);
	}
	pp_in = -1;
	smarm__ctx_switch(&main_sp, pp_sp);
	ck_assert_int_eq(pp_out, PINGPONG);
	tstack_free(&s);
}
END_TEST

/* ---- callee-saved registers ---------------------------------------------------- */

static volatile uint64_t post_value = 0x9e3779b97f4a7c15ull;

/*
 * Keeps eight values live across the switch (more than the six callee-
 * saved registers, so some live in the frame too).  The result mixes each
 * with a value read only after the switch, so that the compiler cannot
 * fold them into one before it.  With save NULL it does not switch: that
 * gives the expected result.
 */
static __attribute__((noinline)) uint64_t keep_live(uint64_t seed,
						    void **save, void *load)
{
	uint64_t a = seed * 0x100000001b3ull, b = a ^ (seed >> 7);
	uint64_t c = b * 31 + seed, d = c ^ (a << 3), e = d + (b >> 11);
	uint64_t f = e * 0xff51afd7ed558ccdull, g = f ^ (c >> 5), h = g + a;
	uint64_t p;

	if (save)
		smarm__ctx_switch(save, load);
	p = post_value;
	return ((a ^ p) * (b + p)) ^ ((c ^ p) * (d + p)) ^
	       ((e ^ p) * (f + p)) ^ ((g ^ p) * (h + p)) ^ (a + h) * p;
}

/* Put garbage in every callee-saved register but rbp (which the compiler
 * may need as frame pointer) and switch with it there. */
static __attribute__((noinline)) void clobber_and_switch(void **save,
							 void *load)
{
	__asm__ volatile("movq $0x1111111111111111, %%rbx\n\t"
			 "movq $0x1212121212121212, %%r12\n\t"
			 "movq $0x1313131313131313, %%r13\n\t"
			 "movq $0x1414141414141414, %%r14\n\t"
			 "movq $0x1515151515151515, %%r15\n\t"
			 : : : "rbx", "r12", "r13", "r14", "r15", "memory");
	smarm__ctx_switch(save, load);
	/* No tail call: that would restore our callers' registers first. */
	__asm__ volatile("" : : : "memory");
}

static void *cs_sp;
static volatile int cs_mode;      /* 0: keep_live, 1: clobber, 2: report */
static volatile uint64_t cs_seed;
static volatile long cs_bad, cs_rounds;

static void callee_saved_entry(void *arg)
{
	(void)arg;
	for (;;) {
		if (cs_mode == 0) {
			uint64_t seed = cs_seed ^ 0x5555;
			uint64_t want = keep_live(seed, NULL, NULL);

			if (keep_live(seed, &cs_sp, main_sp) != want)
				cs_bad++;
			cs_rounds++;
		} else {
			clobber_and_switch(&cs_sp, main_sp);
		}
	}
}

START_TEST(test_callee_saved)
{
	tstack s;
	uint64_t seed;
	long bad = 0;

	tstack_map(&s, 64 * 1024);
	cs_sp = smarm__ctx_make(s.top, callee_saved_entry, NULL);
	cs_mode = 0;
	for (seed = 1; seed <= 2000; seed++) {
		uint64_t want = keep_live(seed, NULL, NULL), got;

		cs_seed = seed;
		cs_mode = (int)(seed & 1);
		/* The other context is suspended inside keep_live with its
		 * own values live, or has just loaded garbage. */
		got = keep_live(seed, &main_sp, cs_sp);
		if (got != want)
			bad++;
	}
	ck_assert_msg(bad == 0, "%ld of 2000 results in the main context "
		      "changed across a switch", bad);
	ck_assert_msg(cs_bad == 0, "%ld results in the other context changed "
		      "across a switch", (long)cs_bad);
	ck_assert_int_gt(cs_rounds, 900);
	tstack_free(&s);
}
END_TEST

/* ---- alignment ------------------------------------------------------------- */

typedef struct align_report {
	uintptr_t frame, local, nested, resumed;
	char text[64];
} align_report;

static align_report ar;
static void *al_sp;

static __attribute__((noinline)) uintptr_t aligned_local_addr(void)
{
	volatile double v __attribute__((aligned(16))) = 1.0;
	uintptr_t a = (uintptr_t)&v;

	/* Hide the address from the compiler, which knows it is aligned. */
	__asm__("" : "+r"(a));
	return a;
}

static __attribute__((noinline)) void align_entry(void *arg)
{
	volatile double x __attribute__((aligned(16))) = 1.5;
	volatile long double y = 2.25L;
	uintptr_t a;

	(void)arg;
	ar.frame = (uintptr_t)__builtin_frame_address(0);
	a = (uintptr_t)&x;
	__asm__("" : "+r"(a));
	ar.local = a;
	ar.nested = aligned_local_addr();
	/* glibc's printf of floating point uses aligned SSE stores on the
	 * stack: it crashes if the stack is misaligned. */
	snprintf(ar.text, sizeof(ar.text), "%.3f %Lf %Lg", x, y,
		 y * (long double)x);
	smarm__ctx_switch(&al_sp, main_sp);
	ar.resumed = aligned_local_addr();
	smarm__ctx_switch(&al_sp, main_sp);
	ck_abort_msg("resumed a third time");
}

START_TEST(test_alignment)
{
	tstack s;
	size_t off;

	tstack_map(&s, 64 * 1024);
	for (off = 0; off < 32; off++) {
		memset(&ar, 0xff, sizeof(ar));
		tstack_clean(&s);
		al_sp = smarm__ctx_make(s.top - off, align_entry, NULL);
		ck_assert_uint_eq((uintptr_t)al_sp % 16, 0);
		smarm__ctx_switch(&main_sp, al_sp);
		ck_assert_msg(ar.frame % 16 == 0,
			      "top-%zu: frame address %#lx misaligned", off,
			      (unsigned long)ar.frame);
		ck_assert_msg(ar.local % 16 == 0,
			      "top-%zu: aligned local at %#lx", off,
			      (unsigned long)ar.local);
		ck_assert_msg(ar.nested % 16 == 0,
			      "top-%zu: nested aligned local at %#lx", off,
			      (unsigned long)ar.nested);
		ck_assert_str_eq(ar.text, "1.500 2.250000 3.375");
		smarm__ctx_switch(&main_sp, al_sp);
		ck_assert_msg(ar.resumed % 16 == 0,
			      "top-%zu: after a resume, local at %#lx", off,
			      (unsigned long)ar.resumed);
	}
	tstack_free(&s);
}
END_TEST

/* ---- floating-point control state ------------------------------------------- */

static unsigned read_mxcsr(void)
{
	unsigned m;

	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static unsigned read_x87cw(void)
{
	unsigned short cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

/* Rounding mode bits as fenv.h spells them (FE_* are the x87 RC bits). */
static int sse_round(void)
{
	return (int)((read_mxcsr() >> 3) & 0xc00);
}

static int x87_round(void)
{
	return (int)(read_x87cw() & 0xc00);
}

/*
 * How the units really round: q(1/3) + q(-1/3) is 0 when rounding to
 * nearest and positive when rounding upwards.
 */
static int sse_sign(void)
{
	volatile double one = 1.0, mone = -1.0, three = 3.0;
	double a = one / three, b = mone / three;
	volatile double sum = a + b;

	return sum > 0 ? 1 : sum < 0 ? -1 : 0;
}

static int x87_sign(void)
{
	volatile long double one = 1.0L, mone = -1.0L, three = 3.0L;
	long double a = one / three, b = mone / three;
	volatile long double sum = a + b;

	return sum > 0 ? 1 : sum < 0 ? -1 : 0;
}

/*
 * valgrind tracks MXCSR and the x87 control word but its arithmetic always
 * rounds to nearest, so how the units really round is checked only on the
 * real CPU; the control registers are checked everywhere.
 */
#define CHECK_ARITH(got, want)                                               \
	do {                                                                 \
		if (!RUNNING_ON_VALGRIND)                                    \
			ck_assert_int_eq((got), (want));                     \
	} while (0)

typedef struct fp_report {
	unsigned mxcsr, x87cw;
	int round, sse, x87, sse_sign, x87_sign;
} fp_report;

static void fp_snapshot(fp_report *r)
{
	r->mxcsr = read_mxcsr();
	r->x87cw = read_x87cw();
	r->round = fegetround();
	r->sse = sse_round();
	r->x87 = x87_round();
	r->sse_sign = sse_sign();
	r->x87_sign = x87_sign();
}

static fp_report fp_fresh, fp_a1, fp_a2, fp_a3;
static void *fp_sp;

static void fenv_entry(void *arg)
{
	(void)arg;
	fp_snapshot(&fp_fresh);
	fesetround(FE_UPWARD);
	fp_snapshot(&fp_a1);
	smarm__ctx_switch(&fp_sp, main_sp);
	fp_snapshot(&fp_a2);
	smarm__ctx_switch(&fp_sp, main_sp);
	fp_snapshot(&fp_a3);
	fesetround(FE_TONEAREST);
	smarm__ctx_switch(&fp_sp, main_sp);
	ck_abort_msg("resumed a fourth time");
}

START_TEST(test_fenv_per_context)
{
	fp_report m;
	tstack s;

	tstack_map(&s, 64 * 1024);
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
	fp_sp = smarm__ctx_make(s.top, fenv_entry, NULL);
	smarm__ctx_switch(&main_sp, fp_sp);

	/* The other context switched to FE_UPWARD and it took effect
	 * there ... */
	ck_assert_int_eq(fp_a1.round, FE_UPWARD);
	ck_assert_int_eq(fp_a1.sse, FE_UPWARD);
	ck_assert_int_eq(fp_a1.x87, FE_UPWARD);
	CHECK_ARITH(fp_a1.sse_sign, 1);
	CHECK_ARITH(fp_a1.x87_sign, 1);
	/* ... but not here. */
	fp_snapshot(&m);
	ck_assert_int_eq(m.round, FE_TONEAREST);
	ck_assert_int_eq(m.sse, FE_TONEAREST);
	ck_assert_int_eq(m.x87, FE_TONEAREST);
	CHECK_ARITH(m.sse_sign, 0);
	CHECK_ARITH(m.x87_sign, 0);

	/* Change ours; the other keeps FE_UPWARD. */
	ck_assert_int_eq(fesetround(FE_TOWARDZERO), 0);
	smarm__ctx_switch(&main_sp, fp_sp);
	ck_assert_int_eq(fp_a2.round, FE_UPWARD);
	ck_assert_int_eq(fp_a2.sse, FE_UPWARD);
	ck_assert_int_eq(fp_a2.x87, FE_UPWARD);
	CHECK_ARITH(fp_a2.sse_sign, 1);
	CHECK_ARITH(fp_a2.x87_sign, 1);
	fp_snapshot(&m);
	ck_assert_int_eq(m.round, FE_TOWARDZERO);
	ck_assert_int_eq(m.sse, FE_TOWARDZERO);
	ck_assert_int_eq(m.x87, FE_TOWARDZERO);

	ck_assert_int_eq(fesetround(FE_TONEAREST), 0);
	smarm__ctx_switch(&main_sp, fp_sp);
	ck_assert_int_eq(fp_a3.round, FE_UPWARD);
	ck_assert_int_eq(fp_a3.sse, FE_UPWARD);
	ck_assert_int_eq(fp_a3.x87, FE_UPWARD);
	/* The other went back to nearest before switching: we are at
	 * nearest because we were, not because of it. */
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
	CHECK_ARITH(sse_sign(), 0);
	tstack_free(&s);
}
END_TEST

START_TEST(test_fenv_fresh_default)
{
	static const int modes[] = { FE_TONEAREST, FE_DOWNWARD, FE_UPWARD,
				     FE_TOWARDZERO };
	size_t i;

	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
		tstack s;

		tstack_map(&s, 64 * 1024);
		/* Whatever the creator uses, a fresh context starts at the
		 * ABI's defaults: round to nearest, exceptions masked,
		 * x87 at extended precision. */
		ck_assert_int_eq(fesetround(modes[i]), 0);
		memset(&fp_fresh, 0xff, sizeof(fp_fresh));
		fp_sp = smarm__ctx_make(s.top, fenv_entry, NULL);
		smarm__ctx_switch(&main_sp, fp_sp);
		ck_assert_int_eq(fegetround(), modes[i]);
		ck_assert_int_eq(sse_round(), modes[i]);
		ck_assert_int_eq(fp_fresh.round, FE_TONEAREST);
		ck_assert_int_eq(fp_fresh.sse, FE_TONEAREST);
		ck_assert_int_eq(fp_fresh.x87, FE_TONEAREST);
		ck_assert_uint_eq(fp_fresh.mxcsr & ~0x3fu, 0x1f80u);
		ck_assert_uint_eq(fp_fresh.x87cw, 0x037fu);
		CHECK_ARITH(fp_fresh.sse_sign, 0);
		CHECK_ARITH(fp_fresh.x87_sign, 0);
		tstack_free(&s);
	}
	fesetround(FE_TONEAREST);
}
END_TEST

/* ---- many contexts --------------------------------------------------------- */

#define NCTX 1000
#define RR_ROUNDS 100
#define RR_STACK (32u * 1024u)

static void *rr_sp[NCTX];
static long rr_seq;
static long rr_visits[NCTX];
static long rr_bad;
static const int rr_modes[4] = { FE_TONEAREST, FE_UPWARD, FE_DOWNWARD,
				 FE_TOWARDZERO };

static void rr_entry(void *arg)
{
	long i = (long)(intptr_t)arg, round;
	int mode = rr_modes[i % 4];
	volatile long mine[4] = { i, i * 7, i ^ 0x5a5a, -i };

	fesetround(mode);
	for (round = 0;; round++) {
		if (rr_seq != round * NCTX + i || fegetround() != mode ||
		    sse_round() != mode || mine[0] != i || mine[1] != i * 7 ||
		    mine[2] != (i ^ 0x5a5a) || mine[3] != -i)
			rr_bad++;
		rr_seq++;
		rr_visits[i]++;
		/* Straight on to the next context; the last one returns to
		 * the main context. */
		smarm__ctx_switch(&rr_sp[i], i + 1 < NCTX ? rr_sp[i + 1]
							   : main_sp);
	}
}

START_TEST(test_many_contexts)
{
	size_t len = (size_t)NCTX * RR_STACK;
	char *map = mmap(NULL, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	unsigned vg[NCTX];
	long i, round;

	ck_assert_ptr_ne(map, MAP_FAILED);
	for (i = 0; i < NCTX; i++) {
		char *lo = map + (size_t)i * RR_STACK;

		vg[i] = VALGRIND_STACK_REGISTER(lo, lo + RR_STACK);
		rr_sp[i] = smarm__ctx_make(lo + RR_STACK, rr_entry,
					   (void *)(intptr_t)i);
	}
	for (round = 0; round < RR_ROUNDS; round++) {
		smarm__ctx_switch(&main_sp, rr_sp[0]);
		ck_assert_int_eq(rr_seq, (round + 1) * NCTX);
		ck_assert_int_eq(fegetround(), FE_TONEAREST);
	}
	ck_assert_int_eq(rr_bad, 0);
	for (i = 0; i < NCTX; i++)
		if (rr_visits[i] != RR_ROUNDS)
			ck_abort_msg("context %ld ran %ld times", i,
				     rr_visits[i]);
	for (i = 0; i < NCTX; i++)
		VALGRIND_STACK_DEREGISTER(vg[i]);
	smarm__fiber_clean(map, len); /* see tstack_clean */
	munmap(map, len);
}
END_TEST

/* ---- the edges ----------------------------------------------------------------- */

static void returning_entry(void *arg)
{
	*(int *)arg = 1;
}

/* An entry that returns lands on ud2 in smarm__ctx_start: SIGILL, not a
 * jump into whatever lies above the frame. */
START_TEST(test_entry_return_traps)
{
	static int ran;
	tstack s;
	void *sp;

	tstack_map(&s, 64 * 1024);
	sp = smarm__ctx_make(s.top, returning_entry, &ran);
	smarm__ctx_switch(&main_sp, sp);
	ck_abort_msg("the entry returned and came back (ran=%d)", ran);
}
END_TEST

static void *bt_frames[64];
static int bt_n;
static void *bt_sp;

static __attribute__((noinline)) void bt_entry(void *arg)
{
	(void)arg;
	bt_n = backtrace(bt_frames, 64);
	smarm__ctx_switch(&bt_sp, main_sp);
	ck_abort_msg("resumed a second time");
}

/* An unwinder stops cleanly at smarm__ctx_start instead of walking past
 * the top of the stack. */
START_TEST(test_unwind_stops)
{
	tstack s;
	uintptr_t last, start = (uintptr_t)smarm__ctx_start;

	tstack_map(&s, 64 * 1024);
	bt_n = -1;
	bt_sp = smarm__ctx_make(s.top, bt_entry, NULL);
	smarm__ctx_switch(&main_sp, bt_sp);
	ck_assert_int_ge(bt_n, 2);
	ck_assert_int_lt(bt_n, 64);
	last = (uintptr_t)bt_frames[bt_n - 1];
	ck_assert_msg(last > start && last <= start + 16,
		      "the last frame (%#lx) is not in smarm__ctx_start (%#lx)",
		      (unsigned long)last, (unsigned long)start);
	tstack_free(&s);
}
END_TEST

/* ---- the suite --------------------------------------------------------------- */

static Suite *context_suite(void)
{
	Suite *s = suite_create("context");
	TCase *tc;

	tc = tcase_add(s, "entry");
	tcase_add_test(tc, test_entry_arg);
	tcase_add_test(tc, test_make_stays_below_top);

	tc = tcase_add(s, "pingpong");
	tcase_add_test(tc, test_pingpong);

	tc = tcase_add(s, "registers");
	tcase_add_test(tc, test_callee_saved);

	tc = tcase_add(s, "alignment");
	tcase_add_test(tc, test_alignment);

	tc = tcase_add(s, "fenv");
	tcase_add_test(tc, test_fenv_per_context);
	tcase_add_test(tc, test_fenv_fresh_default);

	tc = tcase_add(s, "many");
	tcase_add_test(tc, test_many_contexts);

	tc = tcase_add(s, "edges");
	tcase_add_test_raise_signal(tc, test_entry_return_traps, SIGILL);
	tcase_add_test(tc, test_unwind_stops);

	return s;
}

int main(void)
{
	return run_suite(context_suite());
}
