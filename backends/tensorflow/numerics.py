"""TensorFlow numerics: the formulas' array namespace, exact widening to float64, single
rounding back, and the reduction of a partial to a parameter's shape.

Precision tiers (:func:`working`). "exact": float16, bfloat16 and float32 inputs are
evaluated in float64 (:data:`WORKING`) and rounded once to the input dtype (bfloat16 and
float16 through a round-to-odd float32 step, so the rounding really is single). "fast": they
are evaluated in float32 (float16/bfloat16 rounded once from it), with no float64 in the
graph; float32 subnormals then act as 0 (TensorFlow's flush-to-zero). float64 is evaluated
natively in both.

Subnormals. TensorFlow runs its CPU kernels (and XLA its CPU code) with flush-to-zero and
denormals-are-zero set, so ``tf.cast`` turns a subnormal float32 or bfloat16 into 0 and a
float64 result in float32's subnormal range into 0. The widening and the final rounding are
therefore done on the bit patterns (integer ops) wherever a subnormal can occur, which keeps
float32/bfloat16 subnormal inputs and outputs exact. float64 itself is evaluated with
TensorFlow's flushing: float64 subnormal inputs act as 0 and results below 2.2e-308 are 0.
"""

from __future__ import annotations

import contextlib
from dataclasses import replace

import tensorflow as tf

from sgblend_spec import erfc_taylor_table
from sgblend_spec._namespace import Namespace

#: The dtype the "exact" tier evaluates every quantity in.
WORKING = tf.float64
#: The dtype the "fast" tier evaluates float16/bfloat16/float32 in.
FAST_WORKING = tf.float32


def working(dtype: tf.DType, precision: str) -> tf.DType:
    """The dtype an input of ``dtype`` is evaluated in under ``precision``: float64 for
    float64 input and for the "exact" tier, float32 for the "fast" tier."""
    return WORKING if precision == "exact" or dtype == tf.float64 else FAST_WORKING


def where(cond, a, b):
    """tf.where that accepts a Python number for one branch by giving it the other branch's
    dtype (tf.where would make it float32)."""
    if not isinstance(a, (tf.Tensor, tf.Variable)):
        a = tf.constant(a, dtype=b.dtype)
    if not isinstance(b, (tf.Tensor, tf.Variable)):
        b = tf.constant(b, dtype=a.dtype)
    return tf.where(cond, a, b)


# ----------------------------------------------------------------------------- erfc for TFLite
#: Cephes' float32 erfc (as XLA's): erf(t) = t·T(t²) for |t| < 1; erfc(t) = e^(-t²)/|t|·P(1/t²)
#: for 1 ≤ |t| < 2 and ·R(1/t²) beyond. Coefficients highest degree first.
_ERF_T = (7.853861353153693e-5, -8.010193625184903e-4, 5.188327685732524e-3, -2.685381193529856e-2,
          1.128358514861418e-1, -3.761262582423300e-1, 1.128379165726710e0)
_ERFC_P = (2.326819970068386e-2, -1.387039388740657e-1, 3.687424674597105e-1, -5.824733027278666e-1,
           6.210004621745983e-1, -4.944515323274145e-1, 3.404879937665872e-1, -2.741127028184656e-1,
           5.638259427386472e-1)
_ERFC_R = (-1.047766399936249e1, 1.297719955372516e1, -7.495518717768503e0, 2.921019019210786e0,
           -1.015265279202700e0, 4.218463358204948e-1, -2.820767439740514e-1, 5.641895067754075e-1)
_BUILTIN_ERFC = [False]


def _polynomial(y, coefficients):
    p = tf.zeros_like(y)
    for c in coefficients:
        p = p * y + c
    return p


def erfc_from_builtins(t):
    """float32 erfc from exp and arithmetic only (TFLite has no Erfc op, built-in or Flex)."""
    a = tf.abs(t)
    q = 1.0 / tf.maximum(a, 1.0)  # both branches finite, so autodiff through tf.where stays finite
    y = q * q
    tail = tf.exp(-t * t) * q * tf.where(a < 2.0, _polynomial(y, _ERFC_P), _polynomial(y, _ERFC_R))
    return tf.where(a < 1.0, 1.0 - t * _polynomial(t * t, _ERF_T), tf.where(t < 0, 2.0 - tail, tail))


