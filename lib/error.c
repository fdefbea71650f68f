/*
 * error.c - smarm_strerror: a message for every code the library returns,
 * worded for what the code means in smarm.
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
		return "No such actor (stale, joined or detached pid)";
	case ETIMEDOUT:
		return "Timed out";
	case EPIPE:
		return "Channel closed";
	case ENOMEM:
		return "Out of memory";
	case EAGAIN:
		return "Resource temporarily unavailable";
	case ECANCELED:
		return "Canceled";
	case EPERM:
		return "Not allowed from this context (outside an actor?)";
	case EDEADLK:
		return "Deadlock (an actor joining itself, or every actor parked for good)";
	case EBUSY:
		return "Busy (already joined, or a runtime already running)";
	case ENOTSUP:
		return "Not supported";
	case ERANGE:
		return "Result out of range";
	case SMARM_EPANIC:
		return "Actor panicked";
	default:
		return "Unknown error";
	}
}
