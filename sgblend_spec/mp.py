"""The mpmath oracle: what is true, at high precision, rounded correctly to each format.

Definitions here are the textbook ones (σ(u)(1 - σ(u)) written σ(u)σ(-u), 1 + tanh y
written as is), deliberately independent of the stable float formulas in
:mod:`sgblend_spec.formulas`: the oracle must be able to catch a wrong stable formula.
The derivatives are closed forms checked against mpmath's numerical differentiation in the
unit tests. Where a plain definition cancels (1 + tanh y for y → -∞), the working precision
is raised by the number of bits the cancellation costs.

Besides each value the oracle returns a *condition scale* M ≥ |value| for quantities that
can vanish through cancellation (the same expression with every difference replaced by a
sum of magnitudes). The conformance tolerance model allows N ULPs of M there, because no
fixed-ULP bound is possible at a root of a sum (see ``conformance/ulp.py``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import mpmath

#: decimal digits of the default working precision
DEFAULT_DPS = 50

# The spec's decimal constants, held to 400 bits (an mpf takes the working precision at
# its creation: at import that is 53 bits, which would make k the float64 nearest 1.702).
with mpmath.workprec(400):
    SIGMOID_GELU_SLOPE = mpmath.mpf("1.702")
    TANH_GELU_CUBIC = mpmath.mpf("0.044715")


@dataclass(frozen=True)
class Format:
    """A binary floating-point format: precision (with the hidden bit) and exponent range."""

    name: str
    precision: int
    emin: int
    emax: int

    @property
    def max(self) -> mpmath.mpf:
        return mpmath.ldexp(2 - mpmath.ldexp(1, 1 - self.precision), self.emax)


FORMATS = {
    "float16": Format("float16", 11, -14, 15),
    "bfloat16": Format("bfloat16", 8, -126, 127),
    "float32": Format("float32", 24, -126, 127),
    "float64": Format("float64", 53, -1022, 1023),
}


def round_to(value: mpmath.mpf, dtype: str) -> float:
    """Round ``value`` to ``dtype`` (nearest, ties to even, subnormals and overflow to ±inf).

    The result is returned as a Python float, which holds every value of these formats
    exactly; ``float(mpf)`` is not used because it does not round to nearest.
    """
    fmt = FORMATS[dtype]
    if mpmath.isnan(value):
        return float("nan")
    if mpmath.isinf(value):
        return float(value)
    if value == 0:
        return 0.0
    exponent = max(int(mpmath.floor(mpmath.log(abs(value), 2))), fmt.emin)
    # log2 can be off by one at exact powers of two: correct it with exact comparisons.
    while exponent > fmt.emin and abs(value) < mpmath.ldexp(1, exponent):
        exponent -= 1
    while abs(value) >= mpmath.ldexp(1, exponent + 1):
        exponent += 1
    quantum_exp = exponent - (fmt.precision - 1)
    with mpmath.workprec(max(mpmath.mp.prec, 64) + 64):
        scaled = mpmath.ldexp(value, -quantum_exp)
        integer = mpmath.nint(scaled)  # ties to even
        rounded = mpmath.ldexp(integer, quantum_exp)
    if abs(rounded) > fmt.max:
        return float("inf") if value > 0 else float("-inf")
    if rounded == 0:
        return -0.0 if value < 0 else 0.0
    man, exp = rounded.man_exp  # mpmath keeps the sign apart: man = |mantissa| < 2**precision
    return math.copysign(math.ldexp(float(man), int(exp)), rounded)


# ----------------------------------------------------------------------------- building blocks
def _sigma(z):
    return 1 / (1 + mpmath.exp(-z))


def _sigma_bar(z):
    return 1 / (1 + mpmath.exp(z))


def _phi(v):
    return mpmath.exp(-v * v / 2) / mpmath.sqrt(2 * mpmath.pi)


def _erfc(t):
    """erfc(t); mpmath's fails beyond |t| ~ 1e300, where two asymptotic terms are exact to 1e-500."""
    if abs(t) < 10**20:
        return mpmath.erfc(t)
    tail = mpmath.exp(-t * t) / (abs(t) * mpmath.sqrt(mpmath.pi)) * (1 - 1 / (2 * t * t))
    return tail if t > 0 else 2 - tail


