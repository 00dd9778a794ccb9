"""Numerically stable values and derivatives, written once against an array namespace.

Every function takes the namespace ``xp`` (see :mod:`sgblend_spec._namespace`) first, then
``x`` and the parameters as arrays that broadcast against ``x``. Parameter partials are
returned per element (the shape of ``x`` broadcast with the parameter); a framework
binding reduces them to the parameter's shape.

Stability rules (SPEC-NOTES "Numerics"), applied throughout (σ and Φ with their products are
:mod:`sgblend_spec.gates`, the error-free transformations :mod:`sgblend_spec.compensated`):

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

import math
from typing import Callable, NamedTuple

from sgblend_spec._namespace import Array, Namespace
from sgblend_spec.compensated import (
    SLOPE_1702,
    TANH_CUBIC,
    TANH_LINEAR,
    finite_low,
    opaque,
    product,
    runtime_zero,
    two_product,
    two_product_constant,
    two_sum,
    wide_product,
)
from sgblend_spec.gates import Logistic, Normal, corrected, expm1, logistic_curvature, sum_split

#: slope of the sigmoid GELU, x·σ(1.702x)
SIGMOID_GELU_SLOPE = 1.702
#: √(2/π) and the cubic coefficient of the tanh GELU
TANH_GELU_SCALE = math.sqrt(2.0 / math.pi)
TANH_GELU_CUBIC = 0.044715


# ----------------------------------------------------------------------------- Swish-β
def _swish_logistic(xp: Namespace, x: Array, beta: Array) -> Logistic:
    """The logistic of u = βx, with β = 0 giving u = 0 even at x = ±inf."""
    if beta is SIGMOID_GELU_SLOPE:  # the constant k = 1.702, as the two-term constant
        u, u_lo = two_product_constant(xp, x, SLOPE_1702)
        return Logistic(xp, u, finite_low(xp, u_lo, u))
    if isinstance(beta, (int, float)) and beta != 0:  # another constant slope (exact)
        return Logistic(xp, *wide_product(xp, x, beta))
    # wide: βx stays compensated for a huge x and a tiny β (|x| > 2^114 in float32)
    u, u_lo = wide_product(xp, x, beta)
    # x·β stays the selected branch wherever x is finite, so autodiff through this sees
    # ∂u/∂β = x at β = 0 too.
    return Logistic(xp, xp.where((beta == 0) & (xp.abs(x) == math.inf), 0 * beta + runtime_zero(xp, x), u), u_lo)


def _swish_dx(lg: Logistic) -> Array:
    return lg.sigma_times(1, lg.u)


def _swish_dbeta(xp: Namespace, lg: Logistic, x: Array, scale: Array = 1.0, rho: Array = 0.0) -> Array:
    """scale·(1 + ρ)·x²σ(u)σ(-u) = (scale·x·t·2^-k/2)·(x·r·2^-k/2)·(1 + ρ + ρ_σ) for
    0 < scale ≤ 1 (ρ the scale's own relative correction, ρ_σ the logistic's): no
    intermediate overflow where the result is finite (x² alone overflows from |x| ≈ 1.3e154
    in float64), the 2^-k shared between the two factors."""
    fx = xp.finite(x)
    t = (scale * ((fx * lg.ratio_scaled) * lg.unscale_half)) * ((fx * lg.reciprocal) * lg.unscale_half)
    return corrected(xp, t, (lg.rho_neg + lg.rho_abs) + rho)


def swish(xp: Namespace, x: Array, beta: Array) -> Array:
    """x·σ(βx)."""
    return _swish_logistic(xp, x, beta).times_sigma(x)


def swish_grad(xp: Namespace, x: Array, beta: Array) -> dict[str, Array]:
    """∂x = σ(u)(1 + u·σ(-u)),  ∂β = x²·σ(u)σ(-u),  u = βx."""
    lg = _swish_logistic(xp, x, beta)
    return {"x": _swish_dx(lg), "beta": _swish_dbeta(xp, lg, x)}


def swish_dxx(xp: Namespace, x: Array, beta: Array) -> Array:
    """∂²x = β·σ(u)σ(-u)·(2 - u·tanh(u/2)),  u = βx."""
    return logistic_curvature(_swish_logistic(xp, x, beta), beta)


# ----------------------------------------------------------------------------- SSwish
def sswish(xp: Namespace, x: Array, beta: Array, gamma: Array) -> Array:
    """x·σ(βx) - γ."""
    return swish(xp, x, beta) - gamma


def sswish_grad(xp: Namespace, x: Array, beta: Array, gamma: Array) -> dict[str, Array]:
    """∂x, ∂β as Swish-β;  ∂γ = -1."""
    partials = swish_grad(xp, x, beta)
    partials["gamma"] = 0.0 * partials["x"] - 1  # 0.0: Inductor folds an integer 0 product, and NaN with it
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


class TanhArgument(NamedTuple):
    """The tanh GELU's σ(z) and z's derivatives: z' = dz_hi + dz_lo (a two-term sum) and z''."""

    lg: Logistic
    dz_hi: Array
    dz_lo: Array
    d2z: Array

    @property
    def dz(self) -> Array:
        return self.dz_hi + self.dz_lo


