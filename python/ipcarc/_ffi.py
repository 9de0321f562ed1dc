"""ctypes declarations of libipcarc (ipcarc.h) and the package's shim.

The library is the package's own _libipcarc.so (built from the repository's
C sources when the package is built), or the file IPCARC_LIBRARY names.
"""

import ctypes
import os

c_seg_p = ctypes.c_void_p

LAST_CLOSE = 0     # IPCARC_LIFETIME_LAST_CLOSE
UNTIL_REMOVED = 1  # IPCARC_LIFETIME_UNTIL_REMOVED
MAX_TRUSTED_UIDS = 8
MAX_HOLDERS = 4096
MAX_ALIGN = 4096
TRUST_GROUP = 1
FIELD_OWNER = 20
FIELD_MODE = 21
FIELD_MUTEX = 13
SHAPE_VALUE = 0  # IPCARC_SHAPE_VALUE
SHAPE_SLICE = 1  # IPCARC_SHAPE_SLICE


class Spec(ctypes.Structure):
    _fields_ = [
        ("value_size", ctypes.c_uint64),
        ("value_align", ctypes.c_uint32),
        ("max_holders", ctypes.c_uint32),
        ("type_tag", ctypes.c_uint64),
        ("mode", ctypes.c_uint32),
        ("lifetime", ctypes.c_uint32),
        ("open_timeout_ns", ctypes.c_int64),
        ("trusted_uids", ctypes.c_uint32 * MAX_TRUSTED_UIDS),
        ("n_trusted_uids", ctypes.c_uint32),
        ("trusted_gid", ctypes.c_uint32),
        ("trust_flags", ctypes.c_uint32),
        ("shape", ctypes.c_uint32),  # SHAPE_*: what the opener expects
    ]


COUNTER_NAMES = ["acquisitions", "contended", "slept", "wait_ns", "wait_max_ns", "hold_samples",
                 "hold_ns", "owner_deaths", "poisoned", "poison_cleared", "load_retries",
                 "load_fallbacks", "stores", "updates", "wakeups", "reaped"]


class Counters(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in COUNTER_NAMES] + [("reserved", ctypes.c_uint64 * 8)]


class Stats(ctypes.Structure):
    _fields_ = [(n, ctypes.c_uint64) for n in ("total_size", "value_size", "value_align", "type_tag")] + \
        [("refcount", ctypes.c_int64)] + \
        [(n, ctypes.c_uint64) for n in ("max_holders", "poisoned", "version", "lifetime", "waiters")] + \
        [("creator_pid", ctypes.c_int64), ("lock_owner", ctypes.c_int64), ("created_ns", ctypes.c_uint64),
         ("used_slots", ctypes.c_int64), ("live_holders", ctypes.c_int64)]


def _load():
    path = os.environ.get("IPCARC_LIBRARY") or os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                            "_libipcarc.so")
    try:
        return ctypes.CDLL(path)
    except OSError as e:
        raise ImportError(
            "ipcarc: cannot load its shared library %s (%s): install the package with "
            "`pip install ./python` from an ipcarc checkout, which compiles it into the "
            "package, or set IPCARC_LIBRARY to a libipcarc built with the package's shim" % (path, e))


lib = _load()

