/*
 * fiber.h - telling ThreadSanitizer about context switches.
 *
 * Actors switch stacks behind the compiler's back (switch.S): without
 * being told, ThreadSanitizer would take an actor that moved to another
 * worker for the thread it started on, and its shadow stack would go
 * astray.  In a build with -fsanitize=thread every actor and every
 * worker's own context is a ThreadSanitizer fiber, and each switch names
 * the fiber it goes to.  In any other build all of this compiles to
 * nothing.
 *
 * Owns: the sanitizer's fiber calls.  May touch: nothing in lib/.
 */
#ifndef SMARM_FIBER_H
#define SMARM_FIBER_H

#if defined(__SANITIZE_THREAD__)
#define SMARM__TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define SMARM__TSAN 1
#endif
#endif

#ifdef SMARM__TSAN
void *__tsan_get_current_fiber(void);
void *__tsan_create_fiber(unsigned flags);
void __tsan_destroy_fiber(void *fiber);
void __tsan_switch_to_fiber(void *fiber, unsigned flags);

#define SMARM__FIBER_FIELD void *fiber;
#define smarm__fiber_current(p) ((p)->fiber = __tsan_get_current_fiber())
#define smarm__fiber_create(p) ((p)->fiber = __tsan_create_fiber(0))
#define smarm__fiber_destroy(p) __tsan_destroy_fiber((p)->fiber)
/* Right before the switch to the context of p. */
#define smarm__fiber_switch(p) __tsan_switch_to_fiber((p)->fiber, 0)
#else
#define SMARM__FIBER_FIELD
#define smarm__fiber_current(p) ((void)(p))
#define smarm__fiber_create(p) ((void)(p))
#define smarm__fiber_destroy(p) ((void)(p))
#define smarm__fiber_switch(p) ((void)(p))
#endif

#endif /* SMARM_FIBER_H */
