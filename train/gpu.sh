#!/usr/bin/env bash
# The full student pipeline (search -> finetune -> export -> eval) on a GPU
# machine that has no Go toolchain, no network and no ../shared: only the
# repo, with two ignored paths carried along:
#   .trainpack/       the photos, made here by `python3 train/pack_data.py`
#   web/dist/models/  the teacher (whitebox.safetensors, made by `make model`)
#
#   bash train/gpu.sh [extra main.py options]
#   MINUTES=8 OUT=/path bash train/gpu.sh
#   bash train/gpu.sh --init web/models/student.safetensors --w-ssim 1 --subsets faces
#     (no search: fine-tune the shipped student for the whole budget)
#
# MINUTES (default 8) bounds the wall clock of the whole script: main.py
# fits its step counts to it. Writes these 8 files (6 with --init: no
# search.png or arch.json), directly in $OUT:
# student.safetensors (F16, our format), student.onnx, MODEL_CARD.md,
# grid.png, search.png, report.json, arch.json, train.log. Intermediate
# state stays in $WORK. The Go checks (inspect, CPU-engine parity) run
# back on a machine with Go:
#   /usr/bin/python3 train/main.py verify --model OUT/student.safetensors
# PYTHON overrides the interpreter; otherwise the first of python3,
# /usr/bin/python3, python that can import torch is used.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${OUT:-/tmp/edgetoon-train}"
WORK="${WORK:-/tmp/edgetoon-work}"
MINUTES="${MINUTES:-8}"
mkdir -p "$OUT" "$WORK"
t0=$(date +%s)

py=""
for c in ${PYTHON:-} python3 /usr/bin/python3 python; do
  if command -v "$c" >/dev/null 2>&1 && "$c" -c "import torch" >/dev/null 2>&1; then py="$c"; break; fi
done
if [ -z "$py" ]; then
  echo "gpu.sh: no Python with torch here (tried \$PYTHON, python3, /usr/bin/python3, python)." >&2
  exit 3
fi
export EDGETOON_TEACHER="${EDGETOON_TEACHER:-$PWD/web/dist/models/whitebox.safetensors}"
[ -f "$EDGETOON_TEACHER" ] || { echo "gpu.sh: no teacher at $EDGETOON_TEACHER (make model here; carry web/dist/models)" >&2; exit 3; }
DATA="${DATA:-$PWD/.trainpack}"
[ -d "$DATA/train" ] && [ -d "$DATA/eval" ] || { echo "gpu.sh: no photo pack at $DATA (python3 train/pack_data.py here; carry .trainpack)" >&2; exit 3; }

set +e
{
  "$py" - <<'PY'
import torch
print("torch", torch.__version__, "cuda", torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else "(CPU only)", flush=True)
PY
  # What is left of the budget after start-up, less 20 s for copying out.
  left=$(awk -v m="$MINUTES" -v t0="$t0" -v now="$(date +%s)" 'BEGIN { printf "%.2f", m - (now - t0 + 20) / 60 }')
  nthreads=$(( $(nproc) < 4 ? $(nproc) : 4 ))
  "$py" -u train/main.py all --out "$WORK" --data "$DATA" --minutes "$left" --threads "$nthreads" "$@"
} 2>&1 | tee "$OUT/train.log"
rc=${PIPESTATUS[0]}
set -e
for f in student.safetensors student.onnx MODEL_CARD.md grid.png search.png report.json arch.json; do
  if [ -f "$WORK/$f" ]; then cp "$WORK/$f" "$OUT/"; else echo "gpu.sh: missing $f" | tee -a "$OUT/train.log"; fi
done
echo "gpu.sh: exit $rc after $(( $(date +%s) - t0 ))s; outputs in $OUT: $(cd "$OUT" && ls | tr '\n' ' ')" | tee -a "$OUT/train.log"
exit "$rc"
