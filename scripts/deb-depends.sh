#!/usr/bin/env bash
# Prints the Debian Depends of an ELF binary, one dependency a line, from the
# sonames it needs (readelf -d) and Debian's shlibs files: what dpkg-shlibdeps
# does with shlibs, without a debian/ folder and for a foreign architecture too.
#
# Usage: scripts/deb-depends.sh BINARY [SHLIBS-FILE]
#   SHLIBS-FILE defaults to the host's /var/lib/dpkg/info/*.shlibs; for arm64
#   pass .cache/sysroot-arm64/usr/share/autoclipd-sysroot/shlibs.
# Fails, naming the soname, when a needed library has no shlibs entry.
set -euo pipefail

bin=${1:?usage: $0 BINARY [SHLIBS-FILE]}
[ -f "$bin" ] || { echo "deb-depends: $bin: no such file" >&2; exit 1; }
if [ $# -ge 2 ]; then
  [ -f "$2" ] || { echo "deb-depends: $2: no such shlibs file" >&2; exit 1; }
  shlibs=$(cat "$2")
else
  shlibs=$(cat /var/lib/dpkg/info/*.shlibs 2>/dev/null || true)
fi

readelf -h "$bin" >/dev/null 2>&1 || { echo "deb-depends: $bin: not an ELF file" >&2; exit 1; }
needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
[ -n "$needed" ] || { echo "deb-depends: $bin: needs no shared library (static?)" >&2; exit 1; }

deps=()
for so in $needed; do
  if [[ $so =~ ^(.+)\.so\.(.+)$ ]]; then
    name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
  elif [[ $so =~ ^(.+)-([0-9][0-9.]*)\.so$ ]]; then
    name=${BASH_REMATCH[1]} ver=${BASH_REMATCH[2]}
  else
    echo "deb-depends: $bin: soname $so: cannot split into library and version" >&2
    exit 1
  fi
  # "library version dependency...": no "type:" prefix (udeb lines) and no
  # architecture-qualified package (the cross toolchain's libc6:arm64).
  dep=$(awk -v n="$name" -v v="$ver" '$1 == n && $2 == v && $3 !~ /:/ { $1 = ""; $2 = ""; sub(/^ +/, ""); print; exit }' <<<"$shlibs")
  if [ -z "$dep" ]; then
    echo "deb-depends: $bin: soname $so: no shlibs entry names its package (is its -dev package installed?)" >&2
    exit 1
  fi
  deps+=("$dep")
done
printf '%s\n' "${deps[@]}" | sort -u
