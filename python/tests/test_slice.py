"""Tests of ipcarc.Slice: every call, every error, with real processes
(tests/peer.py's slice modes) for owner death and exact concurrent counts.
Run by `make python-test` with test_ipcarc.py."""

import ctypes
import errno
import mmap
import os
import threading
import time
import unittest

import ipcarc
from _helpers import Base, Counter, Peer, TAG, fork_refusals, shm, test_name  # noqa: F401

U64 = ctypes.c_uint64
U64_TAG = "ipcarc.u64.v1"
LEN_OFFSET = 112  # the header's slice_len word (ipcarc.h, LAYOUT.md)


class Pair(ctypes.Structure):
    _fields_ = [("a", ctypes.c_uint64), ("b", ctypes.c_int32), ("c", ctypes.c_int32)]


class SliceBase(Base):
    def snew(self, values=(), capacity=None, ctype=U64, **kw):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        kw.setdefault("type_tag", U64_TAG)
        s = ipcarc.Slice.new(name, ctype, values, capacity, **kw)
        self.addCleanup(lambda: s.closed or s.close())
        return s

    def sopen(self, s, ctype=U64, tag=U64_TAG):
        o = ipcarc.Slice.open(s.name, ctype, type_tag=tag)
        self.addCleanup(lambda: o.closed or o.close())
        return o

    def poke_len(self, s, n):
        """Write the shared length word as only a peer writing the mapping could."""
        with open(shm(s.name), "r+b") as f, mmap.mmap(f.fileno(), 4096) as m:
            m[LEN_OFFSET:LEN_OFFSET + 8] = n.to_bytes(8, "little")


