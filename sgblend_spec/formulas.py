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
  select per product, and NaN stays NaN through it.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

from sgblend_spec._namespace import Array, Namespace

#: slope of the sigmoid GELU, x·σ(1.702x)
SIGMOID_GELU_SLOPE = 1.702
#: √(2/π) and the cubic coefficient of the tanh GELU
TANH_GELU_SCALE = math.sqrt(2.0 / math.pi)
TANH_GELU_CUBIC = 0.044715

_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_FOURTH_ROOT_2PI = (2.0 * math.pi) ** -0.25


# ----------------------------------------------------------------------------- building blocks
class Logistic:
    """σ(u), σ(-u) and the products the formulas need, from the one exponential e^(-|u|/2).

    With h = e^(-|u|/2)/(1 + e^(-|u|)) we have σ(u)σ(-u) = h², and the tail of σ is
    e^(-|u|/2)·h. Products with a vanishing logistic factor are formed as (a·h)·h, so the
    only rounding into the subnormal range is the last one (in float64, e^(-|u|) itself
    is subnormal for |u| > 708 while a·e^(-|u|) may not be). Such an ``a`` may be infinite
    only where the factor is exactly 0 (u = ±inf), so it is clamped to finite first.
    """

    def __init__(self, xp: Namespace, u: Array):
        self.xp, self.u = xp, u
        self.abs_u = xp.abs(u)
        self.e_half = xp.exp(-0.5 * self.abs_u)
        self.e = self.e_half * self.e_half
        self.d = 1 + self.e
        self.r = 1 / self.d
        self.h = self.e_half / self.d  # divisions, not ·r: one rounding fewer each
        self.positive = u >= 0

    def times_sigma(self, a: Array) -> Array:
        """a·σ(u)."""
        xp = self.xp
        return xp.where(self.positive, a / self.d, (xp.finite(a) * self.e_half) * self.h)

    @property
    def sigma(self) -> Array:
        """σ(u)."""
        return self.xp.where(self.positive, self.r, self.e_half * self.h)

    def times_s_s_bar(self, a: Array) -> Array:
        """a·σ(u)σ(-u) = (a·h)·h."""
        return (self.xp.finite(a) * self.h) * self.h

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

    Like :class:`Logistic`, φ is kept as the square of q = e^(-v²/4)/(2π)^(1/4) and a·φ is
    formed as (a·q)·q, so that φ's own underflow (v ≳ 37.6 in float64) does not take a
    normal-range product such as λ(2 - v²)φ(v) with it.
    """

    def __init__(self, xp: Namespace, v: Array):
        self.xp = xp
        negative = v < 0
        # |v| as a select, whose autodiff derivative at v = 0 is 1 (that of abs may be 0)
        tail = 0.5 * xp.erfc(xp.where(negative, -v, v) * _INV_SQRT2)
        self.cdf = xp.where(negative, tail, 1 - tail)
        self.q = _INV_FOURTH_ROOT_2PI * xp.exp(-0.25 * (v * v))

    def times_pdf(self, a: Array) -> Array:
        """a·φ(v) = (a·q)·q (``a`` infinite only where q = 0)."""
        return (self.xp.finite(a) * self.q) * self.q

    def times_cdf(self, a: Array, v: Array) -> Array:
        """a·Φ(v) for a, v of one sign: a = ±inf gives ±inf where Φ(v) = 1, 0 where Φ(v) = 0."""
        return self.xp.where(v < 0, self.xp.finite(a), a) * self.cdf


# ----------------------------------------------------------------------------- Swish-β
def _swish_logistic(xp: Namespace, x: Array, beta: Array) -> Logistic:
    """The logistic of u = βx, with β = 0 giving u = 0 even at x = ±inf."""
    if isinstance(beta, (int, float)) and beta != 0:  # a constant slope such as 1.702
        return Logistic(xp, x * beta)
    # x·β stays the selected branch wherever x is finite, so autodiff through this sees
    # ∂u/∂β = x at β = 0 too.
    return Logistic(xp, xp.where((beta == 0) & (xp.abs(x) == math.inf), 0 * beta + 0 * xp.finite(x), x * beta))


def _swish_dx(lg: Logistic) -> Array:
    return lg.sigma + lg.times_s_s_bar(lg.u)


def _swish_dbeta(xp: Namespace, lg: Logistic, x: Array, scale: Array = 1.0) -> Array:
    """scale·x²σ(u)σ(-u) = (scale·x·h)·(x·h) for 0 < scale ≤ 1: no intermediate overflow
    where the result is finite (x² alone overflows from |x| ≈ 1.3e154 in float64)."""
    x_h = xp.finite(x) * lg.h
    return (scale * x_h) * x_h


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


def _tanh_gelu_argument(x: Array) -> tuple[Array, Array, Array]:
    """z = 2c(x + a·x³) and its first two derivatives, so that ½x(1 + tanh(z/2)) = x·σ(z)."""
    c2 = 2 * TANH_GELU_SCALE
    x2 = x * x
    z = x * (c2 + (c2 * TANH_GELU_CUBIC) * x2)
    dz = c2 + (3 * c2 * TANH_GELU_CUBIC) * x2
    d2z = (6 * c2 * TANH_GELU_CUBIC) * x
    return z, dz, d2z


def gelu_tanh(xp: Namespace, x: Array) -> Array:
    """½x(1 + tanh(√(2/π)(x + 0.044715x³))) = x·σ(z), z = 2√(2/π)(x + 0.044715x³)."""
    z, _, _ = _tanh_gelu_argument(x)
    return Logistic(xp, z).times_sigma(x)


def gelu_tanh_grad(xp: Namespace, x: Array) -> dict[str, Array]:
    """∂x = σ(z) + x·z'·σ(z)σ(-z)."""
    z, dz, _ = _tanh_gelu_argument(x)
    lg = Logistic(xp, z)
    return {"x": lg.sigma + lg.times_s_s_bar(x * dz)}


