"""JAX binding: the spec's functions with stable custom derivatives, a pytree API and Flax NNX layers.

Functions (one per spec function, parameters by keyword, spec defaults)::

    swish(x, beta)            gelu(x)         gelu_tanh(x)       gelu_sigmoid(x)
    sswish(x, beta, gamma)    sgblend(x, alpha, beta, gamma)     lambda_gelu(x, lam)
    sgblend_gelu(x, alpha, beta, gamma)      sgblend_gelu_tanh(x, alpha, beta, gamma)

Each is a ``jax.custom_jvp`` whose derivative is the spec's stable formula
(``formulas.NAME_grad``), differentiable in ``x`` and in every parameter, and whose second
derivative in x is ``formulas.NAME_dxx``; mixed and parameter second derivatives are the
forward-mode derivatives of the stable ``NAME_grad`` formula. They compose with ``jit``,
``vmap``, ``grad``, ``jacfwd``, ``jacrev`` and ``hessian``. Parameters are scalars or arrays
that broadcast against ``x``; the result has ``x``'s dtype and the broadcast shape.

Precision. float16, bfloat16 and float32 inputs are evaluated in float64 and rounded once
(bfloat16 through round-to-odd float32, so that rounding is single too) when
``jax_enable_x64`` is on; float64 is evaluated natively. With x64 off (JAX's default)
there is no float64: float16 and bfloat16 are evaluated in float32 and rounded once, and
float32 is evaluated in float32 by the same stable formulas. That float32 mode does not
meet the spec's bounds (1 ULP for values, 2 for derivatives) (the erfc argument -x/√2 and βx are rounded, and XLA's CPU
kernels flush subnormals to zero); see ``working_dtype`` and the docs for the measured
errors.

Subnormals. XLA:CPU runs every kernel with flush-to-zero (and denormals-are-zero) set. The
conversions into and out of the working dtype are done on the bits, so values, partials
and dxx as computed are exact down to the smallest subnormal. A derivative that JAX forms
as a product (partial × incoming tangent or cotangent) is an arithmetic result, though, and
a float32/bfloat16 one below the smallest normal (1.2e-38) comes back as a signed zero on
CPU unless XLA folds a unit tangent away (it does so under ``jit`` for ``grad`` of a sum).
No transposable JAX operation can avoid that.

Speed. On CPU, arrays larger than ``4 * CPU_CHUNK`` elements are evaluated chunk by chunk
in a loop (see ``_elementwise``), and a derivative pass computes the value and only the
partials it needs in the same loop. The loop runs on one core. Jitted, 16M float32
elements, as a ratio to ``jax.nn.gelu(approximate=False)`` in the same run (2-core CPU,
``nox -s bench``): x64 on (the float64 evaluation the bounds need) fwd+bwd sgblend 6.9x,
lambda_gelu 4.9x, against a floor of 2.1x (forward) for the two float64 exponentials alone;
x64 off 2.5x and 1.5x. Reverse mode keeps 4 bytes per element (x only), the native GELU 12.

Determinism. Values and x-derivatives are elementwise. A parameter's gradient is a sum over
x's elements; XLA:CPU splits one long float32 sum among its threads, so the parameter
tangent is spread by ``_spread``, whose transpose sums fixed blocks of ``SUM_BLOCK``
elements: parameter gradients are bitwise the same with one or two threads, eager and jitted.

Parameter checks. A concrete parameter outside its spec domain raises ``ValueError``
naming it (``spec.validate``). A parameter that is a tracer (inside ``jit``, ``grad``,
``vmap``...) cannot be inspected; then an out-of-domain value makes every output element
NaN (value and all derivatives), which ``jax.experimental.checkify`` (``nan_checks``) or
``jax_debug_nans`` turns into an error. The rest of the input contract
(``spec.INPUT_CONTRACT``) holds under tracing too: ``x`` is a jax.Array or a NumPy array
(Python numbers and lists are a TypeError), a parameter broadcasts to x's shape, and
:func:`init_params`, :func:`apply` and :func:`import_parameters` reject integer or complex
parameters and (for imports) non-finite ones.

Pytree API (for optax / Equinox users)::

    params = init_params("sgblend", key)          # {"alpha", "beta", "gamma"}, the authors' init
    y = apply("sgblend", params, x)
    params = constraints("sgblend")(optax.apply_updates(params, updates))

Flax NNX layers ``SSwish``, ``SGBlend`` and ``LambdaGELU`` are built on first access, so
importing this module never imports flax; ``project(model)`` applies the layer
constraints in place after an optimizer step.
"""

from __future__ import annotations

import functools
import math
import sys
from typing import Any, Callable, Mapping

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
from jax import lax
from jax.custom_derivatives import SymbolicZero

from sgblend_spec import checks, formulas, spec
from sgblend_spec import erfc_taylor_table as _erfc
from sgblend_spec import hardening as _hardening
from sgblend_spec._namespace import Namespace

__all__ = [
    "import_parameters",
    *spec.FUNCTIONS,
    "NAMESPACE",
    "working_dtype",
    "init_params",
    "apply",
    "constraints",
    "project",
    "SSwish",
    "SGBlend",
    "LambdaGELU",
    # λ-GELU training recipe (section at the end of this file)
    "harden",
    "scale_lambda_gradients",
    "lambda_update",
]

