"""Numerically stable values and derivatives, written once against an array namespace.

Every function takes the namespace ``xp`` (see :mod:`sgblend_spec._namespace`) first, then
``x`` and the parameters as arrays that broadcast against ``x``. Parameter partials are
returned per element (the shape of ``x`` broadcast with the parameter); a framework
binding reduces them to the parameter's shape.

Stability rules (SPEC-NOTES "Numerics"), applied throughout:

* the logistic is built from ``e = exp(-|u|)`` only, so it never overflows, and
  ``σ(-u)`` is computed as ``σ(-u)``, never ``1 - σ(u)``;
* ``Φ(v) = erfc(|v|/√2)/2`` for v < 0 and ``1 - erfc(|v|/√2)/2`` otherwise, never
  ``(1 + erf(v/√2))/2``; so no factor of a product exceeds 1 in magnitude except x, and
  a compiler that reassociates products (TensorFlow's graph optimiser moves constant
  factors outward) cannot overflow one whose result is finite;
* ``x²·t`` for a vanishing ``t`` is ``x·(x·t)``, so it cannot become ``inf·0``;
* in a product whose other factor vanishes at x = ±inf (a tail of σ or φ), an infinite
  factor is first made the largest finite number (``xp.finite``), so the product is that
  zero, the limit, instead of ``inf·0 = NaN``. A clamp per factor is much cheaper than a
  select per product, and NaN stays NaN through it;
* every argument an exponential or erfc amplifies (βx, 1.702x, λx, |v|/√2, v²/2, the tanh
  GELU's z) is carried as hi + lo from an error-free product (Veltkamp/Dekker with plain
  arithmetic, two-term constants for 1.702, 1/√2, 2√(2/π), 2√(2/π)·0.044715 and k·ln2)
  and the special function is corrected to first order in lo; lo is 0 wherever the
  splitting overflows, so ±0, ±inf, NaN and subnormals keep their special values;
* a result that may be subnormal is rounded there once: the exponentials are kept scaled
  by 2^k where they would underflow (k = 600 in float64, 64 in float32), the blends fold
  their weights into the tail products, and Φ's far tail is φ(v) times the Mills ratio's
  asymptotic series rather than erfc's own (subnormal, bit-losing) result;
* differences of near-equal quantities are formed from tails: ∂F/∂α's x·σ(βx) - g(x) as
  x·(Ḡ(x) - σ̄(βx)) where the heads are near 1, and for the sigmoid GELU as
  x·σ(kx)σ(-βx)·expm1((β - k)x) where |(β - k)x| ≤ 1, exact at β = k.

Each formula works in the dtype of its arrays (float64, or float32 for the "fast" tier):
the namespace's ``is_double`` picks the splitting constant and the constants' two terms.
"""

from __future__ import annotations

import decimal
import math
import struct
from typing import Callable, NamedTuple

from sgblend_spec._namespace import Array, Namespace

#: slope of the sigmoid GELU, x·σ(1.702x)
SIGMOID_GELU_SLOPE = 1.702
#: √(2/π) and the cubic coefficient of the tanh GELU
TANH_GELU_SCALE = math.sqrt(2.0 / math.pi)
TANH_GELU_CUBIC = 0.044715

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT2 = math.sqrt(2.0)


# ----------------------------------------------------------------------------- compensated arguments
# An exponential turns a relative error δ of its argument u into a relative error |u|·δ of
# its result (erfc(t): 2t²·δ), so rounding u = βx once costs |u|·ε/2, hundreds of ULPs in
# the tails. Each amplified argument is therefore carried as an unevaluated sum hi + lo
# (hi the rounded argument, lo its rounding error, from an error-free product) and the
# special function is corrected to first order in lo (lo ≤ ulp(hi)/2, so the second-order
# term is below ε²·u²). Plain + - × only: Veltkamp splitting and Dekker's product are exact
# in every IEEE namespace, and NumPy has no FMA. Compilers must not reassociate them (XLA,
# Grappler and inductor keep IEEE semantics by default; each backend tests the low part
# survives, tests/core/test_compensation.py lists points where it matters).
_D = decimal.Context(prec=60)
_PI = decimal.Decimal("3.14159265358979323846264338327950288419716939937510582097494")


def _to_float32(value: float) -> float:
    return struct.unpack("f", struct.pack("f", value))[0]


class Constant(NamedTuple):
    """A constant c = hi + lo (lo the rounding error of hi) in one working precision, and hi
    split into halves (hi = hh + hl) for Dekker's product."""

    hi: float
    lo: float
    hh: float
    hl: float


