"""The untyped core that Arc and Slice share (Go's Handle): the spec, opening,
the handle's life (clone, close, context manager), the lock, update/recover,
version/wait/notify, counts and info; and the held lock both guards share.
Each is written once here; arc.py and slice.py add what their shape needs."""

import ctypes
import dataclasses
import errno as _errno
import threading
import time

from . import _ffi
from . import errors as E

lib = _ffi.lib
LAST_CLOSE = _ffi.LAST_CLOSE
UNTIL_REMOVED = _ffi.UNTIL_REMOVED
_WAIT_SLICE_NS = 200_000_000  # wait sleeps in slices so that Ctrl-C is seen
_MASK = {4: (1 << 32) - 1, 8: (1 << 64) - 1}


def tag(s):
    """The tag Go's WithTypeTag(s) uses: FNV-1a 64 over the UTF-8 bytes of s (ipcarc_tag)."""
    return lib.ipcarc_tag(s.encode())


def _tag_of(type_tag):
    if isinstance(type_tag, str):
        return tag(type_tag)
    if isinstance(type_tag, int) and not isinstance(type_tag, bool) and 0 <= type_tag < 1 << 64:
        return type_tag
    raise E.InvalidOptionError(detail="type_tag must be a str (hashed as Go's WithTypeTag) or a 64-bit "
                               "unsigned int, got %r" % (type_tag,))


def _check_ctype(ctype, op, name):
    if not (isinstance(ctype, type) and issubclass(ctype, (ctypes._SimpleCData, ctypes.Structure,
                                                           ctypes.Union, ctypes.Array))):
        raise E.UnsupportedTypeError(op=op, name=name, detail="the value type must be a ctypes type "
                                     "(Structure, Union, Array or scalar), got %r" % (ctype,))
    if issubclass(ctype, (ctypes.c_char_p, ctypes.c_wchar_p, ctypes.c_void_p)) or \
            getattr(ctype, "_type_", None) in ("P", "z", "Z", "O"):
        raise E.UnsupportedTypeError(op=op, name=name, detail="pointers mean nothing in another process")
    size, align = ctypes.sizeof(ctype), ctypes.alignment(ctype)
    if size == 0:
        raise E.UnsupportedTypeError(op=op, name=name, detail="zero-sized type")
    if align > _ffi.MAX_ALIGN:
        raise E.UnsupportedTypeError(op=op, name=name, detail="aligned beyond 4096 bytes")
    return size, align


def _spec(op, name, ctype, type_tag, mode, lifetime, max_holders, open_timeout, trusted_owners, trusted_group):
    size, align = _check_ctype(ctype, op, name)
    s = _ffi.Spec()
    s.value_size, s.value_align = size, align
    s.type_tag = _tag_of(type_tag)
    if not isinstance(max_holders, int) or not 1 <= max_holders <= _ffi.MAX_HOLDERS:
        raise E.InvalidOptionError(op=op, name=name, detail="max holders must be between 1 and 4096")
    s.max_holders = max_holders
    if not isinstance(mode, int) or mode & ~0o777:
        raise E.InvalidOptionError(op=op, name=name, detail="mode must be permission bits (0 to 0o777)")
    if mode & 0o002:
        raise E.InvalidOptionError(op=op, name=name, detail=(
            "mode must not let others write the segment: whoever can write a segment can corrupt the "
            "memory of every process attached to it (its robust mutexes keep glibc's robust-list pointers "
            "in the segment); use a group (0o660) for processes that trust each other"))
    s.mode = mode
    if lifetime not in (LAST_CLOSE, UNTIL_REMOVED):
        raise E.InvalidOptionError(op=op, name=name, detail="lifetime must be LAST_CLOSE or UNTIL_REMOVED")
    s.lifetime = lifetime
    if open_timeout is not None:
        if open_timeout <= 0:
            raise E.InvalidOptionError(op=op, name=name, detail="open_timeout must be positive seconds")
        s.open_timeout_ns = int(open_timeout * 1e9)
    owners = list(trusted_owners)
    ids = owners + ([trusted_group] if trusted_group is not None else [])
    if len(owners) > _ffi.MAX_TRUSTED_UIDS or any(not isinstance(i, int) or not 0 <= i <= 0xfffffffe for i in ids):
        raise E.InvalidOptionError(op=op, name=name, detail="trusted_owners takes at most 8 uids, and uids "
                                   "and gids must be between 0 and 4294967294")
    for i, u in enumerate(owners):
        s.trusted_uids[i] = u
    s.n_trusted_uids = len(owners)
    if trusted_group is not None:
        s.trusted_gid, s.trust_flags = trusted_group, _ffi.TRUST_GROUP
    return s


