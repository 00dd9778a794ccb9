"""ULP distance and the documented tolerance model.

Error of an implementation's result ``got`` against the oracle's exact value ``v``, in a
dtype with precision p:

* ``distance`` — the number of representable values between ``got`` and ``round(v)``
  (±0 are one value; ``inf`` is one past the largest finite value). This is the plain
  "max ULP" figure.
* Where the oracle reports a *condition scale* M (a quantity that is a sum whose terms can
  cancel, e.g. x·σ(βx) - γ near its root, or a derivative near a critical point), no
  fixed-ULP bound on ``got`` is possible: rounding the terms alone moves the result by an
  ULP of M. There the error is ``min(distance, |got - v| / ulp(M))``, i.e. the bound is
  N ULPs of the largest term. Away from cancellation M ≈ |v| and the two agree.

* float64 (``spec.INPUT_SENSITIVE_DTYPES``), where no backend has a wider type to work in,
  the scale also covers the input sensitivity S = |x∂q/∂x| + Σ|p∂q/∂p| (the effect of
  rounding an input or an internal argument such as βx once), and one ULP is at least
  ``smallest_subnormal·κ`` with κ = S/|q|: an intermediate that underflows into the
  subnormal range loses absolute precision that the rest of the formula magnifies by κ.

* An implementation that declares it flushes subnormals to zero in a dtype
  (``flushes_subnormals``, as TensorFlow's CPU kernels do for float64) is held to the
  flush-to-zero bound there: one ULP is at least ``smallest_normal·max(1, κ)``, so a
  subnormal input, result or intermediate read as 0 is not an error, and nothing else is
  relaxed. A subnormal parameter is read as a zero of its sign too: the result may then
  match the oracle at the flushed parameter instead (``checks.compare``), and a table entry
  that is subnormal may be a zero. The report marks such dtypes.

A NaN where the oracle is a number (or the reverse) is an infinite error.
"""

from __future__ import annotations

import math

import mpmath
import numpy as np

from sgblend_spec.mp import FORMATS

_BITS = {"float16": np.uint16, "bfloat16": np.uint16, "float32": np.uint32, "float64": np.uint64}


def ordered(values: np.ndarray, dtype: str) -> np.ndarray:
    """Map floats of ``dtype`` to integers whose difference counts representable values."""
    width = np.dtype(_BITS[dtype]).itemsize * 8
    bits = np.ascontiguousarray(values).view(_BITS[dtype]).astype(np.uint64)
    sign = bits >> np.uint64(width - 1)
    magnitude = (bits & np.uint64((1 << (width - 1)) - 1)).astype(np.int64)
    return np.where(sign == 1, -magnitude, magnitude)


def ulp_distance(got: np.ndarray, expected: np.ndarray, dtype: str) -> np.ndarray:
    """Representable values between ``got`` and ``expected`` (both of ``dtype``); NaN = inf."""
    got_nan, exp_nan = _isnan(got), _isnan(expected)
    got_f = np.where(got_nan, 0, got.astype(np.float64)).astype(got.dtype)
    exp_f = np.where(exp_nan, 0, expected.astype(np.float64)).astype(expected.dtype)
    distance = np.abs(ordered(got_f, dtype) - ordered(exp_f, dtype)).astype(np.float64)
    distance = np.where(got_nan != exp_nan, np.inf, distance)
    return np.where(got_nan & exp_nan, 0.0, distance)


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a.astype(np.float64))


def ulp_of(value: mpmath.mpf, dtype: str) -> mpmath.mpf:
    """Spacing of ``dtype`` at magnitude ``value`` (the subnormal spacing below the normals)."""
    fmt = FORMATS[dtype]
    if value == 0 or not mpmath.isfinite(value):
        exponent = fmt.emin
    else:
        exponent = max(int(mpmath.floor(mpmath.log(abs(value), 2))), fmt.emin)
    return mpmath.ldexp(1, exponent - fmt.precision + 1)


def error_in_ulps(got: float, exact: mpmath.mpf, scale, dtype: str, distance: float, kappa=None,
                  flush_to_zero: bool = False) -> float:
    """The tolerance-model error of one point (see the module docstring)."""
    if math.isnan(got) or math.isinf(got) or distance == 0 or not mpmath.isfinite(exact):
        return distance
    if scale is None and not flush_to_zero:
        return distance
    with mpmath.workdps(60):
        unit = ulp_of(abs(exact) if scale is None else scale, dtype)
        if kappa is not None:
            unit = max(unit, ulp_of(mpmath.mpf(0), dtype) * kappa)
        if flush_to_zero:
            unit = max(unit, mpmath.ldexp(1, FORMATS[dtype].emin) * max(1, kappa or 1))
        relative_to_scale = abs(mpmath.mpf(got) - exact) / unit
    return min(distance, float(relative_to_scale))
