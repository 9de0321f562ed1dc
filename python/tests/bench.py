"""`make bench-python`: ipcarc from Python beside the standard library's
process-shared tools, in one run, with ratios.

  lock+unlock   `with arc.lock():` on a 64-byte value   vs  multiprocessing.Lock acquire/release
  load          arc.load() (a 64-byte copy)             vs  bytes(shm.buf[:64]) of a SharedMemory
  atomic add    arc.atomic_add("n", 1) (no lock)        vs  `with v.get_lock(): v.value += 1` on a
                                                            multiprocessing.Value("Q")
  slice get     s[i] on a Slice of 64 uint64 (no lock)  vs  a[i] of a multiprocessing.Array("Q", 64)
                                                            (its lock taken per access)
  slice set     s[i] = v (locked write)                 vs  a[i] = v
  slice load    s.load() (64 elements, seqlock)         vs  a[:] (a list, under its lock)
Uncontended, one process: the cost of a call, ctypes overhead included.
Then the adds contended: two processes adding at once, wall time per add.
"""

import ctypes
import multiprocessing
import os
import time
from multiprocessing import shared_memory

import ipcarc


class Counter(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("spare", ctypes.c_uint64 * 7)]


def per_op(fn, n):
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        fn(n)
        best = min(best, time.perf_counter() - t0)
    return best / n * 1e9


def spread(fn, n, runs=7):
    """min, median and max ns/op over runs."""
    ts = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn(n)
        ts.append((time.perf_counter() - t0) / n * 1e9)
    ts.sort()
    return ts[0], ts[len(ts) // 2], ts[-1]


def _ipcarc_adder(name, k, go):
    with ipcarc.Arc.open(name, Counter, type_tag="ipcarc.counter.v1") as a:
        add = a.atomic_add
        go.wait()
        for _ in range(k):
            add("n", 1)


def _value_adder(v, k, go):
    lk = v.get_lock()
    go.wait()
    for _ in range(k):
        with lk:
            v.value += 1


def contended(target, args, k, procs=2, runs=3):
    """min, median and max wall ns per add, procs processes adding k each at once."""
    ts = []
    for _ in range(runs):
        go = multiprocessing.Event()
        ps = [multiprocessing.Process(target=target, args=args + (k, go)) for _ in range(procs)]
        for p in ps:
            p.start()
        time.sleep(0.2)  # let them attach
        t0 = time.perf_counter()
        go.set()
        for p in ps:
            p.join()
        ts.append((time.perf_counter() - t0) / (k * procs) * 1e9)
    ts.sort()
    return ts[0], ts[len(ts) // 2], ts[-1]


def main():
    n = 200_000
    name = "ipcarc-bench-py-%d" % os.getpid()
    with ipcarc.Arc.new(name, Counter(), type_tag="ipcarc.counter.v1") as a:
        def arc_lock(k):
            lk = a.lock
            for _ in range(k):
                with lk():
                    pass

        def arc_load(k):
            ld = a.load
            for _ in range(k):
                ld()
        t_lock, t_load = per_op(arc_lock, n), per_op(arc_load, n)

        def arc_add(k):
            add = a.atomic_add
            for _ in range(k):
                add("n", 1)
        s_add = spread(arc_add, n)
        a.atomic_store("n", 0)
        c_add = contended(_ipcarc_adder, (name,), n)
        c_total = a.atomic_load("n")

    mv = multiprocessing.Value("Q", 0)

    def mp_value(k):
        lk = mv.get_lock()
        for _ in range(k):
            with lk:
                mv.value += 1
    s_mpv = spread(mp_value, n)
    mv.value = 0
    c_mpv = contended(_value_adder, (mv,), n)
    assert c_total == mv.value == 3 * 2 * n, (c_total, mv.value)

    with ipcarc.Slice.new(name + "-s", ctypes.c_uint64, [0] * 64, type_tag="ipcarc.u64.v1") as sl:
        def sl_get(k):
            for i in range(k):
                sl[i & 63]

        def sl_set(k):
            for i in range(k):
                sl[i & 63] = i

        def sl_load(k):
            ld = sl.load
            for _ in range(k):
                ld()
        t_sget, t_sset, t_sload = per_op(sl_get, n), per_op(sl_set, n), per_op(sl_load, n // 4)
    marr = multiprocessing.Array("Q", 64)

    def ma_get(k):
        for i in range(k):
            marr[i & 63]

    def ma_set(k):
        for i in range(k):
            marr[i & 63] = i

    def ma_load(k):
        for _ in range(k):
            marr[:]
    t_aget, t_aset, t_aload = per_op(ma_get, n), per_op(ma_set, n), per_op(ma_load, n // 4)

    mlock = multiprocessing.Lock()

    def mp_lock(k):
        acq, rel = mlock.acquire, mlock.release
        for _ in range(k):
            acq()
            rel()
    shm = shared_memory.SharedMemory(create=True, size=64)
    try:
        buf = shm.buf

        def shm_copy(k):
            for _ in range(k):
                bytes(buf[:64])
        t_mp, t_shm = per_op(mp_lock, n), per_op(shm_copy, n)
        del buf
    finally:
        shm.close()
        shm.unlink()
    print("%-44s %8.0f ns/op" % ("ipcarc with arc.lock(): (lock+unlock)", t_lock))
    print("%-44s %8.0f ns/op" % ("multiprocessing.Lock acquire+release", t_mp))
    print("%-44s %8.2fx" % ("  ratio ipcarc / multiprocessing.Lock", t_lock / t_mp))
    print("%-44s %8.0f ns/op" % ("ipcarc arc.load() (64-byte copy, seqlock)", t_load))
    print("%-44s %8.0f ns/op" % ("shared_memory bytes(buf[:64]) (no lock)", t_shm))
    print("%-44s %8.2fx" % ("  ratio ipcarc load / shared_memory copy", t_load / t_shm))
    print("%-44s %8.0f ns/op (min %.0f, max %.0f of 7 runs)" % (
        "ipcarc arc.atomic_add(\"n\", 1) (no lock)", s_add[1], s_add[0], s_add[2]))
    print("%-44s %8.0f ns/op (min %.0f, max %.0f of 7 runs)" % (
        "multiprocessing.Value with its lock, += 1", s_mpv[1], s_mpv[0], s_mpv[2]))
    print("%-44s %8.2fx (medians)" % ("  ratio ipcarc atomic_add / Value+lock", s_add[1] / s_mpv[1]))
    print("%-44s %8.0f ns/add (min %.0f, max %.0f of 3 runs)" % (
        "2 processes at once: ipcarc atomic_add", c_add[1], c_add[0], c_add[2]))
    print("%-44s %8.0f ns/add (min %.0f, max %.0f of 3 runs)" % (
        "2 processes at once: Value with its lock", c_mpv[1], c_mpv[0], c_mpv[2]))
    print("%-44s %8.2fx (medians)" % ("  ratio contended", c_add[1] / c_mpv[1]))
    for what, t_s, t_a in (("s[i] (get, no lock)", t_sget, t_aget), ("s[i] = v (set, locked)", t_sset, t_aset),
                           ("s.load() (64 elements)", t_sload, t_aload)):
        print("%-44s %8.0f ns/op" % ("ipcarc Slice " + what, t_s))
        print("%-44s %8.0f ns/op" % ("multiprocessing.Array the same", t_a))
        print("%-44s %8.2fx" % ("  ratio ipcarc / multiprocessing.Array", t_s / t_a))


if __name__ == "__main__":
    main()
