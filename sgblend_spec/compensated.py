"""Compensated arguments: error-free transformations and two-term constants.

An exponential turns a relative error δ of its argument u into a relative error |u|·δ of
its result (erfc(t): 2t²·δ), so rounding u = βx once costs |u|·ε/2, hundreds of ULPs in the
tails. The formulas therefore carry each amplified argument as an unevaluated sum hi + lo
(hi the rounded argument, lo its rounding error) and correct the special function to first
order in lo (lo ≤ ulp(hi)/2, so the second-order term is below ε²·u²).

Plain + - × only: Veltkamp splitting and Dekker's product are exact in every IEEE namespace,
and NumPy has no FMA. Compilers do rewrite them, so two guards are applied everywhere:
:func:`rounded` keeps a product from being contracted into a following sum (XLA's CPU and
GPU code generators fuse a·b + c into one FMA), and :func:`opaque` keeps a constant from
being reassociated with its neighbours (XLA and Grappler fold (b + c) - c → b for a literal
c). tests/contract/test_compensation.py checks, under every compiler of every backend, the
points where one of these once lost hundreds of ULPs (tests/core/compensation_points.py).

Each function works in the dtype of its arrays (float64, or float32 for the "fast" tier):
the namespace's ``is_double`` picks the splitting constant and the constants' two terms.
"""

from __future__ import annotations

import decimal
import math
import struct
from typing import NamedTuple

from sgblend_spec._namespace import Array, Namespace

#: The decimal context the exact constants are computed in (60 digits)
DECIMAL = decimal.Context(prec=60)
#: π to 60 digits
DECIMAL_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def to_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


class Constant(NamedTuple):
    """A constant c = hi + lo (lo the rounding error of hi) in one working precision, and hi
    split into halves (hi = hh + hl) for Dekker's product."""

    hi: float
    lo: float
    hh: float
    hl: float


def working_constant(exact: decimal.Decimal, double: bool) -> Constant:
    hi = float(exact) if double else to_float32(float(exact))
    lo = float(DECIMAL.subtract(exact, decimal.Decimal(hi)))
    lo = lo if double else to_float32(lo)
    splitter = 134217729.0 if double else 4097.0  # 2^27 + 1, 2^12 + 1
    if double:
        t = splitter * hi
        hh = t - (t - hi)
    else:
        t = to_float32(splitter * hi)
        hh = to_float32(t - to_float32(t - hi))
    return Constant(hi, lo, hh, hi - hh)


def two_term(exact: decimal.Decimal) -> dict[bool, Constant]:
    """The constant per working precision: {is float64: Constant}."""
    return {True: working_constant(exact, True), False: working_constant(exact, False)}


_SQRT_2_OVER_PI = DECIMAL.sqrt(DECIMAL.divide(2, DECIMAL_PI))
#: k = 1.702 (the oracle's exact decimal), 1/√2, 2√(2/π) and 2√(2/π)·0.044715
SLOPE_1702 = two_term(decimal.Decimal("1.702"))
INV_SQRT2 = two_term(DECIMAL.divide(1, DECIMAL.sqrt(decimal.Decimal(2))))
TANH_LINEAR = two_term(DECIMAL.multiply(2, _SQRT_2_OVER_PI))
TANH_CUBIC = two_term(DECIMAL.multiply(DECIMAL.multiply(2, _SQRT_2_OVER_PI), decimal.Decimal("0.044715")))


def _splitter(xp: Namespace, a: Array) -> float:
    return 134217729.0 if xp.is_double(a) else 4097.0


def runtime_zero(xp: Namespace, like: Array) -> Array:
    """0 with ``like``'s dtype, shape and sign (NaN where ``like`` is NaN, 0 at ±inf), computed
    at run time: 0.0·finite(like), which no compiler folds to a literal 0 (0·inf would be NaN).
    A float 0.0: Inductor folds a product with the integer 0 away, which dropped the guard of
    :func:`rounded` and left Triton free to contract λx into Dekker's product (the compiled
    λ-GELU measured 101 ULP on an H100; tests/torch/test_speed_paths.py checks the guard)."""
    return 0.0 * xp.finite(like)


def rounded(xp: Namespace, p: Array) -> Array:
    """The product ``p`` as a rounded value that a compiler cannot contract into a following
    sum: XLA:CPU and GPU code generators fuse a·b + c into one FMA (rounded once), so an
    error-free transformation that reuses the rounded a·b elsewhere sees two different
    products. p + (a runtime zero) is at most an FMA with c = 0, i.e. fl(a·b) itself, and is
    no longer a product (the zero has p's sign, so -0 stays -0)."""
    return p + runtime_zero(xp, p)


def _split(xp: Namespace, a: Array, splitter: float) -> tuple[Array, Array]:
    """Veltkamp: a = hi + lo exactly, each with at most half the significand's bits."""
    t = rounded(xp, splitter * a)
    hi = t - (t - a)
    return hi, a - hi


def finite_low(xp: Namespace, lo: Array, hi: Array) -> Array:
    """lo where it is finite, else 0: splitting overflows for |a| ≳ max/2^27 (max/2^12 in
    float32), and there the argument is so large that its correction must vanish. (0·hi is
    NaN only where hi is NaN, whose result is NaN anyway.)"""
    return xp.where(xp.abs(lo) < math.inf, lo, runtime_zero(xp, hi))


def two_product(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker), before the overflow guard."""
    c = _splitter(xp, a)
    p = rounded(xp, a * b)
    ah, al = _split(xp, a, c)
    bh, bl = _split(xp, b, c)
    return p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl


def two_product_constant(xp: Namespace, a: Array, constants: dict[bool, Constant]) -> tuple[Array, Array]:
    """(p, e) with p = fl(a·c_hi) and a·c = p + e to first order, for a two-term constant c."""
    k = constants[xp.is_double(a)]
    p = rounded(xp, a * k.hi)
    ah, al = _split(xp, a, _splitter(xp, a))
    e = (((ah * k.hh - p) + ah * k.hl) + al * k.hh) + al * k.hl
    return p, e + a * k.lo


def two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def opaque(xp: Namespace, c: float, like: Array) -> Array:
    """The constant c as an array (of ``like``'s dtype and shape) that no compiler treats as a
    literal. XLA and Grappler reassociate arithmetic with literals, (b + c) - c → b and
    (a - c₁) - c₂ → a - (c₁ + c₂), which sets a compensation's low part to 0; c plus a
    runtime zero is not a literal. Every constant that enters an error-free sum or a
    scaling by 2^-k goes through here."""
    return c + runtime_zero(xp, like)


def product(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """a·b as hi + lo (lo finite: 0 where the splitting overflows)."""
    p, e = two_product(xp, a, b)
    return p, finite_low(xp, e, p)
