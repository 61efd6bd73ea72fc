#!/usr/bin/env bash
# Installs the Debian packages autoclipd needs, skipping those already present.
# Usage: scripts/deps.sh run|test|cross|deb|none (none: only what NEED_NPM=1 adds)
#   cross: the aarch64 toolchain, qemu-user and mmdebstrap for make build-arm64/test-arm64
#   deb:   lintian and debootstrap for make deb/test-deb
set -euo pipefail

run_pkgs=(libopencv-dev pkg-config mosquitto-clients)
test_pkgs=(mosquitto python3-pil python3-numpy python3-skimage systemd)
cross_pkgs=(gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user mmdebstrap binutils-aarch64-linux-gnu file)
deb_pkgs=(lintian debootstrap binutils file)

case "${1:-run}" in
  run) want=("${run_pkgs[@]}") ;;
  test) want=("${run_pkgs[@]}" "${test_pkgs[@]}") ;;
  cross) want=("${run_pkgs[@]}" "${cross_pkgs[@]}") ;;
  deb) want=("${run_pkgs[@]}" "${deb_pkgs[@]}") ;;
  none) want=() ;;
  *) echo "usage: $0 run|test|cross|deb|none" >&2; exit 2 ;;
esac
# npm fetches ONNX Runtime's CPU library when no other copy is found.
if [ "${NEED_NPM:-0}" = 1 ] && ! command -v npm >/dev/null 2>&1; then want+=(npm); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "autoclipd needs these Debian packages: ${missing[*]}" >&2
  echo "run 'make' as root, or install them first: sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "apt-get not found: install ${missing[*]} with your system's package manager" >&2
  exit 1
fi
echo "installing ${missing[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
# A fresh machine has no package lists yet; refresh them when they are absent or stale.
if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
  apt-get update -q
fi
apt-get install -y -q --no-install-recommends "${missing[@]}"
