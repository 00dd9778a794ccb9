"""The spec records are consistent: reparameterisations, LaTeX, validation, variants."""

from __future__ import annotations

import math

import pytest

from sgblend_spec import checks, formulas, spec


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_every_record_has_latex_for_every_quantity_and_a_formula(name):
    record = spec.FUNCTIONS[name]
    assert set(record.latex) == set(record.quantities)
    value, grad, dxx = formulas.FORMULAS[name]
    assert value.__doc__ and grad.__doc__ and dxx.__doc__
    for p in record.params:
        assert p.default in p.domain, (name, p.name)
        if p.constraint is not None:
            assert p.default in p.constraint, (name, p.name)


@pytest.mark.parametrize("parameter", [spec.ALPHA, spec.LAM])
def test_reparameterisations_invert_and_differentiate(parameter):
    r = parameter.reparam
    for raw in (-2.0, -0.3, 0.5, 1.7):
        if parameter is spec.LAM and raw < 0:
            continue
        constrained = r.forward(raw)
        assert r.inverse(constrained) == pytest.approx(raw, rel=1e-12)
        h = 1e-6
        numerical = (r.forward(raw + h) - r.forward(raw - h)) / (2 * h)
        assert r.derivative(raw) == pytest.approx(numerical, rel=1e-7)


def test_lambda_reparameterisation_covers_one_exactly():
    assert spec.LAM.reparam.forward(0.0) == 1.0
    assert spec.LAM.reparam.forward(spec.LAM.reparam.inverse(spec.LAM.default)) == pytest.approx(1 + math.log(2))


def test_blend_variants_name_existing_functions():
    for name in ("sgblend", "sgblend_gelu", "sgblend_gelu_tanh"):
        for variant in spec.FUNCTIONS[name].variants:
            assert variant.function in spec.FUNCTIONS


def test_validate_binds_defaults_and_rejects_out_of_domain():
    assert checks.validate("sgblend", {}) == {"alpha": 0.0, "beta": 1.0, "gamma": 0.0}
    with pytest.raises(ValueError, match=r"'lam' must be a finite value in \[1, inf\)"):
        checks.validate("lambda_gelu", {"lam": 0.999})
    assert 1.0 in spec.LAM.domain and math.inf not in spec.LAM.domain
    assert str(spec.BETA_LEARNED.constraint) == "[0.1, 10]"


def test_bounds_cover_every_dtype():
    assert set(spec.ULP_BOUNDS) == set(spec.DTYPES)
    assert spec.ulp_bound("value", "float32") == 1 and spec.ulp_bound("alpha", "float32") == 2


def test_lambda_gelu_training_rules_name_their_code_and_its_constants():
    import importlib
    import re

    from sgblend_spec import hardening

    rules = {r.name: r for r in spec.FUNCTIONS["lambda_gelu"].training}
    assert set(rules) == {"target", "schedule", "update", "substitution"}
    for rule in rules.values():
        module, _, attribute = rule.implementation.rpartition(".")
        assert callable(getattr(importlib.import_module(module), attribute)), rule.implementation
    # the constants written into the record are the ones the code computes (to 7 digits);
    # 0.29353 = sup_x x²φ(x) is checked against mpmath in test_hardening
    assert [float(v) for v in re.findall(r"0\.\d{7}", rules["target"].latex)] == [round(hardening.RELU_GAP_SUP, 7)]
    assert f"{hardening.RELU_GAP_ARGMAX:.7f}" in rules["target"].derivation
    assert "0.29353" in rules["schedule"].derivation
    assert all(r.training == () for name, r in spec.FUNCTIONS.items() if name != "lambda_gelu")
