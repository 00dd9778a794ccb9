"""PyTorch binding: functional API, one autograd.Function, nn.Modules.

Every value and derivative comes from :mod:`sgblend_spec.formulas`, evaluated through the
torch :data:`NAMESPACE`; nothing here restates a formula.

Functional API (one function per spec name; parameters are Python numbers or floating
tensors that broadcast against ``x``)::

    swish(x, beta)    gelu(x)    gelu_tanh(x)    gelu_sigmoid(x)    sswish(x, beta, gamma)
    sgblend(x, alpha, beta, gamma)    sgblend_gelu(...)    sgblend_gelu_tanh(...)    lambda_gelu(x, lam)

Numerics. float16, bfloat16 and float32 inputs are evaluated in float64 and rounded once to
the input dtype (bfloat16 and float16 through a round-to-odd float32 step, so the rounding
really is single); float64 is evaluated natively. That is what makes the published bounds
(value ≤ 1 ULP, derivatives ≤ 2 ULP) hold. The result has the dtype of ``x`` whatever the
parameters' dtype; a parameter gradient has the parameter's dtype and shape (summed over
the dimensions it was broadcast along).

Autograd. One ``torch.autograd.Function`` serves every spec function. Its forward saves only
``x`` and the tensor parameters (no intermediates); its backward evaluates the spec's
``*_grad`` formulas. The backward is itself an autograd.Function, so double backward works:
∂²f/∂x² comes from the spec's ``*_dxx`` formula, the mixed and parameter-parameter second
derivatives from autograd through the ``*_grad`` formulas (in float64). At x = ±inf those
mixed second derivatives can be NaN (autograd's inf·0); ∂²f/∂x² is exact there.

Speed. On tensors with at least :data:`COMPILE_MIN_NUMEL` elements the pure kernels are
compiled once per spec function with ``torch.compile(fullgraph=True, dynamic=True)``, which
fuses the float64 evaluation into one pass. Set ``SGBLEND_TORCH_COMPILE=0`` (or
``sgblend_spec.backends.torch.COMPILE = False``) to always run eagerly. If compilation
fails the kernel falls back to eager evaluation once, with a warning. Inside a user's
``torch.compile`` region the kernels are traced inline (no nested compile, no graph break);
there a tensor parameter's domain is checked by ``torch._assert_async`` (RuntimeError naming
the parameter when the graph runs) instead of the eager ValueError, which would need a host
read that breaks the graph. Double backward is eager-only.

Input contract (``spec.INPUT_CONTRACT``). ``x`` is a float16/bfloat16/float32/float64 tensor
or NumPy array (converted to a CPU tensor); Python numbers and lists are a TypeError.
Parameters are Python numbers, NumPy floats or floating tensors that broadcast to x's shape;
modules check parameters they load (``load_state_dict``, :func:`import_parameters`).

Autocast. The functions are not on any autocast list: under ``torch.autocast`` they run in
the dtype of their input (a float32 ``x`` gives a float32 result, a bfloat16 ``x`` a
bfloat16 result), still evaluated in float64 internally.
"""

from __future__ import annotations

import copy
import math
import numbers
import os
import types
import warnings
from dataclasses import replace
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from sgblend_spec import checks, formulas, spec
from sgblend_spec import hardening as _hardening
from sgblend_spec._namespace import Namespace

__all__ = [
    "import_parameters",
    "NAMESPACE",
    "COMPILE",
    "COMPILE_MIN_NUMEL",
    *spec.FUNCTIONS,
    "Swish",
    "GELU",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    "register_constraints",
    # λ-GELU training recipe and activation swap (section at the end of this file)
    "lambda_parameter_groups",
    "register_lambda_update",
    "HardeningSchedule",
    "swap_activations",
    "relu_ize",
]

#: The torch array namespace the formulas are evaluated with.
NAMESPACE = Namespace(
    name="torch",
    exp=torch.exp,
    expm1=torch.expm1,
    log1p=torch.log1p,
    erfc=torch.special.erfc,
    abs=torch.abs,
    where=torch.where,
    finite=lambda a: torch.clamp(a, -torch.finfo(a.dtype).max, torch.finfo(a.dtype).max),
)


def _abs_with_right_derivative(u: torch.Tensor) -> torch.Tensor:
    """|u| whose autograd derivative at u = 0 is +1, not torch.abs's 0.

    The formulas pick the ``u >= 0`` branch at 0 and build it from e^(-|u|); with a zero
    derivative of |u| there, autograd would report σ'(0) = 0 instead of 1/4.
    """
    return torch.where(u >= 0, u, -u)


class _WhereProductRule(torch.autograd.Function):
    """torch.where whose gradient goes to the second branch where both branches are 0.

    The formulas write a·t as ``where((t == 0) & (a == a), t, a·t)`` so that an infinite
    ``a`` times a vanishing ``t`` is 0. Where t = 0 and a is finite both branches are 0,
    but only a·t carries the product rule (d(a·t) = a·dt + t·da); routing the gradient to
    the bare ``t`` would report dt, e.g. ∂²(x²σσ̄(βx))/∂β∂x = 1/4 instead of 0 at x = 0.
    The other branch pairs in formulas.py are either never both 0 (σ(u) vs σ(-u)) or both
    0 only where their derivatives agree (a·σ(u) at a = 0 occurs only with u = βa = 0);
    tests/torch gradgradcheck at x = 0 and α = 0 guards this.
    """

    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.tensors = (isinstance(a, torch.Tensor), isinstance(b, torch.Tensor))
        like = a if ctx.tensors[0] else b
        a, b = (torch.as_tensor(v, dtype=like.dtype, device=like.device) for v in (a, b))
        ctx.to_b = ~cond | ((a == 0) & (b == 0))
        ctx.shapes = (a.shape, b.shape)
        return torch.where(cond, a, b)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        grad_a = torch.where(ctx.to_b, zero, grad)
        grad_b = torch.where(ctx.to_b, grad, zero)
        return (
            None,
            _sum_to(grad_a, ctx.shapes[0]) if ctx.tensors[0] else None,
            _sum_to(grad_b, ctx.shapes[1]) if ctx.tensors[1] else None,
        )


def _where_product_rule(cond, a, b):
    return _WhereProductRule.apply(cond, a, b)


