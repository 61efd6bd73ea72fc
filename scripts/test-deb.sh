#!/usr/bin/env bash
# Installs an autoclipd .deb into a fresh Debian chroot and checks it there:
# apt-get install ./PKG (which pulls the OpenCV runtime libraries from the
# Depends), `autoclipd version`, `autoclipd check-config --config
# /etc/autoclipd/config.yaml`, the conffiles, the unit and the bundled ONNX
# Runtime, `autoclipd demo` + `classify` with that runtime; then removes and
# purges the package. Used by make test-deb.
#
# Usage: scripts/test-deb.sh PKG.deb        (amd64 packages on an amd64 host;
#                                            arm64 ones go to test-deb-arm64.sh)
#        scripts/test-deb.sh --prepare      (only make the cached chroot tarball)
# Environment: MIRROR, SUITE (as scripts/sysroot-arm64.sh); KEEP=1 keeps the
# chroot in build/test-deb/root for a look.
#
# The minbase chroot is made once with debootstrap and cached as
# .cache/debootstrap-SUITE-amd64.tar.gz; each run unpacks a fresh copy. The
# packages apt downloads into it are cached in .cache/test-deb-apt/, so a
# second run downloads nothing.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "test-deb: needs root (debootstrap, chroot, mount)" >&2
  exit 1
fi
for tool in debootstrap dpkg-deb; do
  command -v "$tool" >/dev/null 2>&1 || { echo "test-deb: $tool not found: run 'scripts/deps.sh deb'" >&2; exit 1; }
done
. "$(dirname "$0")/debian-source.sh"
debian_source

# arm64 packages are checked under qemu-user instead of in a chroot.
if [ -f "${1:-}" ] && [ "$(dpkg-deb --field "$1" Architecture)" = arm64 ]; then
  exec scripts/test-deb-arm64.sh "$1"
fi

tarball=.cache/debootstrap-$SUITE-amd64.tar.gz
aptcache=$PWD/.cache/test-deb-apt
work=$PWD/build/test-deb
root=$work/root

mounted=()
cleanup() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do umount -l "${mounted[i]}" 2>/dev/null || true; done
  mounted=()
  # Never rm -rf through a bind mount of the host's /dev or /proc.
  if grep -q " $root/" /proc/mounts; then
    echo "test-deb: mounts remain under $root; not removing it" >&2
  elif [ "${KEEP:-0}" != 1 ]; then
    rm -rf "$root"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Unmounts what a killed earlier run left under $root (deepest first), so
# that removing $root can never reach the host's /dev, /proc or /sys.
unmount_stale() {
  local m
  while read -r m; do umount -l "$m" || true; done < <(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts | sort -r)
  if grep -q " $root/" /proc/mounts; then
    echo "test-deb: cannot unmount what is mounted under $root; remove it by hand" >&2
    exit 1
  fi
}

if [ ! -f "$tarball" ]; then
  echo "test-deb: debootstrap $SUITE (minbase, amd64) from $MIRROR; cached as $tarball" >&2
  t0=$(date +%s)
  tmp=$work/debootstrap
  rm -rf "$tmp"
  mkdir -p "$tmp" .cache
  debootstrap --variant=minbase --arch=amd64 "$SUITE" "$tmp" "$MIRROR" >"$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; echo "test-deb: debootstrap failed (log: $work/debootstrap.log)" >&2; exit 1; }
  rm -f "$tmp"/var/cache/apt/archives/*.deb
  tar -C "$tmp" -czf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  rm -rf "$tmp"
  echo "test-deb: debootstrap took $(($(date +%s) - t0)) s" >&2
fi
[ "${1:-}" = --prepare ] && { echo "$tarball"; exit 0; }

pkg=${1:?usage: $0 PKG.deb | --prepare}
[ -f "$pkg" ] || { echo "test-deb: $pkg: no such file" >&2; exit 1; }
parch=$(dpkg-deb --field "$pkg" Architecture)
[ "$parch" = amd64 ] || { echo "test-deb: $pkg is for $parch; this test runs amd64 packages" >&2; exit 1; }
fail() { echo "test-deb: FAIL: $*" >&2; exit 1; }

t0=$(date +%s)
unmount_stale
rm -rf "$root"
mkdir -p "$root" "$aptcache/partial"
tar -C "$root" -xzf "$tarball"
cp /etc/resolv.conf "$root/etc/resolv.conf"
for m in proc sys dev; do
  mount --bind "/$m" "$root/$m"
  mounted+=("$root/$m")
done
mount --bind "$aptcache" "$root/var/cache/apt/archives"
mounted+=("$root/var/cache/apt/archives")
cp "$pkg" "$root/tmp/"
# As root in a login shell: HOME is set (the config defaults state_dir and
# cache_dir from it outside systemd).
in_root() { chroot "$root" env -i HOME=/root PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

in_root apt-get update -q >"$work/apt-update.log" 2>&1 || { tail "$work/apt-update.log" >&2; fail "apt-get update in the chroot"; }
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$pkg")" >"$work/apt-install.log" 2>&1 ||
  { tail -20 "$work/apt-install.log" >&2; fail "apt-get install ./$(basename "$pkg") in a fresh $SUITE chroot"; }
echo "test-deb: installed $(basename "$pkg") with $(grep -oE '[0-9]+ newly installed' "$work/apt-install.log") packages in a fresh $SUITE chroot" >&2

out=$(in_root autoclipd version) || fail "autoclipd version: $out"
[[ $out =~ ^autoclipd\ .+\ \(go[0-9.]+,\ linux/amd64\)$ ]] || fail "autoclipd version printed '$out'"
# Freshly installed, there is no model yet: check-config says exactly that.
if out=$(in_root autoclipd check-config --config /etc/autoclipd/config.yaml 2>&1); then
  fail "check-config passed with no model in /var/lib/autoclipd/model: $out"
fi
echo "$out" | grep -q 'model\.dir: .*/var/lib/autoclipd/model' || fail "check-config without a model printed '$out'"
echo "test-deb: check-config before a model is installed: $(echo "$out" | head -1)" >&2
# With a model in place (the generated demo model stands in for CLIP), it passes.
in_root autoclipd demo --out /tmp/model-src >"$work/model.log" 2>&1 || fail "autoclipd demo: $(cat "$work/model.log")"
in_root mkdir -p /var/lib/autoclipd && in_root cp -r /tmp/model-src/model /var/lib/autoclipd/model || fail "copying the model into /var/lib/autoclipd"
out=$(in_root autoclipd check-config --config /etc/autoclipd/config.yaml 2>&1) || fail "autoclipd check-config: $out"
echo "$out" | grep -q '^/etc/autoclipd/config.yaml: ok (1 cameras)$' || fail "check-config printed '$out'"
echo "$out" | grep -q '^label set example: ' || fail "check-config did not load the example label set: '$out'"
echo "test-deb: check-config: $(echo "$out" | tr '\n' ';')" >&2

