"""Arc: one typed value in a named shared-memory segment (Go's ipcarc.Arc[T])."""

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


class Guard:
    """The held value lock (Arc.lock). A context manager whose `as` target is
    the value in the mapping (zero copy); or call .value and .unlock()."""
    __slots__ = ("_arc", "_held", "value", "_unchanged")

    def __init__(self, arc):
        self._arc, self._held, self.value, self._unchanged = arc, True, arc._view, False

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        self.unlock()
        return False

    def unlock(self):
        """Release the lock. From a thread that does not hold it: NotOwnerError, nothing changes."""
        a = self._arc
        if not self._held or a._closed:
            raise E.NotOwnerError(op="unlock", name=a.name)
        rc = lib.ipcarc_unlock(a._seg)
        if rc:
            raise E.from_rc("unlock", a.name, rc)
        self._held = False


class Arc:
    """A handle on a named segment holding one value of a ctypes type.

    Create with Arc.new, attach with Arc.open or Arc.open_or_new. Every
    process presents the same ctypes type (size and alignment) and the same
    type_tag (a string hashed as Go's WithTypeTag and C's ipcarc_tag).
    """

    _guard = Guard  # what lock hands out (Slice: SliceGuard)

    def __init__(self, *_a, **_k):
        raise TypeError("use Arc.new, Arc.open or Arc.open_or_new")

    @classmethod
    def _make(cls, name, ctype, seg, created=False):
        self = object.__new__(cls)
        self.name, self.ctype, self._seg, self.created = name.lstrip("/"), ctype, seg, created
        self._closed = False
        self._close_lock = threading.Lock()
        self._view = ctype.from_address(lib.ipcarc_data(seg))
        self._size = ctypes.sizeof(ctype)  # the value size ipcarc_open validated
        self._fields = {}  # atomic field -> (key, width, signed)
        self._bind_obj = _ffi.Bind(seg, self._size)  # the atomic helpers' private binding
        self._bind = ctypes.addressof(self._bind_obj)
        return self

    @classmethod
    def new(cls, name, value, *, type_tag, mode=0o600, lifetime=LAST_CLOSE, max_holders=64,
            open_timeout=None, trusted_owners=(), trusted_group=None):
        """Create the segment exclusively, holding a copy of value (a ctypes instance). ExistError if taken."""
        ctype = type(value)
        b = _bname("new", name)
        spec = _spec("new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout, trusted_owners,
                     trusted_group)
        seg = ctypes.c_void_p()
        rc = lib.ipcarc_create(b, ctypes.byref(spec), ctypes.addressof(value), ctypes.byref(seg))
        if rc:
            raise E.from_rc("new", name, rc)
        return cls._make(name, ctype, seg, created=True)

    @classmethod
    def open(cls, name, ctype, *, type_tag, open_timeout=None, trusted_owners=(), trusted_group=None):
        """Attach to an existing segment whose value is a ctype with this type_tag."""
        b = _bname("open", name)
        spec = _spec("open", name, ctype, type_tag, 0o600, LAST_CLOSE, 64, open_timeout, trusted_owners,
                     trusted_group)
        seg, field = ctypes.c_void_p(), ctypes.c_int(0)
        rc = lib.ipcarc_open(b, ctypes.byref(spec), ctypes.byref(seg), ctypes.byref(field))
        if rc:
            raise E.from_rc("open", name, rc, field.value)
        return cls._make(name, ctype, seg)

    @classmethod
    def open_or_new(cls, name, value, *, type_tag, mode=0o600, lifetime=LAST_CLOSE, max_holders=64,
                    open_timeout=None, trusted_owners=(), trusted_group=None):
        """Open, or create holding value when absent; .created says which."""
        ctype = type(value)
        b = _bname("open or new", name)
        spec = _spec("open or new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout,
                     trusted_owners, trusted_group)
        seg, field, created = ctypes.c_void_p(), ctypes.c_int(0), ctypes.c_int(0)
        rc = lib.ipcarc_open_or_create(b, ctypes.byref(spec), ctypes.addressof(value), ctypes.byref(seg),
                                       ctypes.byref(created), ctypes.byref(field))
        if rc:
            raise E.from_rc("open or new", name, rc, field.value)
        return cls._make(name, ctype, seg, created=bool(created.value))

    # ---- handles ----------------------------------------------------------------

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

    def __repr__(self):
        return "<ipcarc.Arc %r %s%s>" % (self.name, self.ctype.__name__, " closed" if self._closed else "")

    # ---- locking ----------------------------------------------------------------

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

    def update(self, fn):
        """Lock, call fn(value in place), unlock. If fn raises, the value is
        poisoned (as a panic does in Go's Update and Rust), the lock released and
        the exception propagates. Returns fn's result."""
        g = self.lock()
        try:
            r = fn(g.value)
        except BaseException:
            lib.ipcarc_py_poison(self._seg)
            g.unlock()
            raise
        lib.ipcarc_py_count_update(self._seg)
        g.unlock()
        return r

    def recover(self, fn):
        """Repair a poisoned value: lock whatever the poison, call fn(value in
        place), clear the poison for every process if fn returns normally,
        always unlock. If fn raises, the poison stays (or is set), the lock is
        released and the exception propagates. On a healthy value: update."""
        seg = self._live("recover")
        rc = lib.ipcarc_lock(seg)
        if rc and rc != _errno.EOWNERDEAD:
            raise E.from_rc("recover", self.name, rc)
        try:
            r = fn(self._view)
        except BaseException:
            lib.ipcarc_py_poison(seg)
            lib.ipcarc_unlock(seg)
            raise
        crc = lib.ipcarc_clear_poison(seg) if lib.ipcarc_poisoned(seg) else 0
        urc = lib.ipcarc_unlock(seg)
        if crc or urc:
            raise E.from_rc("recover", self.name, crc or urc)
        return r

    # ---- fast paths -------------------------------------------------------------

    def load(self):
        """A copy of the value, read without the lock (seqlock). PoisonedError
        (with .value, the copy) when the value is poisoned."""
        out = self.ctype()
        rc = lib.ipcarc_load(self._live("load"), ctypes.addressof(out), ctypes.sizeof(out))
        if rc:
            err = E.from_rc("load", self.name, rc)
            if isinstance(err, E.PoisonedError):
                err.value = out
            raise err
        return out

    def store(self, value):
        """Replace the value (lock, copy in, new version, unlock). PoisonedError when poisoned."""
        if type(value) is not self.ctype:
            raise E.UnsupportedTypeError(op="store", name=self.name,
                                         detail="store takes a %s, got %s" % (self.ctype.__name__,
                                                                               type(value).__name__))
        rc = lib.ipcarc_store(self._live("store"), ctypes.addressof(value), ctypes.sizeof(value))
        if rc:
            raise E.from_rc("store", self.name, rc)

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

    # ---- lock-free fields ---------------------------------------------------------

    def _field(self, op, field, width):
        """(key, width, signed) for a field name (dotted path through nested
        Structures and Unions, integer steps into Arrays: "workers.3.requests")
        or a raw byte offset (read unsigned; width 8 unless given). key is what
        the C helpers take: offset << 4 | width."""
        if isinstance(field, bool) or not isinstance(field, (int, str)):
            raise E.InvalidOptionError(op=op, name=self.name, detail="the field must be a byte offset (int) or "
                                       "a field name of %s, got %r" % (self.ctype.__name__, field))
        if width is not None and (isinstance(width, bool) or width not in (4, 8)):
            raise E.InvalidOptionError(op=op, name=self.name, detail="width must be 4 or 8 bytes, got %r" % (width,))
        if isinstance(field, int):
            if field < 0:
                raise E.InvalidOptionError(op=op, name=self.name, detail="offset %d is negative" % field)
            off, w, signed = field, width or 8, False
        else:
            off, w, signed = _resolve(op, self.name, self.ctype, field, width)
        # An offset past 2^58 is outside any value (at most 2^46 bytes): C says so.
        r = (min(off, 1 << 58) << 4 | w, w, signed)
        if not self._closed:
            # From the first atomic call on, load() and store() copy the value one
            # atomic word at a time, as Go's do for a type of atomics, so a copy
            # never tears a field another process changes lock-free. (ECHILD on an
            # inherited handle: the call itself says ForkedError.)
            lib.ipcarc_word_copy(self._seg, 1)
        if width is None:
            self._fields[field] = r
        return r

    def _fail(self, op, field, width):
        """The error of the call that just returned 0 with errno set, or None."""
        rc = _ffi.get_errno()
        if not rc:
            return None
        key, w, _ = self._field(op, field, width)
        off = key >> 4
        if rc == _errno.EINVAL:
            detail = "offset %d (address 0x%x) is not a multiple of %d" % (off, lib.ipcarc_data(self._seg) + off, w)
        elif rc == _errno.ERANGE:
            detail = "bytes %d to %d are outside the %d-byte value" % (off, off + w, self._size)
        else:
            return E.from_rc(op, self.name, rc)
        return type(E.from_rc(op, self.name, rc))(op=op, name=self.name, errno=rc, detail=detail)

    def _arg(self, op, v, w):
        if isinstance(v, bool) or not isinstance(v, int) or not -(1 << (8 * w - 1)) <= v < 1 << (8 * w):
            raise E.InvalidOptionError(op=op, name=self.name, detail="%r is not a %d-bit integer" % (v, 8 * w))
        return v & ((1 << (8 * w)) - 1)

    def _get(self, op, field, width):
        r = self._fields.get(field) if width is None and field.__class__ is not bool else None
        if r is None:
            r = self._field(op, field, width)
        if self._closed:
            raise E.ClosedError(op=op, name=self.name)
        return r

    def atomic_load(self, field, width=None):
        """The field's value, read with one atomic load (SEQ_CST) without the lock."""
        key, w, signed = self._get("atomic load", field, width)
        v = _load(self._bind, key)
        if v == 0:
            err = self._fail("atomic load", field, width)
            if err:
                raise err
        return _signed(v, w) if signed else v

    def atomic_store(self, field, value, width=None):
        """Write the field with one atomic store (SEQ_CST) without the lock."""
        key, w, _ = self._get("atomic store", field, width)
        _store(self._bind, key, self._arg("atomic store", value, w))
        err = self._fail("atomic store", field, width)
        if err:
            raise err

    def atomic_add(self, field, n, width=None):
        """Add n (negative subtracts; wraps modulo 2^bits as Go's Add) with one
        atomic read-modify-write (SEQ_CST) without the lock; return the new value."""
        key, w, signed = self._get("atomic add", field, width)
        if n.__class__ is not int or not -(1 << (8 * w - 1)) <= n < 1 << (8 * w):
            self._arg("atomic add", n, w)
        v = _add(self._bind, key, n & _MASK[w])
        if v == 0:
            err = self._fail("atomic add", field, width)
            if err:
                raise err
        return _signed(v, w) if signed else v

    def atomic_cas(self, field, old, new, width=None):
        """Compare-and-swap without the lock: True when the field held old and now holds new."""
        key, w, _ = self._get("atomic cas", field, width)
        ok = _cas(self._bind, key, self._arg("atomic cas", old, w), self._arg("atomic cas", new, w))
        if not ok:
            err = self._fail("atomic cas", field, width)
            if err:
                raise err
        return bool(ok)

    def notify(self):
        """Say "the value changed" after lock-free changes: the version moves on by
        one and every wait in every process wakes. No lock; never blocks."""
        rc = lib.ipcarc_notify(self._live("notify"))
        if rc:
            raise E.from_rc("notify", self.name, rc)

    # ---- counts and inspection --------------------------------------------------

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