class TestSliceBasics(SliceBase):
    def test_new_open_len_cap_get_set_load_store(self):
        s = self.snew([1, 2, 3], 8)
        self.assertTrue(s.created)
        o = self.sopen(s)
        self.assertFalse(o.created)
        self.assertEqual((len(o), o.cap), (3, 8))
        self.assertEqual((o[0], o[2], o[-1], o[-3]), (1, 3, 3, 1))
        v0 = s.version
        s[1] = 20
        self.assertEqual(o[1], 20)
        self.assertEqual(s.version, v0 + 1)
        got = o.load()
        self.assertIsInstance(got, ctypes.Array)  # a ctypes array copy, len = the length
        self.assertEqual(list(got), [1, 20, 3])
        self.assertEqual(list(o), [1, 20, 3])
        o.store([7, 8, 9, 10, 11])
        self.assertEqual((len(s), list(s.load())), (5, [7, 8, 9, 10, 11]))
        s.store((U64 * 2)(4, 5))
        self.assertEqual(list(o.load()), [4, 5])
        s.store([])
        self.assertEqual((len(o), list(o.load())), (0, []))
        self.assertEqual(s.version, v0 + 4)

    def test_capacity_defaults_to_values_and_open_or_new(self):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        with ipcarc.Slice.open_or_new(name, U64, [1, 2], type_tag=U64_TAG) as s:
            self.assertTrue(s.created)
            self.assertEqual((len(s), s.cap), (2, 2))
            with ipcarc.Slice.open_or_new(name, U64, [9] * 5, 10, type_tag=U64_TAG) as o:
                self.assertFalse(o.created)
                self.assertEqual((len(o), o.cap, list(o.load())), (2, 2, [1, 2]))  # the segment's
        empty = self.snew(capacity=4)
        self.assertEqual((len(empty), empty.cap), (0, 4))

    def test_structure_elements(self):
        s = self.snew([Pair(1, -2, 3)], 4, ctype=Pair, type_tag="pair")
        e = s[0]
        self.assertIsInstance(e, Pair)
        self.assertEqual((e.a, e.b, e.c), (1, -2, 3))
        e.a = 99  # a copy: the segment keeps 1
        self.assertEqual(s[0].a, 1)
        s.store([Pair(5, 6, 7), Pair(8, 9, 10)])
        self.assertEqual([p.b for p in s.load()], [6, 9])
        with s.lock() as v:
            v[1].b = -1
        self.assertEqual(s[1].b, -1)

    def test_lock_view_is_the_mapping_and_set_len(self):
        s = self.snew([1, 2, 3], 6)
        o = self.sopen(s)
        v0 = s.version
        with s.lock() as v:
            self.assertEqual(len(v), 3)
            self.assertEqual(ctypes.addressof(v), ipcarc.slice.lib.ipcarc_data(s._seg))  # zero copy
            v[0] += 10
            v = s.set_len(5)  # the view at the new length
            self.assertEqual(len(v), 5)
            v[3], v[4] = 40, 50
            self.assertEqual(len(o), 5)  # lock-free length, at once
        self.assertEqual(list(o.load()), [11, 2, 3, 40, 50])
        self.assertEqual(s.version, v0 + 1)
        g = s.lock()
        self.assertEqual(len(g.set_len(2)), 2)
        self.assertEqual(len(g.value), 2)
        g.unlock()
        self.assertEqual(list(s.load()), [11, 2])
        with s.lock() as v:
            v = s.set_len(4)  # elements past the old length keep what they held
            self.assertEqual(list(v), [11, 2, 3, 40])

    def test_memoryview_and_numpy_under_the_lock(self):
        s = self.snew([1, 2, 3], 4)
        with s.lock() as g_view:
            pass
        g = s.lock()
        try:
            m = g.memoryview()
            self.assertEqual((m.nbytes, m.itemsize), (24, 8))
            m.cast("B")[8] = 7  # writes element 1's low byte in the mapping
            m.release()
        finally:
            g.unlock()
        self.assertEqual(s[1], 7)
        del g_view
        try:
            import numpy  # noqa: F401
        except ImportError:
            self.skipTest("numpy is not installed: the numpy view (SliceGuard.numpy) is optional and untested here")
        g = s.lock()
        try:
            a = g.numpy()
            self.assertEqual(a.tolist(), [1, 7, 3])
            a += 1
        finally:
            del a
            g.unlock()
        self.assertEqual(list(s.load()), [2, 8, 4])

    def test_update_returns_length(self):
        s = self.snew([1, 2, 3], 5)
        self.assertEqual(s.update(lambda v: None), 3)
        self.assertEqual(s.update(lambda v: 5), 5)

        def double(v):
            for i in range(len(v)):
                v[i] *= 2
            return 2
        self.assertEqual(s.update(double), 2)
        self.assertEqual(list(s.load()), [2, 4])
        self.assertEqual(s.info().counters["updates"], 3)

    def test_wait_version_clone_notify_info_refcount(self):
        s = self.snew([0, 0], 4, max_holders=8)
        c = s.clone()
        self.assertEqual(s.ref_count, 2)
        c.close()
        self.assertEqual(s.ref_count, 1)
        v0 = s.version
        t = threading.Timer(0.05, lambda: s.__setitem__(1, 5))
        t.start()
        self.assertEqual(s.wait(v0, timeout=10), v0 + 1)
        t.join()
        t = threading.Timer(0.05, s.notify)
        t.start()
        self.assertEqual(s.wait(v0 + 1, timeout=10), v0 + 2)
        t.join()
        i = s.info()
        self.assertEqual((i.shape, i.capacity, i.length, i.value_size, i.value_align, i.max_holders),
                         ("slice", 4, 2, 8, 8, 8))
        self.assertEqual((i.ref_count, i.type_tag, i.poisoned), (1, ipcarc.tag(U64_TAG), False))
        a = self.new()
        self.assertEqual((a.info().shape, a.info().capacity), ("value", 0))

    def test_last_close_unlinks(self):
        s = self.snew([1])
        s.close()
        self.assertFalse(os.path.exists(shm(s.name)))


