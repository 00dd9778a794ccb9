"""The λ-GELU training recipe (sgblend_spec.hardening): every closed form against mpmath
quadrature/root finding, the schedule's shape, the projection, the update rule's
invariance, the substitution report and the error messages."""

from __future__ import annotations

import math
import subprocess
import sys

import mpmath
import numpy as np
import pytest

from sgblend_spec import hardening as H
from sgblend_spec import spec
from sgblend_spec._namespace import numpy_namespace

mpmath.mp.dps = 30
LAMS = (1.0, 1.0 + math.log(2.0), 2.5, 17.0, 300.0)


def _Phi(t):
    return mpmath.ncdf(t)


def _phi(t):
    return mpmath.npdf(t)


# ----------------------------------------------------------------------------- closed forms
def test_gap_constant_is_the_maximum_of_t_Phi_minus_t():
    t_star = mpmath.findroot(lambda t: _Phi(-t) - t * _phi(t), 0.75)
    assert H.RELU_GAP_ARGMAX == pytest.approx(float(t_star), rel=1e-15)
    assert H.RELU_GAP_SUP == pytest.approx(float(t_star * _Phi(-t_star)), rel=1e-15)
    # the spec's text rounds them to 7 digits
    assert round(H.RELU_GAP_ARGMAX, 7) == 0.7517915 and round(H.RELU_GAP_SUP, 7) == 0.1699712


@pytest.mark.parametrize("lam", LAMS)
def test_sup_gap_is_c_over_lambda(lam):
    # maximise |x|Φ(−λ|x|) over x > 0 by mpmath; x < 0 gives the same function of |x|
    gap = lambda x: x * _Phi(-lam * x)  # noqa: E731
    x_star = mpmath.findroot(lambda x: _Phi(-lam * x) - lam * x * _phi(lam * x), (0.5 / lam, 1.0 / lam),
                             solver="anderson")
    assert float(gap(x_star)) == pytest.approx(H.relu_gap(lam, "sup"), rel=1e-12)
    # and the float64 reference agrees on a dense grid (ReLU − f ≤ c/λ everywhere)
    from sgblend_spec import reference

    x = np.linspace(-10 / lam, 10 / lam, 200_001)
    measured = np.max(np.maximum(x, 0) - reference.lambda_gelu(x, lam=lam))
    assert measured <= H.relu_gap(lam) * (1 + 1e-12)
    assert measured == pytest.approx(H.relu_gap(lam), rel=1e-6)


@pytest.mark.parametrize("lam", LAMS)
def test_integral_norms(lam):
    l1 = 2 * mpmath.quad(lambda t: t * _Phi(-lam * t), [0, 1 / lam, mpmath.inf])
    gate = 2 * mpmath.quad(lambda t: _Phi(-lam * t), [0, 1 / lam, mpmath.inf])
    assert H.relu_gap(lam, "l1") == pytest.approx(float(l1), rel=1e-13)
    assert H.relu_gap(lam, "gate_l1") == pytest.approx(float(gate), rel=1e-13)


@pytest.mark.parametrize("lam", LAMS)
def test_sup_of_the_lambda_partial_decays_like_lambda_squared(lam):
    """sup_x x²φ(λx) = 0.29353/λ² (the constant the schedule's derivation uses)."""
    partial = lambda x: x * x * _phi(lam * x)  # noqa: E731
    x_star = mpmath.findroot(lambda x: x * _phi(lam * x) * (2 - (lam * x) ** 2), (1.0 / lam, 2.0 / lam),
                             solver="anderson")
    assert float(partial(x_star)) * lam**2 == pytest.approx(0.29353, abs=5e-6)


@pytest.mark.parametrize("s", [0.3, 1.0, 2.0])
@pytest.mark.parametrize("lam", LAMS)
def test_mean_lambda_partial_under_a_gaussian(lam, s):
    exact = mpmath.quad(lambda x: x * x * _phi(lam * x) * _phi(x / s) / s, [-mpmath.inf, 0, mpmath.inf])
    assert H.lam_partial_mean(lam, s) == pytest.approx(float(exact), rel=1e-13)
    # κ undoes it: κ(λ)·E(λ) = E(1)
    assert H.lam_gradient_scale(lam, s) * H.lam_partial_mean(lam, s) == pytest.approx(
        H.lam_partial_mean(1.0, s), rel=1e-14)


