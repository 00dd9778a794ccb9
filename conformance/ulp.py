"""ULP distance and the documented tolerance model.

Error of an implementation's result ``got`` against the oracle's exact value ``v``, in a
dtype with precision p:

* ``distance`` — the number of representable values between ``got`` and ``round(v)``
  (±0 are one value; ``inf`` is one past the largest finite value). This is the plain
  "max ULP" figure, and the only one used in every dtype (float64 included) except at the
  true roots listed below. The bounds are ``spec.TIER_BOUNDS`` (per precision tier).
* At a *true root* the oracle reports a *condition scale* M: the magnitude of the terms
  of the best formula (``sgblend_spec.formulas``), not of the naive one. There the error
  is ``min(distance, |got - v| / ulp(M))``, i.e. the bound is N ULPs of the largest term;
  away from the root M ≈ |v| and the two agree.

Where the suite still forgives cancellation, and why no formula avoids it. Each is a root
of a sum of two *different* quantities (or of a quantity and a parameter), at an irrational
point: the terms are each ≥ the result's scale there and must be rounded to the working
precision before they are combined; only carrying every term in double-word arithmetic
would avoid it, which neither tier has (the fast tier is float32 throughout, float64 has
nothing wider). Their scales are in ``sgblend_spec.mp``:

1. SSwish and the SG-Blends' value, x·σ(βx) - γ (and a(x·σ(βx) - γ) + (1-a)·g(x)) near
   their root for γ > 0: the function crosses the parameter γ.
2. ∂f/∂x of Swish/SSwish, σ(u)(1 + u·σ(-u)), near u ≈ -1.2785 (the minimum of x·σ(βx));
   of the GELUs, Φ(v) + v·φ(v) near v ≈ -0.7518 and the tanh form's minimum; of the
   blends, a·SSwish' + (1-a)·g', whose two minima lie at different x.
3. ∂²f/∂x² of Swish/SSwish/SG-Blend, β·σσ̄·(2 - u·tanh(u/2)), near |u| ≈ 2.3994 (the
   inflection points: u·tanh(u/2) is transcendental, so 2 - u·tanh(u/2) needs it beyond
   the working precision); of the tanh GELU likewise; of the blends, a·β·S(βx) + (1-a)·g''.
   (λ-GELU's λφ(v)(2 - v²) is *not* forgiven: 2 - v² is formed from v² = p_hi + p_lo
   exactly enough, so it is held to the plain bound.)
4. ∂F/∂α = a(1-a)·(x·σ(βx) - g(x) - γ): the near-1 heads are replaced by their tails
   (x·(Ḡ(x) - σ̄(βx)) where σ(βx) ≥ 1/2), and for the sigmoid GELU σ(a) - σ(b) =
   σ(b)σ(-a)·expm1((β - k)x) where |(β - k)x| ≤ 1, so nothing cancels but γ. What remains
   is γ, and for the exact and tanh GELU the crossing σ(βx) = G(x) of two different
   functions (scale: the tails' sum).

No other cancellation is forgiven: the heads' difference of ∂α, the rounding of the
arguments βx, 1.702x, λx, x/√2, v²/2 and the tanh GELU's cubic (compensated in every
namespace), and subnormal intermediates (each result is rounded into the subnormal range
once) are all held to the plain bound.

* An implementation that declares it flushes subnormals to zero in a dtype
  (``flushes_subnormals``, as TensorFlow's CPU kernels do for float64) is held to the
  flush-to-zero bound there, and only below the smallest normal: one ULP is at least the
  smallest normal, so a subnormal input, result or intermediate read as 0 is not an error,
  and nothing else is relaxed. A subnormal parameter is read as a zero of its sign too: the
  result may then match the oracle at the flushed parameter instead (``checks.compare``),
  and a table entry that is subnormal may be a zero. The report marks such dtypes.

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


def error_in_ulps(got: float, exact: mpmath.mpf, scale, dtype: str, distance: float,
                  flush_to_zero: bool = False) -> float:
    """The tolerance-model error of one point (see the module docstring)."""
    if math.isnan(got) or math.isinf(got) or distance == 0 or not mpmath.isfinite(exact):
        return distance
    if scale is None and not flush_to_zero:
        return distance
    with mpmath.workdps(60):
        unit = ulp_of(abs(exact) if scale is None else scale, dtype)
        if flush_to_zero:
            unit = max(unit, mpmath.ldexp(1, FORMATS[dtype].emin))
        relative_to_scale = abs(mpmath.mpf(got) - exact) / unit
    return min(distance, float(relative_to_scale))
