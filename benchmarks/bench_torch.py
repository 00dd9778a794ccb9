"""PyTorch backend speed and memory, as ratios to torch's native GELU measured in the same run.

    python benchmarks/bench_torch.py [--sizes 1048576 16777216] [--repeats 7]

For each size (float32, CPU) it times, median of ``--repeats`` runs after a warm-up:

* fwd: the forward pass (inference, no autograd graph);
* fwd+bwd: forward with x.requires_grad and backward of a random upstream gradient;

for torch.nn.functional.gelu (the yardstick), and for SGBlend, LambdaGELU and SSwish modules
(scalar parameters) in three modes: ``compiled`` (the default: kernels compiled once),
``eager`` (SGBLEND_TORCH_COMPILE=0), and ``fp32-native`` (the same formulas compiled in
float32 without the float64 upcast, which do NOT meet the accuracy bounds: shown only to
price the upcast). It also reports the bytes autograd saves for backward (counted with
torch.autograd.graph.saved_tensors_hooks). Results are printed and written as JSON to
benchmarks/results/torch.json.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from sgblend_spec import formulas
from sgblend_spec.backends import torch as backend


def _median_ms(fn, repeats: int) -> float:
    fn()  # warm-up (includes compilation)
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return statistics.median(times)


def _saved_bytes(module, x: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward during one forward."""
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        module(x.detach().requires_grad_())
    return sum(storages.values())


class _Float32Native(torch.autograd.Function):
    """The spec formulas evaluated directly in float32 (no upcast): a speed reference only."""

    _value = {}
    _grad = {}

    @staticmethod
    def forward(ctx, name, x, *params):
        ctx.name = name
        ctx.save_for_backward(x, *params)
        if name not in _Float32Native._value:
            value = formulas.formulas_for(name)[0]  # looked up outside the traced code
            _Float32Native._value[name] = torch.compile(
                lambda x, *p: value(backend.NAMESPACE, x, *p), fullgraph=True, dynamic=True)
        fn = _Float32Native._value[name]
        return fn(x, *params)

    @staticmethod
    def backward(ctx, g):
        x, *params = ctx.saved_tensors
        name = ctx.name
        grad = formulas.formulas_for(name)[1]

        def kernel(g, x, *p):
            partials = grad(backend.NAMESPACE, x, *p)
            keys = ("x", *backend._PARAM_NAMES[name])
            return tuple((g * partials[k]).sum_to_size(t.shape) for k, t in zip(keys, (x, *p)))

        fn = _Float32Native._grad.setdefault(name, torch.compile(kernel, fullgraph=True, dynamic=True))
        return (None, *fn(g, x, *params))


class _NativeModule(torch.nn.Module):
    def __init__(self, module):
        super().__init__()
        self.inner = module

    def forward(self, x):
        m = self.inner
        params = [m._channel(getattr(m, n), x) if n != "lam" else m._channel(m.lam, x)
                  for n in backend._PARAM_NAMES[m.function]]
        return _Float32Native.apply(m.function, x, *params)


def _modules():
    return {
        "sgblend": lambda: backend.SGBlend(beta=1.0),
        "lambda_gelu": lambda: backend.LambdaGELU(lam=2.5),
        "sswish": lambda: backend.SSwish(beta=1.0),
    }


def _bench(size: int, repeats: int) -> dict:
    torch.manual_seed(0)
    x = torch.randn(size)
    upstream = torch.randn(size)
    xg = x.clone().requires_grad_()

    def timings(module) -> dict:
        def fwd():
            with torch.no_grad():
                module(x)

        def fwd_bwd():
            xg.grad = None
            for p in module.parameters():
                p.grad = None
            module(xg).backward(upstream)

        return {"fwd_ms": _median_ms(fwd, repeats), "fwd_bwd_ms": _median_ms(fwd_bwd, repeats),
                "saved_bytes": _saved_bytes(module, x)}

    class NativeGELU(torch.nn.Module):
        def forward(self, x):
            return F.gelu(x)

    out = {"numel": size, "gelu_native": timings(NativeGELU())}
    for name, make in _modules().items():
        rows = {}
        backend.COMPILE, backend.COMPILE_MIN_NUMEL = True, 0
        rows["compiled"] = timings(make())
        backend.COMPILE = False
        rows["eager"] = timings(make())
        backend.COMPILE = True
        rows["fp32-native"] = timings(_NativeModule(make()))
        out[name] = rows
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1 << 20, 1 << 24])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--output", default=str(pathlib.Path(__file__).parent / "results" / "torch.json"))
    args = parser.parse_args()

    results = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "runs": [_bench(size, args.repeats) for size in args.sizes],
    }
    for run in results["runs"]:
        base = run["gelu_native"]
        print(f"\nfloat32, {run['numel']:,} elements, {results['threads']} threads; "
              f"F.gelu: fwd {base['fwd_ms']:.2f} ms, fwd+bwd {base['fwd_bwd_ms']:.2f} ms, "
              f"saved {base['saved_bytes'] / 2**20:.1f} MiB")
        print(f"{'function':<13}{'mode':<13}{'fwd ms':>9}{'x gelu':>8}{'fwd+bwd ms':>12}{'x gelu':>8}{'saved MiB':>11}")
        for name in _modules():
            for mode, row in run[name].items():
                row["fwd_ratio"] = row["fwd_ms"] / base["fwd_ms"]
                row["fwd_bwd_ratio"] = row["fwd_bwd_ms"] / base["fwd_bwd_ms"]
                print(f"{name:<13}{mode:<13}{row['fwd_ms']:>9.2f}{row['fwd_ratio']:>8.2f}"
                      f"{row['fwd_bwd_ms']:>12.2f}{row['fwd_bwd_ratio']:>8.2f}{row['saved_bytes'] / 2**20:>11.1f}")
    path = pathlib.Path(args.output)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwritten to {path}")


if __name__ == "__main__":
    main()
