/*
 * fiber.h - telling the sanitizers about context switches.
 *
 * Actors switch stacks behind the compiler's back (switch.S).  Without
 * being told, ThreadSanitizer would take an actor that moved to another
 * worker for the thread it started on, and its shadow stack would go
 * astray; AddressSanitizer would take the actor's stack for a wild part
 * of the thread's, and its clean-up at a call that does not return
 * (__asan_handle_no_return) would unpoison the wrong range or none.
 *
 * In a build with -fsanitize=thread every actor and every worker's own
 * context is a ThreadSanitizer fiber, and each switch names the fiber it
 * goes to.  In a build with -fsanitize=address each switch is announced
 * with the stack it goes to (__sanitizer_start_switch_fiber) and
 * finished on that stack (__sanitizer_finish_switch_fiber); a context
 * that leaves for good passes no place to save its fake stack (the
 * frames moved off the stack for use-after-return detection), so that the
 * sanitizer frees it.  An actor's stack is its smarm__stack; a worker's
 * own context runs on its thread's stack, whose bounds the sanitizer
 * itself reports at the first switch from it (every worker thread starts
 * its first actor from its own context).  A stack goes back to the cache
 * with its shadow cleared: frames left behind by an actor that ended
 * (or overflowed) must not poison the next one's.
 *
 * In any other build all of this compiles to nothing.
 *
 * Owns: the sanitizers' fiber calls.  May touch: nothing in lib/.
 */
#ifndef SMARM_FIBER_H
#define SMARM_FIBER_H

#include <stddef.h>

#if defined(__SANITIZE_THREAD__)
#define SMARM__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMARM__TSAN 1
#endif
#endif

#if defined(__SANITIZE_ADDRESS__)
#define SMARM__ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SMARM__ASAN 1
#endif
#endif

#ifdef SMARM__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

#define SMARM__TSAN_FIELD void *fiber;
#define smarm__tsan_current(p) ((p)->fiber = __tsan_get_current_fiber())
#define smarm__fiber_create(p) ((p)->fiber = __tsan_create_fiber(0))
#define smarm__fiber_destroy(p) __tsan_destroy_fiber((p)->fiber)
#define smarm__tsan_switch(p) __tsan_switch_to_fiber((p)->fiber, 0)
#else
#define SMARM__TSAN_FIELD
#define smarm__tsan_current(p) ((void)0)
#define smarm__fiber_create(p) ((void)(p))
#define smarm__fiber_destroy(p) ((void)(p))
#define smarm__tsan_switch(p) ((void)0)
#endif

#ifdef SMARM__ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>

/* The fake stack a context saved when it left, and (a worker's own
 * context only) its thread's stack. */
#define SMARM__ASAN_FIELD void *asan_fake; const void *asan_lo; \
	size_t asan_size;

/* Finish a switch on the stack arrived at; fake is what the arriving
 * context saved when it left (NULL at an actor's first entry).  The
 * stack left is the worker's own at the first switch on this thread:
 * keep it, for the switches back to the worker's context. */
static inline void smarm__asan_arrive(void *fake, const void **wlo,
				      size_t *wsize)
{
	const void *lo;
	size_t size;

	__sanitizer_finish_switch_fiber(fake, &lo, &size);
	if (*wsize == 0) {
		*wlo = lo;
		*wsize = size;
	}
}

#define smarm__asan_current(w) ((w)->asan_size = 0)
#define smarm__asan_save(p) (&(p)->asan_fake)
#define smarm__asan_switch(save, lo, size) \
	__sanitizer_start_switch_fiber((save), (lo), (size))
#define smarm__fiber_arrived(p, w) \
	smarm__asan_arrive((p)->asan_fake, &(w)->asan_lo, &(w)->asan_size)
#define smarm__fiber_entered(w) \
	smarm__asan_arrive(NULL, &(w)->asan_lo, &(w)->asan_size)
#define smarm__fiber_home(w) \
	__sanitizer_finish_switch_fiber((w)->asan_fake, NULL, NULL)
#define smarm__fiber_home_lo(w) ((w)->asan_lo)
#define smarm__fiber_home_size(w) ((w)->asan_size)
/* The code running now moved to the stack [lo, lo + size) for good (a
 * signal handler redirected it there), leaving the old one's frames. */
#define smarm__fiber_moved(lo, size) \
	(__sanitizer_start_switch_fiber(NULL, (lo), (size)), \
	 __sanitizer_finish_switch_fiber(NULL, NULL, NULL))
/* Nothing runs on [lo, lo + size) any more: clear its shadow. */
#define smarm__fiber_clean(lo, size) ASAN_UNPOISON_MEMORY_REGION((lo), (size))
#else
#define SMARM__ASAN_FIELD
#define smarm__asan_current(w) ((void)0)
#define smarm__asan_switch(save, lo, size) ((void)0)
#define smarm__fiber_arrived(p, w) ((void)0)
#define smarm__fiber_entered(w) ((void)0)
#define smarm__fiber_home(w) ((void)0)
#define smarm__fiber_moved(lo, size) ((void)0)
#define smarm__fiber_clean(lo, size) ((void)0)
#endif

/* The fields of an actor or a worker (sanitizer builds only). */
#define SMARM__FIBER_FIELD SMARM__TSAN_FIELD SMARM__ASAN_FIELD

/* A worker's own context, at the start of its loop on its thread. */
#define smarm__fiber_current(w) \
	(smarm__tsan_current(w), smarm__asan_current(w))

/* Right before the switch to actor p, whose stack is st, from the
 * context self (an actor, or the worker); last: self ends for good. */
#define smarm__fiber_switch(self, last, p, st) \
	(smarm__tsan_switch(p), \
	 smarm__asan_switch((last) ? NULL : smarm__asan_save(self), \
			    (st)->lo, (size_t)((st)->top - (st)->lo)))
/* Right before the switch from actor self to its worker w's context. */
#define smarm__fiber_switch_home(self, last, w) \
	(smarm__tsan_switch(w), \
	 smarm__asan_switch((last) ? NULL : smarm__asan_save(self), \
			    smarm__fiber_home_lo(w), smarm__fiber_home_size(w)))

#endif /* SMARM_FIBER_H */