def _tanh_gelu_argument(xp: Namespace, x: Array) -> TanhArgument:
    """σ(z), z = 2c(x + a·x³) carried as z_hi + z_lo, and z' = 2c + 6ca·x² = w + 4ca·x²
    (w = 2c + 2ca·x², all terms positive), z'' = 12ca·x, so that ½x(1 + tanh(z/2)) = x·σ(z)."""
    x2, x2_lo = two_product(xp, x, x)
    # w = 2c + 2ca·x² as w_hi + w_lo, then z = x·w
    cubic, cubic_lo = two_product_constant(xp, x2, TANH_CUBIC)
    cubic_lo = cubic_lo + TANH_CUBIC[True].hi * x2_lo  # cubic + cubic_lo = 2ca·x²
    c2 = TANH_LINEAR[xp.is_double(x)]
    w, w_lo = two_sum(opaque(xp, c2.hi, x), cubic)
    w_lo = w_lo + (c2.lo + cubic_lo)
    z, z_lo = two_product(xp, x, w)
    z_lo = finite_low(xp, z_lo + x * w_lo, z)
    dz_hi, dz_lo = two_sum(w, 2 * cubic)
    dz_lo = finite_low(xp, dz_lo + (w_lo + 2 * cubic_lo), dz_hi)
    d2z = (6 * TANH_CUBIC[True].hi) * x
    return TanhArgument(Logistic(xp, z, z_lo), dz_hi, dz_lo, d2z)


def gelu_tanh(xp: Namespace, x: Array) -> Array:
    """½x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(z), z = 2√(2/π)(x + 0.044715x³)."""
    return _tanh_gelu_argument(xp, x).lg.times_sigma(x)


def gelu_tanh_grad(xp: Namespace, x: Array) -> dict[str, Array]:
    """∂x = σ(z) + x·z'·σ(z)σ(-z)."""
    arg = _tanh_gelu_argument(xp, x)
    return {"x": arg.lg.sigma_times(1, x * arg.dz)}


def gelu_tanh_dxx(xp: Namespace, x: Array) -> Array:
    """σ(z)σ(-z)·(2z' + x·z'' - x·z'²·tanh(z/2))."""
    return _tanh_curvature(xp, x)