def test_attenuation_exponent_runs_from_minus_two_to_minus_three():
    """d log E / d log λ = −3λ²s²/(1 + λ²s²): about −2 near λs = √2, → −3 for λs ≫ 1."""
    def slope(lam, h=1e-6):
        return (math.log(H.lam_partial_mean(lam * (1 + h))) - math.log(H.lam_partial_mean(lam * (1 - h)))) / (
            math.log(1 + h) - math.log(1 - h))

    assert slope(math.sqrt(2)) == pytest.approx(-2.0, abs=1e-6)
    assert slope(300.0) == pytest.approx(-3.0, abs=1e-4)
    assert H.lam_gradient_scale(1.0) == 1.0
    assert H.lam_gradient_scale(np.array([1.0, 17.0]))[1] == pytest.approx(((1 + 17.0**2) / 2) ** 1.5)


# ----------------------------------------------------------------------------- target
@pytest.mark.parametrize("norm", list(H.NORMS))
@pytest.mark.parametrize("tolerance", [1e-4, 0.01, 0.05])
def test_target_meets_the_tolerance_with_equality(norm, tolerance):
    lam = H.target_lam(tolerance, norm)
    assert lam >= 1.0
    assert H.relu_gap(lam, norm) == pytest.approx(tolerance, rel=1e-13)


def test_target_values_and_the_gelu_end():
    assert H.target_lam(0.01) == pytest.approx(16.997120747990, rel=1e-12)
    assert H.target_lam(0.01, "l1") == pytest.approx(1 / math.sqrt(0.02), rel=1e-14)
    # GELU itself is within 0.2 of ReLU in the sup norm: a loose tolerance needs no hardening
    assert H.target_lam(0.2) == 1.0 and H.target_lam(1e9, "gate_l1") == 1.0


# ----------------------------------------------------------------------------- schedule
def test_floor_rises_from_one_to_the_target_linearly_in_one_over_lambda():
    target, ramp, start = 17.0, 40, 10
    floors = np.array([H.lam_floor(t, target, ramp, start) for t in range(0, 80)])
    assert np.all(floors[: start + 1] == 1.0)
    assert np.all(np.diff(floors) >= 0)
    assert np.all(floors[start + ramp:] == target)  # exactly the target from the end of the ramp
    inverse = 1 / floors[start:start + ramp + 1]
    assert np.allclose(np.diff(inverse, 2), 0, atol=1e-14)  # 1/λ linear in the step
    # hence the bound c/λ on the ReLU gap falls by the same amount at every step
    gaps = np.array([H.relu_gap(f) for f in floors[start:start + ramp + 1]])
    assert np.allclose(np.diff(gaps), -(H.relu_gap(1.0) - H.relu_gap(target)) / ramp, rtol=1e-10)


@pytest.mark.parametrize("lam", [1.0, 1.5, 17.0, H.target_lam(0.01), 1e6])
def test_rho_floor_reaches_the_floor_in_float64(lam):
    r = H.rho_floor(lam)
    assert 1.0 + r * r >= lam
    assert r == pytest.approx(math.sqrt(lam - 1.0), rel=4e-16, abs=0)


def test_projection_is_the_nearest_point_with_lambda_at_least_the_floor():
    ns = numpy_namespace()
    lam_min = 5.0
    r = math.sqrt(lam_min - 1)
    rho = np.array([-3.0, -2.0, -1.0, -0.0, 0.0, 0.5, 2.0, 7.0])
    out = H.project_rho(ns, rho, lam_min)
    assert np.all(1 + out * out >= lam_min)
    np.testing.assert_array_equal(out, [-3.0, -2.0, -r, r, r, r, 2.0, 7.0])
    # nearest feasible point: compare with a brute-force search over a fine grid
    grid = np.linspace(-10, 10, 2_000_001)
    feasible = grid[1 + grid * grid >= lam_min]
    for value, projected in zip(rho, out):
        best = feasible[np.argmin(np.abs(feasible - value))]
        assert abs(projected - value) <= abs(best - value) + 1e-5
    # a floor of 1 leaves every ρ alone
    np.testing.assert_array_equal(H.project_rho(ns, rho, 1.0), rho)


