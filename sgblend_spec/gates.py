"""The two gates the activations are built from, σ (:class:`Logistic`) and Φ
(:class:`Normal`), with the products the formulas need, each from one exponential.

* σ is built from e = exp(-|u|) only, so it never overflows, and σ(-u) is computed as
  σ(-u), never 1 - σ(u);
* Φ(v) = erfc(|v|/√2)/2 for v < 0 and 1 - erfc(|v|/√2)/2 otherwise, never
  (1 + erf(v/√2))/2, and far out the Mills ratio's series times φ;
* in a product whose other factor vanishes at x = ±inf (a tail of σ or φ), an infinite
  factor is first made the largest finite number (``xp.finite``), so the product is that
  zero, the limit, instead of inf·0 = NaN;
* an exponential that may be subnormal is kept scaled by 2^k (k = 600 in float64, 64 in
  float32) and a product with it is rounded into the subnormal range once, last;
* a sum with a vanishing factor is formed as one product (:meth:`Logistic.sigma_times`,
  :meth:`Normal.cdf_times`), so flush-to-zero arithmetic (TensorFlow's and XLA's float32
  kernels) never drops a subnormal term;
* σ's factors are each one rounded quotient with a first-order relative correction that a
  product applies once, at its end (:func:`corrected`, :meth:`Logistic.split`):
  a chain of products then carries one rounding per product, not three per factor.
"""

from __future__ import annotations

import decimal
import math

from sgblend_spec._namespace import Array, Namespace
from sgblend_spec.compensated import (
    DECIMAL,
    DECIMAL_PI,
    INV_SQRT2,
    exp_split,
    finite_low,
    opaque,
    product,
    runtime_zero,
    two_product,
    two_product_constant,
    two_sum,
    working_constant,
)

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_SQRT2 = math.sqrt(2.0)

#: 2^k·φ is what :class:`Normal` keeps (k = 600 in float64, 64 in float32): e^(k·ln2 - v²/2)
#: stays finite for every v and normal wherever a product a·φ(v) with a ≤ v²·λ can be, and
#: the final ·2^-k rounds into the subnormal range once.
SCALE_EXPONENT = {True: 600, False: 64}
_LN2 = DECIMAL.ln(decimal.Decimal(2))
#: k·ln2 (the logistic's scaling) and k·ln2 - ln√(2π) (φ's, its 1/√(2π) folded into the
#: exponent: one rounding fewer than a product with the rounded constant), two-term
LN2_TIMES_K = {d: working_constant(DECIMAL.multiply(k, _LN2), d) for d, k in SCALE_EXPONENT.items()}
PDF_SHIFT = {d: working_constant(DECIMAL.subtract(DECIMAL.multiply(k, _LN2),
                                                  DECIMAL.divide(DECIMAL.ln(DECIMAL.multiply(2, DECIMAL_PI)), 2)), d)
             for d, k in SCALE_EXPONENT.items()}
#: |v| from which Φ's tail is the Mills series (see :class:`Normal`), per working precision
FAR = {True: 30.0, False: 11.0}


#: Taylor terms of :func:`expm1` on |d| ≤ 1 per working precision: the first omitted one
#: is below 2^-57 (2^-28) of the sum.
EXPM1_TERMS = {True: 18, False: 11}


def expm1(xp: Namespace, d: Array) -> Array:
    """e^d - 1 within ~1 ULP, from exp and arithmetic only: d + d²·(1/2! + d/3! + ...) for
    |d| ≤ 1 (nothing cancels), e^d - 1 beyond (|e^d - 1| > 0.63 there, so neither).

    Not the framework's expm1: inductor's vectorised code computes torch.expm1 as
    exp(d) - 1 (0 for |d| < 2^-24 in float32), and XLA's is up to 4 ULP off; one formula
    gives every backend the same numbers. ±0 keep their sign; ±inf and NaN go to exp."""
    zero = runtime_zero(xp, d)
    small = xp.abs(d) <= 1
    ds = xp.where(small, d, zero)  # the polynomial sees no infinity (nor does its autodiff)
    terms = EXPM1_TERMS[xp.is_double(d)]
    p = 1.0 / math.factorial(terms)
    for n in range(terms - 1, 1, -1):
        p = p * ds + 1.0 / math.factorial(n)
    polynomial = xp.where(ds == 0, ds, ds + (ds * ds) * p)
    return xp.where(small, polynomial, xp.exp(d) - 1)


