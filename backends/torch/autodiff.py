"""The torch differentiation rule: one ``torch.autograd.Function`` serves every spec function.

Its forward saves only ``x`` and the tensor parameters (no intermediates); its backward
evaluates the spec's grad formula. The backward is itself an autograd.Function, so double
backward works: ∂²f/∂x² comes from the spec's dxx formula, the mixed and
parameter-parameter second derivatives from autograd through the grad formulas (in the
tier's working dtype, :func:`second_derivatives`). The precision tier is a non-tensor input
of both Functions, so every derivative, jvp and vmap rule evaluates in the tier it was
called with. At x = ±inf those mixed second derivatives can be NaN
(autograd's inf·0); ∂²f/∂x² is exact there. Double backward is eager-only.

torch.func. Both Functions are written with a separate ``setup_context``, a ``jvp``
(forward mode: the tangent Σ ∂f/∂q·q̇ from the same grad formula; for the backward, the same
Hessian products as double backward) and ``generate_vmap_rule = True`` (every op inside is a
torch op), so ``vmap``, ``grad``, ``jacrev``, ``jacfwd``, ``jvp``, ``hessian``,
``functional_call`` and ``torch.autograd.forward_ad`` see the eager path's numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

from .kernels import FORMULAS, PARAM_NAMES, grad_kernel, value, value_kernel
from .kernels import grads as grads_of
from .numerics import DIFFERENTIABLE, NAMESPACE, round_once, sum_to_shape, working


def as_tensors(params: Sequence[object], x: torch.Tensor, wd: torch.dtype) -> tuple[torch.Tensor, ...]:
    """Parameters as tensors (Python numbers as scalars of the working dtype ``wd`` on x's device)."""
    return tuple(
        p if isinstance(p, torch.Tensor) else torch.tensor(p, dtype=wd, device=x.device)
        for p in params
    )


def split(params: Sequence[object]) -> tuple[tuple[bool, ...], tuple[object, ...], list[torch.Tensor]]:
    """(which are tensors, the constants (None for tensors), the tensors)."""
    is_tensor = tuple(isinstance(p, torch.Tensor) for p in params)
    constants = tuple(None if t else p for p, t in zip(params, is_tensor))
    return is_tensor, constants, [p for p, t in zip(params, is_tensor) if t]


def merge(is_tensor: tuple[bool, ...], constants: tuple[object, ...], tensors: Sequence[torch.Tensor]) -> list:
    """The inverse of :func:`split`."""
    it = iter(tensors)
    return [next(it) if t else c for t, c in zip(is_tensor, constants)]


@dataclass(frozen=True)
class Needs:
    """Which of (x, *params) a backward computes. A class, not a bare tuple, so that
    torch.func's pytree flattening of the Function's inputs keeps it one (non-tensor) leaf."""

    flags: tuple[bool, ...]


class SpecFunction(torch.autograd.Function):
    """f(x; params) for the spec function ``name``; saves only x and tensor parameters."""

    generate_vmap_rule = True

    @staticmethod
    def forward(name: str, precision: str, x: torch.Tensor, *params):
        return value(name, precision, x, as_tensors(params, x, working(x.dtype, precision)))

    @staticmethod
    def setup_context(ctx, inputs, output):
        name, precision, x, *params = inputs
        ctx.name, ctx.precision = name, precision
        ctx.is_tensor, ctx.constants, tensors = split(params)
        ctx.save_for_backward(x, *tensors)
        ctx.save_for_forward(x, *tensors)

    @staticmethod
    def backward(ctx, grad_out):
        x, *tensors = ctx.saved_tensors
        params = merge(ctx.is_tensor, ctx.constants, tensors)
        needs = tuple(ctx.needs_input_grad[2:])
        if not any(needs):
            return (None,) * (len(needs) + 2)
        if torch.compiler.is_compiling():
            # Inside a compiled graph (single backward only): the kernel itself.
            wd = working(x.dtype, ctx.precision)
            grads = grad_kernel(ctx.name, ctx.precision, needs, grad_out, x, as_tensors(params, x, wd))
        else:
            grads = SpecBackward.apply(ctx.name, ctx.precision, Needs(needs), grad_out, x, *params)
            if isinstance(grads, torch.Tensor):
                grads = (grads,)
        it = iter(grads)
        return (None, None, *(next(it) if need else None for need in needs))


class TransformableSpecFunction(SpecFunction):
    """:class:`SpecFunction` with a forward-mode rule (jvp, jacfwd, hessian, forward_ad).

    A separate class because dynamo cannot trace an autograd.Function that defines ``jvp``:
    inside a ``torch.compile`` region :func:`apply` uses the plain one.
    """

    @staticmethod
    def jvp(ctx, _name, _precision, x_dot, *param_dots):
        """Σ ∂f/∂q·q̇ over the inputs with a tangent, in the working dtype, rounded once to x's dtype."""
        x, *tensors = ctx.saved_tensors
        params = merge(ctx.is_tensor, ctx.constants, tensors)
        names = PARAM_NAMES[ctx.name]
        wd = working(x.dtype, ctx.precision)
        pw = {n: p.to(wd) for n, p in zip(names, as_tensors(params, x, wd))}
        partials = FORMULAS[ctx.name].grad(NAMESPACE.for_input(x.dtype), x.to(wd), **pw)
        terms = [partials[key] * dot.to(wd) for key, dot in zip(("x", *names), (x_dot, *param_dots))
                 if dot is not None]
        return round_once(torch.broadcast_to(sum(terms[1:], terms[0]), x.shape), x.dtype)


def apply(name: str, x: torch.Tensor, *params, precision: str = "fast") -> torch.Tensor:
    """f(x; params) as a differentiable op (params already checked: floats or tensors) in the
    tier ``precision`` (already checked)."""
    if torch.jit.is_tracing():
        # TorchScript records plain tensor ops (an autograd.Function is a Python call that
        # torch.jit.save cannot serialise); the traced graph's gradient is autograd's.
        return value_kernel(name, precision, x, as_tensors(params, x, working(x.dtype, precision)))
    if torch.compiler.is_compiling():
        return SpecFunction.apply(name, precision, x, *params)
    return TransformableSpecFunction.apply(name, precision, x, *params)


class SpecBackward(torch.autograd.Function):
    """The backward of :class:`SpecFunction` as a differentiable op (double backward):
    (G_q) = (Σ g·∂f/∂q reduced to q's shape) for each needed q in (x, *params)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(name: str, precision: str, needs: Needs, grad_out: torch.Tensor, x: torch.Tensor, *params):
        wd = working(x.dtype, precision)
        grads = grads_of(name, precision, needs.flags, grad_out, x, as_tensors(params, x, wd))
        return grads[0] if len(grads) == 1 else grads

    @staticmethod
    def setup_context(ctx, inputs, output):
        name, precision, needs, grad_out, x, *params = inputs
        ctx.name, ctx.precision, ctx.needs = name, precision, needs.flags
        ctx.is_tensor, ctx.constants, tensors = split(params)
        ctx.save_for_backward(grad_out, x, *tensors)
        ctx.save_for_forward(grad_out, x, *tensors)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *upstream):
        grad_out, x, *tensors = ctx.saved_tensors
        params = merge(ctx.is_tensor, ctx.constants, tensors)
        wants = ctx.needs_input_grad[3:]  # grad_out, x, *params
        return (None, None, None,
                *second_derivatives(ctx.name, ctx.precision, ctx.needs, upstream, grad_out, x, params, wants))

    @staticmethod
    def jvp(ctx, _name, _precision, _needs, g_dot, x_dot, *param_dots):
        """Ġ_q = Σ (ġ·f_q + g·Σ_r f_qr·ṙ), reduced to q's shape: the Hessian products of double
        backward with the tangents as the vector (∂²f/∂q∂r is symmetric)."""
        grad_out, x, *tensors = ctx.saved_tensors
        params = merge(ctx.is_tensor, ctx.constants, tensors)
        names = PARAM_NAMES[ctx.name]
        wd = working(x.dtype, ctx.precision)
        v_x = None if x_dot is None else x_dot.to(wd)
        v_p = {n: d.to(wd) for n, d in zip(names, param_dots) if d is not None}
        outputs = [key for key, need in zip(("x", *names), ctx.needs) if need]
        products = hessian_products(ctx.name, ctx.precision, grad_out, x, params, v_x, v_p, "x" in outputs,
                                    outputs[("x" in outputs):])
        targets = dict(zip(("x", *names), (x, *params)))
        if g_dot is not None:
            pw = {n: p.detach().to(wd) for n, p in zip(names, as_tensors(params, x, wd))}
            partials = FORMULAS[ctx.name].grad(NAMESPACE.for_input(x.dtype), x.detach().to(wd), **pw)
            for key in outputs:
                term = sum_to_shape(torch.broadcast_to(g_dot.to(wd) * partials[key], x.shape), targets[key].shape)
                products[key] = term if products[key] is None else products[key] + term
        tangents = tuple(reduce_to(products[key], targets[key], wd) for key in outputs)
        return tangents[0] if len(tangents) == 1 else tangents


def reduce_to(value: torch.Tensor | None, target: torch.Tensor, wd: torch.dtype) -> torch.Tensor:
    """A working-dtype (``wd``) per-element (or already reduced) quantity summed to
    ``target``'s shape and rounded once to its dtype; None is zero."""
    if value is None:
        value = torch.zeros(target.shape, dtype=wd, device=target.device)
    return round_once(sum_to_shape(value.expand(torch.broadcast_shapes(value.shape, target.shape)), target.shape),
                      target.dtype)


def second_derivatives(name, precision, needs, upstream, grad_out, x, params, wants):
    """Vector-Hessian products for the backward of the backward.

    The first backward produced G_x = Σ g·f_x and G_p = Σ g·f_p. With upstream v_x, v_p:
    ∂/∂g = f_x·v_x + Σ f_p·v_p;  ∂/∂x = g·(f_xx·v_x + Σ f_px·v_p);
    ∂/∂q = g·(f_xq·v_x + Σ f_pq·v_p).
    """
    names = PARAM_NAMES[name]
    wd = working(x.dtype, precision)
    it = iter(upstream)
    v_x = next(it).to(wd) if needs[0] else None
    v_p = {n: next(it).to(wd) for n, need in zip(names, needs[1:]) if need}

    result: list[torch.Tensor | None] = [None] * (2 + len(names))
    if wants[0]:
        g = grad_out.detach().to(wd)
        pw = {n: p.detach().to(wd) for n, p in zip(names, as_tensors(params, x, wd))}
        partials = FORMULAS[name].grad(NAMESPACE.for_input(x.dtype), x.detach().to(wd), **pw)
        terms = ([partials["x"] * v_x] if v_x is not None else []) + [partials[n] * v for n, v in v_p.items()]
        total = sum(terms[1:], terms[0])
        result[0] = round_once(sum_to_shape(total.expand(torch.broadcast_shapes(total.shape, g.shape)), grad_out.shape),
                               grad_out.dtype)

    want_x = bool(wants[1])
    want_p = [n for n, p, w in zip(names, params, wants[2:]) if w and isinstance(p, torch.Tensor)]
    if not (want_x or want_p):
        return result
    products = hessian_products(name, precision, grad_out, x, params, v_x, v_p, want_x, want_p)
    targets = {"x": x, **{n: p for n, p in zip(names, params)}}
    for key, value in products.items():
        if key == "x" and not want_x:
            continue
        result[1 if key == "x" else 2 + names.index(key)] = reduce_to(value, targets[key], wd)
    return result


def hessian_products(name, precision, grad_out, x, params, v_x, v_p, want_x, want_p):
    """g·Σ_r ∂²f/∂q∂r·v_r in the working dtype for q = x (if ``want_x``, per element) and each
    parameter named in ``want_p`` (summed to its shape); None where it is zero.

    ``v_x`` (per element, or None) and ``v_p`` (name -> array broadcasting against x) are
    the vector. f_xx is the spec's dxx formula; the mixed terms are autograd through the
    spec's grad formulas.
    """
    names = PARAM_NAMES[name]
    _, grad_formula, dxx_formula = FORMULAS[name]
    wd = working(x.dtype, precision)
    g = grad_out.detach().to(wd)
    xw = x.detach().to(wd)
    pw = {n: p.detach().to(wd) for n, p in zip(names, as_tensors(params, x, wd))}

    acc = {"x": None, **{n: None for n in want_p}}
    if want_x and v_x is not None:
        acc["x"] = g * dxx_formula(NAMESPACE.for_input(x.dtype), xw, **pw) * v_x

    def add(key, value):
        if value is not None:
            acc[key] = value if acc[key] is None else acc[key] + value

    def differentiate(loss, keys: list[str]) -> None:
        """Add ∂loss(partials)/∂q for q in ``keys``, by torch.func.grad, which (unlike
        requires_grad_ and torch.autograd.grad) also works inside torch.func transforms."""

        def of(*values):
            args = dict(zip(keys, values))
            pr = {n: args.get(n, pw[n]) for n in names}
            return loss(grad_formula(DIFFERENTIABLE, args.get("x", xw), **pr))

        grads = torch.func.grad(of, argnums=tuple(range(len(keys))))(*(xw if k == "x" else pw[k] for k in keys))
        for key, d in zip(keys, grads):
            add(key, d)

    # Σ g·f_p·v_p, differentiated in x and the parameters: f_px and f_pq terms.
    if v_p and (want_x or want_p):
        differentiate(lambda partials: sum((g * partials[n] * v).sum() for n, v in v_p.items()),
                      (["x"] if want_x else []) + want_p)
    # g·f_x·v_x differentiated in the parameters only (f_xx comes from the dxx formula).
    if v_x is not None and want_p:
        differentiate(lambda partials: (g * partials["x"] * v_x).sum(), want_p)
    return acc
