"""Slice: up to a fixed capacity of elements of one ctypes type in a named
shared-memory segment, a length of them in use (Go's ipcarc.Slice[T], C's
ipcarc_slice_*, Rust's IpcSlice<T>)."""

import ctypes
import errno as _errno
import operator

from . import _ffi
from . import errors as E
from ._handle import LAST_CLOSE, _Handle, _Held
from .arc import _resolve, _signed, _add, _cas, _load, _store, _INT_CODES

lib = _ffi.lib


class SliceGuard(_Held):
    """The held lock of a Slice (Slice.lock). A context manager whose `as`
    target is the view: a ctypes array of the elements in use, inside the
    mapping (zero copy; len = the length when the lock was taken or last
    set). Valid until the lock is released."""
    __slots__ = ("_view",)

    def __init__(self, s):
        _Held.__init__(self, s)
        self._view = None

    @property
    def value(self):
        """The elements in use (a ctypes array in the mapping), at the current length."""
        n = self._h._len_now()
        if self._view is None or len(self._view) != n:
            self._view = self._h._view_of(n)
        return self._view

    def set_len(self, n):
        """Slice.set_len: change the length (0 to cap) under this lock; returns the new view."""
        self._view = self._h.set_len(n)
        return self._view

    def memoryview(self):
        """A memoryview of the view (the buffer protocol of ctypes arrays; zero copy).
        Valid until the lock is released: release() it before that."""
        return memoryview(self.value)

    def numpy(self):
        """A numpy array over the view (numpy.ctypeslib.as_array; zero copy), valid
        until the lock is released. Needs numpy (ImportError without it: the package
        itself never needs numpy)."""
        import numpy  # optional, only here
        return numpy.ctypeslib.as_array(self.value)

    def unlock(self):
        """Release the lock (a new version, every wait wakes). From a thread that does not hold it: NotOwnerError."""
        _Held.unlock(self)
        self._view = None


def _elements(op, name, ctype, values):
    """values (a ctypes array of ctype, or an iterable of ctype instances or
    what ctype(v) takes) as a ctypes array."""
    if values is None:
        return (ctype * 0)()
    if isinstance(values, ctypes.Array) and getattr(type(values), "_type_", None) is ctype:
        return values
    try:
        vals = list(values)
        return (ctype * len(vals))(*vals)
    except (TypeError, ValueError) as e:
        raise E.UnsupportedTypeError(op=op, name=name, detail="the values must be %s elements: %s" % (
            ctype.__name__, e))


def _capacity(op, name, n, capacity, size):
    if capacity is None:
        capacity = n
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 0:
        raise E.InvalidOptionError(op=op, name=name, detail="capacity must be a non-negative int, got %r" % (capacity,))
    if n > capacity:
        raise E.InvalidOptionError(op=op, name=name, detail="%d values do not fit a capacity of %d" % (n, capacity))
    if capacity > (1 << 46) // size:
        raise E.InvalidOptionError(op=op, name=name, detail="capacity %d of %d-byte elements passes 2^46 bytes" % (
            capacity, size))
    return capacity


