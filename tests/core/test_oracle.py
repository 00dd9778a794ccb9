"""The oracle checks itself: closed-form derivatives against numerical differentiation,
rounding against IEEE casts, and the spec's numeric claims (extrema, norms) against mpmath."""

from __future__ import annotations

import math

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sgblend_spec import mp, spec

POINTS = [-9.5, -3.0, -1.2784645, -0.7, -0.01, 0.3, 1.0, 2.5, 6.0]
PARAMS = {
    "swish": [{"beta": 1.0}, {"beta": 0.37}, {"beta": 4.0}],
    "gelu": [{}],
    "gelu_tanh": [{}],
    "gelu_sigmoid": [{}],
    "sswish": [{"beta": 1.3, "gamma": 0.2}, {"beta": -0.8, "gamma": -1.0}],
    "sgblend": [{"alpha": 0.0, "beta": 1.0, "gamma": 0.0}, {"alpha": -0.7, "beta": 2.2, "gamma": 0.4}],
    "sgblend_gelu": [{"alpha": 0.3, "beta": 0.5, "gamma": -0.1}],
    "sgblend_gelu_tanh": [{"alpha": 0.3, "beta": 0.5, "gamma": -0.1}],
    "lambda_gelu": [{"lam": 1.0}, {"lam": 3.7}],
}


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_closed_form_derivatives_match_numerical_differentiation(name):
    """Every ∂/∂x, ∂/∂param and ∂²/∂x² of the oracle equals mpmath.diff of its value."""
    for params in PARAMS[name]:
        for x in POINTS:
            exact = mp.evaluate(name, x, params)
            with mpmath.workdps(40):
                def value(xv, **p):
                    return mp.evaluate(name, xv, {**params, **p}, dps=60)["value"][0]

                checks = {"x": mpmath.diff(lambda t: value(t), x), "dxx": mpmath.diff(lambda t: value(t), x, 2)}
                for p in params:
                    checks[p] = mpmath.diff(lambda t, p=p: value(x, **{p: t}), params[p])
                for quantity, numerical in checks.items():
                    closed = exact[quantity][0]
                    # A wrong closed form is off at O(1); numerical differentiation is good to ~1e-18.
                    assert abs(closed - numerical) <= mpmath.mpf(10) ** -15 * (1 + abs(closed)), (
                        name, quantity, x, params, closed, numerical)


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_limits_in_the_spec_match_the_oracle_far_out(name):
    """The ±inf rows of the special-value table are the oracle's values at |x| = 1e4."""
    for params in PARAMS[name]:
        limits = spec.FUNCTIONS[name].limits(params)
        for side, x in (("+inf", 1e4), ("-inf", -1e4)):
            far = mp.evaluate(name, x, params)
            for quantity, expected in limits[side].items():
                got = far[quantity][0]
                if math.isinf(expected):
                    assert abs(got) > 1e3 and mpmath.sign(got) == math.copysign(1, expected), (name, side, quantity)
                else:
                    assert abs(got - expected) < 1e-6, (name, side, quantity, got, expected)


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_values_at_zero_in_the_spec_match_the_oracle(name):
    for params in PARAMS[name]:
        at_zero = spec.FUNCTIONS[name].at_zero(params)
        exact = mp.evaluate(name, 0.0, params)
        for quantity, expected in at_zero.items():
            assert abs(exact[quantity][0] - expected) < 1e-14, (name, quantity, params)


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True))
def test_rounding_to_float32_and_float16_matches_ieee_casts(v):
    """numpy's float64 -> float32/float16 casts are correctly rounded (ties to even)."""
    with np.errstate(over="ignore"):
        assert mp.round_to(mpmath.mpf(v), "float32") == float(np.float32(v))
        assert mp.round_to(mpmath.mpf(v), "float16") == float(np.float16(v))
    assert mp.round_to(mpmath.mpf(v), "float64") == v


def test_rounding_edge_cases():
    smallest32 = math.ldexp(1, -149)
    assert mp.round_to(mpmath.mpf(smallest32) / 2, "float32") == 0.0  # tie -> even (0)
    assert mp.round_to(mpmath.mpf(smallest32) * 3 / 2, "float32") == 2 * smallest32  # tie -> even
    assert mp.round_to(mpmath.mpf(-smallest32) / 3, "float32") == 0.0
    assert math.copysign(1, mp.round_to(mpmath.mpf(-smallest32) / 3, "float32")) == -1
    assert mp.round_to(mpmath.mpf(65520), "float16") == math.inf  # past max + half ULP
    assert mp.round_to(mpmath.mpf(65519), "float16") == 65504.0
    assert mp.round_to(mpmath.mpf(1) + mpmath.mpf(2) ** -8, "bfloat16") == 1.0  # tie -> even
    assert mp.round_to(mpmath.mpf(1) + mpmath.mpf(3) * mpmath.mpf(2) ** -8, "bfloat16") == 1 + 2**-6


def _minimum(name, start, **params):
    """(x*, f(x*)) where the oracle's closed-form ∂x vanishes (checked above against mpmath.diff)."""
    x_star = mpmath.findroot(lambda t: mp.derivative(name, "x", t, **params), start, tol=1e-40)
    return x_star, mp.value(name, x_star, **params)


def test_spec_extrema_and_norms():
    """Numbers the spec states (and the docs print) are what mpmath computes."""
    beta, gamma = 2.0, 0.3
    x_star, f_star = _minimum("sswish", -0.6, beta=beta, gamma=gamma)
    assert abs(x_star - (-1.2784645 / beta)) < 1e-7
    assert abs(f_star - (-0.2784645 / beta - gamma)) < 1e-7
    lam = 3.0
    x_star, f_star = _minimum("lambda_gelu", -0.25, lam=lam)
    assert abs(x_star - (-0.7517915 / lam)) < 1e-7
    assert abs(f_star - (-0.1699712 / lam)) < 1e-7
    with mpmath.workdps(30):
        l1 = 2 * mpmath.quad(lambda t: t * mp._cdf(-lam * t), [0, mpmath.inf])  # ‖f - ReLU‖₁
        assert abs(l1 - 1 / (2 * lam**2)) < 1e-12
        # sup_x ∂λf = sup x²φ(λx), attained at x = √2/λ: 2φ(√2)/λ².
        peak = mp.derivative("lambda_gelu", "lam", math.sqrt(2) / lam, lam=lam)
        assert abs(peak - 0.29353 / lam**2) < 1e-5 / lam**2
        assert peak >= mp.derivative("lambda_gelu", "lam", 1.01 * math.sqrt(2) / lam, lam=lam)
    x_star, f_star = _minimum("gelu_sigmoid", -0.75)
    assert abs(x_star + 0.7511542) < 1e-6 and abs(f_star + 0.1636102) < 1e-6


def test_sgblend_can_have_three_critical_points():
    """SPEC-NOTES: a = 0.2689 (α = -1), β = 0.3193 is not unimodal."""
    xs = np.linspace(-20, 5, 1001)
    slope = [float(mp.derivative("sgblend", "x", float(x), alpha=-1.0, beta=0.3193, gamma=0.0)) for x in xs]
    assert np.count_nonzero(np.diff(np.sign(slope)) != 0) == 3
    slope = [float(mp.derivative("sgblend", "x", float(x), alpha=0.0, beta=1.0, gamma=0.0)) for x in xs]
    assert np.count_nonzero(np.diff(np.sign(slope)) != 0) == 1