class TestSliceErrors(SliceBase):
    def test_shape_refused_both_ways(self):
        s = self.snew([1, 2, 3, 4, 5, 6, 7, 8], ctype=U64, type_tag=TAG)
        self.assertErr(ipcarc.TypeMismatchError, lambda: ipcarc.Arc.open(s.name, U64, type_tag=TAG),
                       errno.EPROTOTYPE, "shape")
        a = self.new()  # one Counter value, 64 bytes
        e = self.assertErr(ipcarc.TypeMismatchError, lambda: ipcarc.Slice.open(a.name, Counter, type_tag=TAG),
                           errno.EPROTOTYPE, "shape")
        self.assertIn("shape differs", str(e))
        self.assertEqual((s.ref_count, a.ref_count), (1, 1))

    def test_type_mismatch_and_not_exist(self):
        s = self.snew([1])
        self.assertErr(ipcarc.TypeMismatchError, lambda: self.sopen(s, tag="other"), errno.EPROTOTYPE, "type tag")
        self.assertErr(ipcarc.TypeMismatchError, lambda: self.sopen(s, ctype=ctypes.c_uint32), errno.EPROTOTYPE,
                       "value size")
        self.assertErr(ipcarc.NotExistError, lambda: ipcarc.Slice.open(s.name + "x", U64, type_tag=U64_TAG),
                       errno.ENOENT)
        self.assertErr(ipcarc.ExistError, lambda: ipcarc.Slice.new(s.name, U64, [], 1, type_tag=U64_TAG),
                       errno.EEXIST)

    def test_out_of_range(self):
        s = self.snew([1, 2], 3)
        for fn in (lambda: s[2], lambda: s[-3], lambda: s.__setitem__(2, 1), lambda: s.atomic_add(2, 1),
                   lambda: s.store([1, 2, 3, 4])):
            e = self.assertErr(ipcarc.OutOfRangeError, fn, errno.ERANGE)
            self.assertIsInstance(e, IndexError)
            self.assertIn("index or length out of range", str(e))
        with s.lock():
            self.assertErr(ipcarc.OutOfRangeError, lambda: s.set_len(4), errno.ERANGE)
            self.assertErr(ipcarc.OutOfRangeError, lambda: s.set_len(-1), errno.ERANGE)
        self.assertEqual(list(s.load()), [1, 2])  # nothing changed
        # update's function returning a length past cap: refused, unchanged, no poison
        self.assertErr(ipcarc.OutOfRangeError, lambda: s.update(lambda v: 4))
        self.assertErr(ipcarc.InvalidOptionError, lambda: s.update(lambda v: "3"))
        self.assertEqual((len(s), s.info().poisoned), (2, False))

    def test_set_len_needs_the_lock(self):
        s = self.snew([1], 3)
        self.assertErr(ipcarc.NotOwnerError, lambda: s.set_len(2), errno.EPERM)
        g = s.lock()
        self.assertErr(ipcarc.NotOwnerError, lambda: self.in_thread(lambda: s.set_len(2)), errno.EPERM)
        g.unlock()
        self.assertEqual(len(s), 1)

    def test_invalid_options(self):
        name = test_name(self)
        for kw, cls in ((dict(values=[1, 2], capacity=1), ipcarc.InvalidOptionError),
                        (dict(capacity=-1), ipcarc.InvalidOptionError),
                        (dict(capacity="4"), ipcarc.InvalidOptionError),
                        (dict(capacity=1 << 60), ipcarc.InvalidOptionError),
                        (dict(values=["x"]), ipcarc.UnsupportedTypeError)):
            with self.assertRaises(cls, msg=kw):
                ipcarc.Slice.new(name, U64, type_tag=U64_TAG, **kw)
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: ipcarc.Slice.new(name, ctypes.c_void_p, [], 1,
                                                                            type_tag="p"))
        self.assertFalse(os.path.exists(shm(name)))
        s = self.snew([1])
        self.assertRaises(TypeError, lambda: s[0:1])
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: s.store(["x"]))
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: s.__setitem__(0, "x"))
        self.assertEqual(s[0], 1)

    def test_would_block_timeout_deadlock(self):
        s = self.snew([1])
        g = s.lock()
        self.assertErr(ipcarc.DeadlockError, s.lock, errno.EDEADLK)
        self.assertErr(ipcarc.WouldBlockError, lambda: self.in_thread(s.try_lock), errno.EBUSY)
        self.assertErr(ipcarc.TimeoutError, lambda: self.in_thread(lambda: s.lock(timeout=0.05)), errno.ETIMEDOUT)
        self.assertErr(ipcarc.NotOwnerError, lambda: self.in_thread(g.unlock), errno.EPERM)
        g.unlock()
        self.assertErr(ipcarc.NotOwnerError, g.unlock)

    def test_closed(self):
        s = self.snew([1])
        c = s.clone()
        c.close()
        self.assertErr(ipcarc.ClosedError, c.close)
        for call in (lambda: len(c), lambda: c.cap, lambda: c[0], lambda: c.__setitem__(0, 1), c.load,
                     lambda: c.store([1]), c.lock, lambda: c.set_len(0), lambda: c.update(id),
                     lambda: c.recover(id), lambda: c.wait(0, 0.01), lambda: c.version, c.clone, c.info,
                     lambda: c.ref_count, c.notify, lambda: c.atomic_add(0, 1), lambda: c.atomic_load(0)):
            with self.assertRaises(ipcarc.ClosedError):
                call()

    def test_corrupt_length_word(self):
        s = self.snew([1, 2], 4)
        self.poke_len(s, 1000)
        self.assertEqual(len(s), 4)  # bounded by the private capacity
        self.assertErr(ipcarc.CorruptError, s.load, errno.EBADMSG, "slice length")
        self.assertErr(ipcarc.CorruptError, lambda: s[0], errno.EBADMSG, "slice length")
        with self.assertRaises(ipcarc.PoisonedError):
            s.lock()  # the next lock poisons the slice
        self.assertEqual(s.recover(lambda v: 2), 2)
        self.assertEqual(list(s.load()), [1, 2])
        self.assertFalse(s.info().poisoned)

    def test_fork_refused(self):
        s = self.snew([5, 6], 4)

        def child():
            code = fork_refusals((s.load, s.lock, s.try_lock, s.clone, lambda: s[0], lambda: s[-1],
                                  lambda: s.__setitem__(0, 1), lambda: s.store([1]), lambda: s.set_len(1),
                                  lambda: s.update(id), lambda: s.recover(id), lambda: s.wait(0, 1),
                                  lambda: s.atomic_add(0, 1), lambda: s.atomic_load(0), s.notify, s.reap))
            if len(s) != 0 or s.version != 0 or s.ref_count != 0:
                code = code or 13
            try:
                s.close()
                code = code or 14
            except ipcarc.ForkedError:
                pass
            with ipcarc.Slice.open(s.name, U64, type_tag=U64_TAG) as o:
                if list(o.load()) != [5, 6]:
                    code = code or 15
            return code
        self.in_fork(child)
        self.assertEqual((s.ref_count, list(s.load())), (1, [5, 6]))