def _constant(exact: decimal.Decimal, double: bool) -> Constant:
    hi = float(exact) if double else _to_float32(float(exact))
    lo = float(_D.subtract(exact, decimal.Decimal(hi)))
    lo = lo if double else _to_float32(lo)
    splitter = 134217729.0 if double else 4097.0  # 2^27 + 1, 2^12 + 1
    if double:
        t = splitter * hi
        hh = t - (t - hi)
    else:
        t = _to_float32(splitter * hi)
        hh = _to_float32(t - _to_float32(t - hi))
    return Constant(hi, lo, hh, hi - hh)


def _constants(exact: decimal.Decimal) -> dict[bool, Constant]:
    """The constant per working precision: {is float64: Constant}."""
    return {True: _constant(exact, True), False: _constant(exact, False)}


_SQRT_2_OVER_PI = _D.sqrt(_D.divide(2, _PI))
#: k = 1.702 (the oracle's exact decimal), 1/√2, 2√(2/π) and 2√(2/π)·0.044715
_K = _constants(decimal.Decimal("1.702"))
_INV_SQRT2_C = _constants(_D.divide(1, _D.sqrt(decimal.Decimal(2))))
_C2 = _constants(_D.multiply(2, _SQRT_2_OVER_PI))
_C2A = _constants(_D.multiply(_D.multiply(2, _SQRT_2_OVER_PI), decimal.Decimal("0.044715")))


def _splitter(xp: Namespace, a: Array) -> float:
    return 134217729.0 if xp.is_double(a) else 4097.0


def _split(a: Array, splitter: float) -> tuple[Array, Array]:
    """Veltkamp: a = hi + lo exactly, each with at most half the significand's bits."""
    t = splitter * a
    hi = t - (t - a)
    return hi, a - hi


def _finite_low(xp: Namespace, lo: Array, hi: Array) -> Array:
    """lo where it is finite, else 0: splitting overflows for |a| ≳ max/2^27 (max/2^12 in
    float32), and there the argument is so large that its correction must vanish. (0·hi is
    NaN only where hi is NaN, whose result is NaN anyway.)"""
    return xp.where(xp.abs(lo) < math.inf, lo, 0 * xp.finite(hi))


