"""The value and gradient kernels: pure functions of tensors, compiled for large inputs.

On tensors with at least ``COMPILE_MIN_NUMEL`` elements the kernels are compiled once per
spec function and precision tier with ``torch.compile(fullgraph=True, dynamic=True)``, which
fuses the evaluation in the tier's working dtype (:func:`numerics.working`) into one pass. ``COMPILE`` and ``COMPILE_MIN_NUMEL`` are settings of the package
(``sgblend_spec.backends.torch.COMPILE = False`` always runs eagerly) and are read from it on
each call. If compilation fails the kernel falls back to eager evaluation once, with a
warning. Inside a user's ``torch.compile`` region the kernels are traced inline (no nested
compile, no graph break); under torch.func transforms they run eagerly on the transform's
tensors.
"""

from __future__ import annotations

import types
import warnings

import torch

import sgblend_spec.backends.torch as package
from sgblend_spec import formulas, spec

from .numerics import NAMESPACE, round_once, sum_to_shape, working

PARAM_NAMES = {name: record.param_names for name, record in spec.FUNCTIONS.items()}
#: (value, grad, dxx) per spec function, looked up once (dynamo cannot trace globals()).
FORMULAS = {name: formulas.FORMULAS[name] for name in spec.FUNCTIONS}


def value_kernel(name: str, precision: str, x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """f(x; params), evaluated in the tier's working dtype and rounded once to x's dtype."""
    value = FORMULAS[name].value
    wd = working(x.dtype, precision)
    kwargs = {n: p.to(wd) for n, p in zip(PARAM_NAMES[name], params)}
    return round_once(value(NAMESPACE, x.to(wd), **kwargs), x.dtype)


def grad_kernel(
    name: str,
    precision: str,
    needs: tuple[bool, ...],
    grad_out: torch.Tensor,
    x: torch.Tensor,
    params: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, ...]:
    """grad_out·∂f/∂q for each needed q in (x, *params), reduced to q's shape and dtype."""
    grad = FORMULAS[name].grad
    wd = working(x.dtype, precision)
    kwargs = {n: p.to(wd) for n, p in zip(PARAM_NAMES[name], params)}
    partials = grad(NAMESPACE, x.to(wd), **kwargs)
    g = grad_out.to(wd)
    out = []
    for key, target, need in zip(("x", *PARAM_NAMES[name]), (x, *params), needs):
        if need:
            # Reduce in the working dtype, round once.
            out.append(round_once(sum_to_shape(g * partials[key], target.shape), target.dtype))
    return tuple(out)


KERNELS = {"value": value_kernel, "grad": grad_kernel}
#: Compiled kernels by (kind, spec function, precision tier).
COMPILED: dict[tuple[str, str, str], object] = {}
COMPILE_FAILED: set[tuple[str, str, str]] = set()


def specialised(kind: str, name: str, precision: str):
    """A kernel for one spec function and tier with its own code object.

    Dynamo keeps its cache (and recompile limit) per code object; one per spec function and
    tier keeps them from evicting each other's compiled graphs.
    """
    impl = KERNELS[kind]

    def kernel(*args):
        return impl(name, precision, *args)

    label = f"_{kind}_{name}_{precision}"
    code = kernel.__code__.replace(co_name=label, co_qualname=label)
    return types.FunctionType(code, kernel.__globals__, label, None, kernel.__closure__)


def in_transform(args) -> bool:
    """Inside a torch.func transform (vmap, grad, jvp, ...), or holding its wrapped tensors?"""
    if torch._C._functorch.peek_interpreter_stack() is not None:
        return True
    flat = [t for a in args for t in (a if isinstance(a, tuple) else (a,))]
    return any(isinstance(t, torch.Tensor) and torch._C._functorch.is_functorch_wrapped_tensor(t) for t in flat)


def run(kind: str, name: str, precision: str, numel: int, *args):
    """Run a kernel: compiled for large inputs (when enabled), eagerly otherwise.

    A compiled kernel is a graph of plain tensors, so it is not used inside a torch.func
    transform, whose wrapped tensors it cannot take.
    """
    key = (kind, name, precision)
    if (
        package.COMPILE
        and isinstance(numel, int)  # a SymInt (torch.export, ONNX): no guard on the size, trace inline
        and numel >= package.COMPILE_MIN_NUMEL
        and key not in COMPILE_FAILED
        and not torch.compiler.is_compiling()  # inside a user's compile: trace inline
        and not in_transform(args)
    ):
        compiled = COMPILED.get(key)
        if compiled is None:
            compiled = COMPILED[key] = torch.compile(specialised(kind, name, precision), fullgraph=True, dynamic=True)
        try:
            return compiled(*args)
        except Exception as exc:  # no compiler toolchain, unsupported op, ...: stay correct
            COMPILE_FAILED.add(key)
            warnings.warn(
                f"sgblend_spec.backends.torch: compiling the {kind} kernel of {name} failed "
                f"({type(exc).__name__}: {exc}); using eager evaluation",
                RuntimeWarning,
                stacklevel=3,
            )
    return KERNELS[kind](name, precision, *args)