class TestSlicePoison(SliceBase):
    def test_update_exception_poisons_and_recover_repairs(self):
        s = self.snew([1, 2, 3], 4)

        def boom(v):
            v[0] = 100
            raise ValueError("half written")
        with self.assertRaises(ValueError):
            s.update(boom)
        self.assertErr(ipcarc.PoisonedError, s.lock, errno.ENOTRECOVERABLE)
        e = self.assertErr(ipcarc.PoisonedError, s.load)
        self.assertEqual(list(e.value), [100, 2, 3])
        e = self.assertErr(ipcarc.PoisonedError, lambda: s[0])
        self.assertEqual(e.value, 100)
        self.assertErr(ipcarc.PoisonedError, lambda: s.__setitem__(0, 1))
        self.assertErr(ipcarc.PoisonedError, lambda: s.store([1]))
        self.assertErr(ipcarc.PoisonedError, lambda: s.update(lambda v: None))
        with self.assertRaises(ValueError):
            s.recover(boom)  # the poison stays
        self.assertTrue(s.info().poisoned)
        self.assertErr(ipcarc.OutOfRangeError, lambda: s.recover(lambda v: 9))
        self.assertTrue(s.info().poisoned)

        def repair(v):
            v[0] = 1
            return 1
        self.assertEqual(s.recover(repair), 1)
        self.assertFalse(s.info().poisoned)
        self.assertEqual(list(s.load()), [1])
        self.assertEqual(s.recover(lambda v: None), 1)  # healthy: an update

    def test_owner_death_python_peer(self):
        s = self.snew([1, 2, 3], 4)
        h = Peer(self, "shold", s.name)
        h.expect("locked")
        self.assertErr(ipcarc.WouldBlockError, s.try_lock)
        h.kill()
        self.assertErr(ipcarc.OwnerDeadError, s.lock, errno.EOWNERDEAD)
        self.assertErr(ipcarc.PoisonedError, s.lock, errno.ENOTRECOVERABLE)
        p = Peer(self, "slock", s.name)
        self.assertEqual(p.expect("poisoned"), "poisoned s0=4242")
        p.wait()
        s.recover(lambda v: v.__setitem__(0, 1))
        p = Peer(self, "slock", s.name)
        self.assertEqual(p.expect("ok"), "ok s0=1")
        p.wait()
        self.assertEqual(list(s.load()), [1, 2, 3])


