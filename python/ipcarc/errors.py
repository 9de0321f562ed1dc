"""One exception hierarchy with the cases of Go's sentinel errors (errors.go).

Every exception of this package is an ipcarc.Error carrying:
  errno  the C library's return code (0 when the check was Python's own)
  field  the name of the check that failed (ipcarc_field_name: "type tag",
         "value size", "owner", ...), or None
  op     the operation ("open", "lock", ...), name the segment's name
and a message with the same content as Go's *ipcarc.Error:
  ipcarc: OP "NAME": FIELD differs: SENTINEL TEXT
"""

import errno as _errno
import os as _os

from . import _ffi


class Error(Exception):
    """Base of every ipcarc exception."""
    text = "ipcarc: error"  # Go's sentinel text for this case

    def __init__(self, op="", name="", errno=0, field=None, detail=None, text=None):
        self.op, self.name, self.errno, self.field, self.detail = op, name, errno, field, detail
        if text is not None:
            self.text = text
        super().__init__(self._message())

    def _message(self):
        parts = ["ipcarc: " + self.op if self.op else "ipcarc:"]
        if self.name:
            parts[0] += ' "%s"' % self.name
        if self.detail:
            parts.append(self.detail)
        elif self.field:
            parts.append(self.field + " differs")
        parts.append(self.text[len("ipcarc: "):] if self.text.startswith("ipcarc: ") else self.text)
        return ": ".join(parts)


def _case(cls_name, text, base=Error, doc=""):
    return type(cls_name, (base,), {"text": text, "__doc__": doc or text})


ExistError = _case("ExistError", "ipcarc: segment already exists", doc="Creating: the name is taken (EEXIST).")
NotExistError = _case("NotExistError", "ipcarc: segment does not exist",
                      doc="No segment has that name, or it is being removed (ENOENT).")
InvalidNameError = _case("InvalidNameError", "ipcarc: invalid segment name (an optional leading slash, then 1 to "
                         "200 bytes of A-Z a-z 0-9 . _ -, not . or ..)")
UnsupportedTypeError = _case("UnsupportedTypeError", "ipcarc: type cannot live in shared memory")
TypeMismatchError = _case("TypeMismatchError", "ipcarc: segment holds another type",
                          doc="Value size, alignment or type tag differ (EPROTOTYPE); .field says which.")
IncompatibleError = _case("IncompatibleError", "ipcarc: segment made by an incompatible build",
                          doc="Layout version or ABI word differ (EPROTONOSUPPORT).")
CorruptError = _case("CorruptError", "ipcarc: segment is corrupt or not an ipcarc segment",
                     doc="A validation check failed (EBADMSG); .field says which.")
ClosedError = _case("ClosedError", "ipcarc: handle is closed")
WouldBlockError = _case("WouldBlockError", "ipcarc: lock is held", doc="try_lock: held elsewhere (EBUSY).")
PoisonedError = _case("PoisonedError", "ipcarc: value is poisoned",
                      doc="A holder died inside its critical section, or an update raised: repair with "
                          "Arc.recover (ENOTRECOVERABLE).")
OwnerDeadError = _case("OwnerDeadError", "ipcarc: previous lock owner died: value is poisoned", base=PoisonedError,
                       doc="The first lock after a holder died inside its critical section (EOWNERDEAD); "
                           "the lock is released; repair with Arc.recover.")
NotOwnerError = _case("NotOwnerError", "ipcarc: lock not held by this thread", doc="Unlock by another thread (EPERM).")
DeadlockError = _case("DeadlockError", "ipcarc: operation would deadlock on a lock this thread holds",
                      doc="EDEADLK: this thread already holds the lock.")
TimeoutError = _case("TimeoutError", "ipcarc: timed out", doc="A bounded wait ran out (ETIMEDOUT).")
TooManyHoldersError = _case("TooManyHoldersError", "ipcarc: holder table is full", doc="EUSERS.")
UntrustedError = _case("UntrustedError", "ipcarc: segment file is not trusted",
                       doc="The file fails the trust rule and was not mapped (EACCES; .field owner or mode).")