def two_product(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """(p, e) with p = fl(a·b) and a·b = p + e exactly (Dekker), before the overflow guard."""
    c = _splitter(xp, a)
    p = a * b
    ah, al = _split(a, c)
    bh, bl = _split(b, c)
    return p, (((ah * bh - p) + ah * bl) + al * bh) + al * bl


def two_product_constant(xp: Namespace, a: Array, constants: dict[bool, Constant]) -> tuple[Array, Array]:
    """(p, e) with p = fl(a·c_hi) and a·c = p + e to first order, for a two-term constant c."""
    k = constants[xp.is_double(a)]
    p = a * k.hi
    ah, al = _split(a, _splitter(xp, a))
    e = (((ah * k.hh - p) + ah * k.hl) + al * k.hh) + al * k.hl
    return p, e + a * k.lo


def two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """(s, e) with s = fl(a + b) and a + b = s + e exactly (Knuth)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def product(xp: Namespace, a: Array, b: Array) -> tuple[Array, Array]:
    """a·b as hi + lo (lo finite: 0 where the splitting overflows)."""
    p, e = two_product(xp, a, b)
    return p, _finite_low(xp, e, p)


# ----------------------------------------------------------------------------- building blocks
#: 2^k·φ is what :class:`Normal` keeps (k = 600 in float64, 64 in float32): e^(k·ln2 - v²/2)
#: stays finite for every v and normal wherever a product a·φ(v) with a ≤ v²·λ can be, and
#: the final ·2^-k rounds into the subnormal range once.
_PDF_SCALE = {True: 600, False: 64}
_LN2_TIMES = {d: _constant(_D.multiply(k, _D.ln(decimal.Decimal(2))), d) for d, k in _PDF_SCALE.items()}
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Logistic:
    """σ(u), σ(-u) and the products the formulas need, from the one exponential e^(-|u|).

    Where e^(-|u|) may be subnormal (|u| > k·ln2; k = 600 in float64, 64 in float32) it is
    kept scaled, e_s = e^(k·ln2 - |u|) = 2^k·e^(-|u|) (the argument compensated, like u
    itself), and a product with a vanishing logistic factor is formed as (a·t)·2^-k with
    t = e_s/(1 + e^(-|u|)) = 2^k·σ(-|u|): the only rounding into the subnormal range is the
    last one (in float64 e^(-|u|) is subnormal for |u| > 708 while a·e^(-|u|) may not be),
    and no intermediate exceeds |a| (t ≤ 1, the shift applying only where t is small). Such
    an ``a`` may be infinite only where the factor is exactly 0 (u = ±inf), so it is clamped
    to finite first. One exponential, not the square of e^(-|u|/2), whose error the square
    would double.
    """

    def __init__(self, xp: Namespace, u: Array, u_lo: Array | None = None):
        self.xp, self.u = xp, u
        self.abs_u = xp.abs(u)
        self.positive = u >= 0
        double = xp.is_double(u)
        k, shift = _PDF_SCALE[double], _LN2_TIMES[double]
        zero = 0 * xp.finite(self.abs_u)
        big = self.abs_u > shift.hi
        # s = [k·ln2] - |u + u_lo| as s_hi + s_lo
        s_hi, s_lo = two_sum(xp.where(big, zero + shift.hi, zero), -self.abs_u)
        s_lo = s_lo + xp.where(big, zero + shift.lo, zero)
        if u_lo is not None:
            s_lo = s_lo - xp.where(self.positive, u_lo, -u_lo)
        s_lo = _finite_low(xp, s_lo, s_hi)
        e_s = xp.exp(s_hi)
        e_s = e_s + e_s * s_lo  # first order: e^(s_hi + s_lo)
        self.down = xp.where(big, zero + 2.0**-k, zero + 1)
        self.down_half = xp.where(big, zero + 2.0 ** -(k // 2), zero + 1)
        self.e = e_s * self.down
        self.d = 1 + self.e
        self.r = 1 / self.d
        self.t = e_s / self.d  # 2^k·σ(-|u|)

    def times_sigma(self, a: Array) -> Array:
        """a·σ(u)."""
        xp = self.xp
        return xp.where(self.positive, a / self.d, (xp.finite(a) * self.t) * self.down)

    def times_sigma_bar(self, a: Array) -> Array:
        """a·σ(-u)."""
        xp = self.xp
        return xp.where(self.positive, (xp.finite(a) * self.t) * self.down, a / self.d)

    @property
    def sigma(self) -> Array:
        """σ(u)."""
        return self.xp.where(self.positive, self.r, self.t * self.down)

    @property
    def sigma_bar(self) -> Array:
        """σ(-u)."""
        return self.xp.where(self.positive, self.t * self.down, self.r)

    def sigma_times(self, a: Array, b: Array) -> Array:
        """a·σ(u) + b·σ(u)σ(-u), formed as σ(u)·(a + b·σ(-u)): one product, so a σ(u) that is
        subnormal (u ≲ -87 in float32) is never a term of a sum, which flush-to-zero
        arithmetic (TensorFlow's and XLA's float32 kernels) would drop."""
        return self.times_sigma(a + self.times_sigma_bar(b))

    def times_s_s_bar(self, a: Array) -> Array:
        """a·σ(u)σ(-u) = ((a·t)·r)·2^-k."""
        return ((self.xp.finite(a) * self.t) * self.r) * self.down

    def u_tanh_half(self) -> Array:
        """u·tanh(u/2) = |u|·(1 - e^(-|u|))/(1 + e^(-|u|)); expm1 keeps it exact near 0."""
        return self.abs_u * (-self.xp.expm1(-self.abs_u) * self.r)


def sigmoid(xp: Namespace, z: Array) -> Array:
    """σ(z) = 1/(1 + e^(-z)), stable for every finite and infinite z."""
    return Logistic(xp, z).sigma


def _logistic_curvature(lg: Logistic, scale: Array) -> Array:
    """scale·S(u), S(u) = σ(u)σ(-u)·(2 - u·tanh(u/2)), the second derivative of u·σ(u) in u."""
    return lg.times_s_s_bar(scale * (2 - lg.u_tanh_half()))


class Normal:
    """Φ(v) and products with φ(v) = e^(-v²/2)/√(2π).

    Φ(v) = c for v < 0 and 1 - c otherwise, with c = erfc(|v|/√2)/2 ≤ 1/2: the same
    accuracy as erfc(-v/√2)/2 (the C library computes erfc of a negative argument as 2 minus
    the tail), but no factor of 2 that a reassociated x·(erfc/2) could overflow near the
    largest float64.

    φ is kept scaled, φ_s = 2^k·φ(v) = e^(k·ln2 - v²/2)/√(2π) with the argument compensated,
    and a·φ is formed as (a·φ_s)·2^-k: φ's own underflow (v ≳ 37.6 in float64) does not take
    a normal-range product such as λ(2 - v²)φ(v) with it, and a subnormal result is rounded
    once. (One exponential, not the square of e^(-v²/4), whose error the square doubles.)
    """

    def __init__(self, xp: Namespace, v: Array, v_lo: Array | None = None):
        self.xp = xp
        double = xp.is_double(v)
        negative = v < 0
        # |v| as a select, whose autodiff derivative at v = 0 is 1 (that of abs may be 0)
        abs_v = xp.where(negative, -v, v)
        # t = |v + v_lo|/√2 as t_hi + t_lo (1/√2 a two-term constant), and v² as p_hi + p_lo:
        # erfc(t) and e^(-v²/2) amplify their arguments' rounding by 2t² and v²/2.
        t_hi, t_lo = two_product_constant(xp, abs_v, _INV_SQRT2_C)
        p_hi, p_lo = two_product(xp, v, v)
        if v_lo is not None:
            t_lo = t_lo + xp.where(negative, -v_lo, v_lo) * _INV_SQRT2
            p_lo = p_lo + 2 * (v * v_lo)
        t_lo, p_lo = _finite_low(xp, t_lo, t_hi), _finite_low(xp, p_lo, p_hi)
        self.v2, self.v2_lo = p_hi, p_lo
        # s = k·ln2 - v²/2 as s_hi + s_lo, then 2^k·φ = e^(s_hi)·(1 + s_lo)/√(2π)
        scale = _LN2_TIMES[double]
        s_hi, s_lo = two_sum(scale.hi, -0.5 * p_hi)
        s_lo = _finite_low(xp, s_lo + (scale.lo - 0.5 * p_lo), s_hi)
        e = xp.exp(s_hi)
        self.pdf_scaled = (e + e * s_lo) * _INV_SQRT_2PI
        self.down = 2.0 ** -_PDF_SCALE[double]
        # erfc(t_hi + t_lo) = erfc(t_hi) - t_lo·(2/√π)e^(-t²), and e^(-t²)/√π = √2·φ(v)
        tail = 0.5 * xp.erfc(t_hi) - self.times_pdf(_SQRT2 * t_lo)
        # Far out, Φ(-|v|) = φ(v)·R(1/v²)/|v| (the Mills ratio's asymptotic series, 8 terms:
        # exact to 2e-19 from |v| = 37, 1e-11 from 12): a product with φ, so a·Φ(-|v|) is
        # rounded into the subnormal range once, where erfc's own result (subnormal from
        # |v| ≈ 37.5 in float64, 13 in float32) would have lost its bits.
        far = 37.0 if double else 12.0
        self.negative, self.asymptotic = negative, abs_v >= far
        m = xp.where(self.asymptotic, abs_v, far + 0 * abs_v)
        w = 1 / (m * m)
        series = 1 - 13 * w
        for k in (11, 9, 7, 5, 3, 1):
            series = 1 - (k * w) * series
        self.mills = series / m
        self.erfc_tail = tail
        self.tail = xp.where(self.asymptotic, self.times_pdf(self.mills), tail)
        self.cdf = xp.where(negative, self.tail, 1 - self.tail)

    def times_pdf(self, a: Array) -> Array:
        """a·φ(v) = (a·2^k·φ)·2^-k (``a`` infinite only where φ = 0)."""
        return (self.xp.finite(a) * self.pdf_scaled) * self.down

    def times_tail(self, a: Array) -> Array:
        """a·Φ(-|v|), rounded into the subnormal range once (``a`` infinite only where it is 0)."""
        xp = self.xp
        fa = xp.finite(a)
        return xp.where(self.asymptotic, ((fa * self.mills) * self.pdf_scaled) * self.down, fa * self.erfc_tail)

    def cdf_times(self, a: Array, b: Array, v: Array) -> Array:
        """a·Φ(v) + b·φ(v); in the far negative tail as φ(v)·(a·R + b), one product, so a Φ(v)
        that is subnormal is never a term of a sum (flush-to-zero arithmetic would drop it)."""
        xp = self.xp
        far = self.negative & self.asymptotic
        return xp.where(far, self.times_pdf(a * self.mills + b), self.times_cdf(a, v) + self.times_pdf(b))

    def times_cdf(self, a: Array, v: Array) -> Array:
        """a·Φ(v): a = ±inf gives ±inf where Φ(v) = 1, 0 where Φ(v) = 0."""
        return self.xp.where(self.negative, self.times_tail(a), a * self.cdf)

    def times_cdf_bar(self, a: Array) -> Array:
        """a·Φ(-v)."""
        return self.xp.where(self.negative, a * (1 - self.tail), self.times_tail(a))


# ----------------------------------------------------------------------------- Swish-β
def _swish_logistic(xp: Namespace, x: Array, beta: Array) -> Logistic:
    """The logistic of u = βx, with β = 0 giving u = 0 even at x = ±inf."""
    if beta is SIGMOID_GELU_SLOPE:  # the constant k = 1.702, as the two-term constant
        u, u_lo = two_product_constant(xp, x, _K)
        return Logistic(xp, u, _finite_low(xp, u_lo, u))
    if isinstance(beta, (int, float)) and beta != 0:  # another constant slope (exact)
        u, u_lo = two_product(xp, x, beta)
        return Logistic(xp, u, _finite_low(xp, u_lo, u))
    u, u_lo = product(xp, x, beta)
    # x·β stays the selected branch wherever x is finite, so autodiff through this sees
    # ∂u/∂β = x at β = 0 too.
    return Logistic(xp, xp.where((beta == 0) & (xp.abs(x) == math.inf), 0 * beta + 0 * xp.finite(x), u), u_lo)


def _swish_dx(lg: Logistic) -> Array:
    return lg.sigma_times(1, lg.u)


def _swish_dbeta(xp: Namespace, lg: Logistic, x: Array, scale: Array = 1.0) -> Array:
    """scale·x²σ(u)σ(-u) = (scale·x·t·2^-k/2)·(x·r·2^-k/2) for 0 < scale ≤ 1: no
    intermediate overflow where the result is finite (x² alone overflows from |x| ≈ 1.3e154
    in float64), the 2^-k shared between the two factors."""
    fx = xp.finite(x)
    return (scale * ((fx * lg.t) * lg.down_half)) * ((fx * lg.r) * lg.down_half)


def swish(xp: Namespace, x: Array, beta: Array) -> Array:
    """x·σ(βx)."""
    return _swish_logistic(xp, x, beta).times_sigma(x)


def swish_grad(xp: Namespace, x: Array, beta: Array) -> dict[str, Array]:
    """∂x = σ(u)(1 + u·σ(-u)),  ∂β = x²·σ(u)σ(-u),  u = βx."""
    lg = _swish_logistic(xp, x, beta)
    return {"x": _swish_dx(lg), "beta": _swish_dbeta(xp, lg, x)}


def swish_dxx(xp: Namespace, x: Array, beta: Array) -> Array:
    """∂²x = β·σ(u)σ(-u)·(2 - u·tanh(u/2)),  u = βx."""
    return _logistic_curvature(_swish_logistic(xp, x, beta), beta)


# ----------------------------------------------------------------------------- SSwish
def sswish(xp: Namespace, x: Array, beta: Array, gamma: Array) -> Array:
    """x·σ(βx) - γ."""
    return swish(xp, x, beta) - gamma


def sswish_grad(xp: Namespace, x: Array, beta: Array, gamma: Array) -> dict[str, Array]:
    """∂x, ∂β as Swish-β;  ∂γ = -1."""
    partials = swish_grad(xp, x, beta)
    partials["gamma"] = 0 * partials["x"] - 1
    return partials


def sswish_dxx(xp: Namespace, x: Array, beta: Array, gamma: Array) -> Array:
    """β·S(βx)."""
    return swish_dxx(xp, x, beta) + 0 * gamma


# ----------------------------------------------------------------------------- GELU, three forms
def gelu(xp: Namespace, x: Array) -> Array:
    """x·Φ(x) (exact GELU)."""
    return lambda_gelu(xp, x, 1.0)


def gelu_grad(xp: Namespace, x: Array) -> dict[str, Array]:
    """∂x = Φ(x) + x·φ(x)."""
    return {"x": lambda_gelu_grad(xp, x, 1.0)["x"]}


def gelu_dxx(xp: Namespace, x: Array) -> Array:
    """φ(x)(2 - x²)."""
    return lambda_gelu_dxx(xp, x, 1.0)


def _tanh_gelu_argument(xp: Namespace, x: Array) -> tuple[Logistic, Array, Array]:
    """σ(z), z = 2c(x + a·x³) carried as z_hi + z_lo, and z', z'', so that
    ½x(1 + tanh(z/2)) = x·σ(z)."""
    x2, x2_lo = two_product(xp, x, x)
    # w = 2c + 2ca·x² as w_hi + w_lo, then z = x·w
    cubic, cubic_lo = two_product_constant(xp, x2, _C2A)
    c2 = _C2[xp.is_double(x)]
    w, w_lo = two_sum(c2.hi, cubic)
    w_lo = w_lo + (c2.lo + (cubic_lo + _C2A[True].hi * x2_lo))
    z, z_lo = two_product(xp, x, w)
    z_lo = _finite_low(xp, z_lo + x * w_lo, z)
    dz = c2.hi + (3 * _C2A[True].hi) * x2
    d2z = (6 * _C2A[True].hi) * x
    return Logistic(xp, z, z_lo), dz, d2z


def gelu_tanh(xp: Namespace, x: Array) -> Array:
    """½x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(z), z = 2√(2/π)(x + 0.044715x³)."""
    lg, _, _ = _tanh_gelu_argument(xp, x)
    return lg.times_sigma(x)


def gelu_tanh_grad(xp: Namespace, x: Array) -> dict[str, Array]:
    """∂x = σ(z) + x·z'·σ(z)σ(-z)."""
    lg, dz, _ = _tanh_gelu_argument(xp, x)
    return {"x": lg.sigma_times(1, x * dz)}


def gelu_tanh_dxx(xp: Namespace, x: Array) -> Array:
    """σ(z)σ(-z)·(2z' + x·z'' - x·z'²·tanh(z/2))."""
    return _tanh_curvature(xp, x)


def _tanh_curvature(xp: Namespace, x: Array, w: Array = 1.0) -> Array:
    """w·∂²/∂x² of the tanh GELU."""
    lg, dz, d2z = _tanh_gelu_argument(xp, x)
    # x·tanh(z/2) = |x|·(1 - e^(-|z|))/(1 + e^(-|z|)) since sign z = sign x.
    x_tanh_half = xp.abs(x) * (-xp.expm1(-lg.abs_u) * lg.r)
    inner = 2 * dz + x * d2z - dz * dz * x_tanh_half
    # Where σσ̄ has vanished (|x| huge or infinite), inner may be inf - inf: the limit is 0.
    return lg.times_s_s_bar(w * xp.where(lg.t == 0, lg.t, inner))


def gelu_sigmoid(xp: Namespace, x: Array) -> Array:
    """x·σ(1.702x)."""
    return swish(xp, x, SIGMOID_GELU_SLOPE)


def gelu_sigmoid_grad(xp: Namespace, x: Array) -> dict[str, Array]:
    """∂x = σ(kx)(1 + kx·σ(-kx)), k = 1.702."""
    return {"x": swish_grad(xp, x, SIGMOID_GELU_SLOPE)["x"]}


def gelu_sigmoid_dxx(xp: Namespace, x: Array) -> Array:
    """k·S(kx), k = 1.702."""
    return swish_dxx(xp, x, SIGMOID_GELU_SLOPE)


# ----------------------------------------------------------------------------- λ-GELU
def _lambda_normal(xp: Namespace, x: Array, lam: Array) -> tuple[Array, Normal]:
    """v = λx (as v_hi + v_lo) and its :class:`Normal`; λ = 1 (the exact GELU) is exact."""
    if isinstance(lam, (int, float)) and lam == 1:
        return x, Normal(xp, x)
    v, v_lo = product(xp, lam, x)
    return v, Normal(xp, v, v_lo)


def lambda_gelu(xp: Namespace, x: Array, lam: Array) -> Array:
    """x·Φ(λx)."""
    v, n = _lambda_normal(xp, x, lam)
    return n.times_cdf(x, v)


def lambda_gelu_grad(xp: Namespace, x: Array, lam: Array) -> dict[str, Array]:
    """∂x = Φ(v) + v·φ(v),  ∂λ = x²·φ(v),  v = λx."""
    v, n = _lambda_normal(xp, x, lam)
    return {"x": n.cdf_times(1 + 0 * xp.finite(v), v, v), "lam": n.times_pdf(x * x)}


def lambda_gelu_dxx(xp: Namespace, x: Array, lam: Array) -> Array:
    """λ·φ(v)(2 - v²),  v = λx; 2 - v² from v² = p_hi + p_lo, exact near its root √2."""
    v, n = _lambda_normal(xp, x, lam)
    return n.times_pdf(lam * ((2 - n.v2) - n.v2_lo))


# ----------------------------------------------------------------------------- SG-Blend
# The blend's terms are formed with their weight folded into the product that may round into
# the subnormal range (w·x·σ(u) as σ applied to w·x), so that each term is rounded there once.
def _gelu_sigmoid_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Logistic]:
    lg = _swish_logistic(xp, x, SIGMOID_GELU_SLOPE)
    return lg.times_sigma(w * x), lg.sigma_times(w, w * lg.u), lg


