"""Tests of the ipcarc Python package: every call, every error, with real
processes (tests/peer.py) for owner death, reaping and cross-process waits.
Run by `make python-test` (part of `make test`) against a staged build:
    python3 _backend/ipcarc_build.py stage build/python/site
    PYTHONPATH=build/python/site python3 -m unittest discover -s python/tests
"""

import ctypes
import errno
import gc
import os
import signal
import threading
import time
import unittest

import ipcarc
from _helpers import Base, Counter, Peer, TAG, fork_refusals, shm, test_name  # noqa: F401


class TestBasics(Base):
    def test_tag_is_fnv1a(self):
        self.assertEqual(ipcarc.tag(""), 0xcbf29ce484222325)
        self.assertEqual(ipcarc.tag("ipcarc.counter.v1"), 0x2e73011d31733be8)

    def test_new_open_lock_load_store(self):
        a = self.new(Counter(n=7))
        self.assertTrue(a.created)
        b = ipcarc.Arc.open(a.name, Counter, type_tag=TAG)
        self.addCleanup(b.close)
        self.assertEqual(b.load().n, 7)
        v0 = a.version
        with a.lock() as v:
            v.n += 1                       # in the mapping: zero copy
            self.assertEqual(ctypes.addressof(v), ipcarc.arc.lib.ipcarc_data(a._seg))
        self.assertEqual(b.load().n, 8)
        self.assertEqual(b.version, v0 + 1)
        b.store(Counter(n=100))
        self.assertEqual(a.load().n, 100)
        self.assertEqual(a.version, v0 + 2)
        self.assertEqual(a.update(lambda v: setattr(v, "n", v.n * 2) or "r"), "r")
        self.assertEqual(a.load().n, 200)
        self.assertEqual(a.ref_count, 2)

    def test_scalar_and_array_values(self):
        name = test_name(self)
        with ipcarc.Arc.new(name, ctypes.c_int32(-5), type_tag="i32") as a:
            with a.lock() as v:
                v.value += 1
            self.assertEqual(a.load().value, -4)
        arr = (ctypes.c_double * 4)(1, 2, 3, 4)
        with ipcarc.Arc.new(name, arr, type_tag="f64x4") as a:
            self.assertEqual(list(a.load()), [1, 2, 3, 4])
        self.assertFalse(os.path.exists(shm(name)))

    def test_open_or_new(self):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        with ipcarc.Arc.open_or_new(name, Counter(n=1), type_tag=TAG) as a:
            self.assertTrue(a.created)
            with ipcarc.Arc.open_or_new(name, Counter(n=2), type_tag=TAG) as b:
                self.assertFalse(b.created)
                self.assertEqual(b.load().n, 1)

    def test_clone_refcount_close(self):
        a = self.new()
        c = a.clone()
        self.assertEqual(a.ref_count, 2)
        c.close()
        self.assertEqual(a.ref_count, 1)
        with self.assertRaises(ipcarc.ClosedError):
            c.close()
        for call in (c.load, c.lock, c.clone, c.info, lambda: c.version, lambda: c.ref_count,
                     lambda: c.store(Counter()), lambda: c.wait(0, 0.01), lambda: c.update(id),
                     lambda: c.recover(id), c.reap):
            with self.assertRaises(ipcarc.ClosedError):
                call()

    def test_last_close_unlinks(self):
        a = self.new()
        path = shm(a.name)
        b = ipcarc.Arc.open(a.name, Counter, type_tag=TAG)
        a.close()
        self.assertTrue(os.path.exists(path))
        b.close()
        self.assertFalse(os.path.exists(path))

    def test_until_removed_and_remove(self):
        a = self.new(lifetime=ipcarc.UNTIL_REMOVED)
        with self.assertRaises(ipcarc.BusyError):
            ipcarc.remove(a.name)
        a.close()
        self.assertTrue(os.path.exists(shm(a.name)))
        with ipcarc.Arc.open(a.name, Counter, type_tag=TAG) as b:
            self.assertEqual(b.info().lifetime, ipcarc.UNTIL_REMOVED)
        ipcarc.remove(a.name)
        self.assertFalse(os.path.exists(shm(a.name)))
        with self.assertRaises(ipcarc.NotExistError):
            ipcarc.remove(a.name)

    def test_del_closes(self):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        ipcarc.Arc.new(name, Counter(), type_tag=TAG)  # dropped at once
        gc.collect()
        self.assertFalse(os.path.exists(shm(name)), "a collected handle was not closed")

    def test_info(self):
        a = self.new(Counter(n=3), max_holders=8)
        i = a.info()
        self.assertEqual((i.value_size, i.value_align, i.type_tag, i.max_holders), (64, 8, ipcarc.tag(TAG), 8))
        self.assertEqual((i.ref_count, i.live_holders, i.used_slots), (1, 1, 1))
        self.assertFalse(i.poisoned)
        self.assertFalse(i.locked)
        self.assertEqual(i.creator_pid, os.getpid())
        with a.lock():
            self.assertTrue(a.info().locked)
        self.assertEqual(a.info().counters["acquisitions"], 1)
        self.assertEqual(a.info().version, 1)


