"""JAX numerics: the working dtype, exact widening, single rounding, an accurate erfc
(float64 and float32), the deterministic parameter-gradient sum and the chunked CPU
evaluation loop (CPU, one device, concrete shapes only).

Precision tiers (:func:`working_dtype`). "fast" (the default): float16, bfloat16 and float32
are evaluated in float32 arithmetic by the compensated formulas and rounded once, with or
without ``jax_enable_x64``. "exact": evaluated in float64 and rounded once (bfloat16 through
round-to-odd float32, so that rounding is single too), which needs x64; with x64 off (JAX's
default) float16/bfloat16 are evaluated in float32 (within their exact bounds) and float32
is an error naming the fix. float64 is evaluated natively in both.

Subnormals. XLA:CPU runs every kernel with flush-to-zero (and denormals-are-zero) set. The
conversions into and out of the working dtype are done on the bits, so values, partials
and dxx as computed are exact down to the smallest subnormal. A derivative that JAX forms
as a product (partial × incoming tangent or cotangent) is an arithmetic result, though, and
a float32/bfloat16 one below the smallest normal (1.2e-38) comes back as a signed zero on
CPU unless XLA folds a unit tangent away (it does so under ``jit`` for ``grad`` of a sum).
No transposable JAX operation can avoid that.

Determinism. Values and x-derivatives are elementwise. A parameter's gradient is a sum over
x's elements; XLA:CPU splits one long float32 sum among its threads, so the parameter
tangent is broadcast by :func:`blocked_broadcast_to`, whose transpose sums fixed blocks of
:data:`SUM_BLOCK` elements: parameter gradients are bitwise the same with one or two
threads, eager and jitted.
"""

from __future__ import annotations

import math
from typing import Callable

import jax
import jax.numpy as jnp
import jax.scipy.special
import numpy as np
from jax import lax

from sgblend_spec import erfc_taylor_table
from sgblend_spec._namespace import Namespace


def table_rows(table: erfc_taylor_table.Table, t: jax.Array) -> jax.Array:
    """Each element's row of a Taylor table (``erfc_taylor_table.RowsAt``).

    The table is built in the graph from scalar literals: gathered from a constant array,
    its rows would become residuals of reverse mode under jax.checkpoint (JAX keeps values
    computed from constants), and the functions keep only x."""
    rows = jnp.stack([jnp.stack([jnp.full((), v, t.dtype) for v in row]) for row in table.rows])
    k = jnp.clip(jnp.floor((t - table.lo) / table.width), 0, len(table.rows) - 1)
    k = jnp.where(jnp.isnan(k), 0, k).astype(jnp.int32)  # NaN: any row (the result is NaN)
    return rows.at[k].get(mode="promise_in_bounds")


def erfc(t):
    """erfc(t) within ~2 ULP in float64 and ~3 in float32 (:func:`sgblend_spec.erfc_taylor_table.erfc`).

    jax.scipy.special.erfc is XLA's erfc: up to ~9 ULP off in float64 on [0.7, 1.25]
    (1 - erf(t) cancels) and ~340 ULP near 26 (it rounds t² before the exponential), up to
    7 ULP in float32 on [0.5, 1] and 60 near 8.5; it is kept below 0.25 in float64, in the
    subnormal tail, and for float16/bfloat16 (which the formulas never evaluate in)."""
    if t.dtype not in (jnp.float64, jnp.float32):
        return jax.scipy.special.erfc(t)
    return erfc_taylor_table.erfc(NAMESPACE, t, jax.scipy.special.erfc, table_rows)


#: The array namespace the shared formulas are evaluated with (erfc: see :func:`erfc`).
NAMESPACE = Namespace(
    name="jax",
    exp=jnp.exp,
    erfc=erfc,
    abs=jnp.abs,
    where=jnp.where,
    finite=lambda a: jnp.clip(a, -jnp.finfo(a.dtype).max, jnp.finfo(a.dtype).max),
    rint=jnp.rint,
)


def x64_enabled() -> bool:
    """Whether ``jax_enable_x64`` is on."""
    # Read at trace time; jit caches on this flag, so a jitted call retraces when it changes.
    return bool(jax.config.jax_enable_x64)