def _gelu_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Normal]:
    n = Normal(xp, x)
    return n.times_cdf(w * x, x), n.cdf_times(w, w * x, x), n


def _gelu_tanh_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Logistic]:
    lg, dz, _ = _tanh_gelu_argument(xp, x)
    return lg.times_sigma(w * x), lg.sigma_times(w, (w * x) * dz), lg


def _gelu_sigmoid_curvature(xp: Namespace, x: Array, w: Array) -> Array:
    return _logistic_curvature(_swish_logistic(xp, x, SIGMOID_GELU_SLOPE), w * SIGMOID_GELU_SLOPE)


def _gelu_curvature(xp: Namespace, x: Array, w: Array) -> Array:
    n = Normal(xp, x)
    return n.times_pdf(w * ((2 - n.v2) - n.v2_lo))


def _gelu_tanh_curvature(xp: Namespace, x: Array, w: Array) -> Array:
    return _tanh_curvature(xp, x, w)


#: The GELU each SG-Blend variant blends with: name -> (w·value, w·∂x and its σ or Φ; w·∂²x).
BLEND_BASES = {
    "gelu_sigmoid": (_gelu_sigmoid_parts, _gelu_sigmoid_curvature),
    "gelu": (_gelu_parts, _gelu_curvature),
    "gelu_tanh": (_gelu_tanh_parts, _gelu_tanh_curvature),
}


