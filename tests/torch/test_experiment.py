"""Smoke test of experiments/digits.py: one epoch, one seed, two configurations, no plot."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sgblend_spec import hardening

pytest.importorskip("sklearn", reason="the digits experiment needs the 'examples' extra (scikit-learn)")

SCRIPT = Path(__file__).resolve().parents[2] / "experiments" / "digits.py"


def test_digits_experiment_runs_and_writes_its_table(tmp_path):
    module_spec = importlib.util.spec_from_file_location("digits_experiment", SCRIPT)
    digits = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(digits)
    assert digits.main(["--epochs", "1", "--seeds", "0", "--configs", "gelu", "lambda_gelu_hardened",
                        "--no-plot", "--out", str(tmp_path)]) == 0
    runs = json.loads((tmp_path / "digits.json").read_text())["runs"]
    assert [r["config"] for r in runs] == ["gelu", "lambda_gelu_hardened"]
    for r in runs:
        assert 0.5 < r["test_accuracy"] <= 1 and 0 <= r["dead_fraction"] <= 1 and r["epoch_seconds"] > 0
        assert 0 < r["relu"]["accuracy"] <= 1
    hardened = runs[1]
    target = hardening.target_lam(digits.TOLERANCE)
    assert all(v["lam"] >= target * (1 - 1e-6) for v in hardened["parameters"].values())
    assert hardened["relu"]["unit_bound"] <= digits.TOLERANCE * (1 + 1e-6)
    table = (tmp_path / "digits.md").read_text()
    assert "| GELU (torch) | adam |" in table and "| λ-GELU + hardening | adam |" in table
