#!/usr/bin/env bash
# The GPU check, one script (under 8 minutes on one H100; every step has its own time limit and
# the script goes on after a failed one). Two phases:
#   1. side by side (none of it is timed): the conformance suite against the mpmath oracle on
#      the GPU in both tiers, torch (CUDA) in full and JAX (CUDA) on its grids of edge points and
#      special values, x64 on (exact) and in JAX's default x64-off configuration (fast); and the
#      accuracy of torch's compiled (Triton) kernels, one process per tier (gpu_check.py);
#   2. alone on the machine: the host-sync check, then speed: bench_torch.py on CUDA (fast tier,
#      float32 with the TransformerEncoderLayer training step, then bfloat16) and bench_jax.py
#      (with the Flax encoder block).
# Run from the repository root on a machine with an NVIDIA GPU and CUDA builds of torch and jax.
# Everything lands in $OUT (default ./gpu-results): log.txt, the reports and logs in $RESULTS
# (default $OUT/results), and results.tgz, the same packed.
set -uo pipefail
OUT="${OUT:-gpu-results}"
RESULTS="${RESULTS:-$OUT/results}"
mkdir -p "$RESULTS"
export PYTHONUNBUFFERED=1 XLA_PYTHON_CLIENT_PREALLOCATE=false
exec > >(tee "$OUT/log.txt") 2>&1

step() { echo; echo "=== $(date +%T) $*"; }
limited() { timeout -k 10 "$@"; }  # a time limit, then SIGKILL 10 s later if SIGTERM was not enough
# name, time limit, command...: the command's output to $RESULTS/name.log, its exit status and
# the log's tail to $RESULTS/name.out (printed once its phase is over)
job() {
  local name=$1 limit=$2; shift 2
  limited "$limit" "$@" > "$RESULTS/$name.log" 2>&1
  { echo "--- $name: exit $?"; tail -36 "$RESULTS/$name.log"; } > "$RESULTS/$name.out"
}

step install
python3 -m pip install -q --no-deps --no-build-isolation --no-index -e . 2>&1 | tail -2
python3 -c "import sgblend_spec.backends.torch, sgblend_spec.conformance" 2>/dev/null \
  || python3 -m pip install -q --no-deps --no-build-isolation --no-index . 2>&1 | tail -2
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
python3 -c "import torch, jax; print('torch', torch.__version__, torch.cuda.get_device_name(), '| jax', jax.__version__, jax.devices())"

step "phase 1: conformance (torch CUDA exact and fast, JAX CUDA exact x64 on and fast x64 off) beside the compiled-kernel accuracy"
# --timeout (pytest-timeout): a test that hangs fails with its stack instead of taking the run with it
SUITE=(python3 -m sgblend_spec.conformance --durations=8 --timeout=200)
GRIDS=(-k "test_grid or test_special_values")
pids=()
job torch-cuda-exact 240 env SGBLEND_TORCH_DEVICE=cuda "${SUITE[@]}" --backend torch --precision exact -n 3 \
  --report-json "$RESULTS/torch-cuda-exact.json" & pids+=($!)
job torch-cuda-fast 240 env SGBLEND_TORCH_DEVICE=cuda "${SUITE[@]}" --backend torch --precision fast \
  --dtypes float16,bfloat16,float32 -n 2 --report-json "$RESULTS/torch-cuda-fast.json" & pids+=($!)
job jax-cuda-exact 240 env SGBLEND_JAX_X64=1 "${SUITE[@]}" --backend jax --precision exact "${GRIDS[@]}" -n 4 \
  --report-json "$RESULTS/jax-cuda-exact.json" & pids+=($!)
job jax-cuda-x64-off-fast 240 env SGBLEND_JAX_X64=0 "${SUITE[@]}" --backend jax --precision fast "${GRIDS[@]}" -n 3 \
  --report-json "$RESULTS/jax-cuda-x64-off-fast.json" & pids+=($!)
for tier in fast:float32 fast:bfloat16 exact:float32; do
  job "compiled-${tier/:/-}" 240 python3 benchmarks/gpu_check.py accuracy --tiers "$tier" --out "$RESULTS" & pids+=($!)
done
wait "${pids[@]}"  # (a bare wait would also wait for the tee above, forever)
cat "$RESULTS"/*.out

step "phase 2: host synchronisation"
limited 60 python3 benchmarks/gpu_check.py sync --out "$RESULTS"

step "phase 2: speed, torch on CUDA, float32 (fast tier, end to end), then bfloat16"
limited 100 python3 benchmarks/bench_torch.py --device cuda --sizes 16777216 --repeats 20 --e2e-repeats 9 \
  --functions gelu,sswish,sgblend,sgblend_gelu,lambda_gelu --out "$RESULTS/bench-torch-cuda.json"
limited 45 python3 benchmarks/bench_torch.py --device cuda --dtype bfloat16 --sizes 16777216 --repeats 20 \
  --functions sswish,sgblend,sgblend_gelu,lambda_gelu --no-end-to-end --out "$RESULTS/bench-torch-cuda-bfloat16.json"

step "phase 2: speed, JAX on CUDA (default config, x64 off; Flax end to end)"
limited 80 python3 benchmarks/bench_jax.py --sizes 16777216 --repeats 20 --e2e-repeats 9 \
  --functions gelu,sswish,sgblend,sgblend_gelu,lambda_gelu --out "$RESULTS/bench-jax-cuda.json"

step done
tar czf "$OUT/results.tgz" -C "$(dirname "$RESULTS")" "$(basename "$RESULTS")"