class TestSliceAtomic(SliceBase):
    def test_scalar_elements(self):
        s = self.snew([1, 2, 3], 4)
        self.assertEqual(s.atomic_add(1, 5), 7)
        self.assertEqual(s.atomic_add(-1, -1), 2)
        self.assertEqual(s.atomic_load(1), 7)
        s.atomic_store(0, 11)
        self.assertTrue(s.atomic_cas(0, 11, 12))
        self.assertFalse(s.atomic_cas(0, 11, 13))
        self.assertEqual(list(s.load()), [12, 7, 2])
        self.assertEqual(s.atomic_add(2, -3), (1 << 64) - 1)  # wraps as Go's Add
        i = self.snew([-1], ctype=ctypes.c_int32, type_tag="i32")
        self.assertEqual(i.atomic_add(0, -1), -2)  # the element's sign

    def test_structure_fields_and_offsets(self):
        s = self.snew([Pair(), Pair()], 2, ctype=Pair, type_tag="pair")
        self.assertEqual(s.atomic_add(1, "a", 3), 3)
        self.assertEqual(s.atomic_add(1, "b", -4), -4)
        self.assertEqual(s.atomic_add(0, 12, 1, width=4), 1)  # c of element 0, by offset
        self.assertEqual([(p.a, p.b, p.c) for p in s.load()], [(0, 0, 1), (3, -4, 0)])
        self.assertErr(ipcarc.InvalidOptionError, lambda: s.atomic_add(0, "nope", 1))
        self.assertErr(ipcarc.InvalidOptionError, lambda: s.atomic_add(0, 12, 1))  # 8 bytes past the element
        self.assertErr(ipcarc.InvalidOptionError, lambda: s.atomic_add(0, "a", 1, width=4))
        self.assertErr(ipcarc.OutOfRangeError, lambda: s.atomic_load(2, "a"), errno.ERANGE)
        b = self.snew([(ctypes.c_uint8 * 16)()], ctype=ctypes.c_uint8 * 16, type_tag="bytes16")
        self.assertErr(ipcarc.AlignmentError, lambda: b.atomic_add(0, 4, 1, width=8), errno.EINVAL)

    def test_processes_count_exactly(self):
        s = self.snew([0] * 5, 8)

        def mine():
            for _ in range(300):
                s.update(lambda v: [v.__setitem__(j, v[j] + 1) for j in range(len(v))] and None)
        self.race([("sincr", s.name, "300", "gate")] * 2, mine)
        self.assertEqual(list(s.load()), [1200] * 5)


class TestSliceReadme(SliceBase):
    def test_readme_block_runs(self):
        """The README's Slices example runs as written (on a test name) and does what its comments say."""
        readme = open(os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")).read()
        block = readme.split("**Slices.**", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        env = {"ctypes": ctypes, "ipcarc": ipcarc}
        exec(compile(block.replace('"hits"', repr(name)), "README.md", "exec"), env)
        s = env["s"]
        self.assertTrue(s.closed)
        self.assertFalse(os.path.exists(shm(name)))
        self.assertEqual(env["view"]._length_, 5)


if __name__ == "__main__":
    unittest.main()
