"""The λ-GELU training recipe on the docs site: every rule of the spec record is rendered
(formula as MathML, derivation, implementation), a rule field the builder does not render
fails the build, and the API page documents sgblend_spec.hardening."""

from __future__ import annotations

import dataclasses
import importlib.util
from pathlib import Path

import pytest

for _requirement in ("matplotlib", "latex2mathml"):
    pytest.importorskip(_requirement, reason="the docs build needs docs/requirements.txt installed")

BUILD = Path(__file__).resolve().parents[2] / "docs" / "build.py"
_module_spec = importlib.util.spec_from_file_location("sgblend_docs_build_recipe", BUILD)
builder = importlib.util.module_from_spec(_module_spec)
_module_spec.loader.exec_module(builder)

from docsite import api, common, function_pages  # noqa: E402  (docs/ is on sys.path now)
from sgblend_spec import spec  # noqa: E402


def test_lambda_gelu_page_renders_every_training_rule():
    record = spec.FUNCTIONS["lambda_gelu"]
    page = function_pages.function_page(record, spec, [], "")
    assert "<h2>Training recipe</h2>" in page
    for rule in record.training:
        assert f'id="training-{rule.name}"' in page
        assert common.math_html(rule.latex, display=True) in page
        assert common.esc(rule.derivation) in page and common.esc(rule.title) in page
        assert f"<code>{rule.implementation}</code>" in page
    assert "Training recipe" not in function_pages.function_page(spec.FUNCTIONS["gelu"], spec, [], "")


def test_an_unrendered_rule_field_or_tex_in_a_derivation_fails_the_build(monkeypatch):
    function_pages.check_spec_coverage(spec)
    monkeypatch.setattr(function_pages, "RENDERED_RULE_FIELDS", function_pages.RENDERED_RULE_FIELDS - {"derivation"})
    with pytest.raises(common.BuildError, match=r"Rule field\(s\) \['derivation'\]"):
        function_pages.check_spec_coverage(spec)
    monkeypatch.undo()
    record = spec.FUNCTIONS["lambda_gelu"]
    bad_rule = dataclasses.replace(record.training[0], derivation=r"\lambda^\star = c/\varepsilon")
    monkeypatch.setitem(spec.FUNCTIONS, "lambda_gelu", dataclasses.replace(record, training=(bad_rule,)))
    with pytest.raises(common.BuildError, match=r"lambda_gelu.training\[target\].derivation"):
        function_pages.check_spec_coverage(spec)


def test_api_page_documents_the_recipe_module():
    page = api.api_page(spec)
    assert 'id="sgblend_spec.hardening"' in page
    for name in ("target_lam", "lam_floor", "project_rho", "lam_gradient_scale", "substitution_report"):
        assert f'id="sgblend_spec.hardening.{name}"' in page
    for name in ("HardeningSchedule", "replace_lambda_gelu_with_relu", "relu_ize", "swap_activations",
                 "HardeningCallback", "lambda_update"):
        assert name in page
