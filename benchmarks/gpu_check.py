"""The CUDA half of the GPU check (benchmarks/gpu_check.sh): host synchronisation and speed.

    python benchmarks/gpu_check.py [--out DIR]

1. Sync check: every learnable module's forward and backward under
   ``torch.cuda.set_sync_debug_mode("error")``, which raises on any device->host copy
   (a ``bool()``/``.item()`` read of a parameter, for one).
2. Speed: fwd+bwd (x and every parameter gradient) of each spec function at 16M elements in
   float32 and bfloat16, median of CUDA-event timings, as a ratio to ``F.gelu`` in the same run;
   the first call's wall time (compile included) in a fresh dtype.
Writes gpu_check.json (and prints a table).
"""

from __future__ import annotations

import argparse
import json
import pathlib
import statistics
import time

import torch
import torch.nn.functional as F

from sgblend_spec import spec
from sgblend_spec.backends import torch as backend

LEARNABLE = ("sswish", "sgblend", "sgblend_gelu", "lambda_gelu")


def sync_check(device) -> dict[str, str]:
    results = {}
    modules = {"SSwish": backend.SSwish(beta=1.0), "SGBlend": backend.SGBlend(beta=1.0),
               "SGBlend(exact)": backend.SGBlend(beta=1.0, gelu="exact"), "LambdaGELU": backend.LambdaGELU()}
    for name, module in modules.items():
        module = module.to(device)
        x = torch.randn(1 << 16, device=device, requires_grad=True)
        module(x).sum().backward()  # warm-up outside the check (first-call work may sync)
        torch.cuda.synchronize()
        try:
            torch.cuda.set_sync_debug_mode("error")
            y = module(x)
            y.sum().backward()
            results[name] = "no host synchronisation"
        except RuntimeError as exc:
            results[name] = f"SYNCS: {str(exc).splitlines()[0]}"
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return results


def median_ms(fn, repeats: int = 20) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        torch.cuda.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def speed(device, numel: int) -> list[dict]:
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        x = torch.randn(numel, device=device, dtype=dtype, requires_grad=True)
        dy = torch.randn_like(x)

        def native():
            x.grad = None
            F.gelu(x).backward(dy)

        base = median_ms(native)
        rows.append({"function": "F.gelu", "dtype": str(dtype), "ms": base, "ratio": 1.0})
        for name in ("gelu", *LEARNABLE):
            params = [torch.tensor(v, device=device, requires_grad=True)
                      for v in spec.FUNCTIONS[name].defaults.values()]
            fn = getattr(backend, name)

            def step():
                x.grad = None
                for p in params:
                    p.grad = None
                fn(x, *params).backward(dy)

            torch.cuda.synchronize()
            t0 = time.perf_counter()
            step()
            torch.cuda.synchronize()
            first = time.perf_counter() - t0
            ms = median_ms(step)
            rows.append({"function": name, "dtype": str(dtype), "ms": ms, "ratio": ms / base, "first_call_s": first})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", default=".")
    parser.add_argument("--numel", type=int, default=1 << 24)
    args = parser.parse_args()
    device = torch.device("cuda")
    report = {"device": torch.cuda.get_device_name(), "torch": torch.__version__,
              "sync": sync_check(device), "speed": speed(device, args.numel)}
    for name, verdict in report["sync"].items():
        print(f"sync  {name:16s} {verdict}")
    print(f"speed on {report['device']} (torch {report['torch']}), {args.numel} elements, fwd+bwd, median ms")
    for row in report["speed"]:
        first = f"  first call {row['first_call_s']:.2f} s" if "first_call_s" in row else ""
        print(f"  {row['function']:14s} {row['dtype']:15s} {row['ms']:8.3f} ms  {row['ratio']:6.2f}x{first}")
    pathlib.Path(args.out, "gpu_check.json").write_text(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