def _cdf(v):
    return _erfc(-v / mpmath.sqrt(2)) / 2


# Each quantity function returns (value, scale); scale is None where no cancellation occurs.
def _swish_all(x, beta):
    u = beta * x
    s, sb = _sigma(u), _sigma_bar(u)
    value = x * s
    dx = s + u * s * sb
    dbeta = x * x * s * sb
    dxx = beta * s * sb * (2 + u * (sb - s))
    return {
        "value": (value, None),
        "x": (dx, s + abs(u) * s * sb),
        "beta": (dbeta, None),
        "dxx": (dxx, abs(beta) * s * sb * (2 + abs(u * (sb - s)))),
    }


def _lambda_gelu_all(x, lam):
    v = lam * x
    cdf, pdf = _cdf(v), _phi(v)
    return {
        "value": (x * cdf, None),
        "x": (cdf + v * pdf, cdf + abs(v) * pdf),
        "lam": (x * x * pdf, None),
        # 2 - v² at v = √2 is formed without cancellation (v² as p_hi + p_lo): no scale
        "dxx": (lam * pdf * (2 - v * v), None),
    }


def _gelu_all(x):
    q = _lambda_gelu_all(x, mpmath.mpf(1))
    return {"value": q["value"], "x": q["x"], "dxx": q["dxx"], "tail": _erfc(x / mpmath.sqrt(2)) / 2}


def _gelu_tanh_all(x):
    c = mpmath.sqrt(2 / mpmath.pi)
    y = c * (x + TANH_GELU_CUBIC * x**3)
    # 1 + tanh y and 1 - tanh² y cancel for large |y|; pay for it with extra bits.
    extra = int(min(abs(y), 2000) * 3) + 64
    tail = _sigma_bar(2 * y)  # (1 - tanh y)/2, no cancellation: the caller's precision
    with mpmath.workprec(mpmath.mp.prec + extra):
        # beyond |y| = prec, 1 - |tanh y| < 2^-(2.8·prec): tanh y rounds to ±1, which mpmath
        # reaches only after an exponential of y's magnitude at this precision (~0.5 s at
        # x ~ 1e300, the float64 grids' largest points)
        t = mpmath.tanh(y) if abs(y) <= mpmath.mp.prec else mpmath.sign(y)
        dy = c * (1 + 3 * TANH_GELU_CUBIC * x * x)
        d2y = c * 6 * TANH_GELU_CUBIC * x
        sech2 = 1 - t * t
        value = x * (1 + t) / 2
        dx = (1 + t) / 2 + x * sech2 * dy / 2
        dxx = sech2 * dy + x * (sech2 * d2y - 2 * t * sech2 * dy * dy) / 2
        dx_scale = (1 + t) / 2 + abs(x * sech2 * dy) / 2
        dxx_scale = sech2 * dy + abs(x * sech2 * d2y) / 2 + abs(x * t * sech2) * dy * dy
        return {
            "value": (+value, None),
            "x": (+dx, +dx_scale),
            "dxx": (+dxx, +dxx_scale),
            "tail": tail,
        }


def _gelu_sigmoid_all(x):
    q = _swish_all(x, SIGMOID_GELU_SLOPE)
    return {"value": q["value"], "x": q["x"], "dxx": q["dxx"], "tail": _sigma_bar(SIGMOID_GELU_SLOPE * x)}


def _sswish_all(x, beta, gamma):
    q = _swish_all(x, beta)
    q["value"] = (q["value"][0] - gamma, abs(q["value"][0]) + abs(gamma))
    q["gamma"] = (mpmath.mpf(-1), None)
    return q