_load, _store, _add, _cas = (_ffi.elib.ipcarc_py_atomic_load, _ffi.elib.ipcarc_py_atomic_store,
                             _ffi.elib.ipcarc_py_atomic_add, _ffi.elib.ipcarc_py_atomic_cas)
_MASK = {4: (1 << 32) - 1, 8: (1 << 64) - 1}
_INT_CODES = {"i": True, "I": False, "l": True, "L": False, "q": True, "Q": False}


def _signed(v, w):
    return v - (1 << (8 * w)) if v >> (8 * w - 1) else v


def _resolve(op, name, ctype, path, width):
    """(offset, width, signed) of the integer field at path inside ctype."""
    off, t = 0, ctype
    for step in path.split("."):
        if isinstance(t, type) and issubclass(t, ctypes.Array):
            if not step.isdigit() or int(step) >= t._length_:
                raise E.InvalidOptionError(op=op, name=name, detail="%r: %r is not an index of a %d-element "
                                           "array" % (path, step, t._length_))
            off, t = off + int(step) * ctypes.sizeof(t._type_), t._type_
        elif isinstance(t, type) and issubclass(t, (ctypes.Structure, ctypes.Union)):
            spec = [f for f in t._fields_ if f[0] == step]
            if not spec:
                raise E.InvalidOptionError(op=op, name=name, detail="%r: %s has no field %r" % (
                    path, t.__name__, step))
            if len(spec[0]) > 2:
                raise E.InvalidOptionError(op=op, name=name, detail="%r is a bit field" % path)
            off, t = off + getattr(t, step).offset, spec[0][1]
        else:
            raise E.InvalidOptionError(op=op, name=name, detail="%r: %r steps into a %s" % (
                path, step, getattr(t, "__name__", t)))
    code = getattr(t, "_type_", None)
    if not (isinstance(t, type) and issubclass(t, ctypes._SimpleCData) and code in _INT_CODES and
            ctypes.sizeof(t) in (4, 8)):
        raise E.InvalidOptionError(op=op, name=name, detail="%r is a %s: atomic calls take a 4- or 8-byte "
                                   "integer field" % (path, getattr(t, "__name__", t)))
    if width is not None and width != ctypes.sizeof(t):
        raise E.InvalidOptionError(op=op, name=name, detail="%r is %d bytes wide, not %d" % (
            path, ctypes.sizeof(t), width))
    return off, ctypes.sizeof(t), _INT_CODES[code]


def remove(name, force=False):
    """Unlink a segment by name: BusyError while live holders exist (unless force)."""
    rc = lib.ipcarc_remove(_bname("remove", name), 1 if force else 0)
    if rc:
        raise E.from_rc("remove", name, rc)
