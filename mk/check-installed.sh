#!/bin/sh
# check-installed.sh PREFIX OUTDIR
#
# What a C user of an installed libipcarc does, through pkg-config only:
#   - ipcarc.h compiles on its own (C99 -pedantic, and C++ when there is a c++);
#   - examples/cpeer builds with `pkg-config --cflags --libs ipcarc` (shared,
#     needing libipcarc.so.MAJOR) and against libipcarc.a (static, needing none);
#   - both count on one segment at once, and the total is exact.
set -eu
prefix=$1 out=$2
CC=${CC:-cc}
PKG_CONFIG=${PKG_CONFIG:-pkg-config}
export PKG_CONFIG_PATH="$prefix/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
rm -rf "$out"
mkdir -p "$out"

if ! command -v "$PKG_CONFIG" >/dev/null; then
	echo "check-installed: $PKG_CONFIG is required to check the installed library" >&2
	exit 1
fi
cflags=$("$PKG_CONFIG" --cflags ipcarc)
libs=$("$PKG_CONFIG" --libs ipcarc)
libdir=$("$PKG_CONFIG" --variable=libdir ipcarc)
echo "lib-check: pkg-config ipcarc $("$PKG_CONFIG" --modversion ipcarc): $cflags $libs"

printf '#include <ipcarc.h>\nint main(void) { return ipcarc_check_name("x"); }\n' >"$out/hdr.c"
# shellcheck disable=SC2086 # pkg-config output is a list of words
"$CC" -std=c99 -pedantic -Wall -Wextra -Werror $cflags -c "$out/hdr.c" -o "$out/hdr.o"
if command -v c++ >/dev/null; then
	cp "$out/hdr.c" "$out/hdr.cc"
	# shellcheck disable=SC2086
	c++ -std=c++11 -pedantic -Wall -Wextra -Werror $cflags -c "$out/hdr.cc" -o "$out/hdr-cc.o"
fi

# The documented commands (examples/cpeer/cpeer.c). A prefix outside the
# loader's path needs the rpath (or LD_LIBRARY_PATH).
# shellcheck disable=SC2086
"$CC" -O2 -Wall -Werror examples/cpeer/cpeer.c $cflags $libs -Wl,-rpath,"$libdir" -o "$out/cpeer"
# shellcheck disable=SC2086
"$CC" -O2 -Wall -Werror examples/cpeer/cpeer.c $cflags "$libdir/libipcarc.a" -lpthread -o "$out/cpeer-static"
readelf -d "$out/cpeer" | grep -q 'NEEDED.*\[libipcarc\.so\.[0-9]*\]' ||
	{ echo "check-installed: $out/cpeer does not need libipcarc.so" >&2; exit 1; }
if readelf -d "$out/cpeer-static" | grep -q 'NEEDED.*libipcarc'; then
	echo "check-installed: $out/cpeer-static needs libipcarc.so" >&2
	exit 1
fi

name=ipcarc-test-libcheck-$$
cpid=
cleanup() {
	[ -n "$cpid" ] && kill "$cpid" 2>/dev/null
	rm -f "/dev/shm/$name"
}
trap cleanup EXIT
mkfifo "$out/gate"
"$out/cpeer" create "$name" 0 <"$out/gate" >"$out/create.out" &
cpid=$!
exec 3>"$out/gate"
i=0
until grep -q created "$out/create.out"; do
	i=$((i + 1))
	[ $i -lt 200 ] || { echo "check-installed: cpeer create did not start" >&2; exit 1; }
	sleep 0.05
done
"$out/cpeer" incr "$name" 20000 >/dev/null &
p1=$!
"$out/cpeer-static" incr "$name" 20000 >/dev/null &
p2=$!
wait $p1
wait $p2
echo close >&3
exec 3>&-
wait $cpid
cpid=
if ! grep -qx 'n=40000' "$out/create.out"; then
	echo "check-installed: shared and static cpeer counted $(grep n= "$out/create.out"), want n=40000" >&2
	exit 1
fi
if [ -e "/dev/shm/$name" ]; then
	echo "check-installed: /dev/shm/$name left after the last close" >&2
	exit 1
fi
echo "lib-check: cpeer built through pkg-config, shared and static: 40000 increments exact, nothing left in /dev/shm"
