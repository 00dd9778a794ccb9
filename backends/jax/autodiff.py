"""JAX differentiation rule: each spec function as a ``jax.custom_jvp`` whose derivative is the
spec's stable formula.

The first derivative in x and in every parameter is ``formulas.FORMULAS[name].grad``; the
second derivative in x is ``.dxx``; mixed and parameter second derivatives are the
forward-mode derivatives of the stable grad formula in the working dtype. They compose with
``jit``, ``vmap``, ``grad``, ``jacfwd``, ``jacrev`` and ``hessian``.

Speed. On CPU, arrays larger than ``4 * CPU_CHUNK`` elements are evaluated chunk by chunk
in a loop (see ``numerics.elementwise``), and a derivative pass computes the value and only
the partials it needs in the same loop. The loop runs on one core. Jitted, 16M float32
elements, as a ratio to ``jax.nn.gelu(approximate=False)`` in the same run (2-core CPU,
``nox -s bench``): x64 on (the float64 evaluation the bounds need) fwd+bwd sgblend 6.9x,
lambda_gelu 4.9x, against a floor of 2.1x (forward) for the two float64 exponentials alone;
x64 off 2.5x and 1.5x. Reverse mode keeps 4 bytes per element (x only), the native GELU 12.
"""

from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp
from jax.custom_derivatives import SymbolicZero

from sgblend_spec import formulas, spec

from .numerics import (
    NAMESPACE,
    blocked_broadcast_to,
    broadcast_shape,
    elementwise,
    round_once,
    sum_terms,
    widen,
    working_dtype,
)


