"""The conformance suite itself: it rejects a wrong implementation with a repro, accepts a
right one given as a plain function, and fails (never skips) on a backend it cannot import."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _suite(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider", *args],
        cwd=ROOT, capture_output=True, text=True,
    )


def test_a_textbook_erf_gelu_is_rejected_with_a_repro(tmp_path):
    run = _suite("--impl", "conformance.examples.plain_functions:gelu_via_erf", "--impl-function", "gelu",
                 "--dtypes", "float32", "-k", "test_grid", f"--report-json={tmp_path / 'r.json'}")
    assert run.returncode == 1, run.stdout[-2000:]
    assert "repro: impl.value('gelu', np.array([" in run.stdout
    table = run.stdout.split("sgblend-spec accuracy table")[-1]
    assert "over the bound" in run.stdout and "[1]!" in table


def test_a_plain_function_passes_and_writes_the_table(tmp_path):
    report = tmp_path / "r.json"
    run = _suite("--impl", "conformance.examples.plain_functions:gelu_via_erfc", "--impl-function", "gelu",
                 "--dtypes", "float32", "-k", "test_grid or test_special", f"--report-json={report}")
    assert run.returncode == 0, run.stdout[-3000:]
    assert "sgblend-spec accuracy table" in run.stdout and report.exists()
    # values only: the derivative columns are reported as not provided
    assert "n/a" in run.stdout


def test_an_unimportable_implementation_is_a_failure_not_a_skip():
    run = _suite("--impl", "no_such_package.module:Implementation")
    assert run.returncode != 0 and "skipped" not in run.stdout.splitlines()[-1]
    assert "no_such_package" in run.stdout + run.stderr


def test_backend_and_impl_are_mutually_exclusive():
    run = _suite("--backend", "numpy", "--impl", "conformance.adapters.numpy_reference:NumpyReference")
    assert run.returncode != 0 and "exactly one of" in run.stdout + run.stderr
