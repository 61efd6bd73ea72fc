#!/usr/bin/env bash
# Builds the autoclipd Debian package for one architecture with nfpm and
# prints its path: build/autoclipd_VERSION_ARCH.deb.
#
# Usage: scripts/deb.sh amd64|arm64   (after make build-amd64 / build-arm64)
# Environment: DEB_VERSION overrides the version taken from git;
#              SYSROOT_ARM64 (default .cache/sysroot-arm64) for arm64's shlibs.
#
# The package holds build/ARCH/autoclipd, ONNX Runtime's CPU build for ARCH
# (scripts/ort.sh), the systemd unit, the default config and example label set
# (conffiles), the copyright, a changelog and the man page. Its Depends come
# from the binary's sonames (scripts/deb-depends.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

nfpm_version=v2.45.2
arch=${1:?usage: $0 amd64|arm64}
case "$arch" in
  amd64) ort_arch=x64 elf='x86-64' shlibs=() objcopy=objcopy ;;
  arm64)
    ort_arch=arm64 elf='ARM aarch64' objcopy=aarch64-linux-gnu-objcopy
    shlibs=("${SYSROOT_ARM64:-.cache/sysroot-arm64}/usr/share/autoclipd-sysroot/shlibs")
    ;;
  *) echo "deb: unsupported architecture $arch (want amd64 or arm64)" >&2; exit 2 ;;
esac

bin=build/$arch/autoclipd
[ -x "$bin" ] || { echo "deb: $bin not found: run make build-$arch first" >&2; exit 1; }
file -b "$bin" | grep -q "ELF 64-bit.*$elf" || { echo "deb: $bin is not a $arch binary: $(file -b "$bin")" >&2; exit 1; }

# A Debian version from git: v1.2.3 -> 1.2.3; v1.2.3-4-gabc1234 -> 1.2.3+git4.abc1234;
# no tag -> 0.0.0~gitYYYYMMDD.abc1234 (sorts before any 0.0.0 release).
# Uncommitted changes to tracked files add +dirty.
deb_version() {
  local desc v
  desc=$(git describe --tags --match 'v[0-9]*' 2>/dev/null || true)
  if [[ $desc =~ ^v([0-9][0-9A-Za-z.~]*)(-([0-9]+)-g([0-9a-f]+))?$ ]]; then
    v=${BASH_REMATCH[1]}
    if [ -n "${BASH_REMATCH[3]}" ]; then v="$v+git${BASH_REMATCH[3]}.${BASH_REMATCH[4]}"; fi
  else
    v="0.0.0~git$(git log -1 --format=%cd --date=format:%Y%m%d).$(git rev-parse --short=7 HEAD)"
  fi
  if ! git diff --quiet HEAD -- 2>/dev/null; then v="$v+dirty"; fi
  echo "$v"
}
version=${DEB_VERSION:-$(deb_version)}
[[ $version =~ ^[0-9][A-Za-z0-9.+~]*$ ]] || { echo "deb: version $version is not a Debian version without revision" >&2; exit 1; }
mtime=$(git log -1 --format=%cI)
mtime_rfc2822=$(git log -1 --format=%cD)

# nfpm, pinned, built once into .cache/bin.
nfpm=.cache/bin/nfpm
if ! [ -x "$nfpm" ] || [ "$(go version -m "$nfpm" 2>/dev/null | awk '$1 == "mod" {print $3}')" != "$nfpm_version" ]; then
  echo "deb: installing nfpm $nfpm_version into .cache/bin" >&2
  GOBIN="$PWD/.cache/bin" go install "github.com/goreleaser/nfpm/v2/cmd/nfpm@$nfpm_version"
fi

work=build/deb/$arch
rm -rf "$work"
mkdir -p "$work"
cp "$bin" "$work/autoclipd"
cp "$(scripts/ort.sh "$ort_arch")" "$work/libonnxruntime.so.1"
# The compilers' version notes (.comment) are of no use at run time.
"$objcopy" --remove-section=.comment "$work/autoclipd"
"$objcopy" --remove-section=.comment "$work/libonnxruntime.so.1"
gzip -9n <packaging/autoclipd.1 >"$work/autoclipd.1.gz"
{
  echo "autoclipd ($version) unstable; urgency=medium"
  echo
  echo "  * Built from git commit $(git rev-parse HEAD)."
  echo
  echo " -- autoclipd maintainers <maintainers@autoclipd.invalid>  $mtime_rfc2822"
} | gzip -9n >"$work/changelog.gz"

deps=$(scripts/deb-depends.sh "$bin" "${shlibs[@]}")
awk -v arch="$arch" -v version="$version" -v mtime="$mtime" -v build="$work" -v deps="$deps" '
  /^@DEPENDS@$/ { n = split(deps, d, "\n"); for (i = 1; i <= n; i++) print "  - \"" d[i] "\""; next }
  { gsub(/@ARCH@/, arch); gsub(/@VERSION@/, version); gsub(/@MTIME@/, mtime); gsub(/@BUILD@/, build); print }
' packaging/nfpm.yaml >"$work/nfpm.yaml"
if grep -n '@[A-Z]*@' "$work/nfpm.yaml" >&2; then echo "deb: $work/nfpm.yaml: placeholder left unfilled" >&2; exit 1; fi

out=build/autoclipd_${version}_${arch}.deb
rm -f "$out"
"$nfpm" package --config "$work/nfpm.yaml" --packager deb --target "$out" >&2
dpkg-deb --info "$out" >/dev/null
echo "$out"