def _bname(op, name):
    if not isinstance(name, str):
        raise E.InvalidNameError(op=op, name=repr(name))
    b = name.encode()
    if lib.ipcarc_check_name(b) != 0 or name.lstrip("/") in (".", ".."):
        raise E.InvalidNameError(op=op, name=name)
    return b


@dataclasses.dataclass
class Info:
    """A snapshot of a segment (Arc.info), read from the C library without a lock."""
    name: str
    value_size: int
    value_align: int
    type_tag: int
    total_size: int
    max_holders: int
    ref_count: int       # handles of live holders
    used_slots: int      # holder slots in use (dead ones until reaped)
    live_holders: int    # attachments whose process lives
    poisoned: bool
    locked: bool
    lock_owner: int      # Linux tid of the value lock's owner, 0 when free
    version: int
    lifetime: int
    waiters: int
    creator_pid: int
    created_ns: int
    counters: dict
    shape: str = "value"  # "value" (Arc) or "slice" (Slice)
    capacity: int = 0    # Slice: elements the segment holds (value_size is one element's)
    length: int = 0      # Slice: elements in use


class _Held:
    """The held value lock, whatever the shape: Guard and SliceGuard add the view."""
    __slots__ = ("_h", "_held")

    def __init__(self, h):
        self._h, self._held = h, True

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        self.unlock()
        return False

    def unlock(self):
        """Release the lock. From a thread that does not hold it: NotOwnerError, nothing changes."""
        h = self._h
        if not self._held or h._closed:
            raise E.NotOwnerError(op="unlock", name=h.name)
        rc = lib.ipcarc_unlock(h._seg)
        if rc:
            raise E.from_rc("unlock", h.name, rc)
        self._held = False