#: The namespace used when autograd differentiates the formulas (mixed second derivatives):
#: the same values, with derivatives that are right at the branch points (see above).
_DIFFERENTIABLE = replace(
    NAMESPACE, name="torch-differentiable", abs=_abs_with_right_derivative, where=_where_product_rule
)

#: Compile the kernels (env SGBLEND_TORCH_COMPILE=0 disables it).
COMPILE: bool = os.environ.get("SGBLEND_TORCH_COMPILE", "1") != "0"
#: Smallest input (in elements) for which the compiled kernels are used; smaller inputs run
#: eagerly, where the compile time (seconds, once per function and dtype) would not pay off.
COMPILE_MIN_NUMEL: int = int(os.environ.get("SGBLEND_TORCH_COMPILE_MIN_NUMEL", str(1 << 16)))

_WORKING = torch.float64
_SUPPORTED = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_PARAM_NAMES = {name: record.param_names for name, record in spec.FUNCTIONS.items()}
#: (value, grad, dxx) per spec function, looked up once (dynamo cannot trace globals()).
_FORMULAS = {name: formulas.FORMULAS[name] for name in spec.FUNCTIONS}


# ----------------------------------------------------------------------------- rounding
def _round_once(result: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Round a float64 ``result`` to ``dtype`` with a single rounding.

    torch converts float64 to bfloat16 through float32, which rounds twice. Rounding to
    float32 *to odd* first (truncate toward zero, set the last bit if anything was cut)
    makes the second rounding correct, since float32 keeps more than two extra bits.
    """
    if result.dtype == dtype:
        return result
    if dtype not in (torch.float16, torch.bfloat16):
        return result.to(dtype)
    as32 = result.to(torch.float32)
    back = as32.to(torch.float64)
    inexact = (back != result) & torch.isfinite(as32)
    bits = as32.view(torch.int32)
    # One step toward zero in magnitude is bits - 1 for either sign (sign-magnitude format).
    rounded_up = (back.abs() > result.abs()).to(torch.int32)
    odd = (bits - rounded_up) | 1
    return torch.where(inexact, odd, bits).view(torch.float32).to(dtype)


#: Block length of the deterministic reduction (see ``_sum_to``).
SUM_BLOCK = 1024


def _sum_to(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """Sum ``t`` over the dimensions along which a tensor of ``shape`` was broadcast, in an
    order that does not depend on the number of threads.

    torch's own reductions split a long sum among the threads, so a parameter gradient
    summed over many elements would change in its last bits with ``torch.set_num_threads``.
    Here the summed elements are cut into blocks of :data:`SUM_BLOCK` (zero-padded), each
    block is summed along its own row (torch parallelises over rows, never within one), and
    the block sums are summed the same way until one block is left.
    """
    if t.shape == shape:
        return t
    lead = t.dim() - len(shape)
    summed = [d for d in range(t.dim()) if d < lead or (shape[d - lead] == 1 and t.shape[d] != 1)]
    kept = [d for d in range(t.dim()) if d not in summed]
    rows = t.permute(*summed, *kept).reshape(-1, math.prod([t.shape[d] for d in kept]))
    while rows.shape[0] > SUM_BLOCK:
        rows = torch.nn.functional.pad(rows, (0, 0, 0, -rows.shape[0] % SUM_BLOCK))
        rows = rows.reshape(-1, SUM_BLOCK, rows.shape[1]).sum(dim=1)
    return rows.sum(dim=0).reshape(shape)


# ----------------------------------------------------------------------------- kernels
# Pure functions of tensors (parameters already tensors): what torch.compile compiles.
def _value_kernel(name: str, x: torch.Tensor, params: tuple[torch.Tensor, ...]) -> torch.Tensor:
    """f(x; params), evaluated in float64 and rounded once to x's dtype."""
    value = _FORMULAS[name][0]
    kwargs = {n: p.to(_WORKING) for n, p in zip(_PARAM_NAMES[name], params)}
    return _round_once(value(NAMESPACE, x.to(_WORKING), **kwargs), x.dtype)


def _grad_kernel(
    name: str,
    needs: tuple[bool, ...],
    grad_out: torch.Tensor,
    x: torch.Tensor,
    params: tuple[torch.Tensor, ...],
) -> tuple[torch.Tensor, ...]:
    """grad_out·∂f/∂q for each needed q in (x, *params), reduced to q's shape and dtype."""
    grad = _FORMULAS[name][1]
    kwargs = {n: p.to(_WORKING) for n, p in zip(_PARAM_NAMES[name], params)}
    partials = grad(NAMESPACE, x.to(_WORKING), **kwargs)
    g = grad_out.to(_WORKING)
    out = []
    for key, target, need in zip(("x", *_PARAM_NAMES[name]), (x, *params), needs):
        if need:
            # Reduce in float64, round once.
            out.append(_round_once(_sum_to(g * partials[key], target.shape), target.dtype))
    return tuple(out)


_KERNELS = {"value": _value_kernel, "grad": _grad_kernel}
_COMPILED: dict[tuple[str, str], object] = {}
_COMPILE_FAILED: set[tuple[str, str]] = set()


def _specialised(kind: str, name: str):
    """A kernel for one spec function with its own code object.

    Dynamo keeps its cache (and recompile limit) per code object; one per spec function
    keeps the functions from evicting each other's compiled graphs.
    """
    impl = _KERNELS[kind]

    def kernel(*args):
        return impl(name, *args)

    label = f"_{kind}_{name}"
    code = kernel.__code__.replace(co_name=label, co_qualname=label)
    return types.FunctionType(code, kernel.__globals__, label, None, kernel.__closure__)


def _run(kind: str, name: str, numel: int, *args):
    """Run a kernel: compiled for large inputs (when enabled), eagerly otherwise."""
    key = (kind, name)
    if (
        COMPILE
        and numel >= COMPILE_MIN_NUMEL
        and key not in _COMPILE_FAILED
        and not torch.compiler.is_compiling()  # inside a user's compile: trace inline
    ):
        compiled = _COMPILED.get(key)
        if compiled is None:
            compiled = _COMPILED[key] = torch.compile(_specialised(kind, name), fullgraph=True, dynamic=True)
        try:
            return compiled(*args)
        except Exception as exc:  # no compiler toolchain, unsupported op, ...: stay correct
            _COMPILE_FAILED.add(key)
            warnings.warn(
                f"sgblend_spec.backends.torch: compiling the {kind} kernel of {name} failed "
                f"({type(exc).__name__}: {exc}); using eager evaluation",
                RuntimeWarning,
                stacklevel=3,
            )
    return _KERNELS[kind](name, *args)


def _as_tensors(params: Sequence[object], x: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return tuple(
        p if isinstance(p, torch.Tensor) else torch.tensor(p, dtype=_WORKING, device=x.device)
        for p in params
    )


def _split(params: Sequence[object]) -> tuple[tuple[bool, ...], tuple[object, ...], list[torch.Tensor]]:
    """(which are tensors, the constants (None for tensors), the tensors)."""
    is_tensor = tuple(isinstance(p, torch.Tensor) for p in params)
    constants = tuple(None if t else p for p, t in zip(params, is_tensor))
    return is_tensor, constants, [p for p, t in zip(params, is_tensor) if t]


def _merge(is_tensor: tuple[bool, ...], constants: tuple[object, ...], tensors: Sequence[torch.Tensor]) -> list:
    it = iter(tensors)
    return [next(it) if t else c for t, c in zip(is_tensor, constants)]


# ----------------------------------------------------------------------------- autograd
class _SpecFunction(torch.autograd.Function):
    """f(x; params) for the spec function ``name``; saves only x and tensor parameters."""

    @staticmethod
    def forward(ctx, name: str, x: torch.Tensor, *params):
        ctx.name = name
        ctx.is_tensor, ctx.constants, tensors = _split(params)
        ctx.save_for_backward(x, *tensors)
        return _run("value", name, x.numel(), x, _as_tensors(params, x))

    @staticmethod
    def backward(ctx, grad_out):
        x, *tensors = ctx.saved_tensors
        params = _merge(ctx.is_tensor, ctx.constants, tensors)
        needs = tuple(ctx.needs_input_grad[1:])
        if not any(needs):
            return (None,) * (len(needs) + 1)
        if torch.compiler.is_compiling():
            # Inside a compiled graph (single backward only): the kernel itself.
            grads = _grad_kernel(ctx.name, needs, grad_out, x, _as_tensors(params, x))
        else:
            grads = _SpecBackward.apply(ctx.name, needs, grad_out, x, *params)
            if isinstance(grads, torch.Tensor):
                grads = (grads,)
        it = iter(grads)
        return (None, *(next(it) if need else None for need in needs))


class _SpecBackward(torch.autograd.Function):
    """The backward of :class:`_SpecFunction` as a differentiable op (double backward)."""

    @staticmethod
    def forward(ctx, name: str, needs: tuple[bool, ...], grad_out: torch.Tensor, x: torch.Tensor, *params):
        ctx.name, ctx.needs = name, needs
        ctx.is_tensor, ctx.constants, tensors = _split(params)
        ctx.save_for_backward(grad_out, x, *tensors)
        grads = _run("grad", name, x.numel(), needs, grad_out, x, _as_tensors(params, x))
        return grads[0] if len(grads) == 1 else grads

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *upstream):
        grad_out, x, *tensors = ctx.saved_tensors
        params = _merge(ctx.is_tensor, ctx.constants, tensors)
        wants = ctx.needs_input_grad[2:]  # grad_out, x, *params
        return (None, None, *_second_order(ctx.name, ctx.needs, upstream, grad_out, x, params, wants))


def _second_order(name, needs, upstream, grad_out, x, params, wants):
    """Vector-Hessian products for the backward of the backward.

    The first backward produced G_x = Σ g·f_x and G_p = Σ g·f_p. With upstream v_x, v_p:
    ∂/∂g = f_x·v_x + Σ f_p·v_p;  ∂/∂x = g·(f_xx·v_x + Σ f_px·v_p);
    ∂/∂q = g·(f_xq·v_x + Σ f_pq·v_p). f_xx is the spec's dxx formula; the mixed terms are
    autograd through the spec's grad formulas.
    """
    names = _PARAM_NAMES[name]
    _, grad_formula, dxx_formula = _FORMULAS[name]
    it = iter(upstream)
    v_x = next(it).to(_WORKING) if needs[0] else None
    v_p = {n: next(it).to(_WORKING) for n, need in zip(names, needs[1:]) if need}

    g = grad_out.detach().to(_WORKING)
    xw = x.detach().to(_WORKING)
    pw = {n: p.detach().to(_WORKING) for n, p in zip(names, _as_tensors(params, x))}

    result: list[torch.Tensor | None] = [None] * (2 + len(names))
    if wants[0]:
        partials = grad_formula(NAMESPACE, xw, **pw)
        terms = ([partials["x"] * v_x] if v_x is not None else []) + [partials[n] * v for n, v in v_p.items()]
        total = sum(terms[1:], terms[0])
        result[0] = _round_once(_sum_to(total.expand(torch.broadcast_shapes(total.shape, g.shape)), grad_out.shape),
                                grad_out.dtype)

    want_x = bool(wants[1])
    want_p = [n for n, p, w in zip(names, params, wants[2:]) if w and isinstance(p, torch.Tensor)]
    if not (want_x or want_p):
        return result

    acc = {"x": None, **{n: None for n in want_p}}
    if want_x and v_x is not None:
        acc["x"] = g * dxx_formula(NAMESPACE, xw, **pw) * v_x

    def add(key, value):
        if value is not None:
            acc[key] = value if acc[key] is None else acc[key] + value

    with torch.enable_grad():
        xr = xw.clone().requires_grad_(want_x and bool(v_p))
        pr = {n: pw[n].clone().requires_grad_(n in want_p) for n in names}
        partials = grad_formula(_DIFFERENTIABLE, xr, **pr)
        # Σ g·f_p·v_p, differentiated in x and the parameters: f_px and f_pq terms.
        if v_p:
            inputs = ([xr] if want_x else []) + [pr[n] for n in want_p]
            loss = sum((g * partials[n] * v).sum() for n, v in v_p.items())
            if inputs and loss.requires_grad:
                keys = (["x"] if want_x else []) + want_p
                for key, d in zip(keys, torch.autograd.grad(loss, inputs, allow_unused=True, retain_graph=True)):
                    add(key, d)
        # g·f_x·v_x differentiated in the parameters only (f_xx comes from the dxx formula).
        if v_x is not None and want_p:
            loss = (g * partials["x"] * v_x).sum()
            if loss.requires_grad:
                for n, d in zip(want_p, torch.autograd.grad(loss, [pr[n] for n in want_p], allow_unused=True)):
                    add(n, d)

    targets = {"x": x, **{n: p for n, p in zip(names, params)}}
    for key, value in acc.items():
        if key == "x" and not want_x:
            continue
        target = targets[key]
        if value is None:
            value = torch.zeros(target.shape, dtype=_WORKING, device=target.device)
        index = 1 if key == "x" else 2 + names.index(key)
        result[index] = _round_once(_sum_to(value.expand(torch.broadcast_shapes(value.shape, target.shape)),
                                            target.shape), target.dtype)
    return result


# ----------------------------------------------------------------------------- checking
def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _from_numpy(a: np.ndarray | np.generic) -> torch.Tensor:
    """A NumPy array or scalar as a CPU tensor of the same dtype and values (a copy)."""
    a = np.array(a, copy=True, order="C")  # keeps 0-d; no negative strides
    if a.dtype.name == "bfloat16":  # ml_dtypes: same bits as torch.bfloat16
        return torch.from_numpy(a.view(np.int16)).view(torch.bfloat16)
    return torch.from_numpy(a)


def _check_x(function: str, x: object) -> torch.Tensor:
    """x as a tensor of a supported dtype (spec.INPUT_CONTRACT "x.type", "x.dtype").

    A NumPy array or scalar becomes a CPU tensor with its dtype and values; anything else
    that is not a tensor (a Python number or list) is a TypeError.
    """
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(function, np.asarray(x).dtype.name)
        return _from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise checks.x_type_error(function, x, "torch")
    checks.check_x_dtype(function, _dtype_name(x.dtype))
    return x


def _prepare(function: str, parameter: spec.Parameter, value: object, x: torch.Tensor, compiling: bool) -> object:
    """Check one parameter (spec.INPUT_CONTRACT "param.*"); return a float or a tensor.

    A NumPy array becomes a constant tensor on x's device, a 0-d NumPy float a Python float.
    Eagerly a tensor's values are checked against the domain (ValueError); inside a
    compiled region the check is ``torch._assert_async`` (RuntimeError when it runs).
    """
    if isinstance(value, (np.ndarray, np.generic)):
        kind = np.asarray(value).dtype
        if kind.kind != "f" and kind.name != "bfloat16":
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype {kind}"
            )
        value = float(value) if np.ndim(value) == 0 else _from_numpy(value).to(x.device)
    if isinstance(value, torch.Tensor):
        if not value.is_floating_point():
            raise TypeError(
                f"{function}: parameter '{parameter.name}' must be real floating point, got dtype "
                f"{_dtype_name(value.dtype)}"
            )
        if compiling:  # no host read inside a graph: an in-graph assertion instead
            torch._assert_async(_domain_mask(parameter, value).all(), _DOMAIN_MESSAGES[function][parameter.name])
        else:
            _check_tensor_domain(function, parameter, value)
        checks.check_parameter_shape(function, parameter.name, tuple(value.shape), tuple(x.shape))
        return value
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{function}: parameter '{parameter.name}' must be a real number or a floating-point "
            f"tensor, got {type(value).__name__}"
        )
    value = float(value)
    if value not in parameter.domain:
        checks.validate(function, {parameter.name: value})  # raises, with the spec's message
    return value


