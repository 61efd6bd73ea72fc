#!/usr/bin/env bash
# Prints the path of an ONNX Runtime library, fetching the CPU build when needed:
# $ORT_LIB if set, else one in the system's library paths, else the copy inside
# the npm package onnxruntime-node (cached in .cache/, git-ignored).
# Usage: scripts/ort.sh [x64|arm64]
# With an architecture argument it skips $ORT_LIB and the system's copy and
# prints the npm copy for that architecture (make test-arm64 uses arm64 on an
# amd64 host: the library runs under qemu-user).
set -euo pipefail
version=1.30.0
cache=${ORT_CACHE:-.cache}
want_arch=${1:-}
case "$want_arch" in
  ""|x64|arm64) ;;
  amd64|x86_64) want_arch=x64 ;;
  aarch64) want_arch=arm64 ;;
  *) echo "usage: $0 [x64|arm64]: no prebuilt ONNX Runtime for $want_arch" >&2; exit 2 ;;
esac

if [ -z "$want_arch" ] && [ -n "${ORT_LIB:-}" ]; then
  [ -f "$ORT_LIB" ] || { echo "ORT_LIB=$ORT_LIB: no such file" >&2; exit 1; }
  echo "$ORT_LIB"; exit 0
fi
if [ -z "$want_arch" ]; then
  sys=$(/sbin/ldconfig -p 2>/dev/null | awk '/libonnxruntime\.so(\.1)? /{print $NF; exit}')
  if [ -n "$sys" ] && [ -f "$sys" ]; then echo "$sys"; exit 0; fi
fi

if [ -n "$want_arch" ]; then
  arch=$want_arch
else
  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64|arm64) arch=arm64 ;;
    *) echo "no prebuilt ONNX Runtime for $(uname -m): set ORT_LIB" >&2; exit 1 ;;
  esac
fi
dir="$cache/onnxruntime-$version/linux-$arch"
lib="$dir/libonnxruntime.so.1"
if [ ! -f "$lib" ]; then
  if ! command -v npm >/dev/null 2>&1; then
    NEED_NPM=1 "$(dirname "$0")/deps.sh" none >&2
  fi
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  echo "fetching ONNX Runtime $version (npm package onnxruntime-node)" >&2
  (cd "$tmp" && npm pack --silent "onnxruntime-node@$version" >/dev/null)
  tar -xzf "$tmp"/onnxruntime-node-"$version".tgz -C "$tmp" "package/bin/napi-v6/linux/$arch/libonnxruntime.so.1"
  mkdir -p "$dir"
  mv "$tmp/package/bin/napi-v6/linux/$arch/libonnxruntime.so.1" "$lib.part"
  mv "$lib.part" "$lib"
fi
echo "$(cd "$dir" && pwd)/libonnxruntime.so.1"