class _Handle:
    """What Arc and Slice share. A subclass sets _guard (what lock hands out) and
    _shape, and defines _attached (its own state after attaching), _locked_view
    (what update and recover hand fn) and _result (fn's result made the call's)."""

    _guard = None
    _shape = _ffi.SHAPE_VALUE

    def __init__(self, *_a, **_k):
        n = type(self).__name__
        raise TypeError("use %s.new, %s.open or %s.open_or_new" % (n, n, n))

    # ---- opening ------------------------------------------------------------------

    @classmethod
    def _prepare(cls, op, name, ctype, type_tag, mode=0o600, lifetime=LAST_CLOSE, max_holders=64,
                 open_timeout=None, trusted_owners=(), trusted_group=None):
        """The C name and the spec (of this shape) for op."""
        b = _bname(op, name)
        spec = _spec(op, name, ctype, type_tag, mode, lifetime, max_holders, open_timeout, trusted_owners,
                     trusted_group)
        spec.shape = cls._shape
        return b, spec

    @classmethod
    def _attach(cls, op, name, ctype, created, call):
        """Run call(&seg, &created, &field), one of C's create/open/open-or-create,
        and wrap the handle it fills; created is what a call that does not say assumes."""
        seg, field, made = ctypes.c_void_p(), ctypes.c_int(0), ctypes.c_int(int(created))
        rc = call(ctypes.byref(seg), ctypes.byref(made), ctypes.byref(field))
        if rc:
            raise E.from_rc(op, name, rc, field.value)
        self = object.__new__(cls)
        self.name, self.ctype, self._seg, self.created = name.lstrip("/"), ctype, seg, bool(made.value)
        self._closed = False
        self._close_lock = threading.Lock()
        self._fields = {}  # atomic field -> (key or offset, width, signed)
        self._attached(seg)  # sets _size, the bytes the atomic helpers may reach
        self._bind_obj = _ffi.Bind(seg, self._size)  # the atomic helpers' private binding
        self._bind = ctypes.addressof(self._bind_obj)
        return self

    # ---- handles ------------------------------------------------------------------

    def _live(self, op):
        if self._closed:
            raise E.ClosedError(op=op, name=self.name)
        return self._seg

    def clone(self):
        """One more handle on the same attachment (ref_count + 1); close each."""
        rc = lib.ipcarc_clone(self._live("clone"))
        if rc:
            raise E.from_rc("clone", self.name, rc)
        c = object.__new__(type(self))
        c.__dict__.update(self.__dict__)
        c._close_lock = threading.Lock()
        c.created = False
        return c

    def close(self):
        """Give the handle back; the last close of the last holder unlinks the segment.
        A second close raises ClosedError; DeadlockError (still open) while this
        thread holds the lock through the attachment's last handle."""
        with self._close_lock:
            seg = self._live("close")
            rc = lib.ipcarc_close(seg)
            if rc == _errno.EDEADLK:
                raise E.from_rc("close", self.name, rc)
            self._closed = True
            self._view = None
        if rc:
            raise E.from_rc("close", self.name, rc)

    @property
    def closed(self):
        return self._closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if not self._closed:
            self.close()
        return False

    def __del__(self):
        # The safety net: a handle garbage-collected without close is closed.
        try:
            if not self.__dict__.get("_closed", True):
                self._closed = True
                lib.ipcarc_close(self._seg)
        except Exception:
            pass

    # ---- locking ------------------------------------------------------------------

    def lock(self, timeout=None, blocking=True):
        """Take the value lock and return a Guard: `with arc.lock() as v:` (v is the
        value in the mapping, zero copy, valid until the block ends).

        A poisoned value is not handed out: the lock is released and
        PoisonedError raised (OwnerDeadError, a subclass, for the first lock
        after a holder died inside its critical section). Repair with recover.
        blocking=False: WouldBlockError when held; timeout (seconds): TimeoutError.
        DeadlockError when this thread already holds it. The lock belongs to the
        OS thread that took it: unlock it in that thread."""
        seg = self._live("lock")
        if not blocking:
            op, rc = "try_lock", lib.ipcarc_trylock(seg)
        elif timeout is not None:
            op, rc = "lock", lib.ipcarc_timedlock(seg, max(0, int(timeout * 1e9)))
        else:
            op, rc = "lock", lib.ipcarc_lock(seg)
        return self._locked(op, rc)

    def try_lock(self):
        """lock(blocking=False)."""
        return self.lock(blocking=False)

    def _locked(self, op, rc):
        if rc == 0 and not lib.ipcarc_poisoned(self._seg):
            return self._guard(self)
        if rc == 0 or rc == _errno.EOWNERDEAD:
            err = E.from_rc(op, self.name, rc or _errno.ENOTRECOVERABLE)
            urc = lib.ipcarc_unlock_unchanged(self._seg)  # nothing written: no version, no wake-up
            if urc:
                raise E.from_rc("unlock", self.name, urc) from err
            raise err
        raise E.from_rc(op, self.name, rc)

    def _update(self, fn):
        """update: lock (refusing a poisoned value), call fn(the guard's view), make
        its result the call's (_result), count the update, unlock. If fn raises,
        the value is poisoned, the lock released and the exception propagates."""
        g = self.lock()
        try:
            r = fn(g.value)
        except BaseException:
            lib.ipcarc_py_poison(self._seg)
            g.unlock()
            raise
        try:
            r = self._result("update", r)
            lib.ipcarc_py_count_update(self._seg)
            return r
        finally:
            g.unlock()

    def _recover(self, fn):
        """recover: lock whatever the poison, call fn(_locked_view()), make its result
        the call's (_result; if that raises, unlock and the poison stays), clear the
        poison for every process, unlock. If fn raises, the poison stays (or is set)."""
        seg = self._live("recover")
        rc = lib.ipcarc_lock(seg)
        if rc and rc != _errno.EOWNERDEAD:
            raise E.from_rc("recover", self.name, rc)
        try:
            r = fn(self._locked_view())
        except BaseException:
            lib.ipcarc_py_poison(seg)
            lib.ipcarc_unlock(seg)
            raise
        try:
            r = self._result("recover", r)
        except BaseException:
            lib.ipcarc_unlock(seg)
            raise
        crc = lib.ipcarc_clear_poison(seg) if lib.ipcarc_poisoned(seg) else 0
        urc = lib.ipcarc_unlock(seg)
        if crc or urc:
            raise E.from_rc("recover", self.name, crc or urc)
        return r

    # ---- versions -----------------------------------------------------------------

    @property
    def version(self):
        """Completed writes so far (unlock of a lock, store, update), modulo 2^31."""
        return lib.ipcarc_version(self._live("version"))

    def wait(self, since, timeout=None):
        """Sleep until the version differs from since; return the new version.
        TimeoutError after timeout seconds (None: forever); DeadlockError while
        this thread holds the lock."""
        seg = self._live("wait")
        deadline = None if timeout is None else time.monotonic() + timeout
        now = ctypes.c_uint32()
        while True:
            slice_ns = _WAIT_SLICE_NS
            if deadline is not None:
                slice_ns = min(slice_ns, max(0, int((deadline - time.monotonic()) * 1e9)))
            rc = lib.ipcarc_wait(seg, since & 0xffffffff, slice_ns, ctypes.byref(now))
            if rc == 0:
                return now.value
            if rc == _errno.ETIMEDOUT:
                if deadline is not None and time.monotonic() >= deadline:
                    raise E.from_rc("wait", self.name, rc)
                continue
            if rc != _errno.EINTR:
                raise E.from_rc("wait", self.name, rc)

    def notify(self):
        """Say "the value changed" after lock-free changes: the version moves on by
        one and every wait in every process wakes. No lock; never blocks."""
        rc = lib.ipcarc_notify(self._live("notify"))
        if rc:
            raise E.from_rc("notify", self.name, rc)

    # ---- lock-free fields ---------------------------------------------------------

    def _check_field(self, op, field, width):
        if isinstance(field, bool) or not isinstance(field, (int, str)):
            raise E.InvalidOptionError(op=op, name=self.name, detail="the field must be a byte offset (int) or "
                                       "a field name of %s, got %r" % (self.ctype.__name__, field))
        if width is not None and (isinstance(width, bool) or width not in (4, 8)):
            raise E.InvalidOptionError(op=op, name=self.name, detail="width must be 4 or 8 bytes, got %r" % (width,))

    def _arg(self, op, v, w):
        if isinstance(v, bool) or not isinstance(v, int) or not -(1 << (8 * w - 1)) <= v < 1 << (8 * w):
            raise E.InvalidOptionError(op=op, name=self.name, detail="%r is not a %d-bit integer" % (v, 8 * w))
        return v & _MASK[w]

    # ---- counts and inspection ----------------------------------------------------

    @property
    def ref_count(self):
        """Handles of live holders over every process (killed holders stop counting at once)."""
        return lib.ipcarc_refcount(self._live("ref_count"))

    def reap(self):
        """Remove dead holders' handles from the count; returns how many."""
        n = ctypes.c_int()
        rc = lib.ipcarc_reap(self._live("reap"), ctypes.byref(n))
        if rc:
            raise E.from_rc("reap", self.name, rc)
        return n.value

    def info(self):
        """An Info snapshot from the C library (no lock taken)."""
        seg = self._live("info")
        st, c = _ffi.Stats(), _ffi.Counters()
        lib.ipcarc_py_stats(seg, ctypes.byref(st))
        lib.ipcarc_read_counters(seg, ctypes.byref(c))
        return Info(name=self.name, value_size=st.value_size, value_align=st.value_align,
                    type_tag=st.type_tag, total_size=st.total_size, max_holders=st.max_holders,
                    ref_count=st.refcount, used_slots=st.used_slots, live_holders=st.live_holders,
                    poisoned=bool(st.poisoned), locked=st.lock_owner != 0, lock_owner=st.lock_owner,
                    version=st.version, lifetime=st.lifetime, waiters=st.waiters,
                    creator_pid=st.creator_pid, created_ns=st.created_ns,
                    counters={n: getattr(c, n) for n in _ffi.COUNTER_NAMES})