def working_dtype(dtype, precision: str = "fast") -> jnp.dtype:
    """The dtype inputs of ``dtype`` are evaluated in under the tier ``precision``: float64
    for float64 input; for float16/bfloat16/float32, float32 in the "fast" tier and float64
    in the "exact" tier when jax_enable_x64 is on (rounded once to ``dtype`` afterwards).
    With x64 off the "exact" tier evaluates float16/bfloat16 in float32 (within their
    bounds) and refuses float32 (``contract.check_precision_available``)."""
    if jnp.dtype(dtype) == jnp.float64 or (precision == "exact" and x64_enabled()):
        return jnp.dtype(jnp.float64)
    return jnp.dtype(jnp.float32)


# ----------------------------------------------------------------------------- exact conversions
# XLA:CPU runs every kernel with flush-to-zero and denormals-are-zero set, and its
# float32 <-> float64 conversions flush too. The conversions below therefore build float32
# subnormals from their bits; float16 <-> float32/float64 conversions are exact as they are,
# and float32 -> bfloat16 is done with integer operations by XLA.
F32_MIN_NORMAL = 2.0**-126
F32_SUBNORMAL_ULP = 2.0**-149


def bfloat16_to_float32(x: jax.Array) -> jax.Array:
    """Exact: a bfloat16 is the top half of the float32 with the same value."""
    bits = lax.bitcast_convert_type(x, jnp.uint16).astype(jnp.uint32) << 16
    return lax.bitcast_convert_type(bits, jnp.float32)


def widen(x: jax.Array, wd) -> jax.Array:
    """x converted exactly to the working dtype ``wd``, subnormal inputs included."""
    wd = jnp.dtype(wd)
    if x.dtype == wd:
        return x
    if x.dtype == jnp.bfloat16:
        x = bfloat16_to_float32(x)
        if wd == jnp.float32:
            return x
    out = x.astype(wd)
    if x.dtype == jnp.float32:
        bits = lax.bitcast_convert_type(x, jnp.uint32)
        magnitude = (bits & jnp.uint32(0x007FFFFF)).astype(wd) * F32_SUBNORMAL_ULP
        subnormal_value = jnp.where((bits >> 31) == 1, -magnitude, magnitude)
        out = jnp.where((bits & jnp.uint32(0x7F800000)) == 0, subnormal_value, out)
    return out


def float32_bits(result: jax.Array, to_odd: bool) -> jax.Array:
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
    scaled = magnitude * (1.0 / F32_SUBNORMAL_ULP)  # < 2^23, an exact scaling
    if to_odd:
        truncated = jnp.floor(scaled)
        count = truncated.astype(jnp.uint32) | (truncated != scaled).astype(jnp.uint32)
    else:
        count = jnp.round(scaled).astype(jnp.uint32)  # half to even; 2^23 is the min normal
    sign = jnp.signbit(result).astype(jnp.uint32) << 31
    return jnp.where(magnitude < F32_MIN_NORMAL, count | sign, bits)


def round_once(result: jax.Array, dtype) -> jax.Array:
    """Round a working-dtype result once to ``dtype``.

    float64 -> bfloat16 in XLA goes through float32 and so rounds twice; rounding to
    float32 *to odd* first makes the second rounding correct, since float32 carries more
    than 2 extra bits.
    """
    dtype = jnp.dtype(dtype)
    if result.dtype == dtype:
        return result
    if result.dtype == jnp.float64 and dtype in (jnp.float32, jnp.bfloat16):
        as32 = lax.bitcast_convert_type(float32_bits(result, to_odd=dtype == jnp.bfloat16), jnp.float32)
        return as32 if dtype == jnp.float32 else as32.astype(dtype)
    return result.astype(dtype)


# ----------------------------------------------------------------------------- parameter-gradient sums
def broadcast_shape(x: jax.Array, params) -> tuple[int, ...]:
    """The shape of x broadcast with every parameter: the result's shape."""
    return jnp.broadcast_shapes(jnp.shape(x), *(jnp.shape(p) for p in params))