def corrected(xp: Namespace, t: Array, rho: Array) -> Array:
    """t·(1 + ρ) for a first-order relative correction ρ, rounded once (t = ±inf stays)."""
    return t + xp.finite(t) * rho


class Logistic:
    """σ(u), σ(-u) and the products the formulas need, from the one exponential e^(-|u|).

    Where e^(-|u|) may be subnormal (|u| > k·ln2; k = 600 in float64, 64 in float32) it is
    kept scaled, e_s = e^(k·ln2 - |u|) = 2^k·e^(-|u|) (the argument compensated, like u
    itself), and a product with a vanishing logistic factor is formed as
    (a·sigma_neg_scaled)·unscale, sigma_neg_scaled = e_s/(1 + e^(-|u|)) = 2^k·σ(-|u|) and
    unscale = 2^-k: the only rounding into the subnormal range is the last one (in float64
    e^(-|u|) is subnormal for |u| > 708 while a·e^(-|u|) may not be), and no intermediate
    exceeds |a| (sigma_neg_scaled ≤ 1, the shift applying only where it is small). Such an
    ``a`` may be infinite only where the factor is exactly 0 (u = ±inf), so it is clamped to
    finite first. One exponential, not the square of e^(-|u|/2), whose error the square
    would double.

    Rounding is kept to one step per factor: e^(-|u|) is e_0·(1 + s_lo) with e_0 = e^(s_hi)
    and the denominator 1 + e^(-|u|) is d·(1 + ρ) with d = fl(1 + e) and ρ its exact error over
    d (a fast two-sum); σ(|u|) = (1/d)·(1 - ρ) and 2^k·σ(-|u|) = (e_0/d)·(1 + s_lo - ρ), each a
    rounded quotient times a first-order correction applied once, in the last step of a
    product (:func:`corrected`). The rounding of 1 + e, which both σ(u) and σ(-u) would
    otherwise carry, and that of the correction of e_0 then cost nothing.

    Attributes: ``e_0``, ``denominator`` = d, ``reciprocal`` = fl(1/d), ``ratio_scaled`` =
    fl(e_0/d), their relative corrections ``rho_abs`` = -ρ and ``rho_neg`` = s_lo - ρ,
    ``sigma_abs`` = σ(|u|), ``sigma_neg_scaled`` = 2^k·σ(-|u|), ``unscale`` = 2^-k (1 where
    not scaled) and ``unscale_half`` = 2^(-k/2). In float64, s_lo includes exp's own error
    (:func:`exp_split`).
    """

    def __init__(self, xp: Namespace, u: Array, u_lo: Array | None = None):
        self.xp, self.u = xp, u
        self.abs_u = xp.abs(u)
        self.positive = u >= 0
        double = xp.is_double(u)
        k, shift = SCALE_EXPONENT[double], LN2_TIMES_K[double]
        zero = runtime_zero(xp, self.abs_u)
        big = self.abs_u > shift.hi
        # s = [k·ln2] - |u + u_lo| as s_hi + s_lo
        s_hi, s_lo = two_sum(xp.where(big, zero + shift.hi, zero), -self.abs_u)
        s_lo = s_lo + xp.where(big, zero + shift.lo, zero)
        if u_lo is not None:
            s_lo = s_lo - xp.where(self.positive, u_lo, -u_lo)
        e_0, s_lo = exp_split(xp, s_hi, finite_low(xp, s_lo, s_hi))  # 2^k·e^(-|u|) = e_0·(1 + s_lo)
        self.unscale = xp.where(big, zero + 2.0**-k, zero + 1)
        self.unscale_half = xp.where(big, zero + 2.0 ** -(k // 2), zero + 1)
        # 1 + e^(-|u|) = d + d_lo (fast two-sum: 1 ≥ e; ``one`` opaque, or a compiler folds
        # (1 + e) - 1 to e), then ρ = d_lo/d
        e = e_0 * self.unscale
        one = opaque(xp, 1.0, e)
        d = self.denominator = one + e
        # -ρ and s_lo - ρ, each +0 where ρ = 0: a -0 correction would turn t = -0 into +0
        self.rho_abs = (((d - one) - e) - e * s_lo) / d
        self.rho_neg = s_lo + self.rho_abs
        self.reciprocal = 1 / d
        self.e_0, self.ratio_scaled = e_0, e_0 / d
        self.sigma_abs = corrected(self.xp, self.reciprocal, self.rho_abs)
        self.sigma_neg_scaled = corrected(self.xp, self.ratio_scaled, self.rho_neg)  # 2^k·σ(-|u|)

    def _over_denominator(self, a: Array) -> Array:
        """a·σ(|u|) = (a/d)·(1 - ρ)."""
        return corrected(self.xp, a / self.denominator, self.rho_abs)

    def _times_tail(self, a: Array) -> Array:
        """a·σ(-|u|) = ((a·e_0/d)·(1 + s_lo - ρ))·2^-k (``a`` infinite only where it is 0)."""
        return corrected(self.xp, self.xp.finite(a) * self.ratio_scaled, self.rho_neg) * self.unscale

    def times_sigma(self, a: Array) -> Array:
        """a·σ(u)."""
        return self.xp.where(self.positive, self._over_denominator(a), self._times_tail(a))

    def times_sigma_bar(self, a: Array) -> Array:
        """a·σ(-u)."""
        return self.xp.where(self.positive, self._times_tail(a), self._over_denominator(a))

    def times_sigma_split(self, a: Array, a_lo: Array) -> tuple[Array, Array]:
        """(a + a_lo)·σ(u) as head + low to ~ε² relative, head one rounding of it (float64,
        for a sum rounded once: :func:`sum_split`): a times the rounded reciprocal 1/d (or
        e_0/d) as an error-free product, whose low part takes that quotient's own rounding,
        recovered from the exact remainder (1 - r·d, e_0 - r·d), and the factor's first-order
        correction (``a`` infinite only where σ(u) = 0)."""
        xp = self.xp
        one = opaque(xp, 1.0, self.reciprocal)
        factor = xp.where(self.positive, self.reciprocal, self.ratio_scaled)
        numerator = xp.where(self.positive, one, self.e_0)
        p, p_lo = two_product(xp, factor, self.denominator)
        quotient_error = finite_low(xp, ((numerator - p) - p_lo) / numerator, p)  # 0 where e_0 = 0
        rho = xp.where(self.positive, self.rho_abs, self.rho_neg) + quotient_error
        head, head_lo = product(xp, xp.where(self.positive, a, xp.finite(a)), factor)
        low = head_lo + (head * rho + a_lo * factor)
        # scaled (σ(u) < e^-416): 2^-k·(head + low) rounded once, into the subnormal range where
        # it goes there, as a head alone
        scaled = (self.u < 0) & (self.unscale != 1)
        return (xp.where(scaled, (head + low) * self.unscale, head),
                xp.where(scaled, runtime_zero(xp, low), low))

    @property
    def sigma(self) -> Array:
        """σ(u)."""
        return self.xp.where(self.positive, self.sigma_abs, self.sigma_neg_scaled * self.unscale)

    @property
    def sigma_bar(self) -> Array:
        """σ(-u)."""
        return self.xp.where(self.positive, self.sigma_neg_scaled * self.unscale, self.sigma_abs)

    def sigma_times(self, a: Array, b: Array) -> Array:
        """a·σ(u) + b·σ(u)σ(-u), formed as σ(u)·(a + b·σ(-u)): one product, so a σ(u) that is
        subnormal (u ≲ -87 in float32) is never a term of a sum, which flush-to-zero
        arithmetic (TensorFlow's and XLA's float32 kernels) would drop."""
        return self.times_sigma(a + self.times_sigma_bar(b))

    def times_s_s_bar(self, a: Array, rho: Array = 0.0) -> Array:
        """a·(1 + ρ)·σ(u)σ(-u) = (((a·e_0/d)·(1/d))·(1 + s_lo - 2ρ_d + ρ))·2^-k, for ``a`` given
        with a relative correction ρ of its own (:meth:`split`)."""
        t = (self.xp.finite(a) * self.ratio_scaled) * self.reciprocal
        return corrected(self.xp, t, (self.rho_neg + self.rho_abs) + rho) * self.unscale

    def split(self, tail: bool = False) -> tuple[Array, Array]:
        """(t, ρ) with σ(u) (σ(-u) if ``tail``) = t·(1 + ρ) to first order, t one rounded
        quotient: a factor whose correction a later product applies (:meth:`times_s_s_bar`,
        :func:`corrected`), so that it is rounded once."""
        xp = self.xp
        head = self.positive != tail
        return (xp.where(head, self.reciprocal, self.ratio_scaled * self.unscale),
                xp.where(head, self.rho_abs, self.rho_neg))

    def tanh_half(self) -> Array:
        """tanh(|u|/2) = 1 - 2σ(-|u|) for |u| > 2 (one rounding: the tail's own error is
        scaled by 2σ(-|u|)/tanh ≤ 0.32), else (1 - e^(-|u|))·σ(|u|) with :func:`expm1`
        keeping it exact near 0."""
        return self.xp.where(self.abs_u > 2, 1 - 2 * (self.sigma_neg_scaled * self.unscale),
                             -expm1(self.xp, -self.abs_u) * self.sigma_abs)

    def u_tanh_half(self) -> Array:
        """u·tanh(u/2) = |u|·tanh(|u|/2)."""
        return self.abs_u * self.tanh_half()


def sigmoid(xp: Namespace, z: Array) -> Array:
    """σ(z) = 1/(1 + e^(-z)), stable for every finite and infinite z."""
    return Logistic(xp, z).sigma


def logistic_curvature(lg: Logistic, scale: Array, rho: Array = 0.0) -> Array:
    """scale·(1 + ρ)·S(u), S(u) = σ(u)σ(-u)·(2 - u·tanh(u/2)), the second derivative of
    u·σ(u) in u (ρ: the scale's relative correction, see :meth:`Logistic.split`). u·tanh(u/2)
    is made finite: it is infinite only where σσ̄ = 0, where a scale that underflowed to 0 (a
    blend's weight) must give 0, not 0·inf."""
    return lg.times_s_s_bar(scale * (2 - lg.xp.finite(lg.u_tanh_half())), rho)


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
        self.double_word = xp.double_word(v)
        negative = v < 0
        # |v| as a select, whose autodiff derivative at v = 0 is 1 (that of abs may be 0)
        abs_v = xp.where(negative, -v, v)
        # t = |v + v_lo|/√2 as t_hi + t_lo (1/√2 a two-term constant), and v² as p_hi + p_lo:
        # erfc(t) and e^(-v²/2) amplify their arguments' rounding by 2t² and v²/2.
        t_hi, t_lo = two_product_constant(xp, abs_v, INV_SQRT2)
        p_hi, p_lo = two_product(xp, v, v)
        if v_lo is not None:
            t_lo = t_lo + xp.where(negative, -v_lo, v_lo) * _INV_SQRT2
            p_lo = p_lo + 2 * (v * v_lo)
        t_lo, p_lo = finite_low(xp, t_lo, t_hi), finite_low(xp, p_lo, p_hi)
        self.v2, self.v2_lo = p_hi, p_lo
        # s = k·ln2 - ln√(2π) - v²/2 as s_hi + s_lo, then 2^k·φ = e^(s_hi)·(1 + s_lo)
        scale = PDF_SHIFT[double]
        s_hi, s_lo = two_sum(opaque(xp, scale.hi, p_hi), -0.5 * p_hi)
        e, s_lo = exp_split(xp, s_hi, finite_low(xp, s_lo + (scale.lo - 0.5 * p_lo), s_hi))
        self.pdf_head, self.pdf_low = e, e * s_lo
        self.pdf_scaled = e + self.pdf_low
        self.unscale = opaque(xp, 2.0 ** -SCALE_EXPONENT[double], p_hi)
        # erfc(t_hi + t_lo) = erfc(t_hi) - t_lo·(2/√π)e^(-t²), and e^(-t²)/√π = √2·φ(v)
        self.erfc_head, self.erfc_correction = 0.5 * xp.erfc(t_hi), self.times_pdf(_SQRT2 * t_lo)
        tail = self.erfc_head - self.erfc_correction
        # Far out (|v| ≥ FAR), Φ(-|v|) = φ(v)·R(1/v²)/|v| (the Mills ratio's asymptotic
        # series, 8 terms: the first omitted one is 5e-18 of the sum from |v| = 30, 4e-11
        # from 11): a product with φ, so a·Φ(-|v|) is rounded into the subnormal range once,
        # where erfc's own result (subnormal from |v| ≈ 37.5 in float64, 13 in float32) would
        # have lost its bits, and erfc's first-order correction t_lo·φ(v) (~2t·ε of the tail)
        # stays normal wherever erfc is used (a flush-to-zero kernel would drop it beyond
        # |v| ≈ 36.3 in float64 and 11.9 in float32).
        far = FAR[double]
        self.negative, self.asymptotic = negative, abs_v >= far
        m = xp.where(self.asymptotic, xp.finite(abs_v), far + 0 * abs_v)  # finite: q = a/m below
        w = 1 / (m * m)
        rest = 1 - 13 * w  # R = 1 - w·rest
        for k in (11, 9, 7, 5, 3):
            rest = 1 - (k * w) * rest
        self.mills = (1 - w * rest) / m
        self._far = (m, w, rest)
        self.tail = xp.where(self.asymptotic, self.times_pdf(self.mills), tail)
        self.cdf = xp.where(negative, self.tail, 1 - self.tail)

    def times_pdf(self, a: Array) -> Array:
        """a·φ(v) = (a·2^k·φ)·2^-k (``a`` infinite only where φ = 0)."""
        return (self.xp.finite(a) * self.pdf_scaled) * self.unscale

    def times_tail(self, a: Array) -> Array:
        """a·Φ(-|v|), rounded into the subnormal range once (``a`` infinite only where it is 0).
        For a float64 result as double-word products (:meth:`_times_mills_pdf`,
        :meth:`_times_erfc`), which its value bound needs; in float32 (the fast tier, within its
        bound without them) and for a float64 result rounded to a narrower dtype as plain ones
        (the two cost λ-GELU 5-25 % of its time under XLA:CPU, measured)."""
        xp = self.xp
        fa = xp.finite(a)
        if not self.double_word:
            return xp.where(self.asymptotic, ((fa * self.mills) * self.pdf_scaled) * self.unscale,
                            fa * (self.erfc_head - self.erfc_correction))
        (far, far_lo), (near, near_lo) = self._times_mills_pdf(fa), self._times_erfc(fa)
        return xp.where(self.asymptotic, (far + far_lo) * self.unscale, near + near_lo)

    def _times_erfc(self, a: Array) -> tuple[Array, Array]:
        """a·(erfc(t_hi)/2 - correction) as head + low: a·erfc/2 as an error-free product whose
        low part takes a·correction (~2t·ε of it), so only erfc's own error remains."""
        p, p_lo = product(self.xp, a, self.erfc_head)
        return p, p_lo - a * self.erfc_correction

    def _times_mills_pdf(self, a: Array) -> tuple[Array, Array]:
        """a·R/|v|·φ(v) (the far tail's a·Φ(-|v|)) as 2^-k·(head + low): a·R =
        a - a·w·rest is carried as the head a and a low part ~w·a, divided by |v| as q + q_lo
        (the remainder a - q·|v| from an error-free product), and multiplied by φ's scaled
        head and low part, an error-free product. (As a·mills·φ_s it had five roundings:
        3.45 ULP in float64.)"""
        xp = self.xp
        m, w, rest = self._far
        q = a / m
        p, p_lo = product(xp, q, m)
        q_lo = (((a - p) - p_lo) - (a * w) * rest) / m
        head, head_lo = product(xp, q, self.pdf_head)
        return head, head_lo + (q_lo * self.pdf_head + q * self.pdf_low)

    def times_cdf_split(self, a: Array, a_lo: Array) -> tuple[Array, Array]:
        """(a + a_lo)·Φ(v) as head + low (float64, for a sum rounded once: :func:`sum_split`):
        the tail's double-word products where v < 0, a - a·Φ(-v) as an error-free product and
        sum otherwise; only Φ's own error remains. The far tail (~φ(v), scaled by 2^-k) is
        rounded once, into the subnormal range where it goes there, as a head alone."""
        xp = self.xp
        fa = xp.finite(a)
        (far, far_lo), (near, near_lo) = self._times_mills_pdf(fa), self._times_erfc(fa)
        t, t_lo = product(xp, fa, self.tail)
        h, h_lo = two_sum(a, -t)
        h = xp.where(a == 0, a, h)  # ±0·Φ(v) = ±0 (a sum would give +0)
        far_tail = self.negative & self.asymptotic
        head = xp.where(far_tail, (far + far_lo) * self.unscale, xp.where(self.negative, near, h))
        low = xp.where(self.negative, near_lo, h_lo - t_lo) + a_lo * self.cdf
        return head, xp.where(far_tail, runtime_zero(xp, low), low)

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


def sum_split(xp: Namespace, terms: list[tuple[Array, Array]]) -> Array:
    """Σ (head_i + low_i) rounded once: the heads by error-free sums, their errors and the
    lows added last. An infinite sum, and one whose low parts are all 0 (signed zeros), is
    the heads' sum."""
    total, low = terms[0]
    for head, head_low in terms[1:]:
        total, error = two_sum(total, head)
        low = low + (error + head_low)
    return xp.where((low == 0) | (xp.abs(total) == math.inf), total, total + low)