InvalidOptionError = _case("InvalidOptionError", "ipcarc: invalid option")
ForkedError = _case("ForkedError", "ipcarc: handle was inherited through fork",
                    doc="A handle inherited through os.fork() (ECHILD): open the segment again by name.")
AlignmentError = _case("AlignmentError", "ipcarc: atomic field is not aligned to its width",
                       doc="An atomic call on an offset whose address is not a multiple of the width "
                           "(4 or 8): such an access may tear or fault; the value is untouched.")
OutOfRangeError = type("OutOfRangeError", (Error, IndexError), {
    "text": "ipcarc: index or length out of range",
    "__doc__": "A Slice call past its bounds (ERANGE): an index at or past the length, or a store or "
               "length beyond the capacity. Nothing changed. Also an IndexError, so iteration protocols "
               "and `except IndexError` see it."})
BusyError = _case("BusyError", "ipcarc: segment is busy (it has live holders, or its creator is still "
                  "initialising it)")


class OSFailure(Error):
    """Any other failure: the errno of the failing system call (EACCES, ENOSPC, ...)."""


POISON_DETAIL = ("a holder died inside its critical section (or an update raised); "
                 "repair the value with recover")

_HANDLE_OPS = {"lock", "try_lock", "unlock", "store", "load", "update", "recover", "wait", "clone", "close",
               "reap", "clear poison", "set length"}


def from_rc(op, name, rc, field=0):
    """The exception for a C return code: the one place errno values become cases."""
    fname = _ffi.field_name(field) if field else None
    kw = dict(op=op, name=name, errno=rc, field=fname)
    e = _errno
    if rc == e.ENOENT:
        if fname == "ended":
            kw["detail"] = ("it existed, but its last holder closed or died: a segment lives while a handle "
                            "on it is open (lifetime=UNTIL_REMOVED keeps it until removed)")
        return NotExistError(**kw)
    if rc == e.EEXIST:
        return ExistError(**kw)
    if rc in (e.EBADMSG, e.ELOOP, e.EISDIR, e.ENODEV):
        if rc != e.EBADMSG:
            kw["field"] = _ffi.field_name(1)
        elif not field and op in _HANDLE_OPS:
            kw["field"] = _ffi.field_name(_ffi.FIELD_MUTEX)
        return CorruptError(**kw)
    if rc == e.EPROTONOSUPPORT:
        return IncompatibleError(**kw)
    if rc == e.EPROTOTYPE:
        return TypeMismatchError(**kw)
    if rc == e.ETIMEDOUT:
        return TimeoutError(**kw)
    if rc == e.EUSERS:
        return TooManyHoldersError(**kw)
    if rc == e.ECHILD:
        return ForkedError(**kw)
    if rc == e.EOWNERDEAD:
        return OwnerDeadError(detail=POISON_DETAIL, **kw)
    if rc == e.ENOTRECOVERABLE:
        return PoisonedError(detail=POISON_DETAIL, **kw)
    if rc == e.EBUSY or rc == e.EINPROGRESS:
        return BusyError(**kw) if op == "remove" else WouldBlockError(**kw)
    if rc == e.EDEADLK:
        return DeadlockError(**kw)
    if rc == e.EACCES and field in (_ffi.FIELD_OWNER, _ffi.FIELD_MODE):
        return UntrustedError(**kw)
    if rc == e.EPERM and op in ("unlock", "clear poison", "set length"):
        return NotOwnerError(**kw)
    if op.startswith("atomic ") and rc == e.EINVAL:
        return AlignmentError(**kw)
    if op.startswith("atomic ") and rc == e.ERANGE:
        return InvalidOptionError(**kw)
    if rc == e.ERANGE:
        return OutOfRangeError(**kw)
    if rc in (e.EINVAL, e.ENAMETOOLONG) and op == "remove":
        return InvalidNameError(**kw)
    return OSFailure(text="ipcarc: " + _os.strerror(rc), **kw)