def _erfc_float64(t):
    """erfc(t), within 1 ULP of float64 on [0.25, 2) (sgblend_spec._erfc's Taylor table).

    jax.scipy.special.erfc is XLA's erfc: in float64 up to ~9 ULP off on [0.7, 1.25]
    (1 - erf(t) cancels), ~17 ULP below 5 and ~500 ULP near 26, where GELU's input
    sensitivity exceeds it; it is kept outside [0.25, 2) and for narrower dtypes (far below
    one float32 ULP).

    The table is built in the graph from scalar literals: gathered from a constant array,
    its rows would become residuals of reverse mode under jax.checkpoint (JAX keeps values
    computed from constants), and the functions keep only x."""
    xla = jax.scipy.special.erfc(t)
    if t.dtype != jnp.float64:
        return xla
    # Per interval: its centre, the low part of a_0, then a_0 ... a_DEGREE.
    rows = np.column_stack(_erfc.taylor_table()).tolist()
    table = jnp.stack([jnp.stack([jnp.full((), v, t.dtype) for v in row]) for row in rows])
    k = jnp.clip(jnp.floor((t - _erfc.LO) / _erfc.WIDTH), 0, len(rows) - 1).astype(jnp.int32)
    row = table.at[k].get(mode="promise_in_bounds")  # (..., 2 + DEGREE + 1)
    h = t - row[..., 0]
    p = row[..., -1]
    for n in range(_erfc.DEGREE - 1, 0, -1):
        p = p * h + row[..., 2 + n]
    taylor = row[..., 2] + (row[..., 1] + p * h)
    return jnp.where((t >= _erfc.LO) & (t < _erfc.HI), taylor, xla)


#: The array namespace the shared formulas are evaluated with (erfc: see _erfc_float64).
NAMESPACE = Namespace(
    name="jax",
    exp=jnp.exp,
    expm1=jnp.expm1,
    log1p=jnp.log1p,
    erfc=_erfc_float64,
    abs=jnp.abs,
    where=jnp.where,
    finite=lambda a: jnp.clip(a, -jnp.finfo(a.dtype).max, jnp.finfo(a.dtype).max),
)

_SUPPORTED = {jnp.dtype(d) for d in (jnp.float16, jnp.bfloat16, jnp.float32, jnp.float64)}


def _x64() -> bool:
    # Read at trace time; jit caches on this flag, so a jitted call retraces when it changes.
    return bool(jax.config.jax_enable_x64)


def working_dtype(dtype) -> jnp.dtype:
    """The dtype inputs of ``dtype`` are evaluated in: float64 when jax_enable_x64 is on
    (rounded once to ``dtype`` afterwards), else float32."""
    return jnp.dtype(jnp.float64) if _x64() else jnp.dtype(jnp.float32)


# ----------------------------------------------------------------------------- exact conversions
# XLA:CPU runs every kernel with flush-to-zero and denormals-are-zero set, and its
# float32 <-> float64 conversions flush too. The conversions below therefore build float32
# subnormals from their bits; float16 <-> float32/float64 conversions are exact as they are,
# and float32 -> bfloat16 is done with integer operations by XLA.
_F32_MIN_NORMAL = 2.0**-126
_F32_SUBNORMAL_ULP = 2.0**-149


def _bfloat16_to_float32(x: jax.Array) -> jax.Array:
    """Exact: a bfloat16 is the top half of the float32 with the same value."""
    bits = lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32) << 16
    return lax.bitcast_convert_type(bits, jnp.float32)


def _widen(x: jax.Array, wd) -> jax.Array:
    """x converted exactly to the working dtype ``wd``, subnormal inputs included."""
    wd = jnp.dtype(wd)
    if x.dtype == wd:
        return x
    if x.dtype == jnp.bfloat16:
        x = _bfloat16_to_float32(x)
        if wd == jnp.float32:
            return x
    out = x.astype(wd)
    if x.dtype == jnp.float32:
        bits = lax.bitcast_convert_type(x, jnp.uint32)
        magnitude = (bits & jnp.uint32(0x007FFFFF)).astype(wd) * _F32_SUBNORMAL_ULP
        subnormal_value = jnp.where((bits >> 31) == 1, -magnitude, magnitude)
        out = jnp.where((bits & jnp.uint32(0x7F800000)) == 0, subnormal_value, out)
    return out


def _float32_bits(result: jax.Array, to_odd: bool) -> jax.Array:
    """uint32 bits of float64 ``result`` rounded to float32: to nearest even, or to odd
    (truncate, then set the last bit if anything was cut); subnormal results included."""
    as32 = result.astype(jnp.float32)
    bits = lax.bitcast_convert_type(as32, jnp.uint32)
    if to_odd:
        back = as32.astype(jnp.float64)
        inexact = (back != result) & jnp.isfinite(result) & jnp.isfinite(as32)
        toward_zero = jnp.where(jnp.abs(back) > jnp.abs(result), bits - jnp.uint32(1), bits)
        bits = jnp.where(inexact, toward_zero | jnp.uint32(1), bits)
    magnitude = jnp.abs(result)
    scaled = magnitude * (1.0 / _F32_SUBNORMAL_ULP)  # < 2^23, an exact scaling
    if to_odd:
        truncated = jnp.floor(scaled)
        count = truncated.astype(jnp.uint32) | (truncated != scaled).astype(jnp.uint32)
    else:
        count = jnp.round(scaled).astype(jnp.uint32)  # half to even; 2^23 is the min normal
    sign = jnp.signbit(result).astype(jnp.uint32) << 31
    return jnp.where(magnitude < _F32_MIN_NORMAL, count | sign, bits)


