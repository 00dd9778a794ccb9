"""A naive float32 implementation of every spec function (value and ∂f/∂x), as a hand-written
port would write it, and its error against the oracle over the conformance grid: the
"naive float32" series of the error plots.

Every operation is a float32 NumPy operation on float32 arrays: σ(z) = 1/(1 + e^(−z)),
Φ(z) = ½(1 + erf(z/√2)) (erf correctly rounded to float32: NumPy has none, so this is
kinder than a real float32 erf), tanh-GELU as written, the derivatives by the textbook
product rule. The error is measured exactly as the conformance suite measures a backend
(``conformance/ulp.py``: the oracle's condition scale near a root included).
"""

from __future__ import annotations

import math

import numpy as np

F = np.float32
K = F(1.702)
SQRT_HALF = F(1 / math.sqrt(2))
INV_SQRT_2PI = F(1 / math.sqrt(2 * math.pi))
SQRT_2_OVER_PI = F(math.sqrt(2 / math.pi))
C = F(0.044715)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def _sigmoid(z):
    return F(1) / (F(1) + np.exp(-z))


def _phi_cdf(z):
    return F(0.5) * (F(1) + _erf((z * SQRT_HALF).astype(np.float64)).astype(F))


def _phi(z):
    return np.exp(-(z * z) * F(0.5)) * INV_SQRT_2PI


def _swish(x, beta):
    s = _sigmoid(beta * x)
    return x * s, s + beta * x * s * (F(1) - s)


def _gelu(x):
    p = _phi_cdf(x)
    return x * p, p + x * _phi(x)


def _gelu_tanh(x):
    t = np.tanh(SQRT_2_OVER_PI * (x + C * x * x * x))
    value = F(0.5) * x * (F(1) + t)
    return value, F(0.5) * (F(1) + t) + F(0.5) * x * (F(1) - t * t) * SQRT_2_OVER_PI * (F(1) + F(3) * C * x * x)


def _blend(second):
    def f(x, alpha, beta, gamma):
        a = _sigmoid(F(alpha))
        sv, sd = _swish(x, F(beta))
        gv, gd = second(x)
        return a * (sv - F(gamma)) + (F(1) - a) * gv, a * sd + (F(1) - a) * gd
    return f


def _lambda_gelu(x, lam):
    v = F(lam) * x
    p = _phi_cdf(v)
    return x * p, p + v * _phi(v)


#: function -> f(x, **params) returning (value, ∂f/∂x), float32 in and out.
NAIVE = {
    "swish": lambda x, beta: _swish(x, F(beta)),
    "gelu": _gelu,
    "gelu_tanh": _gelu_tanh,
    "gelu_sigmoid": lambda x: _swish(x, K),
    "sswish": lambda x, beta, gamma: (lambda v, d: (v - F(gamma), d))(*_swish(x, F(beta))),
    "sgblend": _blend(lambda x: _swish(x, K)),
    "sgblend_gelu": _blend(_gelu),
    "sgblend_gelu_tanh": _blend(_gelu_tanh),
    "lambda_gelu": _lambda_gelu,
}


def naive_errors(function: str, cases=None) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """quantity ("value", "x") -> (x, error in ULPs): the naive float32 implementation over
    the conformance grid of every parameter case (``cases`` or the suite's own), the worst
    case at each x."""
    from conformance import strategies
    from conformance.ulp import error_in_ulps, ulp_distance
    from sgblend_spec import mp

    worst: dict[str, dict[float, float]] = {"value": {}, "x": {}}
    for params in cases if cases is not None else strategies.parameter_cases(function, "float32"):
        x = strategies.grid("float32", params)
        with np.errstate(all="ignore"):
            got = dict(zip(("value", "x"), NAIVE[function](x, **params)))
        exact = [mp.evaluate(function, float(v), params) for v in x.astype(np.float64)]
        for quantity, values in got.items():
            values = np.asarray(values, dtype=F)
            truth = [e[quantity] for e in exact]
            rounded = np.array([mp.round_to(v, "float32") for v, _ in truth]).astype(F)
            distances = ulp_distance(values, rounded, "float32")
            for i, (v, scale) in enumerate(truth):
                err = error_in_ulps(float(values[i]), v, scale, "float32", distances[i])
                key = float(x[i])
                if not math.isnan(err) and err > worst[quantity].get(key, -1.0):
                    worst[quantity][key] = err
    out = {}
    for quantity, points in worst.items():
        xs = np.array(sorted(points))
        out[quantity] = (xs, np.array([points[v] for v in xs]))
    return out
