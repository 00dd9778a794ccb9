"""Compensated arguments: error-free transformations and two-term constants.

An exponential turns a relative error δ of its argument u into a relative error |u|·δ of
its result (erfc(t): 2t²·δ), so rounding u = βx once costs |u|·ε/2, hundreds of ULPs in the
tails. The formulas therefore carry each amplified argument as an unevaluated sum hi + lo
(hi the rounded argument, lo its rounding error) and correct the special function to first
order in lo (lo ≤ ulp(hi)/2, so the second-order term is below ε²·u²).

Plain + - × only: Veltkamp splitting and Dekker's product are exact in every IEEE namespace,
and NumPy has no FMA (a namespace with a true one gets each product's error from it,
``xp.product_error``). Compilers do rewrite them, so two guards are applied everywhere:
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
    no longer a product (the zero has p's sign, so -0 stays -0, and it is p exactly: a
    namespace whose arithmetic no compiler contracts, ``xp.may_contract`` False, skips it)."""
    return p + runtime_zero(xp, p) if xp.may_contract else p


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
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker, or the namespace's
    ``product_error``), before the overflow guard."""
    p = rounded(xp, a * b)
    if xp.product_error is not None:
        return p, xp.product_error(a, b, p)
    c = _splitter(xp, a)
    ah, al = _split(xp, a, c)
    bh, bl = _split(xp, b, c)
    return p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl


def two_product_constant(xp: Namespace, a: Array, constants: dict[bool, Constant]) -> tuple[Array, Array]:
    """(p, e) with p = fl(a·c_hi) and a·c = p + e to first order, for a two-term constant c."""
    k = constants[xp.is_double(a)]
    p = rounded(xp, a * k.hi)
    if xp.product_error is not None:
        return p, xp.product_error(a, k.hi, p) + a * k.lo
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


#: (|a| above which :func:`wide_product` scales, the power of two it scales by) per working
#: precision: Veltkamp's c·a overflows from |a| ≈ max/c (2^996.9 in float64, 2^116 in float32)
WIDE_SPLIT = {True: (2.0**995, 2.0**30), False: (2.0**114, 2.0**16)}


def wide_product(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """:func:`product` for an ``a`` up to the largest finite number and a moderate result (βx
    for a tiny slope β and a huge x, which :func:`product` would leave uncompensated where
    splitting a overflows): there a is scaled by 2^-s and b by 2^s first, both exact, so the
    product and its error are a·b's own, bit for bit (neither result can be subnormal). A
    namespace's ``product_error`` (a fused multiply-add) splits nothing, and needs no scaling."""
    if xp.product_error is not None:
        return product(xp, a, b)
    limit, scale = WIDE_SPLIT[xp.is_double(a)]
    zero = runtime_zero(xp, a)
    big = xp.abs(a) > limit
    return product(xp, a * xp.where(big, zero + 1 / scale, zero + 1), b * xp.where(big, zero + scale, zero + 1))


_LN2_EXACT = DECIMAL.ln(decimal.Decimal(2))
#: ln2 = LN2_HI + LN2_LO with LN2_HI of 32 significant bits: k·LN2_HI is exact for |k| < 2^21
LN2_HI = math.ldexp(math.floor(math.ldexp(float(_LN2_EXACT), 32)), -32)
LN2_LO = float(DECIMAL.subtract(_LN2_EXACT, decimal.Decimal(LN2_HI)))
_LN2, _INV_LN2 = float(_LN2_EXACT), float(DECIMAL.divide(1, _LN2_EXACT))
#: |z| up to which :func:`exp_split` reduces: 2^k (|k| ≤ 866) and its Veltkamp product stay
#: normal and finite; beyond, e^z enters the gates' products only as 0 (they keep their
#: exponentials scaled by 2^±600)
EXP_SPLIT_RANGE = 600.0
#: the Taylor degree of e^r on |r| ≤ ln2/2: the first omitted term is below 2^-60
EXP_SPLIT_DEGREE = 14


def exp_split(xp: Namespace, z: Array, z_lo: Array) -> tuple[Array, Array]:
    """e^(z + z_lo) as (e, ρ) with e = exp(z), the framework's, and e^(z + z_lo) = e·(1 + ρ)
    to first order in z_lo: in float64 ρ = z_lo + exp's own error, to ~2^-55, since the
    framework's exp is up to 1.3 ULP off (XLA's), which alone would spend a value bound of
    2 ULP.

    e^z = 2^k·e^r, k = rint(z/ln2), r = z - k·ln2 as r + r_lo (|r| ≤ ln2/2, k·LN2_HI exact),
    e^r = (1 + r) + r²·Σ r^(n-2)/n! (n ≤ 14) as head + low (1 + r an error-free sum), and 2^-k
    the one-bit rounding of exp(-k·ln2) (Veltkamp), exact; then ρ = (head + low - e·2^-k)/head,
    head - e·2^-k exact (Sterbenz), with no intermediate of e's magnitude (whose square a
    forward-mode derivative of a quotient by it overflows). e stays the framework's exp, an op
    that compilers do not duplicate into each consumer, as they do the polynomial's arithmetic
    (XLA:CPU: the Swish forward 3.5× its time with e from the polynomial, 1.6× this way). k
    comes from ``xp.rint``, whose derivative is 0, so autodiff through ρ sees ~0, as it should.
    float32 (the fast tier, within its bounds with the framework's exp) and a float64 result
    rounded to a narrower dtype (``xp.double_word``) get ρ = z_lo, as does |z| >
    EXP_SPLIT_RANGE (where z is replaced by 0 in the reduction, and ρ is 0)."""
    e = xp.exp(z)
    if not xp.double_word(z):
        return e, z_lo
    inside = xp.abs(z) <= EXP_SPLIT_RANGE
    # the reduction sees no infinity (nor its autodiff); z the second branch, which a backend
    # whose where routes the gradient there where both are 0 (torch's) keeps at z = 0
    zi = xp.where(~inside, runtime_zero(xp, z), z)
    k = xp.rint(zi * _INV_LN2)
    r, r_lo = two_sum(zi - k * LN2_HI, -(k * LN2_LO))
    q = 1.0 / math.factorial(EXP_SPLIT_DEGREE)
    for n in range(EXP_SPLIT_DEGREE - 1, 1, -1):
        q = q * r + 1.0 / math.factorial(n)
    one = opaque(xp, 1.0, z)
    head = one + r
    low = (r - (head - one)) + (rounded(xp, r * r) * q + r_lo * (head + r * r * q))
    near_power = xp.exp(-k * _LN2)  # 2^-k within ~|k|·ε
    t = rounded(xp, (2.0**52 + 1) * near_power)
    power = t - (t - near_power)  # rounded to one bit: 2^-k exactly
    # e·2^-k, exact, is head + low but for exp's error; k = r = 0 where z is outside (ρ = z_lo)
    reduced = xp.where(inside, e * power, head)
    return e, z_lo + ((head - reduced) + low) / head
