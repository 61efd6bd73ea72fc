#!/usr/bin/env bash
# Runs the cross-compiled arm64 autoclipd under qemu-user against the arm64
# sysroot's OpenCV and ONNX Runtime's arm64 build: `version`, `demo` (writes
# the generated model and video) and `classify` on the demo video. The arm64
# labels must equal the native amd64 build's on every sampled frame, scores
# must agree to 1e-4, and the labels must walk through the demo's colours in
# order. Used by make test-arm64.
#
# Usage: scripts/test-arm64.sh ARM64-BINARY SYSROOT AMD64-BINARY
set -euo pipefail
cd "$(dirname "$0")/.."

arm=${1:?usage: $0 ARM64-BINARY SYSROOT AMD64-BINARY}
sysroot=${2:?usage: $0 ARM64-BINARY SYSROOT AMD64-BINARY}
native=${3:?usage: $0 ARM64-BINARY SYSROOT AMD64-BINARY}
sysroot=$(cd "$sysroot" && pwd)

qemu=$(command -v qemu-aarch64 || command -v qemu-aarch64-static || true)
if [ -z "$qemu" ]; then
  echo "test-arm64: SKIPPED: qemu-user is not installed (no qemu-aarch64); install it with 'scripts/deps.sh cross' as root"
  exit 0
fi
fail() { echo "test-arm64: FAIL: $*" >&2; exit 1; }

ort_arm=$(scripts/ort.sh arm64)
ort_x64=$(scripts/ort.sh)
work=build/test-arm64
rm -rf "$work"
mkdir -p "$work"

# qemu -L serves the guest's absolute paths from the sysroot first: the
# dynamic loader, OpenCV's libraries and the fake /proc/cpuinfo.
guest() { "$qemu" -L "$sysroot" "$arm" "$@"; }

t0=$(date +%s.%N)
out=$(guest version) || fail "autoclipd version exited $?"
[[ $out =~ ^autoclipd\ .+\ \(go[0-9.]+,\ linux/arm64\)$ ]] || fail "autoclipd version printed '$out', want 'autoclipd VERSION (goX, linux/arm64)'"
echo "test-arm64: version: $out"

guest demo --out "$work/demo" >"$work/demo.log" 2>&1 || fail "autoclipd demo: $(cat "$work/demo.log")"
for f in config.yaml colours.avi labels/colours.txt model/onnx/vision_model.onnx model/onnx/text_model.onnx; do
  [ -s "$work/demo/$f" ] || fail "autoclipd demo did not write $f"
done
echo "test-arm64: demo: written to $work/demo"

ORT_LIB=$ort_arm guest classify --config "$work/demo/config.yaml" --top 1 --json "$work/demo/colours.avi" \
  >"$work/arm64.jsonl" 2>"$work/arm64.err" || fail "arm64 classify: $(tail -5 "$work/arm64.err")"
ORT_LIB=$ort_x64 "$native" classify --config "$work/demo/config.yaml" --top 1 --json "$work/demo/colours.avi" \
  >"$work/amd64.jsonl" 2>"$work/amd64.err" || fail "amd64 classify: $(tail -5 "$work/amd64.err")"
t1=$(date +%s.%N)

python3 - "$work/arm64.jsonl" "$work/amd64.jsonl" "$work/demo/labels/colours.txt" <<'EOF' || fail "classify results differ (see above)"
import json, sys

def load(path):
    rows = []
    with open(path) as f:
        for n, line in enumerate(f, 1):
            try:
                r = json.loads(line)
            except ValueError as e:
                sys.exit(f"{path}:{n}: not JSON: {e}")
            rows.append((r["frame"], r["labels"][0]["label"], r["labels"][0]["score"]))
    return rows

arm, x64 = load(sys.argv[1]), load(sys.argv[2])
classes = [l.strip() for l in open(sys.argv[3]) if l.strip() and not l.startswith("#")]
if not arm:
    sys.exit(f"{sys.argv[1]}: no frames classified")
if len(arm) != len(x64):
    sys.exit(f"arm64 classified {len(arm)} frames, amd64 {len(x64)}")
for (fa, la, sa), (fx, lx, sx) in zip(arm, x64):
    if fa != fx or la != lx or abs(sa - sx) > 1e-4:
        sys.exit(f"frame {fa}: arm64 says {la} ({sa:.6f}), amd64 frame {fx} says {lx} ({sx:.6f})")
walk = [l for i, (_, l, _) in enumerate(arm) if i == 0 or arm[i - 1][1] != l]
if walk != classes:
    sys.exit(f"labels walk {walk}, want the demo's colours in order {classes}")
print(f"test-arm64: classify: {len(arm)} frames, labels equal to amd64's, colours in order")
EOF
awk -v a="$t0" -v b="$t1" 'BEGIN { printf "test-arm64: PASS (%.1f s for version, demo and both classify runs)\n", b - a }'