@contextlib.contextmanager
def tflite_builtins():
    """Trace (``model.export``, ``tf.function``) with a float32 erfc made of TFLite built-in
    ops, so that the functions built on Φ (gelu, sgblend_gelu, lambda_gelu) convert with
    ``supported_ops=[TFLITE_BUILTINS]``. Fast tier only (the exact tier needs float64)."""
    _BUILTIN_ERFC[0] = True
    try:
        yield
    finally:
        _BUILTIN_ERFC[0] = False


def table_rows(table: erfc_taylor_table.Table, t: tf.Tensor) -> tf.Tensor:
    """Each element's row of a Taylor table (``erfc_taylor_table.RowsAt``)."""
    rows = tf.constant(table.rows, dtype=t.dtype)
    k = tf.clip_by_value(tf.floor((t - table.lo) / table.width), 0, len(table.rows) - 1)
    k = tf.where(tf.math.is_nan(k), tf.zeros_like(k), k)  # NaN: any row (the result is NaN)
    return tf.gather(rows, tf.cast(k, tf.int32))


def erfc(t):
    """erfc(t) within ~2 ULP in float64 and ~3 in float32 (:func:`sgblend_spec.erfc_taylor_table.erfc`),
    or :func:`erfc_from_builtins` for float32 inside :func:`tflite_builtins`.

    tf.math.erfc is up to ~340 ULP off in float64 near t = 26 and 60 in float32 near 8.5 (it
    rounds t² before the exponential); it is kept where it is accurate (float64 t < 0.25) and
    in the subnormal tail."""
    if _BUILTIN_ERFC[0] and t.dtype == tf.float32:
        return erfc_from_builtins(t)
    if t.dtype not in (tf.float64, tf.float32):
        return tf.math.erfc(t)
    return erfc_taylor_table.erfc(NAMESPACE, t, tf.math.erfc, table_rows)


#: The TensorFlow array namespace the formulas are evaluated with.
NAMESPACE = Namespace(
    name="tensorflow",
    exp=tf.exp,
    erfc=erfc,
    abs=tf.abs,
    where=where,
    finite=lambda a: tf.clip_by_value(a, -a.dtype.max, a.dtype.max),
    rint=tf.math.round,
)


def abs_with_right_derivative(u):
    """|u| whose autodiff derivative at u = 0 is +1, not tf.abs's 0.

    The formulas take the ``u >= 0`` branch at 0 and build it from e^(-|u|); with a zero
    derivative of |u| there, autodiff would report σ'(0) = 0 instead of 1/4.
    """
    return tf.where(u >= 0, u, -u)


#: The namespace used when autodiff differentiates the formulas (mixed second derivatives).
DIFFERENTIABLE = replace(NAMESPACE, name="tensorflow-differentiable", abs=abs_with_right_derivative)


# ----------------------------------------------------------------------------- exact widening / single rounding
F32_EXPONENT = 0x7F800000
F32_MANTISSA = 0x007FFFFF
F32_SIGN = -(2**31)  # int32 with only the sign bit set
F32_SUBNORMAL_UNIT = 2.0**-149  # value of the last mantissa bit of a float32 subnormal
F32_MIN_NORMAL = 2.0**-126


def float32_bits_to_working(bits: tf.Tensor) -> tf.Tensor:
    """float64 value of float32 bit patterns, exact for subnormals too.

    tf.cast(float32 -> float64) reads a subnormal as 0 (DAZ); a subnormal is
    sign·mantissa·2^-149, which is computed from the integer mantissa instead.
    """
    normal = tf.cast(tf.bitcast(bits, tf.float32), WORKING)
    mantissa = tf.cast(tf.bitwise.bitwise_and(bits, F32_MANTISSA), WORKING) * F32_SUBNORMAL_UNIT
    subnormal = tf.where(bits < 0, -mantissa, mantissa)  # ±0 stays signed
    is_subnormal = tf.equal(tf.bitwise.bitwise_and(bits, F32_EXPONENT), 0)
    return tf.where(is_subnormal, subnormal, normal)


