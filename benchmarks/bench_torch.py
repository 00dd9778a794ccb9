"""PyTorch backend: fwd and fwd+bwd time and bytes saved for backward, as ratios to F.gelu.

    python benchmarks/bench_torch.py [--sizes 1048576 16777216] [--repeats 5] [--functions ...]
                                     [--dtype float32|bfloat16] [--precision fast|exact] [--device cpu|cuda]
                                     [--end-to-end/--no-end-to-end] [--e2e-repeats 7] [--e2e-shape 32 128 256]

Every spec function runs through the public functional API with 0-d float32 parameters
that require grad, and the four learnable ones also as the nn.Module a user calls (eager,
no user compile; the module compiles its own kernels for large inputs), in the tier
``--precision`` (default "fast": float32 arithmetic). fwd+bwd computes the x-gradient and
every parameter gradient. Reference rows, not conformant: the same formulas compiled in
float32 with torch's own reductions, and the floor of the exact tier's evaluation, the two
float64 exponentials SG-Blend's value needs and nothing else; and the naive float32 SG-Blend,
the authors' Keras layer's arithmetic written in torch ops (``torch.sigmoid``, autograd for
the backward): what a user would write. Saved bytes are counted with
``torch.autograd.graph.saved_tensors_hooks`` (distinct storages). Also timed: a module's
first call (loading its prebuilt kernels, or, where this machine's cache lacks them, building
them: in the call, or where a CPU is free beside torch's threads in child processes while the
calls run eagerly), its first call at a new size, rank and dtype, and the seconds from the first
call until its libraries are ready; the timed rows run after that.

End to end (``--end-to-end``, on by default): one training step of
``nn.TransformerEncoderLayer(256, 4, 1024, activation=..., batch_first=True)`` on a
(32, 128, 256) float32 batch (forward in training mode, loss = mean of squares, backward,
``AdamW.step()`` with :func:`register_constraints`' projection, ``zero_grad``) with
``SGBlend()``, ``SGBlend(precision="exact")``, ``LambdaGELU()``, ``SSwish()`` and the naive
SG-Blend module, as ratios to the same layer (same weights) with ``nn.GELU()``, timed
interleaved (see ``end_to_end.py``). Results: benchmarks/results/torch.json.

``--device cuda`` runs all of it on the GPU (benchmarks/gpu_check.sh), each timing ending in
``torch.cuda.synchronize()``.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F

import end_to_end
import harness
from sgblend_spec import formulas, spec
from sgblend_spec.backends import torch as backend
from sgblend_spec.backends.torch import prebuilt

#: Where every tensor of the bench lives (``--device``).
DEVICE = torch.device("cpu")


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
    return tuple(torch.tensor(v, dtype=torch.float32, device=DEVICE, requires_grad=True)
                 for v in spec.FUNCTIONS[name].defaults.values())


class _Float32Formulas(torch.autograd.Function):
    """The spec formulas evaluated directly in float32, compiled, reduced by torch's sum_to_size:
    a price tag (not thread-count independent)."""

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


#: The learnable spec functions as the module a user calls.
MODULES = {
    "sswish": lambda precision: backend.SSwish(beta=1.0, precision=precision),
    "sgblend": lambda precision: backend.SGBlend(beta=1.0, precision=precision),
    "sgblend_gelu": lambda precision: backend.SGBlend(beta=1.0, gelu="exact", precision=precision),
    "lambda_gelu": lambda precision: backend.LambdaGELU(precision=precision),
}


def _module_timed(name: str, precision: str, x: torch.Tensor, dy: torch.Tensor) -> harness.Timed:
    module = MODULES[name](precision).to(DEVICE)
    # the parameters go to _timed for their .grad to be reset; the module holds them itself
    return _timed(lambda x, *params: module(x), x, dy, tuple(module.parameters()))


def first_calls(functions: list[str], precision: str, dtype: torch.dtype) -> dict[str, dict[str, float]]:
    """Seconds of a module's first fwd+bwd (its kernels loaded from this machine's cache, or built
    in the call or in the background: :func:`prebuilt.background`), then at a new size, a new rank
    and the other float dtype, and from the first call until its libraries are ready."""
    def once(module, shape, dt):
        x = (torch.randn(*shape, device=DEVICE) * 3).to(dt).requires_grad_()
        _block(None)
        start = time.perf_counter()
        module(x).sum().backward()
        _block(None)
        return time.perf_counter() - start

    other = torch.bfloat16 if dtype != torch.bfloat16 else torch.float32
    out = {}
    for name in functions:
        if name in MODULES:
            module = MODULES[name](precision).to(DEVICE)
            start = time.perf_counter()
            out[name] = {"first": once(module, (4, 256, 1024), dtype), "new size": once(module, (3, 1000, 700), dtype),
                         "new rank": once(module, (8, 300, 70, 9), dtype),
                         f"new dtype ({str(other)[6:]})": once(module, (4, 256, 1024), other)}
            prebuilt.wait()  # the libraries being built in the background, if any
            out[name]["libraries ready"] = time.perf_counter() - start
            print(f"  first calls {name}: " + ", ".join(f"{k} {v:.2f} s" for k, v in out[name].items()), flush=True)
    return out


def cases(functions: list[str], precision: str = "fast") -> list[harness.Case]:
    out = [harness.Case("F.gelu (exact)", "native", "torch.nn.functional.gelu, approximate='none'",
                        lambda x, dy: _timed(F.gelu, x, dy))]
    for name in functions:
        out.append(harness.Case(name, "spec", "", lambda x, dy, name=name: _timed(
            lambda x, *p: getattr(backend, name)(x, *p, precision=precision), x, dy, _parameters(name))))
        if name in MODULES:
            out.append(harness.Case(f"{type(MODULES[name]('fast')).__name__} module ({name})", "spec", "",
                                    lambda x, dy, name=name: _module_timed(name, precision, x, dy)))
    for name in ("sgblend", "lambda_gelu"):
        if name in functions:
            out.append(harness.Case(
                f"{name}, float32 formulas", "reference",
                "the same formulas compiled in float32 with torch's own parameter-gradient sums (thread-count dependent): "
                "the fast tier's arithmetic without its deterministic reduction",
                lambda x, dy, name=name: _timed(lambda x, *p: _Float32Formulas.apply(name, x, *p), x, dy,
                                                _parameters(name))))
    if "sgblend" in functions:
        out.append(harness.Case(
            "sgblend, naive float32", "reference", end_to_end.NAIVE_NOTE,
            lambda x, dy: _timed(lambda x, *p: end_to_end.naive_sgblend(torch.sigmoid, x, *p), x, dy,
                                 _parameters("sgblend"))))
    out.append(harness.Case(
        "floor: 2 float64 exp", "reference",
        "exp(-|x|) + exp(-|1.702x|) in float64, compiled: the least float64 work SG-Blend's value needs",
        lambda x, dy: _timed(lambda x: _floor(x), x, dy, backward=False)))
    return out


class NaiveSGBlend(torch.nn.Module):
    """The authors' SG-Blend as a user would write it in torch (see end_to_end.naive_sgblend)."""

    def __init__(self):
        super().__init__()
        self.alpha, self.beta, self.gamma = (torch.nn.Parameter(torch.tensor([v], device=DEVICE)) for v in (0.0, 1.0, 0.0))

    def forward(self, x):
        return end_to_end.naive_sgblend(torch.sigmoid, x, self.alpha, self.beta, self.gamma)


