# shellcheck shell=bash
# Sourced by scripts/sysroot-arm64.sh and scripts/test-deb-arm64.sh.
#
# fix_arm64_root ROOT makes an arm64 tree that was unpacked without running
# its packages' scripts usable by the cross toolchain and under qemu-user -L:
# absolute symlinks (which would point at the host) become relative, BLAS and
# LAPACK get the links update-alternatives would make, and ONNX Runtime's
# cpuinfo finds a two-core Cortex-A72 (without /proc/cpuinfo it crashes
# while loading under qemu).
fix_arm64_root() {
  local root=$1 link target libdir alt f b i
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    ln -sfn "$(realpath -m --relative-to="$(dirname "$link")" "$root$target")" "$link"
  done < <(find "$root" -type l -lname '/*' -print0)

  libdir=$root/usr/lib/aarch64-linux-gnu
  for alt in blas lapack; do
    for f in "$libdir/$alt"/lib*.so.[0-9]; do
      [ -e "$f" ] || continue
      b=$(basename "$f")
      [ -e "$libdir/$b" ] || ln -s "$alt/$b" "$libdir/$b"
    done
  done

  mkdir -p "$root/proc" "$root/sys/devices/system/cpu"
  for i in 0 1; do
    printf 'processor\t: %d\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\nCPU revision\t: 3\n\n' "$i"
  done >"$root/proc/cpuinfo"
  echo 0-1 >"$root/sys/devices/system/cpu/possible"
  echo 0-1 >"$root/sys/devices/system/cpu/present"
}
