#!/usr/bin/env bash
# The README's GPU figures in one unattended run, on a machine with one CUDA GPU and PyTorch:
#   accumulation memory of convnext_small at 128 and 224 px (accum_gpu.py), and the recipe's scaling column (collab_scale.py).
# fastai and its pure-Python dependencies can travel as wheels in .whl/ (a GPU image without fastai), installed to /tmp/site.
# Writes into $OUT (default benchmarks/results); copy accum_gpu.json and collab_scale_cuda.json into benchmarks/results.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-benchmarks/results}; mkdir -p "$OUT"
if [ -d .whl ]; then python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site; fi
export PYTHONUNBUFFERED=1 COURSE_HELPERS_OFFLINE=1 COURSE_HELPERS_DATA=${COURSE_HELPERS_DATA:-/tmp/course_helpers_data}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
python3 -c "import torch, pandas, fastai; print('torch', torch.__version__, 'pandas', pandas.__version__, 'fastai', fastai.__version__)"
timeout 180 python3 benchmarks/accum_gpu.py --out "$OUT/accum_gpu.json" 2>&1 | tee "$OUT/accum_gpu.log"
timeout "${COLLAB_TIMEOUT:-300}" python3 benchmarks/collab_scale.py --device cuda --fastbook_cap 60 --out "$OUT/collab_scale_cuda.json" --plot '' 2>&1 | tee "$OUT/collab_scale_cuda.log"
