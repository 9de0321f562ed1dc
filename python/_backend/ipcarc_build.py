"""The ipcarc package's build backend (PEP 517), standard library only.

`pip install ./python` calls build_wheel: the C layer (the Makefile's CSRC,
at the repository root, one level above python/) and
csrc/pyshim.c are compiled with the system C compiler (CC, default cc) into
ipcarc/_libipcarc.so inside the wheel, so `import ipcarc` finds its library
next to its own files: no LD_LIBRARY_PATH, no `make install`. Nothing is
written into the source tree (the compiler runs in a temporary directory).

Environment: CC, CFLAGS (added), IPCARC_C_SRC (a directory holding ipcarc.h
and the C layer, when the package is built outside the repository, as from an
sdist, which carries only the Python side).

Also a command for the repository's own tests and make targets:
    python3 _backend/ipcarc_build.py stage DIR
puts ipcarc/ (the .py files and a freshly built _libipcarc.so) in DIR.
"""

import base64
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import zipfile

NAME = "ipcarc"
VERSION = "0.1.0"
C_LAYER = ["validate.c", "cshm.c", "admin.c", "slice.c", "table.c", "liveness.c", "valuelock.c"]  # the Makefile's CSRC
C_HEADERS = ["ipcarc.h", "cshm.h", "cshm_internal.h"]
HERE = os.path.dirname(os.path.abspath(__file__))  # python/_backend
PKG_ROOT = os.path.dirname(HERE)  # python/
LIB_NAME = "_libipcarc.so"

SUMMARY = "Python binding of libipcarc: typed values shared between processes in POSIX shared memory"


def c_source_dir():
    """The directory with ipcarc.h and the C layer, or a clear error."""
    src = os.environ.get("IPCARC_C_SRC") or os.path.dirname(PKG_ROOT)
    missing = [f for f in C_LAYER + C_HEADERS if not os.path.isfile(os.path.join(src, f))]
    if missing:
        raise RuntimeError(
            "ipcarc: cannot build the package's shared library: %s not found in %s. "
            "The Python package is built from the ipcarc repository's C sources, one level "
            "above python/ (pip install ./python from a checkout); an sdist or a copied "
            "python/ folder carries only the Python side: set IPCARC_C_SRC to a checkout's "
            "root directory." % (", ".join(missing), src))
    return src


def build_lib(out):
    """Compile the C layer and the shim into the shared library `out`."""
    src = c_source_dir()
    cc = shlex.split(os.environ.get("CC") or "cc")
    cmd = cc + ["-std=c11", "-O2", "-g", "-Wall", "-Wextra", "-fPIC", "-fvisibility=hidden",
                "-shared", "-Wl,--no-undefined", "-I", src]
    cmd += shlex.split(os.environ.get("CFLAGS", ""))
    cmd += [os.path.join(src, f) for f in C_LAYER]
    cmd += [os.path.join(PKG_ROOT, "csrc", "pyshim.c"), "-o", out, "-lpthread", "-lrt"]
    try:
        subprocess.run(cmd, check=True)
    except FileNotFoundError:
        raise RuntimeError("ipcarc: a C compiler is needed to build the package: %r not found "
                           "(install gcc, or set CC)" % cc[0])
    except subprocess.CalledProcessError as e:
        raise RuntimeError("ipcarc: compiling the C layer failed: %s" % e)


def package_files():
    d = os.path.join(PKG_ROOT, NAME)
    return sorted(f for f in os.listdir(d) if f.endswith(".py") or f == "py.typed")


def stage(dest):
    """dest/ipcarc: the package's files and a freshly built library."""
    pkg = os.path.join(dest, NAME)
    os.makedirs(pkg, exist_ok=True)
    for f in package_files():
        shutil.copyfile(os.path.join(PKG_ROOT, NAME, f), os.path.join(pkg, f))
    tmp = os.path.join(pkg, LIB_NAME + ".tmp")
    build_lib(tmp)
    os.replace(tmp, os.path.join(pkg, LIB_NAME))
    return pkg


def _metadata():
    with open(os.path.join(PKG_ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    return ("Metadata-Version: 2.1\nName: %s\nVersion: %s\nSummary: %s\nLicense: MIT\n"
            "Requires-Python: >=3.8\nDescription-Content-Type: text/markdown\n\n%s"
            % (NAME, VERSION, SUMMARY, readme))


def _tag():
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return "py3-none-" + plat


# ---- PEP 517 hooks ------------------------------------------------------------

def get_requires_for_build_wheel(config_settings=None):
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    tag = _tag()
    wheel_name = "%s-%s-%s.whl" % (NAME, VERSION, tag)
    distinfo = "%s-%s.dist-info" % (NAME, VERSION)
    with tempfile.TemporaryDirectory() as tmp:
        lib = os.path.join(tmp, LIB_NAME)
        build_lib(lib)
        entries = []  # (archive name, bytes)
        for f in package_files():
            with open(os.path.join(PKG_ROOT, NAME, f), "rb") as fh:
                entries.append((NAME + "/" + f, fh.read()))
        with open(lib, "rb") as fh:
            entries.append((NAME + "/" + LIB_NAME, fh.read()))
        entries.append((distinfo + "/METADATA", _metadata().encode()))
        entries.append((distinfo + "/WHEEL", ("Wheel-Version: 1.0\nGenerator: ipcarc_build\n"
                                              "Root-Is-Purelib: false\nTag: %s\n" % tag).encode()))
        record = []
        for n, data in entries:
            h = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append("%s,sha256=%s,%d" % (n, h, len(data)))
        record.append(distinfo + "/RECORD,,")
        entries.append((distinfo + "/RECORD", ("\n".join(record) + "\n").encode()))
        out = os.path.join(wheel_directory, wheel_name)
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
            for n, data in entries:
                zi = zipfile.ZipInfo(n, date_time=(1980, 1, 1, 0, 0, 0))
                zi.external_attr = (0o755 if n.endswith(".so") else 0o644) << 16
                zi.compress_type = zipfile.ZIP_DEFLATED
                z.writestr(zi, data)
    return wheel_name


def build_sdist(sdist_directory, config_settings=None):
    """The Python side only: building a wheel from it needs IPCARC_C_SRC."""
    base = "%s-%s" % (NAME, VERSION)
    name = base + ".tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as t:
        for rel in ["pyproject.toml", "README.md", "_backend/ipcarc_build.py", "csrc/pyshim.c"] + \
                   [NAME + "/" + f for f in package_files()]:
            t.add(os.path.join(PKG_ROOT, rel), base + "/" + rel)
        pkginfo = _metadata().encode()
        ti = tarfile.TarInfo(base + "/PKG-INFO")
        ti.size = len(pkginfo)
        import io
        t.addfile(ti, io.BytesIO(pkginfo))
    return name


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "stage":
        try:
            print(stage(sys.argv[2]))
        except RuntimeError as e:
            sys.exit(str(e))
    else:
        sys.exit("usage: ipcarc_build.py stage DIR")