def _blend_weights(xp: Namespace, alpha: Array) -> tuple[Array, Array]:
    """(a, 1 - a) with a = σ(α), both from one exponential."""
    lg = Logistic(xp, alpha)
    return lg.sigma, lg.sigma_bar


def _swish_minus_gelu(xp: Namespace, base: str, x: Array, beta: Array, lg: Logistic, g_of, s: Array) -> Array:
    """s·(x·σ(βx) - g(x)) = s·x·(σ(βx) - G(x)) (G = σ(kx), Φ(x) or σ(z)) without cancellation.

    Where σ(βx) ≥ 1/2 the two near-1 heads are replaced by their tails,
    s·x·(Ḡ(x) - σ̄(βx)); otherwise both are tails already. For the sigmoid GELU
    σ(a) - σ(b) = σ(b)·σ(-a)·expm1(a - b) with a - b = (β - k)·x formed exactly where
    β ≈ k, so nothing cancels even at β = k; it is used where |a - b| ≤ 1, the tail form
    elsewhere (there the tails differ by a factor e or more). What remains is the true root
    σ(βx) = G(x) of two different functions (the exact and tanh GELU)."""
    sx = s * x
    if base == "gelu":
        heads = lg.times_sigma(sx) - g_of.times_cdf(sx, x)
        tails = g_of.times_cdf_bar(sx) - lg.times_sigma_bar(sx)
    else:
        heads = lg.times_sigma(sx) - g_of.times_sigma(sx)
        tails = g_of.times_sigma_bar(sx) - lg.times_sigma_bar(sx)
    difference = xp.where(lg.positive, tails, heads)
    if base == "gelu_sigmoid":
        k = _K[xp.is_double(x)]
        d = ((beta - k.hi) - k.lo) * x  # a - b; β - k_hi is exact wherever β ≈ k
        near = lg.times_sigma_bar(g_of.times_sigma(sx * xp.expm1(d)))
        difference = xp.where(xp.abs(d) <= 1, near, difference)
    # β = 0 at x = ±inf (the tails' clamp to finite does not apply there): the spec's limits,
    # 0 at +inf (equal leading terms x·σ(0)·2 and x, spec._blend_limits) and -inf at -inf
    at_inf = xp.where(x > 0, 0 * (s * xp.finite(x)), -s * xp.abs(x))
    return xp.where((beta == 0) & (xp.abs(x) == math.inf), at_inf, difference)


