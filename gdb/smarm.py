# smarm.py - gdb commands to look at a stopped smarm program.
#
#   (gdb) source /usr/share/smarm/gdb/smarm.py
#   (gdb) smarm-actors          every live actor: pid, name, state, wait, worker
#   (gdb) smarm-bt PID          the backtrace of a parked actor
#
# Needs the library's debug information (the build uses -g by default;
# Debian's is in the -dbgsym package).  It reads the runtime that is
# running (the registry `reach_rt` in lib/mailbox.c), its slot table
# (lib/pid.h), its workers (lib/worker.h) and each actor's control block
# (lib/sched.h): the wait reasons' numbers below are SMARM__WHY_* there,
# and the saved registers' layout is lib/arch/x86_64/switch.S's.
#
# smarm-bt loads the actor's saved registers into the selected thread for
# the time of a `backtrace`, then puts the thread's own back: use it on a
# live process that is stopped (not on a core file), and do not let the
# program run between.

import gdb

STATES = {0: "running", 1: "parked", 2: "waking"}
# kind -> (text, how the value shows: "ptr", "num", "hex", "pid" or None)
WHY = {
    1: ("channel recv", "ptr"),
    2: ("channel send", "ptr"),
    3: ("mailbox receive", None),
    4: ("join of actor", "pid"),
    5: ("mutex", "hex"),
    6: ("sleep", None),
    7: ("fd read", "num"),
    8: ("fd write", "num"),
    9: ("block_on_io", None),
    10: ("signal wait", None),
    11: ("select over", "num"),
}
WHY_SHIFT = 4
SLOT_LIVE = 1
CHUNK_BITS = 12


def runtime():
    sym = gdb.lookup_static_symbol("reach_rt")
    if sym is None:
        raise gdb.GdbError("smarm: no debug information for libsmarm "
                           "(reach_rt not found)")
    rt = sym.value()
    if int(rt) == 0:
        raise gdb.GdbError("smarm: no runtime is running")
    return rt


def slot_pid(slot):
    return (int(slot["gen"]) << 32) | (int(slot["index"]) + 1)


def live_slots(rt):
    pids = rt["pids"]
    n = int(pids["nchunks"]["v"]) << CHUNK_BITS
    for k in range(n):
        slot = pids["dir"][k >> CHUNK_BITS][k & ((1 << CHUNK_BITS) - 1)]
        if int(slot["state"]) == SLOT_LIVE and int(slot["actor"]) != 0:
            yield slot


def worker_of(rt, w):
    if int(w) == 0:
        return None
    size = rt["workers"].dereference().type.sizeof
    return (int(w) - int(rt["workers"])) // size


def running_on(rt, actor):
    for i in range(int(rt["nworkers"])):
        if int(rt["workers"][i]["h"]["current"]) == int(actor):
            return i
    return None


def wait_text(why):
    kind = why & ((1 << WHY_SHIFT) - 1)
    text, show = WHY.get(kind, ("unknown", None))
    if show == "ptr":
        return "%s 0x%x" % (text, why & ~((1 << WHY_SHIFT) - 1))
    val = why >> WHY_SHIFT
    if show == "num":
        return "%s %d%s" % (text, val, " channels" if kind == 11 else "")
    if show == "hex":
        return "%s 0x%x" % (text, val)
    if show == "pid":
        slot = gdb.Value(val).cast(
            gdb.lookup_type("smarm__slot").pointer()).dereference()
        return "%s %d" % (text, slot_pid(slot))
    return text


def describe(rt, slot):
    actor = slot["actor"]
    on = running_on(rt, actor)
    if on is not None:
        return "running", "", on
    state = int(actor["pstate"]["v"])
    w = worker_of(rt, actor["worker"])
    if state == 1:
        return "parked", wait_text(int(actor["why"]["v"])), w
    return ("runnable" if state == 0 else STATES.get(state, "?")), "", w


class Actors(gdb.Command):
    """List the live actors of the running smarm runtime:
pid, name, state, what a parked one waits on, and its worker."""

    def __init__(self):
        super().__init__("smarm-actors", gdb.COMMAND_DATA)

    def invoke(self, arg, from_tty):
        rt = runtime()
        out = ["%-12s %-16s %-9s %-6s %s" %
               ("pid", "name", "state", "worker", "waits on")]
        for slot in live_slots(rt):
            state, why, w = describe(rt, slot)
            out.append("%-12d %-16s %-9s %-6s %s" % (
                slot_pid(slot), "'%s'" % slot["name"].string(),
                state, "-" if w is None else w, why))
        gdb.write("\n".join(out) + "\n")


def find_actor(rt, want):
    for slot in live_slots(rt):
        if slot_pid(slot) == want or int(slot["index"]) + 1 == want:
            return slot
    raise gdb.GdbError("smarm: no live actor %d" % want)


REGS = ["rsp", "rbp", "rip", "rbx", "r12", "r13", "r14", "r15"]


class Backtrace(gdb.Command):
    """Backtrace of a parked smarm actor: smarm-bt PID.
PID is the id of its smarm_pid (as smarm-actors shows it, or its slot
number, the low 32 bits), or any expression with that value."""

    def __init__(self):
        super().__init__("smarm-bt", gdb.COMMAND_STACK)

    def invoke(self, arg, from_tty):
        if not arg:
            raise gdb.GdbError("usage: smarm-bt PID")
        want = int(gdb.parse_and_eval(arg))
        rt = runtime()
        slot = find_actor(rt, want)
        actor = slot["actor"]
        on = running_on(rt, actor)
        if on is not None:
            raise gdb.GdbError("smarm: actor %d runs on worker %d: "
                               "use that thread's backtrace" % (want, on))
        sp = int(actor["sp"])
        if sp == 0:
            raise gdb.GdbError("smarm: actor %d has not run yet" % want)
        u64 = gdb.lookup_type("unsigned long").pointer()

        def at(off):
            return int(gdb.Value(sp + off).cast(u64).dereference())
        # switch.S: MXCSR/x87 at +0, then r15 r14 r13 r12 rbx rbp, and
        # the return address; the caller's stack pointer is above it.
        saved = {"r15": at(8), "r14": at(16), "r13": at(24),
                 "r12": at(32), "rbx": at(40), "rbp": at(48),
                 "rip": at(56), "rsp": sp + 64}
        gdb.execute("frame 0", to_string=True)
        old = {r: int(gdb.parse_and_eval("$" + r)) for r in REGS}
        gdb.write("actor %d '%s':\n" % (slot_pid(slot),
                                        slot["name"].string()))
        try:
            for r in REGS:
                gdb.execute("set $%s = %d" % (r, saved[r]), to_string=True)
            gdb.execute("backtrace")
        finally:
            gdb.execute("frame 0", to_string=True)
            for r in REGS:
                gdb.execute("set $%s = %d" % (r, old[r]), to_string=True)


Actors()
Backtrace()