#: The in-graph assertion messages, as constants (dynamo does not trace str.format).
_DOMAIN_MESSAGES = {
    name: {p.name: f"{name}: parameter '{p.name}' must be a finite value in {p.domain}" for p in record.params}
    for name, record in spec.FUNCTIONS.items()
}


def _domain_mask(parameter: spec.Parameter, t: torch.Tensor) -> torch.Tensor:
    """Elementwise: is t in the parameter's domain (finite, within the interval)?"""
    domain = parameter.domain
    t = t.detach()
    ok = torch.isfinite(t)
    if math.isfinite(domain.lo):
        ok &= t >= domain.lo if domain.lo_closed else t > domain.lo
    if math.isfinite(domain.hi):
        ok &= t <= domain.hi if domain.hi_closed else t < domain.hi
    return ok


def _check_tensor_domain(function: str, parameter: spec.Parameter, t: torch.Tensor) -> None:
    ok = _domain_mask(parameter, t)
    if not bool(ok.all()):
        bad = float(t.detach()[~ok].reshape(-1)[0])
        checks.validate(function, {parameter.name: bad})  # raises, with the spec's message
        raise ValueError(f"{function}: parameter '{parameter.name}' must be in {parameter.domain}, got {bad!r}")


def _apply(function: str, x: object, params: dict[str, object]) -> torch.Tensor:
    x = _check_x(function, x)
    compiling = torch.compiler.is_compiling()
    record = spec.FUNCTIONS[function]
    args = [_prepare(function, p, params[p.name], x, compiling) for p in record.params]
    return _SpecFunction.apply(function, x, *args)


