"""`make bench-python`: ipcarc from Python beside the standard library's
process-shared tools, in one run, with ratios.

  lock+unlock   `with arc.lock():` on a 64-byte value   vs  multiprocessing.Lock acquire/release
  load          arc.load() (a 64-byte copy)             vs  bytes(shm.buf[:64]) of a SharedMemory
Uncontended, one process: the cost of a call, ctypes overhead included.
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


if __name__ == "__main__":
    main()
