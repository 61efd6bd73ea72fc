#!/usr/bin/env bash
# Prepares an arm64 Debian sysroot with OpenCV's headers and libraries, for
# cross-compiling autoclipd (make build-arm64) and for running the result under
# qemu-user (make test-arm64). Debian's arm64 and amd64 OpenCV -dev packages
# cannot be installed side by side, so the arm64 packages and their dependency
# closure are downloaded and unpacked (mmdebstrap --variant=extract: no
# maintainer scripts run, nothing is installed on the host).
#
# Usage: scripts/sysroot-arm64.sh [DIR]   (default .cache/sysroot-arm64; prints DIR)
# Environment: MIRROR (default: the host's Debian mirror), SUITE (default: the
# host's codename, bookworm).
#
# The result is cached: a second run with the same package list, suite and
# recipe version returns at once. The tree is built in DIR.tmp and renamed, so
# an interrupted run leaves no half-made sysroot behind.
#
# Besides unpacking, it
#   - rewrites absolute symlinks (libz.so -> /lib/...) as relative ones, so the
#     linker (--sysroot) and qemu (-L) resolve them inside the sysroot;
#   - makes the libblas.so.3/liblapack.so.3 links that update-alternatives
#     would make on a real system (libopencv_core needs them);
#   - writes a fake /proc/cpuinfo and /sys/devices/system/cpu/{possible,present}
#     of a two-core Cortex-A72: under qemu-user the guest reads the host's x86
#     /proc/cpuinfo, and ONNX Runtime's cpuinfo crashes (SIGSEGV in dlopen)
#     when it finds no ARM processor there. qemu -L serves these files first;
#   - collects the packages' shlibs files into usr/share/autoclipd-sysroot/shlibs
#     (scripts/deb-depends.sh maps the binary's sonames to package names with it).
set -euo pipefail
. "$(dirname "$0")/arm64-root.sh"

dest=${1:-.cache/sysroot-arm64}
# The recipe version: bump it when this script changes what it makes.
recipe=3
pkgs=(libc6-dev libstdc++-12-dev libopencv-dev)

. "$(dirname "$0")/debian-source.sh"
debian_source

stamp_want="recipe=$recipe suite=$SUITE pkgs=${pkgs[*]}"
stamp="$dest/usr/share/autoclipd-sysroot/stamp"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$stamp_want" ]; then
  echo "$dest"
  exit 0
fi

if ! command -v mmdebstrap >/dev/null 2>&1; then
  echo "sysroot-arm64: mmdebstrap not found: run 'scripts/deps.sh cross' (as root)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "sysroot-arm64: mmdebstrap needs root here (it unpacks files owned by root): run as root" >&2
  exit 1
fi

tmp="$dest.tmp"
rm -rf "$tmp"
mkdir -p "$(dirname "$dest")"
echo "sysroot-arm64: downloading ${pkgs[*]} and their dependencies for arm64 ($SUITE, $MIRROR) into $dest" >&2
include=$(IFS=,; echo "${pkgs[*]}")
mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$include" \
  --skip=cleanup/apt/cache "$SUITE" "$tmp" "$MIRROR" >&2

root=$(cd "$tmp" && pwd)

# Debian's shlibs files, from the downloaded packages' control archives.
mkdir -p "$root/usr/share/autoclipd-sysroot"
ctl=$(mktemp -d)
trap 'rm -rf "$ctl"' EXIT
for deb in "$root"/var/cache/apt/archives/*.deb; do
  rm -rf "${ctl:?}"/*
  dpkg-deb --control "$deb" "$ctl"
  if [ -f "$ctl/shlibs" ]; then cat "$ctl/shlibs"; fi
done >"$root/usr/share/autoclipd-sysroot/shlibs"
rm -f "$root"/var/cache/apt/archives/*.deb

# Relative symlinks, the BLAS/LAPACK alternatives, and a /proc/cpuinfo.
fix_arm64_root "$root"

echo "$stamp_want" >"$root/usr/share/autoclipd-sysroot/stamp"
rm -rf "$dest"
mv "$tmp" "$dest"
echo "$dest"