def differentiable(name: str, precision: str = "fast") -> Callable[..., jax.Array]:
    """``f(x, ok, *params)`` (parameters positional, in spec order; ``ok`` a boolean scalar,
    False when a parameter is outside its domain) as a custom_jvp function evaluating in the
    working dtype of the tier ``precision`` (value, every derivative and every rule)."""
    value_formula, grad_formula, dxx_formula = formulas.FORMULAS[name]
    names = spec.FUNCTIONS[name].param_names
    keys = ("x", *names)

    def to_working(x, ok, params):
        # ``ok`` is False when a traced parameter is outside its domain: x becomes NaN in
        # the working dtype, so the value and every partial are NaN while the tangent path
        # stays a plain product (a select on x itself would hide ones-tangents from XLA).
        wd = working_dtype(x.dtype, precision)
        xw = jnp.where(ok, widen(x, wd), jnp.asarray(jnp.nan, wd))
        return wd, xw, {n: widen(p, wd) for n, p in zip(names, params)}

    def working_partials(xp, xw, pw, shape, wanted):
        """The per-element partials named in ``wanted``, in the working dtype."""
        g = grad_formula(xp, xw, **pw)
        return tuple(jnp.broadcast_to(g[k], shape) for k in wanted)

    def evaluate(x, ok, params, with_value: bool, wanted: tuple[str, ...], with_dxx: bool = False):
        """(value?, *partials[wanted], dxx?) rounded once to x's dtype, in one pass over x."""
        shape = broadcast_shape(x, params)

        def fn(x, *params):  # on the whole array or on one chunk of it
            _, xw, pw = to_working(x, ok, params)
            xp = NAMESPACE.for_input(x.dtype)
            here = broadcast_shape(xw, pw.values())
            out = []
            if with_value:
                out.append(value_formula(xp, xw, **pw))
            out.extend(working_partials(xp, xw, pw, here, wanted))
            if with_dxx:
                out.append(dxx_formula(xp, xw, **pw))
            return tuple(round_once(jnp.broadcast_to(o, here), x.dtype) for o in out)

        return elementwise(fn, shape, [x, *params])

    def nonzero(tangents) -> tuple[str, ...]:
        """Names (of ``keys``) whose tangent is not a symbolic zero; tangents as (x, ok, *params)."""
        return tuple(k for k, t in zip(keys, (tangents[0], *tangents[2:])) if not isinstance(t, SymbolicZero))

    def tangent_of_value(coefficients: dict, primal_tangents, shape, dtype):
        # df = Σ_k ∂_k f · dk with each partial rounded once to x's dtype. The products are
        # formed in x's dtype: a product of two float16/bfloat16/float32 numbers is rounded
        # once there as well, and a float64 detour could not keep subnormal results
        # (XLA:CPU's float64 -> float32 conversion flushes them).
        # A parameter's tangent is spread over x's shape by ``blocked_broadcast_to``, whose
        # transpose sums the parameter's gradient the same way for any number of threads.
        terms = [coefficients[k] * (t.astype(dtype) if k == "x" else blocked_broadcast_to(t.astype(dtype), shape))
                 for k, t in zip(keys, (primal_tangents[0], *primal_tangents[2:]))
                 if not isinstance(t, SymbolicZero)]
        return sum_terms(terms, shape, dtype)

    @jax.custom_jvp
    def value(x, ok, *params):
        return evaluate(x, ok, params, True, ())[0]

    def first_derivatives(primals, tangents):
        # Only the partials whose tangent is non-zero are computed (with the value, in the
        # same pass over x).
        x, ok, *params = primals
        moving = nonzero(tangents)
        y, *coefficients = value_and_partials(moving)(x, ok, *params)
        return y, tangent_of_value(dict(zip(moving, coefficients)), tangents, y.shape, x.dtype)

    value.defjvp(first_derivatives, symbolic_zeros=True)

    @functools.cache
    def value_and_partials(wanted: tuple[str, ...]):
        """custom_jvp ``(x, ok, *params) -> (value, *partials named in wanted)``."""

        @jax.custom_jvp
        def function(x, ok, *params):
            return evaluate(x, ok, params, True, wanted)

        def second_derivatives(primals, tangents):
            # ∂x∂x f is the spec's dxx formula; every other second derivative is the
            # forward-mode derivative of the stable grad formula in the working dtype (the
            # spec gives no closed form), rounded to x's dtype.
            x, ok, *params = primals
            t_x, _, *t_params = tangents
            moving = nonzero(tangents)
            needed = tuple(k for k in keys if k in wanted or k in moving)
            need_dxx = "x" in moving and "x" in wanted
            y, *rest = evaluate(x, ok, params, True, needed, with_dxx=need_dxx)
            partial = dict(zip(needed, rest))
            shape = y.shape
            wd, xw, pw = to_working(x, ok, params)
            xp = NAMESPACE.for_input(x.dtype)
            totals: dict[str, list[jax.Array]] = {k: [] for k in wanted}
            moving_params = [(n, t.astype(wd)) for n, t in zip(names, t_params) if not isinstance(t, SymbolicZero)]
            if moving_params and wanted:
                moving_names = [n for n, _ in moving_params]

                def in_params(*values):
                    return working_partials(xp, xw, {**pw, **dict(zip(moving_names, values))}, shape, wanted)

                _, along = jax.jvp(in_params, tuple(pw[n] for n in moving_names), tuple(t for _, t in moving_params))
                for k, v in zip(wanted, along):
                    totals[k].append(v.astype(x.dtype))
            if "x" in moving:
                if need_dxx:
                    totals["x"].append(rest[-1] * t_x.astype(x.dtype))
                in_x = tuple(k for k in wanted if k != "x")
                if in_x:
                    _, along = jax.jvp(lambda xx: working_partials(xp, xx, pw, shape, in_x), (xw,), (t_x.astype(wd),))
                    for k, v in zip(in_x, along):
                        totals[k].append(v.astype(x.dtype))
            primal_out = (y, *(partial[k] for k in wanted))
            tangent_out = (
                tangent_of_value(partial, tangents, shape, x.dtype),
                *(sum_terms(totals[k], shape, x.dtype) for k in wanted),
            )
            return primal_out, tangent_out

        function.defjvp(second_derivatives, symbolic_zeros=True)
        return function

    value.__name__ = value.__qualname__ = f"_{name}_{precision}_custom_jvp"
    return value


#: Each spec function as a jitted, rematerialised custom_jvp function. Reverse mode keeps only
#: x and the parameters from the forward pass and recomputes the partials in the backward
#: pass: without ``jax.checkpoint`` the linearisation would keep one partial per differentiated
#: input (x and every parameter: 4× the input for SG-Blend); with it the forward pass also
#: skips the partials, and fwd+bwd is faster, not slower (benchmarks/bench_jax.py).
#: ``jax.jit`` (as on ``jax.nn.gelu``) compiles an eager call once per shape and dtype instead
#: of dispatching the formulas' hundred-odd operations one by one (an eager call on 8
#: elements: 18 ms -> 0.6 ms, its gradient 22 ms -> 4.5 ms); inside a user's trace it is inlined.
#: Keyed by (spec function, precision tier).
DIFFERENTIABLE = {(name, precision): jax.jit(jax.checkpoint(differentiable(name, precision)))
                  for name in spec.FUNCTIONS for precision in spec.PRECISIONS}