def blend(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·SSwish(x; β, γ) + (1 - a)·g(x),  a = σ(α), g the named GELU form."""
    a, a_bar = _blend_weights(xp, alpha)
    g, _, _ = BLEND_BASES[base][0](xp, x, a_bar)
    return (_swish_logistic(xp, x, beta).times_sigma(a * x) - a * gamma) + g


def blend_grad(
    xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array
) -> dict[str, Array]:
    """∂x = a·SSwish' + (1-a)·g',  ∂α = a(1-a)(SSwish - g),  ∂β = a·x²σσ̄(βx),  ∂γ = -a."""
    a, a_bar = _blend_weights(xp, alpha)
    lg = _swish_logistic(xp, x, beta)
    _, g_dx, g_of = BLEND_BASES[base][0](xp, x, a_bar)
    s = a * a_bar
    return {
        "x": lg.sigma_times(a, a * lg.u) + g_dx,
        "alpha": _swish_minus_gelu(xp, base, x, beta, lg, g_of, s) - s * gamma,
        "beta": _swish_dbeta(xp, lg, x, a),
        "gamma": 0 * g_dx - a,
    }


def blend_dxx(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·β·S(βx) + (1 - a)·g''(x)."""
    a, a_bar = _blend_weights(xp, alpha)
    return _logistic_curvature(_swish_logistic(xp, x, beta), a * beta) + BLEND_BASES[base][1](xp, x, a_bar) + 0 * gamma


def sgblend(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """σ(α)·SSwish(x; β, γ) + σ(-α)·x·σ(1.702x), the authors' SG-Blend."""
    return blend(xp, "gelu_sigmoid", x, alpha, beta, gamma)


def sgblend_grad(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> dict[str, Array]:
    """Partials of :func:`sgblend` in x, α (raw), β, γ."""
    return blend_grad(xp, "gelu_sigmoid", x, alpha, beta, gamma)


def sgblend_dxx(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """Second derivative of :func:`sgblend` in x."""
    return blend_dxx(xp, "gelu_sigmoid", x, alpha, beta, gamma)


def sgblend_gelu(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """SG-Blend variant blending with the exact GELU x·Φ(x)."""
    return blend(xp, "gelu", x, alpha, beta, gamma)


def sgblend_gelu_grad(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> dict[str, Array]:
    """Partials of :func:`sgblend_gelu`."""
    return blend_grad(xp, "gelu", x, alpha, beta, gamma)


def sgblend_gelu_dxx(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """Second derivative of :func:`sgblend_gelu` in x."""
    return blend_dxx(xp, "gelu", x, alpha, beta, gamma)


def sgblend_gelu_tanh(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """SG-Blend variant blending with the tanh GELU."""
    return blend(xp, "gelu_tanh", x, alpha, beta, gamma)


def sgblend_gelu_tanh_grad(
    xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array
) -> dict[str, Array]:
    """Partials of :func:`sgblend_gelu_tanh`."""
    return blend_grad(xp, "gelu_tanh", x, alpha, beta, gamma)


def sgblend_gelu_tanh_dxx(xp: Namespace, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """Second derivative of :func:`sgblend_gelu_tanh` in x."""
    return blend_dxx(xp, "gelu_tanh", x, alpha, beta, gamma)


class Formulas(NamedTuple):
    """The three formulas of one spec function: f, its partials (a dict keyed "x" and each
    parameter name, per element) and ∂²f/∂x². Each takes ``(xp, x, **params)``."""

    value: Callable[..., Array]
    grad: Callable[..., dict[str, Array]]
    dxx: Callable[..., Array]


#: Spec function name -> its formulas; every binding (the NumPy reference and each backend)
#: reads this table, so a reader can follow any public function straight to its formulas.
FORMULAS: dict[str, Formulas] = {
    "swish": Formulas(swish, swish_grad, swish_dxx),
    "gelu": Formulas(gelu, gelu_grad, gelu_dxx),
    "gelu_tanh": Formulas(gelu_tanh, gelu_tanh_grad, gelu_tanh_dxx),
    "gelu_sigmoid": Formulas(gelu_sigmoid, gelu_sigmoid_grad, gelu_sigmoid_dxx),
    "sswish": Formulas(sswish, sswish_grad, sswish_dxx),
    "sgblend": Formulas(sgblend, sgblend_grad, sgblend_dxx),
    "sgblend_gelu": Formulas(sgblend_gelu, sgblend_gelu_grad, sgblend_gelu_dxx),
    "sgblend_gelu_tanh": Formulas(sgblend_gelu_tanh, sgblend_gelu_tanh_grad, sgblend_gelu_tanh_dxx),
    "lambda_gelu": Formulas(lambda_gelu, lambda_gelu_grad, lambda_gelu_dxx),
}


# ----------------------------------------------------------------------------- constraints
#: keras.backend.epsilon(), inside the authors' MinMaxNorm constraint on alpha.
KERAS_EPSILON = 1e-7


def keras_min_max_norm(xp: Namespace, w: Array) -> Array:
    """Keras MinMaxNorm(0, 1) of a scalar weight: w·clip(|w|, 0, 1)/(ε + |w|), ε = 1e-7.

    This is the authors' projection of alpha after every update. It is not a plain clip:
    inside [-1, 1] it still shrinks |w| by about ε per step, which reproducing their
    training numbers requires.
    """
    size = xp.abs(w)
    return w * (xp.where(size > 1, 1 + 0 * size, size) / (KERAS_EPSILON + size))
