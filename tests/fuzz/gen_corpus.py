#!/usr/bin/env python3
"""gen_corpus.py - writes the seed corpus of the fuzz harness.

Usage: tests/fuzz/gen_corpus.py [DIRECTORY]   (default tests/fuzz/corpus)

The input format is described at the top of fuzz_api.c: a header of two
bytes, then (actor | op << 3, argument) pairs.  The seeds cover every op
and every kid behaviour, with 1 and 2 workers, plus a few mixed programs
drawn from a fixed-seed generator.  Files are named seed-*; inputs that
once failed are kept beside them as crash-* and are not rewritten here.
"""
import os
import random
import sys

OPS = ["send", "send2", "recv", "try_recv", "tx_clone", "tx_close",
       "rx_close", "send_to", "receive", "spawn", "join", "detach",
       "cancel", "yield", "sleep", "lock", "trylock", "unlock", "select",
       "group_spawn", "group_join", "group_cancel", "group_free", "monitor"]
K_SEND, K_WAIT, K_LOCK, K_PANIC = 3, 6, 5, 2


def header(threads, nmain, empty_mailbox=0, kinds=0, outsider=0):
    return bytes([(threads - 1) | ((nmain - 1) << 1) | (empty_mailbox << 4) |
                  (outsider << 5), kinds])


def op(actor, name, arg):
    return bytes([(OPS.index(name) << 3) | actor, arg & 0xff])


def per_op(name, threads):
    """Two actors, a few kids, then the op under test with varied args."""
    body = op(0, "spawn", K_SEND | (0 << 3)) + op(1, "spawn", K_WAIT)
    body += op(1, "send", 0) + op(0, "send", 1 | 8)
    for arg in (0, 1, 2, 3, 4, 8, 9, 0x1a, 0x2c, 0x3f, 0x81, 0xff):
        body += op(arg & 1, name, arg)
    body += op(0, "yield", 0) + op(1, "recv", 5)
    return header(threads, 2, threads - 1, 0b01100100) + body


def scenarios():
    s = {}
    # a message round trip through both kinds of channel and a mailbox
    s["pingpong"] = header(2, 2, 0, 0b0100) + op(1, "send", 0) + \
        op(0, "recv", 0x0c) + op(0, "send", 1) + op(1, "recv", 0x0d) + \
        op(0, "send_to", 1) + op(1, "receive", 3)
    # a receive without a limit, fed by a kid
    s["recv-forever"] = header(1, 1, 0, 0b01) + op(0, "recv", 0x0c) + \
        op(0, "recv", 0x0c)
    # a kid blocked on a full bounded channel, its receiver closing early
    s["rx-close-early"] = header(2, 2, 0, 0b01) + op(1, "send", 0x08) + \
        op(0, "spawn", K_SEND | (0 << 3)) + op(1, "spawn", K_SEND | (4 << 3)) + \
        op(0, "sleep", 3) + op(0, "rx_close", 0) + op(1, "send", 0)
    # a kid ends holding a mutex: EOWNERDEAD for the next
    s["ownerdead"] = header(2, 2) + op(0, "spawn", K_LOCK | (2 << 3)) + \
        op(0, "join", 8 | 0xf0) + op(1, "lock", 0x0e) + op(1, "unlock", 0) + \
        op(0, "trylock", 0) + op(0, "unlock", 0)
    # mutex contention with timeouts
    s["mutex-contend"] = header(2, 3) + op(0, "lock", 2) + \
        op(1, "lock", 0x1e) + op(2, "trylock", 0) + op(0, "sleep", 5) + \
        op(0, "unlock", 0) + op(1, "unlock", 0) + op(2, "lock", 0x1e)
    # groups: members of every behaviour, joined, cancelled, freed
    g = header(2, 2, 1)
    for k in range(8):
        g += op(k & 1, "group_spawn", k | (k << 3))
    g += op(0, "group_join", 3) + op(1, "group_cancel", 0) + \
        op(1, "group_join", 0x0f) + op(0, "group_free", 0)
    s["groups"] = g
    # cancels of kids, of main actors and of oneself
    s["cancels"] = header(2, 3) + op(0, "spawn", K_WAIT) + \
        op(0, "cancel", 8) + op(0, "join", 0xf8) + op(1, "cancel", 2) + \
        op(2, "recv", 6) + op(2, "cancel", 2) + op(2, "sleep", 7) + \
        op(1, "cancel", 1) + op(1, "select", 3)
    # deadlines and monitors: SIG_TIMEOUT, SIG_PANIC, SIG_EXIT
    s["monitors"] = header(1, 1) + op(0, "spawn", K_WAIT | (1 << 3)) + \
        op(0, "monitor", 0) + op(0, "spawn", K_PANIC) + op(0, "monitor", 1) + \
        op(0, "spawn", 0) + op(0, "monitor", 2) + op(0, "sleep", 15) + \
        op(0, "receive", 0x0f) + op(0, "receive", 0x0f) + \
        op(0, "select", 0x03) + op(0, "receive", 0)
    # detached kids, and dead letters for a kid's mailbox
    s["detach"] = header(2, 2) + op(0, "spawn", K_SEND | (1 << 3)) + \
        op(0, "detach", 0) + op(0, "spawn", 4 | (5 << 3)) + \
        op(0, "send_to", 8) + op(0, "send_to", 8) + op(0, "detach", 0) + \
        op(1, "send_to", 0) + op(1, "send_to", 1)
    # handles cloned and closed until the receiver sees EPIPE
    s["handles"] = header(1, 1, 0, 0b10) + op(0, "tx_clone", 0) + \
        op(0, "send", 0) + op(0, "tx_close", 0) + op(0, "tx_close", 0) + \
        op(0, "try_recv", 4) + op(0, "recv", 0) + op(0, "select", 0)
    # eight main actors, everybody sends to everybody
    b = header(2, 8, 1, 0b11011001)
    for i in range(8):
        b += op(i, "send", i) + op(i, "send_to", i + 1)
    for i in range(8):
        b += op(i, "select", 0x07) + op(i, "receive", 1)
    s["eight"] = b
    # a plain thread sends elements and messages while the actors receive
    for t in (1, 2):
        s["outsider-%d" % t] = header(t, 2, t - 1, 0b00010001, 7) + \
            op(0, "recv", 0x0d) + op(1, "select", 0x13) + \
            op(0, "receive", 0x0f) + op(1, "receive", 0x0f) + \
            op(0, "try_recv", 4) + op(1, "sleep", 9) + op(0, "rx_close", 2)
    return s


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    seeds = scenarios()
    for name in OPS[1:]:
        for t in (1, 2):
            seeds["op-%s-%d" % (name, t)] = per_op(name, t)
    rng = random.Random(20261205)
    for i in range(12):
        n = rng.randrange(8, 60)
        seeds["mixed-%02d" % i] = bytes(rng.randrange(256)
                                        for _ in range(2 + 2 * n))
    for name, data in sorted(seeds.items()):
        with open(os.path.join(out, "seed-" + name), "wb") as f:
            f.write(data)
    print("%d seeds in %s" % (len(seeds), out))


if __name__ == "__main__":
    main()
