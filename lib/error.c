/*
 * error.c - smarm_strerror: a message for every code the library returns,
 * worded for what the code means in smarm.  smarm_strerror(3) lists the
 * codes the calls return; keep the two in step.
 *
 * Owns: the error strings.  May touch: nothing in lib/.
 */
#include "config.h"

#include <errno.h>

#include "smarm.h"

const char *smarm_strerror(int err)
{
	switch (err) {
	case 0:
		return "Success";
	case EINVAL:
		return "Invalid argument";
	case ESRCH:
		return "No such actor (stale, joined or detached pid), or no runtime";
	case ETIMEDOUT:
		return "Timed out";
	case EPIPE:
		return "Channel closed";
	case ENOMEM:
		return "Out of memory";
	case EAGAIN:
		return "Resource temporarily unavailable";
	case EPERM:
		return "Not permitted in this context (inside or outside an actor)";
	case EDEADLK:
		return "Deadlock (an actor joining itself, or every actor parked for good)";
	case EBUSY:
		return "Busy (the actor is being joined, a runtime is running, another actor receives on the channel, or the mutex is held)";
	case ENOTSUP:
		return "Not supported";
	case SMARM_EPANIC:
		return "Actor panicked";
	case ECANCELED:
		return "Cancelled (smarm_cancel, or a deadline passed)";
	case EOWNERDEAD:
		return "Owner ended holding the mutex (now yours; its data may be half-updated)";
	/* No call returns this one; it keeps its plain meaning rather than
	 * read "Unknown error". */
	case ERANGE:
		return "Result out of range";
	default:
		return "Unknown error";
	}
}
