#!/usr/bin/env bash
# GPU check for a machine with an NVIDIA GPU (the `device` tool's machine).
# Reports what it finds, whatever it finds:
#   1. the GPU (nvidia-smi), Go, OpenCV (pkg-config);
#   2. every libonnxruntime*.so* on the machine, and which of them sit next to
#      libonnxruntime_providers_cuda.so (a CUDA-enabled build; pip's
#      onnxruntime-gpu wheel has them under onnxruntime/capi/);
#   3. with a CUDA-enabled library: the provider tests of ./inference
#      (TestProvidersOnGPU and friends) and `autoclipd bench --json` with
#      --providers cuda (then tensorrt,cuda,cpu when TensorRT's provider
#      library is there too, and cpu for comparison).
# Usage: scripts/gpu-check.sh [seconds per bench run, default 20]
# Output: human-readable sections; bench's JSON lines start with {.
# Exit status: 0 when every step that could run passed, 1 otherwise; a
# machine without a CUDA-enabled library is reported, not a failure.
set -uo pipefail
secs=${1:-20}
status=0
section() { printf '\n== %s\n' "$*"; }

section "machine"
uname -srm
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
else
  echo "nvidia-smi: not found"
fi
if command -v go >/dev/null; then go version; else echo "go: not found"; fi
if pkg-config --exists opencv4 2>/dev/null; then echo "opencv4 $(pkg-config --modversion opencv4)"; else echo "opencv4 (pkg-config): not found"; fi

section "ONNX Runtime libraries"
mapfile -t libs < <(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o \
  \( -name 'libonnxruntime.so' -o -name 'libonnxruntime.so.*' \) -print 2>/dev/null | sort)
cuda_lib=""
trt=no
for l in "${libs[@]}"; do
  d=$(dirname "$l")
  tags=""
  [ -e "$d/libonnxruntime_providers_cuda.so" ] && tags="$tags cuda"
  [ -e "$d/libonnxruntime_providers_tensorrt.so" ] && tags="$tags tensorrt"
  echo "$l:${tags:- cpu only}"
  if [ -z "$cuda_lib" ] && [[ "$tags" == *cuda* ]]; then
    cuda_lib=$l
    [[ "$tags" == *tensorrt* ]] && trt=yes
  fi
done
[ ${#libs[@]} -eq 0 ] && echo "none found"
if command -v python3 >/dev/null; then
  python3 - <<'EOF' 2>/dev/null || echo "python onnxruntime: not installed"
import onnxruntime as o
print("python onnxruntime", o.__version__, o.get_available_providers(), o.__file__)
EOF
fi

if [ -z "$cuda_lib" ]; then
  section "result"
  echo "no CUDA-enabled ONNX Runtime on this machine: GPU providers not checked"
  echo "(install the onnxruntime-gpu wheel or a onnxruntime-linux-x64-gpu release and rerun)"
  exit 0
fi

# The CUDA provider needs cuBLAS/cuDNN/cudart: pip's nvidia-* wheels keep them
# in site-packages/nvidia/*/lib, which the dynamic linker does not search.
extra=$(dirname "$cuda_lib")
for d in $(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -path '*/site-packages/nvidia/*/lib' -type d -print 2>/dev/null); do extra="$extra:$d"; done
export LD_LIBRARY_PATH="$extra${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export ORT_LIB=$cuda_lib
echo "using ORT_LIB=$ORT_LIB (TensorRT provider: $trt)"
echo "missing shared libraries of the CUDA provider:"
ldd "$(dirname "$cuda_lib")/libonnxruntime_providers_cuda.so" 2>/dev/null | grep 'not found' || echo "  none"

if ! command -v go >/dev/null; then
  section "result"
  echo "CUDA-enabled ONNX Runtime found, but no Go toolchain to build autoclipd here"
  exit 1
fi

section "provider tests (inference)"
if go test -count=1 -run 'Provider|GPUOnly|SignalHandlers' -v ./inference/ 2>&1 | tail -40; then :; else status=1; fi

# bench's --providers flag overrides model.providers (a comma-separated list).
run_bench() {
  section "autoclipd bench --json --providers $1"
  if go run ./cmd/autoclipd bench --json --seconds "$secs" --providers "$1" 2>&1; then :; else status=1; fi
}
run_bench cuda
[ "$trt" = yes ] && run_bench tensorrt,cuda,cpu
run_bench cpu

section "result"
[ $status -eq 0 ] && echo "all GPU checks passed" || echo "some GPU checks failed (see above)"
exit $status