class Slice(_Handle):
    """A handle on a named segment holding up to cap elements of a ctypes
    type, len of them in use: Go's Slice[T] with a fixed capacity.

    Create with Slice.new, attach with Slice.open or Slice.open_or_new. Every
    process presents the same element type (size and alignment) and type_tag;
    the shape is part of the identity: Arc.open of a slice and Slice.open of a
    one-value segment are TypeMismatchError with field "shape".
    """

    _guard = SliceGuard
    _shape = _ffi.SHAPE_SLICE

    def _attached(self, seg):
        self._esize = ctypes.sizeof(self.ctype)
        self._cap = lib.ipcarc_slice_cap(seg)  # validated at attach; private
        self._data = lib.ipcarc_data(seg)
        self._size = self._cap * self._esize  # the atomic helpers reach the whole element area
        self._simple = issubclass(self.ctype, ctypes._SimpleCData)

    @classmethod
    def new(cls, name, ctype, values=(), capacity=None, *, type_tag, mode=0o600, lifetime=LAST_CLOSE,
            max_holders=64, open_timeout=None, trusted_owners=(), trusted_group=None):
        """Create exclusively with room for capacity elements of ctype (None: as
        many as values), the first len(values) holding values. ExistError if taken."""
        b, spec = cls._prepare("new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout,
                               trusted_owners, trusted_group)
        init = _elements("new", name, ctype, values)
        cap = _capacity("new", name, len(init), capacity, spec.value_size)
        return cls._attach("new", name, ctype, True, lambda seg, _created, _field: lib.ipcarc_slice_create(
            b, ctypes.byref(spec), cap, ctypes.addressof(init), len(init), seg))

    @classmethod
    def open(cls, name, ctype, *, type_tag, open_timeout=None, trusted_owners=(), trusted_group=None):
        """Attach to an existing slice of ctype elements with this type_tag (the capacity is the segment's)."""
        b, spec = cls._prepare("open", name, ctype, type_tag, open_timeout=open_timeout,
                               trusted_owners=trusted_owners, trusted_group=trusted_group)
        return cls._attach("open", name, ctype, False, lambda seg, _created, field: lib.ipcarc_slice_open(
            b, ctypes.byref(spec), seg, field))

    @classmethod
    def open_or_new(cls, name, ctype, values=(), capacity=None, *, type_tag, mode=0o600, lifetime=LAST_CLOSE,
                    max_holders=64, open_timeout=None, trusted_owners=(), trusted_group=None):
        """Open, or create as new does when absent; .created says which (an opened slice keeps its capacity)."""
        b, spec = cls._prepare("open or new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout,
                               trusted_owners, trusted_group)
        init = _elements("open or new", name, ctype, values)
        cap = _capacity("open or new", name, len(init), capacity, spec.value_size)
        return cls._attach("open or new", name, ctype, False, lambda seg, created, field: (
            lib.ipcarc_slice_open_or_create(b, ctypes.byref(spec), cap, ctypes.addressof(init), len(init), seg,
                                            created, field)))

    def __repr__(self):
        return "<ipcarc.Slice %r %s[%s/%d]%s>" % (self.name, self.ctype.__name__,
                                                  "?" if self._closed else len(self), self._cap,
                                                  " closed" if self._closed else "")

    def lock(self, timeout=None, blocking=True):
        """Take the lock and return a SliceGuard: `with s.lock() as view:` (view is
        a ctypes array of the elements in use, in the mapping, zero copy, valid
        until the block ends; s.set_len(n) or guard.set_len(n) changes the length).
        Refusals as Arc.lock: PoisonedError / OwnerDeadError (nothing held),
        WouldBlockError (blocking=False), TimeoutError, DeadlockError."""
        return _Handle.lock(self, timeout, blocking)

    # ---- the elements -----------------------------------------------------------

    def _len_now(self):
        return lib.ipcarc_slice_len(self._live("len"))

    def _view_of(self, n):
        return (self.ctype * n).from_address(self._data)

    def __len__(self):
        """The elements in use (lock-free: one atomic read, ipcarc_slice_len); 0 on an inherited handle."""
        return lib.ipcarc_slice_len(self._live("len"))

    @property
    def cap(self):
        """The capacity (fixed at creation)."""
        self._live("cap")
        return self._cap

    def _err(self, op, rc, out=None, i=None):
        err = E.from_rc(op, self.name, rc, _ffi.FIELD_LENGTH if rc == _errno.EBADMSG else 0)
        if rc == _errno.ERANGE and i is not None:
            err = E.OutOfRangeError(op=op, name=self.name, errno=rc, detail="index %d is not below the length %d" % (
                i, lib.ipcarc_slice_len(self._seg)))
        if out is not None and isinstance(err, E.PoisonedError):
            err.value = out
        return err

    def _forked(self, op):
        """ForkedError on a handle inherited through fork (whose length reads 0)."""
        if not lib.ipcarc_data(self._seg):
            raise E.from_rc(op, self.name, _errno.ECHILD)

    def _index(self, op, i):
        try:
            i = operator.index(i)
        except TypeError:
            raise TypeError("Slice indices must be integers (no slicing: load() copies all), not %s" %
                            type(i).__name__) from None
        if i < 0:
            i += len(self)
            if i < 0:
                self._forked(op)
                raise E.OutOfRangeError(op=op, name=self.name, errno=_errno.ERANGE,
                                        detail="index %d is before the first element" % (i - len(self)))
        return i

    def __getitem__(self, i):
        """Element i (negative: from the end), one consistent copy read without the
        lock (ipcarc_slice_get). OutOfRangeError (an IndexError) at or past len.
        A scalar element type gives its Python value; a Structure, a copy."""
        if self._closed:
            raise E.ClosedError(op="get", name=self.name)
        seg = self._seg
        if i.__class__ is not int or i < 0:
            i = self._index("get", i)
        out = self.ctype()
        rc = lib.ipcarc_slice_get(seg, i, ctypes.addressof(out))
        if rc:
            raise self._err("get", rc, out.value if self._simple else out, i)
        return out.value if self._simple else out

    def __setitem__(self, i, v):
        """Write element i under the lock (ipcarc_slice_set; a new version).
        OutOfRangeError at or past len; PoisonedError when poisoned."""
        if self._closed:
            raise E.ClosedError(op="set", name=self.name)
        seg = self._seg
        if i.__class__ is not int or i < 0:
            i = self._index("set", i)
        if v.__class__ is not self.ctype and not isinstance(v, self.ctype):
            try:
                v = self.ctype(v)
            except (TypeError, ValueError) as e:
                raise E.UnsupportedTypeError(op="set", name=self.name, detail="element %d must be a %s: %s" % (
                    i, self.ctype.__name__, e)) from None
        rc = lib.ipcarc_slice_set(seg, i, ctypes.addressof(v))
        if rc:
            raise self._err("set", rc, i=i)

    def __iter__(self):
        return iter(self.load())

    def load(self):
        """A copy of the elements in use as a ctypes array (ctype * len), one
        consistent snapshot read without the lock (seqlock); list(s.load())
        for a list. PoisonedError (with .value, the copy) when poisoned."""
        seg = self._live("load")
        n = lib.ipcarc_slice_len(seg)
        got = ctypes.c_size_t()
        while True:
            buf = (self.ctype * n)()
            rc = lib.ipcarc_slice_load(seg, ctypes.addressof(buf), n, ctypes.byref(got))
            if rc != _errno.ENOBUFS:
                break
            n = got.value  # it grew since the length was read: again, with room
        if got.value < n:
            buf = (self.ctype * got.value).from_buffer(buf)
        if rc:
            raise self._err("load", rc, buf)
        return buf

    def store(self, values):
        """Replace the contents: lock, copy values in, length = len(values), new
        version, unlock. OutOfRangeError past the capacity (nothing changed);
        PoisonedError when poisoned."""
        seg = self._live("store")
        vals = _elements("store", self.name, self.ctype, values)
        if len(vals) > self._cap:
            raise E.OutOfRangeError(op="store", name=self.name, errno=_errno.ERANGE,
                                    detail="%d elements do not fit the capacity %d" % (len(vals), self._cap))
        rc = lib.ipcarc_slice_store(seg, ctypes.addressof(vals), len(vals))
        if rc:
            raise self._err("store", rc)

    def set_len(self, n):
        """Under the lock (held by this thread): set the length to n (0 to cap;
        elements between the old and new length keep what they held) and return
        the new view. OutOfRangeError past cap; NotOwnerError without the lock."""
        seg = self._live("set length")
        if isinstance(n, bool) or not isinstance(n, int) or n < 0 or n > self._cap:
            raise E.OutOfRangeError(op="set length", name=self.name, errno=_errno.ERANGE,
                                    detail="length %r is not within the capacity %d" % (n, self._cap))
        rc = lib.ipcarc_slice_set_len(seg, n)
        if rc:
            raise E.from_rc("set length", self.name, rc)
        return self._view_of(n)

    def _result(self, op, r):
        """fn's result in update/recover: None keeps the length (recover of a poisoned
        slice rewrites a length word beyond cap as cap), an int sets it; returns the
        length after."""
        seg = self._seg
        if r is None and lib.ipcarc_poisoned(seg):
            r = lib.ipcarc_slice_len(seg)
        if r is not None:
            if isinstance(r, bool) or not isinstance(r, int):
                raise E.InvalidOptionError(op=op, name=self.name, detail="the function returns None or the new "
                                           "length (an int), got %r" % (r,))
            self.set_len(r)
        return lib.ipcarc_slice_len(seg)

    def _locked_view(self):
        return self._view_of(lib.ipcarc_slice_len(self._seg))

    def update(self, fn):
        """Lock, call fn(view) (the elements in use, in place), unlock. fn returns
        None (length unchanged) or the new length (0 to cap: elements past the
        old length keep what they held). A bad length: OutOfRangeError or
        InvalidOptionError, the length unchanged, no poison. If fn raises, the
        slice is poisoned, the lock released and the exception propagates.
        Returns the length after."""
        return self._update(fn)

    def recover(self, fn):
        """Repair a poisoned slice: lock whatever the poison, call fn(view) (the
        elements in use; a length word beyond the capacity shows as cap
        elements), set the length fn returns (None: unchanged), clear the poison
        for every process if fn returns normally, always unlock. If fn raises,
        the poison stays (or is set). On a healthy slice: update. Returns the length after."""
        return self._recover(fn)

    # ---- lock-free fields of one element ------------------------------------------

    def _key(self, op, i, field, width):
        """(key, width, signed) for field (a name in the element type, or a byte
        offset within the element) of element i; i must be below len."""
        seg = self._live(op)
        self._check_field(op, field, width)
        ck = (field, width)
        r = self._fields.get(ck)
        if r is None:
            if isinstance(field, int):
                off, w, signed = field, width or 8, False
                if self._simple and off == 0 and w == self._esize:
                    signed = _INT_CODES.get(self.ctype._type_, False)
                if off < 0 or off + w > self._esize:
                    raise E.InvalidOptionError(op=op, name=self.name, errno=_errno.ERANGE, detail=(
                        "bytes %d to %d are outside the %d-byte element" % (off, off + w, self._esize)))
            elif self._simple:
                raise E.InvalidOptionError(op=op, name=self.name, detail="a %s element has no field %r: give a "
                                           "byte offset (0)" % (self.ctype.__name__, field))
            else:
                off, w, signed = _resolve(op, self.name, self.ctype, field, width)
            r = self._fields[ck] = (off, w, signed)
        i = self._index(op, i)
        n = lib.ipcarc_slice_len(seg)
        if i >= n:
            self._forked(op)
            raise E.OutOfRangeError(op=op, name=self.name, errno=_errno.ERANGE,
                                    detail="index %d is not below the length %d" % (i, n))
        off, w, signed = r
        return (i * self._esize + off) << 4 | w, w, signed

    def _fail(self, op, key):
        rc = _ffi.get_errno()
        if not rc:
            return None
        if rc == _errno.EINVAL:
            return E.AlignmentError(op=op, name=self.name, errno=rc, detail="offset %d (address 0x%x) is not a "
                                    "multiple of %d" % (key >> 4, self._data + (key >> 4), key & 15))
        return E.from_rc(op, self.name, rc)

    def atomic_load(self, i, field=0, width=None):
        """Element i's field read with one atomic load (SEQ_CST) without the lock.
        field: a field name of the element type (dotted, as Arc's) or a byte offset
        within the element (a scalar element: 0, the default)."""
        key, w, signed = self._key("atomic load", i, field, self._w(field, width))
        v = _load(self._bind, key)
        if v == 0:
            err = self._fail("atomic load", key)
            if err:
                raise err
        return _signed(v, w) if signed else v

    def atomic_store(self, i, field, value=None, width=None):
        """Write element i's field with one atomic store (SEQ_CST) without the lock.
        atomic_store(i, value) on a scalar element type."""
        if value is None and not isinstance(field, str):
            field, value = 0, field
        key, w, _ = self._key("atomic store", i, field, self._w(field, width))
        _store(self._bind, key, self._arg("atomic store", value, w))
        err = self._fail("atomic store", key)
        if err:
            raise err

    def atomic_add(self, i, field, n=None, width=None):
        """Add n to element i's field with one atomic read-modify-write (SEQ_CST,
        wrapping as Go's Add) without the lock; returns the new value.
        atomic_add(i, n) on a scalar element type."""
        if n is None:
            field, n = 0, field
        key, w, signed = self._key("atomic add", i, field, self._w(field, width))
        v = _add(self._bind, key, self._arg("atomic add", n, w))
        if v == 0:
            err = self._fail("atomic add", key)
            if err:
                raise err
        return _signed(v, w) if signed else v

    def atomic_cas(self, i, field, old, new=None, width=None):
        """Compare-and-swap element i's field without the lock: True when it held
        old and now holds new. atomic_cas(i, old, new) on a scalar element type."""
        if new is None:
            field, old, new = 0, field, old
        key, w, _ = self._key("atomic cas", i, field, self._w(field, width))
        ok = _cas(self._bind, key, self._arg("atomic cas", old, w), self._arg("atomic cas", new, w))
        if not ok:
            err = self._fail("atomic cas", key)
            if err:
                raise err
        return bool(ok)

    def _w(self, field, width):
        # A raw offset into a scalar element of 4 or 8 bytes: the element's width.
        if width is None and not isinstance(field, str) and self._simple and self._esize in (4, 8):
            return self._esize
        return width

    # ---- inspection ---------------------------------------------------------------

    def info(self):
        """An Info snapshot (shape "slice", capacity, length; value_size is one element's)."""
        import dataclasses
        i = _Handle.info(self)
        return dataclasses.replace(i, shape="slice", capacity=self._cap, length=lib.ipcarc_slice_len(self._seg))