_I, _U32, _U64, _I64, _P = ctypes.c_int, ctypes.c_uint32, ctypes.c_uint64, ctypes.c_int64, ctypes.c_void_p
_PI = ctypes.POINTER(ctypes.c_int)
_sigs = {
    "ipcarc_field_name": (ctypes.c_char_p, [_I]),
    "ipcarc_tag": (_U64, [ctypes.c_char_p]),
    "ipcarc_check_name": (_I, [ctypes.c_char_p]),
    "ipcarc_create": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), _P, ctypes.POINTER(c_seg_p)]),
    "ipcarc_open": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), ctypes.POINTER(c_seg_p), _PI]),
    "ipcarc_open_or_create": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), _P, ctypes.POINTER(c_seg_p),
                                   _PI, _PI]),
    "ipcarc_clone": (_I, [c_seg_p]),
    "ipcarc_close": (_I, [c_seg_p]),
    "ipcarc_data": (_P, [c_seg_p]),
    "ipcarc_refcount": (_I64, [c_seg_p]),
    "ipcarc_lock": (_I, [c_seg_p]),
    "ipcarc_trylock": (_I, [c_seg_p]),
    "ipcarc_timedlock": (_I, [c_seg_p, _I64]),
    "ipcarc_unlock": (_I, [c_seg_p]),
    "ipcarc_unlock_unchanged": (_I, [c_seg_p]),
    "ipcarc_poisoned": (_I, [c_seg_p]),
    "ipcarc_clear_poison": (_I, [c_seg_p]),
    "ipcarc_lock_owner": (_I, [c_seg_p]),
    "ipcarc_load": (_I, [c_seg_p, _P, ctypes.c_size_t]),
    "ipcarc_store": (_I, [c_seg_p, _P, ctypes.c_size_t]),
    "ipcarc_version": (_U32, [c_seg_p]),
    "ipcarc_wait": (_I, [c_seg_p, _U32, _I64, ctypes.POINTER(_U32)]),
    "ipcarc_reap": (_I, [c_seg_p, _PI]),
    "ipcarc_read_counters": (None, [c_seg_p, ctypes.POINTER(Counters)]),
    "ipcarc_remove": (_I, [ctypes.c_char_p, _I]),
    "ipcarc_py_layout": (None, [ctypes.POINTER(ctypes.c_int64)]),
    "ipcarc_py_poison": (None, [c_seg_p]),
    "ipcarc_py_count_update": (None, [c_seg_p]),
    "ipcarc_py_stats": (None, [c_seg_p, ctypes.POINTER(Stats)]),
    "ipcarc_py_lock_is_mine": (_I, [c_seg_p]),
    "ipcarc_notify": (_I, [c_seg_p]),
    "ipcarc_word_copy": (_I, [c_seg_p, _I]),
    "ipcarc_slice_create": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), ctypes.c_size_t, _P, ctypes.c_size_t,
                                 ctypes.POINTER(c_seg_p)]),
    "ipcarc_slice_open": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), ctypes.POINTER(c_seg_p), _PI]),
    "ipcarc_slice_open_or_create": (_I, [ctypes.c_char_p, ctypes.POINTER(Spec), ctypes.c_size_t, _P,
                                         ctypes.c_size_t, ctypes.POINTER(c_seg_p), _PI, _PI]),
    "ipcarc_slice_len": (ctypes.c_size_t, [c_seg_p]),
    "ipcarc_slice_cap": (ctypes.c_size_t, [c_seg_p]),
    "ipcarc_slice_load": (_I, [c_seg_p, _P, ctypes.c_size_t, ctypes.POINTER(ctypes.c_size_t)]),
    "ipcarc_slice_store": (_I, [c_seg_p, _P, ctypes.c_size_t]),
    "ipcarc_slice_get": (_I, [c_seg_p, ctypes.c_size_t, _P]),
    "ipcarc_slice_set": (_I, [c_seg_p, ctypes.c_size_t, _P]),
    "ipcarc_slice_set_len": (_I, [c_seg_p, ctypes.c_size_t]),
}
for _n, (_res, _args) in _sigs.items():
    _f = getattr(lib, _n)
    _f.restype, _f.argtypes = _res, _args


# The atomic helpers report through errno (pyshim.c): the same library loaded
# again (dlopen returns the same handle) with ctypes' private errno copy.
elib = ctypes.CDLL(lib._name, use_errno=True)
get_errno = ctypes.get_errno


class Bind(ctypes.Structure):
    """struct ipcarc_py_bind: a handle and its value size, in private memory."""
    _fields_ = [("seg", c_seg_p), ("size", ctypes.c_uint64)]


for _n, _args in (("load", [_P, _U64]), ("store", [_P, _U64, _U64]), ("add", [_P, _U64, _U64]),
                  ("cas", [_P, _U64, _U64, _U64])):
    _f = getattr(elib, "ipcarc_py_atomic_" + _n)
    _f.restype, _f.argtypes = _U64, _args


def _check_layout():
    out = (ctypes.c_int64 * 15)()
    lib.ipcarc_py_layout(out)
    want = [ctypes.sizeof(Spec), Spec.type_tag.offset, Spec.open_timeout_ns.offset, Spec.trusted_uids.offset,
            Spec.trust_flags.offset, ctypes.sizeof(Counters), ctypes.sizeof(Stats), MAX_TRUSTED_UIDS,
            MAX_HOLDERS, MAX_ALIGN, 2, TRUST_GROUP, FIELD_OWNER, FIELD_MODE, FIELD_MUTEX]
    if list(out) != want:
        raise ImportError("ipcarc: the ctypes mirrors do not match the C library (C says %s, Python %s): "
                          "rebuild the package from the same checkout" % (list(out), want))


_check_layout()


def field_name(field):
    return lib.ipcarc_field_name(field).decode()


def _field_number(text):
    """The IPCARC_FIELD_* number whose name is text, asked of the library (not hard-coded)."""
    for i in range(1, 64):
        if lib.ipcarc_field_name(i) == text.encode():
            return i
    raise ImportError("ipcarc: the C library names no field %r: rebuild the package from the same checkout" % text)


FIELD_SHAPE = _field_number("shape")
FIELD_LENGTH = _field_number("slice length")