def _tanh_curvature(xp: Namespace, x: Array, w: Array = 1.0, rho: Array = 0.0) -> Array:
    """w·(1 + ρ)·∂²/∂x² of the tanh GELU: w·σσ̄·(A - P), A = 2z' + x·z'' = 4c + 24ca·x² and
    P = z'²·x·tanh(z/2) = z'²·|x|·(1 - e^(-|z|))/(1 + e^(-|z|)) (sign z = sign x), z'² from
    its two terms exactly and the relative corrections of z'² and of the logistic's factors
    applied once each."""
    arg = _tanh_gelu_argument(xp, x)
    lg = arg.lg
    square, square_lo = two_product(xp, arg.dz_hi, arg.dz_hi)
    square_lo = square_lo + 2 * (arg.dz_hi * arg.dz_lo)
    p = (square * xp.abs(x)) * lg.tanh_half()
    p = corrected(xp, p, finite_low(xp, square_lo / square, square))
    inner = (2 * arg.dz + x * arg.d2z) - p
    # Where σσ̄ has vanished (|x| huge or infinite), inner may be inf - inf: the limit is 0.
    inner = xp.where(lg.ratio_scaled == 0, lg.ratio_scaled, w * inner)
    return lg.times_s_s_bar(inner, rho)


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
    return {"x": n.cdf_times(1 + runtime_zero(xp, v), v, v), "lam": n.times_pdf(x * x)}


def lambda_gelu_dxx(xp: Namespace, x: Array, lam: Array) -> Array:
    """λ·φ(v)(2 - v²),  v = λx; 2 - v² from v² = p_hi + p_lo, exact near its root √2."""
    v, n = _lambda_normal(xp, x, lam)
    return n.times_pdf(lam * ((2 - n.v2) - n.v2_lo))


# ----------------------------------------------------------------------------- SG-Blend
# The blend's terms are formed with their weight folded into the product that may round into
# the subnormal range (w·x·σ(u) as σ applied to w·x), so that each term is rounded there once.
# A weight that underflowed to 0 (|α| ≳ 104 in float32, 745 in float64) meets only finite
# factors (xp.finite on u, z', x², which overflow for a huge finite x), so 0·inf never makes
# a NaN of a finite result.
def _gelu_sigmoid_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Logistic]:
    lg = _swish_logistic(xp, x, SIGMOID_GELU_SLOPE)
    return lg.times_sigma(w * x), lg.sigma_times(w, w * xp.finite(lg.u)), lg


def _gelu_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Normal]:
    n = Normal(xp, x)
    return n.times_cdf(w * x, x), n.cdf_times(w, w * x, x), n


def _gelu_tanh_parts(xp: Namespace, x: Array, w: Array) -> tuple[Array, Array, Logistic]:
    arg = _tanh_gelu_argument(xp, x)
    return arg.lg.times_sigma(w * x), arg.lg.sigma_times(w, (w * x) * xp.finite(arg.dz)), arg.lg


# The curvatures take the weight as w·(1 + ρ) (Logistic.split), its correction applied once.
def _gelu_sigmoid_curvature(xp: Namespace, x: Array, w: Array, rho: Array) -> Array:
    return logistic_curvature(_swish_logistic(xp, x, SIGMOID_GELU_SLOPE), w * SIGMOID_GELU_SLOPE, rho)


def _gelu_curvature(xp: Namespace, x: Array, w: Array, rho: Array) -> Array:
    n = Normal(xp, x)
    return corrected(xp, n.times_pdf(w * ((2 - xp.finite(n.v2)) - n.v2_lo)), rho)


def _gelu_tanh_curvature(xp: Namespace, x: Array, w: Array, rho: Array) -> Array:
    return _tanh_curvature(xp, x, w, rho)


#: The GELU each SG-Blend variant blends with: name -> (w·value, w·∂x and its σ or Φ; w·∂²x).
BLEND_BASES = {
    "gelu_sigmoid": (_gelu_sigmoid_parts, _gelu_sigmoid_curvature),
    "gelu": (_gelu_parts, _gelu_curvature),
    "gelu_tanh": (_gelu_tanh_parts, _gelu_tanh_curvature),
}


def _blend_weights(xp: Namespace, alpha: Array) -> tuple[Array, Array, Logistic]:
    """(a, 1 - a) with a = σ(α), both from one exponential, and their Logistic."""
    lg = Logistic(xp, alpha)
    return lg.sigma, lg.sigma_bar, lg


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
        k = SLOPE_1702[xp.is_double(x)]
        d = ((beta - opaque(xp, k.hi, x)) - opaque(xp, k.lo, x)) * x  # a - b; β - k_hi is exact wherever β ≈ k
        near = lg.times_sigma_bar(g_of.times_sigma(sx * expm1(xp, d)))
        difference = xp.where(xp.abs(d) <= 1, near, difference)
    # β = 0 at x = ±inf (the tails' clamp to finite does not apply there): x/2 - g(x) → -∞ on
    # both sides (spec._blend_limits)
    at_inf = -s * xp.abs(x)
    return xp.where((beta == 0) & (xp.abs(x) == math.inf), at_inf, difference)


