"""Arc: one typed value in a named shared-memory segment (Go's ipcarc.Arc[T])."""

import ctypes
import errno as _errno

from . import _ffi
from . import errors as E
from ._handle import (LAST_CLOSE, UNTIL_REMOVED, Info, _Handle, _Held, _MASK, _bname, _check_ctype,  # noqa: F401
                      _spec, _tag_of, lib, tag)


class Guard(_Held):
    """The held value lock (Arc.lock). A context manager whose `as` target is
    the value in the mapping (zero copy); or call .value and .unlock()."""
    __slots__ = ("value", "_unchanged")

    def __init__(self, arc):
        _Held.__init__(self, arc)
        self.value, self._unchanged = arc._view, False


class Arc(_Handle):
    """A handle on a named segment holding one value of a ctypes type.

    Create with Arc.new, attach with Arc.open or Arc.open_or_new. Every
    process presents the same ctypes type (size and alignment) and the same
    type_tag (a string hashed as Go's WithTypeTag and C's ipcarc_tag).
    """

    _guard = Guard  # what lock hands out (Slice: SliceGuard)
    _shape = _ffi.SHAPE_VALUE

    def _attached(self, seg):
        self._view = self.ctype.from_address(lib.ipcarc_data(seg))
        self._size = ctypes.sizeof(self.ctype)  # the value size ipcarc_open validated

    @classmethod
    def new(cls, name, value, *, type_tag, mode=0o600, lifetime=LAST_CLOSE, max_holders=64,
            open_timeout=None, trusted_owners=(), trusted_group=None):
        """Create the segment exclusively, holding a copy of value (a ctypes instance). ExistError if taken."""
        ctype = type(value)
        b, spec = cls._prepare("new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout,
                               trusted_owners, trusted_group)
        return cls._attach("new", name, ctype, True, lambda seg, _created, _field: lib.ipcarc_create(
            b, ctypes.byref(spec), ctypes.addressof(value), seg))

    @classmethod
    def open(cls, name, ctype, *, type_tag, open_timeout=None, trusted_owners=(), trusted_group=None):
        """Attach to an existing segment whose value is a ctype with this type_tag."""
        b, spec = cls._prepare("open", name, ctype, type_tag, open_timeout=open_timeout,
                               trusted_owners=trusted_owners, trusted_group=trusted_group)
        return cls._attach("open", name, ctype, False, lambda seg, _created, field: lib.ipcarc_open(
            b, ctypes.byref(spec), seg, field))

    @classmethod
    def open_or_new(cls, name, value, *, type_tag, mode=0o600, lifetime=LAST_CLOSE, max_holders=64,
                    open_timeout=None, trusted_owners=(), trusted_group=None):
        """Open, or create holding value when absent; .created says which."""
        ctype = type(value)
        b, spec = cls._prepare("open or new", name, ctype, type_tag, mode, lifetime, max_holders, open_timeout,
                               trusted_owners, trusted_group)
        return cls._attach("open or new", name, ctype, False, lambda seg, created, field: (
            lib.ipcarc_open_or_create(b, ctypes.byref(spec), ctypes.addressof(value), seg, created, field)))

    def __repr__(self):
        return "<ipcarc.Arc %r %s%s>" % (self.name, self.ctype.__name__, " closed" if self._closed else "")

    # ---- locking ----------------------------------------------------------------

    def update(self, fn):
        """Lock, call fn(value in place), unlock. If fn raises, the value is
        poisoned (as a panic does in Go's Update and Rust), the lock released and
        the exception propagates. Returns fn's result."""
        return self._update(fn)

    def recover(self, fn):
        """Repair a poisoned value: lock whatever the poison, call fn(value in
        place), clear the poison for every process if fn returns normally,
        always unlock. If fn raises, the poison stays (or is set), the lock is
        released and the exception propagates. On a healthy value: update."""
        return self._recover(fn)

    def _locked_view(self):
        return self._view

    def _result(self, op, r):
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

    # ---- lock-free fields ---------------------------------------------------------

    def _field(self, op, field, width):
        """(key, width, signed) for a field name (dotted path through nested
        Structures and Unions, integer steps into Arrays: "workers.3.requests")
        or a raw byte offset (read unsigned; width 8 unless given). key is what
        the C helpers take: offset << 4 | width."""
        self._check_field(op, field, width)
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

_load, _store, _add, _cas = (_ffi.elib.ipcarc_py_atomic_load, _ffi.elib.ipcarc_py_atomic_store,
                             _ffi.elib.ipcarc_py_atomic_add, _ffi.elib.ipcarc_py_atomic_cas)
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