#: Elements per block of a parameter-gradient reduction (see ``blocked_broadcast_to``).
SUM_BLOCK = 1024


def blocked_broadcast_to(t: jax.Array, shape: tuple[int, ...]) -> jax.Array:
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
    if not isinstance(count, int) or count <= SUM_BLOCK:
        # A symbolic count (a shape-polymorphic export) cannot be cut into blocks: XLA's own sum.
        return jnp.broadcast_to(t, shape)
    kept = tuple(i for i in range(nd) if i not in summed)
    kept_shape = tuple(shape[i] for i in kept)
    flat = broadcast_last_axis_blocked(t.reshape(kept_shape + (1,)), count)
    y = flat.reshape(kept_shape + tuple(shape[i] for i in summed))
    return jnp.transpose(y, tuple(np.argsort(kept + summed)))


def broadcast_last_axis_blocked(t: jax.Array, n: int) -> jax.Array:
    """``(..., 1) -> (..., n)`` by broadcasting; the transpose sums blocks of SUM_BLOCK."""
    if n <= SUM_BLOCK:
        return jnp.broadcast_to(t, t.shape[:-1] + (n,))
    blocks = -(-n // SUM_BLOCK)
    rows = lax.optimization_barrier(broadcast_last_axis_blocked(t, blocks))
    y = jnp.broadcast_to(rows[..., None], rows.shape + (SUM_BLOCK,))
    return y.reshape(rows.shape[:-1] + (blocks * SUM_BLOCK,))[..., :n]


def sum_terms(terms: list[jax.Array], shape, dtype) -> jax.Array:
    """``terms[0] + terms[1] + ...`` (left to right) broadcast to ``shape``; zeros if none."""
    if not terms:
        return jnp.zeros(shape, dtype)
    out = terms[0]
    for t in terms[1:]:
        out = out + t
    return jnp.broadcast_to(out, shape)


# ----------------------------------------------------------------------------- chunked CPU loop
#: Elements per chunk of the CPU evaluation loop (see ``elementwise``).
CPU_CHUNK = 1 << 17  # 128K elements: measured best of 2^14..2^20 on a 2-core CPU, both modes


def elementwise(fn: Callable[..., tuple], shape: tuple[int, ...], operands: list[jax.Array]) -> tuple:
    """``fn(*operands)`` for an elementwise ``fn`` returning a tuple of arrays of ``shape``.

    The stable formulas share each exponential among several consumers, and XLA:CPU
    materialises such an exponential into its own full-size buffer rather than recompute
    it. On CPU, large inputs can therefore be evaluated ``CPU_CHUNK`` elements at a time in
    a loop that keeps every intermediate in cache. Measured on 16M float32 elements (jitted
    sgblend, 2 busy cores): peak memory 0.8 GB with the loop vs 1.35 GB (fast tier) / 1.66 GB
    (float64 evaluation) without; fwd+bwd with x and parameter gradients 0.8-1.1 s vs
    1.6-1.7 s (fast tier), the forward alone within 15 % either way.

    The loop is a ``while`` over one flat index, so it would make a shape-polymorphic export
    fail and a sharded ``jit`` all-gather. It is used only where it cannot be either: a
    concrete shape of more than ``4 * CPU_CHUNK`` elements, with a single device (no
    sharding possible), and only in the CPU lowering (``lax.platform_dependent``: a
    ``jax.export`` for CUDA/TPU, or the CUDA branch of a multi-platform one, is plain
    elementwise code). Everywhere else the code stays elementwise.
    """
    if not all(isinstance(d, int) for d in shape) or jax.device_count() != 1:
        return fn(*operands)
    size = math.prod(shape)
    if size <= 4 * CPU_CHUNK:
        return fn(*operands)
    return lax.platform_dependent(*operands, cpu=lambda *ops: chunked_loop(fn, shape, list(ops)),
                                  default=lambda *ops: tuple(fn(*ops)))


def chunked_loop(fn: Callable[..., tuple], shape: tuple[int, ...], operands: list[jax.Array]) -> tuple:
    """``fn(*operands)`` evaluated ``CPU_CHUNK`` elements at a time (see :func:`elementwise`)."""
    size = math.prod(shape)
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
