"""The torch half of the GPU check (benchmarks/gpu_check.sh): host synchronisation and the
accuracy of the compiled kernels.

    python benchmarks/gpu_check.py {sync,accuracy} [--tiers fast:float32,...] [--device cuda] [--out DIR] [--points N]

1. Sync check: every learnable module's forward and backward under
   ``torch.cuda.set_sync_debug_mode("error")``, which raises on any device->host copy
   (a ``bool()``/``.item()`` read of a parameter, for one).
2. Compiled kernels: the conformance suite's tensors are small, so on a GPU it tests the eager
   kernels; inputs of ``COMPILE_MIN_NUMEL`` elements or more run the kernels ``torch.compile``
   generated (Triton on CUDA, with its own exp, log1p and erfc). Here each learnable function,
   in each tier, at its spec defaults, on about N points covering the dtype's finite range
   (log-spaced magnitudes of both signs, subnormals to the largest finite, and a dense
   stretch of [-30, 30]) through the compiled path: value and ∂f/∂x, as ULP distances to the
   NumPy reference (``precision="exact"``, within one ULP of the oracle, at the same float32
   parameters), and to the same tier's eager kernels on the CPU (∂f/∂x condition-aware: in
   ULPs of max(|∂f/∂x|, |f/x|) where that is smaller, as the suite does near its roots); and the first call's wall time (these are the process's
   first compiles, with this machine's caches as they are).
Each writes gpu_check-CHECK.json under --out (accuracy: gpu_check-accuracy-TIERS.json) and
prints its rows; the GPU script runs the accuracy check, one process per tier, beside the
conformance runs, and the sync check after them.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import time

import ml_dtypes
import numpy as np
import torch

from sgblend_spec import reference, spec
from sgblend_spec.backends import torch as backend
from sgblend_spec.conformance.ulp import ulp_distance

LEARNABLE = ("sswish", "sgblend", "sgblend_gelu", "lambda_gelu")
#: (tier, dtype) pairs of the compiled-kernel check by default: the fast tier in both training
#: dtypes, the exact tier in float32.
TIERS = ("fast:float32", "fast:bfloat16", "exact:float32")


def sync_check(device) -> dict[str, str]:
    results = {}
    modules = {"SSwish": backend.SSwish(beta=1.0), "SGBlend": backend.SGBlend(beta=1.0),
               "SGBlend(exact)": backend.SGBlend(beta=1.0, gelu="exact"), "LambdaGELU": backend.LambdaGELU(),
               "SGBlend(precision='exact')": backend.SGBlend(beta=1.0, precision="exact")}
    for name, module in modules.items():
        module = module.to(device)
        for numel in (1 << 10, backend.COMPILE_MIN_NUMEL):  # the eager and the compiled kernels
            x = torch.randn(numel, device=device, requires_grad=True)
            module(x).sum().backward()  # warm-up outside the check (first-call work may sync)
            torch.cuda.synchronize()
            try:
                torch.cuda.set_sync_debug_mode("error")
                module(x).sum().backward()
                verdict = "no host synchronisation"
            except RuntimeError as exc:
                verdict = f"SYNCS: {str(exc).splitlines()[0]}"
            finally:
                torch.cuda.set_sync_debug_mode("default")
            results[f"{name}, {numel} elements"] = verdict
    return results


def points(dtype: str, count: int) -> np.ndarray:
    """About ``count`` inputs of ``dtype``: log-spaced magnitudes of both signs over the finite
    range, a dense stretch of [-30, 30], and zero (distinct values only)."""
    info = ml_dtypes.finfo(reference.supported_dtypes()[dtype])
    magnitudes = np.geomspace(float(info.smallest_subnormal), float(info.max), count // 4)
    grid = np.concatenate([magnitudes, -magnitudes, np.linspace(-30, 30, count // 2), [0.0]])
    distinct = np.unique(grid.astype(reference.supported_dtypes()[dtype]))
    # bfloat16 has fewer finite values than the compiled path's threshold: repeat them
    return np.resize(distinct, max(distinct.size, backend.COMPILE_MIN_NUMEL))


def evaluate(name: str, precision: str, x: np.ndarray, params: dict, device) -> tuple[np.ndarray, np.ndarray, float]:
    """f and ∂f/∂x at x through the backend's public function on ``device`` (0-d float32
    parameters that require grad, as a module holds them), and the call's wall time."""
    dtype = getattr(torch, x.dtype.name)
    xt = torch.from_numpy(x.astype(np.float32)).to(device=device, dtype=dtype).requires_grad_()
    params = [torch.tensor(v, dtype=torch.float32, device=device, requires_grad=True) for v in params.values()]
    start = time.perf_counter()
    y = getattr(backend, name)(xt, *params, precision=precision)
    y.backward(torch.ones_like(y))
    if xt.is_cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start

    def to_numpy(t):
        return t.detach().float().cpu().numpy().astype(x.dtype)

    return to_numpy(y), to_numpy(xt.grad), seconds