def blend(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·SSwish(x; β, γ) + (1 - a)·g(x),  a = σ(α), g the named GELU form; for a float64
    result as double-word terms rounded once (:func:`_blend_split`)."""
    lg = _swish_logistic(xp, x, beta)
    if xp.double_word(x):
        return _blend_split(xp, base, x, alpha, gamma, lg)
    a, a_bar, _ = _blend_weights(xp, alpha)
    g, _, _ = BLEND_BASES[base][0](xp, x, a_bar)
    return (lg.times_sigma(a * x) - a * gamma) + g


def _gate_split(xp: Namespace, base: str, x: Array) -> Callable[[Array, Array], tuple[Array, Array]]:
    """(a, a_lo) -> (a + a_lo)·G(x) as head + low, G the base's σ(1.702x), Φ(x) or σ(z)."""
    if base == "gelu":
        return Normal(xp, x).times_cdf_split
    if base == "gelu_sigmoid":
        return _swish_logistic(xp, x, SIGMOID_GELU_SLOPE).times_sigma_split
    return _tanh_gelu_argument(xp, x).lg.times_sigma_split


def _blend_split(xp: Namespace, base: str, x: Array, alpha: Array, gamma: Array, lg: Logistic) -> Array:
    """The float64 blend, a·x·σ(βx) + (1 - a)·x·G(x) - a·γ summed from head + low terms and
    rounded once (:func:`sum_split`): the weights as w·(1 + ρ) (:meth:`Logistic.split`),
    w·x an error-free product, each gate's product double-word. Within ~0.6 ULP besides G's
    own error; the float32 form's rounded weights and three roundings per term cost up to
    2.9 ULP in float64 (JAX, 4000 random points against mpmath)."""
    weight = Logistic(xp, alpha)
    a, a_rho = weight.split()
    terms = []
    for (w, rho), times_gate in ((weight.split(), lg.times_sigma_split),
                                 (weight.split(tail=True), _gate_split(xp, base, x))):
        wx, wx_lo = product(xp, w, x)
        terms.append(times_gate(wx, wx_lo + xp.finite(wx) * rho))
    c, c_lo = product(xp, a, gamma)
    terms.append((-c, -(c_lo + c * a_rho)))
    return sum_split(xp, terms)


def blend_grad(
    xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array
) -> dict[str, Array]:
    """∂x = a·SSwish' + (1-a)·g',  ∂α = a(1-a)(SSwish - g),  ∂β = a·x²σσ̄(βx),  ∂γ = -a."""
    a, a_bar, weight = _blend_weights(xp, alpha)
    lg = _swish_logistic(xp, x, beta)
    _, g_dx, g_of = BLEND_BASES[base][0](xp, x, a_bar)
    s = a * a_bar
    return {
        "x": lg.sigma_times(a, a * xp.finite(lg.u)) + g_dx,
        "alpha": _swish_minus_gelu(xp, base, x, beta, lg, g_of, s) - s * gamma,
        "beta": _swish_dbeta(xp, lg, x, *weight.split()),
        "gamma": 0.0 * g_dx - a,  # NaN where x is (see sswish_grad)
    }


def blend_dxx(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·β·S(βx) + (1 - a)·g''(x)."""
    weight = Logistic(xp, alpha)
    a, a_rho = weight.split()
    a_bar, a_bar_rho = weight.split(tail=True)
    return (logistic_curvature(_swish_logistic(xp, x, beta), a * beta, a_rho)
            + BLEND_BASES[base][1](xp, x, a_bar, a_bar_rho) + 0 * gamma)


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
