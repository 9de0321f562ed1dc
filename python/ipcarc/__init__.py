"""ipcarc: one typed value (Arc), or a slice of elements (Slice), shared between processes through a named POSIX
shared-memory segment, guarded by a robust process-shared mutex, with a
crash-safe reference count. The Python binding of libipcarc (the same C
library Go, C and Rust use), standard library only (ctypes).

    import ctypes, ipcarc

    class Counter(ctypes.Structure):
        _fields_ = [("n", ctypes.c_uint64), ("spare", ctypes.c_uint64 * 7)]

    with ipcarc.Arc.open_or_new("my-counter", Counter(), type_tag="ipcarc.counter.v1") as a:
        with a.lock() as v:
            v.n += 1
        print(a.load().n)

See README.md for the Go/C/Rust/Python mapping.
"""

from ._ffi import LAST_CLOSE, UNTIL_REMOVED
from .arc import Arc, Guard, Info, remove, tag
from .slice import Slice, SliceGuard
from .errors import (AlignmentError, BusyError, ClosedError, CorruptError, DeadlockError, Error, ExistError, ForkedError,
                     IncompatibleError, InvalidNameError, InvalidOptionError, NotExistError, NotOwnerError,
                     OSFailure, OutOfRangeError, OwnerDeadError, PoisonedError, TimeoutError, TooManyHoldersError,
                     TypeMismatchError, UnsupportedTypeError, UntrustedError, WouldBlockError)

__version__ = "0.1.0"
__all__ = ["Arc", "Guard", "Info", "Slice", "SliceGuard", "remove", "tag", "LAST_CLOSE", "UNTIL_REMOVED", "Error", "AlignmentError", "BusyError",
           "ClosedError", "CorruptError", "DeadlockError", "ExistError", "ForkedError", "IncompatibleError",
           "InvalidNameError", "InvalidOptionError", "NotExistError", "NotOwnerError", "OSFailure",
           "OutOfRangeError", "OwnerDeadError", "PoisonedError", "TimeoutError", "TooManyHoldersError", "TypeMismatchError",
           "UnsupportedTypeError", "UntrustedError", "WouldBlockError"]