def end_to_end_rows(shape: tuple[int, ...], repeats: int) -> tuple[str, list[dict]]:
    """Training-step rows of a TransformerEncoderLayer per activation (see the module docstring)."""
    d_model = shape[-1]

    def layer(activation):
        torch.manual_seed(0)
        return torch.nn.TransformerEncoderLayer(d_model, 4, 1024, activation=activation, batch_first=True).to(DEVICE)

    native_state = layer(torch.nn.GELU()).state_dict()
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(1)).to(DEVICE)

    def build(make_activation):
        def make():
            model = layer(make_activation())
            model.load_state_dict(native_state, strict=False)  # the same weights; the activation keeps its own
            model.train()
            optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
            backend.register_constraints(optimizer, model)

            def fwd():
                with torch.no_grad():
                    return model(x)

            def step():
                loss = model(x).square().mean()
                loss.backward()
                optimizer.step()
                optimizer.zero_grad()
                return loss

            return fwd, step
        return make

    models = end_to_end.models(
        end_to_end.Model("nn.GELU()", "native", "torch.nn.GELU(), approximate='none'", build(torch.nn.GELU)),
        build, lambda cls, **kwargs: getattr(backend, cls)(**kwargs).to(DEVICE), NaiveSGBlend)
    description = (f"nn.TransformerEncoderLayer({d_model}, 4, 1024, batch_first=True), input {tuple(shape)} float32, "
                   f"eager, {_where()}; median of {repeats} interleaved repeats")
    return description, end_to_end.measure(models, repeats, _block)


def _inputs(dtype: torch.dtype):
    def make(numel: int):
        g = torch.Generator().manual_seed(0)
        return ((torch.randn(numel, generator=g) * 3).to(dtype).to(DEVICE),
                torch.randn(numel, generator=g).to(dtype).to(DEVICE))

    return make


def _block(result) -> None:
    """Wait for the device: a timing ends when the GPU's work does."""
    if DEVICE.type == "cuda":
        torch.cuda.synchronize(DEVICE)


def _where() -> str:
    return (f"on {torch.cuda.get_device_name(DEVICE)}" if DEVICE.type == "cuda"
            else f"{torch.get_num_threads()} threads")


if __name__ == "__main__":
    args = harness.arguments(__doc__.splitlines()[0], extra=[
        (("--dtype",), {"default": "float32", "choices": ["float32", "bfloat16"]}),
        (("--precision",), {"default": "fast", "choices": ["fast", "exact"]}),
        (("--device",), {"default": "cpu", "help": "cpu, or cuda (a GPU run: benchmarks/gpu_check.sh)"}),
        (("--e2e-shape",), {"type": int, "nargs": 3, "default": [32, 128, 256],
                            "help": "batch, sequence, model width of the end-to-end input"})])
    dtype = getattr(torch, args.dtype)
    DEVICE = torch.device(args.device)
    kernels = (f"kernels compiled with torch.compile for inputs of >= {backend.COMPILE_MIN_NUMEL} elements"
               if backend.COMPILE else "eager kernels (SGBLEND_TORCH_COMPILE=0)")
    mode = (f"{_where()}; " if DEVICE.type != "cpu" else "") + f"precision={args.precision!r}; {kernels}"
    extra = {"precision": args.precision}
    if backend.COMPILE:
        extra["first_call_s"] = first_calls(args.functions, args.precision, dtype)
    backend.BUILD_IN_BACKGROUND = False  # a library still missing is built before its timings, not during
    harness.main("torch", f"torch {torch.__version__}", mode, "F.gelu (exact)", torch.get_num_threads(),
                 cases(args.functions, args.precision), _inputs(dtype), _block, args, extra=extra,
                 end_to_end=lambda: end_to_end_rows(tuple(args.e2e_shape), args.e2e_repeats))