def gelu_tanh_dxx(xp: Namespace, x: Array) -> Array:
    """σ(z)σ(-z)·(2z' + x·z'' - x·z'²·tanh(z/2))."""
    z, dz, d2z = _tanh_gelu_argument(x)
    lg = Logistic(xp, z)
    # x·tanh(z/2) = |x|·(1 - e^(-|z|))/(1 + e^(-|z|)) since sign z = sign x.
    x_tanh_half = xp.abs(x) * (-xp.expm1(-lg.abs_u) * lg.r)
    inner = 2 * dz + x * d2z - dz * dz * x_tanh_half
    # Where σσ̄ has vanished (|x| huge or infinite), inner may be inf - inf: the limit is 0.
    return lg.times_s_s_bar(xp.where(lg.h == 0, lg.h, inner))


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
def lambda_gelu(xp: Namespace, x: Array, lam: Array) -> Array:
    """x·Φ(λx)."""
    v = lam * x
    return Normal(xp, v).times_cdf(x, v)


def lambda_gelu_grad(xp: Namespace, x: Array, lam: Array) -> dict[str, Array]:
    """∂x = Φ(v) + v·φ(v),  ∂λ = x²·φ(v),  v = λx."""
    v = lam * x
    n = Normal(xp, v)
    x_q = xp.finite(x) * n.q
    return {"x": n.cdf + n.times_pdf(v), "lam": x_q * x_q}


def lambda_gelu_dxx(xp: Namespace, x: Array, lam: Array) -> Array:
    """λ·φ(v)(2 - v²),  v = λx."""
    v = lam * x
    return Normal(xp, v).times_pdf(lam * (2 - v * v))


# ----------------------------------------------------------------------------- SG-Blend
def _gelu_sigmoid_value_dx(xp: Namespace, x: Array) -> tuple[Array, Array]:
    lg = Logistic(xp, SIGMOID_GELU_SLOPE * x)
    return lg.times_sigma(x), _swish_dx(lg)


def _gelu_value_dx(xp: Namespace, x: Array) -> tuple[Array, Array]:
    n = Normal(xp, x)
    return n.times_cdf(x, x), n.cdf + n.times_pdf(x)


def _gelu_tanh_value_dx(xp: Namespace, x: Array) -> tuple[Array, Array]:
    z, dz, _ = _tanh_gelu_argument(x)
    lg = Logistic(xp, z)
    return lg.times_sigma(x), lg.sigma + lg.times_s_s_bar(x * dz)


#: The GELU each SG-Blend variant blends with: name -> (value, (value, ∂x), ∂²x) formulas.
BLEND_BASES = {
    "gelu_sigmoid": (gelu_sigmoid, _gelu_sigmoid_value_dx, gelu_sigmoid_dxx),
    "gelu": (gelu, _gelu_value_dx, gelu_dxx),
    "gelu_tanh": (gelu_tanh, _gelu_tanh_value_dx, gelu_tanh_dxx),
}


def _blend_weights(xp: Namespace, alpha: Array) -> tuple[Array, Array]:
    """(a, 1 - a) with a = σ(α), both from one exponential."""
    lg = Logistic(xp, alpha)
    return lg.sigma, xp.where(lg.positive, lg.e_half * lg.h, lg.r)


def blend(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·SSwish(x; β, γ) + (1 - a)·g(x),  a = σ(α), g the named GELU form."""
    a, a_bar = _blend_weights(xp, alpha)
    g = BLEND_BASES[base][0](xp, x)
    return a * sswish(xp, x, beta, gamma) + a_bar * g


def blend_grad(
    xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array
) -> dict[str, Array]:
    """∂x = a·SSwish' + (1-a)·g',  ∂α = a(1-a)(SSwish - g),  ∂β = a·x²σσ̄(βx),  ∂γ = -a."""
    a, a_bar = _blend_weights(xp, alpha)
    lg = _swish_logistic(xp, x, beta)
    sw, sw_dx = lg.times_sigma(x), _swish_dx(lg)
    g, g_dx = BLEND_BASES[base][1](xp, x)
    # At x = ±inf both terms may be the same infinity; x·σ(βx) - g(x) -> 0 there.
    same_infinity = (sw == g) & (xp.abs(g) == math.inf)
    difference = xp.where(same_infinity, 0 * sw_dx, sw - g) - gamma
    return {
        "x": a * sw_dx + a_bar * g_dx,
        "alpha": (a * a_bar) * difference,
        "beta": _swish_dbeta(xp, lg, x, a),
        "gamma": 0 * sw_dx - a,
    }


def blend_dxx(xp: Namespace, base: str, x: Array, alpha: Array, beta: Array, gamma: Array) -> Array:
    """a·β·S(βx) + (1 - a)·g''(x)."""
    a, a_bar = _blend_weights(xp, alpha)
    return a * swish_dxx(xp, x, beta) + a_bar * BLEND_BASES[base][2](xp, x) + 0 * gamma


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
