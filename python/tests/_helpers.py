"""What test_ipcarc.py and test_slice.py share: names and cleanup, the peer
process (peer.py), the base TestCase (new, in_thread, assertErr, race, in_fork),
and the check that a handle inherited through fork refuses every call."""

import ctypes
import errno
import os
import subprocess
import sys
import threading
import unittest

import ipcarc

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "peer.py")
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(ipcarc.__file__)))
TAG = "ipcarc.counter.v1"


class Counter(ctypes.Structure):
    _fields_ = [("n", ctypes.c_uint64), ("spare", ctypes.c_uint64 * 7)]


_seq = [0]


def test_name(t):
    _seq[0] += 1
    return "ipcarc-test-%d-py-%s-%d" % (os.getpid(), t.id().rsplit(".", 1)[-1][:60], _seq[0])


test_name.__test__ = False  # a helper, not a test


def shm(name):
    return os.path.join("/dev/shm", name)


class Peer:
    """tests/peer.py as a child process, killed and reaped at cleanup."""

    def __init__(self, t, *args, stdin=False):
        env = dict(os.environ, IPCARC_PY_PATH=PKG_PARENT, PYTHONDONTWRITEBYTECODE="1")
        self.p = subprocess.Popen([sys.executable, PEER] + list(args), stdout=subprocess.PIPE,
                                  stdin=subprocess.PIPE if stdin else subprocess.DEVNULL, env=env, text=True)
        t.addCleanup(self.kill)

    def expect(self, prefix):
        line = self.p.stdout.readline().strip()
        if not line.startswith(prefix):
            raise AssertionError("peer said %r, want %r..." % (line, prefix))
        return line

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.wait()
        self.p.stdout.close()
        if self.p.stdin:
            self.p.stdin.close()

    def wait(self):
        self.p.wait(30)
        assert self.p.returncode == 0, self.p.returncode


def fork_refusals(calls):
    """In a forked child: 0 when every call on the inherited handle raises
    ForkedError with ECHILD; else the first failure: 10 a call returned, 11 it
    said another errno, 12 it raised something else."""
    code = 0
    for call in calls:
        try:
            call()
            code = code or 10
        except ipcarc.ForkedError as e:
            if e.errno != errno.ECHILD:
                code = code or 11
        except BaseException:
            code = code or 12
    return code


class Base(unittest.TestCase):
    def new(self, value=None, **kw):
        name = test_name(self)
        self.addCleanup(lambda: os.path.exists(shm(name)) and os.unlink(shm(name)))
        kw.setdefault("type_tag", TAG)
        a = ipcarc.Arc.new(name, Counter() if value is None else value, **kw)
        self.addCleanup(lambda: a.closed or a.close())
        return a

    def in_thread(self, fn):
        box = {}

        def run():
            try:
                box["r"] = fn()
            except BaseException as e:  # handed to the test thread
                box["e"] = e
        th = threading.Thread(target=run)
        th.start()
        th.join(30)
        if "e" in box:
            raise box["e"]
        return box.get("r")

    def assertErr(self, cls, fn, errno_=None, field=None, text=None):
        with self.assertRaises(cls) as cm:
            fn()
        e = cm.exception
        self.assertIsInstance(e, ipcarc.Error)
        if errno_ is not None:
            self.assertEqual(e.errno, errno_, e)
        if field is not None:
            self.assertEqual(e.field, field, e)
        if text is not None:
            self.assertIn(text, str(e))
        return e

    def race(self, peer_args, work, threads=2):
        """Start a gated peer per args tuple (each ending in "gate"), release them
        together, run work() in `threads` threads meanwhile, and wait until every
        peer says "done" and exits 0."""
        peers = [Peer(self, *args, stdin=True) for args in peer_args]
        for p in peers:
            p.expect("ready")
        for p in peers:
            p.p.stdin.write("go\n")
            p.p.stdin.flush()
        ths = [threading.Thread(target=work) for _ in range(threads)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        for p in peers:
            p.expect("done")
            p.wait()

    def in_fork(self, child):
        """Run child() in a forked process (the handles it uses inherited) and
        check that it returns 0; a child that raises says 99."""
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            code = 99
            try:
                os.close(r)
                code = child()
            finally:
                try:
                    os.write(w, bytes([code if isinstance(code, int) and 0 <= code < 256 else 98]))
                finally:
                    os._exit(0)
        os.close(w)
        try:
            got = os.read(r, 1)
        finally:
            os.close(r)
            os.waitpid(pid, 0)
        self.assertEqual(got, b"\0")