def _round_to(result: jax.Array, dtype) -> jax.Array:
    """Round a working-dtype result once to ``dtype``.

    float64 -> bfloat16 in XLA goes through float32 and so rounds twice; rounding to
    float32 *to odd* first makes the second rounding correct, since float32 carries more
    than 2 extra bits.
    """
    dtype = jnp.dtype(dtype)
    if result.dtype == dtype:
        return result
    if result.dtype == jnp.float64 and dtype in (jnp.float32, jnp.bfloat16):
        as32 = lax.bitcast_convert_type(_float32_bits(result, to_odd=dtype == jnp.bfloat16), jnp.float32)
        return as32 if dtype == jnp.float32 else as32.astype(dtype)
    return result.astype(dtype)


# ----------------------------------------------------------------------------- custom derivatives
def _broadcast_shape(x: jax.Array, params) -> tuple[int, ...]:
    return jnp.broadcast_shapes(jnp.shape(x), *(jnp.shape(p) for p in params))


#: Elements per block of a parameter-gradient reduction (see ``_spread``).
SUM_BLOCK = 1024


def _spread(t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """``broadcast_to(t, shape)`` for a parameter's tangent, built so that its transpose (the
    sum that forms the parameter's gradient in reverse mode) is bitwise the same for any
    number of threads. XLA:CPU splits one long float32 sum among its threads, so the sum is
    split here instead: rows of ``SUM_BLOCK`` elements (a row sum is never split), then the
    row sums the same way, with an optimisation barrier between the levels so that XLA
    cannot merge them back into one sum. Dimensions that are not summed stay as they are."""
    nd = len(shape)
    t = jnp.reshape(t, (1,) * (nd - jnp.ndim(t)) + jnp.shape(t))
    summed = tuple(i for i in range(nd) if t.shape[i] == 1 and shape[i] != 1)
    count = math.prod(shape[i] for i in summed)
    if count <= SUM_BLOCK:
        return jnp.broadcast_to(t, shape)
    kept = tuple(i for i in range(nd) if i not in summed)
    kept_shape = tuple(shape[i] for i in kept)
    flat = _blocked(t.reshape(kept_shape + (1,)), count)
    y = flat.reshape(kept_shape + tuple(shape[i] for i in summed))
    return jnp.transpose(y, tuple(np.argsort(kept + summed)))


def _blocked(t: jax.Array, n: int) -> jax.Array:
    """``(..., 1) -> (..., n)`` by broadcasting; the transpose sums blocks of SUM_BLOCK."""
    if n <= SUM_BLOCK:
        return jnp.broadcast_to(t, t.shape[:-1] + (n,))
    blocks = -(-n // SUM_BLOCK)
    rows = lax.optimization_barrier(_blocked(t, blocks))
    y = jnp.broadcast_to(rows[..., None], rows.shape + (SUM_BLOCK,))
    return y.reshape(rows.shape[:-1] + (blocks * SUM_BLOCK,))[..., :n]


def _total(terms: list[jax.Array], shape, dtype) -> jax.Array:
    if not terms:
        return jnp.zeros(shape, dtype)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return jnp.broadcast_to(out, shape)


#: Elements per chunk of the CPU evaluation loop (see ``_elementwise``).
CPU_CHUNK = 1 << 17  # 128K elements: measured best of 2^14..2^20 on a 2-core CPU, both modes


def _elementwise(fn: Callable[..., tuple], shape: tuple[int, ...], operands: list[jax.Array]) -> tuple:
    """``fn(*operands)`` for an elementwise ``fn`` returning a tuple of arrays of ``shape``.

    The stable formulas share each exponential among several consumers, and XLA:CPU
    materialises such an exponential into its own full-size buffer rather than recompute
    it, so a large input streams through memory a dozen times. On CPU, inputs larger than
    a few chunks are therefore evaluated ``CPU_CHUNK`` elements at a time in a loop, which
    keeps every intermediate in cache. Scalar parameters are not chunked.
    """
    size = math.prod(shape)
    if size <= 4 * CPU_CHUNK or jax.default_backend() != "cpu":
        return fn(*operands)
    chunked = [i for i, op in enumerate(operands) if jnp.ndim(op) > 0]
    flat = [jnp.broadcast_to(operands[i], shape).reshape(-1) for i in chunked]

    def on(elements):
        args = list(operands)
        for i, e in zip(chunked, elements):
            args[i] = e
        return fn(*args)

    # Each step reads one chunk and writes its results in place into full-size outputs.
    # The last start is clamped to size - CPU_CHUNK, so the final chunk overlaps the one
    # before it (recomputing a few elements) instead of needing a ragged tail: slicing
    # plus concatenating a tail costs more than the whole evaluation on XLA:CPU.
    def step(k, outs):
        start = jnp.minimum(k * CPU_CHUNK, size - CPU_CHUNK)
        results = on(tuple(lax.dynamic_slice_in_dim(f, start, CPU_CHUNK) for f in flat))
        return tuple(lax.dynamic_update_slice_in_dim(o, r, start, 0) for o, r in zip(outs, results))

    probe = jax.eval_shape(on, tuple(jax.ShapeDtypeStruct((CPU_CHUNK,), f.dtype) for f in flat))
    outs = tuple(jnp.empty((size,), r.dtype) for r in probe)
    outs = lax.fori_loop(0, -(-size // CPU_CHUNK), step, outs)
    return tuple(o.reshape(shape) for o in outs)


def _differentiable(name: str) -> Callable[..., jax.Array]:
    """``f(x, ok, *params)`` (parameters positional, in spec order; ``ok`` a boolean scalar,
    False when a parameter is outside its domain) as a custom_jvp function."""
    value_formula, grad_formula, dxx_formula = formulas.FORMULAS[name]
    names = spec.FUNCTIONS[name].param_names
    keys = ("x", *names)

    def widen(x, ok, params):
        # ``ok`` is False when a traced parameter is outside its domain: x becomes NaN in
        # the working dtype, so the value and every partial are NaN while the tangent path
        # stays a plain product (a select on x itself would hide ones-tangents from XLA).
        wd = working_dtype(x.dtype)
        xw = jnp.where(ok, _widen(x, wd), jnp.asarray(jnp.nan, wd))
        return wd, xw, {n: _widen(p, wd) for n, p in zip(names, params)}

    def working_partials(xw, pw, shape, wanted):
        """The per-element partials named in ``wanted``, in the working dtype."""
        g = grad_formula(NAMESPACE, xw, **pw)
        return tuple(jnp.broadcast_to(g[k], shape) for k in wanted)

    def evaluate(x, ok, params, with_value: bool, wanted: tuple[str, ...], with_dxx: bool = False):
        """(value?, *partials[wanted], dxx?) rounded once to x's dtype, in one pass over x."""
        shape = _broadcast_shape(x, params)

        def fn(x, *params):  # on the whole array or on one chunk of it
            _, xw, pw = widen(x, ok, params)
            here = _broadcast_shape(xw, pw.values())
            out = []
            if with_value:
                out.append(value_formula(NAMESPACE, xw, **pw))
            out.extend(working_partials(xw, pw, here, wanted))
            if with_dxx:
                out.append(dxx_formula(NAMESPACE, xw, **pw))
            return tuple(_round_to(jnp.broadcast_to(o, here), x.dtype) for o in out)

        return _elementwise(fn, shape, [x, *params])

    def nonzero(tangents) -> tuple[str, ...]:
        """Names (of ``keys``) whose tangent is not a symbolic zero; tangents as (x, ok, *params)."""
        return tuple(k for k, t in zip(keys, (tangents[0], *tangents[2:])) if not isinstance(t, SymbolicZero))

    def tangent_of_value(coefficients: dict, primal_tangents, shape, dtype):
        # df = Σ_k ∂_k f · dk with each partial rounded once to x's dtype. The products are
        # formed in x's dtype: a product of two float16/bfloat16/float32 numbers is rounded
        # once there as well, and a float64 detour could not keep subnormal results
        # (XLA:CPU's float64 -> float32 conversion flushes them).
        # A parameter's tangent is spread over x's shape by ``_spread``, whose transpose sums
        # the parameter's gradient the same way for any number of threads.
        terms = [coefficients[k] * (t.astype(dtype) if k == "x" else _spread(t.astype(dtype), shape))
                 for k, t in zip(keys, (primal_tangents[0], *primal_tangents[2:]))
                 if not isinstance(t, SymbolicZero)]
        return _total(terms, shape, dtype)

    @jax.custom_jvp
    def value(x, ok, *params):
        return evaluate(x, ok, params, True, ())[0]

    def _value_jvp(primals, tangents):
        # Only the partials whose tangent is non-zero are computed (with the value, in the
        # same pass over x).
        x, ok, *params = primals
        moving = nonzero(tangents)
        y, *coefficients = value_and_partials(moving)(x, ok, *params)
        return y, tangent_of_value(dict(zip(moving, coefficients)), tangents, y.shape, x.dtype)

    value.defjvp(_value_jvp, symbolic_zeros=True)

    @functools.cache
    def value_and_partials(wanted: tuple[str, ...]):
        """custom_jvp ``(x, ok, *params) -> (value, *partials named in wanted)``."""

        @jax.custom_jvp
        def function(x, ok, *params):
            return evaluate(x, ok, params, True, wanted)

        def _jvp(primals, tangents):
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
            wd, xw, pw = widen(x, ok, params)
            totals: dict[str, list[jax.Array]] = {k: [] for k in wanted}
            moving_params = [(n, t.astype(wd)) for n, t in zip(names, t_params) if not isinstance(t, SymbolicZero)]
            if moving_params and wanted:
                moving_names = [n for n, _ in moving_params]

                def in_params(*values):
                    return working_partials(xw, {**pw, **dict(zip(moving_names, values))}, shape, wanted)

                _, along = jax.jvp(in_params, tuple(pw[n] for n in moving_names), tuple(t for _, t in moving_params))
                for k, v in zip(wanted, along):
                    totals[k].append(v.astype(x.dtype))
            if "x" in moving:
                if need_dxx:
                    totals["x"].append(rest[-1] * t_x.astype(x.dtype))
                in_x = tuple(k for k in wanted if k != "x")
                if in_x:
                    _, along = jax.jvp(lambda xx: working_partials(xx, pw, shape, in_x), (xw,), (t_x.astype(wd),))
                    for k, v in zip(in_x, along):
                        totals[k].append(v.astype(x.dtype))
            primal_out = (y, *(partial[k] for k in wanted))
            tangent_out = (
                tangent_of_value(partial, tangents, shape, x.dtype),
                *(_total(totals[k], shape, x.dtype) for k in wanted),
            )
            return primal_out, tangent_out

        function.defjvp(_jvp, symbolic_zeros=True)
        return function

    value.__name__ = value.__qualname__ = f"_{name}_custom_jvp"
    return value


#: Each spec function as a jitted, rematerialised custom_jvp function. Reverse mode keeps only
#: x and the parameters from the forward pass and recomputes the partials in the backward
#: pass: without ``jax.checkpoint`` the linearisation would keep one partial per differentiated
#: input (x and every parameter: 4× the input for SG-Blend); with it the forward pass also
#: skips the partials, and fwd+bwd is faster, not slower (benchmarks/bench_jax.py).
#: ``jax.jit`` (as on ``jax.nn.gelu``) compiles an eager call once per shape and dtype instead
#: of dispatching the formulas' hundred-odd operations one by one (an eager call on 8
#: elements: 18 ms -> 0.6 ms, its gradient 22 ms -> 4.5 ms); inside a user's trace it is inlined.
_DIFFERENTIABLE = {name: jax.jit(jax.checkpoint(_differentiable(name))) for name in spec.FUNCTIONS}


# ----------------------------------------------------------------------------- public functions
def _as_input(name: str, x: Any) -> jax.Array:
    """x as a JAX array of a supported floating dtype; never silently converted
    (spec.INPUT_CONTRACT "x.type", "x.dtype"): a jax.Array or a NumPy array or scalar; a
    Python number or list is a TypeError, and so is float64 NumPy input with x64 off."""
    if isinstance(x, (np.ndarray, np.generic)):
        checks.check_x_dtype(name, np.asarray(x).dtype.name)
        if np.asarray(x).dtype == np.float64 and not _x64():
            raise TypeError(
                f"{name}: x has dtype float64 but jax_enable_x64 is off, so JAX would silently make it "
                "float32; enable x64 (jax.config.update('jax_enable_x64', True)) or pass float32"
            )
    elif not isinstance(x, jax.Array):
        raise checks.x_type_error(name, x, "JAX")
    arr = jnp.asarray(x)
    checks.check_x_dtype(name, jnp.dtype(arr.dtype).name)
    return arr


def _in_domain(parameter: spec.Parameter, value: jax.Array) -> jax.Array:
    """Whether every element of a (traced) parameter lies in its spec domain."""
    d = parameter.domain
    ok = jnp.isfinite(value)
    if math.isfinite(d.lo):
        ok &= (value >= d.lo) if d.lo_closed else (value > d.lo)
    if math.isfinite(d.hi):
        ok &= (value <= d.hi) if d.hi_closed else (value < d.hi)
    return jnp.all(ok)


def _check_floating(function: str, name: str, value: jax.Array) -> None:
    if not jnp.issubdtype(value.dtype, jnp.floating):
        raise TypeError(f"{function}: parameter '{name}' must be real floating point, got dtype {value.dtype}")


def _call(name: str, x: Any, params: Mapping[str, Any]) -> jax.Array:
    record = spec.FUNCTIONS[name]
    x = _as_input(name, x)
    bound = record.bind(params)  # TypeError for unknown names
    wd = working_dtype(x.dtype)
    concrete: dict[str, Any] = {}
    traced: list[tuple[spec.Parameter, jax.Array]] = []
    values = []
    for p in record.params:
        v = bound[p.name]
        if isinstance(v, jax.core.Tracer):
            _check_floating(name, p.name, v)
            traced.append((p, v))
        elif isinstance(v, jax.Array):
            _check_floating(name, p.name, v)
            # spec.validate reads NumPy arrays; bfloat16 goes through float64 because
            # NumPy files ml_dtypes.bfloat16 under kind 'V', not 'f'.
            concrete[p.name] = np.asarray(v.astype(jnp.float32) if v.dtype == jnp.bfloat16 else v)
        else:
            concrete[p.name] = v
            # Python numbers and NumPy arrays take the working dtype (float64 with x64),
            # so a parameter such as beta = 0.3193 is not first rounded to x's dtype.
            v = jnp.asarray(np.asarray(v, dtype=np.float64).astype(wd)) if _is_real(v) else v
        values.append(v)
    checks.validate(name, concrete)  # ValueError/TypeError naming the parameter
    for p, v in zip(record.params, values):
        checks.check_parameter_shape(name, p.name, jnp.shape(v), x.shape)
    ok = jnp.stack([_in_domain(p, v) for p, v in traced]).all() if traced else jnp.asarray(True)
    return _DIFFERENTIABLE[name](x, ok, *values)


def _is_real(v: Any) -> bool:
    return np.asarray(v).dtype.kind == "f" or (isinstance(v, (int, float)) and not isinstance(v, bool))


def _bind(name: str) -> None:
    import inspect

    record = spec.FUNCTIONS[name]

    def function(x, **params):
        return _call(name, x, params)

    signature = [inspect.Parameter("x", inspect.Parameter.POSITIONAL_OR_KEYWORD)] + [
        inspect.Parameter(p.name, inspect.Parameter.KEYWORD_ONLY, default=p.default) for p in record.params
    ]
    function.__signature__ = inspect.Signature(signature)
    function.__name__ = function.__qualname__ = name
    function.__module__ = __name__
    function.__doc__ = (
        f"{record.title}: {record.summary}.\n\n"
        f"Differentiable in x and in {', '.join(record.param_names) or 'no parameters'} "
        "(custom JVP with the spec's stable derivative formulas). Returns x's dtype."
    )
    globals()[name] = function


for _name in spec.FUNCTIONS:
    _bind(_name)


# ----------------------------------------------------------------------------- pytree API
#: Keras glorot_uniform on the authors' shape (1,): fan_in = fan_out = 1, limit √(6/2) = √3.
GLOROT_SCALAR_LIMIT = math.sqrt(6.0 / (1 + 1))

def _trainable(name: str) -> dict[str, spec.Parameter]:
    """raw name -> spec Parameter of the trainable parameters of ``name``."""
    record = spec.FUNCTIONS[name]
    out = {}
    for p in record.params:
        raw = p.reparam.raw if p.reparam is not None else p.name
        out[raw] = p
    return out


def init_params(
    name: str, key: jax.Array | None = None, *, shape: tuple[int, ...] = (), dtype=jnp.float32, **values: float
) -> dict[str, jax.Array]:
    """Initial trainable parameters of ``name`` as a dict pytree, each of ``shape`` and ``dtype``.

    The spec's layer initialisation: alpha = 0 (a = 1/2), beta ~ U(-√3, √3) (Keras
    glorot_uniform on the authors' shape (1,); needs ``key``), gamma = 0, and for λ-GELU
    rho = √(λ₀ - 1) with λ₀ = 1 + ln 2. ``shape=(C,)`` gives per-channel parameters (the
    spec's per_channel variant; beta is drawn per element from the same U(-√3, √3)).
    Keyword ``values`` set a parameter explicitly (``lam=`` for λ-GELU); a value outside the
    layer constraint (alpha ∈ [-1, 1], beta ∈ [0.1, 10], λ ≥ 1) raises ValueError.
    """
    if name not in spec.FUNCTIONS:
        raise ValueError(f"unknown spec function {name!r}; choose one of {list(spec.FUNCTIONS)}")
    record = spec.FUNCTIONS[name]
    unknown = set(values) - set(record.param_names)
    if unknown:
        raise TypeError(f"init_params({name!r}) got unexpected parameter(s) {sorted(unknown)}; "
                        f"its parameters are {list(record.param_names)}")
    checks.check_parameter_dtype(f"init_params({name!r})", jnp.dtype(dtype).name)
    out = {}
    for raw, p in _trainable(name).items():
        requested = values.get(p.name)
        if requested is not None:  # spec.INPUT_CONTRACT "layer.init"
            value = checks.check_initial_value(name, p, requested, f"parameter '{p.name}' of a layer")
        elif p.init.startswith("glorot_uniform"):
            if key is None:
                raise ValueError(
                    f"{name}: parameter '{p.name}' is initialised from U(-√3, √3) (the authors' "
                    f"glorot_uniform); pass a PRNG key, or {p.name}=<value> for a deterministic start"
                )
            out[raw] = jax.random.uniform(key, shape, dtype, -GLOROT_SCALAR_LIMIT, GLOROT_SCALAR_LIMIT)
            continue
        else:
            value = p.default
        if raw != p.name:  # trained through a reparameterisation (λ = 1 + rho²)
            value = p.reparam.inverse(value)
        out[raw] = jnp.full(shape, value, dtype)
    return out


def _constrained(name: str, params: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """Spec parameters of ``name`` from trainable ``params`` (λ = 1 + rho²)."""
    out = {}
    for raw, p in _trainable(name).items():
        if raw not in params:
            raise KeyError(f"{name}: params has no '{raw}'; it needs {list(_trainable(name))}")
        value = params[raw]
        if hasattr(value, "dtype") and not (jnp.issubdtype(value.dtype, jnp.floating)):
            raise TypeError(f"{name}: parameter '{raw}' must be real floating point, got dtype {value.dtype}")
        # alpha's reparam (a = σ(alpha)) lives inside the formulas; only a raw name that
        # differs from the function's parameter (rho for lam) is mapped here.
        out[p.name] = p.reparam.forward(value) if raw != p.name else value
    return out


def apply(name: str, params: Mapping[str, jax.Array], x: Any) -> jax.Array:
    """Spec function ``name`` at ``x`` with trainable ``params`` from :func:`init_params`."""
    if name not in spec.FUNCTIONS:
        raise ValueError(f"unknown spec function {name!r}; choose one of {list(spec.FUNCTIONS)}")
    return _call(name, x, _constrained(name, params))


def constraints(name: str) -> Callable[[Mapping[str, jax.Array]], dict[str, jax.Array]]:
    """The projection a layer of ``name`` applies after every optimizer update.

    Returns ``project(params) -> params`` (pure, jit-able) implementing each parameter's
    spec projection: a scalar alpha gets the authors' Keras MinMaxNorm(0, 1),
    α·clip(|α|, 0, 1)/(1e-7 + |α|) (``formulas.keras_min_max_norm``; not a plain clip —
    it shrinks |α| by about 1e-7 per step), a per-channel alpha is clipped to [-1, 1], and
    beta is clipped to [0.1, 10]; gamma and rho pass through. Use it after
    ``optax.apply_updates``.
    """
    if name not in spec.FUNCTIONS:
        raise ValueError(f"unknown spec function {name!r}; choose one of {list(spec.FUNCTIONS)}")
    limits = {raw: p.constraint for raw, p in _trainable(name).items() if p.constraint is not None}

    def project_params(params: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
        out = dict(params)
        for raw, interval in limits.items():
            if raw not in out:
                continue
            value = jnp.asarray(out[raw])
            if raw == "alpha" and value.size == 1:  # the authors' scalar
                out[raw] = formulas.keras_min_max_norm(NAMESPACE, value).astype(value.dtype)
            else:
                out[raw] = jnp.clip(value, interval.lo, interval.hi).astype(value.dtype)
        return out

    project_params.__doc__ = f"Project {sorted(limits)} of {name} parameters after an update (see constraints)."
    return project_params


# ----------------------------------------------------------------------------- Flax NNX layers (lazy)
_NNX_LAYERS = ("SSwish", "SGBlend", "LambdaGELU")
_nnx_cache: dict[str, type] = {}


def project(model: Any) -> Any:
    """Apply the layer projections (see :func:`constraints`) in place to every SSwish/SGBlend
    layer inside an NNX ``model``; call it after ``optimizer.update``.
    Returns ``model``. Works inside ``nnx.jit``."""
    from flax import nnx

    layers = _nnx_layers()
    for _, node in nnx.iter_graph(model):
        if isinstance(node, (layers["SSwish"], layers["SGBlend"])):
            node.project()
    return model


def _nnx_layers() -> dict[str, type]:
    if _nnx_cache:
        return _nnx_cache
    from flax import nnx

    class _Layer(nnx.Module):
        function: str

        def _init(self, rngs, shape, param_dtype, values) -> None:
            key = None
            if rngs is not None and any(p.init.startswith("glorot") and values.get(p.name) is None
                                        for p in _trainable(self.function).values()):
                key = rngs.params()
            given = {k: v for k, v in values.items() if v is not None}
            for raw, value in init_params(self.function, key, shape=shape, dtype=param_dtype, **given).items():
                setattr(self, raw, nnx.Param(value))

        def project(self) -> None:
            """Project the constrained parameters in place (see :func:`constraints`)."""
            trainable = {raw: getattr(self, raw)[...] for raw in _trainable(self.function)}
            for raw, value in constraints(self.function)(trainable).items():
                getattr(self, raw)[...] = value

        def __call__(self, x):
            trainable = {raw: getattr(self, raw)[...] for raw in _trainable(self.function)}
            return apply(self.function, trainable, x)

    class SSwish(_Layer):
        """SSwish layer, f(x) = x·σ(βx) - γ with trainable scalars (or ``shape``) beta and gamma.

        beta defaults to the authors' U(-√3, √3) draw from ``rngs.params()`` and is kept in
        [0.1, 10] by :func:`project` after each update; gamma starts at 0, unconstrained.
        """

        function = "sswish"

        def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), beta=None, gamma=None,
                     param_dtype=jnp.float32):
            self._init(rngs, tuple(shape), param_dtype, {"beta": beta, "gamma": gamma})

    class SGBlend(_Layer):
        """SG-Blend layer, σ(α)·SSwish(x; β, γ) + σ(-α)·g(x), the authors' released layer by default.

        Trainable ``alpha`` (raw, a = σ(alpha); starts at 0, kept in [-1, 1] by the authors'
        Keras MinMaxNorm), ``beta``
        (U(-√3, √3) from ``rngs.params()``, kept in [0.1, 10]) and ``gamma`` (0, free);
        :func:`project` applies the constraints after each update. ``function`` picks the
        blend partner: "sgblend" (x·σ(1.702x), default), "sgblend_gelu", "sgblend_gelu_tanh".
        """

        def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), alpha=None, beta=None, gamma=None,
                     function: str = "sgblend", param_dtype=jnp.float32):
            if function not in ("sgblend", "sgblend_gelu", "sgblend_gelu_tanh"):
                raise ValueError(
                    f"function must be 'sgblend', 'sgblend_gelu' or 'sgblend_gelu_tanh', got {function!r}"
                )
            self.function = function
            self._init(rngs, tuple(shape), param_dtype, {"alpha": alpha, "beta": beta, "gamma": gamma})

    class LambdaGELU(_Layer):
        """λ-GELU layer, x·Φ(λx) with λ = 1 + rho² (trainable ``rho``; ``lam`` is read-only).

        rho starts at √(λ₀ - 1), λ₀ = ``lam`` or the spec default 1 + ln 2; λ ≥ 1 always
        holds, so there is nothing to project.
        """

        function = "lambda_gelu"

        def __init__(self, *, rngs: nnx.Rngs | None = None, shape=(), lam=None, param_dtype=jnp.float32):
            self._init(rngs, tuple(shape), param_dtype, {"lam": lam})

        @property
        def lam(self) -> jax.Array:
            """λ = 1 + rho² (read-only)."""
            return 1 + self.rho[...] ** 2

    for cls in (SSwish, SGBlend, LambdaGELU):
        cls.__module__ = __name__
        cls.__qualname__ = cls.__name__
    _nnx_cache.update(SSwish=SSwish, SGBlend=SGBlend, LambdaGELU=LambdaGELU)
    return _nnx_cache


def __getattr__(attribute: str):
    # The NNX layers import flax, so they are built on first access only.
    if attribute in _NNX_LAYERS:
        return _nnx_layers()[attribute]
    raise AttributeError(f"module {__name__!r} has no attribute {attribute!r}")


def __dir__():
    return sorted(set(globals()) | set(_NNX_LAYERS))


def import_parameters(name: str, parameters: Mapping[str, Any], shape: tuple[int, ...] = ()) -> dict[str, jax.Array]:
    """A parameter pytree for :func:`apply` from arrays keyed by spec name (e.g. the Keras
    layer's ``sgblend_spec.backends.tensorflow.export_parameters``), reshaped to ``shape``
    (``()`` for the authors' scalars, which Keras stores with shape (1,))."""
    expected = set(_trainable(name))
    if set(parameters) != expected:
        raise ValueError(f"import_parameters({name!r}): expected parameters {sorted(expected)}, got {sorted(parameters)}")
    out = {}
    for k, v in parameters.items():  # spec.INPUT_CONTRACT "layer.load"
        v = np.asarray(v)
        checks.check_loaded(f"import_parameters({name!r})", name, k, v)
        if v.size != math.prod(shape):
            raise ValueError(f"import_parameters({name!r}): parameter '{k}' has shape {v.shape}, which does not "
                             f"reshape to {tuple(shape)}")
        out[k] = jnp.asarray(v).reshape(shape)
    return out


# ============================================================================ λ-GELU training recipe
# The math (target, floor, projection, gradient scale) is sgblend_spec.hardening; this section
# binds it to parameter pytrees, optax and NNX. (Activation swapping and ReLU substitution are
# module surgery, which a pytree of parameters does not have: pass jax.nn.relu to your forward
# function instead; hardening.relu_gap gives the per-unit bound.)


def _is_rho(path) -> bool:
    """Whether a pytree path ends in a "rho" entry (dict key or attribute)."""
    last = path[-1] if path else None
    return getattr(last, "key", getattr(last, "name", None)) == "rho"


def harden(params: Any, step: int, lam_target: float, ramp_steps: int, start_step: int = 0) -> Any:
    """The hardening schedule after optimizer step ``step`` (a Python int, outside ``jit``).

    Every "rho" leaf is projected onto 1 + ρ² ≥ λ_min(step), sign kept
    (``hardening.project_rho``); λ_min rises from 1 at ``start_step`` to ``lam_target`` at
    ``start_step + ramp_steps`` with 1/λ_min linear in the step (``hardening.lam_floor``),
    then holds. ``params``: a pytree (e.g. holding :func:`init_params` dicts), returned as a
    new pytree; or an NNX model, whose LambdaGELU layers are projected in place (returned).
    """
    floor = _hardening.lam_floor(step, lam_target, ramp_steps, start_step)
    if "flax" in sys.modules:
        from flax import nnx

        if isinstance(params, nnx.Module):
            layer_type = _nnx_layers()["LambdaGELU"]
            for _, node in nnx.iter_graph(params):
                if isinstance(node, layer_type) and floor > 1.0:
                    node.rho[...] = _hardening.project_rho(NAMESPACE, node.rho[...], floor)
            return params
    if floor == 1.0:
        return params
    return jax.tree_util.tree_map_with_path(
        lambda path, leaf: _hardening.project_rho(NAMESPACE, leaf, floor) if _is_rho(path) else leaf, params
    )


def scale_lambda_gradients(grads: Any, params: Any, preactivation_std: float = 1.0) -> Any:
    """The λ-aware update: every "rho" leaf of ``grads`` times κ(λ) = ((1 + λ²s²)/(1 + s²))^(3/2),
    λ = 1 + ρ² from the matching leaf of ``params`` (``hardening.lam_gradient_scale``); the
    other leaves unchanged. Pure and jit-able."""
    _hardening.lam_gradient_scale(1.0, preactivation_std)  # checks preactivation_std

    def scale(path, g, p):
        if not _is_rho(path):
            return g
        return g * _hardening.lam_gradient_scale(1 + p * p, preactivation_std).astype(g.dtype)

    return jax.tree_util.tree_map_with_path(scale, grads, params)


def lambda_update(preactivation_std: float = 1.0):
    """:func:`scale_lambda_gradients` as an optax ``GradientTransformation``; chain it before
    the optimizer, ``optax.chain(lambda_update(), optax.sgd(lr))``. Its ``update`` needs
    ``params``. Under Adam-type optimizers κ cancels except against ε (see
    ``sgblend_spec.hardening``)."""
    import optax

    _hardening.lam_gradient_scale(1.0, preactivation_std)

    def init(params):
        return optax.EmptyState()

    def update(updates, state, params=None):
        if params is None:
            raise ValueError("lambda_update: update() needs params (λ = 1 + rho² is read from them)")
        return scale_lambda_gradients(updates, params, preactivation_std), state

    return optax.GradientTransformation(init, update)