def _swish_minus_gelu(base, x, beta):
    """(x·σ(βx) - g(x), its condition scale) for ∂F/∂α.

    x·(σ(βx) - G(x)): where both heads are near 1 (x > 0, βx > 0), from the tails,
    x·(Ḡ(x) - σ̄(βx)), since the heads' difference is below the working precision for
    x ≳ 115. The precision is raised until the difference keeps all its digits (near x = 0
    the two terms agree to ~2·log2(1/|x|) bits). Its condition scale is the sum of the
    terms, except for the sigmoid GELU within |(β - k)x| ≤ 1, where σ(b)σ(-a)·expm1((β - k)x)
    forms it with no cancellation at all (only γ then cancels: the true root).
    """
    prec = mpmath.mp.prec
    for extra in (0, 256, 2400):
        with mpmath.workprec(prec + extra):
            g = base(x)
            if x > 0 and beta * x > 0:
                tail_b = _sigma_bar(beta * x)
                difference, terms = x * (g["tail"] - tail_b), x * (g["tail"] + tail_b)
            else:
                sw = x * _sigma(beta * x)
                difference, terms = sw - g["value"][0], abs(sw) + abs(g["value"][0])
        if terms == 0 or abs(difference) >= terms * mpmath.ldexp(1, 64 - prec - extra):
            break  # at least 64 bits left after the cancellation
    if base is _gelu_sigmoid_all and abs((beta - SIGMOID_GELU_SLOPE) * x) <= 1:
        terms = abs(difference)
    return +difference, +terms


def _blend_all(base):
    def evaluate(x, alpha, beta, gamma):
        a, a_bar = _sigma(alpha), _sigma_bar(alpha)
        inner = _sswish_all(x, beta, gamma)
        g = base(x)

        def mix(key):
            (p, ps), (q, qs) = inner[key], g[key]
            ps = abs(p) if ps is None else ps
            qs = abs(q) if qs is None else qs
            return a * p + a_bar * q, a * ps + a_bar * qs

        value, value_scale = mix("value")
        difference, difference_scale = _swish_minus_gelu(base, x, beta)
        return {
            "value": (value, value_scale),
            "x": mix("x"),
            "alpha": (a * a_bar * (difference - gamma), a * a_bar * (difference_scale + abs(gamma))),
            "beta": (a * inner["beta"][0], None),
            "gamma": (-a, None),
            "dxx": mix("dxx"),
        }

    return evaluate


_ORACLES = {
    "swish": _swish_all,
    "gelu": _gelu_all,
    "gelu_tanh": _gelu_tanh_all,
    "gelu_sigmoid": _gelu_sigmoid_all,
    "sswish": _sswish_all,
    "lambda_gelu": _lambda_gelu_all,
    "sgblend": _blend_all(_gelu_sigmoid_all),
    "sgblend_gelu": _blend_all(_gelu_all),
    "sgblend_gelu_tanh": _blend_all(_gelu_tanh_all),
}


def _limit(name: str, x: float, params: dict[str, float]) -> dict[str, tuple]:
    """Values at x = ±inf, where the plain definitions are undefined (∞·0)."""
    from sgblend_spec.spec import FUNCTIONS

    limits = FUNCTIONS[name].limits(params)
    side = limits["+inf" if x > 0 else "-inf"]
    return {key: (mpmath.mpf(v), None) for key, v in side.items()}


def evaluate(name: str, x: float, params: dict[str, float], dps: int = DEFAULT_DPS) -> dict[str, tuple]:
    """Every quantity of ``name`` at the float ``x``: {"value"|"x"|param|"dxx": (exact, scale)}.

    ``x`` and ``params`` are taken as the exact binary values of the given floats.
    """
    if x != x:
        return {key: (mpmath.mpf("nan"), None) for key in _quantities(name)}
    if x in (float("inf"), float("-inf")):
        return _limit(name, x, params)
    with mpmath.workdps(max(dps, mpmath.mp.dps)):  # never below a caller's precision
        args = {k: mpmath.mpf(v) for k, v in params.items()}
        out = _ORACLES[name](mpmath.mpf(x), **args)
        return {key: out[key] for key in _quantities(name)}


def _quantities(name: str) -> tuple[str, ...]:
    from sgblend_spec.spec import FUNCTIONS

    return FUNCTIONS[name].quantities


def value(name: str, x: float, **params: float) -> mpmath.mpf:
    """The exact value f(x; params) at the default precision."""
    return evaluate(name, x, params)["value"][0]


def derivative(name: str, wrt: str, x: float, **params: float) -> mpmath.mpf:
    """∂f/∂wrt at (x, params); ``wrt`` is "x", a parameter name, or "dxx" for ∂²f/∂x²."""
    return evaluate(name, x, params)[wrt][0]
