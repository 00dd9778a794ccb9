"""PyTorch backend: fwd and fwd+bwd time and bytes saved for backward, as ratios to F.gelu.

    python benchmarks/bench_torch.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]

Every spec function runs through the public functional API with 0-d float32 parameters
that require grad (what a module with scalar parameters does), with the backend's defaults:
kernels compiled once (float64 evaluation, rounded once). Reference rows, not conformant:
the same formulas compiled in float32 (what the float64 evaluation costs), and the floor of
that evaluation, the two float64 exponentials SG-Blend's value needs and nothing else.
Saved bytes are counted with ``torch.autograd.graph.saved_tensors_hooks`` (distinct
storages). Results: benchmarks/results/torch.json.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

import harness
from sgblend_spec import formulas, spec
from sgblend_spec.backends import torch as backend


def _saved_bytes(fn, x: torch.Tensor, params) -> int:
    storages: dict[int, int] = {}

    def pack(t: torch.Tensor):
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x.detach().requires_grad_(), *params)
    return sum(storages.values())


def _timed(fn, x: torch.Tensor, dy: torch.Tensor, params=(), backward=True) -> harness.Timed:
    xg = x.detach().clone().requires_grad_()

    def fwd():
        with torch.no_grad():
            return fn(x, *params)

    def fwd_bwd():
        for t in (xg, *params):
            t.grad = None
        fn(xg, *params).backward(dy)

    return harness.Timed(fwd, fwd_bwd if backward else None, _saved_bytes(fn, x, params) if backward else None)


def _parameters(name: str) -> tuple[torch.Tensor, ...]:
    return tuple(torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in spec.FUNCTIONS[name].defaults.values())


class _Float32Formulas(torch.autograd.Function):
    """The spec formulas evaluated directly in float32, compiled: a price tag, not conformant."""

    compiled: dict = {}

    @staticmethod
    def kernels(name):
        if name not in _Float32Formulas.compiled:
            value, grad, _ = formulas.FORMULAS[name]
            keys = ("x", *spec.FUNCTIONS[name].param_names)

            def backward_kernel(g, x, *p):
                partials = grad(backend.NAMESPACE, x, *p)
                return tuple((g * partials[k]).sum_to_size(t.shape) for k, t in zip(keys, (x, *p)))

            _Float32Formulas.compiled[name] = (
                torch.compile(lambda x, *p: value(backend.NAMESPACE, x, *p), fullgraph=True, dynamic=True),
                torch.compile(backward_kernel, fullgraph=True, dynamic=True),
            )
        return _Float32Formulas.compiled[name]

    @staticmethod
    def forward(ctx, name, x, *params):
        ctx.name = name
        ctx.save_for_backward(x, *params)
        return _Float32Formulas.kernels(name)[0](x, *params)

    @staticmethod
    def backward(ctx, g):
        x, *params = ctx.saved_tensors
        return (None, *_Float32Formulas.kernels(ctx.name)[1](g, x, *params))


_floor = torch.compile(
    lambda x: (torch.exp(-x.double().abs()) + torch.exp(-(formulas.SIGMOID_GELU_SLOPE * x.double()).abs())).float(),
    fullgraph=True, dynamic=True,
)


def cases(functions: list[str]) -> list[harness.Case]:
    out = [harness.Case("F.gelu (exact)", "native", "torch.nn.functional.gelu, approximate='none'",
                        lambda x, dy: _timed(F.gelu, x, dy))]
    for name in functions:
        out.append(harness.Case(name, "spec", "", lambda x, dy, name=name: _timed(
            getattr(backend, name), x, dy, _parameters(name))))
    for name in ("sgblend", "lambda_gelu"):
        if name in functions:
            out.append(harness.Case(
                f"{name}, float32 formulas", "reference",
                "the same formulas evaluated in float32 (not conformant: 25-235 ULP off); prices the float64 evaluation",
                lambda x, dy, name=name: _timed(lambda x, *p: _Float32Formulas.apply(name, x, *p), x, dy,
                                                _parameters(name))))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64, compiled: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(lambda x: _floor(x), x, dy, backward=False)))
    return out


def _inputs(numel: int):
    g = torch.Generator().manual_seed(0)
    return torch.randn(numel, generator=g) * 3, torch.randn(numel, generator=g)


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0])
    mode = ("kernels compiled with torch.compile (float64 evaluation)" if backend.COMPILE
            else "eager kernels (SGBLEND_TORCH_COMPILE=0)")
    harness.main("torch", f"torch {torch.__version__}", mode, "F.gelu (exact)", torch.get_num_threads(),
                 cases(args.functions), _inputs, lambda r: None, args)
