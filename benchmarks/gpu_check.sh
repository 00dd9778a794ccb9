#!/usr/bin/env bash
# The GPU check, one script (< 8 minutes on one H100): the conformance grids of torch (CUDA) and
# JAX (CUDA) against the mpmath oracle, the host-synchronisation check, then speed on CUDA.
# Run from the repository root on a machine with an NVIDIA GPU and torch/jax CUDA builds;
# results go to $OUT (default ./gpu-results).
set -uo pipefail
OUT="${OUT:-gpu-results}"; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader
SGBLEND_TORCH_DEVICE=cuda timeout 240 python3 -m sgblend_spec.conformance --backend torch -k test_grid \
  --report-json "$OUT/torch-cuda.json" 2>&1 | tail -45
timeout 180 python3 -m sgblend_spec.conformance --backend jax -k test_grid \
  --report-json "$OUT/jax-cuda.json" 2>&1 | tail -45
timeout 120 python3 benchmarks/gpu_check.py --out "$OUT"
