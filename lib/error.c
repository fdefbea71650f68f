/*
 * error.c - smarm_strerror: a message for every code the library returns,
 * worded for what the code means in smarm.  smarm_strerror(3) lists the
 * codes the calls return; keep the two in step.  The system's other
 * errors, which the I/O calls pass on from the kernel (ECONNRESET,
 * EMFILE, ...), read as the C library words them.
 *
 * Owns: the error strings.  May touch: nothing in lib/.
 */
#include "config.h"

#include <errno.h>
#include <string.h>

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
		return "Channel or connection closed at the other end";
	case EBADF:
		return "Bad file descriptor (not open, or closed with smarm_close while waited on)";
	case ENOMEM:
		return "Out of memory";
	case EAGAIN:
		return "Resource temporarily unavailable";
	case EPERM:
		return "Not permitted in this context (inside or outside an actor)";
	case EDEADLK:
		return "Deadlock (an actor joining itself, or every actor parked for good)";
	case EBUSY:
		return "Busy (the actor is being joined, a runtime is running, another actor receives on the channel or waits on the descriptor, or the mutex is held)";
	case ENOTSUP:
		return "Not supported";
	case SMARM_EPANIC:
		return "Actor panicked";
	case ECANCELED:
		return "Cancelled (smarm_cancel, a deadline passed, or smarm_shutdown)";
	case EOWNERDEAD:
		return "Owner ended holding the mutex (now yours; its data may be half-updated)";
	/* No call returns this one; it keeps its plain meaning rather than
	 * read "Unknown error". */
	case ERANGE:
		return "Result out of range";
	default:
		/* The system's own errors that the I/O calls pass on. */
		if (err > 0 && err < 4096 && strerrordesc_np(err) != NULL)
			return strerrordesc_np(err);
		return "Unknown error";
	}
}
