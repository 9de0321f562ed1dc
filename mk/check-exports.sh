#!/bin/sh
# check-exports.sh HEADER MAP SHARED_LIB STATIC_LIB
#
# libipcarc exports exactly its documented API. Four lists must be equal:
#   1. the functions HEADER (ipcarc.h) declares with IPCARC_API,
#   2. the global entries of the export list MAP (mk/ipcarc.map),
#   3. the dynamic symbols SHARED_LIB defines (besides its version node),
#   4. the global symbols STATIC_LIB defines (hidden ones were made local).
# Prints each difference and exits 1 if there is one.
set -eu
hdr=$1 map=$2 so=$3 ar=$4
NM=${NM:-nm}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# 1. `IPCARC_API <type> [*]ipcarc_name(`, one declaration per line start.
grep -E '^IPCARC_API ' "$hdr" | sed -E 's/^IPCARC_API [^(]*[^a-z0-9_](ipcarc_[a-z0-9_]+)\(.*/\1/' | sort -u >"$tmp/api"
# 2. Identifiers ending in ';' between "global:" and "local:", comments dropped.
sed -e 's|/\*.*\*/||g' "$map" | awk '/global:/ { on = 1; next } /local:/ { on = 0 } on' |
	tr -d ' \t;' | grep -v '^$' | sort -u >"$tmp/map"
# 3. Defined dynamic symbols; the version node (IPCARC_2) is an absolute symbol.
"$NM" -D --defined-only "$so" | awk '$2 != "A" { sub(/@.*/, "", $3); print $3 }' | sort -u >"$tmp/so"
# 4. Defined global symbols of the archive (upper-case types are global).
"$NM" -g --defined-only "$ar" | awk 'NF == 3 && $2 ~ /[A-Z]/ { print $3 }' | sort -u >"$tmp/ar"

n=$(wc -l <"$tmp/api")
if [ "$n" -lt 10 ]; then
	echo "check-exports: found only $n IPCARC_API declarations in $hdr: the parser no longer matches the header" >&2
	exit 1
fi
fail=0
for f in map so ar; do
	case $f in
	map) what="export list $map" ;;
	so) what="shared library $so" ;;
	ar) what="static library $ar" ;;
	esac
	if ! cmp -s "$tmp/api" "$tmp/$f"; then
		fail=1
		echo "check-exports: the $what differs from the API documented in $hdr:" >&2
		comm -23 "$tmp/api" "$tmp/$f" | sed 's/^/  documented, not exported: /' >&2
		comm -13 "$tmp/api" "$tmp/$f" | sed 's/^/  exported, not documented: /' >&2
	fi
done
# The soname carries the layout version.
soname=$(readelf -d "$so" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p')
major=$(awk '$2 == "IPCARC_LAYOUT_VERSION" { print $3 + 0; exit }' "$hdr")
if [ "$soname" != "libipcarc.so.$major" ]; then
	echo "check-exports: soname is \"$soname\", want libipcarc.so.$major (the layout version)" >&2
	fail=1
fi
[ $fail = 0 ] && echo "lib-check: $n exported functions, equal to the IPCARC_API declarations of $hdr and $map; soname $soname"
exit $fail
