"""The spec records are consistent: reparameterisations, LaTeX, validation, variants."""

from __future__ import annotations

import math

import pytest

from sgblend_spec import formulas, spec


@pytest.mark.parametrize("name", list(spec.FUNCTIONS))
def test_every_record_has_latex_for_every_quantity_and_a_formula(name):
    record = spec.FUNCTIONS[name]
    assert set(record.latex) == set(record.quantities)
    value, grad, dxx = formulas.formulas_for(name)
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
    assert spec.validate("sgblend", {}) == {"alpha": 0.0, "beta": 1.0, "gamma": 0.0}
    with pytest.raises(ValueError, match=r"'lam' must be a finite value in \[1, inf\)"):
        spec.validate("lambda_gelu", {"lam": 0.999})
    assert 1.0 in spec.LAM.domain and math.inf not in spec.LAM.domain
    assert str(spec.BETA_LEARNED.constraint) == "[0.1, 10]"


def test_bounds_cover_every_dtype():
    assert set(spec.ULP_BOUNDS) == set(spec.DTYPES)
    assert spec.ulp_bound("value", "float32") == 1 and spec.ulp_bound("alpha", "float32") == 2
