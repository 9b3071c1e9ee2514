#!/usr/bin/env bash
# Run the full student pipeline (search -> finetune -> export) with CUDA if
# present, writing under $OUT (default /tmp/edgetoon-train).
#
#   bash train/gpu.sh [extra main.py options, e.g. --search-steps 3000]
#
# It installs nothing (the GPU machine has no network). It needs a Python
# with torch (+ numpy, PIL; onnx for the ONNX check; matplotlib for the
# plot) and the Go toolchain (teacher import, inspect, CPU-engine parity).
# PYTHON overrides the interpreter; otherwise the first of
# /usr/bin/python3, python3, python that can import torch is used.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/edgetoon-train}"
mkdir -p "$OUT"

py=""
for c in ${PYTHON:-} /usr/bin/python3 python3 python; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch" >/dev/null 2>&1; then py="$c"; break; fi
done
if [ -z "$py" ]; then
  echo "gpu.sh: no Python with torch here (tried \$PYTHON, /usr/bin/python3, python3, python)." >&2
  echo "gpu.sh: this machine has no network; install torch beforehand (apt-get install python3-torch" >&2
  echo "gpu.sh: python3-numpy python3-pil python3-onnx, or a CUDA wheel) or set PYTHON." >&2
  exit 3
fi
"$py" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(CPU only)")
PY
command -v go >/dev/null || { echo "gpu.sh: needs the Go toolchain" >&2; exit 3; }

# The teacher model file (imported from ../shared/models, no network needed).
export EDGETOON_TEACHER="${EDGETOON_TEACHER:-$OUT/whitebox.safetensors}"
[ -f "$EDGETOON_TEACHER" ] || go run ./cmd/edgetoon fetch-teacher -o "$EDGETOON_TEACHER"

threads=$(nproc)
# With CUDA: larger crops and batch; the defaults are the 2-core CPU preset.
extra=()
if "$py" -c "import torch,sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  extra=(--size 256 --batch 16 --search-steps 2000 --finetune-steps 6000 --workers 8 --log-every 50)
fi
time "$py" train/main.py all --out "$OUT" --threads "$threads" "${extra[@]}" "$@" 2>&1 | tee "$OUT/train.log"
echo "outputs in $OUT: student.safetensors student.onnx MODEL_CARD.md grid.png search.png report.json"
