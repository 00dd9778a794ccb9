"""The λ-GELU training recipe where every backend binds it: the λ-aware update, ReLU
substitution after hardening, and the recipe's argument errors (sgblend_spec.hardening)."""

from __future__ import annotations

import math

import numpy as np
import pytest


def test_lambda_update_makes_the_sgd_step_in_log_lambda_independent_of_lambda(backend):
    """One SGD step on per-channel λ (float64), each channel fed the same N(0, 1) quantiles,
    L = −mean f: with the update every channel moves log(λ − 1) by the same amount; without
    it the step is attenuated as λ grows (the λ⁻³ the rule removes)."""
    lams = [1.5, 4.0, 17.0, 60.0]
    with_rule = np.asarray(backend.sgd_step_log_lambda(lams, rule=True))
    without = np.asarray(backend.sgd_step_log_lambda(lams, rule=False))
    assert np.ptp(with_rule) / with_rule.mean() < 1e-3
    assert without[0] / without[-1] > 1e4  # the attenuation the rule removes


def test_relu_substitution_after_hardening_changes_outputs_less_than_without(backend):
    """A real small training run, twice from the same start: plain λ-GELU vs hardened to
    λ* = target_lam(0.01); then every λ-GELU replaced by ReLU."""
    plain, hardened, rtol = backend.relu_substitution()
    assert plain.loss < 0.05 and hardened.loss < 0.05  # both learned the task
    assert hardened.max_abs_change < plain.max_abs_change / 5
    if hardened.unit_bound is not None:  # the backend's replace_lambda_gelu_with_relu reports (JAX has no module surgery)
        assert hardened.unit_bound <= 0.01 * (1 + rtol) < plain.unit_bound and plain.unit_bound > 0.05
        assert hardened.relative_change < plain.relative_change / 5
    print(f"\nReLU substitution: max |Δy| {plain.max_abs_change:.4f} unhardened, "
          f"{hardened.max_abs_change:.5f} hardened")


RECIPE_ERRORS = [
    ("schedule", {"lam_target": 0.5, "ramp_steps": 10}, r"lam_target must be a finite value in \[1, inf\), got 0.5"),
    ("schedule", {"lam_target": 17.0, "ramp_steps": 0}, r"ramp_steps must be an integer >= 1, got 0"),
    ("schedule", {"lam_target": 17.0, "ramp_steps": 10, "start_step": -1}, r"start_step must be an integer >= 0"),
    ("lambda_update", {"preactivation_std": -1.0},
     r"preactivation_std must be a finite value in \(0, inf\), got -1.0"),
    ("lambda_update", {"preactivation_std": 0.0}, r"preactivation_std must be a finite value in \(0, inf\)"),
    ("lambda_update", {"preactivation_std": math.nan}, r"preactivation_std must be a finite value in \(0, inf\)"),
]


@pytest.mark.parametrize("call, kwargs, match", RECIPE_ERRORS, ids=[f"{c}-{k}" for c, k, _ in RECIPE_ERRORS])
def test_recipe_errors_name_the_argument(backend, call, kwargs, match):
    """The schedule (torch HardeningSchedule, Keras HardeningCallback, JAX harden) and the
    λ-aware update (register_lambda_update, JAX lambda_update) check their arguments."""
    make = backend.hardening_schedule if call == "schedule" else backend.lambda_update
    with pytest.raises(ValueError, match=match):
        make(**kwargs)