conffiles=$(in_root cat /var/lib/dpkg/info/autoclipd.conffiles)
for f in /etc/autoclipd/config.yaml /etc/autoclipd/labels/example.txt; do
  grep -qx "$f" <<<"$conffiles" || fail "$f is not a conffile (conffiles: $conffiles)"
done
[ -f "$root/lib/systemd/system/autoclipd.service" ] || fail "no /lib/systemd/system/autoclipd.service"
# The unit's credential file exists, empty and root-only, so the unit can start.
pw=$root/etc/autoclipd/mqtt-password
[ -f "$pw" ] && [ ! -s "$pw" ] && [ "$(stat -c '%a %U' "$pw")" = "600 root" ] ||
  fail "/etc/autoclipd/mqtt-password: want an empty file, mode 600, owned by root: $(stat -c '%a %U %s bytes' "$pw" 2>&1)"
# The bundled ONNX Runtime loads in the chroot (its dependencies are all there).
ldd_out=$(in_root ldd /usr/lib/autoclipd/libonnxruntime.so.1) || fail "ldd libonnxruntime: $ldd_out"
! grep -q 'not found' <<<"$ldd_out" || fail "libonnxruntime.so.1 misses libraries: $(grep 'not found' <<<"$ldd_out")"
ldd_out=$(in_root ldd /usr/bin/autoclipd) || fail "ldd autoclipd: $ldd_out"
! grep -q 'not found' <<<"$ldd_out" || fail "autoclipd misses libraries: $(grep 'not found' <<<"$ldd_out")"

# The installed binary and the bundled ONNX Runtime classify the demo: the
# Depends bring every OpenCV library it needs (video decoding included).
in_root autoclipd demo --out /tmp/demo >"$work/demo.log" 2>&1 || fail "autoclipd demo: $(cat "$work/demo.log")"
in_root env ORT_LIB=/usr/lib/autoclipd/libonnxruntime.so.1 autoclipd classify --config /tmp/demo/config.yaml --top 1 /tmp/demo/colours.avi \
  >"$work/classify.log" 2>"$work/classify.err" || fail "autoclipd classify on the demo: $(tail -5 "$work/classify.err")"
first=$(sed -n '2p' "$work/classify.log")
[[ $first =~ ^\ +1\.\ red\  ]] || fail "classify: the demo's first frame is not red: '$first'"
echo "test-deb: classify: demo video, $(grep -c ' frame ' "$work/classify.log") frames, first '$(echo "$first" | tr -s ' ')'" >&2

# A changed conffile survives removal; purge removes it.
echo "# local change" >>"$root/etc/autoclipd/config.yaml"
in_root apt-get remove -y -q autoclipd >"$work/apt-remove.log" 2>&1 || { tail "$work/apt-remove.log" >&2; fail "apt-get remove"; }
[ -f "$root/etc/autoclipd/config.yaml" ] || fail "remove deleted the changed /etc/autoclipd/config.yaml"
[ ! -e "$root/usr/bin/autoclipd" ] || fail "remove left /usr/bin/autoclipd"
in_root apt-get purge -y -q autoclipd >"$work/apt-purge.log" 2>&1 || { tail "$work/apt-purge.log" >&2; fail "apt-get purge"; }
for f in /etc/autoclipd/config.yaml /etc/autoclipd/mqtt-password /etc/autoclipd; do
  [ ! -e "$root$f" ] || fail "purge left $f"
done

echo "test-deb: PASS ($(($(date +%s) - t0)) s: unpack, apt-get install, check-config, classify, remove, purge)"