# ----------------------------------------------------------------------------- functional API
_D = {name: record.defaults for name, record in spec.FUNCTIONS.items()}


def swish(x: torch.Tensor, beta=_D["swish"]["beta"]) -> torch.Tensor:
    """Swish-β: x·σ(βx), β ≥ 0 (β = 1 is SiLU)."""
    return _apply("swish", x, {"beta": beta})


def gelu(x: torch.Tensor) -> torch.Tensor:
    """Exact GELU: x·Φ(x), Φ(x) = erfc(-x/√2)/2."""
    return _apply("gelu", x, {})


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh GELU: ½x(1 + tanh(√(2/π)(x + 0.044715x³)))."""
    return _apply("gelu_tanh", x, {})


def gelu_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """Sigmoid GELU: x·σ(1.702x)."""
    return _apply("gelu_sigmoid", x, {})


def sswish(x: torch.Tensor, beta=_D["sswish"]["beta"], gamma=_D["sswish"]["gamma"]) -> torch.Tensor:
    """SSwish: x·σ(βx) - γ."""
    return _apply("sswish", x, {"beta": beta, "gamma": gamma})


def sgblend(
    x: torch.Tensor, alpha=_D["sgblend"]["alpha"], beta=_D["sgblend"]["beta"], gamma=_D["sgblend"]["gamma"]
) -> torch.Tensor:
    """SG-Blend (authors' layer): σ(α)·(x·σ(βx) - γ) + σ(-α)·x·σ(1.702x), α raw."""
    return _apply("sgblend", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def sgblend_gelu(
    x: torch.Tensor, alpha=_D["sgblend_gelu"]["alpha"], beta=_D["sgblend_gelu"]["beta"],
    gamma=_D["sgblend_gelu"]["gamma"],
) -> torch.Tensor:
    """SG-Blend with the exact GELU: σ(α)·(x·σ(βx) - γ) + σ(-α)·x·Φ(x)."""
    return _apply("sgblend_gelu", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def sgblend_gelu_tanh(
    x: torch.Tensor, alpha=_D["sgblend_gelu_tanh"]["alpha"], beta=_D["sgblend_gelu_tanh"]["beta"],
    gamma=_D["sgblend_gelu_tanh"]["gamma"],
) -> torch.Tensor:
    """SG-Blend with the tanh GELU: σ(α)·(x·σ(βx) - γ) + σ(-α)·gelu_tanh(x)."""
    return _apply("sgblend_gelu_tanh", x, {"alpha": alpha, "beta": beta, "gamma": gamma})


def lambda_gelu(x: torch.Tensor, lam=_D["lambda_gelu"]["lam"]) -> torch.Tensor:
    """λ-GELU: x·Φ(λx), λ ≥ 1 (λ = 1 is exact GELU)."""
    return _apply("lambda_gelu", x, {"lam": lam})


# ----------------------------------------------------------------------------- modules
_SQRT3 = math.sqrt(3.0)


def _constrained_init(module: str, parameter: spec.Parameter, value: float) -> float:
    """An explicit initial value: a real number where the layer keeps the parameter
    (its constraint, else its domain); spec.INPUT_CONTRACT "layer.init"."""
    return checks.check_initial_value(module, parameter, value)


def _check_factory_dtype(module: str, dtype) -> None:
    """The ``dtype=`` of a module's parameters must be real floating (not integer or complex)."""
    if dtype is not None:
        checks.check_parameter_dtype(module, _dtype_name(dtype) if isinstance(dtype, torch.dtype) else str(dtype))


class _Activation(nn.Module):
    """Shared plumbing: per-channel parameters broadcast along dim 1, like nn.PReLU."""

    num_parameters: int

    def _channel(self, t: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """A (C,) parameter as (C, 1, ..., 1) for x of shape (N, C, ...); (1,) as a scalar."""
        if self.num_parameters == 1:
            return t.reshape(())
        if x.dim() < 2 or x.shape[1] != self.num_parameters:
            raise ValueError(
                f"{type(self).__name__}: num_parameters={self.num_parameters} needs an input with "
                f"{self.num_parameters} channels on dim 1, got shape {tuple(x.shape)}"
            )
        return t.reshape((-1,) + (1,) * (x.dim() - 2))

    def project_(self) -> "_Activation":
        """Clip each constrained parameter into its spec interval, in place (after a step)."""
        return self

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Check each loaded parameter (spec.INPUT_CONTRACT "layer.load"): real floating, the
        module's shape, finite and mapping into the function's domain. The layer constraint is
        not enforced: a checkpoint of the authors' layer before its first update holds β ≤ 0."""
        for name, param in self._parameters.items():
            key = prefix + name
            if param is None or key not in state_dict:
                continue
            value = state_dict[key]
            if isinstance(value, torch.Tensor):
                if not value.is_floating_point():
                    raise TypeError(f"{type(self).__name__}: loaded parameter '{name}' must be real floating "
                                    f"point, got dtype {_dtype_name(value.dtype)}")
                value = value.detach().to("cpu", torch.float64).numpy()
            checks.check_loaded(type(self).__name__, self.function, name, value, tuple(param.shape))
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _check_num_parameters(module: str, n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"{module}: num_parameters must be an integer >= 1, got {n!r}")
    return n


class Swish(_Activation):
    """Swish-β, x·σ(βx), with a fixed β ≥ 0 (β = 1 is SiLU). No learnable parameters."""

    def __init__(self, beta: float = _D["swish"]["beta"]):
        super().__init__()
        self.beta = checks.validate("swish", {"beta": beta})["beta"]
        self.num_parameters = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swish(x, self.beta)

    def extra_repr(self) -> str:
        return f"beta={self.beta!r}"


class GELU(_Activation):
    """GELU in one of its three forms: approximate='none' (exact x·Φ(x)), 'tanh', 'sigmoid'."""

    _FORMS = {"none": "gelu", "tanh": "gelu_tanh", "sigmoid": "gelu_sigmoid"}

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in self._FORMS:
            raise ValueError(f"GELU: approximate must be one of {sorted(self._FORMS)}, got {approximate!r}")
        self.approximate = approximate
        self.function = self._FORMS[approximate]
        self.num_parameters = 1

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply(self.function, x, {})

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class SSwish(_Activation):
    """SSwish, x·σ(βx) - γ, with learnable β and γ.

    ``beta=None`` (default) is the authors' initialisation: glorot_uniform on shape (1,),
    i.e. U(-√3, √3) per channel, which may be negative until the first :meth:`project_`.
    An explicit ``beta`` initialises deterministically and must lie in [0.1, 10].
    :meth:`project_` (run it after each optimizer step, e.g. via
    :func:`register_constraints`) clips β to [0.1, 10]; γ is free.
    ``num_parameters=C`` gives per-channel β, γ of shape (C,), broadcast along dim 1.
    """

    function = "sswish"

    def __init__(self, beta: float | None = None, gamma: float = _D["sswish"]["gamma"], num_parameters: int = 1,
                 *, device=None, dtype=None):
        super().__init__()
        record = spec.FUNCTIONS[self.function]
        self.num_parameters = _check_num_parameters(type(self).__name__, num_parameters)
        self.beta_init = None if beta is None else _constrained_init(type(self).__name__, record.parameter("beta"), beta)
        self.gamma_init = _constrained_init(type(self).__name__, record.parameter("gamma"), gamma)
        _check_factory_dtype(type(self).__name__, dtype)
        factory = {"device": device, "dtype": dtype}
        self.beta = nn.Parameter(torch.empty(num_parameters, **factory))
        self.gamma = nn.Parameter(torch.empty(num_parameters, **factory))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        with torch.no_grad():
            _init_beta(self.beta, self.beta_init)
            self.gamma.fill_(self.gamma_init)

    def project_(self) -> "SSwish":
        _clip_(self.beta, spec.FUNCTIONS[self.function].parameter("beta"))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply(self.function, x, {"beta": self._channel(self.beta, x), "gamma": self._channel(self.gamma, x)})

    def extra_repr(self) -> str:
        beta = "glorot_uniform" if self.beta_init is None else repr(self.beta_init)
        return f"num_parameters={self.num_parameters}, beta_init={beta}, gamma_init={self.gamma_init!r}"


def _init_beta(beta: torch.Tensor, value: float | None) -> None:
    if value is None:
        # Keras glorot_uniform on shape (1,): fan_in = fan_out = 1, limit √(6/2) = √3.
        beta.uniform_(-_SQRT3, _SQRT3)
    else:
        beta.fill_(value)


def _clip_(t: torch.Tensor, parameter: spec.Parameter) -> None:
    interval = parameter.constraint
    with torch.no_grad():
        t.clamp_(interval.lo, interval.hi)


class SGBlend(_Activation):
    """SG-Blend, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x), with learnable raw α, β, γ.

    Defaults reproduce the authors' released layer: ``gelu='sigmoid'`` (g = x·σ(1.702x)),
    α = 0 (a = σ(α) = 1/2), γ = 0, and ``beta=None`` = glorot_uniform U(-√3, √3), clipped
    only after an optimizer step. ``gelu='exact'`` / ``'tanh'`` blend with the exact / tanh
    GELU (spec functions sgblend_gelu / sgblend_gelu_tanh). An explicit ``beta`` is a
    deterministic initialisation and must lie in [0.1, 10]; an explicit ``alpha`` must lie
    in [-1, 1]. :meth:`project_` clips α to [-1, 1] and β to [0.1, 10] (the Keras
    constraints, which act after each update; see :func:`register_constraints`).
    ``num_parameters=C`` gives per-channel parameters of shape (C,), broadcast along dim 1.
    """

    _VARIANTS = {"sigmoid": "sgblend", "exact": "sgblend_gelu", "tanh": "sgblend_gelu_tanh"}

    def __init__(self, alpha: float = _D["sgblend"]["alpha"], beta: float | None = None,
                 gamma: float = _D["sgblend"]["gamma"], gelu: str = "sigmoid", num_parameters: int = 1,
                 *, device=None, dtype=None):
        super().__init__()
        if gelu not in self._VARIANTS:
            raise ValueError(f"SGBlend: gelu must be one of {sorted(self._VARIANTS)}, got {gelu!r}")
        self.gelu = gelu
        self.function = self._VARIANTS[gelu]
        record = spec.FUNCTIONS[self.function]
        name = type(self).__name__
        self.num_parameters = _check_num_parameters(name, num_parameters)
        self.alpha_init = _constrained_init(name, record.parameter("alpha"), alpha)
        self.beta_init = None if beta is None else _constrained_init(name, record.parameter("beta"), beta)
        self.gamma_init = _constrained_init(name, record.parameter("gamma"), gamma)
        _check_factory_dtype(name, dtype)
        factory = {"device": device, "dtype": dtype}
        self.alpha = nn.Parameter(torch.empty(num_parameters, **factory))
        self.beta = nn.Parameter(torch.empty(num_parameters, **factory))
        self.gamma = nn.Parameter(torch.empty(num_parameters, **factory))
        self.reset_parameters()

    @classmethod
    def authors(cls, **kwargs) -> "SGBlend":
        """The authors' released layer: α = 0, β ~ U(-√3, √3), γ = 0, sigmoid-GELU partner."""
        for fixed in ("alpha", "beta", "gamma", "gelu"):
            if fixed in kwargs:
                raise TypeError(f"SGBlend.authors() fixes {fixed}; construct SGBlend(...) to choose it")
        return cls(**kwargs)

    def reset_parameters(self) -> None:
        with torch.no_grad():
            self.alpha.fill_(self.alpha_init)
            _init_beta(self.beta, self.beta_init)
            self.gamma.fill_(self.gamma_init)

    def project_(self) -> "SGBlend":
        record = spec.FUNCTIONS[self.function]
        if self.num_parameters == 1:  # the authors' scalar: Keras MinMaxNorm(0, 1), ε included
            with torch.no_grad():
                self.alpha.copy_(formulas.keras_min_max_norm(NAMESPACE, self.alpha))
        else:
            _clip_(self.alpha, record.parameter("alpha"))
        _clip_(self.beta, record.parameter("beta"))
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        params = {n: self._channel(getattr(self, n), x) for n in ("alpha", "beta", "gamma")}
        return _apply(self.function, x, params)

    def extra_repr(self) -> str:
        beta = "glorot_uniform" if self.beta_init is None else repr(self.beta_init)
        return (f"num_parameters={self.num_parameters}, gelu={self.gelu!r}, alpha_init={self.alpha_init!r}, "
                f"beta_init={beta}, gamma_init={self.gamma_init!r}")


class LambdaGELU(_Activation):
    """λ-GELU, x·Φ(λx), with λ = 1 + ρ² trained through the raw parameter ``rho``.

    ``lam`` (default 1 + ln 2) must be ≥ 1; ρ starts at √(λ - 1). ``lam`` is a read-only
    property. The reparameterisation keeps λ ≥ 1 without clipping, so :meth:`project_`
    does nothing. ``num_parameters=C`` gives a per-channel ρ of shape (C,), broadcast
    along dim 1.
    """

    function = "lambda_gelu"

    def __init__(self, lam: float = _D["lambda_gelu"]["lam"], num_parameters: int = 1, *, device=None, dtype=None):
        super().__init__()
        self.num_parameters = _check_num_parameters(type(self).__name__, num_parameters)
        self.lam_init = _constrained_init(type(self).__name__, spec.FUNCTIONS[self.function].parameter("lam"), lam)
        _check_factory_dtype(type(self).__name__, dtype)
        self.rho = nn.Parameter(torch.empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    @property
    def lam(self) -> torch.Tensor:
        """λ = 1 + ρ² (read-only)."""
        return 1 + self.rho * self.rho

    def reset_parameters(self) -> None:
        reparam = spec.FUNCTIONS[self.function].parameter("lam").reparam
        with torch.no_grad():
            self.rho.fill_(reparam.inverse(self.lam_init))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _apply(self.function, x, {"lam": self._channel(self.lam, x)})

    def extra_repr(self) -> str:
        return f"num_parameters={self.num_parameters}, lam_init={self.lam_init!r}"


def register_constraints(optimizer: torch.optim.Optimizer, model: nn.Module):
    """Run ``project_()`` on every activation module of ``model`` after each ``optimizer.step()``.

    This is the Keras constraint semantics of the authors' layer (applied after the update,
    not at initialisation). Returns the hook handle; ``handle.remove()`` undoes it.
    """
    modules = [m for m in model.modules() if isinstance(m, _Activation)]

    def project(opt, args, kwargs) -> None:
        for m in modules:
            m.project_()

    return optimizer.register_step_post_hook(project)


def import_parameters(module: nn.Module, parameters: dict) -> nn.Module:
    """Load parameters keyed by spec name (e.g. from the Keras layer's
    ``sgblend_spec.backends.tensorflow.export_parameters``) into ``module``, in place.

    Names and shapes must match the module's (scalars are shape (1,) in both frameworks);
    values are checked as by ``load_state_dict`` (spec.INPUT_CONTRACT "layer.load"), and an
    integer, bool or complex array is a TypeError rather than a cast.
    """
    state = {}
    for k, v in parameters.items():
        if not isinstance(v, torch.Tensor):
            kind = np.asarray(v).dtype
            if kind.kind != "f" and kind.name != "bfloat16":
                raise TypeError(f"import_parameters: parameter '{k}' must be real floating point, got dtype {kind}")
            v = _from_numpy(np.asarray(v))
        elif not v.is_floating_point():
            raise TypeError(f"import_parameters: parameter '{k}' must be real floating point, got dtype "
                            f"{_dtype_name(v.dtype)}")
        target = getattr(module, k, None)
        state[k] = v.to(target.dtype) if isinstance(target, torch.Tensor) else v
    module.load_state_dict(state, strict=True)
    return module


# ============================================================================ λ-GELU training recipe and activation swap
# The math (target, floor, projection, gradient scale, report) is sgblend_spec.hardening;
# this section binds it to torch modules and optimizers.



def _lambda_modules(model: nn.Module) -> list[LambdaGELU]:
    """Every LambdaGELU of ``model`` once (a module shared by several sites counts once)."""
    return [m for m in model.modules() if isinstance(m, LambdaGELU)]


def lambda_parameter_groups(model: nn.Module, **rho_options) -> list[dict]:
    """Optimizer parameter groups: every parameter of ``model`` except the λ-GELU ρ's, then
    the ρ's with ``weight_decay=0`` (decay would pull λ toward 1) and ``rho_options``
    (e.g. ``lr=``). Empty groups are left out. Pass the result to any torch optimizer."""
    rhos = {id(m.rho): m.rho for m in _lambda_modules(model)}
    others = [p for p in model.parameters() if id(p) not in rhos]
    groups = [{"params": others}] if others else []
    if rhos:
        groups.append({"params": list(rhos.values()), "weight_decay": 0.0, **rho_options})
    return groups


def register_lambda_update(optimizer: torch.optim.Optimizer, model: nn.Module, preactivation_std: float = 1.0):
    """The λ-aware update: before each ``optimizer.step()``, multiply every λ-GELU ρ's
    gradient by κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2) (``hardening.lam_gradient_scale``), which
    undoes the λ⁻³ attenuation of E[∂f/∂λ] for pre-activations of standard deviation s.

    Under SGD it makes the step in log(λ − 1) independent of λ; under Adam-type optimizers it
    only moves the gradient away from ε (see ``sgblend_spec.hardening``). It acts after
    gradient clipping, which therefore sees the unscaled gradient. Returns the hook handle.
    """
    _hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std
    modules = _lambda_modules(model)
    if not modules:
        raise ValueError("register_lambda_update: model has no LambdaGELU module")
    optimised = {id(p) for group in optimizer.param_groups for p in group["params"]}
    for name, m in model.named_modules():
        if isinstance(m, LambdaGELU) and id(m.rho) not in optimised:
            raise ValueError(f"register_lambda_update: the rho of {name or 'model'!r} is not a parameter of optimizer")

    def scale(opt, args, kwargs) -> None:
        with torch.no_grad():
            for m in modules:
                if m.rho.grad is not None:
                    kappa = _hardening.lam_gradient_scale(m.lam.detach().to(_WORKING), preactivation_std)
                    m.rho.grad.mul_(kappa.to(m.rho.grad.dtype))

    return optimizer.register_step_pre_hook(scale)


class HardeningSchedule:
    """The deterministic hardening schedule, stepped like an LR scheduler.

    Call :meth:`step` after each ``optimizer.step()``: it counts the step and projects every
    λ-GELU ρ of ``model`` onto 1 + ρ² ≥ λ_min(step), sign kept
    (``hardening.project_rho``). λ_min rises from 1 at ``start_step`` to ``lam_target`` at
    ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds, so λ ≥ ``lam_target`` from there on. ``lam_target`` is typically
    ``hardening.target_lam(tolerance)``. :meth:`state_dict` / :meth:`load_state_dict`
    save and restore the position, like a torch LR scheduler.
    """

    def __init__(self, model: nn.Module, lam_target: float, ramp_steps: int, start_step: int = 0):
        _hardening.lam_floor(0, lam_target, ramp_steps, start_step)  # checks every argument
        self.modules = _lambda_modules(model)
        if not self.modules:
            raise ValueError("HardeningSchedule: model has no LambdaGELU module")
        self.lam_target = float(lam_target)
        self.ramp_steps = int(ramp_steps)
        self.start_step = int(start_step)
        self.last_step = 0

    @property
    def lam_floor(self) -> float:
        """λ_min at the current step."""
        return _hardening.lam_floor(self.last_step, self.lam_target, self.ramp_steps, self.start_step)

    def step(self) -> float:
        """Count one optimizer step and project every ρ onto the new floor; returns the floor."""
        self.last_step += 1
        self.project_()
        return self.lam_floor

    def project_(self) -> None:
        """Project every ρ onto 1 + ρ² ≥ λ_min at the current step, in place."""
        floor = self.lam_floor
        if floor == 1.0:
            return
        with torch.no_grad():
            for m in self.modules:
                m.rho.copy_(_hardening.project_rho(NAMESPACE, m.rho, floor))

    def state_dict(self) -> dict:
        return {"last_step": self.last_step, "lam_target": self.lam_target, "ramp_steps": self.ramp_steps,
                "start_step": self.start_step}

    def load_state_dict(self, state: dict) -> None:
        _hardening.lam_floor(state["last_step"], state["lam_target"], state["ramp_steps"], state["start_step"])
        self.last_step = int(state["last_step"])
        self.lam_target = float(state["lam_target"])
        self.ramp_steps = int(state["ramp_steps"])
        self.start_step = int(state["start_step"])


def _check_old(old) -> tuple[type, ...]:
    types_ = old if isinstance(old, tuple) else (old,)
    if not types_ or not all(isinstance(t, type) and issubclass(t, nn.Module) for t in types_):
        raise TypeError(f"old must be an nn.Module subclass or a tuple of them, got {old!r}")
    return types_


def _factory(new) -> Callable[[nn.Module], nn.Module]:
    """new → a function of the replaced module giving its replacement."""
    if isinstance(new, nn.Module):
        return lambda replaced: new
    if isinstance(new, type) and issubclass(new, nn.Module):
        return lambda replaced: new()
    if callable(new):
        def call(replaced: nn.Module) -> nn.Module:
            made = new(replaced)
            if not isinstance(made, nn.Module):
                raise TypeError(f"new({type(replaced).__name__}) returned {type(made).__name__}, not an nn.Module")
            return made
        return call
    raise TypeError(
        "new must be an nn.Module instance (shared by every site), an nn.Module subclass (one "
        f"instance per site) or a callable taking the replaced module, got {new!r}"
    )


def _reference_tensor(*modules: nn.Module) -> torch.Tensor | None:
    for module in modules:
        for t in (*module.parameters(), *module.buffers()):
            if t.is_floating_point():
                return t
    return None


def swap_activations(model: nn.Module, old, new) -> tuple[nn.Module, list[str]]:
    """Replace, in place, every submodule of ``model`` that is an instance of ``old`` (a
    module class or a tuple of them, e.g. ``(nn.GELU, nn.SiLU)``) by ``new``.

    ``new`` is an nn.Module subclass (``new()`` at each site), a callable taking the replaced
    module (``lambda m: SGBlend(num_parameters=...)``), or a module instance, which every
    site then shares (one parameter set, like the authors' SG-Blend). A module shared by
    several sites gets one shared replacement. New modules take the device and floating
    dtype of the replaced module (else of its parent, else of ``model``) and its train/eval
    mode. Every other module, parameter and buffer is left as it was. Returns
    ``(model, sites)``: the qualified names replaced, depth-first. If ``model`` itself is an
    ``old`` instance, the returned model is its replacement (and ``model`` is unchanged).
    """
    old_types = _check_old(old)
    make = _factory(new)
    made: dict[int, nn.Module] = {}

    def replacement(replaced: nn.Module, parent: nn.Module) -> nn.Module:
        if id(replaced) not in made:
            module = make(replaced)
            ref = _reference_tensor(replaced, parent, model)
            if ref is not None:
                module.to(device=ref.device, dtype=ref.dtype)
            made[id(replaced)] = module.train(replaced.training)
        return made[id(replaced)]

    if isinstance(model, old_types):
        return replacement(model, model), [""]
    targets: list[tuple[nn.Module, str, str, nn.Module]] = []
    inside_replaced: list[str] = []
    paths = list(model.named_modules(remove_duplicate=False))
    for path, module in paths:
        if any(path.startswith(p + ".") or path == p for p in inside_replaced):
            continue  # a child of a module that is being replaced goes with it
        for name, child in module._modules.items():  # not named_children: it hides repeats
            if isinstance(child, old_types):
                qualified = f"{path}.{name}" if path else name
                targets.append((module, name, qualified, child))
                inside_replaced.append(qualified)
    order = {path: i for i, (path, _) in reversed(list(enumerate(paths)))}
    targets.sort(key=lambda target: order[target[2]])  # depth-first, as named_modules lists them
    for parent, name, _, child in targets:
        setattr(parent, name, replacement(child, parent))
    return model, [qualified for _, _, qualified, _ in targets]


def _flat_outputs(out) -> torch.Tensor:
    if isinstance(out, torch.Tensor):
        return out.detach().reshape(-1).to(_WORKING)
    if isinstance(out, dict):
        out = [out[k] for k in sorted(out)]
    if isinstance(out, (tuple, list)) and out:
        return torch.cat([_flat_outputs(o) for o in out])
    raise TypeError(
        f"relu_ize: the model must return a tensor or a tuple/list/dict of tensors, got {type(out).__name__}"
    )


def relu_ize(model: nn.Module, inputs, *, inplace: bool = False) -> tuple[nn.Module, _hardening.SubstitutionReport]:
    """Replace every LambdaGELU of ``model`` by ``nn.ReLU`` and measure what that changes.

    ``inputs``: a tensor, or a tuple of positional arguments, to run both models on (in eval
    mode, under no_grad; each model's mode is restored). Returns ``(relu_model, report)``,
    ``report`` a ``hardening.SubstitutionReport``: the replaced sites, the max/mean absolute
    and the relative change of the outputs, and the per-unit bound c/λ_min
    (0.16997/λ_min). ``relu_model`` is a deep copy unless ``inplace=True``.
    """
    modules = dict(model.named_modules(remove_duplicate=False))
    lams = [m.lam.detach().cpu().numpy() for m in modules.values() if isinstance(m, LambdaGELU)]
    if not lams:
        raise ValueError("relu_ize: model has no LambdaGELU module")
    args = inputs if isinstance(inputs, tuple) else (inputs,)

    def outputs(m: nn.Module) -> torch.Tensor:
        mode = m.training
        try:
            with torch.no_grad():
                return _flat_outputs(m.eval()(*args))
        finally:
            m.train(mode)

    before = outputs(model)
    target = model if inplace else copy.deepcopy(model)
    relu_model, sites = swap_activations(target, LambdaGELU, nn.ReLU)
    after = outputs(relu_model)
    report = _hardening.substitution_report(sites, before.cpu().numpy(), after.cpu().numpy(), lams)
    return relu_model, report