# ----------------------------------------------------------------------------- update rule
def test_sgd_step_in_log_lambda_minus_one_is_independent_of_lambda_with_the_rule():
    """One SGD step on ρ for L = −E[f_λ(x)], x ~ N(0, 1) (Gaussian quantiles as the sample):
    with κ the change of log(λ − 1) is the same at every λ; without it, it shrinks ~λ⁻³."""
    from scipy.special import ndtri

    from sgblend_spec import reference

    x = ndtri((np.arange(200_000) + 0.5) / 200_000)
    eta = 1e-3

    def step(lam, rule):
        rho = math.sqrt(lam - 1)
        dl_dlam = -np.mean(reference.lambda_gelu_grad(x, lam=lam)["lam"])
        dl_drho = spec.LAM.reparam.derivative(rho) * dl_dlam
        if rule:
            dl_drho *= H.lam_gradient_scale(lam)
        new = rho - eta * dl_drho
        return math.log(new * new) - math.log(rho * rho)

    with_rule = np.array([step(lam, True) for lam in (1.5, 4.0, 17.0, 60.0)])
    without = np.array([step(lam, False) for lam in (1.5, 4.0, 17.0, 60.0)])
    assert np.ptp(with_rule) / with_rule.mean() < 1e-3
    assert without[0] / without[-1] > 1e4


# ----------------------------------------------------------------------------- report
def test_substitution_report_measures_the_outputs():
    before = np.array([[1.0, -2.0], [0.0, 4.0]])
    after = np.array([[1.5, -2.0], [0.0, 3.0]])
    report = H.substitution_report(["a", "b"], before, after, [np.array([17.0, 20.0]), 30.0])
    assert report.sites == ("a", "b")
    assert report.max_abs_change == 1.0 and report.mean_abs_change == 1.5 / 4
    assert report.relative_change == pytest.approx(math.sqrt(1.25) / math.sqrt(21.0))
    assert report.unit_bound == H.relu_gap(17.0)
    empty = H.substitution_report([], before, before, [])
    assert empty.max_abs_change == 0.0 and empty.unit_bound == 0.0 and empty.relative_change == 0.0
    with pytest.raises(ValueError, match="same shape"):
        H.substitution_report([], before, after[0], [])


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("call, match", [
    (lambda: H.target_lam(0.0), r"tolerance must be a finite value in \(0, inf\), got 0.0"),
    (lambda: H.target_lam(-1e-3), r"tolerance must be a finite value in \(0, inf\)"),
    (lambda: H.target_lam(math.nan), r"tolerance must be a finite value in \(0, inf\)"),
    (lambda: H.target_lam(math.inf), r"tolerance must be a finite value in \(0, inf\)"),
    (lambda: H.target_lam(0.01, "l2"), r"norm must be one of \['sup', 'l1', 'gate_l1'\], got 'l2'"),
    (lambda: H.relu_gap(0.5), r"lam must be a finite value in \[1, inf\), got 0.5"),
    (lambda: H.lam_floor(0, 0.9, 10), r"lam_target must be a finite value in \[1, inf\), got 0.9"),
    (lambda: H.lam_floor(0, math.inf, 10), r"lam_target must be a finite value in \[1, inf\)"),
    (lambda: H.lam_floor(0, 17.0, 0), r"ramp_steps must be an integer >= 1, got 0"),
    (lambda: H.lam_floor(-1, 17.0, 10), r"step must be an integer >= 0, got -1"),
    (lambda: H.lam_floor(0, 17.0, 10, start_step=-2), r"start_step must be an integer >= 0, got -2"),
    (lambda: H.lam_floor(0, 17.0, 2.5), r"ramp_steps must be an integer >= 1, got 2.5"),
    (lambda: H.rho_floor(0.0), r"lam_min must be a finite value in \[1, inf\), got 0.0"),
    (lambda: H.lam_gradient_scale(2.0, preactivation_std=0.0),
     r"preactivation_std must be a finite value in \(0, inf\), got 0.0"),
])
def test_bad_input_names_the_argument_and_the_allowed_range(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_non_numbers_are_type_errors():
    with pytest.raises(TypeError, match="tolerance must be a real number, got str"):
        H.target_lam("0.01")
    with pytest.raises(TypeError, match="lam_target must be a real number, got bool"):
        H.lam_floor(0, True, 10)


def test_importing_the_recipe_imports_no_framework():
    code = ("import sys, sgblend_spec.hardening;"
            "print(sorted({'torch', 'tensorflow', 'jax', 'keras'} & set(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
