"""A Python process on an ipcarc segment: the Python counterpart of
examples/cpeer (same subcommands, same Counter type and tag), driven by the
Go tests (python_test.go) and by test_ipcarc.py.

    incr NAME K [gate]  open, add 1 to n under the lock K times: "done"
                        (gate: say "ready", count after a line on stdin)
    hold NAME           open, lock, set n=4242: "locked", sleep until killed
    lock NAME           open, lock: "ownerdied n=<n>", "poisoned n=<n>" or "ok n=<n>"
    poisoned NAME       open: "poisoned=1" or "poisoned=0"
    attach NAME         open: "attached", sleep until killed
    read NAME           open, load: "n=<n>"
    wait NAME SINCE     open: "waiting", then wait for a version past SINCE: "v=<v> n=<n>"
    store NAME VALUE    open, store n=VALUE: "stored"
    atomic NAME K I [gate]  open, K times without the lock atomic_add 1 to n and
                        (I in 1..7) to spare[I-1], then notify once: "done"
    notify NAME         open, atomic_add 1 to n, notify: "notified"
  On a Slice of uint64 elements (tag ipcarc.u64.v1, as cpeer's and rustpeer's):
    sincr NAME K [gate] open, K times add 1 to every element under the lock: "done"
    shold NAME          open, lock, set element 0 to 4242: "locked", sleep until killed
    slock NAME          open, lock: "ownerdied s0=<e0>", "poisoned s0=<e0>" or "ok s0=<e0>"
Every line is flushed at once.
"""

import ctypes
import os
import sys
import time

sys.path.insert(0, os.environ.get("IPCARC_PY_PATH", ""))
import ipcarc  # noqa: E402

TAG = "ipcarc.counter.v1"
U64_TAG = "ipcarc.u64.v1"


class Counter(ctypes.Structure):
    """The Go test type Counter, byte for byte (uint64 N; [7]uint64 Spare)."""
    _fields_ = [("n", ctypes.c_uint64), ("spare", ctypes.c_uint64 * 7)]


def say(s):
    sys.stdout.write(s + "\n")
    sys.stdout.flush()


def slice_main(cmd, name, argv):
    s = ipcarc.Slice.open(name, ctypes.c_uint64, type_tag=U64_TAG)
    if cmd == "sincr":
        if len(argv) > 3 and argv[3] == "gate":
            say("ready")
            sys.stdin.readline()
        for _ in range(int(argv[2])):
            with s.lock() as v:
                for j in range(len(v)):
                    v[j] += 1
        s.close()
        say("done")
    elif cmd == "shold":
        g = s.lock()
        g.value[0] = 4242
        say("locked")
        while True:
            time.sleep(3600)
    elif cmd == "slock":
        try:
            with s.lock() as v:
                say("ok s0=%d" % v[0])
        except ipcarc.OwnerDeadError:
            say("ownerdied s0=%d" % _speek(s))
        except ipcarc.PoisonedError:
            say("poisoned s0=%d" % _speek(s))
        s.close()


def _speek(s):
    try:
        return s.load()[0]
    except ipcarc.PoisonedError as e:
        return e.value[0]


def main(argv):
    cmd, name = argv[0], argv[1]
    if cmd in ("sincr", "shold", "slock"):
        return slice_main(cmd, name, argv)
    a = ipcarc.Arc.open(name, Counter, type_tag=TAG)
    if cmd == "incr":
        if len(argv) > 3 and argv[3] == "gate":
            say("ready")
            sys.stdin.readline()
        for _ in range(int(argv[2])):
            with a.lock() as v:
                v.n += 1
        a.close()
        say("done")
    elif cmd == "hold":
        g = a.lock()
        g.value.n = 4242
        say("locked")
        while True:
            time.sleep(3600)
    elif cmd == "lock":
        try:
            with a.lock() as v:
                say("ok n=%d" % v.n)
        except ipcarc.OwnerDeadError:
            say("ownerdied n=%d" % _peek(a))
        except ipcarc.PoisonedError:
            say("poisoned n=%d" % _peek(a))
        a.close()
    elif cmd == "poisoned":
        say("poisoned=%d" % a.info().poisoned)
        a.close()
    elif cmd == "attach":
        say("attached")
        while True:
            time.sleep(3600)
    elif cmd == "read":
        say("n=%d" % _peek(a))
        a.close()
    elif cmd == "wait":
        say("waiting")
        v = a.wait(int(argv[2]), timeout=30)
        say("v=%d n=%d" % (v, _peek(a)))
        a.close()
    elif cmd == "store":
        a.store(Counter(n=int(argv[2])))
        say("stored")
        a.close()
    elif cmd == "atomic":
        k, idx = int(argv[2]), int(argv[3])
        if len(argv) > 4 and argv[4] == "gate":
            say("ready")
            sys.stdin.readline()
        add, spare = a.atomic_add, "spare.%d" % (idx - 1)
        for _ in range(k):
            add("n", 1)
            if idx:
                add(spare, 1)
        a.notify()
        a.close()
        say("done")
    elif cmd == "notify":
        a.atomic_add("n", 1)
        a.notify()
        a.close()
        say("notified")
    else:
        sys.exit("peer.py: unknown subcommand %r" % cmd)


def _peek(a):
    try:
        return a.load().n
    except ipcarc.PoisonedError as e:
        return e.value.n


if __name__ == "__main__":
    main(sys.argv[1:])
