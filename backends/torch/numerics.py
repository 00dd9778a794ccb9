"""Torch numerics: the formulas' namespace, the working dtype of each precision tier, single
rounding to a narrow dtype, and the thread-count-independent reduction of a partial to a
parameter's shape.

Precision tiers (``spec.PRECISIONS``, :func:`working`): "exact" evaluates float16, bfloat16
and float32 inputs in float64 (:data:`WORKING`) and rounds once to the input dtype
(:func:`round_once`); "fast" evaluates them in float32 arithmetic (float16/bfloat16 rounded
once from float32), with no float64 anywhere. float64 is evaluated natively in both.
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from sgblend_spec import compensated
from sgblend_spec._namespace import Namespace

#: The torch array namespace the formulas are evaluated with.
NAMESPACE = Namespace(
    name="torch",
    exp=torch.exp,
    erfc=torch.special.erfc,
    abs=torch.abs,
    where=torch.where,
    finite=lambda a: torch.clamp(a, -torch.finfo(a.dtype).max, torch.finfo(a.dtype).max),
    rint=torch.round,
)


def fused_product_error(a: torch.Tensor, b: torch.Tensor | float, p: torch.Tensor) -> torch.Tensor:
    """a·b - p, exactly, for p = fl(a·b) (:attr:`Namespace.product_error`): fma(a, b, -p) in a
    graph that Inductor compiles, whose ``prims.fma`` becomes the vector ISA's FMA instruction
    (at::vec::fmadd), std::fma and Triton's tl.fma. Run eagerly (torch's compiler disabled,
    TORCH_COMPILE_DISABLE=1) the prim would round a·b first, so there it is Dekker's
    (compensated.wide_product's, for an a up to the largest finite number)."""
    if not torch.compiler.is_compiling():
        return compensated.wide_product(NAMESPACE, a, b)[1]
    from torch._inductor import inductor_prims

    if not isinstance(b, torch.Tensor):
        b = torch.full_like(a, b)
    return inductor_prims.fma(a, b, -p)


#: :data:`NAMESPACE` for the kernels' own compile, by device type (see :func:`namespace_for`):
#: products' errors from Inductor's FMA (:func:`fused_product_error`), and on the CPU, where
#: its C++ runs as written (``may_contract`` False), without compensated.rounded's guard. The
#: same numbers as :data:`NAMESPACE`'s in fewer operations (fast SG-Blend, traced: value 237
#: against 272, gradient 391 against 426).
OWN_COMPILE = {
    "cpu": replace(NAMESPACE, name="torch-inductor-cpu", may_contract=False, product_error=fused_product_error),
    "cuda": replace(NAMESPACE, name="torch-inductor-cuda", product_error=fused_product_error),
}


def namespace_for(x: torch.Tensor, own_compile: bool = False) -> Namespace:
    """The namespace ``x`` is evaluated with (:meth:`Namespace.for_input`): in the kernels' own
    compile (``own_compile``: Inductor, with kernels.KERNEL_OPTIONS) :data:`OWN_COMPILE` for the
    CPU and CUDA, else :data:`NAMESPACE`: Dekker's products, guarded against FMA contraction
    wherever a graph may be traced from them (a user's torch.compile or export with their own
    settings, TorchScript, ONNX), and the namespace eager evaluation (and a kernel whose
    compile failed) runs with."""
    namespace = OWN_COMPILE.get(x.device.type) if own_compile else None
    return (namespace or NAMESPACE).for_input(x.dtype)


#: The dtype the "exact" tier evaluates every quantity in.
WORKING = torch.float64
#: The dtype the "fast" tier evaluates float16/bfloat16/float32 in.
FAST_WORKING = torch.float32


def working(dtype: torch.dtype, precision: str) -> torch.dtype:
    """The dtype an input of ``dtype`` is evaluated in under ``precision``: float64 for
    float64 input and for the "exact" tier, float32 for the "fast" tier."""
    return WORKING if precision == "exact" or dtype == torch.float64 else FAST_WORKING


def round_once(result: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Round a float64 (or, in the fast tier, float32) ``result`` to ``dtype`` with a single
    rounding (float32 -> float16/bfloat16 is one rounding as it is).

    torch converts float64 to bfloat16 through float32, which rounds twice. Rounding to
    float32 *to odd* first (truncate toward zero, set the last bit if anything was cut)
    makes the second rounding correct, since float32 keeps more than two extra bits.
    """
    if result.dtype == dtype:
        return result
    if dtype not in (torch.float16, torch.bfloat16) or result.dtype != torch.float64:
        return result.to(dtype)
    as32 = result.to(torch.float32)
    back = as32.to(torch.float64)
    inexact = (back != result) & torch.isfinite(as32)
    bits = as32.view(torch.int32)
    # One step toward zero in magnitude is bits - 1 for either sign (sign-magnitude format).
    rounded_up = (back.abs() > result.abs()).to(torch.int32)
    odd = (bits - rounded_up) | 1
    return torch.where(inexact, odd, bits).view(torch.float32).to(dtype)


#: Block length of the deterministic reduction (see :func:`sum_to_shape`).
SUM_BLOCK = 1024


def sum_to_shape(t: torch.Tensor, shape: torch.Size) -> torch.Tensor:
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


# ----------------------------------------------------------------------------- autograd through the formulas
def abs_with_right_derivative(u: torch.Tensor) -> torch.Tensor:
    """|u| whose autograd derivative at u = 0 is +1, not torch.abs's 0.

    The formulas pick the ``u >= 0`` branch at 0 and build it from e^(-|u|); with a zero
    derivative of |u| there, autograd would report σ'(0) = 0 instead of 1/4.
    """
    return torch.where(u >= 0, u, -u)


class WhereProductRule(torch.autograd.Function):
    """torch.where whose gradient goes to the second branch where both branches are 0.

    The formulas write a·t as ``where((t == 0) & (a == a), t, a·t)`` so that an infinite
    ``a`` times a vanishing ``t`` is 0. Where t = 0 and a is finite both branches are 0,
    but only a·t carries the product rule (d(a·t) = a·dt + t·da); routing the gradient to
    the bare ``t`` would report dt, e.g. ∂²(x²σσ̄(βx))/∂β∂x = 1/4 instead of 0 at x = 0.
    The other branch pairs in formulas.py are either never both 0 (σ(u) vs σ(-u)) or both
    0 only where their derivatives agree (a·σ(u) at a = 0 occurs only with u = βa = 0);
    tests/torch gradgradcheck at x = 0 and α = 0 guards this.

    Written with ``setup_context`` (the routing mask saved, not stored on ctx) so that it
    also runs under torch.func transforms.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(cond, a, b):
        like = a if isinstance(a, torch.Tensor) else b
        a, b = (torch.as_tensor(v, dtype=like.dtype, device=like.device) for v in (a, b))
        return torch.where(cond, a, b)

    @staticmethod
    def setup_context(ctx, inputs, output):
        cond, a, b = inputs
        ctx.tensors = (isinstance(a, torch.Tensor), isinstance(b, torch.Tensor))
        like = a if ctx.tensors[0] else b
        a, b = (torch.as_tensor(v, dtype=like.dtype, device=like.device) for v in (a, b))
        ctx.save_for_backward(~cond | ((a == 0) & (b == 0)))
        ctx.shapes = (a.shape, b.shape)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (to_b,) = ctx.saved_tensors
        zero = torch.zeros((), dtype=grad.dtype, device=grad.device)
        grad_a = torch.where(to_b, zero, grad)
        grad_b = torch.where(to_b, grad, zero)
        return (
            None,
            sum_to_shape(grad_a, ctx.shapes[0]) if ctx.tensors[0] else None,
            sum_to_shape(grad_b, ctx.shapes[1]) if ctx.tensors[1] else None,
        )


def where_product_rule(cond, a, b):
    return WhereProductRule.apply(cond, a, b)


#: The namespace used when autograd differentiates the formulas (mixed second derivatives):
#: the same values, with derivatives that are right at the branch points (see above).
DIFFERENTIABLE = replace(
    NAMESPACE, name="torch-differentiable", abs=abs_with_right_derivative, where=where_product_rule
)