def to_working(t: tf.Tensor, wd: tf.DType = WORKING) -> tf.Tensor:
    """``t`` as ``wd`` (float64, or float32 in the fast tier), exactly (subnormal
    float32/bfloat16 included in float64)."""
    if t.dtype == wd:
        return t
    if wd == FAST_WORKING:  # from float16/bfloat16: exact casts
        return tf.cast(t, wd)
    if t.dtype == tf.float16:
        return tf.cast(t, WORKING)  # float16 subnormals are normal in float32: no DAZ issue
    if t.dtype == tf.bfloat16:
        t = tf.cast(t, tf.float32)  # a bit shift in TensorFlow, subnormals kept
    return float32_bits_to_working(tf.bitcast(t, tf.int32))


def float32_tiny_bits(r: tf.Tensor, to_odd: bool) -> tf.Tensor:
    """int32 float32 bits of a float64 ``r`` with |r| < 2^-126, rounded on the subnormal grid
    (to nearest even, or to odd). A mantissa of 2^23 is the smallest normal: still right."""
    scaled = tf.abs(r) * (1.0 / F32_SUBNORMAL_UNIT)  # exact: a power-of-two scaling
    if to_odd:
        whole = tf.floor(scaled)
        mantissa = tf.cast(whole, tf.int32)
        mantissa = tf.where(whole != scaled, tf.bitwise.bitwise_or(mantissa, 1), mantissa)
    else:
        mantissa = tf.cast(tf.round(scaled), tf.int32)  # tf.round: half to even
    negative = tf.bitcast(r, tf.int64) < 0  # the sign bit, -0.0 included
    return tf.where(negative, tf.bitwise.bitwise_or(mantissa, F32_SIGN), mantissa)


def round_to_odd_float32(r: tf.Tensor) -> tf.Tensor:
    """float64 -> float32 rounded to odd (truncate, set the last bit if anything was cut).

    Rounding that once more to float16/bfloat16 is then a correct single rounding, because
    float32 keeps more than two extra bits.
    """
    as32 = tf.cast(r, tf.float32)
    back = tf.cast(as32, WORKING)
    bits = tf.bitcast(as32, tf.int32)
    inexact = tf.logical_and(back != r, tf.math.is_finite(as32))
    # One step toward zero in magnitude is bits - 1 for either sign (sign-magnitude format).
    rounded_up = tf.cast(tf.abs(back) > tf.abs(r), tf.int32)
    odd = tf.bitwise.bitwise_or(bits - rounded_up, 1)
    normal = tf.where(inexact, odd, bits)
    tiny = tf.abs(r) < F32_MIN_NORMAL
    return tf.bitcast(tf.where(tiny, float32_tiny_bits(r, to_odd=True), normal), tf.float32)


def round_once(result: tf.Tensor, dtype: tf.DType) -> tf.Tensor:
    """Round a float64 (or, in the fast tier, float32) ``result`` to ``dtype`` with a single
    rounding (subnormals kept from float64)."""
    if dtype == result.dtype:
        return result
    if result.dtype == FAST_WORKING:  # float32 -> float16/bfloat16: one rounding as it is
        return tf.cast(result, dtype)
    if dtype == tf.float32:
        normal = tf.bitcast(tf.cast(result, tf.float32), tf.int32)
        tiny = tf.abs(result) < F32_MIN_NORMAL
        return tf.bitcast(tf.where(tiny, float32_tiny_bits(result, to_odd=False), normal), tf.float32)
    return tf.cast(round_to_odd_float32(result), dtype)


# ----------------------------------------------------------------------------- reductions to a parameter's shape
def sum_to_shape(t: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """Sum ``t`` over the dimensions along which ``target`` was broadcast to ``t``'s shape
    (``target``: the parameter itself, whose static or, in a graph, dynamic shape is used)."""
    if t.shape.is_fully_defined() and target.shape.is_fully_defined():
        if t.shape == target.shape:
            return t
        lead = t.shape.rank - target.shape.rank
        axes = list(range(lead)) + [
            lead + i for i, d in enumerate(target.shape) if d == 1 and t.shape[lead + i] != 1
        ]
        return tf.reshape(tf.reduce_sum(t, axis=axes), target.shape)
    axes, _ = tf.raw_ops.BroadcastGradientArgs(s0=tf.shape(target), s1=tf.shape(t))
    return tf.reshape(tf.reduce_sum(t, axis=axes), tf.shape(target))


def full(t: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """``t`` broadcast against ``like`` (partials such as ∂γ = -1 are already full-shaped)."""
    return t * tf.ones_like(like) if t.shape != like.shape else t
