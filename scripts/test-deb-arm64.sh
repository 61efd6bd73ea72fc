#!/usr/bin/env bash
# Checks an arm64 autoclipd .deb on an amd64 host: apt resolves its Depends
# in Debian's arm64 archive, and the packaged binary runs, under qemu-user,
# with nothing but those packages' files: `version`, `check-config` on the
# packaged /etc/autoclipd/config.yaml, and `demo` + `classify` with the
# packaged ONNX Runtime. Used by make test-deb DEB_ARCH=arm64.
#
# Usage: scripts/test-deb-arm64.sh PKG_arm64.deb
# Environment: MIRROR, SUITE (as scripts/sysroot-arm64.sh).
#
# The package and its dependency closure are unpacked with mmdebstrap
# --variant=extract (no maintainer scripts: they would need binfmt_misc to run
# arm64 code in a chroot, which a container may not offer). What those
# scripts would have done that the binary needs is done here: the
# libblas/liblapack alternatives links. Downloaded packages are cached in
# .cache/test-deb-arm64-apt/.
set -euo pipefail
. "$(dirname "$0")/arm64-root.sh"
cd "$(dirname "$0")/.."

pkg=${1:?usage: $0 PKG_arm64.deb}
[ -f "$pkg" ] || { echo "test-deb-arm64: $pkg: no such file" >&2; exit 1; }
pkg=$(cd "$(dirname "$pkg")" && pwd)/$(basename "$pkg")
[ "$(dpkg-deb --field "$pkg" Architecture)" = arm64 ] || { echo "test-deb-arm64: $pkg is not an arm64 package" >&2; exit 1; }
qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
  echo "test-deb-arm64: SKIPPED: qemu-user is not installed (no qemu-aarch64); install it with 'scripts/deps.sh cross' as root"
  exit 0
fi
command -v mmdebstrap >/dev/null 2>&1 || { echo "test-deb-arm64: mmdebstrap not found: run 'scripts/deps.sh cross'" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "test-deb-arm64: needs root (mmdebstrap)" >&2; exit 1; }
. "$(dirname "$0")/debian-source.sh"
debian_source
fail() { echo "test-deb-arm64: FAIL: $*" >&2; exit 1; }

work=$PWD/build/test-deb-arm64
root=$work/root
cache=$PWD/.cache/test-deb-arm64-apt
# Nothing may stay mounted under $work (an interrupted mmdebstrap) when it goes.
while read -r m; do umount -l "$m" || true; done < <(awk -v r="$work/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
if grep -q " $work/" /proc/mounts; then fail "cannot unmount what is mounted under $work; remove it by hand"; fi
rm -rf "$work"
mkdir -p "$work" "$cache"
t0=$(date +%s)
# apt inside mmdebstrap reads the package at the same path inside the new
# root as outside: copy it there.
mmdebstrap --quiet --variant=extract --architectures=arm64 --include="$pkg" \
  --setup-hook="mkdir -p \"\$1$(dirname "$pkg")\" && cp '$pkg' \"\$1$pkg\"" \
  --setup-hook='mkdir -p "$1"/var/cache/apt/archives/' \
  --setup-hook="sync-in $cache /var/cache/apt/archives/" \
  --skip=cleanup/apt/cache \
  "$SUITE" "$root" "$MIRROR" >"$work/mmdebstrap.log" 2>&1 ||
  { tail -20 "$work/mmdebstrap.log" >&2; fail "apt could not install $(basename "$pkg") and its Depends from $SUITE arm64 (log: $work/mmdebstrap.log)"; }
find "$root/var/cache/apt/archives" -maxdepth 1 -name '*.deb' ! -name 'autoclipd_*' -exec cp -n -t "$cache" {} +
npkg=$(find "$cache" -maxdepth 1 -name '*.deb' | wc -l)
echo "test-deb-arm64: $(basename "$pkg") and its Depends unpacked from $SUITE arm64 ($npkg packages cached) in $(($(date +%s) - t0)) s" >&2

# Relative symlinks, the BLAS/LAPACK alternatives, and a /proc/cpuinfo.
fix_arm64_root "$root"

# Guest paths resolve inside $root first (/usr/bin/autoclipd, /etc/autoclipd,
# /usr/lib/autoclipd, the libraries), then on the host (the demo folder).
run_guest() {
  local envs=()
  while [[ $1 == *=* ]]; do envs+=("$1"); shift; done
  env -i HOME=/root PATH=/usr/bin:/bin LC_ALL=C "${envs[@]}" "$qemu" -L "$root" "$root/usr/bin/autoclipd" "$@"
}

out=$(run_guest version) || fail "autoclipd version: $out"
[[ $out =~ ^autoclipd\ .+\ \(go[0-9.]+,\ linux/arm64\)$ ]] || fail "autoclipd version printed '$out'"
# No model installed yet: check-config says so; with one in place it passes.
if out=$(run_guest check-config --config /etc/autoclipd/config.yaml 2>&1); then
  fail "check-config passed with no model in /var/lib/autoclipd/model: $out"
fi
echo "$out" | grep -q 'model\.dir: .*/var/lib/autoclipd/model' || fail "check-config without a model printed '$out'"
run_guest demo --out "$work/model-src" >"$work/model.log" 2>&1 || fail "autoclipd demo: $(cat "$work/model.log")"
mkdir -p "$root/var/lib/autoclipd" && cp -r "$work/model-src/model" "$root/var/lib/autoclipd/model" || fail "copying the model"
out=$(run_guest check-config --config /etc/autoclipd/config.yaml 2>&1) || fail "autoclipd check-config: $out"
echo "$out" | grep -q '^/etc/autoclipd/config.yaml: ok (1 cameras)$' || fail "check-config printed '$out'"
echo "$out" | grep -q '^label set example: ' || fail "check-config did not load the example label set: '$out'"
echo "test-deb-arm64: check-config: $(echo "$out" | tr '\n' ';')" >&2

run_guest demo --out "$work/demo" >"$work/demo.log" 2>&1 || fail "autoclipd demo: $(cat "$work/demo.log")"
run_guest ORT_LIB=/usr/lib/autoclipd/libonnxruntime.so.1 classify --config "$work/demo/config.yaml" --top 1 "$work/demo/colours.avi" \
  >"$work/classify.log" 2>"$work/classify.err" || fail "autoclipd classify on the demo: $(tail -5 "$work/classify.err")"
first=$(sed -n '2p' "$work/classify.log")
[[ $first =~ ^\ +1\.\ red\  ]] || fail "classify: the demo's first frame is not red: '$first'"
echo "test-deb-arm64: classify: demo video, $(grep -c ' frame ' "$work/classify.log") frames, first '$(echo "$first" | tr -s ' ')'" >&2

rm -rf "$root"
echo "test-deb-arm64: PASS ($(($(date +%s) - t0)) s: resolve and unpack the Depends, version, check-config, classify under qemu-user)"