class TestErrors(Base):
    def test_exist_and_not_exist(self):
        a = self.new()
        e = self.assertErr(ipcarc.ExistError, lambda: ipcarc.Arc.new(a.name, Counter(), type_tag=TAG),
                           errno.EEXIST)
        self.assertEqual(str(e), 'ipcarc: new "%s": segment already exists' % a.name)
        e = self.assertErr(ipcarc.NotExistError,
                           lambda: ipcarc.Arc.open(a.name + "-none", Counter, type_tag=TAG), errno.ENOENT)
        self.assertEqual(str(e), 'ipcarc: open "%s-none": segment does not exist' % a.name)

    def test_invalid_name(self):
        for bad in ("", "a/b", "x" * 201, "..", "sp ace"):
            self.assertErr(ipcarc.InvalidNameError, lambda: ipcarc.Arc.open(bad, Counter, type_tag=TAG))

    def test_invalid_options(self):
        name = test_name(self)
        for kw in (dict(mode=0o666), dict(mode=0o1000), dict(max_holders=0), dict(max_holders=4097),
                   dict(lifetime=7), dict(open_timeout=-1), dict(trusted_owners=range(9)),
                   dict(trusted_group=-1), dict(type_tag=1.5)):
            kw.setdefault("type_tag", TAG)
            self.assertErr(ipcarc.InvalidOptionError, lambda: ipcarc.Arc.new(name, Counter(), **kw))
        self.assertFalse(os.path.exists(shm(name)))

    def test_unsupported_type(self):
        name = test_name(self)
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: ipcarc.Arc.open(name, int, type_tag=TAG))
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: ipcarc.Arc.new(name, ctypes.c_void_p(), type_tag="p"))
        a = self.new()
        self.assertErr(ipcarc.UnsupportedTypeError, lambda: a.store(ctypes.c_uint64(1)))

    def test_type_mismatch(self):
        a = self.new()
        self.assertErr(ipcarc.TypeMismatchError, lambda: ipcarc.Arc.open(a.name, Counter, type_tag="other"),
                       errno.EPROTOTYPE, "type tag", "type tag differs: segment holds another type")
        self.assertErr(ipcarc.TypeMismatchError, lambda: ipcarc.Arc.open(a.name, ctypes.c_uint64 * 4,
                                                                         type_tag=TAG),
                       errno.EPROTOTYPE, "value size")
        self.assertErr(ipcarc.TypeMismatchError, lambda: ipcarc.Arc.open(a.name, ctypes.c_uint32 * 16,
                                                                         type_tag=TAG),
                       errno.EPROTOTYPE, "value alignment")
        self.assertEqual(a.ref_count, 1)

    def test_corrupt(self):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        with open(shm(name), "wb") as f:
            os.fchmod(f.fileno(), 0o600)
            f.write(b"not a segment" * 100)
        self.assertErr(ipcarc.CorruptError, lambda: ipcarc.Arc.open(name, Counter, type_tag=TAG), errno.EBADMSG)

    def test_untrusted(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to give a segment file to another user (uid 65534)")
        a = self.new()
        path = shm(a.name)
        os.chmod(path, 0o666)
        self.assertErr(ipcarc.UntrustedError, lambda: ipcarc.Arc.open(a.name, Counter, type_tag=TAG),
                       errno.EACCES, "mode")
        os.chmod(path, 0o600)
        os.chown(path, 65534, 65534)
        self.assertErr(ipcarc.UntrustedError, lambda: ipcarc.Arc.open(a.name, Counter, type_tag=TAG),
                       errno.EACCES, "owner", "owner differs: segment file is not trusted")
        with ipcarc.Arc.open(a.name, Counter, type_tag=TAG, trusted_owners=[65534]) as b:
            self.assertEqual(b.ref_count, 2)
        os.chmod(path, 0o660)
        self.assertErr(ipcarc.UntrustedError, lambda: ipcarc.Arc.open(a.name, Counter, type_tag=TAG,
                                                                      trusted_owners=[65534]), field="mode")
        ipcarc.Arc.open(a.name, Counter, type_tag=TAG, trusted_owners=[65534], trusted_group=65534).close()

    def test_would_block_timeout_deadlock_not_owner(self):
        a = self.new()
        g = a.lock()
        self.assertErr(ipcarc.DeadlockError, a.lock, errno.EDEADLK)
        self.assertErr(ipcarc.DeadlockError, lambda: a.wait(a.version, 0.01), errno.EDEADLK)
        self.assertErr(ipcarc.WouldBlockError, lambda: self.in_thread(a.try_lock), errno.EBUSY)
        self.assertErr(ipcarc.TimeoutError, lambda: self.in_thread(lambda: a.lock(timeout=0.05)), errno.ETIMEDOUT)
        # A pthread mutex belongs to the OS thread that locked it.
        self.assertErr(ipcarc.NotOwnerError, lambda: self.in_thread(g.unlock), errno.EPERM,
                       text="lock not held by this thread")
        self.assertErr(ipcarc.DeadlockError, a.close, errno.EDEADLK)  # last handle while locked
        g.unlock()
        self.assertErr(ipcarc.NotOwnerError, g.unlock)
        with self.assertRaises(ipcarc.TimeoutError):
            a.wait(a.version, timeout=0.05)

    def test_too_many_holders(self):
        a = self.new(max_holders=1)
        self.assertErr(ipcarc.TooManyHoldersError, lambda: ipcarc.Arc.open(a.name, Counter, type_tag=TAG),
                       errno.EUSERS, text="holder table is full")
        a.clone().close()  # a handle more on the same attachment needs no slot

    def test_fork_refused(self):
        a = self.new(Counter(n=5))

        def child():  # every call on the inherited handle is refused
            code = fork_refusals((a.load, a.lock, a.try_lock, a.clone, lambda: a.store(Counter()),
                                  lambda: a.update(id), lambda: a.recover(id), lambda: a.wait(0, 1), a.reap))
            if a.version != 0 or a.ref_count != 0:
                code = code or 13
            try:
                a.close()
                code = code or 14
            except ipcarc.ForkedError:
                pass
            # Opened again by name, the segment works.
            with ipcarc.Arc.open(a.name, Counter, type_tag=TAG) as b:
                if b.load().n != 5:
                    code = code or 15
            return code
        self.in_fork(child)
        self.assertEqual(a.ref_count, 1)
        self.assertEqual(a.load().n, 5)


class TestPoison(Base):
    def test_update_exception_poisons_and_recover_repairs(self):
        a = self.new(Counter(n=1))

        def boom(v):
            v.n = 99
            raise ValueError("half written")
        with self.assertRaises(ValueError):
            a.update(boom)
        self.assertFalse(a.info().locked, "lock held behind an exception")
        e = self.assertRaisesPoisoned(a)
        self.assertNotIsInstance(e, ipcarc.OwnerDeadError)
        with self.assertRaises(ipcarc.PoisonedError) as cm:
            a.load()
        self.assertEqual(cm.exception.value.n, 99)
        with self.assertRaises(ipcarc.PoisonedError):
            a.store(Counter())
        # recover: fn's exception propagates and the poison stays
        with self.assertRaises(KeyError):
            a.recover(lambda v: {}["x"])
        self.assertTrue(a.info().poisoned)
        self.assertFalse(a.info().locked)
        self.assertEqual(a.recover(lambda v: setattr(v, "n", 1) or "fixed"), "fixed")
        self.assertFalse(a.info().poisoned)
        with a.lock() as v:
            self.assertEqual(v.n, 1)

    def assertRaisesPoisoned(self, a):
        with self.assertRaises(ipcarc.PoisonedError) as cm:
            with a.lock():
                self.fail("a poisoned value was handed out")
        self.assertFalse(a.info().locked)
        return cm.exception

    def test_owner_death_python_peer(self):
        a = self.new(Counter(n=1))
        p = Peer(self, "hold", a.name)
        p.expect("locked")
        with self.assertRaises(ipcarc.WouldBlockError):
            a.try_lock()
        p.kill()
        with self.assertRaises(ipcarc.OwnerDeadError) as cm:
            with a.lock():
                self.fail("a poisoned value was handed out")
        e = cm.exception
        self.assertEqual(e.errno, errno.EOWNERDEAD)
        self.assertIn("previous lock owner died", str(e))
        self.assertFalse(a.info().locked, "OwnerDeadError with the lock held")
        self.assertEqual(a.info().lock_owner, 0)
        # The death is reported once; the poison stays for everyone until cleared.
        self.assertNotIsInstance(self.assertRaisesPoisoned(a), ipcarc.OwnerDeadError)
        q = Peer(self, "lock", a.name)
        self.assertEqual(q.expect(""), "poisoned n=4242")

        def fix(v):
            self.assertEqual(v.n, 4242)
            v.n = 5
        a.recover(fix)
        self.assertEqual(Peer(self, "lock", a.name).expect(""), "ok n=5")
        self.assertEqual(a.info().counters["owner_deaths"], 1)

    def test_killed_holder_reaped(self):
        a = self.new()
        p = Peer(self, "attach", a.name)
        p.expect("attached")
        self.assertEqual(a.ref_count, 2)
        self.assertEqual(a.reap(), 0)
        p.kill()
        self.assertEqual(a.ref_count, 1)  # a dead holder stops counting at once
        self.assertEqual(a.info().used_slots, 2)
        self.assertEqual(a.reap(), 1)
        self.assertEqual(a.info().used_slots, 1)


class TestWait(Base):
    def test_wait_woken_by_thread_store(self):
        a = self.new()
        v0 = a.version
        t = threading.Timer(0.1, lambda: a.store(Counter(n=3)))
        t.start()
        self.assertEqual(a.wait(v0, timeout=10), v0 + 1)
        t.join()
        self.assertEqual(a.wait(v0, timeout=0), v0 + 1)  # already past: at once

    def test_wait_woken_by_another_process(self):
        a = self.new()
        v0 = a.version
        Peer(self, "store", a.name, "77").expect("stored")
        self.assertEqual(a.wait(v0, timeout=10), v0 + 1)
        w = Peer(self, "wait", a.name, str(a.version))
        w.expect("waiting")
        time.sleep(0.1)
        a.store(Counter(n=8))
        self.assertEqual(w.expect("v="), "v=%d n=8" % (v0 + 2))
        w.wait()


class TestConcurrency(Base):
    def test_threads_and_processes_count_exactly(self):
        a = self.new()
        each = 2000

        def work():
            for _ in range(each):
                with a.lock() as v:
                    v.n += 1
        self.race([("incr", a.name, str(each), "gate")] * 2, work)
        self.assertEqual(a.load().n, 4 * each)
        self.assertEqual(a.ref_count, 1)


class Mixed(ctypes.Structure):
    """Fields of every atomic width and sign, a nested struct and an array of them."""
    class Pair(ctypes.Structure):
        _fields_ = [("a", ctypes.c_uint32), ("b", ctypes.c_int32)]
    _fields_ = [("u64", ctypes.c_uint64), ("i64", ctypes.c_int64), ("pairs", Pair * 3),
                ("f", ctypes.c_double), ("small", ctypes.c_uint16), ("bits", ctypes.c_uint32, 3)]


class TestAtomic(Base):
    def test_add_by_name_and_offset(self):
        a = self.new()
        self.assertEqual(a.atomic_add("n", 5), 5)
        self.assertEqual(a.atomic_add(0, 2), 7)               # the same field by byte offset
        self.assertEqual(a.atomic_add("spare.2", 3), 3)       # array element: spare[2]
        self.assertEqual(a.atomic_add(Counter.spare.offset + 16, 1), 4)
        self.assertEqual(a.load().n, 7)                        # what the lock users see
        self.assertEqual(a.load().spare[2], 4)
        self.assertEqual(a.atomic_add("n", -8), (1 << 64) - 1)  # wraps as Go's Add(^uint64(0))
        self.assertEqual(a.atomic_add("n", 1), 0)

    def test_load_store_cas(self):
        a = self.new(Counter(n=9))
        self.assertEqual(a.atomic_load("n"), 9)
        a.atomic_store("n", 11)
        self.assertEqual(a.atomic_load(0), 11)
        self.assertFalse(a.atomic_cas("n", 10, 12))
        self.assertEqual(a.atomic_load("n"), 11)
        self.assertTrue(a.atomic_cas("n", 11, 12))
        self.assertEqual(a.load().n, 12)
        a.atomic_store("spare.6", (1 << 64) - 1)
        self.assertEqual(a.load().spare[6], (1 << 64) - 1)

    def test_widths_and_signs(self):
        a = self.new(Mixed())
        self.assertEqual(a.atomic_add("i64", -3), -3)
        self.assertEqual(a.atomic_load("i64"), -3)
        self.assertEqual(a.atomic_add("pairs.1.b", -1), -1)         # int32: signed result
        self.assertEqual(a.atomic_add("pairs.1.a", -1), (1 << 32) - 1)  # uint32: wraps at 32 bits
        self.assertEqual(a.load().pairs[1].a, (1 << 32) - 1)
        self.assertEqual(a.load().pairs[1].b, -1)
        self.assertEqual(a.load().pairs[0].a, 0)                   # the neighbour untouched
        off = Mixed.pairs.offset + ctypes.sizeof(Mixed.Pair) * 2
        self.assertEqual(a.atomic_add(off, 7, width=4), 7)         # a raw offset with width 4
        self.assertEqual(a.load().pairs[2].a, 7)
        self.assertTrue(a.atomic_cas("pairs.2.b", 0, -5))
        self.assertEqual(a.atomic_load(off + 4, width=4), (1 << 32) - 5)  # raw offsets read unsigned

    def test_field_errors(self):
        a = self.new(Mixed())
        for field, width in (("nope", None), ("pairs.3.a", None), ("pairs.x", None), ("pairs", None),
                             ("f", None), ("small", None), ("bits", None), ("u64.a", None), ("u64", 4),
                             ("pairs.0.a", 8), (-1, None), (0, 2), (0, True), (1.5, None), (None, None)):
            with self.subTest(field=field, width=width):
                self.assertErr(ipcarc.InvalidOptionError, lambda: a.atomic_add(field, 1, width=width), 0,
                               text="invalid option")
        self.assertEqual(a.load().u64, 0)

    def test_value_errors(self):
        a = self.new()
        for call in (lambda: a.atomic_add("n", 1 << 64), lambda: a.atomic_add("n", -(1 << 63) - 1),
                     lambda: a.atomic_store("n", "1"), lambda: a.atomic_cas("n", 0, True),
                     lambda: a.atomic_add(0, 1 << 32, width=4)):
            self.assertErr(ipcarc.InvalidOptionError, call, 0, text="invalid option")
        self.assertEqual(a.load().n, 0)

    def test_bounds_and_alignment(self):
        a = self.new()  # 64 bytes
        e = self.assertErr(ipcarc.InvalidOptionError, lambda: a.atomic_add(60, 1), errno.ERANGE,
                           text="invalid option")
        self.assertIn("bytes 60 to 68 are outside the 64-byte value", str(e))
        self.assertErr(ipcarc.InvalidOptionError, lambda: a.atomic_load(64, width=4), errno.ERANGE)
        self.assertErr(ipcarc.InvalidOptionError, lambda: a.atomic_load(1 << 63), errno.ERANGE)
        self.assertEqual(a.atomic_load(60, width=4), 0)  # the last 4-byte word is inside
        for call in (lambda: a.atomic_add(4, 1), lambda: a.atomic_load(3, width=4),
                     lambda: a.atomic_store(12, 1), lambda: a.atomic_cas(2, 0, 1, width=4)):
            e = self.assertErr(ipcarc.AlignmentError, call, errno.EINVAL,
                               text="atomic field is not aligned to its width")
            self.assertIsInstance(e, ipcarc.Error)
            self.assertIn("is not a multiple of", str(e))
        self.assertEqual(bytes(a.load()), bytes(64))

    def test_closed(self):
        a = self.new()
        a.close()
        for call in (lambda: a.atomic_add("n", 1), lambda: a.atomic_load("n"), lambda: a.atomic_store("n", 1),
                     lambda: a.atomic_cas("n", 0, 1), a.notify):
            self.assertErr(ipcarc.ClosedError, call, 0, text="handle is closed")

    def test_notify_moves_version_and_wakes(self):
        a = self.new()
        v0 = a.version
        a.atomic_add("n", 1)
        self.assertEqual(a.version, v0)  # a lock-free change moves no version
        a.notify()
        self.assertEqual(a.version, v0 + 1)
        with a.lock():
            a.notify()  # allowed while holding the lock; the unlock keeps it
        self.assertEqual(a.version, v0 + 3)
        # A wait in another process wakes on a Python notify.
        p = Peer(self, "wait", a.name, str(a.version))
        p.expect("waiting")
        time.sleep(0.05)
        a.atomic_add("n", 1)
        a.notify()
        self.assertEqual(p.expect("v="), "v=%d n=2" % (v0 + 4))
        p.wait()
        # And a wait here wakes on another process's notify.
        v = a.version
        p = Peer(self, "notify", a.name)
        self.assertEqual(a.wait(v, timeout=30), v + 1)
        p.expect("notified")
        p.wait()
        self.assertEqual(a.atomic_load("n"), 3)

    def test_threads_and_processes_exact(self):
        a = self.new()
        each = 20000

        def work():
            for _ in range(each):
                a.atomic_add("n", 1)
        self.race([("atomic", a.name, str(each), str(i + 1), "gate") for i in range(2)], work)
        self.assertEqual(a.atomic_load("n"), 4 * each)
        self.assertEqual([a.atomic_load("spare.%d" % i) for i in range(3)], [each, each, 0])

    def test_killed_adder_leaves_no_lock_and_no_poison(self):
        a = self.new()
        p = Peer(self, "atomic", a.name, str(10 ** 9), "1", "gate", stdin=True)
        p.expect("ready")
        p.p.stdin.write("go\n")
        p.p.stdin.flush()
        while a.atomic_load("n") < 1000:
            time.sleep(0.01)
        p.p.kill()  # SIGKILL in the middle of its adds
        p.p.wait()
        n = a.atomic_load("n")
        self.assertIn(a.atomic_load("spare.0"), (n, n - 1))  # it died between its two adds, or not
        info = a.info()
        self.assertFalse(info.poisoned)
        self.assertFalse(info.locked)
        with a.lock(timeout=5) as v:  # the lock is free at once
            self.assertEqual(v.n, n)
        self.assertEqual(a.atomic_add("n", 1), n + 1)

    def test_loads_during_adds_never_go_back(self):
        a = self.new()
        a.atomic_load("n")  # the first atomic call: word-atomic copies from here on
        p = Peer(self, "atomic", a.name, "200000", "1", "gate", stdin=True)
        p.expect("ready")
        p.p.stdin.write("go\n")
        p.p.stdin.flush()
        last = (0, 0)
        while p.p.poll() is None:
            # Each field is read whole; the copy is no snapshot across fields
            # (the seqlock does not see lock-free adds), but none goes back.
            v = a.load()
            self.assertGreaterEqual(v.n, last[0])
            self.assertGreaterEqual(v.spare[0], last[1])
            last = (v.n, v.spare[0])
        p.expect("done")
        self.assertEqual(a.load().n, 200000)

    def test_fork_refused(self):
        a = self.new(Counter(n=5))
        self.in_fork(lambda: fork_refusals((lambda: a.atomic_add("n", 1), lambda: a.atomic_load("n"),
                                            lambda: a.atomic_store("n", 1), lambda: a.atomic_cas("n", 5, 6),
                                            a.notify)))
        self.assertEqual(a.load().n, 5)


if __name__ == "__main__":
    unittest.main()