def worst(got: np.ndarray, expected: np.ndarray, x: np.ndarray, scale: np.ndarray | None = None) -> dict:
    """The largest error in ULPs and where: the ULP distance, or, with ``scale``, the smaller of
    it and |got - expected| in ULPs of ``scale`` (the suite's condition-aware error, near the
    roots of a derivative where its terms cancel)."""
    distance = ulp_distance(got, expected, x.dtype.name)
    if scale is not None:
        info = ml_dtypes.finfo(x.dtype)
        exponent = np.maximum(np.floor(np.log2(np.maximum(scale, float(info.smallest_subnormal)))), info.minexp)
        in_units = np.abs(got.astype(np.float64) - expected.astype(np.float64)) / np.exp2(exponent - info.nmant)
        distance = np.minimum(distance, np.where(np.isnan(in_units), np.inf, in_units))
    i = int(np.argmax(distance))
    return {"max_ulp": float(distance[i]), "at_x": float(x[i]), "got": float(got[i]), "expected": float(expected[i])}


def compiled_accuracy(device, count: int, tiers: list[str]) -> list[dict]:
    rows = []
    for precision, dtype in (tier.split(":") for tier in tiers):
        x = points(dtype, count)
        for name in LEARNABLE:
            # the spec defaults as the float32 weights the module holds (λ's default is not a float32)
            params = {k: float(np.float32(v)) for k, v in spec.FUNCTIONS[name].defaults.items()}
            value, dx, first = evaluate(name, precision, x, params, device)
            backend.COMPILE = False
            try:
                eager_value, eager_dx, _ = evaluate(name, precision, x, params, "cpu")
            finally:
                backend.COMPILE = True
            expected = getattr(reference, name)(x, **params)
            expected_dx = getattr(reference, f"{name}_grad")(x, **params)["x"]
            # ∂f/∂x's terms are of the order of f/x (σ(βx), Φ(λx)): its condition scale
            with np.errstate(all="ignore"):
                scale = np.maximum(np.abs(expected_dx.astype(np.float64)),
                                   np.nan_to_num(np.abs(expected.astype(np.float64) / x.astype(np.float64))))
            row = {"function": name, "precision": precision, "dtype": dtype, "points": int(x.size),
                   "first_call_s": first,
                   "value": worst(value, expected, x), "dx": worst(dx, expected_dx, x, scale),
                   "value_vs_cpu_eager": worst(value, eager_value, x),
                   "dx_vs_cpu_eager": worst(dx, eager_dx, x, scale),
                   "bounds": {q: spec.ulp_bound(q, dtype, precision) for q in ("value", "x")}}
            rows.append(row)
            print(f"  compiled {name:13s} {precision:5s} {dtype:8s} first call {first:6.2f} s; "
                  f"ULPs to the reference: value {row['value']['max_ulp']:g} (bound {row['bounds']['value']}), "
                  f"dx {row['dx']['max_ulp']:g} (bound {row['bounds']['x']}); to CPU eager: value "
                  f"{row['value_vs_cpu_eager']['max_ulp']:g}, dx {row['dx_vs_cpu_eager']['max_ulp']:g}", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("check", choices=("sync", "accuracy"))
    parser.add_argument("--tiers", default=",".join(TIERS), help="accuracy: comma-separated precision:dtype pairs")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", default=".")
    parser.add_argument("--points", type=int, default=1 << 20)
    args = parser.parse_args()
    device = torch.device(args.device)
    report = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
              "torch": torch.__version__}
    name = "sync"
    if args.check == "accuracy":
        name = "accuracy-" + args.tiers.replace(":", "-").replace(",", "_")
        report["compiled_accuracy"] = compiled_accuracy(device, args.points, args.tiers.split(","))
    else:
        report["sync"] = sync_check(device)
        for module, verdict in report["sync"].items():
            print(f"sync  {module:45s} {verdict}")
    pathlib.Path(args.out).mkdir(parents=True, exist_ok=True)
    pathlib.Path(args.out, f"gpu_check-{name}.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
